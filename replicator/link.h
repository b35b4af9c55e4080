/*
 * The replication link: one TCP connection to the peer, carried by the
 * io_uring loop. The primary dials the secondary; both authenticate each
 * other with HMAC-SHA256 over the shared secret (docs/protocol.md).
 *
 * Primary: link_submit() sends a request's peer leg (DATA, TRIM,
 * WRITE_ZEROES, FLUSH) and reports twice:
 *   acked()   when the configured protocol lets the client be answered
 *             (A: packet handed to the kernel, B: peer received it,
 *             C: peer wrote it); err < 0 if the link was lost first;
 *   settled() when the peer wrote it (0), or will never confirm it
 *             (err < 0: the caller marks the range out of sync).
 * When both happen at once (C, and always for TRIM/ZEROES/FLUSH),
 * settled() runs first. Requests are sent in submission order.
 *
 * Secondary: applies what it receives through its own request pool
 * (concurrently where ranges do not overlap, in arrival order where they
 * do), answers ACK_RECV/ACK_WRITE/NACK, and serves FLUSH as a barrier
 * over every write received before it.
 */
#ifndef REPD_LINK_H
#define REPD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "md/md_format.h"
#include "md/md_uuid.h"
#include "netaddr.h"
#include "sendq.h"

struct link;
struct meta;
struct store;

enum link_proto {
	LINK_PROTO_A,			/* async: local done + queued */
	LINK_PROTO_B,			/* memory: local done + peer received */
	LINK_PROTO_C,			/* sync: local done + peer written */
};

enum link_loss_policy {
	LINK_LOSS_CONTINUE,		/* degrade: track in the bitmap */
	LINK_LOSS_SUSPEND,		/* hold writes until the peer returns */
};

struct link_params {
	struct engine *eng;		/* borrowed */
	struct store *store;		/* borrowed (secondary applies) */
	struct meta *meta;		/* borrowed (UUIDs, flags) */
	const char *resource;		/* names are borrowed */
	const char *local_name, *peer_name;
	uint32_t local_id, peer_id;	/* the lower id dials */
	struct netaddr local_addr;	/* where we listen */
	struct netaddr peer_addr;	/* where the peer listens */
	bool primary;			/* this node's role at start */
	enum link_proto proto;
	enum link_loss_policy on_loss;
	bool lz4;			/* compress DATA when it shrinks */
	bool checksum;			/* crc32c on every DATA */
	const char *secret;		/* shared secret, borrowed */
	unsigned ping_ms, timeout_ms;
	uint32_t max_block;		/* largest DATA */
	unsigned max_ios;		/* secondary apply contexts */
	/* Called when a connection is established, with the resync verdict
	 * of the generation UUIDs (one the role accepts: the link refuses
	 * split brain, unrelated data and a primary as sync target). */
	void (*on_connected)(void *ctx, enum md_uuid_verdict v);
	void *ctx;
};

enum link_req_type {
	LINK_REQ_DATA,
	LINK_REQ_TRIM,
	LINK_REQ_ZEROES,
	LINK_REQ_FLUSH,
	LINK_REQ_RS_DATA,		/* resync block (source -> target) */
	LINK_REQ_VERIFY,		/* block hashes; the peer answers with
					 * its own (settled: peer_hashes) */
	LINK_REQ_READ,			/* read the peer's copy into dest (a
					 * primary whose disk failed) */
};

#define LINK_TX_HDR_MAX	64u

/* A packet waiting for, or in, the send queue. si.hdr_len bytes of hdr[]
 * go first, then si.payload (borrowed until sent). */
struct link_tx {
	struct sendq_item si;
	uint8_t hdr[LINK_TX_HDR_MAX];	/* header + fixed part */
	void (*on_sent)(struct link_tx *t);	/* may be NULL */
};

/* A request's peer leg; embedded in the primary's request context. */
struct link_req {
	/* set by the caller before link_submit() */
	enum link_req_type type;
	unsigned flags;			/* STORE_REQ_FUA, STORE_REQ_NO_HOLE */
	uint64_t off, len;
	const uint8_t *data;		/* DATA payload, borrowed */
	uint8_t *zbuf;			/* lz4 scratch, compress bound bytes;
					 * VERIFY: its packet is built here */
	uint32_t block_size, n_hashes;	/* VERIFY */
	const uint64_t *hashes;		/* VERIFY: ours, n_hashes */
	uint64_t *peer_hashes;		/* VERIFY: filled before settled(0) */
	uint8_t *dest;			/* READ: len bytes, before settled(0) */
	void (*acked)(struct link_req *lr, int err);
	void (*settled)(struct link_req *lr, int err);
	/* private */
	struct link_tx tx;
	struct link_req *next, *prev;	/* pending, in seq order */
	uint64_t seq;
	bool is_acked, is_settled;
};

