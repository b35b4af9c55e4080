/*
 * Metadata I/O: synchronous open/create/close, and the activity-log
 * pipeline on the event loop. The on-disk format and every decision are
 * in md/ (pure); this file only moves blocks and keeps the ordering rules:
 *
 *   1. bitmap pages covering an extent that leaves the AL are durable
 *      before the AL transaction that evicts it;
 *   2. an AL transaction is durable before any write it makes hot;
 *   3. transactions are written one at a time, in sequence order.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "md/md_uuid.h"
#include "meta.h"

#define TRQ_CAP		64u	/* AL transactions queued, not yet written */

/* ---- synchronous device access ---- */

static int dev_size_of(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*ret = (uint64_t)st.st_size;
	return 0;
}

static int dev_open_fd(const char *path, bool *ret_direct)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_DIRECT);

	*ret_direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)	/* no O_DIRECT here (tmpfs) */
		fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int meta_dev_pread(const struct meta_dev *d, void *buf, size_t len,
		   uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(d->fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* past the end: truncated */
		done += (size_t)n;
	}
	return 0;
}

int meta_dev_pwrite(const struct meta_dev *d, const void *buf, size_t len,
		    uint64_t off, bool sync)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(d->fd, (const uint8_t *)buf + done,
				   len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	if (sync && fdatasync(d->fd) < 0)
		return -errno;
	return 0;
}

static void *alloc_blocks(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, MD_BLOCK_SIZE, n * MD_BLOCK_SIZE))
		return NULL;
	memset(p, 0, n * MD_BLOCK_SIZE);
	return p;
}

/* Where the superblock slots are before we know the layout. */
static int sb_area_offset(const struct meta_location *loc, uint64_t dev_size,
			  uint64_t *ret)
{
	uint64_t end = dev_size / MD_BLOCK_SIZE * MD_BLOCK_SIZE;

	if (!loc->internal) {
		*ret = 0;
		return dev_size >= MD_SB_AREA_SIZE ? 0 : -EAGAIN;
	}
	if (end < MD_SB_AREA_SIZE)
		return -EAGAIN;
	*ret = end - MD_SB_AREA_SIZE;
	return 0;
}

int meta_dev_open(const struct meta_location *loc, struct meta_dev *ret,
		  char *err, size_t errlen)
{
	uint8_t *area = NULL;
	uint64_t sb_off;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->fd = dev_open_fd(loc->path, &ret->direct);
	if (ret->fd < 0) {
		r = ret->fd;
		snprintf(err, errlen, "%s: cannot open: %s", loc->path,
			 strerror(-r));
		return r;
	}
	r = dev_size_of(ret->fd, &ret->dev_size);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", loc->path, strerror(-r));
		goto fail;
	}
	r = sb_area_offset(loc, ret->dev_size, &sb_off);
	if (r < 0) {
		snprintf(err, errlen, "%s: too small to hold metadata",
			 loc->path);
		goto fail;
	}
	area = alloc_blocks(MD_SB_SLOTS);
	if (!area) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = meta_dev_pread(ret, area, MD_SB_AREA_SIZE, sb_off);
	if (r == 0)
		r = md_select_slot(area, MD_SB_AREA_SIZE, &ret->sb, &ret->slot);
	switch (r) {
	case 0:
		break;
	case -ENODATA:
		snprintf(err, errlen, "%s: no metadata (never created)",
			 loc->path);
		goto fail;
	case -EPROTO:
		snprintf(err, errlen, "%s: metadata of a newer format than "
			 "version %u; refusing to touch it", loc->path,
			 MD_FORMAT_VERSION);
		goto fail;
	case -EBADMSG:
		snprintf(err, errlen, "%s: both metadata superblocks are "
			 "damaged", loc->path);
		goto fail;
	default:
		snprintf(err, errlen, "%s: reading metadata: %s", loc->path,
			 strerror(-r));
		goto fail;
	}
	if ((ret->sb.params.placement == MD_PLACEMENT_INTERNAL) !=
	    loc->internal) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: metadata was created %s, but the "
			 "config says %s", loc->path,
			 loc->internal ? "external" : "internal",
			 loc->internal ? "internal" : "external");
		goto fail;
	}
	r = md_layout_for_super(&ret->sb, ret->dev_size, &ret->layout);
	if (r < 0) {
		snprintf(err, errlen, "%s: device size %" PRIu64 " does not "
			 "match the metadata (data size %" PRIu64 "); was it "
			 "resized?", loc->path, ret->dev_size,
			 ret->sb.data_size);
		goto fail;
	}
	free(area);
	return 0;
