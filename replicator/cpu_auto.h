/*
 * `cpu = auto`: when to run the event loop and its io_uring workers on
 * one CPU, from the shape of the client load. Pure: the caller passes the
 * time and pins or unpins (engine_pin_cpu / engine_unpin_cpu).
 *
 * Why: with one or two requests in flight, each request is a wake-up of
 * the loop by the client and of the client by the reply (and of an
 * io_uring worker and back, for writes the loop does not make itself).
 * On a virtual machine waking another CPU costs tens of microseconds; on
 * one CPU the woken side tends to run where its waker is (QD1 4k writes
 * went 1.2-1.5x faster when each went to a worker; busy polling now does
 * most of it). With more requests in flight, or large ones, the second
 * CPU does more good (copies and workers in parallel). So: pinned while
 * the load is a narrow stream of small requests, free otherwise.
 */
#ifndef REPD_CPU_AUTO_H
#define REPD_CPU_AUTO_H

#include <stdbool.h>
#include <stdint.h>

#define CPU_AUTO_WINDOW_US	100000u	/* load is judged per 100 ms */
#define CPU_AUTO_MIN_REQS	64u	/* fewer in a window: too quiet to judge */
#define CPU_AUTO_MAX_DEPTH	2u	/* narrow: mean requests in flight */
#define CPU_AUTO_MAX_BYTES	(64u << 10) /* narrow: mean READ/WRITE size */
#define CPU_AUTO_STREAK		2u	/* windows in a row before a change */

struct cpu_auto {
	uint64_t window_start_us;	/* 0: no window open yet */
	uint64_t reqs;			/* requests admitted in the window */
	uint64_t depth_sum;		/* in flight at each admission */
	uint64_t bytes;			/* READ and WRITE bytes */
	unsigned streak;		/* windows that disagreed in a row */
	bool pinned;			/* the decision in force */
};

enum cpu_auto_action {
	CPU_AUTO_KEEP,
	CPU_AUTO_PIN,
	CPU_AUTO_UNPIN,
};

/*
 * A client request was admitted at now_us with `inflight` requests in
 * flight counting itself, moving `bytes` of data (0 for other than READ
 * and WRITE). Returns what to do now; after PIN or UNPIN the decision in
 * force has changed (a caller that cannot carry it out stops calling).
 */
enum cpu_auto_action cpu_auto_admit(struct cpu_auto *a, uint64_t now_us,
				    unsigned inflight, uint32_t bytes);

#endif /* REPD_CPU_AUTO_H */
