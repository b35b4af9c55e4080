/*
 * repctl: the operator's tool. repctl.c dispatches a table of subcommands;
 * each subcommand parses its own options and returns an exit status
 * (enum repctl_exit). repctl_common.c holds what every subcommand shares:
 * finding this node in the config, parsing sizes, formatting.
 */
#ifndef REPD_REPCTL_H
#define REPD_REPCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "meta.h"

/* Exit statuses of repctl and of every subcommand function. */
enum repctl_exit {
	REPCTL_OK = 0,
	REPCTL_FAIL = 1,	/* the operation failed; a message says why */
	REPCTL_USAGE = 2,	/* bad command line or option value */
};

struct repctl_cmd;

/* A subcommand: argv[0] is the command name, options follow. Returns an
 * enum repctl_exit value. */
typedef int repctl_cmd_fn(const struct repctl_cmd *cmd, int argc,
			  char **argv);

struct repctl_cmd {
	const char *name;	/* "create-md" */
	repctl_cmd_fn *run;
	const char *summary;	/* one line for `repctl --help` */
	const char *usage;	/* the full text for `repctl CMD --help` */
};

/* The commands, implemented in repctl_md.c (and later files). */
repctl_cmd_fn repctl_create_md;
repctl_cmd_fn repctl_dump_md;
repctl_cmd_fn repctl_status;	/* repctl_ctl.c: over the control socket */
/* repctl_admin.c: state changes over the control socket */
repctl_cmd_fn repctl_admin;	/* promote, demote, connect, ... */
repctl_cmd_fn repctl_events;
repctl_cmd_fn repctl_wait_sync;

/*
 * Connect to the control socket at path and send one request line; the
 * socket times out after timeout_s seconds of silence. The fd, or -errno
 * after printing why.
 */
int repctl_ctl_connect(const struct repctl_cmd *cmd, const char *path,
		       const char *request, unsigned timeout_s);
/* One request, one reply (parsed; the caller puts it). NULL after
 * printing why. */
struct json_object;
struct json_object *repctl_ctl_call(const struct repctl_cmd *cmd,
				    const char *path, const char *request,
				    unsigned timeout_s);
/* Members of a reply: "-" / 0 / NULL when absent. */
const char *repctl_jstr(struct json_object *o, const char *k);
int64_t repctl_jint(struct json_object *o, const char *k);
struct json_object *repctl_jobj(struct json_object *o, const char *k);

/*
 * Print "Usage: repctl NAME ..." and the command's help to f. Call from a
 * subcommand for --help (f = stdout, then return REPCTL_OK) or for a bad
 * command line (f = stderr, then return REPCTL_USAGE).
 */
void repctl_usage(const struct repctl_cmd *cmd, FILE *f);

/* Print "repctl: CMD: message\n" to stderr. Returns REPCTL_FAIL. */
int repctl_fail(const struct repctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like repctl_fail, for a bad option value. Returns REPCTL_USAGE. */
int repctl_bad_usage(const struct repctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The node a command works on, as named by --config and --node. */
struct repctl_target {
	struct config *cfg;		/* owned; loaded from --config */
	const struct config_node *node;	/* points into cfg */
	uint32_t node_id;		/* index of node's section in cfg */
	struct meta_location loc;	/* metadata; path borrows from cfg */
};

/*
 * Load config_path and find node_name in it, or, when node_name is NULL,
 * the node named like this host's short name (gethostname up to the first
 * dot). On failure prints one line naming the file (and the nodes it has)
 * to stderr and returns -errno; *ret is then empty and needs no close.
 * Call repctl_target_close() after a 0.
 */
int repctl_target_open(const struct repctl_cmd *cmd, const char *config_path,
		       const char *node_name, struct repctl_target *ret);
void repctl_target_close(struct repctl_target *t);

/*
 * Parse a byte count: decimal digits with an optional binary suffix K, M,
 * G or T (case-insensitive; "KiB" and "KB" are read as K). 0, -EINVAL
 * (not a number) or -ERANGE (does not fit in 64 bits).
 */
int repctl_parse_size(const char *s, uint64_t *ret);

/* "256 MiB", "1.5 GiB", "512 bytes" into buf (for human output). Returns
 * buf. */
const char *repctl_human_size(uint64_t bytes, char *buf, size_t len);

/* Size in bytes of a block device or regular file at path. 0 or -errno. */
int repctl_file_size(const char *path, uint64_t *ret);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" of a 16-byte UUID (37 bytes
 * incl. the NUL, at least). Returns buf. */
const char *repctl_uuid_str(const uint8_t *uuid, char *buf, size_t len);

#endif /* REPD_REPCTL_H */
