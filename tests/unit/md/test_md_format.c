/*
 * CUnit tests of the superblock codec and slot selection
 * (replicator/md/md_format.h). The expected header bytes are the example
 * in docs/metadata.md, written out literally.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "md/md_endian.h"
#include "md/md_format.h"
#include "md_test.h"

#define GiB (UINT64_C(1) << 30)

static const uint8_t uuid_a[MD_UUID_SIZE] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
};

/* The example superblock of docs/metadata.md. */
static struct md_super example(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_super sb;

	assert(md_super_init(&p, GiB, uuid_a, 1, &sb) == 0);
	sb.seq = 7;
	sb.flags = MD_FLAG_CONSISTENT | MD_FLAG_WAS_PRIMARY;
	sb.gen.current = UINT64_C(0x1111111111111110);
	sb.gen.bitmap = UINT64_C(0x2222222222222220);
	sb.gen.history[0] = UINT64_C(0x3333333333333330);
	return sb;
}

static void encode_ok(const struct md_super *sb, uint8_t *b)
{
	CU_ASSERT_EQUAL_FATAL(md_super_encode(sb, b, MD_BLOCK_SIZE), 0);
}

/* Rewrite the crc after tampering, so only the tampered field is wrong. */
static void fix_crc(uint8_t *b)
{
	md_put_le32(b + MD_SB_OFF_CRC, md_block_crc32c(b, MD_SB_OFF_CRC));
}

static bool super_equal(const struct md_super *a, const struct md_super *b)
{
	return a->seq == b->seq &&
	       memcmp(a->resource_uuid, b->resource_uuid, MD_UUID_SIZE) == 0 &&
	       a->node_id == b->node_id && a->flags == b->flags &&
	       a->data_size == b->data_size &&
	       a->params.bm_granularity == b->params.bm_granularity &&
	       a->params.al_extent_size == b->params.al_extent_size &&
	       a->params.al_slots == b->params.al_slots &&
	       a->params.placement == b->params.placement &&
	       memcmp(&a->gen, &b->gen, sizeof(a->gen)) == 0;
}

static void test_crc32c_check_value(void)
{
	CU_ASSERT_EQUAL(md_crc32c("123456789", 9), 0xE3069283u);
	CU_ASSERT_EQUAL(md_crc32c("", 0), 0u);
	/* 32 zero bytes: RFC 3720 B.4 test vector. */
	static const uint8_t z[32];
	CU_ASSERT_EQUAL(md_crc32c(z, sizeof(z)), 0x8A9136AAu);
}

