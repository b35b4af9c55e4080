/*
 * CUnit tests of the activity log (replicator/md/md_al.h): hot/cold
 * decisions, LRU eviction, busy slots, the transaction codec, replay after
 * crashes (torn blocks, wraparound, gaps), and the transaction rate for
 * 4k random writes, printed for docs/metadata.md.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "md/md_al.h"
#include "md/md_bitmap.h"
#include "md/md_endian.h"
#include "md_test.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define EXT (4 * MiB)

/* An AL with its ring in memory: what the I/O half would do, minus I/O. */
struct sim {
	struct md_al *al;
	uint8_t *ring;		/* ring_len * 4096 bytes */
	uint32_t ring_len;
	uint64_t trs;		/* transactions written */
	struct md_al_tr last;	/* the last transaction started */
};

static void sim_init(struct sim *s, uint32_t slots, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	assert(md_al_new(slots, EXT, size, &s->al) == 0);
	s->ring_len = md_al_ring_len(s->al);
	s->ring = calloc(s->ring_len, MD_BLOCK_SIZE);
	assert(s->ring);
}

static void sim_free(struct sim *s)
{
	s->al = md_al_free(s->al);
	free(s->ring);
}

static uint8_t *block_of(struct sim *s, uint64_t seq)
{
	return s->ring + (size_t)md_al_tr_block(s->al, seq) * MD_BLOCK_SIZE;
}

/* write_start; a needed transaction is written to the ring and made durable. */
static int sim_start(struct sim *s, uint64_t off, uint64_t len)
{
	uint64_t wait = 0;
	int r = md_al_write_start(s->al, off, len, &s->last, &wait);

	if (r == MD_AL_NEED_TR) {
		assert(md_al_tr_encode(s->al, &s->last, block_of(s, s->last.seq),
				       MD_BLOCK_SIZE) == 0);
		assert(md_al_tr_durable(s->al, s->last.seq) == 0);
		s->trs++;
	}
	return r;
}

/* One whole write to extent e (start + done). */
static void sim_touch(struct sim *s, uint32_t e)
{
	int r = sim_start(s, (uint64_t)e * EXT, 4096);

	assert(r >= 0);
	assert(md_al_write_done(s->al, (uint64_t)e * EXT, 4096) == 0);
}

/* Replay s's ring into the fresh al2; the replay result. */
static int replay_into(struct sim *s, struct md_al *al2, uint32_t *ext,
		       uint32_t *n)
{
	return md_al_replay(al2, s->ring, (size_t)s->ring_len * MD_BLOCK_SIZE,
			    ext, n);
}

/* The set of hot extents of al as a sorted array; returns the count. */
static uint32_t hot_set(const struct md_al *al, uint32_t n_extents,
			uint32_t *out)
{
	uint32_t n = 0;

	for (uint32_t e = 0; e < n_extents; e++)
		if (md_al_is_hot(al, e))
			out[n++] = e;
	return n;
}

static void test_cold_then_hot(void)
{
	struct md_al *al = NULL;
	struct md_al_tr tr;
	uint64_t wait = 99;

	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, GiB, &al), 0);
	CU_ASSERT_EQUAL(md_al_next_seq(al), 1);
	CU_ASSERT_EQUAL(md_al_write_start(al, 4096, 4096, &tr, &wait),
			MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.seq, 1);
	CU_ASSERT_EQUAL(wait, 1);
	CU_ASSERT_EQUAL(tr.n_updates, 1);
	CU_ASSERT_EQUAL(tr.updates[0].slot, 0);
	CU_ASSERT_EQUAL(tr.updates[0].extent, 0);
	CU_ASSERT_EQUAL(tr.updates[0].evicted, MD_AL_NONE);
	CU_ASSERT_EQUAL(tr.ctx_start, 0);
	CU_ASSERT_EQUAL(tr.ctx_count, 67);
	CU_ASSERT_EQUAL(tr.ctx[0], 0);
	CU_ASSERT_EQUAL(tr.ctx[1], MD_AL_NONE);
	CU_ASSERT_EQUAL(tr.ctx[66], MD_AL_NONE);
	CU_ASSERT(md_al_is_hot(al, 0));
	CU_ASSERT_EQUAL(md_al_hot_count(al), 1);
	CU_ASSERT(!md_al_is_durable(al, 1));

	/* Same extent before the transaction is durable: wait for it. */
	CU_ASSERT_EQUAL(md_al_write_start(al, 2 * MiB, 4096, &tr, &wait),
			MD_AL_WAIT_TR);
	CU_ASSERT_EQUAL(wait, 1);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 1), 0);
	CU_ASSERT(md_al_is_durable(al, 1));
	/* Hot and durable: go. */
	CU_ASSERT_EQUAL(md_al_write_start(al, EXT - 4096, 4096, &tr, &wait),
			MD_AL_READY);
	CU_ASSERT_EQUAL(wait, 0);
	CU_ASSERT_EQUAL(md_al_next_seq(al), 2);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(md_al_write_done(al, 8192, 4096), 0);
	/* A fourth done has no write behind it. */
	CU_ASSERT_EQUAL(md_al_write_done(al, 8192, 4096), -EINVAL);
	CU_ASSERT_EQUAL(md_al_write_done(al, EXT, 4096), -EINVAL);
	/* Idle but still hot: no transaction. */
	CU_ASSERT_EQUAL(md_al_write_start(al, 0, 4096, &tr, &wait), MD_AL_READY);
	al = md_al_free(al);
	CU_ASSERT_PTR_NULL(al);
}

