/*
 * On-disk metadata, part 2: where everything lives. Pure arithmetic.
 *
 * The metadata area holds two superblock slots, the activity-log ring and
 * the dirty bitmap, each a whole number of 4 KiB blocks:
 *
 *   external (a file or device of its own, from offset 0):
 *     [sb0][sb1][AL ring: R blocks][bitmap: P pages]
 *
 *   internal (the end of the backing device, end = backing rounded down
 *   to 4 KiB; the superblocks sit at a fixed distance from the end so
 *   open can find them before it knows anything else):
 *     [data: D bytes][slack < 8 KiB][bitmap][AL ring][sb0][sb1] end
 *
 * Sizes, with g the granularity, S the AL slots:
 *   bitmap_bytes(D) = roundup(ceil(ceil(D / g) / 8), 4096)
 *   R               = max(8, ceil(S / 800) + 1)
 *   md_size_for(D)  = 2 * 4096 + R * 4096 + bitmap_bytes(D)
 * Internal: D is the largest multiple of 4096 with
 *   D + md_size_for(D) <= floor(backing / 4096) * 4096.
 */
#ifndef REPD_MD_LAYOUT_H
#define REPD_MD_LAYOUT_H

#include <stdint.h>

#include "md_format.h"

#define MD_AL_CTX_PER_TR	800u	/* slot-table entries in each AL block */
#define MD_AL_RING_MIN		8u	/* 32 KiB, as DRBD */
#define MD_AL_RING_MAX		((MD_AL_SLOTS_MAX + MD_AL_CTX_PER_TR - 1) / \
				 MD_AL_CTX_PER_TR + 1)
#define MD_BM_BITS_PER_PAGE	(MD_BLOCK_SIZE * 8u)

struct md_layout {
	enum md_placement placement;
	uint64_t data_size;		/* bytes exported (the data area) */
	uint64_t md_offset;		/* first byte of the metadata area */
	uint64_t md_size;		/* bytes of the metadata area (internal: incl. slack) */
	uint64_t sb_offset[MD_SB_SLOTS];	/* each MD_BLOCK_SIZE bytes */
	uint64_t al_offset;		/* AL ring, al_blocks * MD_BLOCK_SIZE bytes */
	uint32_t al_blocks;		/* R: AL transaction blocks in the ring */
	uint32_t al_extents;		/* extents covering the data area */
	uint64_t bm_offset;		/* bitmap, bm_pages * MD_BLOCK_SIZE bytes */
	uint32_t bm_pages;		/* 4 KiB bitmap pages */
	uint64_t bm_bits;		/* granules = ceil(data_size / granularity) */
};

/* R, the AL ring length in blocks, for al_slots slots (any value). */
uint32_t md_al_ring_blocks(uint32_t al_slots);

/*
 * Bytes of metadata (superblocks + AL ring + bitmap) for a data area of
 * data_size bytes; the placement in p does not change it. Call from
 * repctl and docs to size an external file. 0 or -EINVAL (p or
 * data_size out of range); *ret_size written on 0.
 */
int md_size_for(uint64_t data_size, const struct md_params *p,
		uint64_t *ret_size);

/*
 * Compute the layout for p. size is the backing size in bytes for
 * internal placement (the data size is derived, see above), and the data
 * size for external placement. 0, -EINVAL (p or an external size out of
 * range) or -ENOSPC (backing too small to hold 4 KiB of data plus its
 * metadata). *ret_layout written on 0.
 */
int md_layout_compute(uint64_t size, const struct md_params *p,
		      struct md_layout *ret_layout);

/*
 * Call at open, after md_select_slot(): the layout the superblock
 * describes, on a metadata device of dev_size bytes (internal: the backing
 * device; external: the metadata file). 0, or -EMSGSIZE if the device does
 * not match (internal: resized, the computed data size differs from
 * sb->data_size; external: smaller than the metadata area), or -EINVAL.
 */
int md_layout_for_super(const struct md_super *sb, uint64_t dev_size,
			struct md_layout *ret_layout);

#endif
