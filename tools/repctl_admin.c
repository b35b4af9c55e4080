/*
 * repctl commands that change a running repd's state (promote, demote,
 * connect, disconnect, invalidate, new-current-uuid, outdate, resync),
 * follow its events,
 * or wait for a resync: one request each over the control socket
 * (docs/control.md). Success prints nothing; a refusal prints the
 * daemon's reason and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "repctl.h"

/* A flag a command takes, and the JSON member it sets. */
struct admin_flag {
	const char *option;		/* "force" */
	const char *member;		/* "force" */
};

struct admin_spec {
	const char *name;		/* repctl subcommand = daemon cmd */
	struct admin_flag flag;		/* option, or { NULL } */
	unsigned timeout_s;		/* the daemon may take this long */
};

static const struct admin_spec specs[] = {
	{ "promote", { "force", "force" }, 10 },
	/* demote --force waits for NBD clients to be answered and closed */
	{ "demote", { "force", "force" }, 60 },
	{ "connect", { "discard-my-data", "discard_my_data" }, 10 },
	{ "disconnect", { NULL, NULL }, 10 },
	{ "invalidate", { NULL, NULL }, 10 },
	{ "new-current-uuid", { "clear-bitmap", "clear_bitmap" }, 10 },
	{ "outdate", { NULL, NULL }, 10 },
	{ "resync", { NULL, NULL }, 10 },
	{ "verify", { NULL, NULL }, 10 },
};

/* Common options: where the daemon is. */
struct where {
	const char *config, *node, *sock;
	struct repctl_target t;
	bool have_target;
};

static int where_open(const struct repctl_cmd *cmd, struct where *w)
{
	if ((!w->config && !w->sock) || (w->config && w->sock))
		return repctl_bad_usage(cmd, "give --config FILE [--node NAME] "
					"or --socket PATH");
	if (w->config) {
		if (repctl_target_open(cmd, w->config, w->node, &w->t) < 0)
			return REPCTL_FAIL;
		w->have_target = true;
		w->sock = w->t.node->control.text;
	}
	return REPCTL_OK;
}

static void where_close(struct where *w)
{
	if (w->have_target)
		repctl_target_close(&w->t);
}

/* 0 if reply says ok, else prints the daemon's reason: REPCTL_FAIL. */
static int check_reply(const struct repctl_cmd *cmd, json_object *reply)
{
	json_object *ok;

	if (!reply)
		return REPCTL_FAIL;
	if (!json_object_object_get_ex(reply, "ok", &ok) ||
	    !json_object_get_boolean(ok))
		return repctl_fail(cmd, "%s", repctl_jstr(reply, "error"));
	return REPCTL_OK;
}

static int wait_sync(const struct repctl_cmd *cmd, const char *sock,
		     unsigned timeout_s);
static int wait_verify(const struct repctl_cmd *cmd, const char *sock);

int repctl_admin(const struct repctl_cmd *cmd, int argc, char **argv)
{
	const struct admin_spec *sp = NULL;
	struct option opts[9] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
	};
	unsigned n_opts = 4;
	struct where w = { 0 };
	bool flag = false, wait = false;
	uint64_t start = 0, stop = 0;
	json_object *req, *reply;
	unsigned i;
	int opt, rc;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (strcmp(specs[i].name, cmd->name) == 0)
			sp = &specs[i];
	if (!sp)
		return repctl_fail(cmd, "not a state-changing command");
	/* the command's own flag, and --wait for resync (opts ends with a
	 * zeroed entry) */
	if (sp->flag.option)
		opts[n_opts++] = (struct option){ sp->flag.option, no_argument,
						  NULL, 'f' };
	if (strcmp(sp->name, "resync") == 0 || strcmp(sp->name, "verify") == 0)
		opts[n_opts++] = (struct option){ "wait", no_argument, NULL,
						  'w' };
	if (strcmp(sp->name, "verify") == 0) {
		opts[n_opts++] = (struct option){ "start", required_argument,
						  NULL, 'S' };
		opts[n_opts++] = (struct option){ "stop", required_argument,
						  NULL, 'T' };
	}
	while ((opt = getopt_long(argc, argv, "c:n:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': w.config = optarg; break;
		case 'n': w.node = optarg; break;
		case 's': w.sock = optarg; break;
		case 'f': flag = true; break;
		case 'w': wait = true; break;
		case 'S':
		case 'T':
			if (repctl_parse_size(optarg, opt == 'S' ? &start :
					      &stop) < 0)
				return repctl_bad_usage(cmd, "--%s: a size in "
					"bytes (K, M, G, T suffixes)",
					opt == 'S' ? "start" : "stop");
			break;
		case 'h': repctl_usage(cmd, stdout); return REPCTL_OK;
		default: repctl_usage(cmd, stderr); return REPCTL_USAGE;
		}
	}
	if (optind != argc) {
		repctl_usage(cmd, stderr);
		return REPCTL_USAGE;
	}
	rc = where_open(cmd, &w);
	if (rc != REPCTL_OK)
		return rc;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(sp->name));
	if (sp->flag.member)
		json_object_object_add(req, sp->flag.member,
				       json_object_new_boolean(flag));
	if (start)
		json_object_object_add(req, "start",
				       json_object_new_int64((int64_t)start));
	if (stop)
		json_object_object_add(req, "stop",
				       json_object_new_int64((int64_t)stop));
	reply = repctl_ctl_call(cmd, w.sock, json_object_to_json_string_ext(
		req, JSON_C_TO_STRING_PLAIN), sp->timeout_s);
	json_object_put(req);
	rc = check_reply(cmd, reply);
	json_object_put(reply);
	if (rc == REPCTL_OK && wait)
		rc = strcmp(sp->name, "verify") == 0 ?
		     wait_verify(cmd, w.sock) : wait_sync(cmd, w.sock, 0);
	where_close(&w);
	return rc;
}

