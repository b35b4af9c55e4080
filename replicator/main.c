/*
 * repd: one resource on one node. Connects the pieces: config, backing
 * store, NBD server and the io_uring loop; handles signals and daemon mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "engine.h"
#include "handler.h"
#include "link.h"
#include "log.h"
#include "meta.h"
#include "netaddr.h"
#include "server.h"
#include "store.h"

#define RING_ENTRIES	1024
#define MAX_IOS		512		/* request contexts, all clients */
#define MAX_CONN_IOS	128		/* in flight per connection */
#define MAX_CONNS	64
#define MAX_PAYLOAD	(32u << 20)	/* advertised maximum block size */
#define DRAIN_SECONDS	30		/* then clients that do not read
					 * their replies are hung up on */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: repd --config FILE --node NAME [--foreground] [-v]\n"
"            [--role primary|secondary]\n"
"\n"
"Serve one replicated resource on this node over NBD.\n"
"\n"
"  -c, --config FILE   resource configuration (INI), same on every node\n"
"  -n, --node NAME     which [node NAME] section is this host\n"
"  -f, --foreground    stay in the foreground and log to stderr\n"
"  -r, --role ROLE     start as primary or secondary, whatever the\n"
"                      node's initial-role says (after a failover)\n"
"  -v, --verbose       debug logging\n"
"  -h, --help          this text\n"
"  -V, --version       print the version\n");
}

/* "FILE:LINE: key: message" for errors tied to one config value. */
static int config_error(const struct config *cfg,
			const struct config_value *v, const char *key,
			const char *msg, int err)
{
	fprintf(stderr, "repd: %s:%u: %s: %s%s%s\n", cfg->path, v->line, key,
		msg, err ? ": " : "", err ? strerror(-err) : "");
	return err ? err : -EINVAL;
}

/* cpu = N: the loop and its io_uring workers run on CPU N only. */
static int apply_cpu(const struct config *cfg, const struct config_node *n,
		     struct engine *eng)
{
	const struct config_value *v = config_effective(&n->cpu, &cfg->cpu);
	int cpu = config_cpu(cfg, n);
	char msg[64];
	int r;

	if (cpu < 0)
		return 0;
	r = engine_pin_cpu(eng, (unsigned)cpu);
	if (r == 0)
		return 0;
	snprintf(msg, sizeof(msg), "cannot run on CPU %d", cpu);
	return config_error(cfg, v, "cpu", msg, r);
}

static void on_drain_timer(struct engine_op *op, int res);

static void arm_drain_timer(struct daemon_state *d, long seconds)
{
	d->drain_ts.tv_sec = seconds;
	d->drain_ts.tv_nsec = 0;
	d->drain_timer_op.cb = on_drain_timer;
	engine_timeout(d->eng, &d->drain_timer_op, &d->drain_ts);
}

/* Drain phases: a grace second of ESHUTDOWN answers, then no more
 * reading, then (DRAIN_SECONDS later) hang up on clients that do not read
 * their replies. */
static void on_drain_timer(struct engine_op *op, int res)
{
	struct daemon_state *d = container_of(op, struct daemon_state,
					      drain_timer_op);

	log_debug("drain timer: %d, phase %d", res, d->phase);
	if (res != -ETIME)
		return;
	if (d->phase == SERVER_DRAIN_START) {
		d->phase = SERVER_DRAIN_CLOSE;
		server_drain(d->srv, d->phase);
		arm_drain_timer(d, DRAIN_SECONDS);
		return;
	}
	if (d->phase == SERVER_DRAIN_CLOSE) {
		log_msg(LOG_WARNING, "drain took longer than %d s: hanging up "
			"on remaining clients", DRAIN_SECONDS);
		d->phase = SERVER_DRAIN_FORCE;
		server_drain(d->srv, d->phase);
	}
}

/* A second's tick while running: the loop then notices handler timeouts
 * and the demote deadline even when nothing else happens. */
static void on_tick(struct engine_op *op, int res)
{
	struct daemon_state *d = container_of(op, struct daemon_state,
					      tick_op);

	(void)res;
	d->tick_pending = false;
	if (d->stopping)
		return;
	d->tick_ts.tv_sec = 1;
	d->tick_ts.tv_nsec = 0;
	d->tick_op.cb = on_tick;
	d->tick_pending = true;
	engine_timeout(d->eng, &d->tick_op, &d->tick_ts);
}

