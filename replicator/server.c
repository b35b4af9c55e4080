/*
 * NBD server on the io_uring loop.
 *
 * Ownership: a struct nbd_io is in exactly one place at a time: the free
 * list, a connection's receive path (payload arriving), the blocked-writes
 * FIFO, the ring (a disk op in flight) or a connection's send queue. It is
 * returned to the free list only when its reply has been sent in full or
 * the connection died. A connection is freed only when it owns no io and
 * has no socket op in flight.
 *
 * Invariants:
 * - replies of one connection go out through at most one sendmsg in flight,
 *   so reply bytes never interleave on the stream;
 * - a modifying request (WRITE, TRIM, WRITE_ZEROES) never runs while an
 *   earlier overlapping one is in flight, so overlapping writes reach the
 *   disk in the order they were received (the replicas will depend on it);
 * - no malloc on the data path: contexts and buffers come from pools made
 *   at start-up.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "link.h"
#include "meta.h"
#include "peer/peer_proto.h"
#include "pipe_pool.h"
#include "reply_hold.h"
#include "sendq.h"
#include "server.h"
#include "store_req.h"
#include "clock.h"
#include "cpu_auto.h"
#include "rs_ctl.h"
#include "rs_unflushed.h"
#include "fsync_batch.h"
#include "test_hook.h"

#define RBUF_SIZE	(256u * 1024u)	/* request headers and small payloads */
#define HSOUT_SIZE	(2u * NBD_HS_OUT_MAX)
#define MAX_EXTENTS	1024u		/* extents in one BLOCK_STATUS reply */
#define ZERO_CHUNK	STORE_ZERO_CHUNK /* zero bytes for WRITE_ZEROES */
#define TRIM_RSS_ABOVE	(4u << 20)	/* give back buffer pages beyond this */
/*
 * Buffered READs of SPLICE_READ_MIN up to SPLICE_READ_MAX bytes go from
 * the page cache to the socket by reference (docs/design.md, "Read
 * replies by splice"): an io_uring worker splices the file range into a
 * pipe, and the loop splices the pipe into the socket. Below the minimum
 * the loop's own read of cached pages, with no worker, costs less.
 * SPLICE_PIPES of them may be in flight, more read with a copy. Without
 * CAP_SYS_RESOURCE a pipe holds 1 MiB at most (pipe-max-size), and
 * longer reads copy too (pipe_pool.h); 32 such pipes are the 64 MiB of
 * pipe buffers such a user may have in all.
 */
#define SPLICE_READ_MIN	STORE_OFFLOAD_READ_MIN
#define SPLICE_READ_MAX	(4u << 20)
#define SPLICE_PIPES	32u
#define MAX_LISTENERS	8
/* TRIM and WRITE_ZEROES may cover the whole device; they are executed in
 * chunks so that each holds a bounded number of activity-log extents. */
#define MODIFY_CHUNK	(32u << 20)
/* Resync with no client active: the source reads dirty runs of up to
 * RS_CHUNK bytes and keeps as many in flight as the request contexts
 * allow but RS_CLIENT_IOS (448 of 512), and RS_WINDOW_BYTES in all. Big
 * runs fill the byte budget with a few requests; scattered single
 * granules (a bitmap resync after random writes) get many in flight,
 * because then the disk's IOPS at depth is the limit: on the virtual
 * disk of our benchmarks 448 beat 256 by about 10%. A client that
 * arrives finds RS_CLIENT_IOS free, and the rest as the resync turns to
 * busy mode and its blocks complete. */
#define RS_CHUNK	(1u << 20)
#define RS_CLIENT_IOS	64u
#define RS_WINDOW_BYTES	(8u << 20)
/* While clients are active the resync keeps one block of at most
 * RS_CHUNK_BUSY in flight, paced at the rate rs_ctl allows (it follows
 * the clients' write latency), so a client write waits behind little
 * resync data in the disk queue and in the link. */
#define RS_CHUNK_BUSY	(64u << 10)
#define RS_BUSY_MS	500u		/* "active": a request this recent */
#define IO_RESYNC	0xff00u		/* req.type of a resync read */
#define IO_VERIFY	0xff01u		/* req.type of a verify read */
/* Online verify: ranges of VR_CHUNK bytes, hashed per granule-sized
 * block, VR_WINDOW of them in flight. Hashes live in the io's buffer
 * after the data. */
#define VR_CHUNK	(4u << 20)
#define VR_WINDOW	4u
#define VR_HASHES_AT	(8u << 20)	/* offset in io->buf */
#define VR_FIRST_MAX	8u		/* mismatching offsets remembered */

struct nbd_io {
	struct engine_op op;		/* READ, CACHE disk op */
	struct store_req sreq;		/* local leg of a modifying chunk */
	struct link_req lreq;		/* peer leg (chunk or FLUSH) */
	struct fsync_waiter fw;		/* FLUSH: local leg */
	struct meta_waiter mw;		/* AL wait for the current chunk */
	struct server *srv;
	struct conn *conn;		/* owner while not free */
	struct nbd_request req;
	struct nbd_io *next;		/* free list, blocked FIFO, send queue */
	struct nbd_io *wprev, *wnext;	/* in-flight modifying requests */
	uint8_t *buf;			/* max_block bytes, page aligned */
	uint8_t *zbuf;			/* lz4 scratch for the peer leg */
	uint64_t chunk_pos;		/* start of the chunk being written */
	uint32_t chunk_len;		/* its length */
	uint64_t al_off;		/* range whose AL extents are held: */
	uint32_t al_len;		/* may outlive chunk_pos under A/B */
	unsigned legs;			/* legs the client answer waits for */
	unsigned al_refs;		/* legs holding the chunk's AL extents */
	unsigned refs;			/* reply path + unsettled peer leg */
	bool peer_dirty;		/* peer lacks the chunk: mark it */
	bool local_failed;		/* local leg failed, disk detached:
					 * the peer leg decides */
	bool no_al;			/* chunk runs without the AL
					 * (detached: no local write) */
	int local_err;			/* local leg result of the chunk/flush */
	uint32_t hdr_len;		/* reply header bytes in hdr[] */
	uint32_t data_len;		/* reply data bytes in buf[] */
	struct read_pipe *pipe;		/* spliced READ: its data, or NULL */
	uint32_t piped;			/* bytes in the pipe */
	struct sendq_item si;		/* the reply in the send queue */
	bool in_wlist;			/* counted in the write-order list */
	bool during_rs;			/* resync I/O was in flight at start */
	uint64_t start_us;		/* client request: admitted at */
	/* checksum resync: the connection the peer's hashes came on; its
	 * blocks count only if every answer came on that one */
	uint64_t rs_conn;
	uint8_t hdr[NBD_CHUNK_ERROR_MAX]; /* reply header */
};

struct conn {
	struct server *srv;
	struct conn *prev, *next;	/* all connections */
	struct conn *paused_next;	/* on srv->paused when paused */
	int fd;
	bool is_unix;
	unsigned id;			/* for logs */
	bool hs_done;			/* in transmission phase */
	bool read_closed;		/* EOF, DISC, error or drain: no recv */
	bool broken;			/* protocol violation: parse no more */
	bool dead;			/* socket unusable: drop replies */
	bool paused;			/* waiting for request contexts */
	bool recv_pending, send_pending;
	bool can_splice;		/* O_NONBLOCK: splice never waits */
	struct engine_task send_task;	/* queued replies wait for it */
	struct reply_hold hold;		/* small replies wait for more? */
	bool held;			/* on srv->held: replies wait */
	struct conn *held_next;
	bool reaping;			/* on srv->reap, freed after the batch */
	struct conn *reap_next;
	struct nbd_handshake hs;
	struct nbd_session session;	/* valid once hs_done */
	struct engine_op recv_op, send_op;
	uint8_t *rbuf;			/* RBUF_SIZE */
	size_t rstart, rend;		/* unparsed bytes */
	struct nbd_io *payload_io;	/* WRITE whose payload is arriving */
	uint32_t payload_done;		/* its payload bytes received */
	uint64_t discard_left;		/* payload bytes to drop (bad WRITE) */
	uint8_t *hsout;			/* handshake replies, HSOUT_SIZE */
	size_t hsout_len;		/* handshake bytes not yet sent */
	struct sendq_item hs_si;	/* hsout in the send queue */
	struct sendq sendq;		/* replies in order, one sendmsg */
	unsigned inflight;		/* ios owned by this connection */
};

struct listener {
	struct server *srv;
	struct engine_op op;
	int fd;
	bool is_unix;
	bool active;			/* accept op in flight */
};

struct server {
	struct engine *eng;
	struct store *store;
	struct meta *meta;
	struct link *link;		/* NULL: no peer configured */
	const struct nbd_export *export;
	unsigned max_ios, max_conn_ios, max_conns;
	struct nbd_io *ios;		/* the pool */
	uint8_t *bufs;			/* max_ios x max_block, one mapping */
	size_t buf_size;
	uint8_t *zeroes;		/* ZERO_CHUNK zero bytes, aligned */
	struct nbd_io *free_ios;
	unsigned n_free;
	struct conn *conns;
	unsigned n_conns, next_conn_id;
	struct conn *paused;		/* connections waiting for ios */
	struct conn *reap;		/* finished connections to free */
	struct nbd_io *wlist;		/* in-flight modifying requests */
	struct nbd_io *blocked_head, *blocked_tail;
	struct listener listeners[MAX_LISTENERS];
	unsigned n_listeners;
	bool draining;
	bool refusing;			/* server_refuse_requests() */
	uint64_t requests;
	struct pipe_pool pipes;		/* for spliced READ replies */
	uint32_t page_size;		/* what a pipe slot holds at most */
	uint64_t reads_spliced;
	uint64_t send_waits;		/* a full socket made replies wait */
	struct conn *held;		/* connections holding replies back */
	struct engine_task idle_task;	/* sends them when the loop idles */
	uint64_t reply_batches;		/* held replies sent as a batch */
	uint64_t reply_hold_giveups;	/* holds ended: the client waited */
	uint64_t reply_hold_expired;	/* of those, ended by the age limit */
	/* REPD_TEST_SENDS_NOWAIT (tests only): replies' sendmsg carries
	 * MSG_DONTWAIT, so that a full socket answers -EAGAIN to on_send,
	 * as a sendmsg io_uring ran in a worker may (no test brings that
	 * about on cue) */
	bool sends_nowait;
	struct {
		bool active;		/* a resync is running (we are source) */
		uint64_t cursor;	/* next byte offset to look at */
		unsigned inflight;	/* resync reads/sends in flight */
		uint64_t total, done;	/* bytes, for progress */
		uint64_t start_ms, last_log_ms;
		uint64_t sent;		/* block bytes sent (not hashes) */
		uint64_t rate;		/* ceiling, bytes/s; 0: none */
		bool checksum;		/* compare hashes first */
		uint64_t credit_ms;	/* rate: time the bytes so far need */
		uint64_t inflight_bytes;
		struct rs_ctl ctl;	/* the pace while clients write */
		uint64_t busy_next_us;	/* busy: next block not before */
		/* answered blocks whose bits wait for a peer FLUSH */
		struct rs_unflushed unflushed;
		struct link_req flush_lr;
		bool flush_inflight;	/* flush_lr is with the link */
		uint64_t flushes;	/* answered, this resync */
		/* why the current or last resync stopped on an I/O error
		 * ("" if it did not): shown by status until the next one */
		char error[160];
		uint64_t conn;		/* link_connects() it started on */
	} rs;
	struct {
		bool active;		/* an online verify is running */
		bool failed;		/* it stopped early (link lost, error) */
		uint64_t cursor, stop;	/* next offset, end of the range */
		unsigned inflight;
		uint64_t total, done;	/* bytes */
		uint64_t mismatches;	/* blocks that differ */
		uint64_t first[VR_FIRST_MAX];	/* their first offsets */
		uint64_t start_ms, last_log_ms, end_ms;
	} vr;
	/* the peer answered a FLUSH with an error on this connection:
	 * everything is marked out of sync (peer_flush_failed) */
	bool peer_flush_failed;
	uint64_t last_client_ms;	/* last client request admitted */
	/* on-io-error = detach: after a local I/O error the disk is given
	 * up and requests are served by the peer alone */
	bool detach_on_error;
	bool detached;
	void (*on_detach)(void *ctx);
	void *detach_ctx;
	/* REPD_TEST_FAIL_IO_AFTER=N (tests only): local data I/O fails with
	 * EIO after N successes, as a dying disk does */
	uint64_t fail_after, io_done;
	bool cpu_auto_on;		/* cpu = auto, and pinning works */
	struct cpu_auto cpu_auto;
	uint64_t cpu_auto_changes;	/* pins and unpins carried out */
	/* FLUSHes share fdatasyncs of the store (fsync_batch.h) */
	struct store_sync fsync;
};

