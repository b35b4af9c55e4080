/*
 * Pure NBD codec. See nbd_codec.h for the contracts; field layouts follow
 * doc/proto.md of the NBD project.
 */
#include <errno.h>
#include <string.h>

#include "nbd_codec.h"

size_t nbd_encode_greeting(uint8_t *buf, uint16_t handshake_flags)
{
	be_put_u64(buf, NBD_MAGIC);
	be_put_u64(buf + 8, NBD_IHAVEOPT);
	be_put_u16(buf + 16, handshake_flags);
	return NBD_GREETING_SIZE;
}

int nbd_decode_client_flags(const uint8_t *buf, size_t len, uint32_t *ret_flags)
{
	if (len < 4)
		return -EAGAIN;
	*ret_flags = be_get_u32(buf);
	return 0;
}

int nbd_decode_option_header(const uint8_t *buf, size_t len,
			     struct nbd_option_header *ret)
{
	if (len < NBD_OPTION_HEADER_SIZE)
		return -EAGAIN;
	if (be_get_u64(buf) != NBD_IHAVEOPT)
		return -EBADMSG;
	ret->opt = be_get_u32(buf + 8);
	ret->len = be_get_u32(buf + 12);
	return 0;
}

size_t nbd_encode_option_reply(uint8_t *buf, uint32_t opt, uint32_t type,
			       uint32_t len)
{
	be_put_u64(buf, NBD_REP_MAGIC);
	be_put_u32(buf + 8, opt);
	be_put_u32(buf + 12, type);
	be_put_u32(buf + 16, len);
	return NBD_OPTION_REPLY_HEADER_SIZE;
}

size_t nbd_encode_export_name_reply(uint8_t *buf, uint64_t size,
				    uint16_t tflags, bool no_zeroes)
{
	be_put_u64(buf, size);
	be_put_u16(buf + 8, tflags);
	if (no_zeroes)
		return NBD_EXPORT_NAME_REPLY_SIZE;
	memset(buf + NBD_EXPORT_NAME_REPLY_SIZE, 0, 124);
	return NBD_EXPORT_NAME_REPLY_SIZE + 124;
}

int nbd_decode_info_request(const uint8_t *data, uint32_t len,
			    struct nbd_info_request *ret)
{
	uint32_t name_len;
	uint16_t n_info;

	/* u32 name length, name, u16 count, count x u16 */
	if (len < 6)
		return -EBADMSG;
	name_len = be_get_u32(data);
	if (name_len > len - 6 || name_len > NBD_MAX_STRING)
		return -EBADMSG;
	n_info = be_get_u16(data + 4 + name_len);
	if ((uint64_t)len != 6u + name_len + 2u * (uint64_t)n_info)
		return -EBADMSG;
	ret->name = data + 4;
	ret->name_len = name_len;
	ret->n_info = n_info;
	ret->info_ids = data + 6 + name_len;
	return 0;
}

uint16_t nbd_info_request_id(const struct nbd_info_request *r, uint16_t i)
{
	return be_get_u16(r->info_ids + 2u * i);
}

size_t nbd_encode_info_export(uint8_t *buf, uint32_t opt, uint64_t size,
			      uint16_t tflags)
{
	size_t n = nbd_encode_option_reply(buf, opt, NBD_REP_INFO, 12);

	be_put_u16(buf + n, NBD_INFO_EXPORT);
	be_put_u64(buf + n + 2, size);
	be_put_u16(buf + n + 10, tflags);
	return n + 12;
}

size_t nbd_encode_info_string(uint8_t *buf, uint32_t opt, uint16_t info_type,
			      const char *s, uint32_t s_len)
{
	size_t n = nbd_encode_option_reply(buf, opt, NBD_REP_INFO, 2 + s_len);

	be_put_u16(buf + n, info_type);
	memcpy(buf + n + 2, s, s_len);
	return n + 2 + s_len;
}

size_t nbd_encode_info_block_size(uint8_t *buf, uint32_t opt, uint32_t min,
				  uint32_t preferred, uint32_t max)
{
	size_t n = nbd_encode_option_reply(buf, opt, NBD_REP_INFO, 14);

	be_put_u16(buf + n, NBD_INFO_BLOCK_SIZE);
	be_put_u32(buf + n + 2, min);
	be_put_u32(buf + n + 6, preferred);
	be_put_u32(buf + n + 10, max);
	return n + 14;
}

