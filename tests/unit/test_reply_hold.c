/*
 * CUnit tests of replicator/reply_hold: when a connection's small replies
 * wait for more to share their sendmsg, and how a client that waits for
 * its replies makes the holding stop (and how rarely it is tried again).
 */
#undef NDEBUG
#include <stdint.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "reply_hold.h"

#include "cunit_main.h"

#define T0	1000000u	/* an arbitrary start, in microseconds */
#define SMALL	16u		/* a WRITE's reply */

/* Make sends (one small reply each, loop busy) until holding starts:
 * how many were sent at once first. */
static unsigned sends_until_probe(struct reply_hold *h, uint64_t now)
{
	unsigned n = 0;

	while (n < 10 * HOLD_BACKOFF_MAX &&
	       reply_hold_check(h, 1, SMALL, now, false) == REPLY_SEND)
		n++;
	return n;
}

/* A fresh connection sends its first replies at once, then probes. */
static void test_first_probe(void)
{
	struct reply_hold h;

	reply_hold_init(&h);
	CU_ASSERT_EQUAL(sends_until_probe(&h, T0), HOLD_FIRST_PROBE);
	CU_ASSERT(h.holding);
}

/* A pipelining client: replies gather until HOLD_BATCH, then go as one
 * send; holding goes on, batch after batch. */
static void test_pipelining_client_gets_batches(void)
{
	struct reply_hold h;
	uint64_t now = T0;
	unsigned batch, n;

	reply_hold_init(&h);
	sends_until_probe(&h, now);	/* that call held one reply */
	for (batch = 0; batch < 5; batch++) {
		for (n = batch == 0 ? 2 : 1; n < HOLD_BATCH; n++) {
			now += 5;	/* a request every 5 us */
			CU_ASSERT_EQUAL(reply_hold_check(&h, n, n * SMALL,
							 now, false),
					REPLY_HOLD);
		}
		now += 5;
		CU_ASSERT_EQUAL(reply_hold_check(&h, HOLD_BATCH,
						 HOLD_BATCH * SMALL, now,
						 false), REPLY_SEND_BATCH);
		CU_ASSERT(h.holding);
	}
}

/* Enough bytes make a batch before HOLD_BATCH replies (4 KiB READs);
 * one large reply alone is sent at once and changes nothing. */
static void test_bytes_and_large_replies(void)
{
	struct reply_hold h;

	reply_hold_init(&h);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 1, HOLD_BYTES, T0, false),
			REPLY_SEND);
	CU_ASSERT_EQUAL(h.skip, HOLD_FIRST_PROBE);
	sends_until_probe(&h, T0);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 1, HOLD_BYTES * 2, T0, true),
			REPLY_SEND);
	CU_ASSERT(h.holding);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 2, HOLD_BYTES, T0 + 1, false),
			REPLY_SEND_BATCH);
}

/* The loop going idle with replies held means the client waits for
 * them: send, stop holding, and skip 1, 2, 4 ... sends before the next
 * probe, up to HOLD_BACKOFF_MAX; a batch resets the backoff. */
static void test_idle_gives_up_with_backoff(void)
{
	struct reply_hold h;
	uint64_t now = T0;
	unsigned i, want = 1;

	reply_hold_init(&h);
	sends_until_probe(&h, now);
	for (i = 0; i < 14; i++) {
		now += 50;
		CU_ASSERT_EQUAL(reply_hold_check(&h, 1, SMALL, now, true),
				REPLY_SEND_GAVE_UP);
		CU_ASSERT(!h.holding);
		CU_ASSERT_EQUAL(sends_until_probe(&h, now), want);
		want = want * 2 > HOLD_BACKOFF_MAX ? HOLD_BACKOFF_MAX :
			want * 2;
	}
	CU_ASSERT_EQUAL(want, HOLD_BACKOFF_MAX);
	/* the probe held one reply; the client keeps going this time */
	CU_ASSERT_EQUAL(reply_hold_check(&h, HOLD_BATCH, HOLD_BATCH * SMALL,
					 now + 10, false), REPLY_SEND_BATCH);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 1, SMALL, now + 20, true),
			REPLY_SEND_GAVE_UP);
	CU_ASSERT_EQUAL(sends_until_probe(&h, now + 20), 1);
}

/* A busy loop (other connections) never holds a reply longer than
 * HOLD_MAX_AGE_US; the age counts from the first held reply. */
static void test_age_limit(void)
{
	struct reply_hold h;

	reply_hold_init(&h);
	sends_until_probe(&h, T0);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 2, 2 * SMALL,
					 T0 + HOLD_MAX_AGE_US - 1, false),
			REPLY_HOLD);
	CU_ASSERT_EQUAL(reply_hold_check(&h, 2, 2 * SMALL,
					 T0 + HOLD_MAX_AGE_US, false),
			REPLY_SEND_EXPIRED);
	CU_ASSERT(!h.holding);
	CU_ASSERT_EQUAL(h.since_us, 0);
}

/* A queue-depth-1 client over many requests: the replies that waited
 * stay a tiny share, so its latency barely moves. */
static void test_qd1_rarely_waits(void)
{
	struct reply_hold h;
	uint64_t now = T0;
	unsigned i, held = 0;

	reply_hold_init(&h);
	for (i = 0; i < 100000; i++) {
		now += 30;
		if (reply_hold_check(&h, 1, SMALL, now, false) == REPLY_HOLD) {
			held++;
			/* nothing else comes: the loop idles */
			CU_ASSERT_EQUAL(reply_hold_check(&h, 1, SMALL,
							 now + 50, true),
					REPLY_SEND_GAVE_UP);
		}
	}
	CU_ASSERT(held > 0);
	CU_ASSERT(held < 100000 / HOLD_BACKOFF_MAX + 12);
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "first probe", test_first_probe },
		{ "a pipelining client gets batches",
		  test_pipelining_client_gets_batches },
		{ "bytes and large replies", test_bytes_and_large_replies },
		{ "idle gives up, with backoff",
		  test_idle_gives_up_with_backoff },
		{ "age limit", test_age_limit },
		{ "QD1 rarely waits", test_qd1_rarely_waits },
	};

	return cunit_main("reply_hold", tests,
			  sizeof(tests) / sizeof(tests[0]));
}
