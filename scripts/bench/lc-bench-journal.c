/* lc-bench-journal: durable appends per second through journal_append (chatd/journal.c) with
 * group sizes 1, 64 and 1024, beside (a) a raw append + fdatasync loop on a file, (b) plain
 * SQLite inserts of the same rows into the same table with the journal's settings (one
 * prepared INSERT per row, one transaction per group, WAL, synchronous=FULL) and (c) the
 * naive journal: the same inserts with the journal's two UNIQUE indexes kept at every commit,
 * all in the same run, the variants interleaved run by run; then the replay of a journal of
 * --replay messages as a restarted storage worker does it. Prints a table; no assertion.
 *
 * Usage: lc-bench-journal DIR [--runs N] [--replay N] [--targets N] [--group N]
 *   DIR        an empty scratch directory (files are created and removed there)
 *   --runs     runs per figure, the median is shown (default 3)
 *   --replay   messages in the replay journal (default 1000000; 0: skip)
 *   --targets  channels the messages are spread over (default 64)
 *   --group    only this group size (default: 1, 64 and 1024) */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../chatd/journal.h"

#define MAXG 1024
#define TEXT "the quick brown fox jumps over the lazy dog, again and again: 0123456789"
#define SOURCE "somebody!someuser@host.example.net"

static const char *dir;
static int ntargets = 64;
static char targets[1024][24];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "lc-bench-journal: fatal: %s: %s\n", what, strerror(errno));
	exit(111);
}

/* A journal's files besides its own path: SQLite's, then its index file's (journal.h). */
static const char *const siblings[] = {
	"-wal", "-shm", ".index", ".index-wal", ".index-shm"
};
#define INDEX_SIBLINGS 2	/* siblings[INDEX_SIBLINGS..] are the index file's */

/* Delete path's siblings[from..]. */
static void
unlink_siblings(const char *path, size_t from)
{
	char p[600];

	for (size_t i = from; i < sizeof siblings / sizeof *siblings; i++) {
		snprintf(p, sizeof p, "%s%s", path, siblings[i]);
		unlink(p);
	}
}

static void
scratch(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	unlink(buf);
	unlink_siblings(buf, 0);
}

/* Transactions per run: enough rows to be steady, few enough for a short run. */
static int
txns_for(int g)
{
	return g == 1 ? 2000 : g <= 64 ? 800 : 400;
}

/* (a) one record of the same size per message, one fdatasync per group. Rows/s. */
static double
run_raw(int g)
{
	static char buf[MAXG * 160];
	char path[512];
	size_t len = 0;
	int fd, n = txns_for(g);
	double t;

	scratch(path, sizeof path, "raw.log");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600)) < 0)
		die("open raw.log");
	t = now_s();
	for (int k = 0; k < n; k++) {
		len = 0;
		for (int i = 0; i < g; i++)
			len += (size_t)snprintf(buf + len, 160, "%d %s %s %s k%d:%d\n", i, targets[i % ntargets],
			    SOURCE, TEXT, k, i);
		if (write(fd, buf, len) != (ssize_t)len || fdatasync(fd) < 0)
			die("write raw.log");
	}
	t = now_s() - t;
	close(fd);
	unlink(path);
	return (double)n * g / t;
}

static void
sq(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "lc-bench-journal: fatal: %s: %s\n", sql, sqlite3_errmsg(db));
		exit(111);
	}
}

/* Fill `g` journal inputs for transaction k; keys[] is the storage for dedupe keys, made as a
 * gateway makes them (gw_cmd.c: its name and the request's rid, fixed-width hex, so a
 * gateway's keys sort in the order it made them). The SQLite variants insert the same rows. */
static void
fill(struct jin *in, char (*keys)[32], long first, int g)
{
	for (int i = 0; i < g; i++) {
		snprintf(keys[i], 32, "chatd.0/%016llx", (unsigned long long)(first + i));
		in[i] = (struct jin){ .target = targets[(first + i) % ntargets], .source = SOURCE,
		    .text = TEXT, .dedupe = keys[i], .cmd = JOURNAL_PRIVMSG };
	}
}

/* (b) plain SQLite: the journal's `messages` table (same columns, same rows, conv and
 * conv_seq NULL as for a channel message) and the journal's settings (WAL, synchronous=FULL,
 * exclusive lock, 8 MiB cache), SQLite's own autocheckpoint at 1000 pages; no secondary index.
 * With `indexed`, the naive journal: UNIQUE(dedupe) and UNIQUE(target, chan_seq) kept inline. */
