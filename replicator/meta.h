/*
 * Replication metadata on its device: the I/O half of md/ (which is pure).
 *
 * Set-up and tear-down (meta_open, meta_create, meta_close) use plain
 * synchronous pread/pwrite: they run before the event loop starts or after
 * it stops, and repctl uses them offline. The data path (meta_write_start /
 * meta_write_done) keeps the activity-log rule through the event loop:
 * before a write to a cold extent is submitted, the AL transaction naming
 * it is durable; bitmap pages covering an extent leaving the AL are written
 * before the transaction that evicts it.
 */
#ifndef REPD_META_H
#define REPD_META_H

#include <stdbool.h>
#include <stdint.h>

#include "md/md_al.h"
#include "md/md_bitmap.h"
#include "md/md_format.h"
#include "md/md_layout.h"

struct engine;
struct engine_op;

/* Where the metadata lives. */
struct meta_location {
	const char *path;		/* device/file holding the metadata */
	bool internal;			/* at the end of the data device */
};

/* Synchronous view of a metadata area, for repd start-up and repctl. */
struct meta_dev {
	int fd;				/* O_RDWR (O_DIRECT when possible) */
	bool direct;			/* fd has O_DIRECT */
	uint64_t dev_size;		/* bytes of the device/file */
	struct md_super sb;		/* newest valid superblock */
	unsigned slot;			/* the slot sb came from */
	struct md_layout layout;
};

/*
 * Open loc and read its superblock. 0, or -errno with a one-line reason in
 * err: -ENODATA (no metadata: "run repctl create-md"), -EBADMSG (both
 * slots bad), -EPROTO (newer format), -EMSGSIZE (device resized), -EAGAIN
 * (too small / truncated), or an open/read error.
 */
int meta_dev_open(const struct meta_location *loc, struct meta_dev *ret,
		  char *err, size_t errlen);
void meta_dev_close(struct meta_dev *d);

/* Read/write len bytes at off of the metadata device (aligned buffers,
 * 4 KiB multiples). Writes are followed by fdatasync when sync is set. */
int meta_dev_pread(const struct meta_dev *d, void *buf, size_t len,
		   uint64_t off);
int meta_dev_pwrite(const struct meta_dev *d, const void *buf, size_t len,
		    uint64_t off, bool sync);

/* Store sb into the next slot (seq + 1), durable. Updates d->sb/slot. */
int meta_dev_store_super(struct meta_dev *d, const struct md_super *sb);

/*
 * Initialise metadata on loc: zero AL ring and bitmap, superblock in slot 0
 * (slot 1 zeroed). size_hint is the backing size for internal metadata
 * (ignored: read from the device) and the data size for external. Writes
 * the layout to *ret_layout. 0 or -errno with err.
 */
int meta_create(const struct meta_location *loc, uint64_t data_size_ext,
		const struct md_params *p, const uint8_t *resource_uuid,
		uint32_t node_id, struct md_layout *ret_layout, char *err,
		size_t errlen);

/* Read the whole bitmap into bm (fresh, all zero). 0 or -errno. */
int meta_dev_read_bitmap(const struct meta_dev *d, struct md_bitmap *bm);

/* ---- the daemon's live metadata ---- */

struct meta;

/* A write waiting for the activity log. Embedded in the request context. */
struct meta_waiter {
	struct meta_waiter *next;
	uint64_t off, len;		/* the range being written */
	uint64_t wait_seq;		/* AL transaction it waits for */
	void (*resume)(struct meta_waiter *w);	/* may submit the write */
};

struct meta_stats {
	uint64_t al_writes;		/* AL transaction blocks written */
	uint64_t al_ahead;		/* of them queued ahead of a stream */
	uint64_t bm_writes;		/* bitmap pages written */
	uint64_t sb_writes;		/* superblocks written */
	uint64_t writes_started;	/* meta_write_start calls */
	uint64_t dirty_bytes;		/* granules set x granularity */
};

/*
 * Take over an open meta_dev (moved into the meta; d is cleared), load the
 * bitmap and, if the last shutdown was not clean, replay the AL into it.
 * Writes nothing: a start that fails later leaves the metadata as it was.
 * 0 or -errno.
 */
int meta_start(struct meta_dev *d, struct engine *eng, bool primary,
	       struct meta **ret);

/*
 * The daemon is about to serve: mark the superblock "in use" (no
 * CLEAN_SHUTDOWN; WAS_PRIMARY when primary), durable, and log the state.
 * 0 or -errno.
 */
int meta_activate(struct meta *m);

