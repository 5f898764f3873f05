/* Unit tests for supervisor/intensity.c: OTP's add_restart, checked against the examples of
 * OTP's documentation and against a naive model over every sequence of small gaps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../supervisor/sup.h"

/* Feed `n` restarts at the times in `at`; check each answer against `want` (1 allowed). */
static void
expect_seq(int intensity, int period, const int64_t *at, const int *want, size_t n)
{
	struct sup_intensity it;
	size_t i;

	assert_int_equal(sup_intensity_init(&it, intensity, period), 0);
	for (i = 0; i < n; i++) {
		int got = sup_intensity_add(&it, at[i]);
		if (got != want[i])
			fail_msg("intensity %d period %d: restart #%zu at %lld: got %d, want %d",
			    intensity, period, i, (long long)at[i], got, want[i]);
	}
	sup_intensity_fini(&it);
}

#define SEQ(i, p, times, wants) do {                                              \
	static const int64_t at_[] = times;                                           \
	static const int want_[] = wants;                                             \
	_Static_assert(sizeof at_ / sizeof at_[0] == sizeof want_ / sizeof want_[0],  \
	    "times and answers differ in length");                                    \
	expect_seq(i, p, at_, want_, sizeof at_ / sizeof at_[0]);                     \
} while (0)
#define L(...) { __VA_ARGS__ }

/* intensity 3, period 5: three restarts in the window are fine, the fourth gives up. */
static void
test_otp_three_in_five(void **state)
{
	SEQ(3, 5, L(100, 101, 102, 103), L(1, 1, 1, 0));
	SEQ(3, 5, L(100, 100, 100, 100), L(1, 1, 1, 0));
	/* spread over the window: all four within [now - 5, now] */
	SEQ(3, 5, L(100, 102, 104, 105), L(1, 1, 1, 0));
	/* the first has left the window when the fourth comes */
	SEQ(3, 5, L(100, 102, 104, 106), L(1, 1, 1, 1));
}

/* A restart at T still counts at T + period, no longer at T + period + 1. */
static void
test_window_edge(void **state)
{
	SEQ(1, 5, L(10, 15), L(1, 0));
	SEQ(1, 5, L(10, 16), L(1, 1));
	SEQ(2, 1, L(7, 8, 8), L(1, 1, 0));
	SEQ(2, 1, L(7, 8, 9), L(1, 1, 1));
	SEQ(1, 60, L(0, 60), L(1, 0));
	SEQ(1, 60, L(0, 61), L(1, 1));
}

/* Intensity 0: the first restart is refused. */
static void
test_intensity_zero(void **state)
{
	SEQ(0, 5, L(42), L(0));
	SEQ(0, 1, L(0, 100, 200), L(0, 0, 0));
}

/* OTP's default (1 in 5): one restart is fine, a second one within 5 s gives up. */
static void
test_otp_default(void **state)
{
	SEQ(1, 5, L(3, 4), L(1, 0));
	SEQ(1, 5, L(3, 9, 15, 21), L(1, 1, 1, 1));
}

/* A burst of `n` restarts in one second: n allowed, the next refused, and every one after. */
static void
test_large_burst(void **state)
{
	struct sup_intensity it;
	int i, n = 10000;

	assert_int_equal(sup_intensity_init(&it, n, 1), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(sup_intensity_add(&it, 5000), 1);
	assert_int_equal(sup_intensity_add(&it, 5000), 0);
	assert_int_equal(sup_intensity_add(&it, 5001), 0);
	assert_int_equal(it.n, n + 1);          /* capacity is intensity + 1: never more */
	/* two seconds later the whole burst has left the window */
	assert_int_equal(sup_intensity_add(&it, 5003), 1);
	assert_int_equal(it.n, 1);
	sup_intensity_fini(&it);
}

/* The clock does not move: the count only grows. */
static void
test_clock_still(void **state)
{
	struct sup_intensity it;
	int i;

	assert_int_equal(sup_intensity_init(&it, 5, 3), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(sup_intensity_add(&it, 0), 1);
	for (i = 0; i < 20; i++)
		assert_int_equal(sup_intensity_add(&it, 0), 0);
	sup_intensity_fini(&it);
}

/* Long gaps: each restart finds an empty window, even with huge clock values. */
static void
test_long_gaps(void **state)
{
	struct sup_intensity it;
	int64_t t = INT64_C(1) << 50;
	int i;

	assert_int_equal(sup_intensity_init(&it, 1, 5), 0);
	for (i = 0; i < 1000; i++, t += 3600)
		assert_int_equal(sup_intensity_add(&it, t), 1);
	assert_int_equal(it.n, 1);
	sup_intensity_fini(&it);
}

/* A clock that goes back (never with CLOCK_MONOTONIC) is taken as not moving. */
static void
test_clock_back(void **state)
{
	SEQ(2, 5, L(100, 90, 91), L(1, 1, 0));
}

static void
test_init_rejects(void **state)
{
	struct sup_intensity it;

	errno = 0;
	assert_int_equal(sup_intensity_init(&it, -1, 5), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(sup_intensity_init(&it, 1, -5), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sup_intensity_init(&it, 0, 0), 0);
	sup_intensity_fini(&it);
	sup_intensity_fini(&it);                /* twice is harmless */
}

/* --- brute force against a naive model ------------------------------------------------- */

#define BF_LEN 7                        /* restarts per sequence */

/* OTP's add_restart, written out as plainly as possible: an unbounded list, filtered. */
struct model {
	int64_t r[BF_LEN];
	int n;
};

static int
model_add(struct model *m, int intensity, int period, int64_t now)
{
	int i, k = 0;

	for (i = 0; i < m->n; i++)
		if (m->r[i] >= now - period)
			m->r[k++] = m->r[i];
	m->r[k++] = now;
	m->n = k;
	return m->n <= intensity;
}

/* Every sequence of BF_LEN gaps in [0, period + 2], for intensity 0..5 and period 0..4. */
static void
test_brute_force(void **state)
{
	int intensity, period, i;
	long sequences = 0;

	for (intensity = 0; intensity <= 5; intensity++)
	for (period = 0; period <= 4; period++) {
		int base = period + 3;
		long code, ncodes = 1;

		for (i = 0; i < BF_LEN; i++)
			ncodes *= base;
		for (code = 0; code < ncodes; code++) {
			struct sup_intensity it;
			struct model m = { .n = 0 };
			int64_t now = 1000;
			long c = code;

			assert_int_equal(sup_intensity_init(&it, intensity, period), 0);
			for (i = 0; i < BF_LEN; i++, c /= base) {
				int want, got;
				now += c % base;
				want = model_add(&m, intensity, period, now);
				got = sup_intensity_add(&it, now);
				if (got != want)
					fail_msg("intensity %d period %d code %ld step %d: got %d want %d",
					    intensity, period, code, i, got, want);
			}
			sup_intensity_fini(&it);
			sequences++;
		}
	}
	assert_true(sequences > 100000);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otp_three_in_five),
		cmocka_unit_test(test_window_edge),
		cmocka_unit_test(test_intensity_zero),
		cmocka_unit_test(test_otp_default),
		cmocka_unit_test(test_large_burst),
		cmocka_unit_test(test_clock_still),
		cmocka_unit_test(test_long_gaps),
		cmocka_unit_test(test_clock_back),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_brute_force),
	};
	return cmocka_run_group_tests_name("intensity", tests, NULL, NULL);
}