static void conn_process(struct conn *c);
static void conn_kick_send(struct conn *c);
static void conn_maybe_free(struct conn *c);
static void io_execute(struct nbd_io *io);
static void io_submit(struct nbd_io *io);
static void on_recv(struct engine_op *op, int res);
static void on_accept(struct engine_op *op, int res);

/* ---- pool ---- */

static struct nbd_io *io_get(struct server *srv, struct conn *c)
{
	struct nbd_io *io = srv->free_ios;

	srv->free_ios = io->next;
	srv->n_free--;
	io->next = NULL;
	io->conn = c;
	io->refs = 1;			/* the reply path's */
	io->hdr_len = io->data_len = 0;
	io->pipe = NULL;
	io->piped = 0;
	if (c)				/* NULL: the server's own (resync) */
		c->inflight++;
	return io;
}

/* A spliced READ is done with its pipe: back to the pool, or closed. */
static void io_drop_pipe(struct nbd_io *io, bool reuse)
{
	pipe_pool_put(&io->srv->pipes, io->pipe, reuse);
	io->pipe = NULL;
	io->piped = 0;
}

/* Drop one reference; the last returns the context to the pool. */
static void io_put(struct nbd_io *io)
{
	struct server *srv = io->srv;
	struct conn *c = io->conn;

	assert(io->refs > 0);
	if (--io->refs > 0)
		return;	/* the peer leg has not settled yet */

	/* A huge request leaves many touched pages behind; hand them back so
	 * that resident memory stays proportional to ordinary request sizes.
	 * Rare and already expensive, so a direct syscall is fine here. */
	if (io->req.len > TRIM_RSS_ABOVE &&
	    (io->req.type == NBD_CMD_READ || io->req.type == NBD_CMD_WRITE))
		madvise(io->buf + TRIM_RSS_ABOVE,
			srv->buf_size - TRIM_RSS_ABOVE, MADV_DONTNEED);
	if (io->pipe)	/* reused once empty; bytes never sent: closed */
		io_drop_pipe(io, io->piped == 0);
	io->conn = NULL;
	io->next = srv->free_ios;
	srv->free_ios = io;
	srv->n_free++;
	if (c) {
		c->inflight--;
		conn_maybe_free(c);
	}
}

/* ---- replies ---- */

static bool reply_is_structured(const struct nbd_io *io)
{
	return io->conn->session.structured_reply &&
	       (io->req.type == NBD_CMD_READ ||
		io->req.type == NBD_CMD_BLOCK_STATUS);
}

/*
 * Finish a request: err is 0 or a negative errno; for a successful READ
 * io->data_len bytes of io->buf follow the header. Queues the reply.
 */
static void io_reply(struct nbd_io *io, int err)
{
	struct conn *c = io->conn;
	struct server *srv = io->srv;
	uint32_t wire = nbd_errno_to_wire(-err);

	if (srv->rs.active && err == 0 && io->req.type == NBD_CMD_WRITE &&
	    io->start_us)	/* 0: admitted before the resync began */
		rs_ctl_sample(&srv->rs.ctl, now_us() - io->start_us,
			      io->during_rs || srv->rs.inflight > 0);

	if (err < 0) {
		io->data_len = 0;
		if (reply_is_structured(io))
			io->hdr_len = (uint32_t)nbd_encode_chunk_error(io->hdr,
				io->req.cookie, wire, NULL);
		else
			io->hdr_len = (uint32_t)nbd_encode_simple_reply(io->hdr,
				wire, io->req.cookie);
	} else if (io->req.type == NBD_CMD_BLOCK_STATUS) {
		io->hdr_len = 0;	/* the whole chunk is in buf */
	} else if (reply_is_structured(io)) {
		if (io->data_len)
			io->hdr_len = (uint32_t)nbd_encode_chunk_offset_data(
				io->hdr, NBD_REPLY_FLAG_DONE, io->req.cookie,
				io->req.offset, io->data_len);
		else
			io->hdr_len = (uint32_t)nbd_encode_chunk_header(
				io->hdr, NBD_REPLY_FLAG_DONE,
				NBD_REPLY_TYPE_NONE, io->req.cookie, 0);
	} else {
		io->hdr_len = (uint32_t)nbd_encode_simple_reply(io->hdr,
			NBD_SUCCESS, io->req.cookie);
	}
	if (c->dead) {
		io_put(io);
		return;
	}
	io->si.hdr = io->hdr;
	io->si.hdr_len = io->hdr_len;
	io->si.payload = io->buf;
	io->si.payload_len = io->data_len;
	if (io->pipe)
		sendq_push_spliced(&c->sendq, &io->si);
	else
		sendq_push(&c->sendq, &io->si);
	conn_kick_send(c);
}

static void fail_io(struct nbd_io *io, int err, const char *what)
{
	log_errno(LOG_ERR, err, "conn %u: %s(%" PRIu64 ", %u) %s",
		  io->conn->id, nbd_cmd_name(io->req.type), io->req.offset,
		  io->req.len, what);
	io_reply(io, err);
}

/* ---- local disk failure ---- */

/* The result of a local data I/O, after the test hook's fault. */
static int local_result(struct server *srv, int res)
{
	if (srv->fail_after && res >= 0 && srv->io_done++ >= srv->fail_after)
		return -EIO;
	return res;
}

/* May a local error be answered by detaching the disk? Only with an
 * UpToDate peer connected, which then holds the only good copy. */
static bool can_detach(const struct server *srv)
{
	struct link_stats ls;

	/* only a primary detaches: a secondary's disk also takes the
	 * primary's writes, which have no peer to go to instead; its read
	 * error goes back to the (read-only) client */
	if (!srv->detach_on_error || !srv->link ||
	    (srv->export->tflags & NBD_FLAG_READ_ONLY))
		return false;
	link_get_stats(srv->link, &ls);
	return ls.connected && ls.peer_disk == PEER_DISK_UPTODATE &&
	       !ls.bitmap_exchange;
}

static void server_detach(struct server *srv, int err)
{
	if (srv->detached)
		return;
	srv->detached = true;
	log_msg(LOG_CRIT, "local disk failed (%s): detached; serving every "
		"request from the peer", strerror(-err));
	link_set_diskless(srv->link);
	if (srv->on_detach)
		srv->on_detach(srv->detach_ctx);
}

/* ---- write ordering ---- */

static bool overlaps(const struct nbd_request *a, const struct nbd_request *b)
{
	return a->offset < b->offset + b->len &&
	       b->offset < a->offset + a->len;
}

static bool conflicts_with_wlist(const struct server *srv,
				 const struct nbd_io *io)
{
	const struct nbd_io *w;

	for (w = srv->wlist; w; w = w->wnext)
		if (overlaps(&w->req, &io->req))
			return true;
	return false;
}

static void wlist_add(struct server *srv, struct nbd_io *io)
{
	io->wprev = NULL;
	io->wnext = srv->wlist;
	if (srv->wlist)
		srv->wlist->wprev = io;
	srv->wlist = io;
	io->in_wlist = true;
}

static void wlist_del(struct server *srv, struct nbd_io *io)
{
	if (io->wprev)
		io->wprev->wnext = io->wnext;
	else
		srv->wlist = io->wnext;
	if (io->wnext)
		io->wnext->wprev = io->wprev;
	io->in_wlist = false;
}

/* Start every blocked write that no longer conflicts with an in-flight
 * write nor with an earlier blocked one (which keeps their order). */
static void start_unblocked(struct server *srv)
{
	struct nbd_io *io = srv->blocked_head, *prev = NULL, *next;

	for (; io; io = next) {
		const struct nbd_io *earlier;
		bool wait = conflicts_with_wlist(srv, io);

		next = io->next;
		for (earlier = srv->blocked_head; !wait && earlier != io;
		     earlier = earlier->next)
			wait = overlaps(&earlier->req, &io->req);
		if (wait) {
			prev = io;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			srv->blocked_head = next;
		if (srv->blocked_tail == io)
			srv->blocked_tail = prev;
		io->next = NULL;
		wlist_add(srv, io);
		io_execute(io);
	}
}

/* A modifying request finished its disk work: reply and wake waiters. */
static void modify_done(struct nbd_io *io, int err)
{
	struct server *srv = io->srv;

	wlist_del(srv, io);
	io_reply(io, err);
	if (srv->blocked_head)
		start_unblocked(srv);
}

/* ---- request execution ---- */

static void on_peer_read_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0) {
		fail_io(io, err, "failed on the peer");
		return;
	}
	io->data_len = io->req.len;
	io_reply(io, 0);
}

static void on_peer_read_acked(struct link_req *lr, int err)
{
	(void)lr;	/* settled answers the client */
	(void)err;
}

/* Detached: READ from the peer's copy. */
static void read_from_peer(struct nbd_io *io)
{
	struct link_req *lr = &io->lreq;

	memset(lr, 0, sizeof(*lr));
	lr->type = LINK_REQ_READ;
	lr->off = io->req.offset;
	lr->len = io->req.len;
	lr->dest = io->buf;
	lr->acked = on_peer_read_acked;
	lr->settled = on_peer_read_settled;
	if (link_submit(io->srv->link, lr) < 0)
		fail_io(io, -EIO, "failed: the disk is detached and the peer "
			"is gone");
}

static void on_read_done(struct engine_op *op, int res)
{
	struct nbd_io *io = container_of(op, struct nbd_io, op);
	struct server *srv = io->srv;

	res = local_result(srv, res);
	if (res < 0 && (srv->detached || can_detach(srv))) {
		server_detach(srv, res);
		read_from_peer(io);
		return;
	}
	if (res < 0) {
		fail_io(io, res, "failed");
		return;
	}
	io->data_len = io->req.len;
	io_reply(io, 0);
}