static void test_write_spanning_extents(void)
{
	struct md_al *al = NULL;
	struct md_al_tr tr;
	uint64_t wait;

	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, GiB, &al), 0);
	/* 8 KiB across the 4 MiB boundary: extents 0 and 1, one transaction. */
	CU_ASSERT_EQUAL(md_al_write_start(al, EXT - 4096, 8192, &tr, &wait),
			MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.n_updates, 2);
	CU_ASSERT_EQUAL(tr.updates[0].extent, 0);
	CU_ASSERT_EQUAL(tr.updates[1].extent, 1);
	CU_ASSERT_NOT_EQUAL(tr.updates[0].slot, tr.updates[1].slot);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, tr.seq), 0);
	/* Extent 1 hot, extent 2 cold: a transaction for extent 2 only. */
	CU_ASSERT_EQUAL(md_al_write_start(al, 2 * EXT - 4096, 8192, &tr, &wait),
			MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.n_updates, 1);
	CU_ASSERT_EQUAL(tr.updates[0].extent, 2);
	CU_ASSERT_EQUAL(md_al_write_done(al, EXT - 4096, 8192), 0);
	CU_ASSERT_EQUAL(md_al_write_done(al, 2 * EXT - 4096, 8192), 0);
	md_al_free(al);
}

static void test_lru_eviction(void)
{
	struct sim s;

	sim_init(&s, 67, GiB);
	for (uint32_t e = 0; e < 67; e++)
		sim_touch(&s, e);
	CU_ASSERT_EQUAL(s.trs, 67);
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 67);
	/* Refresh extent 0: now extent 1 is the least recently used. */
	CU_ASSERT_EQUAL(sim_start(&s, 0, 4096), MD_AL_READY);
	CU_ASSERT_EQUAL(md_al_write_done(s.al, 0, 4096), 0);
	sim_touch(&s, 100);
	CU_ASSERT_EQUAL(s.last.n_updates, 1);
	CU_ASSERT_EQUAL(s.last.updates[0].extent, 100);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 1);
	CU_ASSERT_EQUAL(s.last.updates[0].slot, 1);
	CU_ASSERT(!md_al_is_hot(s.al, 1));
	CU_ASSERT(md_al_is_hot(s.al, 0));
	sim_touch(&s, 101);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 2);
	/* The evicted extent comes back cold. */
	sim_touch(&s, 1);
	CU_ASSERT_EQUAL(s.last.updates[0].extent, 1);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 3);
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 67);
	sim_free(&s);
}

static void test_busy_extents_not_evicted(void)
{
	struct sim s;
	struct md_al_tr tr;
	uint64_t wait = 5;

	sim_init(&s, 67, GiB);
	/* 67 writes in flight, one per extent: every slot is busy. */
	for (uint32_t e = 0; e < 67; e++)
		CU_ASSERT_EQUAL(sim_start(&s, (uint64_t)e * EXT, 4096),
				MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(md_al_write_start(s.al, 70 * EXT, 4096, &tr, &wait),
			-EBUSY);
	CU_ASSERT_EQUAL(wait, 5);
	CU_ASSERT_EQUAL(md_al_next_seq(s.al), 68);
	CU_ASSERT(!md_al_is_hot(s.al, 70));
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 67);
	/* Hot extents still go. */
	CU_ASSERT_EQUAL(sim_start(&s, 5 * EXT, 4096), MD_AL_READY);
	/* Extent 30 finishes: the next cold extent takes exactly its slot. */
	CU_ASSERT_EQUAL(md_al_write_done(s.al, 30 * EXT, 4096), 0);
	CU_ASSERT_EQUAL(sim_start(&s, 70 * EXT, 4096), MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 30);
	CU_ASSERT_EQUAL(s.last.updates[0].slot, 30);
	/* Extent 5 has two writes in flight; one done is not enough. */
	CU_ASSERT_EQUAL(md_al_write_done(s.al, 5 * EXT, 4096), 0);
	CU_ASSERT_EQUAL(md_al_write_start(s.al, 71 * EXT, 4096, &tr, &wait),
			-EBUSY);
	CU_ASSERT_EQUAL(md_al_write_done(s.al, 5 * EXT, 4096), 0);
	CU_ASSERT_EQUAL(sim_start(&s, 71 * EXT, 4096), MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 5);
	sim_free(&s);
}

