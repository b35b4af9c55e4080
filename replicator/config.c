/*
 * INI config loading on top of inih. inih does the lexing; we count lines
 * through our own reader so every key and section keeps its line number.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

struct parse_state {
	struct config *cfg;
	FILE *f;
	unsigned line;			/* line most recently read */
	unsigned section_line;		/* line of the last [header] */
	char *err;
	size_t errlen;
	bool failed;
};

static char *counting_reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	char *s = fgets(str, num, ps->f);
	const char *p = s;

	if (!s)
		return NULL;
	ps->line++;
	while (p && (*p == ' ' || *p == '\t'))
		p++;
	if (p && *p == '[') {
		ps->section_line = ps->line;
		if (strncmp(p, "[resource]", 10) == 0 &&
		    !ps->cfg->resource_line)
			ps->cfg->resource_line = ps->line;
	}
	return s;
}

static int fail(struct parse_state *ps, const char *fmt, const char *a,
		const char *b)
{
	if (!ps->failed)
		snprintf(ps->err, ps->errlen, "%s:%u: ", ps->cfg->path, ps->line);
	if (!ps->failed) {
		size_t n = strlen(ps->err);

		snprintf(ps->err + n, ps->errlen - n, fmt, a, b);
	}
	ps->failed = true;
	return 0;	/* tells inih to stop */
}

static int set_value(struct parse_state *ps, struct config_value *v,
		     const char *section, const char *key, const char *value)
{
	if (v->line)
		return fail(ps, "duplicate key '%s' in [%s]", key, section);
	if (strlen(value) >= sizeof(v->text))
		return fail(ps, "value of '%s' in [%s] is too long", key,
			    section);
	strcpy(v->text, value);
	v->line = ps->line;
	return 1;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CONFIG_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

static struct config_node *node_for_section(struct parse_state *ps,
					    const char *section)
{
	struct config *cfg = ps->cfg;
	const char *name = section + 5;
	unsigned i;

	for (i = 0; i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].name, name) == 0)
			return &cfg->nodes[i];
	return NULL;
}

static int handle_node_key(struct parse_state *ps, const char *section,
			   const char *key, const char *value)
{
	struct config *cfg = ps->cfg;
	struct config_node *n = node_for_section(ps, section);

	if (!n) {
		if (!valid_name(section + 5))
			return fail(ps, "bad node name in [%s]%s", section, "");
		if (cfg->n_nodes == CONFIG_MAX_NODES)
			return fail(ps, "too many node sections ([%s])%s",
				    section, "");
		n = &cfg->nodes[cfg->n_nodes++];
		strcpy(n->name, section + 5);
		n->line = ps->section_line;
	} else if (n->line != ps->section_line) {
		return fail(ps, "section [%s] appears twice%s", section, "");
	}
	if (strcmp(key, "disk") == 0)
		return set_value(ps, &n->disk, section, key, value);
	if (strcmp(key, "nbd") == 0)
		return set_value(ps, &n->nbd, section, key, value);
	if (strcmp(key, "control") == 0)
		return set_value(ps, &n->control, section, key, value);
	if (strcmp(key, "control-group") == 0)
		return set_value(ps, &n->control_group, section, key, value);
	if (strcmp(key, "direct-io") == 0)
		return set_value(ps, &n->direct_io, section, key, value);
	if (strcmp(key, "busy-poll") == 0)
		return set_value(ps, &n->busy_poll, section, key, value);
	if (strcmp(key, "cpu") == 0)
		return set_value(ps, &n->cpu, section, key, value);
	if (strcmp(key, "meta") == 0)
		return set_value(ps, &n->meta, section, key, value);
	if (strcmp(key, "address") == 0)
		return set_value(ps, &n->address, section, key, value);
	if (strcmp(key, "initial-role") == 0)
		return set_value(ps, &n->initial_role, section, key, value);
	return fail(ps, "unknown key '%s' in [%s]", key, section);
}

