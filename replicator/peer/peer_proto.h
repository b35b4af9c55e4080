/*
 * The peer link codec: the packets two repd nodes exchange over TCP, as
 * pure functions over byte buffers. docs/protocol.md describes the bytes
 * (section "Peer protocol"); keep the two in step, the unit tests hold
 * literal examples copied from it.
 *
 * Three parts, one library (peer_proto_dep):
 *   peer_proto.c    framing, every packet's encode/decode, hello check.
 *                   libc only: no fds, no malloc, no logging.
 *   peer_auth.c     HMAC-SHA256 challenge-response (OpenSSL libcrypto).
 *   peer_payload.c  lz4 compression, crc32c (ISA-L), xxh3 (libxxhash).
 *
 * Conventions:
 *   - Every integer on the wire is big-endian.
 *   - Decoders return 0, -EAGAIN (fewer bytes than needed; call again with
 *     more) or -EBADMSG (malformed: log it and close the link). They write
 *     *ret only when they return 0.
 *   - A payload decoder takes the header that peer_decode_hdr() returned
 *     and a pointer to the bytes after it. It asserts that hdr->type is
 *     its type: dispatching on the type is the caller's job.
 *   - Encoders write header and payload into buf (cap bytes) and return
 *     the number of bytes written (> 0), -ENOBUFS when cap is too small,
 *     or -EINVAL when the struct breaks a rule the decoder enforces (so
 *     whatever we send, the peer accepts). buf is untouched on error.
 *     DATA and RS_DATA are the exception: their encoders write header
 *     and fixed part only, the caller sends the data from its own buffer
 *     (zero copy; see peer_encode_data()).
 *   - Nothing here is connection state: the rules that need it (seq
 *     order, offsets inside the device, negotiated features) are checked
 *     by the link with peer_range_fits() and peer_hdr_check_features().
 */
#ifndef REPD_PEER_PROTO_H
#define REPD_PEER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- framing ---- */

#define PEER_MAGIC		UINT32_C(0x52455044)	/* "REPD" */
#define PEER_HDR_SIZE		24u

/* Protocol versions this build speaks; peers use the highest common. */
#define PEER_VERSION_MIN	1u
#define PEER_VERSION_MAX	1u

#define PEER_MAX_DATA		(32u << 20)	/* raw bytes of one DATA */
#define PEER_MAX_PAYLOAD	(PEER_MAX_DATA + 4096u)	/* any packet */

/* Packet types (header offset 4). Grouped by tens for hex dumps. */
enum peer_type {
	PEER_HELLO		= 0x01,	/* both, first packet */
	PEER_AUTH		= 0x02,	/* both, HMAC response */
	PEER_AUTH_OK		= 0x03,	/* both, peer authenticated */
	PEER_REFUSE		= 0x04,	/* either, errno + reason; then close */
	PEER_DATA		= 0x10,	/* primary -> secondary: a write */
	PEER_TRIM		= 0x11,	/* primary -> secondary */
	PEER_WRITE_ZEROES	= 0x12,	/* primary -> secondary */
	PEER_FLUSH		= 0x13,	/* primary -> secondary: barrier */
	PEER_ACK_RECV		= 0x20,	/* secondary -> primary: received */
	PEER_ACK_WRITE		= 0x21,	/* secondary -> primary: on disk */
	PEER_NACK		= 0x22,	/* secondary -> primary: failed */
	PEER_PING		= 0x30,	/* either */
	PEER_PONG		= 0x31,	/* either, answers PING */
	PEER_RS_REQUEST		= 0x40,	/* sync target -> source */
	PEER_RS_DATA		= 0x41,	/* sync source -> target */
	PEER_RS_HASH		= 0x42,	/* either: block hashes of a range */
	PEER_BITMAP		= 0x43,	/* either: dirty bitmap chunk */
	PEER_STATE		= 0x44,	/* either: role / disk state */
};

