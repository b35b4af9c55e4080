/*
 * CUnit tests of the pure peer codec (replicator/peer/peer_proto.h):
 * framing, every packet's encode/decode and validation, the HELLO check.
 * Expected bytes are written out literally from docs/protocol.md
 * ("Examples"), never produced by the codec under test, so encoder and
 * decoder cannot agree on the same mistake.
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

#define MiB (UINT32_C(1) << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* A heap buffer of exactly n bytes, so ASan catches an overrun. */
static uint8_t *buf_new(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	assert(b);
	memset(b, 0xaa, n);
	return b;
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

/* A header written by hand, not by the codec. */
static void raw_hdr(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len,
		    uint64_t seq)
{
	be32(p, 0x52455044);
	be16(p + 4, type);
	be16(p + 6, flags);
	be32(p + 8, len);
	be32(p + 12, 0);
	be64(p + 16, seq);
}

/* decode_hdr of a hand-written header. */
static int hdr_of(uint16_t type, uint16_t flags, uint32_t len,
		  struct peer_hdr *ret)
{
	uint8_t b[PEER_HDR_SIZE];

	raw_hdr(b, type, flags, len, 1);
	return peer_decode_hdr(b, sizeof(b), ret);
}

/* A valid HELLO to start each case from. */
static struct peer_hello hello_base(const char *node, uint32_t id)
{
	struct peer_hello h = {
		.version_min = 1, .version_max = 1, .node_id = id,
		.features = PEER_FEAT_LZ4 | PEER_FEAT_CRC32C,
		.data_size = UINT64_C(1) << 30, .role = PEER_ROLE_SECONDARY,
		.md_flags = 0x41, .uuid_current = 0x1111, .uuid_bitmap = 0x2222,
		.uuid_history = { 0x3333, 0x4444 },
	};

	for (unsigned i = 0; i < PEER_CHALLENGE_SIZE; i++)
		h.challenge[i] = (uint8_t)(i + 1);
	snprintf(h.node_name, sizeof(h.node_name), "%s", node);
	snprintf(h.resource, sizeof(h.resource), "r0");
	return h;
}

/* The types, and which flags each takes (docs/protocol.md tables). */
static const struct {
	uint16_t type;
	uint32_t min_len, max_len;
	uint16_t flags;
} type_table[] = {
	{ PEER_HELLO, 224, 1024, 0 },
	{ PEER_AUTH, 32, 32, 0 },
	{ PEER_AUTH_OK, 0, 0, 0 },
	{ PEER_REFUSE, 4, 259, 0 },
	{ PEER_DATA, 25, 24 + 32 * MiB, 0x0027 },
	{ PEER_TRIM, 16, 16, 0x0021 },
	{ PEER_WRITE_ZEROES, 16, 16, 0x0029 },
	{ PEER_FLUSH, 0, 0, 0 },
	{ PEER_ACK_RECV, 0, 0, 0 },
	{ PEER_ACK_WRITE, 0, 0, 0 },
	{ PEER_NACK, 4, 4, 0 },
	{ PEER_PING, 8, 8, 0 },
	{ PEER_PONG, 8, 8, 0 },
	{ PEER_RS_REQUEST, 16, 16, 0 },
	{ PEER_RS_DATA, 25, 24 + 32 * MiB, 0x0006 },
	{ PEER_RS_HASH, 24, 16 + 8 * 65536, PEER_F_REPLY },
	{ PEER_BITMAP, 24, 16 + 32 * MiB, 0x0010 },
	{ PEER_STATE, 16, 16, 0 },
};

/* ---- literal examples from docs/protocol.md ---- */

static const uint8_t doc_data_hdr[24] = {
	0x52, 0x45, 0x50, 0x44, 0x00, 0x10, 0x00, 0x05,
	0x00, 0x00, 0x10, 0x18, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
};

static const uint8_t doc_data_fixed[24] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
	0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00,
	0x98, 0xf9, 0x41, 0x89, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t doc_ping[32] = {
	0x52, 0x45, 0x50, 0x44, 0x00, 0x30, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

static const uint8_t doc_nack[28] = {
	0x52, 0x45, 0x50, 0x44, 0x00, 0x22, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
	0x00, 0x00, 0x00, 0x05,
};

static const uint8_t doc_hello[248] = {
	0x52, 0x45, 0x50, 0x44, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x41,
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0x05, 0x61, 0x6c, 0x70, 0x68, 0x61, 0x00, 0x00,
	[0x80] = 0x00,	/* 0x80..0xb7: name padding, zero */
	[0xb8] = 0x02, 0x72, 0x30,
	[0xf7] = 0x00,	/* resource padding, zero to the end */
};

static void test_doc_data_header(void)
{
	struct peer_hdr h = { 0 }, want = {
		.type = PEER_DATA, .flags = PEER_F_FUA | PEER_F_CHECKSUM,
		.len = 4120, .seq = 7,
	};
	uint8_t *b = buf_new(PEER_HDR_SIZE);

	CU_ASSERT_EQUAL(peer_decode_hdr(doc_data_hdr, 24, &h), 0);
	CU_ASSERT_EQUAL(h.type, PEER_DATA);
	CU_ASSERT_EQUAL(h.flags, 0x0005);
	CU_ASSERT_EQUAL(h.len, 4120);
	CU_ASSERT_EQUAL(h.seq, 7);
	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE, &want), 24);
	CU_ASSERT_EQUAL(memcmp(b, doc_data_hdr, 24), 0);
	free(b);
}

static void test_doc_data_fixed(void)
{
	struct peer_data d = { 0 }, want = {
		.flags = PEER_F_FUA | PEER_F_CHECKSUM, .offset = MiB,
		.raw_len = 4096, .wire_len = 4096, .crc32c = 0x98f94189,
	};
	struct peer_hdr h;
	uint8_t *b = buf_new(48);

	CU_ASSERT_FATAL(peer_decode_hdr(doc_data_hdr, 24, &h) == 0);
	CU_ASSERT_EQUAL(peer_fixed_len(&h), PEER_DATA_SIZE);
	CU_ASSERT_EQUAL(peer_decode_data(&h, doc_data_fixed, 24, &d), 0);
	CU_ASSERT_EQUAL(d.flags, want.flags);
	CU_ASSERT_EQUAL(d.offset, MiB);
	CU_ASSERT_EQUAL(d.raw_len, 4096);
	CU_ASSERT_EQUAL(d.wire_len, 4096);
	CU_ASSERT_EQUAL(d.crc32c, 0x98f94189);
	/* Encoding writes header and fixed part, not the data. */
	CU_ASSERT_EQUAL(peer_encode_data(b, 48, 7, &want), 48);
	CU_ASSERT_EQUAL(memcmp(b, doc_data_hdr, 24), 0);
	CU_ASSERT_EQUAL(memcmp(b + 24, doc_data_fixed, 24), 0);
	free(b);
}

static void test_doc_ping_nack(void)
{
	struct peer_hdr h;
	uint64_t ts = 0;
	uint32_t err = 0;
	uint8_t *b = buf_new(32);

	CU_ASSERT_EQUAL(peer_encode_ping(b, 32, 1, UINT64_C(0x0102030405060708)),
			32);
	CU_ASSERT_EQUAL(memcmp(b, doc_ping, 32), 0);
	CU_ASSERT_EQUAL(peer_decode_hdr(doc_ping, 32, &h), 0);
	CU_ASSERT_EQUAL(h.type, PEER_PING);
	CU_ASSERT_EQUAL(h.seq, 1);
	CU_ASSERT_EQUAL(peer_decode_ping(&h, doc_ping + 24, 8, &ts), 0);
	CU_ASSERT_EQUAL(ts, UINT64_C(0x0102030405060708));

	CU_ASSERT_EQUAL(peer_encode_nack(b, 28, 9, EIO), 28);
	CU_ASSERT_EQUAL(memcmp(b, doc_nack, 28), 0);
	CU_ASSERT_EQUAL(peer_decode_hdr(doc_nack, 28, &h), 0);
	CU_ASSERT_EQUAL(h.type, PEER_NACK);
	CU_ASSERT_EQUAL(h.seq, 9);
	CU_ASSERT_EQUAL(peer_decode_nack(&h, doc_nack + 24, 4, &err), 0);
	CU_ASSERT_EQUAL(err, 5);
	free(b);
}

