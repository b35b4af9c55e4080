/*
 * The io_uring event loop. The only module that includes liburing.h.
 *
 * Every operation is described by a caller-owned struct engine_op (embed it
 * in the context it belongs to; container_of() gets back to it). The op's
 * callback runs once, from engine_run_once(), with the result: bytes moved
 * or a negative errno. Short disk reads/writes and -EAGAIN are resubmitted
 * here, so callers of engine_read()/engine_write() only ever see the full
 * length or an error. Socket ops report what the kernel did (a stream may
 * move fewer bytes; the caller owns that framing).
 *
 * Prep functions queue an SQE and cannot fail: when the submission queue
 * is full they submit what is queued first. SQEs are submitted in one batch
 * per loop iteration.
 */
#ifndef REPD_ENGINE_H
#define REPD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/time_types.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct engine;
struct engine_op;

typedef void engine_cb_fn(struct engine_op *op, int res);

enum engine_kind {
	ENGINE_OP_OTHER,		/* result passed through as is */
	ENGINE_OP_READ,			/* full-length disk read */
	ENGINE_OP_WRITE,		/* full-length disk write */
};

/* What an operation's completion waits for, to decide whether to spin. */
enum engine_wait {
	ENGINE_WAIT_NONE,		/* sockets, timers: another process */
	ENGINE_WAIT_WORKER,		/* page-cache I/O: an io_uring worker */
	ENGINE_WAIT_DEVICE,		/* O_DIRECT I/O, flushes: the disk */
};

/*
 * Run the loop, and io_uring's workers for it, on one CPU only. A
 * page-cache write goes to a worker thread and back; on one CPU each hand-
 * over is a local switch instead of waking another CPU, which on a virtual
 * machine costs tens of microseconds. Busy polling then never spins while
 * a worker is busy, as the worker needs this CPU. Workers that already
 * exist are moved too. 0 or -errno (-EINVAL: no such CPU, one we may not
 * use, or a kernel before 6.3 whose workers refuse to move); on an error
 * nothing has moved.
 */
int engine_pin_cpu(struct engine *e, unsigned cpu);

/* Undo engine_pin_cpu(): the loop and its workers get back the CPUs the
 * loop had when it was created. 0 (also when not pinned) or -errno. */
int engine_unpin_cpu(struct engine *e);

/* The CPU engine_pin_cpu() put the loop on, or -1 when not pinned. */
int engine_pinned_cpu(const struct engine *e);

/* At most this many descriptors can be named by engine_add_device_fd(). */
#define ENGINE_DEVICE_FDS	4

struct engine_op {
	engine_cb_fn *cb;		/* called once with the result */
	/* private to the engine: state for resubmitting short disk I/O */
	enum engine_kind kind;
	int fd;
	int rw_flags;			/* RWF_* for writes */
	bool offload;			/* IOSQE_ASYNC: run in a worker */
	uint8_t wait;			/* enum engine_wait */
	uint8_t *buf;
	uint32_t len;			/* total bytes */
	uint32_t done;			/* bytes moved so far */
	uint64_t off;
	struct engine_op *next;		/* done inline, callback pending */
};

/* Create the loop with room for `entries` SQEs. 0 or -errno. Allocates. */
int engine_new(unsigned entries, struct engine **ret);
/* Destroy the loop (NULL is fine); returns NULL. */
struct engine *engine_free(struct engine *e);

/*
 * Spin for up to usec before each sleep in the kernel while waits are
 * likely short (see engine.c); 0, the default, always sleeps.
 */
void engine_set_busy_poll(struct engine *e, uint32_t usec);

/* What the busy polling did: spins that found a completion, spins that
 * timed out, waits slept through without a spin after misses. */
struct engine_spin_stats {
	uint64_t hits, misses, skipped;
};
struct engine_spin_stats engine_spin_stats(const struct engine *e);

/*
 * Page-cache writes the loop makes itself (see engine.c): writes of whole
 * pages, at most max_len bytes, without RWF_DSYNC, on descriptors not
 * named by engine_add_device_fd(). One that takes longer than stall_ns
 * (it blocked: dirty-page throttling, a read of metadata; or its copy was
 * slow) sends the next ones to io_uring's workers for a while, unless it
 * was preempted and never slept (a worker would not run sooner).
 * max_len 0: every write goes through io_uring. The defaults are
 * ENGINE_INLINE_WRITE_MAX and ENGINE_INLINE_STALL_NS.
 */
#define ENGINE_INLINE_WRITE_MAX	(64u << 10)
#define ENGINE_INLINE_STALL_NS	250000u
void engine_set_inline_writes(struct engine *e, uint32_t max_len,
			      uint64_t stall_ns);

/*
 * The same for larger writes, up to max_len bytes: the loop makes them
 * after the turn's submit, and one that takes longer than stall_ns plus
 * ns_per_kib per KiB sends the next large ones to the workers for a
 * while (small ones keep their own lane). max_len at or below the small
 * limit: none. Defaults: ENGINE_INLINE_LARGE_WRITE_MAX,
 * ENGINE_INLINE_STALL_NS and ENGINE_INLINE_LARGE_NS_PER_KIB (1 GB/s).
 */
#define ENGINE_INLINE_LARGE_WRITE_MAX	(1u << 20)
#define ENGINE_INLINE_LARGE_NS_PER_KIB	1000u
void engine_set_inline_large_writes(struct engine *e, uint32_t max_len,
				    uint64_t stall_ns, uint64_t ns_per_kib);

