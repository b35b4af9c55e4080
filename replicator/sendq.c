/* Ordered send queue with resumable partial sends. */
#include <string.h>

#include "sendq.h"

void sendq_push(struct sendq *q, struct sendq_item *it)
{
	it->next = NULL;
	it->sent = 0;
	it->queued = true;
	it->spliced = false;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
}

void sendq_push_spliced(struct sendq *q, struct sendq_item *it)
{
	sendq_push(q, it);
	it->spliced = true;
}

void sendq_push_front(struct sendq *q, struct sendq_item *it)
{
	it->sent = 0;
	it->queued = true;
	it->spliced = false;
	it->next = q->head;
	q->head = it;
	if (!q->tail)
		q->tail = it;
}

bool sendq_prepare(struct sendq *q)
{
	struct sendq_item *it;
	unsigned n = 0;
	bool more = false;

	for (it = q->head; it && n + 2 <= SENDQ_IOV_MAX; it = it->next) {
		uint32_t skip = it->sent;

		if (skip < it->hdr_len) {
			q->iov[n].iov_base = (void *)(it->hdr + skip);
			q->iov[n++].iov_len = it->hdr_len - skip;
			skip = 0;
		} else {
			skip -= it->hdr_len;
		}
		if (it->spliced) {
			/* the payload goes by splice, after these bytes */
			more = it->payload_len > skip;
			break;
		}
		if (it->payload_len > skip) {
			q->iov[n].iov_base = (void *)(it->payload + skip);
			q->iov[n++].iov_len = it->payload_len - skip;
		}
	}
	q->more = more && n > 0;
	memset(&q->msg, 0, sizeof(q->msg));
	q->msg.msg_iov = q->iov;
	q->msg.msg_iovlen = n;
	return n > 0;
}

struct sendq_item *sendq_splice_head(const struct sendq *q)
{
	const struct sendq_item *it = q->head;

	if (!it || !it->spliced || it->sent < it->hdr_len ||
	    it->sent >= it->hdr_len + it->payload_len)
		return NULL;
	return q->head;
}

static struct sendq_item *pop(struct sendq *q)
{
	struct sendq_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	it->queued = false;
	return it;
}

void sendq_advance(struct sendq *q, size_t res,
		   void (*done)(struct sendq_item *it, void *arg), void *arg)
{
	while (q->head) {
		struct sendq_item *it = q->head;
		uint32_t rest = it->hdr_len + it->payload_len - it->sent;

		if (res < rest) {
			it->sent += (uint32_t)res;
			return;
		}
		res -= rest;
		it->sent += rest;
		done(pop(q), arg);
	}
}

void sendq_clear(struct sendq *q,
		 void (*drop)(struct sendq_item *it, void *arg), void *arg)
{
	while (q->head)
		drop(pop(q), arg);
}
