/* OTP's restart intensity (supervisor:add_restart/1), a pure module: no I/O, no clock.
 *
 * OTP keeps the list of restart times, drops those older than Now - Period, pushes Now and
 * gives up when the list is longer than the intensity. We keep the same times, oldest first,
 * in an array of intensity + 1 slots: while the supervisor is allowed to go on, at most
 * `intensity` stamps survive a pruning, so the push always fits. After a refusal (the caller
 * should have given up) a further push drops the oldest stamp; since time does not go back,
 * the stamps kept are the newest ones, and every answer stays the one OTP would give. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sup.h"

/* Returns 0, or -1 with errno EINVAL (intensity < 0, period < 0, or too large to hold) or
 * ENOMEM. Period 0 is accepted (only restarts within the same second count); OTP requires a
 * positive period and the config checks that. On success `it` owns the stamps array. */
int
sup_intensity_init(struct sup_intensity *it, int intensity, int period)
{
	it->stamps = NULL;
	it->n = 0;
	if (intensity < 0 || period < 0 || (size_t)intensity >= SIZE_MAX / sizeof(int64_t)) {
		errno = EINVAL;
		return -1;
	}
	it->intensity = intensity;
	it->period = period;
	/* calloc: a large intensity costs address space, not memory, until restarts happen. */
	it->stamps = calloc((size_t)intensity + 1, sizeof *it->stamps);
	return it->stamps ? 0 : -1;
}

void
sup_intensity_fini(struct sup_intensity *it)
{
	free(it->stamps);
	it->stamps = NULL;
	it->n = 0;
}

/* Drop the first `k` stamps (the oldest). */
static void
drop_oldest(struct sup_intensity *it, int k)
{
	if (k <= 0)
		return;
	it->n -= k;
	memmove(it->stamps, it->stamps + k, (size_t)it->n * sizeof *it->stamps);
}

/* See sup.h. `now_s` must not go back; an earlier value is taken as the newest stamp so far
 * (CLOCK_MONOTONIC never does this). Stamps are sorted, so the stale ones are a prefix. */
int
sup_intensity_add(struct sup_intensity *it, int64_t now_s)
{
	int k = 0;

	if (it->n > 0 && now_s < it->stamps[it->n - 1])
		now_s = it->stamps[it->n - 1];
	while (k < it->n && it->stamps[k] < now_s - it->period)
		k++;
	drop_oldest(it, k);
	if (it->n == it->intensity + 1)         /* only after a refusal: see the top */
		drop_oldest(it, 1);
	it->stamps[it->n++] = now_s;
	return it->n <= it->intensity;
}
