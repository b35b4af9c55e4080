/*
 * CUnit tests of the NBD handshake state machine (nbd/nbd_handshake.h),
 * driven with literal client bytes. Expectations come from NBD doc/proto.md
 * ("Fixed newstyle negotiation", "Option types", "Option reply types",
 * "Metadata querying"); a comment quotes the rule where it is not obvious.
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

#include "nbd_handshake.h"

#include "cunit_main.h"

#define MiB (UINT64_C(1) << 20)
#define TR_MAX (1u << 20)		/* transcript of server bytes */
#define MAX_REPS 256u

#define EXPORT_TFLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | \
		       NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | \
		       NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN)

static const struct nbd_export exp_disk = {
	.name = "disk",
	.description = "test disk",
	.size = 64 * MiB,
	.tflags = EXPORT_TFLAGS,
	.min_block = 512,
	.pref_block = 4096,
	.max_block = 32u << 20,
	.refuse = NULL,
};

static const struct nbd_export exp_refused = {
	.name = "disk",
	.description = "test disk",
	.size = 64 * MiB,
	.tflags = EXPORT_TFLAGS,
	.min_block = 512,
	.pref_block = 4096,
	.max_block = 32u << 20,
	.refuse = "resyncing, try later",
};

/* ---- fixture ---- */

struct fix {
	struct nbd_handshake hs;
	uint8_t *out;			/* exactly NBD_HS_OUT_MAX, for ASan */
	uint8_t *tr;			/* everything the server sent */
	size_t trlen;
	size_t need;			/* *ret_need of the last 0 return */
	size_t feeds;			/* calls that returned 0 */
};

static struct fix *fix_new(const struct nbd_export *e)
{
	struct fix *f = calloc(1, sizeof(*f));
	uint8_t g[NBD_GREETING_SIZE];

	assert(f);
	f->out = malloc(NBD_HS_OUT_MAX);
	f->tr = malloc(TR_MAX);
	assert(f->out && f->tr);
	memset(&f->hs, 0xa5, sizeof(f->hs));
	CU_ASSERT_EQUAL(nbd_handshake_init(&f->hs, e, g), NBD_GREETING_SIZE);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLIENT_FLAGS);
	return f;
}

static struct fix *fix_free(struct fix *f)
{
	if (f) {
		free(f->out);
		free(f->tr);
		free(f);
	}
	return NULL;
}

static bool hs_done(const struct fix *f)
{
	return f->hs.state == NBD_HS_CLOSE ||
	       f->hs.state == NBD_HS_TRANSMISSION;
}

/* One feed call; server bytes are appended to the transcript. */
static size_t feed1(struct fix *f, const uint8_t *in, size_t len)
{
	size_t outlen = 0, need = 0, n;

	n = nbd_handshake_feed(&f->hs, in, len, f->out, &outlen, &need);
	CU_ASSERT_FATAL(n <= len);
	CU_ASSERT_FATAL(outlen <= NBD_HS_OUT_MAX);
	CU_ASSERT_FATAL(f->trlen + outlen <= TR_MAX);
	memcpy(f->tr + f->trlen, f->out, outlen);
	f->trlen += outlen;
	if (n == 0) {
		f->need = need;
		f->feeds++;
	}
	return n;
}

/*
 * Feed in[] message by message, as a server loop would, until the bytes run
 * out, the machine wants more, or it leaves option haggling. Returns the
 * number of bytes consumed.
 */
static size_t drive(struct fix *f, const uint8_t *in, size_t len)
{
	size_t off = 0;

	for (unsigned guard = 0; guard < 100000; guard++) {
		size_t n;

		if (hs_done(f) || off == len)
			return off;
		n = feed1(f, in + off, len - off);
		if (n == 0) {
			/* it must ask for more than it was offered */
			CU_ASSERT(f->need > len - off);
			return off;
		}
		off += n;
	}
	CU_FAIL("feed loop did not terminate");
	return off;
}

/* Fixture past the client flags (fixed newstyle, optionally no zeroes). */
static struct fix *fix_opts(const struct nbd_export *e, bool no_zeroes)
{
	struct fix *f = fix_new(e);
	uint8_t flags[4] = { 0, 0, 0, no_zeroes ? 0x03 : 0x01 };

	CU_ASSERT_EQUAL(drive(f, flags, 4), 4);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_OPTIONS);
	CU_ASSERT_EQUAL(f->trlen, 0);
	return f;
}

/* ---- building client messages ---- */

static uint8_t *be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

/* IHAVEOPT, opt, len, data. Returns the message size. */
static size_t mk_opt(uint8_t *p, uint32_t opt, const void *data, uint32_t len)
{
	memcpy(p, "IHAVEOPT", 8);
	be32(be32(p + 8, opt), len);
	if (len)
		memcpy(p + 16, data, len);
	return 16u + len;
}

/* NBD_OPT_INFO/GO: u32 name length, name, u16 n, n x u16 info ids. */
static size_t mk_go(uint8_t *p, uint32_t opt, const char *name,
		    const uint16_t *ids, uint16_t n)
{
	uint8_t d[512], *q = d;
	uint32_t nl = (uint32_t)strlen(name);

	q = be32(q, nl);
	memcpy(q, name, nl);
	q = be16(q + nl, n);
	for (uint16_t i = 0; i < n; i++)
		q = be16(q, ids[i]);
	return mk_opt(p, opt, d, (uint32_t)(q - d));
}

