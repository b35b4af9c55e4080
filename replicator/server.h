/*
 * The NBD server on the event loop: listeners, connections, a fixed pool
 * of request contexts, request execution on the local store, write
 * ordering and batched replies.
 */
#ifndef REPD_SERVER_H
#define REPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "nbd_handshake.h"
#include "md/md_uuid.h"
#include "meta.h"
#include "store.h"

struct server;

struct server_params {
	struct engine *engine;		/* borrowed */
	struct store *store;		/* borrowed */
	struct meta *meta;		/* borrowed: activity log, bitmap */
	struct link *link;		/* borrowed; NULL without a peer */
	const struct nbd_export *export; /* borrowed */
	unsigned max_ios;		/* request contexts in the pool */
	unsigned max_conn_ios;		/* in flight per connection */
	unsigned max_conns;		/* simultaneous connections */
	uint64_t resync_rate;		/* bytes/s ceiling, 0: none */
	bool resync_checksum;		/* send only blocks whose hash differs */
	bool detach_on_io_error;	/* on-io-error = detach */
	void (*on_detach)(void *ctx);	/* the disk was detached */
	void *detach_ctx;
	bool cpu_auto;			/* cpu = auto: pin the engine's loop
					 * while the load is narrow (buffered
					 * stores only) */
};

/* Allocate the server and its fixed pools. 0 or -errno. */
int server_new(const struct server_params *p, struct server **ret);
/* Free a drained server (NULL is fine); returns NULL. */
struct server *server_free(struct server *srv);

/* Take ownership of a listening socket fd and start accepting on it. */
int server_add_listener(struct server *srv, int fd, bool is_unix);

/* link_params.on_connected for a primary: start a resync if the verdict
 * or the bitmap asks for one (ctx is the server). */
void server_on_connected(void *ctx, enum md_uuid_verdict v);

/*
 * Online verify of [start, stop) (stop 0: the end): compare hashes of
 * every block with the peer's while clients keep working; blocks that
 * differ are marked out of sync (`repctl resync` repairs them). 0, or
 * -EALREADY, -EIO (local disk detached), -EBUSY (resync running),
 * -ENOTCONN, -EINVAL.
 */
int server_start_verify(struct server *srv, uint64_t start, uint64_t stop);

/* Work that must not run inside a completion callback (resuming
 * connections paused for lack of request contexts). Call after every
 * engine_run_once(). */
void server_poll(struct server *srv);

/* Close every NBD connection (demote --force): stop reading, answer what
 * is in flight, then close; hang_up closes at once. Listeners stay. */
void server_disconnect_clients(struct server *srv, bool hang_up);
/* While on, every new request is answered ESHUTDOWN (the grace period of
 * demote --force, before server_disconnect_clients): a client learns that
 * the export is going away and can stop sending, rather than have its
 * last requests die unanswered in a closed socket. */
void server_refuse_requests(struct server *srv, bool on);

enum server_drain_phase {
	SERVER_DRAIN_START,	/* stop accepting; new requests: ESHUTDOWN */
	SERVER_DRAIN_CLOSE,	/* stop reading; close once replies are out */
	SERVER_DRAIN_FORCE,	/* hang up on clients not reading replies */
};

/*
 * Graceful shutdown, in phases (each may be called again): finish and
 * answer every request in flight, then close the connections.
 */
void server_drain(struct server *srv, enum server_drain_phase phase);

/* True once draining finished: no listener, no connection, no request. */
bool server_drained(const struct server *srv);

struct server_stats {
	unsigned conns;
	unsigned ios_in_flight;
	uint64_t requests;
	int loop_cpu;			/* the loop's one CPU, -1: not pinned */
	uint64_t cpu_auto_changes;	/* pins and unpins by cpu = auto */
	uint64_t flushes;		/* waits for a local fdatasync: FLUSH, FUA
					 * TRIM/WRITE_ZEROES */
	uint64_t fdatasyncs;		/* fdatasyncs those took */
	uint64_t inline_writes;		/* page-cache writes the loop made */
	uint64_t inline_large_writes;	/* of those, above 64 KiB */
	uint64_t inline_stalls;		/* of those, ones that blocked */
	uint64_t inline_preempted;	/* as slow, but preempted, not asleep */
	uint64_t reads_spliced;		/* READ replies sent by splice */
	uint64_t send_waits;		/* waits for room in a client socket */
	uint64_t reply_batches;		/* sends of held small replies, full */
	uint64_t reply_hold_giveups;	/* holds ended: the client waited */
	uint64_t reply_hold_expired;	/* of those, at the age limit */
	bool resync_active;		/* this node is sync source now */
	uint64_t resync_done, resync_total;	/* bytes */
	uint64_t resync_ms;		/* since it started */
	uint64_t resync_sent;		/* block bytes sent (checksum: less) */
	bool resync_paced;		/* clients active: rs_ctl sets the pace */
	uint64_t resync_paced_rate;	/* ... at this many bytes/s */
	uint64_t resync_unflushed;	/* bytes written by the target, bits
					 * set until it answers a FLUSH */
	uint64_t resync_flushes;	/* FLUSHes it answered, this resync */
	const char *resync_error;	/* why it stopped on an I/O error, or
					 * NULL (valid until the next poll) */
	bool detached;			/* local disk failed: peer only */
	bool verify_active;		/* online verify running (we drive) */
	bool verify_failed;		/* the last one stopped early */
	uint64_t verify_done, verify_total;	/* bytes */
	uint64_t verify_mismatches;	/* blocks that differ */
	uint64_t verify_first[8];	/* offsets of the first of them */
	uint64_t verify_ms;		/* duration of the current/last */
};
void server_get_stats(const struct server *srv, struct server_stats *ret);

#endif /* REPD_SERVER_H */