fail:
	free(area);
	close(ret->fd);
	ret->fd = -1;
	return r;
}

void meta_dev_close(struct meta_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int meta_dev_store_super(struct meta_dev *d, const struct md_super *sb)
{
	struct md_super next = *sb;
	unsigned slot = d->slot ^ 1;
	uint8_t *block = alloc_blocks(1);
	int r;

	if (!block)
		return -ENOMEM;
	next.seq = d->sb.seq + 1;
	r = md_super_encode(&next, block, MD_BLOCK_SIZE);
	if (r == 0)
		r = meta_dev_pwrite(d, block, MD_BLOCK_SIZE,
				    d->layout.sb_offset[slot], true);
	free(block);
	if (r < 0)
		return r;
	d->sb = next;
	d->slot = slot;
	return 0;
}

int meta_dev_read_bitmap(const struct meta_dev *d, struct md_bitmap *bm)
{
	uint8_t *page = alloc_blocks(1);
	uint32_t i;
	int r = 0;

	if (!page)
		return -ENOMEM;
	for (i = 0; i < d->layout.bm_pages && r == 0; i++) {
		r = meta_dev_pread(d, page, MD_BLOCK_SIZE,
				   d->layout.bm_offset +
				   (uint64_t)i * MD_BLOCK_SIZE);
		if (r == 0)
			r = md_bitmap_load_page(bm, i, page, MD_BLOCK_SIZE);
	}
	free(page);
	return r;
}

int meta_create(const struct meta_location *loc, uint64_t data_size_ext,
		const struct md_params *p, const uint8_t *resource_uuid,
		uint32_t node_id, struct md_layout *ret_layout, char *err,
		size_t errlen)
{
	struct meta_dev d = { .fd = -1 };
	struct md_layout lay;
	struct md_super sb;
	uint8_t *zero = NULL;
	uint64_t off, end, size;
	int r;

	d.fd = dev_open_fd(loc->path, &d.direct);
	if (d.fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", loc->path,
			 strerror(-d.fd));
		return d.fd;
	}
	r = dev_size_of(d.fd, &d.dev_size);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", loc->path, strerror(-r));
		goto out;
	}
	size = loc->internal ? d.dev_size : data_size_ext;
	r = md_layout_compute(size, p, &lay);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", loc->path, r == -ENOSPC ?
			 "too small for data plus metadata" :
			 "invalid metadata parameters");
		goto out;
	}
	if (!loc->internal && d.dev_size < lay.md_size) {
		/* a regular file grows; a device must be large enough */
		struct stat st;

		if (fstat(d.fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    ftruncate(d.fd, (off_t)lay.md_size) == 0) {
			d.dev_size = lay.md_size;
		} else {
			r = -ENOSPC;
			snprintf(err, errlen, "%s: needs %" PRIu64 " bytes of "
				 "metadata space", loc->path, lay.md_size);
			goto out;
		}
	}
	r = md_super_init(p, lay.data_size, resource_uuid, node_id, &sb);
	if (r < 0) {
		snprintf(err, errlen, "invalid metadata parameters");
		goto out;
	}
	/* nothing was ever written: as good as a clean stop */
	sb.flags |= MD_FLAG_CLEAN_SHUTDOWN;
	zero = alloc_blocks(64);
	if (!zero) {
		r = -ENOMEM;
		goto out;
	}
	/* zero the AL ring and the bitmap, then both superblock slots */
	end = lay.md_offset + lay.md_size;
	for (off = lay.md_offset; off < end && r == 0; ) {
		size_t n = end - off < 64 * MD_BLOCK_SIZE ?
			   (size_t)(end - off) : 64 * MD_BLOCK_SIZE;

		r = meta_dev_pwrite(&d, zero, n, off, false);
		off += n;
	}
	if (r == 0)
		r = md_super_encode(&sb, zero, MD_BLOCK_SIZE);
	if (r == 0)
		r = meta_dev_pwrite(&d, zero, MD_BLOCK_SIZE, lay.sb_offset[0],
				    true);
	if (r < 0) {
		snprintf(err, errlen, "%s: writing metadata: %s", loc->path,
			 strerror(-r));
		goto out;
	}
	*ret_layout = lay;
out:
	free(zero);
	meta_dev_close(&d);
	return r;
}