/* NBD_OPT_{LIST,SET}_META_CONTEXT: name, u32 n, n x (u32 len, query). */
static size_t mk_meta(uint8_t *p, uint32_t opt, const char *name,
		      const char *const *queries, uint32_t n)
{
	uint8_t d[1024], *q = d;
	uint32_t nl = (uint32_t)strlen(name);

	q = be32(q, nl);
	memcpy(q, name, nl);
	q = be32(q + nl, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t l = (uint32_t)strlen(queries[i]);

		q = be32(q, l);
		memcpy(q, queries[i], l);
		q += l;
	}
	return mk_opt(p, opt, d, (uint32_t)(q - d));
}

/* ---- reading server replies ---- */

struct rep {
	uint32_t opt;
	uint32_t type;
	uint32_t len;
	const uint8_t *data;
};

static const uint8_t rep_magic[8] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
};

/* Split tr[from..] into option replies; fails on any trailing garbage. */
static size_t replies_from(const struct fix *f, size_t from, struct rep *r)
{
	size_t off = from, n = 0;

	while (off < f->trlen) {
		CU_ASSERT_FATAL(n < MAX_REPS);
		CU_ASSERT_FATAL(f->trlen - off >= NBD_OPTION_REPLY_HEADER_SIZE);
		CU_ASSERT_FATAL(memcmp(f->tr + off, rep_magic, 8) == 0);
		r[n].opt = rd32(f->tr + off + 8);
		r[n].type = rd32(f->tr + off + 12);
		r[n].len = rd32(f->tr + off + 16);
		r[n].data = f->tr + off + 20;
		CU_ASSERT_FATAL(r[n].len <= f->trlen - off - 20);
		off += 20u + r[n].len;
		n++;
	}
	return n;
}

static size_t replies(const struct fix *f, struct rep *r)
{
	return replies_from(f, 0, r);
}

/* The NBD_REP_INFO of the given info type among r[0..n), or NULL. */
static const struct rep *find_info(const struct rep *r, size_t n,
				   uint16_t type)
{
	const struct rep *hit = NULL;

	for (size_t i = 0; i < n; i++) {
		if (r[i].type != NBD_REP_INFO)
			continue;
		CU_ASSERT_FATAL(r[i].len >= 2);
		if (rd16(r[i].data) == type) {
			CU_ASSERT(hit == NULL);	/* SHOULD appear once */
			hit = &r[i];
		}
	}
	return hit;
}

static bool rep_has_text(const struct rep *r, const char *text)
{
	size_t tl = strlen(text);

	for (size_t i = 0; i + tl <= r->len; i++)
		if (memcmp(r->data + i, text, tl) == 0)
			return true;
	return false;
}

/* Send one option that must be answered by exactly one reply of `type`. */
static void expect_one(struct fix *f, const uint8_t *msg, size_t len,
		       uint32_t opt, uint32_t type)
{
	struct rep r[MAX_REPS];
	size_t from = f->trlen, n;

	CU_ASSERT_EQUAL(drive(f, msg, len), len);
	n = replies_from(f, from, r);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(r[0].opt, opt);
	if (r[0].type != type)
		fprintf(stderr, "opt %u: reply type 0x%x, want 0x%x\n", opt,
			r[0].type, type);
	CU_ASSERT_EQUAL(r[0].type, type);
}

static void negotiate_sr(struct fix *f)
{
	uint8_t m[16];

	expect_one(f, m, mk_opt(m, NBD_OPT_STRUCTURED_REPLY, NULL, 0),
		   NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_OPTIONS);
}

/* GO "disk" with no info requests; must end in TRANSMISSION. */
static void go_disk(struct fix *f)
{
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "disk", NULL, 0);

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
}

/* ---- greeting and client flags ---- */

static void test_greeting(void)
{
	static const uint8_t want[18] = {
		'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x03,		/* FIXED_NEWSTYLE | NO_ZEROES */
	};
	struct nbd_handshake hs;
	uint8_t *g = malloc(NBD_GREETING_SIZE);

	assert(g);
	CU_ASSERT_EQUAL(nbd_handshake_init(&hs, &exp_disk, g), 18);
	CU_ASSERT_EQUAL(memcmp(g, want, 18), 0);
	CU_ASSERT_EQUAL(hs.state, NBD_HS_CLIENT_FLAGS);
	CU_ASSERT_PTR_EQUAL(hs.export, &exp_disk);
	free(g);
}

static void test_client_flags_fixed_newstyle(void)
{
	static const uint8_t in[4] = { 0x00, 0x00, 0x00, 0x01 };
	struct fix *f = fix_new(&exp_disk);

	CU_ASSERT_EQUAL(feed1(f, in, 4), 4);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	CU_ASSERT_FALSE(f->hs.no_zeroes);
	CU_ASSERT_EQUAL(f->trlen, 0);	/* the server says nothing here */
	fix_free(f);
}

static void test_client_flags_no_zeroes(void)
{
	static const uint8_t in[4] = { 0x00, 0x00, 0x00, 0x03 };
	struct fix *f = fix_new(&exp_disk);

	CU_ASSERT_EQUAL(feed1(f, in, 4), 4);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	CU_ASSERT_TRUE(f->hs.no_zeroes);
	fix_free(f);
}

static void test_client_flags_unknown_bits(void)
{
	/* "the server MUST drop the TCP connection if the client sets an
	 * unknown flag" */
	for (unsigned bit = 2; bit < 32; bit++) {
		struct fix *f = fix_new(&exp_disk);
		uint8_t in[4];

		be32(in, NBD_FLAG_C_FIXED_NEWSTYLE | (UINT32_C(1) << bit));
		CU_ASSERT_EQUAL(drive(f, in, 4), 4);
		CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
		CU_ASSERT_PTR_NOT_NULL(f->hs.why);
		fix_free(f);
	}
}

