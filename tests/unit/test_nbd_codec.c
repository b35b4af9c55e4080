/*
 * CUnit tests of the pure NBD codec (nbd/nbd_codec.h). Expected bytes are
 * written out literally from NBD doc/proto.md, never produced by the codec
 * under test, so an encoder and a decoder cannot agree on the same mistake.
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

#include "nbd_codec.h"

#include "cunit_main.h"

#define MiB (UINT64_C(1) << 20)

/* ---- helpers ---- */

/* A heap buffer of exactly n bytes, so ASan catches an encoder overrun. */
static uint8_t *buf_new(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	assert(b);
	memset(b, 0xaa, n);
	return b;
}

/* The 20-byte option reply header of proto.md "Fixed newstyle negotiation". */
static void check_rep_header(const uint8_t *p, uint32_t opt, uint32_t type,
			     uint32_t len)
{
	static const uint8_t magic[8] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
	};

	CU_ASSERT_EQUAL(memcmp(p, magic, 8), 0);
	CU_ASSERT_EQUAL(be_get_u32(p + 8), opt);
	CU_ASSERT_EQUAL(be_get_u32(p + 12), type);
	CU_ASSERT_EQUAL(be_get_u32(p + 16), len);
}

/* ---- byte order helpers (header inlines) ---- */

static void test_put_get_big_endian(void)
{
	uint8_t b[8];
	static const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	be_put_u64(b, UINT64_C(0x0102030405060708));
	CU_ASSERT_EQUAL(memcmp(b, want, 8), 0);
	CU_ASSERT_EQUAL(be_get_u64(b), UINT64_C(0x0102030405060708));
	CU_ASSERT_EQUAL(be_get_u32(b), UINT32_C(0x01020304));
	CU_ASSERT_EQUAL(be_get_u16(b + 6), 0x0708);
}

/* ---- handshake ---- */

static void test_greeting_bytes(void)
{
	static const uint8_t want[18] = {
		'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x03,
	};
	uint8_t *b = buf_new(NBD_GREETING_SIZE);
	size_t n;

	n = nbd_encode_greeting(b, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	CU_ASSERT_EQUAL(n, 18);
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	free(b);
}

static void test_client_flags(void)
{
	static const uint8_t in[4] = { 0x00, 0x00, 0x00, 0x03 };
	static const uint8_t odd[4] = { 0x80, 0x00, 0x01, 0x00 };
	uint32_t f = 0xdeadbeef;

	CU_ASSERT_EQUAL(nbd_decode_client_flags(in, 4, &f), 0);
	CU_ASSERT_EQUAL(f, 3);
	/* unknown bits are decoded, not judged */
	CU_ASSERT_EQUAL(nbd_decode_client_flags(odd, 4, &f), 0);
	CU_ASSERT_EQUAL(f, UINT32_C(0x80000100));
}

static void test_client_flags_short(void)
{
	static const uint8_t in[4] = { 0x00, 0x00, 0x00, 0x03 };
	uint32_t f = 0xdeadbeef;

	for (size_t n = 0; n < 4; n++) {
		CU_ASSERT_EQUAL(nbd_decode_client_flags(in, n, &f), -EAGAIN);
		CU_ASSERT_EQUAL(f, 0xdeadbeef);	/* ret_ untouched on failure */
	}
}

static const uint8_t opt_go_hdr[16] = {
	'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
	0x00, 0x00, 0x00, 0x07,			/* NBD_OPT_GO */
	0x00, 0x00, 0x01, 0x02,			/* 258 bytes of data */
};

static void test_option_header(void)
{
	struct nbd_option_header h = { 0, 0 };

	CU_ASSERT_EQUAL(nbd_decode_option_header(opt_go_hdr, 16, &h), 0);
	CU_ASSERT_EQUAL(h.opt, NBD_OPT_GO);
	CU_ASSERT_EQUAL(h.len, 258);
}

static void test_option_header_longer_buffer(void)
{
	uint8_t b[20];
	struct nbd_option_header h = { 0, 0 };

	memcpy(b, opt_go_hdr, 16);
	memset(b + 16, 0xff, 4);
	CU_ASSERT_EQUAL(nbd_decode_option_header(b, sizeof(b), &h), 0);
	CU_ASSERT_EQUAL(h.opt, NBD_OPT_GO);
	CU_ASSERT_EQUAL(h.len, 258);
}

static void test_option_header_bad_magic(void)
{
	uint8_t b[16];
	struct nbd_option_header h = { 0xdead, 0xbeef };

	/* NBDMAGIC where IHAVEOPT belongs */
	memcpy(b, opt_go_hdr, 16);
	memcpy(b, "NBDMAGIC", 8);
	CU_ASSERT_EQUAL(nbd_decode_option_header(b, 16, &h), -EBADMSG);
	/* one bit off in the last magic byte */
	memcpy(b, opt_go_hdr, 16);
	b[7] ^= 0x01;
	CU_ASSERT_EQUAL(nbd_decode_option_header(b, 16, &h), -EBADMSG);
	CU_ASSERT_EQUAL(h.opt, 0xdead);
	CU_ASSERT_EQUAL(h.len, 0xbeef);
}

static void test_option_header_short(void)
{
	struct nbd_option_header h = { 0xdead, 0xbeef };

	for (size_t n = 0; n < 16; n++)
		CU_ASSERT_EQUAL(nbd_decode_option_header(opt_go_hdr, n, &h),
				-EAGAIN);
	CU_ASSERT_EQUAL(h.opt, 0xdead);
}

static void test_option_reply_bytes(void)
{
	static const uint8_t want[20] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
		0x00, 0x00, 0x00, 0x07,
		0x80, 0x00, 0x00, 0x06,
		0x00, 0x00, 0x00, 0x2a,
	};
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_option_reply(b, NBD_OPT_GO,
						NBD_REP_ERR_UNKNOWN, 42), 20);
	CU_ASSERT_EQUAL(memcmp(b, want, 20), 0);
	free(b);
}

