/*
 * Resync blocks the target has written but not yet made durable.
 *
 * The target answers a resync block once its write completed, and a
 * completed write may still sit in a volatile disk cache: if the target
 * loses power, the block is gone. The source must therefore not clear
 * the block's bit on that answer alone. It records the range here, sends
 * a peer FLUSH now and then (the target answers it once every write it
 * received before is done and fdatasync returned), and clears the bits
 * of the ranges recorded before that FLUSH only when it is answered. A
 * connection lost first leaves the bits set: the next resync sends those
 * blocks again. Every range is tied to the connection its answer came on
 * (a count of connections): only a FLUSH answered on that same
 * connection vouches for it, since a target that restarted in between
 * may have lost its cache. A range answered on a newer connection, or a
 * FLUSH answered on one (on-peer-loss = suspend sends requests again),
 * drops the older ranges.
 *
 * Pure bookkeeping: the server sends the FLUSH and clears the bits.
 * Ranges are kept in answer order; one adjoining the last one recorded
 * is merged into it (a full resync answers mostly in order, so it needs
 * a handful of entries).
 */
#ifndef REPD_RS_UNFLUSHED_H
#define REPD_RS_UNFLUSHED_H

#include <stdbool.h>
#include <stdint.h>

#define RS_UNFLUSHED_MAX	16384u		/* ranges held at most */
/* Flush once this many bytes await one, or half the ranges are used,
 * or the oldest has waited this long (a slow resync's progress, too,
 * becomes durable within about a second) */
#define RS_UNFLUSHED_FLUSH_BYTES	(64ull << 20)
#define RS_UNFLUSHED_FLUSH_MS		1000u

struct rs_unflushed_range {
	uint64_t off, len;
};

struct rs_unflushed {
	struct rs_unflushed_range r[RS_UNFLUSHED_MAX];
	unsigned n;		/* ranges held */
	unsigned covered;	/* r[0..covered) precede the FLUSH in flight */
	uint64_t bytes;		/* in all n ranges */
	uint64_t covered_bytes;	/* in the covered ones */
	bool flushing;		/* a FLUSH is in flight */
	uint64_t oldest_ms;	/* when r[covered] was recorded */
	uint64_t conn;		/* the connection the n ranges came on */
};

/* Forget everything (a new resync, or the connection was lost: the bits
 * are still set). */
void rs_unflushed_reset(struct rs_unflushed *u);

/* The target answered [off, off + len) at now_ms on connection conn. 0,
 * or -ENOSPC when no entry is left (the caller keeps new blocks back
 * until a FLUSH is answered). */
int rs_unflushed_add(struct rs_unflushed *u, uint64_t off, uint64_t len,
		     uint64_t now_ms, uint64_t conn);

/* [off, off + len) was marked out of sync again (a client write the
 * target failed): drop every range that overlaps it, whole, so that no
 * FLUSH clears the new bits (the rest of a dropped range keeps its bits
 * too and goes again). The number of ranges dropped. */
unsigned rs_unflushed_forget(struct rs_unflushed *u, uint64_t off,
			     uint64_t len);

/* Ranges that can still be added, merges aside. */
unsigned rs_unflushed_room(const struct rs_unflushed *u);

/* Should a FLUSH go at now_ms? None in flight, and ranges await one:
 * enough bytes, enough ranges, the oldest for long enough, or at_end
 * (the pass is over and nothing is in flight). */
bool rs_unflushed_want_flush(const struct rs_unflushed *u, bool at_end,
			     uint64_t now_ms);

/* The FLUSH is being sent: the ranges held now are the ones it covers. */
void rs_unflushed_flush_sent(struct rs_unflushed *u);

/* A FLUSH was answered successfully at now_ms on connection conn. If it
 * is the one in flight and conn is the ranges' own: clear(ctx, off, len)
 * for each covered range, which are then dropped, the later ones stay
 * (and count as waiting since now_ms), and true. Answered on another
 * connection: every range is dropped (nothing cleared), false. No FLUSH
 * in flight (the ranges were reset since): nothing happens, false. */
bool rs_unflushed_flush_done(struct rs_unflushed *u, uint64_t conn,
			     uint64_t now_ms,
			     void (*clear)(void *ctx, uint64_t off,
					   uint64_t len),
			     void *ctx);

#endif /* REPD_RS_UNFLUSHED_H */