static void test_super_bytes_match_doc(void)
{
	/* docs/metadata.md, "Example": bytes 0..119 of slot 0. */
	static const uint8_t want[120] = {
		'R', 'E', 'P', 'D', 'M', 'D', 'S', 'B',	/* magic */
		0x01, 0x00, 0x00, 0x00,			/* version 1 */
		0x00, 0x00, 0x00, 0x00,			/* crc: checked below */
		0x07, 0, 0, 0, 0, 0, 0, 0,		/* seq 7 */
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
		0x01, 0x00, 0x00, 0x00,			/* node id 1 */
		0x03, 0x00, 0x00, 0x00,			/* consistent|was-primary */
		0, 0, 0, 0x40, 0, 0, 0, 0,		/* data size 1 GiB */
		0x00, 0x10, 0x00, 0x00,			/* granularity 4096 */
		0x00, 0x00, 0x40, 0x00,			/* AL extent 4 MiB */
		0xd5, 0x04, 0x00, 0x00,			/* AL slots 1237 */
		0x01, 0x00, 0x00, 0x00,			/* internal */
		0x10, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,	/* C */
		0x20, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* B */
		0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,	/* H[0] */
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct md_super sb = example();
	uint8_t b[MD_BLOCK_SIZE];

	encode_ok(&sb, b);
	CU_ASSERT_EQUAL(memcmp(b, want, MD_SB_OFF_CRC), 0);
	CU_ASSERT_EQUAL(memcmp(b + 16, want + 16, sizeof(want) - 16), 0);
	CU_ASSERT(md_is_zero(b + sizeof(want), MD_BLOCK_SIZE - sizeof(want)));
	/* The crc of the example, also in the doc (computed independently). */
	CU_ASSERT_EQUAL(md_get_le32(b + MD_SB_OFF_CRC), 0xF99D1227u);
	/* ...and it is crc32c of the block with the crc field zeroed. */
	memset(b + MD_SB_OFF_CRC, 0, 4);
	CU_ASSERT_EQUAL(md_crc32c(b, MD_BLOCK_SIZE), 0xF99D1227u);
}

static void test_super_round_trip(void)
{
	struct md_super sb = example(), out;
	uint8_t b[MD_BLOCK_SIZE], b2[MD_BLOCK_SIZE];

	sb.params.placement = MD_PLACEMENT_EXTERNAL;
	sb.params.bm_granularity = 65536;
	sb.params.al_slots = MD_AL_SLOTS_MAX;
	sb.params.al_extent_size = MD_AL_EXTENT_MAX;
	sb.flags = MD_FLAGS_KNOWN;
	sb.node_id = UINT32_MAX;
	sb.seq = UINT64_MAX;
	for (unsigned i = 0; i < MD_GEN_HISTORY; i++)
		sb.gen.history[i] = UINT64_C(0xfedcba9876543210) + i;
	encode_ok(&sb, b);
	CU_ASSERT_EQUAL_FATAL(md_super_decode(b, sizeof(b), &out), 0);
	CU_ASSERT(super_equal(&sb, &out));
	encode_ok(&out, b2);
	CU_ASSERT_EQUAL(memcmp(b, b2, MD_BLOCK_SIZE), 0);
}

static void test_super_init_is_just_created(void)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_super sb;
	static const uint8_t zero[MD_UUID_SIZE];

	CU_ASSERT_EQUAL_FATAL(md_super_init(&p, GiB, uuid_a, 2, &sb), 0);
	CU_ASSERT_EQUAL(sb.gen.current, MD_UUID_JUST_CREATED);
	CU_ASSERT_EQUAL(sb.gen.bitmap, 0);
	CU_ASSERT_EQUAL(sb.seq, 1);
	CU_ASSERT_EQUAL(sb.flags, 0);
	CU_ASSERT_EQUAL(sb.node_id, 2);
	CU_ASSERT_EQUAL(md_super_init(&p, GiB, zero, 2, &sb), -EINVAL);
	CU_ASSERT_EQUAL(md_super_init(&p, GiB + 512, uuid_a, 2, &sb), -EINVAL);
	p.bm_granularity = 3000;
	CU_ASSERT_EQUAL(md_super_init(&p, GiB, uuid_a, 2, &sb), -EINVAL);
}

static void test_super_encode_rejects(void)
{
	struct md_super sb = example(), bad;
	uint8_t b[MD_BLOCK_SIZE];

	memset(b, 0xaa, sizeof(b));
	CU_ASSERT_EQUAL(md_super_encode(&sb, b, MD_BLOCK_SIZE - 1), -ENOBUFS);
	bad = sb;
	bad.params.bm_granularity = 8192 + 4096;
	CU_ASSERT_EQUAL(md_super_encode(&bad, b, sizeof(b)), -EINVAL);
	bad = sb;
	bad.gen.current = 0;
	CU_ASSERT_EQUAL(md_super_encode(&bad, b, sizeof(b)), -EINVAL);
	bad = sb;
	bad.flags = 1u << 31;
	CU_ASSERT_EQUAL(md_super_encode(&bad, b, sizeof(b)), -EINVAL);
	/* Nothing was written by any refusal. */
	CU_ASSERT_EQUAL(b[0], 0xaa);
	CU_ASSERT_EQUAL(b[MD_BLOCK_SIZE - 1], 0xaa);
}