/* Writes made inline, of those the large ones, the ones that stalled
 * (each pauses its lane: 100 ms, doubled while they keep stalling, up to
 * 3.2 s), and the ones as slow that were preempted (no pause). */
struct engine_inline_stats {
	uint64_t writes, large_writes, stalls, preempted;
};
struct engine_inline_stats engine_inline_stats(const struct engine *e);

/*
 * How the loop counts its thread's context switches, to know a blocked
 * write from a preempted one: voluntary (it slept in the kernel) and
 * involuntary (it was preempted), -1 when it cannot tell.
 * getrusage(RUSAGE_THREAD) unless a test replaces it.
 */
struct engine_switches {
	long slept, preempted;
};
void engine_set_switch_counter(struct engine *e,
			       struct engine_switches (*count)(void));

/*
 * Reads and writes on fd wait for the device (it is O_DIRECT): no spinning
 * while one is in flight. 0 or -ENOSPC past ENGINE_DEVICE_FDS.
 */
int engine_add_device_fd(struct engine *e, int fd);

/*
 * Work to run once, after the callbacks of the current completion batch
 * and before the next submission: a socket's sends, gathered from many
 * completions into one sendmsg. Caller-owned, like engine_op.
 */
struct engine_task;
typedef void engine_task_fn(struct engine_task *t);
struct engine_task {
	engine_task_fn *fn;
	struct engine_task *next;	/* private to the engine */
	bool queued;			/* read-only: waiting to run */
};

/* Queue t (a no-op if it is queued already). */
void engine_defer(struct engine *e, struct engine_task *t);

/*
 * Queue t to run only when the loop is about to sleep in the kernel: no
 * completion is ready and busy polling (if any) found none. Work that
 * may wait for more to come (replies held for a shared sendmsg) but must
 * not wait for nothing. A no-op if t is queued (either way) already.
 */
void engine_defer_idle(struct engine *e, struct engine_task *t);

/* Run the deferred tasks (those they queue too), submit what is queued,
 * wait for at least one completion (or a signal), run the callbacks of
 * every completion available. 0 or -errno. */
int engine_run_once(struct engine *e);

/* Operations in flight (queued or submitted, callback not yet run). */
unsigned engine_inflight(const struct engine *e);

/* Disk I/O; buf is borrowed until the callback. */
void engine_read(struct engine *e, struct engine_op *op, int fd, void *buf,
		 uint32_t len, uint64_t off);
/* engine_read, but executed in an io_uring worker thread from the start
 * (IOSQE_ASYNC): for large buffered reads, which otherwise wait for the
 * page cache in the loop's own thread, retried page by page. Not when
 * the loop has one CPU (engine_pin_cpu, a one-CPU mask): the workers
 * would only queue there behind the loop, a plain engine_read. */
void engine_read_offload(struct engine *e, struct engine_op *op, int fd,
			 void *buf, uint32_t len, uint64_t off);
void engine_write(struct engine *e, struct engine_op *op, int fd,
		  const void *buf, uint32_t len, uint64_t off, int rw_flags);
/* Move up to len bytes of the file fd_in at off_in into the pipe fd_out,
 * without a copy: the pipe takes references to the page-cache pages.
 * io_uring runs it in a worker, so a page not cached yet is waited for
 * there, not in the loop. The result is what splice(2) returned: it may
 * be short, and the caller continues; -EAGAIN if the pipe has no room. */
void engine_splice_to_pipe(struct engine *e, struct engine_op *op,
			   int fd_in, uint64_t off_in, int fd_out,
			   uint32_t len);
/* CPUs the loop and its workers may run on (1 when pinned to one). */
unsigned engine_cpus(const struct engine *e);
void engine_fsync(struct engine *e, struct engine_op *op, int fd,
		  bool datasync);
void engine_fallocate(struct engine *e, struct engine_op *op, int fd,
		      int mode, uint64_t off, uint64_t len);
void engine_fadvise(struct engine *e, struct engine_op *op, int fd,
		    uint64_t off, uint32_t len, int advice);
void engine_madvise(struct engine *e, struct engine_op *op, void *addr,
		    size_t len, int advice);

/* Sockets; buffers and msg are borrowed until the callback. */
void engine_accept(struct engine *e, struct engine_op *op, int fd);
/* addr is borrowed until the callback. */
void engine_connect(struct engine *e, struct engine_op *op, int fd,
		    const struct sockaddr *addr, socklen_t len);
void engine_recv(struct engine *e, struct engine_op *op, int fd, void *buf,
		 size_t len, int flags);
void engine_sendmsg(struct engine *e, struct engine_op *op, int fd,
		    const struct msghdr *msg, int flags);
void engine_poll(struct engine *e, struct engine_op *op, int fd,
		 unsigned mask);

/* A timer: res is -ETIME when it expires, -ECANCELED if cancelled. The
 * timespec is borrowed until the callback. */
void engine_timeout(struct engine *e, struct engine_op *op,
		    struct __kernel_timespec *ts);

/* Ask the kernel to cancel `target` (its callback still runs, usually with
 * -ECANCELED). `op` gets the cancel's own result; it may be NULL. */
void engine_cancel(struct engine *e, struct engine_op *op,
		   struct engine_op *target);

#endif /* REPD_ENGINE_H */
