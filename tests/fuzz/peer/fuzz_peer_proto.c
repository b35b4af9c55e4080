/*
 * libFuzzer target for the peer codec (replicator/peer/peer_proto.h). The
 * input is a byte stream as a peer would send it: packet after packet,
 * each header decoded, then its payload by type. Every packet that
 * decodes must re-encode to the same bytes (the codec has one spelling
 * per packet), a DATA payload is decompressed and checked, a HELLO goes
 * through the HELLO check and the AUTH verify. The stream stops at the
 * first malformed packet, as the link does.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer/peer_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decompress at most this much per DATA: keeps each run fast. */
#define RAW_MAX (256u * 1024)

static uint8_t raw[RAW_MAX];
static uint8_t out[PEER_HDR_SIZE + PEER_HELLO_MAX + 8 * PEER_RS_HASH_MAX_N];
static uint64_t hashes[PEER_RS_HASH_MAX_N];

static void check_same(const uint8_t *pkt, int n)
{
	assert(n > 0);
	assert(memcmp(out, pkt, (size_t)n) == 0);
}

/* Handshake encoders write seq 0; the receiver ignores the seq. */
static void check_same_but_seq(const uint8_t *pkt, int n)
{
	assert(n >= (int)PEER_HDR_SIZE);
	assert(memcmp(out, pkt, 16) == 0);
	assert(memcmp(out + PEER_HDR_SIZE, pkt + PEER_HDR_SIZE,
		      (size_t)n - PEER_HDR_SIZE) == 0);
}

static void fuzz_hello(const struct peer_hdr *h, const uint8_t *pkt)
{
	static const char secret[] = "fuzz";
	struct peer_hello got, local = {
		.version_min = PEER_VERSION_MIN,
		.version_max = PEER_VERSION_MAX,
		.node_id = 1, .features = PEER_FEATURES_KNOWN,
		.data_size = UINT64_C(1) << 30, .role = PEER_ROLE_PRIMARY,
		.challenge = { 1 }, .node_name = "local", .resource = "r0",
	};
	char msg[PEER_MSG_MAX + 1];
	uint8_t mac[PEER_MAC_SIZE];
	uint16_t v;
	int r;

	if (peer_decode_hello(h, pkt + PEER_HDR_SIZE, h->len, &got) < 0)
		return;
	assert(peer_name_valid(got.node_name) && peer_name_valid(got.resource));
	r = peer_encode_hello(out, sizeof(out), &got);
	assert(r == (int)(PEER_HDR_SIZE + PEER_HELLO_SIZE));
	if (h->len == PEER_HELLO_SIZE) {
		check_same_but_seq(pkt, r);
	} else {
		/* only the fixed part re-encodes: the rest is a later
		 * version's and ignored */
		assert(memcmp(out + PEER_HDR_SIZE, pkt + PEER_HDR_SIZE,
			      PEER_HELLO_SIZE) == 0);
	}
	r = peer_hello_check(&local, &got, &v, msg);
	if (r == 0) {
		assert(v >= PEER_VERSION_MIN && v <= PEER_VERSION_MAX);
	} else {
		assert(r == -EPROTONOSUPPORT || r == -ENOENT ||
		       r == -ERANGE || r == -EEXIST);
		assert(strlen(msg) <= PEER_MSG_MAX);
		r = peer_encode_refuse(out, sizeof(out), (uint32_t)-r, msg);
		assert(r > 0);
	}
	r = peer_auth_compute(secret, 4, got.challenge, local.node_name, mac);
	assert(r == 0);
	r = peer_auth_verify(secret, 4, got.challenge, got.node_name, mac);
	/* our MAC never passes as a differently named peer's */
	assert(r == (strcmp(got.node_name, local.node_name) == 0 ? 0 :
		     -EACCES));
}

static void fuzz_data(const struct peer_hdr *h, const uint8_t *pkt,
		      size_t avail)
{
	const uint8_t *p = pkt + PEER_HDR_SIZE;
	struct peer_data d;
	int r;

	if (h->type == PEER_DATA)
		r = peer_decode_data(h, p, avail, &d);
	else
		r = peer_decode_rs_data(h, p, avail, &d);
	if (r < 0)
		return;
	assert(d.raw_len >= 1 && d.raw_len <= PEER_MAX_DATA);
	assert(h->len == PEER_DATA_SIZE + d.wire_len);
	if (h->type == PEER_DATA)
		r = peer_encode_data(out, sizeof(out), h->seq, &d);
	else
		r = peer_encode_rs_data(out, sizeof(out), h->seq, &d);
	check_same(pkt, r);
	(void)peer_hdr_check_features(h, PEER_FEAT_LZ4);
	if (d.raw_len > RAW_MAX)
		return;
	p += PEER_DATA_SIZE;
	if (d.flags & PEER_F_COMPRESSED) {
		if (peer_lz4_decompress(p, d.wire_len, raw, d.raw_len) < 0)
			return;
	} else {
		memcpy(raw, p, d.raw_len);
	}
	if (peer_data_verify(&d, raw) == 0 && d.raw_len > 1) {
		/* re-compress: smaller than raw or 0, and round trips */
		uint8_t *z = malloc(d.raw_len - 1), *back = malloc(d.raw_len);
		int n;

		assert(z && back);
		n = peer_lz4_compress(raw, d.raw_len, z, d.raw_len - 1);
		assert(n >= 0 && (uint32_t)n < d.raw_len);
		if (n > 0) {
			r = peer_lz4_decompress(z, (uint32_t)n, back,
						d.raw_len);
			assert(r == 0);
			assert(memcmp(back, raw, d.raw_len) == 0);
		}
		free(z);
		free(back);
	}
}

