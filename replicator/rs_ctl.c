#include "rs_ctl.h"

void rs_ctl_init(struct rs_ctl *c, uint64_t min_rate, uint64_t max_rate)
{
	*c = (struct rs_ctl){
		.min_rate = min_rate,
		.max_rate = max_rate ? max_rate : UINT64_MAX,
	};
	if (c->min_rate > c->max_rate)
		c->min_rate = c->max_rate;
	c->rate = RS_CTL_START_RATE;
	if (c->rate < c->min_rate)
		c->rate = c->min_rate;
	if (c->rate > c->max_rate)
		c->rate = c->max_rate;
}

void rs_ctl_sample(struct rs_ctl *c, uint64_t lat_us, bool during_resync)
{
	if (!during_resync) {
		/* moving average over about 8 writes: recent enough to
		 * follow the disk, smooth enough to ignore one outlier */
		c->base_us = c->base_us ? (c->base_us * 7 + lat_us) / 8 :
			     lat_us;
		return;
	}
	c->sum_us += lat_us;
	c->n++;
}

uint64_t rs_ctl_rate(struct rs_ctl *c, uint64_t now_us)
{
	uint64_t step;

	if (c->period_start_us == 0 || now_us < c->period_start_us) {
		c->period_start_us = now_us;
		return c->rate;
	}
	if (now_us - c->period_start_us < RS_CTL_PERIOD_US)
		return c->rate;
	if (c->n && c->base_us) {
		uint64_t mean = c->sum_us / c->n;

		if (mean * 100 > c->base_us * RS_CTL_SLOW_PCT) {
			c->rate /= 2;
			c->decreases++;
		} else {
			step = c->rate / 8 > RS_CTL_STEP ? c->rate / 8 :
			       RS_CTL_STEP;
			c->rate = c->rate > c->max_rate - step ? c->max_rate :
				  c->rate + step;
			c->increases++;
		}
		if (c->rate < c->min_rate)
			c->rate = c->min_rate;
	}
	c->period_start_us = now_us;
	c->sum_us = 0;
	c->n = 0;
	return c->rate;
}
