/*
 * Pure peer codec: framing and every packet. See peer_proto.h for the
 * contracts and docs/protocol.md for the bytes. libc only.
 *
 * Each packet type is validated in two places, both at the edge: the
 * header (type known, flags and payload length allowed for the type, one
 * table below) and its payload decoder (every field). After that the link
 * may assert.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "peer_proto.h"
#include "common/be.h"

/* Header field offsets. */
#define HDR_OFF_MAGIC		0
#define HDR_OFF_TYPE		4
#define HDR_OFF_FLAGS		6
#define HDR_OFF_LEN		8
#define HDR_OFF_RESERVED	12
#define HDR_OFF_SEQ		16

/* HELLO payload offsets. */
#define HELLO_OFF_VMIN		0
#define HELLO_OFF_VMAX		2
#define HELLO_OFF_NODE_ID	4
#define HELLO_OFF_FEATURES	8
#define HELLO_OFF_DATA_SIZE	16
#define HELLO_OFF_ROLE		24
#define HELLO_OFF_MD_FLAGS	28
#define HELLO_OFF_UUID_CUR	32
#define HELLO_OFF_UUID_BM	40
#define HELLO_OFF_UUID_HIST	48
#define HELLO_OFF_CHALLENGE	64
#define HELLO_OFF_NODE_NAME	96	/* u8 length + 63 bytes, zero padded */
#define HELLO_OFF_RESOURCE	160
#define HELLO_NAME_FIELD	64

#define ERRNO_MAX		4095u	/* largest errno a peer may send */


/* ---- the type table ---- */

struct type_info {
	const char *name;		/* NULL: no such type */
	uint32_t min_len;		/* payload bytes, inclusive */
	uint32_t max_len;
	uint16_t flags;			/* PEER_F_* the type takes */
};

#define FIXED(n, sz, f)	{ .name = (n), .min_len = (sz), .max_len = (sz), \
			  .flags = (f) }

static const struct type_info types[] = {
	[PEER_HELLO]	= { "HELLO", PEER_HELLO_SIZE, PEER_HELLO_MAX, 0 },
	[PEER_AUTH]	= FIXED("AUTH", PEER_MAC_SIZE, 0),
	[PEER_AUTH_OK]	= FIXED("AUTH_OK", 0, 0),
	[PEER_REFUSE]	= { "REFUSE", 4, 4 + PEER_MSG_MAX, 0 },
	[PEER_DATA]	= { "DATA", PEER_DATA_SIZE + 1,
			    PEER_DATA_SIZE + PEER_MAX_DATA,
			    PEER_F_FUA | PEER_F_COMPRESSED | PEER_F_CHECKSUM |
			    PEER_F_RECV_ACK },
	[PEER_TRIM]	= FIXED("TRIM", PEER_RANGE_SIZE,
				PEER_F_FUA | PEER_F_RECV_ACK),
	[PEER_WRITE_ZEROES] = FIXED("WRITE_ZEROES", PEER_RANGE_SIZE,
				    PEER_F_FUA | PEER_F_NO_HOLE |
				    PEER_F_RECV_ACK),
	[PEER_FLUSH]	= FIXED("FLUSH", 0, 0),
	[PEER_ACK_RECV]	= FIXED("ACK_RECV", 0, 0),
	[PEER_ACK_WRITE] = FIXED("ACK_WRITE", 0, 0),
	[PEER_NACK]	= FIXED("NACK", 4, 0),
	[PEER_PING]	= FIXED("PING", 8, 0),
	[PEER_PONG]	= FIXED("PONG", 8, 0),
	[PEER_RS_REQUEST] = FIXED("RS_REQUEST", PEER_RS_REQUEST_SIZE, 0),
	[PEER_RS_DATA]	= { "RS_DATA", PEER_DATA_SIZE + 1,
			    PEER_DATA_SIZE + PEER_MAX_DATA,
			    PEER_F_COMPRESSED | PEER_F_CHECKSUM },
	[PEER_RS_HASH]	= { "RS_HASH", PEER_RS_HASH_SIZE + 8,
			    PEER_RS_HASH_SIZE + 8 * PEER_RS_HASH_MAX_N,
			    PEER_F_REPLY },
	[PEER_BITMAP]	= { "BITMAP", PEER_BITMAP_SIZE + 8,
			    PEER_BITMAP_SIZE + PEER_BITMAP_MAX_BYTES,
			    PEER_F_LAST },
	[PEER_STATE]	= FIXED("STATE", PEER_STATE_SIZE, 0),
};