static int handle_resource_key(struct parse_state *ps, const char *key,
			       const char *value)
{
	struct config *cfg = ps->cfg;

	if (strcmp(key, "name") == 0)
		return set_value(ps, &cfg->name, "resource", key, value);
	if (strcmp(key, "description") == 0)
		return set_value(ps, &cfg->description, "resource", key, value);
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "direct-io", offsetof(struct config, direct_io) },
		{ "busy-poll", offsetof(struct config, busy_poll) },
		{ "cpu", offsetof(struct config, cpu) },
		{ "protocol", offsetof(struct config, protocol) },
		{ "secret", offsetof(struct config, secret) },
		{ "compression", offsetof(struct config, compression) },
		{ "data-integrity", offsetof(struct config, data_integrity) },
		{ "ping-interval", offsetof(struct config, ping_interval) },
		{ "timeout", offsetof(struct config, timeout) },
		{ "on-peer-loss", offsetof(struct config, on_peer_loss) },
		{ "secondary-reads", offsetof(struct config, secondary_reads) },
		{ "resync-rate", offsetof(struct config, resync_rate) },
		{ "resync-checksum", offsetof(struct config, resync_checksum) },
		{ "on-io-error", offsetof(struct config, on_io_error) },
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].key) == 0)
			return set_value(ps, (struct config_value *)(void *)
					 ((char *)cfg + keys[i].off),
					 "resource", key, value);
	return fail(ps, "unknown key '%s' in [%s]", key, "resource");
}

static int handle_handlers_key(struct parse_state *ps, const char *key,
			       const char *value)
{
	struct config *cfg = ps->cfg;
	unsigned e;

	if (strcmp(key, "timeout") == 0)
		return set_value(ps, &cfg->handler_timeout, "handlers", key,
				 value);
	for (e = 0; e < HANDLER_EVENT_COUNT; e++)
		if (strncmp(key, "on-", 3) == 0 &&
		    strcmp(key + 3, handler_event_name(e)) == 0)
			return set_value(ps, &cfg->handler[e], "handlers", key,
					 value);
	return fail(ps, "unknown key '%s' in [%s]", key, "handlers");
}

static int on_ini_key(void *user, const char *section, const char *key,
		       const char *value)
{
	struct parse_state *ps = user;

	if (!key)	/* a section header with no keys yet */
		return 1;
	if (strcmp(section, "resource") == 0) {
		if (!ps->cfg->resource_line)
			ps->cfg->resource_line = ps->section_line;
		return handle_resource_key(ps, key, value);
	}
	if (strncmp(section, "node ", 5) == 0)
		return handle_node_key(ps, section, key, value);
	if (strcmp(section, "handlers") == 0)
		return handle_handlers_key(ps, key, value);
	return fail(ps, "unknown section [%s] (key '%s')", section, key);
}

int config_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int check_bool(struct config *cfg, const struct config_value *v,
		      const char *key, char *err, size_t errlen)
{
	bool b;

	if (!v->line || config_parse_bool(v->text, &b) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: '%s' must be yes or no, not '%s'",
		 cfg->path, v->line, key, v->text);
	return -EINVAL;
}

static int require(struct config *cfg, const struct config_value *v,
		   unsigned section_line, const char *section,
		   const char *key, char *err, size_t errlen)
{
	if (v->line)
		return 0;
	snprintf(err, errlen, "%s:%u: [%s] is missing required key '%s'",
		 cfg->path, section_line, section, key);
	return -EINVAL;
}

/* v must be one of the NULL-terminated choices (case-insensitive). */
static int check_choice(struct config *cfg, const struct config_value *v,
			const char *key, const char *const *choices,
			const char *expect, char *err, size_t errlen)
{
	size_t i;

	if (!v->line)
		return 0;
	for (i = 0; choices[i]; i++)
		if (strcasecmp(v->text, choices[i]) == 0)
			return 0;
	snprintf(err, errlen, "%s:%u: '%s' must be %s, not '%s'", cfg->path,
		 v->line, key, expect, v->text);
	return -EINVAL;
}

/* Seconds as a decimal number, 0.1 .. 3600. */
static int parse_seconds_ms(const char *s, unsigned *ret)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || d < 0.1 || d > 3600)
		return -EINVAL;
	*ret = (unsigned)(d * 1000 + 0.5);
	return 0;
}