static void test_client_flags_in_pieces(void)
{
	static const uint8_t in[4] = { 0x00, 0x00, 0x00, 0x01 };
	struct fix *f = fix_new(&exp_disk);

	for (size_t n = 0; n < 4; n++) {
		f->need = 0;
		CU_ASSERT_EQUAL(feed1(f, in, n), 0);
		CU_ASSERT_EQUAL(f->need, 4);
		CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLIENT_FLAGS);
	}
	CU_ASSERT_EQUAL(feed1(f, in, 4), 4);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	CU_ASSERT_EQUAL(f->trlen, 0);
	fix_free(f);
}

static void test_one_message_per_feed(void)
{
	uint8_t in[4 + 16] = { 0x00, 0x00, 0x00, 0x01 };
	struct fix *f = fix_new(&exp_disk);
	struct rep r[MAX_REPS];

	mk_opt(in + 4, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	CU_ASSERT_EQUAL(feed1(f, in, sizeof(in)), 4);
	CU_ASSERT_EQUAL(f->trlen, 0);
	CU_ASSERT_EQUAL(feed1(f, in + 4, 16), 16);
	CU_ASSERT_EQUAL_FATAL(replies(f, r), 1);
	CU_ASSERT_EQUAL(r[0].type, NBD_REP_ACK);
	fix_free(f);
}

static void test_option_in_pieces(void)
{
	static const uint16_t ids[1] = { NBD_INFO_BLOCK_SIZE };
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "disk", ids, 1);

	/* an incomplete header: the header is needed */
	for (size_t n = 0; n < 16; n++) {
		f->need = 0;
		CU_ASSERT_EQUAL(feed1(f, m, n), 0);
		CU_ASSERT_EQUAL(f->need, 16);
	}
	/* header complete, data not: the whole option is needed */
	for (size_t n = 16; n < len; n++) {
		f->need = 0;
		CU_ASSERT_EQUAL(feed1(f, m, n), 0);
		CU_ASSERT_EQUAL(f->need, len);
		CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	}
	CU_ASSERT_EQUAL(f->trlen, 0);
	CU_ASSERT_EQUAL(feed1(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
	fix_free(f);
}

/* ---- NBD_OPT_EXPORT_NAME ---- */

static const uint8_t opt_export_disk[20] = {
	'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
	0x00, 0x00, 0x00, 0x01,			/* NBD_OPT_EXPORT_NAME */
	0x00, 0x00, 0x00, 0x04,
	'd', 'i', 's', 'k',
};

static void test_export_name(void)
{
	struct fix *f = fix_opts(&exp_disk, false);

	CU_ASSERT_EQUAL(drive(f, opt_export_disk, 20), 20);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	/* u64 size, u16 tflags, 124 zeroes */
	CU_ASSERT_EQUAL_FATAL(f->trlen, 134);
	CU_ASSERT_EQUAL(rd64(f->tr), 64 * MiB);
	CU_ASSERT_EQUAL(rd16(f->tr + 8), EXPORT_TFLAGS);
	for (size_t i = 10; i < 134; i++)
		CU_ASSERT_EQUAL_FATAL(f->tr[i], 0);
	CU_ASSERT_EQUAL(f->hs.session.size, 64 * MiB);
	CU_ASSERT_EQUAL(f->hs.session.tflags, EXPORT_TFLAGS);
	CU_ASSERT_FALSE(f->hs.session.structured_reply);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_export_name_no_zeroes(void)
{
	struct fix *f = fix_opts(&exp_disk, true);

	CU_ASSERT_EQUAL(drive(f, opt_export_disk, 20), 20);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
	CU_ASSERT_EQUAL_FATAL(f->trlen, 10);
	CU_ASSERT_EQUAL(rd64(f->tr), 64 * MiB);
	CU_ASSERT_EQUAL(rd16(f->tr + 8), EXPORT_TFLAGS);
	fix_free(f);
}

static void test_export_name_unknown(void)
{
	/* "If the chosen export does not exist ... the server MUST terminate
	 * the session." Nothing may be sent: any bytes read as a success. */
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t m[32];
	size_t len = mk_opt(m, NBD_OPT_EXPORT_NAME, "nope", 4);

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	CU_ASSERT_PTR_NOT_NULL(f->hs.why);
	CU_ASSERT_EQUAL(f->trlen, 0);
	fix_free(f);
}

static void test_export_name_refused(void)
{
	struct fix *f = fix_opts(&exp_refused, false);

	CU_ASSERT_EQUAL(drive(f, opt_export_disk, 20), 20);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	CU_ASSERT_EQUAL(f->trlen, 0);
	fix_free(f);
}

static void test_export_name_after_structured_reply(void)
{
	struct fix *f = fix_opts(&exp_disk, true);
	size_t from;

	negotiate_sr(f);
	from = f->trlen;
	CU_ASSERT_EQUAL(drive(f, opt_export_disk, 20), 20);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
	CU_ASSERT_EQUAL_FATAL(f->trlen - from, 10);
	/* SEND_DF: set when DF is supported, only with structured replies */
	CU_ASSERT_EQUAL(rd16(f->tr + from + 8),
			EXPORT_TFLAGS | NBD_FLAG_SEND_DF);
	CU_ASSERT_TRUE(f->hs.session.structured_reply);
	CU_ASSERT_EQUAL(f->hs.session.tflags, rd16(f->tr + from + 8));
	fix_free(f);
}

/* ---- NBD_OPT_GO / NBD_OPT_INFO ---- */

static void test_go(void)
{
	/* GO "disk", no info requests, then a request already queued */
	static const uint8_t in[16 + 10 + 28] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x0a,
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k', 0x00, 0x00,
		0x25, 0x60, 0x95, 0x13,	/* transmission: not the machine's */
	};
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	const struct rep *ex;
	size_t n;

	CU_ASSERT_EQUAL(drive(f, in, sizeof(in)), 26);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	n = replies(f, r);
	CU_ASSERT_FATAL(n >= 2);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(r[i].opt, NBD_OPT_GO);
		CU_ASSERT_EQUAL(r[i].type, i + 1 < n ? NBD_REP_INFO
						    : NBD_REP_ACK);
	}
	/* the ACK is the last byte: "MUST NOT send any zero padding" */
	CU_ASSERT_EQUAL(r[n - 1].len, 0);
	ex = find_info(r, n, NBD_INFO_EXPORT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL_FATAL(ex->len, 12);
	CU_ASSERT_EQUAL(rd64(ex->data + 2), 64 * MiB);
	CU_ASSERT_EQUAL(rd16(ex->data + 10), EXPORT_TFLAGS);
	CU_ASSERT_EQUAL(f->hs.session.size, 64 * MiB);
	CU_ASSERT_EQUAL(f->hs.session.tflags, EXPORT_TFLAGS);
	CU_ASSERT_FALSE(f->hs.session.structured_reply);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_go_never_pads(void)
{
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	size_t n;

	go_disk(f);
	n = replies(f, r);	/* fails on any byte after the ACK */
	CU_ASSERT_FATAL(n >= 2);
	CU_ASSERT_EQUAL(r[n - 1].type, NBD_REP_ACK);
	fix_free(f);
}

static void test_go_block_size(void)
{
	static const uint16_t ids[1] = { NBD_INFO_BLOCK_SIZE };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	const struct rep *bs;
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "disk", ids, 1), n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	n = replies(f, r);
	CU_ASSERT_PTR_NOT_NULL(find_info(r, n, NBD_INFO_EXPORT));
	bs = find_info(r, n, NBD_INFO_BLOCK_SIZE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bs);
	CU_ASSERT_EQUAL_FATAL(bs->len, 14);
	CU_ASSERT_EQUAL(rd32(bs->data + 2), 512);
	CU_ASSERT_EQUAL(rd32(bs->data + 6), 4096);
	CU_ASSERT_EQUAL(rd32(bs->data + 10), 32u << 20);
	CU_ASSERT_EQUAL(r[n - 1].type, NBD_REP_ACK);
	/* the client promised to obey what it was told */
	CU_ASSERT_EQUAL(f->hs.session.min_block, 512);
	CU_ASSERT_EQUAL(f->hs.session.max_payload, 32u << 20);
	fix_free(f);
}

static void test_go_name_and_description(void)
{
	static const uint16_t ids[2] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	const struct rep *nm, *de;
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "disk", ids, 2), n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	n = replies(f, r);
	CU_ASSERT_PTR_NOT_NULL(find_info(r, n, NBD_INFO_EXPORT));
	nm = find_info(r, n, NBD_INFO_NAME);
	de = find_info(r, n, NBD_INFO_DESCRIPTION);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nm);
	CU_ASSERT_PTR_NOT_NULL_FATAL(de);
	CU_ASSERT_EQUAL_FATAL(nm->len, 2 + 4);
	CU_ASSERT_EQUAL(memcmp(nm->data + 2, "disk", 4), 0);
	CU_ASSERT_EQUAL_FATAL(de->len, 2 + 9);
	CU_ASSERT_EQUAL(memcmp(de->data + 2, "test disk", 9), 0);
	fix_free(f);
}