static void test_write_never_evicts_its_own_extent(void)
{
	struct sim s;
	struct md_al_tr tr;
	uint64_t wait;

	sim_init(&s, 67, GiB);
	for (uint32_t e = 0; e < 66; e++)
		CU_ASSERT_EQUAL(sim_start(&s, (uint64_t)e * EXT, 4096),
				MD_AL_NEED_TR);
	sim_touch(&s, 66);	/* the only idle slot */
	/* Extents 66 (hot, idle) and 67 (cold): 67 would need 66's slot. */
	CU_ASSERT_EQUAL(md_al_write_start(s.al, 67 * EXT - 4096, 8192, &tr,
					  &wait), -EBUSY);
	CU_ASSERT(md_al_is_hot(s.al, 66));
	/* Extent 67 alone may take it. */
	CU_ASSERT_EQUAL(sim_start(&s, 67 * EXT, 4096), MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(s.last.updates[0].evicted, 66);
	sim_free(&s);
}

static void test_range_errors(void)
{
	struct md_al *al = NULL;
	struct md_al_tr tr;
	uint64_t wait;
	const uint64_t size = 300 * EXT + 4096;

	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, size, &al), 0);
	CU_ASSERT_EQUAL(md_al_write_start(al, 0, 0, &tr, &wait), -EINVAL);
	CU_ASSERT_EQUAL(md_al_write_start(al, size, 1, &tr, &wait), -ERANGE);
	CU_ASSERT_EQUAL(md_al_write_start(al, size - 4096, 4097, &tr, &wait),
			-ERANGE);
	CU_ASSERT_EQUAL(md_al_write_start(al, UINT64_MAX - 1, 2, &tr, &wait),
			-ERANGE);
	/* 65 extents: too many for one transaction. */
	CU_ASSERT_EQUAL(md_al_write_start(al, EXT - 1, 63 * EXT + 2, &tr, &wait),
			-E2BIG);
	CU_ASSERT_EQUAL(md_al_next_seq(al), 1);
	CU_ASSERT_EQUAL(md_al_hot_count(al), 0);
	/* 64 is fine. */
	CU_ASSERT_EQUAL(md_al_write_start(al, EXT, 64 * EXT, &tr, &wait),
			MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.n_updates, 64);
	/* The last, partial extent (300) exists. */
	CU_ASSERT_EQUAL(md_al_write_start(al, size - 4096, 4096, &tr, &wait),
			MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.updates[0].extent, 300);
	CU_ASSERT_EQUAL(md_al_write_done(al, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(md_al_write_done(al, size, 4096), -EINVAL);
	md_al_free(al);

	CU_ASSERT_EQUAL(md_al_new(66, EXT, GiB, &al), -EINVAL);
	CU_ASSERT_EQUAL(md_al_new(67, 3 * MiB, GiB, &al), -EINVAL);
	CU_ASSERT_EQUAL(md_al_new(67, EXT, 0, &al), -EINVAL);
	CU_ASSERT_EQUAL(md_al_new(67, EXT, GiB + 1, &al), -EINVAL);
}

static void test_durable_in_order(void)
{
	struct md_al *al = NULL;
	struct md_al_tr tr;
	uint64_t wait;

	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, GiB, &al), 0);
	CU_ASSERT_EQUAL(md_al_write_start(al, 0, 4096, &tr, &wait), MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(md_al_write_start(al, EXT, 4096, &tr, &wait), MD_AL_NEED_TR);
	CU_ASSERT_EQUAL(tr.seq, 2);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 2), -EINVAL);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 0), -EINVAL);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 1), 0);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 1), -EINVAL);
	CU_ASSERT(!md_al_is_durable(al, 2));
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 2), 0);
	CU_ASSERT_EQUAL(md_al_tr_durable(al, 3), -EINVAL);	/* not issued */
	CU_ASSERT(md_al_is_durable(al, 2));
	md_al_free(al);
}

static void test_tr_codec(void)
{
	static const uint8_t want_hdr[48] = {
		'R', 'E', 'P', 'D', 'M', 'D', 'A', 'L',
		0, 0, 0, 0,				/* crc, checked apart */
		0x01, 0x00, 0x00, 0x00,			/* version */
		0x05, 0, 0, 0, 0, 0, 0, 0,		/* seq 5 */
		0x43, 0x00, 0x00, 0x00,			/* 67 slots */
		0x00, 0x00, 0x40, 0x00,			/* 4 MiB extents */
		0x02, 0x00, 0x00, 0x00,			/* 2 updates */
		0x03, 0x00, 0x00, 0x00,			/* ctx start 3 */
		0x02, 0x00, 0x00, 0x00,			/* ctx count 2 */
		0, 0, 0, 0,
	};
	static const uint8_t want_upd[24] = {
		0x03, 0, 0, 0, 0x0a, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
		0x04, 0, 0, 0, 0xff, 0, 0, 0, 0x07, 0, 0, 0,
	};
	static const uint8_t want_ctx[8] = { 0x0a, 0, 0, 0, 0xff, 0, 0, 0 };
	struct md_al *al = NULL, *other = NULL;
	struct md_al_tr tr, out;
	uint8_t b[MD_BLOCK_SIZE], b2[MD_BLOCK_SIZE];

	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, GiB, &al), 0);
	memset(&tr, 0, sizeof(tr));
	tr.seq = 5;
	tr.n_updates = 2;
	tr.updates[0] = (struct md_al_update){ 3, 10, MD_AL_NONE };
	tr.updates[1] = (struct md_al_update){ 4, 255, 7 };
	tr.ctx_start = 3;
	tr.ctx_count = 2;
	tr.ctx[0] = 10;
	tr.ctx[1] = 255;
	CU_ASSERT_EQUAL_FATAL(md_al_tr_encode(al, &tr, b, sizeof(b)), 0);
	CU_ASSERT_EQUAL(memcmp(b, want_hdr, 8), 0);
	CU_ASSERT_EQUAL(memcmp(b + 12, want_hdr + 12, sizeof(want_hdr) - 12), 0);
	CU_ASSERT_EQUAL(memcmp(b + 64, want_upd, sizeof(want_upd)), 0);
	CU_ASSERT(md_is_zero(b + 64 + 24, 832 - 64 - 24));
	CU_ASSERT_EQUAL(memcmp(b + 832, want_ctx, sizeof(want_ctx)), 0);
	CU_ASSERT(md_is_zero(b + 840, MD_BLOCK_SIZE - 840));
	memcpy(b2, b, sizeof(b));
	memset(b2 + 8, 0, 4);
	CU_ASSERT_EQUAL(md_get_le32(b + 8), md_crc32c(b2, sizeof(b2)));

	CU_ASSERT_EQUAL_FATAL(md_al_tr_decode(al, b, sizeof(b), &out), 0);
	CU_ASSERT_EQUAL(out.seq, 5);
	CU_ASSERT_EQUAL(out.n_updates, 2);
	CU_ASSERT_EQUAL(out.updates[1].evicted, 7);
	CU_ASSERT_EQUAL(out.ctx_start, 3);
	CU_ASSERT_EQUAL(out.ctx_count, 2);
	CU_ASSERT_EQUAL(out.ctx[1], 255);
	CU_ASSERT_EQUAL(md_al_tr_encode(al, &out, b2, sizeof(b2)), 0);
	CU_ASSERT_EQUAL(memcmp(b, b2, sizeof(b)), 0);

	/* Damage, each on a fresh copy. */
	memcpy(b2, b, sizeof(b));
	b2[2000] ^= 1;
	CU_ASSERT_EQUAL(md_al_tr_decode(al, b2, sizeof(b2), &out), -EBADMSG);
	memset(b2, 0, sizeof(b2));
	CU_ASSERT_EQUAL(md_al_tr_decode(al, b2, sizeof(b2), &out), -ENODATA);
	CU_ASSERT_EQUAL(md_al_tr_decode(al, b, sizeof(b) - 1, &out), -EAGAIN);
