/*
 * Dirty bitmap. See md_bitmap.h for the contract.
 *
 * In memory the bits live in u64 words, bit i in word i / 64 at position
 * i % 64; storing each word little-endian yields the documented on-disk
 * byte string, so a page is 512 consecutive words.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "md_bitmap.h"
#include "md_endian.h"
#include "md_format.h"
#include "md_layout.h"

#define WORDS_PER_PAGE (MD_BLOCK_SIZE / 8u)

struct md_bitmap {
	uint64_t data_size;		/* bytes covered */
	uint64_t n_bits;		/* granules */
	uint64_t n_set;			/* set bits, kept in step with words */
	uint64_t *words;		/* n_pages * WORDS_PER_PAGE; owned */
	uint64_t *page_dirty;		/* one bit per page; owned */
	uint32_t granularity;		/* bytes per bit */
	uint32_t shift;			/* log2(granularity) */
	uint32_t n_pages;
	uint32_t n_dirty;		/* set bits in page_dirty */
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

int md_bitmap_new(uint64_t data_size, uint32_t granularity,
		  struct md_bitmap **ret_bm)
{
	struct md_bitmap *bm;
	uint64_t n_bits, n_pages;
	uint32_t shift = 0;

	if (granularity < MD_GRANULARITY_MIN ||
	    granularity > MD_GRANULARITY_MAX ||
	    (granularity & (granularity - 1)) || data_size == 0 ||
	    data_size > MD_DATA_SIZE_MAX)
		return -EINVAL;
	while ((UINT32_C(1) << shift) != granularity)
		shift++;
	n_bits = div_up(data_size, granularity);
	n_pages = div_up(n_bits, MD_BM_BITS_PER_PAGE);
	if (n_pages > UINT32_MAX ||
	    n_pages > SIZE_MAX / MD_BLOCK_SIZE)
		return -EINVAL;