static int check_seconds(struct config *cfg, const struct config_value *v,
			 const char *key, char *err, size_t errlen)
{
	unsigned ms;

	if (!v->line || parse_seconds_ms(v->text, &ms) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: '%s' must be a number of seconds "
		 "between 0.1 and 3600, not '%s'", cfg->path, v->line, key,
		 v->text);
	return -EINVAL;
}

/* A whole number 0 .. max in decimal, no sign, no unit. -EINVAL. */
static int parse_whole(const char *s, unsigned long max, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Microseconds of busy polling: a whole number 0 .. BUSY_POLL_MAX_US, or
 * "auto" (CONFIG_BUSY_POLL_AUTO): decided by the store's mode. */
#define BUSY_POLL_MAX_US	1000u
static int parse_busy_poll(const char *s, unsigned *ret)
{
	unsigned long v;
	int r;

	if (strcmp(s, "auto") == 0) {
		*ret = CONFIG_BUSY_POLL_AUTO;
		return 0;
	}
	r = parse_whole(s, BUSY_POLL_MAX_US, &v);
	if (r == 0)
		*ret = (unsigned)v;
	return r;
}

static int check_busy_poll(struct config *cfg, const struct config_value *v,
			   char *err, size_t errlen)
{
	unsigned us;

	if (!v->line || parse_busy_poll(v->text, &us) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: 'busy-poll' must be 'auto' or a whole "
		 "number of microseconds from 0 to %u, not '%s'", cfg->path,
		 v->line, BUSY_POLL_MAX_US, v->text);
	return -EINVAL;
}

/* A CPU number 0 .. CONFIG_CPU_MAX, or "any" (-1): no pinning. Whether
 * the CPU exists is for start-up to find out, on the host it runs on. */
#define CONFIG_CPU_MAX	1023
static int parse_cpu(const char *s, int *ret)
{
	unsigned long v;
	int r;

	if (strcmp(s, "any") == 0) {
		*ret = CONFIG_CPU_ANY;
		return 0;
	}
	if (strcmp(s, "auto") == 0) {
		*ret = CONFIG_CPU_AUTO;
		return 0;
	}
	r = parse_whole(s, CONFIG_CPU_MAX, &v);
	if (r == 0)
		*ret = (int)v;
	return r;
}

static int check_cpu(struct config *cfg, const struct config_value *v,
		     char *err, size_t errlen)
{
	int cpu;

	if (!v->line || parse_cpu(v->text, &cpu) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: 'cpu' must be a CPU number from 0 to "
		 "%u, 'any' or 'auto', not '%s'", cfg->path, v->line,
		 CONFIG_CPU_MAX, v->text);
	return -EINVAL;
}

/* "0", "500K", "100M", "1G" (powers of 1024): bytes. -EINVAL. */
static int parse_rate(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end || v > (1ull << 40))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int check_rate(const struct config *cfg, const struct config_value *v,
		      const char *key, char *err, size_t errlen)
{
	uint64_t b;

	if (!v->line || parse_rate(v->text, &b) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: '%s' must be bytes per second with an "
		 "optional K, M or G suffix (0: no limit), not '%s'", cfg->path,
		 v->line, key, v->text);
	return -EINVAL;
}

static int check_repl(struct config *cfg, char *err, size_t errlen)
{
	static const char *const protocols[] = { "A", "B", "C", NULL };
	static const char *const comp[] = { "none", "lz4", NULL };
	static const char *const integ[] = { "none", "crc32c", NULL };
	static const char *const loss[] = { "continue", "suspend", NULL };
	static const char *const roles[] = { "primary", "secondary", NULL };
	static const char *const ioerr[] = { "detach", "fail", NULL };
	struct config_repl rp;
	unsigned i;
	int r;

	r = check_choice(cfg, &cfg->protocol, "protocol", protocols,
			 "A, B or C", err, errlen);
	if (r == 0)
		r = check_choice(cfg, &cfg->compression, "compression", comp,
				 "none or lz4", err, errlen);
	if (r == 0)
		r = check_choice(cfg, &cfg->data_integrity, "data-integrity",
				 integ, "none or crc32c", err, errlen);
	if (r == 0)
		r = check_choice(cfg, &cfg->on_peer_loss, "on-peer-loss",
				 loss, "continue or suspend", err, errlen);
	if (r == 0)
		r = check_seconds(cfg, &cfg->ping_interval, "ping-interval",
				  err, errlen);
	if (r == 0)
		r = check_seconds(cfg, &cfg->timeout, "timeout", err, errlen);
	if (r == 0)
		r = check_bool(cfg, &cfg->secondary_reads, "secondary-reads",
			       err, errlen);
	if (r == 0)
		r = check_bool(cfg, &cfg->resync_checksum, "resync-checksum",
			       err, errlen);
	if (r == 0)
		r = check_rate(cfg, &cfg->resync_rate, "resync-rate", err,
			       errlen);
	if (r == 0)
		r = check_choice(cfg, &cfg->on_io_error, "on-io-error", ioerr,
				 "detach or fail", err, errlen);
	for (i = 0; r == 0 && i < cfg->n_nodes; i++)
		r = check_choice(cfg, &cfg->nodes[i].initial_role,
				 "initial-role", roles, "primary or secondary",
				 err, errlen);
	if (r < 0)
		return r;
	config_get_repl(cfg, &rp);
	if ((cfg->timeout.line || cfg->ping_interval.line) &&
	    rp.timeout_ms <= rp.ping_ms) {
		snprintf(err, errlen, "%s:%u: 'timeout' (default 5) must be "
			 "longer than 'ping-interval'", cfg->path,
			 cfg->timeout.line ? cfg->timeout.line :
			 cfg->ping_interval.line);
		return -EINVAL;
	}
	if (cfg->n_nodes > 2) {
		snprintf(err, errlen, "%s:%u: [node %s]: a resource has at "
			 "most two nodes", cfg->path, cfg->nodes[2].line,
			 cfg->nodes[2].name);
		return -EINVAL;
	}
	if (cfg->n_nodes < 2)
		return 0;
	for (i = 0; i < 2; i++) {
		char sec[CONFIG_NAME_MAX + 8];

		snprintf(sec, sizeof(sec), "node %s", cfg->nodes[i].name);
		r = require(cfg, &cfg->nodes[i].address, cfg->nodes[i].line,
			    sec, "address", err, errlen);
		if (r < 0)
			return r;
	}
	if (!cfg->secret.line || !cfg->secret.text[0]) {
		snprintf(err, errlen, "%s: [resource] needs 'secret' (the "
			 "shared secret that authenticates the peers)",
			 cfg->path);
		return -EINVAL;
	}
	if (strlen(cfg->secret.text) > 256) {
		snprintf(err, errlen, "%s:%u: 'secret' is longer than 256 "
			 "bytes", cfg->path, cfg->secret.line);
		return -EINVAL;
	}
	return 0;
}

/* [handlers] timeout: whole seconds, 1 .. HANDLER_TIMEOUT_MAX. */
static int parse_handler_timeout(const char *s, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > HANDLER_TIMEOUT_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Each handler is an absolute path of an executable regular file, checked
 * at load so that a typo shows at start, not at the first split brain
 * (handlers_run() still logs an exec failure: files change later). */
static int check_handlers(struct config *cfg, char *err, size_t errlen)
{
	const struct config_value *t = &cfg->handler_timeout;
	unsigned e, s;

	for (e = 0; e < HANDLER_EVENT_COUNT; e++) {
		const struct config_value *v = &cfg->handler[e];
		const char *name = handler_event_name(e);
		struct stat st;

		if (!v->line)
			continue;
		if (v->text[0] != '/') {
			snprintf(err, errlen, "%s:%u: 'on-%s' must be an "
				 "absolute path, not '%s'", cfg->path,
				 v->line, name, v->text);
			return -EINVAL;
		}
		if (stat(v->text, &st) < 0) {
			snprintf(err, errlen, "%s:%u: on-%s: %s: %s",
				 cfg->path, v->line, name, v->text,
				 strerror(errno));
			return -EINVAL;
		}
		if (!S_ISREG(st.st_mode) || access(v->text, X_OK) < 0) {
			snprintf(err, errlen, "%s:%u: on-%s: %s is not an "
				 "executable file", cfg->path, v->line, name,
				 v->text);
			return -EINVAL;
		}
	}
	if (t->line && parse_handler_timeout(t->text, &s) < 0) {
		snprintf(err, errlen, "%s:%u: 'timeout' in [handlers] must be "
			 "a whole number of seconds between 1 and %d, not "
			 "'%s'", cfg->path, t->line, HANDLER_TIMEOUT_MAX,
			 t->text);
		return -EINVAL;
	}
	return 0;
}

/* Checks that need the whole file: required keys, value syntax. */
static int check_config(struct config *cfg, char *err, size_t errlen)
{
	unsigned i;
	int r;

	if (!cfg->name.line && cfg->resource_line) {
		snprintf(err, errlen, "%s:%u: [resource] is missing required "
			 "key 'name'", cfg->path, cfg->resource_line);
		return -EINVAL;
	}
	if (!cfg->name.line) {
		snprintf(err, errlen, "%s: no [resource] section (it needs at "
			 "least the key 'name')", cfg->path);
		return -EINVAL;
	}
	if (!valid_name(cfg->name.text)) {
		snprintf(err, errlen, "%s:%u: 'name' must be 1-%d characters "
			 "of A-Z a-z 0-9 . _ -", cfg->path, cfg->name.line,
			 CONFIG_NAME_MAX - 1);
		return -EINVAL;
	}
	if (strlen(cfg->description.text) >= CONFIG_TEXT_MAX) {
		snprintf(err, errlen, "%s:%u: 'description' is too long",
			 cfg->path, cfg->description.line);
		return -EINVAL;
	}
	r = check_bool(cfg, &cfg->direct_io, "direct-io", err, errlen);
	if (r == 0)
		r = check_busy_poll(cfg, &cfg->busy_poll, err, errlen);
	if (r == 0)
		r = check_cpu(cfg, &cfg->cpu, err, errlen);
	if (r < 0)
		return r;
	if (cfg->n_nodes == 0) {
		snprintf(err, errlen, "%s: no node section: each host needs "
			 "one, e.g. [node alpha] with disk, nbd and control",
			 cfg->path);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_nodes; i++) {
		struct config_node *n = &cfg->nodes[i];
		char sec[CONFIG_NAME_MAX + 8];

		snprintf(sec, sizeof(sec), "node %s", n->name);
		r = require(cfg, &n->disk, n->line, sec, "disk", err, errlen);
		if (r == 0)
			r = require(cfg, &n->nbd, n->line, sec, "nbd", err,
				    errlen);
		if (r == 0)
			r = require(cfg, &n->control, n->line, sec, "control",
				    err, errlen);
		if (r == 0)
			r = check_bool(cfg, &n->direct_io, "direct-io", err,
				       errlen);
		if (r == 0)
			r = check_busy_poll(cfg, &n->busy_poll, err, errlen);
		if (r == 0)
			r = check_cpu(cfg, &n->cpu, err, errlen);
		if (r < 0)
			return r;
	}
	r = check_repl(cfg, err, errlen);
	if (r < 0)
		return r;
	return check_handlers(cfg, err, errlen);
}

int config_load(const char *path, struct config *ret, char *err, size_t errlen)
{
	struct parse_state ps = { .cfg = ret, .err = err, .errlen = errlen };
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->path, sizeof(ret->path), "%s", path);
	ps.f = fopen(path, "re");
	if (!ps.f) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return r;
	}
	r = ini_parse_stream(counting_reader, &ps, on_ini_key, &ps);
	fclose(ps.f);
	if (ps.failed)
		return -EINVAL;
	if (r != 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected "
			 "'[section]' or 'key = value')", path, r);
		return -EINVAL;
	}
	return check_config(ret, err, errlen);
}

