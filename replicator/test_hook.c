/* Test hooks from the environment: see test_hook.h. */
#include <inttypes.h>
#include <stdlib.h>

#include "log.h"
#include "test_hook.h"

uint64_t test_hook_u64(const char *name, const char *meaning)
{
	const char *v = getenv(name);
	uint64_t n = v && *v ? strtoull(v, NULL, 10) : 0;

	if (n)
		log_msg(LOG_WARNING, "test hook %s=%" PRIu64 ": %s", name, n,
			meaning);
	return n;
}
