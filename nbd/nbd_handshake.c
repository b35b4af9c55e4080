/*
 * Fixed-newstyle NBD handshake as a pure state machine. One call handles at
 * most one message so that the caller can flush replies in order and stop
 * feeding as soon as transmission starts (bytes after NBD_OPT_GO belong to
 * the transmission phase).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_handshake.h"

#define KNOWN_CLIENT_FLAGS (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

size_t nbd_handshake_init(struct nbd_handshake *hs,
			  const struct nbd_export *export, uint8_t *out)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = NBD_HS_CLIENT_FLAGS;
	hs->export = export;
	return nbd_encode_greeting(out, NBD_FLAG_FIXED_NEWSTYLE |
					NBD_FLAG_NO_ZEROES);
}

static void hs_close(struct nbd_handshake *hs, const char *why)
{
	hs->state = NBD_HS_CLOSE;
	hs->why = why;
}

/* "" names the default export, which is the only one we have. */
static bool name_matches(const struct nbd_export *e, const uint8_t *name,
			 uint32_t len)
{
	return len == 0 ||
	       (strlen(e->name) == len && memcmp(e->name, name, len) == 0);
}

static uint16_t final_tflags(const struct nbd_handshake *hs)
{
	uint16_t f = hs->export->tflags | NBD_FLAG_HAS_FLAGS;

	/* DF is only meaningful, and only allowed, with structured replies */
	if (hs->session.structured_reply)
		f |= NBD_FLAG_SEND_DF;
	else
		f &= (uint16_t)~NBD_FLAG_SEND_DF;
	return f;
}

static void enter_transmission(struct nbd_handshake *hs)
{
	const struct nbd_export *e = hs->export;

	hs->state = NBD_HS_TRANSMISSION;
	hs->session.size = e->size;
	hs->session.tflags = final_tflags(hs);
	hs->session.min_block = e->min_block;
	hs->session.max_payload = e->max_block;
	hs->session.meta_context_id =
		hs->meta_selected ? NBD_META_ID_BASE_ALLOCATION : 0;
}

static size_t opt_ack(uint8_t *out, uint32_t opt)
{
	return nbd_encode_option_reply(out, opt, NBD_REP_ACK, 0);
}

static size_t do_export_name(struct nbd_handshake *hs, const uint8_t *data,
			     uint32_t len, uint8_t *out)
{
	/* NBD_OPT_EXPORT_NAME cannot carry an error: hang up instead. */
	if (!name_matches(hs->export, data, len)) {
		hs_close(hs, "EXPORT_NAME: unknown export");
		return 0;
	}
	if (hs->export->refuse) {
		hs_close(hs, hs->export->refuse);
		return 0;
	}
	enter_transmission(hs);
	return nbd_encode_export_name_reply(out, hs->export->size,
					    hs->session.tflags, hs->no_zeroes);
}

static size_t do_info_go(struct nbd_handshake *hs, uint32_t opt,
			 const uint8_t *data, uint32_t len, uint8_t *out)
{
	const struct nbd_export *e = hs->export;
	struct nbd_info_request req;
	bool sent_name = false, sent_desc = false, sent_bs = false;
	size_t n = 0;
	uint16_t i;

	if (nbd_decode_info_request(data, len, &req) < 0)
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_INVALID,
					       "malformed INFO/GO request");
	if (!name_matches(e, req.name, req.name_len))
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_UNKNOWN,
					       "no such export");
	if (e->refuse)
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_UNKNOWN,
					       e->refuse);
	for (i = 0; i < req.n_info; i++) {
		switch (nbd_info_request_id(&req, i)) {
		case NBD_INFO_NAME:
			if (!sent_name)
				n += nbd_encode_info_string(out + n, opt,
					NBD_INFO_NAME, e->name,
					(uint32_t)strlen(e->name));
			sent_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			if (!sent_desc && e->description[0])
				n += nbd_encode_info_string(out + n, opt,
					NBD_INFO_DESCRIPTION, e->description,
					(uint32_t)strlen(e->description));
			sent_desc = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			if (!sent_bs)
				n += nbd_encode_info_block_size(out + n, opt,
					e->min_block, e->pref_block,
					e->max_block);
			sent_bs = true;
			break;
		default:
			break;	/* unknown ids are ignored, per the spec */
		}
	}
	n += nbd_encode_info_export(out + n, opt, e->size, final_tflags(hs));
	n += opt_ack(out + n, opt);
	if (opt == NBD_OPT_GO)
		enter_transmission(hs);
	return n;
}

static bool is_query(const uint8_t *q, uint32_t qlen, const char *s)
{
	return strlen(s) == qlen && memcmp(q, s, qlen) == 0;
}

static size_t do_meta_context(struct nbd_handshake *hs, uint32_t opt,
			      const uint8_t *data, uint32_t len, uint8_t *out)
{
	bool list = opt == NBD_OPT_LIST_META_CONTEXT;
	const uint32_t blen = sizeof(NBD_META_BASE_ALLOCATION) - 1;
	struct nbd_meta_request req;
	const uint8_t *q;
	uint32_t qlen, cursor = 0;
	bool match = false;
	size_t n = 0;

	/* SET replaces the selection even when it fails */
	if (!list)
		hs->meta_selected = false;
	if (!hs->session.structured_reply)
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_INVALID,
			"meta contexts need structured replies first");
	if (nbd_decode_meta_request(data, len, &req) < 0)
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_INVALID,
			"malformed meta context request");
	if (!name_matches(hs->export, req.name, req.name_len))
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_UNKNOWN,
					       "no such export");
	if (req.n_queries == 0)
		match = list;	/* LIST with no query lists everything */
	while (nbd_meta_request_next(&req, &cursor, &q, &qlen)) {
		if (is_query(q, qlen, NBD_META_BASE_ALLOCATION) ||
		    (list && is_query(q, qlen, "base:")))
			match = true;
	}
	if (match) {
		n += nbd_encode_rep_meta_context(out, opt,
			list ? 0 : NBD_META_ID_BASE_ALLOCATION,
			NBD_META_BASE_ALLOCATION, blen);
		if (!list)
			hs->meta_selected = true;
	}
	return n + opt_ack(out + n, opt);
}

