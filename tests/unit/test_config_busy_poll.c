/*
 * CUnit tests of replicator/config: how `busy-poll` resolves for a node.
 * The default ("auto") depends on the store's mode as opened: spin on the
 * page cache, never on O_DIRECT; a number written anywhere wins.
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "config.h"

#include "cunit_main.h"

static struct config cfg;

/* Load a standalone config whose [resource] adds res_extra and whose
 * node section adds node_extra (either may be ""). */
static void load(const char *res_extra, const char *node_extra)
{
	char path[] = "/tmp/test-config-XXXXXX", err[512];
	FILE *f;
	int fd, r;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	f = fdopen(fd, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "[resource]\nname = r0\n%s\n[node a]\n"
		"disk = /tmp/no-such-disk\nnbd = 127.0.0.1:10809\n"
		"control = /tmp/no-such.ctl\n%s\n", res_extra, node_extra);
	CU_ASSERT_FATAL(fclose(f) == 0);
	r = config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	if (r < 0)
		fprintf(stderr, "config_load: %s\n", err);
	CU_ASSERT_FATAL(r == 0);
}

static unsigned busy_us(bool direct)
{
	const struct config_node *n = config_find_node(&cfg, "a");

	CU_ASSERT_FATAL(n != NULL);
	return config_busy_poll_us(&cfg, n, direct);
}

/* Unset: spin on the page cache, not on O_DIRECT. */
static void test_default_follows_store_mode(void)
{
	load("", "");
	CU_ASSERT_EQUAL(busy_us(false), CONFIG_BUSY_POLL_BUFFERED_US);
	CU_ASSERT_EQUAL(busy_us(true), 0);
}

/* "auto" written out is the default. */
static void test_auto_is_the_default(void)
{
	load("busy-poll = auto", "");
	CU_ASSERT_EQUAL(busy_us(false), CONFIG_BUSY_POLL_BUFFERED_US);
	CU_ASSERT_EQUAL(busy_us(true), 0);
}

/* A number is taken as written, whatever the store's mode. */
static void test_number_wins(void)
{
	load("busy-poll = 0", "");
	CU_ASSERT_EQUAL(busy_us(false), 0);
	CU_ASSERT_EQUAL(busy_us(true), 0);
	load("busy-poll = 20", "");
	CU_ASSERT_EQUAL(busy_us(false), 20);
	CU_ASSERT_EQUAL(busy_us(true), 20);
}

/* A node's own value overrides [resource], "auto" included. */
static void test_node_overrides_resource(void)
{
	load("busy-poll = 0", "busy-poll = auto");
	CU_ASSERT_EQUAL(busy_us(false), CONFIG_BUSY_POLL_BUFFERED_US);
	load("busy-poll = auto", "busy-poll = 7");
	CU_ASSERT_EQUAL(busy_us(true), 7);
}

/* Anything else is refused at load time, naming the key. */
static void test_bad_values_refused(void)
{
	static const char *const bad[] = { "busy-poll = Auto",
		"busy-poll = 1001", "busy-poll = -1", "busy-poll = 5us",
		"busy-poll =" };
	char path[] = "/tmp/test-config-XXXXXX", err[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f;
		int fd = mkstemp(path), r;

		CU_ASSERT_FATAL(fd >= 0);
		f = fdopen(fd, "w");
		CU_ASSERT_FATAL(f != NULL);
		fprintf(f, "[resource]\nname = r0\n%s\n[node a]\n"
			"disk = /tmp/d\nnbd = 127.0.0.1:10809\n"
			"control = /tmp/c.ctl\n", bad[i]);
		CU_ASSERT_FATAL(fclose(f) == 0);
		err[0] = '\0';
		r = config_load(path, &cfg, err, sizeof(err));
		unlink(path);
		CU_ASSERT_EQUAL(r, -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "busy-poll"));
		strcpy(path, "/tmp/test-config-XXXXXX");
	}
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "unset follows the store's mode",
		  test_default_follows_store_mode },
		{ "auto is the default", test_auto_is_the_default },
		{ "a number wins", test_number_wins },
		{ "a node overrides [resource]",
		  test_node_overrides_resource },
		{ "bad values are refused", test_bad_values_refused },
	};

	return cunit_main("config busy-poll", tests,
			  sizeof(tests) / sizeof(tests[0]));
}
