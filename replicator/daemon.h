/*
 * The daemon's pieces, shared by main.c (start-up, loop, shutdown) and
 * commands.c (the control commands and the state the operator sees).
 */
#ifndef REPD_DAEMON_H
#define REPD_DAEMON_H

#include <stdbool.h>

#include "config.h"
#include "ctl.h"
#include "engine.h"
#include "nbd_handshake.h"
#include "server.h"

struct link;
struct meta;
struct handlers;

/* What an operator sees; the strings are static (compare by pointer). */
struct node_view {
	const char *role;		/* "primary", "secondary" */
	const char *disk;		/* "UpToDate", "Inconsistent", ... */
	const char *conn;		/* "Connected", "StandAlone", ... */
	const char *peer_role;		/* "primary", "secondary", "unknown" */
	const char *peer_disk;		/* as disk, or "DUnknown" */
};

struct daemon_state {
	struct engine *eng;
	struct server *srv;
	struct link *link;		/* NULL when standalone */
	struct ctl *ctl;
	struct meta *meta;
	struct handlers *handlers;	/* NULL if none configured */
	const struct config *cfg;
	const struct config_node *node, *peer;
	struct nbd_export *export;	/* what new NBD clients get */
	bool secondary_reads;		/* a secondary exports read-only */
	char refuse_msg[NBD_MAX_STRING];
	bool primary;
	char protocol;
	struct engine_op sig_op;
	int sig_fd;
	struct engine_op tick_op;	/* 1 s: handler timeouts, deadlines */
	struct __kernel_timespec tick_ts;
	bool tick_pending;
	struct engine_op drain_timer_op;
	struct __kernel_timespec drain_ts;
	bool stopping;
	enum server_drain_phase phase;
	/* demote --force waits for the NBD clients to go */
	struct ctl_call *demote_call;
	uint64_t demote_close_ms;	/* end of the ESHUTDOWN grace period */
	uint64_t demote_deadline_ms;
	/* the last state published (events, log lines, handlers) */
	struct node_view last;
	bool last_valid;
	uint64_t last_syncs_done;
	bool last_rs_active;
};

/* The control commands (a {NULL, NULL}-terminated table). */
extern const struct ctl_cmd daemon_ctl_cmds[];

/* Set the NBD export's flags for the current role. */
void daemon_apply_role(struct daemon_state *d);

/* Compute what the operator sees now. */
void daemon_view(const struct daemon_state *d, struct node_view *ret);

/* After every loop iteration: log, publish and hand to the handlers
 * any change of state; finish a demote waiting for its clients. */
void daemon_poll(struct daemon_state *d);

/* server_params.on_detach: the local disk failed (ctx: the daemon). */
void daemon_on_detach(void *ctx);

/* Shutting down: answer anything still waiting. */
void daemon_abort_calls(struct daemon_state *d);

#endif /* REPD_DAEMON_H */