static void test_export_name_reply_zeroes(void)
{
	static const uint8_t head[10] = {
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,	/* 4 GiB */
		0x01, 0x0d,
	};
	uint8_t *b = buf_new(NBD_EXPORT_NAME_REPLY_SIZE + 124);
	size_t n;

	n = nbd_encode_export_name_reply(b, UINT64_C(1) << 32, 0x010d, false);
	CU_ASSERT_EQUAL(n, 134);
	CU_ASSERT_EQUAL(memcmp(b, head, 10), 0);
	for (size_t i = 10; i < 134; i++)
		CU_ASSERT_EQUAL_FATAL(b[i], 0);
	free(b);
}

static void test_export_name_reply_no_zeroes(void)
{
	static const uint8_t head[10] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,	/* 1 MiB */
		0x00, 0x03,
	};
	uint8_t *b = buf_new(NBD_EXPORT_NAME_REPLY_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_export_name_reply(b, MiB, 0x0003, true), 10);
	CU_ASSERT_EQUAL(memcmp(b, head, 10), 0);
	free(b);
}

/* ---- NBD_OPT_INFO / NBD_OPT_GO data ---- */

static void test_info_request(void)
{
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k',
		0x00, 0x02, 0x00, 0x03, 0x00, 0x01,
	};
	struct nbd_info_request r;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(nbd_decode_info_request(d, sizeof(d), &r), 0);
	CU_ASSERT_EQUAL(r.name_len, 4);
	CU_ASSERT_PTR_EQUAL(r.name, d + 4);
	CU_ASSERT_EQUAL(r.n_info, 2);
	CU_ASSERT_PTR_EQUAL(r.info_ids, d + 10);
	CU_ASSERT_EQUAL(nbd_info_request_id(&r, 0), NBD_INFO_BLOCK_SIZE);
	CU_ASSERT_EQUAL(nbd_info_request_id(&r, 1), NBD_INFO_NAME);
}

static void test_info_request_empty(void)
{
	static const uint8_t d[6] = { 0, 0, 0, 0, 0, 0 };
	struct nbd_info_request r;

	memset(&r, 0xff, sizeof(r));
	CU_ASSERT_EQUAL(nbd_decode_info_request(d, 6, &r), 0);
	CU_ASSERT_EQUAL(r.name_len, 0);
	CU_ASSERT_EQUAL(r.n_info, 0);
}

static void test_info_request_too_short(void)
{
	static const uint8_t d[6] = { 0, 0, 0, 0, 0, 0 };
	struct nbd_info_request r;

	for (uint32_t len = 0; len < 6; len++)
		CU_ASSERT_EQUAL(nbd_decode_info_request(d, len, &r), -EBADMSG);
}

static void test_info_request_name_too_long(void)
{
	/* name_len 5 > len - 6 = 4 (proto.md: "MUST be no larger than ...") */
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x05, 'd', 'i', 's', 'k', 0x00, 0x00,
	};
	/* name_len so large that 4 + name_len wraps a u32 */
	static const uint8_t wrap[] = {
		0xff, 0xff, 0xff, 0xfe, 'd', 'i', 's', 'k', 0x00, 0x00,
	};
	struct nbd_info_request r;

	CU_ASSERT_EQUAL(nbd_decode_info_request(d, sizeof(d), &r), -EBADMSG);
	CU_ASSERT_EQUAL(nbd_decode_info_request(wrap, sizeof(wrap), &r),
			-EBADMSG);
}

static void test_info_request_trailing_bytes(void)
{
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k',
		0x00, 0x01, 0x00, 0x00,
		0x00,				/* one byte too many */
	};
	struct nbd_info_request r;

	CU_ASSERT_EQUAL(nbd_decode_info_request(d, sizeof(d), &r), -EBADMSG);
}

static void test_info_request_count_mismatch(void)
{
	/* says 3 info ids, carries 2 */
	static const uint8_t fewer[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x03, 0x00, 0x00, 0x00, 0x03,
	};
	/* says 1 info id, carries 2 */
	static const uint8_t more[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
	};
	/* says 0xffff info ids */
	static const uint8_t huge[] = {
		0x00, 0x00, 0x00, 0x00,
		0xff, 0xff, 0x00, 0x00, 0x00, 0x03,
	};
	struct nbd_info_request r;

	CU_ASSERT_EQUAL(nbd_decode_info_request(fewer, sizeof(fewer), &r),
			-EBADMSG);
	CU_ASSERT_EQUAL(nbd_decode_info_request(more, sizeof(more), &r),
			-EBADMSG);
	CU_ASSERT_EQUAL(nbd_decode_info_request(huge, sizeof(huge), &r),
			-EBADMSG);
}

