/*
 * Control commands (docs/control.md) and the state the operator sees:
 * status, role changes, connection control, and the events stream. Every
 * refusal says why and what to run instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "handler.h"
#include "link.h"
#include "log.h"
#include "md/md_format.h"
#include "meta.h"
#include "peer/peer_proto.h"
#include "clock.h"

#define DEMOTE_WAIT_MS	30000u	/* then clients not reading are cut */
/* demote --force answers new requests ESHUTDOWN this long before it stops
 * reading: enough for a client to see it and stop sending */
#define DEMOTE_REFUSE_MS 1000u

static const char *disk_name(int disk)
{
	switch (disk) {
	case PEER_DISK_DISKLESS: return "Diskless";
	case PEER_DISK_INCONSISTENT: return "Inconsistent";
	case PEER_DISK_OUTDATED: return "Outdated";
	case PEER_DISK_CONSISTENT: return "Consistent";
	case PEER_DISK_UPTODATE: return "UpToDate";
	}
	return "DUnknown";
}

static const char *local_disk(const struct daemon_state *d)
{
	const struct md_super *sb = meta_super(d->meta);
	struct server_stats ss;

	server_get_stats(d->srv, &ss);
	if (ss.detached)
		return "Diskless";
	if (d->link) {
		struct link_stats ls;

		link_get_stats(d->link, &ls);
		if (ls.disk_error)	/* a peer FLUSH failed here */
			return "Failed";
	}

	if (sb->flags & MD_FLAG_RESYNC_IN_PROGRESS)
		return "Inconsistent";
	/* a node that never held data, unless it serves as primary */
	if (sb->gen.current <= MD_UUID_JUST_CREATED && !d->primary)
		return "Inconsistent";
	if (sb->flags & MD_FLAG_OUTDATED)
		return "Outdated";
	return "UpToDate";
}

void daemon_view(const struct daemon_state *d, struct node_view *v)
{
	const struct md_super *sb = meta_super(d->meta);
	struct server_stats ss;
	struct link_stats ls;

	server_get_stats(d->srv, &ss);
	v->role = d->primary ? "primary" : "secondary";
	v->disk = local_disk(d);
	v->peer_role = "unknown";
	v->peer_disk = "DUnknown";
	if (!d->link) {
		v->conn = "StandAlone";
		return;
	}
	link_get_stats(d->link, &ls);
	if (ls.connected) {
		v->peer_role = ls.peer_primary ? "primary" : "secondary";
		v->peer_disk = disk_name(ls.peer_disk);
	}
	if (ls.split_brain)
		v->conn = "SplitBrain";
	else if (ls.standalone)
		v->conn = "StandAlone";
	else if (!ls.connected)
		v->conn = d->stopping ? "Disconnecting" : "Connecting";
	else if (ls.bitmap_exchange)
		v->conn = "WFBitmap";
	else if (ss.resync_active)
		v->conn = "SyncSource";
	else if (ss.verify_active)
		v->conn = "Verifying";
	else if (sb->flags & MD_FLAG_RESYNC_IN_PROGRESS)
		v->conn = "SyncTarget";
	else
		v->conn = "Connected";
}

/* The export new NBD clients get for a node of the given role. */
static void export_for(struct daemon_state *d, bool primary)
{
	struct nbd_export *e = d->export;

	e->refuse = NULL;
	if (primary) {
		e->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
			    NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
			    NBD_FLAG_SEND_WRITE_ZEROES |
			    NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_SEND_CACHE |
			    NBD_FLAG_SEND_DF | NBD_FLAG_CAN_MULTI_CONN;
	} else if (d->secondary_reads) {
		/* reads of the secondary's copy, never writes */
		e->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
			    NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_DF |
			    NBD_FLAG_CAN_MULTI_CONN;
	} else {
		snprintf(d->refuse_msg, sizeof(d->refuse_msg), "node %.63s is "
			 "secondary for resource %.63s: connect to the primary",
			 d->node->name, d->cfg->name.text);
		e->refuse = d->refuse_msg;
	}
}

void daemon_apply_role(struct daemon_state *d)
{
	export_for(d, d->primary);
}

/* ---- status ---- */

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static void add_hex(json_object *o, const char *k, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%016" PRIx64, v);
	add_str(o, k, b);
}