static const struct type_info *type_info(uint16_t type)
{
	if (type >= sizeof(types) / sizeof(types[0]) || !types[type].name)
		return NULL;
	return &types[type];
}

const char *peer_type_name(uint16_t type)
{
	const struct type_info *t = type_info(type);

	return t ? t->name : "UNKNOWN";
}

static bool hdr_valid(const struct peer_hdr *hdr)
{
	const struct type_info *t = type_info(hdr->type);

	return t && (hdr->flags & ~t->flags) == 0 &&
	       hdr->len >= t->min_len && hdr->len <= t->max_len &&
	       hdr->len <= PEER_MAX_PAYLOAD;
}

int peer_decode_hdr(const uint8_t *buf, size_t len, struct peer_hdr *ret_hdr)
{
	struct peer_hdr h;

	if (len < PEER_HDR_SIZE)
		return -EAGAIN;
	if (be_get_u32(buf + HDR_OFF_MAGIC) != PEER_MAGIC ||
	    be_get_u32(buf + HDR_OFF_RESERVED) != 0)
		return -EBADMSG;
	h.type = be_get_u16(buf + HDR_OFF_TYPE);
	h.flags = be_get_u16(buf + HDR_OFF_FLAGS);
	h.len = be_get_u32(buf + HDR_OFF_LEN);
	h.seq = be_get_u64(buf + HDR_OFF_SEQ);
	if (!hdr_valid(&h))
		return -EBADMSG;
	*ret_hdr = h;
	return 0;
}

/* Write a header known to be valid; buf has PEER_HDR_SIZE bytes. */
static void put_hdr(uint8_t *buf, uint16_t type, uint16_t flags, uint32_t len,
		    uint64_t seq)
{
	be_put_u32(buf + HDR_OFF_MAGIC, PEER_MAGIC);
	be_put_u16(buf + HDR_OFF_TYPE, type);
	be_put_u16(buf + HDR_OFF_FLAGS, flags);
	be_put_u32(buf + HDR_OFF_LEN, len);
	be_put_u32(buf + HDR_OFF_RESERVED, 0);
	be_put_u64(buf + HDR_OFF_SEQ, seq);
}

int peer_encode_hdr(uint8_t *buf, size_t cap, const struct peer_hdr *hdr)
{
	if (!hdr_valid(hdr))
		return -EINVAL;
	if (cap < PEER_HDR_SIZE)
		return -ENOBUFS;
	put_hdr(buf, hdr->type, hdr->flags, hdr->len, hdr->seq);
	return PEER_HDR_SIZE;
}

uint32_t peer_fixed_len(const struct peer_hdr *hdr)
{
	if (hdr->type == PEER_DATA || hdr->type == PEER_RS_DATA)
		return PEER_DATA_SIZE;
	return hdr->len;
}

bool peer_range_fits(uint64_t offset, uint64_t len, uint64_t size)
{
	return offset <= size && len <= size - offset;
}

/*
 * Shared start of the fixed-layout encoders: check the room for header +
 * payload_len and write the header. Returns the total size or -ENOBUFS.
 */
static int start_packet(uint8_t *buf, size_t cap, uint16_t type,
			uint16_t flags, uint32_t payload_len, uint64_t seq)
{
	struct peer_hdr h = {
		.type = type, .flags = flags, .len = payload_len, .seq = seq,
	};

	assert(hdr_valid(&h));	/* callers check their fields first */
	if (cap < (size_t)PEER_HDR_SIZE + payload_len)
		return -ENOBUFS;
	put_hdr(buf, type, flags, payload_len, seq);
	return (int)(PEER_HDR_SIZE + payload_len);
}

/* ---- HELLO ---- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool peer_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= PEER_NAME_MAX || !name_char(s[n]))
			return false;
	return n > 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool role_valid(uint32_t role)
{
	return role == PEER_ROLE_SECONDARY || role == PEER_ROLE_PRIMARY;
}

static bool hello_valid(const struct peer_hello *h)
{
	return h->version_min >= 1 && h->version_min <= h->version_max &&
	       role_valid(h->role) && peer_name_valid(h->node_name) &&
	       peer_name_valid(h->resource) &&
	       !all_zero(h->challenge, PEER_CHALLENGE_SIZE);
}

/* u8 length, the name, zero padding to 64 bytes. */
static void put_name(uint8_t *p, const char *name)
{
	size_t n = strlen(name);

	p[0] = (uint8_t)n;
	memcpy(p + 1, name, n);
	memset(p + 1 + n, 0, HELLO_NAME_FIELD - 1 - n);
}

