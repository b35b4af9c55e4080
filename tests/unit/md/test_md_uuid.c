/*
 * CUnit tests of the generation UUID rules (replicator/md/md_uuid.h).
 * One table row per row of the truth table in md_uuid.h (and
 * docs/metadata.md), each also checked from the peer's side; then the
 * life-cycle functions and whole scenarios built from them.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "md/md_uuid.h"
#include "md_test.h"

#define JC MD_UUID_JUST_CREATED
#define CR MD_FLAG_CRASHED_PRIMARY
/* Arbitrary real generations. */
#define U1 UINT64_C(0x1111111111111110)
#define U2 UINT64_C(0x2222222222222220)
#define U3 UINT64_C(0x3333333333333330)
#define U4 UINT64_C(0x4444444444444440)
#define U5 UINT64_C(0x5555555555555550)
#define U6 UINT64_C(0x6666666666666660)
#define U7 UINT64_C(0x7777777777777770)
#define U8 UINT64_C(0x8888888888888880)

/* C, B, H[0..3], flags, node id */
#define SIDE(c, b, h0, h1, h2, h3, fl, id) \
	{ .gen = { (c), (b), { (h0), (h1), (h2), (h3) } }, .flags = (fl), .node_id = (id) }

static const struct row {
	const char *name;
	struct md_uuid_side me, peer;
	enum md_uuid_verdict want;
	unsigned rule;
} rows[] = {
	{ "both just created",
	  SIDE(JC, 0, 0, 0, 0, 0, 0, 1), SIDE(JC, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_BOTH_FRESH, 10 },
	{ "C 0 counts as just created",
	  SIDE(0, 0, 0, 0, 0, 0, 0, 1), SIDE(JC, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_BOTH_FRESH, 10 },
	{ "I am fresh, peer has data",
	  SIDE(JC, 0, 0, 0, 0, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_TARGET_FULL, 20 },
	{ "I have data, peer fresh (even if crashed)",
	  SIDE(U1, U2, 0, 0, 0, 0, CR, 1), SIDE(JC, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_SOURCE_FULL, 30 },
	{ "C equal: in sync",
	  SIDE(U1, 0, U2, 0, 0, 0, 0, 1), SIDE(U1, 0, U2, 0, 0, 0, 0, 2),
	  MD_UUID_NO_SYNC, 40 },
	{ "C equal, stale B on one side: still in sync",
	  SIDE(U1, U3, 0, 0, 0, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_NO_SYNC, 40 },
	{ "C equal, I crashed as primary",
	  SIDE(U1, 0, 0, 0, 0, 0, CR, 1), SIDE(U1, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_SOURCE_BITMAP, 41 },
	{ "C equal, peer crashed as primary",
	  SIDE(U1, 0, 0, 0, 0, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, CR, 2),
	  MD_UUID_SYNC_TARGET_BITMAP, 42 },
	{ "C equal, both crashed, my id lower",
	  SIDE(U1, 0, 0, 0, 0, 0, CR, 1), SIDE(U1, 0, 0, 0, 0, 0, CR, 2),
	  MD_UUID_SYNC_SOURCE_BITMAP, 43 },
	{ "C equal, both crashed, my id higher",
	  SIDE(U1, 0, 0, 0, 0, 0, CR, 7), SIDE(U1, 0, 0, 0, 0, 0, CR, 3),
	  MD_UUID_SYNC_TARGET_BITMAP, 43 },
	{ "each B is the other's C",
	  SIDE(U1, U2, 0, 0, 0, 0, 0, 1), SIDE(U2, U1, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 45 },
	{ "my B is peer C: I am newer",
	  SIDE(U2, U1, 0, 0, 0, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_SOURCE_BITMAP, 50 },
	{ "my B is peer C, peer has a B of its own",
	  SIDE(U2, U1, 0, 0, 0, 0, 0, 1), SIDE(U1, U5, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_SOURCE_BITMAP, 50 },
	{ "my B is peer C, crashed flag irrelevant",
	  SIDE(U2, U1, 0, 0, 0, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, CR, 2),
	  MD_UUID_SYNC_SOURCE_BITMAP, 50 },
	{ "my C is peer B: peer is newer",
	  SIDE(U1, 0, U7, 0, 0, 0, 0, 1), SIDE(U2, U1, U7, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_TARGET_BITMAP, 60 },
	{ "same B, different C: split brain",
	  SIDE(U2, U1, 0, 0, 0, 0, 0, 1), SIDE(U3, U1, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 70 },
	{ "same B, also a history match: still split brain",
	  SIDE(U2, U1, U3, 0, 0, 0, 0, 1), SIDE(U3, U1, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 70 },
	{ "each C in the other's history",
	  SIDE(U1, 0, U2, 0, 0, 0, 0, 1), SIDE(U2, 0, 0, U1, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 75 },
	{ "peer C in my history: full, I am source",
	  SIDE(U4, U3, U2, 0, U1, 0, 0, 1), SIDE(U1, 0, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SYNC_SOURCE_FULL, 80 },
	{ "my C in peer history: full, I am target",
	  SIDE(U1, 0, U8, 0, 0, 0, 0, 1), SIDE(U3, 0, U2, 0, 0, U1, 0, 2),
	  MD_UUID_SYNC_TARGET_FULL, 90 },
	{ "histories meet: split brain",
	  SIDE(U3, 0, U5, U1, 0, 0, 0, 1), SIDE(U4, 0, U6, 0, 0, U1, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 100 },
	{ "my B in peer history: split brain",
	  SIDE(U3, U1, 0, 0, 0, 0, 0, 1), SIDE(U4, U2, U1, 0, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 100 },
	{ "my history holds peer B: split brain",
	  SIDE(U3, U5, U2, 0, 0, 0, 0, 1), SIDE(U4, U2, 0, 0, 0, 0, 0, 2),
	  MD_UUID_SPLIT_BRAIN, 100 },
	{ "nothing in common",
	  SIDE(U1, U2, U3, 0, 0, 0, 0, 1), SIDE(U4, U5, U6, U7, U8, 0, 0, 2),
	  MD_UUID_UNRELATED, 110 },
	{ "zeros and just-created never match",
	  SIDE(U1, JC, 0, 0, JC, 0, 0, 1), SIDE(U2, JC, 0, 0, JC, 0, 0, 2),
	  MD_UUID_UNRELATED, 110 },
};

static enum md_uuid_verdict mirror(enum md_uuid_verdict v)
{
	switch (v) {
	case MD_UUID_SYNC_SOURCE_BITMAP:
		return MD_UUID_SYNC_TARGET_BITMAP;
	case MD_UUID_SYNC_TARGET_BITMAP:
		return MD_UUID_SYNC_SOURCE_BITMAP;
	case MD_UUID_SYNC_SOURCE_FULL:
		return MD_UUID_SYNC_TARGET_FULL;
	case MD_UUID_SYNC_TARGET_FULL:
		return MD_UUID_SYNC_SOURCE_FULL;
	case MD_UUID_NO_SYNC:
	case MD_UUID_BOTH_FRESH:
	case MD_UUID_SPLIT_BRAIN:
	case MD_UUID_UNRELATED:
		return v;
	}
	abort();
}

static unsigned mirror_rule(unsigned r)
{
	switch (r) {
	case 20: return 30;
	case 30: return 20;
	case 41: return 42;
	case 42: return 41;
	case 50: return 60;
	case 60: return 50;
	case 80: return 90;
	case 90: return 80;
	default: return r;
	}
}

static void test_truth_table(void)
{
	unsigned seen = 0, n_seen = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		unsigned rule = 0;
		enum md_uuid_verdict v = md_uuid_compare(&r->me, &r->peer, &rule);

		if (v != r->want || rule != r->rule)
			printf("\n  row '%s': got %s by rule %u, want %s by %u",
			       r->name, md_uuid_verdict_name(v), rule,
			       md_uuid_verdict_name(r->want), r->rule);
		CU_ASSERT_EQUAL(v, r->want);
		CU_ASSERT_EQUAL(rule, r->rule);
		CU_ASSERT_PTR_NOT_NULL(md_uuid_rule_text(rule));
		/* NULL rule pointer is allowed. */
		CU_ASSERT_EQUAL(md_uuid_compare(&r->me, &r->peer, NULL), r->want);
		/* Every verdict kind appears in the table. */
		if (!(seen & (1u << v))) {
			seen |= 1u << v;
			n_seen++;
		}
	}
	CU_ASSERT_EQUAL(n_seen, 8);
}

static void test_truth_table_mirrored(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		unsigned rule = 0;
		enum md_uuid_verdict v = md_uuid_compare(&r->peer, &r->me, &rule);

		if (v != mirror(r->want))
			printf("\n  mirrored row '%s': got %s by rule %u", r->name,
			       md_uuid_verdict_name(v), rule);
		CU_ASSERT_EQUAL(v, mirror(r->want));
		CU_ASSERT_EQUAL(rule, mirror_rule(r->rule));
	}
}

static void test_new_generation(void)
{
	struct md_gen g, before;

	md_uuid_init(&g);
	CU_ASSERT_EQUAL(g.current, JC);
	CU_ASSERT_EQUAL(g.bitmap, 0);
	/* From just created: C only; JC goes nowhere. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U1), 0);
	CU_ASSERT_EQUAL(g.current, U1);
	CU_ASSERT_EQUAL(g.bitmap, 0);
	CU_ASSERT_EQUAL(g.history[0], 0);
	/* B empty: B := old C. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U2), 0);
	CU_ASSERT_EQUAL(g.current, U2);
	CU_ASSERT_EQUAL(g.bitmap, U1);
	CU_ASSERT_EQUAL(g.history[0], 0);
	/* B set: B stays, old C to history. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U3), 0);
	CU_ASSERT_EQUAL(g.current, U3);
	CU_ASSERT_EQUAL(g.bitmap, U1);
	CU_ASSERT_EQUAL(g.history[0], U2);
	for (uint64_t u = U4; u <= U8; u += UINT64_C(0x1111111111111110))
		CU_ASSERT_EQUAL(md_uuid_new_generation(&g, u), 0);
	/* History keeps the newest MD_GEN_HISTORY, newest first. */
	CU_ASSERT_EQUAL(g.current, U8);
	CU_ASSERT_EQUAL(g.history[0], U7);
	CU_ASSERT_EQUAL(g.history[MD_GEN_HISTORY - 1], U4);
	/* Refused values leave gen untouched. */
	before = g;
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, 0), -EINVAL);
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, JC), -EINVAL);
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U8), -EINVAL);	/* C */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U1), -EINVAL);	/* B */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&g, U5), -EINVAL);	/* H */
	CU_ASSERT_EQUAL(memcmp(&g, &before, sizeof(g)), 0);
}

static void test_clear_bitmap_and_target_done(void)
{
	struct md_gen src = { .current = U3, .bitmap = U2, .history = { U1 } };
	struct md_gen tgt = { .current = U2, .history = { U5, U6 } };

	md_uuid_clear_bitmap(&src);
	CU_ASSERT_EQUAL(src.current, U3);
	CU_ASSERT_EQUAL(src.bitmap, 0);
	CU_ASSERT_EQUAL(src.history[0], U2);
	CU_ASSERT_EQUAL(src.history[1], U1);
	/* Without a B, nothing moves. */
	md_uuid_clear_bitmap(&src);
	CU_ASSERT_EQUAL(src.history[0], U2);
	CU_ASSERT_EQUAL(src.history[2], 0);
	/* The target ends with exactly the source's generations. */
	struct md_gen src2 = { .current = U3, .bitmap = U2, .history = { U1 } };
	md_uuid_sync_target_done(&tgt, &src2);
	CU_ASSERT_EQUAL(memcmp(&tgt, &src, sizeof(tgt)), 0);
}

static void test_rule_texts(void)
{
	static const unsigned rules[] = { 10, 20, 30, 40, 41, 42, 43, 45, 50,
					  60, 70, 75, 80, 90, 100, 110 };
	unsigned i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		CU_ASSERT_PTR_NOT_NULL(md_uuid_rule_text(rules[i]));
	CU_ASSERT_PTR_NULL(md_uuid_rule_text(0));
	CU_ASSERT_PTR_NULL(md_uuid_rule_text(44));
}

static void test_never_held_data(void)
{
	struct md_gen g;

	md_uuid_init(&g);
	CU_ASSERT_TRUE(md_uuid_never_held_data(&g));
	g.current = 0;
	CU_ASSERT_TRUE(md_uuid_never_held_data(&g));
	/* invalidated: JUST_CREATED again, but the history remembers */
	g = (struct md_gen){ .current = JC, .history = { 0, 0, U1 } };
	g.history[MD_GEN_HISTORY - 1] = U1;
	CU_ASSERT_FALSE(md_uuid_never_held_data(&g));
	g = (struct md_gen){ .current = JC, .bitmap = U2 };
	CU_ASSERT_FALSE(md_uuid_never_held_data(&g));
	g = (struct md_gen){ .current = U3 };
	CU_ASSERT_FALSE(md_uuid_never_held_data(&g));
}

/* Compare a with b both ways; check the pair of verdicts. */
static void both_ways(const struct md_gen *a, const struct md_gen *b,
		      enum md_uuid_verdict want_a)
{
	struct md_uuid_side sa = { .gen = *a, .node_id = 1 };
	struct md_uuid_side sb = { .gen = *b, .node_id = 2 };

	CU_ASSERT_EQUAL(md_uuid_compare(&sa, &sb, NULL), want_a);
	CU_ASSERT_EQUAL(md_uuid_compare(&sb, &sa, NULL), mirror(want_a));
}

static void test_scenarios(void)
{
	struct md_gen x, y, old;

	/* Fresh pair: no direction until one is promoted with --force. */
	md_uuid_init(&x);
	md_uuid_init(&y);
	both_ways(&x, &y, MD_UUID_BOTH_FRESH);
	CU_ASSERT_EQUAL(md_uuid_new_generation(&x, U1), 0);
	both_ways(&x, &y, MD_UUID_SYNC_SOURCE_FULL);
	md_uuid_clear_bitmap(&x);
	md_uuid_sync_target_done(&y, &x);
	both_ways(&x, &y, MD_UUID_NO_SYNC);

	/* X (primary) loses Y and writes: bitmap resync X -> Y. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&x, U2), 0);
	both_ways(&x, &y, MD_UUID_SYNC_SOURCE_BITMAP);
	/* Still apart, X is demoted, promoted and writes again. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&x, U3), 0);
	both_ways(&x, &y, MD_UUID_SYNC_SOURCE_BITMAP);
	md_uuid_clear_bitmap(&x);
	md_uuid_sync_target_done(&y, &x);
	both_ways(&x, &y, MD_UUID_NO_SYNC);
	old = y;	/* a copy of the data at generation U3 */

	/* Y promoted while apart but writes nothing: no split brain. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&x, U4), 0);
	both_ways(&x, &y, MD_UUID_SYNC_SOURCE_BITMAP);

	/* Y promoted while apart and writes: split brain, both ways. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&y, U5), 0);
	both_ways(&x, &y, MD_UUID_SPLIT_BRAIN);
	/* ...and it stays split brain after more generations on X. */
	CU_ASSERT_EQUAL(md_uuid_new_generation(&x, U6), 0);
	both_ways(&x, &y, MD_UUID_SPLIT_BRAIN);

	/* Resolved in X's favour: Y's data discarded by a full resync. */
	md_uuid_clear_bitmap(&x);
	md_uuid_sync_target_done(&y, &x);
	both_ways(&x, &y, MD_UUID_NO_SYNC);

	/*
	 * The copy left at U3 comes back after X moved on and cleared its
	 * bitmap: U3 is only in X's history, so a full resync.
	 */
	both_ways(&x, &old, MD_UUID_SYNC_SOURCE_FULL);
	/* An unrelated fresh-but-used resource: refuse. */
	struct md_gen other = { .current = U7, .bitmap = U8 };
	both_ways(&x, &other, MD_UUID_UNRELATED);
}

static void test_verdict_names(void)
{
	const char *names[8];

	for (int v = MD_UUID_NO_SYNC; v <= MD_UUID_UNRELATED; v++) {
		names[v] = md_uuid_verdict_name((enum md_uuid_verdict)v);
		CU_ASSERT_PTR_NOT_NULL_FATAL(names[v]);
		for (int w = 0; w < v; w++)
			CU_ASSERT(strcmp(names[v], names[w]) != 0);
	}
	CU_ASSERT_STRING_EQUAL(md_uuid_verdict_name(MD_UUID_SPLIT_BRAIN),
			       "split-brain");
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "truth table", test_truth_table },
		{ "truth table mirrored", test_truth_table_mirrored },
		{ "new generation", test_new_generation },
		{ "clear bitmap and target done", test_clear_bitmap_and_target_done },
		{ "never held data", test_never_held_data },
		{ "rule texts", test_rule_texts },
		{ "scenarios", test_scenarios },
		{ "verdict names", test_verdict_names },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_uuid", tests);
}
