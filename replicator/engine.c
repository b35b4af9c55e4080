/*
 * io_uring event loop. One ring, one thread; callers queue SQEs through the
 * prep functions and everything is submitted in one io_uring_enter() per
 * loop iteration together with the wait for completions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

/* One size class of inline writes; each backs off on its own. */
struct inline_lane {
	uint32_t max_len;		/* 0: none in this lane */
	uint64_t stall_ns;		/* longer: the write blocked, plus */
	uint64_t stall_ns_per_kib;	/* this much per KiB written */
	uint64_t resume_ns;		/* none before this (a pause) */
	uint64_t pause_ns;		/* the next pause's length */
};

struct engine {
	struct io_uring ring;
	unsigned inflight;		/* ops whose callback has not run */
	unsigned device_inflight;	/* of those, waiting for the device */
	unsigned worker_inflight;	/* of those, run by io_uring workers */
	int device_fd[ENGINE_DEVICE_FDS]; /* O_DIRECT descriptors */
	unsigned n_device_fd;
	uint64_t busy_poll_ns;		/* 0: always sleep in the kernel */
	unsigned n_cpus;		/* CPUs this thread may run on */
	cpu_set_t home;			/* its CPUs before any pinning */
	bool pinned;			/* by engine_pin_cpu(), */
	unsigned pin_cpu;		/* to this CPU */
	unsigned spin_skip;		/* waits to sleep through unspun */
	unsigned spin_backoff;		/* spin_skip after the next miss */
	struct engine_spin_stats spin;
	struct engine_task *tasks;	/* deferred, in order */
	struct engine_task **tasks_tail;
	struct engine_task *idle_tasks;	/* for when the loop would sleep */
	struct inline_lane small, large;
	uint64_t page_size;
	struct engine_op *deferred;	/* large writes for after the submit */
	struct engine_op **deferred_tail;
	struct engine_op *inline_done;	/* written inline, in order */
	struct engine_op **inline_tail;
	struct engine_inline_stats inl;
	struct engine_switches (*count_switches)(void);
	struct engine_switches switches; /* counted before the last write */
	bool switches_stale;		/* the loop may have slept since */
};

#define SPIN_BACKOFF_MAX	64u
#define INLINE_PAUSE_NS		(100ull * 1000000u)
#define INLINE_PAUSE_MAX_NS	(3200ull * 1000000u)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's context switches so far, -1 each if unknown. */
static struct engine_switches thread_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return (struct engine_switches){ -1, -1 };
	return (struct engine_switches){ .slept = ru.ru_nvcsw,
					 .preempted = ru.ru_nivcsw };
}

/* Cancels carry no engine_op of their own when the caller passes NULL. */
static void ignore_result(struct engine_op *op, int res)
{
	(void)op;
	(void)res;
}

static struct engine_op cancel_sink = { .cb = ignore_result };

/* The CPUs we may run on (under taskset or a cpuset, fewer than online),
 * remembered in home for engine_unpin_cpu(). */