static void test_decode_truncated(void)
{
	struct md_super sb = example(), out;
	uint8_t area[MD_SB_AREA_SIZE];
	unsigned slot = 99;

	encode_ok(&sb, area);
	encode_ok(&sb, area + MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL(md_super_decode(area, MD_BLOCK_SIZE - 1, &out), -EAGAIN);
	CU_ASSERT_EQUAL(md_super_decode(area, 0, &out), -EAGAIN);
	CU_ASSERT_EQUAL(md_select_slot(area, MD_SB_AREA_SIZE - 1, &out, &slot),
			-EAGAIN);
	CU_ASSERT_EQUAL(md_select_slot(area, MD_BLOCK_SIZE, &out, &slot), -EAGAIN);
	CU_ASSERT_EQUAL(slot, 99);	/* untouched on error */
}

/* Every field check in decode, each on an otherwise valid block. */
static void test_decode_rejects_bad_fields(void)
{
	struct md_super sb = example(), out;
	uint8_t good[MD_BLOCK_SIZE], b[MD_BLOCK_SIZE];
	static const struct {
		const char *what;
		size_t off;
		uint32_t val;
	} cases[] = {
		{ "granularity not power of two", MD_SB_OFF_GRANULARITY, 12288 },
		{ "granularity below 4 KiB", MD_SB_OFF_GRANULARITY, 2048 },
		{ "granularity above 1 MiB", MD_SB_OFF_GRANULARITY, 2u << 20 },
		{ "extent not power of two", MD_SB_OFF_AL_EXTENT, 3u << 20 },
		{ "extent below 1 MiB", MD_SB_OFF_AL_EXTENT, 512u << 10 },
		{ "slots below min", MD_SB_OFF_AL_SLOTS, MD_AL_SLOTS_MIN - 1 },
		{ "slots above max", MD_SB_OFF_AL_SLOTS, MD_AL_SLOTS_MAX + 1 },
		{ "placement 0", MD_SB_OFF_PLACEMENT, 0 },
		{ "placement 3", MD_SB_OFF_PLACEMENT, 3 },
		{ "unknown flag", MD_SB_OFF_FLAGS, MD_FLAGS_KNOWN + 1 },
		{ "data size not 4 KiB multiple", MD_SB_OFF_DATA_SIZE, 4096 + 512 },
		{ "data size 0 (low word)", MD_SB_OFF_DATA_SIZE, 0 },
		{ "current generation 0", MD_SB_OFF_GEN_CURRENT, 0 },
		{ "reserved byte", MD_SB_USED, 1 },
		{ "last reserved byte", MD_BLOCK_SIZE - 4, 1u << 24 },
		{ "version 0", MD_SB_OFF_VERSION, 0 },
	};

	encode_ok(&sb, good);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, good, sizeof(b));
		md_put_le32(b + cases[i].off, cases[i].val);
		if (cases[i].off == MD_SB_OFF_DATA_SIZE ||
		    cases[i].off == MD_SB_OFF_GEN_CURRENT)
			md_put_le32(b + cases[i].off + 4, 0);
		fix_crc(b);
		if (md_super_decode(b, sizeof(b), &out) != -EBADMSG)
			printf("not rejected: %s\n", cases[i].what);
		CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
	}
	/* All-zero resource UUID. */
	memcpy(b, good, sizeof(b));
	memset(b + MD_SB_OFF_RESOURCE, 0, MD_UUID_SIZE);
	fix_crc(b);
	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
	/* Bad magic, crc fixed. */
	memcpy(b, good, sizeof(b));
	b[0] = 'X';
	fix_crc(b);
	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
	/* The untouched block still decodes: the cases above were the cause. */
	CU_ASSERT_EQUAL(md_super_decode(good, sizeof(good), &out), 0);
}

static void test_decode_bad_crc(void)
{
	struct md_super sb = example(), out;
	uint8_t b[MD_BLOCK_SIZE];

	/* One flipped bit anywhere, including reserved bytes and the crc. */
	static const size_t offs[] = { 0, 9, 12, 16, 50, 100, 2048, 4095 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		encode_ok(&sb, b);
		b[offs[i]] ^= 0x10;
		CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
	}
}

static void test_decode_all_zero(void)
{
	uint8_t b[MD_BLOCK_SIZE] = { 0 };
	struct md_super out;

	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -ENODATA);
	b[4095] = 1;
	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
}

static void test_decode_newer_version(void)
{
	struct md_super sb = example(), out;
	uint8_t b[MD_BLOCK_SIZE];

	encode_ok(&sb, b);
	md_put_le32(b + MD_SB_OFF_VERSION, MD_FORMAT_VERSION + 1);
	/* A newer writer may use reserved bytes. */
	b[MD_SB_USED] = 0x5a;
	fix_crc(b);
	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EPROTO);
	/* Without a valid crc the same block is corruption, not "newer". */
	b[MD_SB_OFF_CRC] ^= 1;
	CU_ASSERT_EQUAL(md_super_decode(b, sizeof(b), &out), -EBADMSG);
}

