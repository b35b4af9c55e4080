/* Resync ranges awaiting the target's FLUSH: see rs_unflushed.h. */
#include <errno.h>
#include <string.h>

#include "rs_unflushed.h"

void rs_unflushed_reset(struct rs_unflushed *u)
{
	u->n = 0;
	u->covered = 0;
	u->bytes = 0;
	u->covered_bytes = 0;
	u->flushing = false;
}

unsigned rs_unflushed_room(const struct rs_unflushed *u)
{
	return RS_UNFLUSHED_MAX - u->n;
}

int rs_unflushed_add(struct rs_unflushed *u, uint64_t off, uint64_t len,
		     uint64_t now_ms, uint64_t conn)
{
	struct rs_unflushed_range *last;

	if (len == 0)
		return 0;
	if (u->n && conn != u->conn)
		rs_unflushed_reset(u);	/* their target may have restarted */
	u->conn = conn;
	last = u->n > u->covered ? &u->r[u->n - 1] : NULL;
	/* merge only into a range the FLUSH in flight does not cover: a
	 * covered range's bits are cleared when that FLUSH is answered */
	if (last && last->off + last->len == off) {
		last->len += len;
	} else if (last && off + len == last->off) {
		last->off = off;
		last->len += len;
	} else {
		if (u->n == RS_UNFLUSHED_MAX)
			return -ENOSPC;
		if (u->n == u->covered)
			u->oldest_ms = now_ms;
		u->r[u->n].off = off;
		u->r[u->n].len = len;
		u->n++;
	}
	u->bytes += len;
	return 0;
}

unsigned rs_unflushed_forget(struct rs_unflushed *u, uint64_t off,
			     uint64_t len)
{
	unsigned i, kept = 0, covered = 0;

	for (i = 0; i < u->n; i++) {
		const struct rs_unflushed_range *r = &u->r[i];

		if (len && r->off < off + len && off < r->off + r->len) {
			u->bytes -= r->len;
			if (i < u->covered)
				u->covered_bytes -= r->len;
			continue;
		}
		if (i < u->covered)
			covered++;
		u->r[kept++] = *r;
	}
	i = u->n - kept;
	u->n = kept;
	u->covered = covered;
	return i;
}

bool rs_unflushed_want_flush(const struct rs_unflushed *u, bool at_end,
			     uint64_t now_ms)
{
	uint64_t waiting = u->bytes - u->covered_bytes;

	if (u->flushing || u->n == u->covered)
		return false;
	return at_end || waiting >= RS_UNFLUSHED_FLUSH_BYTES ||
	       u->n >= RS_UNFLUSHED_MAX / 2 ||
	       now_ms - u->oldest_ms >= RS_UNFLUSHED_FLUSH_MS;
}

void rs_unflushed_flush_sent(struct rs_unflushed *u)
{
	u->flushing = true;
	u->covered = u->n;
	u->covered_bytes = u->bytes;
}

bool rs_unflushed_flush_done(struct rs_unflushed *u, uint64_t conn,
			     uint64_t now_ms,
			     void (*clear)(void *ctx, uint64_t off,
					   uint64_t len),
			     void *ctx)
{
	unsigned i;

	if (!u->flushing)
		return false;
	if (conn != u->conn) {
		/* sent again on a newer connection: it says nothing about
		 * what the target held before */
		rs_unflushed_reset(u);
		return false;
	}
	for (i = 0; i < u->covered; i++)
		clear(ctx, u->r[i].off, u->r[i].len);
	memmove(&u->r[0], &u->r[u->covered],
		(size_t)(u->n - u->covered) * sizeof(u->r[0]));
	u->n -= u->covered;
	u->bytes -= u->covered_bytes;
	u->covered = 0;
	u->covered_bytes = 0;
	u->flushing = false;
	u->oldest_ms = now_ms;	/* the rest could not go with that FLUSH */
	return true;
}
