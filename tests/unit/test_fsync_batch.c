/*
 * CUnit tests of replicator/fsync_batch: which FLUSHes an fdatasync may
 * answer, and how many fdatasyncs run.
 */
#undef NDEBUG
#include <errno.h>
#include <stdint.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "fsync_batch.h"

#include "cunit_main.h"

#define MAXW	8

/* A fake store: counts the fdatasyncs started, records answers. */
struct rig {
	struct fsync_batch b;
	unsigned started;
	struct fsync_waiter w[MAXW];
	int res[MAXW];		/* 1: not answered yet */
	unsigned order[MAXW], n_answered;
	int rejoin;		/* index done() joins again, or -1 */
};

static struct rig rig;

static void fake_start(struct fsync_batch *b)
{
	CU_ASSERT_PTR_EQUAL(b, &rig.b);
	rig.started++;
}

static void answered(struct fsync_waiter *w, int res)
{
	unsigned i = (unsigned)(w - rig.w);

	CU_ASSERT_FATAL(i < MAXW);
	CU_ASSERT_EQUAL(rig.res[i], 1);	/* answered once */
	rig.res[i] = res;
	rig.order[rig.n_answered++] = i;
	if (rig.rejoin >= 0) {
		int j = rig.rejoin;

		rig.rejoin = -1;
		rig.w[j].done = answered;
		rig.res[j] = 1;
		fsync_batch_join(&rig.b, &rig.w[j]);
	}
}

static void reset(void)
{
	rig = (struct rig){ .rejoin = -1 };
	fsync_batch_init(&rig.b, fake_start);
	for (unsigned i = 0; i < MAXW; i++) {
		rig.w[i].done = answered;
		rig.res[i] = 1;
	}
}

static void test_one_flush_one_sync(void)
{
	reset();
	CU_ASSERT_TRUE(fsync_batch_idle(&rig.b));
	fsync_batch_join(&rig.b, &rig.w[0]);
	CU_ASSERT_EQUAL(rig.started, 1);
	CU_ASSERT_FALSE(fsync_batch_idle(&rig.b));
	CU_ASSERT_EQUAL(rig.res[0], 1);		/* not before it ends */
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[0], 0);
	CU_ASSERT_EQUAL(rig.started, 1);
	CU_ASSERT_TRUE(fsync_batch_idle(&rig.b));
	CU_ASSERT_EQUAL(rig.b.syncs, 1);
	CU_ASSERT_EQUAL(rig.b.served, 1);
}

/* A FLUSH arriving during an fdatasync is not answered by it: writes
 * completed between that fdatasync's start and the FLUSH may be missing. */
static void test_latecomers_wait_for_the_next_sync(void)
{
	reset();
	fsync_batch_join(&rig.b, &rig.w[0]);
	fsync_batch_join(&rig.b, &rig.w[1]);
	fsync_batch_join(&rig.b, &rig.w[2]);
	CU_ASSERT_EQUAL(rig.started, 1);	/* one at a time */
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[0], 0);
	CU_ASSERT_EQUAL(rig.res[1], 1);
	CU_ASSERT_EQUAL(rig.res[2], 1);
	CU_ASSERT_EQUAL(rig.started, 2);	/* one for both latecomers */
	fsync_batch_join(&rig.b, &rig.w[3]);	/* during the second */
	CU_ASSERT_EQUAL(rig.started, 2);
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[1], 0);
	CU_ASSERT_EQUAL(rig.res[2], 0);
	CU_ASSERT_EQUAL(rig.res[3], 1);
	CU_ASSERT_EQUAL(rig.started, 3);
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[3], 0);
	CU_ASSERT_TRUE(fsync_batch_idle(&rig.b));
	CU_ASSERT_EQUAL(rig.b.syncs, 3);
	CU_ASSERT_EQUAL(rig.b.served, 4);
	/* answered in the order they came */
	for (unsigned i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(rig.order[i], i);
}

/* Every FLUSH a failed fdatasync covered gets its error; the next batch
 * its own result. */
static void test_an_error_reaches_the_whole_batch(void)
{
	reset();
	fsync_batch_join(&rig.b, &rig.w[0]);
	fsync_batch_join(&rig.b, &rig.w[1]);
	fsync_batch_join(&rig.b, &rig.w[2]);
	fsync_batch_done(&rig.b, 0);
	fsync_batch_join(&rig.b, &rig.w[3]);
	fsync_batch_done(&rig.b, -EIO);		/* covered 1, 2 */
	CU_ASSERT_EQUAL(rig.res[1], -EIO);
	CU_ASSERT_EQUAL(rig.res[2], -EIO);
	CU_ASSERT_EQUAL(rig.res[3], 1);
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[3], 0);
}

/* An answer that sends the next FLUSH at once (done() joins again):
 * it waits for the fdatasync already started for the queued ones, or
 * one of its own, and is answered exactly once. */
static void test_joining_from_an_answer(void)
{
	reset();
	fsync_batch_join(&rig.b, &rig.w[0]);
	fsync_batch_join(&rig.b, &rig.w[1]);
	rig.rejoin = 2;
	fsync_batch_done(&rig.b, 0);		/* answers 0, 2 joins */
	CU_ASSERT_EQUAL(rig.started, 2);
	CU_ASSERT_EQUAL(rig.res[2], 1);
	fsync_batch_done(&rig.b, 0);		/* covered 1 only */
	CU_ASSERT_EQUAL(rig.res[1], 0);
	CU_ASSERT_EQUAL(rig.res[2], 1);
	CU_ASSERT_EQUAL(rig.started, 3);
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[2], 0);
	CU_ASSERT_TRUE(fsync_batch_idle(&rig.b));

	/* alone: the answer's join starts a new fdatasync itself */
	reset();
	fsync_batch_join(&rig.b, &rig.w[0]);
	rig.rejoin = 1;
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.started, 2);
	CU_ASSERT_FALSE(fsync_batch_idle(&rig.b));
	fsync_batch_done(&rig.b, 0);
	CU_ASSERT_EQUAL(rig.res[1], 0);
	CU_ASSERT_TRUE(fsync_batch_idle(&rig.b));
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_one_flush_one_sync),
	T(test_latecomers_wait_for_the_next_sync),
	T(test_an_error_reaches_the_whole_batch),
	T(test_joining_from_an_answer),
#undef T
};

int main(void)
{
	return cunit_main("fsync_batch", tests,
			  sizeof(tests) / sizeof(tests[0]));
}
