/*
 * An ordered queue of byte ranges to send on one stream socket, with at
 * most one sendmsg in flight: replies or packets never interleave, short
 * sends resume where they stopped, and each item's owner is told when its
 * last byte has been handed to the kernel. No I/O here: the caller issues
 * the sendmsg with the msghdr sendq_prepare() fills.
 */
#ifndef REPD_SENDQ_H
#define REPD_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SENDQ_IOV_MAX	128u	/* iovecs in one sendmsg */

/* Embedded in what is being sent (a reply, a packet). */
struct sendq_item {
	struct sendq_item *next;
	const uint8_t *hdr;		/* first part, may be NULL/0 */
	uint32_t hdr_len;
	const uint8_t *payload;		/* second part, may be NULL/0 */
	uint32_t payload_len;		/* may grow while queued */
	uint32_t sent;			/* bytes already sent */
	bool queued;
	bool spliced;			/* see sendq_push_spliced */
};

struct sendq {
	struct sendq_item *head, *tail;
	struct iovec iov[SENDQ_IOV_MAX];
	struct msghdr msg;
	bool more;			/* msg ends with a spliced item's
					 * header: its payload follows */
};

/* Append it (borrowed until popped). */
void sendq_push(struct sendq *q, struct sendq_item *it);

/* Append it with a payload of payload_len bytes that is not in memory:
 * its owner splices them from a pipe once the header is out (see
 * sendq_splice_head); it->payload is unused. */
void sendq_push_spliced(struct sendq *q, struct sendq_item *it);

/* Put it first (a message that must precede everything queued). */
void sendq_push_front(struct sendq *q, struct sendq_item *it);

/* Fill q->msg with the unsent bytes at the head, up to and including
 * the header of the first spliced item; false if none (the head may
 * still be a spliced payload, see sendq_splice_head). */
bool sendq_prepare(struct sendq *q);

/* The head item if its header is out and its spliced payload is next,
 * else NULL. Its owner moves it from the pipe and calls sendq_advance. */
struct sendq_item *sendq_splice_head(const struct sendq *q);

/*
 * res bytes of the prepared message were sent: pop every item now sent
 * in full, calling done(it, arg) for each in order (it may be pushed
 * again from there).
 */
void sendq_advance(struct sendq *q, size_t res,
		   void (*done)(struct sendq_item *it, void *arg), void *arg);

/* Pop everything unsent, calling drop(it, arg) for each. */
void sendq_clear(struct sendq *q,
		 void (*drop)(struct sendq_item *it, void *arg), void *arg);

#endif /* REPD_SENDQ_H */
