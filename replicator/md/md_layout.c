/*
 * Metadata area layout. See md_layout.h for the formulas.
 */
#include <assert.h>
#include <errno.h>

#include "md_layout.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static uint64_t bitmap_bytes(uint64_t data_size, uint32_t granularity)
{
	uint64_t bits = div_up(data_size, granularity);

	return div_up(div_up(bits, 8), MD_BLOCK_SIZE) * MD_BLOCK_SIZE;
}

uint32_t md_al_ring_blocks(uint32_t al_slots)
{
	/*
	 * Replay needs the last ceil(S / 800) transactions intact to see every
	 * slot; one more block absorbs the torn write of the transaction in
	 * flight at a crash, which overwrites the oldest block.
	 */
	uint32_t need = (uint32_t)div_up(al_slots, MD_AL_CTX_PER_TR) + 1;

	return need > MD_AL_RING_MIN ? need : MD_AL_RING_MIN;
}

static uint64_t fixed_bytes(const struct md_params *p)
{
	return (uint64_t)MD_SB_AREA_SIZE +
	       (uint64_t)md_al_ring_blocks(p->al_slots) * MD_BLOCK_SIZE;
}

int md_size_for(uint64_t data_size, const struct md_params *p,
		uint64_t *ret_size)
{
	if (md_params_check(p) < 0 || md_data_size_check(p, data_size) < 0)
		return -EINVAL;
	*ret_size = fixed_bytes(p) + bitmap_bytes(data_size, p->bm_granularity);
	return 0;
}

/* Largest multiple of 4096 d with d + bitmap_bytes(d) <= avail, or 0. */
static uint64_t max_data_size(uint64_t avail, uint32_t granularity)
{
	/*
	 * d + bitmap_bytes(d) grows with d, so binary search works. lo is
	 * feasible: bitmap_bytes(lo) <= bitmap_bytes(avail).
	 */
	uint64_t lo = (avail - bitmap_bytes(avail, granularity)) / MD_BLOCK_SIZE;
	uint64_t hi = avail / MD_BLOCK_SIZE;	/* in blocks; maybe infeasible */

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		uint64_t d = mid * MD_BLOCK_SIZE;

		if (d + bitmap_bytes(d, granularity) <= avail)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo * MD_BLOCK_SIZE;
}

/* size is the data size. */
static int layout_external(uint64_t size, const struct md_params *p,
			   uint64_t fixed, struct md_layout *l)
{
	if (md_data_size_check(p, size) < 0)
		return -EINVAL;
	l->data_size = size;
	l->md_offset = 0;
	l->md_size = fixed + bitmap_bytes(size, p->bm_granularity);
	l->sb_offset[0] = 0;
	l->sb_offset[1] = MD_BLOCK_SIZE;
	l->al_offset = MD_SB_AREA_SIZE;
	l->bm_offset = l->al_offset + (uint64_t)l->al_blocks * MD_BLOCK_SIZE;
	return 0;
}

/* size is the backing size. */
static int layout_internal(uint64_t size, const struct md_params *p,
			   uint64_t fixed, struct md_layout *l)
{
	uint64_t end = size / MD_BLOCK_SIZE * MD_BLOCK_SIZE;

	if (end < fixed + 2 * MD_BLOCK_SIZE)
		return -ENOSPC;
	if (end > MD_DATA_SIZE_MAX)
		return -EINVAL;
	l->data_size = max_data_size(end - fixed, p->bm_granularity);
	if (l->data_size == 0)
		return -ENOSPC;
	if (md_data_size_check(p, l->data_size) < 0)
		return -EINVAL;
	l->md_offset = l->data_size;
	l->md_size = end - l->data_size;
	l->sb_offset[1] = end - MD_BLOCK_SIZE;
	l->sb_offset[0] = end - 2 * MD_BLOCK_SIZE;
	l->al_offset = l->sb_offset[0] - (uint64_t)l->al_blocks * MD_BLOCK_SIZE;
	l->bm_offset = l->al_offset -
		       bitmap_bytes(l->data_size, p->bm_granularity);
	assert(l->bm_offset >= l->data_size);
	return 0;
}

int md_layout_compute(uint64_t size, const struct md_params *p,
		      struct md_layout *ret_layout)
{
	struct md_layout l = { .placement = p->placement };
	uint64_t fixed;
	int r = -EINVAL;	/* stays so for a placement outside the enum */

	if (md_params_check(p) < 0)
		return -EINVAL;
	fixed = fixed_bytes(p);
	l.al_blocks = md_al_ring_blocks(p->al_slots);
	switch (p->placement) {
	case MD_PLACEMENT_EXTERNAL:
		r = layout_external(size, p, fixed, &l);
		break;
	case MD_PLACEMENT_INTERNAL:
		r = layout_internal(size, p, fixed, &l);
		break;
	}
	if (r < 0)
		return r;
	l.bm_pages = (uint32_t)(bitmap_bytes(l.data_size, p->bm_granularity) /
				MD_BLOCK_SIZE);
	l.bm_bits = div_up(l.data_size, p->bm_granularity);
	l.al_extents = (uint32_t)div_up(l.data_size, p->al_extent_size);
	*ret_layout = l;
	return 0;
}

int md_layout_for_super(const struct md_super *sb, uint64_t dev_size,
			struct md_layout *ret_layout)
{
	struct md_layout l;
	int r = -EINVAL;	/* stays so for a placement outside the enum */

	if (md_super_check(sb) < 0)
		return -EINVAL;
	switch (sb->params.placement) {
	case MD_PLACEMENT_INTERNAL:
		r = md_layout_compute(dev_size, &sb->params, &l);
		if (r == -ENOSPC || (r == 0 && l.data_size != sb->data_size))
			return -EMSGSIZE;
		break;
	case MD_PLACEMENT_EXTERNAL:
		r = md_layout_compute(sb->data_size, &sb->params, &l);
		if (r == 0 && dev_size < l.md_size)
			return -EMSGSIZE;
		break;
	}
	if (r < 0)
		return r;
	*ret_layout = l;
	return 0;
}
