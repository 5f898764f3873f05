/* Unit tests for chat-bench's pure pieces (chatd/bench.c): the payload token (format, parse,
 * padding, rejects), the latency histogram (bucket bounds, quantiles against a sorted array),
 * and per (receiver, sender) loss, late and duplicate accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../chatd/bench.h"

static void test_payload_round_trip(void **state)
{
	char buf[600];
	uint32_t c;
	uint64_t q;
	int64_t t;
	int n;

	n = cb_payload_format(buf, sizeof buf, 100, 42, 7, 123456789012345LL);
	assert_int_equal(n, 100);
	assert_int_equal(strlen(buf), 100);
	assert_memory_equal(buf, "cb:42:7:123456789012345 x", 25);
	assert_int_equal(buf[99], 'x');
	assert_int_equal(cb_payload_parse(buf, &c, &q, &t), 0);
	assert_int_equal(c, 42);
	assert_int_equal(q, 7);
	assert_int_equal(t, 123456789012345LL);

	/* not above the token: the token alone, never cut, no trailing space */
	n = cb_payload_format(buf, sizeof buf, 4, 1, 2, 3);
	assert_string_equal(buf, "cb:1:2:3");
	assert_int_equal(n, 8);
	assert_int_equal(cb_payload_format(buf, sizeof buf, 8, 1, 2, 3), 8);
	assert_int_equal(cb_payload_format(buf, sizeof buf, 9, 1, 2, 3), 9);
	assert_string_equal(buf, "cb:1:2:3 ");
	assert_int_equal(cb_payload_format(buf, sizeof buf, 10, 1, 2, 3), 10);
	assert_string_equal(buf, "cb:1:2:3 x");
	assert_int_equal(cb_payload_parse(buf, &c, &q, &t), 0);
	assert_int_equal(t, 3);

	/* negative clock values survive */
	cb_payload_format(buf, sizeof buf, 0, 0, 0, -5);
	assert_int_equal(cb_payload_parse(buf, &c, &q, &t), 0);
	assert_int_equal(t, -5);

	/* cap too small */
	assert_int_equal(cb_payload_format(buf, 8, 0, 1, 2, 3), -1);
	assert_int_equal(cb_payload_format(buf, 9, 0, 1, 2, 3), 8);
	assert_int_equal(cb_payload_format(buf, 50, 50, 1, 2, 3), -1);
	assert_int_equal(cb_payload_format(buf, 51, 50, 1, 2, 3), 50);
}

static void test_payload_rejects(void **state)
{
	static const char *bad[] = {
		"", "hello", "cb:", "cb:1:2", "cb:1:2:", "cb:1:2:3x", "cb:a:2:3 ", "cb:1::3 ", "cb:1:2: ",
		"cb:4294967296:1:1 ", "cb:1:99999999999999999999:1 ", "CB:1:2:3 ", " cb:1:2:3 ",
		"cb:-1:2:3 ", "cb:1:-2:3 ",
	};
	uint32_t c;
	uint64_t q;
	int64_t t;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof *bad; i++)
		if (cb_payload_parse(bad[i], &c, &q, &t) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_int_equal(cb_payload_parse("cb:4294967295:0:0 ", &c, &q, &t), 0);
	assert_int_equal(c, 4294967295u);
	/* the end of the text ends the token too (servers strip trailing spaces) */
	assert_int_equal(cb_payload_parse("cb:1:2:3", &c, &q, &t), 0);
	assert_int_equal(t, 3);
}

