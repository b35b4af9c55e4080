/*
 * libFuzzer target for the NBD handshake machine (nbd/nbd_handshake.h).
 *
 * Input: one configuration byte, then the client's byte stream.
 *   bit 0     the export refuses INFO/GO/EXPORT_NAME
 *   bit 1     the export is the default one (name "")
 *   bits 2-7  k: the "socket" delivers k bytes per read; 0 = all at once
 * The stream is fed like a server loop would, honouring the return value
 * and *ret_need, and every reply the machine writes is parsed and checked.
 * Once in transmission the rest of the stream is decoded as requests and
 * validated against the negotiated session.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t rep_magic[8] = {
	0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
};

/* Every byte the machine emits during option haggling is a whole reply. */
static void check_replies(const uint8_t *p, size_t n,
			  const struct nbd_export *e)
{
	size_t off = 0;

	while (off < n) {
		uint32_t type, len;

		assert(n - off >= NBD_OPTION_REPLY_HEADER_SIZE);
		assert(memcmp(p + off, rep_magic, 8) == 0);
		type = be_get_u32(p + off + 12);
		len = be_get_u32(p + off + 16);
		assert(len <= n - off - NBD_OPTION_REPLY_HEADER_SIZE);
		switch (type) {
		case NBD_REP_ACK:
			assert(len == 0);
			break;
		case NBD_REP_INFO:
			assert(len >= 2);
			if (be_get_u16(p + off + 20) == NBD_INFO_EXPORT) {
				assert(len == 12);
				assert(be_get_u64(p + off + 22) == e->size);
			}
			if (be_get_u16(p + off + 20) == NBD_INFO_BLOCK_SIZE)
				assert(len == 14);
			break;
		case NBD_REP_SERVER:
			assert(len >= 4);
			assert(be_get_u32(p + off + 20) <= len - 4);
			break;
		case NBD_REP_META_CONTEXT:
			assert(len > 4);
			break;
		default:
			/* anything else must be an error */
			assert(type & NBD_REP_FLAG_ERROR);
			break;
		}
		off += NBD_OPTION_REPLY_HEADER_SIZE + len;
	}
}

static void check_output(const struct nbd_handshake *hs, const uint8_t *out,
			 size_t outlen)
{
	const struct nbd_export *e = hs->export;

	assert(outlen <= NBD_HS_OUT_MAX);
	if (hs->state == NBD_HS_TRANSMISSION && outlen &&
	    (outlen < 8 || memcmp(out, rep_magic, 8) != 0)) {
		/* the NBD_OPT_EXPORT_NAME reply */
		assert(outlen == 10 || outlen == 134);
		assert(be_get_u64(out) == e->size);
		assert(be_get_u16(out + 8) == hs->session.tflags);
		for (size_t i = 10; i < outlen; i++)
			assert(out[i] == 0);
		return;
	}
	check_replies(out, outlen, e);
}

static void check_session(const struct nbd_handshake *hs)
{
	const struct nbd_session *s = &hs->session;

	assert(hs->export->refuse == NULL);
	assert(s->size == hs->export->size);
	assert(s->tflags & NBD_FLAG_HAS_FLAGS);
	if (!s->structured_reply) {
		assert(!(s->tflags & NBD_FLAG_SEND_DF));
		assert(s->meta_context_id == 0);
	}
}

/* The bytes after the handshake, as the transmission phase would see them. */
static void run_requests(const struct nbd_session *s, const uint8_t *p,
			 size_t n)
{
	while (n >= NBD_REQUEST_SIZE) {
		struct nbd_request req;
		int r = nbd_decode_request(p, n, &req);

		assert(r == 0 || r == -EBADMSG);
		if (r == 0) {
			r = nbd_validate_request(&req, s);
			assert(r == 0 || r == -EINVAL || r == -ENOSPC ||
			       r == -EPERM || r == -EOVERFLOW);
		}
		p += NBD_REQUEST_SIZE;
		n -= NBD_REQUEST_SIZE;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_export e = {
		.name = "disk",
		.description = "fuzz disk",
		.size = UINT64_C(64) << 20,
		.tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
			  NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
			  NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN,
		.min_block = 512,
		.pref_block = 4096,
		.max_block = 32u << 20,
		.refuse = NULL,
	};
	uint8_t greeting[NBD_GREETING_SIZE];
	struct nbd_handshake hs;
	uint8_t *out;
	size_t step, off = 0, avail;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		e.refuse = "refused by the fuzzer";
	if (data[0] & 2) {
		e.name = "";
		e.description = "";
	}
	step = data[0] >> 2 ? (size_t)(data[0] >> 2) : SIZE_MAX;
	data++;
	size--;

	out = malloc(NBD_HS_OUT_MAX);	/* exact size: ASan sees overruns */
	assert(out);
	assert(nbd_handshake_init(&hs, &e, greeting) == NBD_GREETING_SIZE);
	assert(memcmp(greeting, "NBDMAGICIHAVEOPT", 16) == 0);
	assert(hs.state == NBD_HS_CLIENT_FLAGS);

	avail = size < step ? size : step;
	/* Every round consumes a byte, receives a byte, or stops. */
	for (size_t guard = 0; guard <= 2 * size + 2; guard++) {
		size_t outlen = 0, need = 0, n;

		if (hs.state == NBD_HS_CLOSE ||
		    hs.state == NBD_HS_TRANSMISSION)
			break;
		if (off == avail) {
			if (avail == size)
				break;
			avail = size - avail < step ? size : avail + step;
		}
		n = nbd_handshake_feed(&hs, data + off, avail - off, out,
				       &outlen, &need);
		assert(n <= avail - off);
		check_output(&hs, out, outlen);
		if (n > 0) {
			off += n;
			continue;
		}
		if (hs.state == NBD_HS_CLOSE)
			break;
		/* nothing consumed: it must want more than it has */
		assert(need > avail - off);
		if (avail == size)
			break;
		avail = size - avail < step ? size : avail + step;
	}
	if (hs.state == NBD_HS_CLOSE)
		assert(hs.why != NULL);
	if (hs.state == NBD_HS_TRANSMISSION) {
		check_session(&hs);
		run_requests(&hs.session, data + off, size - off);
	}
	free(out);
	return 0;
}
