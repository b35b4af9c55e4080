/*
 * The replication link. See link.h for the contract and docs/protocol.md
 * for the wire format (codec: peer/peer_proto.c).
 *
 * Structure:
 * - struct link lives as long as the daemon: configuration, the primary's
 *   pending requests, the secondary's apply pool, timers.
 * - struct link_conn is one TCP connection: handshake state, receive
 *   buffer, send queue. A lost connection is torn down (its socket ops
 *   finish with errors) and freed when nothing refers to it any more,
 *   while the link dials or accepts a new one.
 *
 * Ordering rules kept here:
 * - packets go out in the order they were queued, one sendmsg in flight;
 * - the secondary applies overlapping writes in arrival order, and
 *   answers FLUSH only when every write received before it is durable;
 * - the primary never forgets a request the peer did not confirm: on loss
 *   it is settled with an error (the caller marks it out of sync) or, with
 *   on-peer-loss=suspend, kept and sent again on the next connection.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsync_batch.h"
#include "link.h"
#include "log.h"
#include "test_hook.h"
#include "md/md_format.h"
#include "md/md_sync_plan.h"
#include "meta.h"
#include "peer/peer_proto.h"
#include "store.h"
#include "store_req.h"
#include "clock.h"

#define RBUF_SIZE	(1u << 20)	/* headers and small packets */
#define SOCK_BUF	(4 << 20)	/* socket buffers: a few MiB in flight */
/* Redial after 200 ms, doubling up to 2 s: a peer that is down costs a
 * SYN every 2 s (a StandAlone one a handshake and a REFUSE, logged once),
 * and `repctl connect` on the listening node, which cannot dial, takes
 * effect within 2 s. */
#define BACKOFF_MIN_MS	200u
#define BACKOFF_MAX_MS	2000u

enum conn_state {
	LC_HANDSHAKE,			/* HELLO/AUTH exchange */
	LC_CONNECTED,			/* replicating */
	LC_CLOSING,			/* lost; waiting for ops to finish */
};

struct sec_io;

struct link_conn {
	struct link *l;
	int fd;
	unsigned id;
	enum conn_state state;
	unsigned refs;			/* secondary ios that will answer */
	bool recv_pending, send_pending;
	struct engine_op recv_op, send_op;
	struct engine_task send_task;	/* queued packets wait for it */
	uint8_t *rbuf;
	size_t rstart, rend;
	/* a packet whose payload is arriving straight into its buffer */
	struct sec_io *payload_io;
	uint8_t *payload_dst;
	uint32_t payload_len, payload_done;
	struct sendq sendq;		/* packets in order, one sendmsg */
	/* handshake */
	struct peer_hello hello;	/* what we sent */
	struct peer_hello peer_hello;	/* what the peer sent */
	struct link_tx state_tx[4];	/* STATE packets, queued in order */
	bool got_hello, got_auth, got_auth_ok;
	struct link_tx hello_tx, auth_tx, auth_ok_tx, refuse_tx;
	struct link_tx ping_tx, pong_tx;
	/* the peer's state: from its HELLO, then its STATE packets */
	enum peer_role peer_role;
	enum peer_disk peer_disk;
	bool peer_blank;		/* never held data (new-current-uuid) */
	/* resync set-up: the verdict, and the BITMAP exchange (the target
	 * sends its dirty bits, the source merges them, then starts) */
	enum md_uuid_verdict verdict;
	bool bm_wait;			/* source: waiting for LAST */
	bool bm_sending;		/* target: chunks still to send */
	uint64_t bm_next_bit;
	struct link_tx bm_tx;
	uint8_t *bm_buf;		/* one BITMAP packet */
	uint64_t last_rx_ms, last_tx_ms;
	uint64_t ping_seq;
	bool reaping;			/* on l->reap, freed by link_poll */
	bool refusing;			/* REFUSE queued: close once sent */
	bool quiet;			/* expected end: log it at debug */
	char refuse_why[PEER_MSG_MAX + 1];	/* its reason, for the log */
	struct link_conn *reap_next;
	/* packets larger than a tx header are built here */
	uint8_t hello_buf[PEER_HDR_SIZE + PEER_HELLO_SIZE];
	uint8_t refuse_buf[PEER_HDR_SIZE + PEER_MSG_MAX + 8];
};

enum sec_stage {
	SEC_RECEIVING,			/* payload arriving */
	SEC_BLOCKED,			/* waits behind an overlapping write */
	SEC_WRITING,			/* store request in flight */
	SEC_FLUSH_WAIT,			/* FLUSH waits for earlier writes */
	SEC_FLUSHING,			/* fdatasync in flight */
};

/* The secondary's context for one packet that needs work and an answer. */
struct sec_io {
	struct link *l;
	struct link_conn *conn;		/* answer goes there if still alive */
	struct sec_io *next;		/* free list or blocked FIFO */
	struct sec_io *aprev, *anext;	/* all active, in arrival order */
	enum sec_stage stage;
	uint16_t type;			/* PEER_DATA, _TRIM, _WRITE_ZEROES,
					 * _FLUSH */
	uint64_t seq;
	struct peer_data data;		/* DATA fixed part */
	uint64_t off, len;		/* range written */
	unsigned flags;			/* STORE_REQ_* */
	uint32_t hash_bs;		/* RS_HASH block size */
	bool read_reply;		/* RS_DATA answering our RS_REQUEST */
	bool in_range_list;		/* counted for overlap checks */
	uint8_t *buf, *zbuf;		/* max_block each */
	struct store_req sreq;
	struct engine_op op;		/* FLUSH delay (test hook) */
	struct fsync_waiter fw;		/* FLUSH fdatasync */
	struct link_tx ack_tx, recv_tx;
};

struct link {
	struct link_params p;
	/* test hook REPD_TEST_PEER_FLUSH_DELAY_MS: a peer FLUSH waits this
	 * long before its fdatasync (a slow volatile cache, made visible) */
	struct __kernel_timespec flush_delay;
	/* REPD_TEST_FAIL_APPLY_AFTER=N (tests only): the primary's writes
	 * fail with EIO here after N succeeded, as on a dying disk */
	uint64_t fail_apply_after, applied;
	/* REPD_TEST_FAIL_PEER_FLUSH_AFTER=N (tests only): the fdatasync of
	 * the primary's FLUSHes fails with EIO here after N succeeded */
	uint64_t fail_flush_after, flushed;
	/* the primary's FLUSHes share fdatasyncs (fsync_batch.h) */
	struct store_sync fsync;
	/* REPD_TEST_HOLD_APPLY_AFTER=N (tests only): the primary's writes
	 * after the first N are never applied nor answered, as on a node
	 * that hangs with a request half done: a test kills it there to
	 * lose a connection at a chosen request
	 * (tests/repl/resync-checksum-reconnect.sh) */
	uint64_t hold_apply_after, started;
	/* the first failed fdatasync of a peer FLUSH: Linux reports a
	 * writeback error once, so a later fdatasync returning 0 would vouch
	 * for writes that were lost. Every later FLUSH fails with it, until
	 * repd restarts (docs/operations.md 10.2) */
	int flush_err;
	char peer_label[300];		/* "name (addr)" for logs */
	int listen_fd;
	struct engine_op accept_op;
	bool accept_pending;
	struct link_conn *conn;		/* current connection or NULL */
	struct link_conn *cand;		/* accepted while conn is up: takes
					 * over only once authenticated */
	struct link_conn *dialing;	/* connect in flight */
	struct engine_op connect_op;
	unsigned next_conn_id;
	unsigned backoff_ms;
	uint64_t reconnect_at_ms;
	struct engine_op timer_op;
	struct __kernel_timespec tick;
	bool timer_pending;
	bool stopping;
	bool dialer;			/* the first node of the config dials */
	/* StandAlone: no dialling, accepted connections are refused once
	 * authenticated; set by the operator (disconnect) or by a refusal
	 * that retrying cannot cure (split brain, unrelated data, two
	 * primaries) */
	bool standalone;
	bool split_brain;
	char reason[PEER_MSG_MAX + 1];
	/* the peer's last authenticated REFUSE since we were last
	 * connected or found it unreachable: repeats of it are logged at
	 * debug, status shows it */
	char peer_refusal[PEER_MSG_MAX + 1];
	struct md_gen sb_peer_gen;	/* the peer's, at split brain */
	bool sb_peer_known;
	/* the last connection's resync decision, for status */
	bool have_decision;
	enum md_uuid_verdict decision;
	unsigned decision_rule;
	bool discard_my_data;		/* resolve the next split brain so */
	bool diskless;			/* our disk failed: detached */
	uint64_t features;		/* negotiated */
	/* requests sent to the peer (the primary's writes, resync) */
	uint64_t next_seq;
	struct link_req *pend_head, *pend_tail;
	uint64_t n_pending;
	/* applying the peer's writes (secondary) */
	struct sec_io *ios;
	uint8_t *bufs;
	size_t bufs_len;
	struct sec_io *free_ios;
	unsigned n_free;
	struct sec_io *act_head, *act_tail;	/* active, arrival order */
	struct sec_io *blocked_head, *blocked_tail;
	uint8_t *zeroes;
	struct link_stats st;
	struct link_conn *reap;		/* closed connections to free */
	bool resume;			/* contexts freed: parse again */
};

static void conn_lost(struct link_conn *c, const char *why);
static void conn_parse(struct link_conn *c);
static void conn_arm_recv(struct link_conn *c);
static void conn_kick_send(struct link_conn *c);
static void conn_maybe_free(struct link_conn *c);
static void dial(struct link *l);
static void sec_start_unblocked(struct link *l);
static void sec_flush_check(struct link *l);

/* ---- sending ---- */

static void tx_queue(struct link_conn *c, struct link_tx *t)
{
	if (t->si.queued || c->state == LC_CLOSING)
		return;
	t->si.hdr = t->hdr;
	sendq_push(&c->sendq, &t->si);
	conn_kick_send(c);
}

static void on_send(struct engine_op *op, int res);

/* Packets queued by one completion batch leave together after it, in
 * one sendmsg (see conn_send_task). */
static void conn_kick_send(struct link_conn *c)
{
	if (c->send_pending || c->state == LC_CLOSING || !c->sendq.head)
		return;
	engine_defer(c->l->p.eng, &c->send_task);
}

static void conn_send_task(struct engine_task *t)
{
	struct link_conn *c = container_of(t, struct link_conn, send_task);

	if (!c->send_pending && c->state != LC_CLOSING &&
	    sendq_prepare(&c->sendq)) {
		c->send_pending = true;
		c->send_op.cb = on_send;
		engine_sendmsg(c->l->p.eng, &c->send_op, c->fd,
			       &c->sendq.msg, MSG_NOSIGNAL);
	}
	conn_maybe_free(c);	/* it waited for this task */
}

static void tx_sent(struct sendq_item *it, void *arg)
{
	struct link_tx *t = container_of(it, struct link_tx, si);

	(void)arg;
	if (t->on_sent)
		t->on_sent(t);
}

