/*
 * Pure NBD codec: bytes <-> structs. No fds, no malloc, no logging.
 * Decoders return 0, -EAGAIN (need more bytes) or -EBADMSG (malformed).
 * Encoders write into a caller buffer that is large enough (sizes are the
 * NBD_*_SIZE constants) and return the number of bytes written.
 */
#ifndef NBD_CODEC_H
#define NBD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/be.h"
#include "nbd_proto.h"

/* ---- handshake ---- */

/* Server greeting: NBDMAGIC, IHAVEOPT, handshake flags. Writes 18 bytes. */
size_t nbd_encode_greeting(uint8_t *buf, uint16_t handshake_flags);

/* Client flags (u32). 0 / -EAGAIN. Unknown bits are the caller's to judge. */
int nbd_decode_client_flags(const uint8_t *buf, size_t len, uint32_t *ret_flags);

struct nbd_option_header {
	uint32_t opt;			/* NBD_OPT_* */
	uint32_t len;			/* bytes of option data that follow */
};

/* Option header (16 bytes). -EBADMSG if the magic is not IHAVEOPT. */
int nbd_decode_option_header(const uint8_t *buf, size_t len,
			     struct nbd_option_header *ret);

/* Option reply header (20 bytes); the caller appends `len` data bytes. */
size_t nbd_encode_option_reply(uint8_t *buf, uint32_t opt, uint32_t type,
			       uint32_t len);

/* NBD_OPT_EXPORT_NAME reply: size, flags, and 124 zeroes unless no_zeroes. */
size_t nbd_encode_export_name_reply(uint8_t *buf, uint64_t size,
				    uint16_t tflags, bool no_zeroes);

/* Data of NBD_OPT_INFO and NBD_OPT_GO. Pointers borrow the input buffer. */
struct nbd_info_request {
	const uint8_t *name;		/* not NUL-terminated */
	uint32_t name_len;
	uint16_t n_info;		/* number of requested NBD_INFO_* ids */
	const uint8_t *info_ids;	/* n_info big-endian u16 */
};

/* 0, or -EBADMSG when the lengths inside do not add up to len exactly. */
int nbd_decode_info_request(const uint8_t *data, uint32_t len,
			    struct nbd_info_request *ret);

/* The i-th requested info id (i < n_info). */
uint16_t nbd_info_request_id(const struct nbd_info_request *r, uint16_t i);

/* NBD_REP_INFO payloads (reply header included). Return total bytes. */
size_t nbd_encode_info_export(uint8_t *buf, uint32_t opt, uint64_t size,
			      uint16_t tflags);
size_t nbd_encode_info_string(uint8_t *buf, uint32_t opt, uint16_t info_type,
			      const char *s, uint32_t s_len);
size_t nbd_encode_info_block_size(uint8_t *buf, uint32_t opt, uint32_t min,
				  uint32_t preferred, uint32_t max);

/* NBD_REP_SERVER for NBD_OPT_LIST: u32 name length, name, description. */
size_t nbd_encode_rep_server(uint8_t *buf, const char *name, uint32_t name_len,
			     const char *desc, uint32_t desc_len);

/* Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
struct nbd_meta_request {
	const uint8_t *name;		/* export name, borrowed */
	uint32_t name_len;
	uint32_t n_queries;
	const uint8_t *queries;		/* n_queries x (u32 len, bytes) */
	uint32_t queries_len;
};

/* 0, or -EBADMSG unless every length inside is consistent with len. */
int nbd_decode_meta_request(const uint8_t *data, uint32_t len,
			    struct nbd_meta_request *ret);

/*
 * Iterate the queries of a decoded request. *cursor starts at 0. Returns
 * true and sets the query while there is one; false at the end.
 */
bool nbd_meta_request_next(const struct nbd_meta_request *r, uint32_t *cursor,
			   const uint8_t **ret_query, uint32_t *ret_len);

/* NBD_REP_META_CONTEXT: u32 context id, name. Returns total bytes. */
size_t nbd_encode_rep_meta_context(uint8_t *buf, uint32_t opt, uint32_t id,
				   const char *name, uint32_t name_len);

/* An error reply with an optional UTF-8 message (msg may be NULL). */
size_t nbd_encode_option_error(uint8_t *buf, uint32_t opt, uint32_t type,
			       const char *msg);

/* ---- transmission ---- */

struct nbd_request {
	uint16_t flags;			/* NBD_CMD_FLAG_* */
	uint16_t type;			/* NBD_CMD_* */
	uint64_t cookie;		/* opaque, echoed in the reply */
	uint64_t offset;
	uint32_t len;
};

/* Request header (28 bytes). -EBADMSG if the magic is wrong. */
int nbd_decode_request(const uint8_t *buf, size_t len, struct nbd_request *ret);

/* Encode a request (used by tests and by our own clients). */
size_t nbd_encode_request(uint8_t *buf, const struct nbd_request *req);

/* What a connection negotiated; used to validate requests. */
struct nbd_session {
	uint64_t size;			/* export size, bytes */
	uint16_t tflags;		/* transmission flags as advertised */
	uint32_t min_block;		/* advertised minimum block size */
	uint32_t max_payload;		/* advertised maximum payload */
	bool structured_reply;		/* NBD_OPT_STRUCTURED_REPLY acked */
	uint32_t meta_context_id;	/* base:allocation id, 0 = none */
};

/*
 * Check one request against the session: 0 if it may be executed,
 * otherwise the negative errno to reply with (-EINVAL, -ENOSPC, -EPERM,
 * -EOVERFLOW). Zero-length requests are accepted (and are no-ops).
 */
int nbd_validate_request(const struct nbd_request *req,
			 const struct nbd_session *s);

/* The one errno -> NBD error mapper (argument is a positive errno). */
uint32_t nbd_errno_to_wire(int err);

/* Simple reply header (16 bytes). err is a wire value (NBD_E*). */
size_t nbd_encode_simple_reply(uint8_t *buf, uint32_t err, uint64_t cookie);

/* Structured chunk header (20 bytes) for a payload of len bytes. */
size_t nbd_encode_chunk_header(uint8_t *buf, uint16_t flags, uint16_t type,
			       uint64_t cookie, uint32_t len);

/* OFFSET_DATA chunk header + offset (28 bytes); data_len bytes follow. */
size_t nbd_encode_chunk_offset_data(uint8_t *buf, uint16_t flags,
				    uint64_t cookie, uint64_t offset,
				    uint32_t data_len);

/* OFFSET_HOLE chunk (32 bytes). */
size_t nbd_encode_chunk_offset_hole(uint8_t *buf, uint16_t flags,
				    uint64_t cookie, uint64_t offset,
				    uint32_t hole_len);

/* ERROR chunk with DONE and an optional message (NULL = none). */
size_t nbd_encode_chunk_error(uint8_t *buf, uint64_t cookie, uint32_t err,
			      const char *msg);
#define NBD_CHUNK_ERROR_MAX (NBD_CHUNK_HEADER_SIZE + 6 + 256)

struct nbd_extent {
	uint32_t len;
	uint32_t flags;			/* NBD_STATE_* */
};

/* BLOCK_STATUS chunk with DONE: header, context id, n extents. */
size_t nbd_encode_block_status(uint8_t *buf, uint64_t cookie, uint32_t ctx_id,
			       const struct nbd_extent *ext, uint32_t n);

/* Names for logs. Never NULL. */
const char *nbd_cmd_name(uint16_t type);
const char *nbd_opt_name(uint32_t opt);

#endif /* NBD_CODEC_H */