/*
 * Header flags (offset 6). One namespace; which flags a type accepts is
 * part of its definition (docs/protocol.md), anything else is -EBADMSG.
 */
enum peer_flag {
	PEER_F_FUA		= 1u << 0,	/* DATA, TRIM, WRITE_ZEROES */
	PEER_F_COMPRESSED	= 1u << 1,	/* DATA, RS_DATA: lz4 payload */
	PEER_F_CHECKSUM		= 1u << 2,	/* DATA, RS_DATA: crc32c valid */
	PEER_F_NO_HOLE		= 1u << 3,	/* WRITE_ZEROES: allocate */
	PEER_F_LAST		= 1u << 4,	/* BITMAP: final chunk */
	PEER_F_RECV_ACK		= 1u << 5,	/* DATA, TRIM, WRITE_ZEROES:
						 * send ACK_RECV (protocol B) */
	PEER_F_REPLY		= 1u << 6,	/* RS_HASH: the receiver's own
						 * hashes, answering ours */
};

struct peer_hdr {
	uint16_t type;			/* enum peer_type */
	uint16_t flags;			/* enum peer_flag bits */
	uint32_t len;			/* payload bytes after the header */
	uint64_t seq;			/* request id; acks echo it */
};

/*
 * Decode the 24-byte header at buf. 0; -EAGAIN if len < PEER_HDR_SIZE;
 * -EBADMSG for a bad magic, a non-zero reserved field, an unknown type,
 * flags the type does not take, or a payload length over PEER_MAX_PAYLOAD
 * or outside the type's range (a fixed-size packet must have exactly its
 * size).
 */
int peer_decode_hdr(const uint8_t *buf, size_t len, struct peer_hdr *ret_hdr);

/*
 * Encode a header (24 bytes; the payload is the caller's). Returns
 * PEER_HDR_SIZE, -ENOBUFS, or -EINVAL for what peer_decode_hdr rejects.
 */
int peer_encode_hdr(uint8_t *buf, size_t cap, const struct peer_hdr *hdr);

/*
 * How many payload bytes to receive before calling the type's decoder:
 * PEER_DATA_SIZE for DATA and RS_DATA (the data follows, to be received
 * straight into its buffer), hdr->len for every other type.
 */
uint32_t peer_fixed_len(const struct peer_hdr *hdr);

/* True if [offset, offset + len) lies within a device of size bytes. */
bool peer_range_fits(uint64_t offset, uint64_t len, uint64_t size);

/* Name for logs ("DATA", ...); "UNKNOWN" for a type we do not know. */
const char *peer_type_name(uint16_t type);

/* ---- HELLO ---- */

#define PEER_NAME_MAX		63u	/* node and resource names, bytes */
#define PEER_CHALLENGE_SIZE	32u
#define PEER_HELLO_SIZE		224u	/* fixed part, all versions */
#define PEER_HELLO_MAX		1024u	/* later versions append fields */
#define PEER_HISTORY_UUIDS	2u

/* Feature bits (HELLO). The link uses local & remote. */
enum peer_feature {
	PEER_FEAT_LZ4		= UINT64_C(1) << 0,	/* PEER_F_COMPRESSED */
	PEER_FEAT_CRC32C	= UINT64_C(1) << 1,	/* PEER_F_CHECKSUM */
	PEER_FEAT_XXH3		= UINT64_C(1) << 2,	/* RS_HASH */
};
#define PEER_FEATURES_KNOWN	(PEER_FEAT_LZ4 | PEER_FEAT_CRC32C | \
				 PEER_FEAT_XXH3)

/*
 * A HELLO md_flags bit that is never on disk (MD_FLAG_* use the low
 * bits): the sender was told `repctl connect --discard-my-data`, so a
 * split brain found on this handshake is resolved by the sender throwing
 * its changes away; the peer keeps connecting instead of going
 * StandAlone.
 */
#define PEER_HELLO_DISCARDING	(UINT32_C(1) << 31)

enum peer_role {
	PEER_ROLE_SECONDARY	= 1,
	PEER_ROLE_PRIMARY	= 2,
};