#define TAMPER(off, val, expect) do {						\
		memcpy(b2, b, sizeof(b));					\
		md_put_le32(b2 + (off), (val));					\
		md_put_le32(b2 + 8, md_block_crc32c(b2, 8));			\
		CU_ASSERT_EQUAL(md_al_tr_decode(al, b2, sizeof(b2), &out),	\
				(expect));					\
	} while (0)
	TAMPER(MD_AL_OFF_VERSION, 2, -EPROTO);
	TAMPER(MD_AL_OFF_VERSION, 0, -EBADMSG);
	TAMPER(MD_AL_OFF_SLOTS, 68, -EBADMSG);
	TAMPER(MD_AL_OFF_EXTENT_SIZE, 8 << 20, -EBADMSG);
	TAMPER(MD_AL_OFF_N_UPDATES, 65, -EBADMSG);
	TAMPER(MD_AL_OFF_N_UPDATES, 1, -EBADMSG);	/* entry 2 not zero */
	TAMPER(MD_AL_OFF_CTX_COUNT, 68, -EBADMSG);
	TAMPER(MD_AL_OFF_CTX_START, 67, -EBADMSG);
	TAMPER(MD_AL_OFF_SEQ, 0, -EBADMSG);
	TAMPER(MD_AL_OFF_UPDATES, 67, -EBADMSG);		/* slot */
	TAMPER(MD_AL_OFF_UPDATES + 4, 256, -EBADMSG);	/* extent >= 256 */
	TAMPER(MD_AL_OFF_UPDATES + 4, MD_AL_NONE, -EBADMSG);
	TAMPER(MD_AL_OFF_CTX + 4, 300, -EBADMSG);
	TAMPER(MD_AL_OFF_CTX + 8, 1, -EBADMSG);		/* past ctx_count */
	TAMPER(44, 1, -EBADMSG);			/* reserved */
	TAMPER(MD_BLOCK_SIZE - 4, 1, -EBADMSG);
	TAMPER(MD_AL_OFF_CTX + 4, MD_AL_NONE, 0);		/* empty slot is fine */
#undef TAMPER
	/* Another geometry does not read this block. */
	CU_ASSERT_EQUAL_FATAL(md_al_new(68, EXT, GiB, &other), 0);
	CU_ASSERT_EQUAL(md_al_tr_decode(other, b, sizeof(b), &out), -EBADMSG);
	md_al_free(other);
	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, 128 * MiB, &other), 0);
	CU_ASSERT_EQUAL(md_al_tr_decode(other, b, sizeof(b), &out), -EBADMSG);
	md_al_free(other);

	CU_ASSERT_EQUAL(md_al_tr_encode(al, &tr, b2, 4095), -ENOBUFS);
	tr.updates[0].extent = 256;
	CU_ASSERT_EQUAL(md_al_tr_encode(al, &tr, b2, sizeof(b2)), -EINVAL);
	md_al_free(al);
}

static void test_replay_empty_ring(void)
{
	struct sim s;
	uint32_t ext[67], n = 9;

	sim_init(&s, 67, GiB);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE, ext, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(md_al_next_seq(s.al), 1);
	/* A ring whose only write, the first, was torn: nothing in flight. */
	memset(s.ring + MD_BLOCK_SIZE, 0x6b, 512);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE, ext, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	sim_free(&s);
}

/*
 * Drive s with n random 4k writes over `extents` extents, keeping up to
 * qd writes in flight (completed oldest first). Leaves them in flight.
 */
static void drive(struct sim *s, uint64_t *seed, unsigned n, uint32_t extents,
		  unsigned qd, uint64_t *q, unsigned *qn)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (md_test_rand(seed) % ((uint64_t)extents * EXT /
						      4096)) * 4096;

		if (*qn == qd) {
			assert(md_al_write_done(s->al, q[0], 4096) == 0);
			memmove(q, q + 1, (qd - 1) * sizeof(*q));
			(*qn)--;
		}
		assert(sim_start(s, off, 4096) >= 0);
		q[(*qn)++] = off;
	}
}

/* Replay s's ring into a new al; check it equals s's current hot set. */
static void check_replay_exact(struct sim *s, uint32_t slots, uint64_t size,
			       uint32_t n_extents)
{
	uint32_t *want = calloc(n_extents, sizeof(uint32_t));
	uint32_t *got = calloc(slots, sizeof(uint32_t));
	uint32_t nw, ng = 0;
	struct md_al *al2 = NULL;

	CU_ASSERT_FATAL(want && got);
	nw = hot_set(s->al, n_extents, want);
	CU_ASSERT_EQUAL_FATAL(md_al_new(slots, EXT, size, &al2), 0);
	CU_ASSERT_EQUAL_FATAL(replay_into(s, al2, got, &ng), 0);
	CU_ASSERT_EQUAL(ng, nw);
	CU_ASSERT_EQUAL(memcmp(want, got, nw * sizeof(uint32_t)), 0);
	CU_ASSERT_EQUAL(md_al_hot_count(al2), nw);
	CU_ASSERT_EQUAL(md_al_next_seq(al2), md_al_next_seq(s->al));
	md_al_free(al2);
	free(want);
	free(got);
}