static long allowed_cpus(cpu_set_t *home)
{
	if (sched_getaffinity(0, sizeof(*home), home) == 0)
		return CPU_COUNT(home);
	CPU_ZERO(home);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

int engine_new(unsigned entries, struct engine **ret)
{
	struct io_uring_params p;
	struct engine *e;
	long n_cpus;
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
		  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
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
	e->tasks_tail = &e->tasks;
	e->inline_tail = &e->inline_done;
	e->deferred_tail = &e->deferred;
	e->small = (struct inline_lane){ .max_len = ENGINE_INLINE_WRITE_MAX,
		.stall_ns = ENGINE_INLINE_STALL_NS,
		.pause_ns = INLINE_PAUSE_NS };
	e->large = (struct inline_lane){
		.max_len = ENGINE_INLINE_LARGE_WRITE_MAX,
		.stall_ns = ENGINE_INLINE_STALL_NS,
		.stall_ns_per_kib = ENGINE_INLINE_LARGE_NS_PER_KIB,
		.pause_ns = INLINE_PAUSE_NS };
	e->count_switches = thread_switches;
	e->switches_stale = true;
	e->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	if (e->page_size == 0 || e->page_size > (1u << 20))
		e->page_size = 4096;
	n_cpus = allowed_cpus(&e->home);
	e->n_cpus = n_cpus > 1 ? (unsigned)n_cpus : 1;
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

void engine_set_busy_poll(struct engine *e, uint32_t usec)
{
	e->busy_poll_ns = (uint64_t)usec * 1000u;
	e->spin_skip = e->spin_backoff = 0;
}

struct engine_spin_stats engine_spin_stats(const struct engine *e)
{
	return e->spin;
}

/*
 * Move io_uring's existing workers of this process to set. Registering a
 * worker affinity only reaches workers created afterwards (the kernel
 * copies the mask at creation), so a loop that pins and unpins itself
 * while serving moves the live ones by hand. Workers are the threads
 * named iou-wrk-*; one that exits meanwhile is skipped. 0 or -errno.
 */
static int move_workers(const cpu_set_t *set)
{
	struct dirent *d;
	char path[64], comm[32];
	DIR *dir;
	int r = 0;

	dir = opendir("/proc/self/task");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		FILE *f;
		pid_t tid;
		bool worker;

		tid = (pid_t)atoi(d->d_name);
		if (tid <= 0)
			continue;	/* "." and ".." */
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm",
			 (int)tid);
		f = fopen(path, "re");
		if (!f)
			continue;	/* gone */
		worker = fgets(comm, sizeof(comm), f) &&
			 strncmp(comm, "iou-wrk-", 8) == 0;
		fclose(f);
		if (worker && sched_setaffinity(tid, sizeof(*set), set) < 0 &&
		    errno != ESRCH && r == 0)
			r = -errno;
	}
	closedir(dir);
	return r;
}

int engine_pin_cpu(struct engine *e, unsigned cpu)
{
	cpu_set_t set, before;
	int r;

	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	if (sched_getaffinity(0, sizeof(before), &before) < 0)
		return -errno;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	/* the workers follow: page-cache writes then hand over to a thread
	 * on this CPU, with no wake-up of another (maybe idle) CPU */
	r = io_uring_register_iowq_aff(&e->ring, sizeof(set), &set);
	if (r == 0) {
		r = move_workers(&set);
		if (r < 0) {
			/* the workers go back as they were, as far as can be */
			if (io_uring_unregister_iowq_aff(&e->ring) == 0)
				(void)move_workers(&before);
		}
	}
	if (r < 0) {
		/* all or nothing: the caller's affinity as it was */
		if (sched_setaffinity(0, sizeof(before), &before) < 0)
			return -errno;
		return r;
	}
	e->n_cpus = 1;
	e->pinned = true;
	e->pin_cpu = cpu;
	return 0;
}

int engine_unpin_cpu(struct engine *e)
{
	int r;

	if (!e->pinned)
		return 0;
	if (CPU_COUNT(&e->home) == 0)
		return -ENOSYS;	/* never knew them (see allowed_cpus) */
	if (sched_setaffinity(0, sizeof(e->home), &e->home) < 0)
		return -errno;
	e->n_cpus = (unsigned)CPU_COUNT(&e->home);
	e->pinned = false;
	/* new workers may start anywhere, the live ones are moved; if that
	 * fails they stay on the one CPU: slower, not wrong */
	r = io_uring_unregister_iowq_aff(&e->ring);
	if (r == 0)
		r = move_workers(&e->home);
	return r;
}

int engine_pinned_cpu(const struct engine *e)
{
	return e->pinned ? (int)e->pin_cpu : -1;
}

int engine_add_device_fd(struct engine *e, int fd)
{
	if (e->n_device_fd == ENGINE_DEVICE_FDS)
		return -ENOSPC;
	e->device_fd[e->n_device_fd++] = fd;
	return 0;
}

