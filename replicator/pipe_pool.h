/*
 * Pipes for read replies sent by splice: the page-cache pages of a large
 * buffered READ go file -> pipe -> socket by reference, so the loop never
 * copies them (the client's receive makes the only copy). Each reply in
 * flight holds a pipe of its own, as reads complete out of order; a pipe
 * is reused once empty and closed if it still holds data that will never
 * be sent (a failed read, a dead connection), since what is left in a
 * pipe cannot be taken back out cheaply.
 */
#ifndef REPD_PIPE_POOL_H
#define REPD_PIPE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#define PIPE_POOL_MIN	(64u << 10)	/* smallest want worth a pipe */
#define PIPE_POOL_BACKOFF_MS	1000u	/* no new pipe for this long after
					 * pipe() failed for want of fds */

struct read_pipe {
	struct read_pipe *next;		/* free list */
	int r, w;			/* read and write ends */
	uint32_t capacity;		/* bytes it holds, at least want */
};

struct pipe_pool {
	struct read_pipe *free;
	unsigned open;			/* pipes in use or free */
	unsigned max;			/* open at most */
	uint32_t want;			/* capacity asked for, then got */
	int last_err;			/* why the last pipe() failed, or 0 */
	uint64_t retry_ms;		/* no pipe() before this time */
};

/* No pipe is created here. Every pipe holds at least want bytes (the
 * kernel rounds up to a power of two pages). If the first pipe may not
 * grow that far, want halves until it may (down to PIPE_POOL_MIN); a
 * later pipe that may not is closed, and the pool stops growing. */
void pipe_pool_init(struct pipe_pool *p, unsigned max, uint32_t want);

/*
 * A pipe that holds at least len bytes, or NULL: len is over want,
 * every pipe is in use, or creating one failed (p->last_err says why).
 * After a failure for want of descriptors or memory (EMFILE, ENFILE,
 * ENOMEM: the connections may give them back) the pool tries again
 * PIPE_POOL_BACKOFF_MS after now_ms; after any other (the user's pipe
 * pages are spent) it stops growing. The caller reads with a copy.
 */
struct read_pipe *pipe_pool_get(struct pipe_pool *p, uint32_t len,
				uint64_t now_ms);

/* Give it back: reused if empty, else closed. */
void pipe_pool_put(struct pipe_pool *p, struct read_pipe *rp, bool empty);

/* Close every free pipe (all must have been put back). */
void pipe_pool_destroy(struct pipe_pool *p);

#endif /* REPD_PIPE_POOL_H */
