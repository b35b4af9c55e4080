/*
 * Activity log. See md_al.h for the contract and the caller's protocol,
 * docs/metadata.md for the block format and the reasoning.
 *
 * Lookup extent -> slot is an open-addressed hash table (linear probing,
 * backward-shift deletion) of at least twice the slot count, so no
 * operation allocates or scans the slots.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "md_al.h"
#include "md_bitmap.h"
#include "md_endian.h"

struct md_al {
	uint64_t data_size;		/* bytes covered */
	uint64_t next_seq;		/* seq of the next transaction, >= 1 */
	uint64_t durable_seq;		/* every transaction <= this is durable */
	uint32_t n_slots;		/* S */
	uint32_t ring_len;		/* R, blocks */
	uint32_t extent_size;		/* bytes per extent */
	uint32_t n_extents;		/* extents covering data_size */
	uint32_t ctx_next;		/* first slot of the next context chunk */
	uint32_t n_hot;			/* slots naming an extent */
	uint32_t n_lru;			/* slots on the LRU list (refs == 0) */
	uint32_t hash_bits;		/* log2 of the hash table size */
	uint32_t *ext;			/* [S] extent per slot or MD_AL_NONE */
	uint32_t *refs;			/* [S] writes in flight per slot */
	uint64_t *made_seq;		/* [S] transaction that made the slot hot */
	uint32_t *prev, *next;		/* [S + 1] LRU list, sentinel at index S */
	uint32_t *hash;			/* [1 << hash_bits] slot or MD_AL_NONE */
	/* All arrays share one allocation that follows this struct. */
};

static uint32_t hash_home(const struct md_al *al, uint32_t extent)
{
	return (uint32_t)(extent * UINT32_C(0x9e3779b1)) >> (32 - al->hash_bits);
}

static uint32_t hash_mask(const struct md_al *al)
{
	return (UINT32_C(1) << al->hash_bits) - 1;
}

static uint32_t lookup(const struct md_al *al, uint32_t extent)
{
	uint32_t mask = hash_mask(al);

	for (uint32_t i = hash_home(al, extent);; i = (i + 1) & mask) {
		uint32_t s = al->hash[i];

		if (s == MD_AL_NONE || al->ext[s] == extent)
			return s;
	}
}

static void hash_put(struct md_al *al, uint32_t extent, uint32_t slot)
{
	uint32_t mask = hash_mask(al), i = hash_home(al, extent);

	while (al->hash[i] != MD_AL_NONE)
		i = (i + 1) & mask;
	al->hash[i] = slot;
}

/* Remove extent (present, still in al->ext[]) from the hash table. */
static void hash_del(struct md_al *al, uint32_t extent)
{
	uint32_t mask = hash_mask(al), i = hash_home(al, extent), j;

	while (al->ext[al->hash[i]] != extent)
		i = (i + 1) & mask;
	/* Backward shift: pull later entries of the cluster into the hole. */
	for (j = (i + 1) & mask; al->hash[j] != MD_AL_NONE; j = (j + 1) & mask) {
		uint32_t home = hash_home(al, al->ext[al->hash[j]]);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			al->hash[i] = al->hash[j];
			i = j;
		}
	}
	al->hash[i] = MD_AL_NONE;
}

static void lru_remove(struct md_al *al, uint32_t s)
{
	al->next[al->prev[s]] = al->next[s];
	al->prev[al->next[s]] = al->prev[s];
	al->n_lru--;
}

static void lru_push_tail(struct md_al *al, uint32_t s)
{
	uint32_t head = al->n_slots;

	al->prev[s] = al->prev[head];
	al->next[s] = head;
	al->next[al->prev[head]] = s;
	al->prev[head] = s;
	al->n_lru++;
}

static void lru_reset(struct md_al *al)
{
	al->prev[al->n_slots] = al->next[al->n_slots] = al->n_slots;
	al->n_lru = 0;
}

int md_al_new(uint32_t al_slots, uint32_t al_extent_size, uint64_t data_size,
	      struct md_al **ret_al)
{
	struct md_params p = MD_PARAMS_DEFAULT;
	struct md_al *al;
	uint32_t bits = 1;
	size_t sz;
	char *mem;