static bool is_device_fd(const struct engine *e, int fd)
{
	unsigned i;

	for (i = 0; i < e->n_device_fd; i++)
		if (e->device_fd[i] == fd)
			return true;
	return false;
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

/* wait: what the op's completion waits for (see spin_for_events) */
static void queue(struct engine *e, struct io_uring_sqe *sqe,
		  struct engine_op *op, enum engine_wait wait)
{
	io_uring_sqe_set_data(sqe, op);
	op->wait = wait;
	e->inflight++;
	if (wait == ENGINE_WAIT_DEVICE)
		e->device_inflight++;
	else if (wait == ENGINE_WAIT_WORKER)
		e->worker_inflight++;
}

static void prep_rw(struct engine *e, struct engine_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (op->kind == ENGINE_OP_READ) {
		io_uring_prep_read(sqe, op->fd, op->buf + op->done,
				   op->len - op->done, op->off + op->done);
		/* on one CPU (cpu = N) a worker only takes turns with the
		 * loop there: its copy gains nothing, and eight workers
		 * running cold 1 MiB reads starved the loop (223 MB/s
		 * against 595 unpinned) */
		if (op->offload && e->n_cpus > 1)
			io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	} else {
		io_uring_prep_write(sqe, op->fd, op->buf + op->done,
				    op->len - op->done, op->off + op->done);
		sqe->rw_flags = op->rw_flags;
	}
	/* page-cache I/O on a regular file: a worker or inline */
	queue(e, sqe, op, is_device_fd(e, op->fd) ? ENGINE_WAIT_DEVICE :
			  ENGINE_WAIT_WORKER);
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

void engine_splice_to_pipe(struct engine *e, struct engine_op *op,
			   int fd_in, uint64_t off_in, int fd_out,
			   uint32_t len)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	/* SPLICE_F_NONBLOCK: a pipe without room fails with -EAGAIN
	 * instead of holding the worker forever (the file side may still
	 * wait for the disk, which is what the worker is for) */
	io_uring_prep_splice(sqe, fd_in, (int64_t)off_in, fd_out, -1, len,
			     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	queue(e, sqe, op, ENGINE_WAIT_WORKER);
}

unsigned engine_cpus(const struct engine *e)
{
	return e->n_cpus;
}

void engine_set_inline_writes(struct engine *e, uint32_t max_len,
			      uint64_t stall_ns)
{
	e->small.max_len = max_len;
	e->small.stall_ns = stall_ns;
}

void engine_set_inline_large_writes(struct engine *e, uint32_t max_len,
				    uint64_t stall_ns, uint64_t ns_per_kib)
{
	e->large.max_len = max_len;
	e->large.stall_ns = stall_ns;
	e->large.stall_ns_per_kib = ns_per_kib;
}

void engine_set_switch_counter(struct engine *e,
			       struct engine_switches (*count)(void))
{
	e->count_switches = count;
	e->switches_stale = true;
}

struct engine_inline_stats engine_inline_stats(const struct engine *e)
{
	return e->inl;
}

/*
 * io_uring runs a page-cache write inline only where the filesystem can
 * promise not to block (recent XFS, btrfs, block devices); on ext4 every
 * one goes to a worker thread and its result comes back to the loop: two
 * hand-overs between threads, each a wake-up of another CPU. So the loop
 * writes such pages itself (pwrite), the one syscall it makes outside
 * io_uring; the callback still runs from engine_run_once(), after the
 * completion batch, like any other.
 *
 * Only whole pages (a partial one may have to be read first) and no
 * RWF_DSYNC (it waits for the disk). Two lanes by size:
 * - small (up to small.max_len): written at once, a copy of a few
 *   microseconds;
 * - large (up to large.max_len): written after the turn's submit
 *   (engine_run_once), so that replies and the peer's copy already queued
 *   go out first. A worker would gain a second CPU for the copy, but ext4
 *   serializes buffered writes to one file (io_uring hashes them onto one
 *   worker), and the hand-overs cost more than the copy: 1 MiB writes at
 *   QD8 went about 25% faster made by the loop (docs/design.md).
 * A write can still block, on dirty-page throttling above all; one that
 * took longer than its lane's limit (stall_ns, plus stall_ns_per_kib per
 * KiB) pauses that lane, so that the loop keeps serving while workers
 * wait instead. A failed or short write is left to io_uring, which
 * retries it and reports the error.
 */
static struct inline_lane *lane_of(struct engine *e,
				   const struct engine_op *op)
{
	if (op->len == 0 || op->rw_flags ||
	    ((op->off | op->len) & (e->page_size - 1)) ||
	    is_device_fd(e, op->fd))
		return NULL;
	if (op->len <= e->small.max_len)
		return &e->small;
	if (op->len <= e->large.max_len)
		return &e->large;
	return NULL;
}

/* Append op to the list whose tail is *tail; it counts as in flight
 * until taken off (run_deferred, finish_inline). */
static void hold(struct engine *e, struct engine_op ***tail,
		 struct engine_op *op)
{
	op->next = NULL;
	**tail = op;
	*tail = &op->next;
	e->inflight++;
}

/*
 * A write slower than its lane's limit either
 * - slept in the kernel (dirty-page throttling, a lock, a read of
 *   metadata), or ran the whole time (a copy into cold pages): a stall,
 *   which an io_uring worker can wait through or work through on another
 *   CPU while the loop serves; or
 * - was preempted and never slept: its thread lost the CPU (to the
 *   client, another process), and a worker would get one no sooner while
 *   adding a thread to compete for it. On a 2-CPU VM shared with fio,
 *   most slow 4 KiB writes at QD32 were of this kind.
 * The thread's counts of voluntary and involuntary context switches tell
 * them apart, counted from before the first write after the loop's last
 * wait, or from the last slow write (so a preemption earlier in the same
 * turn passes for the write's own: rare, and it only spares a pause).
 * Counts the loop cannot read mean a stall (the cautious answer). True
 * for a stall.
 */
static bool write_stalled(struct engine *e)
{
	struct engine_switches before = e->switches, now;

	now = e->count_switches();
	e->switches = now;
	if (before.slept < 0 || before.preempted < 0 || now.slept < 0 ||
	    now.preempted < 0 || now.slept != before.slept)
		return true;
	return now.preempted == before.preempted;
}

/* Make op's write now if its lane is not paused; true when it is done
 * (its callback queued for finish_inline). */
static bool write_inline(struct engine *e, struct inline_lane *lane,
			 struct engine_op *op)
{
	uint64_t start, took;
	ssize_t n;

	start = now_ns();
	if (start < lane->resume_ns)
		return false;
	if (e->switches_stale) {
		/* the loop's own waits sleep: start counting after them */
		e->switches = e->count_switches();
		e->switches_stale = false;
	}
	n = pwrite(op->fd, op->buf, op->len, (off_t)op->off);
	took = now_ns() - start;
	if (took <= lane->stall_ns + lane->stall_ns_per_kib * (op->len >> 10)) {
		lane->pause_ns = INLINE_PAUSE_NS;
	} else if (!write_stalled(e)) {
		e->inl.preempted++;
	} else {
		e->inl.stalls++;
		lane->resume_ns = start + took + lane->pause_ns;
		lane->pause_ns *= 2;
		if (lane->pause_ns > INLINE_PAUSE_MAX_NS)
			lane->pause_ns = INLINE_PAUSE_MAX_NS;
	}
	if (n <= 0)
		return false;
	e->inl.writes++;
	if (lane == &e->large)
		e->inl.large_writes++;
	if ((size_t)n < op->len) {
		op->done = (uint32_t)n;
		return false;
	}
	hold(e, &e->inline_tail, op);
	return true;
}

void engine_write(struct engine *e, struct engine_op *op, int fd,
		  const void *buf, uint32_t len, uint64_t off, int rw_flags)
{
	struct inline_lane *lane;

	op->kind = ENGINE_OP_WRITE;
	op->fd = fd;
	op->buf = (uint8_t *)buf;
	op->len = len;
	op->done = 0;
	op->off = off;
	op->rw_flags = rw_flags;
	lane = lane_of(e, op);
	if (lane == &e->large) {	/* run_deferred: inline or io_uring */
		hold(e, &e->deferred_tail, op);
		return;
	}
	if (!lane || !write_inline(e, lane, op))
		prep_rw(e, op);
}

/* The large writes deferred this turn: made now, or left to io_uring. */
static void run_deferred(struct engine *e)
{
	struct engine_op *op = e->deferred;

	e->deferred = NULL;
	e->deferred_tail = &e->deferred;
	while (op) {
		struct engine_op *next = op->next;

		e->inflight--;
		if (!write_inline(e, &e->large, op))
			prep_rw(e, op);
		op = next;
	}
}

/* The callbacks of the writes made inline so far; those they make wait
 * for the next turn. */
static void finish_inline(struct engine *e)
{
	struct engine_op *op = e->inline_done;

	e->inline_done = NULL;
	e->inline_tail = &e->inline_done;
	while (op) {
		struct engine_op *next = op->next;

		e->inflight--;
		op->cb(op, (int)op->len);
		op = next;
	}
}

void engine_fsync(struct engine *e, struct engine_op *op, int fd,
		  bool datasync)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	queue(e, sqe, op, ENGINE_WAIT_DEVICE);
}

void engine_fallocate(struct engine *e, struct engine_op *op, int fd,
		      int mode, uint64_t off, uint64_t len)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len);
	queue(e, sqe, op, ENGINE_WAIT_DEVICE);
}

