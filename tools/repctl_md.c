/*
 * repctl create-md and dump-md: offline access to a node's metadata
 * through meta.h (the I/O) and md/ (the format). Neither needs repd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <blkid.h>
#include <json-c/json.h>

#include "md/md_al.h"
#include "md/md_bitmap.h"
#include "repctl.h"

#define HUMAN_LIST_MAX	64	/* ranges and extents listed in human mode */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void *alloc_blocks(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, MD_BLOCK_SIZE, n * MD_BLOCK_SIZE))
		return NULL;
	memset(p, 0, n * MD_BLOCK_SIZE);
	return p;
}

static const char *placement_name(enum md_placement p)
{
	switch (p) {
	case MD_PLACEMENT_INTERNAL:
		return "internal";
	case MD_PLACEMENT_EXTERNAL:
		return "external";
	}
	abort();
}

/* "was-primary clean-shutdown" (or "none") into buf. */
static const char *flags_str(uint32_t flags, char *buf, size_t len)
{
	size_t used = 0;
	uint32_t bit;

	buf[0] = '\0';
	for (bit = 1; bit && used < len; bit <<= 1) {
		const char *name;
		int n;

		if (!(flags & bit))
			continue;
		name = md_flag_name(bit);
		n = name ? snprintf(buf + used, len - used, "%s%s",
				    used ? " " : "", name) :
			   snprintf(buf + used, len - used, "%s0x%x",
				    used ? " " : "", bit);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!flags)
		snprintf(buf, len, "none");
	return buf;
}

/* ------------------------------------------------------------ create-md */

/*
 * Look for a filesystem, RAID/LVM/crypto signature or partition table on
 * path. 1 and a description in desc when found, 0 when none, -errno when
 * the probe could not run.
 */
static int probe_signature(const char *path, char *desc, size_t len)
{
	const char *type = NULL, *usage = NULL;
	blkid_probe pr;
	int r;

	errno = 0;
	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	r = blkid_do_safeprobe(pr);
	switch (r) {
	case 0:
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
			if (blkid_probe_lookup_value(pr, "USAGE", &usage,
						     NULL) < 0)
				usage = "other";
			snprintf(desc, len, "a %s (blkid TYPE=%s)",
				 strcmp(usage, "filesystem") == 0 ?
				 "filesystem" : strcmp(usage, "other") == 0 ?
				 "signature" : usage, type);
		} else if (blkid_probe_lookup_value(pr, "PTTYPE", &type,
						    NULL) == 0) {
			snprintf(desc, len, "a partition table (blkid "
				 "PTTYPE=%s)", type);
		} else {
			snprintf(desc, len, "a signature blkid recognises");
		}
		r = 1;
		break;
	case 1:
		r = 0;
		break;
	case -2:
		snprintf(desc, len, "several conflicting signatures (blkid "
			 "cannot tell which is current)");
		r = 1;
		break;
	default:
		r = -EIO;
		break;
	}
	blkid_free_probe(pr);
	return r;
}

/*
 * True if loc shows signs of repd metadata that meta_dev_open() could not
 * read: a superblock slot or an activity-log block (the ring sits next to
 * the slots; at most MD_AL_RING_MAX blocks) that starts with our magic.
 * Then it is damaged metadata, not foreign data.
 */
