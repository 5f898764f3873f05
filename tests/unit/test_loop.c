/* Unit tests for ipc/loop.c: timers fire in deadline order, cancel and re-arm (also from inside
 * callbacks), an io stopped by another callback of the same turn is not run, signals arrive
 * through the signalfd with their sender. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "letitcrash/loop.h"
#include "letitcrash/time.h"

static int order[64], norder;

static void
record(struct lc_loop *l, struct lc_timer *t)
{
	order[norder++] = (int)(intptr_t)t->arg;
}

static void
run_until_idle(struct lc_loop *l, int turns)
{
	for (int i = 0; i < turns && l->nheap > 0; i++)
		assert_int_equal(lc_loop_once(l, 100), 0);
}

static void
test_timer_order(void **state)
{
	struct lc_loop l;
	struct lc_timer t[20];
	int64_t now = lc_now_ms();
	static const int delay[20] = { 9, 3, 15, 0, 7, 7, 1, 12, 4, 18, 2, 11, 5, 16, 6, 13, 8, 17,
		10, 14 };

	assert_int_equal(lc_loop_init(&l), 0);
	norder = 0;
	for (int i = 0; i < 20; i++) {
		lc_timer_init(&t[i], record, (void *)(intptr_t)delay[i]);
		assert_int_equal(lc_timer_set(&l, &t[i], now + delay[i]), 0);
		assert_true(lc_timer_armed(&t[i]));
	}
	run_until_idle(&l, 1000);
	assert_int_equal(norder, 20);
	for (int i = 1; i < 20; i++)
		assert_true(order[i - 1] <= order[i]);
	for (int i = 0; i < 20; i++)
		assert_false(lc_timer_armed(&t[i]));
	lc_loop_fini(&l);
}

static void
test_timer_cancel_and_rearm(void **state)
{
	struct lc_loop l;
	struct lc_timer t[5];
	int64_t now = lc_now_ms();

	assert_int_equal(lc_loop_init(&l), 0);
	norder = 0;
	for (int i = 0; i < 5; i++) {
		lc_timer_init(&t[i], record, (void *)(intptr_t)i);
		lc_timer_set(&l, &t[i], now + i);
	}
	lc_timer_cancel(&l, &t[2]);
	lc_timer_cancel(&l, &t[2]);             /* twice: harmless */
	lc_timer_set(&l, &t[0], now + 10);      /* re-arm: moves, not duplicated */
	assert_int_equal(l.nheap, 4);
	run_until_idle(&l, 1000);
	assert_int_equal(norder, 4);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 4);
	assert_int_equal(order[3], 0);
	lc_loop_fini(&l);
}

/* A timer that re-arms itself three times and cancels its sibling on the first run. */
static struct lc_timer self_t, sib_t;
static int self_runs, sib_runs;

static void
sibling(struct lc_loop *l, struct lc_timer *t)
{
	sib_runs++;
}

static void
rearming(struct lc_loop *l, struct lc_timer *t)
{
	if (self_runs++ == 0)
		lc_timer_cancel(l, &sib_t);
	if (self_runs < 3)
		lc_timer_set(l, t, lc_now_ms());
}

static void
test_timer_from_callbacks(void **state)
{
	struct lc_loop l;
	int64_t now = lc_now_ms();

	assert_int_equal(lc_loop_init(&l), 0);
	self_runs = sib_runs = 0;
	lc_timer_init(&self_t, rearming, NULL);
	lc_timer_init(&sib_t, sibling, NULL);
	lc_timer_set(&l, &self_t, now);
	lc_timer_set(&l, &sib_t, now + 1);
	run_until_idle(&l, 100);
	assert_int_equal(self_runs, 3);
	assert_int_equal(sib_runs, 0);
	lc_loop_fini(&l);
}

/* Two readable pipes; whichever callback runs first stops the other's io. */
static struct lc_io io_a, io_b;
static int runs_a, runs_b;

static void
stop_other(struct lc_loop *l, struct lc_io *io, uint32_t ev)
{
	if (io == &io_a) {
		runs_a++;
		lc_io_stop(l, &io_b);
	} else {
		runs_b++;
		lc_io_stop(l, &io_a);
	}
}