static bool get_name(const uint8_t *p, char ret[PEER_NAME_MAX + 1])
{
	uint8_t n = p[0];

	if (n == 0 || n > PEER_NAME_MAX)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!name_char((char)p[1 + i]))
			return false;
	if (!all_zero(p + 1 + n, HELLO_NAME_FIELD - 1u - n))
		return false;
	memcpy(ret, p + 1, n);
	ret[n] = '\0';
	return true;
}

int peer_encode_hello(uint8_t *buf, size_t cap, const struct peer_hello *h)
{
	uint8_t *p = buf + PEER_HDR_SIZE;
	int n;

	if (!hello_valid(h))
		return -EINVAL;
	n = start_packet(buf, cap, PEER_HELLO, 0, PEER_HELLO_SIZE, 0);
	if (n < 0)
		return n;
	be_put_u16(p + HELLO_OFF_VMIN, h->version_min);
	be_put_u16(p + HELLO_OFF_VMAX, h->version_max);
	be_put_u32(p + HELLO_OFF_NODE_ID, h->node_id);
	be_put_u64(p + HELLO_OFF_FEATURES, h->features);
	be_put_u64(p + HELLO_OFF_DATA_SIZE, h->data_size);
	be_put_u32(p + HELLO_OFF_ROLE, (uint32_t)h->role);
	be_put_u32(p + HELLO_OFF_MD_FLAGS, h->md_flags);
	be_put_u64(p + HELLO_OFF_UUID_CUR, h->uuid_current);
	be_put_u64(p + HELLO_OFF_UUID_BM, h->uuid_bitmap);
	for (unsigned i = 0; i < PEER_HISTORY_UUIDS; i++)
		be_put_u64(p + HELLO_OFF_UUID_HIST + 8 * i, h->uuid_history[i]);
	memcpy(p + HELLO_OFF_CHALLENGE, h->challenge, PEER_CHALLENGE_SIZE);
	put_name(p + HELLO_OFF_NODE_NAME, h->node_name);
	put_name(p + HELLO_OFF_RESOURCE, h->resource);
	return n;
}

int peer_decode_hello(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		      struct peer_hello *ret_hello)
{
	struct peer_hello h;
	uint32_t role;

	assert(hdr->type == PEER_HELLO);
	if (len < hdr->len)
		return -EAGAIN;
	/* Bytes past PEER_HELLO_SIZE belong to a later version: ignored. */
	if (hdr->len < PEER_HELLO_SIZE)
		return -EBADMSG;
	h.version_min = be_get_u16(p + HELLO_OFF_VMIN);
	h.version_max = be_get_u16(p + HELLO_OFF_VMAX);
	h.node_id = be_get_u32(p + HELLO_OFF_NODE_ID);
	h.features = be_get_u64(p + HELLO_OFF_FEATURES);
	h.data_size = be_get_u64(p + HELLO_OFF_DATA_SIZE);
	role = be_get_u32(p + HELLO_OFF_ROLE);
	if (!role_valid(role))
		return -EBADMSG;
	h.role = (enum peer_role)role;
	h.md_flags = be_get_u32(p + HELLO_OFF_MD_FLAGS);
	h.uuid_current = be_get_u64(p + HELLO_OFF_UUID_CUR);
	h.uuid_bitmap = be_get_u64(p + HELLO_OFF_UUID_BM);
	for (unsigned i = 0; i < PEER_HISTORY_UUIDS; i++)
		h.uuid_history[i] = be_get_u64(p + HELLO_OFF_UUID_HIST + 8 * i);
	memcpy(h.challenge, p + HELLO_OFF_CHALLENGE, PEER_CHALLENGE_SIZE);
	if (!get_name(p + HELLO_OFF_NODE_NAME, h.node_name) ||
	    !get_name(p + HELLO_OFF_RESOURCE, h.resource))
		return -EBADMSG;
	if (!hello_valid(&h))
		return -EBADMSG;
	*ret_hello = h;
	return 0;
}