static void test_replay_wraparound(void)
{
	/* Slots below, at and above one context block (800), many wraps. */
	static const uint32_t slot_counts[] = { 67, 1237, 6433 };
	const uint64_t size = 16 * GiB;

	for (size_t k = 0; k < 3; k++) {
		uint32_t slots = slot_counts[k];
		uint64_t seed = 1000 + k, q[32];
		unsigned qn = 0;
		struct sim s;

		sim_init(&s, slots, size);
		drive(&s, &seed, 30000, 4096, 32, q, &qn);
		CU_ASSERT(s.trs > 20 * s.ring_len);	/* wrapped many times */
		/* 32 writes still in flight at the "crash". */
		check_replay_exact(&s, slots, size, 4096);
		sim_free(&s);
	}
}

static void test_replay_after_torn_write(void)
{
	static const uint32_t slot_counts[] = { 67, 1237, 6433 };
	const uint64_t size = 16 * GiB;

	/* k / 2 picks the slot count, k % 2 how the block is torn. */
	for (size_t k = 0; k < 6; k++) {
		uint32_t slots = slot_counts[k / 2], n_before, ng = 0, e;
		uint32_t *before = calloc(4096, sizeof(uint32_t));
		uint32_t *got = calloc(slots, sizeof(uint32_t));
		uint64_t seed = 77 + k, q[32], wait;
		unsigned qn = 0;
		struct md_al_tr tr;
		struct md_al *al2 = NULL;
		uint8_t blk[MD_BLOCK_SIZE];
		struct sim s;

		CU_ASSERT_FATAL(before && got);
		sim_init(&s, slots, size);
		drive(&s, &seed, 20000, 4096, 32, q, &qn);
		n_before = hot_set(s.al, 4096, before);
		/* A cold extent: its transaction is torn by the crash. */
		for (e = 0; md_al_is_hot(s.al, e); e++)
			;
		CU_ASSERT_EQUAL_FATAL(md_al_write_start(s.al, (uint64_t)e * EXT,
						       4096, &tr, &wait),
				      MD_AL_NEED_TR);
		CU_ASSERT_EQUAL(tr.n_updates, 1);
		CU_ASSERT_EQUAL_FATAL(md_al_tr_encode(s.al, &tr, blk, sizeof(blk)), 0);
		/*
		 * The crash tore the write over the oldest block: either only
		 * sectors 1..7 landed (sector 0 keeps the old header), or
		 * sectors 0..3 landed and 4..7 hold junk.
		 */
		if (k % 2 == 0) {
			memcpy(block_of(&s, tr.seq) + 512, blk + 512,
			       MD_BLOCK_SIZE - 512);
		} else {
			memcpy(block_of(&s, tr.seq), blk, 2048);
			memset(block_of(&s, tr.seq) + 2048, 0x5a, 2048);
		}
		CU_ASSERT_EQUAL_FATAL(md_al_new(slots, EXT, size, &al2), 0);
		CU_ASSERT_EQUAL_FATAL(replay_into(&s, al2, got, &ng), 0);
		/* Exactly the set before: the evicted extent is still there. */
		CU_ASSERT_EQUAL(ng, n_before);
		CU_ASSERT_EQUAL(memcmp(got, before, ng * sizeof(uint32_t)), 0);
		CU_ASSERT(md_al_is_hot(al2, tr.updates[0].evicted) ||
			  tr.updates[0].evicted == MD_AL_NONE);
		/* The replayed AL reuses the torn transaction's seq and block. */
		CU_ASSERT_EQUAL(md_al_next_seq(al2), tr.seq);
		md_al_free(al2);
		sim_free(&s);
		free(before);
		free(got);
	}
}

static void test_replay_continue_and_crash_again(void)
{
	const uint64_t size = 16 * GiB;
	uint64_t seed = 5, q[32];
	unsigned qn = 0;
	uint32_t got[1237], ng;
	struct sim s;

	sim_init(&s, 1237, size);
	drive(&s, &seed, 5000, 4096, 32, q, &qn);
	/* Crash; a new incarnation replays and carries on with the ring. */
	md_al_free(s.al);
	CU_ASSERT_EQUAL_FATAL(md_al_new(1237, EXT, size, &s.al), 0);
	CU_ASSERT_EQUAL_FATAL(md_al_replay(s.al, s.ring,
					   (size_t)s.ring_len * MD_BLOCK_SIZE,
					   got, &ng), 0);
	CU_ASSERT_EQUAL(ng, 1237);
	/* Replay a second time into the same al: it is no longer fresh. */
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring,
				     (size_t)s.ring_len * MD_BLOCK_SIZE, got, &ng),
			-EINVAL);
	qn = 0;
	drive(&s, &seed, 5000, 4096, 32, q, &qn);
	check_replay_exact(&s, 1237, size, 4096);
	sim_free(&s);
}

static void test_replay_gap_complete(void)
{
	/*
	 * 67 slots: every block carries the whole table, so after a gap the
	 * newest run (even one block) still gives the exact set.
	 */
	const uint64_t size = 16 * GiB;
	uint64_t seed = 9, q[32];
	unsigned qn = 0;
	struct sim s;

	sim_init(&s, 67, size);
	drive(&s, &seed, 3000, 4096, 32, q, &qn);
	/* Knock out the block two before the newest. */
	memset(block_of(&s, md_al_next_seq(s.al) - 3), 0, MD_BLOCK_SIZE);
	check_replay_exact(&s, 67, size, 4096);
	/* And the one just before the newest. */
	memset(block_of(&s, md_al_next_seq(s.al) - 2), 0xee, MD_BLOCK_SIZE);
	check_replay_exact(&s, 67, size, 4096);
	sim_free(&s);
}

