/*
 * The activity log (AL): the set of "hot" extents (al_extent_size bytes
 * each, default 4 MiB) where writes may be in flight. Modelled on DRBD's
 * activity log and HAST's activemap. Pure: it decides and encodes; the
 * caller does the I/O. Memory is allocated once by md_al_new().
 *
 * Rule it exists for: before the first write to a cold extent is
 * submitted, a transaction naming that extent is durable in the AL ring.
 * So after a primary crash, every region that may differ between the
 * nodes is in the bitmap or in the AL, and md_al_replay() names the AL
 * part.
 *
 * The AL holds al_slots slots, each empty or naming one extent, with a
 * count of writes in flight. Slots with no writes in flight form an LRU
 * list; a cold extent takes the least recently used one (empty slots
 * first). An extent with writes in flight is never evicted.
 *
 * A transaction (one 4 KiB block) carries its updates (slot, extent now
 * hot, extent evicted) and, rotating, 800 entries of the slot table as it
 * stands after the updates. The ring holds R = md_al_ring_blocks(slots)
 * blocks; transaction seq goes to block seq % R. The last R - 1
 * transactions together name every slot, so one torn block (the
 * transaction being written at the crash) never hides a hot extent.
 *
 * Protocol for the caller:
 *   r = md_al_write_start(al, off, len, &tr, &wait);
 *   MD_AL_NEED_TR: persist bitmap pages of every tr.updates[i].evicted
 *                  extent if dirty (md_bitmap_pages_of); then encode tr
 *                  (md_al_tr_encode) and write it to ring block
 *                  md_al_tr_block(); after it is durable call
 *                  md_al_tr_durable(al, tr.seq). Transactions are written
 *                  one at a time, in seq order.
 *   MD_AL_WAIT_TR: another write's transaction (seq wait) makes this
 *                  extent hot and is not durable yet; submit once
 *                  md_al_is_durable(al, wait).
 *   MD_AL_READY:   submit now.
 *   -EBUSY:        every slot has writes in flight; retry after a
 *                  md_al_write_done(). Nothing changed.
 * and when the write is done on every leg (or its range is marked in the
 * bitmap because a leg was lost): md_al_write_done(al, off, len).
 */
#ifndef REPD_MD_AL_H
#define REPD_MD_AL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "md_format.h"
#include "md_layout.h"

#define MD_AL_MAGIC		"REPDMDAL"	/* 8 bytes at offset 0, no NUL */
#define MD_AL_VERSION		1u
#define MD_AL_UPDATES_MAX	64u	/* extents one write (transaction) may add */
#define MD_AL_NONE		UINT32_MAX	/* "no extent" in a slot or update */

/* AL block field offsets (bytes); the table in docs/metadata.md. */
#define MD_AL_OFF_MAGIC		0
#define MD_AL_OFF_CRC		8
#define MD_AL_OFF_VERSION	12
#define MD_AL_OFF_SEQ		16
#define MD_AL_OFF_SLOTS		24
#define MD_AL_OFF_EXTENT_SIZE	28
#define MD_AL_OFF_N_UPDATES	32
#define MD_AL_OFF_CTX_START	36
#define MD_AL_OFF_CTX_COUNT	40
#define MD_AL_OFF_UPDATES	64	/* MD_AL_UPDATES_MAX * 12 bytes */
#define MD_AL_OFF_CTX		(MD_AL_OFF_UPDATES + 12 * MD_AL_UPDATES_MAX)
#define MD_AL_USED		(MD_AL_OFF_CTX + 4 * MD_AL_CTX_PER_TR)

enum md_al_start {
	MD_AL_READY = 0,	/* submit the write now */
	MD_AL_NEED_TR = 1,	/* make *ret_tr durable first */
	MD_AL_WAIT_TR = 2,	/* wait until transaction *ret_wait_seq is durable */
};

struct md_al_update {
	uint32_t slot;		/* slot index < al_slots */
	uint32_t extent;	/* extent now hot in that slot */
	uint32_t evicted;	/* extent that left the log, or MD_AL_NONE */
};

/* One transaction, decoded. About 4 KiB; callers keep one per block. */
struct md_al_tr {
	uint64_t seq;			/* >= 1; ring block seq % R */
	uint32_t n_updates;		/* <= MD_AL_UPDATES_MAX */
	uint32_t ctx_start;		/* first slot of ctx[] */
	uint32_t ctx_count;		/* ctx[i] is slot (ctx_start + i) % al_slots */
	struct md_al_update updates[MD_AL_UPDATES_MAX];
	uint32_t ctx[MD_AL_CTX_PER_TR];	/* extent or MD_AL_NONE */
};

struct md_al;

/*
 * Allocate an AL of al_slots slots over a data area of data_size bytes cut
 * into al_extent_size extents (ranges as in md_format.h). It starts with
 * every slot empty and its next transaction seq 1, which is right for a
 * zeroed ring; for a ring that holds transactions call md_al_replay()
 * before anything else. 0, -EINVAL or -ENOMEM.
 */
int md_al_new(uint32_t al_slots, uint32_t al_extent_size, uint64_t data_size,
	      struct md_al **ret_al);

/* Free al (NULL is fine). Returns NULL. */
struct md_al *md_al_free(struct md_al *al);