static void test_info_export_bytes(void)
{
	static const uint8_t payload[12] = {
		0x00, 0x00,				/* NBD_INFO_EXPORT */
		0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,	/* 1 GiB */
		0x01, 0x4d,
	};
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + 12);

	CU_ASSERT_EQUAL(nbd_encode_info_export(b, NBD_OPT_GO, UINT64_C(1) << 30,
					       0x014d), 32);
	check_rep_header(b, NBD_OPT_GO, NBD_REP_INFO, 12);
	CU_ASSERT_EQUAL(memcmp(b + 20, payload, 12), 0);
	free(b);
}

static void test_info_string_bytes(void)
{
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + 2 + 4);

	CU_ASSERT_EQUAL(nbd_encode_info_string(b, NBD_OPT_INFO, NBD_INFO_NAME,
					       "disk", 4), 26);
	check_rep_header(b, NBD_OPT_INFO, NBD_REP_INFO, 6);
	CU_ASSERT_EQUAL(b[20], 0x00);
	CU_ASSERT_EQUAL(b[21], 0x01);
	CU_ASSERT_EQUAL(memcmp(b + 22, "disk", 4), 0);
	free(b);
}

static void test_info_block_size_bytes(void)
{
	static const uint8_t payload[14] = {
		0x00, 0x03,
		0x00, 0x00, 0x02, 0x00,		/* 512 */
		0x00, 0x00, 0x10, 0x00,		/* 4096 */
		0x02, 0x00, 0x00, 0x00,		/* 32 MiB */
	};
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + 14);

	CU_ASSERT_EQUAL(nbd_encode_info_block_size(b, NBD_OPT_GO, 512, 4096,
						   32u << 20), 34);
	check_rep_header(b, NBD_OPT_GO, NBD_REP_INFO, 14);
	CU_ASSERT_EQUAL(memcmp(b + 20, payload, 14), 0);
	free(b);
}

static void test_rep_server_bytes(void)
{
	static const uint8_t payload[] = {
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k',
		'm', 'a', 'i', 'n',
	};
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + sizeof(payload));

	CU_ASSERT_EQUAL(nbd_encode_rep_server(b, "disk", 4, "main", 4), 32);
	check_rep_header(b, NBD_OPT_LIST, NBD_REP_SERVER, 12);
	CU_ASSERT_EQUAL(memcmp(b + 20, payload, sizeof(payload)), 0);
	free(b);
}

static void test_rep_server_no_description(void)
{
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + 4);

	CU_ASSERT_EQUAL(nbd_encode_rep_server(b, "", 0, "", 0), 24);
	check_rep_header(b, NBD_OPT_LIST, NBD_REP_SERVER, 4);
	CU_ASSERT_EQUAL(be_get_u32(b + 20), 0);
	free(b);
}

static void test_rep_meta_context_bytes(void)
{
	static const uint8_t payload[] = {
		0x00, 0x00, 0x00, 0x01,
		'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o', 'c', 'a', 't',
		'i', 'o', 'n',
	};
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + sizeof(payload));

	CU_ASSERT_EQUAL(nbd_encode_rep_meta_context(b,
			NBD_OPT_SET_META_CONTEXT, 1, "base:allocation", 15), 39);
	check_rep_header(b, NBD_OPT_SET_META_CONTEXT, NBD_REP_META_CONTEXT, 19);
	CU_ASSERT_EQUAL(memcmp(b + 20, payload, sizeof(payload)), 0);
	free(b);
}

static void test_option_error_with_message(void)
{
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE + 7);

	CU_ASSERT_EQUAL(nbd_encode_option_error(b, 0x7654321, NBD_REP_ERR_UNSUP,
						"no such"), 27);
	check_rep_header(b, 0x7654321, NBD_REP_ERR_UNSUP, 7);
	CU_ASSERT_EQUAL(memcmp(b + 20, "no such", 7), 0);
	free(b);
}

static void test_option_error_without_message(void)
{
	uint8_t *b = buf_new(NBD_OPTION_REPLY_HEADER_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_option_error(b, NBD_OPT_LIST,
						NBD_REP_ERR_INVALID, NULL), 20);
	check_rep_header(b, NBD_OPT_LIST, NBD_REP_ERR_INVALID, 0);
	free(b);
}

/* ---- NBD_OPT_{LIST,SET}_META_CONTEXT data ---- */

static const uint8_t meta_two[] = {
	0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k',
	0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x0f,
	'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o', 'c', 'a', 't', 'i', 'o',
	'n',
	0x00, 0x00, 0x00, 0x05, 'x', '-', 'a', ':', 'b',
};

static void test_meta_request(void)
{
	struct nbd_meta_request r;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(nbd_decode_meta_request(meta_two,
						      sizeof(meta_two), &r), 0);
	CU_ASSERT_PTR_EQUAL(r.name, meta_two + 4);
	CU_ASSERT_EQUAL(r.name_len, 4);
	CU_ASSERT_EQUAL(r.n_queries, 2);
	CU_ASSERT_PTR_EQUAL(r.queries, meta_two + 12);
	CU_ASSERT_EQUAL(r.queries_len, sizeof(meta_two) - 12);
}

