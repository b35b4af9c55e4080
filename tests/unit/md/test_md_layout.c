/*
 * CUnit tests of the metadata area layout (replicator/md/md_layout.h).
 * Expected numbers are worked out by hand from the formulas in
 * docs/metadata.md, not taken from the code under test.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "md/md_layout.h"
#include "md_test.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

static void test_ring_blocks(void)
{
	CU_ASSERT_EQUAL(md_al_ring_blocks(67), 8);
	CU_ASSERT_EQUAL(md_al_ring_blocks(1237), 8);
	CU_ASSERT_EQUAL(md_al_ring_blocks(5600), 8);	/* 7 * 800 + 1 block */
	CU_ASSERT_EQUAL(md_al_ring_blocks(5601), 9);
	CU_ASSERT_EQUAL(md_al_ring_blocks(6433), 10);
	CU_ASSERT_EQUAL(md_al_ring_blocks(MD_AL_SLOTS_MAX), 83);
	CU_ASSERT_EQUAL(md_al_ring_blocks(MD_AL_SLOTS_MAX), MD_AL_RING_MAX);
}

static void test_size_for_table(void)
{
	/* The table in docs/metadata.md: 4 KiB granularity, 1237 slots. */
	static const struct {
		uint64_t data, md;
	} rows[] = {
		{ 1 * GiB, 72 * KiB },			/* 32K bitmap + 40K */
		{ 100 * GiB, 3200 * KiB + 40 * KiB },
		{ 1 * TiB, 32 * MiB + 40 * KiB },
		{ 16 * TiB, 512 * MiB + 40 * KiB },
		{ 4 * KiB, 44 * KiB },			/* 1 bit still takes a page */
		{ 128 * MiB + 4 * KiB, 48 * KiB },	/* 4097 bytes of bitmap */
	};
	struct md_params p = MD_PARAMS_DEFAULT;
	uint64_t sz = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(md_size_for(rows[i].data, &p, &sz), 0);
		CU_ASSERT_EQUAL(sz, rows[i].md);
	}
	/* Coarser granularity: 1 TiB at 64 KiB per bit = 2 MiB of bitmap. */
	p.bm_granularity = 64 * KiB;
	CU_ASSERT_EQUAL(md_size_for(TiB, &p, &sz), 0);
	CU_ASSERT_EQUAL(sz, 2 * MiB + 40 * KiB);
	/* More slots, longer ring: 6433 slots = 10 blocks. */
	p = MD_PARAMS_DEFAULT;
	p.al_slots = 6433;
	CU_ASSERT_EQUAL(md_size_for(GiB, &p, &sz), 0);
	CU_ASSERT_EQUAL(sz, 8 * KiB + 40 * KiB + 32 * KiB);
	sz = 1;
	CU_ASSERT_EQUAL(md_size_for(GiB + 512, &p, &sz), -EINVAL);
	CU_ASSERT_EQUAL(md_size_for(0, &p, &sz), -EINVAL);
	CU_ASSERT_EQUAL(sz, 1);
}

static void test_external_1g(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_layout l;

	p.placement = MD_PLACEMENT_EXTERNAL;
	CU_ASSERT_EQUAL_FATAL(md_layout_compute(GiB, &p, &l), 0);
	CU_ASSERT_EQUAL(l.placement, MD_PLACEMENT_EXTERNAL);
	CU_ASSERT_EQUAL(l.data_size, GiB);
	CU_ASSERT_EQUAL(l.md_offset, 0);
	CU_ASSERT_EQUAL(l.md_size, 72 * KiB);
	CU_ASSERT_EQUAL(l.sb_offset[0], 0);
	CU_ASSERT_EQUAL(l.sb_offset[1], 4 * KiB);
	CU_ASSERT_EQUAL(l.al_offset, 8 * KiB);
	CU_ASSERT_EQUAL(l.al_blocks, 8);
	CU_ASSERT_EQUAL(l.bm_offset, 40 * KiB);
	CU_ASSERT_EQUAL(l.bm_pages, 8);
	CU_ASSERT_EQUAL(l.bm_bits, 262144);
	CU_ASSERT_EQUAL(l.al_extents, 256);
}

