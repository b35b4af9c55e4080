/*
 * On-disk metadata, part 1: the superblock and the parameters every other
 * md module shares. Pure: encode/decode over byte buffers, no fds, no
 * logging, no allocation; the only dependency beyond libc is ISA-L's
 * crc32c. docs/metadata.md describes the bytes; keep the two in step.
 *
 * The superblock is one 4 KiB block, stored twice (slot 0 and slot 1). A
 * store writes the slot that was NOT selected at open, with seq + 1, so a
 * torn write can only damage the copy being written; md_select_slot()
 * then returns the older, intact copy.
 *
 * Errors are -errno: -EAGAIN (fewer bytes than a block), -EBADMSG
 * (malformed or bad crc), -ENODATA (all zeroes: never initialised),
 * -EPROTO (valid block from a newer format version), -EINVAL (bad
 * argument to an encoder or a check), -ENOBUFS (output buffer too small).
 */
#ifndef REPD_MD_FORMAT_H
#define REPD_MD_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD_BLOCK_SIZE		4096u	/* every md I/O unit, bytes */
#define MD_SB_SLOTS		2u
#define MD_SB_AREA_SIZE		(MD_SB_SLOTS * MD_BLOCK_SIZE)
#define MD_FORMAT_VERSION	1u
#define MD_SB_MAGIC		"REPDMDSB"	/* 8 bytes at offset 0, no NUL */
#define MD_UUID_SIZE		16u
#define MD_GEN_HISTORY		4u	/* history generation UUIDs kept */

/* Superblock field offsets (bytes); the table in docs/metadata.md. */
#define MD_SB_OFF_MAGIC		0
#define MD_SB_OFF_VERSION	8
#define MD_SB_OFF_CRC		12
#define MD_SB_OFF_SEQ		16
#define MD_SB_OFF_RESOURCE	24
#define MD_SB_OFF_NODE_ID	40
#define MD_SB_OFF_FLAGS		44
#define MD_SB_OFF_DATA_SIZE	48
#define MD_SB_OFF_GRANULARITY	56
#define MD_SB_OFF_AL_EXTENT	60
#define MD_SB_OFF_AL_SLOTS	64
#define MD_SB_OFF_PLACEMENT	68
#define MD_SB_OFF_GEN_CURRENT	72
#define MD_SB_OFF_GEN_BITMAP	80
#define MD_SB_OFF_GEN_HISTORY	88
#define MD_SB_USED		(MD_SB_OFF_GEN_HISTORY + 8 * MD_GEN_HISTORY)

/* Bitmap granularity: bytes of data per bit. Power of two. */
#define MD_GRANULARITY_MIN	4096u
#define MD_GRANULARITY_MAX	(1024u * 1024)
#define MD_GRANULARITY_DEFAULT	4096u
/* Activity-log extent: bytes of data per AL slot. Power of two. */
#define MD_AL_EXTENT_MIN	(1024u * 1024)
#define MD_AL_EXTENT_MAX	(1024u * 1024 * 1024)
#define MD_AL_EXTENT_DEFAULT	(4u * 1024 * 1024)
/* Activity-log slots: hot extents kept (DRBD's al-extents limits). */
#define MD_AL_SLOTS_MIN		67u
#define MD_AL_SLOTS_MAX		65534u
#define MD_AL_SLOTS_DEFAULT	1237u
/* Data area: a multiple of 4 KiB, at most 2^58 bytes (256 PiB: bitmap
 * pages stay below 2^32 at 4 KiB granularity). */
#define MD_DATA_SIZE_MAX	(UINT64_C(1) << 58)

/*
 * Superblock flags. Unknown bits make a superblock invalid (a newer writer
 * that adds a flag also raises MD_FORMAT_VERSION).
 */
enum md_flag {
	MD_FLAG_CONSISTENT	= 1u << 0,	/* data area holds a consistent image */
	MD_FLAG_WAS_PRIMARY	= 1u << 1,	/* set while primary, cleared on demote */
	MD_FLAG_CRASHED_PRIMARY	= 1u << 2,	/* found WAS_PRIMARY without CLEAN_SHUTDOWN */
	MD_FLAG_PEER_OUTDATED	= 1u << 3,	/* the peer is known to be outdated */
	MD_FLAG_OUTDATED	= 1u << 4,	/* this copy is known to be outdated */
	MD_FLAG_RESYNC_IN_PROGRESS = 1u << 5,	/* a resync was running (target side) */
	MD_FLAG_CLEAN_SHUTDOWN	= 1u << 6,	/* repd stopped cleanly; AL need not be replayed */
	MD_FLAG_FULL_SYNC	= 1u << 7,	/* set every bitmap bit at next open */
};
#define MD_FLAGS_KNOWN		0xffu

enum md_placement {
	MD_PLACEMENT_INTERNAL = 1,	/* at the end of the backing device */
	MD_PLACEMENT_EXTERNAL = 2,	/* a separate file or device, from offset 0 */
};

/* The knobs fixed at create-md time. */
struct md_params {
	uint32_t bm_granularity;	/* bytes per bitmap bit */
	uint32_t al_extent_size;	/* bytes per AL extent */
	uint32_t al_slots;		/* hot extents the AL holds */
	enum md_placement placement;
};