/*
 * Before submitting a write (WRITE, TRIM, WRITE_ZEROES) of w->off/len:
 * returns 0 if it may be submitted now, 1 if w was queued and w->resume
 * will be called from the event loop once it may, or -errno (the range is
 * invalid). Every 0 or 1 must be paired with meta_write_done().
 */
int meta_write_start(struct meta *m, struct meta_waiter *w);

/* The write of [off, off+len) is done on every leg, or marked dirty. */
void meta_write_done(struct meta *m, uint64_t off, uint64_t len);

/* Record [off, off+len) as out of sync with the peer (in memory; pages
 * reach the disk before the AL forgets the extent, or at shutdown). */
void meta_mark_dirty(struct meta *m, uint64_t off, uint64_t len);

/* Clear [off, off+len) in the bitmap: the peer confirmed those blocks. */
void meta_clear_dirty(struct meta *m, uint64_t off, uint64_t len);

/*
 * The first dirty run at or after byte offset from: 0 with *ret_off and
 * *ret_len (whole granules, at most max_len bytes), or -ENOENT.
 */
int meta_next_dirty(const struct meta *m, uint64_t from, uint64_t max_len,
		    uint64_t *ret_off, uint64_t *ret_len);

/* Mark every granule out of sync (full resync), durably: the flag
 * FULL_SYNC stays on disk until the resync ends. 0 or -errno. */
int meta_mark_all_dirty(struct meta *m);

/*
 * A write is about to be made while the peer is away: start a new
 * generation (once per separation), durable before it returns. Blocks
 * on a superblock write, which happens once per separation. 0 or -errno.
 */
int meta_before_degraded_write(struct meta *m);

/* Start a new generation now (first sync of a new pair). 0 or -errno. */
int meta_new_generation(struct meta *m);

/* The peer is connected again: the next separation starts a generation. */
void meta_peer_connected(struct meta *m);

/* Resync end on the source: B goes to history (md_uuid_clear_bitmap). */
int meta_sync_source_done(struct meta *m);
/* Resync start on the target: Inconsistent, and the source's current
 * UUID as ours (0: keep ours), durable. */
int meta_sync_target_start(struct meta *m, uint64_t source_current);
/* Resync end on the target: take the source's generations. */
int meta_sync_target_done(struct meta *m, const struct md_gen *source);
/*
 * Split brain resolved against us (connect --discard-my-data): make the
 * peer's data win. A bitmap resync when both sides count from the same
 * generation (*ret_full false), else a full one. Durable. 0 or -errno.
 */
int meta_discard_my_data(struct meta *m, const struct md_gen *peer,
			 bool *ret_full);
/*
 * repctl new-current-uuid --clear-bitmap, on a node that never held data
 * (md_uuid_never_held_data): start generation 1 of the resource with
 * nothing out of sync and call the data UpToDate; the peer adopts the
 * same UUID (link_send_generation), so two blank devices skip their
 * initial full sync. -EEXIST if the node held data.
 */
int meta_new_current_clear_bitmap(struct meta *m);

/* repctl invalidate: Inconsistent, every block to come from the peer. */
int meta_invalidate(struct meta *m);
/* promote --force: UpToDate; a node that never held data starts the
 * resource's first generation (and sends everything). */
int meta_force_up_to_date(struct meta *m);
/* Bitmap geometry, and its transfer to and from the peer: bits of
 * [first_bit, first_bit + 8 n_bytes) into out (md bitmap order; true if
 * any is set); OR such bits into ours (-ERANGE for a bit past our end). */
uint32_t meta_granularity(const struct meta *m);
uint64_t meta_bitmap_bits(const struct meta *m);
bool meta_bitmap_chunk(const struct meta *m, uint64_t first_bit,
		       uint8_t *out, uint32_t n_bytes);
int meta_merge_bits(struct meta *m, uint64_t first_bit, const uint8_t *bits,
		    uint32_t n_bytes);
/* Set and clear MD_FLAG_* bits, durable. */
int meta_update_flags(struct meta *m, uint32_t set, uint32_t clear);

/* Data area size in bytes (what is exported). */
uint64_t meta_data_size(const struct meta *m);
void meta_get_stats(const struct meta *m, struct meta_stats *ret);
const struct md_super *meta_super(const struct meta *m);

/* Free m without writing anything (a start that failed); NULL is fine.
 * Returns NULL. */
struct meta *meta_abandon(struct meta *m);

/*
 * Clean shutdown, after the loop stopped and every write finished: write
 * every dirty bitmap page, then the superblock with CLEAN_SHUTDOWN. Frees
 * m. 0 or -errno (metadata then stays "unclean": next start replays).
 */
int meta_stop(struct meta *m);

#endif /* REPD_META_H */
