/* Pipes for spliced read replies (see pipe_pool.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipe_pool.h"

void pipe_pool_init(struct pipe_pool *p, unsigned max, uint32_t want)
{
	p->free = NULL;
	p->open = 0;
	p->max = max;
	p->want = want;
	p->last_err = 0;
	p->retry_ms = 0;
}

static void close_pipe(struct pipe_pool *p, struct read_pipe *rp)
{
	close(rp->r);
	close(rp->w);
	free(rp);
	p->open--;
}

/* A new pipe that holds p->want bytes, or NULL with p->last_err set. */
static struct read_pipe *open_pipe(struct pipe_pool *p)
{
	struct read_pipe *rp = malloc(sizeof(*rp));
	int fds[2], sz;

	if (!rp) {
		p->last_err = -ENOMEM;
		return NULL;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		p->last_err = -errno;
		free(rp);
		return NULL;
	}
	/* Without CAP_SYS_RESOURCE (a container's root, say) a pipe grows
	 * to pipe-max-size at most, 1 MiB by default: the first pipe finds
	 * the largest size allowed, and the pool keeps to it. */
	sz = fcntl(fds[1], F_SETPIPE_SZ, (int)p->want);
	while (sz < 0 && errno == EPERM && p->open == 0 &&
	       p->want > PIPE_POOL_MIN) {
		p->want /= 2;
		sz = fcntl(fds[1], F_SETPIPE_SZ, (int)p->want);
	}
	if (sz < 0 || (uint32_t)sz < p->want) {
		/* over the user's pipe pages (pipe-user-pages-soft): keep
		 * to the pipes we have */
		p->last_err = sz < 0 ? -errno : -EPERM;
		close(fds[0]);
		close(fds[1]);
		free(rp);
		return NULL;
	}
	rp->r = fds[0];
	rp->w = fds[1];
	rp->capacity = (uint32_t)sz;
	rp->next = NULL;
	p->open++;
	return rp;
}

static bool out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

struct read_pipe *pipe_pool_get(struct pipe_pool *p, uint32_t len,
				uint64_t now_ms)
{
	struct read_pipe *rp = p->free;

	if (len > p->want)
		return NULL;
	if (rp) {
		p->free = rp->next;
		rp->next = NULL;
		return rp;
	}
	if (p->open >= p->max || now_ms < p->retry_ms)
		return NULL;
	rp = open_pipe(p);
	if (!rp) {	/* no retry per request: the copy path serves */
		if (out_of_resources(p->last_err))
			p->retry_ms = now_ms + PIPE_POOL_BACKOFF_MS;
		else
			p->max = p->open;
		return NULL;
	}
	if (len > rp->capacity) {	/* want just shrank below len */
		pipe_pool_put(p, rp, true);
		return NULL;
	}
	return rp;
}

void pipe_pool_put(struct pipe_pool *p, struct read_pipe *rp, bool empty)
{
	if (!empty) {
		close_pipe(p, rp);
		return;
	}
	rp->next = p->free;
	p->free = rp;
}

void pipe_pool_destroy(struct pipe_pool *p)
{
	while (p->free) {
		struct read_pipe *rp = p->free;

		p->free = rp->next;
		close_pipe(p, rp);
	}
}
