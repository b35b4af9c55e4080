/*
 * Who sends what when two nodes connect: the generation verdict
 * (md_uuid_compare) refined by the roles the nodes hold now. Pure.
 *
 * The verdict alone assumes a crashed node comes back in its old role;
 * with roles changing at runtime (failover) the primary's data is the
 * one clients saw last, so where the UUIDs are equal and only a crash
 * makes a difference, the primary is the source. Every bitmap resync
 * covers the union of both bitmaps (the target sends its bits first),
 * so the crashed node's activity-log extents are rewritten either way.
 */
#ifndef REPD_MD_SYNC_PLAN_H
#define REPD_MD_SYNC_PLAN_H

#include <stdbool.h>

#include "md/md_uuid.h"

enum md_sync_dir {
	MD_SYNC_NONE,			/* nothing to move */
	MD_SYNC_SOURCE,			/* this node sends blocks */
	MD_SYNC_TARGET,			/* this node receives them */
};

struct md_sync_plan {
	enum md_uuid_verdict verdict;	/* after the role refinement */
	enum md_sync_dir dir;
	bool full;			/* every block, no bitmap exchange */
};

/*
 * Plan the connection for verdict v (from rule) with the current roles
 * and consistency (MD_FLAG_RESYNC_IN_PROGRESS: a resync target that has
 * not finished; it took the source's current UUID when the resync
 * started, so an interrupted resync meets equal UUIDs and resumes from
 * the source's bitmap instead of starting over).
 * Returns NULL and fills *ret, or a one-line reason to refuse the
 * connection (split brain, unrelated data, a primary that would become
 * sync target, a secondary with newer data than the primary).
 */
const char *md_sync_plan(enum md_uuid_verdict v, unsigned rule,
			 bool me_primary, bool peer_primary,
			 bool me_inconsistent, bool peer_inconsistent,
			 struct md_sync_plan *ret);

#endif /* REPD_MD_SYNC_PLAN_H */
