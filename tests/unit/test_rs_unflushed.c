/*
 * CUnit tests of replicator/rs_unflushed: which resync ranges may have
 * their bits cleared, and when a FLUSH must go to the target.
 */
#undef NDEBUG
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "rs_unflushed.h"

#include "cunit_main.h"

#define MIB	(UINT64_C(1) << 20)

/* What flush_done asked to clear, in order. */
struct cleared {
	unsigned n;
	struct rs_unflushed_range r[8];
	uint64_t bytes;
};

static void record(void *ctx, uint64_t off, uint64_t len)
{
	struct cleared *c = ctx;

	if (c->n < 8) {
		c->r[c->n].off = off;
		c->r[c->n].len = len;
	}
	c->n++;
	c->bytes += len;
}

static struct rs_unflushed *fresh(void)
{
	struct rs_unflushed *u = malloc(sizeof(*u));

	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	rs_unflushed_reset(u);
	return u;
}

static void test_adjoining_answers_merge(void)
{
	struct rs_unflushed *u = fresh();

	CU_ASSERT_EQUAL(rs_unflushed_add(u, 0, MIB, 0, 1), 0);
	CU_ASSERT_EQUAL(rs_unflushed_add(u, MIB, MIB, 0, 1), 0);	/* after */
	CU_ASSERT_EQUAL(rs_unflushed_add(u, 4 * MIB, MIB, 0, 1), 0);	/* gap */
	CU_ASSERT_EQUAL(rs_unflushed_add(u, 3 * MIB, MIB, 0, 1), 0);	/* before */
	CU_ASSERT_EQUAL(rs_unflushed_add(u, 9 * MIB, 0, 0, 1), 0);	/* empty */
	CU_ASSERT_EQUAL(u->n, 2);
	CU_ASSERT_EQUAL(u->r[0].off, 0);
	CU_ASSERT_EQUAL(u->r[0].len, 2 * MIB);
	CU_ASSERT_EQUAL(u->r[1].off, 3 * MIB);
	CU_ASSERT_EQUAL(u->r[1].len, 2 * MIB);
	CU_ASSERT_EQUAL(u->bytes, 4 * MIB);
	free(u);
}

static void test_flush_clears_only_what_it_covers(void)
{
	struct rs_unflushed *u = fresh();
	struct cleared c = { 0 };

	rs_unflushed_add(u, 0, MIB, 0, 1);
	rs_unflushed_add(u, 8 * MIB, MIB, 0, 1);
	rs_unflushed_flush_sent(u);
	/* answered after the FLUSH was sent: the FLUSH does not cover it,
	 * even where it adjoins a covered range */
	rs_unflushed_add(u, 9 * MIB, MIB, 0, 1);
	rs_unflushed_add(u, 20 * MIB, MIB, 0, 1);
	CU_ASSERT_EQUAL(u->n, 4);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, true, 0));	/* in flight */
	CU_ASSERT_TRUE(rs_unflushed_flush_done(u, 1, 0, record, &c));
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_EQUAL(c.r[0].off, 0);
	CU_ASSERT_EQUAL(c.r[1].off, 8 * MIB);
	CU_ASSERT_EQUAL(c.r[1].len, MIB);
	CU_ASSERT_EQUAL(u->n, 2);
	CU_ASSERT_EQUAL(u->r[0].off, 9 * MIB);
	CU_ASSERT_EQUAL(u->r[1].off, 20 * MIB);
	CU_ASSERT_EQUAL(u->bytes, 2 * MIB);
	CU_ASSERT_FALSE(u->flushing);
	/* the rest goes with the next FLUSH */
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, true, 0));
	rs_unflushed_flush_sent(u);
	memset(&c, 0, sizeof(c));
	rs_unflushed_flush_done(u, 1, 0, record, &c);
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_EQUAL(c.bytes, 2 * MIB);
	CU_ASSERT_EQUAL(u->n, 0);
	CU_ASSERT_EQUAL(u->bytes, 0);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, true, 0));	/* nothing */
	free(u);
}