	p.al_slots = al_slots;
	p.al_extent_size = al_extent_size;
	if (md_params_check(&p) < 0 || md_data_size_check(&p, data_size) < 0)
		return -EINVAL;
	while ((UINT32_C(1) << bits) < 2 * al_slots)
		bits++;

	sz = sizeof(*al) + (size_t)al_slots * sizeof(uint64_t) +
	     ((size_t)al_slots * 2 + ((size_t)al_slots + 1) * 2 +
	      ((size_t)1 << bits)) * sizeof(uint32_t);
	mem = malloc(sz);
	if (!mem)
		return -ENOMEM;
	al = (struct md_al *)mem;
	memset(al, 0, sizeof(*al));
	/* u64 array first, straight after the struct, to keep it aligned. */
	al->made_seq = (uint64_t *)(mem + sizeof(*al));
	al->ext = (uint32_t *)(al->made_seq + al_slots);
	al->refs = al->ext + al_slots;
	al->prev = al->refs + al_slots;
	al->next = al->prev + al_slots + 1;
	al->hash = al->next + al_slots + 1;

	al->data_size = data_size;
	al->next_seq = 1;
	al->n_slots = al_slots;
	al->ring_len = md_al_ring_blocks(al_slots);
	al->extent_size = al_extent_size;
	al->n_extents = (uint32_t)((data_size + al_extent_size - 1) /
				   al_extent_size);
	al->hash_bits = bits;
	memset(al->made_seq, 0, (size_t)al_slots * sizeof(uint64_t));
	memset(al->refs, 0, (size_t)al_slots * sizeof(uint32_t));
	for (uint32_t s = 0; s < al_slots; s++)
		al->ext[s] = MD_AL_NONE;
	for (uint32_t i = 0; i < (UINT32_C(1) << bits); i++)
		al->hash[i] = MD_AL_NONE;
	lru_reset(al);
	for (uint32_t s = 0; s < al_slots; s++)
		lru_push_tail(al, s);
	*ret_al = al;
	return 0;
}

struct md_al *md_al_free(struct md_al *al)
{
	free(al);
	return NULL;
}

static int check_range(const struct md_al *al, uint64_t off, uint64_t len,
		       uint32_t *first, uint32_t *last)
{
	if (len == 0)
		return -EINVAL;
	if (off >= al->data_size || len > al->data_size - off)
		return -ERANGE;
	*first = (uint32_t)(off / al->extent_size);
	*last = (uint32_t)((off + len - 1) / al->extent_size);
	if (*last - *first >= MD_AL_UPDATES_MAX)
		return -E2BIG;
	return 0;
}

/* Fill tr's context chunk from the slot table and advance the rotation. */
static void fill_context(struct md_al *al, struct md_al_tr *tr)
{
	uint32_t count = al->n_slots < MD_AL_CTX_PER_TR ?
			 al->n_slots : MD_AL_CTX_PER_TR;
	uint32_t first = al->n_slots - al->ctx_next;	/* slots before the wrap */

	if (first > count)
		first = count;
	tr->ctx_start = al->ctx_next;
	tr->ctx_count = count;
	memcpy(tr->ctx, al->ext + al->ctx_next, first * sizeof(uint32_t));
	memcpy(tr->ctx + first, al->ext, (count - first) * sizeof(uint32_t));
	al->ctx_next = (al->ctx_next + count) % al->n_slots;
}

int md_al_write_start(struct md_al *al, uint64_t off, uint64_t len,
		      struct md_al_tr *ret_tr, uint64_t *ret_wait_seq)
{
	uint32_t first, last, cold = 0, idle_hot = 0;
	uint64_t wait = 0;
	int r = check_range(al, off, len, &first, &last);

	if (r < 0)
		return r;

	/* Pass 1: decide, changing nothing, so -EBUSY leaves no trace. */
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = lookup(al, e);