static struct peer_hello doc_hello_struct(void)
{
	struct peer_hello h = {
		.version_min = 1, .version_max = 1, .node_id = 1,
		.features = 7, .data_size = UINT64_C(1) << 30,
		.role = PEER_ROLE_PRIMARY, .md_flags = 0x41,
		.uuid_current = UINT64_C(0x0123456789abcdef),
		.uuid_bitmap = 0,
		.uuid_history = { UINT64_C(0xfedcba9876543210), 0 },
		.node_name = "alpha", .resource = "r0",
	};

	for (unsigned i = 0; i < 32; i++)
		h.challenge[i] = (uint8_t)(0xa0 + i % 16);
	return h;
}

static void test_doc_hello(void)
{
	struct peer_hello want = doc_hello_struct(), got;
	struct peer_hdr h;
	uint8_t *b = buf_new(sizeof(doc_hello));

	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(doc_hello), &want), 248);
	CU_ASSERT_EQUAL(memcmp(b, doc_hello, sizeof(doc_hello)), 0);
	CU_ASSERT_FATAL(peer_decode_hdr(doc_hello, 248, &h) == 0);
	CU_ASSERT_EQUAL(h.type, PEER_HELLO);
	CU_ASSERT_EQUAL(h.len, 224);
	memset(&got, 0x55, sizeof(got));
	CU_ASSERT_EQUAL(peer_decode_hello(&h, doc_hello + 24, 224, &got), 0);
	CU_ASSERT_EQUAL(got.version_min, 1);
	CU_ASSERT_EQUAL(got.version_max, 1);
	CU_ASSERT_EQUAL(got.node_id, 1);
	CU_ASSERT_EQUAL(got.features, 7);
	CU_ASSERT_EQUAL(got.data_size, UINT64_C(1) << 30);
	CU_ASSERT_EQUAL(got.role, PEER_ROLE_PRIMARY);
	CU_ASSERT_EQUAL(got.md_flags, 0x41);
	CU_ASSERT_EQUAL(got.uuid_current, UINT64_C(0x0123456789abcdef));
	CU_ASSERT_EQUAL(got.uuid_bitmap, 0);
	CU_ASSERT_EQUAL(got.uuid_history[0], UINT64_C(0xfedcba9876543210));
	CU_ASSERT_EQUAL(got.uuid_history[1], 0);
	CU_ASSERT_EQUAL(memcmp(got.challenge, want.challenge, 32), 0);
	CU_ASSERT_STRING_EQUAL(got.node_name, "alpha");
	CU_ASSERT_STRING_EQUAL(got.resource, "r0");
	free(b);
}

/* ---- header ---- */

static void test_hdr_short(void)
{
	struct peer_hdr h = { .type = 0x7777 };

	for (size_t n = 0; n < PEER_HDR_SIZE; n++)
		CU_ASSERT_EQUAL(peer_decode_hdr(doc_data_hdr, n, &h), -EAGAIN);
	CU_ASSERT_EQUAL(h.type, 0x7777);	/* untouched */
}

static void test_hdr_bad_magic(void)
{
	uint8_t b[24];
	struct peer_hdr h = { .type = 0x7777 };

	for (unsigned i = 0; i < 4; i++) {
		memcpy(b, doc_data_hdr, 24);
		b[i] ^= 0x01;
		CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &h), -EBADMSG);
	}
	/* the little-endian spelling is not the magic either */
	memcpy(b, doc_data_hdr, 24);
	be32(b, 0x44504552);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &h), -EBADMSG);
	CU_ASSERT_EQUAL(h.type, 0x7777);
}

static void test_hdr_reserved(void)
{
	uint8_t b[24];
	struct peer_hdr h;

	for (unsigned i = 12; i < 16; i++) {
		memcpy(b, doc_data_hdr, 24);
		b[i] = 0x80;
		CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &h), -EBADMSG);
	}
}

static bool known_type(uint32_t t)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++)
		if (type_table[i].type == t)
			return true;
	return false;
}

static void test_hdr_unknown_type(void)
{
	struct peer_hdr h;
	unsigned known = 0;

	for (uint32_t t = 0; t <= 0xffff; t++) {
		/* length 0 is legal for some known types, never unknown */
		int r = hdr_of((uint16_t)t, 0, 0, &h);

		if (!known_type(t)) {
			CU_ASSERT_EQUAL(r, -EBADMSG);
			CU_ASSERT_STRING_EQUAL(peer_type_name((uint16_t)t),
					       "UNKNOWN");
		} else {
			known++;
			CU_ASSERT_STRING_NOT_EQUAL(peer_type_name((uint16_t)t),
						   "UNKNOWN");
		}
	}
	CU_ASSERT_EQUAL(known, ARRAY_SIZE(type_table));
	CU_ASSERT_STRING_EQUAL(peer_type_name(PEER_DATA), "DATA");
	CU_ASSERT_STRING_EQUAL(peer_type_name(PEER_ACK_WRITE), "ACK_WRITE");
}

static void test_hdr_lengths(void)
{
	struct peer_hdr h;

	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++) {
		uint16_t t = type_table[i].type;
		uint32_t lo = type_table[i].min_len, hi = type_table[i].max_len;

		CU_ASSERT_EQUAL(hdr_of(t, 0, lo, &h), 0);
		CU_ASSERT_EQUAL(h.len, lo);
		CU_ASSERT_EQUAL(hdr_of(t, 0, hi, &h), 0);
		CU_ASSERT_EQUAL(h.len, hi);
		if (lo > 0)
			CU_ASSERT_EQUAL(hdr_of(t, 0, lo - 1, &h), -EBADMSG);
		CU_ASSERT_EQUAL(hdr_of(t, 0, hi + 1, &h), -EBADMSG);
		CU_ASSERT_EQUAL(hdr_of(t, 0, PEER_MAX_PAYLOAD + 1, &h),
				-EBADMSG);
		CU_ASSERT_EQUAL(hdr_of(t, 0, UINT32_MAX, &h), -EBADMSG);
		CU_ASSERT(hi <= PEER_MAX_PAYLOAD);
	}
}

static void test_hdr_fixed_wrong_size(void)
{
	struct peer_hdr h;

	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++) {
		uint16_t t = type_table[i].type;
		uint32_t sz = type_table[i].min_len;

		if (type_table[i].min_len != type_table[i].max_len)
			continue;
		CU_ASSERT_EQUAL(hdr_of(t, 0, sz, &h), 0);
		if (sz > 0)
			CU_ASSERT_EQUAL(hdr_of(t, 0, sz - 1, &h), -EBADMSG);
		CU_ASSERT_EQUAL(hdr_of(t, 0, sz + 1, &h), -EBADMSG);
		CU_ASSERT_EQUAL(hdr_of(t, 0, sz + 8, &h), -EBADMSG);
	}
}

static void test_hdr_flags(void)
{
	struct peer_hdr h;

	for (size_t i = 0; i < ARRAY_SIZE(type_table); i++) {
		for (unsigned bit = 0; bit < 16; bit++) {
			uint16_t f = (uint16_t)(1u << bit);
			int want = (type_table[i].flags & f) ? 0 : -EBADMSG;

			CU_ASSERT_EQUAL(hdr_of(type_table[i].type, f,
					       type_table[i].min_len, &h), want);
		}
		CU_ASSERT_EQUAL(hdr_of(type_table[i].type, type_table[i].flags,
				       type_table[i].min_len, &h), 0);
		CU_ASSERT_EQUAL(h.flags, type_table[i].flags);
	}
}

