/*
 * What every repctl subcommand shares: usage and error lines, finding
 * this node in the config, sizes and UUIDs in text.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repctl.h"

void repctl_usage(const struct repctl_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: repctl %s %s", cmd->name, cmd->usage);
}

static void vmsg(const struct repctl_cmd *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "repctl: %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int repctl_fail(const struct repctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	return REPCTL_FAIL;
}

int repctl_bad_usage(const struct repctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'repctl %s --help'.\n", cmd->name);
	return REPCTL_USAGE;
}

/* "a, b, c" of the config's node names into buf. */
static void node_names(const struct config *cfg, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < cfg->n_nodes && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s",
				 i ? ", " : "", cfg->nodes[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int repctl_target_open(const struct repctl_cmd *cmd, const char *config_path,
		       const char *node_name, struct repctl_target *ret)
{
	char err[PATH_MAX + 256], host[256], names[CONFIG_MAX_NODES *
						   (CONFIG_NAME_MAX + 2)];
	struct repctl_target t = { 0 };
	int r;

	t.cfg = calloc(1, sizeof(*t.cfg));
	if (!t.cfg) {
		repctl_fail(cmd, "out of memory");
		return -ENOMEM;
	}
	r = config_load(config_path, t.cfg, err, sizeof(err));
	if (r < 0) {
		repctl_fail(cmd, "%s", err);
		goto fail;
	}
	if (!node_name) {
		if (gethostname(host, sizeof(host)) < 0) {
			r = -errno;
			repctl_fail(cmd, "no --node given and gethostname "
				    "failed: %s", strerror(-r));
			goto fail;
		}
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		node_name = host;
	}
	t.node = config_find_node(t.cfg, node_name);
	if (!t.node) {
		r = -ENOENT;
		node_names(t.cfg, names, sizeof(names));
		repctl_fail(cmd, "%s: no [node %s] section%s (nodes: %s)",
			    t.cfg->path, node_name,
			    node_name == host ? " for this host; use --node" :
			    "", names);
		goto fail;
	}
	/* the node id is the position of its section, the same on every
	 * node because the config file is */
	t.node_id = (uint32_t)(t.node - t.cfg->nodes);
	t.loc.path = config_meta_path(t.node);
	t.loc.internal = t.loc.path == NULL;
	if (t.loc.internal)
		t.loc.path = t.node->disk.text;
	*ret = t;
	return 0;
fail:
	free(t.cfg);
	memset(ret, 0, sizeof(*ret));
	return r;
}

void repctl_target_close(struct repctl_target *t)
{
	free(t->cfg);
	memset(t, 0, sizeof(*t));
}

int repctl_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	switch (toupper((unsigned char)*p)) {
	case '\0':
		break;
	case 'K': mult = UINT64_C(1) << 10; break;
	case 'M': mult = UINT64_C(1) << 20; break;
	case 'G': mult = UINT64_C(1) << 30; break;
	case 'T': mult = UINT64_C(1) << 40; break;
	default:
		return -EINVAL;
	}
	if (*p) {
		p++;
		if (strcasecmp(p, "ib") == 0 || strcasecmp(p, "b") == 0)
			p += strlen(p);
		if (*p)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

const char *repctl_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = (double)bytes;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (bytes % (UINT64_C(1) << (10 * (u + 1))) == 0)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.2f %s", v, units[u]);
	return buf;
}

int repctl_file_size(const char *path, uint64_t *ret)
{
	struct stat st;
	uint64_t size;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISBLK(st.st_mode))
		r = ioctl(fd, BLKGETSIZE64, &size) < 0 ? -errno : 0;
	else if (S_ISREG(st.st_mode))
		size = (uint64_t)st.st_size;
	else
		r = -ENOTBLK;
	close(fd);
	if (r == 0)
		*ret = size;
	return r;
}

const char *repctl_uuid_str(const uint8_t *u, char *buf, size_t len)
{
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
		 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	return buf;
}
