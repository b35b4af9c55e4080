/*
 * Control socket on the event loop. One request is handled at a time per
 * client: its reply is sent before the next line is parsed, so replies
 * keep request order without a queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ctl.h"
#include "engine.h"
#include "log.h"
#include "netaddr.h"

#define CTL_MAX_CLIENTS	16
#define CTL_LINE_MAX	4096	/* longest request line */
#define CTL_BACKLOG_MAX	(1u << 20)	/* queued output per client */

struct ctl_call {
	struct ctl_client *cl;
};

struct ctl_client {
	struct ctl *ctl;
	int fd;
	unsigned id;
	bool used;
	bool recv_pending, send_pending;
	bool closing;			/* no more requests; close when idle */
	bool deferred;			/* a handler owes this client a reply */
	bool subscriber;		/* gets ctl_publish() lines */
	struct ctl_call call;
	struct engine_op recv_op, send_op;
	char in[CTL_LINE_MAX + 1];
	size_t in_len;
	/* Output: out is being sent and must not move; lines queued
	 * meanwhile collect in q and become out when it is done. */
	char *out, *q;
	size_t out_len, out_sent, q_len;
	struct iovec iov;
	struct msghdr msg;
};

struct ctl {
	struct engine *eng;
	int lfd;
	char path[108];
	struct engine_op accept_op;
	bool accept_pending;
	bool stopping;
	const struct ctl_cmd *cmds;
	void *ctx;
	unsigned next_id;
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

static void client_process(struct ctl_client *cl);
static void client_maybe_close(struct ctl_client *cl);
static void on_send(struct engine_op *op, int res);
static void client_arm_recv(struct ctl_client *cl);

static void client_maybe_close(struct ctl_client *cl)
{
	if (!cl->closing || cl->recv_pending || cl->send_pending ||
	    cl->deferred)
		return;
	close(cl->fd);
	free(cl->out);
	free(cl->q);
	cl->out = cl->q = NULL;
	cl->used = false;
}

static void send_out(struct ctl_client *cl)
{
	memset(&cl->msg, 0, sizeof(cl->msg));
	cl->iov.iov_base = cl->out + cl->out_sent;
	cl->iov.iov_len = cl->out_len - cl->out_sent;
	cl->msg.msg_iov = &cl->iov;
	cl->msg.msg_iovlen = 1;
	cl->send_op.cb = on_send;
	cl->send_pending = true;
	engine_sendmsg(cl->ctl->eng, &cl->send_op, cl->fd, &cl->msg,
		       MSG_NOSIGNAL);
}

/* Start sending the queue if nothing is in flight. */
static void kick_send(struct ctl_client *cl)
{
	if (cl->send_pending || !cl->q_len || cl->closing)
		return;
	free(cl->out);
	cl->out = cl->q;
	cl->out_len = cl->q_len;
	cl->out_sent = 0;
	cl->q = NULL;
	cl->q_len = 0;
	send_out(cl);
}

static void on_send(struct engine_op *op, int res)
{
	struct ctl_client *cl = container_of(op, struct ctl_client, send_op);

	cl->send_pending = false;
	if (res <= 0) {
		cl->closing = true;
		client_maybe_close(cl);
		return;
	}
	cl->out_sent += (size_t)res;
	if (cl->out_sent < cl->out_len) {
		send_out(cl);
		return;
	}
	kick_send(cl);
	client_process(cl);	/* the next buffered request, if any */
	client_maybe_close(cl);
}

/* Queue one line: s (n bytes) and a newline. */
static void client_queue(struct ctl_client *cl, const char *s, size_t n)
{
	char *q;

	if (cl->closing)
		return;
	if (cl->q_len + n + 1 > CTL_BACKLOG_MAX) {
		log_msg(LOG_WARNING, "control: client %u does not read its "
			"replies; disconnecting it", cl->id);
		cl->closing = true;
		shutdown(cl->fd, SHUT_RDWR);
		return;
	}
	q = realloc(cl->q, cl->q_len + n + 1);
	if (!q) {
		cl->closing = true;
		shutdown(cl->fd, SHUT_RDWR);
		return;
	}
	memcpy(q + cl->q_len, s, n);
	q[cl->q_len + n] = '\n';
	cl->q = q;
	cl->q_len += n + 1;
	kick_send(cl);
}

static const char *json_line(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Queue reply (takes ownership of the object). */
static void client_reply(struct ctl_client *cl, json_object *reply)
{
	const char *s = json_line(reply);

	client_queue(cl, s, strlen(s));
	json_object_put(reply);
}

static json_object *error_reply(const char *msg)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

/* Handle one request line: the reply object, or NULL when the handler
 * deferred it. */
static json_object *handle_line(struct ctl_client *cl, const char *line)
{
	struct ctl *c = cl->ctl;
	enum json_tokener_error jerr;
	json_object *req, *cmd, *reply;
	const struct ctl_cmd *k;
	const char *why = NULL;
	int r;

	req = json_tokener_parse_verbose(line, &jerr);
	if (!req)
		return error_reply("malformed JSON");
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(req);
		return error_reply("expected an object with a string \"cmd\"");
	}
	for (k = c->cmds; k->name; k++)
		if (strcmp(k->name, json_object_get_string(cmd)) == 0)
			break;
	if (!k->name) {
		json_object_put(req);
		return error_reply("unknown command");
	}
	reply = json_object_new_object();
	cl->call.cl = cl;
	r = k->fn(c->ctx, &cl->call, req, reply, &why);
	json_object_put(req);
	if (r < 0) {
		json_object_put(reply);
		return error_reply(why ? why : strerror(-r));
	}
	if (r == CTL_DEFER) {
		json_object_put(reply);
		cl->deferred = true;
		return NULL;
	}
	if (r == CTL_SUBSCRIBE)
		cl->subscriber = true;
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	return reply;
}

void ctl_finish(struct ctl_call *call, int err, const char *why,
		json_object *reply)
{
	struct ctl_client *cl = call->cl;

	if (!cl || !cl->deferred) {
		if (reply)
			json_object_put(reply);
		return;
	}
	cl->deferred = false;
	if (err < 0) {
		if (reply)
			json_object_put(reply);
		reply = error_reply(why ? why : strerror(-err));
	} else {
		if (!reply)
			reply = json_object_new_object();
		json_object_object_add(reply, "ok",
				       json_object_new_boolean(1));
	}
	client_reply(cl, reply);
	client_process(cl);
	client_maybe_close(cl);
}

void ctl_publish(struct ctl *c, json_object *line)
{
	const char *s = json_line(line);
	size_t n = strlen(s);
	unsigned i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];