static void test_hdr_encode(void)
{
	struct peer_hdr h = { .type = PEER_FLUSH, .seq = 99 }, got;
	uint8_t *b = buf_new(PEER_HDR_SIZE);

	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE - 1, &h), -ENOBUFS);
	CU_ASSERT_EQUAL(b[0], 0xaa);	/* untouched */
	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE, &h), 24);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, PEER_HDR_SIZE, &got), 0);
	CU_ASSERT_EQUAL(got.type, PEER_FLUSH);
	CU_ASSERT_EQUAL(got.seq, 99);
	/* the encoder refuses what the decoder would reject */
	h.len = 1;
	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE, &h), -EINVAL);
	h.len = 0;
	h.flags = PEER_F_FUA;
	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE, &h), -EINVAL);
	h.flags = 0;
	h.type = 0x99;
	CU_ASSERT_EQUAL(peer_encode_hdr(b, PEER_HDR_SIZE, &h), -EINVAL);
	free(b);
}

static void test_fixed_len_and_range(void)
{
	struct peer_hdr h = { .type = PEER_DATA, .len = 24 + 512 };

	CU_ASSERT_EQUAL(peer_fixed_len(&h), PEER_DATA_SIZE);
	h.type = PEER_RS_DATA;
	CU_ASSERT_EQUAL(peer_fixed_len(&h), PEER_DATA_SIZE);
	h.type = PEER_HELLO;
	h.len = 300;
	CU_ASSERT_EQUAL(peer_fixed_len(&h), 300);

	CU_ASSERT(peer_range_fits(0, 4096, 4096));
	CU_ASSERT(peer_range_fits(4096, 0, 4096));
	CU_ASSERT(!peer_range_fits(1, 4096, 4096));
	CU_ASSERT(!peer_range_fits(4097, 0, 4096));
	CU_ASSERT(!peer_range_fits(UINT64_MAX, 2, UINT64_MAX));
	CU_ASSERT(peer_range_fits(UINT64_MAX - 1, 1, UINT64_MAX));
}

/* ---- round trips ---- */

/* Field by field: the structs have padding. */
static bool data_eq(const struct peer_data *a, const struct peer_data *b)
{
	return a->flags == b->flags && a->offset == b->offset &&
	       a->raw_len == b->raw_len && a->wire_len == b->wire_len &&
	       a->crc32c == b->crc32c;
}

/*
 * Encode with exactly n bytes (and see -ENOBUFS with n - 1, buffer
 * untouched), then decode the header. Returns the buffer.
 */
static uint8_t *encode_exact(int (*enc)(uint8_t *, size_t, const void *),
			     const void *arg, size_t n, struct peer_hdr *hdr)
{
	uint8_t *b = buf_new(n);

	CU_ASSERT_EQUAL(enc(b, n - 1, arg), -ENOBUFS);
	CU_ASSERT_EQUAL(b[0], 0xaa);
	CU_ASSERT_EQUAL(enc(b, n, arg), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, hdr), 0);
	return b;
}

static int enc_hello(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_hello(b, cap, a);
}

static void test_rt_hello(void)
{
	struct peer_hello h = hello_base("node-b", 2), got;
	struct peer_hdr hdr;
	uint8_t *b;

	h.role = PEER_ROLE_PRIMARY;
	h.version_min = 1;
	h.version_max = 9;
	h.features = UINT64_MAX;	/* unknown bits pass through */
	h.data_size = UINT64_MAX;
	/* the longest name, every kind of character */
	memset(h.node_name, 'n', 63);
	memcpy(h.node_name, "Az09._-", 7);
	h.node_name[63] = '\0';
	snprintf(h.resource, sizeof(h.resource), "x");
	CU_ASSERT_EQUAL(strlen(h.node_name), 63);
	b = encode_exact(enc_hello, &h, 24 + 224, &hdr);
	CU_ASSERT_EQUAL(hdr.type, PEER_HELLO);
	CU_ASSERT_EQUAL(hdr.seq, 0);
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + 24, 223, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + 24, 224, &got), 0);
	CU_ASSERT_EQUAL(memcmp(&got.challenge, &h.challenge, 32), 0);
	CU_ASSERT_EQUAL(got.version_max, 9);
	CU_ASSERT_EQUAL(got.features, UINT64_MAX);
	CU_ASSERT_EQUAL(got.data_size, UINT64_MAX);
	CU_ASSERT_EQUAL(got.role, PEER_ROLE_PRIMARY);
	CU_ASSERT_EQUAL(got.uuid_history[1], 0x4444);
	CU_ASSERT_STRING_EQUAL(got.node_name, h.node_name);
	CU_ASSERT_STRING_EQUAL(got.resource, "x");
	free(b);
}

static void test_hello_extension_ignored(void)
{
	uint8_t b[24 + 300];
	struct peer_hdr hdr;
	struct peer_hello got;

	/* a later version appends 76 bytes: version 1 ignores them */
	memcpy(b, doc_hello, sizeof(doc_hello));
	memset(b + 248, 0xee, sizeof(b) - 248);
	be32(b + 8, 300);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, sizeof(b), &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + 24, 299, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + 24, 300, &got), 0);
	CU_ASSERT_STRING_EQUAL(got.node_name, "alpha");
}

static void test_rt_auth(void)
{
	uint8_t mac[32], got[32], *b = buf_new(56);
	struct peer_hdr hdr;

	for (unsigned i = 0; i < 32; i++)
		mac[i] = (uint8_t)(0xf0 ^ i);
	CU_ASSERT_EQUAL(peer_encode_auth(b, 55, mac), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_auth(b, 56, mac), 56);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 56, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_AUTH);
	CU_ASSERT_EQUAL(peer_decode_auth(&hdr, b + 24, 31, got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_auth(&hdr, b + 24, 32, got), 0);
	CU_ASSERT_EQUAL(memcmp(got, mac, 32), 0);
	free(b);

	b = buf_new(24);
	CU_ASSERT_EQUAL(peer_encode_auth_ok(b, 23), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_auth_ok(b, 24), 24);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_AUTH_OK);
	CU_ASSERT_EQUAL(hdr.len, 0);
	free(b);
}

static void test_rt_refuse(void)
{
	static const char msg[] = "size mismatch: local 1 bytes, peer 2 bytes";
	struct peer_refuse got;
	struct peer_hdr hdr;
	size_t n = 24 + 4 + strlen(msg);
	uint8_t *b = buf_new(n);

	CU_ASSERT_EQUAL(peer_encode_refuse(b, n - 1, ERANGE, msg), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, n, ERANGE, msg), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_REFUSE);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, n - 25, &got),
			-EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, n - 24, &got), 0);
	CU_ASSERT_EQUAL(got.err, ERANGE);
	CU_ASSERT_STRING_EQUAL(got.msg, msg);
	free(b);

	/* empty message */
	b = buf_new(28);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, 28, EACCES, ""), 28);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 28, &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 4, &got), 0);
	CU_ASSERT_EQUAL(got.err, EACCES);
	CU_ASSERT_STRING_EQUAL(got.msg, "");
	free(b);
}

static void test_refuse_limits(void)
{
	char msg[PEER_MSG_MAX + 2];
	uint8_t b[24 + 4 + PEER_MSG_MAX + 1];
	struct peer_refuse got;
	struct peer_hdr hdr;

	memset(msg, 'x', PEER_MSG_MAX);
	msg[PEER_MSG_MAX] = '\0';
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), EIO, msg),
			24 + 4 + 255);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, sizeof(b), &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 259, &got), 0);
	CU_ASSERT_EQUAL(strlen(got.msg), 255);

	/* 256 bytes: the encoder refuses, the header decoder too */
	msg[PEER_MSG_MAX] = 'x';
	msg[PEER_MSG_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), EIO, msg), -EINVAL);
	raw_hdr(b, PEER_REFUSE, 0, 4 + 256, 0);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), -EBADMSG);

	/* errno out of range, control characters */
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), 0, "x"), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), 4096, "x"), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), EIO, "a\nb"),
			-EINVAL);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), EIO, "\x1b[2J"),
			-EINVAL);
	CU_ASSERT_EQUAL(peer_encode_refuse(b, sizeof(b), 4095, "ok"), 30);

	raw_hdr(b, PEER_REFUSE, 0, 7, 0);
	be32(b + 24, EIO);
	memcpy(b + 28, "a\x7f" "c", 3);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 7, &got), -EBADMSG);
	memcpy(b + 28, "a\xc3" "c", 3);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 7, &got), -EBADMSG);
	memcpy(b + 28, "a c", 3);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 7, &got), 0);
	be32(b + 24, 0);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 7, &got), -EBADMSG);
	be32(b + 24, 4096);
	CU_ASSERT_EQUAL(peer_decode_refuse(&hdr, b + 24, 7, &got), -EBADMSG);
}