/* A spliced READ: res more bytes of the range are in io->pipe. */
static void on_read_spliced(struct engine_op *op, int res)
{
	struct nbd_io *io = container_of(op, struct nbd_io, op);
	struct server *srv = io->srv;

	if (res > 0)	/* in the pipe, whatever the fault hook says */
		io->piped += (uint32_t)res;
	res = local_result(srv, res);
	if (res == 0)
		res = -EIO;	/* end of file inside the export: truncated */
	if (res > 0) {
		if (io->piped < io->req.len) {
			/* short: a signal, or a page the worker could not get
			 * in one go; the pipe has room for the rest */
			engine_splice_to_pipe(srv->eng, &io->op, srv->store->fd,
					      io->req.offset + io->piped,
					      io->pipe->w,
					      io->req.len - io->piped);
			return;
		}
		srv->reads_spliced++;
		io->data_len = io->req.len;
		io_reply(io, 0);
		return;
	}
	/* what reached the pipe will not be sent: the pipe goes, even if
	 * it looks empty (errors are rare, a pipe is cheap) */
	io_drop_pipe(io, false);
	if (res == -EAGAIN || res == -EINTR) {
		/* no room in the pipe, or a signal: not the disk's doing;
		 * read the range again with a copy */
		io->op.cb = on_read_done;
		store_read(srv->eng, srv->store, &io->op, io->buf, io->req.len,
			   io->req.offset);
		return;
	}
	on_read_done(op, res);	/* the same error handling */
}

/* Start a READ by splice if it qualifies (see SPLICE_READ_MIN). */
static bool read_spliced(struct nbd_io *io)
{
	struct server *srv = io->srv;
	uint32_t len = io->req.len;

	/* direct mode keeps its reads out of the page cache; on one CPU
	 * (cpu = N, or auto while pinned) the worker that splices would
	 * only take turns with the loop there */
	if (srv->store->direct || !io->conn->can_splice ||
	    len < SPLICE_READ_MIN || len > SPLICE_READ_MAX ||
	    engine_cpus(srv->eng) < 2)
		return false;
	/* A pipe holds page references, one page a slot: a range that
	 * starts inside a page needs the bytes of that page before it
	 * counted too, or the last part finds the pipe full. */
	io->pipe = pipe_pool_get(&srv->pipes,
				 len + (uint32_t)(io->req.offset % srv->page_size),
				 now_ms());
	if (!io->pipe) {
		if (srv->pipes.last_err) {
			log_errno(LOG_WARNING, srv->pipes.last_err,
				  "no more pipes for spliced reads for now "
				  "(%u open); the others read with a copy",
				  srv->pipes.open);
			srv->pipes.last_err = 0;
		}
		return false;
	}
	io->op.cb = on_read_spliced;
	engine_splice_to_pipe(srv->eng, &io->op, srv->store->fd,
			      io->req.offset, io->pipe->w, len);
	return true;
}

static void chunk_begin(struct nbd_io *io);

/* [off, off + len) differs from the peer's copy (again). A resync block
 * the target answered there must not have its bit cleared by a later
 * FLUSH: its record goes (rs_unflushed_forget). */
static void mark_out_of_sync(struct server *srv, uint64_t off, uint64_t len)
{
	meta_mark_dirty(srv->meta, off, len);
	if (srv->rs.unflushed.n)
		rs_unflushed_forget(&srv->rs.unflushed, off, len);
}

/* The current chunk's AL extents may be released: every leg is done. */
static void al_release(struct nbd_io *io)
{
	struct meta *m = io->srv->meta;

	if (io->no_al)
		return;
	assert(io->al_refs > 0);
	if (--io->al_refs > 0)
		return;
	/* out of sync with the peer unless the peer confirmed it; marked
	 * before the AL may forget the extent */
	if (io->peer_dirty)
		mark_out_of_sync(io->srv, io->al_off, io->al_len);
	meta_write_done(m, io->al_off, io->al_len);
}

/* Every leg the client answer waits for is done: next chunk or reply. */
static void chunk_complete(struct nbd_io *io)
{
	if (io->local_err < 0) {
		log_errno(LOG_ERR, io->local_err, "conn %u: %s(%" PRIu64
			  ", %u) failed", io->conn->id,
			  nbd_cmd_name(io->req.type), io->req.offset,
			  io->req.len);
		modify_done(io, io->local_err);
		return;
	}
	io->chunk_pos += io->chunk_len;
	if (io->chunk_pos < io->req.offset + io->req.len) {
		chunk_begin(io);
		return;
	}
	modify_done(io, 0);
}

static void leg_done(struct nbd_io *io)
{
	assert(io->legs > 0);
	if (--io->legs == 0)
		chunk_complete(io);
}

static void on_local_done(struct store_req *r, int res)
{
	struct nbd_io *io = container_of(r, struct nbd_io, sreq);
	struct server *srv = io->srv;

	res = local_result(srv, res);
	if (res < 0 && !io->peer_dirty && (srv->detached || can_detach(srv))) {
		/* the peer leg is in flight: it alone decides the answer */
		server_detach(srv, res);
		io->local_failed = true;
		res = 0;
	}
	io->local_err = res;
	al_release(io);
	leg_done(io);
}

/* The peer wrote the chunk, or never will (err): AL and lifetime. */
static void on_peer_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0)
		io->peer_dirty = true;
	al_release(io);
	io_put(io);
}

/* The protocol lets the client be answered as far as the peer goes. A
 * lost peer does not fail the client: the range is marked instead. */
static void on_peer_acked(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	/* with the local leg failed, the peer's copy is the only one */
	if (err < 0 && io->local_failed)
		io->local_err = err;
	leg_done(io);
}

/* Detached: the chunk goes to the peer only; its answer is the client's. */
static void on_peer_only_acked(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0)
		io->local_err = err;
	leg_done(io);
}

static void on_peer_only_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0)
		log_errno(LOG_ERR, err, "write of %" PRIu64 "+%" PRIu64 " "
			  "to the peer failed while detached", lr->off,
			  lr->len);
	io_put(io);
}

static const enum store_req_type store_type_of[] = {
	[NBD_CMD_WRITE] = STORE_REQ_WRITE,
	[NBD_CMD_TRIM] = STORE_REQ_TRIM,
	[NBD_CMD_WRITE_ZEROES] = STORE_REQ_ZEROES,
};

static const enum link_req_type link_type_of[] = {
	[NBD_CMD_WRITE] = LINK_REQ_DATA,
	[NBD_CMD_TRIM] = LINK_REQ_TRIM,
	[NBD_CMD_WRITE_ZEROES] = LINK_REQ_ZEROES,
};

/* Local and peer legs of the current chunk; its AL extents are hot. */
static void chunk_exec(struct nbd_io *io)
{
	struct server *srv = io->srv;
	const struct nbd_request *r = &io->req;
	unsigned flags = 0;

	if (r->flags & NBD_CMD_FLAG_FUA)
		flags |= STORE_REQ_FUA;
	if (r->flags & NBD_CMD_FLAG_NO_HOLE)
		flags |= STORE_REQ_NO_HOLE;
	if (r->flags & NBD_CMD_FLAG_FAST_ZERO)
		flags |= STORE_REQ_FAST_ZERO;
	io->legs = 1;
	io->al_refs = 1;
	io->al_off = io->chunk_pos;
	io->al_len = io->chunk_len;
	io->peer_dirty = true;
	io->local_err = 0;
	io->local_failed = false;
	if (io->no_al) {
		/* detached: no local leg, the peer's answer is the client's */
		struct link_req *lr = &io->lreq;

		memset(lr, 0, sizeof(*lr));
		lr->type = link_type_of[r->type];
		lr->flags = flags & (STORE_REQ_FUA | STORE_REQ_NO_HOLE);
		lr->off = io->chunk_pos;
		lr->len = io->chunk_len;
		lr->data = io->buf;
		lr->zbuf = io->zbuf;
		lr->acked = on_peer_only_acked;
		lr->settled = on_peer_only_settled;
		if (link_submit(srv->link, lr) < 0) {
			io->local_err = -EIO;
			leg_done(io);
			return;
		}
		io->refs++;
		return;
	}
	if (srv->link) {
		struct link_req *lr = &io->lreq;

		lr->type = link_type_of[r->type];
		lr->flags = flags & (STORE_REQ_FUA | STORE_REQ_NO_HOLE);
		lr->off = io->chunk_pos;
		lr->len = io->chunk_len;
		lr->data = io->buf;
		lr->zbuf = io->zbuf;
		lr->acked = on_peer_acked;
		lr->settled = on_peer_settled;
		/* sent together with the local write: both legs in flight */
		if (link_submit(srv->link, lr) == 0) {
			io->legs++;
			io->al_refs++;
			io->refs++;
			io->peer_dirty = false;
		} else if (meta_before_degraded_write(srv->meta) < 0) {
			/* cannot record the new generation: refuse the write
			 * rather than diverge untracked */
			al_release(io);
			io->local_err = -EIO;
			leg_done(io);
			return;
		}
	}
	io->sreq = (struct store_req){
		.eng = srv->eng, .st = srv->store, .zeroes = srv->zeroes,
		.fsync = &srv->fsync.batch,
		.type = store_type_of[r->type], .flags = flags,
		.off = io->chunk_pos, .len = io->chunk_len, .buf = io->buf,
		.done = on_local_done,
	};
	store_req_submit(&io->sreq);
}

static void on_meta_ready(struct meta_waiter *w)
{
	chunk_exec(container_of(w, struct nbd_io, mw));
}

/* Make the next chunk's extents hot in the AL, then execute it. */
static void chunk_begin(struct nbd_io *io)
{
	uint64_t end = io->req.offset + io->req.len;
	int r;

	io->chunk_len = end - io->chunk_pos < MODIFY_CHUNK ?
			(uint32_t)(end - io->chunk_pos) : MODIFY_CHUNK;
	io->mw.off = io->chunk_pos;
	io->mw.len = io->chunk_len;
	io->mw.resume = on_meta_ready;
	io->no_al = io->srv->detached;
	if (io->no_al) {
		chunk_exec(io);		/* no local write to protect */
		return;
	}
	/* rule: the AL names the extent before the data may change */
	r = meta_write_start(io->srv->meta, &io->mw);
	if (r == 0) {
		chunk_exec(io);
	} else if (r < 0) {
		log_errno(LOG_ERR, r, "conn %u: %s(%" PRIu64 ", %u): activity "
			  "log", io->conn->id, nbd_cmd_name(io->req.type),
			  io->req.offset, io->req.len);
		modify_done(io, r);
	}
}

/* FLUSH: local fdatasync and the peer's barrier, answered when both end. */
static void flush_leg_done(struct nbd_io *io)
{
	assert(io->legs > 0);
	if (--io->legs > 0)
		return;
	if (io->local_err < 0)
		fail_io(io, io->local_err, "failed");
	else
		io_reply(io, 0);
}

static void on_flush_local(struct fsync_waiter *w, int res)
{
	struct nbd_io *io = container_of(w, struct nbd_io, fw);
	struct server *srv = io->srv;

	if (res < 0 && io->legs > 1 && can_detach(srv)) {
		server_detach(srv, res);
		res = 0;	/* the peer's flush answers */
	}
	io->local_err = res < 0 ? res : 0;
	flush_leg_done(io);
}

static void peer_flush_failed(struct server *srv, int err);

static void on_flush_peer_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	/* -ENOTCONN: a lost peer, the writes are tracked in the bitmap */
	if (err < 0 && err != -ENOTCONN)
		peer_flush_failed(io->srv, err);
	io_put(io);
}

static void on_flush_peer_acked(struct link_req *lr, int err)
{
	(void)err;
	flush_leg_done(container_of(lr, struct nbd_io, lreq));
}