static void test_replay_gap_incomplete(void)
{
	/*
	 * 6433 slots need 9 consecutive blocks (ring of 10). A gap leaving
	 * only 3 in the newest run: the table cannot be known.
	 */
	const uint64_t size = 64 * GiB;
	uint64_t seed = 11, q[32];
	unsigned qn = 0;
	uint32_t *got = calloc(6433, sizeof(uint32_t)), ng = 12345;
	uint8_t saved[MD_BLOCK_SIZE];
	struct md_al *al2 = NULL;
	struct sim s;

	CU_ASSERT_FATAL(got != NULL);
	sim_init(&s, 6433, size);
	CU_ASSERT_EQUAL(s.ring_len, 10);
	drive(&s, &seed, 40000, 16384, 32, q, &qn);
	memcpy(saved, block_of(&s, md_al_next_seq(s.al) - 4), MD_BLOCK_SIZE);
	memset(block_of(&s, md_al_next_seq(s.al) - 4), 0, MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL_FATAL(md_al_new(6433, EXT, size, &al2), 0);
	CU_ASSERT_EQUAL(replay_into(&s, al2, got, &ng), -EUCLEAN);
	CU_ASSERT_EQUAL(ng, 12345);
	CU_ASSERT_EQUAL(md_al_hot_count(al2), 0);
	CU_ASSERT_EQUAL(md_al_next_seq(al2), 1);
	/* Repaired, the same al (still fresh) replays exactly. */
	memcpy(block_of(&s, md_al_next_seq(s.al) - 4), saved, MD_BLOCK_SIZE);
	CU_ASSERT_EQUAL(replay_into(&s, al2, got, &ng), 0);
	CU_ASSERT_EQUAL(ng, md_al_hot_count(s.al));
	md_al_free(al2);
	/* A short history from seq 1 is complete even with 3 blocks. */
	sim_free(&s);
	sim_init(&s, 6433, size);
	for (uint32_t e = 0; e < 3; e++)
		sim_touch(&s, e * 1000);
	check_replay_exact(&s, 6433, size, 16384);
	sim_free(&s);
	free(got);
}

static void test_replay_ignores_misplaced_block(void)
{
	const uint64_t size = 16 * GiB;
	uint64_t seed = 13, q[32];
	unsigned qn = 0;
	struct sim s;
	uint64_t newest;

	sim_init(&s, 67, size);
	drive(&s, &seed, 2000, 4096, 32, q, &qn);
	newest = md_al_next_seq(s.al) - 1;
	/*
	 * The newest block copied to the wrong index (over the oldest): a
	 * valid block, but not where its seq says; it must not count twice.
	 */
	memcpy(block_of(&s, newest + 1), block_of(&s, newest), MD_BLOCK_SIZE);
	check_replay_exact(&s, 67, size, 4096);
	/*
	 * A valid block claiming a newer seq, but at another seq's place (a
	 * ring of another length left it there): it must not become "newest".
	 */
	struct md_al_tr tr;
	CU_ASSERT_EQUAL_FATAL(md_al_tr_decode(s.al, block_of(&s, newest),
					      MD_BLOCK_SIZE, &tr), 0);
	tr.seq = newest + 5;
	CU_ASSERT_EQUAL_FATAL(md_al_tr_encode(s.al, &tr, block_of(&s, newest + 6),
					      MD_BLOCK_SIZE), 0);
	check_replay_exact(&s, 67, size, 4096);
	sim_free(&s);
}

static void test_replay_length_checks(void)
{
	struct sim s;
	uint32_t got[67], ng;

	sim_init(&s, 67, GiB);
	sim_touch(&s, 3);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE, got, &ng),
			-EINVAL);	/* not fresh */
	md_al_free(s.al);
	CU_ASSERT_EQUAL_FATAL(md_al_new(67, EXT, GiB, &s.al), 0);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE - 1, got,
				     &ng), -EAGAIN);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 9 * MD_BLOCK_SIZE, got, &ng),
			-EINVAL);
	CU_ASSERT_EQUAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE, got, &ng), 0);
	CU_ASSERT_EQUAL(ng, 1);
	CU_ASSERT_EQUAL(got[0], 3);
	sim_free(&s);
}

static void test_replay_dedupes_extents(void)
{
	/*
	 * No writer produces an extent in two slots, but a damaged history
	 * with a good crc might: replay keeps one, so the hash stays sound.
	 */
	struct sim s;
	struct md_al_tr tr;
	uint32_t got[67], ng = 0;
	uint64_t wait;

	sim_init(&s, 67, GiB);
	memset(&tr, 0, sizeof(tr));
	tr.seq = 1;
	tr.ctx_count = 67;
	for (uint32_t i = 0; i < 67; i++)
		tr.ctx[i] = MD_AL_NONE;
	tr.ctx[0] = tr.ctx[1] = tr.ctx[40] = 5;
	tr.ctx[2] = 6;
	CU_ASSERT_EQUAL_FATAL(md_al_tr_encode(s.al, &tr, block_of(&s, 1),
					      MD_BLOCK_SIZE), 0);
	CU_ASSERT_EQUAL_FATAL(md_al_replay(s.al, s.ring, 8 * MD_BLOCK_SIZE, got,
					   &ng), 0);
	CU_ASSERT_EQUAL(ng, 2);
	CU_ASSERT_EQUAL(got[0], 5);
	CU_ASSERT_EQUAL(got[1], 6);
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 2);
	/* 65 empty slots: 65 cold extents fit without evicting 5 or 6. */
	for (uint32_t e = 100; e < 165; e++) {
		CU_ASSERT_EQUAL(md_al_write_start(s.al, (uint64_t)e * EXT, 4096,
						  &tr, &wait), MD_AL_NEED_TR);
		CU_ASSERT_EQUAL(tr.updates[0].evicted, MD_AL_NONE);
		CU_ASSERT_EQUAL(md_al_tr_durable(s.al, tr.seq), 0);
	}
	CU_ASSERT(md_al_is_hot(s.al, 5));
	CU_ASSERT(md_al_is_hot(s.al, 6));
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 67);
	sim_free(&s);
}