/* Handle one complete option whose data is in data[0..len). */
static size_t do_option(struct nbd_handshake *hs, uint32_t opt,
			const uint8_t *data, uint32_t len, uint8_t *out)
{
	const struct nbd_export *e = hs->export;
	size_t n;

	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return do_export_name(hs, data, len, out);
	case NBD_OPT_ABORT:
		hs_close(hs, "client sent NBD_OPT_ABORT");
		return opt_ack(out, opt);
	case NBD_OPT_LIST:
		if (len)
			return nbd_encode_option_error(out, opt,
				NBD_REP_ERR_INVALID, "LIST takes no data");
		n = nbd_encode_rep_server(out, e->name,
				(uint32_t)strlen(e->name), e->description,
				(uint32_t)strlen(e->description));
		return n + opt_ack(out + n, opt);
	case NBD_OPT_STARTTLS:
		if (len)
			return nbd_encode_option_error(out, opt,
				NBD_REP_ERR_INVALID, "STARTTLS takes no data");
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_POLICY,
				"TLS is not supported by this server");
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return do_info_go(hs, opt, data, len, out);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return nbd_encode_option_error(out, opt,
				NBD_REP_ERR_INVALID,
				"STRUCTURED_REPLY takes no data");
		if (hs->session.structured_reply)
			return nbd_encode_option_error(out, opt,
				NBD_REP_ERR_INVALID,
				"structured replies already negotiated");
		hs->session.structured_reply = true;
		return opt_ack(out, opt);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return do_meta_context(hs, opt, data, len, out);
	default:
		return nbd_encode_option_error(out, opt, NBD_REP_ERR_UNSUP,
					       "unsupported option");
	}
}

static size_t feed_options(struct nbd_handshake *hs, const uint8_t *in,
			   size_t inlen, uint8_t *out, size_t *ret_outlen,
			   size_t *ret_need)
{
	struct nbd_option_header oh;
	int r;

	r = nbd_decode_option_header(in, inlen, &oh);
	if (r == -EAGAIN) {
		*ret_need = NBD_OPTION_HEADER_SIZE;
		return 0;
	}
	if (r < 0) {
		hs_close(hs, "bad option magic");
		return inlen;
	}
	if (++hs->n_options > NBD_HS_MAX_OPTIONS) {
		hs_close(hs, "too many options");
		return inlen;
	}
	if (oh.len > NBD_HS_MAX_OPTION_DATA) {
		/* Answer now and discard the data without buffering it. */
		if (oh.opt == NBD_OPT_EXPORT_NAME) {
			hs_close(hs, "EXPORT_NAME too long");
			return inlen;
		}
		*ret_outlen = nbd_encode_option_error(out, oh.opt,
			oh.opt <= NBD_OPT_EXTENDED_HEADERS ?
				NBD_REP_ERR_TOO_BIG : NBD_REP_ERR_UNSUP,
			"option data too large");
		hs->state = NBD_HS_SKIP;
		hs->skip = oh.len;
		return NBD_OPTION_HEADER_SIZE;
	}
	if (inlen < NBD_OPTION_HEADER_SIZE + (size_t)oh.len) {
		hs->n_options--;	/* counted again when it is complete */
		*ret_need = NBD_OPTION_HEADER_SIZE + (size_t)oh.len;
		return 0;
	}
	*ret_outlen = do_option(hs, oh.opt, in + NBD_OPTION_HEADER_SIZE,
				oh.len, out);
	return NBD_OPTION_HEADER_SIZE + oh.len;
}

size_t nbd_handshake_feed(struct nbd_handshake *hs, const uint8_t *in,
			  size_t inlen, uint8_t *out, size_t *ret_outlen,
			  size_t *ret_need)
{
	uint32_t flags;
	size_t n;

	*ret_outlen = 0;
	*ret_need = 0;
	switch (hs->state) {
	case NBD_HS_CLIENT_FLAGS:
		if (nbd_decode_client_flags(in, inlen, &flags) < 0) {
			*ret_need = 4;
			return 0;
		}
		if (flags & ~KNOWN_CLIENT_FLAGS)
			hs_close(hs, "unknown client flags");
		else if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE))
			hs_close(hs, "client does not do fixed newstyle");
		else
			hs->state = NBD_HS_OPTIONS;
		hs->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
		return 4;
	case NBD_HS_SKIP:
		if (inlen == 0) {
			*ret_need = 1;
			return 0;
		}
		n = inlen < hs->skip ? inlen : (size_t)hs->skip;
		hs->skip -= n;
		if (hs->skip == 0)
			hs->state = NBD_HS_OPTIONS;
		return n;
	case NBD_HS_OPTIONS:
		return feed_options(hs, in, inlen, out, ret_outlen, ret_need);
	case NBD_HS_TRANSMISSION:
	case NBD_HS_CLOSE:
		return 0;
	}
	abort();
}
