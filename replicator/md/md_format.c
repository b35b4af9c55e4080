/*
 * Superblock codec. See md_format.h for the contract, docs/metadata.md for
 * the bytes.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <isa-l/crc.h>

#include "md_endian.h"
#include "md_format.h"

static uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	assert(len <= INT_MAX);
	/*
	 * crc32_iscsi takes and returns the raw register: no pre- or
	 * post-inversion of its own, so chaining passes the result on
	 * unchanged and the caller inverts once at each end. The cast drops
	 * const only because the ISA-L prototype lacks it; it reads only.
	 */
	return crc32_iscsi((unsigned char *)buf, (int)len, crc);
}

uint32_t md_crc32c(const void *buf, size_t len)
{
	return ~crc32c_update(~UINT32_C(0), buf, len);
}

bool md_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

bool md_seq_newer(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) > 0;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int md_params_check(const struct md_params *p)
{
	if (!is_pow2(p->bm_granularity) ||
	    p->bm_granularity < MD_GRANULARITY_MIN ||
	    p->bm_granularity > MD_GRANULARITY_MAX)
		return -EINVAL;
	if (!is_pow2(p->al_extent_size) ||
	    p->al_extent_size < MD_AL_EXTENT_MIN ||
	    p->al_extent_size > MD_AL_EXTENT_MAX)
		return -EINVAL;
	/* Also true by the ranges; an extent must cover whole granules. */
	if (p->al_extent_size < p->bm_granularity)
		return -EINVAL;
	if (p->al_slots < MD_AL_SLOTS_MIN || p->al_slots > MD_AL_SLOTS_MAX)
		return -EINVAL;
	switch (p->placement) {
	case MD_PLACEMENT_INTERNAL:
	case MD_PLACEMENT_EXTERNAL:
		return 0;
	}
	return -EINVAL;	/* a value outside the enum, e.g. read from disk */
}

int md_data_size_check(const struct md_params *p, uint64_t data_size)
{
	uint64_t extents;

	if (data_size == 0 || data_size % MD_BLOCK_SIZE ||
	    data_size > MD_DATA_SIZE_MAX)
		return -EINVAL;
	extents = (data_size + p->al_extent_size - 1) / p->al_extent_size;
	/* Extent numbers are u32 on disk; UINT32_MAX means "empty slot". */
	if (extents >= UINT32_MAX)
		return -EINVAL;
	return 0;
}

int md_super_check(const struct md_super *sb)
{
	if (md_params_check(&sb->params) < 0)
		return -EINVAL;
	if (md_data_size_check(&sb->params, sb->data_size) < 0)
		return -EINVAL;
	if (sb->flags & ~MD_FLAGS_KNOWN)
		return -EINVAL;
	if (md_is_zero(sb->resource_uuid, MD_UUID_SIZE))
		return -EINVAL;
	if (sb->gen.current == 0)
		return -EINVAL;
	return 0;
}

int md_super_init(const struct md_params *p, uint64_t data_size,
		  const uint8_t *resource_uuid, uint32_t node_id,
		  struct md_super *ret_sb)
{
	struct md_super sb;

	memset(&sb, 0, sizeof(sb));
	sb.seq = 1;
	memcpy(sb.resource_uuid, resource_uuid, MD_UUID_SIZE);
	sb.node_id = node_id;
	sb.data_size = data_size;
	sb.params = *p;
	sb.gen.current = MD_UUID_JUST_CREATED;
	if (md_super_check(&sb) < 0)
		return -EINVAL;
	*ret_sb = sb;
	return 0;
}

uint32_t md_block_crc32c(const void *block, size_t crc_off)
{
	static const uint8_t zero[4];
	const uint8_t *b = block;
	uint32_t crc = ~UINT32_C(0);

	assert(crc_off + 4 <= MD_BLOCK_SIZE);
	crc = crc32c_update(crc, b, crc_off);
	crc = crc32c_update(crc, zero, sizeof(zero));
	crc = crc32c_update(crc, b + crc_off + 4, MD_BLOCK_SIZE - crc_off - 4);
	return ~crc;
}

int md_super_encode(const struct md_super *sb, void *buf, size_t len)
{
	uint8_t *b = buf;

	if (len < MD_BLOCK_SIZE)
		return -ENOBUFS;
	if (md_super_check(sb) < 0)
		return -EINVAL;

	memset(b, 0, MD_BLOCK_SIZE);
	memcpy(b + MD_SB_OFF_MAGIC, MD_SB_MAGIC, 8);
	md_put_le32(b + MD_SB_OFF_VERSION, MD_FORMAT_VERSION);
	md_put_le64(b + MD_SB_OFF_SEQ, sb->seq);
	memcpy(b + MD_SB_OFF_RESOURCE, sb->resource_uuid, MD_UUID_SIZE);
	md_put_le32(b + MD_SB_OFF_NODE_ID, sb->node_id);
	md_put_le32(b + MD_SB_OFF_FLAGS, sb->flags);
	md_put_le64(b + MD_SB_OFF_DATA_SIZE, sb->data_size);
	md_put_le32(b + MD_SB_OFF_GRANULARITY, sb->params.bm_granularity);
	md_put_le32(b + MD_SB_OFF_AL_EXTENT, sb->params.al_extent_size);
	md_put_le32(b + MD_SB_OFF_AL_SLOTS, sb->params.al_slots);
	md_put_le32(b + MD_SB_OFF_PLACEMENT, (uint32_t)sb->params.placement);
	md_put_le64(b + MD_SB_OFF_GEN_CURRENT, sb->gen.current);
	md_put_le64(b + MD_SB_OFF_GEN_BITMAP, sb->gen.bitmap);
	for (unsigned i = 0; i < MD_GEN_HISTORY; i++)
		md_put_le64(b + MD_SB_OFF_GEN_HISTORY + 8 * i, sb->gen.history[i]);
	/* The crc goes in last: it covers every other byte of the block. */
	md_put_le32(b + MD_SB_OFF_CRC, md_block_crc32c(b, MD_SB_OFF_CRC));
	return 0;
}