static void
test_io_stop_same_turn(void **state)
{
	struct lc_loop l;
	int pa[2], pb[2];

	assert_int_equal(lc_loop_init(&l), 0);
	assert_int_equal(pipe(pa), 0);
	assert_int_equal(pipe(pb), 0);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	runs_a = runs_b = 0;
	io_a = (struct lc_io){ .fd = pa[0], .fn = stop_other };
	io_b = (struct lc_io){ .fd = pb[0], .fn = stop_other };
	assert_int_equal(lc_io_start(&l, &io_a, EPOLLIN), 0);
	assert_int_equal(lc_io_start(&l, &io_b, EPOLLIN), 0);
	assert_int_equal(lc_loop_once(&l, 1000), 0);
	assert_int_equal(runs_a + runs_b, 1);   /* both were ready; only one ran */
	assert_int_equal(lc_loop_once(&l, 0), 0);
	assert_int_equal(runs_a + runs_b, 2);   /* level-triggered: the survivor again */
	assert_true(runs_a == 2 || runs_b == 2);
	lc_loop_fini(&l);
	close(pa[0]), close(pa[1]), close(pb[0]), close(pb[1]);
}

static int got_sig;
static pid_t got_pid;

static void
on_sig(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	got_sig = signo;
	got_pid = sender;
	lc_loop_break(l);
}

static void
test_signals(void **state)
{
	struct lc_loop l;
	sigset_t set, old;

	assert_int_equal(lc_loop_init(&l), 0);
	sigprocmask(SIG_SETMASK, NULL, &old);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	got_sig = 0;
	assert_int_equal(lc_loop_signals(&l, &set, on_sig, NULL), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(lc_loop_run(&l), 0);
	assert_int_equal(got_sig, SIGUSR1);
	assert_int_equal(got_pid, getpid());
	lc_loop_fini(&l);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void
test_wait_bounded(void **state)
{
	struct lc_loop l;
	int64_t t0 = lc_now_ms();

	assert_int_equal(lc_loop_init(&l), 0);
	assert_int_equal(lc_loop_once(&l, 20), 0);     /* nothing to do: returns after ~20 ms */
	assert_true(lc_now_ms() - t0 >= 15);
	lc_loop_fini(&l);
}

/* Before-wait hooks: run before every outermost wait, last added first, not in a nested
 * turn; a hook may delete itself and arm a timer that counts for the same wait. */
static int hook_log[16], nhook_log;
static struct lc_hook hk[2];
static struct lc_timer hook_timer;

static void
on_hook(struct lc_loop *l, struct lc_hook *h)
{
	int id = (int)(h - hk);

	hook_log[nhook_log++] = id;
	if (id == 1 && nhook_log >= 4)
		lc_hook_del(l, h);
	if (id == 0 && !lc_timer_armed(&hook_timer))
		lc_timer_set(l, &hook_timer, lc_now_ms());
}

static void
nested_turn(struct lc_loop *l, struct lc_timer *t)
{
	int before = nhook_log;

	assert_int_equal(lc_loop_once(l, 0), 0);       /* a nested turn: no hook */
	assert_int_equal(nhook_log, before);
}

static void
test_hooks(void **state)
{
	struct lc_loop l;
	int64_t t0 = lc_now_ms();

	assert_int_equal(lc_loop_init(&l), 0);
	nhook_log = 0;
	lc_timer_init(&hook_timer, nested_turn, NULL);
	lc_hook_add(&l, &hk[0], on_hook, NULL);
	lc_hook_add(&l, &hk[1], on_hook, NULL);
	lc_hook_add(&l, &hk[1], on_hook, NULL);         /* already active: nothing */
	/* each turn: the timer armed by hook 0 is due at once, so no turn waits 1 s */
	for (int i = 0; i < 4; i++)
		assert_int_equal(lc_loop_once(&l, 1000), 0);
	assert_true(lc_now_ms() - t0 < 900);
	static const int want[] = { 1, 0, 1, 0, 1, 0, 0 };   /* hook 1 deleted itself in turn 3 */
	assert_int_equal(nhook_log, 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(hook_log[i], want[i]);
	lc_hook_del(&l, &hk[0]);
	lc_timer_cancel(&l, &hook_timer);
	assert_int_equal(lc_loop_once(&l, 0), 0);
	assert_int_equal(nhook_log, 7);
	lc_loop_fini(&l);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_cancel_and_rearm),
		cmocka_unit_test(test_timer_from_callbacks),
		cmocka_unit_test(test_io_stop_same_turn),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_wait_bounded),
		cmocka_unit_test(test_hooks),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