static int enc_data(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_data(b, cap, UINT64_C(0x1122334455667788), a);
}

static int enc_rs_data(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_rs_data(b, cap, 3, a);
}

static void test_rt_data(void)
{
	static const struct peer_data cases[] = {
		{ .flags = 0, .offset = 0, .raw_len = 1, .wire_len = 1 },
		{ .flags = PEER_F_FUA | PEER_F_RECV_ACK, .offset = 512,
		  .raw_len = 4096, .wire_len = 4096 },
		{ .flags = PEER_F_COMPRESSED | PEER_F_CHECKSUM,
		  .offset = UINT64_MAX - 32 * MiB, .raw_len = 32 * MiB,
		  .wire_len = 32 * MiB - 1, .crc32c = 0xdeadbeef },
		{ .flags = PEER_F_COMPRESSED, .offset = 1, .raw_len = 2,
		  .wire_len = 1 },
		{ .flags = PEER_F_CHECKSUM, .offset = 7, .raw_len = 9,
		  .wire_len = 9, .crc32c = 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct peer_hdr hdr;
		struct peer_data got;
		uint8_t *b = encode_exact(enc_data, &cases[i], 48, &hdr);

		CU_ASSERT_EQUAL(hdr.type, PEER_DATA);
		CU_ASSERT_EQUAL(hdr.seq, UINT64_C(0x1122334455667788));
		CU_ASSERT_EQUAL(hdr.len, 24 + cases[i].wire_len);
		CU_ASSERT_EQUAL(hdr.flags, cases[i].flags);
		CU_ASSERT_EQUAL(peer_decode_data(&hdr, b + 24, 23, &got),
				-EAGAIN);
		CU_ASSERT_EQUAL(peer_decode_data(&hdr, b + 24, 24, &got), 0);
		CU_ASSERT(data_eq(&got, &cases[i]));
		free(b);
	}
	/* RS_DATA: same layout, no FUA */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct peer_hdr hdr;
		struct peer_data got;
		uint8_t *b;

		if (cases[i].flags & (PEER_F_FUA | PEER_F_RECV_ACK))
			continue;
		b = encode_exact(enc_rs_data, &cases[i], 48, &hdr);
		CU_ASSERT_EQUAL(hdr.type, PEER_RS_DATA);
		CU_ASSERT_EQUAL(peer_fixed_len(&hdr), 24);
		CU_ASSERT_EQUAL(peer_decode_rs_data(&hdr, b + 24, 24, &got), 0);
		CU_ASSERT(data_eq(&got, &cases[i]));
		free(b);
	}
}

static int enc_trim(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_trim(b, cap, 11, a);
}

static int enc_zeroes(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_write_zeroes(b, cap, 12, a);
}

static void test_rt_range(void)
{
	struct peer_range t = { .flags = PEER_F_FUA, .offset = 4096,
				.len = UINT64_C(1) << 40 };
	struct peer_range z = { .flags = PEER_F_NO_HOLE | PEER_F_RECV_ACK,
				.offset = UINT64_MAX - 1, .len = 1 };
	struct peer_range got;
	struct peer_hdr hdr;
	uint8_t *b;

	b = encode_exact(enc_trim, &t, 40, &hdr);
	CU_ASSERT_EQUAL(hdr.type, PEER_TRIM);
	CU_ASSERT_EQUAL(hdr.seq, 11);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, b + 24, 15, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, b + 24, 16, &got), 0);
	CU_ASSERT_EQUAL(got.flags, PEER_F_FUA);
	CU_ASSERT_EQUAL(got.offset, 4096);
	CU_ASSERT_EQUAL(got.len, UINT64_C(1) << 40);
	free(b);

	b = encode_exact(enc_zeroes, &z, 40, &hdr);
	CU_ASSERT_EQUAL(hdr.type, PEER_WRITE_ZEROES);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, b + 24, 16, &got), 0);
	CU_ASSERT_EQUAL(got.flags, PEER_F_NO_HOLE | PEER_F_RECV_ACK);
	CU_ASSERT_EQUAL(got.offset, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(got.len, 1);
	free(b);
}

static void test_rt_empty_packets(void)
{
	static int (*const enc[])(uint8_t *, size_t, uint64_t) = {
		peer_encode_flush, peer_encode_ack_recv, peer_encode_ack_write,
	};
	static const uint16_t type[] = {
		PEER_FLUSH, PEER_ACK_RECV, PEER_ACK_WRITE,
	};

	for (size_t i = 0; i < ARRAY_SIZE(enc); i++) {
		uint8_t *b = buf_new(24);
		struct peer_hdr hdr;

		CU_ASSERT_EQUAL(enc[i](b, 23, 5), -ENOBUFS);
		CU_ASSERT_EQUAL(enc[i](b, 24, UINT64_MAX), 24);
		CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), 0);
		CU_ASSERT_EQUAL(hdr.type, type[i]);
		CU_ASSERT_EQUAL(hdr.flags, 0);
		CU_ASSERT_EQUAL(hdr.len, 0);
		CU_ASSERT_EQUAL(hdr.seq, UINT64_MAX);
		CU_ASSERT_EQUAL(peer_fixed_len(&hdr), 0);
		free(b);
	}
}

static void test_rt_nack_ping_pong(void)
{
	uint8_t *b = buf_new(32);
	struct peer_hdr hdr;
	uint32_t err;
	uint64_t ts;

	CU_ASSERT_EQUAL(peer_encode_nack(b, 27, 1, ENOSPC), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_nack(b, 28, 1, 0), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_nack(b, 28, 1, 4096), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_nack(b, 28, 42, ENOSPC), 28);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 28, &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_nack(&hdr, b + 24, 3, &err), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_nack(&hdr, b + 24, 4, &err), 0);
	CU_ASSERT_EQUAL(err, ENOSPC);
	CU_ASSERT_EQUAL(hdr.seq, 42);
	/* errno 0 and over 4095 are malformed */
	be32(b + 24, 0);
	CU_ASSERT_EQUAL(peer_decode_nack(&hdr, b + 24, 4, &err), -EBADMSG);
	be32(b + 24, 4096);
	CU_ASSERT_EQUAL(peer_decode_nack(&hdr, b + 24, 4, &err), -EBADMSG);

	CU_ASSERT_EQUAL(peer_encode_pong(b, 31, 8, 1), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_pong(b, 32, 8, UINT64_MAX), 32);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 32, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_PONG);
	CU_ASSERT_EQUAL(hdr.seq, 8);
	CU_ASSERT_EQUAL(peer_decode_ping(&hdr, b + 24, 7, &ts), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_ping(&hdr, b + 24, 8, &ts), 0);
	CU_ASSERT_EQUAL(ts, UINT64_MAX);
	free(b);
}

static int enc_rs_request(uint8_t *b, size_t cap, const void *a)
{
	return peer_encode_rs_request(b, cap, 77, a);
}