	bm = calloc(1, sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	bm->words = calloc((size_t)n_pages * WORDS_PER_PAGE, sizeof(uint64_t));
	bm->page_dirty = calloc((size_t)div_up(n_pages, 64), sizeof(uint64_t));
	if (!bm->words || !bm->page_dirty) {
		md_bitmap_free(bm);
		return -ENOMEM;
	}
	bm->data_size = data_size;
	bm->n_bits = n_bits;
	bm->granularity = granularity;
	bm->shift = shift;
	bm->n_pages = (uint32_t)n_pages;
	*ret_bm = bm;
	return 0;
}

struct md_bitmap *md_bitmap_free(struct md_bitmap *bm)
{
	if (bm) {
		free(bm->words);
		free(bm->page_dirty);
		free(bm);
	}
	return NULL;
}

uint64_t md_bitmap_bits(const struct md_bitmap *bm)
{
	return bm->n_bits;
}

uint32_t md_bitmap_pages(const struct md_bitmap *bm)
{
	return bm->n_pages;
}

uint64_t md_bitmap_count(const struct md_bitmap *bm)
{
	return bm->n_set;
}

uint32_t md_bitmap_granularity(const struct md_bitmap *bm)
{
	return bm->granularity;
}

uint64_t md_bitmap_data_size(const struct md_bitmap *bm)
{
	return bm->data_size;
}

static void page_dirty(struct md_bitmap *bm, uint32_t page)
{
	uint64_t m = UINT64_C(1) << (page % 64);

	if (!(bm->page_dirty[page / 64] & m)) {
		bm->page_dirty[page / 64] |= m;
		bm->n_dirty++;
	}
}

/* Store v in word w, keeping the count and dirty pages in step. */
static void store_word(struct md_bitmap *bm, uint64_t w, uint64_t v)
{
	uint64_t old = bm->words[w];

	if (v == old)
		return;
	bm->n_set -= (uint64_t)__builtin_popcountll(old & ~v);
	bm->n_set += (uint64_t)__builtin_popcountll(v & ~old);
	bm->words[w] = v;
	page_dirty(bm, (uint32_t)(w / WORDS_PER_PAGE));
}

/* Mask of bits lo..hi (inclusive, 0..63) of a word. */
static uint64_t word_mask(unsigned lo, unsigned hi)
{
	return (~UINT64_C(0) << lo) & (~UINT64_C(0) >> (63 - hi));
}

/* Set or clear bits b0..b1 inclusive. */
static void change_bits(struct md_bitmap *bm, uint64_t b0, uint64_t b1,
			bool set)
{
	uint64_t w0 = b0 / 64, w1 = b1 / 64;

	assert(b0 <= b1 && b1 < bm->n_bits);
	for (uint64_t w = w0; w <= w1; w++) {
		uint64_t m = word_mask(w == w0 ? b0 % 64 : 0,
				       w == w1 ? b1 % 64 : 63);

		store_word(bm, w, set ? bm->words[w] | m : bm->words[w] & ~m);
	}
}

static int check_range(const struct md_bitmap *bm, uint64_t off, uint64_t len)
{
	if (len == 0)
		return -EINVAL;
	if (off >= bm->data_size || len > bm->data_size - off)
		return -ERANGE;
	return 0;
}

int md_bitmap_set(struct md_bitmap *bm, uint64_t off, uint64_t len)
{
	int r = check_range(bm, off, len);

	if (r < 0)
		return r;
	change_bits(bm, off >> bm->shift, (off + len - 1) >> bm->shift, true);
	return 0;
}

int md_bitmap_clear(struct md_bitmap *bm, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, b0, b1;
	int r = check_range(bm, off, len);

	if (r < 0)
		return r;
	/* Only whole granules: a partial one may still hold other dirt. */
	b0 = div_up(off, bm->granularity);
	/* The data area's last granule may be short; reaching the end covers it. */
	b1 = end == bm->data_size ? bm->n_bits : end >> bm->shift;
	if (b0 < b1)
		change_bits(bm, b0, b1 - 1, false);
	return 0;
}

void md_bitmap_set_all(struct md_bitmap *bm)
{
	change_bits(bm, 0, bm->n_bits - 1, true);
}

bool md_bitmap_test(const struct md_bitmap *bm, uint64_t off, uint64_t len)
{
	uint64_t b0, b1, w0, w1;

	if (check_range(bm, off, len) < 0)
		return false;
	b0 = off >> bm->shift;
	b1 = (off + len - 1) >> bm->shift;
	w0 = b0 / 64;
	w1 = b1 / 64;
	for (uint64_t w = w0; w <= w1; w++) {
		uint64_t m = word_mask(w == w0 ? b0 % 64 : 0,
				       w == w1 ? b1 % 64 : 63);

		if (bm->words[w] & m)
			return true;
	}
	return false;
}

bool md_bitmap_test_bit(const struct md_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->n_bits)
		return false;
	return bm->words[bit / 64] >> (bit % 64) & 1;
}

int md_bitmap_next_set(const struct md_bitmap *bm, uint64_t from,
		       uint64_t *ret_bit)
{
	uint64_t n_words = div_up(bm->n_bits, 64);

	if (from >= bm->n_bits)
		return -ENOENT;
	for (uint64_t w = from / 64; w < n_words; w++) {
		uint64_t v = bm->words[w];

		if (w == from / 64)
			v &= ~UINT64_C(0) << (from % 64);
		if (v) {
			/* Bits past n_bits are always zero, so this is < n_bits. */
			*ret_bit = w * 64 + (uint64_t)__builtin_ctzll(v);
			return 0;
		}
	}
	return -ENOENT;
}

int md_bitmap_granule(const struct md_bitmap *bm, uint64_t bit,
		      uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t off;

	if (bit >= bm->n_bits)
		return -ERANGE;
	off = bit << bm->shift;
	*ret_off = off;
	*ret_len = bm->data_size - off < bm->granularity ?
		   bm->data_size - off : bm->granularity;
	return 0;
}

int md_bitmap_merge(struct md_bitmap *dst, const struct md_bitmap *src)
{
	uint64_t n_words;

	if (dst->data_size != src->data_size ||
	    dst->granularity != src->granularity)
		return -EINVAL;
	n_words = div_up(dst->n_bits, 64);
	for (uint64_t w = 0; w < n_words; w++)
		store_word(dst, w, dst->words[w] | src->words[w]);
	return 0;
}