static void test_go_unknown_info_ignored(void)
{
	/* "The server MUST ignore any information requests it does not
	 * understand." */
	static const uint16_t ids[2] = { 0x4242, 0xffff };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "disk", ids, 2), n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
	n = replies(f, r);
	CU_ASSERT_FATAL(n >= 2);
	CU_ASSERT_EQUAL(r[n - 1].type, NBD_REP_ACK);
	CU_ASSERT_PTR_NULL(find_info(r, n, 0x4242));
	fix_free(f);
}

static void test_go_unknown_export(void)
{
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_GO, "nope", NULL, 0);

	/* "NBD_REP_ERR_UNKNOWN ... SHOULD NOT send NBD_REP_INFO" */
	expect_one(f, m, len, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	/* the client may try again */
	go_disk(f);
	fix_free(f);
}

static void test_info_unknown_export(void)
{
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t m[64];
	size_t len = mk_go(m, NBD_OPT_INFO, "nope", NULL, 0);

	expect_one(f, m, len, NBD_OPT_INFO, NBD_REP_ERR_UNKNOWN);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	fix_free(f);
}

static void test_info_then_go_same_info(void)
{
	static const uint16_t ids[3] = {
		NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_INFO_DESCRIPTION,
	};
	static const uint16_t types[4] = {
		NBD_INFO_EXPORT, NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME,
		NBD_INFO_DESCRIPTION,
	};
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep ri[MAX_REPS], rg[MAX_REPS];
	uint8_t m[64];
	size_t len, ni, ng, from;

	len = mk_go(m, NBD_OPT_INFO, "disk", ids, 3);
	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_OPTIONS);
	ni = replies(f, ri);
	CU_ASSERT_FATAL(ni >= 2);
	CU_ASSERT_EQUAL(ri[ni - 1].type, NBD_REP_ACK);
	for (size_t i = 0; i < ni; i++)
		CU_ASSERT_EQUAL(ri[i].opt, NBD_OPT_INFO);

	from = f->trlen;
	len = mk_go(m, NBD_OPT_GO, "disk", ids, 3);
	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	ng = replies_from(f, from, rg);
	CU_ASSERT_EQUAL(ng, ni);
	CU_ASSERT_EQUAL(rg[ng - 1].type, NBD_REP_ACK);

	/* "the server MUST reply with the same set of information" */
	for (size_t t = 0; t < 4; t++) {
		const struct rep *a = find_info(ri, ni, types[t]);
		const struct rep *b = find_info(rg, ng, types[t]);

		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		CU_ASSERT_EQUAL_FATAL(a->len, b->len);
		CU_ASSERT_EQUAL(memcmp(a->data, b->data, a->len), 0);
	}
	fix_free(f);
}