/* ---- the live metadata ---- */

enum meta_wstate {
	META_IDLE,			/* nothing being written */
	META_BM_PAGE,			/* a bitmap page before a transaction */
	META_TR,			/* the transaction block itself */
};

struct meta {
	struct meta_dev dev;
	struct engine *eng;
	struct md_al *al;
	struct md_bitmap *bm;
	struct md_al_tr *trq;		/* TRQ_CAP queued transactions */
	unsigned trq_head, trq_len;
	enum meta_wstate wstate;
	uint32_t bm_page;		/* page being written (META_BM_PAGE) */
	unsigned upd;			/* update whose pages we flush */
	struct engine_op op;
	uint8_t *block;			/* aligned, for the write in flight */
	struct meta_waiter *waiting;	/* waiting for a transaction */
	struct meta_waiter *busy_head, *busy_tail; /* AL full: retry later */
	struct meta_stats stats;
	int failed;			/* first metadata write error */
	bool new_gen_done;		/* generation started this separation */
	struct md_super pending_sb;	/* what meta_activate() stores */
	bool was_clean;			/* last stop was clean */
	int replayed;			/* AL extents marked (-1: whole AL) */
	struct md_al_streams streams;	/* sequential writers, for al_ahead */
};

static void meta_pump(struct meta *m);

static void on_meta_write(struct engine_op *op, int res)
{
	struct meta *m = container_of(op, struct meta, op);
	struct md_al_tr *tr = &m->trq[m->trq_head];
	struct meta_waiter **pp;

	if (res < 0) {
		/*
		 * We cannot prove the rule for the writes waiting on this
		 * transaction, so they stay parked: the node must not
		 * acknowledge data it could not track. Reported loudly.
		 */
		if (!m->failed)
			log_errno(LOG_CRIT, res, "metadata write failed; "
				  "writes to cold extents are suspended");
		m->failed = res;
		if (m->wstate == META_BM_PAGE)
			md_bitmap_page_mark_dirty(m->bm, m->bm_page);
		m->wstate = META_IDLE;
		return;
	}
	if (m->wstate == META_BM_PAGE) {
		m->stats.bm_writes++;
		m->wstate = META_IDLE;
		meta_pump(m);
		return;
	}
	m->stats.al_writes++;
	m->wstate = META_IDLE;
	md_al_tr_durable(m->al, tr->seq);
	m->trq_head = (m->trq_head + 1) % TRQ_CAP;
	m->trq_len--;
	m->upd = 0;
	/* wake every write whose transaction is now durable */
	for (pp = &m->waiting; *pp; ) {
		struct meta_waiter *w = *pp;

		if (md_al_is_durable(m->al, w->wait_seq)) {
			*pp = w->next;
			w->resume(w);
		} else {
			pp = &w->next;
		}
	}
	meta_pump(m);
}

/* Next dirty bitmap page that the head transaction's evictions need
 * durable first; false when there is none left. */
static bool next_evicted_page(struct meta *m, uint32_t *ret_page)
{
	struct md_al_tr *tr = &m->trq[m->trq_head];
	uint64_t ext = md_al_extent_size(m->al);

	for (; m->upd < tr->n_updates; m->upd++) {
		uint64_t off = (uint64_t)tr->updates[m->upd].evicted * ext;
		uint64_t len = ext;
		uint32_t first, last, p;

		if (tr->updates[m->upd].evicted == MD_AL_NONE)
			continue;
		if (off + len > m->dev.sb.data_size)
			len = m->dev.sb.data_size - off;
		if (md_bitmap_pages_of(m->bm, off, len, &first, &last) < 0)
			continue;
		for (p = first; p <= last; p++) {
			if (md_bitmap_page_is_dirty(m->bm, p)) {
				*ret_page = p;
				return true;
			}
		}
	}
	return false;
}