static void test_extents_to_bitmap(void)
{
	const uint64_t size = 2 * EXT + 8 * KiB;	/* extent 2 is 8 KiB */
	struct md_bitmap *bm = NULL;
	uint32_t ext[] = { 0, 2 }, bad[] = { 1, 3 };

	CU_ASSERT_EQUAL_FATAL(md_bitmap_new(size, 4096, &bm), 0);
	CU_ASSERT_EQUAL(md_al_extents_to_bitmap(ext, 2, EXT, bm), 0);
	CU_ASSERT_EQUAL(md_bitmap_count(bm), 1024 + 2);
	CU_ASSERT(md_bitmap_test(bm, 0, 1));
	CU_ASSERT(!md_bitmap_test(bm, EXT, EXT));
	CU_ASSERT(md_bitmap_test(bm, size - 1, 1));
	CU_ASSERT_EQUAL(md_al_extents_to_bitmap(bad, 2, EXT, bm), -ERANGE);
	CU_ASSERT(!md_bitmap_test(bm, EXT, EXT));	/* unchanged */
	md_bitmap_free(bm);
}

/*
 * The measured figure: transactions per 1000 4k random writes at QD 32,
 * after warm-up, with writes confined to [0, hot) of a device.
 */
static double tr_per_1000(uint64_t device, uint64_t hot, uint32_t slots,
			  unsigned warmup, unsigned writes, uint64_t seed)
{
	uint64_t q[32], before;
	unsigned qn = 0;
	struct sim s;

	sim_init(&s, slots, device);
	drive(&s, &seed, warmup, (uint32_t)(hot / EXT), 32, q, &qn);
	before = s.trs;
	drive(&s, &seed, writes, (uint32_t)(hot / EXT), 32, q, &qn);
	before = s.trs - before;
	sim_free(&s);
	return 1000.0 * (double)before / writes;
}

/* Streams that have just written [*, end) and nothing else. */
static struct md_al_streams streams_at(uint64_t end)
{
	struct md_al_streams st = { .oldest = 0 };

	for (unsigned i = 0; i < MD_AL_STREAMS; i++)
		st.end[i] = end;
	return st;
}

/*
 * md_al_ahead: a write that continues a stream, with extent
 * last + MD_AL_AHEAD / 2 cold, names the MD_AL_AHEAD extents after its
 * last one; not otherwise.
 */
static void test_ahead_sequential_stream(void)
{
	struct sim s;
	struct md_al_streams st = { .oldest = 0 };
	uint64_t off = 0, len = 0;

	sim_init(&s, 1237, 64 * EXT);
	/* the first write at 0 continues the streams' starting point */
	CU_ASSERT(md_al_ahead(s.al, &st, 0, MiB, &off, &len));
	CU_ASSERT_EQUAL(off, EXT);
	CU_ASSERT_EQUAL(len, MD_AL_AHEAD * EXT);
	CU_ASSERT_EQUAL(st.end[0], MiB);
	/* a write ending in extent 3 looks ahead of 3 */
	st = streams_at(3 * EXT);
	CU_ASSERT(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	CU_ASSERT_EQUAL(off, 4 * EXT);
	CU_ASSERT_EQUAL(len, MD_AL_AHEAD * EXT);
	/* within one extent of a stream's end, either side: still that
	 * stream (its requests arrive a little out of order) */
	st = streams_at(4 * EXT);
	CU_ASSERT(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	st = streams_at(2 * EXT);
	CU_ASSERT(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	/* farther: no stream, nothing */
	st = streams_at(4 * EXT + 4096);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	st = streams_at(2 * EXT - 4096);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	/* the probe extent (3 + MD_AL_AHEAD / 2) hot: nothing to do */
	sim_touch(&s, 3 + MD_AL_AHEAD / 2);
	st = streams_at(3 * EXT);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 3 * EXT, MiB, &off, &len));
	/* md_al_ahead itself changed nothing in the AL */
	CU_ASSERT_EQUAL(md_al_hot_count(s.al), 1);
	sim_free(&s);
}

/* A write that continues no stream replaces the oldest one; the others
 * are followed on. */
static void test_ahead_follows_streams(void)
{
	struct sim s;
	struct md_al_streams st = streams_at(UINT64_C(1) << 40);
	uint64_t off, len, base[MD_AL_STREAMS];
	unsigned i;

	sim_init(&s, 1237, 64 * EXT);
	for (i = 0; i < MD_AL_STREAMS; i++) {
		base[i] = (uint64_t)i * 16 * EXT;
		/* new streams: nothing yet */
		CU_ASSERT_FALSE(md_al_ahead(s.al, &st, base[i], MiB, &off,
					    &len));
	}
	/* each continues, interleaved with the others */
	for (i = 0; i < MD_AL_STREAMS; i++) {
		CU_ASSERT(md_al_ahead(s.al, &st, base[i] + MiB, MiB, &off,
				      &len));
		CU_ASSERT_EQUAL(off, base[i] + EXT);
	}
	/* a fifth one replaces the oldest (stream 0)... */
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 60 * EXT, MiB, &off, &len));
	/* ...stream 1 is still followed, stream 0 is no stream any more */
	CU_ASSERT(md_al_ahead(s.al, &st, base[1] + 2 * MiB, MiB, &off, &len));
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, base[0] + 2 * MiB, MiB, &off,
				    &len));
	sim_free(&s);
}

/* Near the end of the device the range is clamped; a write in the last
 * extent has nothing ahead; bad ranges give nothing. */
