/*
 * CUnit tests of the dirty bitmap (replicator/md/md_bitmap.h).
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "md/md_bitmap.h"
#include "md/md_format.h"
#include "md_test.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static struct md_bitmap *new_bm(uint64_t size, uint32_t gran)
{
	struct md_bitmap *bm = NULL;

	assert(md_bitmap_new(size, gran, &bm) == 0);
	return bm;
}

/* Count set bits the slow way, to check the incremental count. */
static uint64_t slow_count(const struct md_bitmap *bm)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < md_bitmap_bits(bm); b++)
		n += md_bitmap_test_bit(bm, b);
	return n;
}

static void test_new_geometry(void)
{
	struct md_bitmap *bm = NULL;

	bm = new_bm(GiB, 4096);
	CU_ASSERT_EQUAL(md_bitmap_bits(bm), 262144);
	CU_ASSERT_EQUAL(md_bitmap_pages(bm), 8);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 0);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 0);
	CU_ASSERT_EQUAL(md_bitmap_granularity(bm), 4096);
	CU_ASSERT_EQUAL(md_bitmap_data_size(bm), GiB);
	bm = md_bitmap_free(bm);
	CU_ASSERT_PTR_NULL(bm);
	/* 1 GiB + 4 KiB at 64 KiB: the last granule is 4 KiB long. */
	bm = new_bm(GiB + 4 * KiB, 65536);
	CU_ASSERT_EQUAL(md_bitmap_bits(bm), 16385);
	CU_ASSERT_EQUAL(md_bitmap_pages(bm), 1);
	bm = md_bitmap_free(bm);
	bm = new_bm(128 * MiB + 4 * KiB, 4096);	/* 32769 bits */
	CU_ASSERT_EQUAL(md_bitmap_pages(bm), 2);
	bm = md_bitmap_free(bm);

	CU_ASSERT_EQUAL(md_bitmap_new(GiB, 4095, &bm), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_new(GiB, 2048, &bm), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_new(GiB, 2 * 1024 * 1024, &bm), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_new(0, 4096, &bm), -EINVAL);
	CU_ASSERT_PTR_NULL(bm);
	CU_ASSERT_PTR_NULL(md_bitmap_free(NULL));
}

static void test_set_unaligned_marks_whole_granules(void)
{
	struct md_bitmap *bm = new_bm(MiB, 4096);

	/* 1 byte in granule 3. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 3 * 4096 + 100, 1), 0);
	CU_ASSERT(md_bitmap_test_bit(bm, 3));
	CU_ASSERT(!md_bitmap_test_bit(bm, 2));
	CU_ASSERT(!md_bitmap_test_bit(bm, 4));
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 1);
	/* 4 KiB straddling granules 9 and 10. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 9 * 4096 + 2048, 4096), 0);
	CU_ASSERT(md_bitmap_test_bit(bm, 9));
	CU_ASSERT(md_bitmap_test_bit(bm, 10));
	CU_ASSERT(!md_bitmap_test_bit(bm, 11));
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 3);
	/* Setting again changes nothing. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 9 * 4096, 2 * 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 3);
	/* A range across several words: granules 60..130. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 60 * 4096 + 1, 70 * 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 3 + 71);
	CU_ASSERT(!md_bitmap_test_bit(bm, 59));
	CU_ASSERT(md_bitmap_test_bit(bm, 130));
	CU_ASSERT(!md_bitmap_test_bit(bm, 131));
	CU_ASSERT_EQUAL(slow_count(bm), md_bitmap_count(bm));
	md_bitmap_free(bm);
}

static void test_clear_only_whole_granules(void)
{
	struct md_bitmap *bm = new_bm(MiB, 4096);

	CU_ASSERT_EQUAL(md_bitmap_set(bm, 0, 16 * 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 16);
	/* Partly covers granules 2 and 3: neither is cleared. */
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 2 * 4096 + 1, 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 16);
	/* Covers 5 fully, 4 and 6 partly: only 5. */
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 4 * 4096 + 1, 2 * 4096 + 4094), 0);
	CU_ASSERT(md_bitmap_test_bit(bm, 4));
	CU_ASSERT(!md_bitmap_test_bit(bm, 5));
	CU_ASSERT(md_bitmap_test_bit(bm, 6));
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 15);
	/* Exactly granules 8..11. */
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 8 * 4096, 4 * 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 11);
	CU_ASSERT(md_bitmap_test_bit(bm, 7));
	CU_ASSERT(md_bitmap_test_bit(bm, 12));
	CU_ASSERT_EQUAL(slow_count(bm), 11);
	md_bitmap_free(bm);
}

