/*
 * Event handlers: posix_spawn() on an event, reaped and timed out from the
 * event loop through handlers_poll(). See handler.h.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"
#include "log.h"
#include "clock.h"

/* glibc 2.34 can close every inherited descriptor in the child. */
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
#define HAVE_ADDCLOSEFROM_NP 1
#endif
#endif

struct handler_child {
	pid_t pid;			/* 0: free slot; also its pgid */
	enum handler_event event;
	uint64_t deadline_ms;		/* CLOCK_MONOTONIC; SIGKILL after */
	bool killed;			/* SIGKILL sent, not yet reaped */
};

struct handlers {
	char *path[HANDLER_EVENT_COUNT]; /* owned copies; NULL = none */
	unsigned timeout_s;		/* 1..HANDLER_TIMEOUT_MAX */
	char *env_resource;		/* owned; "REPD_RESOURCE=..." */
	char *env_node;			/* owned; "REPD_NODE=..." */
	struct handler_child kids[HANDLERS_MAX_RUNNING];
	unsigned n_running;		/* slots with pid != 0 */
};

const char *handler_event_name(enum handler_event e)
{
	switch (e) {
	case HANDLER_ROLE_CHANGE: return "role-change";
	case HANDLER_SPLIT_BRAIN: return "split-brain";
	case HANDLER_PEER_LOST: return "peer-lost";
	case HANDLER_RESYNC_DONE: return "resync-done";
	case HANDLER_IO_ERROR: return "io-error";
	case HANDLER_EVENT_COUNT: break;
	}
	abort();
}

int handlers_new(const struct handler_conf *c, const char *resource,
		 const char *node, struct handlers **ret)
{
	struct handlers *h;
	unsigned i;

	if (c->timeout_s > HANDLER_TIMEOUT_MAX)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->timeout_s = c->timeout_s ? c->timeout_s : HANDLER_TIMEOUT_DEFAULT;
	if (asprintf(&h->env_resource, "REPD_RESOURCE=%s", resource) < 0) {
		h->env_resource = NULL;
		goto fail;
	}
	if (asprintf(&h->env_node, "REPD_NODE=%s", node) < 0) {
		h->env_node = NULL;
		goto fail;
	}
	for (i = 0; i < HANDLER_EVENT_COUNT; i++) {
		if (!c->path[i] || !c->path[i][0])
			continue;
		h->path[i] = strdup(c->path[i]);
		if (!h->path[i])
			goto fail;
	}
	*ret = h;
	return 0;
fail:
	handlers_free(h);
	return -ENOMEM;
}

/* Length of the KEY part of "KEY=VALUE" (the whole string without '='). */
static size_t env_key_len(const char *s)
{
	return strcspn(s, "=");
}

static bool env_same_key(const char *a, const char *b)
{
	size_t n = env_key_len(a);

	return n == env_key_len(b) && memcmp(a, b, n) == 0;
}

/* Whether list[from..n) holds a string with the key of s. */
static bool env_has_key(const char *const *list, size_t from, size_t n,
			const char *s)
{
	size_t i;

	for (i = from; i < n; i++)
		if (env_same_key(list[i], s))
			return true;
	return false;
}

/*
 * The child's environment: environ minus the keys we set, then add[] in
 * order, an entry of add[] losing to a later one with the same key. The
 * strings are borrowed from environ and add; only the array is allocated.
 */
static int build_env(const char *const *add, size_t n_add, char ***ret)
{
	char **env = environ;
	size_t n_env = 0, i, k = 0;
	char **out;

	while (env && env[n_env])
		n_env++;
	out = calloc(n_env + n_add + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n_env; i++)
		if (!env_has_key(add, 0, n_add, env[i]))
			out[k++] = env[i];
	for (i = 0; i < n_add; i++)
		if (!env_has_key(add, i + 1, n_add, add[i]))
			out[k++] = (char *)add[i];
	out[k] = NULL;
	*ret = out;
	return 0;
}