/* Start the next metadata write if none is in flight. */
static void meta_pump(struct meta *m)
{
	struct md_al_tr *tr;
	uint32_t page;
	int r;

	if (m->wstate != META_IDLE || m->trq_len == 0 || m->failed)
		return;
	tr = &m->trq[m->trq_head];
	m->op.cb = on_meta_write;
	if (next_evicted_page(m, &page)) {
		/* rule 1: the bitmap before the AL forgets the extent */
		md_bitmap_encode_page(m->bm, page, m->block, MD_BLOCK_SIZE);
		md_bitmap_page_clean(m->bm, page);
		m->bm_page = page;
		m->wstate = META_BM_PAGE;
		engine_write(m->eng, &m->op, m->dev.fd, m->block,
			     MD_BLOCK_SIZE, m->dev.layout.bm_offset +
			     (uint64_t)page * MD_BLOCK_SIZE, RWF_DSYNC);
		return;
	}
	r = md_al_tr_encode(m->al, tr, m->block, MD_BLOCK_SIZE);
	assert(r == 0);	/* md_al produced tr for this very al */
	(void)r;
	m->wstate = META_TR;
	engine_write(m->eng, &m->op, m->dev.fd, m->block, MD_BLOCK_SIZE,
		     m->dev.layout.al_offset +
		     (uint64_t)md_al_tr_block(m->al, tr->seq) * MD_BLOCK_SIZE,
		     RWF_DSYNC);
}

/* Try to make w's range hot: 0 go, 1 parked on a transaction, 2 busy. */
static int try_start(struct meta *m, struct meta_waiter *w)
{
	uint64_t seq;
	int r;

	if (m->trq_len == TRQ_CAP)
		return 2;
	r = md_al_write_start(m->al, w->off, w->len,
			      &m->trq[(m->trq_head + m->trq_len) % TRQ_CAP],
			      &seq);
	switch (r) {
	case MD_AL_READY:
		return 0;
	case MD_AL_NEED_TR:
		m->trq_len++;
		meta_pump(m);
		/* wait for it like any other transaction */
		__attribute__((fallthrough));
	case MD_AL_WAIT_TR:
		w->wait_seq = seq;
		w->next = m->waiting;
		m->waiting = w;
		return 1;
	case -EBUSY:
		return 2;
	default:
		return r;
	}
}

/*
 * Make the extents ahead of a sequential stream hot before it reaches
 * them (md_al_ahead): the transaction is queued behind the write's own,
 * if any, and nothing waits for it until a write lands there. The
 * references md_al_write_start() takes are dropped at once: the extents
 * are hot, most recently used, and evictable like any idle one.
 */
static void al_ahead(struct meta *m, uint64_t off, uint64_t len)
{
	uint64_t aoff, alen, seq;
	int r, done;

	if (!md_al_ahead(m->al, &m->streams, off, len, &aoff, &alen) ||
	    m->failed || m->busy_head || m->trq_len == TRQ_CAP)
		return;
	r = md_al_write_start(m->al, aoff, alen,
			      &m->trq[(m->trq_head + m->trq_len) % TRQ_CAP],
			      &seq);
	if (r < 0)
		return;		/* no free slot: the stream waits as before */
	done = md_al_write_done(m->al, aoff, alen);
	assert(done == 0);	/* the references were taken just above */
	(void)done;
	if (r == MD_AL_NEED_TR) {
		m->stats.al_ahead++;
		m->trq_len++;
		meta_pump(m);
	}
}

int meta_write_start(struct meta *m, struct meta_waiter *w)
{
	int r;

	m->stats.writes_started++;
	/* keep arrival order behind writes already waiting for a slot */
	r = m->busy_head ? 2 : try_start(m, w);
	if (r == 2) {
		w->next = NULL;
		if (m->busy_tail)
			m->busy_tail->next = w;
		else
			m->busy_head = w;
		m->busy_tail = w;
		return 1;
	}
	if (r >= 0)
		al_ahead(m, w->off, w->len);
	return r;
}

void meta_write_done(struct meta *m, uint64_t off, uint64_t len)
{
	int r = md_al_write_done(m->al, off, len);

	assert(r == 0);	/* every done pairs with a successful start */
	(void)r;
	while (m->busy_head) {
		struct meta_waiter *w = m->busy_head;

		r = try_start(m, w);
		if (r == 2)
			break;
		m->busy_head = w->next;
		if (!m->busy_head)
			m->busy_tail = NULL;
		if (r == 0)
			w->resume(w);
		else if (r < 0)
			log_errno(LOG_CRIT, r, "activity log refused %" PRIu64
				  "+%" PRIu64, w->off, w->len);
	}
}

