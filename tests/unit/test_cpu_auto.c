/*
 * CUnit tests of replicator/cpu_auto: when `cpu = auto` pins the event
 * loop (a narrow stream of small requests) and when it frees it again.
 */
#undef NDEBUG
#include <stdint.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "cpu_auto.h"

#include "cunit_main.h"

#define T0	1000000u	/* an arbitrary start, in microseconds */

/*
 * Feed n requests spread evenly over one window starting at *now, each
 * with `inflight` in flight and `bytes` of data; *now moves to the next
 * window. Returns the first action other than KEEP (KEEP if none), and
 * counts every such action in *changes.
 */
static enum cpu_auto_action window(struct cpu_auto *a, uint64_t *now,
				   unsigned n, unsigned inflight,
				   uint32_t bytes, unsigned *changes)
{
	enum cpu_auto_action first = CPU_AUTO_KEEP, act;
	unsigned i;

	for (i = 0; i < n; i++) {
		act = cpu_auto_admit(a, *now + (uint64_t)i *
				     CPU_AUTO_WINDOW_US / n, inflight, bytes);
		if (act != CPU_AUTO_KEEP) {
			(*changes)++;
			if (first == CPU_AUTO_KEEP)
				first = act;
		}
	}
	*now += CPU_AUTO_WINDOW_US;
	return first;
}

/* Windows of that load, at most max of them, until the first change;
 * its action (KEEP if none), and in *used the windows it took. */
static enum cpu_auto_action until_change(struct cpu_auto *a, uint64_t *now,
					 unsigned max, unsigned n,
					 unsigned inflight, uint32_t bytes,
					 unsigned *used)
{
	enum cpu_auto_action act = CPU_AUTO_KEEP;
	unsigned changes = 0;

	for (*used = 0; *used < max && act == CPU_AUTO_KEEP; (*used)++)
		act = window(a, now, n, inflight, bytes, &changes);
	return act;
}

/* A QD1 stream of 4k writes pins after CPU_AUTO_STREAK windows, once. */
static void test_narrow_stream_pins(void)
{
	struct cpu_auto a = { 0 };
	uint64_t now = T0;
	unsigned changes = 0, w;

	/* a window is judged when the next one's first request comes */
	CU_ASSERT_EQUAL(until_change(&a, &now, 10, 500, 1, 4096, &w),
			CPU_AUTO_PIN);
	CU_ASSERT_EQUAL(w, CPU_AUTO_STREAK + 1);
	CU_ASSERT(a.pinned);
	/* more of the same changes nothing */
	for (w = 0; w < 10; w++)
		window(&a, &now, 500, 1, 4096, &changes);
	CU_ASSERT_EQUAL(changes, 0);
}

/* Deep queues, or large requests, free the loop again. */
static void test_wide_load_unpins(void)
{
	struct cpu_auto a = { 0 };
	uint64_t now = T0;
	unsigned changes = 0, w;

	for (w = 0; w < 5; w++)
		window(&a, &now, 500, 2, 4096, &changes);	/* QD2: narrow */
	CU_ASSERT(a.pinned);
	CU_ASSERT_EQUAL(until_change(&a, &now, 5, 2000, 16, 4096, &w),
			CPU_AUTO_UNPIN);
	CU_ASSERT(!a.pinned);

	/* QD1 of 1 MiB reads is wide too: the copies want both CPUs */
	a = (struct cpu_auto){ 0 };
	changes = 0;
	for (w = 0; w < 10; w++)
		window(&a, &now, 200, 1, 1u << 20, &changes);
	CU_ASSERT(!a.pinned);
	CU_ASSERT_EQUAL(changes, 0);
	/* the limits themselves still count as narrow */
	for (w = 0; w < 5; w++)
		window(&a, &now, 200, CPU_AUTO_MAX_DEPTH, CPU_AUTO_MAX_BYTES,
		       &changes);
	CU_ASSERT(a.pinned);
}

/* One window against the decision in force is not enough to change it. */
static void test_one_odd_window_is_ignored(void)
{
	struct cpu_auto a = { 0 };
	uint64_t now = T0;
	unsigned changes = 0, w;

	CU_ASSERT_EQUAL_FATAL(until_change(&a, &now, 5, 500, 1, 4096, &w),
			      CPU_AUTO_PIN);
	for (w = 0; w < 20; w++) {
		/* every third window a burst at depth 32 */
		window(&a, &now, 500, w % 3 == 2 ? 32 : 1, 4096, &changes);
	}
	CU_ASSERT(a.pinned);
	CU_ASSERT_EQUAL(changes, 0);
}

/* Too few requests to judge: the decision stays, whatever their shape,
 * and a pause breaks a streak. */
static void test_quiet_keeps_decision(void)
{
	struct cpu_auto a = { 0 };
	uint64_t now = T0;
	unsigned changes = 0, w;

	for (w = 0; w < 10; w++)
		window(&a, &now, CPU_AUTO_MIN_REQS - 1, 1, 4096, &changes);
	CU_ASSERT(!a.pinned);
	CU_ASSERT_EQUAL(changes, 0);

	/* one narrow window, a long pause, one narrow window: no streak */
	window(&a, &now, 500, 1, 4096, &changes);
	now += 10 * CPU_AUTO_WINDOW_US;
	window(&a, &now, 500, 1, 4096, &changes);
	now += 10 * CPU_AUTO_WINDOW_US;
	window(&a, &now, 1, 1, 4096, &changes);
	CU_ASSERT(!a.pinned);
	CU_ASSERT_EQUAL(changes, 0);
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "a narrow stream pins", test_narrow_stream_pins },
		{ "a wide load unpins", test_wide_load_unpins },
		{ "one odd window is ignored", test_one_odd_window_is_ignored },
		{ "quiet windows keep the decision", test_quiet_keeps_decision },
	};

	return cunit_main("cpu_auto", tests, sizeof(tests) / sizeof(tests[0]));
}
