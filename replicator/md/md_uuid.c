/*
 * Generation UUID rules. The truth table is in md_uuid.h; each row is a
 * row of tests/unit/md/test_md_uuid.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "md_uuid.h"

void md_uuid_init(struct md_gen *gen)
{
	*gen = (struct md_gen){ .current = MD_UUID_JUST_CREATED };
}

static bool fresh_c(uint64_t c)
{
	return c == 0 || c == MD_UUID_JUST_CREATED;
}

/* A generation that may match another: not "none", not "no data". */
static bool real(uint64_t u)
{
	return u != 0 && u != MD_UUID_JUST_CREATED;
}

static bool in_history(const struct md_gen *g, uint64_t u)
{
	if (!real(u))
		return false;
	for (unsigned i = 0; i < MD_GEN_HISTORY; i++)
		if (g->history[i] == u)
			return true;
	return false;
}

/* Do {a.B} + a.H and {b.B} + b.H share a real generation? */
static bool common_ancestor(const struct md_gen *a, const struct md_gen *b)
{
	if (in_history(b, a->bitmap) || (real(a->bitmap) && a->bitmap == b->bitmap))
		return true;
	for (unsigned i = 0; i < MD_GEN_HISTORY; i++)
		if (in_history(b, a->history[i]) ||
		    (real(a->history[i]) && a->history[i] == b->bitmap))
			return true;
	return false;
}

static enum md_uuid_verdict verdict(unsigned rule, enum md_uuid_verdict v,
				    unsigned *ret_rule)
{
	if (ret_rule)
		*ret_rule = rule;
	return v;
}

enum md_uuid_verdict md_uuid_compare(const struct md_uuid_side *me,
				     const struct md_uuid_side *peer,
				     unsigned *ret_rule)
{
	const struct md_gen *m = &me->gen, *p = &peer->gen;
	bool my_b_is_peer_c = real(m->bitmap) && m->bitmap == p->current;
	bool my_c_is_peer_b = real(p->bitmap) && m->current == p->bitmap;
	bool peer_c_in_my_h = in_history(m, p->current);
	bool my_c_in_peer_h = in_history(p, m->current);

	if (fresh_c(m->current) && fresh_c(p->current))
		return verdict(10, MD_UUID_BOTH_FRESH, ret_rule);
	if (fresh_c(m->current))
		return verdict(20, MD_UUID_SYNC_TARGET_FULL, ret_rule);
	if (fresh_c(p->current))
		return verdict(30, MD_UUID_SYNC_SOURCE_FULL, ret_rule);

	if (m->current == p->current) {
		bool mc = me->flags & MD_FLAG_CRASHED_PRIMARY;
		bool pc = peer->flags & MD_FLAG_CRASHED_PRIMARY;

		if (!mc && !pc)
			return verdict(40, MD_UUID_NO_SYNC, ret_rule);
		if (mc && !pc)
			return verdict(41, MD_UUID_SYNC_SOURCE_BITMAP, ret_rule);
		if (!mc && pc)
			return verdict(42, MD_UUID_SYNC_TARGET_BITMAP, ret_rule);
		/* Both crashed as primary: a fixed, mirrored tie-break. */
		return verdict(43, me->node_id < peer->node_id ?
				   MD_UUID_SYNC_SOURCE_BITMAP :
				   MD_UUID_SYNC_TARGET_BITMAP, ret_rule);
	}

	if (my_b_is_peer_c && my_c_is_peer_b)
		return verdict(45, MD_UUID_SPLIT_BRAIN, ret_rule);
	if (my_b_is_peer_c)
		return verdict(50, MD_UUID_SYNC_SOURCE_BITMAP, ret_rule);
	if (my_c_is_peer_b)
		return verdict(60, MD_UUID_SYNC_TARGET_BITMAP, ret_rule);
	if (real(m->bitmap) && m->bitmap == p->bitmap)
		return verdict(70, MD_UUID_SPLIT_BRAIN, ret_rule);
	if (peer_c_in_my_h && my_c_in_peer_h)
		return verdict(75, MD_UUID_SPLIT_BRAIN, ret_rule);
	if (peer_c_in_my_h)
		return verdict(80, MD_UUID_SYNC_SOURCE_FULL, ret_rule);
	if (my_c_in_peer_h)
		return verdict(90, MD_UUID_SYNC_TARGET_FULL, ret_rule);
	if (common_ancestor(m, p))
		return verdict(100, MD_UUID_SPLIT_BRAIN, ret_rule);
	return verdict(110, MD_UUID_UNRELATED, ret_rule);
}

