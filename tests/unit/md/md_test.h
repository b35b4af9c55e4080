/*
 * Shared scaffolding for the md unit tests: one CUnit suite per file, a
 * seeded PRNG so every run sees the same numbers.
 */
#ifndef REPD_MD_TEST_H
#define REPD_MD_TEST_H

#include <stdint.h>
#include <stdio.h>

#include <CUnit/Basic.h>

/* splitmix64: tiny, seedable, good enough to drive tests. */
static inline uint64_t md_test_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Run tests[] (NULL-terminated) as suite name; exit status for meson. */
static inline int md_test_run(const char *name, CU_TestInfo *tests)
{
	CU_SuiteInfo suites[] = {
		{ .pName = name, .pTests = tests },
		CU_SUITE_INFO_NULL,
	};
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	printf("%s: %u tests run, %u asserts, %u failures\n", name,
	       CU_get_number_of_tests_run(), CU_get_number_of_asserts(),
	       CU_get_number_of_failures());
	CU_cleanup_registry();
	return fails ? 1 : 0;
}

#endif