int md_bitmap_pages_of(const struct md_bitmap *bm, uint64_t off, uint64_t len,
		       uint32_t *ret_first, uint32_t *ret_last)
{
	int r = check_range(bm, off, len);

	if (r < 0)
		return r;
	*ret_first = (uint32_t)((off >> bm->shift) / MD_BM_BITS_PER_PAGE);
	*ret_last = (uint32_t)(((off + len - 1) >> bm->shift) /
			       MD_BM_BITS_PER_PAGE);
	return 0;
}

int md_bitmap_next_dirty_page(const struct md_bitmap *bm, uint32_t from,
			      uint32_t *ret_page)
{
	uint32_t n_words = (uint32_t)div_up(bm->n_pages, 64);

	if (from >= bm->n_pages)
		return -ENOENT;
	for (uint32_t w = from / 64; w < n_words; w++) {
		uint64_t v = bm->page_dirty[w];

		if (w == from / 64)
			v &= ~UINT64_C(0) << (from % 64);
		if (v) {
			*ret_page = w * 64 + (uint32_t)__builtin_ctzll(v);
			return 0;
		}
	}
	return -ENOENT;
}

bool md_bitmap_page_is_dirty(const struct md_bitmap *bm, uint32_t page)
{
	if (page >= bm->n_pages)
		return false;
	return bm->page_dirty[page / 64] >> (page % 64) & 1;
}

uint32_t md_bitmap_dirty_pages(const struct md_bitmap *bm)
{
	return bm->n_dirty;
}

void md_bitmap_page_clean(struct md_bitmap *bm, uint32_t page)
{
	uint64_t m = UINT64_C(1) << (page % 64);

	if (page >= bm->n_pages)
		return;
	if (bm->page_dirty[page / 64] & m) {
		bm->page_dirty[page / 64] &= ~m;
		bm->n_dirty--;
	}
}

void md_bitmap_page_mark_dirty(struct md_bitmap *bm, uint32_t page)
{
	if (page < bm->n_pages)
		page_dirty(bm, page);
}

int md_bitmap_encode_page(const struct md_bitmap *bm, uint32_t page,
			  void *buf, size_t len)
{
	const uint64_t *w = bm->words + (size_t)page * WORDS_PER_PAGE;
	uint8_t *b = buf;

	if (page >= bm->n_pages)
		return -ERANGE;
	if (len < MD_BLOCK_SIZE)
		return -ENOBUFS;
	for (unsigned i = 0; i < WORDS_PER_PAGE; i++)
		md_put_le64(b + 8 * i, w[i]);
	return 0;
}

/* Bits of word w that lie within the bitmap. */
static uint64_t valid_mask(const struct md_bitmap *bm, uint64_t w)
{
	if (w * 64 >= bm->n_bits)
		return 0;
	if ((w + 1) * 64 <= bm->n_bits)
		return ~UINT64_C(0);
	return word_mask(0, (unsigned)(bm->n_bits - w * 64 - 1));
}

int md_bitmap_load_page(struct md_bitmap *bm, uint32_t page, const void *buf,
			size_t len)
{
	uint64_t w0 = (uint64_t)page * WORDS_PER_PAGE;
	const uint8_t *b = buf;

	if (len < MD_BLOCK_SIZE)
		return -EAGAIN;
	if (page >= bm->n_pages)
		return -ERANGE;
	/* Validate the whole page before changing anything. */
	for (unsigned i = 0; i < WORDS_PER_PAGE; i++)
		if (md_get_le64(b + 8 * i) & ~valid_mask(bm, w0 + i))
			return -EBADMSG;
	for (unsigned i = 0; i < WORDS_PER_PAGE; i++)
		store_word(bm, w0 + i, md_get_le64(b + 8 * i));
	/* The bits now equal what is on disk. */
	md_bitmap_page_clean(bm, page);
	return 0;
}
