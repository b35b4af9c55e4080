/*
 * Event handlers: the operator's executables, run on role changes, split
 * brain, peer loss, resync completion and I/O errors ([handlers] in the
 * config, docs/config.md).
 *
 * A handler is started with posix_spawn() and never waited for: the event
 * loop calls handlers_poll() often, which reaps finished children and
 * SIGKILLs the process group of one still running at its timeout. So a
 * hung handler costs a slot, never I/O. At most HANDLERS_MAX_RUNNING run
 * at once; an event beyond that is logged and skipped.
 *
 * Daemon-level module: it logs (log.h) and returns 0 or -errno.
 */
#ifndef REPD_HANDLER_H
#define REPD_HANDLER_H

enum handler_event {
	HANDLER_ROLE_CHANGE,		/* this node was promoted or demoted */
	HANDLER_SPLIT_BRAIN,		/* generations diverged; link refused */
	HANDLER_PEER_LOST,		/* the peer link went down */
	HANDLER_RESYNC_DONE,		/* a resync finished (either side) */
	HANDLER_IO_ERROR,		/* the local disk failed a request */
	HANDLER_EVENT_COUNT
};

#define HANDLERS_MAX_RUNNING	16	/* children alive at once */
#define HANDLER_TIMEOUT_DEFAULT	30	/* seconds */
#define HANDLER_TIMEOUT_MAX	3600	/* seconds */

struct handlers;

struct handler_conf {
	/* Absolute path of the executable per event; NULL or "" = none.
	 * Borrowed: handlers_new() copies them. */
	const char *path[HANDLER_EVENT_COUNT];
	unsigned timeout_s;		/* 1..3600; 0 = default (30) */
};

/* "role-change", "split-brain", "peer-lost", "resync-done", "io-error":
 * the value of REPD_EVENT; the config key is "on-" followed by it. */
const char *handler_event_name(enum handler_event e);

/*
 * Set up handlers for one resource at daemon start. c, resource and node
 * are borrowed (copied). 0 and *ret, or -EINVAL (timeout out of range),
 * -ENOMEM. Does not log.
 */
int handlers_new(const struct handler_conf *c, const char *resource,
		 const char *node, struct handlers **ret);

/*
 * Start the handler for e; returns at once (0 when none is configured).
 * env_extra (borrowed; may be NULL) is a NULL-terminated list of
 * "KEY=VALUE" strings (REPD_ROLE, REPD_PEER, ...) added to the child's
 * environment after the daemon's own environ, REPD_RESOURCE, REPD_NODE and
 * REPD_EVENT; a key given here replaces an inherited one of that name.
 * The child gets stdin from /dev/null, inherits stdout and stderr, no
 * other descriptor, an empty signal mask, default signal dispositions and
 * a process group of its own. 0, or -EBUSY (HANDLERS_MAX_RUNNING already
 * running) or the -errno of posix_spawn (e.g. -ENOENT); every error is
 * logged here, so callers may ignore the result.
 */
int handlers_run(struct handlers *h, enum handler_event e,
		 const char *const *env_extra);

/*
 * Reap the children that finished (waitpid(pid, WNOHANG) on our own pids
 * only, never -1), log a non-zero exit or a signal, and SIGKILL the
 * process group of each one past its timeout (logged; reaped by a later
 * call). Never blocks. Call on every loop iteration and from a timer of
 * at most a second, so that a timeout is noticed while the loop is idle.
 */
void handlers_poll(struct handlers *h);

/* Children started and not yet reaped (including killed ones). */
unsigned handlers_running(const struct handlers *h);

/*
 * At shutdown: SIGKILL the process group of every handler still running,
 * reap them (this waits, for processes already killed), free h. NULL is
 * fine. Returns NULL.
 */
struct handlers *handlers_free(struct handlers *h);

#endif /* REPD_HANDLER_H */
