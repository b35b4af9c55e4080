/*
 * Resource configuration: one INI file per resource, identical on every
 * node. [resource] holds resource-wide keys, [node NAME] one host each.
 * Parsing is done with inih; every key remembers its line so that errors
 * found later (a missing disk, a port in use) can name file, line and key.
 */
#ifndef REPD_CONFIG_H
#define REPD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "handler.h"

#define CONFIG_MAX_NODES	8
#define CONFIG_NAME_MAX		64	/* resource and node names */
#define CONFIG_TEXT_MAX		256	/* descriptions, addresses */

struct config_value {
	char text[PATH_MAX];		/* raw value as written */
	unsigned line;			/* 0 = not set */
};

struct config_node {
	char name[CONFIG_NAME_MAX];
	unsigned line;			/* line of the [node NAME] header */
	struct config_value disk;	/* backing file or block device */
	struct config_value nbd;	/* HOST:PORT, [V6]:PORT or unix:PATH */
	struct config_value control;	/* control socket path */
	struct config_value control_group; /* group that may use it too */
	struct config_value direct_io;	/* overrides [resource] direct-io */
	struct config_value busy_poll;	/* overrides [resource] busy-poll */
	struct config_value cpu;	/* overrides [resource] cpu */
	struct config_value meta;	/* "internal" (default) or a path */
	struct config_value address;	/* replication endpoint HOST:PORT */
	struct config_value initial_role; /* primary|secondary at start */
};

struct config {
	char path[PATH_MAX];		/* the file, for messages */
	unsigned resource_line;		/* line of [resource], 0 if none */
	struct config_value name;	/* resource name = NBD export name */
	struct config_value description;
	struct config_value direct_io;	/* yes|no, default yes */
	struct config_value busy_poll;	/* microseconds or auto (default) */
	struct config_value cpu;	/* CPU number, or "any" (default) */
	struct config_value protocol;	/* A|B|C, default C */
	struct config_value secret;	/* shared secret for the peer link */
	struct config_value compression; /* none|lz4 */
	struct config_value data_integrity; /* none|crc32c */
	struct config_value ping_interval; /* seconds, default 1 */
	struct config_value timeout;	/* seconds, default 5 */
	struct config_value on_peer_loss; /* continue|suspend */
	struct config_value secondary_reads; /* yes|no, default no */
	struct config_value resync_rate;	/* bytes/s ceiling, K/M/G */
	struct config_value resync_checksum;	/* yes|no, default no */
	struct config_value on_io_error;	/* detach|fail, default detach */
	/* [handlers]: absolute path per enum handler_event ("on-" + its
	 * handler_event_name() is the key), and the kill timeout. */
	struct config_value handler[HANDLER_EVENT_COUNT];
	struct config_value handler_timeout; /* whole seconds, default 30 */
	struct config_node nodes[CONFIG_MAX_NODES];
	unsigned n_nodes;
};

/*
 * Parse and check a config file. On error returns -EINVAL (or -errno for
 * I/O errors) and writes one line "FILE:LINE: what" into err.
 */
int config_load(const char *path, struct config *ret, char *err, size_t errlen);

/* The node section called name, or NULL. */
const struct config_node *config_find_node(const struct config *cfg,
					   const char *name);

/* Parse yes/no/true/false/on/off/1/0. 0 or -EINVAL. */
int config_parse_bool(const char *s, bool *ret);

/* Metadata location of a node: NULL for internal, else the path. */
const char *config_meta_path(const struct config_node *n);

/* Replication settings resolved from a loaded config (defaults
 * applied; config_load() already rejected invalid values). */
struct config_repl {
	char protocol;			/* 'A', 'B' or 'C' */
	bool lz4;
	bool crc32c;
	unsigned ping_ms, timeout_ms;
	bool suspend_on_loss;
	bool secondary_reads;
	uint64_t resync_rate;		/* bytes/s, 0 = no ceiling */
	bool resync_checksum;		/* compare hashes before sending */
	bool io_error_detach;		/* on-io-error = detach */
};
void config_get_repl(const struct config *cfg, struct config_repl *ret);

/* Handler settings from a loaded config (default timeout applied;
 * config_load() already checked that each path is an absolute path of an
 * executable file). ret->path[] borrows from cfg. */
void config_get_handlers(const struct config *cfg, struct handler_conf *ret);

/* The other node of a two-node resource, NULL when standalone. */
const struct config_node *config_peer_of(const struct config *cfg,
					 const struct config_node *n);

/* Index of n among the node sections (its node id). */
unsigned config_node_id(const struct config *cfg,
			const struct config_node *n);

/* Start-up role: true for primary. */
bool config_initial_primary(const struct config *cfg,
			    const struct config_node *n);

/* The value that applies to a node: its own if its section sets the key,
 * else the [resource] one (whose line is 0 when that is unset too). */
const struct config_value *config_effective(const struct config_value *node,
					    const struct config_value *res);

/* Effective direct-io setting for a node (node overrides resource). */
bool config_direct_io(const struct config *cfg, const struct config_node *n);

/*
 * Effective busy-poll in microseconds for a node (node overrides
 * resource). "auto", the default, depends on the store's mode as opened
 * (direct): 0 on O_DIRECT, where the wait is the disk and a spin only
 * burns CPU; CONFIG_BUSY_POLL_BUFFERED_US on the page cache, where a
 * request is served in a few microseconds and waking a halted CPU costs
 * more than that (on the VMs measured, QD1 4 KiB writes 2.5x faster and
 * less CPU per request in all; docs/design.md, "The event loop").
 */
#define CONFIG_BUSY_POLL_AUTO		UINT_MAX
#define CONFIG_BUSY_POLL_BUFFERED_US	50u
unsigned config_busy_poll_us(const struct config *cfg,
			     const struct config_node *n, bool direct);

/* Effective cpu setting for a node (node overrides resource): the CPU
 * number, CONFIG_CPU_ANY when neither sets one or it is "any", or
 * CONFIG_CPU_AUTO (one CPU while the load is narrow, see cpu_auto.h). */
#define CONFIG_CPU_ANY	(-1)
#define CONFIG_CPU_AUTO	(-2)
int config_cpu(const struct config *cfg, const struct config_node *n);

#endif /* REPD_CONFIG_H */