static void test_meta_request_next(void)
{
	struct nbd_meta_request r;
	uint32_t cur = 0, qlen = 0;
	const uint8_t *q = NULL;

	CU_ASSERT_EQUAL_FATAL(nbd_decode_meta_request(meta_two,
						      sizeof(meta_two), &r), 0);
	CU_ASSERT_FATAL(nbd_meta_request_next(&r, &cur, &q, &qlen));
	CU_ASSERT_EQUAL(qlen, 15);
	CU_ASSERT_PTR_EQUAL(q, meta_two + 16);
	CU_ASSERT_FATAL(nbd_meta_request_next(&r, &cur, &q, &qlen));
	CU_ASSERT_EQUAL(qlen, 5);
	CU_ASSERT_PTR_EQUAL(q, meta_two + 35);
	CU_ASSERT_FALSE(nbd_meta_request_next(&r, &cur, &q, &qlen));
	/* stays at the end */
	CU_ASSERT_FALSE(nbd_meta_request_next(&r, &cur, &q, &qlen));
}

static void test_meta_request_zero_queries(void)
{
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
	};
	struct nbd_meta_request r;
	uint32_t cur = 0, qlen = 0;
	const uint8_t *q = NULL;

	memset(&r, 0xff, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(nbd_decode_meta_request(d, sizeof(d), &r), 0);
	CU_ASSERT_EQUAL(r.name_len, 0);
	CU_ASSERT_EQUAL(r.n_queries, 0);
	CU_ASSERT_EQUAL(r.queries_len, 0);
	CU_ASSERT_FALSE(nbd_meta_request_next(&r, &cur, &q, &qlen));
}

static void test_meta_request_empty_query(void)
{
	/* one query of length 0: syntactically consistent */
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x00,
	};
	struct nbd_meta_request r;
	uint32_t cur = 0, qlen = 99;
	const uint8_t *q = NULL;

	CU_ASSERT_EQUAL_FATAL(nbd_decode_meta_request(d, sizeof(d), &r), 0);
	CU_ASSERT_EQUAL(r.n_queries, 1);
	CU_ASSERT_FATAL(nbd_meta_request_next(&r, &cur, &q, &qlen));
	CU_ASSERT_EQUAL(qlen, 0);
	CU_ASSERT_FALSE(nbd_meta_request_next(&r, &cur, &q, &qlen));
}

static void test_meta_request_too_short(void)
{
	struct nbd_meta_request r;

	for (uint32_t len = 0; len < 8; len++)
		CU_ASSERT_EQUAL(nbd_decode_meta_request(meta_two, len, &r),
				-EBADMSG);
}

static void test_meta_request_query_past_end(void)
{
	/* query claims 16 bytes, 15 follow */
	uint8_t d[sizeof(meta_two)];
	struct nbd_meta_request r;

	memcpy(d, meta_two, sizeof(d));
	d[15] = 0x10;
	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, 31, &r), -EBADMSG);
	/* the whole first query, but the count says two */
	CU_ASSERT_EQUAL(nbd_decode_meta_request(meta_two, 31, &r), -EBADMSG);
	/* second query cut short by one byte */
	CU_ASSERT_EQUAL(nbd_decode_meta_request(meta_two, sizeof(meta_two) - 1,
						&r), -EBADMSG);
}

static void test_meta_request_query_overrun(void)
{
	/* the first query runs 4 bytes past the end, a second one is due */
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x08, 'b', 'a', 's', 'e',
	};
	uint8_t *b = buf_new(sizeof(d));	/* ASan: no reading past it */
	struct nbd_meta_request r;

	memcpy(b, d, sizeof(d));
	CU_ASSERT_EQUAL(nbd_decode_meta_request(b, sizeof(d), &r), -EBADMSG);
	free(b);
}

static void test_meta_request_query_len_overflow(void)
{
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,
		0xff, 0xff, 0xff, 0xfc,	/* 12 + 4 + len wraps a u32 */
		'b', 'a', 's', 'e',
	};
	struct nbd_meta_request r;

	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
}

static void test_meta_request_trailing_bytes(void)
{
	uint8_t d[sizeof(meta_two) + 1];
	struct nbd_meta_request r;

	memcpy(d, meta_two, sizeof(meta_two));
	d[sizeof(meta_two)] = 'x';
	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
}

static void test_meta_request_count_too_big(void)
{
	uint8_t d[sizeof(meta_two)];
	struct nbd_meta_request r;

	memcpy(d, meta_two, sizeof(d));
	d[8] = 0xff;			/* 0xff000002 queries */
	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
	d[8] = 0x00;
	d[11] = 0x03;			/* three queries, two present */
	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
	d[11] = 0x01;			/* one query, then 9 stray bytes */
	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
}

static void test_meta_request_name_overflow(void)
{
	/* name_len > len - 8 */
	static const uint8_t d[] = {
		0x00, 0x00, 0x00, 0x05, 'd', 'i', 's', 'k',
		0x00, 0x00, 0x00, 0x00,
	};
	/* 4 + name_len wraps a u32 */
	static const uint8_t wrap[] = {
		0xff, 0xff, 0xff, 0xfd, 'd', 'i', 's', 'k',
		0x00, 0x00, 0x00, 0x00,
	};
	struct nbd_meta_request r;

	CU_ASSERT_EQUAL(nbd_decode_meta_request(d, sizeof(d), &r), -EBADMSG);
	CU_ASSERT_EQUAL(nbd_decode_meta_request(wrap, sizeof(wrap), &r),
			-EBADMSG);
}

/* ---- transmission: requests ---- */

static const uint8_t req_write[28] = {
	0x25, 0x60, 0x95, 0x13,			/* NBD_REQUEST_MAGIC */
	0x00, 0x01,				/* FUA */
	0x00, 0x01,				/* NBD_CMD_WRITE */
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,	/* cookie */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,	/* offset 64 KiB */
	0x00, 0x00, 0x10, 0x00,			/* 4096 */
};