struct peer_hello {
	uint16_t version_min;		/* lowest protocol version spoken */
	uint16_t version_max;		/* highest; >= version_min >= 1 */
	uint32_t node_id;		/* sender's node id (config) */
	uint64_t features;		/* PEER_FEAT_*; unknown bits allowed */
	uint64_t data_size;		/* sender's data area, bytes */
	enum peer_role role;		/* sender's role now */
	uint32_t md_flags;		/* sender's MD_FLAG_* (md_format.h) */
	uint64_t uuid_current;		/* generation UUIDs, 0 = none */
	uint64_t uuid_bitmap;
	uint64_t uuid_history[PEER_HISTORY_UUIDS];	/* newest first */
	uint8_t challenge[PEER_CHALLENGE_SIZE];	/* random, not all zero */
	char node_name[PEER_NAME_MAX + 1];	/* NUL-terminated */
	char resource[PEER_NAME_MAX + 1];	/* NUL-terminated */
};

/*
 * True if s is a valid node or resource name: 1..63 bytes of
 * A-Z a-z 0-9 . _ - (the config's rule).
 */
bool peer_name_valid(const char *s);

/* HELLO, seq 0. Returns PEER_HDR_SIZE + PEER_HELLO_SIZE or -errno. */
int peer_encode_hello(uint8_t *buf, size_t cap, const struct peer_hello *h);

/*
 * Decode a HELLO payload (hdr->len bytes at p; bytes past the fixed 224
 * are a later version's and ignored). -EBADMSG for versions 0 or
 * min > max, an unknown role, a bad or unterminated name, non-zero name
 * padding, an all-zero challenge.
 */
int peer_decode_hello(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		      struct peer_hello *ret_hello);

#define PEER_MSG_MAX		255u	/* REFUSE reason, bytes */

/*
 * Call with our HELLO and the peer's, both valid, right after the peer's
 * HELLO arrives. Returns 0 and the version to speak in *ret_version, or
 * a negative errno and a one-line reason in err_msg (PEER_MSG_MAX + 1
 * bytes, written only on failure; send it in a REFUSE and log it):
 *   -EPROTONOSUPPORT  no common protocol version
 *   -ENOENT           resource names differ
 *   -ERANGE           data sizes differ ("size mismatch: local X bytes,
 *                     peer Y bytes")
 *   -EEXIST           same node name, or same node id, on both ends
 * Checked in that order.
 */
int peer_hello_check(const struct peer_hello *local,
		     const struct peer_hello *remote, uint16_t *ret_version,
		     char *err_msg);

/*
 * 0 if every flag in hdr is allowed by the negotiated features
 * (local.features & remote.features), else -EBADMSG: COMPRESSED needs
 * LZ4, CHECKSUM needs CRC32C, RS_HASH needs XXH3.
 */
int peer_hdr_check_features(const struct peer_hdr *hdr, uint64_t features);

/* ---- AUTH, AUTH_OK, REFUSE ---- */

#define PEER_MAC_SIZE		32u	/* HMAC-SHA256 */

/* AUTH, seq 0: the 32-byte response. */
int peer_encode_auth(uint8_t *buf, size_t cap,
		     const uint8_t mac[PEER_MAC_SIZE]);
int peer_decode_auth(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint8_t ret_mac[PEER_MAC_SIZE]);

/* AUTH_OK, seq 0, no payload. */
int peer_encode_auth_ok(uint8_t *buf, size_t cap);

struct peer_refuse {
	uint32_t err;			/* positive errno, 1..4095 */
	char msg[PEER_MSG_MAX + 1];	/* printable ASCII, NUL-terminated */
};

/*
 * REFUSE, seq 0: err (positive errno) and msg (printable ASCII, at most
 * PEER_MSG_MAX bytes, may be empty). -EINVAL for a longer message, a
 * control character or err outside 1..4095.
 */