/* posix_spawn() attributes and file actions of every handler child. */
static int spawn_setup(posix_spawnattr_t *attr,
		       posix_spawn_file_actions_t *fa)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	/* Own process group (pgid = pid), so the timeout kill reaches what
	 * the handler started too. The daemon blocks SIGTERM/SIGINT (they go
	 * to its signalfd) and ignores SIGPIPE; neither may leak into a
	 * handler, or an operator's script could not be stopped normally. */
	r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
				     POSIX_SPAWN_SETSIGMASK |
				     POSIX_SPAWN_SETSIGDEF);
	if (r == 0)
		r = posix_spawnattr_setpgroup(attr, 0);
	if (r == 0)
		r = posix_spawnattr_setsigmask(attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(attr, &all);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO,
						     "/dev/null", O_RDONLY, 0);
#ifdef HAVE_ADDCLOSEFROM_NP
	/* A handler that outlives the daemon (or just runs long) must not
	 * hold the peer socket, the NBD listener or the disk open. */
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa,
							     STDERR_FILENO + 1);
#endif
	return -r;
}

static struct handler_child *free_slot(struct handlers *h)
{
	unsigned i;

	for (i = 0; i < HANDLERS_MAX_RUNNING; i++)
		if (h->kids[i].pid == 0)
			return &h->kids[i];
	return NULL;
}

int handlers_run(struct handlers *h, enum handler_event e,
		 const char *const *env_extra)
{
	const char *name = handler_event_name(e);
	const char *path = h->path[e];
	char env_event[32];		/* "REPD_EVENT=" + the longest name */
	const char **add = NULL;
	size_t n_extra = 0, n_add, i;
	char **envp = NULL;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	bool attr_ok = false, fa_ok = false;
	struct handler_child *c;
	char *argv[2];
	pid_t pid;
	int r;

	if (!path)
		return 0;
	c = free_slot(h);
	if (!c) {
		log_msg(LOG_WARNING, "handler on-%s (%s): %d handlers still "
			"running, event skipped", name, path,
			HANDLERS_MAX_RUNNING);
		return -EBUSY;
	}
	while (env_extra && env_extra[n_extra]) {
		assert(strchr(env_extra[n_extra], '='));
		n_extra++;
	}
	n_add = 3 + n_extra;
	add = calloc(n_add, sizeof(*add));
	if (!add) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(env_event, sizeof(env_event), "REPD_EVENT=%s", name);
	add[0] = h->env_resource;
	add[1] = h->env_node;
	add[2] = env_event;
	for (i = 0; i < n_extra; i++)
		add[3 + i] = env_extra[i];
	r = build_env(add, n_add, &envp);
	if (r < 0)
		goto out;
	r = -posix_spawnattr_init(&attr);
	if (r < 0)
		goto out;
	attr_ok = true;
	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0)
		goto out;
	fa_ok = true;
	r = spawn_setup(&attr, &fa);
	if (r < 0)
		goto out;
	argv[0] = h->path[e];
	argv[1] = NULL;
	/* glibc's posix_spawn returns only after the exec, and returns its
	 * error (ENOENT, EACCES, ...) instead of a child exiting with 127. */
	r = -posix_spawn(&pid, path, &fa, &attr, argv, envp);
	if (r < 0)
		goto out;
	c->pid = pid;
	c->event = e;
	c->deadline_ms = now_ms() + (uint64_t)h->timeout_s * 1000;
	c->killed = false;
	h->n_running++;
	log_debug("handler on-%s (%s): started, pid %d", name, path,
		  (int)pid);
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	free(envp);
	free(add);
	if (r < 0)
		return log_errno(LOG_ERR, r, "handler on-%s (%s): cannot start",
				 name, path);
	return 0;
}