static void test_request_decode(void)
{
	struct nbd_request r;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(nbd_decode_request(req_write, 28, &r), 0);
	CU_ASSERT_EQUAL(r.flags, NBD_CMD_FLAG_FUA);
	CU_ASSERT_EQUAL(r.type, NBD_CMD_WRITE);
	CU_ASSERT_EQUAL(r.cookie, UINT64_C(0x0102030405060708));
	CU_ASSERT_EQUAL(r.offset, 65536);
	CU_ASSERT_EQUAL(r.len, 4096);
}

static void test_request_encode_bytes(void)
{
	struct nbd_request r = {
		.flags = NBD_CMD_FLAG_FUA, .type = NBD_CMD_WRITE,
		.cookie = UINT64_C(0x0102030405060708),
		.offset = 65536, .len = 4096,
	};
	uint8_t *b = buf_new(NBD_REQUEST_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_request(b, &r), 28);
	CU_ASSERT_EQUAL(memcmp(b, req_write, 28), 0);
	free(b);
}

static void test_request_round_trip(void)
{
	static const struct nbd_request cases[] = {
		{ 0, NBD_CMD_READ, 0, 0, 0 },
		{ 0xffff, 0xffff, UINT64_MAX, UINT64_MAX, UINT32_MAX },
		{ NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS,
		  UINT64_C(0x8000000000000001), UINT64_C(1) << 40, 1u << 31 },
		{ NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO,
		  NBD_CMD_WRITE_ZEROES, 7, 512, 512 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[NBD_REQUEST_SIZE];
		struct nbd_request out;

		memset(&out, 0, sizeof(out));
		CU_ASSERT_EQUAL(nbd_encode_request(b, &cases[i]), 28);
		CU_ASSERT_EQUAL_FATAL(nbd_decode_request(b, 28, &out), 0);
		CU_ASSERT_EQUAL(out.flags, cases[i].flags);
		CU_ASSERT_EQUAL(out.type, cases[i].type);
		CU_ASSERT_EQUAL(out.cookie, cases[i].cookie);
		CU_ASSERT_EQUAL(out.offset, cases[i].offset);
		CU_ASSERT_EQUAL(out.len, cases[i].len);
	}
}

static void test_request_bad_magic(void)
{
	uint8_t b[28];
	struct nbd_request r = { .type = 0x4242 };

	memcpy(b, req_write, 28);
	b[0] = 0x67;			/* a reply magic is not a request */
	b[1] = 0x44;
	b[2] = 0x66;
	b[3] = 0x98;
	CU_ASSERT_EQUAL(nbd_decode_request(b, 28, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.type, 0x4242);
}

static void test_request_short(void)
{
	struct nbd_request r = { .type = 0x4242 };

	for (size_t n = 0; n < 28; n++)
		CU_ASSERT_EQUAL(nbd_decode_request(req_write, n, &r), -EAGAIN);
	CU_ASSERT_EQUAL(r.type, 0x4242);
}

/* ---- nbd_validate_request ---- */

#define ALL_TFLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | \
		    NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | \
		    NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO | \
		    NBD_FLAG_SEND_CACHE)

/* 64 MiB, everything advertised, byte granular, 1 MiB max payload. */
static struct nbd_session sess_plain(void)
{
	struct nbd_session s = {
		.size = 64 * MiB, .tflags = ALL_TFLAGS, .min_block = 1,
		.max_payload = 1u << 20, .structured_reply = false,
		.meta_context_id = 0,
	};

	return s;
}

/* As sess_plain plus structured replies, SEND_DF and base:allocation. */
static struct nbd_session sess_sr(void)
{
	struct nbd_session s = sess_plain();

	s.tflags |= NBD_FLAG_SEND_DF;
	s.structured_reply = true;
	s.meta_context_id = 1;
	return s;
}

static int val(uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
	       const struct nbd_session *s)
{
	struct nbd_request r = {
		.flags = flags, .type = type, .cookie = 0x1234,
		.offset = off, .len = len,
	};

	return nbd_validate_request(&r, s);
}

static void test_validate_ok(void)
{
	struct nbd_session s = sess_sr();

	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, 4096, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 4096, 4096, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, 0, 0, 0, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, 0, 0, 1u << 20, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_CACHE, 0, 0, 4096, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, 0, 0, 4096, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_DISC, 0, 0, 0, &s), 0);
	/* the last byte of the export */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 64 * MiB - 1, 1, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 64 * MiB - 1, 1, &s), 0);
	/* exactly max_payload */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, 1u << 20, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 0, 1u << 20, &s), 0);
}

static void test_validate_zero_length(void)
{
	struct nbd_session s = sess_sr();

	/* proto.md: unspecified, SHOULD NOT disconnect; contract: accepted */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, 0, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 4096, 0, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, 0, 4096, 0, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, 0, 4096, 0, &s), 0);
}

static void test_validate_past_end(void)
{
	struct nbd_session s = sess_sr();
	const uint64_t end = 64 * MiB;

	/* proto.md "Error values": reads and trims EINVAL, writes ENOSPC */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, end - 512, 1024, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, end, 1, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, end - 512, 1024, &s), -ENOSPC);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, end, 1, &s), -ENOSPC);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, 0, end - 512, 1024, &s),
			-ENOSPC);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, 0, end - 512, 1024, &s), -EINVAL);
	/* BLOCK_STATUS: "SHOULD return NBD_EINVAL ... beyond the size" */
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, end, 512, &s), -EINVAL);
}