void meta_mark_dirty(struct meta *m, uint64_t off, uint64_t len)
{
	md_bitmap_set(m->bm, off, len);
}

void meta_clear_dirty(struct meta *m, uint64_t off, uint64_t len)
{
	md_bitmap_clear(m->bm, off, len);
}

int meta_next_dirty(const struct meta *m, uint64_t from, uint64_t max_len,
		    uint64_t *ret_off, uint64_t *ret_len)
{
	uint32_t g = md_bitmap_granularity(m->bm);
	uint64_t nbits = md_bitmap_bits(m->bm);
	uint64_t first, bit, off, len, goff, glen;

	if (md_bitmap_next_set(m->bm, from / g, &first) < 0 ||
	    md_bitmap_granule(m->bm, first, &off, &len) < 0)
		return -ENOENT;
	/* extend over the following set granules, up to max_len */
	for (bit = first + 1; bit < nbits && len + g <= max_len &&
	     md_bitmap_test_bit(m->bm, bit); bit++) {
		if (md_bitmap_granule(m->bm, bit, &goff, &glen) < 0)
			break;
		len += glen;
	}
	*ret_off = off;
	*ret_len = len;
	return 0;
}

static int store_sb(struct meta *m, const struct md_super *sb);

int meta_mark_all_dirty(struct meta *m)
{
	/* the flag, not the bitmap pages, makes it survive a crash: open
	 * sets every bit while it is on disk (cleared when the resync ends
	 * or a clean stop has written the pages) */
	md_bitmap_set_all(m->bm);
	return meta_update_flags(m, MD_FLAG_FULL_SYNC, 0);
}

static int store_sb(struct meta *m, const struct md_super *sb)
{
	int r = meta_dev_store_super(&m->dev, sb);

	if (r < 0)
		return log_errno(LOG_ERR, r, "writing the metadata superblock");
	m->stats.sb_writes++;
	return 0;
}

int meta_new_generation(struct meta *m)
{
	struct md_super sb = m->dev.sb;
	uint64_t fresh;
	int r = -EINVAL, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(&fresh, sizeof(fresh), 0) != sizeof(fresh))
			return -errno;
		r = md_uuid_new_generation(&sb.gen, fresh);
		if (r == 0)
			break;
	}
	if (r < 0)
		return r;
	r = store_sb(m, &sb);
	if (r < 0)
		return r;
	log_msg(LOG_NOTICE, "new generation %016" PRIx64 " (bitmap counts "
		"from %016" PRIx64 ")", sb.gen.current, sb.gen.bitmap);
	return 0;
}

int meta_before_degraded_write(struct meta *m)
{
	int r;

	if (m->new_gen_done)
		return 0;
	/* durable before the first write the peer will not see */
	log_msg(LOG_NOTICE, "writing without the peer");
	r = meta_new_generation(m);
	if (r == 0)
		m->new_gen_done = true;
	return r;
}

void meta_peer_connected(struct meta *m)
{
	m->new_gen_done = false;
}

int meta_sync_source_done(struct meta *m)
{
	struct md_super sb = m->dev.sb;

	md_uuid_clear_bitmap(&sb.gen);
	/* a crashed primary's activity-log extents have now reached the
	 * peer: the crash no longer decides the next connect's direction */
	sb.flags &= ~(uint32_t)(MD_FLAG_FULL_SYNC | MD_FLAG_CRASHED_PRIMARY);
	return store_sb(m, &sb);
}

int meta_sync_target_done(struct meta *m, const struct md_gen *source)
{
	struct md_super sb = m->dev.sb;

	md_uuid_sync_target_done(&sb.gen, source);
	sb.flags &= ~(uint32_t)(MD_FLAG_RESYNC_IN_PROGRESS | MD_FLAG_OUTDATED |
				MD_FLAG_CRASHED_PRIMARY | MD_FLAG_FULL_SYNC);
	sb.flags |= MD_FLAG_CONSISTENT;
	/* our own bits went to the source before it started (BITMAP
	 * exchange) and were resynced with its own: all in sync now */
	md_bitmap_clear(m->bm, 0, meta_data_size(m));
	return store_sb(m, &sb);
}

