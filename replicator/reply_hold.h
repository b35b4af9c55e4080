/*
 * When to hold a connection's small replies back so that several leave in
 * one sendmsg. Pure: the caller passes the time and whether the loop is
 * about to sleep, and sends or holds.
 *
 * Why: under a deep queue of small requests on the page cache, repd
 * answers each request in a few microseconds, faster than a client like
 * fio's nbd engine sends the next, so nearly every reply went out alone:
 * one sendmsg and one TCP segment each, which the client's kernel
 * processes on the client's CPU when the segment lands while the client
 * is inside a send of its own (most of its time). Such a client has most
 * of its replies queued unread anyway; holding ours until a few more
 * join them costs it nothing and takes work off both sides.
 *
 * A client that waits for its replies before sending more (queue depth 1
 * or a few) must not wait for us. The test: while replies are held, does
 * the client keep sending? Holding ends, and counts as a success, once
 * HOLD_BATCH replies (or HOLD_BYTES) have gathered. It ends as a failure
 * when the loop runs out of work while replies are held (busy polling
 * found nothing: the client went quiet, waiting for them) or the oldest
 * held reply is HOLD_MAX_AGE_US old (the loop is busy elsewhere). A
 * failure stops holding for the next `backoff` sends, doubled at each
 * failure in a row up to HOLD_BACKOFF_MAX: a queue-depth-1 client pays
 * one short wait per HOLD_BACKOFF_MAX replies.
 */
#ifndef REPD_REPLY_HOLD_H
#define REPD_REPLY_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOLD_BATCH		8u		/* replies sent together */
#define HOLD_BYTES		(64u << 10)	/* or this many bytes */
#define HOLD_MAX_AGE_US		100u		/* oldest held reply, busy */
#define HOLD_BACKOFF_MAX	1024u		/* sends between probes */
#define HOLD_FIRST_PROBE	64u		/* sends before the first */

struct reply_hold {
	bool holding;		/* replies may wait for more */
	uint64_t since_us;	/* the first held reply waits since; 0: none */
	uint32_t skip;		/* sends to make at once before a probe */
	uint32_t backoff;	/* skip after the next failure */
};

enum reply_hold_verdict {
	REPLY_HOLD,		/* keep them: ask again later */
	REPLY_SEND,		/* send them now: not holding */
	REPLY_SEND_BATCH,	/* a full batch gathered: send (success) */
	REPLY_SEND_GAVE_UP,	/* the loop idles: the client waits for
				 * them; stop holding for a while, send */
	REPLY_SEND_EXPIRED,	/* the same, the oldest HOLD_MAX_AGE_US
				 * old while the loop was busy */
};

/* A fresh state: no holding for the first HOLD_FIRST_PROBE sends. */
void reply_hold_init(struct reply_hold *h);

/*
 * `n` replies (`bytes` bytes) are queued and could be sent now, at now_us;
 * `idle` when the loop has no other work and would sleep otherwise.
 */
enum reply_hold_verdict reply_hold_check(struct reply_hold *h, unsigned n,
					 size_t bytes, uint64_t now_us,
					 bool idle);

#endif /* REPD_REPLY_HOLD_H */