		if (cl->used && cl->subscriber && !cl->closing) {
			client_queue(cl, s, n);
			client_maybe_close(cl);
		}
	}
}

/* Answer the first complete line in the buffer, if any. */
static void client_process(struct ctl_client *cl)
{
	char *nl;
	size_t used;

	if (cl->send_pending || cl->closing || cl->deferred)
		return;
	nl = memchr(cl->in, '\n', cl->in_len);
	if (!nl) {
		if (cl->in_len == CTL_LINE_MAX) {
			/* no line end within the limit: answer and hang up */
			client_reply(cl, error_reply("request line too long"));
			cl->closing = true;
			return;
		}
		client_arm_recv(cl);
		return;
	}
	*nl = '\0';
	used = (size_t)(nl - cl->in) + 1;
	if (used > 1) {	/* empty lines are ignored */
		json_object *reply = handle_line(cl, cl->in);

		if (reply)
			client_reply(cl, reply);
	}
	memmove(cl->in, cl->in + used, cl->in_len - used);
	cl->in_len -= used;
	if (!cl->send_pending && !cl->deferred)
		client_process(cl);
}

static void on_recv(struct engine_op *op, int res)
{
	struct ctl_client *cl = container_of(op, struct ctl_client, recv_op);

	cl->recv_pending = false;
	if (res <= 0 || cl->ctl->stopping) {
		cl->closing = true;
		client_maybe_close(cl);
		return;
	}
	cl->in_len += (size_t)res;
	client_process(cl);
	client_maybe_close(cl);
}

