/*
 * The dirty bitmap: one bit per granule (bm_granularity bytes) of the data
 * area; a set bit means "this granule may differ on the peer". Pure, in
 * memory; the caller persists pages. All memory is allocated once by
 * md_bitmap_new(); no other call allocates.
 *
 * On disk (and in md_bitmap_encode_page) the bitmap is a byte string in
 * little-endian bit order: granule i is bit (i % 8) of byte (i / 8), the
 * least significant bit first. Page p (4 KiB) holds granules
 * [p * 32768, (p + 1) * 32768). Bits past the last granule are zero.
 *
 * Ranges are byte offset + length within the data area. Setting marks
 * every granule the range touches (a partial granule is dirty as a
 * whole); clearing clears only granules the range covers completely,
 * where the last, partial granule of the data area counts as covered when
 * the range reaches the end. Both errors are conservative: more resync,
 * never less.
 *
 * The count of set bits and the set of pages changed since they were last
 * marked clean are maintained on every change, never recounted.
 */
#ifndef REPD_MD_BITMAP_H
#define REPD_MD_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_bitmap;

/*
 * Allocate an all-clear bitmap for data_size bytes (> 0) at granularity
 * bytes per bit (a power of two, 4 KiB .. 1 MiB). All pages start clean
 * (they match zeroed metadata). 0, -EINVAL or -ENOMEM.
 */
int md_bitmap_new(uint64_t data_size, uint32_t granularity,
		  struct md_bitmap **ret_bm);

/* Free bm (NULL is fine). Returns NULL. */
struct md_bitmap *md_bitmap_free(struct md_bitmap *bm);

uint64_t md_bitmap_bits(const struct md_bitmap *bm);	/* granules */
uint32_t md_bitmap_pages(const struct md_bitmap *bm);	/* 4 KiB pages */
uint64_t md_bitmap_count(const struct md_bitmap *bm);	/* set bits, O(1) */
uint32_t md_bitmap_granularity(const struct md_bitmap *bm);
uint64_t md_bitmap_data_size(const struct md_bitmap *bm);

/*
 * Mark [off, off + len) dirty: every granule it touches. Call when a
 * write is not known to be on the peer (peer lost, protocol A backlog,
 * AL replay). 0, -EINVAL (len 0) or -ERANGE (past the data area; nothing
 * changed).
 */
int md_bitmap_set(struct md_bitmap *bm, uint64_t off, uint64_t len);

/*
 * Mark [off, off + len) clean: granules the range covers completely (see
 * above). Call when resync has made that range equal on both sides.
 * 0, -EINVAL or -ERANGE (nothing changed).
 */
int md_bitmap_clear(struct md_bitmap *bm, uint64_t off, uint64_t len);

/* Set every bit (full sync). */
void md_bitmap_set_all(struct md_bitmap *bm);

/* True if any granule touched by [off, off + len) is dirty; false also for
 * an empty or out-of-range request. */
bool md_bitmap_test(const struct md_bitmap *bm, uint64_t off, uint64_t len);

/* True if bit is set; false for bit >= md_bitmap_bits(). */
bool md_bitmap_test_bit(const struct md_bitmap *bm, uint64_t bit);

/*
 * Resync iteration: the first set bit at or after from. 0 and *ret_bit,
 * or -ENOENT (none left; also for from >= md_bitmap_bits()).
 */
int md_bitmap_next_set(const struct md_bitmap *bm, uint64_t from,
		       uint64_t *ret_bit);

/*
 * Byte range of granule bit: off = bit * granularity, len = granularity,
 * except that the last granule ends at the data size. 0 or -ERANGE.
 */
int md_bitmap_granule(const struct md_bitmap *bm, uint64_t bit,
		      uint64_t *ret_off, uint64_t *ret_len);

/*
 * dst |= src, for merging the peer's bitmap on connect (both sides resync
 * the union). Same data size and granularity required, else -EINVAL.
 * Pages of dst that change become dirty.
 */
int md_bitmap_merge(struct md_bitmap *dst, const struct md_bitmap *src);

/*
 * Pages whose granules [off, off + len) touches, first..last. Call before
 * writing an AL transaction that evicts an extent: those pages, if dirty,
 * must be durable first. 0, -EINVAL or -ERANGE.
 */
int md_bitmap_pages_of(const struct md_bitmap *bm, uint64_t off, uint64_t len,
		       uint32_t *ret_first, uint32_t *ret_last);

/*
 * Persisting: the first dirty page at or after from. 0 and *ret_page, or
 * -ENOENT.
 */
int md_bitmap_next_dirty_page(const struct md_bitmap *bm, uint32_t from,
			      uint32_t *ret_page);
bool md_bitmap_page_is_dirty(const struct md_bitmap *bm, uint32_t page);
uint32_t md_bitmap_dirty_pages(const struct md_bitmap *bm);	/* O(1) */

/*
 * Mark page clean. Call right after md_bitmap_encode_page() and before
 * the write is submitted: a change made while the write is in flight
 * dirties the page again instead of being lost. If the write then fails,
 * call md_bitmap_page_mark_dirty(). Pages past the end are ignored.
 */
void md_bitmap_page_clean(struct md_bitmap *bm, uint32_t page);
void md_bitmap_page_mark_dirty(struct md_bitmap *bm, uint32_t page);

/*
 * Encode page into buf (MD_BLOCK_SIZE bytes, len at least that).
 * 0, -ENOBUFS or -ERANGE (no such page). Does not change the dirty state.
 */
int md_bitmap_encode_page(const struct md_bitmap *bm, uint32_t page,
			  void *buf, size_t len);

/*
 * Load page from buf (MD_BLOCK_SIZE bytes) read at open, replacing its
 * bits; the count follows and the page becomes clean (it matches disk).
 * 0, -EAGAIN (len short), -ERANGE (no such page) or -EBADMSG (bits set
 * past the last granule; nothing changed).
 */
int md_bitmap_load_page(struct md_bitmap *bm, uint32_t page, const void *buf,
			size_t len);

#endif