static void test_go_bad_lengths(void)
{
	/* name_len 10 > optlen - 6 = 4: ERR_INVALID, and still in sync */
	static const uint8_t bad[16 + 10] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x0a,
		0x00, 0x00, 0x00, 0x0a, 'd', 'i', 's', 'k', 0x00, 0x00,
	};
	/* n_info says 2, no ids follow */
	static const uint8_t cnt[16 + 10] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x0a,
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k', 0x00, 0x02,
	};
	/* shorter than the fixed 6 bytes */
	static const uint8_t tiny[16 + 3] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	expect_one(f, bad, sizeof(bad), NBD_OPT_GO, NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	expect_one(f, cnt, sizeof(cnt), NBD_OPT_INFO, NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	expect_one(f, tiny, sizeof(tiny), NBD_OPT_GO, NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	fix_free(f);
}

static void check_refused(uint32_t opt)
{
	struct fix *f = fix_opts(&exp_refused, false);
	struct rep r[MAX_REPS];
	uint8_t m[64];
	size_t len = mk_go(m, opt, "disk", NULL, 0), n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	n = replies(f, r);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL(r[n - 1].opt, opt);
	CU_ASSERT(r[n - 1].type & NBD_REP_FLAG_ERROR);
	/* the option is known: ERR_UNSUP would send the client to
	 * EXPORT_NAME */
	CU_ASSERT_NOT_EQUAL(r[n - 1].type, NBD_REP_ERR_UNSUP);
	CU_ASSERT(rep_has_text(&r[n - 1], "resyncing, try later"));
	fix_free(f);
}

static void test_go_refused(void)
{
	check_refused(NBD_OPT_GO);
}

static void test_info_refused(void)
{
	check_refused(NBD_OPT_INFO);
}

/* ---- NBD_OPT_LIST, ABORT, STARTTLS ---- */

static void test_list(void)
{
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	uint8_t m[16];
	size_t len = mk_opt(m, NBD_OPT_LIST, NULL, 0), n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	n = replies(f, r);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(r[0].opt, NBD_OPT_LIST);
	CU_ASSERT_EQUAL(r[0].type, NBD_REP_SERVER);
	CU_ASSERT_FATAL(r[0].len >= 8);
	CU_ASSERT_EQUAL(rd32(r[0].data), 4);
	CU_ASSERT_EQUAL(memcmp(r[0].data + 4, "disk", 4), 0);
	/* anything after the name is the human readable description */
	if (r[0].len > 8) {
		CU_ASSERT_EQUAL(r[0].len, 8 + 9);
		CU_ASSERT_EQUAL(memcmp(r[0].data + 8, "test disk", 9), 0);
	}
	CU_ASSERT_EQUAL(r[1].opt, NBD_OPT_LIST);
	CU_ASSERT_EQUAL(r[1].type, NBD_REP_ACK);
	CU_ASSERT_EQUAL(r[1].len, 0);
	fix_free(f);
}

static void test_list_with_data(void)
{
	static const uint8_t m[16 + 4] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04,
		'd', 'i', 's', 'k',
	};
	struct fix *f = fix_opts(&exp_disk, false);

	expect_one(f, m, sizeof(m), NBD_OPT_LIST, NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	fix_free(f);
}

static void test_abort(void)
{
	static const uint8_t m[16] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	/* "The server MUST reply with NBD_REP_ACK." */
	expect_one(f, m, sizeof(m), NBD_OPT_ABORT, NBD_REP_ACK);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	fix_free(f);
}

static void test_abort_with_data(void)
{
	/* "a server SHOULD ignore any data sent by the client" */
	static const uint8_t m[16 + 2] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 'x', 'y',
	};
	struct fix *f = fix_opts(&exp_disk, false);

	expect_one(f, m, sizeof(m), NBD_OPT_ABORT, NBD_REP_ACK);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	fix_free(f);
}

static void test_starttls_refused(void)
{
	static const uint8_t m[16] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	/* NOTLS mode: ERR_POLICY, never ERR_TLS_REQD */
	expect_one(f, m, sizeof(m), NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	fix_free(f);
}

/* ---- NBD_OPT_STRUCTURED_REPLY ---- */

static void test_structured_reply(void)
{
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];
	const struct rep *ex;
	size_t from, n;

	negotiate_sr(f);
	from = f->trlen;
	go_disk(f);
	CU_ASSERT_TRUE(f->hs.session.structured_reply);
	/* "The server MUST set this transmission flag to 1 if the
	 * NBD_CMD_READ request supports the NBD_CMD_FLAG_DF flag" */
	CU_ASSERT(f->hs.session.tflags & NBD_FLAG_SEND_DF);
	n = replies_from(f, from, r);
	ex = find_info(r, n, NBD_INFO_EXPORT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL_FATAL(ex->len, 12);
	CU_ASSERT_EQUAL(rd16(ex->data + 10), EXPORT_TFLAGS | NBD_FLAG_SEND_DF);
	CU_ASSERT_EQUAL(f->hs.session.tflags, rd16(ex->data + 10));
	fix_free(f);
}

static void test_structured_reply_with_data(void)
{
	static const uint8_t m[16 + 1] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	expect_one(f, m, sizeof(m), NBD_OPT_STRUCTURED_REPLY,
		   NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	/* not negotiated, so no structured replies and no SEND_DF */
	CU_ASSERT_FALSE(f->hs.session.structured_reply);
	CU_ASSERT_FALSE(f->hs.session.tflags & NBD_FLAG_SEND_DF);
	fix_free(f);
}

/* ---- meta contexts ---- */

/* Send a meta context option; returns the number of replies, all checked
 * to echo opt and to end in ACK. */
static size_t meta(struct fix *f, uint32_t opt, const char *const *q,
		   uint32_t nq, struct rep *r)
{
	uint8_t m[1024 + 16];
	size_t len = mk_meta(m, opt, "disk", q, nq), from = f->trlen, n;

	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	n = replies_from(f, from, r);
	CU_ASSERT_FATAL(n >= 1);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(r[i].opt, opt);
	CU_ASSERT_EQUAL(r[n - 1].type, NBD_REP_ACK);
	return n;
}

static bool is_base_allocation(const struct rep *r)
{
	return r->type == NBD_REP_META_CONTEXT && r->len == 4 + 15 &&
	       memcmp(r->data + 4, "base:allocation", 15) == 0;
}

static void test_list_meta_base_allocation(void)
{
	static const char *const q[1] = { "base:allocation" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL_FATAL(meta(f, NBD_OPT_LIST_META_CONTEXT, q, 1, r), 2);
	CU_ASSERT(is_base_allocation(&r[0]));
	/* listing selects nothing */
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_list_meta_wildcard(void)
{
	/* "base:" ... "MUST support this as a wildcard during
	 * NBD_OPT_LIST_META_CONTEXT" */
	static const char *const q[1] = { "base:" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL_FATAL(meta(f, NBD_OPT_LIST_META_CONTEXT, q, 1, r), 2);
	CU_ASSERT(is_base_allocation(&r[0]));
	fix_free(f);
}

static void test_list_meta_unknown_ignored(void)
{
	/* "the server MUST ignore query strings belonging to an unknown
	 * namespace"; an unknown base: leaf "MUST" be ignored too */
	static const char *const q[2] = { "x-foo:bar", "base:nonesuch" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_LIST_META_CONTEXT, q, 2, r), 1);
	fix_free(f);
}

static void test_list_meta_mixed(void)
{
	static const char *const q[2] = { "qemu:dirty-bitmap:a",
					  "base:allocation" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL_FATAL(meta(f, NBD_OPT_LIST_META_CONTEXT, q, 2, r), 2);
	CU_ASSERT(is_base_allocation(&r[0]));
	fix_free(f);
}

static void test_list_meta_all(void)
{
	/* "If zero queries are sent, then the server MUST return all the
	 * metadata contexts that are available" */
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL_FATAL(meta(f, NBD_OPT_LIST_META_CONTEXT, NULL, 0, r),
			      2);
	CU_ASSERT(is_base_allocation(&r[0]));
	fix_free(f);
}

static void test_list_meta_bad_lengths(void)
{
	/* query length 0x10 with 15 bytes left: "MUST fail the request with
	 * NBD_REP_ERR_INVALID" */
	static const uint8_t m[16 + 31] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x1f,
		0x00, 0x00, 0x00, 0x04, 'd', 'i', 's', 'k',
		0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x10,
		'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o', 'c', 'a', 't',
		'i', 'o', 'n',
	};
	struct fix *f = fix_opts(&exp_disk, false);

	negotiate_sr(f);
	expect_one(f, m, sizeof(m), NBD_OPT_LIST_META_CONTEXT,
		   NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	fix_free(f);
}

static void test_set_meta_base_allocation(void)
{
	static const char *const q[1] = { "base:allocation" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL_FATAL(meta(f, NBD_OPT_SET_META_CONTEXT, q, 1, r), 2);
	CU_ASSERT(is_base_allocation(&r[0]));
	CU_ASSERT_EQUAL(rd32(r[0].data), NBD_META_ID_BASE_ALLOCATION);
	CU_ASSERT_NOT_EQUAL(NBD_META_ID_BASE_ALLOCATION, 0);
	go_disk(f);
	CU_ASSERT_TRUE(f->hs.session.structured_reply);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id,
			NBD_META_ID_BASE_ALLOCATION);
	fix_free(f);
}

static void test_set_meta_wildcard_selects_nothing(void)
{
	/* "base:" - "the server MUST ignore this form during
	 * NBD_OPT_SET_META_CONTEXT" */
	static const char *const q[1] = { "base:" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_SET_META_CONTEXT, q, 1, r), 1);
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_set_meta_zero_queries(void)
{
	/* "If zero queries are sent, the server MUST select no metadata
	 * contexts." Also replaces an earlier selection. */
	static const char *const q[1] = { "base:allocation" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_SET_META_CONTEXT, q, 1, r), 2);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_SET_META_CONTEXT, NULL, 0, r), 1);
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_set_meta_unknown_ignored(void)
{
	static const char *const q[2] = { "x-foo:bar", "base:nonesuch" };
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_SET_META_CONTEXT, q, 2, r), 1);
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_set_meta_before_structured_reply(void)
{
	/* "This option MUST NOT be requested unless structured replies have
	 * been negotiated first. ... a server SHOULD send
	 * NBD_REP_ERR_INVALID." */
	static const char *const q[1] = { "base:allocation" };
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t m[128];
	size_t len = mk_meta(m, NBD_OPT_SET_META_CONTEXT, "disk", q, 1);

	expect_one(f, m, len, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

static void test_set_meta_failure_clears(void)
{
	/* "replaces all previously-set metadata contexts (including when this
	 * command fails)" */
	static const char *const q[1] = { "base:allocation" };
	static const uint8_t bad[16 + 12] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0c,
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,	/* one query ... */
		0x00, 0x00, 0x00, 0x0f,	/* ... of 15 bytes, none present */
	};
	struct fix *f = fix_opts(&exp_disk, false);
	struct rep r[MAX_REPS];

	negotiate_sr(f);
	CU_ASSERT_EQUAL(meta(f, NBD_OPT_SET_META_CONTEXT, q, 1, r), 2);
	expect_one(f, bad, sizeof(bad), NBD_OPT_SET_META_CONTEXT,
		   NBD_REP_ERR_INVALID);
	go_disk(f);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id, 0);
	fix_free(f);
}

/* ---- unknown, oversized and too many options; bad magic ---- */

static void test_unknown_option(void)
{
	/* nbd-tester-client -h: option 0x7654321 must get ERR_UNSUP */
	static const uint8_t m[16 + 3] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x07, 0x65, 0x43, 0x21, 0x00, 0x00, 0x00, 0x03, 1, 2, 3,
	};
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t peek[16];

	expect_one(f, m, sizeof(m), 0x7654321, NBD_REP_ERR_UNSUP);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	/* withdrawn PEEK_EXPORT is unknown to us too */
	expect_one(f, peek, mk_opt(peek, NBD_OPT_PEEK_EXPORT, NULL, 0),
		   NBD_OPT_PEEK_EXPORT, NBD_REP_ERR_UNSUP);
	go_disk(f);
	fix_free(f);
}

static void test_extended_headers_unsupported(void)
{
	static const uint8_t m[16] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
		0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	expect_one(f, m, sizeof(m), NBD_OPT_EXTENDED_HEADERS,
		   NBD_REP_ERR_UNSUP);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	go_disk(f);
	/* no 32-byte headers were agreed */
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_TRANSMISSION);
	fix_free(f);
}

static void check_oversized(uint32_t opt)
{
	const uint32_t dlen = NBD_HS_MAX_OPTION_DATA + 1;
	const size_t total = 16u + dlen;
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t *m = calloc(1, total);
	struct rep r[MAX_REPS];
	size_t off, n;

	assert(m);
	mk_opt(m, opt, NULL, 0);
	be32(m + 12, dlen);

	/* the header alone moves the machine to SKIP */
	off = feed1(f, m, 16);
	CU_ASSERT_EQUAL(off, 16);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_SKIP);
	/* partial data: progress without the whole payload buffered */
	while (off < total - 1000) {
		size_t k = feed1(f, m + off, 1000);

		CU_ASSERT_FATAL(k > 0);
		off += k;
		CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_SKIP);
	}
	CU_ASSERT_EQUAL(drive(f, m + off, total - off), total - off);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	n = replies(f, r);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(r[0].opt, opt);
	CU_ASSERT(r[0].type & NBD_REP_FLAG_ERROR);
	/* in sync again */
	go_disk(f);
	free(m);
	fix_free(f);
}

