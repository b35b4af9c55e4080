/*
 * io_uring event loop. One ring, one thread; callers queue SQEs through the
 * prep functions and everything is submitted in one io_uring_enter() per
 * loop iteration together with the wait for completions.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct engine {
	struct io_uring ring;
	unsigned inflight;		/* ops whose callback has not run */
};

/* Cancels carry no engine_op of their own when the caller passes NULL. */
static void ignore_result(struct engine_op *op, int res)
{
	(void)op;
	(void)res;
}

static struct engine_op cancel_sink = { .cb = ignore_result };

int engine_new(unsigned entries, struct engine **ret)
{
	struct io_uring_params p;
	struct engine *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	/*
	 * One thread submits and reaps (SINGLE_ISSUER), and completions are
	 * only needed when we ask for them (DEFER_TASKRUN): the kernel then
	 * runs task work in batches inside io_uring_enter() instead of
	 * interrupting us. A CQ four times the SQ absorbs bursts of socket
	 * and disk completions. Older kernels get the plain setup.
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = entries * 4;
	r = io_uring_queue_init_params(entries, &e->ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &e->ring, &p);
	}
	if (r < 0) {
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

struct engine *engine_free(struct engine *e)
{
	if (!e)
		return NULL;
	io_uring_queue_exit(&e->ring);
	free(e);
	return NULL;
}

unsigned engine_inflight(const struct engine *e)
{
	return e->inflight;
}

static struct io_uring_sqe *get_sqe(struct engine *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	while (!sqe) {
		/* SQ full: push the batch to the kernel and take a slot */
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
	}
	return sqe;
}

static void queue(struct engine *e, struct io_uring_sqe *sqe,
		  struct engine_op *op)
{
	io_uring_sqe_set_data(sqe, op);
	e->inflight++;
}

static void prep_rw(struct engine *e, struct engine_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (op->kind == ENGINE_OP_READ) {
		io_uring_prep_read(sqe, op->fd, op->buf + op->done,
				   op->len - op->done, op->off + op->done);
		if (op->offload)
			io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	} else {
		io_uring_prep_write(sqe, op->fd, op->buf + op->done,
				    op->len - op->done, op->off + op->done);
		sqe->rw_flags = op->rw_flags;
	}
	queue(e, sqe, op);
}

static void start_read(struct engine *e, struct engine_op *op, int fd,
		       void *buf, uint32_t len, uint64_t off, bool offload)
{
	op->kind = ENGINE_OP_READ;
	op->offload = offload;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->done = 0;
	op->off = off;
	prep_rw(e, op);
}

void engine_read(struct engine *e, struct engine_op *op, int fd, void *buf,
		 uint32_t len, uint64_t off)
{
	start_read(e, op, fd, buf, len, off, false);
}

void engine_read_offload(struct engine *e, struct engine_op *op, int fd,
			 void *buf, uint32_t len, uint64_t off)
{
	start_read(e, op, fd, buf, len, off, true);
}

void engine_write(struct engine *e, struct engine_op *op, int fd,
		  const void *buf, uint32_t len, uint64_t off, int rw_flags)
{
	op->kind = ENGINE_OP_WRITE;
	op->fd = fd;
	op->buf = (uint8_t *)buf;
	op->len = len;
	op->done = 0;
	op->off = off;
	op->rw_flags = rw_flags;
	prep_rw(e, op);
}

void engine_fsync(struct engine *e, struct engine_op *op, int fd,
		  bool datasync)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	queue(e, sqe, op);
}

void engine_fallocate(struct engine *e, struct engine_op *op, int fd,
		      int mode, uint64_t off, uint64_t len)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len);
	queue(e, sqe, op);
}

void engine_fadvise(struct engine *e, struct engine_op *op, int fd,
		    uint64_t off, uint32_t len, int advice)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fadvise(sqe, fd, off, len, advice);
	queue(e, sqe, op);
}

void engine_madvise(struct engine *e, struct engine_op *op, void *addr,
		    size_t len, int advice)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_madvise(sqe, addr, (off_t)len, advice);
	queue(e, sqe, op);
}

void engine_accept(struct engine *e, struct engine_op *op, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	queue(e, sqe, op);
}

void engine_connect(struct engine *e, struct engine_op *op, int fd,
		    const struct sockaddr *addr, socklen_t len)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_connect(sqe, fd, addr, len);
	queue(e, sqe, op);
}

void engine_recv(struct engine *e, struct engine_op *op, int fd, void *buf,
		 size_t len, int flags)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	queue(e, sqe, op);
}

void engine_sendmsg(struct engine *e, struct engine_op *op, int fd,
		    const struct msghdr *msg, int flags)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags);
	queue(e, sqe, op);
}

void engine_poll(struct engine *e, struct engine_op *op, int fd,
		 unsigned mask)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_poll_add(sqe, fd, mask);
	queue(e, sqe, op);
}

void engine_timeout(struct engine *e, struct engine_op *op,
		    struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	queue(e, sqe, op);
}

void engine_cancel(struct engine *e, struct engine_op *op,
		   struct engine_op *target)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (!op)
		op = &cancel_sink;
	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_cancel(sqe, target, 0);
	queue(e, sqe, op);
}

/* Complete or resubmit one CQE's operation. */
static void dispatch(struct engine *e, struct engine_op *op, int res)
{
	e->inflight--;
	if (op->kind != ENGINE_OP_OTHER) {
		if (res == -EAGAIN || res == -EINTR) {
			prep_rw(e, op);
			return;
		}
		if (res > 0 && op->done + (uint32_t)res < op->len) {
			/* short read/write: continue where it stopped */
			op->done += (uint32_t)res;
			prep_rw(e, op);
			return;
		}
		if (res == 0 && op->len > 0)
			res = -EIO;	/* EOF inside the device */
		else if (res >= 0)
			res = (int)op->len;
	}
	op->cb(op, res);
}

int engine_run_once(struct engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int r;

	r = io_uring_submit_and_wait(&e->ring, 1);
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return r;
	/*
	 * Callbacks may queue new SQEs but never reap CQEs, so walking the CQ
	 * and advancing it once for the whole batch is safe.
	 */
	io_uring_for_each_cqe(&e->ring, head, cqe) {
		struct engine_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		dispatch(e, op, cqe->res);
	}
	io_uring_cq_advance(&e->ring, seen);
	return 0;
}