static void test_rt_rs_request(void)
{
	struct peer_rs_request r = { .offset = UINT64_MAX - 32 * MiB,
				     .len = 32 * MiB }, got;
	struct peer_hdr hdr;
	uint8_t *b = encode_exact(enc_rs_request, &r, 40, &hdr);

	CU_ASSERT_EQUAL(hdr.type, PEER_RS_REQUEST);
	CU_ASSERT_EQUAL(hdr.seq, 77);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 15, &got),
			-EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 16, &got), 0);
	CU_ASSERT_EQUAL(got.offset, r.offset);
	CU_ASSERT_EQUAL(got.len, r.len);
	/* malformed: len 0, over max, overflow, reserved */
	be32(b + 24 + 8, 0);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 16, &got),
			-EBADMSG);
	be32(b + 24 + 8, 32 * MiB + 1);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 16, &got),
			-EBADMSG);
	be32(b + 24 + 8, 32 * MiB);
	be64(b + 24, UINT64_MAX - 32 * MiB + 1);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 16, &got),
			-EBADMSG);
	be64(b + 24, 0);
	be32(b + 24 + 12, 1);
	CU_ASSERT_EQUAL(peer_decode_rs_request(&hdr, b + 24, 16, &got),
			-EBADMSG);
	r.len = 0;
	CU_ASSERT_EQUAL(peer_encode_rs_request(b, 40, 1, &r), -EINVAL);
	free(b);
}

static void test_rt_rs_hash(void)
{
	uint64_t hashes[3] = { 1, UINT64_MAX, UINT64_C(0x0123456789abcdef) };
	struct peer_rs_hash h = { .offset = 8192, .len = 8192 + 1,
				  .block_size = 4096 }, got;
	struct peer_hdr hdr;
	size_t n = 24 + 16 + 3 * 8;
	uint8_t *b = buf_new(n);

	CU_ASSERT_EQUAL(peer_encode_rs_hash(b, n - 1, 5, &h, hashes),
			-ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_rs_hash(b, n, 5, &h, hashes), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_RS_HASH);
	CU_ASSERT_EQUAL(hdr.len, 16 + 24);
	CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, b + 24, 39, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, b + 24, 40, &got), 0);
	CU_ASSERT_EQUAL(got.offset, 8192);
	CU_ASSERT_EQUAL(got.len, 8193);
	CU_ASSERT_EQUAL(got.block_size, 4096);
	CU_ASSERT_EQUAL(got.n_hashes, 3);
	for (uint32_t i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(peer_rs_hash_at(&got, i), hashes[i]);
	CU_ASSERT_FALSE(got.reply);
	/* the answer to it: same layout, flag REPLY */
	h.reply = true;
	CU_ASSERT_EQUAL(peer_encode_rs_hash(b, n, 5, &h, hashes), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.flags, PEER_F_REPLY);
	CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, b + 24, 40, &got), 0);
	CU_ASSERT_TRUE(got.reply);
	free(b);
}

static void test_rs_hash_malformed(void)
{
	static const struct {
		uint32_t len, block_size;
	} bad[] = {
		{ 0, 4096 }, { 32 * MiB + 1, 4096 }, { 4096, 0 },
		{ 4096, 3000 }, { 4096, 256 }, { 4096, 2 * MiB },
	};
	uint8_t b[24 + 16 + 8];
	uint64_t hash = 9;
	struct peer_rs_hash h = { .offset = 0, .len = 4096,
				  .block_size = 4096 }, got;
	struct peer_hdr hdr;

	CU_ASSERT_EQUAL(peer_encode_rs_hash(b, sizeof(b), 1, &h, &hash), 48);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, sizeof(b), &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, b + 24, 24, &got), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct peer_rs_hash e = { .len = bad[i].len,
					  .block_size = bad[i].block_size };
		uint8_t p[24];

		memcpy(p, b + 24, 24);
		be32(p + 8, bad[i].len);
		be32(p + 12, bad[i].block_size);
		CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, p, 24, &got),
				-EBADMSG);
		CU_ASSERT_EQUAL(peer_encode_rs_hash(b, sizeof(b), 1, &e,
						    &hash), -EINVAL);
	}
	/* two blocks announced, one hash sent */
	{
		uint8_t p[24];

		memcpy(p, b + 24, 24);
		be32(p + 8, 4097);
		CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, p, 24, &got),
				-EBADMSG);
		/* overflow of offset + len */
		be32(p + 8, 4096);
		be64(p, UINT64_MAX - 4095 + 1);
		CU_ASSERT_EQUAL(peer_decode_rs_hash(&hdr, p, 24, &got),
				-EBADMSG);
	}
}

static void test_rt_bitmap(void)
{
	uint8_t bits[16] = { 0x01, 0x80, 0, 0, 0, 0, 0, 0xff,
			     0x55, 0, 0, 0, 0, 0, 0, 0x01 };
	struct peer_bitmap bm = { .first_bit = 64 * 1000,
				  .granularity = 4096, .n_bytes = 16,
				  .bits = bits, .last = true }, got;
	struct peer_hdr hdr;
	size_t n = 24 + 16 + 16;
	uint8_t *b = buf_new(n);

	CU_ASSERT_EQUAL(peer_encode_bitmap(b, n - 1, 0, &bm), -ENOBUFS);
	CU_ASSERT_EQUAL(b[0], 0xaa);
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, n, 0, &bm), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_BITMAP);
	CU_ASSERT_EQUAL(hdr.flags, PEER_F_LAST);
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, b + 24, 31, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, b + 24, 32, &got), 0);
	CU_ASSERT_EQUAL(got.first_bit, 64000);
	CU_ASSERT_EQUAL(got.granularity, 4096);
	CU_ASSERT_EQUAL(got.n_bytes, 16);
	CU_ASSERT(got.last);
	CU_ASSERT_PTR_EQUAL(got.bits, b + 24 + 16);	/* borrowed */
	CU_ASSERT_EQUAL(memcmp(got.bits, bits, 16), 0);

	/* not the last chunk */
	bm.last = false;
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, n, 0, &bm), (int)n);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, n, &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, b + 24, 32, &got), 0);
	CU_ASSERT(!got.last);
	free(b);
}

static void test_bitmap_malformed(void)
{
	uint8_t bits[8] = { 0 }, b[24 + 16 + 8], p[24];
	struct peer_bitmap ok = { .first_bit = 0, .granularity = 4096,
				  .n_bytes = 8, .bits = bits }, e, got;
	struct peer_hdr hdr;

	CU_ASSERT_EQUAL(peer_encode_bitmap(b, sizeof(b), 0, &ok), 48);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, sizeof(b), &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, b + 24, 24, &got), 0);

	memcpy(p, b + 24, 24);
	be64(p, 63);				/* not a multiple of 64 */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);
	be64(p, UINT64_MAX - 63);		/* end past 2^64 */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);
	be64(p, 0);
	be32(p + 8, 2048);			/* granularity too small */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);
	be32(p + 8, 12288);			/* not a power of two */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);
	be32(p + 8, 2 * MiB);			/* too large */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);
	be32(p + 8, MiB);
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), 0);
	be32(p + 12, 1);			/* reserved */
	CU_ASSERT_EQUAL(peer_decode_bitmap(&hdr, p, 24, &got), -EBADMSG);

	/* 12 bitmap bytes: not whole 64-bit words */
	{
		uint8_t q[28] = { 0 };
		struct peer_hdr h2;

		be32(q + 8, 4096);
		CU_ASSERT_EQUAL(hdr_of(PEER_BITMAP, 0, 28, &h2), 0);
		CU_ASSERT_EQUAL(peer_decode_bitmap(&h2, q, 28, &got),
				-EBADMSG);
	}

	e = ok;
	e.n_bytes = 12;
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, sizeof(b), 0, &e), -EINVAL);
	e = ok;
	e.first_bit = 1;
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, sizeof(b), 0, &e), -EINVAL);
	e = ok;
	e.granularity = 0;
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, sizeof(b), 0, &e), -EINVAL);
	e = ok;
	e.n_bytes = 0;
	CU_ASSERT_EQUAL(peer_encode_bitmap(b, sizeof(b), 0, &e), -EINVAL);
}

