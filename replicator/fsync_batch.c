/* Group commit for fdatasync: see fsync_batch.h. */
#include <assert.h>
#include <stddef.h>

#include "fsync_batch.h"

void fsync_batch_init(struct fsync_batch *b,
		      void (*start)(struct fsync_batch *b))
{
	*b = (struct fsync_batch){ .start = start };
}

/* Start an fdatasync for everything queued, if none is in flight. */
static void pump(struct fsync_batch *b)
{
	if (b->cur || !b->head)
		return;
	b->cur = b->head;
	b->head = b->tail = NULL;
	b->syncs++;
	b->start(b);
}

void fsync_batch_join(struct fsync_batch *b, struct fsync_waiter *w)
{
	w->next = NULL;
	if (b->tail)
		b->tail->next = w;
	else
		b->head = w;
	b->tail = w;
	pump(b);
}

void fsync_batch_done(struct fsync_batch *b, int res)
{
	struct fsync_waiter *w = b->cur;

	assert(w);
	b->cur = NULL;
	/* the next batch's fdatasync first: it starts after this one
	 * ended, which is all its waiters need */
	pump(b);
	while (w) {
		struct fsync_waiter *next = w->next;

		b->served++;
		w->done(w, res);
		w = next;
	}
}

bool fsync_batch_idle(const struct fsync_batch *b)
{
	return !b->cur && !b->head;
}