int peer_encode_refuse(uint8_t *buf, size_t cap, uint32_t err,
		       const char *msg);
int peer_decode_refuse(const struct peer_hdr *hdr, const uint8_t *p,
		       size_t len, struct peer_refuse *ret_refuse);

/* ---- DATA and RS_DATA ---- */

#define PEER_DATA_SIZE		24u	/* fixed part; wire_len bytes follow */

struct peer_data {
	uint16_t flags;			/* COMPRESSED, CHECKSUM; DATA also
					 * FUA, RECV_ACK */
	uint64_t offset;		/* bytes into the data area */
	uint32_t raw_len;		/* bytes written, 1..PEER_MAX_DATA */
	uint32_t wire_len;		/* payload bytes: raw_len, or the lz4
					 * size (< raw_len) if COMPRESSED */
	uint32_t crc32c;		/* of the raw bytes if CHECKSUM, else 0 */
};

/*
 * Header and fixed part of a DATA packet (PEER_HDR_SIZE + PEER_DATA_SIZE
 * bytes); the caller sends the d->wire_len payload bytes right after.
 * -EINVAL for what peer_decode_data() rejects.
 */
int peer_encode_data(uint8_t *buf, size_t cap, uint64_t seq,
		     const struct peer_data *d);
int peer_encode_rs_data(uint8_t *buf, size_t cap, uint64_t seq,
			const struct peer_data *d);

/*
 * Decode the fixed part of DATA or RS_DATA (p holds at least
 * PEER_DATA_SIZE bytes, else -EAGAIN). -EBADMSG for flags the type does
 * not take, raw_len 0 or over PEER_MAX_DATA, offset + raw_len past 2^64,
 * wire_len >= raw_len when COMPRESSED or != raw_len when not, a crc32c
 * without CHECKSUM, a non-zero reserved field, or hdr->len other than
 * PEER_DATA_SIZE + wire_len. Then receive wire_len bytes, decompress if
 * COMPRESSED and check with peer_data_verify().
 */
int peer_decode_data(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     struct peer_data *ret_data);
int peer_decode_rs_data(const struct peer_hdr *hdr, const uint8_t *p,
			size_t len, struct peer_data *ret_data);

/* ---- TRIM, WRITE_ZEROES ---- */

#define PEER_RANGE_SIZE		16u

struct peer_range {
	uint16_t flags;			/* FUA, RECV_ACK; WRITE_ZEROES also
					 * NO_HOLE */
	uint64_t offset;		/* bytes into the data area */
	uint64_t len;			/* bytes, > 0, offset + len <= 2^64 */
};

int peer_encode_trim(uint8_t *buf, size_t cap, uint64_t seq,
		     const struct peer_range *r);
int peer_encode_write_zeroes(uint8_t *buf, size_t cap, uint64_t seq,
			     const struct peer_range *r);
/* TRIM or WRITE_ZEROES. -EBADMSG for len 0 or an overflowing end. */
int peer_decode_range(const struct peer_hdr *hdr, const uint8_t *p,
		      size_t len, struct peer_range *ret_range);

/* ---- FLUSH, ACK_RECV, ACK_WRITE, NACK ---- */

/* No payload: the header is the packet (PEER_HDR_SIZE bytes). */
int peer_encode_flush(uint8_t *buf, size_t cap, uint64_t seq);
int peer_encode_ack_recv(uint8_t *buf, size_t cap, uint64_t seq);
int peer_encode_ack_write(uint8_t *buf, size_t cap, uint64_t seq);

/* NACK of request seq with a positive errno (1..4095). */
int peer_encode_nack(uint8_t *buf, size_t cap, uint64_t seq, uint32_t err);
int peer_decode_nack(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint32_t *ret_err);

/* ---- PING, PONG ---- */

/* ts is opaque to the receiver (the sender's clock); PONG echoes seq, ts. */
int peer_encode_ping(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ts);
int peer_encode_pong(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ts);
/* PING or PONG. */
int peer_decode_ping(const struct peer_hdr *hdr, const uint8_t *p, size_t len,
		     uint64_t *ret_ts);