/*
 * Call before submitting a write of [off, off + len) (len > 0). Takes a
 * reference on every extent the range touches. Returns MD_AL_READY,
 * MD_AL_NEED_TR (*ret_tr filled: the next transaction; *ret_wait_seq =
 * its seq) or MD_AL_WAIT_TR (*ret_wait_seq) as described above, or
 * -EBUSY (no free slot for a cold extent), -E2BIG (range spans more than
 * MD_AL_UPDATES_MAX extents), -ERANGE (past the data area), -EINVAL
 * (len 0), -EOVERFLOW (transaction seq exhausted); no change on error.
 * *ret_tr is written only for MD_AL_NEED_TR, *ret_wait_seq on success
 * (0 for MD_AL_READY).
 */
int md_al_write_start(struct md_al *al, uint64_t off, uint64_t len,
		      struct md_al_tr *ret_tr, uint64_t *ret_wait_seq);

/*
 * Call when a write started with md_al_write_start(al, off, len) is done
 * on every leg (or its range is in the bitmap). Drops the references;
 * extents with none left become evictable (most recently used). 0, or
 * -EINVAL if the range holds an extent without a reference (nothing
 * changed; a caller bug).
 */
int md_al_write_done(struct md_al *al, uint64_t off, uint64_t len);

/*
 * Call when transaction seq is durable. Must be the oldest not yet
 * durable (transactions are written in order). 0 or -EINVAL.
 */
int md_al_tr_durable(struct md_al *al, uint64_t seq);

/* True if transaction seq (and so every older one) is durable. */
bool md_al_is_durable(const struct md_al *al, uint64_t seq);

/*
 * AL read-ahead for sequential writes. A stream that writes into a cold
 * extent waits for a transaction (one synchronous metadata write), and
 * writes in order keep meeting cold extents: on a fresh AL a 1 MiB
 * sequential stream spent most of its time waiting (one wait per 4 MiB).
 * So when a write [off, off + len) continues a stream (it starts at most
 * one extent before or after where one of the last MD_AL_STREAMS streams
 * ended: clients such as nbdcopy copy several regions at once) and
 * extent E + MD_AL_AHEAD / 2 is cold (E: the extent of the write's last
 * byte), the extents E + 1 .. E + MD_AL_AHEAD (clamped to the data area)
 * are worth making hot now, in one transaction, before the stream gets
 * there. md_al_ahead() notes the write in *s (a write that continues no
 * stream replaces the oldest) and returns true with that byte range in
 * *ret_off, *ret_len; false when there is nothing to do (no stream,
 * already hot, the write ends in the last extent, or a bad range). It
 * does not change al.
 */
#define MD_AL_AHEAD	8u	/* extents made hot ahead of a stream */
#define MD_AL_STREAMS	4u	/* streams followed at once */
struct md_al_streams {
	uint64_t end[MD_AL_STREAMS];	/* where each stream's last write ended */
	unsigned oldest;		/* the entry a new stream replaces */
};
bool md_al_ahead(const struct md_al *al, struct md_al_streams *s,
		 uint64_t off, uint64_t len, uint64_t *ret_off,
		 uint64_t *ret_len);

/* Ring block index (0 .. R-1) for transaction seq. */
uint32_t md_al_tr_block(const struct md_al *al, uint64_t seq);

uint32_t md_al_slots(const struct md_al *al);
uint32_t md_al_ring_len(const struct md_al *al);	/* R, in blocks */
uint32_t md_al_extent_size(const struct md_al *al);
uint32_t md_al_hot_count(const struct md_al *al);	/* non-empty slots */
bool md_al_is_hot(const struct md_al *al, uint32_t extent);
uint64_t md_al_next_seq(const struct md_al *al);

/*
 * Encode tr into buf (MD_BLOCK_SIZE bytes written, len at least that) with
 * al's geometry. 0, -ENOBUFS or -EINVAL (tr out of range for al).
 */
int md_al_tr_encode(const struct md_al *al, const struct md_al_tr *tr,
		    void *buf, size_t len);

/*
 * Decode one ring block written for al's geometry (for dump-md and
 * replay). 0, -EAGAIN (short), -ENODATA (all zero), -EBADMSG (bad magic,
 * crc, field or geometry), -EPROTO (newer version). *ret_tr on 0 only.
 */
int md_al_tr_decode(const struct md_al *al, const void *buf, size_t len,
		    struct md_al_tr *ret_tr);

/*
 * Call at open on a fresh al (from md_al_new, nothing started), with the
 * whole ring (md_al_ring_len(al) blocks, block i at ring + i * 4096).
 * Rebuilds the slot table as of the newest valid transaction: blocks that
 * do not decode (torn, zero) or sit at the wrong ring position are
 * skipped; the newest run of consecutive seqs is used and anything older
 * than a gap ignored. If that run neither starts at seq 1 nor names every
 * slot, the table cannot be known: -EUCLEAN, and the caller must treat the
 * whole device as dirty. On 0 the al holds the rebuilt table (all
 * evictable), continues at the next seq, and ret_extents[0 .. *ret_n)
 * (room for md_al_slots(al) entries; sorted) are the hot extents, which
 * the caller ORs into the bitmap (md_al_extents_to_bitmap) if the node
 * crashed as primary. An all-zero ring gives 0 extents.
 * Errors: -EAGAIN (len short), -EINVAL (len long, or al not fresh),
 * -EUCLEAN; nothing changed on error.
 */
int md_al_replay(struct md_al *al, const void *ring, size_t len,
		 uint32_t *ret_extents, uint32_t *ret_n);

struct md_bitmap;

/*
 * Set in bm the byte ranges of extents[0 .. n) (extent_size bytes each,
 * the last one clamped to the data size). 0, or -ERANGE if an extent lies
 * past the data area (bm unchanged from that extent on).
 */
int md_al_extents_to_bitmap(const uint32_t *extents, uint32_t n,
			    uint32_t extent_size, struct md_bitmap *bm);

#endif