const struct config_node *config_find_node(const struct config *cfg,
					   const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].name, name) == 0)
			return &cfg->nodes[i];
	return NULL;
}

const char *config_meta_path(const struct config_node *n)
{
	if (!n->meta.line || strcmp(n->meta.text, "internal") == 0)
		return NULL;
	return n->meta.text;
}

const struct config_value *config_effective(const struct config_value *node,
					    const struct config_value *res)
{
	return node->line ? node : res;
}

bool config_direct_io(const struct config *cfg, const struct config_node *n)
{
	const struct config_value *v = config_effective(&n->direct_io,
							&cfg->direct_io);
	bool b = true;

	if (v->line)
		config_parse_bool(v->text, &b);
	return b;
}

unsigned config_busy_poll_us(const struct config *cfg,
			     const struct config_node *n, bool direct)
{
	const struct config_value *v = config_effective(&n->busy_poll,
							&cfg->busy_poll);
	unsigned us = CONFIG_BUSY_POLL_AUTO;

	if (v->line)
		parse_busy_poll(v->text, &us);
	if (us == CONFIG_BUSY_POLL_AUTO)
		us = direct ? 0 : CONFIG_BUSY_POLL_BUFFERED_US;
	return us;
}

int config_cpu(const struct config *cfg, const struct config_node *n)
{
	const struct config_value *v = config_effective(&n->cpu, &cfg->cpu);
	int cpu = CONFIG_CPU_ANY;

	if (v->line)
		parse_cpu(v->text, &cpu);
	return cpu;
}