static void client_arm_recv(struct ctl_client *cl)
{
	if (cl->recv_pending || cl->closing)
		return;
	cl->recv_pending = true;
	cl->recv_op.cb = on_recv;
	engine_recv(cl->ctl->eng, &cl->recv_op, cl->fd, cl->in + cl->in_len,
		    CTL_LINE_MAX - cl->in_len, 0);
}

static void on_accept(struct engine_op *op, int res)
{
	struct ctl *c = container_of(op, struct ctl, accept_op);
	unsigned i;

	c->accept_pending = false;
	if (c->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res >= 0) {
		for (i = 0; i < CTL_MAX_CLIENTS && c->clients[i].used; i++)
			;
		if (i == CTL_MAX_CLIENTS) {
			log_msg(LOG_WARNING, "control: too many clients");
			close(res);
		} else {
			struct ctl_client *cl = &c->clients[i];

			memset(cl, 0, sizeof(*cl));
			cl->ctl = c;
			cl->fd = res;
			cl->used = true;
			cl->id = ++c->next_id;
			client_arm_recv(cl);
		}
	} else if (res != -ECANCELED) {
		log_errno(LOG_WARNING, res, "control: accept");
	}
	c->accept_pending = true;
	engine_accept(c->eng, &c->accept_op, c->lfd);
}

int ctl_new(struct engine *eng, const char *path, gid_t group,
	    const struct ctl_cmd *cmds, void *ctx, struct ctl **ret)
{
	struct ctl *c;
	struct netaddr a;
	char spec[128];

	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	snprintf(spec, sizeof(spec), "unix:%s", path);
	if (netaddr_parse(spec, &a) < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->eng = eng;
	c->cmds = cmds;
	c->ctx = ctx;
	snprintf(c->path, sizeof(c->path), "%s", path);
	/* only root (the owner) may talk to the daemon */
	{
		mode_t old = umask(0077);

		c->lfd = netaddr_listen(&a, 16);
		umask(old);
	}
	if (c->lfd < 0) {
		int r = c->lfd;

		free(c);
		return r;
	}
	/* created 0700 under the umask; a configured group may use it
	 * too: the mode opens only after the group changed, so no one else
	 * ever gets in */
	if (group != (gid_t)-1 ?
	    chown(path, (uid_t)-1, group) < 0 || chmod(path, 0660) < 0 :
	    chmod(path, 0600) < 0) {
		int r = -errno;

		close(c->lfd);
		unlink(path);
		free(c);
		return r;
	}
	c->accept_pending = true;
	c->accept_op.cb = on_accept;
	engine_accept(eng, &c->accept_op, c->lfd);
	*ret = c;
	return 0;
}

void ctl_stop(struct ctl *c)
{
	unsigned i;

	if (c->stopping)
		return;
	c->stopping = true;
	if (c->accept_pending)
		engine_cancel(c->eng, NULL, &c->accept_op);
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];

		if (!cl->used)
			continue;
		cl->closing = true;
		shutdown(cl->fd, SHUT_RDWR);
		if (cl->recv_pending)
			engine_cancel(c->eng, NULL, &cl->recv_op);
		client_maybe_close(cl);
	}
}

bool ctl_stopped(const struct ctl *c)
{
	unsigned i;

	if (c->accept_pending)
		return false;
	for (i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].used)
			return false;
	return true;
}

struct ctl *ctl_free(struct ctl *c)
{
	if (!c)
		return NULL;
	close(c->lfd);
	unlink(c->path);
	free(c);
	return NULL;
}
