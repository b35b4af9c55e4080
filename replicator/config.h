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
#include <stddef.h>

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
	struct config_value direct_io;	/* overrides [resource] direct-io */
};

struct config {
	char path[PATH_MAX];		/* the file, for messages */
	struct config_value name;	/* resource name = NBD export name */
	struct config_value description;
	struct config_value direct_io;	/* yes|no, default yes */
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

/* Effective direct-io setting for a node (node overrides resource). */
bool config_direct_io(const struct config *cfg, const struct config_node *n);

#endif /* REPD_CONFIG_H */