static void test_last_partial_granule(void)
{
	/* 1 MiB + 4 KiB at 64 KiB: granule 16 is only 4 KiB. */
	uint64_t size = MiB + 4 * KiB, off = 0, len = 0;
	struct md_bitmap *bm = new_bm(size, 65536);

	CU_ASSERT_EQUAL(md_bitmap_bits(bm), 17);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, size - 1, 1), 0);
	CU_ASSERT(md_bitmap_test_bit(bm, 16));
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 1);
	CU_ASSERT_EQUAL(md_bitmap_granule(bm, 16, &off, &len), 0);
	CU_ASSERT_EQUAL(off, MiB);
	CU_ASSERT_EQUAL(len, 4 * KiB);
	CU_ASSERT_EQUAL(md_bitmap_granule(bm, 15, &off, &len), 0);
	CU_ASSERT_EQUAL(off, 15 * 65536);
	CU_ASSERT_EQUAL(len, 65536);
	CU_ASSERT_EQUAL(md_bitmap_granule(bm, 17, &off, &len), -ERANGE);
	/* A range that reaches the end covers the short granule. */
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, MiB, 4 * KiB), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 0);
	/* One that stops short of it does not. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, MiB, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, MiB, 4 * KiB - 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 1);
	/* Full set: exactly 17 bits, none past the end. */
	md_bitmap_set_all(bm);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 17);
	CU_ASSERT_EQUAL(slow_count(bm), 17);
	CU_ASSERT(!md_bitmap_test_bit(bm, 17));
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 0, size), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 0);
	md_bitmap_free(bm);
}