static void test_validate_offset_overflow(void)
{
	struct nbd_session s = sess_sr();
	const uint64_t off = UINT64_MAX - 100;	/* off + 4096 wraps to 3995 */
	int r;

	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, off, 4096, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, 0, off, 4096, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, off, 4096, &s), -EINVAL);
	/* beyond the device: ENOSPC by "Error values"; EINVAL defensible */
	r = val(NBD_CMD_WRITE, 0, off, 4096, &s);
	CU_ASSERT(r == -ENOSPC || r == -EINVAL);
	r = val(NBD_CMD_WRITE_ZEROES, 0, off, 4096, &s);
	CU_ASSERT(r == -ENOSPC || r == -EINVAL);
	/* an offset of exactly 2^64 - 1 with length 1 does not wrap */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, UINT64_MAX, 1, &s), -EINVAL);
}

static void test_validate_over_max_payload(void)
{
	struct nbd_session s = sess_sr();
	const uint32_t big = (1u << 20) + 512;

	/* "Block size constraints": SHOULD report NBD_EINVAL. We do for
	 * the two commands that carry a payload ... */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, big, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 0, big, &s), -EINVAL);
	/* ... and deliberately serve CACHE and WRITE_ZEROES above it
	 * (docs/nbd.md): no payload moves, and clients that zero large
	 * ranges keep working. */
	CU_ASSERT_EQUAL(val(NBD_CMD_CACHE, 0, 0, big, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, 0, 0, big, &s), 0);
}

static void test_validate_over_max_payload_allowed(void)
{
	struct nbd_session s = sess_sr();
	const uint32_t big = 8u << 20;

	/*
	 * proto.md limits only READ, WRITE, CACHE and WRITE_ZEROES without
	 * FAST_ZERO to the maximum block size. A BLOCK_STATUS length "is
	 * only a hint", and fast zeroing of a whole export is the intended
	 * use of FAST_ZERO. (TRIM is left out: the spec both exempts it and
	 * names it as a command to fail with EINVAL when over the maximum.)
	 */
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, 0, big, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0,
			    big, &s), 0);
}

static void test_validate_unknown_command(void)
{
	struct nbd_session s = sess_sr();

	CU_ASSERT_EQUAL(val(NBD_CMD_RESIZE, 0, 0, 0, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(9, 0, 0, 512, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(99, 0, 0, 512, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(0xffff, 0, 0, 512, &s), -EINVAL);
}

static void test_validate_unknown_flags(void)
{
	struct nbd_session s = sess_sr();

	for (unsigned bit = 5; bit < 16; bit++) {
		uint16_t f = (uint16_t)(1u << bit);

		CU_ASSERT_EQUAL(val(NBD_CMD_READ, f, 0, 512, &s), -EINVAL);
		CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, f, 0, 512, &s), -EINVAL);
		CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, f, 0, 0, &s), -EINVAL);
	}
}

static void test_validate_flag_not_for_command(void)
{
	struct nbd_session s = sess_sr();

	/* "a flag not explicitly documented as applicable": EINVAL */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_NO_HOLE, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_REQ_ONE, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_FAST_ZERO, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, NBD_CMD_FLAG_DF, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, NBD_CMD_FLAG_DF, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_DF, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_REQ_ONE, 0, 512,
			    &s), -EINVAL);
}

static void test_validate_flags_for_command(void)
{
	struct nbd_session s = sess_sr();

	/* FUA is valid on every command once SEND_FUA is advertised */
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 512, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 512, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE |
			    NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_FAST_ZERO, 0, 512,
			    &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0, 512,
			    &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, &s), 0);
}

static void test_validate_flag_not_negotiated(void)
{
	struct nbd_session s = sess_sr();

	s.tflags &= (uint16_t)~(NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_FAST_ZERO);
	/* FUA and FAST_ZERO "MUST NOT" be sent unless advertised */
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, &s),
			-EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0,
			    512, &s), -EINVAL);
}

static void test_validate_df(void)
{
	struct nbd_session s = sess_plain();

	/* no structured reply, so no SEND_DF: DF is not valid */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, &s),
			-EINVAL);
	/* structured replies but SEND_DF not advertised */
	s.structured_reply = true;
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, &s),
			-EINVAL);
	s.tflags |= NBD_FLAG_SEND_DF;
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, &s), 0);
}

static void test_validate_block_status_needs_context(void)
{
	struct nbd_session s = sess_sr();

	s.meta_context_id = 0;
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), -EINVAL);
	s = sess_plain();
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), -EINVAL);
}

static void test_validate_read_only(void)
{
	struct nbd_session s = sess_sr();

	s.tflags |= NBD_FLAG_READ_ONLY;
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 0, 512, &s), -EPERM);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE_ZEROES, 0, 0, 512, &s), -EPERM);
	CU_ASSERT_EQUAL(val(NBD_CMD_TRIM, 0, 0, 512, &s), -EPERM);
	/* reads and status still work */
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, 512, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_BLOCK_STATUS, 0, 0, 512, &s), 0);
}

static void test_validate_flush_nonzero(void)
{
	struct nbd_session s = sess_sr();

	/* "length and offset are reserved, and MUST be set to all-zero" */
	CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, 0, 512, 0, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, 0, 0, 512, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_FLUSH, 0, UINT64_MAX, UINT32_MAX, &s),
			-EINVAL);
}