#define MD_PARAMS_DEFAULT ((struct md_params){				\
	.bm_granularity = MD_GRANULARITY_DEFAULT,			\
	.al_extent_size = MD_AL_EXTENT_DEFAULT,				\
	.al_slots = MD_AL_SLOTS_DEFAULT,				\
	.placement = MD_PLACEMENT_INTERNAL,				\
})

/*
 * C of metadata that was created but never held data (DRBD uses the same
 * value). Never drawn as a fresh generation UUID.
 */
#define MD_UUID_JUST_CREATED	UINT64_C(4)

/* Generation UUIDs (md_uuid.h has the rules). 0 means "none". */
struct md_gen {
	uint64_t current;			/* C: generation of the data now */
	uint64_t bitmap;			/* B: generation the bitmap counts from */
	uint64_t history[MD_GEN_HISTORY];	/* H: older generations, newest first */
};

/* Decoded superblock. The format version is implied (MD_FORMAT_VERSION). */
struct md_super {
	uint64_t seq;				/* store counter; newer slot wins */
	uint8_t resource_uuid[MD_UUID_SIZE];	/* random at create-md, never 0 */
	uint32_t node_id;			/* this node's id from the config */
	uint32_t flags;				/* MD_FLAG_* */
	uint64_t data_size;			/* exported bytes, multiple of 4 KiB */
	struct md_params params;
	struct md_gen gen;
};

/*
 * CRC-32C (Castagnoli, iSCSI), standard conventions: init ~0, reflected,
 * final xor ~0; "123456789" gives 0xE3069283.
 */
uint32_t md_crc32c(const void *buf, size_t len);

/*
 * crc32c of one MD_BLOCK_SIZE block whose 4-byte crc field at crc_off is
 * taken as zero (how superblock and AL blocks are checksummed).
 */
uint32_t md_block_crc32c(const void *block, size_t crc_off);

/* True if all len bytes of buf are zero. */
bool md_is_zero(const void *buf, size_t len);

/*
 * Serial-number comparison of two sequence numbers (RFC 1982 style): true
 * if a was written after b, also across the 2^64 wrap.
 */
bool md_seq_newer(uint64_t a, uint64_t b);

/* 0 if p is within the documented ranges, else -EINVAL. */
int md_params_check(const struct md_params *p);

/*
 * 0 if data_size is usable with p: non-zero, a multiple of 4 KiB, at most
 * MD_DATA_SIZE_MAX, and its extents numbered below 2^32 - 1. Else -EINVAL.
 */
int md_data_size_check(const struct md_params *p, uint64_t data_size);

/*
 * Fill *ret_sb for a fresh create-md: seq 1, no flags, C = "just
 * created" (md_uuid.h), B and H zero. Borrows resource_uuid (16 bytes,
 * not all zero). 0 or -EINVAL.
 */
int md_super_init(const struct md_params *p, uint64_t data_size,
		  const uint8_t *resource_uuid, uint32_t node_id,
		  struct md_super *ret_sb);

/* 0 if sb may be encoded (the same rules decode enforces), else -EINVAL. */
int md_super_check(const struct md_super *sb);

/*
 * Encode sb into buf (exactly MD_BLOCK_SIZE bytes written; len must be at
 * least that, else -ENOBUFS). Reserved bytes are zero, the crc is filled.
 * 0, -ENOBUFS or -EINVAL (md_super_check failed; buf untouched).
 */
int md_super_encode(const struct md_super *sb, void *buf, size_t len);

/*
 * Decode one superblock slot from the first MD_BLOCK_SIZE bytes of buf.
 * Checks, in order: length (-EAGAIN), all zero (-ENODATA), magic and crc
 * (-EBADMSG), version (0: -EBADMSG; newer than ours: -EPROTO), then every
 * field (-EBADMSG). *ret_sb is written only on 0. The inverse of
 * md_super_encode for every block that decodes.
 */
int md_super_decode(const void *buf, size_t len, struct md_super *ret_sb);

/*
 * Call at open with the two superblock slots, slot 0 at area[0] and slot 1
 * at area[MD_BLOCK_SIZE]. Picks the newest slot (md_seq_newer) among those
 * that decode; the other may be torn, stale or zero. Returns 0 and fills
 * *ret_sb / *ret_slot, or:
 *   -EAGAIN   len < MD_SB_AREA_SIZE (truncated metadata area)
 *   -EPROTO   a slot holds a valid superblock of a newer format version;
 *             refused even if the other slot is ours, to never roll back
 *   -ENODATA  both slots all zero: metadata never created
 *   -EBADMSG  no slot decodes (at least one is not zero), or both decode
 *             with the same seq but different contents
 * The next store goes to slot (*ret_slot ^ 1) with seq + 1.
 */
int md_select_slot(const void *area, size_t len, struct md_super *ret_sb,
		   unsigned *ret_slot);

/* Name of a single MD_FLAG_* bit ("consistent", ...), NULL if unknown. */
const char *md_flag_name(uint32_t flag);

#endif
