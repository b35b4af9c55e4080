/*
 * CUnit tests of replicator/rs_ctl: the resync pace while clients write.
 * Pure: time is passed in, nothing sleeps.
 */
#undef NDEBUG
#include <stdint.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "rs_ctl.h"

#include "cunit_main.h"

#define MIB	(UINT64_C(1) << 20)

/* One period at t: n writes of lat_us during resync; returns the rate. */
static uint64_t period(struct rs_ctl *c, uint64_t *t, unsigned n,
		       uint64_t lat_us)
{
	unsigned i;

	for (i = 0; i < n; i++)
		rs_ctl_sample(c, lat_us, true);
	*t += RS_CTL_PERIOD_US;
	return rs_ctl_rate(c, *t);
}

static void test_starts_within_bounds(void)
{
	struct rs_ctl c;

	rs_ctl_init(&c, MIB, 0);
	CU_ASSERT_EQUAL(rs_ctl_rate(&c, 1000), RS_CTL_START_RATE);
	rs_ctl_init(&c, MIB, 2 * MIB);		/* a low resync-rate */
	CU_ASSERT_EQUAL(rs_ctl_rate(&c, 1000), 2 * MIB);
	rs_ctl_init(&c, 4 * MIB, 2 * MIB);	/* floor above ceiling */
	CU_ASSERT_EQUAL(c.min_rate, 2 * MIB);
	rs_ctl_init(&c, 16 * MIB, 0);		/* floor above start */
	CU_ASSERT_EQUAL(rs_ctl_rate(&c, 1000), 16 * MIB);
}

static void test_halves_when_clients_slow_down(void)
{
	struct rs_ctl c;
	uint64_t t = 1000, r;
	int i;

	rs_ctl_init(&c, MIB, 0);
	for (i = 0; i < 16; i++)
		rs_ctl_sample(&c, 1000, false);		/* baseline 1 ms */
	CU_ASSERT_EQUAL(c.base_us, 1000);
	rs_ctl_rate(&c, t);				/* opens a period */
	r = period(&c, &t, 10, 2000);			/* 2x: too slow */
	CU_ASSERT_EQUAL(r, RS_CTL_START_RATE / 2);
	r = period(&c, &t, 10, 2000);
	CU_ASSERT_EQUAL(r, RS_CTL_START_RATE / 4);
	for (i = 0; i < 10; i++)
		r = period(&c, &t, 10, 5000);
	CU_ASSERT_EQUAL(r, MIB);			/* never below the floor */
	CU_ASSERT_EQUAL(c.decreases, 12);
}

static void test_grows_while_latency_holds(void)
{
	struct rs_ctl c;
	uint64_t t = 1000, r, prev;
	int i;

	rs_ctl_init(&c, MIB, 64 * MIB);
	rs_ctl_sample(&c, 1000, false);
	rs_ctl_rate(&c, t);
	prev = rs_ctl_rate(&c, t);
	for (i = 0; i < 100; i++) {
		r = period(&c, &t, 10, 1200);		/* 1.2x: fine */
		CU_ASSERT(r >= prev);
		prev = r;
	}
	CU_ASSERT_EQUAL(r, 64 * MIB);			/* up to the ceiling */
	/* the additive step: at least RS_CTL_STEP, else an eighth */
	rs_ctl_init(&c, MIB, 0);
	rs_ctl_sample(&c, 1000, false);
	rs_ctl_rate(&c, t);
	CU_ASSERT_EQUAL(period(&c, &t, 1, 1000), RS_CTL_START_RATE + MIB);
}

static void test_no_decision_without_evidence(void)
{
	struct rs_ctl c;
	uint64_t t = 1000;

	rs_ctl_init(&c, MIB, 0);
	rs_ctl_rate(&c, t);
	/* no baseline yet: slow writes decide nothing */
	CU_ASSERT_EQUAL(period(&c, &t, 10, 90000), RS_CTL_START_RATE);
	/* a baseline, but no write overlapped the resync */
	rs_ctl_sample(&c, 1000, false);
	CU_ASSERT_EQUAL(period(&c, &t, 0, 0), RS_CTL_START_RATE);
	/* within the period nothing changes, however slow */
	rs_ctl_sample(&c, 50000, true);
	CU_ASSERT_EQUAL(rs_ctl_rate(&c, t + RS_CTL_PERIOD_US / 2),
			RS_CTL_START_RATE);
	/* a clock that goes back opens a new period instead */
	CU_ASSERT_EQUAL(rs_ctl_rate(&c, 10), RS_CTL_START_RATE);
	CU_ASSERT_EQUAL(c.decreases + c.increases, 0);
}

static void test_baseline_follows_idle_writes(void)
{
	struct rs_ctl c;
	int i;

	rs_ctl_init(&c, MIB, 0);
	rs_ctl_sample(&c, 800, false);
	CU_ASSERT_EQUAL(c.base_us, 800);		/* first sample */
	for (i = 0; i < 64; i++)
		rs_ctl_sample(&c, 4000, false);
	CU_ASSERT(c.base_us > 3900 && c.base_us <= 4000);
	/* writes during resync never move the baseline */
	for (i = 0; i < 64; i++)
		rs_ctl_sample(&c, 90000, true);
	CU_ASSERT(c.base_us > 3900 && c.base_us <= 4000);
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_starts_within_bounds),
	T(test_halves_when_clients_slow_down),
	T(test_grows_while_latency_holds),
	T(test_no_decision_without_evidence),
	T(test_baseline_follows_idle_writes),
#undef T
};

int main(void)
{
	return cunit_main("rs_ctl", tests, sizeof(tests) / sizeof(tests[0]));
}
