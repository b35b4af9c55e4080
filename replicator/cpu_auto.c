/* `cpu = auto`: pin the loop for narrow loads (see cpu_auto.h). */
#include "cpu_auto.h"

/* Close the window: does the load it saw call for a change? */
static enum cpu_auto_action judge(struct cpu_auto *a)
{
	bool narrow;

	if (a->reqs < CPU_AUTO_MIN_REQS) {
		/* quiet: whatever comes next decides, from scratch */
		a->streak = 0;
		return CPU_AUTO_KEEP;
	}
	narrow = a->depth_sum <= (uint64_t)CPU_AUTO_MAX_DEPTH * a->reqs &&
		 a->bytes <= (uint64_t)CPU_AUTO_MAX_BYTES * a->reqs;
	if (narrow == a->pinned) {
		a->streak = 0;
		return CPU_AUTO_KEEP;
	}
	if (++a->streak < CPU_AUTO_STREAK)
		return CPU_AUTO_KEEP;
	a->streak = 0;
	a->pinned = narrow;
	return narrow ? CPU_AUTO_PIN : CPU_AUTO_UNPIN;
}

enum cpu_auto_action cpu_auto_admit(struct cpu_auto *a, uint64_t now_us,
				    unsigned inflight, uint32_t bytes)
{
	enum cpu_auto_action act = CPU_AUTO_KEEP;

	if (a->window_start_us == 0) {
		a->window_start_us = now_us ? now_us : 1;
	} else if (now_us - a->window_start_us >= CPU_AUTO_WINDOW_US) {
		/* a window after a long quiet gap is judged as quiet */
		if (now_us - a->window_start_us >= 2u * CPU_AUTO_WINDOW_US)
			a->reqs = 0;
		act = judge(a);
		a->window_start_us = now_us;
		a->reqs = a->depth_sum = a->bytes = 0;
	}
	a->reqs++;
	a->depth_sum += inflight;
	a->bytes += bytes;
	return act;
}
