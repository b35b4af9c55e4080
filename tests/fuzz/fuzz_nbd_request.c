/*
 * libFuzzer target for the transmission half of the NBD codec: the input is
 * a stream of 28-byte request frames. Each frame is decoded, re-encoded
 * (must give the same bytes), validated against a few sessions (an accepted
 * request must be safe to execute), and used to encode every reply type;
 * the bytes after the frame double as an error message.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL_TFLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | \
		    NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | \
		    NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO | \
		    NBD_FLAG_SEND_CACHE | NBD_FLAG_CAN_MULTI_CONN)

static const struct nbd_session sessions[] = {
	/* simple replies only, byte granular */
	{ .size = UINT64_C(1) << 20, .tflags = ALL_TFLAGS, .min_block = 1,
	  .max_payload = 32u << 20, .structured_reply = false,
	  .meta_context_id = 0 },
	/* read-only, 512-byte blocks, structured replies, base:allocation */
	{ .size = UINT64_C(64) << 20,
	  .tflags = ALL_TFLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_DF,
	  .min_block = 512, .max_payload = 1u << 20, .structured_reply = true,
	  .meta_context_id = 1 },
	/* empty export that advertises nothing */
	{ .size = 0, .tflags = NBD_FLAG_HAS_FLAGS, .min_block = 4096,
	  .max_payload = 4096, .structured_reply = true,
	  .meta_context_id = 0 },
	/* an export ending just below 2^64: offset + length overflows */
	{ .size = UINT64_MAX - 4095, .tflags = ALL_TFLAGS | NBD_FLAG_SEND_DF,
	  .min_block = 1, .max_payload = UINT32_MAX, .structured_reply = true,
	  .meta_context_id = 7 },
};

static bool is_nbd_errno(int r)
{
	return r == 0 || r == -EINVAL || r == -ENOSPC || r == -EPERM ||
	       r == -EOVERFLOW;
}

static bool is_wire_error(uint32_t w)
{
	return w == NBD_EPERM || w == NBD_EIO || w == NBD_ENOMEM ||
	       w == NBD_EINVAL || w == NBD_ENOSPC || w == NBD_EOVERFLOW ||
	       w == NBD_ENOTSUP || w == NBD_ESHUTDOWN;
}

/* What an accepted request promises the code that executes it. */
static void check_accepted(const struct nbd_request *q,
			   const struct nbd_session *s)
{
	bool data_cmd = q->type == NBD_CMD_READ || q->type == NBD_CMD_WRITE ||
			q->type == NBD_CMD_TRIM ||
			q->type == NBD_CMD_WRITE_ZEROES;
	bool writes = q->type == NBD_CMD_WRITE || q->type == NBD_CMD_TRIM ||
		      q->type == NBD_CMD_WRITE_ZEROES;

	assert(q->type <= NBD_CMD_BLOCK_STATUS);
	if (data_cmd && q->len > 0) {
		assert(q->offset <= s->size);
		assert(q->len <= s->size - q->offset);
	}
	if (writes && q->len > 0)
		assert(!(s->tflags & NBD_FLAG_READ_ONLY));
	if (q->type == NBD_CMD_READ || q->type == NBD_CMD_WRITE)
		assert(q->len <= s->max_payload);
	if (q->type == NBD_CMD_BLOCK_STATUS)
		assert(s->structured_reply && s->meta_context_id != 0);
	if (q->flags & NBD_CMD_FLAG_DF)
		assert(s->structured_reply && (s->tflags & NBD_FLAG_SEND_DF));
	if (q->type == NBD_CMD_FLUSH)
		assert(q->offset == 0 && q->len == 0);
	assert(!(q->flags & ~(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
			      NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |
			      NBD_CMD_FLAG_FAST_ZERO)));
}

static void encode_replies(const struct nbd_request *q, const uint8_t *rest,
			   size_t rest_len)
{
	uint8_t b[NBD_CHUNK_ERROR_MAX];
	struct nbd_extent ext[8];
	uint8_t *bs;
	char msg[300];
	size_t n, mlen, next;

	assert(nbd_encode_simple_reply(b, nbd_errno_to_wire(EIO), q->cookie) ==
	       NBD_SIMPLE_REPLY_SIZE);
	assert(be_get_u64(b + 8) == q->cookie);

	assert(nbd_encode_chunk_offset_data(b, NBD_REPLY_FLAG_DONE, q->cookie,
					    q->offset, q->len) == 28);
	assert(be_get_u32(b + 16) == (uint32_t)(q->len + 8u));
	assert(be_get_u64(b + 20) == q->offset);
	assert(nbd_encode_chunk_offset_hole(b, 0, q->cookie, q->offset,
					    q->len) == 32);
	assert(be_get_u32(b + 16) == 12);

	/* the rest of the input as an error message, maybe cut short */
	mlen = rest_len < sizeof(msg) - 1 ? rest_len : sizeof(msg) - 1;
	memcpy(msg, rest, mlen);
	msg[mlen] = '\0';
	n = nbd_encode_chunk_error(b, q->cookie, NBD_EIO, mlen ? msg : NULL);
	assert(n >= 26 && n <= NBD_CHUNK_ERROR_MAX);
	assert(be_get_u32(b + 16) == n - NBD_CHUNK_HEADER_SIZE);
	assert(be_get_u16(b + 24) == n - 26);
	assert(be_get_u16(b + 24) <= strlen(msg));
	assert(memcmp(b + 26, msg, n - 26) == 0);

	/* 1..8 extents from the request fields */
	next = (q->len & 7) + 1;
	for (size_t i = 0; i < next; i++) {
		ext[i].len = (uint32_t)(q->offset >> (8 * i)) | 1;
		ext[i].flags = q->flags & 3;
	}
	n = NBD_CHUNK_HEADER_SIZE + 4 + 8 * next;
	bs = malloc(n);		/* exact size: ASan sees overruns */
	assert(bs);
	assert(nbd_encode_block_status(bs, q->cookie, 1, ext,
				       (uint32_t)next) == n);
	assert(be_get_u32(bs + 16) == 4 + 8 * next);
	free(bs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size > 0) {
		struct nbd_request q;
		uint8_t enc[NBD_REQUEST_SIZE];
		int r = nbd_decode_request(data, size, &q);

		if (r == -EAGAIN) {
			assert(size < NBD_REQUEST_SIZE);
			break;
		}
		assert(size >= NBD_REQUEST_SIZE);
		if (r == -EBADMSG) {
			assert(be_get_u32(data) != NBD_REQUEST_MAGIC);
		} else {
			assert(r == 0);
			assert(nbd_encode_request(enc, &q) == NBD_REQUEST_SIZE);
			assert(memcmp(enc, data, NBD_REQUEST_SIZE) == 0);
			assert(nbd_cmd_name(q.type) != NULL);
			for (size_t i = 0; i < sizeof(sessions) /
					       sizeof(sessions[0]); i++) {
				int v = nbd_validate_request(&q, &sessions[i]);

				assert(is_nbd_errno(v));
				if (v == 0)
					check_accepted(&q, &sessions[i]);
				else
					assert(is_wire_error(
						nbd_errno_to_wire(-v)));
			}
			encode_replies(&q, data + NBD_REQUEST_SIZE,
				       size - NBD_REQUEST_SIZE);
		}
		data += NBD_REQUEST_SIZE;
		size -= NBD_REQUEST_SIZE;
	}
	return 0;
}
