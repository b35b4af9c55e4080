/*
 * CUnit tests of replicator/sendq: which bytes one sendmsg carries, how
 * partial sends resume, and where a spliced payload (a READ reply whose
 * data comes from a pipe) stops the gathering.
 */
#undef NDEBUG
#include <stdint.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "sendq.h"

#include "cunit_main.h"

#define N	4

static struct sendq q;
static struct sendq_item it[N];
static uint8_t hdr[N][16], payload[N][100];
static unsigned done_order[N], n_done;

static void done(struct sendq_item *i, void *arg)
{
	CU_ASSERT_PTR_EQUAL(arg, &q);
	CU_ASSERT_FALSE(i->queued);
	done_order[n_done++] = (unsigned)(i - it);
}

/* Item k: a 16-byte header, then plen payload bytes. */
static void reset(const uint32_t plen[N])
{
	memset(&q, 0, sizeof(q));
	memset(it, 0x5a, sizeof(it));	/* garbage, as in a reused context */
	n_done = 0;
	for (unsigned k = 0; k < N; k++) {
		it[k].hdr = hdr[k];
		it[k].hdr_len = sizeof(hdr[k]);
		it[k].payload = payload[k];
		it[k].payload_len = plen[k];
	}
}

static size_t msg_bytes(void)
{
	size_t n = 0;

	for (size_t i = 0; i < q.msg.msg_iovlen; i++)
		n += q.msg.msg_iov[i].iov_len;
	return n;
}

static void test_plain_items_go_in_one_message(void)
{
	reset((const uint32_t[N]){ 100, 0, 50, 0 });
	for (unsigned k = 0; k < N; k++)
		sendq_push(&q, &it[k]);
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_FALSE(q.more);
	CU_ASSERT_EQUAL(q.msg.msg_iovlen, 6);	/* 4 headers, 2 payloads */
	CU_ASSERT_EQUAL(msg_bytes(), 4 * 16 + 150);
	CU_ASSERT_PTR_NULL(sendq_splice_head(&q));

	/* a short send: the first item and 10 bytes of the second */
	sendq_advance(&q, 16 + 100 + 10, done, &q);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_EQUAL(done_order[0], 0);
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_PTR_EQUAL(q.msg.msg_iov[0].iov_base, hdr[1] + 10);
	CU_ASSERT_EQUAL(msg_bytes(), 6 + 16 + 50 + 16);
	sendq_advance(&q, msg_bytes(), done, &q);
	CU_ASSERT_EQUAL(n_done, 4);
	CU_ASSERT_EQUAL(done_order[3], 3);
	CU_ASSERT_FALSE(sendq_prepare(&q));
}

static void test_a_spliced_payload_stops_the_message(void)
{
	reset((const uint32_t[N]){ 100, 4096, 50, 0 });
	sendq_push(&q, &it[0]);
	sendq_push_spliced(&q, &it[1]);
	sendq_push(&q, &it[2]);
	CU_ASSERT_TRUE(it[1].spliced);
	CU_ASSERT_FALSE(it[0].spliced);
	CU_ASSERT_FALSE(it[2].spliced);

	/* item 0 whole, then item 1's header only, with more to follow */
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_TRUE(q.more);
	CU_ASSERT_EQUAL(q.msg.msg_iovlen, 3);
	CU_ASSERT_PTR_EQUAL(q.msg.msg_iov[2].iov_base, hdr[1]);
	CU_ASSERT_EQUAL(msg_bytes(), 16 + 100 + 16);
	CU_ASSERT_PTR_NULL(sendq_splice_head(&q));	/* header not out */

	/* half of item 1's header went: it is still not the pipe's turn */
	sendq_advance(&q, 16 + 100 + 8, done, &q);
	CU_ASSERT_PTR_NULL(sendq_splice_head(&q));
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_EQUAL(msg_bytes(), 8);
	CU_ASSERT_TRUE(q.more);
	sendq_advance(&q, 8, done, &q);

	/* header out: the payload is the owner's to splice, nothing to send */
	CU_ASSERT_PTR_EQUAL(sendq_splice_head(&q), &it[1]);
	CU_ASSERT_FALSE(sendq_prepare(&q));
	sendq_advance(&q, 4000, done, &q);		/* a short splice */
	CU_ASSERT_PTR_EQUAL(sendq_splice_head(&q), &it[1]);
	CU_ASSERT_EQUAL(n_done, 1);
	sendq_advance(&q, 96, done, &q);
	CU_ASSERT_EQUAL(n_done, 2);
	CU_ASSERT_EQUAL(done_order[1], 1);

	/* then the plain item behind it */
	CU_ASSERT_PTR_NULL(sendq_splice_head(&q));
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_FALSE(q.more);
	CU_ASSERT_EQUAL(msg_bytes(), 16 + 50);
}

static void test_a_spliced_item_first_sends_its_header_alone(void)
{
	reset((const uint32_t[N]){ 8192, 8192, 0, 0 });
	sendq_push_spliced(&q, &it[0]);
	sendq_push_spliced(&q, &it[1]);
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_EQUAL(q.msg.msg_iovlen, 1);
	CU_ASSERT_EQUAL(msg_bytes(), 16);
	CU_ASSERT_TRUE(q.more);
	sendq_advance(&q, 16, done, &q);
	CU_ASSERT_PTR_EQUAL(sendq_splice_head(&q), &it[0]);
	sendq_advance(&q, 8192, done, &q);
	/* the next one's header goes by sendmsg again */
	CU_ASSERT_PTR_NULL(sendq_splice_head(&q));
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_EQUAL(msg_bytes(), 16);
	CU_ASSERT_PTR_EQUAL(q.msg.msg_iov[0].iov_base, hdr[1]);
}

static void test_a_reused_item_forgets_it_was_spliced(void)
{
	reset((const uint32_t[N]){ 100, 0, 0, 0 });
	sendq_push_spliced(&q, &it[0]);
	sendq_clear(&q, done, &q);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_PTR_NULL(q.head);

	/* the same context, now a reply with its data in memory */
	sendq_push(&q, &it[0]);
	CU_ASSERT_FALSE(it[0].spliced);
	CU_ASSERT_TRUE(sendq_prepare(&q));
	CU_ASSERT_EQUAL(msg_bytes(), 116);
	CU_ASSERT_FALSE(q.more);

	/* and pushed first, as the handshake's bytes are */
	sendq_clear(&q, done, &q);
	it[1].spliced = true;
	sendq_push_front(&q, &it[1]);
	CU_ASSERT_FALSE(it[1].spliced);
}

static const struct cunit_test tests[] = {
#define T(f) { #f, f }
	T(test_plain_items_go_in_one_message),
	T(test_a_spliced_payload_stops_the_message),
	T(test_a_spliced_item_first_sends_its_header_alone),
	T(test_a_reused_item_forgets_it_was_spliced),
#undef T
};

int main(void)
{
	return cunit_main("sendq", tests, sizeof(tests) / sizeof(tests[0]));
}
