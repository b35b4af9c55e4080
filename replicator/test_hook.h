/*
 * Test hooks: environment variables REPD_TEST_* that make repd misbehave
 * on cue (a disk that starts failing, a FLUSH answered late) for the
 * tests in tests/repl. Read once at start-up; never set in production.
 */
#ifndef REPD_TEST_HOOK_H
#define REPD_TEST_HOOK_H

#include <stdint.h>

/* The value of the environment variable name, 0 if it is unset, empty
 * or 0. A set hook is logged as "test hook NAME=VALUE: meaning". */
uint64_t test_hook_u64(const char *name, const char *meaning);

#endif /* REPD_TEST_HOOK_H */