static void test_internal_1g(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_layout l;

	CU_ASSERT_EQUAL_FATAL(md_layout_compute(GiB, &p, &l), 0);
	CU_ASSERT_EQUAL(l.placement, MD_PLACEMENT_INTERNAL);
	/* 1 GiB - 72 KiB: its bitmap still needs 8 pages. */
	CU_ASSERT_EQUAL(l.data_size, GiB - 72 * KiB);
	CU_ASSERT_EQUAL(l.md_offset, GiB - 72 * KiB);
	CU_ASSERT_EQUAL(l.md_size, 72 * KiB);
	CU_ASSERT_EQUAL(l.bm_offset, GiB - 72 * KiB);
	CU_ASSERT_EQUAL(l.bm_pages, 8);
	CU_ASSERT_EQUAL(l.bm_bits, (GiB - 72 * KiB) / 4096);
	CU_ASSERT_EQUAL(l.al_offset, GiB - 40 * KiB);
	CU_ASSERT_EQUAL(l.sb_offset[0], GiB - 8 * KiB);
	CU_ASSERT_EQUAL(l.sb_offset[1], GiB - 4 * KiB);
	CU_ASSERT_EQUAL(l.al_extents, 256);	/* last one partial */
}

/* The invariants of an internal layout on a backing of size bytes. */
static void check_internal(uint64_t size, const struct md_params *p)
{
	uint64_t end = size / 4096 * 4096, md = 0, md_next = 0;
	struct md_layout l;

	CU_ASSERT_EQUAL_FATAL(md_layout_compute(size, p, &l), 0);
	CU_ASSERT_EQUAL(l.data_size % 4096, 0);
	CU_ASSERT_EQUAL_FATAL(md_size_for(l.data_size, p, &md), 0);
	/* It fits... */
	CU_ASSERT(l.data_size + md <= end);
	/* ...and 4 KiB more data would not. */
	if (md_size_for(l.data_size + 4096, p, &md_next) == 0)
		CU_ASSERT(l.data_size + 4096 + md_next > end);
	CU_ASSERT_EQUAL(l.md_offset, l.data_size);
	CU_ASSERT_EQUAL(l.md_offset + l.md_size, end);
	CU_ASSERT_EQUAL(l.sb_offset[1], end - 4096);
	CU_ASSERT_EQUAL(l.sb_offset[0], end - 8192);
	CU_ASSERT_EQUAL(l.al_offset, end - 8192 - (uint64_t)l.al_blocks * 4096);
	CU_ASSERT_EQUAL(l.bm_offset + (uint64_t)l.bm_pages * 4096, l.al_offset);
	CU_ASSERT(l.bm_offset >= l.data_size);
	CU_ASSERT(l.bm_offset - l.data_size < 8192);	/* slack bound */
	CU_ASSERT_EQUAL(l.bm_bits, (l.data_size + p->bm_granularity - 1) /
				   p->bm_granularity);
	CU_ASSERT_EQUAL(l.bm_pages, (l.bm_bits + 32767) / 32768);
	CU_ASSERT_EQUAL(l.md_size - (l.bm_offset - l.data_size), md);
}

static void test_internal_many_sizes(void)
{
	static const uint64_t sizes[] = {
		48 * KiB, 64 * KiB, 1 * MiB, 128 * MiB + 40 * KiB + 8 * KiB,
		GiB - 1, GiB, GiB + 4095, 100 * GiB, TiB + 12345,
		16 * TiB, 256 * TiB - 512,
	};
	static const uint32_t grans[] = { 4096, 8192, 65536, 1048576 };

	for (size_t g = 0; g < sizeof(grans) / sizeof(grans[0]); g++) {
		struct md_params p = MD_PARAMS_DEFAULT;

		p.bm_granularity = grans[g];
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			check_internal(sizes[i], &p);
	}
	/* Every 4 KiB step across a bitmap page boundary (128 MiB of data). */
	for (uint64_t s = 128 * MiB; s < 128 * MiB + 80 * KiB; s += 4 * KiB) {
		struct md_params p = MD_PARAMS_DEFAULT;

		check_internal(s, &p);
	}
}