static bool in_gen(const struct md_gen *g, uint64_t u)
{
	return g->current == u || g->bitmap == u || in_history(g, u);
}

static void push_history(struct md_gen *g, uint64_t u)
{
	for (unsigned i = MD_GEN_HISTORY - 1; i > 0; i--)
		g->history[i] = g->history[i - 1];
	g->history[0] = u;
}

int md_uuid_new_generation(struct md_gen *gen, uint64_t fresh)
{
	if (!real(fresh) || in_gen(gen, fresh))
		return -EINVAL;
	if (real(gen->current)) {
		if (gen->bitmap == 0)
			gen->bitmap = gen->current;
		else
			push_history(gen, gen->current);
	}
	gen->current = fresh;
	return 0;
}

const char *md_uuid_rule_text(unsigned rule)
{
	switch (rule) {
	case 10: return "both nodes freshly created";
	case 20: return "this node is freshly created";
	case 30: return "the peer is freshly created";
	case 40: return "same current UUID";
	case 41: return "same current UUID, this node crashed as primary";
	case 42: return "same current UUID, the peer crashed as primary";
	case 43: return "same current UUID, both crashed as primary "
			"(tie-break by node id)";
	case 45: return "each bitmap UUID is the other's current UUID";
	case 50: return "my bitmap UUID is the peer's current UUID: this node "
			"is newer";
	case 60: return "the peer's bitmap UUID is my current UUID: the peer "
			"is newer";
	case 70: return "same bitmap UUID, different current UUIDs";
	case 75: return "each current UUID is in the other's history";
	case 80: return "the peer's current UUID is in my history";
	case 90: return "my current UUID is in the peer's history";
	case 100: return "a common ancestor, then different generations";
	case 110: return "no generation in common";
	}
	return NULL;
}

bool md_uuid_never_held_data(const struct md_gen *gen)
{
	unsigned i;

	if (gen->current > MD_UUID_JUST_CREATED || gen->bitmap != 0)
		return false;
	for (i = 0; i < MD_GEN_HISTORY; i++)
		if (gen->history[i] != 0)
			return false;
	return true;
}

void md_uuid_clear_bitmap(struct md_gen *gen)
{
	if (gen->bitmap == 0)
		return;
	push_history(gen, gen->bitmap);
	gen->bitmap = 0;
}

void md_uuid_sync_target_done(struct md_gen *gen, const struct md_gen *source)
{
	*gen = *source;
	md_uuid_clear_bitmap(gen);
}

const char *md_uuid_verdict_name(enum md_uuid_verdict v)
{
	switch (v) {
	case MD_UUID_NO_SYNC:
		return "no-sync";
	case MD_UUID_SYNC_SOURCE_BITMAP:
		return "sync-source-bitmap";
	case MD_UUID_SYNC_TARGET_BITMAP:
		return "sync-target-bitmap";
	case MD_UUID_SYNC_SOURCE_FULL:
		return "sync-source-full";
	case MD_UUID_SYNC_TARGET_FULL:
		return "sync-target-full";
	case MD_UUID_BOTH_FRESH:
		return "both-fresh";
	case MD_UUID_SPLIT_BRAIN:
		return "split-brain";
	case MD_UUID_UNRELATED:
		return "unrelated";
	}
	abort();
}