size_t nbd_encode_rep_server(uint8_t *buf, const char *name, uint32_t name_len,
			     const char *desc, uint32_t desc_len)
{
	size_t n = nbd_encode_option_reply(buf, NBD_OPT_LIST, NBD_REP_SERVER,
					   4 + name_len + desc_len);

	be_put_u32(buf + n, name_len);
	memcpy(buf + n + 4, name, name_len);
	memcpy(buf + n + 4 + name_len, desc, desc_len);
	return n + 4 + name_len + desc_len;
}

int nbd_decode_meta_request(const uint8_t *data, uint32_t len,
			    struct nbd_meta_request *ret)
{
	uint32_t name_len, n_queries, off, i;

	/* u32 name length, name, u32 query count, queries */
	if (len < 8)
		return -EBADMSG;
	name_len = be_get_u32(data);
	if (name_len > len - 8 || name_len > NBD_MAX_STRING)
		return -EBADMSG;
	n_queries = be_get_u32(data + 4 + name_len);
	off = 8 + name_len;
	for (i = 0; i < n_queries; i++) {
		uint32_t qlen;

		if (len - off < 4)
			return -EBADMSG;
		qlen = be_get_u32(data + off);
		if (qlen > len - off - 4 || qlen > NBD_MAX_STRING)
			return -EBADMSG;
		off += 4 + qlen;
	}
	if (off != len)
		return -EBADMSG;
	ret->name = data + 4;
	ret->name_len = name_len;
	ret->n_queries = n_queries;
	ret->queries = data + 8 + name_len;
	ret->queries_len = len - 8 - name_len;
	return 0;
}

bool nbd_meta_request_next(const struct nbd_meta_request *r, uint32_t *cursor,
			   const uint8_t **ret_query, uint32_t *ret_len)
{
	uint32_t qlen;

	/* decode_meta_request already proved every length is in bounds */
	if (*cursor >= r->queries_len)
		return false;
	qlen = be_get_u32(r->queries + *cursor);
	*ret_query = r->queries + *cursor + 4;
	*ret_len = qlen;
	*cursor += 4 + qlen;
	return true;
}

size_t nbd_encode_rep_meta_context(uint8_t *buf, uint32_t opt, uint32_t id,
				   const char *name, uint32_t name_len)
{
	size_t n = nbd_encode_option_reply(buf, opt, NBD_REP_META_CONTEXT,
					   4 + name_len);

	be_put_u32(buf + n, id);
	memcpy(buf + n + 4, name, name_len);
	return n + 4 + name_len;
}

size_t nbd_encode_option_error(uint8_t *buf, uint32_t opt, uint32_t type,
			       const char *msg)
{
	uint32_t mlen = msg ? (uint32_t)strnlen(msg, NBD_MAX_STRING) : 0;
	size_t n = nbd_encode_option_reply(buf, opt, type, mlen);

	memcpy(buf + n, msg ? msg : "", mlen);
	return n + mlen;
}

int nbd_decode_request(const uint8_t *buf, size_t len, struct nbd_request *ret)
{
	if (len < NBD_REQUEST_SIZE)
		return -EAGAIN;
	if (be_get_u32(buf) != NBD_REQUEST_MAGIC)
		return -EBADMSG;
	ret->flags = be_get_u16(buf + 4);
	ret->type = be_get_u16(buf + 6);
	ret->cookie = be_get_u64(buf + 8);
	ret->offset = be_get_u64(buf + 16);
	ret->len = be_get_u32(buf + 24);
	return 0;
}

size_t nbd_encode_request(uint8_t *buf, const struct nbd_request *req)
{
	be_put_u32(buf, NBD_REQUEST_MAGIC);
	be_put_u16(buf + 4, req->flags);
	be_put_u16(buf + 6, req->type);
	be_put_u64(buf + 8, req->cookie);
	be_put_u64(buf + 16, req->offset);
	be_put_u32(buf + 24, req->len);
	return NBD_REQUEST_SIZE;
}