static void test_rt_state(void)
{
	struct peer_state s = { .role = PEER_ROLE_PRIMARY,
				.disk = PEER_DISK_UPTODATE,
				.repl = PEER_REPL_SYNC_SOURCE }, got;
	struct peer_hdr hdr;
	uint8_t b[40], p[16];

	CU_ASSERT_EQUAL(peer_encode_state(b, 39, 0, &s), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_state(b, 40, 0, &s), 40);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 40, &hdr), 0);
	CU_ASSERT_EQUAL(hdr.type, PEER_STATE);
	CU_ASSERT_EQUAL(peer_decode_state(&hdr, b + 24, 15, &got), -EAGAIN);
	CU_ASSERT_EQUAL(peer_decode_state(&hdr, b + 24, 16, &got), 0);
	CU_ASSERT_EQUAL(got.role, PEER_ROLE_PRIMARY);
	CU_ASSERT_EQUAL(got.disk, PEER_DISK_UPTODATE);
	CU_ASSERT_EQUAL(got.repl, PEER_REPL_SYNC_SOURCE);

	/* every out-of-range value, and the reserved word */
	static const struct {
		unsigned off;
		uint32_t v;
	} bad[] = {
		{ 0, 0 }, { 0, 3 }, { 4, 0 }, { 4, 6 }, { 8, 0 }, { 8, 6 },
		{ 12, 1 }, { 0, UINT32_MAX },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memcpy(p, b + 24, 16);
		be32(p + bad[i].off, bad[i].v);
		CU_ASSERT_EQUAL(peer_decode_state(&hdr, p, 16, &got), -EBADMSG);
	}
	s.disk = (enum peer_disk)0;
	CU_ASSERT_EQUAL(peer_encode_state(b, 40, 0, &s), -EINVAL);

	CU_ASSERT_STRING_EQUAL(peer_role_name(PEER_ROLE_PRIMARY), "primary");
	CU_ASSERT_STRING_EQUAL(peer_disk_name(PEER_DISK_OUTDATED), "outdated");
	CU_ASSERT_STRING_EQUAL(peer_repl_name(PEER_REPL_VERIFY_TARGET),
			       "verify-target");
	CU_ASSERT_STRING_EQUAL(peer_role_name((enum peer_role)9), "unknown");
	CU_ASSERT_STRING_EQUAL(peer_disk_name((enum peer_disk)0), "unknown");
	CU_ASSERT_STRING_EQUAL(peer_repl_name((enum peer_repl)0), "unknown");
}

/* A whole handshake and a few requests back to back in one buffer. */
static void test_stream(void)
{
	struct peer_hello h = hello_base("a", 1);
	uint8_t mac[32] = { 1 }, buf[1024];
	struct peer_data d = { .flags = PEER_F_FUA, .offset = 0,
			       .raw_len = 3, .wire_len = 3 };
	static const uint16_t want[] = {
		PEER_HELLO, PEER_AUTH, PEER_AUTH_OK, PEER_DATA, PEER_FLUSH,
		PEER_PING,
	};
	size_t n = 0, off = 0, i = 0;
	int r;

	n += (size_t)peer_encode_hello(buf + n, sizeof(buf) - n, &h);
	n += (size_t)peer_encode_auth(buf + n, sizeof(buf) - n, mac);
	n += (size_t)peer_encode_auth_ok(buf + n, sizeof(buf) - n);
	n += (size_t)peer_encode_data(buf + n, sizeof(buf) - n, 1, &d);
	memcpy(buf + n, "abc", 3);
	n += 3;
	n += (size_t)peer_encode_flush(buf + n, sizeof(buf) - n, 2);
	n += (size_t)peer_encode_ping(buf + n, sizeof(buf) - n, 3, 4);
	CU_ASSERT_EQUAL(n, 248 + 56 + 24 + 48 + 3 + 24 + 32);

	while (off < n) {
		struct peer_hdr hdr;

		r = peer_decode_hdr(buf + off, n - off, &hdr);
		CU_ASSERT_FATAL(r == 0);
		CU_ASSERT_FATAL(i < ARRAY_SIZE(want));
		CU_ASSERT_EQUAL(hdr.type, want[i]);
		off += PEER_HDR_SIZE + hdr.len;
		i++;
	}
	CU_ASSERT_EQUAL(off, n);
	CU_ASSERT_EQUAL(i, ARRAY_SIZE(want));
}

/* ---- DATA validation ---- */

static void test_data_malformed_decode(void)
{
	/* each row: fixed-part fields, header flags and header length */
	static const struct {
		const char *what;
		uint16_t flags;
		uint64_t offset;
		uint32_t raw, wire, crc, reserved, hdr_len;
		uint16_t type;
	} bad[] = {
		{ "raw 0", 0, 0, 0, 0, 0, 0, 24, PEER_DATA },
		{ "raw over max", 0, 0, 32 * MiB + 1, 32 * MiB + 1, 0, 0,
		  24 + 32 * MiB + 1, PEER_DATA },
		{ "offset+len overflow", 0, UINT64_MAX - 4095, 4096, 4096,
		  0, 0, 24 + 4096, PEER_DATA },
		{ "offset max", 0, UINT64_MAX, 1, 1, 0, 0, 25, PEER_DATA },
		{ "raw != wire", 0, 0, 4096, 4095, 0, 0, 24 + 4095,
		  PEER_DATA },
		{ "compressed wire > raw", PEER_F_COMPRESSED, 0, 4096,
		  4097, 0, 0, 24 + 4097, PEER_DATA },
		{ "compressed wire == raw", PEER_F_COMPRESSED, 0, 4096,
		  4096, 0, 0, 24 + 4096, PEER_DATA },
		{ "compressed wire 0", PEER_F_COMPRESSED, 0, 4096, 0, 0, 0,
		  24, PEER_DATA },
		{ "crc without CHECKSUM", 0, 0, 4096, 4096, 1, 0,
		  24 + 4096, PEER_DATA },
		{ "reserved", 0, 0, 4096, 4096, 0, 1, 24 + 4096,
		  PEER_DATA },
		{ "hdr len short", 0, 0, 4096, 4096, 0, 0, 24 + 4095,
		  PEER_DATA },
		{ "hdr len long", 0, 0, 4096, 4096, 0, 0, 24 + 4097,
		  PEER_DATA },
		{ "rs_data FUA", PEER_F_FUA, 0, 4096, 4096, 0, 0,
		  24 + 4096, PEER_RS_DATA },
		{ "rs_data RECV_ACK", PEER_F_RECV_ACK, 0, 4096, 4096, 0, 0,
		  24 + 4096, PEER_RS_DATA },
		{ "NO_HOLE on DATA", PEER_F_NO_HOLE, 0, 4096, 4096, 0, 0,
		  24 + 4096, PEER_DATA },
		{ "LAST on DATA", PEER_F_LAST, 0, 4096, 4096, 0, 0,
		  24 + 4096, PEER_DATA },
		{ "unknown flag", 0x8000, 0, 4096, 4096, 0, 0, 24 + 4096,
		  PEER_DATA },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		/* the header as the codec would hand it over, forged */
		struct peer_hdr hdr = { .type = bad[i].type,
					.flags = bad[i].flags,
					.len = bad[i].hdr_len, .seq = 1 };
		struct peer_data got = { .raw_len = 0x5555 };
		uint8_t p[24];
		int r;

		be64(p, bad[i].offset);
		be32(p + 8, bad[i].raw);
		be32(p + 12, bad[i].wire);
		be32(p + 16, bad[i].crc);
		be32(p + 20, bad[i].reserved);
		r = hdr.type == PEER_DATA ?
		    peer_decode_data(&hdr, p, 24, &got) :
		    peer_decode_rs_data(&hdr, p, 24, &got);
		CU_ASSERT_EQUAL(r, -EBADMSG);
		if (got.raw_len != 0x5555)
			fprintf(stderr, "wrote ret on: %s\n", bad[i].what);
		CU_ASSERT_EQUAL(got.raw_len, 0x5555);
	}
}