static void test_oversized_option_skipped(void)
{
	check_oversized(NBD_OPT_GO);
	check_oversized(0x7654321);
}

static void test_oversized_then_option_in_one_buffer(void)
{
	const uint32_t dlen = NBD_HS_MAX_OPTION_DATA + 4096;
	const size_t total = 16u + dlen + 16u;
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t *m = calloc(1, total);
	struct rep r[MAX_REPS];
	size_t n;

	assert(m);
	mk_opt(m, NBD_OPT_LIST_META_CONTEXT, NULL, 0);
	be32(m + 12, dlen);
	memset(m + 16, 'I', dlen);	/* data that looks like a magic */
	mk_opt(m + 16 + dlen, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	CU_ASSERT_EQUAL(drive(f, m, total), total);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	n = replies(f, r);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(r[0].opt, NBD_OPT_LIST_META_CONTEXT);
	CU_ASSERT(r[0].type & NBD_REP_FLAG_ERROR);
	CU_ASSERT_EQUAL(r[1].opt, NBD_OPT_STRUCTURED_REPLY);
	CU_ASSERT_EQUAL(r[1].type, NBD_REP_ACK);
	free(m);
	fix_free(f);
}

static void test_option_at_max_data_not_skipped(void)
{
	const uint32_t dlen = NBD_HS_MAX_OPTION_DATA;
	const size_t total = 16u + dlen;
	struct fix *f = fix_opts(&exp_disk, false);
	uint8_t *m = calloc(1, total);

	assert(m);
	mk_opt(m, 0x7654321, NULL, 0);
	be32(m + 12, dlen);
	/* the largest payload still buffered: wait for all of it */
	CU_ASSERT_EQUAL(feed1(f, m, total - 1), 0);
	CU_ASSERT_EQUAL(f->need, total);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_OPTIONS);
	expect_one(f, m, total, 0x7654321, NBD_REP_ERR_UNSUP);
	free(m);
	fix_free(f);
}