/* ---- events ---- */

static void print_event(json_object *e, bool json)
{
	char when[32] = "";
	time_t t = (time_t)repctl_jint(e, "time");
	struct tm tm;

	if (json) {
		puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s %s: %s/%s %s, peer %s/%s\n", when,
		       repctl_jstr(e, "event"), repctl_jstr(e, "role"),
		       repctl_jstr(e, "disk"), repctl_jstr(e, "connection"),
		       repctl_jstr(e, "peer_role"),
		       repctl_jstr(e, "peer_disk"));
	}
	fflush(stdout);
}

int repctl_events(const struct repctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct where w = { 0 };
	bool json = false, first = true;
	char buf[8192];
	size_t len = 0;
	int opt, rc, fd;

	while ((opt = getopt_long(argc, argv, "c:n:s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': w.config = optarg; break;
		case 'n': w.node = optarg; break;
		case 's': w.sock = optarg; break;
		case 'j': json = true; break;
		case 'h': repctl_usage(cmd, stdout); return REPCTL_OK;
		default: repctl_usage(cmd, stderr); return REPCTL_USAGE;
		}
	}
	if (optind != argc) {
		repctl_usage(cmd, stderr);
		return REPCTL_USAGE;
	}
	rc = where_open(cmd, &w);
	if (rc != REPCTL_OK)
		return rc;
	/* events may be hours apart: no receive timeout */
	fd = repctl_ctl_connect(cmd, w.sock, "{\"cmd\":\"events\"}", 0);
	if (fd < 0) {
		where_close(&w);
		return REPCTL_FAIL;
	}
	rc = REPCTL_OK;
	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', len))) {
			json_object *e;

			*nl = '\0';
			e = json_tokener_parse(buf);
			/* the first line answers the request: ok or error */
			if (!e || (first && check_reply(cmd, e) != REPCTL_OK)) {
				if (!e)
					repctl_fail(cmd, "malformed event");
				json_object_put(e);
				rc = REPCTL_FAIL;
				goto out;
			}
			if (first)
				json_object_object_del(e, "ok");
			first = false;
			print_event(e, json);
			json_object_put(e);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf)) {
			rc = repctl_fail(cmd, "event line too long");
			break;
		}
		n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0) {
			rc = repctl_fail(cmd, "repd closed the connection");
			break;
		}
		len += (size_t)n;
	}
out:
	close(fd);
	where_close(&w);
	return rc;
}

/* ---- waiting for a resync ---- */

static void bar(double pct, int64_t rate, int64_t eta, bool tty)
{
	int i, fill = (int)(pct / 100.0 * 40);

	if (!tty) {
		printf("resync %.1f%%, %.1f MB/s, %lld s left\n", pct,
		       (double)rate / 1e6, (long long)eta);
	} else {
		printf("\r[");
		for (i = 0; i < 40; i++)
			putchar(i < fill ? '#' : '.');
		printf("] %5.1f%% %7.1f MB/s ETA %llds   ", pct,
		       (double)rate / 1e6, (long long)eta);
	}
	fflush(stdout);
}

/*
 * Poll status until both nodes are UpToDate and connected with no resync
 * running and nothing known out of sync here (0), the link gives up
 * (StandAlone, SplitBrain: 1), or timeout_s (0: none) passes. Connected
 * alone is not enough: the peer's disk says UpToDate from its HELLO
 * until the bitmap exchange shows it is behind.
 */