static void test_range_errors(void)
{
	struct md_bitmap *bm = new_bm(MiB, 4096);

	CU_ASSERT_EQUAL(md_bitmap_set(bm, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, MiB, 1), -ERANGE);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, MiB - 4096, 4097), -ERANGE);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, UINT64_MAX - 1, 4), -ERANGE);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 4096, UINT64_MAX), -ERANGE);
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, MiB, 4096), -ERANGE);
	CU_ASSERT(!md_bitmap_test(bm, MiB, 1));
	CU_ASSERT(!md_bitmap_test(bm, 0, 0));
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 0);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 0);
	/* The very last byte is fine. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, MiB - 1, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 1);
	md_bitmap_free(bm);
}

static void test_test_range(void)
{
	struct md_bitmap *bm = new_bm(MiB, 4096);

	CU_ASSERT_EQUAL(md_bitmap_set(bm, 100 * 4096, 1), 0);
	CU_ASSERT(md_bitmap_test(bm, 100 * 4096 + 4095, 1));
	CU_ASSERT(md_bitmap_test(bm, 99 * 4096 + 4095, 2));
	CU_ASSERT(md_bitmap_test(bm, 0, MiB));
	CU_ASSERT(!md_bitmap_test(bm, 0, 100 * 4096));
	CU_ASSERT(!md_bitmap_test(bm, 101 * 4096, MiB - 101 * 4096));
	md_bitmap_free(bm);
}

static void test_next_set_iterates(void)
{
	static const uint64_t bits[] = { 0, 1, 63, 64, 65, 4095, 32767, 32768,
					 65535, 262143 };
	struct md_bitmap *bm = new_bm(GiB, 4096);
	uint64_t b = 0, from = 0;
	size_t i = 0;

	CU_ASSERT_EQUAL(md_bitmap_next_set(bm, 0, &b), -ENOENT);
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		CU_ASSERT_EQUAL(md_bitmap_set(bm, bits[i] * 4096, 4096), 0);
	for (i = 0; md_bitmap_next_set(bm, from, &b) == 0; i++) {
		CU_ASSERT_FATAL(i < sizeof(bits) / sizeof(bits[0]));
		CU_ASSERT_EQUAL(b, bits[i]);
		from = b + 1;
	}
	CU_ASSERT_EQUAL(i, sizeof(bits) / sizeof(bits[0]));
	CU_ASSERT_EQUAL(md_bitmap_next_set(bm, 66, &b), 0);
	CU_ASSERT_EQUAL(b, 4095);
	CU_ASSERT_EQUAL(md_bitmap_next_set(bm, 262144, &b), -ENOENT);
	CU_ASSERT_EQUAL(md_bitmap_next_set(bm, UINT64_MAX, &b), -ENOENT);
	md_bitmap_free(bm);
}

static void test_dirty_pages(void)
{
	struct md_bitmap *bm = new_bm(GiB, 4096);	/* 8 pages */
	uint32_t pg = 99, first = 0, last = 0;

	CU_ASSERT_EQUAL(md_bitmap_next_dirty_page(bm, 0, &pg), -ENOENT);
	/* Granule 32768 is the first of page 1; 5 * 32768 + 7 in page 5. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 32768 * 4096, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, (5 * 32768 + 7) * UINT64_C(4096), 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 2);
	CU_ASSERT_EQUAL(md_bitmap_next_dirty_page(bm, 0, &pg), 0);
	CU_ASSERT_EQUAL(pg, 1);
	CU_ASSERT_EQUAL(md_bitmap_next_dirty_page(bm, 2, &pg), 0);
	CU_ASSERT_EQUAL(pg, 5);
	CU_ASSERT_EQUAL(md_bitmap_next_dirty_page(bm, 6, &pg), -ENOENT);
	CU_ASSERT(md_bitmap_page_is_dirty(bm, 1));
	CU_ASSERT(!md_bitmap_page_is_dirty(bm, 0));
	CU_ASSERT(!md_bitmap_page_is_dirty(bm, 8));
	md_bitmap_page_clean(bm, 1);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 1);
	md_bitmap_page_clean(bm, 1);	/* twice: no underflow */
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 1);
	/* A no-op change does not dirty a clean page... */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 32768 * 4096, 1), 0);
	CU_ASSERT(!md_bitmap_page_is_dirty(bm, 1));
	/* ...a real one does, also a clear. */
	CU_ASSERT_EQUAL(md_bitmap_clear(bm, 32768 * 4096, 4096), 0);
	CU_ASSERT(md_bitmap_page_is_dirty(bm, 1));
	md_bitmap_page_clean(bm, 1);
	md_bitmap_page_clean(bm, 5);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 0);
	md_bitmap_page_mark_dirty(bm, 7);	/* a failed page write */
	CU_ASSERT_EQUAL(md_bitmap_next_dirty_page(bm, 0, &pg), 0);
	CU_ASSERT_EQUAL(pg, 7);
	md_bitmap_page_mark_dirty(bm, 8);	/* past the end: ignored */
	md_bitmap_page_clean(bm, 8);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(bm), 1);
	/* A 4 MiB extent starting at 126 MiB spans pages 0 and 1. */
	CU_ASSERT_EQUAL(md_bitmap_pages_of(bm, 126 * MiB, 4 * MiB, &first,
					   &last), 0);
	CU_ASSERT_EQUAL(first, 0);
	CU_ASSERT_EQUAL(last, 1);
	CU_ASSERT_EQUAL(md_bitmap_pages_of(bm, GiB - 1, 1, &first, &last), 0);
	CU_ASSERT_EQUAL(first, 7);
	CU_ASSERT_EQUAL(last, 7);
	CU_ASSERT_EQUAL(md_bitmap_pages_of(bm, GiB, 1, &first, &last), -ERANGE);
	md_bitmap_free(bm);
}

