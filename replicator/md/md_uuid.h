/*
 * Generation UUIDs: who has the newer data, and how to resync. Pure
 * functions over struct md_gen (md_format.h); the caller draws random
 * numbers and stores the superblock.
 *
 * Meaning (as DRBD): C is the generation of the data now. B, when not 0,
 * is the generation at which the bitmap started counting changes: every
 * block written since generation B is set in the bitmap. H are older
 * generations this data descends from, newest first. 0 is "none";
 * MD_UUID_JUST_CREATED as C means the node never held data.
 *
 * Life cycle:
 *  - create-md:                     md_uuid_init: C = JUST_CREATED.
 *  - first write while apart from the peer (a primary that lost it, or
 *    one promoted while apart; also `promote --force` of a fresh node):
 *                                   md_uuid_new_generation.
 *  - resync finished, on the source: md_uuid_clear_bitmap.
 *  - resync finished, on the target: md_uuid_sync_target_done.
 *
 * md_uuid_compare, first matching row wins ("me" is the local node; a C
 * of 0 counts as JUST_CREATED; B and H entries match only when they are
 * real generations, neither 0 nor JUST_CREATED; "crashed" is
 * MD_FLAG_CRASHED_PRIMARY):
 *
 *  rule | condition                               | verdict
 *  -----+-----------------------------------------+----------------------
 *   10  | my C and peer C both JUST_CREATED       | BOTH_FRESH
 *   20  | my C JUST_CREATED                       | SYNC_TARGET_FULL
 *   30  | peer C JUST_CREATED                     | SYNC_SOURCE_FULL
 *   40  | my C == peer C, neither crashed         | NO_SYNC
 *   41  | my C == peer C, only I crashed          | SYNC_SOURCE_BITMAP
 *   42  | my C == peer C, only the peer crashed   | SYNC_TARGET_BITMAP
 *   43  | my C == peer C, both crashed            | lower node id is
 *       |                                         | SYNC_SOURCE_BITMAP,
 *       |                                         | higher TARGET_BITMAP
 *   45  | my B == peer C and my C == peer B       | SPLIT_BRAIN
 *   50  | my B == peer C                          | SYNC_SOURCE_BITMAP
 *   60  | my C == peer B                          | SYNC_TARGET_BITMAP
 *   70  | my B == peer B                          | SPLIT_BRAIN
 *   75  | peer C in my H and my C in peer H       | SPLIT_BRAIN
 *   80  | peer C in my H                          | SYNC_SOURCE_FULL
 *   90  | my C in peer H                          | SYNC_TARGET_FULL
 *  100  | {my B} + my H meets {peer B} + peer H   | SPLIT_BRAIN
 *  110  | otherwise                               | UNRELATED
 *
 * Why: 41-43: equal C means the same generation, but a crashed primary's
 * AL extents (already ORed into its bitmap at open) may hold writes the
 * peer never saw, so they go from the crashed node. 50/60: the newer side
 * counted every change since the other's generation in its bitmap.
 * 70: both moved on from the same generation: split brain, refuse
 * (an operator resolves it with --discard-my-data). 80/90: the other
 * side is an ancestor older than the bitmap covers: full resync. 100: a
 * common ancestor but both moved on: split brain. 45 and 75: each side
 * claims to descend from the other, a history no rule produces; refuse
 * rather than let both be sources. Swapping me and peer mirrors every
 * verdict (source <-> target), which the tests check row by row.
 */
#ifndef REPD_MD_UUID_H
#define REPD_MD_UUID_H

#include <stdbool.h>
#include <stdint.h>

#include "md_format.h"

enum md_uuid_verdict {
	MD_UUID_NO_SYNC,		/* in sync */
	MD_UUID_SYNC_SOURCE_BITMAP,	/* I send the blocks in (merged) bitmaps */
	MD_UUID_SYNC_TARGET_BITMAP,	/* I receive them */
	MD_UUID_SYNC_SOURCE_FULL,	/* I send every block */
	MD_UUID_SYNC_TARGET_FULL,	/* I receive every block */
	MD_UUID_BOTH_FRESH,		/* neither has data: wait for promote --force */
	MD_UUID_SPLIT_BRAIN,		/* both diverged: refuse, operator decides */
	MD_UUID_UNRELATED,		/* no common generation: refuse */
};

/* One side of a comparison. */
struct md_uuid_side {
	struct md_gen gen;
	uint32_t flags;		/* MD_FLAG_*; only CRASHED_PRIMARY matters */
	uint32_t node_id;	/* tie-break of rule 43; the two must differ */
};

/*
 * What md_uuid_compare's rule found, in a few words for logs and status
 * ("the peer's bitmap UUID is my current UUID: the peer is newer"); NULL
 * for a number that is not a rule.
 */
const char *md_uuid_rule_text(unsigned rule);

/* C = MD_UUID_JUST_CREATED, B and H zero. */
void md_uuid_init(struct md_gen *gen);

/*
 * True for md_uuid_init's generations: the node was created and never
 * held a generation of the resource's data. An invalidated node has a
 * JUST_CREATED C too, but keeps its history, so it is not blank.
 */
bool md_uuid_never_held_data(const struct md_gen *gen);

/*
 * Decide resync on connect (table above). Total: any input gives a
 * verdict. If ret_rule is not NULL, the rule number is stored there.
 */
enum md_uuid_verdict md_uuid_compare(const struct md_uuid_side *me,
				     const struct md_uuid_side *peer,
				     unsigned *ret_rule);

/*
 * Start a new generation: C := fresh. If the old C was real data and B
 * was 0, B := old C (the bitmap counts from here). If B was already set,
 * B stays (the bitmap still holds every change since B, so the peer at B
 * still gets a bitmap resync) and the old C goes to H. A JUST_CREATED C
 * goes nowhere. Call at the first write while apart from the peer, and
 * at `promote --force` of a fresh node; the caller persists the
 * superblock before that write is submitted. 0, or -EINVAL (fresh is 0,
 * JUST_CREATED or already in gen: draw again; gen unchanged).
 */
int md_uuid_new_generation(struct md_gen *gen, uint64_t fresh);

/*
 * Resync finished on the sync source (every bit clear): B goes to the
 * front of H (oldest history entry dropped), B := 0. Nothing if B is 0.
 */
void md_uuid_clear_bitmap(struct md_gen *gen);

/*
 * Resync finished on the sync target: take the source's generations, as
 * they are after its md_uuid_clear_bitmap (borrows source).
 */
void md_uuid_sync_target_done(struct md_gen *gen, const struct md_gen *source);

/* "no-sync", "sync-source-bitmap", ... for logs and repctl. */
const char *md_uuid_verdict_name(enum md_uuid_verdict v);

#endif