		if (s == MD_AL_NONE) {
			cold++;
			continue;
		}
		if (al->refs[s] == 0)
			idle_hot++;	/* on the LRU, but must not be evicted now */
		if (al->made_seq[s] > al->durable_seq && al->made_seq[s] > wait)
			wait = al->made_seq[s];
	}
	if (cold) {
		if (al->n_lru - idle_hot < cold)
			return -EBUSY;
		if (al->next_seq == UINT64_MAX)
			return -EOVERFLOW;
	}

	/*
	 * Pass 2: pin the hot extents first, so that the evictions below
	 * cannot pick an extent this very write is about to use.
	 */
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = lookup(al, e);

		if (s == MD_AL_NONE)
			continue;
		if (al->refs[s]++ == 0)
			lru_remove(al, s);
	}
	if (!cold) {
		*ret_wait_seq = wait;
		return wait ? MD_AL_WAIT_TR : MD_AL_READY;
	}

	memset(ret_tr, 0, sizeof(*ret_tr));
	ret_tr->seq = al->next_seq++;
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s, old;

		if (lookup(al, e) != MD_AL_NONE)
			continue;
		/* Least recently used idle slot; empty slots come first. */
		s = al->next[al->n_slots];
		assert(s != al->n_slots && al->refs[s] == 0);
		lru_remove(al, s);
		/*
		 * Once this transaction is durable the AL no longer covers old,
		 * so the caller writes old's dirty bitmap pages first (md_al.h).
		 */
		old = al->ext[s];
		if (old != MD_AL_NONE) {
			hash_del(al, old);
			al->n_hot--;
		}
		al->ext[s] = e;
		hash_put(al, e, s);
		al->n_hot++;
		al->refs[s] = 1;
		al->made_seq[s] = ret_tr->seq;
		ret_tr->updates[ret_tr->n_updates++] = (struct md_al_update){
			.slot = s, .extent = e, .evicted = old,
		};
	}
	/* The context shows the table after this transaction's updates. */
	fill_context(al, ret_tr);
	/*
	 * This write waits for the new transaction; since transactions
	 * become durable in seq order, that also covers any older one
	 * found in pass 1.
	 */
	*ret_wait_seq = ret_tr->seq;
	return MD_AL_NEED_TR;
}

int md_al_write_done(struct md_al *al, uint64_t off, uint64_t len)
{
	uint32_t first, last;
	int r = check_range(al, off, len, &first, &last);

	if (r < 0)
		return r == -ERANGE || r == -E2BIG ? -EINVAL : r;
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = lookup(al, e);

		if (s == MD_AL_NONE || al->refs[s] == 0)
			return -EINVAL;
	}
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = lookup(al, e);

		if (--al->refs[s] == 0)
			lru_push_tail(al, s);
	}
	return 0;
}

int md_al_tr_durable(struct md_al *al, uint64_t seq)
{
	if (seq != al->durable_seq + 1 || seq >= al->next_seq)
		return -EINVAL;
	al->durable_seq = seq;
	return 0;
}

bool md_al_is_durable(const struct md_al *al, uint64_t seq)
{
	return seq <= al->durable_seq;
}

uint32_t md_al_tr_block(const struct md_al *al, uint64_t seq)
{
	return (uint32_t)(seq % al->ring_len);
}

uint32_t md_al_slots(const struct md_al *al)
{
	return al->n_slots;
}

uint32_t md_al_ring_len(const struct md_al *al)
{
	return al->ring_len;
}

uint32_t md_al_extent_size(const struct md_al *al)
{
	return al->extent_size;
}

uint32_t md_al_hot_count(const struct md_al *al)
{
	return al->n_hot;
}

bool md_al_is_hot(const struct md_al *al, uint32_t extent)
{
	return lookup(al, extent) != MD_AL_NONE;
}

/* The stream of s that [off, ...) continues, or MD_AL_STREAMS. */
static unsigned stream_of(const struct md_al_streams *s, uint64_t off,
			  uint64_t ext)
{
	unsigned i;

	for (i = 0; i < MD_AL_STREAMS; i++)
		if (off + ext >= s->end[i] && off <= s->end[i] + ext)
			return i;
	return MD_AL_STREAMS;
}