static void test_encode_page_bit_order(void)
{
	struct md_bitmap *bm = new_bm(GiB, 4096);
	uint8_t b[MD_BLOCK_SIZE];
	uint8_t want[16] = { 0x01, 0x02, 0, 0, 0, 0, 0, 0x80,
			     0x00, 0x00, 0, 0, 0, 0, 0, 0 };

	/* Granules 0, 9 and 63: byte 0 bit 0, byte 1 bit 1, byte 7 bit 7. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 0, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 9 * 4096, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_set(bm, 63 * 4096, 1), 0);
	/* Granule 32768 + 12: page 1, byte 1, bit 4. */
	CU_ASSERT_EQUAL(md_bitmap_set(bm, (32768 + 12) * 4096, 1), 0);
	CU_ASSERT_EQUAL(md_bitmap_encode_page(bm, 0, b, sizeof(b)), 0);
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	CU_ASSERT(md_is_zero(b + 8, sizeof(b) - 8));
	CU_ASSERT_EQUAL(md_bitmap_encode_page(bm, 1, b, sizeof(b)), 0);
	CU_ASSERT_EQUAL(b[0], 0);
	CU_ASSERT_EQUAL(b[1], 0x10);
	CU_ASSERT(md_is_zero(b + 2, sizeof(b) - 2));
	/* Encoding leaves the page dirty; the caller cleans it. */
	CU_ASSERT(md_bitmap_page_is_dirty(bm, 1));
	CU_ASSERT_EQUAL(md_bitmap_encode_page(bm, 8, b, sizeof(b)), -ERANGE);
	CU_ASSERT_EQUAL(md_bitmap_encode_page(bm, 0, b, 4095), -ENOBUFS);
	md_bitmap_free(bm);
}

static void test_load_page(void)
{
	struct md_bitmap *a = new_bm(GiB, 4096), *b = new_bm(GiB, 4096);
	uint8_t page[MD_BLOCK_SIZE];
	uint64_t seed = 42;

	for (int i = 0; i < 500; i++) {
		uint64_t g = md_test_rand(&seed) % 32768;

		CU_ASSERT_EQUAL(md_bitmap_set(a, (32768 * 3 + g) * 4096, 1), 0);
	}
	CU_ASSERT_EQUAL(md_bitmap_encode_page(a, 3, page, sizeof(page)), 0);
	/* b has some bits in page 3 already: load replaces them. */
	CU_ASSERT_EQUAL(md_bitmap_set(b, 32768 * 3 * UINT64_C(4096), 64 * 4096), 0);
	CU_ASSERT_EQUAL(md_bitmap_set(b, 0, 4096), 0);	/* page 0, kept */
	CU_ASSERT_EQUAL(md_bitmap_load_page(b, 3, page, sizeof(page)), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(b), md_bitmap_count(a) + 1);
	CU_ASSERT_EQUAL(slow_count(b), md_bitmap_count(b));
	CU_ASSERT(!md_bitmap_page_is_dirty(b, 3));	/* matches disk */
	CU_ASSERT(md_bitmap_page_is_dirty(b, 0));
	for (uint64_t g = 32768 * 3; g < 32768 * 4; g++)
		if (md_bitmap_test_bit(a, g) != md_bitmap_test_bit(b, g)) {
			CU_FAIL("loaded page differs");
			break;
		}
	CU_ASSERT_EQUAL(md_bitmap_load_page(b, 3, page, 4095), -EAGAIN);
	CU_ASSERT_EQUAL(md_bitmap_load_page(b, 8, page, sizeof(page)), -ERANGE);
	md_bitmap_free(a);
	md_bitmap_free(b);
}

static void test_load_page_rejects_bits_past_end(void)
{
	/* 1 MiB + 4 KiB at 4 KiB: 257 bits, bit 257 onwards must be 0. */
	struct md_bitmap *bm = new_bm(MiB + 4 * KiB, 4096);
	uint8_t page[MD_BLOCK_SIZE] = { 0 };

	page[0] = 0x01;
	page[32] = 0x02;	/* bit 257 */
	CU_ASSERT_EQUAL(md_bitmap_load_page(bm, 0, page, sizeof(page)), -EBADMSG);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 0);	/* nothing changed */
	page[32] = 0x01;	/* bit 256, the last one */
	page[4095] = 0x80;
	CU_ASSERT_EQUAL(md_bitmap_load_page(bm, 0, page, sizeof(page)), -EBADMSG);
	page[4095] = 0;
	CU_ASSERT_EQUAL(md_bitmap_load_page(bm, 0, page, sizeof(page)), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 2);
	CU_ASSERT(md_bitmap_test_bit(bm, 256));
	md_bitmap_free(bm);
}

