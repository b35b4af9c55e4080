/* See md_sync_plan.h. */
#include "md/md_sync_plan.h"

const char *md_sync_plan(enum md_uuid_verdict v, unsigned rule,
			 bool me_primary, bool peer_primary,
			 bool me_inconsistent, bool peer_inconsistent,
			 struct md_sync_plan *ret)
{
	bool equal = rule >= 40 && rule <= 43;

	if (equal && me_inconsistent != peer_inconsistent) {
		/* an interrupted resync: the consistent side goes on */
		v = peer_inconsistent ? MD_UUID_SYNC_SOURCE_BITMAP :
					MD_UUID_SYNC_TARGET_BITMAP;
	} else if (equal && rule != 40 && me_primary != peer_primary) {
		/* the node that serves clients now decides between equal
		 * UUIDs that only a crash tells apart */
		v = me_primary ? MD_UUID_SYNC_SOURCE_BITMAP :
				 MD_UUID_SYNC_TARGET_BITMAP;
	}
	ret->verdict = v;
	ret->dir = MD_SYNC_NONE;
	ret->full = false;
	switch (v) {
	case MD_UUID_NO_SYNC:
		/* still exchange bitmaps: writes that failed on the link
		 * or blocks verify found different are set in them */
		ret->dir = me_primary ? MD_SYNC_SOURCE :
			   peer_primary ? MD_SYNC_TARGET : MD_SYNC_NONE;
		return NULL;
	case MD_UUID_BOTH_FRESH:
		/* a new pair: the primary's contents are the reference; two
		 * fresh secondaries wait for `repctl promote --force` */
		ret->dir = me_primary ? MD_SYNC_SOURCE :
			   peer_primary ? MD_SYNC_TARGET : MD_SYNC_NONE;
		ret->full = true;
		return NULL;
	case MD_UUID_SYNC_SOURCE_BITMAP:
	case MD_UUID_SYNC_SOURCE_FULL:
		if (peer_primary)
			return "this secondary has newer data than the primary "
			       "peer; demote the peer and promote this node, "
			       "or discard this node's data";
		ret->dir = MD_SYNC_SOURCE;
		ret->full = v == MD_UUID_SYNC_SOURCE_FULL;
		return NULL;
	case MD_UUID_SYNC_TARGET_BITMAP:
	case MD_UUID_SYNC_TARGET_FULL:
		if (me_primary)
			return "the peer has newer data than this primary; "
			       "demote this node and promote the peer";
		ret->dir = MD_SYNC_TARGET;
		ret->full = v == MD_UUID_SYNC_TARGET_FULL;
		return NULL;
	case MD_UUID_SPLIT_BRAIN:
		return "split brain: both nodes changed the data while apart; "
		       "on the node whose changes are to be lost run `repctl "
		       "connect --discard-my-data` (as secondary), then "
		       "`repctl connect` on the other";
	case MD_UUID_UNRELATED:
		return "unrelated data: the nodes share no generation";
	}
	return "unknown verdict";
}