bool md_al_ahead(const struct md_al *al, struct md_al_streams *s,
		 uint64_t off, uint64_t len, uint64_t *ret_off,
		 uint64_t *ret_len)
{
	uint64_t ext = al->extent_size, end;
	uint32_t first, last, probe;
	unsigned i;

	if (check_range(al, off, len, &first, &last) < 0)
		return false;
	i = stream_of(s, off, ext);
	if (i == MD_AL_STREAMS) {
		s->end[s->oldest] = off + len;
		s->oldest = (s->oldest + 1) % MD_AL_STREAMS;
		return false;
	}
	s->end[i] = off + len;
	if (last + 1 >= al->n_extents)
		return false;
	/* at most MD_AL_AHEAD slots: even the smallest AL (MD_AL_SLOTS_MIN,
	 * 67) keeps 59 for the rest */
	probe = last + MD_AL_AHEAD / 2;
	if (probe >= al->n_extents)
		probe = al->n_extents - 1;
	if (md_al_is_hot(al, probe))
		return false;
	end = ((uint64_t)last + 1 + MD_AL_AHEAD) * ext;
	if (end > al->data_size)
		end = al->data_size;
	*ret_off = ((uint64_t)last + 1) * ext;
	*ret_len = end - *ret_off;
	return true;
}

uint64_t md_al_next_seq(const struct md_al *al)
{
	return al->next_seq;
}

static bool extent_ok(const struct md_al *al, uint32_t e, bool none_ok)
{
	return e < al->n_extents || (none_ok && e == MD_AL_NONE);
}

/* 0 if tr fits al's geometry, else -1. */
static int tr_check(const struct md_al *al, const struct md_al_tr *tr)
{
	uint32_t ctx_max = al->n_slots < MD_AL_CTX_PER_TR ?
			   al->n_slots : MD_AL_CTX_PER_TR;

	if (tr->seq == 0 || tr->seq == UINT64_MAX)
		return -1;
	if (tr->n_updates > MD_AL_UPDATES_MAX)
		return -1;
	for (uint32_t i = 0; i < tr->n_updates; i++) {
		const struct md_al_update *u = &tr->updates[i];

		if (u->slot >= al->n_slots || !extent_ok(al, u->extent, false) ||
		    !extent_ok(al, u->evicted, true))
			return -1;
	}
	if (tr->ctx_start >= al->n_slots || tr->ctx_count > ctx_max)
		return -1;
	for (uint32_t i = 0; i < tr->ctx_count; i++)
		if (!extent_ok(al, tr->ctx[i], true))
			return -1;
	return 0;
}

int md_al_tr_encode(const struct md_al *al, const struct md_al_tr *tr,
		    void *buf, size_t len)
{
	uint8_t *b = buf;

	if (len < MD_BLOCK_SIZE)
		return -ENOBUFS;
	if (tr_check(al, tr) < 0)
		return -EINVAL;
	memset(b, 0, MD_BLOCK_SIZE);
	memcpy(b + MD_AL_OFF_MAGIC, MD_AL_MAGIC, 8);
	md_put_le32(b + MD_AL_OFF_VERSION, MD_AL_VERSION);
	md_put_le64(b + MD_AL_OFF_SEQ, tr->seq);
	md_put_le32(b + MD_AL_OFF_SLOTS, al->n_slots);
	md_put_le32(b + MD_AL_OFF_EXTENT_SIZE, al->extent_size);
	md_put_le32(b + MD_AL_OFF_N_UPDATES, tr->n_updates);
	md_put_le32(b + MD_AL_OFF_CTX_START, tr->ctx_start);
	md_put_le32(b + MD_AL_OFF_CTX_COUNT, tr->ctx_count);
	for (uint32_t i = 0; i < tr->n_updates; i++) {
		uint8_t *u = b + MD_AL_OFF_UPDATES + 12 * i;

		md_put_le32(u, tr->updates[i].slot);
		md_put_le32(u + 4, tr->updates[i].extent);
		md_put_le32(u + 8, tr->updates[i].evicted);
	}
	for (uint32_t i = 0; i < tr->ctx_count; i++)
		md_put_le32(b + MD_AL_OFF_CTX + 4 * i, tr->ctx[i]);
	/* The crc goes in last: it covers every other byte of the block. */
	md_put_le32(b + MD_AL_OFF_CRC, md_block_crc32c(b, MD_AL_OFF_CRC));
	return 0;
}

int md_al_tr_decode(const struct md_al *al, const void *buf, size_t len,
		    struct md_al_tr *ret_tr)
{
	const uint8_t *b = buf;
	struct md_al_tr tr;
	uint32_t version;