int meta_sync_target_start(struct meta *m, uint64_t source_current)
{
	struct md_super sb = m->dev.sb;

	sb.flags |= MD_FLAG_RESYNC_IN_PROGRESS;
	sb.flags &= ~(uint32_t)MD_FLAG_CONSISTENT;
	if (source_current > MD_UUID_JUST_CREATED &&
	    source_current != sb.gen.current) {
		/* keep our bitmap UUID's bits counting: the source gets
		 * them in the BITMAP exchange of every connection until
		 * the end */
		sb.gen.current = source_current;
	}
	if (sb.flags == m->dev.sb.flags &&
	    sb.gen.current == m->dev.sb.gen.current)
		return 0;
	return store_sb(m, &sb);
}

int meta_discard_my_data(struct meta *m, const struct md_gen *peer,
			 bool *ret_full)
{
	struct md_super sb = m->dev.sb;
	bool shared = peer->bitmap > MD_UUID_JUST_CREATED &&
		      sb.gen.bitmap == peer->bitmap;

	/* Both moved on from the generation both bitmaps count from: take
	 * it as our current one, so the peer is source of a bitmap resync
	 * (our own bits travel to it in the BITMAP exchange). Any other
	 * history: forget our data and take a full resync. */
	if (shared) {
		sb.gen.current = peer->bitmap;
		sb.gen.bitmap = 0;
	} else {
		sb.gen.current = MD_UUID_JUST_CREATED;
		sb.gen.bitmap = 0;
		md_bitmap_set_all(m->bm);
		sb.flags |= MD_FLAG_FULL_SYNC;
	}
	sb.flags |= MD_FLAG_RESYNC_IN_PROGRESS;
	sb.flags &= ~(uint32_t)(MD_FLAG_CONSISTENT | MD_FLAG_CRASHED_PRIMARY);
	*ret_full = !shared;
	log_msg(LOG_WARNING, "discarding this node's changes: %s resync from "
		"the peer follows", shared ? "a bitmap" : "a full");
	return store_sb(m, &sb);
}

int meta_new_current_clear_bitmap(struct meta *m)
{
	struct md_super sb;
	int r;

	if (!md_uuid_never_held_data(&m->dev.sb.gen))
		return -EEXIST;
	r = meta_new_generation(m);	/* durable; a blank C goes nowhere */
	if (r < 0)
		return r;
	sb = m->dev.sb;
	md_uuid_clear_bitmap(&sb.gen);
	sb.flags |= MD_FLAG_CONSISTENT;
	sb.flags &= ~(uint32_t)(MD_FLAG_OUTDATED | MD_FLAG_RESYNC_IN_PROGRESS |
				MD_FLAG_FULL_SYNC);
	md_bitmap_clear(m->bm, 0, meta_data_size(m));
	return store_sb(m, &sb);
}

int meta_invalidate(struct meta *m)
{
	struct md_super sb = m->dev.sb;

	/* JUST_CREATED as current makes any peer with data the source of a
	 * full resync; the history stays for the log */
	sb.gen.current = MD_UUID_JUST_CREATED;
	sb.gen.bitmap = 0;
	sb.flags |= MD_FLAG_RESYNC_IN_PROGRESS | MD_FLAG_FULL_SYNC;
	sb.flags &= ~(uint32_t)(MD_FLAG_CONSISTENT | MD_FLAG_OUTDATED);
	md_bitmap_set_all(m->bm);
	return store_sb(m, &sb);
}

int meta_force_up_to_date(struct meta *m)
{
	struct md_super sb;
	int r;

	if (m->dev.sb.gen.current <= MD_UUID_JUST_CREATED) {
		/* never held data: this node's contents become generation 1
		 * of the resource, everything to be sent to the peer */
		r = meta_new_generation(m);
		if (r < 0)
			return r;
		r = meta_mark_all_dirty(m);
		if (r < 0)
			return r;
	}
	sb = m->dev.sb;
	sb.flags |= MD_FLAG_CONSISTENT;
	sb.flags &= ~(uint32_t)(MD_FLAG_OUTDATED | MD_FLAG_RESYNC_IN_PROGRESS);
	if (sb.flags == m->dev.sb.flags)
		return 0;
	return store_sb(m, &sb);
}