static void exec_flush(struct nbd_io *io)
{
	struct server *srv = io->srv;

	io->legs = 1;
	io->local_err = 0;
	if (srv->link) {
		struct link_req *lr = &io->lreq;

		lr->type = LINK_REQ_FLUSH;
		lr->flags = 0;
		lr->off = lr->len = 0;
		lr->data = NULL;
		lr->acked = on_flush_peer_acked;
		lr->settled = on_flush_peer_settled;
		if (link_submit(srv->link, lr) == 0) {
			io->legs++;
			io->refs++;
		} else if (srv->detached) {
			io->local_err = -EIO;	/* no copy can be flushed */
		}
	}
	if (srv->detached) {
		flush_leg_done(io);	/* no local leg */
		return;
	}
	/* an fdatasync started from now on covers every write completed
	 * so far, on every connection: that is what makes CAN_MULTI_CONN
	 * true */
	io->fw.done = on_flush_local;
	fsync_batch_join(&srv->fsync.batch, &io->fw);
}

static void on_simple_done(struct engine_op *op, int res)
{
	struct nbd_io *io = container_of(op, struct nbd_io, op);

	if (res < 0) {
		fail_io(io, res, "failed");
		return;
	}
	io_reply(io, 0);
}

static void exec_block_status(struct nbd_io *io)
{
	struct server *srv = io->srv;
	struct nbd_extent *ext = (struct nbd_extent *)(void *)
		(io->buf + srv->buf_size / 2);
	uint32_t max = (io->req.flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : MAX_EXTENTS;
	int n;

	if (io->req.len == 0) {
		io_reply(io, -EINVAL);	/* the reply needs >= 1 extent */
		return;
	}
	/* lseek(SEEK_DATA/SEEK_HOLE) has no io_uring op; it only reads the
	 * extent tree, which is cheap next to the network round trip.
	 * Detached: nothing is known, everything is data. */
	if (srv->detached) {
		ext[0].len = io->req.len;
		ext[0].flags = 0;
		n = 1;
	} else {
		n = store_block_status(srv->store, io->req.offset,
				       io->req.len, ext, max);
	}
	if (n < 0) {
		fail_io(io, n, "lseek failed");
		return;
	}
	io->data_len = (uint32_t)nbd_encode_block_status(io->buf,
		io->req.cookie, io->conn->session.meta_context_id, ext,
		(uint32_t)n);
	io_reply(io, 0);
}

/* ---- resync (this node is the sync source) ---- */

static bool all_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const void *)p;
	size_t i;

	/* resync runs are whole granules: multiples of 4 KiB */
	for (i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static void resync_release(struct nbd_io *io)
{
	struct server *srv = io->srv;

	wlist_del(srv, io);
	srv->rs.inflight--;
	srv->rs.inflight_bytes -= io->req.len;
	io_put(io);
	if (srv->blocked_head)
		start_unblocked(srv);
}

static void rs_interrupted(struct server *srv)
{
	/* the bits stay set, also those of blocks answered but not yet
	 * flushed: the next connection resumes from them */
	if (srv->rs.active)
		log_msg(LOG_WARNING, "resync interrupted at %" PRIu64 " of %"
			PRIu64 " bytes", srv->rs.done, srv->rs.total);
	srv->rs.active = false;
	/* a FLUSH in flight then clears nothing when it settles */
	rs_unflushed_reset(&srv->rs.unflushed);
}

/* A disk failed under the resync (ours reading, the peer's writing or
 * flushing): stop it with every bit of a block not known flushed still
 * set, and say why in the log and in status. Only the first error of a
 * resync is kept; the requests still in flight fail the same way. */
static void rs_stop_error(struct server *srv, int err, const char *what,
			  uint64_t off, uint64_t len)
{
	if (!srv->rs.active)
		return;
	if (len)
		snprintf(srv->rs.error, sizeof(srv->rs.error), "%s at %"
			 PRIu64 "+%" PRIu64 ": %s", what, off, len,
			 strerror(-err));
	else
		snprintf(srv->rs.error, sizeof(srv->rs.error), "%s: %s", what,
			 strerror(-err));
	log_msg(LOG_ERR, "resync stopped at %" PRIu64 " of %" PRIu64
		" bytes: %s; the blocks not yet flushed by the peer stay out "
		"of sync", srv->rs.done, srv->rs.total, srv->rs.error);
	srv->rs.active = false;
	/* no FLUSH answered from now on clears anything: the blocks that
	 * are on stable storage on the peer go again, which is harmless */
	rs_unflushed_reset(&srv->rs.unflushed);
}

/* A resync request to the peer failed: the connection went (-ENOTCONN:
 * the next one resumes), or the peer answered an error. */
static void rs_failed(struct server *srv, int err, const char *what,
		      const struct link_req *lr)
{
	if (err == -ENOTCONN)
		rs_interrupted(srv);
	else
		rs_stop_error(srv, err, what, lr->off, lr->len);
}

/*
 * The peer answered a FLUSH with an error: its disk lost writes it had
 * acknowledged (which ones, nobody knows), and it fails every later
 * FLUSH until it restarts. Every block is out of sync from here, a full
 * resync once the peer is back with a working disk; a resync stops.
 */
static void peer_flush_failed(struct server *srv, int err)
{
	rs_stop_error(srv, err, "the peer could not make the resync data "
		      "durable (FLUSH)", 0, 0);
	if (srv->peer_flush_failed)
		return;		/* said and marked once per connection */
	srv->peer_flush_failed = true;
	log_errno(LOG_ERR, err, "the peer could not flush its disk: writes "
		  "it acknowledged may be lost there; the whole device is "
		  "marked out of sync (a full resync once its disk works)");
	rs_unflushed_reset(&srv->rs.unflushed);
	if (meta_mark_all_dirty(srv->meta) < 0)
		log_msg(LOG_ERR, "could not record the full resync in the "
			"metadata: every bit is set until repd stops");
}

/* The target wrote [off, off + len) of io: its bits go once a FLUSH
 * sent after now is answered (rs_unflushed.h). */
static void rs_range_done(struct nbd_io *io)
{
	struct server *srv = io->srv;

	if (rs_unflushed_add(&srv->rs.unflushed, io->req.offset,
			     io->req.len, now_ms(),
			     link_connects(srv->link)) < 0) {
		/* resync_pump keeps room for every block in flight */
		log_msg(LOG_ERR, "resync: no room to track %" PRIu64 "+%u "
			"until the peer flushes; resync stopped",
			io->req.offset, io->req.len);
		rs_interrupted(srv);
		return;
	}
	srv->rs.done += io->req.len;
}

static void on_rs_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);
	struct server *srv = io->srv;

	if (err < 0)
		rs_failed(srv, err, "the peer could not write", lr);
	else if (srv->rs.active)
		rs_range_done(io);
	resync_release(io);
}

static void on_rs_acked(struct link_req *lr, int err)
{
	(void)lr;	/* everything happens when it settles */
	(void)err;
}

/* Send [off, off + len) of io's buffer: zero runs as WRITE_ZEROES. */
static int rs_send(struct nbd_io *io, uint64_t off, uint64_t len,
		   void (*settled)(struct link_req *, int))
{
	struct server *srv = io->srv;
	struct link_req *lr = &io->lreq;
	const uint8_t *data = io->buf + (off - io->req.offset);

	memset(lr, 0, sizeof(*lr));
	lr->type = all_zero(data, len) ? LINK_REQ_ZEROES : LINK_REQ_RS_DATA;
	lr->off = off;
	lr->len = len;
	lr->data = data;
	lr->zbuf = io->zbuf;
	lr->acked = on_rs_acked;
	lr->settled = settled;
	if (lr->type == LINK_REQ_RS_DATA)
		srv->rs.sent += len;
	return link_submit(srv->link, lr);
}

/*
 * Checksum resync: the peer's hashes of io's range are in; send the
 * blocks that differ, one run at a time (io->chunk_pos: the next block
 * index to look at), then clear the range.
 */
static void rs_send_differing(struct nbd_io *io);

static void on_rs_piece_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0) {
		rs_failed(io->srv, err, "the peer could not write", lr);
		resync_release(io);
		return;
	}
	rs_send_differing(io);
}

static void rs_send_differing(struct nbd_io *io)
{
	struct server *srv = io->srv;
	const uint64_t *mine = (const uint64_t *)(void *)(io->buf +
							  VR_HASHES_AT);
	const uint64_t *theirs = mine + io->chunk_len;
	uint32_t n = io->chunk_len, bs = meta_granularity(srv->meta);
	uint64_t i = io->chunk_pos, j, off, end;

	while (i < n && mine[i] == theirs[i])
		i++;
	if (i == n) {
		/* a hash or a block answered by the target before it
		 * reconnected (on-peer-loss = suspend resends the rest)
		 * may be lost with its cache: then the bits stay set */
		if (srv->rs.active && io->rs_conn == link_connects(srv->link))
			rs_range_done(io);
		resync_release(io);
		return;
	}
	for (j = i + 1; j < n && mine[j] != theirs[j]; j++)
		;
	off = io->req.offset + i * bs;
	end = io->req.offset + j * bs;
	if (end > io->req.offset + io->req.len)
		end = io->req.offset + io->req.len;
	io->chunk_pos = j;
	if (rs_send(io, off, end - off, on_rs_piece_settled) < 0) {
		rs_interrupted(srv);
		resync_release(io);
	}
}

static void on_rs_hashes(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);

	if (err < 0) {
		rs_failed(io->srv, err, "the peer could not hash its copy", lr);
		resync_release(io);
		return;
	}
	io->chunk_pos = 0;
	io->rs_conn = link_connects(io->srv->link);
	rs_send_differing(io);
}

/* Hash io's range per block into io->buf + VR_HASHES_AT; the count. */
static uint32_t hash_blocks(struct nbd_io *io, uint32_t bs)
{
	uint64_t *h = (uint64_t *)(void *)(io->buf + VR_HASHES_AT);
	uint32_t i, n = (io->req.len + bs - 1) / bs;

	for (i = 0; i < n; i++) {
		uint32_t len = io->req.len - i * bs < bs ?
			       io->req.len - i * bs : bs;

		h[i] = peer_xxh3(io->buf + (size_t)i * bs, len);
	}
	return n;
}

static void on_rs_read(struct engine_op *op, int res)
{
	struct nbd_io *io = container_of(op, struct nbd_io, op);
	struct server *srv = io->srv;
	struct link_req *lr = &io->lreq;
	uint32_t bs = meta_granularity(srv->meta);
	int r;

	res = local_result(srv, res);
	if (res < 0) {
		rs_stop_error(srv, res, "local read failed", io->req.offset,
			      io->req.len);
		resync_release(io);
		return;
	}
	if (srv->rs.checksum && !all_zero(io->buf, io->req.len)) {
		/* ask for the peer's hashes first; send what differs */
		memset(lr, 0, sizeof(*lr));
		lr->type = LINK_REQ_VERIFY;
		lr->off = io->req.offset;
		lr->len = io->req.len;
		lr->block_size = bs;
		lr->n_hashes = hash_blocks(io, bs);
		lr->hashes = (uint64_t *)(void *)(io->buf + VR_HASHES_AT);
		lr->peer_hashes = (uint64_t *)(void *)(io->buf +
			VR_HASHES_AT) + lr->n_hashes;
		lr->zbuf = io->zbuf;
		lr->acked = on_rs_acked;
		lr->settled = on_rs_hashes;
		io->chunk_len = lr->n_hashes;
		r = link_submit(srv->link, lr);
	} else {
		r = rs_send(io, io->req.offset, io->req.len, on_rs_settled);
	}
	if (r < 0) {
		rs_interrupted(srv);	/* not connected: bits stay set */
		resync_release(io);
	}
}

