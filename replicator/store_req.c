/* Modifying store operations as a small state machine on the loop. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "store_req.h"

static void on_step(struct engine_op *op, int res);

static void on_fua_synced(struct fsync_waiter *w, int res)
{
	struct store_req *r = container_of(w, struct store_req, fw);

	on_step(&r->op, res);
}

/* The TRIM or fallocate is done: an fdatasync that starts from here on
 * makes it durable, the group's next one as well as one of its own. */
static void fua_sync(struct store_req *r)
{
	r->stage = STORE_REQ_FUA_SYNC;
	if (r->fsync) {
		r->fw.done = on_fua_synced;
		fsync_batch_join(r->fsync, &r->fw);
	} else {
		engine_fsync(r->eng, &r->op, r->st->fd, true);
	}
}

static void zero_write_next(struct store_req *r)
{
	uint64_t end = r->off + r->len;
	uint32_t n = end - r->zero_pos < STORE_ZERO_CHUNK ?
		     (uint32_t)(end - r->zero_pos) : STORE_ZERO_CHUNK;

	r->stage = STORE_REQ_ZERO_WRITE;
	engine_write(r->eng, &r->op, store_fd_for(r->st, r->zero_pos, n),
		     r->zeroes, n, r->zero_pos,
		     (r->flags & STORE_REQ_FUA) ? RWF_DSYNC : 0);
	r->zero_pos += n;
}

static bool fallocate_unsupported(int res)
{
	return res == -EOPNOTSUPP || res == -ENOTSUP || res == -EINVAL ||
	       res == -ENODEV;
}

static void on_step(struct engine_op *op, int res)
{
	struct store_req *r = container_of(op, struct store_req, op);
	bool fua = r->flags & STORE_REQ_FUA;

	switch (r->stage) {
	case STORE_REQ_MAIN:
		if (r->type == STORE_REQ_TRIM && fallocate_unsupported(res))
			res = 0;	/* TRIM is advisory */
		if (r->type == STORE_REQ_ZEROES &&
		    fallocate_unsupported(res)) {
			if (r->flags & STORE_REQ_FAST_ZERO) {
				r->done(r, -ENOTSUP);
				return;
			}
			r->zero_pos = r->off;
			zero_write_next(r);
			return;
		}
		/* WRITE carries FUA as RWF_DSYNC; the others need a sync */
		if (res >= 0 && fua && r->type != STORE_REQ_WRITE) {
			fua_sync(r);
			return;
		}
		break;
	case STORE_REQ_ZERO_WRITE:
		if (res >= 0 && r->zero_pos < r->off + r->len) {
			zero_write_next(r);
			return;
		}
		break;
	case STORE_REQ_FUA_SYNC:
		break;
	}
	r->done(r, res < 0 ? res : 0);
}

void store_req_submit(struct store_req *r)
{
	int mode;

	r->stage = STORE_REQ_MAIN;
	r->op.cb = on_step;
	switch (r->type) {
	case STORE_REQ_WRITE:
		engine_write(r->eng, &r->op, store_fd_for(r->st, r->off,
			     r->len), r->buf, (uint32_t)r->len, r->off,
			     (r->flags & STORE_REQ_FUA) ? RWF_DSYNC : 0);
		return;
	case STORE_REQ_TRIM:
		engine_fallocate(r->eng, &r->op, r->st->fd,
				 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 r->off, r->len);
		return;
	case STORE_REQ_ZEROES:
		/* a punched hole reads back as zeroes; NO_HOLE keeps the
		 * space allocated */
		mode = (r->flags & STORE_REQ_NO_HOLE) ? FALLOC_FL_ZERO_RANGE :
							 FALLOC_FL_PUNCH_HOLE;
		engine_fallocate(r->eng, &r->op, r->st->fd,
				 mode | FALLOC_FL_KEEP_SIZE, r->off, r->len);
		return;
	}
	abort();
}

static void on_store_synced(struct engine_op *op, int res)
{
	fsync_batch_done(&container_of(op, struct store_sync, op)->batch, res);
}

static void start_store_sync(struct fsync_batch *b)
{
	struct store_sync *s = container_of(b, struct store_sync, batch);

	s->op.cb = on_store_synced;
	engine_fsync(s->eng, &s->op, s->st->fd, true);
}

void store_sync_init(struct store_sync *s, struct engine *eng,
		     const struct store *st)
{
	fsync_batch_init(&s->batch, start_store_sync);
	s->eng = eng;
	s->st = st;
}

void store_read(struct engine *e, const struct store *st,
		struct engine_op *op, void *buf, uint32_t len, uint64_t off)
{
	int fd = store_fd_for(st, off, len);

	if (fd == st->fd && len >= STORE_OFFLOAD_READ_MIN)
		engine_read_offload(e, op, fd, buf, len, off);
	else
		engine_read(e, op, fd, buf, len, off);
}