static void on_signal(struct engine_op *op, int res)
{
	struct daemon_state *d = container_of(op, struct daemon_state, sig_op);
	struct signalfd_siginfo si;

	if (res < 0) {
		log_errno(LOG_ERR, res, "signalfd poll");
		return;
	}
	if (read(d->sig_fd, &si, sizeof(si)) != sizeof(si)) {
		engine_poll(d->eng, &d->sig_op, d->sig_fd, POLLIN);
		return;
	}
	if (!d->stopping) {
		log_msg(LOG_NOTICE, "%s: shutting down", strsignal(
			(int)si.ssi_signo));
		d->stopping = true;
		if (d->tick_pending)
			engine_cancel(d->eng, NULL, &d->tick_op);
		d->phase = SERVER_DRAIN_START;
		server_drain(d->srv, d->phase);
		arm_drain_timer(d, 1);
	} else if (d->phase != SERVER_DRAIN_FORCE) {
		log_msg(LOG_NOTICE, "second signal: hanging up on clients");
		d->phase = SERVER_DRAIN_FORCE;
		server_drain(d->srv, d->phase);
	}
	engine_poll(d->eng, &d->sig_op, d->sig_fd, POLLIN);
}

static int setup_signals(struct daemon_state *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);	/* a vanished client is an EPIPE */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0)
		return -errno;
	d->sig_op.cb = on_signal;
	engine_poll(d->eng, &d->sig_op, d->sig_fd, POLLIN);
	return 0;
}

/*
 * Fork into the background. The parent waits until the child reports
 * that it is serving (or why it failed) so the exit status is meaningful.
 * Returns in the child with the write end of the report pipe.
 */
static int daemonize(int *ret_report_fd)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	*ret_report_fd = p[1];
	return 0;
}

static void report_ready(int *fd, char status)
{
	if (*fd < 0)
		return;
	if (write(*fd, &status, 1) != 1)
		log_errno(LOG_WARNING, -errno, "report to parent");
	close(*fd);
	*fd = -1;
}

/* Point stdin/stdout/stderr at /dev/null once logging goes to syslog. */
static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static int check_control_path(const struct config *cfg,
			      const struct config_node *node)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", node->control.text);
	if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode))
		return config_error(cfg, &node->control, "control",
				    "directory does not exist", -ENOENT);
	return 0;
}

/* The node's control-group, resolved on this host: the group must exist
 * here (other nodes' groups are theirs to check). */
static int resolve_control_group(const struct config *cfg,
				 const struct config_node *node, gid_t *ret)
{
	struct group gr, *found = NULL;
	char buf[4096], msg[300];
	int r;

	*ret = (gid_t)-1;
	if (!node->control_group.line)
		return 0;
	r = getgrnam_r(node->control_group.text, &gr, buf, sizeof(buf),
		       &found);
	if (r != 0 || !found) {
		snprintf(msg, sizeof(msg), r ? "cannot look up group '%s'" :
			 "no group '%s' on this host",
			 node->control_group.text);
		return config_error(cfg, &node->control_group,
				    "control-group", msg, r ? -r : 0);
	}
	*ret = found->gr_gid;
	return 0;
}

static char listen_name[300];	/* for the start-up log line */

static int open_listener(const struct config *cfg,
			 const struct config_node *node, struct server *srv)
{
	struct netaddr a;
	char name[300];
	int fd, r;

	r = netaddr_parse(node->nbd.text, &a);
	if (r < 0)
		return config_error(cfg, &node->nbd, "nbd", r == -EINVAL ?
			"expected HOST:PORT, [IPV6]:PORT or unix:PATH" :
			"cannot resolve host", 0);
	netaddr_format(&a, name, sizeof(name));
	fd = netaddr_listen(&a, 128);
	if (fd < 0) {
		char msg[400];

		snprintf(msg, sizeof(msg), "cannot listen on %s", name);
		return config_error(cfg, &node->nbd, "nbd", msg, fd);
	}
	r = server_add_listener(srv, fd, a.is_unix);
	if (r < 0) {
		close(fd);
		return r;
	}
	snprintf(listen_name, sizeof(listen_name), "%s", name);
	return 0;
}

static int start_link(const struct config *cfg,
		      const struct config_node *node,
		      const struct config_node *peer, bool primary,
		      struct daemon_state *d, struct store *store,
		      struct meta *meta)
{
	struct config_repl repl;
	struct link_params lp;
	int r;