static void test_data_bad_flags_header(void)
{
	struct peer_hdr hdr;

	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, PEER_F_NO_HOLE, 24 + 1, &hdr),
			-EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, PEER_F_LAST, 24 + 1, &hdr),
			-EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, 0x0040, 24 + 1, &hdr), -EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_RS_DATA, PEER_F_FUA, 24 + 1, &hdr),
			-EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, PEER_F_FUA | PEER_F_COMPRESSED |
			       PEER_F_CHECKSUM | PEER_F_RECV_ACK, 24 + 1,
			       &hdr), 0);
	/* DATA of 0 bytes and over 32 MiB die at the header already */
	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, 0, 24, &hdr), -EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_DATA, 0, 24 + 32 * MiB + 1, &hdr),
			-EBADMSG);
}

static void test_data_encode_invalid(void)
{
	static const struct peer_data bad[] = {
		{ .raw_len = 0, .wire_len = 0 },
		{ .raw_len = 32 * MiB + 1, .wire_len = 32 * MiB + 1 },
		{ .offset = UINT64_MAX, .raw_len = 1, .wire_len = 1 },
		{ .raw_len = 10, .wire_len = 9 },
		{ .flags = PEER_F_COMPRESSED, .raw_len = 10, .wire_len = 10 },
		{ .flags = PEER_F_COMPRESSED, .raw_len = 10, .wire_len = 0 },
		{ .raw_len = 10, .wire_len = 10, .crc32c = 1 },
		{ .flags = PEER_F_NO_HOLE, .raw_len = 10, .wire_len = 10 },
	};
	uint8_t b[48];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(b, 0xaa, sizeof(b));
		CU_ASSERT_EQUAL(peer_encode_data(b, sizeof(b), 1, &bad[i]),
				-EINVAL);
		CU_ASSERT_EQUAL(b[0], 0xaa);
	}
	{
		struct peer_data fua = { .flags = PEER_F_FUA, .raw_len = 1,
					 .wire_len = 1 };

		CU_ASSERT_EQUAL(peer_encode_rs_data(b, sizeof(b), 1, &fua),
				-EINVAL);
		CU_ASSERT_EQUAL(peer_encode_data(b, 47, 1, &fua), -ENOBUFS);
	}
}

static void test_range_malformed(void)
{
	struct peer_range got, bad_len = { .offset = 0, .len = 0 },
			  bad_end = { .offset = UINT64_MAX, .len = 1 },
			  bad_flag = { .flags = PEER_F_NO_HOLE, .len = 1 };
	struct peer_hdr hdr = { .type = PEER_TRIM, .len = 16 };
	uint8_t b[40], p[16];

	CU_ASSERT_EQUAL(peer_encode_trim(b, 40, 1, &bad_len), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_trim(b, 40, 1, &bad_end), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_trim(b, 40, 1, &bad_flag), -EINVAL);
	CU_ASSERT_EQUAL(peer_encode_write_zeroes(b, 40, 1, &bad_flag), 40);

	be64(p, 0);
	be64(p + 8, 0);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, p, 16, &got), -EBADMSG);
	be64(p, UINT64_MAX);
	be64(p + 8, 1);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, p, 16, &got), -EBADMSG);
	be64(p, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(peer_decode_range(&hdr, p, 16, &got), 0);
	CU_ASSERT_EQUAL(hdr_of(PEER_TRIM, PEER_F_NO_HOLE, 16, &hdr), -EBADMSG);
	CU_ASSERT_EQUAL(hdr_of(PEER_TRIM, 0, 8, &hdr), -EBADMSG);
}

/* ---- HELLO validation ---- */

static void test_name_valid(void)
{
	static const char *const good[] = {
		"a", "node-1", "r0", "A.b_c-D", "0",
		"123456789012345678901234567890123456789012345678901234567890123",
	};
	static const char *const bad[] = {
		"", "a b", "a/b", "a:b", "nodé", "a\tb", "a\nb",
		"1234567890123456789012345678901234567890123456789012345678901234",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CU_ASSERT(peer_name_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CU_ASSERT(!peer_name_valid(bad[i]));
}

/* Decode doc_hello with byte i set to v. */
static int hello_patched(size_t i, uint8_t v)
{
	uint8_t b[248];
	struct peer_hdr hdr;
	struct peer_hello got;

	memcpy(b, doc_hello, sizeof(b));
	b[i] = v;
	if (peer_decode_hdr(b, sizeof(b), &hdr) < 0)
		return -1000;
	return peer_decode_hello(&hdr, b + 24, 224, &got);
}

static void test_hello_malformed(void)
{
	const size_t p = 24;	/* payload starts here */
	struct peer_hdr hdr;
	uint8_t b[248];
	struct peer_hello got;

	CU_ASSERT_EQUAL(hello_patched(0, 0), 0 - 1000);	/* magic */
	CU_ASSERT_EQUAL(hello_patched(p + 1, 0), -EBADMSG);	/* vmin 0 */
	CU_ASSERT_EQUAL(hello_patched(p + 1, 2), -EBADMSG);	/* min > max */
	CU_ASSERT_EQUAL(hello_patched(p + 27, 0), -EBADMSG);	/* role 0 */
	CU_ASSERT_EQUAL(hello_patched(p + 27, 3), -EBADMSG);	/* role 3 */
	CU_ASSERT_EQUAL(hello_patched(p + 24, 1), -EBADMSG);	/* role high */
	CU_ASSERT_EQUAL(hello_patched(p + 27, 1), 0);	/* secondary */
	CU_ASSERT_EQUAL(hello_patched(p + 96, 0), -EBADMSG);	/* name len 0 */
	CU_ASSERT_EQUAL(hello_patched(p + 96, 64), -EBADMSG);	/* len 64 */
	CU_ASSERT_EQUAL(hello_patched(p + 96, 255), -EBADMSG);
	CU_ASSERT_EQUAL(hello_patched(p + 96, 6), -EBADMSG);	/* NUL inside */
	CU_ASSERT_EQUAL(hello_patched(p + 96, 4), -EBADMSG);	/* 'a' in pad */
	CU_ASSERT_EQUAL(hello_patched(p + 98, ' '), -EBADMSG);	/* bad char */
	CU_ASSERT_EQUAL(hello_patched(p + 98, '/'), -EBADMSG);
	CU_ASSERT_EQUAL(hello_patched(p + 98, 0xc3), -EBADMSG);
	CU_ASSERT_EQUAL(hello_patched(p + 159, 1), -EBADMSG);	/* padding */
	CU_ASSERT_EQUAL(hello_patched(p + 160, 0), -EBADMSG);	/* res len 0 */
	CU_ASSERT_EQUAL(hello_patched(p + 160, 64), -EBADMSG);
	CU_ASSERT_EQUAL(hello_patched(p + 162, '\n'), -EBADMSG);
	CU_ASSERT_EQUAL(hello_patched(p + 223, 'x'), -EBADMSG);	/* padding */
	CU_ASSERT_EQUAL(hello_patched(p + 97, 'Z'), 0);	/* "Zlpha" */

	/* all-zero challenge */
	memcpy(b, doc_hello, sizeof(b));
	memset(b + p + 64, 0, 32);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, sizeof(b), &hdr), 0);
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + p, 224, &got), -EBADMSG);
	b[p + 95] = 1;
	CU_ASSERT_EQUAL(peer_decode_hello(&hdr, b + p, 224, &got), 0);

	/* too short or too long: the header decoder rejects it */
	raw_hdr(b, PEER_HELLO, 0, 223, 0);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), -EBADMSG);
	raw_hdr(b, PEER_HELLO, 0, 1025, 0);
	CU_ASSERT_EQUAL(peer_decode_hdr(b, 24, &hdr), -EBADMSG);
}

static void test_hello_encode_invalid(void)
{
	uint8_t b[248];
	struct peer_hello h;

	h = hello_base("", 1);
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a b", 1);
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	h.resource[0] = '\0';
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	h.version_min = 0;
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	h.version_min = 3;
	h.version_max = 2;
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	h.role = (enum peer_role)0;
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	memset(h.challenge, 0, sizeof(h.challenge));
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), -EINVAL);
	h = hello_base("a", 1);
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b) - 1, &h), -ENOBUFS);
	CU_ASSERT_EQUAL(peer_encode_hello(b, sizeof(b), &h), 248);
}

