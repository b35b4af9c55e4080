/* When to hold small replies back for a shared sendmsg (reply_hold.h). */
#include "reply_hold.h"

void reply_hold_init(struct reply_hold *h)
{
	*h = (struct reply_hold){ .skip = HOLD_FIRST_PROBE };
}

static enum reply_hold_verdict give_up(struct reply_hold *h,
				       enum reply_hold_verdict why)
{
	h->holding = false;
	h->since_us = 0;
	h->backoff = h->backoff ? h->backoff * 2 : 1;
	if (h->backoff > HOLD_BACKOFF_MAX)
		h->backoff = HOLD_BACKOFF_MAX;
	h->skip = h->backoff;
	return why;
}

enum reply_hold_verdict reply_hold_check(struct reply_hold *h, unsigned n,
					 size_t bytes, uint64_t now_us,
					 bool idle)
{
	if (n == 1 && bytes >= HOLD_BYTES)
		return REPLY_SEND;	/* one large reply: nothing to gather */
	if (!h->holding) {
		if (h->skip > 0) {
			h->skip--;
			return REPLY_SEND;
		}
		h->holding = true;	/* probe: does the client keep going? */
	}
	if (n >= HOLD_BATCH || bytes >= HOLD_BYTES) {
		/* it sent that many while we held: it does not wait */
		h->since_us = 0;
		h->backoff = 0;
		return REPLY_SEND_BATCH;
	}
	if (!h->since_us)
		h->since_us = now_us ? now_us : 1;
	if (idle)
		return give_up(h, REPLY_SEND_GAVE_UP);
	if (now_us - h->since_us >= HOLD_MAX_AGE_US)
		return give_up(h, REPLY_SEND_EXPIRED);
	return REPLY_HOLD;
}
