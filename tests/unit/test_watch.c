/* watch.c: the event-line parser (the rest of the watcher runs against real trees in
 * tests/e2e/test_links.py). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "letitcrash/watch.h"

static int
parse(const char *line, struct lc_watch_event *ev)
{
	return lc_watch_parse(line, strlen(line), ev);
}

static void
test_plain(void **state)
{
	struct lc_watch_event ev;
	assert_int_equal(parse("start a sup=top seq=2 time=1795329902661 pid=28290 n=1", &ev), 0);
	assert_string_equal(ev.event, "start");
	assert_string_equal(ev.child, "a");
	assert_string_equal(ev.sup, "top");
	assert_true(ev.seq == 2);
	assert_true(ev.time == 1795329902661LL);
	assert_int_equal(ev.pid, 28290);
	assert_int_equal(ev.n, 1);
	assert_int_equal(ev.has_reason, 0);
	assert_string_equal(ev.reason, "");
}

static void
test_reason_with_blanks(void **state)
{
	struct lc_watch_event ev;
	assert_int_equal(parse("exit b.1 sup=mid-2 seq=18446744073709551615 time=0 pid=0 n=4294967295"
	    " reason=exit 3\n", &ev), 0);
	assert_string_equal(ev.event, "exit");
	assert_string_equal(ev.child, "b.1");
	assert_string_equal(ev.sup, "mid-2");
	assert_true(ev.seq == UINT64_MAX);
	assert_int_equal(ev.n, 4294967295u);
	assert_int_equal(ev.has_reason, 1);
	assert_string_equal(ev.reason, "exit 3");
	assert_int_equal(parse("give_up a sup=t seq=9 time=5 pid=0 n=4 "
	    "reason=reached_max_restart_intensity", &ev), 0);
	assert_string_equal(ev.reason, "reached_max_restart_intensity");
	assert_int_equal(parse("exit a sup=t seq=9 time=5 pid=7 n=4 reason={shutdown,exit}", &ev), 0);
	assert_string_equal(ev.reason, "{shutdown,exit}");
}

static void
test_longest_names(void **state)
{
	char line[LC_WATCH_LINEMAX + 64], name[LC_WATCH_NAMEMAX + 2];
	struct lc_watch_event ev;
	memset(name, 'n', LC_WATCH_NAMEMAX);
	name[LC_WATCH_NAMEMAX] = 0;
	snprintf(line, sizeof line, "spawn %s sup=%s seq=1 time=1 pid=1 n=1", name, name);
	assert_int_equal(parse(line, &ev), 0);
	assert_string_equal(ev.child, name);
	strcat(name, "n");
	snprintf(line, sizeof line, "spawn %s sup=t seq=1 time=1 pid=1 n=1", name);
	assert_int_equal(parse(line, &ev), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"start",
		"start a",
		"start a sup=top",
		"start a sup=top seq=1 time=2 pid=3",                   /* n missing */
		"start a sup=top seq=1 time=2 pid=3 n=",
		"start a sup=top seq=1 time=2 pid=3 n=1 ",              /* trailing blank */
		"start a sup=top seq=1 time=2 pid=3 n=1 reason=",       /* empty reason */
		"start a sup=top seq=1 time=2 pid=3 n=1 why=x",
		"start a sup=top seq=1 time=2 pid=3 n=1x",
		"start  a sup=top seq=1 time=2 pid=3 n=1",              /* two blanks */
		"Start a sup=top seq=1 time=2 pid=3 n=1",               /* event not [a-z_] */
		"start a/b sup=top seq=1 time=2 pid=3 n=1",             /* name charset */
		"start a sup= seq=1 time=2 pid=3 n=1",
		"start a sup=top seq=-1 time=2 pid=3 n=1",
		"start a sup=top seq=18446744073709551616 time=2 pid=3 n=1",    /* overflow */
		"start a sup=top seq=1 time=2 pid=2147483648 n=1",
		"start a sup=top seq=1 time=2 pid=3 n=4294967296",
		"start a sup=top time=2 seq=1 pid=3 n=1",               /* order */
		"start a sup=top seq=1 time=2 pid=3 n=1 reason=a\tb",   /* control byte */
		"start a sup=top seq=1 time=2 pid=3 n=1\n\n",
		"start a sup=top seq=00000000000000000000001 time=2 pid=3 n=1", /* 21 digits */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct lc_watch_event ev;
		errno = 0;
		if (parse(bad[i], &ev) != -1 || errno != EBADMSG)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
}

static void
test_not_nul_terminated(void **state)
{
	/* A PUB message has no NUL: parse exactly len bytes. */
	char buf[] = "exit a sup=t seq=3 time=4 pid=5 n=6 reason=killedXXXX";
	struct lc_watch_event ev;
	assert_int_equal(lc_watch_parse(buf, strlen(buf) - 4, &ev), 0);
	assert_string_equal(ev.reason, "killed");
	assert_int_equal(lc_watch_parse(buf, 8, &ev), -1);
}

static void
test_line_too_long(void **state)
{
	char line[LC_WATCH_LINEMAX + 100];
	struct lc_watch_event ev;
	int n = snprintf(line, sizeof line, "exit a sup=t seq=3 time=4 pid=5 n=6 reason=");
	memset(line + n, 'r', sizeof line - (size_t)n - 1);
	line[sizeof line - 1] = 0;
	assert_int_equal(parse(line, &ev), -1);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_reason_with_blanks),
		cmocka_unit_test(test_longest_names),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_line_too_long),
	};
	return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
