/*
 * Group commit for fdatasync: FLUSH requests that arrive while an
 * fdatasync of the store is in flight share the next one, instead of each
 * starting its own.
 *
 * Why that keeps a FLUSH's promise: a FLUSH must make durable every write
 * completed before it arrived. The fdatasync in flight may have started
 * before some of those writes completed, so a newcomer cannot count on
 * it; the next one starts after it ends, so after every write the
 * newcomer must cover. So at most one fdatasync runs at a time and at
 * most one batch waits behind it, however many FLUSHes are in flight.
 *
 * With 4k writes and a FLUSH every few of them at queue depth 32, one
 * fdatasync per FLUSH puts dozens in flight at once, each in its own
 * io_uring worker, all walking the same dirty pages and queueing cache
 * flushes: the batch does the same work once.
 *
 * Pure: start() issues the fdatasync (through the event loop) and the
 * caller passes its result to fsync_batch_done().
 */
#ifndef REPD_FSYNC_BATCH_H
#define REPD_FSYNC_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct fsync_waiter {
	struct fsync_waiter *next;
	/* res: the fdatasync's result (0 or -errno) */
	void (*done)(struct fsync_waiter *w, int res);
};

struct fsync_batch {
	void (*start)(struct fsync_batch *b);	/* issue one fdatasync */
	/* answered by the one in flight; NULL: none in flight */
	struct fsync_waiter *cur;
	struct fsync_waiter *head, *tail; /* wait for the next one */
	uint64_t syncs;			/* fdatasyncs started */
	uint64_t served;		/* waiters answered */
};

void fsync_batch_init(struct fsync_batch *b,
		      void (*start)(struct fsync_batch *b));

/* w waits for an fdatasync that starts after this call; w->done runs from
 * fsync_batch_done(). May call b->start(). */
void fsync_batch_join(struct fsync_batch *b, struct fsync_waiter *w);

/* The fdatasync started by b->start() ended with res. Starts the next one
 * if waiters queued meanwhile, then answers the ones it covered, in the
 * order they joined. Their done() may join again. */
void fsync_batch_done(struct fsync_batch *b, int res);

/* No fdatasync in flight and none waiting. */
bool fsync_batch_idle(const struct fsync_batch *b);

#endif /* REPD_FSYNC_BATCH_H */