/* One packet whose whole payload is in [pkt, pkt + 24 + h->len). */
static void fuzz_packet(const struct peer_hdr *h, const uint8_t *pkt)
{
	const uint8_t *p = pkt + PEER_HDR_SIZE;
	union {
		uint8_t mac[PEER_MAC_SIZE];
		struct peer_refuse refuse;
		struct peer_range range;
		struct peer_rs_request req;
		struct peer_rs_hash hash;
		struct peer_bitmap bm;
		struct peer_state st;
		uint32_t err;
		uint64_t ts;
	} u;
	int r = -1;

	switch ((enum peer_type)h->type) {
	case PEER_HELLO:
		fuzz_hello(h, pkt);
		return;
	case PEER_AUTH:
		if (peer_decode_auth(h, p, h->len, u.mac) == 0)
			r = peer_encode_auth(out, sizeof(out), u.mac);
		break;
	case PEER_AUTH_OK:
		r = peer_encode_auth_ok(out, sizeof(out));
		break;
	case PEER_REFUSE:
		if (peer_decode_refuse(h, p, h->len, &u.refuse) == 0)
			r = peer_encode_refuse(out, sizeof(out), u.refuse.err,
					       u.refuse.msg);
		break;
	case PEER_DATA:
	case PEER_RS_DATA:
		fuzz_data(h, pkt, h->len);
		return;
	case PEER_TRIM:
	case PEER_WRITE_ZEROES:
		if (peer_decode_range(h, p, h->len, &u.range) == 0)
			r = h->type == PEER_TRIM ?
			    peer_encode_trim(out, sizeof(out), h->seq,
					     &u.range) :
			    peer_encode_write_zeroes(out, sizeof(out), h->seq,
						     &u.range);
		break;
	case PEER_FLUSH:
		r = peer_encode_flush(out, sizeof(out), h->seq);
		break;
	case PEER_ACK_RECV:
		r = peer_encode_ack_recv(out, sizeof(out), h->seq);
		break;
	case PEER_ACK_WRITE:
		r = peer_encode_ack_write(out, sizeof(out), h->seq);
		break;
	case PEER_NACK:
		if (peer_decode_nack(h, p, h->len, &u.err) == 0)
			r = peer_encode_nack(out, sizeof(out), h->seq, u.err);
		break;
	case PEER_PING:
	case PEER_PONG:
		if (peer_decode_ping(h, p, h->len, &u.ts) == 0)
			r = h->type == PEER_PING ?
			    peer_encode_ping(out, sizeof(out), h->seq, u.ts) :
			    peer_encode_pong(out, sizeof(out), h->seq, u.ts);
		break;
	case PEER_RS_REQUEST:
		if (peer_decode_rs_request(h, p, h->len, &u.req) == 0)
			r = peer_encode_rs_request(out, sizeof(out), h->seq,
						   &u.req);
		break;
	case PEER_RS_HASH:
		if (peer_decode_rs_hash(h, p, h->len, &u.hash) == 0) {
			for (uint32_t i = 0; i < u.hash.n_hashes; i++)
				hashes[i] = peer_rs_hash_at(&u.hash, i);
			r = peer_encode_rs_hash(out, sizeof(out), h->seq,
						&u.hash, hashes);
		}
		break;
	case PEER_BITMAP:
		if (peer_decode_bitmap(h, p, h->len, &u.bm) == 0) {
			assert(u.bm.bits == p + PEER_BITMAP_SIZE);
			/* encode only what fits our scratch buffer */
			if ((size_t)PEER_HDR_SIZE + h->len <= sizeof(out))
				r = peer_encode_bitmap(out, sizeof(out),
						       h->seq, &u.bm);
		}
		break;
	case PEER_STATE:
		if (peer_decode_state(h, p, h->len, &u.st) == 0)
			r = peer_encode_state(out, sizeof(out), h->seq, &u.st);
		break;
	}
	if (r < 0)
		return;
	if (h->type == PEER_AUTH || h->type == PEER_AUTH_OK ||
	    h->type == PEER_REFUSE)
		check_same_but_seq(pkt, r);
	else
		check_same(pkt, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct peer_hdr h;
		uint8_t enc[PEER_HDR_SIZE];
		int r = peer_decode_hdr(data + off, size - off, &h);

		if (r < 0) {
			assert(r == -EAGAIN || r == -EBADMSG);
			break;
		}
		assert(peer_encode_hdr(enc, sizeof(enc), &h) == PEER_HDR_SIZE);
		assert(memcmp(enc, data + off, PEER_HDR_SIZE) == 0);
		assert(h.len <= PEER_MAX_PAYLOAD);
		assert(peer_type_name(h.type) != NULL);
		if (size - off - PEER_HDR_SIZE < h.len) {
			/* a short payload: decoders must ask for more */
			const uint8_t *p = data + off + PEER_HDR_SIZE;
			size_t have = size - off - PEER_HDR_SIZE;
			struct peer_data d;

			if ((h.type == PEER_DATA || h.type == PEER_RS_DATA) &&
			    have < PEER_DATA_SIZE)
				assert(peer_decode_data(&(struct peer_hdr){
					.type = PEER_DATA, .flags = h.flags,
					.len = h.len }, p, have, &d) ==
				       -EAGAIN);
			break;
		}
		fuzz_packet(&h, data + off);
		off += PEER_HDR_SIZE + h.len;
	}
	return 0;
}