static void test_hist_buckets(void **state)
{
	uint64_t v;
	size_t i, prev = 0;

	for (v = 0; v < 64; v++)
		assert_int_equal(cb_hist_index(v), v);
	/* every value lies within its bucket, buckets are monotonic, width <= value/64 */
	for (v = 1; v < ((uint64_t)1 << 40); v = v * 3 / 2 + 1) {
		i = cb_hist_index(v);
		assert_true(i >= prev);
		prev = i;
		assert_true(cb_hist_upper(i) >= v);
		if (i > 0)
			assert_true(cb_hist_upper(i - 1) < v);
		assert_true(cb_hist_upper(i) - v <= v / 64 + 1);
	}
	/* bucket ends */
	assert_int_equal(cb_hist_index(64), 64);
	assert_int_equal(cb_hist_upper(64), 64);
	assert_int_equal(cb_hist_index(127), 127);
	assert_int_equal(cb_hist_index(128), 128);
	assert_int_equal(cb_hist_upper(128), 129);
	assert_int_equal(cb_hist_index(129), 128);
	assert_int_equal(cb_hist_index(UINT64_MAX), CB_HIST_N - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_hist_quantiles(void **state)
{
	static struct cb_hist h;
	static uint64_t v[10000];
	static const double qs[] = { 0.001, 0.5, 0.9, 0.99, 0.999, 1.0 };
	uint64_t exact, got;
	size_t i, n = sizeof v / sizeof *v, rank;

	cb_hist_init(&h);
	assert_int_equal(cb_hist_quantile(&h, 0.5), 0);
	srand(7);
	for (i = 0; i < n; i++) {
		v[i] = (uint64_t)rand() % 50000 + (i % 100 == 0 ? 1000000 : 0);
		cb_hist_add(&h, v[i]);
	}
	qsort(v, n, sizeof *v, cmp_u64);
	assert_int_equal(h.count, n);
	assert_int_equal(h.max_us, v[n - 1]);
	for (i = 0; i < sizeof qs / sizeof *qs; i++) {
		rank = (size_t)(qs[i] * (double)n + 0.999999);
		exact = v[rank - 1];
		got = cb_hist_quantile(&h, qs[i]);
		assert_true(got >= exact);
		assert_true(got - exact <= exact / 64 + 1);
	}
	assert_int_equal(cb_hist_quantile(&h, 1.0), v[n - 1]);

	/* a single sample */
	cb_hist_init(&h);
	cb_hist_add(&h, 1234);
	assert_int_equal(cb_hist_quantile(&h, 0.5), 1234);
	assert_int_equal(cb_hist_quantile(&h, 0.999), 1234);
}

/* One case: seqs received in order given, then sent; expected totals. */
struct track_case {
	const char *name;
	uint64_t seqs[16];
	size_t n;
	uint64_t sent;
	uint64_t lost, late, dup, got;
};

static const struct track_case track_cases[] = {
	{ "in order", { 0, 1, 2, 3 }, 4, 4, 0, 0, 0, 4 },
	{ "tail lost", { 0, 1 }, 2, 4, 2, 0, 0, 2 },
	{ "nothing received", { 0 }, 0, 3, 3, 0, 0, 0 },
	{ "gap", { 0, 3, 4 }, 3, 5, 2, 0, 0, 3 },
	{ "duplicate", { 0, 1, 1, 2 }, 4, 3, 0, 0, 1, 3 },
	{ "old duplicate", { 0, 1, 2, 0 }, 4, 3, 0, 0, 1, 3 },
	{ "late fills a gap", { 0, 2, 1 }, 3, 3, 0, 1, 0, 3 },
	{ "late then duplicate", { 0, 2, 1, 1 }, 4, 3, 0, 1, 1, 3 },
	{ "first seen late", { 5, 0 }, 2, 6, 4, 1, 0, 2 },
	{ "beyond the window", { 0, 100, 1 }, 3, 101, 99, 0, 1, 2 },
	{ "window edge", { 64, 1 }, 2, 65, 63, 1, 0, 2 },
	{ "window edge out", { 64, 0 }, 2, 65, 64, 0, 1, 1 },
};

static void test_track_table(void **state)
{
	size_t i, j;

	for (i = 0; i < sizeof track_cases / sizeof *track_cases; i++) {
		const struct track_case *c = &track_cases[i];
		struct cb_track t = { 0 };
		struct cb_loss l = { 0 };

		for (j = 0; j < c->n; j++)
			cb_track_see(&t, &l, c->seqs[j]);
		cb_track_finish(&t, &l, c->sent);
		if (l.lost != c->lost || l.late != c->late || l.dup != c->dup || t.got != c->got)
			fail_msg("%s: lost %llu late %llu dup %llu got %llu", c->name,
			    (unsigned long long)l.lost, (unsigned long long)l.late,
			    (unsigned long long)l.dup, (unsigned long long)t.got);
		/* invariant: every sent seq is received once or lost */
		assert_int_equal(t.got + l.lost, c->sent);
	}
}

static void test_track_kinds(void **state)
{
	struct cb_track t = { 0 };
	struct cb_loss l = { 0 };

	assert_int_equal(cb_track_see(&t, &l, 0), CB_NEW);
	assert_int_equal(cb_track_see(&t, &l, 2), CB_GAP);
	assert_int_equal(cb_track_see(&t, &l, 1), CB_LATE);
	assert_int_equal(cb_track_see(&t, &l, 1), CB_DUP);
	assert_int_equal(cb_track_see(&t, &l, 3), CB_NEW);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_round_trip),
		cmocka_unit_test(test_payload_rejects),
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_track_table),
		cmocka_unit_test(test_track_kinds),
	};
	return cmocka_run_group_tests_name("chatbench", tests, NULL, NULL);
}
