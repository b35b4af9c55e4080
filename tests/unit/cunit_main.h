/*
 * The shared main() of the CUnit test programs: one suite, a table of
 * tests, verbose output (CI reads CUnit's summary lines). Exit 0 when
 * every test passed, 1 when one failed, 2 when CUnit itself failed.
 */
#ifndef REPD_CUNIT_MAIN_H
#define REPD_CUNIT_MAIN_H

#include <stddef.h>

#include <CUnit/Basic.h>

struct cunit_test {
	const char *name;
	CU_TestFunc fn;
};

static inline int cunit_main(const char *suite_name,
			     const struct cunit_test *tests, size_t n)
{
	CU_pSuite suite;
	unsigned failed;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (!suite)
		goto fail;
	for (i = 0; i < n; i++)
		if (!CU_add_test(suite, tests[i].name, tests[i].fn))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failed = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
fail:
	CU_cleanup_registry();
	return 2;
}

#endif /* REPD_CUNIT_MAIN_H */
