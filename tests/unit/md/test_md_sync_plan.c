/*
 * CUnit tests of md_sync_plan (replicator/md/md_sync_plan.h): the resync
 * direction for every verdict and role combination, checked from both
 * ends, and the failover scenario that motivated the role refinement.
 */
#undef NDEBUG
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "md/md_sync_plan.h"
#include "md/md_uuid.h"
#include "md_test.h"

/* The verdict the peer computes when we compute v. */
static enum md_uuid_verdict mirror(enum md_uuid_verdict v)
{
	switch (v) {
	case MD_UUID_SYNC_SOURCE_BITMAP: return MD_UUID_SYNC_TARGET_BITMAP;
	case MD_UUID_SYNC_TARGET_BITMAP: return MD_UUID_SYNC_SOURCE_BITMAP;
	case MD_UUID_SYNC_SOURCE_FULL: return MD_UUID_SYNC_TARGET_FULL;
	case MD_UUID_SYNC_TARGET_FULL: return MD_UUID_SYNC_SOURCE_FULL;
	default: return v;
	}
}

static unsigned mirror_rule(unsigned rule)
{
	return rule == 41 ? 42 : rule == 42 ? 41 : rule;
}

static const struct row {
	enum md_uuid_verdict v;
	unsigned rule;
	bool me_primary, peer_primary;
	bool refused;
	enum md_sync_dir dir;
	bool full;
	bool me_inc, peer_inc;		/* MD_FLAG_RESYNC_IN_PROGRESS */
} rows[] = {
	/* same data: the primary sends (bitmaps still exchanged) */
	{ MD_UUID_NO_SYNC, 40, true, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_NO_SYNC, 40, false, true, false, MD_SYNC_TARGET,
	  false, false, false },
	{ MD_UUID_NO_SYNC, 40, false, false, false, MD_SYNC_NONE,
	  false, false, false },
	/* a new pair: the primary's contents, all of them */
	{ MD_UUID_BOTH_FRESH, 10, true, false, false, MD_SYNC_SOURCE,
	  true, false, false },
	{ MD_UUID_BOTH_FRESH, 10, false, true, false, MD_SYNC_TARGET,
	  true, false, false },
	{ MD_UUID_BOTH_FRESH, 10, false, false, false, MD_SYNC_NONE,
	  true, false, false },
	/* newer data */
	{ MD_UUID_SYNC_SOURCE_BITMAP, 50, true, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_SYNC_SOURCE_BITMAP, 50, false, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_SYNC_SOURCE_BITMAP, 50, false, true, true, MD_SYNC_NONE,
	  false, false, false },
	{ MD_UUID_SYNC_SOURCE_FULL, 30, false, false, false, MD_SYNC_SOURCE,
	  true, false, false },
	{ MD_UUID_SYNC_TARGET_FULL, 20, true, false, true, MD_SYNC_NONE,
	  true, false, false },
	/* equal UUIDs, a crash: the primary of now decides */
	{ MD_UUID_SYNC_SOURCE_BITMAP, 41, false, true, false, MD_SYNC_TARGET,
	  false, false, false },
	{ MD_UUID_SYNC_TARGET_BITMAP, 42, true, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_SYNC_SOURCE_BITMAP, 41, false, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_SYNC_SOURCE_BITMAP, 43, true, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	{ MD_UUID_SYNC_TARGET_BITMAP, 43, true, false, false, MD_SYNC_SOURCE,
	  false, false, false },
	/* an interrupted resync: equal UUIDs, the target Inconsistent */
	{ MD_UUID_NO_SYNC, 40, false, false, false, MD_SYNC_SOURCE, false,
	  false, true },
	{ MD_UUID_NO_SYNC, 40, false, false, false, MD_SYNC_TARGET, false,
	  true, false },
	{ MD_UUID_NO_SYNC, 40, true, false, false, MD_SYNC_SOURCE, false,
	  false, true },
	/* ... even where a crash alone would pick the Inconsistent side */
	{ MD_UUID_SYNC_TARGET_BITMAP, 42, false, false, false, MD_SYNC_SOURCE,
	  false, false, true },
	{ MD_UUID_SYNC_SOURCE_BITMAP, 41, false, false, false, MD_SYNC_TARGET,
	  false, true, false },
	/* never */
	{ MD_UUID_SPLIT_BRAIN, 70, false, false, true, MD_SYNC_NONE,
	  false, false, false },
	{ MD_UUID_SPLIT_BRAIN, 70, true, false, true, MD_SYNC_NONE,
	  false, false, false },
	{ MD_UUID_UNRELATED, 110, false, false, true, MD_SYNC_NONE,
	  false, false, false },
};

static void test_rows(void)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct md_sync_plan p;
		const char *why = md_sync_plan(r->v, r->rule, r->me_primary,
					       r->peer_primary, r->me_inc,
					       r->peer_inc, &p);

		CU_ASSERT_EQUAL(why != NULL, r->refused);
		if (why || r->refused)
			continue;
		CU_ASSERT_EQUAL(p.dir, r->dir);
		CU_ASSERT_EQUAL(p.full, r->full);
	}
}