/* Command flags each command accepts (FUA is checked separately). */
static uint16_t allowed_flags(uint16_t type, const struct nbd_session *s)
{
	uint16_t fua = (s->tflags & NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;

	switch (type) {
	case NBD_CMD_READ:
		/* DF only when advertised, which needs structured replies */
		return fua | ((s->structured_reply &&
			       (s->tflags & NBD_FLAG_SEND_DF)) ?
			      NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_FLUSH:
	case NBD_CMD_CACHE:
	case NBD_CMD_DISC:
		return fua;
	case NBD_CMD_WRITE_ZEROES:
		return fua | NBD_CMD_FLAG_NO_HOLE |
		       ((s->tflags & NBD_FLAG_SEND_FAST_ZERO) ?
			NBD_CMD_FLAG_FAST_ZERO : 0);
	case NBD_CMD_BLOCK_STATUS:
		return fua | NBD_CMD_FLAG_REQ_ONE;
	default:
		return 0;
	}
}

static bool cmd_advertised(uint16_t type, uint16_t tflags)
{
	switch (type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_DISC:
	case NBD_CMD_BLOCK_STATUS:	/* gated by the meta context instead */
		return true;
	case NBD_CMD_FLUSH:
		return tflags & NBD_FLAG_SEND_FLUSH;
	case NBD_CMD_TRIM:
		return tflags & NBD_FLAG_SEND_TRIM;
	case NBD_CMD_CACHE:
		return tflags & NBD_FLAG_SEND_CACHE;
	case NBD_CMD_WRITE_ZEROES:
		return tflags & NBD_FLAG_SEND_WRITE_ZEROES;
	default:
		return false;
	}
}

int nbd_validate_request(const struct nbd_request *req,
			 const struct nbd_session *s)
{
	bool writes = req->type == NBD_CMD_WRITE ||
		      req->type == NBD_CMD_WRITE_ZEROES ||
		      req->type == NBD_CMD_TRIM;
	uint64_t end = req->offset + req->len;

	if (!cmd_advertised(req->type, s->tflags))
		return -EINVAL;
	if (req->flags & ~allowed_flags(req->type, s))
		return -EINVAL;
	if (req->type == NBD_CMD_FLUSH || req->type == NBD_CMD_DISC)
		return (req->offset || req->len) ? -EINVAL : 0;
	if (req->type == NBD_CMD_BLOCK_STATUS && !s->meta_context_id)
		return -EINVAL;
	if (writes && (s->tflags & NBD_FLAG_READ_ONLY))
		return -EPERM;
	/* READ and WRITE carry data that must fit the advertised maximum.
	 * The spec also lets us refuse CACHE and WRITE_ZEROES above it (a
	 * SHOULD); we serve them, since they move no payload and clients
	 * zeroing large ranges then keep working. */
	if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE) &&
	    req->len > s->max_payload)
		return -EINVAL;
	if (end < req->offset || end > s->size) {
		if (req->type == NBD_CMD_WRITE ||
		    req->type == NBD_CMD_WRITE_ZEROES)
			return -ENOSPC;
		return -EINVAL;
	}
	if (s->min_block > 1 && ((req->offset | req->len) % s->min_block))
		return -EINVAL;
	return 0;
}

uint32_t nbd_errno_to_wire(int err)
{
	switch (err) {
	case 0:
		return NBD_SUCCESS;
	case EROFS:
	case EPERM:
	case EACCES:
		return NBD_EPERM;
	case EIO:
		return NBD_EIO;
	case ENOMEM:
		return NBD_ENOMEM;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	case EINVAL:
	default:
		return NBD_EINVAL;
	}
}