static void test_when_to_flush(void)
{
	struct rs_unflushed *u = fresh();
	uint64_t off;
	unsigned i;

	rs_unflushed_add(u, 0, MIB, 0, 1);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, false, 0));
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, true, 0));	/* pass over */
	/* enough bytes: one merged range of the threshold */
	rs_unflushed_add(u, MIB, RS_UNFLUSHED_FLUSH_BYTES - 2 * MIB, 0, 1);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, false, 0));
	rs_unflushed_add(u, RS_UNFLUSHED_FLUSH_BYTES - MIB, MIB, 0, 1);
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, false, 0));
	/* enough ranges: half of them, however small */
	rs_unflushed_reset(u);
	for (i = 0, off = 0; i < RS_UNFLUSHED_MAX / 2 - 1; i++, off += 8192)
		rs_unflushed_add(u, off, 4096, 0, 1);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, false, 0));
	rs_unflushed_add(u, off, 4096, 0, 1);
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, false, 0));
	free(u);
}

static void test_a_slow_trickle_flushes_within_a_second(void)
{
	struct rs_unflushed *u = fresh();
	struct cleared c = { 0 };
	const uint64_t t = 5000;	/* ms */

	rs_unflushed_add(u, 0, 4096, t, 1);
	rs_unflushed_add(u, 4096, 4096, t + 600, 1);	/* merged: still t */
	rs_unflushed_add(u, 65536, 4096, t + 700, 1);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, false, t + 999));
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, false,
					       t + RS_UNFLUSHED_FLUSH_MS));
	rs_unflushed_flush_sent(u);
	/* the first range after the FLUSH starts a new wait */
	rs_unflushed_add(u, 8192, 4096, t + 1500, 1);
	rs_unflushed_flush_done(u, 1, t + 1600, record, &c);
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_FALSE(rs_unflushed_want_flush(u, false, t + 2599));
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, false, t + 2600));
	free(u);
}

static void test_full_refuses_new_ranges(void)
{
	struct rs_unflushed *u = fresh();
	uint64_t off;
	unsigned i;

	CU_ASSERT_EQUAL(rs_unflushed_room(u), RS_UNFLUSHED_MAX);
	for (i = 0, off = 0; i < RS_UNFLUSHED_MAX; i++, off += 8192)
		CU_ASSERT_EQUAL(rs_unflushed_add(u, off, 4096, 0, 1), 0);
	CU_ASSERT_EQUAL(rs_unflushed_room(u), 0);
	CU_ASSERT_EQUAL(rs_unflushed_add(u, off + 8192, 4096, 0, 1), -ENOSPC);
	/* a range adjoining the last one still merges */
	CU_ASSERT_EQUAL(rs_unflushed_add(u, off - 4096, 4096, 0, 1), 0);
	CU_ASSERT_EQUAL(u->n, RS_UNFLUSHED_MAX);
	CU_ASSERT_EQUAL(u->bytes, (uint64_t)RS_UNFLUSHED_MAX * 4096 + 4096);
	free(u);
}

static void test_only_the_same_connection_vouches(void)
{
	struct rs_unflushed *u = fresh();
	struct cleared c = { 0 };

	/* a FLUSH sent again on a newer connection (suspend) and answered
	 * there: the target may have restarted, nothing is cleared */
	CU_ASSERT_EQUAL(rs_unflushed_add(u, 0, MIB, 0, 1), 0);
	rs_unflushed_flush_sent(u);
	CU_ASSERT_FALSE(rs_unflushed_flush_done(u, 2, 0, record, &c));
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(u->n, 0);
	CU_ASSERT_FALSE(u->flushing);
	/* a range answered on a newer connection drops the older ones,
	 * covered or not; the old FLUSH's answer then changes nothing */
	rs_unflushed_add(u, 0, MIB, 0, 3);
	rs_unflushed_flush_sent(u);
	rs_unflushed_add(u, 8 * MIB, MIB, 0, 3);
	CU_ASSERT_EQUAL(rs_unflushed_add(u, 4 * MIB, MIB, 0, 4), 0);
	CU_ASSERT_EQUAL(u->n, 1);
	CU_ASSERT_EQUAL(u->bytes, MIB);
	CU_ASSERT_FALSE(u->flushing);
	CU_ASSERT_FALSE(rs_unflushed_flush_done(u, 4, 0, record, &c));
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(u->n, 1);
	/* its own FLUSH on its own connection clears it */
	rs_unflushed_flush_sent(u);
	CU_ASSERT_TRUE(rs_unflushed_flush_done(u, 4, 0, record, &c));
	CU_ASSERT_EQUAL(c.n, 1);
	CU_ASSERT_EQUAL(c.r[0].off, 4 * MIB);
	free(u);
}