void config_get_repl(const struct config *cfg, struct config_repl *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->protocol = cfg->protocol.line ?
			(char)(cfg->protocol.text[0] & ~0x20) : 'C';
	ret->lz4 = cfg->compression.line &&
		   strcasecmp(cfg->compression.text, "lz4") == 0;
	ret->crc32c = cfg->data_integrity.line &&
		      strcasecmp(cfg->data_integrity.text, "crc32c") == 0;
	ret->ping_ms = 1000;
	ret->timeout_ms = 5000;
	if (cfg->ping_interval.line)
		parse_seconds_ms(cfg->ping_interval.text, &ret->ping_ms);
	if (cfg->timeout.line)
		parse_seconds_ms(cfg->timeout.text, &ret->timeout_ms);
	ret->suspend_on_loss = cfg->on_peer_loss.line &&
		strcasecmp(cfg->on_peer_loss.text, "suspend") == 0;
	if (cfg->secondary_reads.line)
		config_parse_bool(cfg->secondary_reads.text,
				  &ret->secondary_reads);
	if (cfg->resync_rate.line)
		parse_rate(cfg->resync_rate.text, &ret->resync_rate);
	if (cfg->resync_checksum.line)
		config_parse_bool(cfg->resync_checksum.text,
				  &ret->resync_checksum);
	ret->io_error_detach = !cfg->on_io_error.line ||
			       strcasecmp(cfg->on_io_error.text, "fail") != 0;
}

const struct config_node *config_peer_of(const struct config *cfg,
					 const struct config_node *n)
{
	unsigned i;

	for (i = 0; i < cfg->n_nodes; i++)
		if (&cfg->nodes[i] != n)
			return &cfg->nodes[i];
	return NULL;
}

unsigned config_node_id(const struct config *cfg,
			const struct config_node *n)
{
	return (unsigned)(n - cfg->nodes);
}

bool config_initial_primary(const struct config *cfg,
			    const struct config_node *n)
{
	if (n->initial_role.line)
		return strcasecmp(n->initial_role.text, "primary") == 0;
	return cfg->n_nodes == 1;	/* standalone: primary */
}

void config_get_handlers(const struct config *cfg, struct handler_conf *ret)
{
	unsigned e;

	memset(ret, 0, sizeof(*ret));
	for (e = 0; e < HANDLER_EVENT_COUNT; e++)
		if (cfg->handler[e].line)
			ret->path[e] = cfg->handler[e].text;
	ret->timeout_s = HANDLER_TIMEOUT_DEFAULT;
	if (cfg->handler_timeout.line)
		parse_handler_timeout(cfg->handler_timeout.text,
				      &ret->timeout_s);
}