size_t nbd_encode_simple_reply(uint8_t *buf, uint32_t err, uint64_t cookie)
{
	be_put_u32(buf, NBD_SIMPLE_REPLY_MAGIC);
	be_put_u32(buf + 4, err);
	be_put_u64(buf + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t nbd_encode_chunk_header(uint8_t *buf, uint16_t flags, uint16_t type,
			       uint64_t cookie, uint32_t len)
{
	be_put_u32(buf, NBD_STRUCTURED_REPLY_MAGIC);
	be_put_u16(buf + 4, flags);
	be_put_u16(buf + 6, type);
	be_put_u64(buf + 8, cookie);
	be_put_u32(buf + 16, len);
	return NBD_CHUNK_HEADER_SIZE;
}

size_t nbd_encode_chunk_offset_data(uint8_t *buf, uint16_t flags,
				    uint64_t cookie, uint64_t offset,
				    uint32_t data_len)
{
	size_t n = nbd_encode_chunk_header(buf, flags,
					   NBD_REPLY_TYPE_OFFSET_DATA, cookie,
					   8 + data_len);

	be_put_u64(buf + n, offset);
	return n + 8;
}

size_t nbd_encode_chunk_offset_hole(uint8_t *buf, uint16_t flags,
				    uint64_t cookie, uint64_t offset,
				    uint32_t hole_len)
{
	size_t n = nbd_encode_chunk_header(buf, flags,
					   NBD_REPLY_TYPE_OFFSET_HOLE, cookie,
					   12);

	be_put_u64(buf + n, offset);
	be_put_u32(buf + n + 8, hole_len);
	return n + 12;
}

size_t nbd_encode_chunk_error(uint8_t *buf, uint64_t cookie, uint32_t err,
			      const char *msg)
{
	uint16_t mlen = msg ? (uint16_t)strnlen(msg, 256) : 0;
	size_t n = nbd_encode_chunk_header(buf, NBD_REPLY_FLAG_DONE,
					   NBD_REPLY_TYPE_ERROR, cookie,
					   6u + mlen);

	be_put_u32(buf + n, err);
	be_put_u16(buf + n + 4, mlen);
	memcpy(buf + n + 6, msg ? msg : "", mlen);
	return n + 6 + mlen;
}

size_t nbd_encode_block_status(uint8_t *buf, uint64_t cookie, uint32_t ctx_id,
			       const struct nbd_extent *ext, uint32_t n)
{
	size_t off = nbd_encode_chunk_header(buf, NBD_REPLY_FLAG_DONE,
					     NBD_REPLY_TYPE_BLOCK_STATUS,
					     cookie, 4 + 8 * n);
	uint32_t i;

	be_put_u32(buf + off, ctx_id);
	off += 4;
	for (i = 0; i < n; i++, off += 8) {
		be_put_u32(buf + off, ext[i].len);
		be_put_u32(buf + off + 4, ext[i].flags);
	}
	return off;
}

const char *nbd_cmd_name(uint16_t type)
{
	static const char *const names[] = {
		[NBD_CMD_READ] = "READ",
		[NBD_CMD_WRITE] = "WRITE",
		[NBD_CMD_DISC] = "DISC",
		[NBD_CMD_FLUSH] = "FLUSH",
		[NBD_CMD_TRIM] = "TRIM",
		[NBD_CMD_CACHE] = "CACHE",
		[NBD_CMD_WRITE_ZEROES] = "WRITE_ZEROES",
		[NBD_CMD_BLOCK_STATUS] = "BLOCK_STATUS",
		[NBD_CMD_RESIZE] = "RESIZE",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "UNKNOWN";
}

const char *nbd_opt_name(uint32_t opt)
{
	static const char *const names[] = {
		[NBD_OPT_EXPORT_NAME] = "EXPORT_NAME",
		[NBD_OPT_ABORT] = "ABORT",
		[NBD_OPT_LIST] = "LIST",
		[NBD_OPT_PEEK_EXPORT] = "PEEK_EXPORT",
		[NBD_OPT_STARTTLS] = "STARTTLS",
		[NBD_OPT_INFO] = "INFO",
		[NBD_OPT_GO] = "GO",
		[NBD_OPT_STRUCTURED_REPLY] = "STRUCTURED_REPLY",
		[NBD_OPT_LIST_META_CONTEXT] = "LIST_META_CONTEXT",
		[NBD_OPT_SET_META_CONTEXT] = "SET_META_CONTEXT",
		[NBD_OPT_EXTENDED_HEADERS] = "EXTENDED_HEADERS",
	};

	if (opt < sizeof(names) / sizeof(names[0]) && names[opt])
		return names[opt];
	return "UNKNOWN";
}