	config_get_repl(cfg, &repl);
	memset(&lp, 0, sizeof(lp));
	if (netaddr_parse(node->address.text, &lp.local_addr) < 0 ||
	    lp.local_addr.is_unix)
		return config_error(cfg, &node->address, "address",
				    "expected HOST:PORT or [IPV6]:PORT", 0);
	if (netaddr_parse(peer->address.text, &lp.peer_addr) < 0 ||
	    lp.peer_addr.is_unix)
		return config_error(cfg, &peer->address, "address",
				    "expected HOST:PORT or [IPV6]:PORT", 0);
	lp.eng = d->eng;
	lp.store = store;
	lp.meta = meta;
	lp.resource = cfg->name.text;
	lp.local_name = node->name;
	lp.peer_name = peer->name;
	lp.local_id = config_node_id(cfg, node);
	lp.peer_id = config_node_id(cfg, peer);
	lp.primary = primary;
	lp.proto = repl.protocol == 'A' ? LINK_PROTO_A :
		   repl.protocol == 'B' ? LINK_PROTO_B : LINK_PROTO_C;
	lp.on_loss = repl.suspend_on_loss ? LINK_LOSS_SUSPEND :
					    LINK_LOSS_CONTINUE;
	lp.lz4 = repl.lz4;
	lp.checksum = repl.crc32c;
	lp.secret = cfg->secret.text;
	lp.ping_ms = repl.ping_ms;
	lp.timeout_ms = repl.timeout_ms;
	lp.max_block = MAX_PAYLOAD;
	lp.max_ios = MAX_IOS;
	r = link_new(&lp, &d->link);
	if (r < 0)
		fprintf(stderr, "repd: replication link: %s\n", strerror(-r));
	return r;
}

/* Start the link once the server exists (a primary's resync runs in it). */
static int run_link(const struct config *cfg, const struct config_node *node,
		    struct daemon_state *d, bool primary)
{
	int r;

