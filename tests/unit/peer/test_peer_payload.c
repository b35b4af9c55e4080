/*
 * CUnit tests of the payload transforms (replicator/peer/peer_payload.c):
 * CRC-32C against RFC 3720 and the check value, XXH3 against its known
 * empty-input value, lz4 round trips, the "does not shrink" rule and
 * corrupt input, and the DATA receive path end to end.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "peer/peer_proto.h"

#include "../cunit_main.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t *buf_new(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	assert(b);
	memset(b, 0xaa, n);
	return b;
}

/* Deterministic bytes that do not compress (xorshift64). */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 32);
	}
}

/* Text-like bytes that do compress. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char words[] = "replicate every write to the peer, ";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[i % (sizeof(words) - 1)];
}

static void test_crc32c(void)
{
	uint8_t b[4096];

	CU_ASSERT_EQUAL(peer_crc32c("123456789", 9), 0xe3069283);
	CU_ASSERT_EQUAL(peer_crc32c("", 0), 0);
	/* RFC 3720 appendix B.4 */
	memset(b, 0, 32);
	CU_ASSERT_EQUAL(peer_crc32c(b, 32), 0x8a9136aa);
	memset(b, 0xff, 32);
	CU_ASSERT_EQUAL(peer_crc32c(b, 32), 0x62a8ab43);
	for (unsigned i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(peer_crc32c(b, 32), 0x46dd794e);
	for (unsigned i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	CU_ASSERT_EQUAL(peer_crc32c(b, 32), 0x113fdb5c);
	/* docs/protocol.md DATA example: 4096 zero bytes */
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(peer_crc32c(b, sizeof(b)), 0x98f94189);
}

static void test_xxh3(void)
{
	uint8_t a[4096], b[4096];

	CU_ASSERT_EQUAL(peer_xxh3("", 0), UINT64_C(0x2d06800538d394c2));
	fill_random(a, sizeof(a), 1);
	memcpy(b, a, sizeof(b));
	CU_ASSERT_EQUAL(peer_xxh3(a, sizeof(a)), peer_xxh3(b, sizeof(b)));
	b[4095] ^= 1;
	CU_ASSERT_NOT_EQUAL(peer_xxh3(a, sizeof(a)), peer_xxh3(b, sizeof(b)));
}

static void roundtrip(const uint8_t *src, uint32_t len)
{
	uint8_t *z = buf_new(len - 1), *out = buf_new(len);
	int n = peer_lz4_compress(src, len, z, len - 1);

	CU_ASSERT_FATAL(n > 0 && (uint32_t)n < len);
	CU_ASSERT_EQUAL(peer_lz4_decompress(z, (uint32_t)n, out, len), 0);
	CU_ASSERT_EQUAL(memcmp(out, src, len), 0);
	free(z);
	free(out);
}

static void test_lz4_roundtrip(void)
{
	static const uint32_t sizes[] = { 64, 4096, 65536, 1u << 20 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint8_t *src = buf_new(sizes[i]);

		memset(src, 0, sizes[i]);
		roundtrip(src, sizes[i]);
		fill_text(src, sizes[i]);
		roundtrip(src, sizes[i]);
		/* a random quarter in text: still shrinks */
		if (sizes[i] >= 4096) {
			fill_random(src, sizes[i] / 4, 7);
			roundtrip(src, sizes[i]);
		}
		free(src);
	}
}

static void test_lz4_incompressible(void)
{
	uint8_t *src = buf_new(4096), *z = buf_new(8192);

	fill_random(src, 4096, 42);
	/* even with room for the expanded output, 0 = send raw */
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 4096, z, 8192), 0);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 4096, z, 4095), 0);
	/* one byte and tiny inputs never shrink */
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 1, z, 8192), 0);
	memset(src, 0, 8);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 8, z, 8192), 0);
	free(src);
	free(z);
}

static void test_lz4_small_cap(void)
{
	uint8_t *src = buf_new(4096), *z = buf_new(4096);
	int n;

	fill_text(src, 4096);
	n = peer_lz4_compress(src, 4096, z, 4095);
	CU_ASSERT_FATAL(n > 0);
	/* a dst too small for the result: 0, not an overrun */
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 4096, z, (uint32_t)n - 1), 0);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 4096, z, (uint32_t)n), n);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 4096, z, 0), 0);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, 0, z, 4096), -EINVAL);
	CU_ASSERT_EQUAL(peer_lz4_compress(src, PEER_MAX_DATA + 1, z, 4096),
			-EINVAL);
	free(src);
	free(z);
}

static void test_lz4_literal_block(void)
{
	/* one sequence: token 0x50 = 5 literals, no match */
	static const uint8_t block[] = { 0x50, 'h', 'e', 'l', 'l', 'o' };
	uint8_t out[5];

	CU_ASSERT_EQUAL(peer_lz4_decompress(block, sizeof(block), out, 5), 0);
	CU_ASSERT_EQUAL(memcmp(out, "hello", 5), 0);
}