static void test_validate_alignment(void)
{
	struct nbd_session s = sess_sr();

	/* "SHOULD return NBD_EINVAL if ... not aligned to ... minimum" */
	s.min_block = 512;
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 4096, 512, &s), 0);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 100, 512, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_READ, 0, 0, 100, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 512, 1000, &s), -EINVAL);
	CU_ASSERT_EQUAL(val(NBD_CMD_WRITE, 0, 1, 512, &s), -EINVAL);
}

/* ---- errno mapping ---- */

static void test_errno_to_wire(void)
{
	static const struct {
		int err;
		uint32_t wire;
	} rows[] = {
		{ EPERM, NBD_EPERM },		{ EIO, NBD_EIO },
		{ ENOMEM, NBD_ENOMEM },		{ EINVAL, NBD_EINVAL },
		{ ENOSPC, NBD_ENOSPC },		{ EOVERFLOW, NBD_EOVERFLOW },
		{ ENOTSUP, NBD_ENOTSUP },	{ ESHUTDOWN, NBD_ESHUTDOWN },
		/* proto.md: "SHOULD map the EDQUOT and EFBIG errors" */
		{ EDQUOT, NBD_ENOSPC },		{ EFBIG, NBD_ENOSPC },
		{ EROFS, NBD_EPERM },
		/* anything else becomes EINVAL */
		{ ENOENT, NBD_EINVAL },		{ EXDEV, NBD_EINVAL },
		{ ECHILD, NBD_EINVAL },		{ 9999, NBD_EINVAL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint32_t got = nbd_errno_to_wire(rows[i].err);

		if (got != rows[i].wire)
			fprintf(stderr, "errno %d -> %u, want %u\n",
				rows[i].err, got, rows[i].wire);
		CU_ASSERT_EQUAL(got, rows[i].wire);
	}
}

/* ---- transmission: replies ---- */

static void test_simple_reply_bytes(void)
{
	static const uint8_t want[16] = {
		0x67, 0x44, 0x66, 0x98,
		0x00, 0x00, 0x00, 0x1c,		/* NBD_ENOSPC */
		0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x01,
	};
	uint8_t *b = buf_new(NBD_SIMPLE_REPLY_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_simple_reply(b, NBD_ENOSPC,
						UINT64_C(0xcafebabe00000001)),
			16);
	CU_ASSERT_EQUAL(memcmp(b, want, 16), 0);
	free(b);
}

static void test_chunk_header_bytes(void)
{
	static const uint8_t want[20] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,			/* DONE */
		0x00, 0x00,			/* NBD_REPLY_TYPE_NONE */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
		0x00, 0x00, 0x00, 0x00,
	};
	uint8_t *b = buf_new(NBD_CHUNK_HEADER_SIZE);

	CU_ASSERT_EQUAL(nbd_encode_chunk_header(b, NBD_REPLY_FLAG_DONE,
						NBD_REPLY_TYPE_NONE, 42, 0),
			20);
	CU_ASSERT_EQUAL(memcmp(b, want, 20), 0);
	free(b);
}

static void test_chunk_offset_data_bytes(void)
{
	static const uint8_t want[28] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x00,			/* not DONE */
		0x00, 0x01,			/* OFFSET_DATA */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
		0x00, 0x00, 0x10, 0x08,		/* 8 + 4096 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
	};
	uint8_t *b = buf_new(28);

	CU_ASSERT_EQUAL(nbd_encode_chunk_offset_data(b, 0, 7, MiB, 4096), 28);
	CU_ASSERT_EQUAL(memcmp(b, want, 28), 0);
	free(b);
}

static void test_chunk_offset_hole_bytes(void)
{
	static const uint8_t want[32] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,			/* DONE */
		0x00, 0x02,			/* OFFSET_HOLE */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
		0x00, 0x00, 0x00, 0x0c,		/* exactly 12 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,
		0x00, 0x01, 0x00, 0x00,
	};
	uint8_t *b = buf_new(32);

	CU_ASSERT_EQUAL(nbd_encode_chunk_offset_hole(b, NBD_REPLY_FLAG_DONE, 9,
						     8192, 65536), 32);
	CU_ASSERT_EQUAL(memcmp(b, want, 32), 0);
	free(b);
}

static void test_chunk_error_bytes(void)
{
	static const uint8_t want[] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,			/* DONE */
		0x80, 0x01,			/* NBD_REPLY_TYPE_ERROR */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		0x00, 0x00, 0x00, 0x0a,		/* 6 + 4 */
		0x00, 0x00, 0x00, 0x16,		/* NBD_EINVAL */
		0x00, 0x04, 'o', 'o', 'p', 's',
	};
	uint8_t *b = buf_new(NBD_CHUNK_ERROR_MAX);

	CU_ASSERT_EQUAL(nbd_encode_chunk_error(b, 5, NBD_EINVAL, "oops"),
			sizeof(want));
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	free(b);
}

static void test_chunk_error_no_message(void)
{
	static const uint8_t want[26] = {
		0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x80, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		0x00, 0x00, 0x00, 0x06,
		0x00, 0x00, 0x00, 0x05,		/* NBD_EIO */
		0x00, 0x00,
	};
	uint8_t *b = buf_new(NBD_CHUNK_ERROR_MAX);

	CU_ASSERT_EQUAL(nbd_encode_chunk_error(b, 5, NBD_EIO, NULL), 26);
	CU_ASSERT_EQUAL(memcmp(b, want, 26), 0);
	free(b);
}