/* ---- HELLO check ---- */

static void test_hello_check_versions(void)
{
	/* local min, max, peer min, max -> version or 0 = refused */
	static const struct {
		uint16_t lmin, lmax, rmin, rmax, want;
	} rows[] = {
		{ 1, 1, 1, 1, 1 },
		{ 1, 3, 2, 5, 3 },
		{ 2, 5, 1, 3, 3 },
		{ 1, 5, 3, 3, 3 },
		{ 3, 3, 1, 5, 3 },
		{ 1, 2, 2, 2, 2 },
		{ 1, 1, 2, 3, 0 },
		{ 2, 4, 1, 1, 0 },
		{ 5, 9, 1, 4, 0 },
		{ 1, 65535, 65535, 65535, 65535 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct peer_hello l = hello_base("a", 1), r = hello_base("b", 2);
		char msg[PEER_MSG_MAX + 1] = "untouched";
		uint16_t v = 0xeeee;
		int ret;

		l.version_min = rows[i].lmin;
		l.version_max = rows[i].lmax;
		r.version_min = rows[i].rmin;
		r.version_max = rows[i].rmax;
		ret = peer_hello_check(&l, &r, &v, msg);
		if (rows[i].want) {
			CU_ASSERT_EQUAL(ret, 0);
			CU_ASSERT_EQUAL(v, rows[i].want);
			CU_ASSERT_STRING_EQUAL(msg, "untouched");
			/* both ends agree */
			v = 0;
			CU_ASSERT_EQUAL(peer_hello_check(&r, &l, &v, msg), 0);
			CU_ASSERT_EQUAL(v, rows[i].want);
		} else {
			CU_ASSERT_EQUAL(ret, -EPROTONOSUPPORT);
			CU_ASSERT_EQUAL(v, 0xeeee);
			CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no common protocol "
						      "version"));
			CU_ASSERT_EQUAL(peer_hello_check(&r, &l, &v, msg),
					-EPROTONOSUPPORT);
		}
	}
}

static void test_hello_check_refusals(void)
{
	struct peer_hello l = hello_base("alpha", 1), r = hello_base("beta", 2);
	char msg[PEER_MSG_MAX + 1];
	uint16_t v = 0;

	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), 0);
	CU_ASSERT_EQUAL(v, 1);

	/* size mismatch, exact message */
	r.data_size = UINT64_C(2147483648);
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -ERANGE);
	CU_ASSERT_STRING_EQUAL(msg, "size mismatch: local 1073741824 bytes, "
			       "peer 2147483648 bytes");
	r.data_size = l.data_size;

	/* resource mismatch */
	snprintf(r.resource, sizeof(r.resource), "r1");
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -ENOENT);
	CU_ASSERT_STRING_EQUAL(msg, "resource name mismatch: local 'r0', "
			       "peer 'r1'");
	/* resource and size wrong: the resource is reported (table order) */
	r.data_size = 1;
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -ENOENT);
	snprintf(r.resource, sizeof(r.resource), "r0");
	r.data_size = l.data_size;

	/* resource names compare exactly, case included */
	snprintf(r.resource, sizeof(r.resource), "R0");
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -ENOENT);
	snprintf(r.resource, sizeof(r.resource), "r0");

	/* same node name */
	snprintf(r.node_name, sizeof(r.node_name), "alpha");
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "'alpha'"));
	snprintf(r.node_name, sizeof(r.node_name), "beta");

	/* same node id */
	r.node_id = 1;
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "node id 1"));
	r.node_id = 2;

	/* roles, UUIDs and features never refuse here */
	l.role = r.role = PEER_ROLE_PRIMARY;
	r.features = 0;
	r.uuid_current = 0;
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), 0);

	/* longest names still fit the message buffer, NUL-terminated */
	memset(l.resource, 'a', 63);
	l.resource[63] = '\0';
	memset(r.resource, 'b', 63);
	r.resource[63] = '\0';
	CU_ASSERT_EQUAL(peer_hello_check(&l, &r, &v, msg), -ENOENT);
	CU_ASSERT(strlen(msg) <= PEER_MSG_MAX);
	/* and the message is a valid REFUSE */
	{
		uint8_t b[24 + 4 + PEER_MSG_MAX];

		CU_ASSERT(peer_encode_refuse(b, sizeof(b), ENOENT, msg) > 0);
	}
}

static void test_features(void)
{
	struct peer_hdr h = { .type = PEER_DATA, .len = 25 };
	uint64_t all = PEER_FEATURES_KNOWN;

	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, 0), 0);
	h.flags = PEER_F_COMPRESSED;
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, 0), -EBADMSG);
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, PEER_FEAT_CRC32C),
			-EBADMSG);
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, PEER_FEAT_LZ4), 0);
	h.flags = PEER_F_CHECKSUM | PEER_F_FUA;
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, PEER_FEAT_LZ4), -EBADMSG);
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, PEER_FEAT_CRC32C), 0);
	h.type = PEER_RS_HASH;
	h.flags = 0;
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, all & ~PEER_FEAT_XXH3),
			-EBADMSG);
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, PEER_FEAT_XXH3), 0);
	h.type = PEER_TRIM;
	CU_ASSERT_EQUAL(peer_hdr_check_features(&h, 0), 0);
}

/* ---- runner ---- */

static const struct cunit_test tests[] = {
	{ "doc: DATA header bytes", test_doc_data_header },
	{ "doc: DATA fixed part bytes", test_doc_data_fixed },
	{ "doc: PING and NACK bytes", test_doc_ping_nack },
	{ "doc: HELLO bytes", test_doc_hello },
	{ "hdr: short is -EAGAIN", test_hdr_short },
	{ "hdr: bad magic", test_hdr_bad_magic },
	{ "hdr: reserved not zero", test_hdr_reserved },
	{ "hdr: unknown types", test_hdr_unknown_type },
	{ "hdr: length range per type", test_hdr_lengths },
	{ "hdr: fixed-size packet with wrong size", test_hdr_fixed_wrong_size },
	{ "hdr: flags per type", test_hdr_flags },
	{ "hdr: encode", test_hdr_encode },
	{ "fixed_len and range_fits", test_fixed_len_and_range },
	{ "round trip: HELLO", test_rt_hello },
	{ "HELLO: later-version bytes ignored", test_hello_extension_ignored },
	{ "round trip: AUTH, AUTH_OK", test_rt_auth },
	{ "round trip: REFUSE", test_rt_refuse },
	{ "REFUSE: limits and bad bytes", test_refuse_limits },
	{ "round trip: DATA, RS_DATA", test_rt_data },
	{ "round trip: TRIM, WRITE_ZEROES", test_rt_range },
	{ "round trip: FLUSH, ACK_RECV, ACK_WRITE", test_rt_empty_packets },
	{ "round trip: NACK, PING, PONG", test_rt_nack_ping_pong },
	{ "round trip: RS_REQUEST", test_rt_rs_request },
	{ "round trip: RS_HASH", test_rt_rs_hash },
	{ "RS_HASH: malformed", test_rs_hash_malformed },
	{ "round trip: BITMAP", test_rt_bitmap },
	{ "BITMAP: malformed", test_bitmap_malformed },
	{ "round trip: STATE", test_rt_state },
	{ "stream of packets", test_stream },
	{ "DATA: malformed fixed part", test_data_malformed_decode },
	{ "DATA: bad header flags and lengths", test_data_bad_flags_header },
	{ "DATA: encoder refuses invalid", test_data_encode_invalid },
	{ "TRIM/ZEROES: malformed", test_range_malformed },
	{ "names", test_name_valid },
	{ "HELLO: malformed", test_hello_malformed },
	{ "HELLO: encoder refuses invalid", test_hello_encode_invalid },
	{ "hello_check: version table", test_hello_check_versions },
	{ "hello_check: refusals", test_hello_check_refusals },
	{ "features", test_features },
};

int main(void)
{
	return cunit_main("peer_proto", tests, sizeof(tests) / sizeof(tests[0]));
}