static void add_bool(json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* The "status" command: one object, documented in docs/control.md. */
static int cmd_status(void *ctx, struct ctl_call *call, json_object *req,
		      json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	const struct md_super *sb = meta_super(d->meta);
	struct server_stats ss;
	struct link_stats ls = { 0 };
	struct meta_stats ms;
	struct node_view v;
	json_object *o;
	const char *err;
	long err_time;

	(void)call;
	(void)req;
	(void)ret_error;
	server_get_stats(d->srv, &ss);
	meta_get_stats(d->meta, &ms);
	if (d->link)
		link_get_stats(d->link, &ls);
	daemon_view(d, &v);
	add_str(out, "resource", d->cfg->name.text);
	add_str(out, "node", d->node->name);
	add_str(out, "version", REPD_VERSION);
	add_u64(out, "pid", (uint64_t)getpid());
	add_str(out, "role", v.role);
	add_str(out, "disk", v.disk);
	/* why the disk is Failed: its error, until repd restarts */
	if (ls.disk_error) {
		char why[128];

		snprintf(why, sizeof(why), "fdatasync of a peer FLUSH: %s",
			 strerror(-ls.disk_error));
		add_str(out, "disk_error", why);
	} else {
		add_str(out, "disk_error", NULL);
	}
	add_str(out, "connection", v.conn);
	add_str(out, "connection_reason", !d->link ? "no peer configured" :
		ls.reason);
	/* why the peer turns us away (it is StandAlone, say) */
	add_str(out, "peer_refusal", ls.peer_refusal);
	if (d->peer) {
		o = json_object_new_object();
		add_str(o, "name", d->peer->name);
		add_str(o, "role", v.peer_role);
		add_str(o, "disk", v.peer_disk);
		json_object_object_add(out, "peer", o);
	} else {
		json_object_object_add(out, "peer", NULL);
	}
	json_object_object_add(out, "protocol",
		json_object_new_string_len(&d->protocol, 1));
	if (ls.have_decision) {
		/* what the generations decided at the last connect */
		o = json_object_new_object();
		add_str(o, "verdict", md_uuid_verdict_name(
			(enum md_uuid_verdict)ls.decision));
		add_u64(o, "rule", ls.decision_rule);
		add_str(o, "reason", md_uuid_rule_text(ls.decision_rule));
		json_object_object_add(out, "sync_decision", o);
	} else {
		json_object_object_add(out, "sync_decision", NULL);
	}
	add_u64(out, "out_of_sync_bytes", ms.dirty_bytes);
	o = json_object_new_object();
	add_bool(o, "active", ss.resync_active);
	add_u64(o, "done_bytes", ss.resync_done);
	add_u64(o, "total_bytes", ss.resync_total);
	json_object_object_add(o, "percent", json_object_new_double(
		ss.resync_total ? 100.0 * (double)ss.resync_done /
				  (double)ss.resync_total : 100.0));
	add_u64(o, "rate_bytes_per_s", ss.resync_ms ?
		ss.resync_done * 1000 / ss.resync_ms : 0);
	add_u64(o, "sent_bytes", ss.resync_sent);
	add_bool(o, "paced", ss.resync_paced);
	add_u64(o, "paced_rate_bytes_per_s", ss.resync_paced_rate);
	add_u64(o, "unflushed_bytes", ss.resync_unflushed);
	add_u64(o, "flushes", ss.resync_flushes);
	add_str(o, "error", ss.resync_error);
	add_u64(o, "eta_s", ss.resync_active && ss.resync_done ?
		(ss.resync_total - ss.resync_done) * ss.resync_ms /
		ss.resync_done / 1000 : 0);
	json_object_object_add(out, "resync", o);
	o = json_object_new_object();
	add_bool(o, "active", ss.verify_active);
	add_bool(o, "stopped_early", ss.verify_failed);
	add_u64(o, "done_bytes", ss.verify_done);
	add_u64(o, "total_bytes", ss.verify_total);
	add_u64(o, "mismatched_blocks", ss.verify_mismatches);
	{
		json_object *a = json_object_new_array();
		uint64_t i;

		for (i = 0; i < ss.verify_mismatches && i < 8; i++)
			json_object_array_add(a, json_object_new_int64(
				(int64_t)ss.verify_first[i]));
		json_object_object_add(o, "first_offsets", a);
	}
	add_u64(o, "elapsed_ms", ss.verify_ms);
	json_object_object_add(out, "verify", o);
	o = json_object_new_object();
	add_u64(o, "nbd_connections", ss.conns);
	add_u64(o, "in_flight", ss.ios_in_flight);
	add_u64(o, "requests", ss.requests);
	if (ss.loop_cpu >= 0)
		add_u64(o, "loop_cpu", (uint64_t)ss.loop_cpu);
	else
		json_object_object_add(o, "loop_cpu", NULL);
	add_u64(o, "cpu_auto_changes", ss.cpu_auto_changes);
	add_u64(o, "flushes", ss.flushes);
	add_u64(o, "fdatasyncs", ss.fdatasyncs);
	add_u64(o, "inline_writes", ss.inline_writes);
	add_u64(o, "inline_large_writes", ss.inline_large_writes);
	add_u64(o, "inline_stalls", ss.inline_stalls);
	add_u64(o, "inline_preempted", ss.inline_preempted);
	add_u64(o, "reads_spliced", ss.reads_spliced);
	add_u64(o, "send_waits", ss.send_waits);
	add_u64(o, "reply_batches", ss.reply_batches);
	add_u64(o, "reply_hold_giveups", ss.reply_hold_giveups);
	add_u64(o, "reply_hold_expired", ss.reply_hold_expired);
	add_u64(o, "peer_pending", ls.pending);
	/* on-peer-loss = suspend: held until the peer is back */
	add_u64(o, "suspended", ls.connected ? 0 : ls.pending);
	add_u64(o, "applying", ls.applying);
	json_object_object_add(out, "io", o);
	o = json_object_new_object();	/* since start, all connections */
	add_u64(o, "sent_bytes", ls.sent_bytes);
	add_u64(o, "received_bytes", ls.recv_bytes);
	add_u64(o, "data_packets", ls.data_packets);
	add_u64(o, "compressed_packets", ls.compressed_packets);
	add_u64(o, "connects", ls.connects);
	add_u64(o, "losses", ls.losses);
	json_object_object_add(out, "link", o);
	o = json_object_new_object();
	add_u64(o, "activity_log_writes", ms.al_writes);
	add_u64(o, "activity_log_ahead", ms.al_ahead);
	add_u64(o, "bitmap_writes", ms.bm_writes);
	add_u64(o, "superblock_writes", ms.sb_writes);
	add_hex(o, "current_uuid", sb->gen.current);
	add_hex(o, "bitmap_uuid", sb->gen.bitmap);
	json_object_object_add(out, "metadata", o);
	err = log_last_error(&err_time);
	if (err_time) {
		o = json_object_new_object();
		add_str(o, "message", err);
		add_u64(o, "time", (uint64_t)err_time);
		json_object_object_add(out, "last_error", o);
	} else {
		json_object_object_add(out, "last_error", NULL);
	}
	return 0;
}

/* ---- arguments ---- */

/* Optional boolean member k of req: 0 with *ret, or -EINVAL. */
static int opt_bool(json_object *req, const char *k, bool *ret,
		    const char **ret_error)
{
	json_object *v;

	*ret = false;
	if (!json_object_object_get_ex(req, k, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		*ret_error = "argument must be true or false";
		return -EINVAL;
	}
	*ret = json_object_get_boolean(v);
	return 0;
}

static int refuse(const char **ret_error, const char *why)
{
	log_msg(LOG_WARNING, "control: refused: %s", why);
	*ret_error = why;
	return -EPERM;
}

/* ---- role changes ---- */

static int cmd_promote(void *ctx, struct ctl_call *call, json_object *req,
		       json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	const struct md_super *sb = meta_super(d->meta);
	bool force, fresh = sb->gen.current <= MD_UUID_JUST_CREATED;
	struct link_stats ls = { 0 };
	const char *disk = local_disk(d);
	int r;

	(void)call;
	(void)out;
	if ((r = opt_bool(req, "force", &force, ret_error)) < 0)
		return r;
	if (d->primary)
		return refuse(ret_error, "this node is already primary");
	if (d->stopping)
		return refuse(ret_error, "shutting down");
	if (d->link)	/* a single-node config has none: ls stays zero */
		link_get_stats(d->link, &ls);
	if (ls.connected && ls.peer_primary)
		return refuse(ret_error, "the peer is primary: run `repctl "
			      "demote` there first");
	if (ls.connected && (sb->flags & MD_FLAG_RESYNC_IN_PROGRESS))
		return refuse(ret_error, "a resync to this node is running: "
			      "wait for it, or `repctl disconnect` first to "
			      "promote incomplete data with --force");
	if (ls.applying)
		return refuse(ret_error, "writes from the peer are still "
			      "being applied: try again");
	if (ls.disk_error)
		return refuse(ret_error, "the local disk failed a flush and "
			      "may have lost writes: restart repd once the "
			      "disk works (the data stays Inconsistent; "
			      "--force then promotes it anyway)");
	if (strcmp(disk, "UpToDate") != 0 && !force)
		return refuse(ret_error, strcmp(disk, "Outdated") == 0 ?
			      "local data is Outdated: use --force to promote "
			      "it anyway" : "local data is Inconsistent: use "
			      "--force to promote it anyway");
	if (strcmp(disk, "UpToDate") != 0 || fresh) {
		r = meta_force_up_to_date(d->meta);
		if (r < 0)
			return refuse(ret_error, "cannot write the metadata");
		log_msg(LOG_WARNING, "promoting %s data (--force): it is now "
			"the reference", disk);
	}
	r = meta_update_flags(d->meta, MD_FLAG_WAS_PRIMARY, 0);
	if (r < 0)
		return refuse(ret_error, "cannot write the metadata");
	d->primary = true;
	daemon_apply_role(d);
	link_set_role(d->link, true);
	log_msg(LOG_NOTICE, "promoted to primary%s", force ? " (--force)" :
		"");
	/* a fresh pair: the new generation makes this node a full source */
	if (fresh && ls.connected)
		link_reconnect(d->link);
	return 0;
}

static void finish_demote(struct daemon_state *d)
{
	if (meta_update_flags(d->meta, 0, MD_FLAG_WAS_PRIMARY) < 0)
		log_msg(LOG_ERR, "demote: cannot clear was-primary in the "
			"metadata; continuing as secondary");
	d->primary = false;
	daemon_apply_role(d);
	link_set_role(d->link, false);
	server_refuse_requests(d->srv, false);	/* for the next clients */
	log_msg(LOG_NOTICE, "demoted to secondary");
}

static int cmd_demote(void *ctx, struct ctl_call *call, json_object *req,
		      json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	struct server_stats ss;
	bool force;
	int r;

	(void)out;
	if ((r = opt_bool(req, "force", &force, ret_error)) < 0)
		return r;
	if (!d->primary)
		return refuse(ret_error, "this node is already secondary");
	if (!d->link)
		return refuse(ret_error, "no peer in the config: a standalone "
			      "node is always primary");
	if (d->demote_call)
		return refuse(ret_error, "a demote is already in progress");
	server_get_stats(d->srv, &ss);
	if (ss.conns == 0) {
		finish_demote(d);
		return 0;
	}
	if (!force)
		return refuse(ret_error, "NBD clients are connected: "
			      "disconnect them, or use --force to drain and "
			      "close them");
	/* refuse new clients now; the answer waits until the old are gone */
	log_msg(LOG_NOTICE, "demote --force: answering new requests of %u "
		"NBD connection(s) ESHUTDOWN for %u ms, then closing them "
		"once their requests are answered", ss.conns,
		DEMOTE_REFUSE_MS);
	export_for(d, false);
	server_refuse_requests(d->srv, true);
	d->demote_call = call;
	d->demote_close_ms = now_ms() + DEMOTE_REFUSE_MS;
	d->demote_deadline_ms = now_ms() + DEMOTE_WAIT_MS;
	return CTL_DEFER;
}

/* ---- connection ---- */

static int cmd_connect(void *ctx, struct ctl_call *call, json_object *req,
		       json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	struct link_stats ls;
	bool discard;
	int r;

	(void)call;
	(void)out;
	if ((r = opt_bool(req, "discard_my_data", &discard, ret_error)) < 0)
		return r;
	if (!d->link)
		return refuse(ret_error, "no peer in the config");
	link_get_stats(d->link, &ls);
	if (!ls.standalone && !discard)
		return refuse(ret_error, "already connecting or connected");
	if (discard && d->primary)
		return refuse(ret_error, "--discard-my-data needs a "
			      "secondary: run `repctl demote` first");
	r = link_connect(d->link, discard);
	if (r < 0)
		return refuse(ret_error, "cannot write the metadata");
	log_msg(LOG_NOTICE, "connecting to the peer%s", discard ?
		" (this node's changes are discarded on split brain)" : "");
	return 0;
}

static int cmd_disconnect(void *ctx, struct ctl_call *call,
			  json_object *req, json_object *out,
			  const char **ret_error)
{
	struct daemon_state *d = ctx;

	(void)call;
	(void)req;
	(void)out;
	if (!d->link)
		return refuse(ret_error, "no peer in the config");
	link_disconnect(d->link);
	return 0;
}

static int cmd_resync(void *ctx, struct ctl_call *call, json_object *req,
		      json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;

	(void)call;
	(void)req;
	(void)out;
	if (!d->link || !link_connected(d->link))
		return refuse(ret_error, "not connected to the peer: run "
			      "`repctl connect`");
	log_msg(LOG_NOTICE, "resync requested: reconnecting to compare "
		"generations and bitmaps");
	link_reconnect(d->link);
	return 0;
}

static int cmd_outdate(void *ctx, struct ctl_call *call, json_object *req,
		       json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;

	(void)call;
	(void)req;
	(void)out;
	if (d->primary)
		return refuse(ret_error, "a primary's data cannot be outdated: "
			      "demote it first");
	if (d->link && link_connected(d->link))
		return refuse(ret_error, "connected: the peer keeps this copy "
			      "up to date; `repctl disconnect` first");
	if (meta_update_flags(d->meta, MD_FLAG_OUTDATED, 0) < 0)
		return refuse(ret_error, "cannot write the metadata");
	log_msg(LOG_NOTICE, "local data marked Outdated");
	return 0;
}

static int cmd_invalidate(void *ctx, struct ctl_call *call,
			  json_object *req, json_object *out,
			  const char **ret_error)
{
	struct daemon_state *d = ctx;
	struct link_stats ls;

	(void)call;
	(void)req;
	(void)out;
	if (d->primary)
		return refuse(ret_error, "a primary cannot discard its data: "
			      "demote it first");
	if (!d->link)
		return refuse(ret_error, "no peer in the config");
	link_get_stats(d->link, &ls);
	if (ls.connected && ls.peer_disk != PEER_DISK_UPTODATE)
		return refuse(ret_error, "the peer's data is not UpToDate: "
			      "it cannot be the source");
	if (meta_invalidate(d->meta) < 0)
		return refuse(ret_error, "cannot write the metadata");
	log_msg(LOG_NOTICE, "local data invalidated: a full resync from the "
		"peer follows");
	link_send_state(d->link);
	if (ls.connected)
		link_reconnect(d->link);
	return 0;
}

/*
 * Skip the initial sync of two blank devices: both nodes freshly created,
 * connected, nothing running. This node starts generation 1 with a clear
 * bitmap and the peer adopts it. Safe only if both devices really are
 * identical (blank, or copies of one image): the operator says so.
 */
static int cmd_new_current_uuid(void *ctx, struct ctl_call *call,
				json_object *req, json_object *out,
				const char **ret_error)
{
	struct daemon_state *d = ctx;
	const struct md_super *sb = meta_super(d->meta);
	struct link_stats ls;
	struct server_stats ss;
	bool clear;
	char uuid[17];
	int r;

	(void)call;
	if ((r = opt_bool(req, "clear_bitmap", &clear, ret_error)) < 0)
		return r;
	if (!clear)
		return refuse(ret_error, "give --clear-bitmap: a new current "
			      "UUID is started by the first write while apart; "
			      "this command only skips the initial sync of "
			      "blank devices");
	if (!d->link)
		return refuse(ret_error, "no peer in the config: a standalone "
			      "node never syncs");
	link_get_stats(d->link, &ls);
	server_get_stats(d->srv, &ss);
	if (!ls.connected)
		return refuse(ret_error, "not connected: start and connect "
			      "both freshly created nodes, then run this on one");
	if (!md_uuid_never_held_data(&sb->gen))
		return refuse(ret_error, "this node has held data (its "
			      "generations are not those of create-md): "
			      "--clear-bitmap is only for blank devices");
	if (!ls.peer_blank)
		return refuse(ret_error, "the peer has held data: "
			      "--clear-bitmap is only for blank devices");
	if (ss.resync_active || ls.bitmap_exchange ||
	    (sb->flags & MD_FLAG_RESYNC_IN_PROGRESS) ||
	    ls.peer_disk == PEER_DISK_UPTODATE)
		return refuse(ret_error, "a sync has already started: let it "
			      "finish");
	if (ls.peer_primary)
		return refuse(ret_error, "the peer is primary: run this on "
			      "two secondaries");
	r = meta_new_current_clear_bitmap(d->meta);
	if (r < 0)
		return refuse(ret_error, "cannot write the metadata");
	link_send_generation(d->link);
	snprintf(uuid, sizeof(uuid), "%016" PRIx64, sb->gen.current);
	add_str(out, "current_uuid", uuid);
	log_msg(LOG_NOTICE, "new current UUID %s with a clear bitmap: both "
		"nodes UpToDate, no initial sync", uuid);
	return 0;
}

/* Optional non-negative integer member k of req (0 when absent). */
static int opt_u64(json_object *req, const char *k, uint64_t *ret,
		   const char **ret_error)
{
	json_object *v;

	*ret = 0;
	if (!json_object_object_get_ex(req, k, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		*ret_error = "offsets must be non-negative integers";
		return -EINVAL;
	}
	*ret = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int cmd_verify(void *ctx, struct ctl_call *call, json_object *req,
		      json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	struct link_stats ls = { 0 };
	uint64_t start, stop;
	int r;

	(void)call;
	(void)out;
	if ((r = opt_u64(req, "start", &start, ret_error)) < 0 ||
	    (r = opt_u64(req, "stop", &stop, ret_error)) < 0)
		return r;
	if (!d->link)
		return refuse(ret_error, "no peer in the config");
	link_get_stats(d->link, &ls);
	/* the primary's writes reach the peer in order behind the hash
	 * requests; driven from a secondary they would race */
	if (ls.connected && !d->primary && ls.peer_primary)
		return refuse(ret_error, "run verify on the primary");
	r = server_start_verify(d->srv, start, stop);
	switch (r) {
	case 0:
		return 0;
	case -EALREADY:
		return refuse(ret_error, "a verify is already running");
	case -EBUSY:
		return refuse(ret_error, "a resync is running: verify after "
			      "it finished");
	case -ENOTCONN:
		return refuse(ret_error, "not connected to the peer");
	case -EIO:
		return refuse(ret_error, "the local disk is detached "
			      "(Diskless): there is nothing to verify");
	default:
		return refuse(ret_error, "start must be below stop and the "
			      "device size");
	}
}

/* ---- events ---- */

static void view_json(const struct node_view *v, json_object *o)
{
	add_str(o, "role", v->role);
	add_str(o, "disk", v->disk);
	add_str(o, "connection", v->conn);
	add_str(o, "peer_role", v->peer_role);
	add_str(o, "peer_disk", v->peer_disk);
}

static int cmd_events(void *ctx, struct ctl_call *call, json_object *req,
		      json_object *out, const char **ret_error)
{
	struct daemon_state *d = ctx;
	struct node_view v;

	(void)call;
	(void)req;
	(void)ret_error;
	/* the reply carries the state now; changes follow, one per line */
	daemon_view(d, &v);
	add_str(out, "event", "state");
	add_u64(out, "time", (uint64_t)time(NULL));
	view_json(&v, out);
	return CTL_SUBSCRIBE;
}

static void publish(struct daemon_state *d, const char *event,
		    const struct node_view *v)
{
	json_object *o = json_object_new_object();

	add_str(o, "event", event);
	add_u64(o, "time", (uint64_t)time(NULL));
	view_json(v, o);
	ctl_publish(d->ctl, o);
	json_object_put(o);
}

/* Run the operator's handler for e, with the state in its environment. */
static void daemon_handler(struct daemon_state *d, enum handler_event e,
			   const struct node_view *v)
{
	char role[64], disk[64], conn[64], peer[96];
	const char *env[] = { role, disk, conn, peer, NULL };

	if (!d->handlers)
		return;
	snprintf(role, sizeof(role), "REPD_ROLE=%s", v->role);
	snprintf(disk, sizeof(disk), "REPD_DISK=%s", v->disk);
	snprintf(conn, sizeof(conn), "REPD_CONNECTION=%s", v->conn);
	snprintf(peer, sizeof(peer), "REPD_PEER=%s",
		 d->peer ? d->peer->name : "");
	handlers_run(d->handlers, e, env);	/* failures are logged */
}

void daemon_poll(struct daemon_state *d)
{
	struct node_view v;
	struct server_stats ss;
	struct link_stats ls = { 0 };
	const struct node_view *o = &d->last;

	if (d->demote_call) {
		server_get_stats(d->srv, &ss);
		if (ss.conns == 0) {
			finish_demote(d);
			ctl_finish(d->demote_call, 0, NULL, NULL);
			d->demote_call = NULL;
		} else if (d->demote_close_ms &&
			   now_ms() >= d->demote_close_ms) {
			server_disconnect_clients(d->srv, false);
			d->demote_close_ms = 0;
		} else if (now_ms() > d->demote_deadline_ms) {
			log_msg(LOG_WARNING, "demote: clients still connected "
				"after %u s: hanging up on them",
				DEMOTE_WAIT_MS / 1000);
			server_disconnect_clients(d->srv, true);
			d->demote_deadline_ms = UINT64_MAX;
		}
	}
	if (!d->ctl)
		return;
	daemon_view(d, &v);
	if (d->link)
		link_get_stats(d->link, &ls);
	server_get_stats(d->srv, &ss);
	if (d->last_valid && v.role == o->role && v.disk == o->disk &&
	    v.conn == o->conn && v.peer_role == o->peer_role &&
	    v.peer_disk == o->peer_disk)
		return;
	log_msg(LOG_NOTICE, "state: %s/%s, %s, peer %s/%s", v.role, v.disk,
		v.conn, v.peer_role, v.peer_disk);
	publish(d, "state", &v);
	if (d->last_valid) {
		if (v.role != o->role)
			daemon_handler(d, HANDLER_ROLE_CHANGE, &v);
		if (v.conn != o->conn && !strcmp(v.conn, "SplitBrain")) {
			publish(d, "split-brain", &v);
			daemon_handler(d, HANDLER_SPLIT_BRAIN, &v);
		}
		if (strcmp(o->conn, "Connecting") &&
		    strcmp(o->conn, "StandAlone") &&
		    strcmp(o->conn, "SplitBrain") &&
		    !strcmp(v.conn, "Connecting"))
			daemon_handler(d, HANDLER_PEER_LOST, &v);
		if ((!strcmp(o->conn, "SyncSource") ||
		     !strcmp(o->conn, "SyncTarget")) &&
		    !strcmp(v.conn, "Connected")) {
			publish(d, "resync-done", &v);
			daemon_handler(d, HANDLER_RESYNC_DONE, &v);
		}
	}
	d->last = v;
	d->last_valid = true;
}

void daemon_on_detach(void *ctx)
{
	struct daemon_state *d = ctx;
	struct node_view v;

	daemon_view(d, &v);
	daemon_handler(d, HANDLER_IO_ERROR, &v);
}

void daemon_abort_calls(struct daemon_state *d)
{
	if (d->demote_call) {
		ctl_finish(d->demote_call, -ESHUTDOWN, "shutting down", NULL);
		d->demote_call = NULL;
	}
}

const struct ctl_cmd daemon_ctl_cmds[] = {
	{ "status", cmd_status },
	{ "promote", cmd_promote },
	{ "demote", cmd_demote },
	{ "connect", cmd_connect },
	{ "disconnect", cmd_disconnect },
	{ "resync", cmd_resync },
	{ "outdate", cmd_outdate },
	{ "invalidate", cmd_invalidate },
	{ "new-current-uuid", cmd_new_current_uuid },
	{ "verify", cmd_verify },
	{ "events", cmd_events },
	{ NULL, NULL },
};