static void test_chunk_error_long_message(void)
{
	/* The buffer is exactly NBD_CHUNK_ERROR_MAX: longer text is cut. */
	uint8_t *b = buf_new(NBD_CHUNK_ERROR_MAX);
	char msg[1001];
	size_t n;
	uint16_t mlen;

	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	n = nbd_encode_chunk_error(b, 5, NBD_EIO, msg);
	CU_ASSERT_FATAL(n >= 26 && n <= NBD_CHUNK_ERROR_MAX);
	mlen = be_get_u16(b + 24);
	CU_ASSERT_EQUAL(be_get_u32(b + 16), 6u + mlen);
	CU_ASSERT_EQUAL(n, 26u + mlen);
	CU_ASSERT(mlen > 0);
	CU_ASSERT_EQUAL(memcmp(b + 26, msg, mlen), 0);
	free(b);
}

static void test_block_status_bytes(void)
{
	static const struct nbd_extent ext[2] = {
		{ 65536, 0 },
		{ 4096, NBD_STATE_HOLE | NBD_STATE_ZERO },
	};
	static const uint8_t want[] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,			/* DONE */
		0x00, 0x05,			/* BLOCK_STATUS */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
		0x00, 0x00, 0x00, 0x14,		/* 4 + 2 * 8 */
		0x00, 0x00, 0x00, 0x01,		/* context id */
		0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03,
	};
	uint8_t *b = buf_new(sizeof(want));

	CU_ASSERT_EQUAL(nbd_encode_block_status(b, 256, 1, ext, 2),
			sizeof(want));
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	free(b);
}

/* strcasestr() that treats a NULL haystack as a failed match. */
static bool name_has(const char *name, const char *word)
{
	return name && strcasestr(name, word);
}

static void test_names(void)
{
	CU_ASSERT(name_has(nbd_cmd_name(NBD_CMD_READ), "read"));
	CU_ASSERT(name_has(nbd_cmd_name(NBD_CMD_WRITE_ZEROES), "zero"));
	CU_ASSERT(name_has(nbd_opt_name(NBD_OPT_GO), "go"));
	CU_ASSERT(name_has(nbd_opt_name(NBD_OPT_LIST_META_CONTEXT), "meta"));
	for (unsigned i = 0; i < 20; i++) {
		CU_ASSERT_PTR_NOT_NULL(nbd_cmd_name((uint16_t)i));
		CU_ASSERT_PTR_NOT_NULL(nbd_opt_name(i));
	}
	CU_ASSERT_PTR_NOT_NULL(nbd_cmd_name(0xffff));
	CU_ASSERT_PTR_NOT_NULL(nbd_opt_name(0xffffffff));
}

/* ---- registration ---- */

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_put_get_big_endian),
	T(test_greeting_bytes),
	T(test_client_flags),
	T(test_client_flags_short),
	T(test_option_header),
	T(test_option_header_longer_buffer),
	T(test_option_header_bad_magic),
	T(test_option_header_short),
	T(test_option_reply_bytes),
	T(test_export_name_reply_zeroes),
	T(test_export_name_reply_no_zeroes),
	T(test_info_request),
	T(test_info_request_empty),
	T(test_info_request_too_short),
	T(test_info_request_name_too_long),
	T(test_info_request_trailing_bytes),
	T(test_info_request_count_mismatch),
	T(test_info_export_bytes),
	T(test_info_string_bytes),
	T(test_info_block_size_bytes),
	T(test_rep_server_bytes),
	T(test_rep_server_no_description),
	T(test_rep_meta_context_bytes),
	T(test_option_error_with_message),
	T(test_option_error_without_message),
	T(test_meta_request),
	T(test_meta_request_next),
	T(test_meta_request_zero_queries),
	T(test_meta_request_empty_query),
	T(test_meta_request_too_short),
	T(test_meta_request_query_past_end),
	T(test_meta_request_query_overrun),
	T(test_meta_request_query_len_overflow),
	T(test_meta_request_trailing_bytes),
	T(test_meta_request_count_too_big),
	T(test_meta_request_name_overflow),
	T(test_request_decode),
	T(test_request_encode_bytes),
	T(test_request_round_trip),
	T(test_request_bad_magic),
	T(test_request_short),
	T(test_validate_ok),
	T(test_validate_zero_length),
	T(test_validate_past_end),
	T(test_validate_offset_overflow),
	T(test_validate_over_max_payload),
	T(test_validate_over_max_payload_allowed),
	T(test_validate_unknown_command),
	T(test_validate_unknown_flags),
	T(test_validate_flag_not_for_command),
	T(test_validate_flags_for_command),
	T(test_validate_flag_not_negotiated),
	T(test_validate_df),
	T(test_validate_block_status_needs_context),
	T(test_validate_read_only),
	T(test_validate_flush_nonzero),
	T(test_validate_alignment),
	T(test_errno_to_wire),
	T(test_simple_reply_bytes),
	T(test_chunk_header_bytes),
	T(test_chunk_offset_data_bytes),
	T(test_chunk_offset_hole_bytes),
	T(test_chunk_error_bytes),
	T(test_chunk_error_no_message),
	T(test_chunk_error_long_message),
	T(test_block_status_bytes),
	T(test_names),
#undef T
};

int main(void)
{
	return cunit_main("nbd_codec", tests, sizeof(tests) / sizeof(tests[0]));
}