void engine_fadvise(struct engine *e, struct engine_op *op, int fd,
		    uint64_t off, uint32_t len, int advice)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_fadvise(sqe, fd, off, len, advice);
	queue(e, sqe, op, ENGINE_WAIT_WORKER);
}

void engine_madvise(struct engine *e, struct engine_op *op, void *addr,
		    size_t len, int advice)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_madvise(sqe, addr, (off_t)len, advice);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_accept(struct engine *e, struct engine_op *op, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_connect(struct engine *e, struct engine_op *op, int fd,
		    const struct sockaddr *addr, socklen_t len)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_connect(sqe, fd, addr, len);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_recv(struct engine *e, struct engine_op *op, int fd, void *buf,
		 size_t len, int flags)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_sendmsg(struct engine *e, struct engine_op *op, int fd,
		    const struct msghdr *msg, int flags)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_poll(struct engine *e, struct engine_op *op, int fd,
		 unsigned mask)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_poll_add(sqe, fd, mask);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_timeout(struct engine *e, struct engine_op *op,
		    struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

void engine_cancel(struct engine *e, struct engine_op *op,
		   struct engine_op *target)
{
	struct io_uring_sqe *sqe = get_sqe(e);

	if (!op)
		op = &cancel_sink;
	op->kind = ENGINE_OP_OTHER;
	io_uring_prep_cancel(sqe, target, 0);
	queue(e, sqe, op, ENGINE_WAIT_NONE);
}

/* Complete or resubmit one CQE's operation. */
static void dispatch(struct engine *e, struct engine_op *op, int res)
{
	e->inflight--;
	if (op->wait == ENGINE_WAIT_DEVICE)
		e->device_inflight--;
	else if (op->wait == ENGINE_WAIT_WORKER)
		e->worker_inflight--;
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

/* Tell the CPU we are spinning (it eases off the sibling thread). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Before sleeping in the kernel, watch the rings for up to busy_poll_ns.
 * Where waking an idle CPU is dear (a VM's halted vCPU costs tens of
 * microseconds, more than serving a 4 KiB request), a loop that is still
 * running when the client's next request, the peer's ack or an io_uring
 * worker's result lands takes it at once. Worth it only when the wait is
 * likely short:
 * - nothing waits for the device (O_DIRECT I/O, flushes take far longer
 *   than any sensible spin);
 * - fewer page-cache operations are running in io_uring workers than
 *   there are CPUs, so spinning does not take a CPU a worker needs;
 * - recent spins paid off: each miss doubles the number of waits slept
 *   through before the next try (up to SPIN_BACKOFF_MAX), a hit resets.
 * True if a completion is ready.
 */
static bool spin_for_events(struct engine *e)
{
	uint64_t end;
	unsigned i = 0;

	if (!e->busy_poll_ns || e->device_inflight ||
	    e->worker_inflight >= e->n_cpus)
		return false;
	if (e->spin_skip) {
		e->spin_skip--;
		e->spin.skipped++;
		return false;
	}
	/* an error here is left to the sleeping path, which reports it */
	if (io_uring_submit(&e->ring) < 0)
		return false;
	end = now_ns() + e->busy_poll_ns;
	while (!io_uring_cq_ready(&e->ring)) {
		/* DEFER_TASKRUN: finished work waits for us in the kernel */
		if (IO_URING_READ_ONCE(*e->ring.sq.kflags) & IORING_SQ_TASKRUN) {
			if (io_uring_get_events(&e->ring) < 0)
				return false;
		} else {
			cpu_relax();
		}
		/* the clock every 32 turns: cheap, but not free */
		if (++i % 32 == 0 && now_ns() > end) {
			e->spin_backoff = e->spin_backoff ?
				e->spin_backoff * 2 : 1;
			if (e->spin_backoff > SPIN_BACKOFF_MAX)
				e->spin_backoff = SPIN_BACKOFF_MAX;
			e->spin_skip = e->spin_backoff;
			e->spin.misses++;
			return false;
		}
	}
	e->spin_backoff = 0;
	e->spin.hits++;
	return true;
}

void engine_defer(struct engine *e, struct engine_task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = NULL;
	*e->tasks_tail = t;
	e->tasks_tail = &t->next;
}

void engine_defer_idle(struct engine *e, struct engine_task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = e->idle_tasks;	/* order does not matter here */
	e->idle_tasks = t;
}

/* A task may queue tasks, itself included: they run in this pass too. */
static void run_tasks(struct engine *e)
{
	struct engine_task *t;

	while ((t = e->tasks)) {
		e->tasks = t->next;
		if (!e->tasks)
			e->tasks_tail = &e->tasks;
		t->queued = false;
		t->fn(t);
	}
}

/*
 * About to sleep with idle tasks queued: submit first (a receive of data
 * already there completes at once), and if nothing is ready then, run
 * them, and the tasks they queue, before the sleep.
 */
static int submit_then_idle(struct engine *e)
{
	struct engine_task *t;
	int r = io_uring_submit(&e->ring);

	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return r;
	if (io_uring_cq_ready(&e->ring) ||
	    (IO_URING_READ_ONCE(*e->ring.sq.kflags) & IORING_SQ_TASKRUN))
		return 0;	/* not idle: they wait for the next turn */
	while ((t = e->idle_tasks)) {
		e->idle_tasks = t->next;
		t->queued = false;
		t->fn(t);
	}
	run_tasks(e);
	return 0;
}

int engine_run_once(struct engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int r;

	run_tasks(e);
	if (e->deferred) {
		/* what the turn queued goes out before the large copies */
		r = io_uring_submit(&e->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
		run_deferred(e);
	}
	/* inline writes' callbacks to run: no wait */
	if (e->inline_done || spin_for_events(e)) {
		r = io_uring_submit(&e->ring);
	} else {
		if (e->idle_tasks) {
			r = submit_then_idle(e);
			if (r < 0)
				return r;
		}
		r = io_uring_submit_and_wait(&e->ring, 1);
		e->switches_stale = true;	/* see write_stalled() */
	}
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
	finish_inline(e);
	return 0;
}