static void on_send(struct engine_op *op, int res)
{
	struct link_conn *c = container_of(op, struct link_conn, send_op);

	c->send_pending = false;
	if (res <= 0) {
		if (c->state != LC_CLOSING)
			conn_lost(c, res < 0 ? strerror(-res) :
				  "connection closed");
		conn_maybe_free(c);
		return;
	}
	c->l->st.sent_bytes += (uint64_t)res;
	c->last_tx_ms = now_ms();
	sendq_advance(&c->sendq, (size_t)res, tx_sent, NULL);
	conn_kick_send(c);
	conn_maybe_free(c);
}

/* ---- primary: pending requests ---- */

static void pend_del(struct link *l, struct link_req *lr)
{
	if (lr->prev)
		lr->prev->next = lr->next;
	else
		l->pend_head = lr->next;
	if (lr->next)
		lr->next->prev = lr->prev;
	else
		l->pend_tail = lr->prev;
	l->n_pending--;
}

/* Settle (and ack, if not yet) a request; it leaves the pending list. */
static void req_finish(struct link *l, struct link_req *lr, int err)
{
	pend_del(l, lr);
	lr->is_settled = true;
	lr->settled(lr, err);
	if (!lr->is_acked) {
		lr->is_acked = true;
		lr->acked(lr, err);
	}
}

static void on_req_sent(struct link_tx *t)
{
	struct link_req *lr = container_of(t, struct link_req, tx);

	/* protocol A: handed to the kernel is enough for the client */
	if (t->si.payload_len && !lr->is_acked) {
		lr->is_acked = true;
		lr->acked(lr, 0);
	}
}

/* The payload of a DATA/RS_DATA: lz4-compressed when that shrinks it. */
static void data_payload(struct link *l, struct link_req *lr,
			 struct peer_data *d)
{
	struct link_tx *t = &lr->tx;
	int z;

	d->offset = lr->off;
	d->raw_len = (uint32_t)lr->len;
	d->wire_len = (uint32_t)lr->len;
	t->si.payload = lr->data;
	if (l->p.lz4 && (l->features & PEER_FEAT_LZ4)) {
		z = peer_lz4_compress(lr->data, (uint32_t)lr->len, lr->zbuf,
				      (uint32_t)lr->len);
		if (z > 0) {
			d->flags |= PEER_F_COMPRESSED;
			d->wire_len = (uint32_t)z;
			t->si.payload = lr->zbuf;
			l->st.compressed_packets++;
		}
	}
	t->si.payload_len = d->wire_len;
}

/* Encode lr's packet into its tx. */
static void req_encode(struct link *l, struct link_req *lr)
{
	struct link_tx *t = &lr->tx;
	struct peer_range pr;
	struct peer_data d;
	int n = -EINVAL;

	memset(&d, 0, sizeof(d));
	t->si.payload = NULL;
	t->si.payload_len = 0;
	t->on_sent = NULL;
	switch (lr->type) {
	case LINK_REQ_DATA:
		d.flags = (lr->flags & STORE_REQ_FUA) ? PEER_F_FUA : 0;
		/* protocol B: ask for ACK_RECV as soon as it is received */
		if (l->p.proto == LINK_PROTO_B)
			d.flags |= PEER_F_RECV_ACK;
		if (l->p.checksum && (l->features & PEER_FEAT_CRC32C)) {
			d.flags |= PEER_F_CHECKSUM;
			d.crc32c = peer_crc32c(lr->data, lr->len);
		}
		data_payload(l, lr, &d);
		l->st.data_packets++;
		n = peer_encode_data(t->hdr, sizeof(t->hdr), lr->seq, &d);
		if (l->p.proto == LINK_PROTO_A)
			t->on_sent = on_req_sent;
		break;
	case LINK_REQ_RS_DATA:
		data_payload(l, lr, &d);
		n = peer_encode_rs_data(t->hdr, sizeof(t->hdr), lr->seq, &d);
		break;
	case LINK_REQ_READ: {
		struct peer_rs_request rq = {
			.offset = lr->off, .len = (uint32_t)lr->len,
		};

		n = peer_encode_rs_request(t->hdr, sizeof(t->hdr), lr->seq,
					   &rq);
		break;
	}
	case LINK_REQ_VERIFY: {
		struct peer_rs_hash rh = {
			.offset = lr->off, .len = (uint32_t)lr->len,
			.block_size = lr->block_size,
		};

		/* the whole packet is the payload, built in zbuf */
		n = peer_encode_rs_hash(lr->zbuf, PEER_HDR_SIZE +
					PEER_RS_HASH_SIZE + 8 * lr->n_hashes,
					lr->seq, &rh, lr->hashes);
		assert(n > 0);
		t->si.payload = lr->zbuf;
		t->si.payload_len = (uint32_t)n;
		n = 0;
		break;
	}
	case LINK_REQ_TRIM:
	case LINK_REQ_ZEROES:
		pr.offset = lr->off;
		pr.len = lr->len;
		pr.flags = ((lr->flags & STORE_REQ_FUA) ? PEER_F_FUA : 0) |
			   ((lr->flags & STORE_REQ_NO_HOLE) &&
			    lr->type == LINK_REQ_ZEROES ? PEER_F_NO_HOLE : 0);
		n = lr->type == LINK_REQ_TRIM ?
		    peer_encode_trim(t->hdr, sizeof(t->hdr), lr->seq, &pr) :
		    peer_encode_write_zeroes(t->hdr, sizeof(t->hdr), lr->seq,
					     &pr);
		break;
	case LINK_REQ_FLUSH:
		n = peer_encode_flush(t->hdr, sizeof(t->hdr), lr->seq);
		break;
	}
	assert(n >= 0);	/* our own requests are always encodable */
	t->si.hdr_len = (uint32_t)n;
}

int link_submit(struct link *l, struct link_req *lr)
{
	struct link_conn *c = l->conn;
	bool up = c && c->state == LC_CONNECTED;

	if (!up && (l->p.on_loss == LINK_LOSS_CONTINUE || l->stopping))
		return -ENOTCONN;
	lr->seq = ++l->next_seq;
	lr->is_acked = lr->is_settled = false;
	lr->tx.si.queued = false;
	lr->next = NULL;
	lr->prev = l->pend_tail;
	if (l->pend_tail)
		l->pend_tail->next = lr;
	else
		l->pend_head = lr;
	l->pend_tail = lr;
	l->n_pending++;
	/* suspended: it waits in the pending list and goes out on connect */
	if (up) {
		req_encode(l, lr);
		tx_queue(c, &lr->tx);
	}
	return 0;
}

static struct link_req *pend_find(struct link *l, uint64_t seq)
{
	struct link_req *lr;

	/* acks come nearly in order: the oldest pending are the likely ones */
	for (lr = l->pend_head; lr; lr = lr->next)
		if (lr->seq == seq)
			return lr;
	return NULL;
}