static double
run_sqlite_with(int g, int indexed)
{
	static struct jin in[MAXG];
	static char keys[MAXG][32];
	long seq[1024] = { 0 };
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *ins;
	int n = txns_for(g);
	long id = 0;
	double t;

	scratch(path, sizeof path, "plain.db");
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open");
	sq(db, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = FULL; PRAGMA cache_size = -8192;"
	    "CREATE TABLE m(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, target TEXT NOT NULL,"
	    " chan_seq INTEGER NOT NULL, cmd INTEGER NOT NULL, source TEXT NOT NULL, account TEXT,"
	    " tags TEXT, text TEXT NOT NULL, dedupe TEXT, conv TEXT, conv_seq INTEGER)");
	if (indexed)
		sq(db, "CREATE UNIQUE INDEX m_dedupe ON m(dedupe);"
		    "CREATE UNIQUE INDEX m_target ON m(target, chan_seq)");
	if (sqlite3_prepare_v2(db, "INSERT INTO m VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	    " ?10, NULL, NULL)", -1, &ins, NULL) != SQLITE_OK)
		die("prepare");
	t = now_s();
	for (int k = 0; k < n; k++) {
		fill(in, keys, (long)k * g, g);
		sq(db, "BEGIN IMMEDIATE");
		for (int i = 0; i < g; i++) {
			sqlite3_bind_int64(ins, 1, ++id);
			sqlite3_bind_int64(ins, 2, 1700000000000 + id);
			sqlite3_bind_text(ins, 3, in[i].target, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 4, ++seq[(k * g + i) % ntargets]);
			sqlite3_bind_int(ins, 5, (int)in[i].cmd);
			sqlite3_bind_text(ins, 6, in[i].source, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 7, in[i].account, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 8, in[i].tags, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 9, in[i].text, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 10, in[i].dedupe, -1, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				die("insert");
			sqlite3_reset(ins);
		}
		sq(db, "COMMIT");
	}
	t = now_s() - t;
	sqlite3_finalize(ins);
	sqlite3_close(db);
	scratch(path, sizeof path, "plain.db");
	return (double)n * g / t;
}

static double
run_sqlite(int g)
{
	return run_sqlite_with(g, 0);
}

static double
run_sqlite_idx(int g)
{
	return run_sqlite_with(g, 1);
}

static struct journal *
open_journal(const char *path)
{
	struct journal *j = journal_open(path);

	if (j == NULL)
		die(path);
	return j;
}

/* What the clock runs over besides journal_append (and the checkpoints of the journal's WAL,
 * which SQLite's autocheckpoint would have run inside a commit: always on it). The indexes'
 * work, their file's checkpoints included (journal_checkpoint returns 2), is what the modes
 * put on or off the clock. COMMIT: the commit path alone in the state chat-storage keeps it in
 * (a tail under JOURNAL_INDEX_BUSY plus a group), the indexes brought up to date off the clock
 * whenever the tail reaches that. BUSY: chat-storage's deferred work after each append as it
 * does it (a checkpoint, else an index step or a filter step), the indexes' share off the
 * clock; it still meets the appends on the same disk and CPU caches. SUSTAINED: all of it on
 * the clock, and a final flush so that every row is indexed. */
enum clock_mode { COMMIT, BUSY, SUSTAINED };

/* COMMIT's deferred work after an append: when the tail reaches JOURNAL_INDEX_BUSY, a
 * checkpoint of the appends' pages (on the clock), then the whole tail indexed, its pages
 * checkpointed and the dedupe filter completed (off the clock, returned in seconds); else a
 * checkpoint at JOURNAL_CKPT_PAGES. So the WAL never holds index pages at a commit. */
static double
commit_only(struct journal *j)
{
	double t = now_s();
	int r;

	if (journal_unindexed(j) < JOURNAL_INDEX_BUSY) {
		if ((r = journal_checkpoint(j, JOURNAL_CKPT_PAGES)) < 0)
			die("checkpoint");
		return r == 2 ? now_s() - t : 0;
	}
	if (journal_wal_pages(j) > 0 && journal_checkpoint(j, 1) < 0)
		die("checkpoint");
	t = now_s();
	if (journal_flush_index(j, 0) < 0 || journal_checkpoint(j, 1) < 0 ||
	    journal_filter_step(j, 0) < 0)
		die("index flush");
	return now_s() - t;
}

/* chat-storage's deferred work while busy (journal.h): a checkpoint at JOURNAL_CKPT_PAGES,
 * else an index step or a step of the dedupe filter's rebuild. The indexes' share (the index
 * file's checkpoints too) is on the clock only if `timed`. Returns the seconds off it. */
static double
background(struct journal *j, int *filter_done, int timed)
{
	double t = now_s();
	int r;

	if ((r = journal_checkpoint(j, JOURNAL_CKPT_PAGES)) != 0) {
		if (r < 0)
			die("checkpoint");
		return r == 2 && !timed ? now_s() - t : 0;
	}
	if (journal_unindexed(j) >= JOURNAL_INDEX_BUSY) {
		if (journal_flush_index(j, journal_index_step(j)) < 0)
			die("index step");
		*filter_done = 0;
	} else if (!*filter_done) {
		if ((r = journal_filter_step(j, JOURNAL_FILTER_STEP)) < 0)
			die("filter step");
		*filter_done = r == 0;
	}
	return timed ? 0 : now_s() - t;
}

/* (d) journal_append, one call per group, as chat-storage calls it; its memory tail stays
 * under JOURNAL_INDEX_BUSY plus a group. Rows/s by the clock of `mode`. */
static double
run_journal_with(int g, enum clock_mode mode)
{
	static struct jin in[MAXG];
	static struct jout out[MAXG];
	static char keys[MAXG][32];
	char path[512];
	struct journal *j;
	int n = txns_for(g), filter_done = 1;
	double t, off = 0;

	scratch(path, sizeof path, "journal.db");
	j = open_journal(path);
	t = now_s();
	for (int k = 0; k < n; k++) {
		fill(in, keys, (long)k * g, g);
		if (journal_append(j, in, (size_t)g, out) < 0) {
			fprintf(stderr, "lc-bench-journal: fatal: append: %s\n", journal_errmsg(j));
			exit(111);
		}
		off += mode == COMMIT ? commit_only(j) : background(j, &filter_done,
		    mode == SUSTAINED);
	}
	if (mode == SUSTAINED && journal_flush_index(j, 0) < 0)
		die("flush");
	t = now_s() - t - off;
	journal_close(j);
	scratch(path, sizeof path, "journal.db");
	return (double)n * g / t;
}

static double
run_journal(int g)
{
	return run_journal_with(g, COMMIT);
}

static double
run_journal_busy(int g)
{
	return run_journal_with(g, BUSY);
}

static double
run_journal_sus(int g)
{
	return run_journal_with(g, SUSTAINED);
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The variants of a row of the table, in column order. */
static double (*const variants[])(int) = {
	run_raw, run_sqlite, run_sqlite_idx, run_journal, run_journal_busy, run_journal_sus
};
#define NVAR (sizeof variants / sizeof variants[0])

/* Medians of `runs` runs of every variant at group g into med[NVAR]; run r of each variant
 * follows run r of the one before, so that a change of the machine's load meets them all. */
static void
medians(int g, int runs, double *med)
{
	double v[NVAR][16];

	for (int r = 0; r < runs; r++)
		for (size_t k = 0; k < NVAR; k++)
			v[k][r] = variants[k](g);
	for (size_t k = 0; k < NVAR; k++) {
		qsort(v[k], (size_t)runs, sizeof v[k][0], cmpd);
		med[k] = v[k][runs / 2];
	}
}

static int
count_cb(void *arg, const struct jmsg *m)
{
	(*(long *)arg)++;
	return 0;
}

/* A child appends `tail` more messages and dies without journal_close (as a SIGKILLed
 * worker would): the next open rebuilds the memory index of that tail. */
static void
crash_append(const char *path, int kbase, long tail)
{
	static struct jin in[MAXG];
	static struct jout out[MAXG];
	static char keys[MAXG][32];
	struct journal *j;
	pid_t pid;
	int st;

	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		j = open_journal(path);
		journal_set_index_every(j, tail + 1);
		for (long k = 0; k * MAXG < tail; k++) {
			int g = tail - k * MAXG < MAXG ? (int)(tail - k * MAXG) : MAXG;
			fill(in, keys, (kbase + k) * MAXG, g);	/* keys unused so far */
			if (journal_append(j, in, (size_t)g, out) < 0)
				_exit(1);
		}
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("crash_append child");
}

static double crash_open_s[16];

/* Time journal_open after a crash left a tail of 16383 messages (the tail's size is up to
 * the worker: this is what an idle flush every 16384 messages leaves at worst). */
static void
crash_reopen(const char *path, int runs)
{
	struct journal *j;
	long tail = 16383;
	double t;

	for (int r = 0; r < runs; r++) {
		crash_append(path, 1000000 + r * 1000, tail);
		t = now_s();
		j = open_journal(path);
		crash_open_s[r] = now_s() - t;
		journal_close(j);
	}
	qsort(crash_open_s, (size_t)runs, sizeof crash_open_s[0], cmpd);
}

/* Time journal_open after the index file was lost: it is rebuilt from every message. */
static double
lost_index_reopen(const char *path, int runs)
{
	double t[16];

	for (int r = 0; r < runs; r++) {
		struct journal *j;

		unlink_siblings(path, INDEX_SIBLINGS);
		t[r] = now_s();
		j = open_journal(path);
		t[r] = now_s() - t[r];
		if (journal_unindexed(j) != 0)
			die("index not rebuilt");
		journal_close(j);
	}
	qsort(t, (size_t)runs, sizeof t[0], cmpd);
	return t[runs / 2];
}

/* Build a journal of n messages (groups of 1024), then time reopen + scan and reopen +
 * LATEST 100 of every target, medians of `runs`. */
static void
replay(long n, int runs)
{
	static struct jin in[MAXG];
	static struct jout out[MAXG];
	static char keys[MAXG][32];
	double scan[16], latest[16], t, lost;
	char path[512];
	struct journal *j;
	long got;

	scratch(path, sizeof path, "replay.db");
	j = open_journal(path);
	t = now_s();
	for (long k = 0; k * MAXG < n; k++) {
		int g = n - k * MAXG < MAXG ? (int)(n - k * MAXG) : MAXG;
		fill(in, keys, k * MAXG, g);	/* the last group may be short */
		if (journal_append(j, in, (size_t)g, out) < 0)
			die("append");
	}
	t = now_s() - t;
	journal_close(j);
	printf("\nreplay: journal of %ld messages over %d targets (written in %.2f s)\n", n,
	    ntargets, t);
	for (int r = 0; r < runs; r++) {
		struct jref star = { .type = JREF_NONE };
		got = 0;
		t = now_s();
		j = open_journal(path);
		journal_scan(j, 0, -1, count_cb, &got);
		journal_close(j);
		scan[r] = now_s() - t;
		if (got != n)
			fprintf(stderr, "lc-bench-journal: scan read %ld of %ld\n", got, n);
		got = 0;
		t = now_s();
		j = open_journal(path);
		for (int i = 0; i < ntargets; i++)
			journal_history(j, targets[i], JOURNAL_LATEST, &star, NULL, 100, count_cb, &got);
		journal_close(j);
		latest[r] = now_s() - t;
	}
	crash_reopen(path, runs);
	lost = lost_index_reopen(path, runs);
	qsort(scan, (size_t)runs, sizeof scan[0], cmpd);
	qsort(latest, (size_t)runs, sizeof latest[0], cmpd);
	printf("%-44s %10.3f s  (%.0f msg/s)\n", "reopen + read every message (journal_scan)",
	    scan[runs / 2], n / scan[runs / 2]);
	printf("%-44s %10.3f s  (%ld messages)\n", "reopen + LATEST 100 of every target",
	    latest[runs / 2], got);
	printf("%-44s %10.3f s\n", "open after a crash (16383-message tail)",
	    crash_open_s[runs / 2]);
	printf("%-44s %10.3f s\n", "open after the index file was lost (rebuilt)", lost);
	scratch(path, sizeof path, "replay.db");
}

int
main(int argc, char **argv)
{
	static const int groups[] = { 1, 64, 1024 };
	double m[NVAR];
	long nreplay = 1000000;
	int runs = 3, only = 0;

	if (argc < 2)
		goto usage;
	dir = argv[1];
	for (int i = 2; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
			runs = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--replay") == 0)
			nreplay = atol(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--targets") == 0)
			ntargets = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--group") == 0)
			only = atoi(argv[++i]);
		else
			goto usage;
	}
	if (runs < 1 || runs > 15 || ntargets < 1 || ntargets > 1024 || nreplay < 0 ||
	    only < 0 || only > MAXG)
		goto usage;
	for (int i = 0; i < ntargets; i++)
		snprintf(targets[i], sizeof targets[i], "#chan%d", i);
	printf("durable appends, rows/s, median of %d runs (SQLite %s, WAL, synchronous=FULL)\n",
	    runs, sqlite3_libversion());
	printf("%6s %13s %13s %14s %14s %12s %14s %10s %8s %10s\n", "group", "raw+fdatasync",
	    "plain sqlite", "sqlite+indexes", "journal commit", "journal busy", "journal+index",
	    "commit/sql", "busy/sql", "+index/sql");
	for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
		int g = only > 0 ? only : groups[k];
		medians(g, runs, m);
		printf("%6d %13.0f %13.0f %14.0f %14.0f %12.0f %14.0f %10.2f %8.2f %10.2f\n", g,
		    m[0], m[1], m[2], m[3], m[4], m[5], m[3] / m[1], m[4] / m[1], m[5] / m[1]);
		fflush(stdout);
		if (only > 0)
			break;
	}
	if (nreplay > 0)
		replay(nreplay, runs);
	return 0;
usage:
	fprintf(stderr, "usage: lc-bench-journal DIR [--runs N] [--replay N] [--targets N]"
	    " [--group N]\n");
	return 100;
}