static void test_too_many_options(void)
{
	uint8_t m[16];
	size_t len = mk_opt(m, 0x7654321, NULL, 0);
	struct fix *f = fix_opts(&exp_disk, false);

	for (unsigned i = 0; i < NBD_HS_MAX_OPTIONS; i++) {
		expect_one(f, m, len, 0x7654321, NBD_REP_ERR_UNSUP);
		CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_OPTIONS);
	}
	/* one more than the limit: hang up */
	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	CU_ASSERT_PTR_NOT_NULL(f->hs.why);
	fix_free(f);
}

static void test_partial_options_not_counted(void)
{
	/* Waiting for the rest of an option is not another option. */
	static const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t m[24];
	size_t len = mk_opt(m, 0x7654321, data, 8);
	struct fix *f = fix_opts(&exp_disk, false);

	for (unsigned i = 0; i < NBD_HS_MAX_OPTIONS; i++) {
		for (size_t k = 16; k < len; k++)
			CU_ASSERT_EQUAL_FATAL(feed1(f, m, k), 0);
		expect_one(f, m, len, 0x7654321, NBD_REP_ERR_UNSUP);
		CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_OPTIONS);
	}
	CU_ASSERT_EQUAL(drive(f, m, len), len);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	fix_free(f);
}

static void test_bad_option_magic(void)
{
	static const uint8_t m[16] = {
		'I', 'H', 'A', 'V', 'E', 'O', 'P', 'X',
		0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
	};
	struct fix *f = fix_opts(&exp_disk, false);

	CU_ASSERT(drive(f, m, sizeof(m)) > 0);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	CU_ASSERT_PTR_NOT_NULL(f->hs.why);
	fix_free(f);
}