uint32_t meta_granularity(const struct meta *m)
{
	return md_bitmap_granularity(m->bm);
}

uint64_t meta_bitmap_bits(const struct meta *m)
{
	return md_bitmap_bits(m->bm);
}

bool meta_bitmap_chunk(const struct meta *m, uint64_t first_bit,
		       uint8_t *out, uint32_t n_bytes)
{
	uint64_t end = first_bit + 8ull * n_bytes, bit = first_bit;
	bool any = false;

	memset(out, 0, n_bytes);
	while (md_bitmap_next_set(m->bm, bit, &bit) == 0 && bit < end) {
		out[(bit - first_bit) / 8] |= (uint8_t)(1u << (bit % 8));
		any = true;
		bit++;
	}
	return any;
}

int meta_merge_bits(struct meta *m, uint64_t first_bit, const uint8_t *bits,
		    uint32_t n_bytes)
{
	uint64_t nbits = md_bitmap_bits(m->bm), i, off, len;

	for (i = 0; i < 8ull * n_bytes; i++) {
		if (!(bits[i / 8] & (1u << (i % 8))))
			continue;
		if (first_bit + i >= nbits)
			return -ERANGE;	/* the peer's bitmap is larger */
		if (md_bitmap_granule(m->bm, first_bit + i, &off, &len) < 0)
			return -ERANGE;
		md_bitmap_set(m->bm, off, len);
	}
	return 0;
}

int meta_update_flags(struct meta *m, uint32_t set, uint32_t clear)
{
	struct md_super sb = m->dev.sb;

	sb.flags = (sb.flags | set) & ~clear;
	if (sb.flags == m->dev.sb.flags)
		return 0;
	return store_sb(m, &sb);
}

uint64_t meta_data_size(const struct meta *m)
{
	return m->dev.sb.data_size;
}

const struct md_super *meta_super(const struct meta *m)
{
	return &m->dev.sb;
}

void meta_get_stats(const struct meta *m, struct meta_stats *ret)
{
	*ret = m->stats;
	ret->dirty_bytes = md_bitmap_count(m->bm) *
			   md_bitmap_granularity(m->bm);
}

struct meta *meta_abandon(struct meta *m)
{
	if (!m)
		return NULL;
	md_al_free(m->al);
	md_bitmap_free(m->bm);
	free(m->trq);
	free(m->block);
	meta_dev_close(&m->dev);
	free(m);
	return NULL;
}