static void exec_resync(struct nbd_io *io)
{
	io->op.cb = on_rs_read;
	store_read(io->srv->eng, io->srv->store, &io->op, io->buf,
		   io->req.len, io->req.offset);
}

static void rs_clear_range(void *ctx, uint64_t off, uint64_t len)
{
	meta_clear_dirty(ctx, off, len);
}

static void on_rs_flush_acked(struct link_req *lr, int err)
{
	(void)lr;	/* everything happens when it settles */
	(void)err;
}

static void on_rs_flushed(struct link_req *lr, int err)
{
	struct server *srv = container_of(lr, struct server, rs.flush_lr);
	struct rs_unflushed *u = &srv->rs.unflushed;

	srv->rs.flush_inflight = false;
	if (err == 0) {
		/* if it is ours: the target has these blocks on stable
		 * storage now */
		if (rs_unflushed_flush_done(u, link_connects(srv->link),
					    now_ms(), rs_clear_range,
					    srv->meta))
			srv->rs.flushes++;
	} else if (err == -ENOTCONN) {
		rs_interrupted(srv);	/* the connection is gone */
	} else {
		/* also the answer to a FLUSH of an earlier resync */
		peer_flush_failed(srv, err);
	}
	/* server_poll runs the pump next */
}

/* Send a FLUSH covering the blocks answered so far. */
static void rs_flush(struct server *srv)
{
	struct link_req *lr = &srv->rs.flush_lr;

	memset(lr, 0, sizeof(*lr));
	lr->type = LINK_REQ_FLUSH;
	lr->acked = on_rs_flush_acked;
	lr->settled = on_rs_flushed;
	if (link_submit(srv->link, lr) < 0) {
		rs_interrupted(srv);	/* not connected: bits stay set */
		return;
	}
	srv->rs.flush_inflight = true;
	rs_unflushed_flush_sent(&srv->rs.unflushed);
}

static void resync_finish(struct server *srv)
{
	uint64_t ms = now_ms() - srv->rs.start_ms;

	srv->rs.active = false;
	log_msg(LOG_NOTICE, "resync finished: %" PRIu64 " bytes in %" PRIu64
		".%03" PRIu64 " s (%.1f MB/s), %" PRIu64 " bytes of blocks sent",
		srv->rs.done, ms / 1000, ms % 1000,
		ms ? srv->rs.done / 1e3 / (double)ms : 0.0, srv->rs.sent);
	if (meta_sync_source_done(srv->meta) == 0)
		link_send_sync_state(srv->link, true);
}

static void resync_pump(struct server *srv)
{
	struct meta_stats ms;
	uint64_t off, len, us = now_us(), now = us / 1000;
	bool busy = now - srv->last_client_ms < RS_BUSY_MS;
	unsigned window = busy ? 1 : srv->max_ios > 2 * RS_CLIENT_IOS ?
			  srv->max_ios - RS_CLIENT_IOS : srv->max_ios / 2;
	uint64_t busy_rate = rs_ctl_rate(&srv->rs.ctl, us);

	if (srv->detached && srv->rs.active) {
		srv->rs.active = false;
		log_msg(LOG_ERR, "resync stopped: the local disk is detached");
	}
	/* a resync belongs to the connection it started on: on a new one
	 * the bitmaps are exchanged again first, and server_on_connected
	 * starts the next resync (running on meanwhile, it could finish
	 * before the target's bits were merged) */
	if (srv->rs.active && srv->link &&
	    link_connects(srv->link) != srv->rs.conn)
		rs_interrupted(srv);
	while (srv->rs.active && srv->rs.inflight < window &&
	       srv->free_ios && link_connected(srv->link) && !srv->draining) {
		struct rs_unflushed *u = &srv->rs.unflushed;
		struct nbd_io *io;

		if (!srv->rs.flush_inflight &&
		    rs_unflushed_want_flush(u, false, now))
			rs_flush(srv);
		/* room for every block in flight, and this one, to be
		 * recorded (a FLUSH is due long before) */
		if (rs_unflushed_room(u) <= srv->rs.inflight)
			break;

		/* resync-rate: the bytes so far may not need more time than
		 * has passed (a burst of one chunk after an idle spell) */
		if (srv->rs.rate && srv->rs.credit_ms > now - srv->rs.start_ms)
			break;
		if (busy && us < srv->rs.busy_next_us)
			break;		/* paced while clients write */
		if (!busy && srv->rs.inflight_bytes >= RS_WINDOW_BYTES)
			break;
		if (meta_next_dirty(srv->meta, srv->rs.cursor,
				    busy ? RS_CHUNK_BUSY : RS_CHUNK, &off,
				    &len) < 0) {
			if (srv->rs.inflight)
				break;	/* wait for them before a new pass */
			/* the pass is over: the bits of the blocks answered
			 * go once the target flushed them */
			if (u->n) {
				if (!srv->rs.flush_inflight &&
				    rs_unflushed_want_flush(u, true, now))
					rs_flush(srv);
				break;
			}
			meta_get_stats(srv->meta, &ms);
			if (ms.dirty_bytes == 0) {
				resync_finish(srv);
				break;
			}
			srv->rs.cursor = 0;	/* bits set again meanwhile */
			continue;
		}
		srv->rs.cursor = off + len;
		if (srv->rs.rate)
			srv->rs.credit_ms += len * 1000 / srv->rs.rate;
		if (busy)
			srv->rs.busy_next_us = us + len * 1000000 / busy_rate;
		srv->rs.inflight_bytes += len;
		io = io_get(srv, NULL);
		memset(&io->req, 0, sizeof(io->req));
		io->req.type = IO_RESYNC;
		io->req.offset = off;
		io->req.len = (uint32_t)len;
		srv->rs.inflight++;
		io_submit(io);
	}
	if (srv->rs.active && now - srv->rs.last_log_ms >= 5000) {
		uint64_t el = now - srv->rs.start_ms;
		double rate = el ? srv->rs.done / 1e3 / (double)el : 0;
		char paced[64] = "";

		srv->rs.last_log_ms = now;
		if (busy)
			snprintf(paced, sizeof(paced), ", paced at %.1f MB/s "
				 "while clients write", srv->rs.ctl.rate / 1e6);
		log_msg(LOG_INFO, "resync: %" PRIu64 " of %" PRIu64 " bytes "
			"(%.1f%%), %.1f MB/s%s", srv->rs.done, srv->rs.total,
			srv->rs.total ? 100.0 * srv->rs.done / srv->rs.total :
			100.0, rate, paced);
	}
}

void server_on_connected(void *ctx, enum md_uuid_verdict v)
{
	struct server *srv = ctx;
	struct meta_stats ms;

	srv->peer_flush_failed = false;	/* a new connection */
	if (v == MD_UUID_SYNC_SOURCE_FULL || v == MD_UUID_BOTH_FRESH) {
		/* a new pair: this primary's data is the reference */
		if (v == MD_UUID_BOTH_FRESH &&
		    meta_new_generation(srv->meta) < 0)
			return;
		if (meta_mark_all_dirty(srv->meta) < 0)
			return;		/* logged: the link stays idle */
	}
	meta_get_stats(srv->meta, &ms);
	if (ms.dirty_bytes == 0)
		return;
	srv->rs.active = true;
	srv->rs.cursor = 0;
	srv->rs.total = ms.dirty_bytes;
	srv->rs.done = 0;
	srv->rs.sent = 0;
	srv->rs.credit_ms = 0;
	srv->rs.busy_next_us = 0;
	/* blocks answered on an earlier connection were not flushed on
	 * this one: their bits are still set, they go again */
	rs_unflushed_reset(&srv->rs.unflushed);
	srv->rs.flushes = 0;
	srv->rs.error[0] = '\0';
	srv->rs.conn = link_connects(srv->link);
	rs_ctl_init(&srv->rs.ctl, RS_CTL_MIN_RATE, srv->rs.rate);
	srv->rs.start_ms = srv->rs.last_log_ms = now_ms();
	log_msg(LOG_NOTICE, "resync to the peer: %" PRIu64 " bytes (%s%s)",
		ms.dirty_bytes, md_uuid_verdict_name(v), srv->rs.checksum ?
		", checksum-based" : "");
	link_send_sync_state(srv->link, false);
}

/* ---- online verify (we drive; the peer answers with its hashes) ---- */

/*
 * Keep the VR_FIRST_MAX lowest mismatching offsets, sorted: replies come
 * back out of order when several hash requests are in flight, and an
 * operator reading "first offsets" expects the first ones on the disk.
 * Called before vr.mismatches is incremented.
 */
static void verify_remember_offset(struct server *srv, uint64_t off)
{
	uint64_t kept = srv->vr.mismatches < VR_FIRST_MAX ?
			srv->vr.mismatches : VR_FIRST_MAX;
	uint64_t pos = kept;

	while (pos > 0 && srv->vr.first[pos - 1] > off)
		pos--;
	if (pos >= VR_FIRST_MAX)
		return;
	if (kept == VR_FIRST_MAX)
		kept--;		/* the largest falls off the end */
	memmove(&srv->vr.first[pos + 1], &srv->vr.first[pos],
		(size_t)(kept - pos) * sizeof(srv->vr.first[0]));
	srv->vr.first[pos] = off;
}

static void verify_release(struct nbd_io *io)
{
	struct server *srv = io->srv;

	wlist_del(srv, io);
	srv->vr.inflight--;
	io_put(io);
	if (srv->blocked_head)
		start_unblocked(srv);
}

static void verify_stop(struct server *srv, const char *why)
{
	if (!srv->vr.active)
		return;
	srv->vr.active = false;
	srv->vr.failed = true;
	srv->vr.end_ms = now_ms();
	log_msg(LOG_ERR, "verify stopped at %" PRIu64 " of %" PRIu64 " bytes: "
		"%s", srv->vr.done, srv->vr.total, why);
}

static void on_verify_settled(struct link_req *lr, int err)
{
	struct nbd_io *io = container_of(lr, struct nbd_io, lreq);
	struct server *srv = io->srv;
	uint32_t i, n = lr->n_hashes, bs = lr->block_size;

	if (err < 0) {
		verify_stop(srv, err == -ENOTCONN ? "the peer disconnected" :
			    strerror(-err));
		verify_release(io);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t off = io->req.offset + (uint64_t)i * bs;
		uint64_t len = bs;

		if (lr->hashes[i] == lr->peer_hashes[i])
			continue;
		if (off + len > io->req.offset + io->req.len)
			len = io->req.offset + io->req.len - off;
		verify_remember_offset(srv, off);
		if (srv->vr.mismatches < 64)
			log_msg(LOG_WARNING, "verify: %" PRIu64 "+%" PRIu64
				" differs from the peer: marked out of sync",
				off, len);
		srv->vr.mismatches++;
		mark_out_of_sync(srv, off, len);
	}
	srv->vr.done += io->req.len;
	verify_release(io);
}

static void on_verify_acked(struct link_req *lr, int err)
{
	(void)lr;	/* everything happens when it settles */
	(void)err;
}