static void test_lz4_corrupt(void)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		uint32_t len, raw;
	} bad[] = {
		{ "literals past the end", { 0x50, 'h', 'e' }, 3, 5 },
		{ "raw_len too small", { 0x50, 'h', 'e', 'l', 'l', 'o' }, 6, 4 },
		{ "raw_len too large", { 0x50, 'h', 'e', 'l', 'l', 'o' }, 6, 6 },
		{ "match offset 0", { 0x14, 'a', 0x00, 0x00, 0x50, 'b', 'c',
				      'd', 'e', 'f' }, 10, 15 },
		{ "match before start", { 0x14, 'a', 0x05, 0x00, 0x50, 'b',
					  'c', 'd', 'e', 'f' }, 10, 15 },
		{ "all 0xff", { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff }, 16, 4096 },
		{ "empty input", { 0 }, 0, 5 },
		{ "raw_len 0", { 0x00 }, 1, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t *src = buf_new(bad[i].len), *out = buf_new(bad[i].raw);

		memcpy(src, bad[i].b, bad[i].len);
		if (peer_lz4_decompress(src, bad[i].len, out, bad[i].raw) !=
		    -EBADMSG)
			fprintf(stderr, "accepted: %s\n", bad[i].what);
		CU_ASSERT_EQUAL(peer_lz4_decompress(src, bad[i].len, out,
						    bad[i].raw), -EBADMSG);
		free(src);
		free(out);
	}
}

static void test_lz4_truncated_and_flipped(void)
{
	uint8_t *src = buf_new(65536), *z = buf_new(65535),
		*out = buf_new(65536);
	int n;

	fill_text(src, 65536);
	fill_random(src + 1000, 3000, 9);
	n = peer_lz4_compress(src, 65536, z, 65535);
	CU_ASSERT_FATAL(n > 16);
	for (uint32_t cut = 1; cut < 16; cut++)
		CU_ASSERT_EQUAL(peer_lz4_decompress(z, (uint32_t)n - cut, out,
						    65536), -EBADMSG);
	CU_ASSERT_EQUAL(peer_lz4_decompress(z, (uint32_t)n, out, 65535),
			-EBADMSG);
	CU_ASSERT_EQUAL(peer_lz4_decompress(z, (uint32_t)n, out, 65536), 0);
	/* flipped bytes: either rejected or a different output, never a
	 * crash (ASan watches); a flip in a literal goes unnoticed by lz4,
	 * which is what the CHECKSUM flag is for */
	for (int i = 0; i < n; i += 97) {
		z[i] ^= 0x5a;
		if (peer_lz4_decompress(z, (uint32_t)n, out, 65536) == 0)
			CU_ASSERT_NOT_EQUAL(peer_crc32c(out, 65536),
					    peer_crc32c(src, 65536));
		z[i] ^= 0x5a;
	}
	free(src);
	free(z);
	free(out);
}

static void test_data_verify(void)
{
	uint8_t raw[512];
	struct peer_data d = { .flags = PEER_F_CHECKSUM, .raw_len = 512,
			       .wire_len = 512 };

	fill_text(raw, sizeof(raw));
	d.crc32c = peer_crc32c(raw, sizeof(raw));
	CU_ASSERT_EQUAL(peer_data_verify(&d, raw), 0);
	raw[100] ^= 1;
	CU_ASSERT_EQUAL(peer_data_verify(&d, raw), -EBADMSG);
	d.flags = 0;
	d.crc32c = 0;
	CU_ASSERT_EQUAL(peer_data_verify(&d, raw), 0);	/* nothing to check */
}

/* What the primary sends and the secondary does with it, in memory. */
static void test_data_path(void)
{
	const uint32_t len = 64 * 1024;
	uint8_t *raw = buf_new(len), *wire = buf_new(48 + len),
		*got = buf_new(len);
	struct peer_data d = { .flags = PEER_F_FUA | PEER_F_CHECKSUM,
			       .offset = 1 << 20, .raw_len = len }, rd;
	struct peer_hdr hdr;
	int n, z;

	fill_text(raw, len);
	d.crc32c = peer_crc32c(raw, len);
	z = peer_lz4_compress(raw, len, wire + 48, len - 1);
	CU_ASSERT_FATAL(z > 0);
	d.flags |= PEER_F_COMPRESSED;
	d.wire_len = (uint32_t)z;
	n = peer_encode_data(wire, 48, 5, &d);
	CU_ASSERT_EQUAL(n, 48);

	CU_ASSERT_EQUAL(peer_decode_hdr(wire, 24, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.len, 24 + (uint32_t)z);
	CU_ASSERT_EQUAL(peer_hdr_check_features(&hdr, PEER_FEATURES_KNOWN), 0);
	CU_ASSERT_EQUAL(peer_decode_data(&hdr, wire + 24, peer_fixed_len(&hdr),
					 &rd), 0);
	CU_ASSERT(peer_range_fits(rd.offset, rd.raw_len, UINT64_C(1) << 30));
	CU_ASSERT_EQUAL(peer_lz4_decompress(wire + 48, rd.wire_len, got,
					    rd.raw_len), 0);
	CU_ASSERT_EQUAL(peer_data_verify(&rd, got), 0);
	CU_ASSERT_EQUAL(memcmp(got, raw, len), 0);
	free(raw);
	free(wire);
	free(got);
}

static const struct cunit_test tests[] = {
	{ "crc32c: check value and RFC 3720", test_crc32c },
	{ "xxh3", test_xxh3 },
	{ "lz4: round trips", test_lz4_roundtrip },
	{ "lz4: incompressible returns 0", test_lz4_incompressible },
	{ "lz4: small dst and bad lengths", test_lz4_small_cap },
	{ "lz4: hand-made block", test_lz4_literal_block },
	{ "lz4: corrupt input rejected", test_lz4_corrupt },
	{ "lz4: truncated and flipped input", test_lz4_truncated_and_flipped },
	{ "DATA: crc32c verify", test_data_verify },
	{ "DATA: compress, encode, decode, decompress", test_data_path },
};

int main(void)
{
	return cunit_main("peer_payload", tests, sizeof(tests) / sizeof(tests[0]));
}