/* Two encoded slots with the given seqs in area. */
static void two_slots(uint8_t *area, uint64_t seq0, uint64_t seq1)
{
	struct md_super sb = example();

	sb.seq = seq0;
	sb.node_id = 100;
	encode_ok(&sb, area);
	sb.seq = seq1;
	sb.node_id = 101;
	encode_ok(&sb, area + MD_BLOCK_SIZE);
}

static void test_select_newest(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot;

	two_slots(area, 5, 6);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 1);
	CU_ASSERT_EQUAL(out.seq, 6);
	CU_ASSERT_EQUAL(out.node_id, 101);
	two_slots(area, 9, 8);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 0);
	CU_ASSERT_EQUAL(out.seq, 9);
	CU_ASSERT_EQUAL(out.node_id, 100);
}

static void test_select_torn_slot_falls_back(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot;

	/* The newer slot 1 was torn mid-write: the older slot 0 wins. */
	two_slots(area, 5, 6);
	memset(area + MD_BLOCK_SIZE + 2048, 0x5a, 2048);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 0);
	CU_ASSERT_EQUAL(out.seq, 5);
	/* The same the other way round. */
	two_slots(area, 8, 7);
	area[100] ^= 0xff;
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 1);
	CU_ASSERT_EQUAL(out.seq, 7);
}

static void test_select_one_zero_slot(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot;

	/* create-md wrote slot 0 only, or slot 1 was never written. */
	two_slots(area, 1, 2);
	memset(area + MD_BLOCK_SIZE, 0, MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 0);
	two_slots(area, 1, 2);
	memset(area, 0, MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 1);
}

static void test_select_both_bad(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot = 77;

	two_slots(area, 1, 2);
	area[20] ^= 1;
	area[MD_BLOCK_SIZE + 20] ^= 1;
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EBADMSG);
	/* One zero, one bad: still corrupt, not "never initialised". */
	memset(area, 0, MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EBADMSG);
	/* Garbage that is not a superblock at all. */
	memset(area, 0xff, sizeof(area));
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EBADMSG);
	CU_ASSERT_EQUAL(slot, 77);
}

static void test_select_all_zero(void)
{
	uint8_t area[MD_SB_AREA_SIZE] = { 0 };
	struct md_super out;
	unsigned slot;

	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -ENODATA);
}

static void test_select_newer_version_refused(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot;

	/* Slot 1 from a newer repd, slot 0 ours and valid: still refuse. */
	two_slots(area, 5, 6);
	md_put_le32(area + MD_BLOCK_SIZE + MD_SB_OFF_VERSION, 2);
	fix_crc(area + MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EPROTO);
	/* Also when the newer-version slot has the lower seq. */
	two_slots(area, 5, 6);
	md_put_le32(area + MD_SB_OFF_VERSION, 9);
	fix_crc(area);
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EPROTO);
}

static void test_select_sequence_wrap(void)
{
	uint8_t area[MD_SB_AREA_SIZE];
	struct md_super out;
	unsigned slot;

	CU_ASSERT(md_seq_newer(0, UINT64_MAX));
	CU_ASSERT(!md_seq_newer(UINT64_MAX, 0));
	CU_ASSERT(md_seq_newer(3, 2));
	CU_ASSERT(!md_seq_newer(2, 2));
	two_slots(area, UINT64_MAX, 0);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 1);
	CU_ASSERT_EQUAL(out.seq, 0);
	two_slots(area, 1, UINT64_MAX);
	CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 0);
	CU_ASSERT_EQUAL(out.seq, 1);
}

static void test_select_equal_seq(void)
{
	struct md_super sb = example(), out;
	uint8_t area[MD_SB_AREA_SIZE];
	unsigned slot = 9;

	encode_ok(&sb, area);
	encode_ok(&sb, area + MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), 0);
	CU_ASSERT_EQUAL(slot, 0);
	/* Same seq, different contents: no guessing. */
	two_slots(area, 4, 4);
	CU_ASSERT_EQUAL(md_select_slot(area, sizeof(area), &out, &slot), -EBADMSG);
}