	(void)primary;
	link_set_on_connected(d->link, server_on_connected, d->srv);
	r = link_start(d->link);
	if (r < 0) {
		if (r == -EADDRINUSE || r == -EADDRNOTAVAIL || r == -EACCES)
			return config_error(cfg, &node->address, "address",
					    "cannot listen", r);
		fprintf(stderr, "repd: replication link: %s\n", strerror(-r));
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "role", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_state d = { .sig_fd = -1 };
	gid_t control_gid = (gid_t)-1;
	const char *config_path = NULL, *node_name = NULL, *role = NULL;
	const struct config_node *node;
	struct server_params sp;
	struct nbd_export export;
	struct store store = { .fd = -1, .fd_direct = -1 };
	struct meta_location loc;
	struct meta_dev mdev = { .fd = -1 };
	struct meta *meta = NULL;
	struct meta_stats ms;
	struct server_stats ss;
	const struct config_node *peer;
	bool primary;
	static struct config cfg;
	struct config_repl repl;
	unsigned busy_us = 0;		/* busy-poll, resolved once the store is open */
	struct handler_conf hconf;
	bool foreground = false, fell_back;
	int opt, r, rc = 1, report_fd = -1;
	char err[PATH_MAX + 256];

	while ((opt = getopt_long(argc, argv, "c:n:fr:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'n': node_name = optarg; break;
		case 'f': foreground = true; break;
		case 'r': role = optarg; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("repd %s\n", REPD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config_path || !node_name || optind != argc ||
	    (role && strcmp(role, "primary") && strcmp(role, "secondary"))) {
		usage(stderr);
		return 2;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "repd: %s\n", err);
		return 1;
	}
	node = config_find_node(&cfg, node_name);
	if (!node) {
		fprintf(stderr, "repd: %s: no [node %s] section\n", cfg.path,
			node_name);
		return 1;
	}
	if (check_control_path(&cfg, node) < 0 ||
	    resolve_control_group(&cfg, node, &control_gid) < 0)
		return 1;
	peer = config_peer_of(&cfg, node);
	primary = role ? strcmp(role, "primary") == 0 :
			 config_initial_primary(&cfg, node);
	if (!peer && !primary) {
		fprintf(stderr, "repd: %s: node %s has no peer: a standalone "
			"node is always primary\n", cfg.path, node->name);
		return 1;
	}
	r = store_open(&store, node->disk.text, config_direct_io(&cfg, node),
		       &fell_back);
	if (r < 0) {
		config_error(&cfg, &node->disk, "disk", node->disk.text, r);
		goto out;
	}
	if (fell_back)
		log_msg(LOG_WARNING, "%s: O_DIRECT not supported here, using "
			"buffered I/O", node->disk.text);

	loc.path = config_meta_path(node);
	loc.internal = loc.path == NULL;
	if (loc.internal)
		loc.path = node->disk.text;
	if (meta_dev_open(&loc, &mdev, err, sizeof(err)) < 0) {
		fprintf(stderr, "repd: %s:%u: %s: %s\n  (to create metadata: "
			"repctl create-md --config %s --node %s)\n", cfg.path,
			loc.internal ? node->disk.line : node->meta.line,
			loc.internal ? "disk" : "meta", err, cfg.path,
			node->name);
		goto out;
	}

	memset(&export, 0, sizeof(export));
	export.name = cfg.name.text;
	export.description = cfg.description.text;
	export.size = mdev.sb.data_size;	/* metadata is not exported */
	config_get_repl(&cfg, &repl);
	d.cfg = &cfg;
	d.node = node;
	d.peer = peer;
	d.primary = primary;
	d.export = &export;
	d.secondary_reads = repl.secondary_reads;
	d.protocol = repl.protocol;
	daemon_apply_role(&d);
	/* Any alignment works (unaligned requests take the buffered path),
	 * but 4 KiB keeps clients on the O_DIRECT path. */
	export.min_block = 1;
	export.pref_block = 4096;
	export.max_block = MAX_PAYLOAD;

	r = engine_new(RING_ENTRIES, &d.eng);
	if (r < 0) {
		fprintf(stderr, "repd: io_uring set-up failed: %s\n",
			strerror(-r));
		goto out;
	}
	busy_us = config_busy_poll_us(&cfg, node, store.direct);
	engine_set_busy_poll(d.eng, busy_us);
	r = apply_cpu(&cfg, node, d.eng);
	if (r < 0)
		goto out;
	/* O_DIRECT I/O waits for the disk, never worth a spin */
	if (store.fd_direct >= 0)
		r = engine_add_device_fd(d.eng, store.fd_direct);
	if (r == 0 && mdev.direct)
		r = engine_add_device_fd(d.eng, mdev.fd);
	if (r < 0) {
		fprintf(stderr, "repd: io_uring set-up failed: %s\n",
			strerror(-r));
		goto out;
	}
	r = meta_start(&mdev, d.eng, primary, &meta);
	if (r < 0) {
		fprintf(stderr, "repd: %s: cannot start metadata: %s\n",
			loc.path, strerror(-r));
		goto out;
	}
	if (peer) {
		r = start_link(&cfg, node, peer, primary, &d, &store, meta);
		if (r < 0)
			goto out;
	}
	sp = (struct server_params){
		.engine = d.eng, .store = &store, .meta = meta,
		.link = d.link, .export = &export,
		.max_ios = MAX_IOS, .max_conn_ios = MAX_CONN_IOS,
		.max_conns = MAX_CONNS, .resync_rate = repl.resync_rate,
		.resync_checksum = repl.resync_checksum,
		.detach_on_io_error = repl.io_error_detach,
		.on_detach = daemon_on_detach, .detach_ctx = &d,
		.cpu_auto = config_cpu(&cfg, node) == CONFIG_CPU_AUTO,
	};
	r = server_new(&sp, &d.srv);
	if (r < 0) {
		fprintf(stderr, "repd: cannot allocate buffers: %s\n",
			strerror(-r));
		goto out;
	}
	if (open_listener(&cfg, node, d.srv) < 0)
		goto out;
	if (d.link && run_link(&cfg, node, &d, primary) < 0)
		goto out;
	d.meta = meta;
	config_get_handlers(&cfg, &hconf);
	r = handlers_new(&hconf, cfg.name.text, node->name, &d.handlers);
	if (r < 0) {
		fprintf(stderr, "repd: handlers: %s\n", strerror(-r));
		goto out;
	}
	r = ctl_new(d.eng, node->control.text, control_gid, daemon_ctl_cmds,
		    &d, &d.ctl);
	if (r < 0) {
		config_error(&cfg, &node->control, "control", "cannot listen",
			     r);
		goto out;
	}
	/* every address is bound: only now is the metadata marked in use */
	r = meta_activate(meta);
	if (r < 0) {
		fprintf(stderr, "repd: %s: cannot write metadata: %s\n",
			loc.path, strerror(-r));
		goto out;
	}
	if (!foreground) {
		r = daemonize(&report_fd);
		if (r < 0) {
			fprintf(stderr, "repd: fork: %s\n", strerror(-r));
			goto out;
		}
		log_use_syslog("repd");
		detach_stdio();
	}
	r = setup_signals(&d);
	if (r < 0) {
		log_errno(LOG_ERR, r, "signals");
		report_ready(&report_fd, 1);
		goto out;
	}
	log_msg(LOG_INFO, "serving NBD on %s", listen_name);
	log_msg(LOG_INFO, "resource %s, node %s: %s, %" PRIu64 " bytes, %s "
		"I/O, %s", cfg.name.text, node->name, node->disk.text,
		export.size, store.direct ? "direct" : "buffered",
		!peer ? "standalone primary" : primary ? "primary" :
		"secondary");
	if (busy_us)
		log_msg(LOG_INFO, "busy-poll: spinning up to %u us before "
			"each short wait", busy_us);
	if (config_cpu(&cfg, node) >= 0)
		log_msg(LOG_INFO, "cpu: the event loop and its io_uring "
			"workers run on CPU %d", config_cpu(&cfg, node));
	else if (config_cpu(&cfg, node) == CONFIG_CPU_AUTO)
		log_msg(LOG_INFO, "cpu: auto, %s", store.direct ?
			"which does nothing with direct I/O: the loop stays "
			"on every CPU" : "the event loop and its io_uring "
			"workers keep to one CPU while one or two small "
			"requests are in flight");
	report_ready(&report_fd, 0);
	on_tick(&d.tick_op, 0);

	for (;;) {
		if (d.stopping && server_drained(d.srv)) {
			/* clients are answered; now release the peer leg and
			 * the control clients */
			daemon_abort_calls(&d);
			ctl_stop(d.ctl);
			if (d.link)
				link_stop(d.link);
			if ((!d.link || link_stopped(d.link)) &&
			    ctl_stopped(d.ctl) && !d.tick_pending)
				break;
		}
		r = engine_run_once(d.eng);
		if (r < 0) {
			log_errno(LOG_CRIT, r, "event loop");
			goto out;
		}
		server_poll(d.srv);
		if (d.link)
			link_poll(d.link);
		daemon_poll(&d);
		handlers_poll(d.handlers);
	}
	server_get_stats(d.srv, &ss);
	if (ss.detached) {
		/* The disk failed: touch nothing on it. Its metadata stays
		 * "in use", so the next start replays the activity log (the
		 * writes that failed are in it) and, reconnected, takes a
		 * resync from the peer, which tracked every later write. */
		log_msg(LOG_WARNING, "stopped with the disk detached: its "
			"metadata is left as it was; the next start resyncs it "
			"from the peer");
		rc = 0;
		goto out;
	}
	/* Every reply has been sent; make the data durable before exit. */
	if (fdatasync(store.fd) < 0) {
		log_errno(LOG_ERR, -errno, "final flush of %s",
			  node->disk.text);
		goto out;
	}
	meta_get_stats(meta, &ms);
	log_msg(LOG_INFO, "%" PRIu64 " requests, %" PRIu64 " writes; metadata "
		"writes: %" PRIu64 " activity-log (%" PRIu64 " ahead of a "
		"stream), %" PRIu64 " bitmap, %" PRIu64 " superblock; %" PRIu64
		" bytes out of sync", ss.requests, ms.writes_started,
		ms.al_writes, ms.al_ahead, ms.bm_writes, ms.sb_writes,
		ms.dirty_bytes);
	if (busy_us) {
		struct engine_spin_stats spin = engine_spin_stats(d.eng);

		log_msg(LOG_INFO, "busy-poll: %" PRIu64 " spins found work, %"
			PRIu64 " timed out, %" PRIu64 " waits slept without a "
			"spin", spin.hits, spin.misses, spin.skipped);
	}
	r = meta_stop(meta);
	meta = NULL;
	if (r < 0)
		goto out;
	log_msg(LOG_NOTICE, "stopped cleanly");
	rc = 0;
out:
	/* the ring first: nothing of ours is referenced by the kernel after */
	d.eng = engine_free(d.eng);
	meta = meta_abandon(meta);	/* failed start: nothing written */
	meta_dev_close(&mdev);
	d.srv = server_free(d.srv);
	d.link = link_free(d.link);
	d.ctl = ctl_free(d.ctl);
	d.handlers = handlers_free(d.handlers);
	store_close(&store);
	if (d.sig_fd >= 0)
		close(d.sig_fd);
	report_ready(&report_fd, (char)rc);
	return rc;
}