/* Replay the AL ring into the bitmap after an unclean stop. */
static int replay_al(struct meta *m)
{
	size_t len = (size_t)md_al_ring_len(m->al) * MD_BLOCK_SIZE;
	uint8_t *ring = alloc_blocks(md_al_ring_len(m->al));
	uint32_t *ext = calloc(md_al_slots(m->al), sizeof(*ext));
	uint32_t n = 0;
	int r = -ENOMEM;

	if (!ring || !ext)
		goto out;
	r = meta_dev_pread(&m->dev, ring, len, m->dev.layout.al_offset);
	if (r < 0)
		goto out;
	r = md_al_replay(m->al, ring, len, ext, &n);
	if (r == -EUCLEAN) {
		/* logged by meta_activate() */
		md_bitmap_set_all(m->bm);
		m->replayed = -1;
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	r = md_al_extents_to_bitmap(ext, n, md_al_extent_size(m->al), m->bm);
	m->replayed = (int)n;
out:
	free(ring);
	free(ext);
	return r;
}

int meta_start(struct meta_dev *d, struct engine *eng, bool primary,
	       struct meta **ret)
{
	struct meta *m = calloc(1, sizeof(*m));
	struct md_super sb;
	bool clean;
	int r = -ENOMEM;

	if (!m)
		return -ENOMEM;
	m->dev = *d;
	d->fd = -1;
	m->eng = eng;
	m->trq = calloc(TRQ_CAP, sizeof(*m->trq));
	m->block = alloc_blocks(1);
	if (!m->trq || !m->block)
		goto fail;
	sb = m->dev.sb;
	r = md_al_new(sb.params.al_slots, sb.params.al_extent_size,
		      sb.data_size, &m->al);
	if (r == 0)
		r = md_bitmap_new(sb.data_size, sb.params.bm_granularity,
				  &m->bm);
	if (r == 0)
		r = meta_dev_read_bitmap(&m->dev, m->bm);
	if (r < 0)
		goto fail;
	clean = sb.flags & MD_FLAG_CLEAN_SHUTDOWN;
	if (!clean) {
		/* replay even when it was secondary: cheap, and the AL then
		 * continues at the right sequence number */
		r = replay_al(m);
		if (r < 0)
			goto fail;
		if (sb.flags & MD_FLAG_WAS_PRIMARY)
			sb.flags |= MD_FLAG_CRASHED_PRIMARY;
	} else {
		size_t len = (size_t)md_al_ring_len(m->al) * MD_BLOCK_SIZE;
		uint8_t *ring = alloc_blocks(md_al_ring_len(m->al));
		uint32_t *ext = calloc(md_al_slots(m->al), sizeof(*ext));
		uint32_t n;

		/* nothing to mark, but continue the ring's sequence */
		r = ring && ext ? meta_dev_pread(&m->dev, ring, len,
						 m->dev.layout.al_offset) :
				  -ENOMEM;
		if (r == 0) {
			r = md_al_replay(m->al, ring, len, ext, &n);
			if (r == -EUCLEAN)
				r = 0;	/* clean: the bitmap is complete */
		}
		free(ring);
		free(ext);
		if (r < 0)
			goto fail;
	}
	if (sb.flags & MD_FLAG_FULL_SYNC)
		md_bitmap_set_all(m->bm);	/* the flag stays until done */
	sb.flags &= ~(uint32_t)MD_FLAG_CLEAN_SHUTDOWN;
	if (primary)
		sb.flags |= MD_FLAG_WAS_PRIMARY;
	m->pending_sb = sb;
	m->was_clean = clean;
	*ret = m;
	return 0;
fail:
	meta_abandon(m);
	return r;
}

int meta_activate(struct meta *m)
{
	const struct md_super *sb;
	int r;

	if (m->replayed < 0)
		log_msg(LOG_WARNING, "activity log unreadable: the whole "
			"device is marked out of sync");
	else if (!m->was_clean)
		log_msg(LOG_NOTICE, "unclean shutdown: %d activity-log "
			"extent(s) marked out of sync", m->replayed);
	r = store_sb(m, &m->pending_sb);
	if (r < 0)
		return r;
	sb = &m->dev.sb;
	log_msg(LOG_INFO, "metadata: %s, data %" PRIu64 " bytes, %" PRIu64
		" bytes out of sync, last stop %s",
		sb->params.placement == MD_PLACEMENT_INTERNAL ? "internal" :
		"external", sb->data_size,
		md_bitmap_count(m->bm) * md_bitmap_granularity(m->bm),
		m->was_clean ? "clean" : "UNCLEAN");
	return 0;
}

int meta_stop(struct meta *m)
{
	struct md_super sb = m->dev.sb;
	uint32_t page = 0;
	int r = m->failed;

	/* every dirty bitmap page, then the superblock that says "clean" */
	while (r == 0 && md_bitmap_next_dirty_page(m->bm, page, &page) == 0) {
		md_bitmap_encode_page(m->bm, page, m->block, MD_BLOCK_SIZE);
		r = meta_dev_pwrite(&m->dev, m->block, MD_BLOCK_SIZE,
				    m->dev.layout.bm_offset +
				    (uint64_t)page * MD_BLOCK_SIZE, false);
		md_bitmap_page_clean(m->bm, page);
		m->stats.bm_writes++;
		page++;
	}
	if (r == 0 && fdatasync(m->dev.fd) < 0)
		r = -errno;
	if (r == 0) {
		/* every bit is in the pages now: no need to set them all */
		sb.flags |= MD_FLAG_CLEAN_SHUTDOWN;
		sb.flags &= ~(uint32_t)MD_FLAG_FULL_SYNC;
		r = meta_dev_store_super(&m->dev, &sb);
	}
	if (r < 0)
		log_errno(LOG_ERR, r, "metadata not marked clean; the next "
			  "start replays the activity log");
	meta_abandon(m);
	return r;
}
