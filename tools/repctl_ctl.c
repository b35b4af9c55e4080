/*
 * repctl commands that talk to a running repd over its control socket
 * (docs/control.md): one JSON request line, one JSON reply line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "repctl.h"

#define REPLY_MAX (1u << 20)

int repctl_ctl_connect(const struct repctl_cmd *cmd, const char *path,
		       const char *request, unsigned timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		repctl_fail(cmd, "%s: socket path too long", path ? path : "");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		repctl_fail(cmd, "%s: cannot reach repd: %s (is it running?)",
			    path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	/* a daemon that never answers must not hang the operator */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		int e = errno;

		repctl_fail(cmd, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

json_object *repctl_ctl_call(const struct repctl_cmd *cmd, const char *path,
			     const char *request, unsigned timeout_s)
{
	json_object *reply;
	char *buf = NULL;
	size_t len = 0;
	int fd = repctl_ctl_connect(cmd, path, request, timeout_s);

	if (fd < 0)
		return NULL;
	buf = malloc(REPLY_MAX);
	while (buf && len < REPLY_MAX - 1) {
		ssize_t n = recv(fd, buf + len, REPLY_MAX - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	if (!buf || !memchr(buf, '\n', len)) {
		repctl_fail(cmd, "%s: no reply from repd", path);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	reply = json_tokener_parse(buf);
	free(buf);
	if (!reply || !json_object_is_type(reply, json_type_object)) {
		repctl_fail(cmd, "%s: malformed reply", path);
		json_object_put(reply);
		return NULL;
	}
	return reply;
}

const char *repctl_jstr(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

int64_t repctl_jint(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

json_object *repctl_jobj(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static void human_bytes(int64_t b, char *out, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* Colour a state word on a terminal: green when healthy, yellow else. */
static void state_word(const char *s, bool tty)
{
	bool good = !strcmp(s, "UpToDate") || !strcmp(s, "Connected") ||
		    !strcmp(s, "StandAlone") || !strcmp(s, "primary") ||
		    !strcmp(s, "secondary");

	if (tty)
		printf("\033[%sm%s\033[0m", good ? "32" : "33", s);
	else
		fputs(s, stdout);
}

static void print_status(json_object *r, bool verbose)
{
	bool tty = isatty(STDOUT_FILENO);
	json_object *peer = repctl_jobj(r, "peer"), *rs = repctl_jobj(r, "resync");
	json_object *io = repctl_jobj(r, "io"), *md = repctl_jobj(r, "metadata");
	json_object *err = repctl_jobj(r, "last_error");
	json_object *sd = repctl_jobj(r, "sync_decision");
	json_object *vr = repctl_jobj(r, "verify");
	json_object *reason = repctl_jobj(r, "connection_reason");
	json_object *refusal = repctl_jobj(r, "peer_refusal");
	char b1[32], b2[32];

	printf("%s node %s: role:", repctl_jstr(r, "resource"), repctl_jstr(r, "node"));
	state_word(repctl_jstr(r, "role"), tty);
	printf(" disk:");
	state_word(repctl_jstr(r, "disk"), tty);
	printf(" protocol %s\n", repctl_jstr(r, "protocol"));
	if (repctl_jobj(r, "disk_error"))	/* why it is Failed */
		printf("  disk error: %s\n", repctl_jstr(r, "disk_error"));
	printf("  connection:");
	state_word(repctl_jstr(r, "connection"), tty);
	if (peer) {
		printf(" peer %s role:%s disk:", repctl_jstr(peer, "name"),
		       repctl_jstr(peer, "role"));
		state_word(repctl_jstr(peer, "disk"), tty);
	}
	printf("\n");
	if (reason)	/* why StandAlone or SplitBrain, and what to run */
		printf("  reason: %s\n", json_object_get_string(reason));
	if (refusal)	/* the peer's side of it */
		printf("  peer refuses: %s\n", json_object_get_string(refusal));
	if (sd)
		printf("  last connect decided: %s (rule %" PRId64 ": %s)\n",
		       repctl_jstr(sd, "verdict"), repctl_jint(sd, "rule"),
		       repctl_jstr(sd, "reason"));
	human_bytes(repctl_jint(r, "out_of_sync_bytes"), b1, sizeof(b1));
	printf("  out of sync: %s\n", b1);
	if (repctl_jint(io, "suspended") > 0)
		printf("  suspended: %" PRId64 " write(s) held until the peer "
		       "is back (on-peer-loss = suspend)\n",
		       repctl_jint(io, "suspended"));
	if (rs && json_object_get_boolean(repctl_jobj(rs, "active"))) {
		human_bytes(repctl_jint(rs, "done_bytes"), b1, sizeof(b1));
		human_bytes(repctl_jint(rs, "total_bytes"), b2, sizeof(b2));
		printf("  resync: %.1f%% (%s of %s), %.1f MB/s, eta %" PRId64
		       " s\n", json_object_get_double(repctl_jobj(rs, "percent")),
		       b1, b2, (double)repctl_jint(rs, "rate_bytes_per_s") / 1e6,
		       repctl_jint(rs, "eta_s"));
		if (json_object_get_boolean(repctl_jobj(rs, "paced")))
			printf("  resync paced while clients write: %.1f MB/s\n",
			       (double)repctl_jint(rs, "paced_rate_bytes_per_s") /
			       1e6);
	}
	if (rs && repctl_jobj(rs, "error"))	/* kept until the next one */
		printf("  resync stopped: %s\n", repctl_jstr(rs, "error"));
	if (vr && (json_object_get_boolean(repctl_jobj(vr, "active")) ||
		   repctl_jint(vr, "mismatched_blocks") > 0)) {
		human_bytes(repctl_jint(vr, "done_bytes"), b1, sizeof(b1));
		human_bytes(repctl_jint(vr, "total_bytes"), b2, sizeof(b2));
		printf("  verify: %s of %s%s, %" PRId64 " block(s) differ\n", b1,
		       b2, json_object_get_boolean(repctl_jobj(vr, "active")) ?
		       " (running)" : "", repctl_jint(vr, "mismatched_blocks"));
	}
	if (verbose) {
		printf("  io: %" PRId64 " NBD connection(s), %" PRId64
		       " in flight, %" PRId64 " requests, %" PRId64
		       " awaiting the peer\n", repctl_jint(io, "nbd_connections"),
		       repctl_jint(io, "in_flight"), repctl_jint(io, "requests"),
		       repctl_jint(io, "peer_pending"));
		if (repctl_jobj(io, "loop_cpu"))
			printf("  cpu: event loop on CPU %" PRId64 "\n",
			       repctl_jint(io, "loop_cpu"));
		printf("  metadata: current %s bitmap %s; writes: %" PRId64
		       " activity-log, %" PRId64 " bitmap, %" PRId64
		       " superblock\n", repctl_jstr(md, "current_uuid"),
		       repctl_jstr(md, "bitmap_uuid"),
		       repctl_jint(md, "activity_log_writes"),
		       repctl_jint(md, "bitmap_writes"),
		       repctl_jint(md, "superblock_writes"));
		printf("  pid %s, repd %s\n", repctl_jstr(r, "pid"),
		       repctl_jstr(r, "version"));
	}
	if (err)
		printf("  last error: %s\n", repctl_jstr(err, "message"));
}

int repctl_status(const struct repctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *node = NULL, *sock = NULL;
	struct repctl_target t;
	bool json = false, verbose = false, have_target = false;
	json_object *reply, *ok;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:n:s:jvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'n': node = optarg; break;
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'v': verbose = true; break;
		case 'h': repctl_usage(cmd, stdout); return REPCTL_OK;
		default: repctl_usage(cmd, stderr); return REPCTL_USAGE;
		}
	}
	if (optind != argc || (!config && !sock) || (config && sock)) {
		repctl_usage(cmd, stderr);
		return REPCTL_USAGE;
	}
	if (config) {
		if (repctl_target_open(cmd, config, node, &t) < 0)
			return REPCTL_FAIL;
		have_target = true;
		sock = t.node->control.text;
	}
	reply = repctl_ctl_call(cmd, sock, "{\"cmd\":\"status\"}", 10);
	if (!reply) {
		rc = REPCTL_FAIL;
		goto out;
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) ||
	    !json_object_get_boolean(ok)) {
		rc = repctl_fail(cmd, "repd: %s", repctl_jstr(reply, "error"));
	} else if (json) {
		puts(json_object_to_json_string_ext(reply,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		rc = REPCTL_OK;
	} else {
		print_status(reply, verbose);
		rc = REPCTL_OK;
	}
	json_object_put(reply);
out:
	if (have_target)
		repctl_target_close(&t);
	return rc;
}
