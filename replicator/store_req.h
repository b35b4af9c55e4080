/*
 * One modifying operation on the local store, run on the event loop:
 * WRITE (FUA as RWF_DSYNC), TRIM (punch hole; a store that cannot is fine,
 * TRIM is a hint) and WRITE_ZEROES (fallocate, or zero bytes written when
 * the store cannot; FAST_ZERO then fails at once with -ENOTSUP), with an
 * fdatasync after TRIM/WRITE_ZEROES when FUA is asked: one of its own, or
 * a share of the caller's group commit (fsync_batch.h). Shared by the NBD
 * server (primary) and the replication link (secondary), as is
 * store_read(), every data-path read of the local store.
 */
#ifndef REPD_STORE_REQ_H
#define REPD_STORE_REQ_H

#include <stdint.h>

#include "engine.h"
#include "fsync_batch.h"
#include "store.h"

enum store_req_type {
	STORE_REQ_WRITE,
	STORE_REQ_TRIM,
	STORE_REQ_ZEROES,
};

#define STORE_REQ_FUA		(1u << 0)
#define STORE_REQ_NO_HOLE	(1u << 1)	/* ZEROES: keep allocated */
#define STORE_REQ_FAST_ZERO	(1u << 2)	/* ZEROES: fail if slow */

enum store_req_stage {
	STORE_REQ_MAIN,			/* the write or fallocate */
	STORE_REQ_ZERO_WRITE,		/* zeroes by writing zero bytes */
	STORE_REQ_FUA_SYNC,		/* fdatasync for FUA */
};

struct store_req {
	struct engine_op op;		/* private */
	struct engine *eng;		/* borrowed */
	struct store *st;		/* borrowed */
	const uint8_t *zeroes;		/* STORE_ZERO_CHUNK zero bytes */
	struct fsync_batch *fsync;	/* borrowed; NULL: FUA syncs alone */
	enum store_req_type type;
	unsigned flags;			/* STORE_REQ_* */
	uint64_t off, len;
	const uint8_t *buf;		/* WRITE data, borrowed until done */
	void (*done)(struct store_req *r, int res); /* 0 or -errno */
	enum store_req_stage stage;	/* private */
	uint64_t zero_pos;		/* private */
	struct fsync_waiter fw;		/* private: in r->fsync */
};

#define STORE_ZERO_CHUNK (1u << 20)

/* A node's group commit over its store: the fsync_batch whose
 * fdatasyncs run through the loop. Join s->batch. */
struct store_sync {
	struct fsync_batch batch;
	struct engine_op op;		/* private */
	struct engine *eng;		/* borrowed */
	const struct store *st;		/* borrowed */
};

void store_sync_init(struct store_sync *s, struct engine *eng,
		     const struct store *st);

/* Start r (all public fields set). r->done runs once, from the loop. */
void store_req_submit(struct store_req *r);

/* Read len bytes at off into buf (aligned for O_DIRECT when the range
 * is), op->cb set by the caller: the one way the data path reads the
 * local store. Buffered reads of STORE_OFFLOAD_READ_MIN or more run in
 * io_uring's worker threads: a cold one would otherwise be retried in
 * the event loop page by page as readahead completes, and every copy out
 * of the page cache would use the loop's one CPU. */
#define STORE_OFFLOAD_READ_MIN	(256u << 10)
void store_read(struct engine *e, const struct store *st,
		struct engine_op *op, void *buf, uint32_t len, uint64_t off);

#endif /* REPD_STORE_REQ_H */
