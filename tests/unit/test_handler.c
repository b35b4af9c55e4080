/*
 * CUnit tests of replicator/handler: real /bin/sh handlers in a mkdtemp()
 * directory. Processes take real time to start and die, so these tests
 * poll (handlers_poll() plus a 10 ms sleep) in loops bounded to 5 s, the
 * one exception to "never sleeps"; nothing waits unbounded.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "handler.h"

#include "cunit_main.h"

#define POLL_STEPS	500		/* x 10 ms = the 5 s bound */
#define PBUF		128		/* a path inside dir */

/* ---- helpers ---- */

static char dir[64];			/* this test's mkdtemp() directory */

static void dir_make(void)
{
	snprintf(dir, sizeof(dir), "/tmp/repd-handler-XXXXXX");
	assert(mkdtemp(dir));
}

/* Remove dir and the plain files in it (the scripts and their output). */
static void dir_remove(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];

	assert(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

/* dir/name, e.g. for a script or its output file. */
static const char *in_dir(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
	return buf;
}

/* Write "#!/bin/sh\n" + body to dir/name with the given mode. */
static void write_script(char *path, size_t n, const char *name,
			 const char *body, mode_t mode)
{
	FILE *f;

	in_dir(path, n, name);
	f = fopen(path, "w");
	assert(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert(fclose(f) == 0);
	assert(chmod(path, mode) == 0);
}

static void sleep_10ms(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll h until nothing runs; false after 5 s. */
static bool poll_until_idle(struct handlers *h)
{
	int i;

	for (i = 0; i < POLL_STEPS; i++) {
		handlers_poll(h);
		if (handlers_running(h) == 0)
			return true;
		sleep_10ms();
	}
	return false;
}

/* Poll h until path exists; false after 5 s. */
static bool poll_until_file(struct handlers *h, const char *path)
{
	int i;

	for (i = 0; i < POLL_STEPS; i++) {
		handlers_poll(h);
		if (access(path, F_OK) == 0)
			return true;
		sleep_10ms();
	}
	return false;
}

/* Read a whole small file into buf (NUL-terminated); false if absent. */
static bool read_file(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got;

	if (!f)
		return false;
	got = fread(buf, 1, n - 1, f);
	buf[got] = 0;
	fclose(f);
	return true;
}

/* Whether pid is gone or a zombie (its parent may be a slow reaper). */
static bool pid_dead(pid_t pid)
{
	char p[64], buf[512];
	const char *s;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (!read_file(p, buf, sizeof(buf)))
		return true;
	s = strrchr(buf, ')');		/* after "pid (comm)" */
	return !s || s[2] == 'Z' || s[2] == 'X';
}

static struct handlers *new_handlers(enum handler_event e, const char *path,
				     unsigned timeout_s)
{
	struct handler_conf c = { .timeout_s = timeout_s };
	struct handlers *h = NULL;

	c.path[e] = path;
	CU_ASSERT_EQUAL_FATAL(handlers_new(&c, "r0", "alpha", &h), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	return h;
}

/* ---- tests ---- */

static void test_event_names(void)
{
	const char *want[HANDLER_EVENT_COUNT] = {
		"role-change", "split-brain", "peer-lost", "resync-done",
		"io-error",
	};
	int e;

	for (e = 0; e < HANDLER_EVENT_COUNT; e++)
		CU_ASSERT_STRING_EQUAL(handler_event_name((enum handler_event)e),
				       want[e]);
}

static void test_new_rejects_bad_timeout(void)
{
	struct handler_conf c = { .timeout_s = HANDLER_TIMEOUT_MAX + 1 };
	struct handlers *h = NULL;

	CU_ASSERT_EQUAL(handlers_new(&c, "r0", "alpha", &h), -EINVAL);
	CU_ASSERT_PTR_NULL(h);		/* ret written only on success */
	CU_ASSERT_PTR_NULL(handlers_free(NULL));
}

/*
 * (a) The handler runs, sees REPD_* and the extras (an extra and REPD_EVENT
 * replacing inherited variables of the same name), inherits the rest of
 * environ, reads EOF on stdin, runs in its own process group with an
 * empty signal mask, and does not inherit our descriptors.
 */
static void test_runs_with_environment(void)
{
	char script[PBUF], out[PBUF], body[2048], got[1024];
	char want[512];
	const char *extra[] = { "REPD_ROLE=primary", "REPD_PEER=beta", NULL };
	sigset_t term, old;
	struct handlers *h;
	int fd;

	dir_make();
	in_dir(out, sizeof(out), "out");
	/* Not O_CLOEXEC: the handler must still not get it. */
	fd = open("/dev/null", O_RDONLY);
	assert(fd > 2);
	snprintf(body, sizeof(body),
		 "o=%s\n"
		 "if read -r x; then in=data; else in=eof; fi\n"
		 "pgid=$(cut -d' ' -f5 /proc/$$/stat)\n"
		 "if [ \"$pgid\" = $$ ]; then grp=own; else grp=shared; fi\n"
		 "if [ -e /proc/$$/fd/%d ]; then fd=leaked; else fd=closed; fi\n"
		 "blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)\n"
		 "printf '%%s\\n' \"$REPD_EVENT\" \"$REPD_RESOURCE\" "
		 "\"$REPD_NODE\" \"$REPD_ROLE\" \"$REPD_PEER\" "
		 "\"$HANDLER_TEST_INHERITED\" $in $grp $fd $blk >\"$o.tmp\"\n"
		 "mv \"$o.tmp\" \"$o\"",
		 out, fd);
	write_script(script, sizeof(script), "on-split-brain", body, 0755);
	setenv("HANDLER_TEST_INHERITED", "kept", 1);
	setenv("REPD_EVENT", "stale", 1);
	setenv("REPD_ROLE", "stale", 1);
	/* The daemon blocks SIGTERM for its signalfd: not the handler. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	assert(sigprocmask(SIG_BLOCK, &term, &old) == 0);

	h = new_handlers(HANDLER_SPLIT_BRAIN, script, 10);
	CU_ASSERT_EQUAL(handlers_run(h, HANDLER_SPLIT_BRAIN, extra), 0);
	CU_ASSERT_EQUAL(handlers_running(h), 1);
	assert(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	CU_ASSERT_TRUE(poll_until_file(h, out));
	CU_ASSERT_TRUE(poll_until_idle(h));
	CU_ASSERT_TRUE(read_file(out, got, sizeof(got)));
	snprintf(want, sizeof(want), "split-brain\nr0\nalpha\nprimary\nbeta\n"
		 "kept\neof\nown\nclosed\n0000000000000000\n");
	CU_ASSERT_STRING_EQUAL(got, want);

	h = handlers_free(h);
	close(fd);
	unsetenv("HANDLER_TEST_INHERITED");
	unsetenv("REPD_EVENT");
	unsetenv("REPD_ROLE");
	dir_remove();
}

/* (b) A handler exiting non-zero is reaped (and logged). */
static void test_nonzero_exit_reaped(void)
{
	char script[PBUF];
	struct handlers *h;

	dir_make();
	write_script(script, sizeof(script), "fail", "exit 3", 0755);
	h = new_handlers(HANDLER_PEER_LOST, script, 0);
	CU_ASSERT_EQUAL(handlers_run(h, HANDLER_PEER_LOST, NULL), 0);
	CU_ASSERT_EQUAL(handlers_running(h), 1);
	CU_ASSERT_TRUE(poll_until_idle(h));
	CU_ASSERT_EQUAL(handlers_running(h), 0);
	h = handlers_free(h);
	dir_remove();
}

/*
 * (c) A handler still running at its timeout is SIGKILLed with its whole
 * process group (the sleep it started too), no earlier than the timeout
 * and within ~3 s of the start, and reaped.
 */
static void test_timeout_kills_group(void)
{
	char script[PBUF], pidf[PBUF], body[1024], buf[32];
	struct handlers *h;
	uint64_t t0, dt;
	pid_t sleeper;
	int i;

	dir_make();
	in_dir(pidf, sizeof(pidf), "sleeper");
	snprintf(body, sizeof(body),
		 "sleep 60 &\n"
		 "echo $! >%s.tmp && mv %s.tmp %s\n"
		 "wait", pidf, pidf, pidf);
	write_script(script, sizeof(script), "hang", body, 0755);
	h = new_handlers(HANDLER_RESYNC_DONE, script, 1);
	t0 = now_ms();
	CU_ASSERT_EQUAL_FATAL(handlers_run(h, HANDLER_RESYNC_DONE, NULL), 0);
	CU_ASSERT_TRUE(poll_until_file(h, pidf));
	CU_ASSERT_TRUE(poll_until_idle(h));
	dt = now_ms() - t0;
	CU_ASSERT(dt >= 900);		/* not before the timeout */
	CU_ASSERT(dt < 3000);
	CU_ASSERT_EQUAL(handlers_running(h), 0);

	CU_ASSERT_TRUE_FATAL(read_file(pidf, buf, sizeof(buf)));
	sleeper = (pid_t)atoi(buf);
	CU_ASSERT_FATAL(sleeper > 0);
	for (i = 0; i < POLL_STEPS && !pid_dead(sleeper); i++)
		sleep_10ms();
	CU_ASSERT_TRUE(pid_dead(sleeper));	/* the group got SIGKILL */
	h = handlers_free(h);
	dir_remove();
}

/* (d) An event with no handler configured is a no-op. */
static void test_unconfigured_is_noop(void)
{
	struct handler_conf c = { .timeout_s = 0 };
	struct handlers *h = NULL;
	int e;

	CU_ASSERT_EQUAL_FATAL(handlers_new(&c, "r0", "alpha", &h), 0);
	for (e = 0; e < HANDLER_EVENT_COUNT; e++)
		CU_ASSERT_EQUAL(handlers_run(h, (enum handler_event)e, NULL),
				0);
	CU_ASSERT_EQUAL(handlers_running(h), 0);
	handlers_poll(h);
	h = handlers_free(h);
	CU_ASSERT_PTR_NULL(h);
}

/*
 * (e) A missing or non-executable handler fails to start (glibc reports the
 * exec error from posix_spawn) or, on a libc that does not, exits 127 and
 * is reaped; never a crash, never a slot lost.
 */
static void test_missing_executable(void)
{
	char missing[PBUF], noexec[PBUF];
	struct handlers *h;
	int r;

	dir_make();
	in_dir(missing, sizeof(missing), "no-such-handler");
	h = new_handlers(HANDLER_IO_ERROR, missing, 0);
	r = handlers_run(h, HANDLER_IO_ERROR, NULL);
	CU_ASSERT(r == -ENOENT || r == 0);
	CU_ASSERT_TRUE(poll_until_idle(h));
	h = handlers_free(h);

	write_script(noexec, sizeof(noexec), "noexec", "exit 0", 0644);
	h = new_handlers(HANDLER_IO_ERROR, noexec, 0);
	r = handlers_run(h, HANDLER_IO_ERROR, NULL);
	/* root may exec nothing without an x bit either: EACCES */
	CU_ASSERT(r == -EACCES || r == 0);
	CU_ASSERT_TRUE(poll_until_idle(h));
	h = handlers_free(h);
	dir_remove();
}

/*
 * At most HANDLERS_MAX_RUNNING at once: the next event is skipped with
 * -EBUSY. handlers_free() then kills and reaps all of them at once.
 */
static void test_limit_and_free(void)
{
	char script[PBUF];
	struct handlers *h;
	uint64_t t0;
	int i;

	dir_make();
	write_script(script, sizeof(script), "sleep", "exec sleep 60", 0755);
	h = new_handlers(HANDLER_ROLE_CHANGE, script, 60);
	for (i = 0; i < HANDLERS_MAX_RUNNING; i++)
		CU_ASSERT_EQUAL(handlers_run(h, HANDLER_ROLE_CHANGE, NULL), 0);
	CU_ASSERT_EQUAL(handlers_running(h), HANDLERS_MAX_RUNNING);
	CU_ASSERT_EQUAL(handlers_run(h, HANDLER_ROLE_CHANGE, NULL), -EBUSY);
	handlers_poll(h);
	CU_ASSERT_EQUAL(handlers_running(h), HANDLERS_MAX_RUNNING);
	t0 = now_ms();
	h = handlers_free(h);
	CU_ASSERT_PTR_NULL(h);
	CU_ASSERT(now_ms() - t0 < 3000);
	dir_remove();
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_event_names),
	T(test_new_rejects_bad_timeout),
	T(test_runs_with_environment),
	T(test_nonzero_exit_reaped),
	T(test_timeout_kills_group),
	T(test_unconfigured_is_noop),
	T(test_missing_executable),
	T(test_limit_and_free),
#undef T
};

int main(void)
{
	return cunit_main("handler", tests, sizeof(tests) / sizeof(tests[0]));
}