/* Whatever one end decides, the other decides the opposite or refuses
 * too: never two sources, never two targets. */
static void test_both_ends_agree(void)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct md_sync_plan a, b;
		const char *wa = md_sync_plan(r->v, r->rule, r->me_primary,
					      r->peer_primary, r->me_inc,
					      r->peer_inc, &a);
		const char *wb = md_sync_plan(mirror(r->v),
					      mirror_rule(r->rule),
					      r->peer_primary, r->me_primary,
					      r->peer_inc, r->me_inc, &b);

		CU_ASSERT_EQUAL(wa != NULL, wb != NULL);
		if (wa || wb)
			continue;
		CU_ASSERT_EQUAL(a.full, b.full);
		if (a.dir == MD_SYNC_NONE)
			CU_ASSERT_EQUAL(b.dir, MD_SYNC_NONE);
		if (a.dir == MD_SYNC_SOURCE)
			CU_ASSERT_EQUAL(b.dir, MD_SYNC_TARGET);
		if (a.dir == MD_SYNC_TARGET)
			CU_ASSERT_EQUAL(b.dir, MD_SYNC_SOURCE);
	}
}

/*
 * Failover: alpha (primary) crashes; beta is promoted and writes nothing
 * yet; alpha returns as secondary. The UUIDs are equal and only alpha
 * crashed (rule 41 from alpha's side), which alone would make alpha the
 * source; beta serves clients now, so beta must be.
 */
static void test_failover_without_writes(void)
{
	struct md_uuid_side alpha = { .gen = { .current = 0x1230 },
				      .flags = MD_FLAG_CRASHED_PRIMARY,
				      .node_id = 0 };
	struct md_uuid_side beta = { .gen = { .current = 0x1230 },
				     .node_id = 1 };
	struct md_sync_plan pa, pb;
	unsigned ra, rb;
	enum md_uuid_verdict va = md_uuid_compare(&alpha, &beta, &ra);
	enum md_uuid_verdict vb = md_uuid_compare(&beta, &alpha, &rb);

	CU_ASSERT_EQUAL(va, MD_UUID_SYNC_SOURCE_BITMAP);
	CU_ASSERT_PTR_NULL(md_sync_plan(va, ra, false, true, false, false,
					&pa));
	CU_ASSERT_PTR_NULL(md_sync_plan(vb, rb, true, false, false, false,
					&pb));
	CU_ASSERT_EQUAL(pa.dir, MD_SYNC_TARGET);
	CU_ASSERT_EQUAL(pb.dir, MD_SYNC_SOURCE);
	CU_ASSERT_FALSE(pa.full);
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "rows", test_rows },
		{ "both ends agree", test_both_ends_agree },
		{ "failover without writes", test_failover_without_writes },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_sync_plan", tests);
}
