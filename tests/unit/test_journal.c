/* Unit tests for chatd/journal.c: group commit, de-duplication, timestamps, every
 * CHATHISTORY kind with its edge cases (on a channel and on a direct conversation), the
 * migrations of version 1 and 2 files, the index file's rebuild, accounts, session events and snapshots, reopening, and a
 * child SIGKILLed while it appends. Each test has its own mkdtemp directory. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "../../chatd/journal.h"

/* Tail size that triggers an index flush: the suite runs twice, with every message in the
 * memory tail (large) and with the on-disk indexes flushed every few messages (small). */
static int64_t index_every = 65536;

struct fx {
	char dir[64];
	char path[96];
	struct journal *j;
	int64_t now;		/* the fake clock */
};

static int64_t
fake_now(void *arg)
{
	return ((struct fx *)arg)->now;
}

static struct journal *
reopen(struct fx *f)
{
	if (f->j != NULL)
		assert_int_equal(journal_close(f->j), 0);
	f->j = journal_open(f->path);
	assert_non_null(f->j);
	journal_set_clock(f->j, fake_now, f);
	journal_set_index_every(f->j, index_every);
	journal_set_pwhash_limits(f->j, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
	return f->j;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/test_journal.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/journal.db", f->dir);
	f->now = 1700000000000;
	reopen(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct dirent *d;
	char p[512];
	DIR *dir;

	journal_close(f->j);
	if ((dir = opendir(f->dir)) != NULL) {
		while ((d = readdir(dir)) != NULL)
			if (d->d_name[0] != '.') {
				snprintf(p, sizeof p, "%s/%s", f->dir, d->d_name);
				unlink(p);
			}
		closedir(dir);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct jin
msg(const char *target, const char *text, const char *dedupe)
{
	struct jin in = { .target = target, .source = "nick!user@host", .text = text,
	    .dedupe = dedupe, .cmd = JOURNAL_PRIVMSG };
	return in;
}

/* Append one message alone (its own batch); returns its jout. */
static struct jout
post(struct fx *f, const char *target, const char *text, const char *dedupe)
{
	struct jin in = msg(target, text, dedupe);
	struct jout out;

	assert_int_equal(journal_append(f->j, &in, 1, &out), 0);
	return out;
}

/* --- append, dedupe, timestamps ----------------------------------------------------------- */

static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	static const char *const tg[] = { "#a", "#B", "alice,bob" };
	struct jin in[100];
	struct jout out[100];
	char keys[100][32];
	int64_t seq[3] = { 0 };

	for (int i = 0; i < 100; i++) {
		snprintf(keys[i], sizeof keys[i], "gw1:c1:%d", i);
		in[i] = msg(tg[i % 3], "hello", keys[i]);
	}
	in[7].cmd = JOURNAL_NOTICE;
	in[7].account = "acct";
	in[7].tags = "+draft/reply=abc";
	assert_int_equal(journal_append(f->j, in, 100, out), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(out[i].id, i + 1);
		assert_int_equal(out[i].chan_seq, ++seq[i % 3]);
		assert_false(out[i].dup);
		assert_int_equal(journal_msgid_id(f->j, out[i].msgid), out[i].id);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(out[i].msgid, out[k].msgid);
	}
	assert_int_equal(journal_last_id(f->j), 100);
	assert_int_equal(journal_last_seq(f->j, "#b"), 33);	/* casefolded */
	assert_int_equal(journal_last_seq(f->j, "#nothing"), 0);
	assert_int_equal(journal_append(f->j, in, 0, out), 0);
}

static int
grab_one(void *arg, const struct jmsg *m)
{
	struct jmsg *dst = arg;

	*dst = *m;
	dst->target = dst->source = dst->text = dst->account = dst->tags = NULL;
	return 0;
}

static int
check_notice(void *arg, const struct jmsg *m)
{
	assert_int_equal(m->cmd, JOURNAL_NOTICE);
	assert_string_equal(m->account, "acct");
	assert_string_equal(m->tags, "+draft/reply=abc");
	assert_string_equal(m->text, "x y");
	assert_string_equal(m->source, "nick!user@host");
	assert_string_equal(m->target, "#a");
	(*(int *)arg)++;
	return 0;
}

static void
test_fields_roundtrip(void **state)
{
	struct fx *f = *state;
	struct jin in = msg("#A", "x y", "k1");
	struct jout out;
	struct jmsg m;
	int n = 0;

	in.cmd = JOURNAL_NOTICE;
	in.account = "acct";
	in.tags = "+draft/reply=abc";
	assert_int_equal(journal_append(f->j, &in, 1, &out), 0);
	assert_int_equal(journal_since(f->j, "#a", 0, 10, check_notice, &n), 1);
	assert_int_equal(n, 1);
	post(f, "#a", "plain", NULL);
	assert_int_equal(journal_since(f->j, "#a", 1, 10, grab_one, &m), 1);
	assert_int_equal(m.chan_seq, 2);
	assert_int_equal(m.cmd, JOURNAL_PRIVMSG);
}

static void
test_dedupe(void **state)
{
	struct fx *f = *state;
	struct jin in[4] = { msg("#a", "1", "k1"), msg("#a", "2", "k2"), msg("#b", "3", "k3"),
	    msg("#a", "4", NULL) };
	struct jin retry[4] = { msg("#a", "1", "k1"), msg("#a", "5", "k5"), msg("#b", "3", "k3"),
	    msg("#a", "5 again", "k5") };
	struct jout out[4], again[4];

	assert_int_equal(journal_append(f->j, in, 4, out), 0);
	f->now += 5000;
	/* a retry of the whole batch: the originals, nothing new */
	assert_int_equal(journal_append(f->j, in, 3, again), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(again[i].dup);
		assert_int_equal(again[i].id, out[i].id);
		assert_int_equal(again[i].ts_ms, out[i].ts_ms);
		assert_int_equal(again[i].chan_seq, out[i].chan_seq);
		assert_string_equal(again[i].msgid, out[i].msgid);
	}
	assert_int_equal(journal_last_id(f->j), 4);
	/* a mix of old, new, and a duplicate inside the batch */
	assert_int_equal(journal_append(f->j, retry, 4, again), 0);
	assert_true(again[0].dup);
	assert_int_equal(again[0].id, 1);
	assert_false(again[1].dup);
	assert_int_equal(again[1].id, 5);
	assert_int_equal(again[1].chan_seq, 4);
	assert_true(again[2].dup);
	assert_true(again[3].dup);
	assert_int_equal(again[3].id, 5);
	assert_string_equal(again[3].msgid, again[1].msgid);
	assert_int_equal(journal_last_id(f->j), 5);
	assert_int_equal(journal_last_seq(f->j, "#a"), 4);
	/* no de-duplication without a key */
	assert_int_equal(journal_append(f->j, &in[3], 1, again), 0);
	assert_false(again[0].dup);
	assert_int_equal(again[0].id, 6);
}

static void
test_invalid_batch_writes_nothing(void **state)
{
	struct fx *f = *state;
	char longt[JOURNAL_TARGET_MAX + 2];
	struct jin in[2] = { msg("#a", "ok", "k1"), msg("", "bad", "k2") };
	struct jout out[2];

	assert_int_equal(journal_append(f->j, in, 2, out), -1);
	assert_int_equal(errno, EINVAL);
	in[1] = msg("#a", NULL, "k2");
	assert_int_equal(journal_append(f->j, in, 2, out), -1);
	in[1] = msg("#a", "x", "k2");
	in[1].cmd = 7;
	assert_int_equal(journal_append(f->j, in, 2, out), -1);
	memset(longt, 'x', sizeof longt - 1);
	longt[sizeof longt - 1] = '\0';
	in[1] = msg(longt, "x", "k2");
	assert_int_equal(journal_append(f->j, in, 2, out), -1);
	assert_int_equal(journal_last_id(f->j), 0);
	assert_int_equal(journal_last_seq(f->j, "#a"), 0);
	in[1] = msg("#a", "x", "k2");
	assert_int_equal(journal_append(f->j, in, 2, out), 0);
	assert_int_equal(out[1].id, 2);
}

static void
test_timestamps(void **state)
{
	struct fx *f = *state;
	struct jin in[50];
	struct jout out[50];
	int64_t t0 = f->now;

	for (int i = 0; i < 50; i++)
		in[i] = msg(i % 2 ? "#a" : "#b", "t", NULL);
	assert_int_equal(journal_append(f->j, in, 50, out), 0);
	/* same clock reading: distinct and increasing per target, never below the clock */
	for (int i = 2; i < 50; i++)
		assert_int_equal(out[i].ts_ms, out[i - 2].ts_ms + 1);
	assert_int_equal(out[0].ts_ms, t0);
	assert_int_equal(out[1].ts_ms, t0);
	/* the clock goes back an hour: nothing goes back */
	f->now = t0 - 3600 * 1000;
	post(f, "#c", "x", NULL);
	assert_true(post(f, "#c", "y", NULL).ts_ms >= out[49].ts_ms);
	assert_true(post(f, "#a", "z", NULL).ts_ms > out[49].ts_ms);
	/* the clock moves on: timestamps follow it */
	f->now = t0 + 60000;
	assert_int_equal(post(f, "#a", "w", NULL).ts_ms, t0 + 60000);
	assert_int_equal(post(f, "#a", "v", NULL).ts_ms, t0 + 60001);
}

static void
test_reopen_resumes(void **state)
{
	struct fx *f = *state;
	struct jout a, b, c;
	char prefix[9];

	post(f, "#a", "1", "k1");
	a = post(f, "#a", "2", "k2");
	b = post(f, "#b", "3", "k3");
	memcpy(prefix, a.msgid, 8);
	prefix[8] = '\0';
	f->now -= 86400000;	/* restarted with a clock a day behind */
	reopen(f);
	assert_int_equal(journal_last_id(f->j), 3);
	c = post(f, "#a", "4", "k4");
	assert_int_equal(c.id, 4);
	assert_int_equal(c.chan_seq, 3);
	assert_true(c.ts_ms >= b.ts_ms && c.ts_ms > a.ts_ms);
	assert_memory_equal(c.msgid, prefix, 8);
	c = post(f, "#a", "2", "k2");	/* a retry across the restart */
	assert_true(c.dup);
	assert_int_equal(c.id, a.id);
	assert_int_equal(journal_msgid_id(f->j, a.msgid), 2);
}

static void
test_msgid_format(void **state)
{
	struct fx *f = *state;
	char m[JOURNAL_MSGID_MAX], bad[JOURNAL_MSGID_MAX + 8];
	static const int64_t ids[] = { 1, 31, 32, 1023, 1024, 123456789, 1LL << 40 };

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		journal_msgid(f->j, ids[i], m);
		assert_true(strlen(m) < JOURNAL_MSGID_MAX);
		assert_int_equal(strspn(m, "0123456789abcdefghjkmnpqrstvwxyz"), strlen(m));
		assert_int_equal(journal_msgid_id(f->j, m), ids[i]);
	}
	journal_msgid(f->j, 5, m);
	snprintf(bad, sizeof bad, "%.8s05", m);	/* leading zero: not canonical */
	assert_int_equal(journal_msgid_id(f->j, bad), -1);
	snprintf(bad, sizeof bad, "%.8sU", m);
	assert_int_equal(journal_msgid_id(f->j, bad), -1);
	snprintf(bad, sizeof bad, "%.8s", m);
	assert_int_equal(journal_msgid_id(f->j, bad), -1);
	assert_int_equal(journal_msgid_id(f->j, "zzzzzzzz1"), strncmp(m, "zzzzzzzz", 8) == 0 ? 1 : -1);
}

static void
test_ref_parse_and_format(void **state)
{
	struct jref r;
	char buf[25];

	assert_int_equal(journal_ref_parse("*", &r), 0);
	assert_int_equal(r.type, JREF_NONE);
	assert_int_equal(journal_ref_parse("msgid=abc", &r), 0);
	assert_int_equal(r.type, JREF_MSGID);
	assert_string_equal(r.msgid, "abc");
	assert_int_equal(journal_ref_parse("timestamp=2026-01-02T03:04:05.678Z", &r), 0);
	assert_int_equal(r.type, JREF_TS);
	assert_int_equal(r.ts_ms, 1767323045678LL);
	journal_ts_format(r.ts_ms, buf);
	assert_string_equal(buf, "2026-01-02T03:04:05.678Z");
	journal_ts_format(1767323045000LL, buf);
	assert_string_equal(buf, "2026-01-02T03:04:05.000Z");
	assert_int_equal(journal_ref_parse("timestamp=2026-01-02T03:04:05Z", &r), 0);
	assert_int_equal(r.ts_ms, 1767323045000LL);
	assert_int_equal(journal_ref_parse("timestamp=2026-01-02 03:04:05.678Z", &r), -1);
	assert_int_equal(journal_ref_parse("timestamp=2026-13-02T03:04:05.678Z", &r), -1);
	assert_int_equal(journal_ref_parse("timestamp=2026-01-02T03:04:05.678", &r), -1);
	assert_int_equal(journal_ref_parse("msgid=", &r), -1);
	assert_int_equal(journal_ref_parse("id=x", &r), -1);
	assert_int_equal(journal_dm_target("Bob", "alice", buf, sizeof buf), 0);
	assert_string_equal(buf, "alice,bob");
	assert_int_equal(journal_dm_target("alice", "BOB", buf, sizeof buf), 0);
	assert_string_equal(buf, "alice,bob");
	assert_int_equal(journal_dm_target("alice", "bob", buf, 5), -1);
}

/* --- CHATHISTORY -------------------------------------------------------------------------- */

/* #c holds seq 1..10 at ts T0 + 10 * seq, interleaved with #other; msgids kept. The same
 * cases run on a direct conversation (fill_history with conv): then me and peer name it, and
 * position k of the conversation is at ts T0 + 10 * k. */
#define T0 1000000000000LL
struct hist {
	struct fx *f;
	char msgid[11][JOURNAL_MSGID_MAX];
	char other[JOURNAL_MSGID_MAX];
	const char *me, *peer;	/* NULL: the channel #c */
};

/* A direct message from nick `from` (as nick!u@h) to `to`, alone in its batch. */
static struct jout
dm(struct fx *f, const char *from, const char *to, const char *text)
{
	char src[64];
	struct jin in = { .target = to, .source = src, .text = text, .cmd = JOURNAL_PRIVMSG };
	struct jout out;

	snprintf(src, sizeof src, "%s!u@h", from);
	assert_int_equal(journal_append(f->j, &in, 1, &out), 0);
	return out;
}

/* Fill #c (conv = 0; h->other: a msgid of #other), or (conv = 1) the alice<->bob
 * conversation at positions 1..10, ts T0 + 10 * k: alice (as "alice") to "Bob" when k is odd,
 * bob (as "BOB") to "alice" when even, each followed, at the same clock reading, by what must
 * stay out of it: carol to alice, alice to carol, bob to carol, alice to herself, and alice in
 * #c (h->other: a msgid of carol's). */
static void
fill_history(struct hist *h, struct fx *f, int conv)
{
	memset(h, 0, sizeof *h);
	h->f = f;
	for (int k = 1; k <= 10; k++) {
		f->now = T0 + 10 * k;
		if (!conv) {
			strcpy(h->msgid[k], post(f, "#c", "m", NULL).msgid);
			strcpy(h->other, post(f, "#other", "o", NULL).msgid);
			continue;
		}
		strcpy(h->msgid[k], (k % 2 ? dm(f, "alice", "Bob", "ab") :
		    dm(f, "BOB", "alice", "ba")).msgid);
		strcpy(h->other, dm(f, "carol", "alice", "ca").msgid);
		dm(f, "alice", "carol", "ac");
		dm(f, "bob", "carol", "bc");
		dm(f, "alice", "alice", "aa");
		post(f, "#c", "chan", NULL);
	}
}

struct got {
	int n;
	int64_t seq[64];
	int64_t ts[64];
};

static int
collect(void *arg, const struct jmsg *m)
{
	struct got *g = arg;

	assert_true(g->n < 64);
	g->seq[g->n] = m->chan_seq;
	g->ts[g->n++] = m->ts_ms;
	return 0;
}

static struct jref
M(struct hist *h, int seq)
{
	struct jref r = { .type = JREF_MSGID };

	strcpy(r.msgid, h->msgid[seq]);
	return r;
}

static struct jref
T(int64_t ts)
{
	struct jref r = { .type = JREF_TS, .ts_ms = ts };

	return r;
}

/* Run a query and compare the chan_seqs returned with want[0..nwant-1]. */
static void
expect_hist(struct hist *h, const char *what, enum journal_kind k, struct jref r1,
    struct jref r2, int limit, const int *want, int nwant)
{
	struct got g = { 0 };
	int n = h->me == NULL ? journal_history(h->f->j, "#c", k, &r1, &r2, limit, collect, &g)
	    : journal_history_dm(h->f->j, h->me, h->peer, k, &r1, &r2, limit, collect, &g);

	if (n != nwant || g.n != nwant)
		fail_msg("%s: got %d messages, want %d", what, n, nwant);
	for (int i = 0; i < nwant; i++) {
		if (h->me == NULL && g.seq[i] != want[i])
			fail_msg("%s: #%d is seq %lld, want %d", what, i, (long long)g.seq[i],
			    want[i]);
		if (g.ts[i] != T0 + 10 * want[i])
			fail_msg("%s%s%s%s: #%d is at T0 + %lld, want T0 + %d", what,
			    h->me ? " (" : "", h->me ? h->me : "", h->me ? ")" : "", i,
			    (long long)(g.ts[i] - T0), 10 * want[i]);
	}
}

#define NONE ((struct jref){ .type = JREF_NONE })
#define W(...) (const int[]){ __VA_ARGS__ }, (int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int))
#define EMPTY NULL, 0
#define H(k, r1, r2, n, want) \
	expect_hist(h, #k " " #r1 " " #r2 " " #n, JOURNAL_##k, r1, r2, n, want)

static void
cases_latest(struct hist *h)
{
	H(LATEST, NONE, NONE, 3, W(8, 9, 10));
	H(LATEST, NONE, NONE, 100, W(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
	H(LATEST, NONE, NONE, 0, EMPTY);
	H(LATEST, M(h, 5), NONE, 3, W(8, 9, 10));
	H(LATEST, M(h, 8), NONE, 5, W(9, 10));
	H(LATEST, M(h, 10), NONE, 5, EMPTY);
	H(LATEST, M(h, 1), NONE, 100, W(2, 3, 4, 5, 6, 7, 8, 9, 10));
	H(LATEST, T(T0 + 55), NONE, 100, W(6, 7, 8, 9, 10));
	H(LATEST, T(T0 + 50), NONE, 100, W(6, 7, 8, 9, 10));
	H(LATEST, T(T0 + 100), NONE, 100, EMPTY);
	H(LATEST, T(0), NONE, 2, W(9, 10));
}

static void
test_history_latest(void **state)
{
	struct hist h;

	fill_history(&h, *state, 0);
	cases_latest(&h);
}

static void
cases_before_after(struct hist *h)
{
	H(BEFORE, M(h, 5), NONE, 2, W(3, 4));
	H(BEFORE, M(h, 1), NONE, 5, EMPTY);
	H(BEFORE, M(h, 2), NONE, 5, W(1));
	H(BEFORE, M(h, 10), NONE, 100, W(1, 2, 3, 4, 5, 6, 7, 8, 9));
	H(BEFORE, T(T0 + 55), NONE, 2, W(4, 5));
	H(BEFORE, T(T0 + 50), NONE, 2, W(3, 4));
	H(BEFORE, T(T0 + 5000), NONE, 3, W(8, 9, 10));
	H(BEFORE, T(0), NONE, 3, EMPTY);
	H(BEFORE, T(T0 + 10), NONE, 3, EMPTY);
	H(AFTER, M(h, 5), NONE, 2, W(6, 7));
	H(AFTER, M(h, 10), NONE, 2, EMPTY);
	H(AFTER, M(h, 9), NONE, 5, W(10));
	H(AFTER, M(h, 1), NONE, 100, W(2, 3, 4, 5, 6, 7, 8, 9, 10));
	H(AFTER, T(T0 + 55), NONE, 2, W(6, 7));
	H(AFTER, T(T0 + 50), NONE, 2, W(6, 7));
	H(AFTER, T(0), NONE, 3, W(1, 2, 3));
	H(AFTER, T(T0 + 100), NONE, 3, EMPTY);
}

static void
test_history_before_after(void **state)
{
	struct hist h;

	fill_history(&h, *state, 0);
	cases_before_after(&h);
}

static void
cases_between(struct hist *h)
{
	H(BETWEEN, M(h, 2), M(h, 9), 3, W(3, 4, 5));
	H(BETWEEN, M(h, 9), M(h, 2), 3, W(6, 7, 8));	/* reversed: counted from ref1 */
	H(BETWEEN, M(h, 2), M(h, 9), 100, W(3, 4, 5, 6, 7, 8));
	H(BETWEEN, M(h, 9), M(h, 2), 100, W(3, 4, 5, 6, 7, 8));
	H(BETWEEN, M(h, 5), M(h, 6), 10, EMPTY);
	H(BETWEEN, M(h, 5), M(h, 5), 10, EMPTY);
	H(BETWEEN, M(h, 1), M(h, 10), 10, W(2, 3, 4, 5, 6, 7, 8, 9));
	H(BETWEEN, T(T0 + 15), T(T0 + 45), 10, W(2, 3, 4));
	H(BETWEEN, T(T0 + 45), T(T0 + 15), 10, W(2, 3, 4));
	H(BETWEEN, T(T0 + 20), T(T0 + 50), 10, W(3, 4));	/* exact timestamps excluded */
	H(BETWEEN, T(0), T(T0 + 99999), 2, W(1, 2));
	H(BETWEEN, T(T0 + 99999), T(0), 2, W(9, 10));
	H(BETWEEN, M(h, 3), T(T0 + 65), 10, W(4, 5, 6));
	H(BETWEEN, T(T0 + 65), M(h, 3), 1, W(6));
	H(BETWEEN, T(T0 + 51), T(T0 + 59), 10, EMPTY);
}

static void
test_history_between(void **state)
{
	struct hist h;

	fill_history(&h, *state, 0);
	cases_between(&h);
}

static void
cases_around(struct hist *h)
{
	H(AROUND, M(h, 5), NONE, 3, W(4, 5, 6));
	H(AROUND, M(h, 5), NONE, 4, W(4, 5, 6, 7));
	H(AROUND, M(h, 5), NONE, 1, W(5));
	H(AROUND, M(h, 1), NONE, 3, W(1, 2, 3));	/* at an edge: shifted, still n */
	H(AROUND, M(h, 10), NONE, 3, W(8, 9, 10));
	H(AROUND, M(h, 5), NONE, 100, W(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
	H(AROUND, T(T0 + 55), NONE, 2, W(5, 6));
	H(AROUND, T(T0 + 55), NONE, 4, W(4, 5, 6, 7));
	H(AROUND, T(T0 + 50), NONE, 3, W(4, 5, 6));
	H(AROUND, T(0), NONE, 2, W(1, 2));
	H(AROUND, T(T0 + 99999), NONE, 2, W(9, 10));
}

static void
test_history_around(void **state)
{
	struct hist h;

	fill_history(&h, *state, 0);
	cases_around(&h);
}

static void
test_history_errors_and_empty(void **state)
{
	struct hist h;
	struct got g = { 0 };
	struct jref r, none = NONE, o = { .type = JREF_MSGID };
	struct journal *j;

	fill_history(&h, *state, 0);
	j = h.f->j;
	strcpy(o.msgid, h.other);
	/* a msgid of another target, an unknown id, a foreign prefix: ENOENT */
	errno = 0;
	assert_int_equal(journal_history(j, "#c", JOURNAL_BEFORE, &o, NULL, 5, collect, &g), -1);
	assert_int_equal(errno, ENOENT);
	journal_msgid(j, 99999, r.msgid);
	r.type = JREF_MSGID;
	assert_int_equal(journal_history(j, "#c", JOURNAL_AFTER, &r, NULL, 5, collect, &g), -1);
	assert_int_equal(errno, ENOENT);
	strcpy(r.msgid, "notoursatall");
	assert_int_equal(journal_history(j, "#c", JOURNAL_LATEST, &r, NULL, 5, collect, &g), -1);
	assert_int_equal(errno, ENOENT);
	r = M(&h, 3);
	assert_int_equal(journal_history(j, "#c", JOURNAL_BETWEEN, &r, &o, 5, collect, &g), -1);
	assert_int_equal(errno, ENOENT);
	/* bad combinations */
	assert_int_equal(journal_history(j, "#c", JOURNAL_BEFORE, &none, NULL, 5, collect, &g), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(journal_history(j, "#c", JOURNAL_BETWEEN, &r, &none, 5, collect, &g), -1);
	assert_int_equal(journal_history(j, "", JOURNAL_LATEST, &none, NULL, 5, collect, &g), -1);
	assert_int_equal(g.n, 0);
	/* an empty or unknown target is an empty answer */
	r = T(T0 + 50);
	assert_int_equal(journal_history(j, "#empty", JOURNAL_LATEST, &none, NULL, 5, collect, &g), 0);
	assert_int_equal(journal_history(j, "#empty", JOURNAL_BEFORE, &r, NULL, 5, collect, &g), 0);
	assert_int_equal(journal_history(j, "#empty", JOURNAL_AROUND, &r, NULL, 5, collect, &g), 0);
	assert_int_equal(journal_history(j, "#empty", JOURNAL_BETWEEN, &r, &r, 5, collect, &g), 0);
	assert_int_equal(g.n, 0);
	/* target names are casefolded */
	assert_int_equal(journal_history(j, "#C", JOURNAL_LATEST, &none, NULL, 2, collect, &g), 2);
}

/* --- direct conversations (journal_history_dm) -------------------------------------------- */

struct texts {
	int n;
	char text[64][4];
	char source[64][16];
	char target[64][16];
};

static int
collect_text(void *arg, const struct jmsg *m)
{
	struct texts *x = arg;

	assert_true(x->n < 64);
	snprintf(x->text[x->n], sizeof x->text[x->n], "%s", m->text);
	snprintf(x->source[x->n], sizeof x->source[x->n], "%s", m->source);
	snprintf(x->target[x->n++], sizeof x->target[0], "%s", m->target);
	return 0;
}

/* Every subcommand and ref kind of the channel tests, on the conversation, both ways round. */
static void
test_dm_history_cases(void **state)
{
	static const char *const who[][2] = { { "alice", "bob" }, { "BOB", "Alice" } };
	struct hist h;

	fill_history(&h, *state, 1);
	for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
		h.me = who[i][0];
		h.peer = who[i][1];
		cases_latest(&h);
		cases_before_after(&h);
		cases_between(&h);
		cases_around(&h);
	}
}

static int
dm_count(struct journal *j, const char *me, const char *other, struct texts *x)
{
	struct jref star = { .type = JREF_NONE };

	memset(x, 0, sizeof *x);
	return journal_history_dm(j, me, other, JOURNAL_LATEST, &star, NULL, 64, collect_text, x);
}

/* What is in a conversation and what is not; the original source and target are kept. */
static void
test_dm_history_membership(void **state)
{
	struct jref star = { .type = JREF_NONE }, r = { .type = JREF_MSGID };
	struct texts x;
	struct hist h;
	struct journal *j;
	int n;

	fill_history(&h, *state, 1);
	j = h.f->j;
	assert_int_equal(dm_count(j, "alice", "bob", &x), 10);
	for (int i = 0; i < 10; i++) {
		assert_string_equal(x.text[i], i % 2 ? "ba" : "ab");
		assert_string_equal(x.source[i], i % 2 ? "BOB!u@h" : "alice!u@h");
		assert_string_equal(x.target[i], i % 2 ? "alice" : "bob");
	}
	assert_int_equal(dm_count(j, "carol", "ALICE", &x), 20);
	for (int i = 0; i < 20; i++)
		assert_string_equal(x.text[i], i % 2 ? "ac" : "ca");
	assert_int_equal(dm_count(j, "bob", "carol", &x), 10);
	assert_int_equal(dm_count(j, "alice", "alice", &x), 10);	/* to oneself */
	assert_string_equal(x.text[9], "aa");
	assert_int_equal(dm_count(j, "alice", "nobody", &x), 0);	/* never seen: none */
	/* the recipient's own stream is unchanged: all alice received, from anyone */
	memset(&x, 0, sizeof x);
	n = journal_history(j, "alice", JOURNAL_LATEST, &star, NULL, 64, collect_text, &x);
	assert_int_equal(n, 25);
	/* a msgid of another conversation or of a channel: unknown here */
	strcpy(r.msgid, h.other);
	assert_int_equal(journal_history_dm(j, "alice", "bob", JOURNAL_BEFORE, &r, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(errno, ENOENT);
	journal_msgid(j, 5, r.msgid);	/* id 5: alice in #c */
	assert_int_equal(journal_history_dm(j, "alice", "bob", JOURNAL_AFTER, &r, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(errno, ENOENT);
	r = M(&h, 3);
	assert_int_equal(journal_history_dm(j, "alice", "carol", JOURNAL_AFTER, &r, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(errno, ENOENT);
	/* bad nicks and kinds */
	assert_int_equal(journal_history_dm(j, "", "bob", JOURNAL_LATEST, &star, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(journal_history_dm(j, "a,b", "c", JOURNAL_LATEST, &star, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(journal_history_dm(j, "alice", "bob", JOURNAL_BEFORE, &star, NULL, 5,
	    collect_text, &x), -1);
	assert_int_equal(errno, EINVAL);
}

/* Both directions at one clock reading: distinct, increasing times in the conversation,
 * though their targets differ. */
static void
test_dm_distinct_times(void **state)
{
	struct fx *f = *state;
	struct jin in[4] = {
	    { .target = "bob", .source = "alice!u@h", .text = "1", .cmd = JOURNAL_PRIVMSG },
	    { .target = "alice", .source = "bob!u@h", .text = "2", .cmd = JOURNAL_PRIVMSG },
	    { .target = "carol", .source = "dave!u@h", .text = "x", .cmd = JOURNAL_PRIVMSG },
	    { .target = "Alice", .source = "Bob!u@h", .text = "3", .cmd = JOURNAL_NOTICE } };
	struct jout out[4];
	struct jref r = T(T0 + 11);
	struct got g = { 0 };

	f->now = T0 + 10;
	assert_int_equal(journal_append(f->j, in, 4, out), 0);
	assert_int_equal(out[0].ts_ms, T0 + 10);
	assert_int_equal(out[1].ts_ms, T0 + 11);
	assert_int_equal(out[2].ts_ms, T0 + 11);	/* never below the journal's last */
	assert_int_equal(out[3].ts_ms, T0 + 12);
	/* so a timestamp ref tells them apart */
	assert_int_equal(journal_history_dm(f->j, "bob", "alice", JOURNAL_AFTER, &r, NULL, 10,
	    collect, &g), 1);
	assert_int_equal(g.ts[0], T0 + 12);
	assert_int_equal(journal_history_dm(f->j, "bob", "alice", JOURNAL_BEFORE, &r, NULL, 10,
	    collect, &g), 1);
	assert_int_equal(g.ts[1], T0 + 10);
	assert_int_equal(journal_history_dm(f->j, "bob", "alice", JOURNAL_AROUND, &r, NULL, 1,
	    collect, &g), 1);
	assert_int_equal(g.ts[2], T0 + 11);
}

/* A journal killed before its index flush: the conversations' memory tail is rebuilt at
 * open, and later appends and flushes carry on from it. */
static void
test_dm_tail_rebuilt(void **state)
{
	struct fx *f = *state;
	struct texts x;
	pid_t pid;
	int st;

	dm(f, "alice", "bob", "t1");
	journal_close(f->j);	/* flushed: t1 is indexed */
	f->j = NULL;
	if ((pid = fork()) == 0) {
		struct journal *j = journal_open(f->path);
		struct jin in = { .source = "bob!u@h", .target = "alice", .cmd = JOURNAL_PRIVMSG };
		struct jout out;
		if (j == NULL)
			_exit(2);
		journal_set_index_every(j, 1000000);
		in.text = "t2";
		if (journal_append(j, &in, 1, &out) != 0)
			_exit(3);
		in.source = "alice!u@h";
		in.target = "bob";
		in.text = "t3";
		_exit(journal_append(j, &in, 1, &out) != 0 ? 4 : 0);	/* no close: no flush */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	reopen(f);
	assert_int_equal(journal_unindexed(f->j), 2);
	assert_int_equal(dm_count(f->j, "bob", "alice", &x), 3);
	assert_string_equal(x.text[2], "t3");
	dm(f, "bob", "alice", "t4");
	assert_int_equal(journal_flush_index(f->j, 0), 0);
	assert_int_equal(dm_count(f->j, "alice", "bob", &x), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(x.text[i][1], '1' + i);
}

static void
sql(const char *path, const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* A version 1 journal (no conversations; direct messages two of which share a time; a tail
 * not yet indexed) opens, is migrated, and answers conversation queries. */
static void
test_dm_migrate_v1(void **state)
{
	struct fx *f = *state;
	struct jref r1 = { .type = JREF_TS, .ts_ms = T0 + 10 }, r2 = { .type = JREF_MSGID };
	struct texts x;

	f->now = T0 + 10;
	dm(f, "alice", "bob", "m1");			/* id 1 */
	f->now = T0 + 20;
	dm(f, "bob", "alice", "m2");			/* id 2, its time set to m1's below */
	dm(f, "carol", "alice", "c3");			/* id 3 */
	post(f, "#c", "chan", NULL);			/* id 4 */
	f->now = T0 + 30;
	strcpy(r2.msgid, dm(f, "Alice", "BOB", "m4").msgid);	/* id 5 */
	dm(f, "bob", "carol", "b6");			/* id 6 */
	journal_close(f->j);
	f->j = NULL;
	/* a version 1 file: its indexes (no conversation in them) in the journal file; the
	 * index file left beside it is stale (migrated files rebuild it) */
	sql(f->path, "CREATE TABLE chan_index(target TEXT NOT NULL, chan_seq INTEGER NOT NULL,"
	    " id INTEGER NOT NULL, PRIMARY KEY(target, chan_seq)) WITHOUT ROWID;"
	    "INSERT INTO chan_index SELECT target, chan_seq, id FROM messages WHERE id <= 4;"
	    "CREATE TABLE dedupe(key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;"
	    "INSERT INTO meta VALUES ('indexed_upto', 4);"
	    "UPDATE messages SET ts_ms = 1000000000010 WHERE id = 2;"
	    "ALTER TABLE messages DROP COLUMN conv; ALTER TABLE messages DROP COLUMN conv_seq;"
	    "PRAGMA user_version = 1");
	for (int round = 0; round < 2; round++) {	/* migrated, then opened as version 2 */
		reopen(f);
		assert_int_equal(dm_count(f->j, "bob", "alice", &x), 3 + round);
		assert_string_equal(x.text[0], "m1");
		assert_string_equal(x.text[1], "m2");
		assert_string_equal(x.text[2], "m4");
		assert_int_equal(dm_count(f->j, "alice", "carol", &x), 1);
		assert_int_equal(dm_count(f->j, "carol", "bob", &x), 1);
		/* both messages at T0 + 10 are excluded by a timestamp ref at that time */
		memset(&x, 0, sizeof x);
		assert_int_equal(journal_history_dm(f->j, "alice", "bob", JOURNAL_AFTER, &r1, NULL,
		    10, collect_text, &x), 1 + round);
		assert_string_equal(x.text[0], "m4");
		assert_int_equal(journal_history_dm(f->j, "alice", "bob", JOURNAL_BEFORE, &r1, NULL,
		    10, collect_text, &x), 0);
		memset(&x, 0, sizeof x);
		assert_int_equal(journal_history_dm(f->j, "alice", "bob", JOURNAL_BEFORE, &r2, NULL,
		    10, collect_text, &x), 2);
		if (round == 0) {
			f->now = T0 + 40;
			dm(f, "alice", "bob", "m7");
			assert_int_equal(dm_count(f->j, "bob", "alice", &x), 4);
			assert_string_equal(x.text[3], "m7");
		}
	}
}

/* --- the index file ----------------------------------------------------------------------- */

static void
index_unlink(const char *path)
{
	static const char *const sfx[] = { ".index", ".index-wal", ".index-shm" };
	char p[160];

	for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		assert_true(unlink(p) == 0 || errno == ENOENT);
	}
}

static void
copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static int64_t
sql_int(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* 30 messages with keys k0..k29 (#x 20, #y 10) and one direct message, indexed on disk up to
 * id 20 (the rest in the memory tail); the journal is closed. */
static void
index_fill(struct fx *f, struct jout *first)
{
	char key[16];

	journal_set_index_every(f->j, 1000000);
	for (int i = 0; i < 30; i++) {
		snprintf(key, sizeof key, "k%d", i);
		first[i] = post(f, i % 3 ? "#x" : "#y", "m", key);
	}
	dm(f, "alice", "bob", "d1");
	assert_int_equal(journal_flush_index(f->j, 20), 0);
	assert_int_equal(journal_unindexed(f->j), 11);
}

/* What index_fill wrote answers, from the indexes on disk: histories, counters, the
 * conversation, and every retry is found (the original's id, dup). */
static void
index_check(struct fx *f, const struct jout *first)
{
	struct jref star = { .type = JREF_NONE };
	struct got g = { 0 };
	struct texts x;
	char key[16];

	assert_int_equal(journal_unindexed(f->j), 0);
	assert_int_equal(journal_last_id(f->j), 31);
	assert_int_equal(journal_last_seq(f->j, "#x"), 20);
	assert_int_equal(journal_last_seq(f->j, "#y"), 10);
	assert_int_equal(journal_history(f->j, "#x", JOURNAL_LATEST, &star, NULL, 64, collect,
	    &g), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(g.seq[i], i + 1);
	assert_int_equal(dm_count(f->j, "bob", "alice", &x), 1);
	assert_string_equal(x.text[0], "d1");
	for (int i = 0; i < 30; i++) {
		struct jout again;

		snprintf(key, sizeof key, "k%d", i);
		again = post(f, i % 3 ? "#x" : "#y", "m", key);
		assert_true(again.dup);
		assert_int_equal(again.id, first[i].id);
		assert_int_equal(again.chan_seq, first[i].chan_seq);
	}
	assert_int_equal(journal_last_id(f->j), 31);
}

/* The index file is derived data: missing, not a database, another journal's, or ahead of
 * the journal (a journal restored from an older copy), it is rebuilt at open, and everything
 * answers as before. */
static void
test_index_file_rebuilt(void **state)
{
	struct fx *f = *state;
	struct jout first[30];
	char idx[160], side[128], sfile[160];

	snprintf(idx, sizeof idx, "%s.index", f->path);
	snprintf(side, sizeof side, "%s/other.db", f->dir);
	snprintf(sfile, sizeof sfile, "%s.index", side);
	index_fill(f, first);
	journal_close(f->j);
	f->j = NULL;
	for (int round = 0; round < 5; round++) {
		FILE *fp;

		switch (round) {
		case 0:		/* clean reopen: kept */
			break;
		case 1:		/* missing */
			index_unlink(f->path);
			break;
		case 2:		/* not a database */
			index_unlink(f->path);
			assert_non_null(fp = fopen(idx, "wb"));
			for (int i = 0; i < 512; i++)
				fputs("not an index ", fp);
			fclose(fp);
			break;
		case 3: {	/* another journal's: 10 messages, all indexed */
			struct journal *o = journal_open(side);

			assert_non_null(o);
			for (int i = 0; i < 10; i++) {
				struct jin in = msg("#x", "theirs", NULL);
				struct jout out;

				assert_int_equal(journal_append(o, &in, 1, &out), 0);
			}
			assert_int_equal(journal_close(o), 0);
			index_unlink(f->path);
			copy_file(sfile, idx);
			break;
		}
		case 4: {	/* ahead: the journal restored from a copy 5 messages older */
			char backup[128];

			snprintf(backup, sizeof backup, "%s/backup.db", f->dir);
			copy_file(f->path, backup);
			reopen(f);
			for (int i = 0; i < 5; i++)
				post(f, "#x", "lost", NULL);
			assert_int_equal(journal_flush_index(f->j, 0), 0);
			journal_close(f->j);
			f->j = NULL;
			copy_file(backup, f->path);
			break;
		}
		}
		reopen(f);
		index_check(f, first);
		journal_close(f->j);
		f->j = NULL;
		assert_int_equal(sql_int(idx, "SELECT value FROM imeta WHERE key = 'indexed_upto'"),
		    31);
	}
	reopen(f);
	assert_int_equal(post(f, "#x", "next", NULL).chan_seq, 21);
}

/* A rebuild that fails (here: two messages with one dedupe key, so the dedupe index refuses
 * the second) fails the open and leaves an index file that names no journal: once the cause
 * is gone, the next open rebuilds it, rather than taking its empty index for a valid one and
 * indexing the whole journal in memory. */
static void
test_index_rebuild_cut_short(void **state)
{
	struct fx *f = *state;
	struct jout first[30];
	char idx[160];

	snprintf(idx, sizeof idx, "%s.index", f->path);
	index_fill(f, first);
	journal_close(f->j);
	f->j = NULL;
	index_unlink(f->path);
	sql(f->path, "UPDATE messages SET dedupe = 'k0' WHERE id = 2");
	assert_null(journal_open(f->path));
	assert_int_equal(sql_int(idx, "SELECT count(*) FROM imeta WHERE key = 'journal'"), 0);
	sql(f->path, "UPDATE messages SET dedupe = 'k1' WHERE id = 2");
	reopen(f);
	index_check(f, first);
}

/* A version 2 journal (its indexes inside it, no index file) is migrated at open: the indexes
 * leave it for the index file, rebuilt from `messages`, and answer as before. */
static void
test_migrate_v2(void **state)
{
	struct fx *f = *state;
	struct jout first[30];

	index_fill(f, first);
	journal_close(f->j);
	f->j = NULL;
	index_unlink(f->path);
	sql(f->path, "CREATE TABLE chan_index(target TEXT NOT NULL, chan_seq INTEGER NOT NULL,"
	    " id INTEGER NOT NULL, PRIMARY KEY(target, chan_seq)) WITHOUT ROWID;"
	    "INSERT INTO chan_index SELECT target, chan_seq, id FROM messages WHERE id <= 20"
	    " UNION ALL SELECT conv, conv_seq, id FROM messages WHERE conv IS NOT NULL"
	    " AND id <= 20;"
	    "CREATE TABLE dedupe(key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;"
	    "INSERT INTO dedupe SELECT dedupe, id FROM messages WHERE id <= 20"
	    " AND dedupe IS NOT NULL;"
	    "INSERT INTO meta VALUES ('indexed_upto', 20); PRAGMA user_version = 2");
	for (int round = 0; round < 2; round++) {	/* migrated, then opened as version 3 */
		reopen(f);
		index_check(f, first);
		journal_close(f->j);
		f->j = NULL;
		assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 3);
		assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE"
		    " name IN ('chan_index', 'dedupe') OR sql LIKE '%indexed_upto%'"), 0);
		assert_int_equal(sql_int(f->path, "SELECT count(*) FROM meta WHERE"
		    " key = 'indexed_upto'"), 0);
	}
	reopen(f);
	assert_int_equal(post(f, "#y", "next", "k99").chan_seq, 11);
}

static int
stop_after_two(void *arg, const struct jmsg *m)
{
	return ++*(int *)arg == 2;
}

static void
test_since_and_scan(void **state)
{
	struct hist h;
	struct got g = { 0 };
	int n = 0;

	fill_history(&h, *state, 0);
	assert_int_equal(journal_last_seq(h.f->j, "#c"), 10);
	assert_int_equal(journal_since(h.f->j, "#c", 7, 100, collect, &g), 3);
	assert_int_equal(g.seq[0], 8);
	assert_int_equal(g.seq[2], 10);
	assert_int_equal(journal_since(h.f->j, "#c", 10, 100, collect, &g), 0);
	assert_int_equal(journal_since(h.f->j, "#c", 2, 2, collect, &g), 2);
	assert_int_equal(g.seq[4], 4);
	assert_int_equal(journal_since(h.f->j, "#c", 0, 100, stop_after_two, &n), 2);
	g.n = 0;
	assert_int_equal(journal_scan(h.f->j, 15, -1, collect, &g), 5);
	assert_int_equal(journal_scan(h.f->j, 0, 3, collect, &g), 3);
	assert_int_equal(g.n, 8);
}

/* Partial index flushes: every query and retry is right at each step. */
static void
test_partial_flush(void **state)
{
	struct fx *f = *state;
	struct jin in[60];
	struct jout out[60], again[60];
	char keys[60][16];
	struct jref star = { .type = JREF_NONE };

	journal_set_index_every(f->j, 1000000);
	for (int i = 0; i < 60; i++) {
		snprintf(keys[i], sizeof keys[i], "s%d:%d", i % 4, i);
		in[i] = msg(i % 3 ? "#x" : "#y", "m", keys[i]);
	}
	assert_int_equal(journal_append(f->j, in, 60, out), 0);
	assert_int_equal(journal_unindexed(f->j), 60);
	for (int step = 0; journal_unindexed(f->j) > 0; step++) {
		struct got g = { 0 };
		int64_t before = journal_unindexed(f->j);
		assert_int_equal(journal_flush_index(f->j, 7), 0);
		assert_int_equal(journal_unindexed(f->j), before > 7 ? before - 7 : 0);
		assert_int_equal(journal_history(f->j, "#x", JOURNAL_LATEST, &star, NULL, 100,
		    collect, &g), 40);
		for (int i = 0; i < 40; i++)
			assert_int_equal(g.seq[i], i + 1);
		assert_int_equal(journal_append(f->j, in, 60, again), 0);
		for (int i = 0; i < 60; i++) {
			assert_true(again[i].dup);
			assert_int_equal(again[i].id, out[i].id);
			assert_int_equal(again[i].chan_seq, out[i].chan_seq);
		}
		if (step == 3)
			reopen(f);	/* a clean restart in the middle flushes the rest */
		journal_set_index_every(f->j, 1000000);
	}
	assert_int_equal(journal_last_id(f->j), 60);
	assert_int_equal(journal_last_seq(f->j, "#y"), 20);
	assert_int_equal(post(f, "#y", "new", "s9:9").chan_seq, 21);
}

/* A busy index step grows with the streams (targets, conversations) in the tail:
 * JOURNAL_STEP_PER_STREAM rows each, between JOURNAL_INDEX_STEP and JOURNAL_INDEX_BUSY. */
static void
test_index_step(void **state)
{
	struct fx *f = *state;
	struct jin in[600];
	struct jout out[600];
	char tg[600][16];

	journal_set_index_every(f->j, 1000000);
	assert_int_equal(journal_index_step(f->j), JOURNAL_INDEX_STEP);
	for (int i = 0; i < 600; i++) {
		snprintf(tg[i], sizeof tg[i], "#s%d", i);
		in[i] = msg(tg[i], "m", NULL);
	}
	assert_int_equal(journal_append(f->j, in, 100, out), 0);	/* 100 streams */
	assert_int_equal(journal_index_step(f->j), 100 * JOURNAL_STEP_PER_STREAM);
	assert_int_equal(journal_append(f->j, in, 100, out), 0);	/* the same 100 */
	assert_int_equal(journal_index_step(f->j), 100 * JOURNAL_STEP_PER_STREAM);
	dm(f, "alice", "bob", "d");					/* bob and DM:alice,bob */
	assert_int_equal(journal_index_step(f->j), 102 * JOURNAL_STEP_PER_STREAM);
	assert_int_equal(journal_append(f->j, in, 600, out), 0);
	assert_int_equal(journal_index_step(f->j), JOURNAL_INDEX_BUSY);
	assert_int_equal(journal_flush_index(f->j, 0), 0);
	assert_int_equal(journal_index_step(f->j), JOURNAL_INDEX_STEP);
	post(f, "#s1", "again", NULL);
	assert_int_equal(journal_index_step(f->j), JOURNAL_INDEX_STEP);
}

/* Checkpoints: none inside a commit below wal_max; journal_checkpoint copies the WAL when it
 * holds min_pages; past wal_max a commit checkpoints by itself; the file stays whole. */
static void
test_checkpoint(void **state)
{
	struct fx *f = *state;
	struct jin in[50];
	struct jout out[50];
	char keys[50][32];
	struct jref star = { .type = JREF_NONE };
	struct got g = { 0 };
	int pages, before;

	journal_set_index_every(f->j, 1000000);	/* only the index flushes below */
	for (int k = 0; k < 2; k++)	/* the journal's WAL, then the index file's */
		assert_int_not_equal(journal_checkpoint(f->j, 1), -1);
	assert_int_equal(journal_wal_pages(f->j), 0);
	assert_int_equal(journal_index_wal_pages(f->j), 0);
	assert_int_equal(journal_checkpoint(f->j, 1), 0);	/* nothing to copy */
	for (int k = 0; k < 40; k++) {
		for (int i = 0; i < 50; i++) {
			snprintf(keys[i], sizeof keys[i], "c%d:%d", k, i);
			in[i] = msg(i % 2 ? "#a" : "#b", "a text long enough to fill pages", keys[i]);
		}
		before = journal_wal_pages(f->j);
		assert_int_equal(journal_append(f->j, in, 50, out), 0);
		assert_true(journal_wal_pages(f->j) > before);	/* grows: no checkpoint */
	}
	pages = journal_wal_pages(f->j);
	assert_int_equal(journal_checkpoint(f->j, pages + 1), 0);	/* below min_pages */
	assert_int_equal(journal_wal_pages(f->j), pages);
	assert_int_equal(journal_checkpoint(f->j, pages), 1);
	assert_int_equal(journal_wal_pages(f->j), 0);
	journal_set_wal_max(f->j, 4);
	for (int k = 40; k < 50; k++) {
		for (int i = 0; i < 50; i++) {
			snprintf(keys[i], sizeof keys[i], "c%d:%d", k, i);
			in[i] = msg("#a", "a text long enough to fill pages", keys[i]);
		}
		assert_int_equal(journal_append(f->j, in, 50, out), 0);
		assert_true(journal_wal_pages(f->j) < 4);	/* checkpointed at commit */
	}
	/* an index flush writes the index file's WAL, never the journal's; a checkpoint takes
	 * the journal's WAL first */
	journal_set_wal_max(f->j, 16384);
	assert_int_equal(post(f, "#b", "one more", "c50:0").chan_seq, 1001);
	pages = journal_wal_pages(f->j);
	before = journal_index_wal_pages(f->j);
	assert_true(pages > 0);
	assert_true(journal_unindexed(f->j) > 0);
	assert_int_equal(journal_flush_index(f->j, 0), 0);
	assert_int_equal(journal_wal_pages(f->j), pages);
	assert_true(journal_index_wal_pages(f->j) > before);
	assert_int_equal(journal_checkpoint(f->j, 1), 1);
	assert_int_equal(journal_wal_pages(f->j), 0);
	assert_true(journal_index_wal_pages(f->j) > 0);
	assert_int_equal(journal_checkpoint(f->j, 1), 2);
	assert_int_equal(journal_index_wal_pages(f->j), 0);
	reopen(f);
	assert_int_equal(journal_last_id(f->j), 2501);
	assert_int_equal(journal_history(f->j, "#b", JOURNAL_LATEST, &star, NULL, 50, collect,
	    &g), 50);
	assert_int_equal(g.seq[49], 1001);
	assert_int_equal(journal_last_seq(f->j, "#a"), 1500);
}

/* The dedupe filter: retries are found whether it is complete or being rebuilt after a
 * reopen, and after it grew past its first size (65,536 keys). */
static void
test_dedupe_filter(void **state)
{
	struct fx *f = *state;
	static struct jin in[1000];
	static struct jout out[1000], again[1000];
	static char keys[1000][32];
	int steps = 0;

	for (int k = 0; k < 70; k++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(keys[i], sizeof keys[i], "f%d:%d", k, i);
			in[i] = msg(i % 2 ? "#a" : "#b", "m", keys[i]);
		}
		assert_int_equal(journal_append(f->j, in, 1000, out), 0);
		assert_int_equal(journal_flush_index(f->j, 0), 0);
	}
	while (journal_filter_step(f->j, 5000) == 1)	/* grown: rebuilt in steps */
		steps++;
	assert_true(steps > 0);
	for (int k = 0; k < 70; k += 23) {
		for (int i = 0; i < 1000; i++) {
			snprintf(keys[i], sizeof keys[i], "f%d:%d", k, i);
			in[i] = msg(i % 2 ? "#a" : "#b", "m", keys[i]);
		}
		assert_int_equal(journal_append(f->j, in, 1000, again), 0);
		for (int i = 0; i < 1000; i++) {
			assert_true(again[i].dup);
			assert_int_equal(again[i].id, (int64_t)k * 1000 + i + 1);
		}
		if (k == 23) {
			reopen(f);	/* incomplete until rebuilt: SQL answers meanwhile */
			assert_int_equal(journal_append(f->j, in, 1000, again), 0);
			assert_true(again[999].dup);
			while (journal_filter_step(f->j, 7000) == 1)
				;
		}
	}
	assert_int_equal(journal_last_id(f->j), 70000);
	assert_int_equal(post(f, "#a", "new", "f0:new").id, 70001);
}

/* Append batch k of 1000 keyed messages ("<pfx>k:i") into out. */
static void
append_keyed(struct fx *f, const char *pfx, int k, struct jout *out)
{
	static struct jin in[1000];
	static char keys[1000][32];

	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof keys[i], "%s%d:%d", pfx, k, i);
		in[i] = msg(i % 2 ? "#a" : "#b", "m", keys[i]);
	}
	assert_int_equal(journal_append(f->j, in, 1000, out), 0);
}

/* When the filter grows, the one it replaces answers (and takes the flushed keys) until the
 * new one is rebuilt: new keys are not probed in SQL meanwhile, retries are still found. */
static void
test_dedupe_filter_growth(void **state)
{
	struct fx *f = *state;
	static struct jout out[1000];
	int64_t p;

	for (int k = 0; k < 70; k++) {	/* grows past 65,536 keys, at the flush of k = 65 */
		append_keyed(f, "g", k, out);
		assert_int_equal(journal_flush_index(f->j, 0), 0);
	}
	p = journal_dedupe_probes(f->j);
	append_keyed(f, "new", 0, out);		/* the old filter answers: few false hits */
	assert_true(journal_dedupe_probes(f->j) - p < 100);
	assert_int_equal(out[999].id, 70000 + 1000);
	assert_int_equal(journal_flush_index(f->j, 0), 0);
	for (int k = 0; k < 71; k += 10) {	/* before and after the growth, and "new" */
		append_keyed(f, k == 70 ? "new" : "g", k == 70 ? 0 : k, out);
		for (int i = 0; i < 1000; i++)
			assert_true(out[i].dup);
		assert_int_equal(out[0].id, k == 70 ? 70001 : (int64_t)k * 1000 + 1);
	}
	while (journal_filter_step(f->j, 9000) == 1)
		;
	p = journal_dedupe_probes(f->j);
	append_keyed(f, "new", 1, out);		/* the new filter answers */
	assert_true(journal_dedupe_probes(f->j) - p < 100);
	reopen(f);				/* no filter until rebuilt: SQL answers */
	p = journal_dedupe_probes(f->j);
	append_keyed(f, "new", 2, out);
	assert_int_equal(journal_dedupe_probes(f->j) - p, 1000);
	append_keyed(f, "g", 69, out);
	assert_true(out[0].dup && out[999].dup);
	assert_int_equal(journal_last_id(f->j), 73000);
}

/* --- accounts and sessions ---------------------------------------------------------------- */

static void
test_accounts(void **state)
{
	struct fx *f = *state;

	assert_int_equal(journal_account_create(f->j, "Alice", "s3cret pw"), 0);
	assert_int_equal(journal_account_create(f->j, "alice", "other"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(journal_account_create(f->j, "", "x"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(journal_account_verify(f->j, "alice", "s3cret pw"), 1);
	assert_int_equal(journal_account_verify(f->j, "ALICE", "s3cret pw"), 1);
	assert_int_equal(journal_account_verify(f->j, "alice", "s3cret pW"), 0);
	assert_int_equal(journal_account_verify(f->j, "alice", ""), 0);
	assert_int_equal(journal_account_verify(f->j, "bob", "s3cret pw"), 0);
	assert_int_equal(journal_account_verify(f->j, "", "x"), 0);
	reopen(f);
	assert_int_equal(journal_account_verify(f->j, "alice", "s3cret pw"), 1);
}

/* The plaintext password is nowhere in the file. */
static void
test_accounts_no_plaintext(void **state)
{
	struct fx *f = *state;
	char buf[65536], wal[128];
	const char *pw = "Plaintext-Canary-42";
	FILE *fp;
	size_t n;

	assert_int_equal(journal_account_create(f->j, "carol", pw), 0);
	snprintf(wal, sizeof wal, "%s-wal", f->path);
	for (int k = 0; k < 2; k++) {
		if ((fp = fopen(k ? wal : f->path, "rb")) == NULL)
			continue;
		while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
			assert_null(memmem(buf, n, pw, strlen(pw)));
		fclose(fp);
	}
}

struct sess {
	int64_t snap_seq;
	char snap[32];
	int nev;
	int64_t ev_seq[16];
	int ev_kind[16];
	char ev[16][16];
};

static int
on_snap(void *arg, int64_t seq, const void *data, size_t len)
{
	struct sess *s = arg;

	s->snap_seq = seq;
	memcpy(s->snap, data, len);
	s->snap[len] = '\0';
	return 0;
}

static int
on_event(void *arg, int64_t seq, int kind, const void *data, size_t len)
{
	struct sess *s = arg;

	s->ev_seq[s->nev] = seq;
	s->ev_kind[s->nev] = kind;
	if (len)
		memcpy(s->ev[s->nev], data, len);
	s->ev[s->nev++][len] = '\0';
	return 0;
}

static void
test_sessions(void **state)
{
	struct fx *f = *state;
	struct sess s = { 0 };

	assert_int_equal(journal_session_load(f->j, "bob", on_snap, on_event, &s), 0);
	assert_int_equal(journal_session_append(f->j, "bob", 1, 1, "join #a", 7), 0);
	assert_int_equal(journal_session_append(f->j, "bob", 2, 1, "join #b", 7), 0);
	assert_int_equal(journal_session_append(f->j, "bob", 2, 1, "join #b", 7), 1); /* retry */
	assert_int_equal(journal_session_append(f->j, "bob", 2, 2, "part #b", 7), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(journal_session_append(f->j, "bob", 4, 1, "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(journal_session_append(f->j, "bob", 3, 3, NULL, 0), 0);
	assert_int_equal(journal_session_append(f->j, "bob", 3, 3, NULL, 0), 1);
	assert_int_equal(journal_session_append(f->j, "carol", 1, 1, "c", 1), 0);
	assert_int_equal(journal_session_load(f->j, "BOB", on_snap, on_event, &s), 3);
	assert_int_equal(s.nev, 3);
	assert_string_equal(s.ev[1], "join #b");
	assert_int_equal(s.ev_kind[2], 3);
	assert_string_equal(s.ev[2], "");
	/* snapshot at 2, one event after it */
	assert_int_equal(journal_session_snapshot(f->j, "bob", 2, "{#a,#b}", 7), 0);
	assert_int_equal(journal_session_snapshot(f->j, "bob", 1, "{#a}", 4), 0); /* older: kept */
	assert_int_equal(journal_session_append(f->j, "bob", 4, 1, "join #d", 7), 0);
	reopen(f);
	memset(&s, 0, sizeof s);
	assert_int_equal(journal_session_load(f->j, "bob", on_snap, on_event, &s), 4);
	assert_int_equal(s.snap_seq, 2);
	assert_string_equal(s.snap, "{#a,#b}");
	assert_int_equal(s.nev, 2);
	assert_int_equal(s.ev_seq[0], 3);
	assert_int_equal(s.ev_seq[1], 4);
	assert_string_equal(s.ev[1], "join #d");
	/* repair reads past snapshots: events after 1, at most 2 */
	memset(&s, 0, sizeof s);
	assert_int_equal(journal_session_since(f->j, "Bob", 1, 2, on_event, &s), 0);
	assert_int_equal(s.nev, 2);
	assert_int_equal(s.ev_seq[0], 2);
	assert_int_equal(s.ev_seq[1], 3);
	memset(&s, 0, sizeof s);
	assert_int_equal(journal_session_since(f->j, "bob", 4, 10, on_event, &s), 0);
	assert_int_equal(s.nev, 0);
	assert_int_equal(journal_session_since(f->j, "bob", -1, 10, on_event, &s), -1);
}

/* A batch of session writes is one transaction: seen at once through the handle, nothing of
 * it left by a close before its commit (a crash), all of it after the commit. */
static void
test_session_batch(void **state)
{
	struct fx *f = *state;
	struct sess s = { 0 };

	for (int round = 0; round < 2; round++) {
		assert_int_equal(journal_batch_begin(f->j), 0);
		assert_int_equal(journal_batch_begin(f->j), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(journal_session_append(f->j, "bob", 1, 1, "join #a", 7), 0);
		assert_int_equal(journal_session_append(f->j, "ann", 1, 1, "join #b", 7), 0);
		assert_int_equal(journal_session_append(f->j, "bob", 2, 1, "join #c", 7), 0);
		assert_int_equal(journal_session_snapshot(f->j, "ann", 1, "{#b}", 4), 0);
		memset(&s, 0, sizeof s);
		assert_int_equal(journal_session_load(f->j, "bob", on_snap, on_event, &s), 2);
		if (round == 1)
			assert_int_equal(journal_batch_commit(f->j), 0);
		reopen(f);
		memset(&s, 0, sizeof s);
		assert_int_equal(journal_session_load(f->j, "bob", on_snap, on_event, &s),
		    round == 0 ? 0 : 2);
		assert_int_equal(s.nev, round == 0 ? 0 : 2);
		memset(&s, 0, sizeof s);
		assert_int_equal(journal_session_load(f->j, "ann", on_snap, on_event, &s),
		    round == 0 ? 0 : 1);
		assert_int_equal(s.snap_seq, round == 0 ? 0 : 1);
	}
}

/* One writer: while the journal is open, another process cannot open it. */
static void
test_second_open_busy(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int st;

	struct stat before, after;
	char idx[160];

	snprintf(idx, sizeof idx, "%s.index", f->path);
	post(f, "#a", "x", NULL);
	assert_int_equal(stat(idx, &before), 0);
	if ((pid = fork()) == 0) {
		struct journal *j = journal_open(f->path);
		_exit(j == NULL && errno == EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the second opener left the index file alone */
	assert_int_equal(stat(idx, &after), 0);
	assert_true(after.st_ino == before.st_ino);
	assert_int_equal(post(f, "#a", "y", NULL).chan_seq, 2);
}

/* --- crash safety ------------------------------------------------------------------------- */

/* A batch is a pure function of its number, so a restarted child re-sends it verbatim. */
#define CRASH_TARGETS 5
struct crash_rec {
	int64_t batch, first_id;
	int32_t n, dups;
};

static int
batch_size(int64_t b)
{
	return 1 + (int)((b * 2654435761u) % 40);
}

static void
crash_child(const char *path, int wfd, int64_t first)
{
	struct jin in[40];
	struct jout out[40];
	char text[40][48], key[40][48], tg[CRASH_TARGETS][16];
	struct journal *j = journal_open(path);

	if (j == NULL)
		_exit(2);
	journal_set_index_every(j, 97);	/* index flushes get killed too */
	for (int t = 0; t < CRASH_TARGETS; t++)
		snprintf(tg[t], sizeof tg[t], "#t%d", t);
	for (int64_t b = first;; b++) {
		struct crash_rec r = { .batch = b, .n = batch_size(b) };
		for (int i = 0; i < r.n; i++) {
			snprintf(text[i], sizeof text[i], "b=%lld i=%d n=%d", (long long)b, i, r.n);
			snprintf(key[i], sizeof key[i], "crash:%lld:%d", (long long)b, i);
			in[i] = msg(tg[(b + i) % CRASH_TARGETS], text[i], key[i]);
		}
		if (journal_append(j, in, (size_t)r.n, out) != 0)
			_exit(3);
		if (b % 3 == 0 && journal_flush_index(j, 50) != 0)	/* as an idle worker does */
			_exit(5);
		r.first_id = out[0].id;
		for (int i = 0; i < r.n; i++)
			r.dups += out[i].dup;
		if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
			_exit(4);
	}
}

struct crash_check {
	int64_t prev_id;
	int64_t seq[CRASH_TARGETS];
	int *count;		/* messages seen per batch */
	int64_t maxb;
};

static int
crash_scan(void *arg, const struct jmsg *m)
{
	struct crash_check *c = arg;
	long long b;
	int i, n, t;

	assert_int_equal(m->id, c->prev_id + 1);
	c->prev_id = m->id;
	assert_int_equal(sscanf(m->text, "b=%lld i=%d n=%d", &b, &i, &n), 3);
	assert_true(b >= 0 && b < 100000);
	assert_int_equal(n, batch_size(b));
	t = m->target[2] - '0';
	assert_int_equal(t, (int)((b + i) % CRASH_TARGETS));
	assert_int_equal(m->chan_seq, ++c->seq[t]);
	c->count[b]++;
	if (b > c->maxb)
		c->maxb = b;
	return 0;
}

static void
test_crash_kill9(void **state)
{
	struct fx *f = *state;
	struct crash_check c = { .maxb = -1 };
	int64_t next = 0, reported = -1;
	unsigned seed = (unsigned)time(NULL);
	int rounds = getenv("JOURNAL_CRASH_ROUNDS") ? atoi(getenv("JOURNAL_CRASH_ROUNDS")) : 12;
	/* longest run before the kill; raise it under valgrind, where opening alone takes long */
	int ms = getenv("JOURNAL_CRASH_MS") ? atoi(getenv("JOURNAL_CRASH_MS")) : 45;

	journal_close(f->j);
	f->j = NULL;
	srand(seed);
	for (int round = 0; round < rounds; round++) {
		struct crash_rec r;
		int fd[2], st;
		pid_t pid;

		assert_int_equal(pipe(fd), 0);
		if ((pid = fork()) == 0) {
			close(fd[0]);
			crash_child(f->path, fd[1], next);
		}
		assert_true(pid > 0);
		close(fd[1]);
		usleep(5000 + (useconds_t)(rand() % (ms > 5 ? ms * 1000 - 5000 : 1)));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st))
			fail_msg("child exited with status %d (seed %u)", WEXITSTATUS(st), seed);
		while (read(fd[0], &r, sizeof r) == (ssize_t)sizeof r) {
			assert_int_equal(r.batch, reported + 1);
			/* a batch re-sent after a crash is all old or all new */
			assert_true(r.dups == 0 || r.dups == r.n);
			reported = r.batch;
		}
		close(fd[0]);
		next = reported + 1;
	}
	c.count = calloc(100000, sizeof *c.count);
	assert_non_null(c.count);
	reopen(f);
	assert_true(journal_scan(f->j, 0, -1, crash_scan, &c) >= 0);
	/* every acknowledged batch exactly once and whole; at most one more, whole too */
	assert_true(c.maxb == reported || c.maxb == reported + 1);
	for (int64_t b = 0; b <= c.maxb; b++)
		if (c.count[b] != batch_size(b))
			fail_msg("batch %lld: %d of %d messages (seed %u)", (long long)b, c.count[b],
			    batch_size(b), seed);
	assert_int_equal(journal_last_id(f->j), c.prev_id);
	print_message("crash test: %d kills, %lld batches acknowledged, %lld messages\n", rounds,
	    (long long)reported + 1, (long long)c.prev_id);
	free(c.count);
}

int
main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	static const struct CMUnitTest tests[] = {
		T_(test_group_commit),
		T_(test_fields_roundtrip),
		T_(test_dedupe),
		T_(test_invalid_batch_writes_nothing),
		T_(test_timestamps),
		T_(test_reopen_resumes),
		T_(test_msgid_format),
		T_(test_ref_parse_and_format),
		T_(test_history_latest),
		T_(test_history_before_after),
		T_(test_history_between),
		T_(test_history_around),
		T_(test_history_errors_and_empty),
		T_(test_dm_history_cases),
		T_(test_dm_history_membership),
		T_(test_dm_distinct_times),
		T_(test_dm_tail_rebuilt),
		T_(test_dm_migrate_v1),
		T_(test_index_file_rebuilt),
		T_(test_index_rebuild_cut_short),
		T_(test_migrate_v2),
		T_(test_since_and_scan),
		T_(test_partial_flush),
		T_(test_index_step),
		T_(test_checkpoint),
		T_(test_dedupe_filter),
		T_(test_dedupe_filter_growth),
		T_(test_accounts),
		T_(test_accounts_no_plaintext),
		T_(test_sessions),
		T_(test_session_batch),
		T_(test_second_open_busy),
		T_(test_crash_kill9),
	};
	int failed;

	index_every = 65536;
	failed = cmocka_run_group_tests_name("journal, memory tail", tests, NULL, NULL);
	index_every = 3;
	failed += cmocka_run_group_tests_name("journal, indexes flushed every 3", tests, NULL,
	    NULL);
	return failed;
}