int md_super_decode(const void *buf, size_t len, struct md_super *ret_sb)
{
	const uint8_t *b = buf;
	struct md_super sb;
	uint32_t version, placement;

	if (len < MD_BLOCK_SIZE)
		return -EAGAIN;
	if (md_is_zero(b, MD_BLOCK_SIZE))
		return -ENODATA;
	if (memcmp(b + MD_SB_OFF_MAGIC, MD_SB_MAGIC, 8) != 0)
		return -EBADMSG;
	/*
	 * The crc is checked before the version: magic, version and crc keep
	 * their places in every version, so a bit flip in the version field
	 * reads as corruption (-EBADMSG), not as a newer format (-EPROTO).
	 */
	if (md_get_le32(b + MD_SB_OFF_CRC) != md_block_crc32c(b, MD_SB_OFF_CRC))
		return -EBADMSG;
	version = md_get_le32(b + MD_SB_OFF_VERSION);
	if (version == 0)
		return -EBADMSG;
	if (version > MD_FORMAT_VERSION)
		return -EPROTO;
	if (!md_is_zero(b + MD_SB_USED, MD_BLOCK_SIZE - MD_SB_USED))
		return -EBADMSG;

	memset(&sb, 0, sizeof(sb));
	sb.seq = md_get_le64(b + MD_SB_OFF_SEQ);
	memcpy(sb.resource_uuid, b + MD_SB_OFF_RESOURCE, MD_UUID_SIZE);
	sb.node_id = md_get_le32(b + MD_SB_OFF_NODE_ID);
	sb.flags = md_get_le32(b + MD_SB_OFF_FLAGS);
	sb.data_size = md_get_le64(b + MD_SB_OFF_DATA_SIZE);
	sb.params.bm_granularity = md_get_le32(b + MD_SB_OFF_GRANULARITY);
	sb.params.al_extent_size = md_get_le32(b + MD_SB_OFF_AL_EXTENT);
	sb.params.al_slots = md_get_le32(b + MD_SB_OFF_AL_SLOTS);
	placement = md_get_le32(b + MD_SB_OFF_PLACEMENT);
	if (placement != MD_PLACEMENT_INTERNAL &&
	    placement != MD_PLACEMENT_EXTERNAL)
		return -EBADMSG;
	sb.params.placement = (enum md_placement)placement;
	sb.gen.current = md_get_le64(b + MD_SB_OFF_GEN_CURRENT);
	sb.gen.bitmap = md_get_le64(b + MD_SB_OFF_GEN_BITMAP);
	for (unsigned i = 0; i < MD_GEN_HISTORY; i++)
		sb.gen.history[i] = md_get_le64(b + MD_SB_OFF_GEN_HISTORY + 8 * i);
	if (md_super_check(&sb) < 0)
		return -EBADMSG;
	*ret_sb = sb;
	return 0;
}

int md_select_slot(const void *area, size_t len, struct md_super *ret_sb,
		   unsigned *ret_slot)
{
	const uint8_t *a = area;
	struct md_super sb[MD_SB_SLOTS];
	int r[MD_SB_SLOTS];
	unsigned pick;

	if (len < MD_SB_AREA_SIZE)
		return -EAGAIN;
	for (unsigned i = 0; i < MD_SB_SLOTS; i++)
		r[i] = md_super_decode(a + i * MD_BLOCK_SIZE, MD_BLOCK_SIZE, &sb[i]);

	/* A newer repd wrote here: using our older slot would roll back. */
	if (r[0] == -EPROTO || r[1] == -EPROTO)
		return -EPROTO;
	if (r[0] == -ENODATA && r[1] == -ENODATA)
		return -ENODATA;
	if (r[0] < 0 && r[1] < 0)
		return -EBADMSG;

	if (r[0] == 0 && r[1] == 0) {
		if (sb[0].seq == sb[1].seq) {
			/* Same store twice is fine; two different ones is a guess. */
			if (memcmp(a, a + MD_BLOCK_SIZE, MD_BLOCK_SIZE) != 0)
				return -EBADMSG;
			pick = 0;
		} else {
			pick = md_seq_newer(sb[1].seq, sb[0].seq) ? 1 : 0;
		}
	} else {
		pick = r[0] == 0 ? 0 : 1;
	}
	*ret_sb = sb[pick];
	*ret_slot = pick;
	return 0;
}

const char *md_flag_name(uint32_t flag)
{
	switch ((enum md_flag)flag) {
	case MD_FLAG_CONSISTENT:
		return "consistent";
	case MD_FLAG_WAS_PRIMARY:
		return "was-primary";
	case MD_FLAG_CRASHED_PRIMARY:
		return "crashed-primary";
	case MD_FLAG_PEER_OUTDATED:
		return "peer-outdated";
	case MD_FLAG_OUTDATED:
		return "outdated";
	case MD_FLAG_RESYNC_IN_PROGRESS:
		return "resync-in-progress";
	case MD_FLAG_CLEAN_SHUTDOWN:
		return "clean-shutdown";
	case MD_FLAG_FULL_SYNC:
		return "full-sync";
	}
	return NULL;	/* not a single known bit: a caller may pass any u32 */
}
