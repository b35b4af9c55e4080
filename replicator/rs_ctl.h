/*
 * The resync speed controller: while NBD clients write, a resync may use
 * only what their latency leaves. Pure logic; the server feeds it the
 * latency of every client write and asks it, at each step, how fast the
 * resync may go.
 *
 * The baseline is a moving average of client write latency measured
 * while no resync block is in flight. Every RS_CTL_PERIOD_US the mean of
 * the writes that overlapped resync I/O is compared with it: above
 * RS_CTL_SLOW_PCT percent of the baseline the allowed rate halves, else
 * it grows by an eighth (at least RS_CTL_STEP). It stays within
 * [min_rate, max_rate]. AIMD, as TCP does with a congestion window: the
 * resync backs off fast when it hurts and creeps back when it does not.
 */
#ifndef REPD_RS_CTL_H
#define REPD_RS_CTL_H

#include <stdbool.h>
#include <stdint.h>

#define RS_CTL_PERIOD_US	100000u		/* decision period */
#define RS_CTL_SLOW_PCT		130u		/* mean above 1.3x: back off */
#define RS_CTL_STEP		(1u << 20)	/* additive increase, B/s */
#define RS_CTL_MIN_RATE		(1u << 20)	/* default floor: progress */
#define RS_CTL_START_RATE	(8u << 20)	/* first busy period */

struct rs_ctl {
	uint64_t min_rate, max_rate;	/* bytes/s */
	uint64_t rate;			/* allowed now while clients write */
	uint64_t base_us;		/* baseline latency, 0: none yet */
	uint64_t period_start_us;
	uint64_t sum_us;		/* this period: writes during resync */
	uint32_t n;
	uint32_t decreases, increases;	/* decisions so far (stats) */
};

/* max_rate 0: no ceiling of its own (UINT64_MAX). */
void rs_ctl_init(struct rs_ctl *c, uint64_t min_rate, uint64_t max_rate);

/* One client write took lat_us; resync I/O was in flight meanwhile or
 * not. */
void rs_ctl_sample(struct rs_ctl *c, uint64_t lat_us, bool during_resync);

/* Close the period if it is over (now_us); returns the allowed rate. */
uint64_t rs_ctl_rate(struct rs_ctl *c, uint64_t now_us);

#endif /* REPD_RS_CTL_H */