/* Copy block src over dst, but only the sectors [s0, s1) of 512 bytes. */
static void tear(uint8_t *dst, const uint8_t *src, unsigned s0, unsigned s1)
{
	memcpy(dst + s0 * 512, src + s0 * 512, (s1 - s0) * 512);
}

static void test_store_cycle_survives_any_torn_write(void)
{
	/*
	 * Store ten generations the documented way (other slot, seq + 1).
	 * Whatever subset of a store's sectors reaches the disk, selection
	 * yields that store or the one before, never an error or older data.
	 */
	uint8_t area[MD_SB_AREA_SIZE] = { 0 };
	struct md_super sb = example(), out;
	unsigned slot = 1;

	sb.seq = UINT64_MAX - 4;	/* cross the wrap on the way */
	for (unsigned i = 0; i < 10; i++) {
		uint8_t block[MD_BLOCK_SIZE], torn[MD_SB_AREA_SIZE];
		unsigned next = slot ^ 1;
		uint8_t *dst = torn + next * MD_BLOCK_SIZE;

		sb.seq++;
		sb.node_id = i;
		encode_ok(&sb, block);
		if (i > 0) {
			/* First sector landed (it holds every field): the new one. */
			memcpy(torn, area, sizeof(area));
			tear(dst, block, 0, 1);
			CU_ASSERT_EQUAL(md_select_slot(torn, sizeof(torn), &out,
						       &slot), 0);
			CU_ASSERT_EQUAL(out.node_id, i);
			/* Only later sectors landed: the previous store. */
			memcpy(torn, area, sizeof(area));
			tear(dst, block, 1, 8);
			memset(dst + 2048, 0x5a, 8);	/* stale junk mid-block */
			CU_ASSERT_EQUAL(md_select_slot(torn, sizeof(torn), &out,
						       &slot), 0);
			CU_ASSERT_EQUAL(out.node_id, i - 1);
			CU_ASSERT_EQUAL(slot, next ^ 1);
		}
		memcpy(area + next * MD_BLOCK_SIZE, block, MD_BLOCK_SIZE);
		CU_ASSERT_EQUAL_FATAL(md_select_slot(area, sizeof(area), &out,
						     &slot), 0);
		CU_ASSERT_EQUAL(slot, next);
		CU_ASSERT_EQUAL(out.node_id, i);
	}
}

static void test_flag_names(void)
{
	unsigned named = 0;

	for (unsigned i = 0; i < 32; i++) {
		const char *n = md_flag_name(1u << i);

		CU_ASSERT_EQUAL(n != NULL, ((MD_FLAGS_KNOWN >> i) & 1) != 0);
		named += n != NULL;
	}
	CU_ASSERT_EQUAL(named, 8);
	CU_ASSERT_STRING_EQUAL(md_flag_name(MD_FLAG_CRASHED_PRIMARY),
			       "crashed-primary");
	CU_ASSERT_PTR_NULL(md_flag_name(MD_FLAG_CONSISTENT | MD_FLAG_OUTDATED));
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "crc32c check value", test_crc32c_check_value },
		{ "superblock bytes match the doc", test_super_bytes_match_doc },
		{ "superblock round trip", test_super_round_trip },
		{ "init is just-created", test_super_init_is_just_created },
		{ "encode rejects invalid", test_super_encode_rejects },
		{ "truncated input", test_decode_truncated },
		{ "decode rejects bad fields", test_decode_rejects_bad_fields },
		{ "decode bad crc", test_decode_bad_crc },
		{ "decode all zero", test_decode_all_zero },
		{ "decode newer version", test_decode_newer_version },
		{ "select newest", test_select_newest },
		{ "select torn slot falls back", test_select_torn_slot_falls_back },
		{ "select one zero slot", test_select_one_zero_slot },
		{ "select both bad", test_select_both_bad },
		{ "select all zero", test_select_all_zero },
		{ "select newer version refused", test_select_newer_version_refused },
		{ "select sequence wrap", test_select_sequence_wrap },
		{ "select equal seq", test_select_equal_seq },
		{ "store cycle survives torn writes",
		  test_store_cycle_survives_any_torn_write },
		{ "flag names", test_flag_names },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_format", tests);
}