static int wait_sync(const struct repctl_cmd *cmd, const char *sock,
		     unsigned timeout_s)
{
	bool tty = isatty(STDOUT_FILENO), drawn = false;
	time_t start = time(NULL), last_line = 0;

	for (;;) {
		json_object *r = repctl_ctl_call(cmd, sock,
						 "{\"cmd\":\"status\"}", 10);
		json_object *rs, *peer;
		const char *conn;
		int rc = check_reply(cmd, r);

		if (rc != REPCTL_OK) {
			json_object_put(r);
			return rc;
		}
		conn = repctl_jstr(r, "connection");
		rs = repctl_jobj(r, "resync");
		peer = repctl_jobj(r, "peer");
		if (!strcmp(conn, "Connected") &&
		    repctl_jint(r, "out_of_sync_bytes") == 0 &&
		    !strcmp(repctl_jstr(r, "disk"), "UpToDate") &&
		    !strcmp(repctl_jstr(peer, "disk"), "UpToDate")) {
			if (drawn && tty)
				putchar('\n');
			printf("in sync\n");
			json_object_put(r);
			return REPCTL_OK;
		}
		if (!strcmp(conn, "StandAlone") || !strcmp(conn, "SplitBrain")) {
			if (drawn && tty)
				putchar('\n');
			rc = repctl_fail(cmd, "%s: %s", conn,
					 repctl_jstr(r, "connection_reason"));
			json_object_put(r);
			return rc;
		}
		if (!strcmp(conn, "SyncSource") &&
		    (tty || time(NULL) - last_line >= 5)) {
			json_object *p = repctl_jobj(rs, "percent");

			bar(p ? json_object_get_double(p) : 0,
			    repctl_jint(rs, "rate_bytes_per_s"),
			    repctl_jint(rs, "eta_s"), tty);
			drawn = true;
			last_line = time(NULL);
		} else if (!tty && time(NULL) - last_line >= 5) {
			printf("%s, disk %s, peer disk %s\n", conn,
			       repctl_jstr(r, "disk"),
			       repctl_jstr(peer, "disk"));
			fflush(stdout);
			last_line = time(NULL);
		}
		json_object_put(r);
		if (timeout_s && time(NULL) - start >= (time_t)timeout_s) {
			if (drawn && tty)
				putchar('\n');
			return repctl_fail(cmd, "not in sync after %u s",
					   timeout_s);
		}
		poll(NULL, 0, 250);
	}
}

int repctl_wait_sync(const struct repctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct where w = { 0 };
	unsigned long timeout_s = 0;
	char *end;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:n:s:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': w.config = optarg; break;
		case 'n': w.node = optarg; break;
		case 's': w.sock = optarg; break;
		case 't':
			errno = 0;
			timeout_s = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout_s > 86400)
				return repctl_bad_usage(cmd, "--timeout: "
					"seconds, 0..86400");
			break;
		case 'h': repctl_usage(cmd, stdout); return REPCTL_OK;
		default: repctl_usage(cmd, stderr); return REPCTL_USAGE;
		}
	}
	if (optind != argc) {
		repctl_usage(cmd, stderr);
		return REPCTL_USAGE;
	}
	rc = where_open(cmd, &w);
	if (rc != REPCTL_OK)
		return rc;
	rc = wait_sync(cmd, w.sock, (unsigned)timeout_s);
	where_close(&w);
	return rc;
}

/* verify --wait: until the verify ends; print what it found. 0 if every
 * block matched, 1 if some differ or it stopped early. */
static int wait_verify(const struct repctl_cmd *cmd, const char *sock)
{
	for (;;) {
		json_object *r = repctl_ctl_call(cmd, sock,
						 "{\"cmd\":\"status\"}", 10);
		json_object *v, *a, *act, *early;
		int rc = check_reply(cmd, r);
		size_t i;

		if (rc != REPCTL_OK) {
			json_object_put(r);
			return rc;
		}
		v = repctl_jobj(r, "verify");
		act = repctl_jobj(v, "active");
		if (act && json_object_get_boolean(act)) {
			json_object_put(r);
			poll(NULL, 0, 250);
			continue;
		}
		early = repctl_jobj(v, "stopped_early");
		printf("verified %lld of %lld bytes: %lld block(s) differ\n",
		       (long long)repctl_jint(v, "done_bytes"),
		       (long long)repctl_jint(v, "total_bytes"),
		       (long long)repctl_jint(v, "mismatched_blocks"));
		a = repctl_jobj(v, "first_offsets");
		for (i = 0; a && i < json_object_array_length(a); i++)
			printf("  differs at offset %lld\n", (long long)
			       json_object_get_int64(
				       json_object_array_get_idx(a, i)));
		rc = early && json_object_get_boolean(early) ?
		     repctl_fail(cmd, "verify stopped early (see the log)") :
		     repctl_jint(v, "mismatched_blocks") ? REPCTL_FAIL :
		     REPCTL_OK;
		json_object_put(r);
		return rc;
	}
}