/* ---- resync: RS_REQUEST, RS_HASH, BITMAP, STATE ---- */

#define PEER_RS_REQUEST_SIZE	16u

struct peer_rs_request {
	uint64_t offset;
	uint32_t len;			/* 1..PEER_MAX_DATA */
};

int peer_encode_rs_request(uint8_t *buf, size_t cap, uint64_t seq,
			   const struct peer_rs_request *r);
int peer_decode_rs_request(const struct peer_hdr *hdr, const uint8_t *p,
			   size_t len, struct peer_rs_request *ret_req);

#define PEER_RS_HASH_SIZE	16u	/* fixed part; 8 bytes per hash follow */
#define PEER_HASH_BLOCK_MIN	512u
#define PEER_HASH_BLOCK_MAX	(1u << 20)
#define PEER_RS_HASH_MAX_N	(PEER_MAX_DATA / PEER_HASH_BLOCK_MIN)

struct peer_rs_hash {
	uint64_t offset;		/* first byte of the range */
	uint32_t len;			/* range bytes, 1..PEER_MAX_DATA */
	uint32_t block_size;		/* power of two, 512 B..1 MiB */
	uint32_t n_hashes;		/* ceil(len / block_size) */
	bool reply;			/* PEER_F_REPLY */
	const uint8_t *hashes;		/* decode: borrowed from p, n_hashes
					 * big-endian u64; use peer_rs_hash_at */
};

/*
 * RS_HASH: h->offset, len, block_size and ceil(len / block_size) xxh3
 * hashes from hashes[] (h->n_hashes and h->hashes are ignored). The whole
 * packet is written.
 */
int peer_encode_rs_hash(uint8_t *buf, size_t cap, uint64_t seq,
			const struct peer_rs_hash *h, const uint64_t *hashes);
int peer_decode_rs_hash(const struct peer_hdr *hdr, const uint8_t *p,
			size_t len, struct peer_rs_hash *ret_hash);
/* Hash i (< n_hashes) of a decoded RS_HASH: block offset + i*block_size. */
uint64_t peer_rs_hash_at(const struct peer_rs_hash *h, uint32_t i);

#define PEER_BITMAP_SIZE	16u	/* fixed part; bitmap bytes follow */
#define PEER_BITMAP_MAX_BYTES	PEER_MAX_DATA

struct peer_bitmap {
	uint64_t first_bit;		/* granule of bit 0, multiple of 64 */
	uint32_t granularity;		/* bytes per bit, power of two,
					 * 4 KiB..1 MiB */
	uint32_t n_bytes;		/* multiple of 8, 8..MAX_BYTES */
	const uint8_t *bits;		/* granule first_bit + i is bit i % 8
					 * of bits[i / 8] (md bitmap order);
					 * decode: borrowed from p */
	bool last;			/* PEER_F_LAST: the final chunk */
};

/* BITMAP: the whole packet, bits copied from b->bits. */
int peer_encode_bitmap(uint8_t *buf, size_t cap, uint64_t seq,
		       const struct peer_bitmap *b);
int peer_decode_bitmap(const struct peer_hdr *hdr, const uint8_t *p,
		       size_t len, struct peer_bitmap *ret_bitmap);

#define PEER_STATE_SIZE		16u

enum peer_disk {
	PEER_DISK_DISKLESS	= 1,	/* no backing store attached */
	PEER_DISK_INCONSISTENT	= 2,	/* mid resync target, unusable */
	PEER_DISK_OUTDATED	= 3,	/* consistent but known stale */
	PEER_DISK_CONSISTENT	= 4,	/* consistent, freshness unknown */
	PEER_DISK_UPTODATE	= 5,	/* the newest data */
};

enum peer_repl {
	PEER_REPL_OFF		= 1,	/* connected, no resync or verify */
	PEER_REPL_SYNC_SOURCE	= 2,
	PEER_REPL_SYNC_TARGET	= 3,
	PEER_REPL_VERIFY_SOURCE	= 4,
	PEER_REPL_VERIFY_TARGET	= 5,
};