static void on_verify_read(struct engine_op *op, int res)
{
	struct nbd_io *io = container_of(op, struct nbd_io, op);
	struct server *srv = io->srv;
	struct link_req *lr = &io->lreq;
	uint32_t bs = meta_granularity(srv->meta), n;
	uint64_t *h = (uint64_t *)(void *)(io->buf + VR_HASHES_AT);

	if (res < 0) {
		log_errno(LOG_ERR, res, "verify read at %" PRIu64 "+%u",
			  io->req.offset, io->req.len);
		verify_stop(srv, "local read error");
		verify_release(io);
		return;
	}
	n = hash_blocks(io, bs);
	memset(lr, 0, sizeof(*lr));
	lr->type = LINK_REQ_VERIFY;
	lr->off = io->req.offset;
	lr->len = io->req.len;
	lr->block_size = bs;
	lr->n_hashes = n;
	lr->hashes = h;
	lr->peer_hashes = h + n;
	lr->zbuf = io->zbuf;
	lr->acked = on_verify_acked;
	lr->settled = on_verify_settled;
	if (link_submit(srv->link, lr) < 0) {
		verify_stop(srv, "the peer is not connected");
		verify_release(io);
	}
}

static void exec_verify(struct nbd_io *io)
{
	io->op.cb = on_verify_read;
	store_read(io->srv->eng, io->srv->store, &io->op, io->buf,
		   io->req.len, io->req.offset);
}

static void verify_pump(struct server *srv)
{
	uint64_t now = now_ms();

	while (srv->vr.active && srv->vr.inflight < VR_WINDOW &&
	       srv->vr.cursor < srv->vr.stop && srv->free_ios &&
	       !srv->draining) {
		struct nbd_io *io;
		uint64_t len = srv->vr.stop - srv->vr.cursor;

		if (!link_connected(srv->link)) {
			verify_stop(srv, "the peer disconnected");
			return;
		}
		if (len > VR_CHUNK)
			len = VR_CHUNK;
		io = io_get(srv, NULL);
		memset(&io->req, 0, sizeof(io->req));
		io->req.type = IO_VERIFY;
		io->req.offset = srv->vr.cursor;
		io->req.len = (uint32_t)len;
		srv->vr.cursor += len;
		srv->vr.inflight++;
		io_submit(io);
	}
	if (srv->vr.active && srv->vr.cursor >= srv->vr.stop &&
	    srv->vr.inflight == 0) {
		uint64_t ms = now - srv->vr.start_ms;

		srv->vr.active = false;
		srv->vr.end_ms = now;
		log_msg(srv->vr.mismatches ? LOG_WARNING : LOG_NOTICE,
			"verify finished: %" PRIu64 " bytes in %" PRIu64 ".%03"
			PRIu64 " s, %" PRIu64 " block(s) differ%s",
			srv->vr.done, ms / 1000, ms % 1000, srv->vr.mismatches,
			srv->vr.mismatches ? "; run `repctl resync` to "
			"repair them" : "");
	} else if (srv->vr.active && now - srv->vr.last_log_ms >= 5000) {
		srv->vr.last_log_ms = now;
		log_msg(LOG_INFO, "verify: %" PRIu64 " of %" PRIu64 " bytes, %"
			PRIu64 " block(s) differ", srv->vr.done,
			srv->vr.total, srv->vr.mismatches);
	}
}

int server_start_verify(struct server *srv, uint64_t start, uint64_t stop)
{
	uint32_t g = meta_granularity(srv->meta);
	uint64_t size = meta_data_size(srv->meta);

	if (srv->vr.active)
		return -EALREADY;
	if (srv->detached)
		return -EIO;
	if (srv->rs.active)
		return -EBUSY;
	if (!srv->link || !link_connected(srv->link))
		return -ENOTCONN;
	if (stop == 0 || stop > size)
		stop = size;
	start -= start % g;		/* whole blocks */
	if (start >= stop)
		return -EINVAL;
	memset(&srv->vr, 0, sizeof(srv->vr));
	srv->vr.active = true;
	srv->vr.cursor = start;
	srv->vr.stop = stop;
	srv->vr.total = stop - start;
	srv->vr.start_ms = srv->vr.last_log_ms = now_ms();
	log_msg(LOG_NOTICE, "verify of %" PRIu64 "..%" PRIu64 " started",
		start, stop);
	verify_pump(srv);
	return 0;
}

/* Run a validated request on the local store. */
static void io_execute(struct nbd_io *io)
{
	struct server *srv = io->srv;
	struct store *st = srv->store;
	const struct nbd_request *r = &io->req;

	switch (r->type) {
	case NBD_CMD_READ:
		if (r->len == 0) {
			io_reply(io, 0);
			return;
		}
		if (srv->detached) {
			read_from_peer(io);
			return;
		}
		if (read_spliced(io))
			return;
		io->op.cb = on_read_done;
		store_read(srv->eng, st, &io->op, io->buf, r->len, r->offset);
		return;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		io->chunk_pos = r->offset;
		chunk_begin(io);
		return;
	case NBD_CMD_FLUSH:
		exec_flush(io);
		return;
	case NBD_CMD_CACHE:
		if (srv->detached) {
			io_reply(io, 0);	/* nothing local to warm */
			return;
		}
		io->op.cb = on_simple_done;
		engine_fadvise(srv->eng, &io->op, st->fd, r->offset, r->len,
			       POSIX_FADV_WILLNEED);
		return;
	case NBD_CMD_BLOCK_STATUS:
		exec_block_status(io);
		return;
	case IO_RESYNC:
		exec_resync(io);
		return;
	case IO_VERIFY:
		exec_verify(io);
		return;
	default:
		/* nbd_validate_request() admits no other command */
		abort();
	}
}