static void test_bad_magic_after_options(void)
{
	uint8_t m[32];
	size_t len = mk_opt(m, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	struct fix *f = fix_opts(&exp_disk, false);

	negotiate_sr(f);
	memcpy(m, "NBDMAGIC", 8);
	CU_ASSERT(drive(f, m, len) > 0);
	CU_ASSERT_EQUAL(f->hs.state, NBD_HS_CLOSE);
	fix_free(f);
}

/* ---- a whole qemu-like session ---- */

static void test_full_session(void)
{
	static const char *const q[1] = { "base:allocation" };
	static const uint16_t ids[1] = { NBD_INFO_BLOCK_SIZE };
	uint8_t in[4096], *p = in;
	struct fix *f = fix_new(&exp_disk);
	struct rep r[MAX_REPS];
	size_t n;

	p = be32(p, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	p += mk_opt(p, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	p += mk_meta(p, NBD_OPT_SET_META_CONTEXT, "disk", q, 1);
	p += mk_go(p, NBD_OPT_GO, "disk", ids, 1);
	CU_ASSERT_EQUAL(drive(f, in, (size_t)(p - in)), (size_t)(p - in));
	CU_ASSERT_EQUAL_FATAL(f->hs.state, NBD_HS_TRANSMISSION);
	n = replies(f, r);
	CU_ASSERT_FATAL(n >= 5);
	CU_ASSERT_EQUAL(r[0].type, NBD_REP_ACK);
	CU_ASSERT(is_base_allocation(&r[1]));
	CU_ASSERT_EQUAL(r[2].type, NBD_REP_ACK);
	CU_ASSERT_EQUAL(r[n - 1].type, NBD_REP_ACK);
	CU_ASSERT_EQUAL(f->hs.session.size, 64 * MiB);
	CU_ASSERT_TRUE(f->hs.session.structured_reply);
	CU_ASSERT_EQUAL(f->hs.session.meta_context_id,
			NBD_META_ID_BASE_ALLOCATION);
	CU_ASSERT_EQUAL(f->hs.session.min_block, 512);
	CU_ASSERT_EQUAL(f->hs.session.max_payload, 32u << 20);
	CU_ASSERT(f->hs.session.tflags & NBD_FLAG_HAS_FLAGS);
	fix_free(f);
}

/* ---- registration ---- */

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_greeting),
	T(test_client_flags_fixed_newstyle),
	T(test_client_flags_no_zeroes),
	T(test_client_flags_unknown_bits),
	T(test_client_flags_in_pieces),
	T(test_one_message_per_feed),
	T(test_option_in_pieces),
	T(test_export_name),
	T(test_export_name_no_zeroes),
	T(test_export_name_unknown),
	T(test_export_name_refused),
	T(test_export_name_after_structured_reply),
	T(test_go),
	T(test_go_never_pads),
	T(test_go_block_size),
	T(test_go_name_and_description),
	T(test_go_unknown_info_ignored),
	T(test_go_unknown_export),
	T(test_info_unknown_export),
	T(test_info_then_go_same_info),
	T(test_go_bad_lengths),
	T(test_go_refused),
	T(test_info_refused),
	T(test_list),
	T(test_list_with_data),
	T(test_abort),
	T(test_abort_with_data),
	T(test_starttls_refused),
	T(test_structured_reply),
	T(test_structured_reply_with_data),
	T(test_list_meta_base_allocation),
	T(test_list_meta_wildcard),
	T(test_list_meta_unknown_ignored),
	T(test_list_meta_mixed),
	T(test_list_meta_all),
	T(test_list_meta_bad_lengths),
	T(test_set_meta_base_allocation),
	T(test_set_meta_wildcard_selects_nothing),
	T(test_set_meta_zero_queries),
	T(test_set_meta_unknown_ignored),
	T(test_set_meta_before_structured_reply),
	T(test_set_meta_failure_clears),
	T(test_unknown_option),
	T(test_extended_headers_unsupported),
	T(test_oversized_option_skipped),
	T(test_oversized_then_option_in_one_buffer),
	T(test_option_at_max_data_not_skipped),
	T(test_too_many_options),
	T(test_partial_options_not_counted),
	T(test_bad_option_magic),
	T(test_bad_magic_after_options),
	T(test_full_session),
#undef T
};

int main(void)
{
	return cunit_main("nbd_handshake", tests, sizeof(tests) / sizeof(tests[0]));
}