struct peer_state {
	enum peer_role role;
	enum peer_disk disk;
	enum peer_repl repl;
};

int peer_encode_state(uint8_t *buf, size_t cap, uint64_t seq,
		      const struct peer_state *s);
int peer_decode_state(const struct peer_hdr *hdr, const uint8_t *p,
		      size_t len, struct peer_state *ret_state);

/* Names for logs; "unknown" outside the enum. */
const char *peer_role_name(enum peer_role role);
const char *peer_disk_name(enum peer_disk disk);
const char *peer_repl_name(enum peer_repl repl);

/* ---- authentication (peer_auth.c, libcrypto) ---- */

#define PEER_SECRET_MAX		256u	/* bytes of shared secret */

/* HMAC-SHA256 of data with key. 0, or -EIO if libcrypto fails. */
int peer_hmac_sha256(const void *key, size_t key_len, const void *data,
		     size_t data_len, uint8_t ret_mac[PEER_MAC_SIZE]);

/*
 * The AUTH response a node named node_name sends to a peer that sent
 * challenge: HMAC-SHA256 keyed with the shared secret over
 *   challenge (32) || u8 strlen(node_name) || node_name || "repd-auth-v1"
 * 0; -EINVAL for a secret of 0 or more than PEER_SECRET_MAX bytes or an
 * invalid name; -EIO if libcrypto fails.
 */
int peer_auth_compute(const void *secret, size_t secret_len,
		      const uint8_t challenge[PEER_CHALLENGE_SIZE],
		      const char *node_name, uint8_t ret_mac[PEER_MAC_SIZE]);

/*
 * Check the peer's AUTH: mac must equal peer_auth_compute(secret, the
 * challenge WE sent, the PEER's node name). Constant-time compare.
 * 0 if it does, -EACCES if not, -EINVAL / -EIO as peer_auth_compute.
 */
int peer_auth_verify(const void *secret, size_t secret_len,
		     const uint8_t challenge[PEER_CHALLENGE_SIZE],
		     const char *peer_name, const uint8_t mac[PEER_MAC_SIZE]);

/* Fill a fresh challenge from the CSPRNG. 0 or -EIO. */
int peer_challenge_new(uint8_t ret_challenge[PEER_CHALLENGE_SIZE]);

/* ---- payload transforms (peer_payload.c: lz4, ISA-L, xxhash) ---- */

/*
 * Compress len (1..PEER_MAX_DATA) bytes of src into dst (cap bytes; with
 * cap >= len - 1 every useful result fits). Returns the compressed size,
 * which is < len, or 0 when the result would not be smaller than len or
 * not fit in cap (send raw then); -EINVAL for len 0 or over
 * PEER_MAX_DATA. Borrows src and dst.
 */
int peer_lz4_compress(const void *src, uint32_t len, void *dst, uint32_t cap);

/*
 * Decompress wire_len bytes of src into dst, which holds raw_len bytes.
 * 0 only if the input is valid lz4 that yields exactly raw_len bytes;
 * else -EBADMSG (dst contents are then undefined). Safe on any input.
 */
int peer_lz4_decompress(const void *src, uint32_t wire_len, void *dst,
			uint32_t raw_len);

/* Standard CRC-32C (init ~0, reflected, xor ~0): "123456789" = E3069283. */
uint32_t peer_crc32c(const void *buf, size_t len);

/* XXH3-64 with seed 0, the RS_HASH block hash. */
uint64_t peer_xxh3(const void *buf, size_t len);

/*
 * Call with a decoded DATA/RS_DATA and its raw (decompressed) bytes:
 * 0 if CHECKSUM is not set or the crc32c matches, else -EBADMSG.
 */
int peer_data_verify(const struct peer_data *d, const void *raw);

#endif /* REPD_PEER_PROTO_H */
