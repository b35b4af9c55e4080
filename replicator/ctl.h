/*
 * The control socket: a UNIX stream socket (mode 0600) speaking
 * line-delimited JSON (docs/control.md). Each request is one JSON object
 * on one line with a "cmd" member; each gets exactly one reply line:
 * {"ok":true,...} or {"ok":false,"error":"..."}. Runs on the event loop
 * with its own small buffers, so a client that hangs or floods never
 * touches the data path.
 */
#ifndef REPD_CTL_H
#define REPD_CTL_H

#include <json-c/json.h>
#include <stdbool.h>

struct ctl;
struct engine;

/* One request being answered; valid until ctl_finish() for a deferred
 * one, else only during the handler call. */
struct ctl_call;

/* Handler results besides 0 and -errno. */
#define CTL_DEFER	1	/* answer later with ctl_finish(call, ...) */
#define CTL_SUBSCRIBE	2	/* reply now, then send every ctl_publish()
				 * line to this client until it leaves */

/*
 * A command handler: fill reply (an object; "ok" is added by ctl) from
 * req. Return 0, CTL_DEFER, CTL_SUBSCRIBE, or -errno with *ret_error set
 * to a static message. With CTL_DEFER, reply is discarded and the client
 * waits (reading no further requests) until ctl_finish().
 */
typedef int ctl_cmd_fn(void *ctx, struct ctl_call *call, json_object *req,
		       json_object *reply, const char **ret_error);

struct ctl_cmd {
	const char *name;
	ctl_cmd_fn *fn;
};

/*
 * Listen on path (a stale socket nobody listens on is replaced; one in
 * use is -EADDRINUSE). The socket is mode 0600; with group other than
 * (gid_t)-1 it belongs to that group with mode 0660. cmds is a table
 * ending with {NULL, NULL}, borrowed. 0 or -errno.
 */
int ctl_new(struct engine *eng, const char *path, gid_t group,
	    const struct ctl_cmd *cmds, void *ctx, struct ctl **ret);

/*
 * Answer a deferred call: err 0 with reply (taken; may be NULL for an
 * empty object), or -errno with why (copied). Works after the client
 * left too (the answer is then dropped).
 */
void ctl_finish(struct ctl_call *call, int err, const char *why,
		json_object *reply);

/* Send line (an object, not taken) to every subscriber. A subscriber
 * that falls more than 1 MiB behind is disconnected. */
void ctl_publish(struct ctl *c, json_object *line);

/* Stop accepting and close every client; frees once nothing is in
 * flight (ctl_stopped). */
void ctl_stop(struct ctl *c);
bool ctl_stopped(const struct ctl *c);
struct ctl *ctl_free(struct ctl *c);

#endif /* REPD_CTL_H */