int link_new(const struct link_params *p, struct link **ret);
/* Set on_connected/ctx after creation (the server needs the link first). */
void link_set_on_connected(struct link *l,
			   void (*fn)(void *ctx, enum md_uuid_verdict v),
			   void *ctx);
/* Start listening (secondary) or dialling (primary). 0 or -errno (the
 * listen address cannot be used; the message is logged). */
int link_start(struct link *l);

/*
 * Send lr to the peer. 0: queued, the callbacks will run. -ENOTCONN: the
 * peer is not connected and the policy is to continue without it; no
 * callback runs and the caller marks the range out of sync. Under
 * on-peer-loss=suspend requests wait for the peer instead.
 */
int link_submit(struct link *l, struct link_req *lr);

/* Deferred work (freeing closed connections, resuming a connection that
 * waited for contexts). Call after every engine_run_once(). */
void link_poll(struct link *l);

/* True while writes are being replicated (connected and authenticated). */
bool link_connected(const struct link *l);

/* Connections established so far: a request that settles after this
 * changed went out (or was answered) on another connection. */
uint64_t link_connects(const struct link *l);

/* Primary, sync source: tell the peer a resync starts (it is then
 * Inconsistent) or finished (it takes our generations). */
void link_send_sync_state(struct link *l, bool done);

/* Tell the peer our role and disk state (after a change). */
void link_send_state(struct link *l);

/* After meta_new_current_clear_bitmap: the peer, blank too, adopts our
 * new current UUID and becomes UpToDate without a resync. */
void link_send_generation(struct link *l);

/* The local disk failed and is detached: the peer is told (it then
 * tracks every write it applies and starts a new generation). */
void link_set_diskless(struct link *l);

/* This node's role changed (the caller checked it may). The peer is
 * told; a primary sends, a secondary applies. */
void link_set_role(struct link *l, bool primary);

/* Operator: close the connection and stay StandAlone. */
void link_disconnect(struct link *l);
/* Operator: leave StandAlone. With discard_my_data (secondary only,
 * else -EBUSY) a split brain resolves with this node as sync target. */
int link_connect(struct link *l, bool discard_my_data);
/* Drop the connection and dial/accept again at once: the nodes compare
 * generations and bitmaps and resync what differs. */
void link_reconnect(struct link *l);

/* Stop: close the connection, fail or release everything pending. */
void link_stop(struct link *l);
/* True once nothing of the link is in flight (after link_stop). */
bool link_stopped(const struct link *l);
struct link *link_free(struct link *l);

struct link_stats {
	bool connected;
	uint64_t pending;		/* requests awaiting the peer */
	uint64_t sent_bytes, recv_bytes;
	uint64_t data_packets, compressed_packets;
	uint64_t connects, losses;
	uint64_t syncs_done;		/* resyncs finished as target */
	bool standalone;		/* not trying to connect */
	bool split_brain;		/* ... because of a split brain */
	const char *reason;		/* why StandAlone, or NULL */
	const char *peer_refusal;	/* the peer's last refusal since we
					 * were connected or found it
					 * unreachable, or NULL */
	unsigned applying;		/* peer writes being applied */
	int disk_error;			/* a peer FLUSH failed here (-errno):
					 * the disk is Failed until restart */
	bool bitmap_exchange;		/* connected, bitmaps in transfer */
	bool peer_primary;		/* connected: the peer's role */
	int peer_disk;			/* connected: enum peer_disk */
	bool peer_blank;		/* connected: never held data */
	/* the last handshake's resync decision (md_sync_plan's verdict) */
	bool have_decision;
	int decision;			/* enum md_uuid_verdict */
	unsigned decision_rule;		/* md_uuid_compare's rule */
};
void link_get_stats(const struct link *l, struct link_stats *ret);

#endif /* REPD_LINK_H */