	if (len < MD_BLOCK_SIZE)
		return -EAGAIN;
	if (md_is_zero(b, MD_BLOCK_SIZE))
		return -ENODATA;
	if (memcmp(b + MD_AL_OFF_MAGIC, MD_AL_MAGIC, 8) != 0)
		return -EBADMSG;
	if (md_get_le32(b + MD_AL_OFF_CRC) != md_block_crc32c(b, MD_AL_OFF_CRC))
		return -EBADMSG;
	version = md_get_le32(b + MD_AL_OFF_VERSION);
	if (version == 0)
		return -EBADMSG;
	if (version > MD_AL_VERSION)
		return -EPROTO;
	if (md_get_le32(b + MD_AL_OFF_SLOTS) != al->n_slots ||
	    md_get_le32(b + MD_AL_OFF_EXTENT_SIZE) != al->extent_size)
		return -EBADMSG;

	memset(&tr, 0, sizeof(tr));
	tr.seq = md_get_le64(b + MD_AL_OFF_SEQ);
	tr.n_updates = md_get_le32(b + MD_AL_OFF_N_UPDATES);
	tr.ctx_start = md_get_le32(b + MD_AL_OFF_CTX_START);
	tr.ctx_count = md_get_le32(b + MD_AL_OFF_CTX_COUNT);
	if (tr.n_updates > MD_AL_UPDATES_MAX || tr.ctx_count > MD_AL_CTX_PER_TR)
		return -EBADMSG;
	for (uint32_t i = 0; i < tr.n_updates; i++) {
		const uint8_t *u = b + MD_AL_OFF_UPDATES + 12 * i;

		tr.updates[i].slot = md_get_le32(u);
		tr.updates[i].extent = md_get_le32(u + 4);
		tr.updates[i].evicted = md_get_le32(u + 8);
	}
	for (uint32_t i = 0; i < tr.ctx_count; i++)
		tr.ctx[i] = md_get_le32(b + MD_AL_OFF_CTX + 4 * i);
	if (tr_check(al, &tr) < 0)
		return -EBADMSG;
	/* Unused entries and reserved bytes are zero: decode inverts encode. */
	if (!md_is_zero(b + MD_AL_OFF_CTX_COUNT + 4,
			MD_AL_OFF_UPDATES - MD_AL_OFF_CTX_COUNT - 4) ||
	    !md_is_zero(b + MD_AL_OFF_UPDATES + 12 * tr.n_updates,
			12 * (MD_AL_UPDATES_MAX - tr.n_updates)) ||
	    !md_is_zero(b + MD_AL_OFF_CTX + 4 * tr.ctx_count,
			MD_BLOCK_SIZE - MD_AL_OFF_CTX - 4 * tr.ctx_count))
		return -EBADMSG;
	*ret_tr = tr;
	return 0;
}

/* Restore the max-heap property below node i of a[0 .. n). */
static void sift_down(uint32_t *a, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t big = i, l = 2 * i + 1, r = 2 * i + 2, t;

		if (l < n && a[l] > a[big])
			big = l;
		if (r < n && a[r] > a[big])
			big = r;
		if (big == i)
			return;
		t = a[i];
		a[i] = a[big];
		a[big] = t;
		i = big;
	}
}

/* Heapsort: in place, O(n log n), and unlike qsort() never allocates. */
static void sort_u32(uint32_t *a, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		sift_down(a, n, i);
	for (uint32_t end = n; end-- > 1;) {
		uint32_t t = a[0];

		a[0] = a[end];
		a[end] = t;
		sift_down(a, end, 0);
	}
}

/* seq of the valid transaction in ring block i, or 0. */
static uint64_t block_seq(const struct md_al *al, const uint8_t *ring,
			  uint32_t i, struct md_al_tr *tr)
{
	if (md_al_tr_decode(al, ring + (size_t)i * MD_BLOCK_SIZE,
			    MD_BLOCK_SIZE, tr) < 0)
		return 0;
	/* A block at the wrong place belongs to another ring geometry. */
	if (md_al_tr_block(al, tr->seq) != i)
		return 0;
	return tr->seq;
}