static int on_ack(struct link_conn *c, const struct peer_hdr *h,
		  const uint8_t *p)
{
	struct link *l = c->l;
	struct link_req *lr = pend_find(l, h->seq);
	uint32_t err = 0;

	if (!lr || lr->tx.si.queued)
		return -EBADMSG;	/* never sent, or not yet fully */
	switch (h->type) {
	case PEER_ACK_RECV:
		if (lr->type != LINK_REQ_DATA)
			return -EBADMSG;
		/* FUA promises durability on both nodes: even under B it
		 * waits for ACK_WRITE */
		if (l->p.proto == LINK_PROTO_B && !lr->is_acked &&
		    !(lr->flags & STORE_REQ_FUA)) {
			lr->is_acked = true;
			lr->acked(lr, 0);
		}
		return 0;
	case PEER_NACK:
		if (peer_decode_nack(h, p, h->len, &err) < 0)
			return -EBADMSG;
		log_msg(LOG_ERR, "peer failed %s seq %" PRIu64 " (%" PRIu64
			"+%" PRIu64 "): %s; range marked out of sync",
			peer_type_name(h->type), lr->seq, lr->off, lr->len,
			strerror((int)err));
		req_finish(l, lr, -(int)err);
		return 0;
	case PEER_ACK_WRITE:
		if (lr->type == LINK_REQ_VERIFY || lr->type == LINK_REQ_READ)
			return -EBADMSG;	/* answered with data only */
		req_finish(l, lr, 0);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* On loss: give up on every pending request, or keep them to resend. */
static void pending_on_loss(struct link *l)
{
	struct link_req *lr, *next;

	for (lr = l->pend_head; lr; lr = next) {
		next = lr->next;
		lr->tx.si.queued = false;
		if (l->p.on_loss == LINK_LOSS_CONTINUE || l->stopping)
			req_finish(l, lr, -ENOTCONN);
	}
}

/* A new connection is up: resend what the peer never confirmed. */
static void pending_resend(struct link *l, struct link_conn *c)
{
	struct link_req *lr;

	for (lr = l->pend_head; lr; lr = lr->next) {
		req_encode(l, lr);
		tx_queue(c, &lr->tx);
	}
}

/* ---- secondary: applying ---- */

static bool sec_overlaps(const struct sec_io *a, const struct sec_io *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

static void act_add(struct link *l, struct sec_io *io)
{
	io->anext = NULL;
	io->aprev = l->act_tail;
	if (l->act_tail)
		l->act_tail->anext = io;
	else
		l->act_head = io;
	l->act_tail = io;
}

static void act_del(struct link *l, struct sec_io *io)
{
	if (io->aprev)
		io->aprev->anext = io->anext;
	else
		l->act_head = io->anext;
	if (io->anext)
		io->anext->aprev = io->aprev;
	else
		l->act_tail = io->aprev;
}

static struct sec_io *sec_get(struct link_conn *c)
{
	struct link *l = c->l;
	struct sec_io *io = l->free_ios;

	if (!io)
		return NULL;
	l->free_ios = io->next;
	l->n_free--;
	io->conn = c;
	c->refs++;
	io->in_range_list = false;
	io->read_reply = false;
	io->ack_tx.si.queued = io->recv_tx.si.queued = false;
	return io;
}

static void sec_put(struct sec_io *io)
{
	struct link *l = io->l;
	struct link_conn *c = io->conn;

	io->next = l->free_ios;
	l->free_ios = io;
	l->n_free++;
	io->conn = NULL;
	c->refs--;
	conn_maybe_free(c);
	/* the connection may have stopped reading for lack of contexts */
	l->resume = true;
}

static void on_ack_sent(struct link_tx *t)
{
	sec_put(container_of(t, struct sec_io, ack_tx));
}

/* Answer the primary, then recycle the context once the answer is out. */
static void sec_answer(struct sec_io *io, int err)
{
	struct link_conn *c = io->conn;
	int n;

	if (io->in_range_list) {
		io->in_range_list = false;
		act_del(io->l, io);
	} else if (io->type == PEER_FLUSH) {
		act_del(io->l, io);
	}
	if (c->state != LC_CONNECTED) {
		sec_put(io);	/* the primary resends or marks it */
	} else {
		n = err < 0 ? peer_encode_nack(io->ack_tx.hdr,
					       sizeof(io->ack_tx.hdr), io->seq,
					       (uint32_t)-err) :
			      peer_encode_ack_write(io->ack_tx.hdr,
						    sizeof(io->ack_tx.hdr),
						    io->seq);
		assert(n > 0);
		io->ack_tx.si.hdr_len = (uint32_t)n;
		io->ack_tx.si.payload = NULL;
		io->ack_tx.si.payload_len = 0;
		io->ack_tx.on_sent = on_ack_sent;
		tx_queue(c, &io->ack_tx);
	}
	sec_start_unblocked(io->l);
	sec_flush_check(io->l);
}

static void on_sec_written(struct store_req *r, int res)
{
	struct sec_io *io = container_of(r, struct sec_io, sreq);
	struct link *l = io->l;

	if (l->fail_apply_after && res >= 0 &&
	    l->applied++ >= l->fail_apply_after)
		res = -EIO;

	if (res < 0)
		log_errno(LOG_ERR, res, "apply %s(%" PRIu64 ", %" PRIu64 ")",
			  peer_type_name(io->type), io->off, io->len);
	sec_answer(io, res);
}

static void on_hash_read(struct engine_op *op, int res);

/* RS_REQUEST: our copy of the range goes back as RS_DATA. */
static void on_request_read(struct engine_op *op, int res)
{
	struct sec_io *io = container_of(op, struct sec_io, op);
	struct link *l = io->l;
	struct link_conn *c = io->conn;
	struct peer_data d = {
		.offset = io->off, .raw_len = (uint32_t)io->len,
		.wire_len = (uint32_t)io->len,
	};
	int n;

	if (res < 0 || c->state != LC_CONNECTED) {
		if (res < 0)
			log_errno(LOG_ERR, res, "read for the peer at %" PRIu64
				  "+%" PRIu64, io->off, io->len);
		sec_answer(io, res < 0 ? res : -ENOTCONN);
		return;
	}
	if (l->p.checksum && (l->features & PEER_FEAT_CRC32C)) {
		d.flags |= PEER_F_CHECKSUM;
		d.crc32c = peer_crc32c(io->buf, io->len);
	}
	n = peer_encode_rs_data(io->ack_tx.hdr, sizeof(io->ack_tx.hdr),
				io->seq, &d);
	assert(n > 0);
	io->in_range_list = false;
	act_del(l, io);
	io->ack_tx.si.hdr_len = (uint32_t)n;
	io->ack_tx.si.payload = io->buf;
	io->ack_tx.si.payload_len = (uint32_t)io->len;
	io->ack_tx.on_sent = on_ack_sent;
	tx_queue(c, &io->ack_tx);
	sec_start_unblocked(l);
	sec_flush_check(l);
}

static void sec_exec(struct sec_io *io)
{
	struct link *l = io->l;

	if (io->type == PEER_RS_REQUEST) {
		io->stage = SEC_WRITING;	/* a read, ordered like one */
		io->op.cb = on_request_read;
		store_read(l->p.eng, l->p.store, &io->op, io->buf, io->len,
			   io->off);
		return;
	}
	if (io->conn->peer_disk == PEER_DISK_DISKLESS &&
	    io->type != PEER_RS_HASH) {
		/* the primary's disk failed: this copy is the only one; it
		 * becomes a generation of its own, every change tracked for
		 * the day the primary's disk returns */
		if (meta_before_degraded_write(l->p.meta) < 0) {
			sec_answer(io, -EIO);
			return;
		}
		meta_mark_dirty(l->p.meta, io->off, io->len);
	}
	if (io->type == PEER_RS_HASH) {
		io->stage = SEC_WRITING;	/* a read, ordered like one */
		io->op.cb = on_hash_read;
		store_read(l->p.eng, l->p.store, &io->op, io->buf, io->len,
			   io->off);
		return;
	}
	io->stage = SEC_WRITING;
	if (l->hold_apply_after && l->started++ >= l->hold_apply_after) {
		/* stays active: later overlapping writes and FLUSHes wait */
		log_msg(LOG_WARNING, "test hook: holding %s(%" PRIu64 ", %"
			PRIu64 ") seq %" PRIu64 ", never applied",
			peer_type_name(io->type), io->off, io->len, io->seq);
		return;
	}
	io->sreq = (struct store_req){
		.eng = l->p.eng, .st = l->p.store, .zeroes = l->zeroes,
		.fsync = &l->fsync.batch,
		.type = io->type == PEER_DATA ? STORE_REQ_WRITE :
			io->type == PEER_TRIM ? STORE_REQ_TRIM :
						STORE_REQ_ZEROES,
		.flags = io->flags, .off = io->off, .len = io->len,
		.buf = io->buf, .done = on_sec_written,
	};
	store_req_submit(&io->sreq);
}

/* Does io overlap a write that arrived before it and is not done? */
static bool sec_must_wait(const struct link *l, const struct sec_io *io)
{
	const struct sec_io *a;

	for (a = l->act_head; a && a != io; a = a->anext)
		if (a->type != PEER_FLUSH && sec_overlaps(a, io))
			return true;
	return false;
}

static void sec_start_unblocked(struct link *l)
{
	struct sec_io *io = l->blocked_head, *prev = NULL, *next;

	for (; io; io = next) {
		next = io->next;
		if (sec_must_wait(l, io)) {
			prev = io;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			l->blocked_head = next;
		if (l->blocked_tail == io)
			l->blocked_tail = prev;
		sec_exec(io);
	}
}

/* A write is complete (received, validated): order it, then apply it. */
static void sec_submit(struct sec_io *io)
{
	struct link *l = io->l;

	if (!peer_range_fits(io->off, io->len, meta_data_size(l->p.meta))) {
		log_msg(LOG_ERR, "peer sent %s(%" PRIu64 ", %" PRIu64 ") past "
			"the end of the device", peer_type_name(io->type),
			io->off, io->len);
		act_add(l, io);
		io->in_range_list = true;
		sec_answer(io, -ENOSPC);
		return;
	}
	act_add(l, io);
	io->in_range_list = true;
	if (sec_must_wait(l, io)) {
		io->stage = SEC_BLOCKED;
		io->next = NULL;
		if (l->blocked_tail)
			l->blocked_tail->next = io;
		else
			l->blocked_head = io;
		l->blocked_tail = io;
		return;
	}
	sec_exec(io);
}

/*
 * A peer FLUSH's fdatasync failed: writes this node acknowledged may be
 * gone, and nobody knows which. The copy is no longer one to promote:
 * the disk shows Failed here and Inconsistent to the primary, and the
 * metadata records a full resync (as `repctl invalidate` does), so the
 * node still says so after a restart, when its FLUSHes work again.
 */
static void sec_disk_failed(struct link *l, int err)
{
	l->flush_err = err;
	log_errno(LOG_ERR, err, "peer FLUSH: fdatasync failed: writes "
		  "acknowledged to the primary may be lost here; this disk "
		  "is Failed, every later FLUSH fails until repd restarts");
	if (meta_invalidate(l->p.meta) < 0)
		log_msg(LOG_ERR, "could not record the failure in the "
			"metadata: after a restart this node may count "
			"itself UpToDate; resync it in full (repctl "
			"invalidate) before trusting it");
	else
		log_msg(LOG_WARNING, "this node's data is invalidated: a "
			"full resync from the peer follows its restart");
	link_send_state(l);
}

static void on_sec_flushed(struct fsync_waiter *w, int res)
{
	struct sec_io *io = container_of(w, struct sec_io, fw);
	struct link *l = io->l;

	if (l->fail_flush_after && res >= 0 &&
	    l->flushed++ >= l->fail_flush_after)
		res = -EIO;
	if (res < 0 && !l->flush_err)
		sec_disk_failed(l, res);
	sec_answer(io, l->flush_err < 0 ? l->flush_err : 0);
}

static void sec_flush_start(struct sec_io *io)
{
	io->fw.done = on_sec_flushed;
	fsync_batch_join(&io->l->fsync.batch, &io->fw);
}

static void on_sec_flush_delayed(struct engine_op *op, int res)
{
	(void)res;	/* -ETIME: the delay is over */
	sec_flush_start(container_of(op, struct sec_io, op));
}

/* Start every FLUSH whose earlier writes are all done. */
static void sec_flush_check(struct link *l)
{
	struct sec_io *a;

	/* the active list is in arrival order: a FLUSH may go once no write
	 * is ahead of it */
	for (a = l->act_head; a; a = a->anext) {
		if (a->type != PEER_FLUSH)
			return;
		if (a->stage != SEC_FLUSH_WAIT)
			continue;
		a->stage = SEC_FLUSHING;
		if (l->flush_delay.tv_sec || l->flush_delay.tv_nsec) {
			a->op.cb = on_sec_flush_delayed;
			engine_timeout(l->p.eng, &a->op, &l->flush_delay);
		} else {
			sec_flush_start(a);
		}
	}
}

static void on_recv_sent(struct link_tx *t)
{
	(void)t;	/* ACK_RECV is fire and forget */
}

static struct link_req *pend_find(struct link *l, uint64_t seq);

/* The primary's RS_REQUEST is answered: hand the data over. */
static int read_reply_complete(struct link_conn *c, struct sec_io *io)
{
	struct link *l = c->l;
	struct link_req *lr = pend_find(l, io->seq);

	if (!lr || lr->type != LINK_REQ_READ || lr->off != io->off ||
	    lr->len != io->len)
		return -EBADMSG;
	memcpy(lr->dest, io->buf, io->len);
	sec_put(io);
	req_finish(l, lr, 0);
	return 0;
}

/* The whole DATA payload is in io: decompress, verify, answer B, apply. */
static int sec_data_complete(struct link_conn *c, struct sec_io *io)
{
	int n;

	if (io->data.flags & PEER_F_COMPRESSED) {
		if (peer_lz4_decompress(io->zbuf, io->data.wire_len, io->buf,
					io->data.raw_len) < 0)
			return -EBADMSG;
	}
	if (peer_data_verify(&io->data, io->buf) < 0) {
		log_msg(LOG_ERR, "DATA seq %" PRIu64 ": checksum mismatch",
			io->seq);
		return -EBADMSG;
	}
	if (io->read_reply)
		return read_reply_complete(c, io);
	if (io->data.flags & PEER_F_RECV_ACK) {
		n = peer_encode_ack_recv(io->recv_tx.hdr,
					 sizeof(io->recv_tx.hdr), io->seq);
		assert(n > 0);
		io->recv_tx.si.hdr_len = (uint32_t)n;
		io->recv_tx.si.payload = NULL;
		io->recv_tx.si.payload_len = 0;
		io->recv_tx.on_sent = on_recv_sent;
		tx_queue(c, &io->recv_tx);
	}
	sec_submit(io);
	return 0;
}

/* ---- receiving and dispatch ---- */

static int handle_hello(struct link_conn *c, const struct peer_hdr *h,
			const uint8_t *p);
static int handle_auth(struct link_conn *c, const struct peer_hdr *h,
		       const uint8_t *p);
static int on_state(struct link_conn *c, const struct peer_hdr *h,
		    const uint8_t *p, uint32_t len);
static int on_bitmap(struct link_conn *c, const struct peer_hdr *h,
		     const uint8_t *p, uint32_t len);

/* ---- online verify: the driver's hashes in, ours out ---- */

/* The driver: the peer's hashes for one of our VERIFY requests. */
static int on_hash_reply(struct link_conn *c, const struct peer_hdr *h,
			 const uint8_t *p, uint32_t len)
{
	struct link *l = c->l;
	struct link_req *lr = pend_find(l, h->seq);
	struct peer_rs_hash rh;
	uint32_t i;

	if (!lr || lr->tx.si.queued || lr->type != LINK_REQ_VERIFY ||
	    peer_decode_rs_hash(h, p, len, &rh) < 0 ||
	    rh.offset != lr->off || rh.len != lr->len ||
	    rh.block_size != lr->block_size || rh.n_hashes != lr->n_hashes)
		return -EBADMSG;
	for (i = 0; i < rh.n_hashes; i++)
		lr->peer_hashes[i] = peer_rs_hash_at(&rh, i);
	req_finish(l, lr, 0);
	return 0;
}

/* The peer asks for our hashes of a range: order it after the writes
 * that arrived before it, like a write. */
static int start_hash(struct link_conn *c, const struct peer_hdr *h,
		      const uint8_t *p, uint32_t len, struct sec_io *io)
{
	struct link *l = c->l;
	struct peer_rs_hash rh;

	if (peer_decode_rs_hash(h, p, len, &rh) < 0 ||
	    !peer_range_fits(rh.offset, rh.len, meta_data_size(l->p.meta)) ||
	    rh.len > l->p.max_block ||
	    PEER_HDR_SIZE + PEER_RS_HASH_SIZE + 16ull * rh.n_hashes >
	    l->p.max_block)
		return -EBADMSG;
	io->seq = h->seq;
	io->type = PEER_RS_HASH;
	io->off = rh.offset;
	io->len = rh.len;
	io->hash_bs = rh.block_size;
	io->flags = 0;
	sec_submit(io);
	return 0;
}

static void on_hash_read(struct engine_op *op, int res)
{
	struct sec_io *io = container_of(op, struct sec_io, op);
	struct link_conn *c = io->conn;
	uint32_t bs = io->hash_bs, i, n = (uint32_t)((io->len + bs - 1) / bs);
	/* our hashes after the packet's room in zbuf */
	uint64_t *hashes = (uint64_t *)(void *)(io->zbuf + io->l->p.max_block /
						2);
	struct peer_rs_hash rh = {
		.offset = io->off, .len = (uint32_t)io->len, .block_size = bs,
		.reply = true,
	};
	int r;

	if (res < 0 || c->state != LC_CONNECTED) {
		if (res < 0)
			log_errno(LOG_ERR, res, "verify read at %" PRIu64 "+%"
				  PRIu64, io->off, io->len);
		sec_answer(io, res < 0 ? res : -ENOTCONN);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t off = (uint64_t)i * bs;
		uint64_t len = io->len - off < bs ? io->len - off : bs;

		hashes[i] = peer_xxh3(io->buf + off, len);
	}
	r = peer_encode_rs_hash(io->zbuf, io->l->p.max_block / 2, io->seq,
				&rh, hashes);
	assert(r > 0);
	io->in_range_list = false;
	act_del(io->l, io);
	io->ack_tx.si.hdr_len = 0;
	io->ack_tx.si.payload = io->zbuf;
	io->ack_tx.si.payload_len = (uint32_t)r;
	io->ack_tx.on_sent = on_ack_sent;
	tx_queue(c, &io->ack_tx);
	sec_start_unblocked(io->l);
	sec_flush_check(io->l);
}

static void on_refuse_sent(struct link_tx *t)
{
	struct link_conn *c = container_of(t, struct link_conn, refuse_tx);

	conn_lost(c, c->refuse_why);
}

/* The peer refused us. A peer that proved it knows the secret and gives
 * the reason it gave last time (a StandAlone peer, at every redial) is
 * logged once; the reason stays in status until we connect. */
static void note_refusal(struct link_conn *c, const char *msg)
{
	struct link *l = c->l;
	bool repeat = c->got_auth && strcmp(msg, l->peer_refusal) == 0;

	log_msg(repeat ? LOG_DEBUG : LOG_ERR, "peer %s refused us: %s",
		l->peer_label, msg);
	c->quiet = repeat;
	if (c->got_auth)
		snprintf(l->peer_refusal, sizeof(l->peer_refusal), "%s", msg);
}

/* Tell the peer why we hang up (it logs the reason), then close. */
static void refuse(struct link_conn *c, int err, const char *why)
{
	int n = peer_encode_refuse(c->refuse_buf, sizeof(c->refuse_buf),
				   (uint32_t)err, why);

	if (n < 0)
		n = peer_encode_refuse(c->refuse_buf, sizeof(c->refuse_buf),
				       (uint32_t)err, "refused");
	if (n < 0)
		return;
	c->refuse_tx.si.hdr_len = 0;	/* the whole packet is the payload */
	c->refuse_tx.si.payload = c->refuse_buf;
	c->refuse_tx.si.payload_len = (uint32_t)n;
	c->refuse_tx.on_sent = on_refuse_sent;
	c->refusing = true;		/* read nothing more from it */
	snprintf(c->refuse_why, sizeof(c->refuse_why), "refused: %s", why);
	tx_queue(c, &c->refuse_tx);
}

/* A DATA/RS_DATA header and fixed part arrived: set up the payload. */
static int start_data(struct link_conn *c, const struct peer_hdr *h,
		      const uint8_t *p, struct sec_io *io)
{
	struct link *l = c->l;
	int r = h->type == PEER_RS_DATA ?
		peer_decode_rs_data(h, p, PEER_DATA_SIZE, &io->data) :
		peer_decode_data(h, p, PEER_DATA_SIZE, &io->data);

	if (r < 0)
		return r;
	if (io->data.raw_len > l->p.max_block ||
	    !peer_range_fits(io->data.offset, io->data.raw_len,
			     meta_data_size(l->p.meta)))
		return -EBADMSG;	/* sizes were agreed in HELLO */
	if ((io->data.flags & PEER_F_COMPRESSED) &&
	    !(l->features & PEER_FEAT_LZ4))
		return -EBADMSG;
	io->type = PEER_DATA;
	io->seq = h->seq;
	io->off = io->data.offset;
	io->len = io->data.raw_len;
	io->flags = (io->data.flags & PEER_F_FUA) ? STORE_REQ_FUA : 0;
	c->payload_io = io;
	c->payload_dst = (io->data.flags & PEER_F_COMPRESSED) ? io->zbuf :
								 io->buf;
	c->payload_len = io->data.wire_len;
	c->payload_done = 0;
	return 0;
}

/*
 * Handle one packet whose header and fixed part are at p (for DATA the
 * payload follows separately). Returns bytes of rbuf consumed beyond the
 * header, -EAGAIN (need more bytes), -ENOBUFS (no context: stop reading)
 * or -EBADMSG (protocol error: close).
 */
static int dispatch(struct link_conn *c, const struct peer_hdr *h,
		    const uint8_t *p, size_t avail)
{
	struct link *l = c->l;
	uint32_t fixed = peer_fixed_len(h);
	struct peer_range pr;
	struct sec_io *io;
	uint64_t ts;
	int r, n;

	if (avail < fixed)
		return fixed > RBUF_SIZE - PEER_HDR_SIZE ? -EBADMSG : -EAGAIN;
	if (peer_hdr_check_features(h, l->features) < 0)
		return -EBADMSG;
	if (c->state == LC_HANDSHAKE) {
		switch (h->type) {
		case PEER_HELLO:
			r = handle_hello(c, h, p);
			break;
		case PEER_AUTH:
			r = handle_auth(c, h, p);
			break;
		case PEER_AUTH_OK:
			if (!c->got_auth) {
				r = -EBADMSG;
				break;
			}
			c->got_auth_ok = true;
			r = 0;
			break;
		case PEER_REFUSE: {
			struct peer_refuse rf;

			if (peer_decode_refuse(h, p, fixed, &rf) == 0)
				note_refusal(c, rf.msg);
			r = -ECONNREFUSED;
			break;
		}
		case PEER_PING:
		case PEER_PONG:
			r = 0;
			break;
		default:
			r = -EBADMSG;
		}
		return r < 0 ? r : (int)fixed;
	}
	switch (h->type) {
	case PEER_PING:
		if (peer_decode_ping(h, p, fixed, &ts) < 0)
			return -EBADMSG;
		n = peer_encode_pong(c->pong_tx.hdr, sizeof(c->pong_tx.hdr),
				     h->seq, ts);
		if (n > 0 && !c->pong_tx.si.queued) {
			c->pong_tx.si.hdr_len = (uint32_t)n;
			tx_queue(c, &c->pong_tx);
		}
		return (int)fixed;
	case PEER_PONG:
		return (int)fixed;
	case PEER_ACK_RECV:
	case PEER_ACK_WRITE:
	case PEER_NACK:
		return on_ack(c, h, p) < 0 ? -EBADMSG : (int)fixed;
	case PEER_STATE:
		r = on_state(c, h, p, fixed);
		return r < 0 ? r : (int)fixed;
	case PEER_BITMAP:
		return on_bitmap(c, h, p, fixed) < 0 ? -EBADMSG : (int)fixed;
	case PEER_RS_HASH:
		if (h->flags & PEER_F_REPLY)
			return on_hash_reply(c, h, p, fixed) < 0 ? -EBADMSG :
			       (int)fixed;
		io = sec_get(c);
		if (!io)
			return -ENOBUFS;
		r = start_hash(c, h, p, fixed, io);
		if (r < 0) {
			sec_put(io);
			return r;
		}
		return (int)fixed;
	case PEER_RS_DATA:
		if (!l->p.primary)
			goto apply;
		/* a primary's read of the peer's copy (its disk failed) */
		{
			struct link_req *lr = pend_find(l, h->seq);

			if (!lr || lr->type != LINK_REQ_READ ||
			    lr->tx.si.queued)
				return -EBADMSG;
		}
		io = sec_get(c);
		if (!io)
			return -ENOBUFS;
		r = start_data(c, h, p, io);
		if (r < 0) {
			sec_put(io);
			return r;
		}
		io->read_reply = true;
		return (int)fixed;
	case PEER_RS_REQUEST: {
		struct peer_rs_request rq;

		if (l->p.primary)
			return -EBADMSG;
		io = sec_get(c);
		if (!io)
			return -ENOBUFS;
		if (peer_decode_rs_request(h, p, fixed, &rq) < 0 ||
		    rq.len > l->p.max_block ||
		    !peer_range_fits(rq.offset, rq.len,
				     meta_data_size(l->p.meta))) {
			sec_put(io);
			return -EBADMSG;
		}
		io->seq = h->seq;
		io->type = PEER_RS_REQUEST;
		io->off = rq.offset;
		io->len = rq.len;
		io->flags = 0;
		sec_submit(io);
		return (int)fixed;
	}
	case PEER_DATA:
	case PEER_TRIM:
	case PEER_WRITE_ZEROES:
	case PEER_FLUSH:
apply:
		if (l->p.primary)
			return -EBADMSG;	/* a primary applies nothing */
		io = sec_get(c);
		if (!io)
			return -ENOBUFS;
		io->seq = h->seq;
		io->type = h->type;
		if (h->type == PEER_DATA || h->type == PEER_RS_DATA) {
			r = start_data(c, h, p, io);
			if (r < 0) {
				sec_put(io);
				return r;
			}
			return (int)fixed;
		}
		if (h->type == PEER_FLUSH) {
			io->off = io->len = 0;
			io->stage = SEC_FLUSH_WAIT;
			act_add(l, io);
			sec_flush_check(l);
			return (int)fixed;
		}
		if (peer_decode_range(h, p, fixed, &pr) < 0 ||
		    !peer_range_fits(pr.offset, pr.len,
				     meta_data_size(l->p.meta))) {
			sec_put(io);
			return -EBADMSG;
		}
		io->off = pr.offset;
		io->len = pr.len;
		io->flags = ((pr.flags & PEER_F_FUA) ? STORE_REQ_FUA : 0) |
			    ((pr.flags & PEER_F_NO_HOLE) ? STORE_REQ_NO_HOLE :
							  0);
		sec_submit(io);
		return (int)fixed;
	default:
		/* resync packets: not spoken by this version of the link */
		log_msg(LOG_ERR, "peer sent %s, which this node does not "
			"handle", peer_type_name(h->type));
		return -EBADMSG;
	}
}

static void go_standalone(struct link *l, bool split_brain, const char *why)
{
	if (!l->standalone)
		log_msg(LOG_ERR, "%s: StandAlone until `repctl connect`",
			why);
	l->standalone = true;
	l->split_brain = split_brain;
	snprintf(l->reason, sizeof(l->reason), "%s", why);
}

/* The peer's role or disk changed, or a resync starts or ends (we are
 * its target). */
static int on_state(struct link_conn *c, const struct peer_hdr *h,
		    const uint8_t *p, uint32_t len)
{
	struct link *l = c->l;
	struct peer_state st;
	struct md_gen src;
	bool target;
	int r;

	if (peer_decode_state(h, p, len, &st) < 0)
		return -EBADMSG;
	if (st.role == PEER_ROLE_PRIMARY && l->p.primary) {
		go_standalone(l, false, "both nodes are primary: demote one; "
			      "if both wrote while apart, their data has "
			      "diverged");
		refuse(c, EBUSY, l->reason);
		return -ECONNREFUSED;
	}
	if (st.role != c->peer_role)
		log_msg(LOG_NOTICE, "peer %s is now %s", l->peer_label,
			peer_role_name(st.role));
	c->peer_role = st.role;
	c->peer_disk = st.disk;
	if (h->seq != 0)
		c->peer_blank = false;	/* it holds generation seq now */
	if (st.repl == PEER_REPL_SYNC_SOURCE) {
		if (l->p.primary)
			return -EBADMSG;	/* a primary is never target */
		log_msg(LOG_NOTICE, "resync from %s started: this copy is "
			"Inconsistent until it ends", l->peer_label);
		/* take the source's current UUID now (seq): interrupted, the
		 * resync resumes from the source's bitmap (md_sync_plan) */
		return meta_sync_target_start(l->p.meta, h->seq);
	}
	if (st.repl == PEER_REPL_OFF && st.disk == PEER_DISK_UPTODATE &&
	    h->seq != 0) {
		/* the source cleared its bitmap UUID; take its generations
		 * as they are now: its current UUID travels in seq (it may
		 * have started a generation after its HELLO) */
		if (l->p.primary)
			return -EBADMSG;
		memset(&src, 0, sizeof(src));
		src.current = h->seq;
		src.bitmap = c->peer_hello.uuid_bitmap;
		src.history[0] = c->peer_hello.uuid_history[0];
		src.history[1] = c->peer_hello.uuid_history[1];
		md_uuid_clear_bitmap(&src);
		target = meta_super(l->p.meta)->flags &
			 MD_FLAG_RESYNC_IN_PROGRESS;
		if (!target &&
		    !md_uuid_never_held_data(&meta_super(l->p.meta)->gen)) {
			/* not a target, not blank: nothing to adopt; taking
			 * the peer's generations would hide a divergence */
			log_msg(LOG_WARNING, "%s reports the end of a resync "
				"this node was not receiving: ignored",
				l->peer_label);
			return 0;
		}
		if (l->flush_err < 0) {
			/* its last FLUSH may have passed before ours failed */
			log_msg(LOG_WARNING, "%s ended its resync, but this "
				"disk failed a FLUSH: it stays Inconsistent",
				l->peer_label);
			return 0;
		}
		/* a target's resync ended, or (blank, no resync ran) the peer
		 * started generation 1 with new-current-uuid --clear-bitmap */
		r = meta_sync_target_done(l->p.meta, &src);
		if (r == 0 && target) {
			log_msg(LOG_NOTICE, "resync from %s finished: "
				"UpToDate", l->peer_label);
			l->st.syncs_done++;
		} else if (r == 0) {
			log_msg(LOG_NOTICE, "%s started generation %016" PRIx64
				" with a clear bitmap: UpToDate without an "
				"initial sync", l->peer_label, src.current);
		}
		return r;
	}
	return 0;
}

/* Source: one chunk of the target's dirty bitmap. */
static int on_bitmap(struct link_conn *c, const struct peer_hdr *h,
		     const uint8_t *p, uint32_t len)
{
	struct link *l = c->l;
	struct peer_bitmap b;

	if (!c->bm_wait || peer_decode_bitmap(h, p, len, &b) < 0 ||
	    b.granularity != meta_granularity(l->p.meta))
		return -EBADMSG;
	if (meta_merge_bits(l->p.meta, b.first_bit, b.bits, b.n_bytes) < 0)
		return -EBADMSG;
	if (b.last) {
		c->bm_wait = false;
		if (l->p.on_connected)
			l->p.on_connected(l->p.ctx, c->verdict);
	}
	return 0;
}

#define BM_CHUNK_BYTES	(64u << 10)	/* bitmap bytes per BITMAP */

static void bm_send_next(struct link_conn *c);

static void on_bm_sent(struct link_tx *t)
{
	struct link_conn *c = container_of(t, struct link_conn, bm_tx);

	if (c->state == LC_CONNECTED)
		bm_send_next(c);
}

/* Target: send the next non-empty chunk of our bitmap (the last one
 * always, flagged LAST). */
static void bm_send_next(struct link_conn *c)
{
	struct link *l = c->l;
	uint64_t bits = meta_bitmap_bits(l->p.meta);
	uint8_t *chunk = c->bm_buf + PEER_HDR_SIZE + PEER_BITMAP_SIZE;
	struct peer_bitmap b;
	bool any = false;
	int n;

	if (!c->bm_sending)
		return;
	memset(&b, 0, sizeof(b));
	b.granularity = meta_granularity(l->p.meta);
	for (;;) {
		uint64_t left = bits - c->bm_next_bit;
		uint64_t nb = (left + 7) / 8;

		nb = (nb + 7) / 8 * 8;		/* whole 64-bit words */
		if (nb > BM_CHUNK_BYTES)
			nb = BM_CHUNK_BYTES;
		if (nb == 0)
			nb = 8;
		b.first_bit = c->bm_next_bit;
		b.n_bytes = (uint32_t)nb;
		any = meta_bitmap_chunk(l->p.meta, b.first_bit, chunk,
					b.n_bytes);
		c->bm_next_bit += 8 * nb;
		b.last = c->bm_next_bit >= bits;
		if (any || b.last)
			break;
	}
	b.bits = chunk;
	n = peer_encode_bitmap(c->bm_buf, PEER_HDR_SIZE + PEER_BITMAP_SIZE +
			       BM_CHUNK_BYTES, 0, &b);
	assert(n > 0);
	if (b.last)
		c->bm_sending = false;
	c->bm_tx.si.hdr_len = 0;	/* the whole packet is the payload */
	c->bm_tx.si.payload = c->bm_buf;
	c->bm_tx.si.payload_len = (uint32_t)n;
	c->bm_tx.on_sent = on_bm_sent;
	tx_queue(c, &c->bm_tx);
}

/* Our disk as the peer protocol names it. */
static enum peer_disk local_disk(const struct link *l)
{
	const struct md_super *sb = meta_super(l->p.meta);

	if (l->diskless)
		return PEER_DISK_DISKLESS;
	if (l->flush_err < 0)		/* lost writes, maybe: unusable */
		return PEER_DISK_INCONSISTENT;
	if (sb->flags & MD_FLAG_RESYNC_IN_PROGRESS)
		return PEER_DISK_INCONSISTENT;
	if (sb->gen.current <= MD_UUID_JUST_CREATED && !l->p.primary)
		return PEER_DISK_INCONSISTENT;
	if (sb->flags & MD_FLAG_OUTDATED)
		return PEER_DISK_OUTDATED;
	return PEER_DISK_UPTODATE;
}

static enum peer_disk disk_of_hello(const struct peer_hello *h)
{
	if (h->md_flags & MD_FLAG_RESYNC_IN_PROGRESS)
		return PEER_DISK_INCONSISTENT;
	if (h->uuid_current <= MD_UUID_JUST_CREATED &&
	    h->role != PEER_ROLE_PRIMARY)
		return PEER_DISK_INCONSISTENT;
	if (h->md_flags & MD_FLAG_OUTDATED)
		return PEER_DISK_OUTDATED;
	return PEER_DISK_UPTODATE;
}

static void conn_established(struct link_conn *c)
{
	struct link *l = c->l;
	const struct md_super *sb = meta_super(l->p.meta);
	struct md_uuid_side me, peer;
	enum md_uuid_verdict v;
	struct md_sync_plan plan;
	bool full;
	const char *why;
	unsigned rule;

	memset(&me, 0, sizeof(me));
	memset(&peer, 0, sizeof(peer));
	me.gen = sb->gen;
	me.flags = sb->flags;
	me.node_id = l->p.local_id;
	peer.gen.current = c->peer_hello.uuid_current;
	peer.gen.bitmap = c->peer_hello.uuid_bitmap;
	peer.gen.history[0] = c->peer_hello.uuid_history[0];
	peer.gen.history[1] = c->peer_hello.uuid_history[1];
	peer.flags = c->peer_hello.md_flags;
	peer.node_id = c->peer_hello.node_id;
	v = md_uuid_compare(&me, &peer, &rule);
	if (c == l->cand) {
		/* the candidate authenticated: it replaces the old link */
		l->cand = NULL;
		if (l->conn)
			conn_lost(l->conn, "replaced by a new authenticated "
				  "connection");
		l->conn = c;
	}
	c->peer_role = c->peer_hello.role;
	c->peer_disk = disk_of_hello(&c->peer_hello);
	c->peer_blank = md_uuid_never_held_data(&peer.gen);
	/* checked only now, after AUTH: a stranger who merely claims to be
	 * primary must not be able to force this node StandAlone */
	if (l->p.primary && c->peer_role == PEER_ROLE_PRIMARY) {
		why = v == MD_UUID_SPLIT_BRAIN ?
		      "both nodes are primary and their data diverged (split "
		      "brain): demote one, then `repctl connect "
		      "--discard-my-data` on it" :
		      "both nodes are primary: demote one; if both wrote "
		      "while apart, their data has diverged";
		if (v == MD_UUID_SPLIT_BRAIN) {
			l->sb_peer_gen = peer.gen;
			l->sb_peer_known = true;
		}
		log_msg(LOG_ERR, "refusing %s: %s", l->peer_label, why);
		go_standalone(l, v == MD_UUID_SPLIT_BRAIN, why);
		refuse(c, EBUSY, why);
		c->got_auth_ok = false;
		return;
	}
	why = md_sync_plan(v, rule, l->p.primary,
			   c->peer_role == PEER_ROLE_PRIMARY,
			   me.flags & MD_FLAG_RESYNC_IN_PROGRESS,
			   peer.flags & MD_FLAG_RESYNC_IN_PROGRESS, &plan);
	v = plan.verdict;
	l->have_decision = true;
	l->decision = v;
	l->decision_rule = rule;
	log_msg(why ? LOG_ERR : LOG_INFO, "generations: local %016" PRIx64
		"/%016" PRIx64 ", peer %016" PRIx64 "/%016" PRIx64 ": %s "
		"(rule %u: %s)", me.gen.current, me.gen.bitmap, peer.gen.current,
		peer.gen.bitmap, md_uuid_verdict_name(v), rule,
		md_uuid_rule_text(rule));
	if (why && v == MD_UUID_SPLIT_BRAIN && l->discard_my_data &&
	    (peer.flags & PEER_HELLO_DISCARDING)) {
		why = "split brain, and both nodes were told to discard "
		      "their changes: run `repctl connect --discard-my-data` "
		      "on one node only";
		l->discard_my_data = false;
	} else if (why && v == MD_UUID_SPLIT_BRAIN &&
		   (peer.flags & PEER_HELLO_DISCARDING)) {
		/* the peer throws its changes away and reconnects for a
		 * resync from us: stay connectable rather than StandAlone */
		log_msg(LOG_WARNING, "split brain: %s discards its changes "
			"(connect --discard-my-data); a resync from this node "
			"follows", l->peer_label);
		conn_lost(c, "the peer discards its changes");
		l->backoff_ms = 0;
		l->reconnect_at_ms = 0;
		return;
	}
	if (why && v == MD_UUID_SPLIT_BRAIN && l->discard_my_data &&
	    !l->p.primary) {
		/* the operator chose this node's changes to go */
		l->discard_my_data = false;
		if (meta_discard_my_data(l->p.meta, &peer.gen, &full) == 0) {
			conn_lost(c, "reconnecting after discarding our "
				  "changes");
			l->backoff_ms = 0;
			l->reconnect_at_ms = 0;
			return;
		}
	}
	if (why) {
		if (v == MD_UUID_SPLIT_BRAIN) {
			l->sb_peer_gen = peer.gen;
			l->sb_peer_known = true;
		}
		log_msg(LOG_ERR, "refusing %s: %s", l->peer_label, why);
		go_standalone(l, v == MD_UUID_SPLIT_BRAIN, why);
		refuse(c, EPERM, why);
		/* the REFUSE goes out; the peer closes, or our timeout does */
		c->got_auth_ok = false;
		return;
	}

	c->state = LC_CONNECTED;
	c->verdict = v;
	l->backoff_ms = 0;
	l->st.connects++;
	l->peer_refusal[0] = '\0';
	l->discard_my_data = false;
	l->sb_peer_known = false;
	log_msg(LOG_NOTICE, "connected to %s, %s: protocol %c%s%s",
		l->peer_label, peer_role_name(c->peer_role), 'A' + l->p.proto,
		(l->features & PEER_FEAT_LZ4) && l->p.lz4 ? ", lz4" : "",
		(l->features & PEER_FEAT_CRC32C) && l->p.checksum ?
		", crc32c" : "");
	meta_peer_connected(l->p.meta);
	pending_resend(l, c);
	if (plan.dir == MD_SYNC_TARGET && !plan.full) {
		c->bm_sending = true;
		c->bm_next_bit = 0;
		bm_send_next(c);
	} else if (plan.dir == MD_SYNC_SOURCE && !plan.full) {
		c->bm_wait = true;	/* on_connected once LAST arrives */
	} else if (plan.dir == MD_SYNC_SOURCE && l->p.on_connected) {
		l->p.on_connected(l->p.ctx, v);
	}
}

static void send_state(struct link *l, enum peer_repl repl, uint64_t seq,
		       enum peer_disk disk)
{
	struct link_conn *c = l->conn;
	struct peer_state st = {
		.role = l->p.primary ? PEER_ROLE_PRIMARY : PEER_ROLE_SECONDARY,
		.disk = disk,
		.repl = repl,
	};
	int n;

	struct link_tx *t = NULL;
	unsigned i;

	if (!c || c->state != LC_CONNECTED)
		return;
	for (i = 0; i < 4 && !t; i++)
		if (!c->state_tx[i].si.queued)
			t = &c->state_tx[i];
	if (!t) {
		/* four state changes within one send: the peer is not
		 * reading; it will be timed out */
		log_msg(LOG_WARNING, "peer %s: STATE backlog, dropping one",
			l->peer_label);
		return;
	}
	n = peer_encode_state(t->hdr, sizeof(t->hdr), seq, &st);
	assert(n > 0);
	t->si.hdr_len = (uint32_t)n;
	tx_queue(c, t);
}

void link_send_sync_state(struct link *l, bool done)
{
	if (!l->conn)
		return;
	send_state(l, done ? PEER_REPL_OFF : PEER_REPL_SYNC_SOURCE,
		   meta_super(l->p.meta)->gen.current, PEER_DISK_UPTODATE);
	l->conn->peer_blank = false;	/* it takes our generation */
	l->conn->peer_disk = done ? PEER_DISK_UPTODATE :
				    PEER_DISK_INCONSISTENT;
}

void link_send_generation(struct link *l)
{
	if (!l->conn)
		return;
	send_state(l, PEER_REPL_OFF, meta_super(l->p.meta)->gen.current,
		   PEER_DISK_UPTODATE);
	l->conn->peer_blank = false;
	l->conn->peer_disk = PEER_DISK_UPTODATE;
}

void link_send_state(struct link *l)
{
	send_state(l, PEER_REPL_OFF, 0, local_disk(l));
}

void link_set_diskless(struct link *l)
{
	l->diskless = true;
	link_send_state(l);
}

/* Parse every complete packet in rbuf. */
static void conn_parse(struct link_conn *c)
{
	while (c->state != LC_CLOSING && !c->payload_io && !c->refusing) {
		size_t avail = c->rend - c->rstart;
		struct peer_hdr h;
		int r;

		r = peer_decode_hdr(c->rbuf + c->rstart, avail, &h);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			char hex[3 * PEER_HDR_SIZE + 1];
			unsigned i;

			for (i = 0; i < PEER_HDR_SIZE; i++)
				snprintf(hex + 3 * i, 4, "%02x ",
					 c->rbuf[c->rstart + i]);
			hex[3 * PEER_HDR_SIZE - 1] = '\0';
			log_msg(LOG_WARNING, "peer %s: malformed packet header: "
				"%s", c->l->peer_label, hex);
			conn_lost(c, "malformed packet header");
			return;
		}
		r = dispatch(c, &h, c->rbuf + c->rstart + PEER_HDR_SIZE,
			     avail - PEER_HDR_SIZE);
		if (r == -EAGAIN || r == -ENOBUFS)
			break;
		if (r < 0 && c->refusing)
			return;	/* our REFUSE goes out, then we close */
		if (r < 0) {
			conn_lost(c, r == -ECONNREFUSED ? "refused by peer" :
				  "malformed or unexpected packet");
			return;
		}
		c->rstart += PEER_HDR_SIZE + (size_t)r;
		if (c->payload_io) {
			/* payload: take what is buffered, receive the rest
			 * straight into the context */
			size_t have = c->rend - c->rstart;
			size_t n = have < c->payload_len ? have :
							    c->payload_len;

			memcpy(c->payload_dst, c->rbuf + c->rstart, n);
			c->rstart += n;
			c->payload_done = (uint32_t)n;
			if (c->payload_done == c->payload_len) {
				struct sec_io *io = c->payload_io;

				c->payload_io = NULL;
				if (sec_data_complete(c, io) < 0) {
					sec_put(io);
					conn_lost(c, "bad DATA payload");
					return;
				}
			}
		}
		if (c->state == LC_HANDSHAKE && c->got_auth_ok &&
		    c->got_auth && c->auth_ok_tx.si.hdr_len)
			conn_established(c);
	}
	if (c->rstart == c->rend) {
		c->rstart = c->rend = 0;
	} else if (c->rstart > RBUF_SIZE / 2) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	conn_arm_recv(c);
}

static void on_recv(struct engine_op *op, int res)
{
	struct link_conn *c = container_of(op, struct link_conn, recv_op);

	c->recv_pending = false;
	if (c->state == LC_CLOSING) {
		conn_maybe_free(c);
		return;
	}
	if (res <= 0) {
		conn_lost(c, res < 0 ? strerror(-res) : "peer closed");
		conn_maybe_free(c);
		return;
	}
	c->l->st.recv_bytes += (uint64_t)res;
	c->last_rx_ms = now_ms();
	if (c->payload_io) {
		c->payload_done += (uint32_t)res;
		if (c->payload_done == c->payload_len) {
			struct sec_io *io = c->payload_io;

			c->payload_io = NULL;
			if (sec_data_complete(c, io) < 0) {
				sec_put(io);
				conn_lost(c, "bad DATA payload");
				conn_maybe_free(c);
				return;
			}
		}
	} else {
		c->rend += (size_t)res;
	}
	conn_parse(c);
}

static void conn_arm_recv(struct link_conn *c)
{
	if (c->recv_pending || c->state == LC_CLOSING)
		return;
	c->recv_op.cb = on_recv;
	if (c->payload_io) {
		engine_recv(c->l->p.eng, &c->recv_op, c->fd,
			    c->payload_dst + c->payload_done,
			    c->payload_len - c->payload_done, MSG_WAITALL);
	} else {
		if (c->rend == RBUF_SIZE)
			return;	/* full: a context must free up first */
		engine_recv(c->l->p.eng, &c->recv_op, c->fd, c->rbuf + c->rend,
			    RBUF_SIZE - c->rend, 0);
	}
	c->recv_pending = true;
}

/* ---- handshake ---- */

static int handle_hello(struct link_conn *c, const struct peer_hdr *h,
			const uint8_t *p)
{
	struct link *l = c->l;
	struct peer_hello rh;
	char why[PEER_MSG_MAX + 1];
	uint8_t mac[PEER_MAC_SIZE];
	uint16_t version;
	int r;

	if (c->got_hello || peer_decode_hello(h, p, h->len, &rh) < 0)
		return -EBADMSG;
	c->got_hello = true;
	c->peer_hello = rh;
	r = peer_hello_check(&c->hello, &rh, &version, why);
	if (r == 0 && strcmp(rh.node_name, l->p.peer_name) != 0) {
		snprintf(why, sizeof(why), "expected node %s, not %s",
			 l->p.peer_name, rh.node_name);
		r = -EACCES;
	}
	if (r < 0) {
		log_msg(LOG_ERR, "refusing peer %s: %s", l->peer_label, why);
		refuse(c, -r, why);
		return -ECONNREFUSED;
	}
	l->features = c->hello.features & rh.features;
	/* prove we know the secret: HMAC over the peer's challenge */
	r = peer_auth_compute(l->p.secret, strlen(l->p.secret), rh.challenge,
			      l->p.local_name, mac);
	if (r < 0)
		return r;
	r = peer_encode_auth(c->auth_tx.hdr, sizeof(c->auth_tx.hdr), mac);
	assert(r > 0);
	c->auth_tx.si.hdr_len = (uint32_t)r;
	tx_queue(c, &c->auth_tx);
	return 0;
}

static int handle_auth(struct link_conn *c, const struct peer_hdr *h,
		       const uint8_t *p)
{
	struct link *l = c->l;
	uint8_t mac[PEER_MAC_SIZE];
	int r;

	if (!c->got_hello || c->got_auth ||
	    peer_decode_auth(h, p, h->len, mac) < 0)
		return -EBADMSG;
	if (peer_auth_verify(l->p.secret, strlen(l->p.secret),
			     c->hello.challenge, l->p.peer_name, mac) != 0) {
		log_msg(LOG_ERR, "peer %s failed authentication (wrong "
			"secret?)", l->peer_label);
		refuse(c, EACCES, "authentication failed");
		return -ECONNREFUSED;
	}
	c->got_auth = true;
	if (l->standalone) {
		/* The genuine peer, told why and what cures it, logs it once
		 * rather than a bare closed connection at every redial. */
		char why[PEER_MSG_MAX + 1];

		snprintf(why, sizeof(why), "%s is StandAlone (%.150s): "
			 "`repctl connect` on it reconnects", l->p.local_name,
			 l->reason);
		c->quiet = true;
		refuse(c, ECONNREFUSED, why);
		return -ECONNREFUSED;
	}
	r = peer_encode_auth_ok(c->auth_ok_tx.hdr, sizeof(c->auth_ok_tx.hdr));
	assert(r > 0);
	c->auth_ok_tx.si.hdr_len = (uint32_t)r;
	tx_queue(c, &c->auth_ok_tx);
	return 0;
}

/* A new connection on fd, or NULL with *err set (negative errno). It
 * returns the pointer rather than filling an out-parameter: GCC 12 at -O3
 * takes &local passed to a callee for a dangling pointer. */
static struct link_conn *conn_new(struct link *l, int fd, int *err)
{
	const struct md_super *sb = meta_super(l->p.meta);
	struct link_conn *c = calloc(1, sizeof(*c));
	int one = 1, buf = SOCK_BUF, r;

	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->rbuf = malloc(RBUF_SIZE);
	c->bm_buf = malloc(PEER_HDR_SIZE + PEER_BITMAP_SIZE + BM_CHUNK_BYTES);
	if (!c->rbuf || !c->bm_buf) {
		free(c->rbuf);
		free(c->bm_buf);
		free(c);
		*err = -ENOMEM;
		return NULL;
	}
	c->l = l;
	c->fd = fd;
	c->send_task.fn = conn_send_task;
	c->id = ++l->next_conn_id;
	c->state = LC_HANDSHAKE;
	c->last_rx_ms = c->last_tx_ms = now_ms();
	/* acks must not wait behind Nagle; big buffers keep the pipe full.
	 * Either failing only costs speed: say so and go on. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_errno(LOG_WARNING, -errno, "peer socket TCP_NODELAY");
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) < 0)
		log_errno(LOG_WARNING, -errno, "peer socket buffers");
	c->hello = (struct peer_hello){
		.version_min = PEER_VERSION_MIN,
		.version_max = PEER_VERSION_MAX,
		.node_id = l->p.local_id,
		.features = PEER_FEAT_CRC32C | PEER_FEAT_XXH3 |
			    (l->p.lz4 ? PEER_FEAT_LZ4 : 0),
		.data_size = meta_data_size(l->p.meta),
		.role = l->p.primary ? PEER_ROLE_PRIMARY : PEER_ROLE_SECONDARY,
		.md_flags = sb->flags |
			    (l->discard_my_data ? PEER_HELLO_DISCARDING : 0),
		.uuid_current = sb->gen.current,
		.uuid_bitmap = sb->gen.bitmap,
		.uuid_history = { sb->gen.history[0], sb->gen.history[1] },
	};
	snprintf(c->hello.node_name, sizeof(c->hello.node_name), "%s",
		 l->p.local_name);
	snprintf(c->hello.resource, sizeof(c->hello.resource), "%s",
		 l->p.resource);
	r = peer_challenge_new(c->hello.challenge);
	if (r == 0)
		r = peer_encode_hello(c->hello_buf, sizeof(c->hello_buf),
				      &c->hello);
	if (r < 0) {
		free(c->rbuf);
		free(c->bm_buf);
		free(c);
		*err = r;
		return NULL;
	}
	c->hello_tx.si.hdr_len = 0;	/* the whole packet is the payload */
	c->hello_tx.si.payload = c->hello_buf;
	c->hello_tx.si.payload_len = (uint32_t)r;
	return c;
}

/* A connected socket: say HELLO and start reading. */
static void conn_begin(struct link *l, struct link_conn *c)
{
	if (l->conn && l->conn->state == LC_CONNECTED) {
		/* An established link is never given up for a connection
		 * that has not proved it knows the secret: the newcomer is a
		 * candidate until it authenticates (the primary may have
		 * reconnected before we noticed the old link die). */
		if (l->cand)
			conn_lost(l->cand, "superseded by a newer connection");
		l->cand = c;
	} else {
		if (l->conn)
			conn_lost(l->conn, "replaced by a new connection");
		l->conn = c;
	}
	tx_queue(c, &c->hello_tx);
	conn_arm_recv(c);
}

/* ---- connection loss and teardown ---- */

/* A packet that will never go out. */
static void tx_dropped(struct sendq_item *it, void *arg)
{
	struct link_tx *t = container_of(it, struct link_tx, si);

	(void)arg;
	/* a secondary's answer: recycle its context */
	if (t->on_sent == on_ack_sent)
		t->on_sent(t);
}

static void conn_lost(struct link_conn *c, const char *why)
{
	struct link *l = c->l;
	bool was_up = c->state == LC_CONNECTED;

	if (c->state == LC_CLOSING)
		return;
	c->state = LC_CLOSING;
	if (was_up) {
		l->st.losses++;
		log_msg(l->stopping ? LOG_INFO : LOG_WARNING, "%s peer %s: %s",
			l->stopping ? "disconnected from" : "lost",
			l->peer_label, why);
	} else if (!l->stopping) {
		log_msg(c->quiet ? LOG_DEBUG : LOG_INFO,
			"connection to %s failed: %s", l->peer_label, why);
	}
	/* shutdown makes the pending recv/send complete; close comes when
	 * nothing refers to the socket any more */
	shutdown(c->fd, SHUT_RDWR);
	sendq_clear(&c->sendq, tx_dropped, NULL);
	if (c->payload_io) {
		struct sec_io *io = c->payload_io;

		c->payload_io = NULL;
		sec_put(io);
	}
	if (l->cand == c) {
		l->cand = NULL;
		conn_maybe_free(c);
		return;	/* the established link is untouched */
	}
	if (l->conn == c)
		l->conn = NULL;
	c->bm_wait = c->bm_sending = false;
	pending_on_loss(l);
	if (l->dialer) {
		if (!l->stopping) {
			l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 :
							 BACKOFF_MIN_MS;
			if (l->backoff_ms > BACKOFF_MAX_MS)
				l->backoff_ms = BACKOFF_MAX_MS;
			l->reconnect_at_ms = now_ms() + l->backoff_ms;
		}
	}
	conn_maybe_free(c);
}

/* Queue a closed connection for freeing once nothing refers to it; the
 * free happens in link_poll(), never under a caller's feet. */
static void conn_maybe_free(struct link_conn *c)
{
	struct link *l = c->l;

	if (c->reaping || c->state != LC_CLOSING || c->recv_pending ||
	    c->send_pending || c->send_task.queued || c->refs > 0)
		return;
	c->reaping = true;
	c->reap_next = l->reap;
	l->reap = c;
}

void link_poll(struct link *l)
{
	struct link_conn *c;

	while ((c = l->reap)) {
		l->reap = c->reap_next;
		close(c->fd);
		free(c->rbuf);
		free(c->bm_buf);
		free(c);
	}
	if (l->resume && l->conn && l->conn->state != LC_CLOSING &&
	    !l->conn->recv_pending) {
		l->resume = false;
		conn_parse(l->conn);
	}
}

/* ---- dialling, accepting, timers ---- */

static void on_connect(struct engine_op *op, int res)
{
	struct link *l = container_of(op, struct link, connect_op);
	struct link_conn *c = l->dialing;

	l->dialing = NULL;
	if (res < 0 || l->stopping || l->conn || l->standalone) {
		if (res < 0) {
			log_debug("connect to %s: %s", l->peer_label,
				  strerror(-res));
			/* unreachable: what it refused us with is stale */
			l->peer_refusal[0] = '\0';
		}
		close(c->fd);
		free(c->rbuf);
		free(c->bm_buf);
		free(c);
		l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 :
						 BACKOFF_MIN_MS;
		if (l->backoff_ms > BACKOFF_MAX_MS)
			l->backoff_ms = BACKOFF_MAX_MS;
		l->reconnect_at_ms = now_ms() + l->backoff_ms;
		return;
	}
	conn_begin(l, c);
}

static void dial(struct link *l)
{
	const struct netaddr *a = &l->p.peer_addr;
	struct link_conn *c;
	int fd, r;

	if (l->dialing || l->conn || l->stopping || l->standalone)
		return;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_errno(LOG_ERR, -errno, "socket");
		l->reconnect_at_ms = now_ms() + BACKOFF_MAX_MS;
		return;
	}
	c = conn_new(l, fd, &r);
	if (!c) {
		close(fd);
		log_errno(LOG_ERR, r, "new peer connection");
		l->reconnect_at_ms = now_ms() + BACKOFF_MAX_MS;
		return;
	}
	l->dialing = c;
	l->connect_op.cb = on_connect;
	engine_connect(l->p.eng, &l->connect_op, fd,
		       (const struct sockaddr *)&a->ss, a->len);
}

static void on_accept(struct engine_op *op, int res)
{
	struct link *l = container_of(op, struct link, accept_op);
	struct link_conn *c;

	l->accept_pending = false;
	if (l->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res >= 0) {
		/* also while StandAlone: handle_auth refuses it */
		int err;

		c = conn_new(l, res, &err);
		if (c) {
			conn_begin(l, c);
		} else {
			log_errno(LOG_ERR, err, "new peer connection");
			close(res);
		}
	} else if (res != -ECANCELED) {
		log_errno(LOG_WARNING, res, "accept on the replication port");
	}
	l->accept_pending = true;
	engine_accept(l->p.eng, &l->accept_op, l->listen_fd);
}

static void on_tick(struct engine_op *op, int res)
{
	struct link *l = container_of(op, struct link, timer_op);
	struct link_conn *c = l->conn;
	uint64_t now = now_ms();
	int n;

	(void)res;
	l->timer_pending = false;
	if (l->stopping)
		return;
	if (c && c->state != LC_CLOSING) {
		if (now - c->last_rx_ms > l->p.timeout_ms) {
			conn_lost(c, c->state == LC_CONNECTED ?
				  "no answer within the timeout" :
				  "handshake timed out");
		} else if (c->state == LC_CONNECTED &&
			   now - c->last_tx_ms >= l->p.ping_ms &&
			   !c->ping_tx.si.queued) {
			n = peer_encode_ping(c->ping_tx.hdr,
					     sizeof(c->ping_tx.hdr),
					     ++c->ping_seq, now);
			if (n > 0) {
				c->ping_tx.si.hdr_len = (uint32_t)n;
				tx_queue(c, &c->ping_tx);
			}
		}
	}
	if (l->cand && now - l->cand->last_rx_ms > l->p.timeout_ms)
		conn_lost(l->cand, "handshake timed out");
	if (l->dialer && !l->standalone && !l->conn && !l->dialing &&
	    now >= l->reconnect_at_ms)
		dial(l);
	l->timer_pending = true;
	l->timer_op.cb = on_tick;
	engine_timeout(l->p.eng, &l->timer_op, &l->tick);
}

/* ---- lifecycle ---- */

int link_new(const struct link_params *p, struct link **ret)
{
	struct link *l = calloc(1, sizeof(*l));
	char addr[200];
	unsigned i;

	if (!l)
		return -ENOMEM;
	l->p = *p;
	store_sync_init(&l->fsync, l->p.eng, l->p.store);
	l->listen_fd = -1;
	{
		uint64_t ms = test_hook_u64("REPD_TEST_PEER_FLUSH_DELAY_MS",
					    "peer FLUSHes are answered late");

		l->flush_delay.tv_sec = (long long)(ms / 1000);
		l->flush_delay.tv_nsec = (long long)(ms % 1000) * 1000000;
	}
	l->fail_apply_after = test_hook_u64("REPD_TEST_FAIL_APPLY_AFTER",
		"the peer's writes fail here after that many");
	l->fail_flush_after = test_hook_u64("REPD_TEST_FAIL_PEER_FLUSH_AFTER",
		"the peer's FLUSHes fail here after that many");
	l->hold_apply_after = test_hook_u64("REPD_TEST_HOLD_APPLY_AFTER",
		"the peer's writes after that many hang here, never applied");
	l->dialer = p->local_id < p->peer_id;
	netaddr_format(&p->peer_addr, addr, sizeof(addr));
	snprintf(l->peer_label, sizeof(l->peer_label), "%s (%s)",
		 p->peer_name, addr);
	l->bufs_len = 2 * (size_t)p->max_block * p->max_ios +
		      STORE_ZERO_CHUNK;
	/* as in the server: NORESERVE, only touched pages cost memory */
	l->bufs = mmap(NULL, l->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	l->ios = calloc(p->max_ios, sizeof(*l->ios));
	if (l->bufs == MAP_FAILED || !l->ios) {
		if (l->bufs != MAP_FAILED)
			munmap(l->bufs, l->bufs_len);
		free(l->ios);
		free(l);
		return -ENOMEM;
	}
	l->zeroes = l->bufs + l->bufs_len - STORE_ZERO_CHUNK;
	for (i = 0; i < p->max_ios; i++) {
		struct sec_io *io = &l->ios[p->max_ios - 1 - i];

		io->l = l;
		io->buf = l->bufs + 2 * (size_t)p->max_block *
			  (p->max_ios - 1 - i);
		io->zbuf = io->buf + p->max_block;
		io->next = l->free_ios;
		l->free_ios = io;
	}
	l->n_free = p->max_ios;
	/* the tick drives keepalive, timeouts and reconnects */
	l->tick.tv_sec = 0;
	l->tick.tv_nsec = 100 * 1000 * 1000;
	*ret = l;
	return 0;
}

void link_set_on_connected(struct link *l,
			   void (*fn)(void *ctx, enum md_uuid_verdict v),
			   void *ctx)
{
	l->p.on_connected = fn;
	l->p.ctx = ctx;
}

int link_start(struct link *l)
{
	char addr[200];

	if (!l->dialer) {
		l->listen_fd = netaddr_listen(&l->p.local_addr, 4);
		if (l->listen_fd < 0) {
			netaddr_format(&l->p.local_addr, addr, sizeof(addr));
			return log_errno(LOG_ERR, l->listen_fd, "cannot listen "
					 "for the peer on %s", addr);
		}
		l->accept_pending = true;
		l->accept_op.cb = on_accept;
		engine_accept(l->p.eng, &l->accept_op, l->listen_fd);
		netaddr_format(&l->p.local_addr, addr, sizeof(addr));
		log_msg(LOG_INFO, "waiting for peer %s on %s, protocol %c",
			l->p.peer_name, addr, 'A' + l->p.proto);
	} else {
		log_msg(LOG_INFO, "connecting to %s, protocol %c",
			l->peer_label, 'A' + l->p.proto);
		dial(l);
	}
	l->timer_pending = true;
	l->timer_op.cb = on_tick;
	engine_timeout(l->p.eng, &l->timer_op, &l->tick);
	return 0;
}

void link_set_role(struct link *l, bool primary)
{
	l->p.primary = primary;
	link_send_state(l);
}

void link_disconnect(struct link *l)
{
	l->standalone = true;
	l->split_brain = false;
	snprintf(l->reason, sizeof(l->reason), "disconnected by the "
		 "operator");
	log_msg(LOG_NOTICE, "disconnecting from %s (repctl disconnect)",
		l->peer_label);
	if (l->dialing)
		shutdown(l->dialing->fd, SHUT_RDWR);
	if (l->cand)
		conn_lost(l->cand, "disconnected by the operator");
	if (l->conn)
		conn_lost(l->conn, "disconnected by the operator");
}

int link_connect(struct link *l, bool discard_my_data)
{
	bool full;
	int r;

	if (discard_my_data && l->p.primary)
		return -EBUSY;
	if (discard_my_data && l->sb_peer_known) {
		/* the split brain is known: resolve it now, so the peer
		 * sees a plain bitmap resync whatever its own state */
		r = meta_discard_my_data(l->p.meta, &l->sb_peer_gen, &full);
		if (r < 0)
			return r;
		l->sb_peer_known = false;
	} else {
		l->discard_my_data = discard_my_data;
	}
	l->standalone = false;
	l->split_brain = false;
	l->reason[0] = '\0';
	l->backoff_ms = 0;
	l->reconnect_at_ms = 0;
	if (l->dialer)
		dial(l);	/* now, not at the next tick */
	return 0;
}

void link_reconnect(struct link *l)
{
	if (l->conn)
		conn_lost(l->conn, "reconnecting to compare generations and "
			  "bitmaps");
	l->backoff_ms = 0;
	l->reconnect_at_ms = 0;
	if (l->dialer)
		dial(l);	/* a no-op while the old one closes */
}

bool link_connected(const struct link *l)
{
	return l->conn && l->conn->state == LC_CONNECTED;
}

uint64_t link_connects(const struct link *l)
{
	return l->st.connects;
}

void link_stop(struct link *l)
{
	if (l->stopping)
		return;
	l->stopping = true;
	if (l->accept_pending)
		engine_cancel(l->p.eng, NULL, &l->accept_op);
	if (l->timer_pending)
		engine_cancel(l->p.eng, NULL, &l->timer_op);
	if (l->dialing)
		shutdown(l->dialing->fd, SHUT_RDWR);
	if (l->cand)
		conn_lost(l->cand, "shutting down");
	if (l->conn)
		conn_lost(l->conn, "shutting down");
	else
		pending_on_loss(l);
}

bool link_stopped(const struct link *l)
{
	return l->stopping && !l->accept_pending && !l->timer_pending &&
	       !l->dialing && !l->conn && !l->cand && !l->reap &&
	       l->n_free == l->p.max_ios && !l->pend_head &&
	       fsync_batch_idle(&l->fsync.batch);
}

struct link *link_free(struct link *l)
{
	if (!l)
		return NULL;
	if (l->listen_fd >= 0)
		close(l->listen_fd);
	munmap(l->bufs, l->bufs_len);
	free(l->ios);
	free(l);
	return NULL;
}

void link_get_stats(const struct link *l, struct link_stats *ret)
{
	*ret = l->st;
	ret->connected = link_connected(l);
	ret->pending = l->n_pending;
	ret->standalone = l->standalone;
	ret->split_brain = l->split_brain;
	ret->reason = l->reason[0] ? l->reason : NULL;
	ret->peer_refusal = l->peer_refusal[0] ? l->peer_refusal : NULL;
	ret->have_decision = l->have_decision;
	ret->decision = l->decision;
	ret->decision_rule = l->decision_rule;
	ret->applying = l->p.max_ios - l->n_free;
	ret->disk_error = l->flush_err;
	if (ret->connected) {
		ret->peer_primary = l->conn->peer_role == PEER_ROLE_PRIMARY;
		ret->peer_disk = l->conn->peer_disk;
		ret->peer_blank = l->conn->peer_blank;
		ret->bitmap_exchange = l->conn->bm_wait || l->conn->bm_sending;
	}
}