static void test_reset_forgets_a_flush_in_flight(void)
{
	struct rs_unflushed *u = fresh();

	rs_unflushed_add(u, 0, MIB, 0, 1);
	rs_unflushed_flush_sent(u);
	rs_unflushed_reset(u);		/* connection lost: bits stay set */
	CU_ASSERT_EQUAL(u->n, 0);
	CU_ASSERT_FALSE(u->flushing);
	rs_unflushed_add(u, 0, MIB, 0, 1);
	CU_ASSERT_TRUE(rs_unflushed_want_flush(u, true, 0));
	free(u);
}

/* A client write the target failed marks its range again: no FLUSH may
 * clear it, whether the range is covered by the FLUSH in flight or not */
static void test_a_new_mark_drops_overlapping_ranges(void)
{
	struct rs_unflushed *u = fresh();
	struct cleared c = { 0 };

	rs_unflushed_add(u, 0, 2 * MIB, 0, 1);
	rs_unflushed_add(u, 4 * MIB, MIB, 0, 1);
	rs_unflushed_flush_sent(u);		/* covers both */
	rs_unflushed_add(u, 8 * MIB, MIB, 0, 1);
	rs_unflushed_add(u, 12 * MIB, MIB, 0, 1);
	CU_ASSERT_EQUAL(rs_unflushed_forget(u, 20 * MIB, MIB), 0);
	CU_ASSERT_EQUAL(rs_unflushed_forget(u, 5 * MIB, 0), 0);	/* empty */
	CU_ASSERT_EQUAL(rs_unflushed_forget(u, 5 * MIB, MIB), 0);	/* adjoins */
	/* inside the first covered range, and across the uncovered pair */
	CU_ASSERT_EQUAL(rs_unflushed_forget(u, MIB, 4096), 1);
	CU_ASSERT_EQUAL(rs_unflushed_forget(u, 9 * MIB - 4096, 4 * MIB), 2);
	CU_ASSERT_EQUAL(u->n, 1);
	CU_ASSERT_EQUAL(u->covered, 1);
	CU_ASSERT_EQUAL(u->bytes, MIB);
	CU_ASSERT_EQUAL(u->covered_bytes, MIB);
	CU_ASSERT_TRUE(rs_unflushed_flush_done(u, 1, 5, record, &c));
	CU_ASSERT_EQUAL(c.n, 1);
	CU_ASSERT_EQUAL(c.r[0].off, 4 * MIB);
	CU_ASSERT_EQUAL(c.r[0].len, MIB);
	CU_ASSERT_EQUAL(u->n, 0);
	CU_ASSERT_EQUAL(u->bytes, 0);
	free(u);
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_adjoining_answers_merge),
	T(test_flush_clears_only_what_it_covers),
	T(test_when_to_flush),
	T(test_a_slow_trickle_flushes_within_a_second),
	T(test_full_refuses_new_ranges),
	T(test_only_the_same_connection_vouches),
	T(test_reset_forgets_a_flush_in_flight),
	T(test_a_new_mark_drops_overlapping_ranges),
#undef T
};

int main(void)
{
	return cunit_main("rs_unflushed", tests,
			  sizeof(tests) / sizeof(tests[0]));
}