/* c was reaped with wait status st: log how it ended, free the slot. */
static void child_done(struct handlers *h, struct handler_child *c, int st)
{
	const char *name = handler_event_name(c->event);
	const char *path = h->path[c->event];

	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		log_debug("handler on-%s (%s): exited with status 0", name,
			  path);
	else if (WIFEXITED(st))
		log_msg(LOG_WARNING, "handler on-%s (%s): exited with status "
			"%d", name, path, WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && c->killed && WTERMSIG(st) == SIGKILL)
		log_debug("handler on-%s (%s): reaped after the timeout kill",
			  name, path);
	else if (WIFSIGNALED(st))
		log_msg(LOG_WARNING, "handler on-%s (%s): killed by signal %d "
			"(%s)", name, path, WTERMSIG(st),
			strsignal(WTERMSIG(st)));
	c->pid = 0;
	assert(h->n_running > 0);
	h->n_running--;
}

/* c is past its deadline: SIGKILL its whole process group, once. */
static void child_timeout(struct handlers *h, struct handler_child *c)
{
	const char *name = handler_event_name(c->event);
	const char *path = h->path[c->event];

	c->killed = true;
	/* pgid == pid (POSIX_SPAWN_SETPGROUP with 0). The pid is still ours
	 * (not reaped), so it cannot have been reused. */
	if (kill(-c->pid, SIGKILL) < 0 && kill(c->pid, SIGKILL) < 0) {
		log_errno(LOG_ERR, -errno, "handler on-%s (%s): past its %u s "
			  "timeout, cannot kill pid %d", name, path,
			  h->timeout_s, (int)c->pid);
		return;
	}
	log_msg(LOG_WARNING, "handler on-%s (%s): killed after %u s timeout",
		name, path, h->timeout_s);
}

void handlers_poll(struct handlers *h)
{
	uint64_t now;
	unsigned i;

	if (!h || h->n_running == 0)
		return;
	now = now_ms();
	for (i = 0; i < HANDLERS_MAX_RUNNING; i++) {
		struct handler_child *c = &h->kids[i];
		pid_t r;
		int st;

		if (c->pid == 0)
			continue;
		r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid) {
			child_done(h, c, st);
		} else if (r == 0) {
			if (!c->killed && now >= c->deadline_ms)
				child_timeout(h, c);
		} else if (errno == ECHILD) {
			/* Someone else reaped it (SIGCHLD set to SIG_IGN,
			 * or a waitpid(-1) elsewhere): nothing to wait for. */
			log_msg(LOG_WARNING, "handler on-%s (%s): pid %d "
				"vanished (reaped elsewhere)",
				handler_event_name(c->event),
				h->path[c->event], (int)c->pid);
			c->pid = 0;
			h->n_running--;
		}
		/* EINTR: try again on the next call. */
	}
}

unsigned handlers_running(const struct handlers *h)
{
	return h ? h->n_running : 0;
}

struct handlers *handlers_free(struct handlers *h)
{
	unsigned i;

	if (!h)
		return NULL;
	for (i = 0; i < HANDLERS_MAX_RUNNING; i++) {
		struct handler_child *c = &h->kids[i];
		pid_t r;
		int st;

		if (c->pid == 0)
			continue;
		log_msg(LOG_NOTICE, "handler on-%s (%s): killed at shutdown",
			handler_event_name(c->event), h->path[c->event]);
		if (kill(-c->pid, SIGKILL) < 0)
			kill(c->pid, SIGKILL);
		/* Blocking is fine here: the process is being killed and the
		 * daemon is exiting; an unreaped child would outlive us as a
		 * zombie of init only, but reaping keeps the accounting exact
		 * for callers (tests) that free and create again. */
		do
			r = waitpid(c->pid, &st, 0);
		while (r < 0 && errno == EINTR);
		c->pid = 0;
		h->n_running--;
	}
	for (i = 0; i < HANDLER_EVENT_COUNT; i++)
		free(h->path[i]);
	free(h->env_resource);
	free(h->env_node);
	free(h);
	return NULL;
}