static void test_internal_too_small(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_layout l;

	/* 8 KiB superblocks + 32 KiB ring + 1 bitmap page + 4 KiB of data. */
	CU_ASSERT_EQUAL(md_layout_compute(48 * KiB, &p, &l), 0);
	CU_ASSERT_EQUAL(l.data_size, 4 * KiB);
	CU_ASSERT_EQUAL(md_layout_compute(48 * KiB - 1, &p, &l), -ENOSPC);
	CU_ASSERT_EQUAL(md_layout_compute(0, &p, &l), -ENOSPC);
}

static void test_layout_rejects(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_layout l;

	p.placement = MD_PLACEMENT_EXTERNAL;
	CU_ASSERT_EQUAL(md_layout_compute(0, &p, &l), -EINVAL);
	CU_ASSERT_EQUAL(md_layout_compute(GiB + 1, &p, &l), -EINVAL);
	/* 2^58 bytes in 1 MiB extents: too many extents for u32. */
	p.al_extent_size = 1 << 20;
	CU_ASSERT_EQUAL(md_layout_compute(UINT64_C(1) << 58, &p, &l), -EINVAL);
	p.al_extent_size = 1 << 30;
	CU_ASSERT_EQUAL(md_layout_compute(UINT64_C(1) << 58, &p, &l), 0);
	CU_ASSERT_EQUAL(md_layout_compute((UINT64_C(1) << 58) + 4096, &p, &l),
			-EINVAL);
	p = MD_PARAMS_DEFAULT;
	p.placement = (enum md_placement)7;
	CU_ASSERT_EQUAL(md_layout_compute(GiB, &p, &l), -EINVAL);
	p = MD_PARAMS_DEFAULT;
	p.al_slots = 66;
	CU_ASSERT_EQUAL(md_layout_compute(GiB, &p, &l), -EINVAL);
	p = MD_PARAMS_DEFAULT;
	p.al_extent_size = 6 << 20;
	CU_ASSERT_EQUAL(md_layout_compute(GiB, &p, &l), -EINVAL);
}

static void test_layout_for_super(void)
{
	static const uint8_t uuid[MD_UUID_SIZE] = { 1 };
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_layout l, l2;
	struct md_super sb;

	/* Internal: the backing size must give back the stored data size. */
	CU_ASSERT_EQUAL_FATAL(md_layout_compute(100 * GiB, &p, &l), 0);
	CU_ASSERT_EQUAL_FATAL(md_super_init(&p, l.data_size, uuid, 1, &sb), 0);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 100 * GiB, &l2), 0);
	CU_ASSERT_EQUAL(memcmp(&l, &l2, sizeof(l)), 0);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 100 * GiB + 4095, &l2), 0);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 101 * GiB, &l2), -EMSGSIZE);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 99 * GiB, &l2), -EMSGSIZE);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 4096, &l2), -EMSGSIZE);
	/* External: the file must hold the whole area. */
	p.placement = MD_PLACEMENT_EXTERNAL;
	CU_ASSERT_EQUAL_FATAL(md_super_init(&p, GiB, uuid, 1, &sb), 0);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 72 * KiB, &l2), 0);
	CU_ASSERT_EQUAL(l2.data_size, GiB);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 1 * MiB, &l2), 0);
	CU_ASSERT_EQUAL(md_layout_for_super(&sb, 72 * KiB - 1, &l2), -EMSGSIZE);
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "AL ring blocks", test_ring_blocks },
		{ "md_size_for table", test_size_for_table },
		{ "external 1 GiB", test_external_1g },
		{ "internal 1 GiB", test_internal_1g },
		{ "internal many sizes", test_internal_many_sizes },
		{ "internal too small", test_internal_too_small },
		{ "layout rejects", test_layout_rejects },
		{ "layout for superblock", test_layout_for_super },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_layout", tests);
}
