/*
 * Payload transforms for DATA and resync: lz4 compression (liblz4),
 * CRC-32C (ISA-L) and XXH3 (libxxhash). Pure: no I/O, no allocation, no
 * logging; every function is safe on any input bytes.
 */
#include <errno.h>
#include <limits.h>

#include <isa-l/crc.h>
#include <lz4.h>
#include <xxhash.h>

#include "peer_proto.h"

int peer_lz4_compress(const void *src, uint32_t len, void *dst, uint32_t cap)
{
	uint32_t room;
	int n;

	if (len == 0 || len > PEER_MAX_DATA)
		return -EINVAL;
	room = cap < len - 1 ? cap : len - 1;
	if (room == 0)
		return 0;
	/*
	 * Offer at most len - 1 bytes: LZ4 returns 0 when the output does
	 * not fit, which is exactly "would not be smaller".
	 */
	n = LZ4_compress_default(src, dst, (int)len, (int)room);
	return n > 0 ? n : 0;
}

int peer_lz4_decompress(const void *src, uint32_t wire_len, void *dst,
			uint32_t raw_len)
{
	int n;

	if (wire_len == 0 || wire_len > (uint32_t)LZ4_MAX_INPUT_SIZE ||
	    raw_len == 0 || raw_len > (uint32_t)INT_MAX)
		return -EBADMSG;
	/* _safe never reads past src + wire_len nor writes past dst + raw_len. */
	n = LZ4_decompress_safe(src, dst, (int)wire_len, (int)raw_len);
	return n >= 0 && (uint32_t)n == raw_len ? 0 : -EBADMSG;
}

uint32_t peer_crc32c(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = ~UINT32_C(0);

	/*
	 * crc32_iscsi takes and returns the raw register (no inversion of
	 * its own) and an int length: invert once at each end, feed it in
	 * chunks. The cast drops const only for the ISA-L prototype.
	 */
	while (len > 0) {
		size_t n = len < (1u << 30) ? len : (1u << 30);

		crc = crc32_iscsi((unsigned char *)p, (int)n, crc);
		p += n;
		len -= n;
	}
	return ~crc;
}

uint64_t peer_xxh3(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

int peer_data_verify(const struct peer_data *d, const void *raw)
{
	if (!(d->flags & PEER_F_CHECKSUM))
		return 0;
	return peer_crc32c(raw, d->raw_len) == d->crc32c ? 0 : -EBADMSG;
}