static bool has_md_magic(const struct meta_location *loc)
{
	const size_t n = MD_SB_SLOTS + MD_AL_RING_MAX;
	uint64_t size, end, off, sb_off;
	uint8_t *area = alloc_blocks(n);
	bool found = false;
	ssize_t got;
	size_t i;
	int fd;

	if (!area)
		return false;
	if (repctl_file_size(loc->path, &size) < 0 || size < MD_SB_AREA_SIZE)
		goto out;
	end = size / MD_BLOCK_SIZE * MD_BLOCK_SIZE;
	/* internal: [AL ring][sb0][sb1] end; external: [sb0][sb1][AL ring] */
	sb_off = loc->internal ? end - MD_SB_AREA_SIZE : 0;
	off = !loc->internal ? 0 :
	      end >= n * MD_BLOCK_SIZE ? end - n * MD_BLOCK_SIZE : 0;
	fd = open(loc->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	got = pread(fd, area, n * MD_BLOCK_SIZE, (off_t)off);
	close(fd);
	for (i = 0; got > 0 && (i + 1) * MD_BLOCK_SIZE <= (size_t)got; i++) {
		const uint8_t *b = area + i * MD_BLOCK_SIZE;
		bool is_sb = off + i * MD_BLOCK_SIZE >= sb_off &&
			     off + i * MD_BLOCK_SIZE < sb_off + MD_SB_AREA_SIZE;

		if (memcmp(b, is_sb ? MD_SB_MAGIC : MD_AL_MAGIC, 8) == 0)
			found = true;
	}
out:
	free(area);
	return found;
}

/* Parse a size option into *ret; a usage error names the option. */
static int size_opt(const struct repctl_cmd *cmd, const char *opt,
		    const char *arg, uint64_t *ret)
{
	int r = repctl_parse_size(arg, ret);

	if (r == -ERANGE)
		return repctl_bad_usage(cmd, "--%s %s: too large", opt, arg);
	if (r < 0)
		return repctl_bad_usage(cmd, "--%s %s: expected a number of "
					"bytes with an optional K, M, G or T "
					"suffix", opt, arg);
	return REPCTL_OK;
}

struct create_opts {
	const char *config, *node;
	bool force;
	struct md_params p;
	bool have_size;
	uint64_t size;		/* --size: external data size */
};

static int create_parse(const struct repctl_cmd *cmd, int argc, char **argv,
			struct create_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "granularity", required_argument, NULL, 'g' },
		{ "al-extent-size", required_argument, NULL, 'e' },
		{ "al-slots", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int opt, r;

	o->p = MD_PARAMS_DEFAULT;
	while ((opt = getopt_long(argc, argv, "c:n:fg:e:s:S:h", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c': o->config = optarg; break;
		case 'n': o->node = optarg; break;
		case 'f': o->force = true; break;
		case 'g':
			r = size_opt(cmd, "granularity", optarg, &v);
			if (r)
				return r;
			if (!is_pow2(v) || v < MD_GRANULARITY_MIN ||
			    v > MD_GRANULARITY_MAX)
				return repctl_bad_usage(cmd, "--granularity "
					"%s: must be a power of two from 4K "
					"to 1M", optarg);
			o->p.bm_granularity = (uint32_t)v;
			break;
		case 'e':
			r = size_opt(cmd, "al-extent-size", optarg, &v);
			if (r)
				return r;
			if (!is_pow2(v) || v < MD_AL_EXTENT_MIN ||
			    v > MD_AL_EXTENT_MAX)
				return repctl_bad_usage(cmd, "--al-extent-size"
					" %s: must be a power of two from 1M "
					"to 1G", optarg);
			o->p.al_extent_size = (uint32_t)v;
			break;
		case 's':
			r = repctl_parse_size(optarg, &v);
			if (r < 0 || v < MD_AL_SLOTS_MIN ||
			    v > MD_AL_SLOTS_MAX)
				return repctl_bad_usage(cmd, "--al-slots %s: "
					"must be a number from %u to %u",
					optarg, MD_AL_SLOTS_MIN,
					MD_AL_SLOTS_MAX);
			o->p.al_slots = (uint32_t)v;
			break;
		case 'S':
			r = size_opt(cmd, "size", optarg, &o->size);
			if (r)
				return r;
			if (o->size == 0 || o->size % MD_BLOCK_SIZE)
				return repctl_bad_usage(cmd, "--size %s: must "
					"be a non-zero multiple of 4K",
					optarg);
			o->have_size = true;
			break;
		case 'h':
			repctl_usage(cmd, stdout);
			return -1;	/* done: exit 0 */
		default:	/* getopt printed what was wrong */
			fprintf(stderr, "Try 'repctl %s --help'.\n",
				cmd->name);
			return REPCTL_USAGE;
		}
	}
	if (optind != argc)
		return repctl_bad_usage(cmd, "unexpected argument '%s'",
					argv[optind]);
	if (!o->config)
		return repctl_bad_usage(cmd, "--config FILE is required");
	return REPCTL_OK;
}

/*
 * Refuse when loc already holds metadata (valid, damaged, newer or for
 * another size) unless force. REPCTL_OK to go on.
 */
static int check_existing(const struct repctl_cmd *cmd,
			  const struct repctl_target *t, bool force)
{
	struct meta_dev d;
	char err[PATH_MAX + 256], uuid[40], fl[200], sz[32];
	int r;

	r = meta_dev_open(&t->loc, &d, err, sizeof(err));
	if (r == 0) {
		repctl_uuid_str(d.sb.resource_uuid, uuid, sizeof(uuid));
		flags_str(d.sb.flags, fl, sizeof(fl));
		repctl_human_size(d.sb.data_size, sz, sizeof(sz));
		meta_dev_close(&d);
		if (force) {
			fprintf(stderr, "repctl: %s: overwriting metadata of "
				"resource %s, node id %u\n", cmd->name, uuid,
				d.sb.node_id);
			return REPCTL_OK;
		}
		return repctl_fail(cmd, "%s already holds valid %s metadata "
				   "(resource %s, node id %u, data %s, "
				   "superblock seq %" PRIu64 ", flags %s); "
				   "--force overwrites it", t->loc.path,
				   placement_name(d.sb.params.placement),
				   uuid, d.sb.node_id, sz, d.sb.seq, fl);
	}
	switch (r) {
	case -ENODATA:	/* zeroes where the superblocks go: the normal case */
	case -EAGAIN:	/* too small: meta_create says so */
		return REPCTL_OK;
	case -ENOENT:
		/* a missing external file is created; a missing disk not */
		return t->loc.internal ? repctl_fail(cmd, "%s", err) :
					 REPCTL_OK;
	case -EBADMSG:
		if (!has_md_magic(&t->loc))
			return REPCTL_OK;	/* foreign data; blkid judges */
		break;
	case -EPROTO:
	case -EMSGSIZE:
	case -EINVAL:
		break;
	default:
		return repctl_fail(cmd, "%s", err);
	}
	if (force) {
		fprintf(stderr, "repctl: %s: overwriting: %s\n", cmd->name,
			err);
		return REPCTL_OK;
	}
	return repctl_fail(cmd, "%s; --force overwrites it", err);
}

/* Refuse when the metadata target holds a filesystem etc., unless force. */
static int check_signature(const struct repctl_cmd *cmd,
			   const struct repctl_target *t, bool force)
{
	char desc[256];
	int r;

	if (access(t->loc.path, F_OK) < 0)
		return REPCTL_OK;	/* external file, created below */
	r = probe_signature(t->loc.path, desc, sizeof(desc));
	if (r < 0)
		return repctl_fail(cmd, "%s: cannot probe for filesystems: %s",
				   t->loc.path, strerror(-r));
	if (r == 0)
		return REPCTL_OK;
	if (force) {
		fprintf(stderr, "repctl: %s: %s holds %s; overwriting (--force)"
			"\n", cmd->name, t->loc.path, desc);
		return REPCTL_OK;
	}
	return repctl_fail(cmd, "%s holds %s; metadata would overwrite %s; "
			   "refusing without --force", t->loc.path, desc,
			   t->loc.internal ? "its end" : "it");
}

/* 16 random bytes, never all zero. 0 or -errno. */
static int random_uuid(uint8_t *u)
{
	do {
		ssize_t n = getrandom(u, MD_UUID_SIZE, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)MD_UUID_SIZE)
			return n < 0 ? -errno : -EIO;
	} while (md_is_zero(u, MD_UUID_SIZE));
	return 0;
}

int repctl_create_md(const struct repctl_cmd *cmd, int argc, char **argv)
{
	struct create_opts o = { 0 };
	struct repctl_target t;
	struct md_layout lay;
	uint8_t uuid[MD_UUID_SIZE];
	char err[PATH_MAX + 256], us[40], h1[32], h2[32], h3[32];
	uint64_t disk_size = 0, data_size = 0;
	bool created = false;
	int r, fd;

	r = create_parse(cmd, argc, argv, &o);
	if (r)
		return r < 0 ? REPCTL_OK : r;
	if (repctl_target_open(cmd, o.config, o.node, &t) < 0)
		return REPCTL_FAIL;
	o.p.placement = t.loc.internal ? MD_PLACEMENT_INTERNAL :
					 MD_PLACEMENT_EXTERNAL;
	if (t.loc.internal && o.have_size) {
		r = repctl_bad_usage(cmd, "--size is for external metadata "
				     "only; node %s has internal metadata, "
				     "whose data size follows from the size "
				     "of %s", t.node->name, t.node->disk.text);
		goto out;
	}
	r = repctl_file_size(t.node->disk.text, &disk_size);
	if (r < 0) {
		r = repctl_fail(cmd, "%s:%u: disk %s: %s", t.cfg->path,
				t.node->disk.line, t.node->disk.text,
				strerror(-r));
		goto out;
	}
	if (!t.loc.internal) {
		data_size = o.have_size ? o.size :
			    disk_size / MD_BLOCK_SIZE * MD_BLOCK_SIZE;
		if (data_size > disk_size) {
			r = repctl_fail(cmd, "--size %" PRIu64 " is larger "
					"than disk %s (%" PRIu64 " bytes)",
					data_size, t.node->disk.text,
					disk_size);
			goto out;
		}
		if (md_data_size_check(&o.p, data_size) < 0) {
			r = repctl_fail(cmd, "data size %" PRIu64 " of %s is "
					"not usable (zero, or too large for "
					"the AL extent size)", data_size,
					t.node->disk.text);
			goto out;
		}
	}
	if (md_params_check(&o.p) < 0) {	/* the checks above cover it */
		r = repctl_fail(cmd, "invalid metadata parameters");
		goto out;
	}
	r = check_existing(cmd, &t, o.force);
	if (r == REPCTL_OK)
		r = check_signature(cmd, &t, o.force);
	if (r != REPCTL_OK)
		goto out;
	if (!t.loc.internal && access(t.loc.path, F_OK) < 0) {
		fd = open(t.loc.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			r = repctl_fail(cmd, "%s:%u: meta %s: cannot create: "
					"%s", t.cfg->path, t.node->meta.line,
					t.loc.path, strerror(errno));
			goto out;
		}
		close(fd);
		created = true;
	}
	r = random_uuid(uuid);
	if (r < 0) {
		r = repctl_fail(cmd, "getrandom: %s", strerror(-r));
		goto out;
	}
	if (meta_create(&t.loc, data_size, &o.p, uuid, t.node_id, &lay, err,
			sizeof(err)) < 0) {
		if (created)
			unlink(t.loc.path);
		r = repctl_fail(cmd, "%s", err);
		goto out;
	}
	repctl_uuid_str(uuid, us, sizeof(us));
	printf("created %s metadata for resource %s, node %s (id %u)\n",
	       placement_name(o.p.placement), t.cfg->name.text, t.node->name,
	       t.node_id);
	printf("  resource uuid  %s\n", us);
	if (t.loc.internal)
		printf("  backing size   %" PRIu64 " (%s) %s\n", disk_size,
		       repctl_human_size(disk_size, h1, sizeof(h1)),
		       t.loc.path);
	printf("  exported size  %" PRIu64 " (%s)%s\n", lay.data_size,
	       repctl_human_size(lay.data_size, h2, sizeof(h2)),
	       t.loc.internal ? ", the rest holds the metadata" : "");
	printf("  metadata size  %" PRIu64 " (%s) at offset %" PRIu64 " of "
	       "%s\n", lay.md_size, repctl_human_size(lay.md_size, h3,
	       sizeof(h3)), lay.md_offset, t.loc.path);
	printf("  granularity %u, al-extent-size %u, al-slots %u\n",
	       o.p.bm_granularity, o.p.al_extent_size, o.p.al_slots);
	r = REPCTL_OK;
out:
	repctl_target_close(&t);
	return r;
}

/* -------------------------------------------------------------- dump-md */

enum blk_status {
	BLK_VALID,		/* decodes, at its ring position */
	BLK_EMPTY,		/* all zero: never written */
	BLK_DAMAGED,		/* bad magic, crc or field (torn write) */
	BLK_MISPLACED,		/* valid, but seq % R is another block */
	BLK_NEWER,		/* a newer AL format version */
};

static const char *blk_status_name(enum blk_status s)
{
	switch (s) {
	case BLK_VALID: return "valid";
	case BLK_EMPTY: return "empty";
	case BLK_DAMAGED: return "damaged";
	case BLK_MISPLACED: return "misplaced";
	case BLK_NEWER: return "newer-version";
	}
	abort();
}

struct range {
	uint64_t off, len;	/* bytes of the data area */
};

struct al_block {
	enum blk_status status;
	uint64_t seq;		/* valid and misplaced only */
	uint32_t n_updates;
};

struct dump {
	struct meta_dev dev;
	struct md_bitmap *bm;
	uint64_t dirty_bytes;		/* sum of ranges[].len */
	struct range *ranges;		/* runs of dirty granules, sorted */
	size_t n_ranges, cap_ranges;
	struct al_block *blocks;	/* [R] */
	uint32_t n_blocks;		/* R */
	uint32_t count[BLK_NEWER + 1];	/* blocks per status */
	uint64_t newest_seq;		/* of valid blocks, 0 if none */
	bool replay_ok;			/* false: AL cannot be replayed */
	uint32_t *hot;			/* hot extents, sorted */
	uint32_t n_hot;
};

static void dump_free(struct dump *d)
{
	md_bitmap_free(d->bm);
	free(d->ranges);
	free(d->blocks);
	free(d->hot);
	meta_dev_close(&d->dev);
}

static int add_range(struct dump *d, uint64_t first_bit, uint64_t end_bit)
{
	uint64_t g = d->dev.sb.params.bm_granularity;
	uint64_t off = first_bit * g, end = end_bit * g;

	if (end > d->dev.sb.data_size)
		end = d->dev.sb.data_size;
	if (d->n_ranges == d->cap_ranges) {
		size_t cap = d->cap_ranges ? 2 * d->cap_ranges : 256;
		struct range *p = realloc(d->ranges, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->ranges = p;
		d->cap_ranges = cap;
	}
	d->ranges[d->n_ranges++] = (struct range){ off, end - off };
	d->dirty_bytes += end - off;
	return 0;
}

/* Collect runs of dirty granules, a byte of bits at a time. */
static int scan_bitmap(struct dump *d)
{
	uint64_t bits = md_bitmap_bits(d->bm), bit, run = UINT64_MAX;
	uint8_t *page = alloc_blocks(1);
	uint32_t p, i;
	int r = 0;

	if (!page)
		return -ENOMEM;
	for (p = 0; p < md_bitmap_pages(d->bm) && r == 0; p++) {
		bit = (uint64_t)p * MD_BM_BITS_PER_PAGE;
		if (bit >= bits)
			break;
		r = md_bitmap_encode_page(d->bm, p, page, MD_BLOCK_SIZE);
		for (i = 0; i < MD_BLOCK_SIZE && r == 0; i++, bit += 8) {
			uint8_t b = page[i];

			if (b == 0 && run == UINT64_MAX)
				continue;
			if (b == 0xff && run != UINT64_MAX)
				continue;
			for (unsigned k = 0; k < 8 && r == 0; k++) {
				bool set = b & (1u << k);

				if (set && run == UINT64_MAX) {
					run = bit + k;
				} else if (!set && run != UINT64_MAX) {
					r = add_range(d, run, bit + k);
					run = UINT64_MAX;
				}
			}
		}
	}
	if (r == 0 && run != UINT64_MAX)
		r = add_range(d, run, bits);
	free(page);
	return r;
}

/* Decode every ring block and replay the ring into a fresh md_al. */
static int read_al(struct dump *d)
{
	const struct md_super *sb = &d->dev.sb;
	struct md_al *al = NULL;
	struct md_al_tr *tr = NULL;
	uint8_t *ring = NULL;
	size_t len;
	uint32_t i;
	int r;

	r = md_al_new(sb->params.al_slots, sb->params.al_extent_size,
		      sb->data_size, &al);
	if (r < 0)
		return r;
	d->n_blocks = md_al_ring_len(al);
	len = (size_t)d->n_blocks * MD_BLOCK_SIZE;
	ring = alloc_blocks(d->n_blocks);
	tr = malloc(sizeof(*tr));
	d->blocks = calloc(d->n_blocks, sizeof(*d->blocks));
	d->hot = calloc(md_al_slots(al), sizeof(*d->hot));
	r = -ENOMEM;
	if (!ring || !tr || !d->blocks || !d->hot)
		goto out;
	r = meta_dev_pread(&d->dev, ring, len, d->dev.layout.al_offset);
	if (r < 0)
		goto out;
	for (i = 0; i < d->n_blocks; i++) {
		struct al_block *b = &d->blocks[i];

		switch (md_al_tr_decode(al, ring + (size_t)i * MD_BLOCK_SIZE,
					MD_BLOCK_SIZE, tr)) {
		case 0:
			b->seq = tr->seq;
			b->n_updates = tr->n_updates;
			b->status = md_al_tr_block(al, tr->seq) == i ?
				    BLK_VALID : BLK_MISPLACED;
			if (b->status == BLK_VALID && tr->seq > d->newest_seq)
				d->newest_seq = tr->seq;
			break;
		case -ENODATA:
			b->status = BLK_EMPTY;
			break;
		case -EPROTO:
			b->status = BLK_NEWER;
			break;
		default:
			b->status = BLK_DAMAGED;
			break;
		}
		d->count[b->status]++;
	}
	/* decode leaves al fresh, as replay wants it */
	r = md_al_replay(al, ring, len, d->hot, &d->n_hot);
	d->replay_ok = r == 0;
	if (r == -EUCLEAN) {
		d->n_hot = 0;
		r = 0;
	}
out:
	free(ring);
	free(tr);
	md_al_free(al);
	return r;
}

static uint64_t extent_len(const struct dump *d, uint32_t e)
{
	uint64_t size = d->dev.sb.params.al_extent_size;
	uint64_t off = (uint64_t)e * size;

	return off + size > d->dev.sb.data_size ? d->dev.sb.data_size - off :
						  size;
}

static double dirty_percent(const struct dump *d)
{
	uint64_t bits = md_bitmap_bits(d->bm);

	return bits ? 100.0 * (double)md_bitmap_count(d->bm) / (double)bits :
		      0.0;
}

static void print_human(const struct dump *d, const struct repctl_target *t)
{
	const struct md_super *sb = &d->dev.sb;
	const struct md_layout *l = &d->dev.layout;
	char buf[256], h[32];
	size_t i;

	printf("metadata         %s (%s, %" PRIu64 " bytes)\n", t->loc.path,
	       placement_name(sb->params.placement), d->dev.dev_size);
	printf("superblock       slot %u, seq %" PRIu64 ", format version "
	       "%u\n", d->dev.slot, sb->seq, MD_FORMAT_VERSION);
	printf("resource uuid    %s\n", repctl_uuid_str(sb->resource_uuid,
	       buf, sizeof(buf)));
	printf("node id          %u (config: node %s, id %u)\n", sb->node_id,
	       t->node->name, t->node_id);
	printf("flags            %s (0x%x)\n", flags_str(sb->flags, buf,
	       sizeof(buf)), sb->flags);
	printf("data size        %" PRIu64 " (%s)\n", sb->data_size,
	       repctl_human_size(sb->data_size, h, sizeof(h)));
	printf("granularity      %u\n", sb->params.bm_granularity);
	printf("al extent size   %u (%s)\n", sb->params.al_extent_size,
	       repctl_human_size(sb->params.al_extent_size, h, sizeof(h)));
	printf("al slots         %u\n", sb->params.al_slots);
	printf("placement        %s\n", placement_name(sb->params.placement));
	printf("metadata area    offset %" PRIu64 ", size %" PRIu64 " (%s)\n",
	       l->md_offset, l->md_size, repctl_human_size(l->md_size, h,
	       sizeof(h)));
	printf("superblocks      offsets %" PRIu64 ", %" PRIu64 "\n",
	       l->sb_offset[0], l->sb_offset[1]);
	printf("al ring          offset %" PRIu64 ", %u blocks; %u extents "
	       "cover the data\n", l->al_offset, l->al_blocks,
	       l->al_extents);
	printf("bitmap           offset %" PRIu64 ", %u pages, %" PRIu64
	       " granules\n", l->bm_offset, l->bm_pages, l->bm_bits);
	printf("generation       current %016" PRIx64 ", bitmap %016" PRIx64
	       "\n", sb->gen.current, sb->gen.bitmap);
	printf("history         ");
	for (i = 0; i < MD_GEN_HISTORY; i++)
		printf(" %016" PRIx64, sb->gen.history[i]);
	printf("\n");
	printf("dirty            %" PRIu64 " of %" PRIu64 " granules (%.2f%%)"
	       ", %" PRIu64 " bytes (%s), %zu ranges\n",
	       md_bitmap_count(d->bm), md_bitmap_bits(d->bm),
	       dirty_percent(d), d->dirty_bytes,
	       repctl_human_size(d->dirty_bytes, h, sizeof(h)), d->n_ranges);
	for (i = 0; i < d->n_ranges && i < HUMAN_LIST_MAX; i++)
		printf("  %" PRIu64 "+%" PRIu64 "\n", d->ranges[i].off,
		       d->ranges[i].len);
	if (d->n_ranges > HUMAN_LIST_MAX)
		printf("  ... %zu more (--json lists all)\n",
		       d->n_ranges - HUMAN_LIST_MAX);
	printf("activity log     %u blocks: %u valid, %u empty, %u damaged, "
	       "%u misplaced, %u newer-version; newest seq %" PRIu64 "\n",
	       d->n_blocks, d->count[BLK_VALID], d->count[BLK_EMPTY],
	       d->count[BLK_DAMAGED], d->count[BLK_MISPLACED],
	       d->count[BLK_NEWER], d->newest_seq);
	if (!d->replay_ok) {
		printf("hot extents      unknown: the ring cannot be replayed;"
		       " a start after a crash marks the whole device out of "
		       "sync\n");
		return;
	}
	printf("hot extents      %u", d->n_hot);
	for (i = 0; i < d->n_hot && i < HUMAN_LIST_MAX; i++)
		printf("%s%u", i ? " " : ": ", d->hot[i]);
	if (d->n_hot > HUMAN_LIST_MAX)
		printf(" ... %u more (--json lists all)",
		       d->n_hot - HUMAN_LIST_MAX);
	printf("\n");
}

/* ---- JSON; every key is documented in docs/repctl.md ---- */

static void jadd(struct json_object *o, const char *key,
		 struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *jrange(uint64_t off, uint64_t len)
{
	struct json_object *a = json_object_new_array_ext(2);

	json_object_array_add(a, json_object_new_uint64(off));
	json_object_array_add(a, json_object_new_uint64(len));
	return a;
}

static struct json_object *jhex64(uint64_t v)
{
	char buf[20];

	snprintf(buf, sizeof(buf), "%016" PRIx64, v);
	return json_object_new_string(buf);
}

static struct json_object *json_super(const struct dump *d)
{
	const struct md_super *sb = &d->dev.sb;
	struct json_object *o = json_object_new_object();
	struct json_object *flags = json_object_new_array();
	struct json_object *gen = json_object_new_object();
	struct json_object *hist = json_object_new_array();
	char buf[40];
	uint32_t bit;
	unsigned i;

	jadd(o, "slot", json_object_new_int((int)d->dev.slot));
	jadd(o, "seq", json_object_new_uint64(sb->seq));
	jadd(o, "format_version", json_object_new_int(MD_FORMAT_VERSION));
	jadd(o, "resource_uuid", json_object_new_string(
	     repctl_uuid_str(sb->resource_uuid, buf, sizeof(buf))));
	jadd(o, "node_id", json_object_new_uint64(sb->node_id));
	for (bit = 1; bit; bit <<= 1)
		if (sb->flags & bit)
			json_object_array_add(flags, json_object_new_string(
				md_flag_name(bit) ? md_flag_name(bit) : "?"));
	jadd(o, "flags", flags);
	jadd(o, "flags_value", json_object_new_uint64(sb->flags));
	jadd(o, "data_size", json_object_new_uint64(sb->data_size));
	jadd(o, "granularity", json_object_new_uint64(
	     sb->params.bm_granularity));
	jadd(o, "al_extent_size", json_object_new_uint64(
	     sb->params.al_extent_size));
	jadd(o, "al_slots", json_object_new_uint64(sb->params.al_slots));
	jadd(o, "placement", json_object_new_string(
	     placement_name(sb->params.placement)));
	jadd(gen, "current", jhex64(sb->gen.current));
	jadd(gen, "bitmap", jhex64(sb->gen.bitmap));
	for (i = 0; i < MD_GEN_HISTORY; i++)
		json_object_array_add(hist, jhex64(sb->gen.history[i]));
	jadd(gen, "history", hist);
	jadd(o, "generation", gen);
	return o;
}

static struct json_object *json_layout(const struct dump *d)
{
	const struct md_layout *l = &d->dev.layout;
	struct json_object *o = json_object_new_object();
	struct json_object *sbo = json_object_new_array();

	jadd(o, "md_offset", json_object_new_uint64(l->md_offset));
	jadd(o, "md_size", json_object_new_uint64(l->md_size));
	json_object_array_add(sbo, json_object_new_uint64(l->sb_offset[0]));
	json_object_array_add(sbo, json_object_new_uint64(l->sb_offset[1]));
	jadd(o, "sb_offsets", sbo);
	jadd(o, "al_offset", json_object_new_uint64(l->al_offset));
	jadd(o, "al_blocks", json_object_new_uint64(l->al_blocks));
	jadd(o, "al_extents", json_object_new_uint64(l->al_extents));
	jadd(o, "bm_offset", json_object_new_uint64(l->bm_offset));
	jadd(o, "bm_pages", json_object_new_uint64(l->bm_pages));
	jadd(o, "bm_granules", json_object_new_uint64(l->bm_bits));
	return o;
}

static struct json_object *json_bitmap(const struct dump *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ranges = json_object_new_array_ext(
		d->n_ranges ? (int)d->n_ranges : 1);
	char pct[32];
	size_t i;

	snprintf(pct, sizeof(pct), "%.4f", dirty_percent(d));
	jadd(o, "granules", json_object_new_uint64(md_bitmap_bits(d->bm)));
	jadd(o, "dirty_granules", json_object_new_uint64(
	     md_bitmap_count(d->bm)));
	jadd(o, "dirty_percent", json_object_new_double_s(dirty_percent(d),
	     pct));
	jadd(o, "dirty_bytes", json_object_new_uint64(d->dirty_bytes));
	for (i = 0; i < d->n_ranges; i++)
		json_object_array_add(ranges, jrange(d->ranges[i].off,
						     d->ranges[i].len));
	jadd(o, "dirty_ranges", ranges);
	return o;
}

static struct json_object *json_al(const struct dump *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *blocks = json_object_new_array();
	struct json_object *hot = json_object_new_array();
	struct json_object *hot_ranges = json_object_new_array();
	uint64_t ext = d->dev.sb.params.al_extent_size;
	uint32_t i;

	jadd(o, "ring_blocks", json_object_new_uint64(d->n_blocks));
	jadd(o, "valid", json_object_new_uint64(d->count[BLK_VALID]));
	jadd(o, "empty", json_object_new_uint64(d->count[BLK_EMPTY]));
	jadd(o, "damaged", json_object_new_uint64(d->count[BLK_DAMAGED]));
	jadd(o, "misplaced", json_object_new_uint64(d->count[BLK_MISPLACED]));
	jadd(o, "newer_version", json_object_new_uint64(d->count[BLK_NEWER]));
	jadd(o, "newest_seq", json_object_new_uint64(d->newest_seq));
	jadd(o, "replay", json_object_new_string(d->replay_ok ? "ok" :
						 "unusable"));
	for (i = 0; i < d->n_blocks; i++) {
		const struct al_block *b = &d->blocks[i];
		struct json_object *bo = json_object_new_object();
		bool has_seq = b->status == BLK_VALID ||
			       b->status == BLK_MISPLACED;

		jadd(bo, "index", json_object_new_uint64(i));
		jadd(bo, "status", json_object_new_string(
		     blk_status_name(b->status)));
		jadd(bo, "seq", has_seq ? json_object_new_uint64(b->seq) :
					  NULL);
		jadd(bo, "updates", has_seq ?
		     json_object_new_uint64(b->n_updates) : NULL);
		json_object_array_add(blocks, bo);
	}
	jadd(o, "blocks", blocks);
	for (i = 0; i < d->n_hot; i++) {
		json_object_array_add(hot, json_object_new_uint64(d->hot[i]));
		json_object_array_add(hot_ranges, jrange((uint64_t)d->hot[i] *
				      ext, extent_len(d, d->hot[i])));
	}
	jadd(o, "hot_count", d->replay_ok ?
	     json_object_new_uint64(d->n_hot) : NULL);
	jadd(o, "hot_extents", hot);
	jadd(o, "hot_ranges", hot_ranges);
	return o;
}

static int print_json(const struct dump *d, const struct repctl_target *t)
{
	struct json_object *o = json_object_new_object();
	int r = 0;

	jadd(o, "config", json_object_new_string(t->cfg->path));
	jadd(o, "node", json_object_new_string(t->node->name));
	jadd(o, "path", json_object_new_string(t->loc.path));
	jadd(o, "device_size", json_object_new_uint64(d->dev.dev_size));
	jadd(o, "superblock", json_super(d));
	jadd(o, "layout", json_layout(d));
	jadd(o, "bitmap", json_bitmap(d));
	jadd(o, "al", json_al(d));
	if (puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		 JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		r = -EIO;
	json_object_put(o);
	return r;
}

int repctl_dump_md(const struct repctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *node = NULL;
	struct repctl_target t;
	struct dump d = { .dev = { .fd = -1 } };
	char err[PATH_MAX + 256];
	bool json = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "c:n:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'n': node = optarg; break;
		case 'j': json = true; break;
		case 'h':
			repctl_usage(cmd, stdout);
			return REPCTL_OK;
		default:	/* getopt printed what was wrong */
			fprintf(stderr, "Try 'repctl %s --help'.\n",
				cmd->name);
			return REPCTL_USAGE;
		}
	}
	if (optind != argc)
		return repctl_bad_usage(cmd, "unexpected argument '%s'",
					argv[optind]);
	if (!config)
		return repctl_bad_usage(cmd, "--config FILE is required");
	if (repctl_target_open(cmd, config, node, &t) < 0)
		return REPCTL_FAIL;
	r = meta_dev_open(&t.loc, &d.dev, err, sizeof(err));
	if (r == -ENODATA || (r == -ENOENT && !t.loc.internal)) {
		r = repctl_fail(cmd, "%s: no metadata; run repctl create-md "
				"--config %s --node %s", t.loc.path,
				t.cfg->path, t.node->name);
		goto out;
	}
	if (r < 0) {
		r = repctl_fail(cmd, "%s", err);
		goto out;
	}
	r = md_bitmap_new(d.dev.sb.data_size, d.dev.sb.params.bm_granularity,
			  &d.bm);
	if (r == 0)
		r = meta_dev_read_bitmap(&d.dev, d.bm);
	if (r < 0) {
		r = repctl_fail(cmd, "%s: bitmap at offset %" PRIu64 ": %s",
				t.loc.path, d.dev.layout.bm_offset,
				r == -EBADMSG ? "bits set past the last granule"
				" (damaged)" : strerror(-r));
		goto out;
	}
	r = scan_bitmap(&d);
	if (r == 0)
		r = read_al(&d);
	if (r < 0) {
		r = repctl_fail(cmd, "%s: %s", t.loc.path, strerror(-r));
		goto out;
	}
	if (json) {
		r = print_json(&d, &t) < 0 ? repctl_fail(cmd, "writing "
			"output failed") : REPCTL_OK;
	} else {
		print_human(&d, &t);
		r = fflush(stdout) == 0 ? REPCTL_OK :
		    repctl_fail(cmd, "writing output failed");
	}
out:
	dump_free(&d);
	repctl_target_close(&t);
	return r;
}
