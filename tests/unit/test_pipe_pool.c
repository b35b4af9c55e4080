/*
 * CUnit tests of replicator/pipe_pool: real pipes, reused when empty,
 * closed when not, and a pool that stops at its size.
 */
#undef NDEBUG
#include <fcntl.h>
#include <stdint.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "pipe_pool.h"

#include "cunit_main.h"

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_an_empty_pipe_is_reused(void)
{
	struct pipe_pool p;
	struct read_pipe *a, *b;

	pipe_pool_init(&p, 4, 256u << 10);
	a = pipe_pool_get(&p, 256u << 10, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT(a->capacity >= 256u << 10);
	CU_ASSERT_EQUAL(fcntl(a->w, F_GETPIPE_SZ), (int)a->capacity);
	CU_ASSERT_EQUAL(p.open, 1);
	pipe_pool_put(&p, a, true);
	b = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_EQUAL(b, a);
	CU_ASSERT_EQUAL(p.open, 1);
	pipe_pool_put(&p, b, true);
	pipe_pool_destroy(&p);
	CU_ASSERT_EQUAL(p.open, 0);
}

static void test_a_pipe_with_data_is_closed(void)
{
	struct pipe_pool p;
	struct read_pipe *a, *b;
	int r, w, queued = -1;

	pipe_pool_init(&p, 4, 64u << 10);
	a = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(write(a->w, "left", 4), 4);
	r = a->r;
	w = a->w;
	pipe_pool_put(&p, a, false);
	CU_ASSERT_EQUAL(p.open, 0);
	CU_ASSERT_FALSE(is_open(r));
	CU_ASSERT_FALSE(is_open(w));
	/* the next one is new, and empty */
	b = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(p.open, 1);
	CU_ASSERT_EQUAL(ioctl(b->r, FIONREAD, &queued), 0);
	CU_ASSERT_EQUAL(queued, 0);
	pipe_pool_put(&p, b, true);
	pipe_pool_destroy(&p);
}

static void test_the_pool_stops_at_its_size(void)
{
	struct pipe_pool p;
	struct read_pipe *a, *b, *c;

	pipe_pool_init(&p, 2, 64u << 10);
	a = pipe_pool_get(&p, 4096, 0);
	b = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_EQUAL(a, b);
	c = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(p.last_err, 0);		/* full, not failing */
	pipe_pool_put(&p, a, true);
	c = pipe_pool_get(&p, 4096, 0);
	CU_ASSERT_PTR_EQUAL(c, a);
	pipe_pool_put(&p, b, true);
	pipe_pool_put(&p, c, true);
	pipe_pool_destroy(&p);
}

static void test_a_read_longer_than_a_pipe_gets_none(void)
{
	struct pipe_pool p;

	pipe_pool_init(&p, 2, 64u << 10);
	CU_ASSERT_PTR_NULL(pipe_pool_get(&p, (64u << 10) + 1, 0));
	CU_ASSERT_EQUAL(p.open, 0);
	pipe_pool_destroy(&p);
}

/* Out of descriptors: no pipe, then none tried for a while, then one. */
static void test_out_of_descriptors_backs_off(void)
{
	struct pipe_pool p;
	struct rlimit saved, low;
	struct read_pipe *a;
	int probe = dup(0);

	CU_ASSERT_FATAL(probe >= 0);
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	close(probe);
	/* room for one descriptor, not the two of a pipe */
	low = saved;
	low.rlim_cur = (rlim_t)probe + 1;
	pipe_pool_init(&p, 4, 64u << 10);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
	a = pipe_pool_get(&p, 4096, 5000);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_EQUAL(p.last_err, -EMFILE);
	CU_ASSERT_EQUAL(p.max, 4);		/* not given up for good */

	p.last_err = 0;
	CU_ASSERT_PTR_NULL(pipe_pool_get(&p, 4096, 5999));
	CU_ASSERT_EQUAL(p.last_err, 0);		/* not even tried */
	a = pipe_pool_get(&p, 4096, 6000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	pipe_pool_put(&p, a, true);
	pipe_pool_destroy(&p);
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_an_empty_pipe_is_reused),
	T(test_a_pipe_with_data_is_closed),
	T(test_the_pool_stops_at_its_size),
	T(test_a_read_longer_than_a_pipe_gets_none),
	T(test_out_of_descriptors_backs_off),
#undef T
};

int main(void)
{
	return cunit_main("pipe_pool", tests,
			  sizeof(tests) / sizeof(tests[0]));
}