static void test_ahead_clamped_at_the_end(void)
{
	struct sim s;
	uint64_t size = 10 * EXT + 8192, off = 0, len = 0;
	struct md_al_streams st = streams_at(7 * EXT);

	sim_init(&s, 1237, size);	/* 11 extents, the last partial */
	CU_ASSERT(md_al_ahead(s.al, &st, 7 * EXT, MiB, &off, &len));
	CU_ASSERT_EQUAL(off, 8 * EXT);
	CU_ASSERT_EQUAL(len, size - 8 * EXT);
	st = streams_at(10 * EXT);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 10 * EXT, 4096, &off, &len));
	st = streams_at(size);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, size, 4096, &off, &len));
	st = streams_at(0);
	CU_ASSERT_FALSE(md_al_ahead(s.al, &st, 0, 0, &off, &len));
	sim_free(&s);
}

/*
 * A sequential stream with read-ahead (what meta.c does: start and done
 * on the range at once) meets no cold extent after the first, and needs
 * fewer transactions than one per extent.
 */
static void test_ahead_stream_never_waits(void)
{
	struct sim s;
	struct md_al_streams st = { .oldest = 0 };
	uint64_t off, len, end = 0, waits = 0;
	uint32_t n_ext = 256;

	sim_init(&s, 1237, (uint64_t)n_ext * EXT);
	for (uint64_t w = 0; w < (uint64_t)n_ext * EXT; w += MiB) {
		uint64_t before = s.trs;
		int r = sim_start(&s, w, MiB);

		CU_ASSERT(r >= 0);
		if (s.trs != before)
			waits++;	/* this write needed a transaction */
		CU_ASSERT_EQUAL(md_al_write_done(s.al, w, MiB), 0);
		if (md_al_ahead(s.al, &st, w, MiB, &off, &len)) {
			CU_ASSERT(sim_start(&s, off, len) >= 0);
			CU_ASSERT_EQUAL(md_al_write_done(s.al, off, len), 0);
			end = off + len;
		}
	}
	CU_ASSERT_EQUAL(waits, 1);		/* extent 0 only */
	CU_ASSERT_EQUAL(end, (uint64_t)n_ext * EXT);
	CU_ASSERT(s.trs < n_ext / 2);
	sim_free(&s);
}

static void test_transaction_rate(void)
{
	static const uint32_t slot_counts[] = { 67, 257, 1237, 6433 };
	const unsigned warm = 50000, n = 200000;
	double hot_1g, dev_16g, cold_1g;

	printf("\n  AL transactions per 1000 4k random writes (QD32, 4 MiB "
	       "extents, %u writes after %u warm-up):\n", n, warm);
	printf("    %6s  %14s  %14s\n", "slots", "1 GiB hot set", "16 GiB device");
	for (size_t k = 0; k < 4; k++) {
		double a = tr_per_1000(16 * GiB, GiB, slot_counts[k], warm, n, 1);
		double b = tr_per_1000(16 * GiB, 16 * GiB, slot_counts[k], warm,
				       n, 2);

		printf("    %6u  %14.3f  %14.3f\n", slot_counts[k], a, b);
	}
	hot_1g = tr_per_1000(16 * GiB, GiB, MD_AL_SLOTS_DEFAULT, warm, n, 1);
	dev_16g = tr_per_1000(16 * GiB, 16 * GiB, MD_AL_SLOTS_DEFAULT, warm, n, 2);
	/* From a cold start: the 256 first-touch transactions included. */
	cold_1g = tr_per_1000(16 * GiB, GiB, MD_AL_SLOTS_DEFAULT, 0, 100000, 1);
	printf("    default %u slots, 1 GiB hot set, 100000 writes from a cold "
	       "start: %.3f\n", MD_AL_SLOTS_DEFAULT, cold_1g);
	CU_ASSERT(cold_1g >= 2.56 && cold_1g < 5.0);
	/* Target of issue 3: under 5 per 1000 for a 1 GiB hot set. */
	CU_ASSERT(hot_1g < 5.0);
	/*
	 * Uniform over 4096 extents with 1237 of them hot, LRU: a write
	 * misses with probability 1 - 1237/4096 = 0.698.
	 */
	CU_ASSERT(dev_16g > 668.0 && dev_16g < 728.0);
	/* With fewer slots than the hot set (67 < 256), it must thrash. */
	CU_ASSERT(tr_per_1000(16 * GiB, GiB, 67, warm / 10, n / 10, 3) > 600.0);
}

int main(void)
{
	CU_TestInfo tests[] = {
		{ "cold then hot", test_cold_then_hot },
		{ "write spanning extents", test_write_spanning_extents },
		{ "LRU eviction", test_lru_eviction },
		{ "busy extents not evicted", test_busy_extents_not_evicted },
		{ "write never evicts its own extent",
		  test_write_never_evicts_its_own_extent },
		{ "range errors", test_range_errors },
		{ "durable in order", test_durable_in_order },
		{ "transaction codec", test_tr_codec },
		{ "replay empty ring", test_replay_empty_ring },
		{ "replay wraparound", test_replay_wraparound },
		{ "replay after torn write", test_replay_after_torn_write },
		{ "replay, continue, crash again",
		  test_replay_continue_and_crash_again },
		{ "replay gap, complete", test_replay_gap_complete },
		{ "replay gap, incomplete", test_replay_gap_incomplete },
		{ "replay ignores misplaced block",
		  test_replay_ignores_misplaced_block },
		{ "replay length checks", test_replay_length_checks },
		{ "replay dedupes extents", test_replay_dedupes_extents },
		{ "extents to bitmap", test_extents_to_bitmap },
		{ "read-ahead for a sequential stream",
		  test_ahead_sequential_stream },
		{ "read-ahead follows several streams",
		  test_ahead_follows_streams },
		{ "read-ahead clamped at the end", test_ahead_clamped_at_the_end },
		{ "a stream with read-ahead never waits",
		  test_ahead_stream_never_waits },
		{ "transaction rate", test_transaction_rate },
		CU_TEST_INFO_NULL,
	};

	return md_test_run("md_al", tests);
}