int peer_hello_check(const struct peer_hello *local,
		     const struct peer_hello *remote, uint16_t *ret_version,
		     char *err_msg)
{
	const size_t cap = PEER_MSG_MAX + 1;
	uint16_t lo, hi;

	assert(hello_valid(local) && hello_valid(remote));
	/* The highest version both speak: [max of mins, min of maxes]. */
	lo = local->version_min > remote->version_min ?
	     local->version_min : remote->version_min;
	hi = local->version_max < remote->version_max ?
	     local->version_max : remote->version_max;
	if (hi < lo) {
		snprintf(err_msg, cap, "no common protocol version: local "
			 "%u-%u, peer %u-%u", local->version_min,
			 local->version_max, remote->version_min,
			 remote->version_max);
		return -EPROTONOSUPPORT;
	}
	if (strcmp(local->resource, remote->resource) != 0) {
		snprintf(err_msg, cap, "resource name mismatch: local '%s', "
			 "peer '%s'", local->resource, remote->resource);
		return -ENOENT;
	}
	if (local->data_size != remote->data_size) {
		snprintf(err_msg, cap, "size mismatch: local %llu bytes, "
			 "peer %llu bytes",
			 (unsigned long long)local->data_size,
			 (unsigned long long)remote->data_size);
		return -ERANGE;
	}
	if (strcmp(local->node_name, remote->node_name) == 0) {
		snprintf(err_msg, cap, "peer has our node name '%s' (a node "
			 "connected to itself, or two nodes started with the "
			 "same --node)", local->node_name);
		return -EEXIST;
	}
	if (local->node_id == remote->node_id) {
		snprintf(err_msg, cap, "peer '%s' has our node id %u (node "
			 "ids must differ)", remote->node_name,
			 (unsigned)local->node_id);
		return -EEXIST;
	}
	*ret_version = hi;
	return 0;
}

int peer_hdr_check_features(const struct peer_hdr *hdr, uint64_t features)
{
	if ((hdr->flags & PEER_F_COMPRESSED) && !(features & PEER_FEAT_LZ4))
		return -EBADMSG;
	if ((hdr->flags & PEER_F_CHECKSUM) && !(features & PEER_FEAT_CRC32C))
		return -EBADMSG;
	if (hdr->type == PEER_RS_HASH && !(features & PEER_FEAT_XXH3))
		return -EBADMSG;
	return 0;
}

/* ---- AUTH, AUTH_OK, REFUSE ---- */

int peer_encode_auth(uint8_t *buf, size_t cap,
		     const uint8_t mac[PEER_MAC_SIZE])
{
	int n = start_packet(buf, cap, PEER_AUTH, 0, PEER_MAC_SIZE, 0);

	if (n < 0)
		return n;
	memcpy(buf + PEER_HDR_SIZE, mac, PEER_MAC_SIZE);
	return n;
}

int peer_decode_auth(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint8_t ret_mac[PEER_MAC_SIZE])
{
	assert(hdr->type == PEER_AUTH);
	if (hdr->len != PEER_MAC_SIZE)
		return -EBADMSG;
	if (len < PEER_MAC_SIZE)
		return -EAGAIN;
	memcpy(ret_mac, p, PEER_MAC_SIZE);
	return 0;
}

int peer_encode_auth_ok(uint8_t *buf, size_t cap)
{
	return start_packet(buf, cap, PEER_AUTH_OK, 0, 0, 0);
}

static bool errno_valid(uint32_t err)
{
	return err >= 1 && err <= ERRNO_MAX;
}