static bool is_modifying(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

/* Requests that take the write-order lock on their range: the modifying
 * ones, and resync reads, so that a resync block read before an
 * application write can never reach the peer after it. */
static bool takes_range_lock(uint16_t type)
{
	return is_modifying(type) || type == IO_RESYNC || type == IO_VERIFY;
}

/* cpu = auto: judge the client load, pin or free the loop (cpu_auto.h). */
static void cpu_auto_step(struct server *srv, const struct nbd_io *io)
{
	uint16_t t = io->req.type;
	uint32_t bytes = t == NBD_CMD_READ || t == NBD_CMD_WRITE ?
			 io->req.len : 0;
	enum cpu_auto_action act;
	int cpu = -1, r;

	act = cpu_auto_admit(&srv->cpu_auto, now_us(),
			     srv->max_ios - srv->n_free, bytes);
	if (act == CPU_AUTO_KEEP)
		return;
	if (act == CPU_AUTO_PIN) {
		/* where the loop is now: no migration, warm caches */
		cpu = sched_getcpu();
		r = cpu < 0 ? -errno : engine_pin_cpu(srv->eng, (unsigned)cpu);
	} else {
		r = engine_unpin_cpu(srv->eng);
	}
	if (r < 0) {
		srv->cpu_auto_on = false;	/* no retries, no warning storm */
		log_errno(LOG_WARNING, r, "cpu = auto: cannot %s the event "
			  "loop; it stays as it is",
			  act == CPU_AUTO_PIN ? "pin" : "unpin");
		return;
	}
	srv->cpu_auto_changes++;
	if (act == CPU_AUTO_PIN)
		log_debug("cpu = auto: narrow load, loop and workers on CPU "
			  "%d", cpu);
	else
		log_debug("cpu = auto: wide load, loop and workers on every "
			  "CPU");
}

/* Admit a validated, complete request: order it, then execute it. */
static void io_submit(struct nbd_io *io)
{
	struct server *srv = io->srv;

	if (io->conn) {
		srv->requests++;
		if (srv->cpu_auto_on)
			cpu_auto_step(srv, io);
		io->start_us = 0;
		if (srv->rs.active) {
			io->start_us = now_us();
			io->during_rs = srv->rs.inflight > 0;
			srv->last_client_ms = io->start_us / 1000;
		}
	}
	if (io->conn && log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "conn %u: %s(%" PRIu64 ", %u) flags=%#x "
			"cookie=%#" PRIx64, io->conn->id,
			nbd_cmd_name(io->req.type), io->req.offset,
			io->req.len, io->req.flags, io->req.cookie);
	if (!takes_range_lock(io->req.type) || io->req.len == 0) {
		if (is_modifying(io->req.type)) {
			io_reply(io, 0);	/* zero-length: nothing to do */
			return;
		}
		io_execute(io);
		return;
	}
	if (srv->blocked_head || conflicts_with_wlist(srv, io)) {
		/* wait behind the earlier overlapping write (start_unblocked
		 * also checks earlier blocked ones, keeping arrival order) */
		io->next = NULL;
		if (srv->blocked_tail)
			srv->blocked_tail->next = io;
		else
			srv->blocked_head = io;
		srv->blocked_tail = io;
		start_unblocked(srv);
		return;
	}
	wlist_add(srv, io);
	io_execute(io);
}

/* ---- connections: sending ---- */

static void on_send(struct engine_op *op, int res);

/*
 * Replies queued while a completion batch runs go out together after it,
 * in one sendmsg per connection (see conn_send_task): fewer segments,
 * and the client wakes once for all of them.
 */
static void conn_kick_send(struct conn *c)
{
	if (c->send_pending || c->dead || !c->sendq.head)
		return;
	engine_defer(c->srv->eng, &c->send_task);
}

static void on_send_ready(struct engine_op *op, int res);
static void reply_done(struct sendq_item *it, void *arg);
static void conn_kill(struct conn *c);

/* The socket is full (or io_uring's sendmsg said -EAGAIN, see on_send):
 * send again once it has room. */
static void conn_wait_for_room(struct conn *c)
{
	c->srv->send_waits++;
	c->send_pending = true;
	c->send_op.cb = on_send_ready;
	engine_poll(c->srv->eng, &c->send_op, c->fd, POLLOUT);
}

/*
 * Move the spliced payload at the head of the queue from its pipe into
 * the socket, in the loop: nothing is copied, and the socket is
 * non-blocking, so this never waits. 0 when the head is no longer a
 * spliced payload, -EAGAIN when the socket is full, or -errno.
 */
static int conn_splice_out(struct conn *c)
{
	struct sendq_item *it;
	unsigned tries = 0;

	while ((it = sendq_splice_head(&c->sendq))) {
		struct nbd_io *io = container_of(it, struct nbd_io, si);
		ssize_t n;

		n = splice(io->pipe->r, NULL, c->fd, NULL, io->piped,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR && ++tries < 16)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		io->piped -= (uint32_t)n;
		sendq_advance(&c->sendq, (size_t)n, reply_done, c);
	}
	return 0;
}

static void conn_send(struct conn *c)
{
	int r = conn_splice_out(c);

	if (r == -EAGAIN) {
		conn_wait_for_room(c);
		return;
	}
	if (r < 0) {
		/* the socket may still be up (-ENOMEM, say): hang up, so
		 * that the client learns its replies are lost and the
		 * pending receive ends */
		log_msg(r == -EPIPE || r == -ECONNRESET ? LOG_DEBUG :
			LOG_WARNING, "conn %u: splice into the socket failed "
			"(%s); closing it", c->id, strerror(-r));
		conn_kill(c);
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	if (sendq_prepare(&c->sendq)) {
		c->send_pending = true;
		c->send_op.cb = on_send;
		/* a spliced payload follows the last header: one segment */
		engine_sendmsg(c->srv->eng, &c->send_op, c->fd, &c->sendq.msg,
			       MSG_NOSIGNAL | (c->sendq.more ? MSG_MORE : 0) |
			       (c->srv->sends_nowait ? MSG_DONTWAIT : 0));
	}
}

/*
 * Whether c's queued replies should wait for more to join them
 * (reply_hold.h); idle when the loop has nothing else to do. Only small
 * replies of a connection in transmission that still reads requests.
 */
static bool conn_hold_replies(struct conn *c, bool idle)
{
	struct server *srv = c->srv;
	const struct sendq_item *it;
	unsigned n = 0;
	size_t bytes = 0;

	if (!c->hs_done || c->read_closed || c->dead)
		return false;
	for (it = c->sendq.head; it && n < HOLD_BATCH; it = it->next) {
		n++;
		bytes += it->hdr_len + it->payload_len - it->sent;
	}
	switch (reply_hold_check(&c->hold, n, bytes, now_us(), idle)) {
	case REPLY_HOLD:
		if (!c->held) {
			c->held = true;
			c->held_next = srv->held;
			srv->held = c;
		}
		engine_defer_idle(srv->eng, &srv->idle_task);
		return true;
	case REPLY_SEND_BATCH:
		srv->reply_batches++;
		return false;
	case REPLY_SEND_EXPIRED:
		srv->reply_hold_expired++;
		srv->reply_hold_giveups++;
		return false;
	case REPLY_SEND_GAVE_UP:
		srv->reply_hold_giveups++;
		return false;
	case REPLY_SEND:
		break;
	}
	return false;
}

static void conn_send_task(struct engine_task *t)
{
	struct conn *c = container_of(t, struct conn, send_task);

	if (!c->send_pending && !c->dead && !conn_hold_replies(c, false))
		conn_send(c);
	conn_maybe_free(c);	/* it waited for this task */
}

/*
 * Look at every connection holding replies: send those whose wait is
 * over (idle: the loop has nothing else to do, so the client is waiting
 * for them). The rest stay on the list.
 */
static void release_held(struct server *srv, bool idle)
{
	struct conn *c = srv->held, *next;

	srv->held = NULL;
	for (; c; c = next) {
		next = c->held_next;
		c->held = false;
		if (c->send_pending || c->dead || !c->sendq.head) {
			conn_maybe_free(c);
			continue;
		}
		if (conn_hold_replies(c, idle))
			continue;	/* back on the list */
		conn_send(c);
		conn_maybe_free(c);
	}
}

static void idle_task(struct engine_task *t)
{
	release_held(container_of(t, struct server, idle_task), true);
}

/* Handshake bytes were added to hsout: make sure they are queued. */
static void conn_queue_hsout(struct conn *c)
{
	if (c->hsout_len == 0)
		return;
	c->hs_si.hdr_len = 0;
	c->hs_si.payload = c->hsout;
	/* may grow while queued: the queue re-reads the length */
	c->hs_si.payload_len = (uint32_t)c->hsout_len;
	if (!c->hs_si.queued)
		sendq_push(&c->sendq, &c->hs_si);
	conn_kick_send(c);
}

/* An item of this connection's queue went out in full (or never will). */
static void reply_done(struct sendq_item *it, void *arg)
{
	struct conn *c = arg;

	if (it == &c->hs_si)
		c->hsout_len = 0;	/* hsout is empty again */
	else
		io_put(container_of(it, struct nbd_io, si));
}

static void on_send_ready(struct engine_op *op, int res)
{
	struct conn *c = container_of(op, struct conn, send_op);

	c->send_pending = false;
	if (res < 0 || (res & (POLLERR | POLLHUP | POLLNVAL))) {
		log_debug("conn %u: socket closed (%d), dropping replies",
			  c->id, res);
		conn_kill(c);
	} else {
		conn_kick_send(c);
	}
	conn_maybe_free(c);
}

/* Drop every queued reply of a connection whose socket failed. */
static void conn_kill(struct conn *c)
{
	struct nbd_io *io;

	c->dead = true;
	c->read_closed = true;
	sendq_clear(&c->sendq, reply_done, c);
	if (c->payload_io) {
		io = c->payload_io;
		c->payload_io = NULL;
		io_put(io);
	}
}

static void on_send(struct engine_op *op, int res)
{
	struct conn *c = container_of(op, struct conn, send_op);

	c->send_pending = false;
	if (res == -EAGAIN && !c->dead) {
		/* the socket is O_NONBLOCK (for conn_splice_out): a sendmsg
		 * that io_uring ran in a worker may come back with -EAGAIN
		 * instead of waiting; nothing was sent, wait for room */
		conn_wait_for_room(c);
		return;
	}
	if (res <= 0) {
		log_debug("conn %u: send failed (%d), dropping replies", c->id,
			  res);
		conn_kill(c);
		conn_maybe_free(c);
		return;
	}
	sendq_advance(&c->sendq, (size_t)res, reply_done, c);
	conn_kick_send(c);
	/* handshake replies were waiting for room in hsout */
	if (!c->hs_done && !c->read_closed && c->rend > c->rstart)
		conn_process(c);
	conn_maybe_free(c);
}

/* ---- connections: receiving ---- */

static void conn_arm_recv(struct conn *c)
{
	if (c->recv_pending || c->read_closed || c->paused)
		return;
	c->recv_op.cb = on_recv;
	if (c->payload_io) {
		/* payload straight into the request buffer, no copy */
		struct nbd_io *io = c->payload_io;

		engine_recv(c->srv->eng, &c->recv_op, c->fd,
			    io->buf + c->payload_done,
			    io->req.len - c->payload_done, MSG_WAITALL);
	} else {
		if (c->rend == RBUF_SIZE)
			return;	/* full: parsing must make room first */
		engine_recv(c->srv->eng, &c->recv_op, c->fd,
			    c->rbuf + c->rend, RBUF_SIZE - c->rend, 0);
	}
	c->recv_pending = true;
}

static void conn_pause(struct conn *c)
{
	if (c->paused)
		return;
	c->paused = true;
	c->paused_next = c->srv->paused;
	c->srv->paused = c;
}

/* Parse complete requests from rbuf and start them. */
static void parse_requests(struct conn *c)
{
	struct server *srv = c->srv;

	while (!c->broken && !c->payload_io && !c->dead) {
		size_t avail = c->rend - c->rstart;
		struct nbd_request req;
		struct nbd_io *io;
		int r;

		if (c->discard_left) {
			size_t n = avail < c->discard_left ?
				   avail : (size_t)c->discard_left;

			c->rstart += n;
			c->discard_left -= n;
			if (c->discard_left)
				break;
			continue;
		}
		r = nbd_decode_request(c->rbuf + c->rstart, avail, &req);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			log_msg(LOG_WARNING, "conn %u: bad request magic, "
				"closing", c->id);
			c->broken = c->read_closed = true;
			break;
		}
		if (c->inflight >= srv->max_conn_ios || !srv->free_ios) {
			conn_pause(c);
			break;
		}
		c->rstart += NBD_REQUEST_SIZE;
		if (req.type == NBD_CMD_DISC) {
			log_debug("conn %u: client sent DISC", c->id);
			c->broken = c->read_closed = true;
			break;
		}
		io = io_get(srv, c);
		io->req = req;
		r = nbd_validate_request(&req, &c->session);
		if (r == 0 && (srv->draining || srv->refusing))
			r = -ESHUTDOWN;
		if (req.type == NBD_CMD_WRITE) {
			size_t n;

			if (r < 0) {
				/* drop the payload as it arrives, never
				 * buffering more than rbuf */
				log_msg(req.len > c->session.max_payload ?
					LOG_WARNING : LOG_DEBUG,
					"conn %u: refusing WRITE(%" PRIu64
					", %u): %s", c->id, req.offset,
					req.len, strerror(-r));
				c->discard_left = req.len;
				io_reply(io, r);
				continue;
			}
			avail = c->rend - c->rstart;
			n = avail < req.len ? avail : req.len;
			memcpy(io->buf, c->rbuf + c->rstart, n);
			c->rstart += n;
			if (n < req.len) {
				c->payload_io = io;
				c->payload_done = (uint32_t)n;
				break;
			}
		}
		if (r < 0) {
			log_debug("conn %u: refusing %s(%" PRIu64 ", %u): %s",
				  c->id, nbd_cmd_name(req.type), req.offset,
				  req.len, strerror(-r));
			io_reply(io, r);
			continue;
		}
		io_submit(io);
	}
	/* keep unparsed bytes at the front so a full header always fits */
	if (c->rstart == c->rend) {
		c->rstart = c->rend = 0;
	} else if (c->rstart > RBUF_SIZE / 2) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
}

static void handshake_progress(struct conn *c)
{
	while (c->rend > c->rstart && c->hs.state != NBD_HS_TRANSMISSION &&
	       c->hs.state != NBD_HS_CLOSE &&
	       HSOUT_SIZE - c->hsout_len >= NBD_HS_OUT_MAX) {
		size_t outlen, need, n;

		n = nbd_handshake_feed(&c->hs, c->rbuf + c->rstart,
				       c->rend - c->rstart,
				       c->hsout + c->hsout_len, &outlen, &need);
		c->hsout_len += outlen;
		c->rstart += n;
		if (n == 0) {
			if (need > RBUF_SIZE) {
				/* cannot happen: options are capped */
				c->hs.state = NBD_HS_CLOSE;
				c->hs.why = "handshake message too large";
			}
			break;
		}
	}
	if (c->rstart == c->rend)
		c->rstart = c->rend = 0;
	else if (c->rstart > 0 && c->hs.state != NBD_HS_TRANSMISSION) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	if (c->hs.state == NBD_HS_CLOSE) {
		log_msg(LOG_INFO, "conn %u: handshake ended: %s", c->id,
			c->hs.why);
		c->read_closed = true;
	} else if (c->hs.state == NBD_HS_TRANSMISSION) {
		c->hs_done = true;
		c->session = c->hs.session;
		log_msg(LOG_INFO, "conn %u: transmission, flags %#x%s%s",
			c->id, c->session.tflags,
			c->session.structured_reply ? ", structured" : "",
			c->session.meta_context_id ? ", base:allocation" : "");
	}
	conn_queue_hsout(c);
}

static void conn_process(struct conn *c)
{
	if (!c->hs_done && !c->read_closed)
		handshake_progress(c);
	if (c->hs_done)
		parse_requests(c);
	conn_arm_recv(c);
	conn_maybe_free(c);	/* only queues it; see conn_maybe_free() */
}

static void on_recv(struct engine_op *op, int res)
{
	struct conn *c = container_of(op, struct conn, recv_op);

	c->recv_pending = false;
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET && res != -ECANCELED)
			log_errno(LOG_INFO, res, "conn %u: receive failed",
				  c->id);
		else
			log_debug("conn %u: client closed", c->id);
		c->read_closed = true;
		if (c->payload_io) {
			/* a WRITE cut off mid-payload is never executed */
			struct nbd_io *io = c->payload_io;

			c->payload_io = NULL;
			io_put(io);
		}
		conn_maybe_free(c);
		return;
	}
	if (c->payload_io) {
		struct nbd_io *io = c->payload_io;

		c->payload_done += (uint32_t)res;
		if (c->payload_done < io->req.len) {
			if (c->read_closed) {
				/* a cancelled MSG_WAITALL receive completes with
				 * what it had: the WRITE will never be whole */
				c->payload_io = NULL;
				io_put(io);
				conn_maybe_free(c);
				return;
			}
			conn_arm_recv(c);
			return;
		}
		c->payload_io = NULL;
		io_submit(io);
	} else {
		c->rend += (size_t)res;
	}
	conn_process(c);
}

/*
 * Queue the connection for freeing once it owns nothing and has nothing in
 * flight. The free itself happens in server_poll(), after the completion
 * batch, so no caller up the stack is left holding a dangling pointer.
 */