int md_al_replay(struct md_al *al, const void *ring, size_t len,
		 uint32_t *ret_extents, uint32_t *ret_n)
{
	const uint8_t *rb = ring;
	uint64_t seqs[MD_AL_RING_MAX], newest = 0, oldest;
	uint32_t R = al->ring_len, n = 0, written = 0, next_ctx = 0;
	struct md_al_tr tr;

	if (len < (size_t)R * MD_BLOCK_SIZE)
		return -EAGAIN;
	if (len > (size_t)R * MD_BLOCK_SIZE)
		return -EINVAL;
	if (al->next_seq != 1 || al->n_hot != 0)
		return -EINVAL;

	for (uint32_t i = 0; i < R; i++) {
		seqs[i] = block_seq(al, rb, i, &tr);
		if (seqs[i] > newest)
			newest = seqs[i];
	}
	if (newest == 0) {
		*ret_n = 0;	/* nothing ever durable: nothing in flight */
		return 0;
	}
	/* The newest run of consecutive seqs; older ones predate a gap. */
	oldest = newest;
	while (oldest > 1 && newest - (oldest - 1) < R &&
	       seqs[md_al_tr_block(al, oldest - 1)] == oldest - 1)
		oldest--;

	/*
	 * Rebuild the table in place, oldest first so newer entries win.
	 * al is fresh: ext[] is all MD_AL_NONE and refs[] all zero; refs[]
	 * doubles as "slot named by the run" until the end.
	 */
	for (uint64_t q = oldest; q <= newest; q++) {
		uint64_t got = block_seq(al, rb, md_al_tr_block(al, q), &tr);

		assert(got == q);
		(void)got;
		for (uint32_t i = 0; i < tr.n_updates; i++) {
			al->ext[tr.updates[i].slot] = tr.updates[i].extent;
			written += al->refs[tr.updates[i].slot] == 0;
			al->refs[tr.updates[i].slot] = 1;
		}
		/* The context is the table after the updates: it wins. */
		for (uint32_t i = 0; i < tr.ctx_count; i++) {
			uint32_t s = (tr.ctx_start + i) % al->n_slots;

			al->ext[s] = tr.ctx[i];
			written += al->refs[s] == 0;
			al->refs[s] = 1;
		}
		next_ctx = (tr.ctx_start + tr.ctx_count) % al->n_slots;
	}
	memset(al->refs, 0, (size_t)al->n_slots * sizeof(uint32_t));

	/*
	 * Before seq 1 every slot was empty; otherwise a slot the run never
	 * named held something we cannot know.
	 */
	if (oldest != 1 && written < al->n_slots) {
		for (uint32_t s = 0; s < al->n_slots; s++)
			al->ext[s] = MD_AL_NONE;
		return -EUCLEAN;
	}

	/* Adopt the table: empty slots first on the LRU, then the rest. */
	lru_reset(al);
	for (uint32_t s = 0; s < al->n_slots; s++) {
		/* Only a damaged history names an extent twice; keep one. */
		if (al->ext[s] != MD_AL_NONE && lookup(al, al->ext[s]) != MD_AL_NONE)
			al->ext[s] = MD_AL_NONE;
		if (al->ext[s] == MD_AL_NONE) {
			lru_push_tail(al, s);
			continue;
		}
		hash_put(al, al->ext[s], s);
		al->made_seq[s] = newest;
		al->n_hot++;
		ret_extents[n++] = al->ext[s];
	}
	for (uint32_t s = 0; s < al->n_slots; s++)
		if (al->ext[s] != MD_AL_NONE)
			lru_push_tail(al, s);
	al->next_seq = newest + 1;
	al->durable_seq = newest;
	al->ctx_next = next_ctx;
	sort_u32(ret_extents, n);
	*ret_n = n;
	return 0;
}

int md_al_extents_to_bitmap(const uint32_t *extents, uint32_t n,
			    uint32_t extent_size, struct md_bitmap *bm)
{
	uint64_t size = md_bitmap_data_size(bm);

	for (uint32_t i = 0; i < n; i++)
		if ((uint64_t)extents[i] * extent_size >= size)
			return -ERANGE;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)extents[i] * extent_size;
		uint64_t len = size - off < extent_size ? size - off : extent_size;
		int r = md_bitmap_set(bm, off, len);

		assert(r == 0);
		(void)r;
	}
	return 0;
}