static void test_merge(void)
{
	struct md_bitmap *a = new_bm(GiB, 4096), *b = new_bm(GiB, 4096);
	struct md_bitmap *c = new_bm(GiB, 8192), *d = new_bm(GiB + 4096, 4096);

	CU_ASSERT_EQUAL(md_bitmap_set(a, 0, 10 * 4096), 0);		/* 0..9 */
	CU_ASSERT_EQUAL(md_bitmap_set(b, 5 * 4096, 10 * 4096), 0);	/* 5..14 */
	CU_ASSERT_EQUAL(md_bitmap_set(b, GiB - 4096, 4096), 0);	/* page 7 */
	md_bitmap_page_clean(a, 0);
	CU_ASSERT_EQUAL(md_bitmap_merge(a, b), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(a), 16);
	CU_ASSERT_EQUAL(slow_count(a), 16);
	CU_ASSERT(md_bitmap_test_bit(a, 14));
	CU_ASSERT(!md_bitmap_test_bit(a, 15));
	CU_ASSERT_EQUAL(md_bitmap_count(b), 11);	/* src unchanged */
	CU_ASSERT(md_bitmap_page_is_dirty(a, 0));
	CU_ASSERT(md_bitmap_page_is_dirty(a, 7));
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(a), 2);
	/* Merging again changes nothing and dirties nothing. */
	md_bitmap_page_clean(a, 0);
	md_bitmap_page_clean(a, 7);
	CU_ASSERT_EQUAL(md_bitmap_merge(a, b), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(a), 16);
	CU_ASSERT_EQUAL(md_bitmap_dirty_pages(a), 0);
	CU_ASSERT_EQUAL(md_bitmap_merge(a, c), -EINVAL);
	CU_ASSERT_EQUAL(md_bitmap_merge(a, d), -EINVAL);
	md_bitmap_free(a);
	md_bitmap_free(b);
	md_bitmap_free(c);
	md_bitmap_free(d);
}

static void test_random_ops_match_model(void)
{
	/*
	 * 3000 random set/clear ranges against a bool-per-granule model; the
	 * incremental count and every bit must agree throughout.
	 */
	const uint64_t size = 8 * MiB + 12 * KiB;	/* odd page tail */
	const uint32_t g = 8192;
	const uint64_t nb = (size + g - 1) / g;
	struct md_bitmap *bm = new_bm(size, g);
	bool *model = calloc(nb, sizeof(bool));
	uint64_t seed = 7, count = 0;

	CU_ASSERT_FATAL(model != NULL);
	for (int i = 0; i < 3000; i++) {
		uint64_t off = md_test_rand(&seed) % size;
		uint64_t len = 1 + md_test_rand(&seed) % (size - off < 300000 ?
							 size - off : 300000);
		bool set = md_test_rand(&seed) & 1;

		if (set) {
			CU_ASSERT_EQUAL(md_bitmap_set(bm, off, len), 0);
			for (uint64_t b = off / g; b <= (off + len - 1) / g; b++)
				model[b] = true;
		} else {
			uint64_t b0 = (off + g - 1) / g;
			uint64_t b1 = off + len == size ? nb : (off + len) / g;

			CU_ASSERT_EQUAL(md_bitmap_clear(bm, off, len), 0);
			for (uint64_t b = b0; b < b1; b++)
				model[b] = false;
		}
	}
	for (uint64_t b = 0; b < nb; b++)
		count += model[b];
	CU_ASSERT_EQUAL(md_bitmap_count(bm), count);
	CU_ASSERT_EQUAL(slow_count(bm), count);
	for (uint64_t b = 0; b < nb; b++)
		if (md_bitmap_test_bit(bm, b) != model[b]) {
			CU_FAIL("bit differs from model");
			break;
		}
	free(model);
	md_bitmap_free(bm);
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "new geometry", test_new_geometry },
		{ "set marks whole granules", test_set_unaligned_marks_whole_granules },
		{ "clear only whole granules", test_clear_only_whole_granules },
		{ "last partial granule", test_last_partial_granule },
		{ "range errors", test_range_errors },
		{ "test range", test_test_range },
		{ "next set iterates", test_next_set_iterates },
		{ "dirty pages", test_dirty_pages },
		{ "encode page bit order", test_encode_page_bit_order },
		{ "load page", test_load_page },
		{ "load page rejects bits past end",
		  test_load_page_rejects_bits_past_end },
		{ "merge", test_merge },
		{ "random ops match model", test_random_ops_match_model },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_bitmap", tests);
}