/* Printable ASCII only: the reason ends up in logs and terminals. */
static bool msg_char(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

int peer_encode_refuse(uint8_t *buf, size_t cap, uint32_t err,
		       const char *msg)
{
	size_t mlen = strnlen(msg, PEER_MSG_MAX + 1);
	int n;

	if (!errno_valid(err) || mlen > PEER_MSG_MAX)
		return -EINVAL;
	for (size_t i = 0; i < mlen; i++)
		if (!msg_char((uint8_t)msg[i]))
			return -EINVAL;
	n = start_packet(buf, cap, PEER_REFUSE, 0, 4 + (uint32_t)mlen, 0);
	if (n < 0)
		return n;
	be_put_u32(buf + PEER_HDR_SIZE, err);
	memcpy(buf + PEER_HDR_SIZE + 4, msg, mlen);
	return n;
}

int peer_decode_refuse(const struct peer_hdr *hdr, const uint8_t *p,
		       size_t len, struct peer_refuse *ret_refuse)
{
	uint32_t mlen, err;

	assert(hdr->type == PEER_REFUSE);
	if (len < hdr->len)
		return -EAGAIN;
	if (hdr->len < 4 || hdr->len > 4 + PEER_MSG_MAX)
		return -EBADMSG;
	err = be_get_u32(p);
	mlen = hdr->len - 4;
	if (!errno_valid(err))
		return -EBADMSG;
	for (uint32_t i = 0; i < mlen; i++)
		if (!msg_char(p[4 + i]))
			return -EBADMSG;
	ret_refuse->err = err;
	memcpy(ret_refuse->msg, p + 4, mlen);
	ret_refuse->msg[mlen] = '\0';
	return 0;
}

/* ---- DATA and RS_DATA ---- */

#define DATA_OFF_OFFSET		0
#define DATA_OFF_RAW_LEN	8
#define DATA_OFF_WIRE_LEN	12
#define DATA_OFF_CRC		16
#define DATA_OFF_RESERVED	20

/* Every DATA rule but the header's payload length. */
static bool data_valid(uint16_t type, const struct peer_data *d)
{
	if (d->flags & ~type_info(type)->flags)
		return false;
	if (d->raw_len == 0 || d->raw_len > PEER_MAX_DATA)
		return false;
	if (d->offset > UINT64_MAX - d->raw_len)
		return false;
	if (d->flags & PEER_F_COMPRESSED) {
		/* A payload that does not shrink goes raw. */
		if (d->wire_len == 0 || d->wire_len >= d->raw_len)
			return false;
	} else if (d->wire_len != d->raw_len) {
		return false;
	}
	if (!(d->flags & PEER_F_CHECKSUM) && d->crc32c != 0)
		return false;
	return true;
}

static int encode_data(uint8_t *buf, size_t cap, uint16_t type, uint64_t seq,
		       const struct peer_data *d)
{
	uint8_t *p = buf + PEER_HDR_SIZE;

	if (!data_valid(type, d))
		return -EINVAL;
	if (cap < PEER_HDR_SIZE + PEER_DATA_SIZE)
		return -ENOBUFS;
	put_hdr(buf, type, d->flags, PEER_DATA_SIZE + d->wire_len, seq);
	be_put_u64(p + DATA_OFF_OFFSET, d->offset);
	be_put_u32(p + DATA_OFF_RAW_LEN, d->raw_len);
	be_put_u32(p + DATA_OFF_WIRE_LEN, d->wire_len);
	be_put_u32(p + DATA_OFF_CRC, d->crc32c);
	be_put_u32(p + DATA_OFF_RESERVED, 0);
	return PEER_HDR_SIZE + PEER_DATA_SIZE;
}

int peer_encode_data(uint8_t *buf, size_t cap, uint64_t seq,
		     const struct peer_data *d)
{
	return encode_data(buf, cap, PEER_DATA, seq, d);
}

int peer_encode_rs_data(uint8_t *buf, size_t cap, uint64_t seq,
			const struct peer_data *d)
{
	return encode_data(buf, cap, PEER_RS_DATA, seq, d);
}

static int decode_data(const struct peer_hdr *hdr, const uint8_t *p,
		       size_t len, struct peer_data *ret_data)
{
	struct peer_data d;

	if (len < PEER_DATA_SIZE)
		return -EAGAIN;
	if (be_get_u32(p + DATA_OFF_RESERVED) != 0)
		return -EBADMSG;
	d.flags = hdr->flags;
	d.offset = be_get_u64(p + DATA_OFF_OFFSET);
	d.raw_len = be_get_u32(p + DATA_OFF_RAW_LEN);
	d.wire_len = be_get_u32(p + DATA_OFF_WIRE_LEN);
	d.crc32c = be_get_u32(p + DATA_OFF_CRC);
	if (!data_valid(hdr->type, &d))
		return -EBADMSG;
	/* The header's length frames the stream: it must agree. */
	if ((uint64_t)hdr->len != (uint64_t)PEER_DATA_SIZE + d.wire_len)
		return -EBADMSG;
	*ret_data = d;
	return 0;
}

int peer_decode_data(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     struct peer_data *ret_data)
{
	assert(hdr->type == PEER_DATA);
	return decode_data(hdr, p, len, ret_data);
}

int peer_decode_rs_data(const struct peer_hdr *hdr, const uint8_t *p,
			size_t len, struct peer_data *ret_data)
{
	assert(hdr->type == PEER_RS_DATA);
	return decode_data(hdr, p, len, ret_data);
}

/* ---- TRIM, WRITE_ZEROES ---- */

static bool range_valid(uint16_t type, const struct peer_range *r)
{
	return (r->flags & ~type_info(type)->flags) == 0 && r->len > 0 &&
	       r->offset <= UINT64_MAX - r->len;
}

static int encode_range(uint8_t *buf, size_t cap, uint16_t type, uint64_t seq,
			const struct peer_range *r)
{
	int n;

	if (!range_valid(type, r))
		return -EINVAL;
	n = start_packet(buf, cap, type, r->flags, PEER_RANGE_SIZE, seq);
	if (n < 0)
		return n;
	be_put_u64(buf + PEER_HDR_SIZE, r->offset);
	be_put_u64(buf + PEER_HDR_SIZE + 8, r->len);
	return n;
}

int peer_encode_trim(uint8_t *buf, size_t cap, uint64_t seq,
		     const struct peer_range *r)
{
	return encode_range(buf, cap, PEER_TRIM, seq, r);
}

int peer_encode_write_zeroes(uint8_t *buf, size_t cap, uint64_t seq,
			     const struct peer_range *r)
{
	return encode_range(buf, cap, PEER_WRITE_ZEROES, seq, r);
}

int peer_decode_range(const struct peer_hdr *hdr, const uint8_t *p,
		      size_t len, struct peer_range *ret_range)
{
	struct peer_range r;

	assert(hdr->type == PEER_TRIM || hdr->type == PEER_WRITE_ZEROES);
	if (hdr->len != PEER_RANGE_SIZE)
		return -EBADMSG;
	if (len < PEER_RANGE_SIZE)
		return -EAGAIN;
	r.flags = hdr->flags;
	r.offset = be_get_u64(p);
	r.len = be_get_u64(p + 8);
	if (!range_valid(hdr->type, &r))
		return -EBADMSG;
	*ret_range = r;
	return 0;
}

/* ---- FLUSH, ACK_RECV, ACK_WRITE, NACK ---- */

int peer_encode_flush(uint8_t *buf, size_t cap, uint64_t seq)
{
	return start_packet(buf, cap, PEER_FLUSH, 0, 0, seq);
}

int peer_encode_ack_recv(uint8_t *buf, size_t cap, uint64_t seq)
{
	return start_packet(buf, cap, PEER_ACK_RECV, 0, 0, seq);
}

int peer_encode_ack_write(uint8_t *buf, size_t cap, uint64_t seq)
{
	return start_packet(buf, cap, PEER_ACK_WRITE, 0, 0, seq);
}

int peer_encode_nack(uint8_t *buf, size_t cap, uint64_t seq, uint32_t err)
{
	int n;

	if (!errno_valid(err))
		return -EINVAL;
	n = start_packet(buf, cap, PEER_NACK, 0, 4, seq);
	if (n < 0)
		return n;
	be_put_u32(buf + PEER_HDR_SIZE, err);
	return n;
}

int peer_decode_nack(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint32_t *ret_err)
{
	uint32_t err;

	assert(hdr->type == PEER_NACK);
	if (hdr->len != 4)
		return -EBADMSG;
	if (len < 4)
		return -EAGAIN;
	err = be_get_u32(p);
	if (!errno_valid(err))
		return -EBADMSG;
	*ret_err = err;
	return 0;
}

/* ---- PING, PONG ---- */

int peer_encode_ping(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ts)
{
	int n = start_packet(buf, cap, PEER_PING, 0, 8, seq);

	if (n >= 0)
		be_put_u64(buf + PEER_HDR_SIZE, ts);
	return n;
}

int peer_encode_pong(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ts)
{
	int n = start_packet(buf, cap, PEER_PONG, 0, 8, seq);

	if (n >= 0)
		be_put_u64(buf + PEER_HDR_SIZE, ts);
	return n;
}

int peer_decode_ping(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint64_t *ret_ts)
{
	assert(hdr->type == PEER_PING || hdr->type == PEER_PONG);
	if (hdr->len != 8)
		return -EBADMSG;
	if (len < 8)
		return -EAGAIN;
	*ret_ts = be_get_u64(p);
	return 0;
}

/* ---- RS_REQUEST ---- */

static bool rs_request_valid(const struct peer_rs_request *r)
{
	return r->len > 0 && r->len <= PEER_MAX_DATA &&
	       r->offset <= UINT64_MAX - r->len;
}

int peer_encode_rs_request(uint8_t *buf, size_t cap, uint64_t seq,
			   const struct peer_rs_request *r)
{
	uint8_t *p = buf + PEER_HDR_SIZE;
	int n;

	if (!rs_request_valid(r))
		return -EINVAL;
	n = start_packet(buf, cap, PEER_RS_REQUEST, 0, PEER_RS_REQUEST_SIZE,
			 seq);
	if (n < 0)
		return n;
	be_put_u64(p, r->offset);
	be_put_u32(p + 8, r->len);
	be_put_u32(p + 12, 0);
	return n;
}

int peer_decode_rs_request(const struct peer_hdr *hdr, const uint8_t *p,
			   size_t len, struct peer_rs_request *ret_req)
{
	struct peer_rs_request r;

	assert(hdr->type == PEER_RS_REQUEST);
	if (hdr->len != PEER_RS_REQUEST_SIZE)
		return -EBADMSG;
	if (len < PEER_RS_REQUEST_SIZE)
		return -EAGAIN;
	if (be_get_u32(p + 12) != 0)
		return -EBADMSG;
	r.offset = be_get_u64(p);
	r.len = be_get_u32(p + 8);
	if (!rs_request_valid(&r))
		return -EBADMSG;
	*ret_req = r;
	return 0;
}

/* ---- RS_HASH ---- */

static bool pow2(uint32_t v)
{
	return v && (v & (v - 1)) == 0;
}

/* Hashes for the range, or 0 if the range is invalid. */
static uint32_t rs_hash_count(const struct peer_rs_hash *h)
{
	if (h->len == 0 || h->len > PEER_MAX_DATA ||
	    h->offset > UINT64_MAX - h->len || !pow2(h->block_size) ||
	    h->block_size < PEER_HASH_BLOCK_MIN ||
	    h->block_size > PEER_HASH_BLOCK_MAX)
		return 0;
	return (uint32_t)(((uint64_t)h->len + h->block_size - 1) /
			  h->block_size);
}

int peer_encode_rs_hash(uint8_t *buf, size_t cap, uint64_t seq,
			const struct peer_rs_hash *h, const uint64_t *hashes)
{
	uint32_t count = rs_hash_count(h);
	uint8_t *p = buf + PEER_HDR_SIZE;
	int n;

	if (count == 0)
		return -EINVAL;
	n = start_packet(buf, cap, PEER_RS_HASH, h->reply ? PEER_F_REPLY : 0,
			 PEER_RS_HASH_SIZE + 8 * count, seq);
	if (n < 0)
		return n;
	be_put_u64(p, h->offset);
	be_put_u32(p + 8, h->len);
	be_put_u32(p + 12, h->block_size);
	for (uint32_t i = 0; i < count; i++)
		be_put_u64(p + PEER_RS_HASH_SIZE + 8 * i, hashes[i]);
	return n;
}

int peer_decode_rs_hash(const struct peer_hdr *hdr, const uint8_t *p,
			size_t len, struct peer_rs_hash *ret_hash)
{
	struct peer_rs_hash h;

	assert(hdr->type == PEER_RS_HASH);
	if (len < hdr->len)
		return -EAGAIN;
	if (hdr->len < PEER_RS_HASH_SIZE)
		return -EBADMSG;
	h.offset = be_get_u64(p);
	h.len = be_get_u32(p + 8);
	h.block_size = be_get_u32(p + 12);
	h.n_hashes = rs_hash_count(&h);
	if (h.n_hashes == 0 ||
	    hdr->len != PEER_RS_HASH_SIZE + 8 * (uint64_t)h.n_hashes)
		return -EBADMSG;
	h.hashes = p + PEER_RS_HASH_SIZE;
	h.reply = hdr->flags & PEER_F_REPLY;
	*ret_hash = h;
	return 0;
}

uint64_t peer_rs_hash_at(const struct peer_rs_hash *h, uint32_t i)
{
	assert(i < h->n_hashes);
	return be_get_u64(h->hashes + 8 * (size_t)i);
}

/* ---- BITMAP ---- */

static bool bitmap_valid(const struct peer_bitmap *b)
{
	return b->first_bit % 64 == 0 && pow2(b->granularity) &&
	       b->granularity >= 4096 && b->granularity <= (1u << 20) &&
	       b->n_bytes >= 8 && b->n_bytes % 8 == 0 &&
	       b->n_bytes <= PEER_BITMAP_MAX_BYTES &&
	       b->first_bit <= UINT64_MAX - 8 * (uint64_t)b->n_bytes;
}

int peer_encode_bitmap(uint8_t *buf, size_t cap, uint64_t seq,
		       const struct peer_bitmap *b)
{
	uint8_t *p = buf + PEER_HDR_SIZE;
	int n;

	if (!bitmap_valid(b))
		return -EINVAL;
	n = start_packet(buf, cap, PEER_BITMAP, b->last ? PEER_F_LAST : 0,
			 PEER_BITMAP_SIZE + b->n_bytes, seq);
	if (n < 0)
		return n;
	be_put_u64(p, b->first_bit);
	be_put_u32(p + 8, b->granularity);
	be_put_u32(p + 12, 0);
	memcpy(p + PEER_BITMAP_SIZE, b->bits, b->n_bytes);
	return n;
}

int peer_decode_bitmap(const struct peer_hdr *hdr, const uint8_t *p,
		       size_t len, struct peer_bitmap *ret_bitmap)
{
	struct peer_bitmap b;

	assert(hdr->type == PEER_BITMAP);
	if (len < hdr->len)
		return -EAGAIN;
	if (hdr->len < PEER_BITMAP_SIZE || be_get_u32(p + 12) != 0)
		return -EBADMSG;
	b.first_bit = be_get_u64(p);
	b.granularity = be_get_u32(p + 8);
	b.n_bytes = hdr->len - PEER_BITMAP_SIZE;
	b.bits = p + PEER_BITMAP_SIZE;
	b.last = hdr->flags & PEER_F_LAST;
	if (!bitmap_valid(&b))
		return -EBADMSG;
	*ret_bitmap = b;
	return 0;
}

/* ---- STATE ---- */

static bool state_valid(uint32_t role, uint32_t disk, uint32_t repl)
{
	return role_valid(role) &&
	       disk >= PEER_DISK_DISKLESS && disk <= PEER_DISK_UPTODATE &&
	       repl >= PEER_REPL_OFF && repl <= PEER_REPL_VERIFY_TARGET;
}

int peer_encode_state(uint8_t *buf, size_t cap, uint64_t seq,
		      const struct peer_state *s)
{
	uint8_t *p = buf + PEER_HDR_SIZE;
	int n;

	if (!state_valid(s->role, s->disk, s->repl))
		return -EINVAL;
	n = start_packet(buf, cap, PEER_STATE, 0, PEER_STATE_SIZE, seq);
	if (n < 0)
		return n;
	be_put_u32(p, (uint32_t)s->role);
	be_put_u32(p + 4, (uint32_t)s->disk);
	be_put_u32(p + 8, (uint32_t)s->repl);
	be_put_u32(p + 12, 0);
	return n;
}

int peer_decode_state(const struct peer_hdr *hdr, const uint8_t *p,
		      size_t len, struct peer_state *ret_state)
{
	uint32_t role, disk, repl;

	assert(hdr->type == PEER_STATE);
	if (hdr->len != PEER_STATE_SIZE)
		return -EBADMSG;
	if (len < PEER_STATE_SIZE)
		return -EAGAIN;
	if (be_get_u32(p + 12) != 0)
		return -EBADMSG;
	role = be_get_u32(p);
	disk = be_get_u32(p + 4);
	repl = be_get_u32(p + 8);
	if (!state_valid(role, disk, repl))
		return -EBADMSG;
	ret_state->role = (enum peer_role)role;
	ret_state->disk = (enum peer_disk)disk;
	ret_state->repl = (enum peer_repl)repl;
	return 0;
}

/*
 * The name functions take values that may come from a struct filled by
 * hand, so they cannot abort on an unknown value; each switch still lists
 * every enumerator.
 */
const char *peer_role_name(enum peer_role role)
{
	switch (role) {
	case PEER_ROLE_SECONDARY:
		return "secondary";
	case PEER_ROLE_PRIMARY:
		return "primary";
	}
	return "unknown";
}

const char *peer_disk_name(enum peer_disk disk)
{
	switch (disk) {
	case PEER_DISK_DISKLESS:
		return "diskless";
	case PEER_DISK_INCONSISTENT:
		return "inconsistent";
	case PEER_DISK_OUTDATED:
		return "outdated";
	case PEER_DISK_CONSISTENT:
		return "consistent";
	case PEER_DISK_UPTODATE:
		return "uptodate";
	}
	return "unknown";
}

const char *peer_repl_name(enum peer_repl repl)
{
	switch (repl) {
	case PEER_REPL_OFF:
		return "off";
	case PEER_REPL_SYNC_SOURCE:
		return "sync-source";
	case PEER_REPL_SYNC_TARGET:
		return "sync-target";
	case PEER_REPL_VERIFY_SOURCE:
		return "verify-source";
	case PEER_REPL_VERIFY_TARGET:
		return "verify-target";
	}
	return "unknown";
}