static void conn_maybe_free(struct conn *c)
{
	struct server *srv = c->srv;
	bool replies_left = c->sendq.head != NULL;

	if (c->reaping || !c->read_closed || c->recv_pending ||
	    c->send_pending || c->send_task.queued || c->held)
		return;
	if (c->inflight > 0 || (replies_left && !c->dead))
		return;
	c->reaping = true;
	c->reap_next = srv->reap;
	srv->reap = c;
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->paused) {
		struct conn **pp = &srv->paused;

		while (*pp != c)
			pp = &(*pp)->paused_next;
		*pp = c->paused_next;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	close(c->fd);
	log_debug("conn %u: closed", c->id);
	free(c->rbuf);
	free(c);
}

static void conn_new(struct server *srv, int fd, bool is_unix)
{
	struct conn *c;
	int one = 1, flags;

	if (srv->n_conns >= srv->max_conns || srv->draining) {
		log_msg(LOG_WARNING, "refusing connection: %s",
			srv->draining ? "shutting down" : "too many clients");
		close(fd);
		return;
	}
	if (!is_unix &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_errno(LOG_WARNING, -errno, "TCP_NODELAY");
	/* io_uring waits for the socket itself either way; the flag is for
	 * the loop's own splice of read replies (conn_splice_out) */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		log_errno(LOG_WARNING, -errno, "O_NONBLOCK on a connection; "
			  "its reads are sent with a copy");
		flags = -1;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->rbuf = malloc(RBUF_SIZE + HSOUT_SIZE);
	if (!c || !c->rbuf) {
		log_msg(LOG_ERR, "out of memory for a new connection");
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->is_unix = is_unix;
	c->can_splice = flags >= 0;
	c->send_task.fn = conn_send_task;
	reply_hold_init(&c->hold);
	c->id = ++srv->next_conn_id;
	c->hsout = c->rbuf + RBUF_SIZE;
	c->hsout_len = nbd_handshake_init(&c->hs, srv->export, c->hsout);
	conn_queue_hsout(c);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	log_debug("conn %u: accepted", c->id);
	conn_kick_send(c);
	conn_arm_recv(c);
}

/* ---- listeners ---- */

static void arm_accept(struct listener *l)
{
	l->op.cb = on_accept;
	l->active = true;
	engine_accept(l->srv->eng, &l->op, l->fd);
}

static void on_accept(struct engine_op *op, int res)
{
	struct listener *l = container_of(op, struct listener, op);
	struct server *srv = l->srv;

	l->active = false;
	if (srv->draining) {
		if (res >= 0)
			close(res);
		close(l->fd);
		l->fd = -1;
		return;
	}
	if (res >= 0)
		conn_new(srv, res, l->is_unix);
	else if (res != -EINTR && res != -ECONNABORTED)
		log_errno(LOG_WARNING, res, "accept");
	arm_accept(l);
}

int server_add_listener(struct server *srv, int fd, bool is_unix)
{
	struct listener *l;

	if (srv->n_listeners == MAX_LISTENERS)
		return -ENOSPC;
	l = &srv->listeners[srv->n_listeners++];
	l->srv = srv;
	l->fd = fd;
	l->is_unix = is_unix;
	arm_accept(l);
	return 0;
}

/* ---- server ---- */

int server_new(const struct server_params *p, struct server **ret)
{
	struct server *srv;
	unsigned i;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->eng = p->engine;
	store_sync_init(&srv->fsync, p->engine, p->store);
	srv->store = p->store;
	srv->meta = p->meta;
	srv->link = p->link;
	srv->export = p->export;
	srv->rs.rate = p->resync_rate;
	srv->rs.checksum = p->resync_checksum;
	srv->detach_on_error = p->detach_on_io_error;
	srv->on_detach = p->on_detach;
	srv->detach_ctx = p->detach_ctx;
	srv->fail_after = test_hook_u64("REPD_TEST_FAIL_IO_AFTER",
		"local data I/O fails after that many requests");
	srv->idle_task.fn = idle_task;
	srv->sends_nowait = test_hook_u64("REPD_TEST_SENDS_NOWAIT",
		"replies' sendmsg has MSG_DONTWAIT: a full socket answers "
		"-EAGAIN") != 0;
	srv->max_ios = p->max_ios;
	srv->max_conn_ios = p->max_conn_ios;
	srv->max_conns = p->max_conns;
	/* O_DIRECT requests never pass through a worker: nothing to gain,
	 * and pinned, direct I/O at QD1 lost half its rate in our runs */
	srv->cpu_auto_on = p->cpu_auto && !p->store->direct;
	srv->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	pipe_pool_init(&srv->pipes, SPLICE_PIPES, SPLICE_READ_MAX);
	/*
	 * Every context gets a buffer as large as the biggest request we
	 * advertise. The mapping is NORESERVE and untouched pages cost
	 * nothing, so resident memory follows the request sizes in use.
	 */
	srv->buf_size = p->export->max_block;
	srv->bufs = mmap(NULL, 2 * srv->buf_size * p->max_ios + ZERO_CHUNK,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	srv->ios = calloc(p->max_ios, sizeof(*srv->ios));
	if (srv->bufs == MAP_FAILED || !srv->ios) {
		if (srv->bufs != MAP_FAILED)
			munmap(srv->bufs, 2 * srv->buf_size * p->max_ios +
			       ZERO_CHUNK);
		free(srv->ios);
		free(srv);
		return -ENOMEM;
	}
	srv->zeroes = srv->bufs + 2 * srv->buf_size * p->max_ios;
	for (i = 0; i < p->max_ios; i++) {
		struct nbd_io *io = &srv->ios[p->max_ios - 1 - i];

		io->srv = srv;
		io->buf = srv->bufs + 2 * srv->buf_size * (p->max_ios - 1 - i);
		io->zbuf = io->buf + srv->buf_size;
		io->next = srv->free_ios;
		srv->free_ios = io;
	}
	srv->n_free = p->max_ios;
	*ret = srv;
	return 0;
}

struct server *server_free(struct server *srv)
{
	unsigned i;

	if (!srv)
		return NULL;
	for (i = 0; i < srv->n_listeners; i++)
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	munmap(srv->bufs, 2 * srv->buf_size * srv->max_ios + ZERO_CHUNK);
	pipe_pool_destroy(&srv->pipes);
	free(srv->ios);
	free(srv);
	return NULL;
}

void server_poll(struct server *srv)
{
	struct conn *c, *next;

	if (srv->held)
		release_held(srv, false);	/* the ones held too long */
	while ((c = srv->reap)) {
		srv->reap = c->reap_next;
		conn_free(c);
	}
	if (srv->rs.active)
		resync_pump(srv);
	if (srv->vr.active)
		verify_pump(srv);
	if (!srv->paused || !srv->free_ios)
		return;
	c = srv->paused;
	srv->paused = NULL;
	for (; c; c = next) {
		next = c->paused_next;
		c->paused = false;
		conn_process(c);
	}
}

/* Stop reading from c; its replies still go out, then it closes. With
 * hang_up, close at once (it does not read its replies). */
static void conn_stop_reading(struct server *srv, struct conn *c,
			      bool hang_up)
{
	if (!c->hs_done || hang_up) {
		c->read_closed = true;
		shutdown(c->fd, SHUT_RDWR);
	} else {
		/* Cancel the pending receive rather than rely on shutdown()
		 * to complete it: a WRITE whose payload never comes must not
		 * hold anything up. */
		c->read_closed = true;
		shutdown(c->fd, SHUT_RD);
		if (c->recv_pending)
			engine_cancel(srv->eng, NULL, &c->recv_op);
	}
	conn_maybe_free(c);
}

void server_disconnect_clients(struct server *srv, bool hang_up)
{
	struct conn *c, *next;

	for (c = srv->conns; c; c = next) {
		next = c->next;
		conn_stop_reading(srv, c, hang_up);
	}
}

void server_refuse_requests(struct server *srv, bool on)
{
	srv->refusing = on;
}

void server_drain(struct server *srv, enum server_drain_phase phase)
{
	struct conn *c, *next;
	unsigned i;

	if (!srv->draining) {
		log_msg(LOG_NOTICE, "draining: %u connection(s), %u request(s) "
			"in flight", srv->n_conns, srv->max_ios - srv->n_free);
		for (i = 0; i < srv->n_listeners; i++)
			if (srv->listeners[i].active)
				engine_cancel(srv->eng, NULL,
					      &srv->listeners[i].op);
	}
	srv->draining = true;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		/* SERVER_DRAIN_START: keep reading; new requests are answered
		 * ESHUTDOWN (parse_requests), so clients get every reply and
		 * see the shutdown instead of a reset. Mid-handshake clients
		 * are hung up on in every phase. */
		if (phase != SERVER_DRAIN_START || !c->hs_done)
			conn_stop_reading(srv, c, phase == SERVER_DRAIN_FORCE);
		else
			conn_maybe_free(c);
	}
}

bool server_drained(const struct server *srv)
{
	unsigned i;

	for (i = 0; i < srv->n_listeners; i++)
		if (srv->listeners[i].active)
			return false;
	return srv->n_conns == 0 && !srv->reap && srv->n_free == srv->max_ios;
}

void server_get_stats(const struct server *srv, struct server_stats *ret)
{
	ret->conns = srv->n_conns;
	ret->ios_in_flight = srv->max_ios - srv->n_free;
	ret->requests = srv->requests;
	ret->loop_cpu = engine_pinned_cpu(srv->eng);
	ret->cpu_auto_changes = srv->cpu_auto_changes;
	ret->flushes = srv->fsync.batch.served;
	ret->fdatasyncs = srv->fsync.batch.syncs;
	ret->inline_writes = engine_inline_stats(srv->eng).writes;
	ret->inline_large_writes = engine_inline_stats(srv->eng).large_writes;
	ret->inline_stalls = engine_inline_stats(srv->eng).stalls;
	ret->inline_preempted = engine_inline_stats(srv->eng).preempted;
	ret->reads_spliced = srv->reads_spliced;
	ret->send_waits = srv->send_waits;
	ret->reply_batches = srv->reply_batches;
	ret->reply_hold_giveups = srv->reply_hold_giveups;
	ret->reply_hold_expired = srv->reply_hold_expired;
	ret->resync_active = srv->rs.active;
	ret->resync_done = srv->rs.done;
	ret->resync_total = srv->rs.total;
	ret->resync_ms = srv->rs.active ? now_ms() - srv->rs.start_ms : 0;
	ret->resync_sent = srv->rs.sent;
	ret->resync_paced = srv->rs.active &&
			    now_ms() - srv->last_client_ms < RS_BUSY_MS;
	ret->resync_paced_rate = srv->rs.ctl.rate;
	ret->resync_unflushed = srv->rs.unflushed.bytes;
	ret->resync_flushes = srv->rs.flushes;
	ret->resync_error = srv->rs.error[0] ? srv->rs.error : NULL;
	ret->detached = srv->detached;
	ret->verify_active = srv->vr.active;
	ret->verify_failed = srv->vr.failed;
	ret->verify_done = srv->vr.done;
	ret->verify_total = srv->vr.total;
	ret->verify_mismatches = srv->vr.mismatches;
	memcpy(ret->verify_first, srv->vr.first, sizeof(ret->verify_first));
	ret->verify_ms = srv->vr.start_ms ? (srv->vr.active ? now_ms() :
			 srv->vr.end_ms) - srv->vr.start_ms : 0;
}
