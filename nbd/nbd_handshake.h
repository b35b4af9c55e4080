/*
 * Per-connection NBD handshake as a pure state machine (fixed newstyle
 * only). The caller feeds received bytes; the machine consumes at most one
 * message per call, appends its reply bytes to an output buffer, and says
 * when the connection enters transmission or must be closed. No fds, no
 * malloc, no logging: the reason for a close is left in `why`.
 */
#ifndef NBD_HANDSHAKE_H
#define NBD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd_codec.h"

/* Largest option payload we buffer; bigger ones are answered and skipped. */
#define NBD_HS_MAX_OPTION_DATA	(16u * 1024u)
/* Options per connection before we hang up (a client looping on options). */
#define NBD_HS_MAX_OPTIONS	64u
/* Output buffer a caller must offer to nbd_handshake_feed(). */
#define NBD_HS_OUT_MAX		(4u * 1024u + 4u * NBD_MAX_STRING)

/* The one export a server offers (borrowed by the handshake). */
struct nbd_export {
	const char *name;		/* "" is the default export */
	const char *description;	/* may be "" */
	uint64_t size;			/* bytes */
	uint16_t tflags;		/* NBD_FLAG_*, without SEND_DF */
	uint32_t min_block;		/* NBD_INFO_BLOCK_SIZE triple */
	uint32_t pref_block;
	uint32_t max_block;
	const char *refuse;		/* non-NULL: refuse INFO/GO with this */
};

enum nbd_hs_state {
	NBD_HS_CLIENT_FLAGS,		/* waiting for the client's u32 flags */
	NBD_HS_OPTIONS,			/* option haggling */
	NBD_HS_SKIP,			/* discarding an oversized option */
	NBD_HS_TRANSMISSION,		/* done: the session is valid */
	NBD_HS_CLOSE,			/* hang up; `why` says why */
};

struct nbd_handshake {
	enum nbd_hs_state state;
	const struct nbd_export *export; /* borrowed */
	bool no_zeroes;			/* client set NBD_FLAG_C_NO_ZEROES */
	bool meta_selected;		/* SET_META_CONTEXT chose base:alloc */
	bool tls_refused;		/* STARTTLS got ERR_POLICY once */
	uint32_t n_options;		/* options seen so far */
	uint64_t skip;			/* bytes left to discard (NBD_HS_SKIP) */
	struct nbd_session session;	/* negotiated; valid in TRANSMISSION */
	const char *why;		/* static reason for NBD_HS_CLOSE */
};

/*
 * Start a handshake for `export` (borrowed; must outlive hs). Writes the
 * server greeting into out (NBD_GREETING_SIZE bytes) and returns its size.
 */
size_t nbd_handshake_init(struct nbd_handshake *hs,
			  const struct nbd_export *export, uint8_t *out);

/*
 * Feed received bytes. Consumes at most one message: returns the number of
 * bytes consumed (> 0), 0 if in[] does not yet hold a whole message, in which
 * case *ret_need says how many bytes are needed in total. Reply bytes are
 * written to out (capacity NBD_HS_OUT_MAX) and their count to *ret_outlen.
 * Afterwards hs->state tells whether to go on, start transmission (the
 * reply must be sent first) or close (after sending the reply, if any).
 */
size_t nbd_handshake_feed(struct nbd_handshake *hs, const uint8_t *in,
			  size_t inlen, uint8_t *out, size_t *ret_outlen,
			  size_t *ret_need);

/* Name of the base:allocation context id we hand out. */
#define NBD_META_ID_BASE_ALLOCATION 1u

#endif /* NBD_HANDSHAKE_H */
