/* chat-storage's durable journal over SQLite: group commit, msgid/timestamp assignment,
 * de-duplication of retries, CHATHISTORY queries, accounts, session events and snapshots.
 * The contract is in journal.h; the schema and the rules are in docs/journal.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "chatd.h"
#include "journal.h"

#define SCHEMA_VERSION 3	/* 2: conversations (conv, conv_seq); 3: indexes in their own file */
#define INDEX_VERSION 1		/* the index file's PRAGMA user_version */
#define STR_(x) #x
#define STR(x) STR_(x)
#define INDEX_SUFFIX ".index"	/* the index file: the journal's path and this */
#define PREFIX_LEN 8
#define TMAP_MAX 65536		/* cached targets before the cache is dropped */
#define INDEX_EVERY 262144	/* tail size that forces an index flush (memory bound) */
#define WAL_MAX 16384		/* WAL pages (64 MiB) that force a checkpoint at commit */
#define FILTER_MIN (1 << 20)	/* bits of the dedupe filter (128 KiB) at least */
#define FILTER_MAX (1 << 29)	/* and at most (64 MiB: 33M keys, then more false hits) */
#define FILTER_PER_KEY 16	/* bits per key: 1.4% false hits with two probes */
#define NAME_MAX_LEN 64		/* account and session user names */
#define AHEAD 4			/* keys hashed and prefetched ahead in a batch */
/* A direct conversation's stream name: "DM:" + journal_dm_target(). Targets are casefolded, so
 * no target contains an upper-case letter: the "DM:" names cannot collide with any target in
 * the in-memory map or in chan_index, which the conversations share with the targets. */
#define CONV_PREFIX "DM:"
#define CONV_MAX (sizeof CONV_PREFIX - 1 + JOURNAL_TARGET_MAX + 1)

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";	/* Crockford, lower case */

/* The commit path appends to `messages` only (append-only B-tree: few pages per commit). The
 * per-target index and the dedupe index are derived from it and brought up to date in bulk
 * every `index_every` messages (and at close); the messages after imeta.indexed_upto (the
 * tail) are indexed in memory, rebuilt from `messages` at open. The indexes live in a file of
 * their own (index_sql, attached as `idx`), so that their pages never ride on the fdatasync
 * of a message commit; lost or foreign, that file is rebuilt at open. See docs/journal.md. */
static const char schema_sql[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE messages("
	" id INTEGER PRIMARY KEY,"	/* global journal order, contiguous from 1 */
	" ts_ms INTEGER NOT NULL,"	/* strictly increasing per target */
	" target TEXT NOT NULL,"	/* casefolded channel or 'nick1,nick2' */
	" chan_seq INTEGER NOT NULL,"	/* contiguous from 1 per target */
	" cmd INTEGER NOT NULL,"	/* 0 PRIVMSG, 1 NOTICE */
	" source TEXT NOT NULL,"
	" account TEXT,"
	" tags TEXT,"
	" text TEXT NOT NULL,"
	" dedupe TEXT,"		/* the sender's id, unique when not NULL */
	" conv TEXT,"		/* a direct message's conversation 'DM:nick1,nick2', else NULL */
	" conv_seq INTEGER);"	/* contiguous from 1 per conv */
	"CREATE TABLE accounts(name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE session_events(user TEXT NOT NULL, seq INTEGER NOT NULL,"
	" kind INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(user, seq)) WITHOUT ROWID;"
	"CREATE TABLE session_snapshots(user TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
	" data BLOB NOT NULL) WITHOUT ROWID;";

/* The index file: derived from `messages`, written without fdatasync at commit. imeta holds
 * the journal's msgid prefix (whose index this is) and indexed_upto (the watermark). */
static const char index_sql[] =
	"CREATE TABLE idx.imeta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE idx.chan_index(target TEXT NOT NULL, chan_seq INTEGER NOT NULL,"
	" id INTEGER NOT NULL, PRIMARY KEY(target, chan_seq)) WITHOUT ROWID;"
	/* the key itself, not a hash: senders' keys share prefixes, so lookups and the bulk
	 * inserts of a flush stay on few pages */
	"CREATE TABLE idx.dedupe(key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO idx.imeta VALUES ('indexed_upto', 0);"
	"PRAGMA idx.user_version = " STR(INDEX_VERSION) ";";

#define MSG_COLS "id, ts_ms, target, chan_seq, cmd, source, account, tags, text"
enum st {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_INSERT, S_DEDUPE, S_TLAST, S_TFIRST, S_BYID, S_TSAT,
	S_RANGE, S_ROW, S_SCAN, S_LAST, S_TAIL, S_FLUSH_IDX, S_FLUSH_DUP, S_MARK_SET, S_MARK_GET,
	S_ACC_INS, S_ACC_GET, S_EV_LAST, S_EV_GET, S_EV_INS, S_EV_AFTER, S_SNAP_GET,
	S_SNAP_PUT, S_DKEY, S_FLUSH_CONV, S_KEYS, S_IDX_OWNER, S_N
};
static const char *const st_sql[S_N] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_INSERT] = "INSERT INTO messages(id, ts_ms, target, chan_seq, cmd, source, account,"
	    " tags, text, dedupe, conv, conv_seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_DEDUPE] = "SELECT id FROM dedupe WHERE key = ?1",
	[S_DKEY] = "SELECT dedupe FROM messages WHERE id = ?1",
	[S_TLAST] = "SELECT c.chan_seq, m.ts_ms FROM chan_index c JOIN messages m ON m.id = c.id"
	    " WHERE c.target = ?1 ORDER BY c.chan_seq DESC LIMIT 1",
	[S_TFIRST] = "SELECT chan_seq FROM chan_index WHERE target = ?1"
	    " ORDER BY chan_seq LIMIT 1",
	[S_BYID] = "SELECT target, chan_seq, ts_ms, conv, conv_seq FROM messages WHERE id = ?1",
	[S_TSAT] = "SELECT m.ts_ms FROM chan_index c JOIN messages m ON m.id = c.id"
	    " WHERE c.target = ?1 AND c.chan_seq = ?2",
	[S_RANGE] = "SELECT m.id, m.ts_ms, m.target, m.chan_seq, m.cmd, m.source, m.account,"
	    " m.tags, m.text FROM chan_index c JOIN messages m ON m.id = c.id"
	    " WHERE c.target = ?1 AND c.chan_seq BETWEEN ?2 AND ?3 ORDER BY c.chan_seq",
	[S_ROW] = "SELECT " MSG_COLS " FROM messages WHERE id = ?1",
	[S_SCAN] = "SELECT " MSG_COLS " FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
	[S_LAST] = "SELECT id, ts_ms FROM messages ORDER BY id DESC LIMIT 1",
	[S_TAIL] = "SELECT id, ts_ms, target, chan_seq, dedupe, conv, conv_seq FROM messages"
	    " WHERE id > ?1 ORDER BY id",
	/* OR ROLLBACK: a conflict ends the transaction (it would be a bug), so SQLite keeps no
	 * statement journal; with the default ABORT it copied every page these statements
	 * changed to a temporary file, about as many bytes as they wrote to the WAL. */
	[S_FLUSH_IDX] = "INSERT OR ROLLBACK INTO chan_index(target, chan_seq, id)"
	    " SELECT target, chan_seq, id FROM messages WHERE id > ?1 AND id <= ?2"
	    " ORDER BY target, chan_seq",
	/* a conversation is a stream in chan_index too, under its "DM:" name */
	[S_FLUSH_CONV] = "INSERT OR ROLLBACK INTO chan_index(target, chan_seq, id)"
	    " SELECT conv, conv_seq, id FROM messages WHERE id > ?1 AND id <= ?2"
	    " AND conv IS NOT NULL ORDER BY conv, conv_seq",
	[S_FLUSH_DUP] = "INSERT OR ROLLBACK INTO dedupe(key, id) SELECT dedupe, id FROM messages"
	    " WHERE id > ?1 AND id <= ?2 AND dedupe IS NOT NULL ORDER BY dedupe",
	[S_MARK_SET] = "UPDATE idx.imeta SET value = ?1 WHERE key = 'indexed_upto'",
	[S_MARK_GET] = "SELECT value FROM idx.imeta WHERE key = 'indexed_upto'",
	[S_IDX_OWNER] = "INSERT OR REPLACE INTO idx.imeta VALUES ('journal', ?1)",
	[S_ACC_INS] = "INSERT INTO accounts(name, hash, created_ms) VALUES (?1, ?2, ?3)",
	[S_ACC_GET] = "SELECT hash FROM accounts WHERE name = ?1",
	[S_EV_LAST] = "SELECT seq FROM session_events WHERE user = ?1 ORDER BY seq DESC LIMIT 1",
	[S_EV_GET] = "SELECT kind, data FROM session_events WHERE user = ?1 AND seq = ?2",
	[S_EV_INS] = "INSERT INTO session_events(user, seq, kind, data) VALUES (?1, ?2, ?3, ?4)",
	[S_EV_AFTER] = "SELECT seq, kind, data FROM session_events WHERE user = ?1 AND seq > ?2"
	    " ORDER BY seq",
	[S_SNAP_GET] = "SELECT seq, data FROM session_snapshots WHERE user = ?1",
	[S_SNAP_PUT] = "INSERT INTO session_snapshots(user, seq, data) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT(user) DO UPDATE SET seq = excluded.seq, data = excluded.data"
	    " WHERE excluded.seq >= session_snapshots.seq",
	[S_KEYS] = "SELECT dedupe FROM messages WHERE id > ?1 AND id <= ?2 AND dedupe IS NOT NULL",
};

/* A tail message of a target: chan_seq base_seq + 1 + its index in the tail array. */
struct tent {
	int64_t id, ts;
};

/* Per-target counters and tail index (committed or in the open transaction). An entry with
 * a tail is kept until the next index flush; without one it is a cache, reloaded on demand. */
struct tgt {
	char *name;		/* NULL: free slot */
	int64_t base_seq;	/* the last chan_seq in chan_index */
	int64_t last_seq;
	int64_t last_ts;
	struct tent *tail;	/* last_seq - base_seq entries */
	size_t tailcap;
};

/* The tail's dedupe keys, by hash; the key itself is checked in messages. */
struct dkey {
	uint64_t hash;
	int64_t id;		/* 0: free slot */
};

struct journal {
	sqlite3 *db;
	sqlite3_stmt *st[S_N];
	int64_t next_id;	/* id of the next new message */
	int64_t indexed;	/* imeta.indexed_upto: ids above are indexed in memory only */
	int64_t index_every;	/* flush the tail index when it holds this many messages */
	int64_t last_ts;	/* the largest ts_ms journaled: timestamps never go below it */
	int wal_pages;		/* frames in the WAL after the last commit (0 after a checkpoint) */
	int idx_pages;		/* the same for the index file's WAL */
	int idx_stale;		/* set at open: the index file is to be rebuilt */
	int wal_max;		/* a commit that leaves this many checkpoints at once */
	char prefix[PREFIX_LEN + 1];
	struct tgt *tmap;
	size_t tcap, tlen;
	struct dkey *dmap;
	size_t dcap, dlen;
	/* A Bloom filter of the dedupe keys in the on-disk table: a key it has not seen is not
	 * there, and the commit path skips the SQL probe. It holds the keys of ids <= fupto; it
	 * is complete when fupto >= indexed (then each flush adds the keys it indexes), else
	 * journal_filter_step fills it from `messages` and the probes go to SQL meanwhile. */
	uint64_t *filter;
	uint64_t fbits;		/* a power of 2 */
	int64_t fkeys, fupto;
	/* After the filter grew: the complete one it replaced, which answers (and takes each
	 * flush's keys) until the new one is complete; NULL otherwise. */
	uint64_t *ofilter;
	uint64_t obits;
	int64_t probes;		/* SQL probes of the dedupe table (journal_dedupe_probes) */
	unsigned long long pw_ops;
	size_t pw_mem;
	char dummy_hash[crypto_pwhash_STRBYTES];	/* verify's work for unknown accounts */
	int64_t (*now)(void *);
	void *now_arg;
};

/* --- small helpers ------------------------------------------------------------------------ */

static int64_t
wall_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ASCII casefold src into dst[max + 1]; -1 if empty or longer than max. */
static int
fold(const char *src, char *dst, size_t max)
{
	size_t i;

	if (src == NULL || *src == '\0')
		return -1;
	for (i = 0; src[i] != '\0'; i++) {
		if (i == max)
			return -1;
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
	}
	dst[i] = '\0';
	return 0;
}

static int
eio(void)
{
	errno = EIO;
	return -1;
}

static sqlite3_stmt *
st(struct journal *j, enum st which)
{
	return j->st[which];
}

/* Run a statement that returns no row; reset it. 0 or -1 EIO. */
static int
exec_st(struct journal *j, enum st which)
{
	sqlite3_stmt *s = st(j, which);
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : eio();
}

/* Undo the open transaction, if any, keeping errno (the failure's). -1. */
static int
rollback(struct journal *j)
{
	int e = errno;

	if (!sqlite3_get_autocommit(j->db))
		exec_st(j, S_ROLLBACK);
	errno = e;
	return -1;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* --- msgid and time formats --------------------------------------------------------------- */

/* The msgid is chatd's (docs/irc.md): the id as 16 lowercase hex digits (irc_msgid_format),
 * so the gateway and the journal name a message alike. */
void
journal_msgid(const struct journal *j, int64_t id, char *buf)
{
	(void)j;
	irc_msgid_format(buf, JOURNAL_MSGID_MAX, (uint64_t)id);
}

int64_t
journal_msgid_id(const struct journal *j, const char *msgid)
{
	uint64_t v;

	(void)j;
	if (irc_msgid_parse(msgid, &v) < 0 || v == 0 || v > INT64_MAX)
		return -1;
	return (int64_t)v;
}

void
journal_ts_format(int64_t ts_ms, char buf[25])
{
	time_t t = (time_t)(ts_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(buf, 25, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {	/* years 0..9999 only */
		strcpy(buf, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf + 19, 6, ".%03uZ", (unsigned)(ts_ms % 1000) % 1000u);
}

/* "YYYY-MM-DDThh:mm:ss.sssZ" (the milliseconds may be omitted) to ms; -1 if malformed. */
static int64_t
parse_ts(const char *s)
{
	struct tm tm;
	int ms = 0, used = 0, n;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 || used != 19)
		return -1;
	s += used;
	if (*s == '.') {
		if (sscanf(s, ".%3d%n", &ms, &n) != 1 || n != 4)
			return -1;
		s += n;
	}
	if (strcmp(s, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || ms < 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

int
journal_ref_parse(const char *s, struct jref *ref)
{
	memset(ref, 0, sizeof *ref);
	if (strcmp(s, "*") == 0) {
		ref->type = JREF_NONE;
		return 0;
	}
	if (strncmp(s, "msgid=", 6) == 0 && s[6] != '\0' && strlen(s + 6) < JOURNAL_MSGID_MAX) {
		ref->type = JREF_MSGID;
		strcpy(ref->msgid, s + 6);
		return 0;
	}
	if (strncmp(s, "timestamp=", 10) == 0 && (ref->ts_ms = parse_ts(s + 10)) >= 0) {
		ref->type = JREF_TS;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int
journal_dm_target(const char *a, const char *b, char *buf, size_t size)
{
	char fa[JOURNAL_TARGET_MAX + 1], fb[JOURNAL_TARGET_MAX + 1];
	int r;

	if (fold(a, fa, JOURNAL_TARGET_MAX) < 0 || fold(b, fb, JOURNAL_TARGET_MAX) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	r = strcmp(fa, fb) <= 0 ? snprintf(buf, size, "%s,%s", fa, fb)
	    : snprintf(buf, size, "%s,%s", fb, fa);
	if (r < 0 || (size_t)r >= size || (size_t)r > JOURNAL_TARGET_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
is_conv(const char *name)
{
	return strncmp(name, CONV_PREFIX, sizeof CONV_PREFIX - 1) == 0;
}

/* The conversation stream of nicks a and b (either case) into buf[CONV_MAX]. 0 or -1. */
static int
conv_of_nicks(const char *a, const char *b, char *buf)
{
	memcpy(buf, CONV_PREFIX, sizeof CONV_PREFIX - 1);
	return journal_dm_target(a, b, buf + sizeof CONV_PREFIX - 1,
	    CONV_MAX - (sizeof CONV_PREFIX - 1));
}

/* The conversation of a message from `source` (nick!user@host) to folded target t, into
 * buf[CONV_MAX]: 0, or -1 if it is none (t a channel or not a nick, no source nick, or a
 * name too long). */
static int
conv_of(const char *source, const char *t, char *buf)
{
	char nick[JOURNAL_TARGET_MAX + 1];
	size_t n;

	if (t[0] == '#' || strchr(t, ',') != NULL)
		return -1;
	n = strcspn(source, "!@");
	if (n == 0 || n > JOURNAL_TARGET_MAX || memchr(source, ',', n) != NULL)
		return -1;
	memcpy(nick, source, n);
	nick[n] = '\0';
	return conv_of_nicks(nick, t, buf);
}

/* --- the in-memory tables: targets and tail dedupe keys ------------------------------------ */

static void
tmap_clear(struct journal *j)
{
	for (size_t i = 0; i < j->tcap; i++) {
		free(j->tmap[i].name);
		free(j->tmap[i].tail);
	}
	memset(j->tmap, 0, j->tcap * sizeof *j->tmap);
	j->tlen = 0;
}

static struct tgt *
tmap_slot(struct tgt *v, size_t cap, const char *name)
{
	size_t i = chat_hash(name) & (cap - 1);

	while (v[i].name != NULL && strcmp(v[i].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int
tmap_grow(struct journal *j)
{
	size_t ncap = j->tcap * 2;
	struct tgt *nv = calloc(ncap, sizeof *nv);

	if (nv == NULL)
		return -1;
	for (size_t i = 0; i < j->tcap; i++)
		if (j->tmap[i].name != NULL)
			*tmap_slot(nv, ncap, j->tmap[i].name) = j->tmap[i];
	free(j->tmap);
	j->tmap = nv;
	j->tcap = ncap;
	return 0;
}

/* The entry of folded target t; *fresh = 1 if it was just created (all zero). */
static struct tgt *
tmap_put(struct journal *j, const char *t, int *fresh)
{
	struct tgt *e = tmap_slot(j->tmap, j->tcap, t);

	*fresh = 0;
	if (e->name != NULL)
		return e;
	if ((j->tlen + 1) * 2 > j->tcap) {
		if (tmap_grow(j) < 0)
			return NULL;
		e = tmap_slot(j->tmap, j->tcap, t);
	}
	if ((e->name = strdup(t)) == NULL)
		return NULL;
	j->tlen++;
	*fresh = 1;
	return e;
}

/* The counters of folded target t, loaded from chan_index on a miss. NULL on error. */
static struct tgt *
tmap_get(struct journal *j, const char *t)
{
	sqlite3_stmt *s;
	struct tgt *e;
	int rc, fresh;

	if ((e = tmap_put(j, t, &fresh)) == NULL || !fresh)
		return e;
	s = st(j, S_TLAST);
	sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		e->base_seq = e->last_seq = sqlite3_column_int64(s, 0);
		e->last_ts = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		eio();
		return NULL;
	}
	return e;
}

/* Append (id, ts) as chan_seq last_seq + 1 of e. */
static int
tail_push(struct tgt *e, int64_t id, int64_t ts)
{
	size_t n = (size_t)(e->last_seq - e->base_seq);

	if (n == e->tailcap) {
		size_t ncap = e->tailcap ? e->tailcap * 2 : 16;
		struct tent *nt = realloc(e->tail, ncap * sizeof *nt);
		if (nt == NULL)
			return -1;
		e->tail = nt;
		e->tailcap = ncap;
	}
	e->tail[n].id = id;
	e->tail[n].ts = ts;
	e->last_seq++;
	e->last_ts = ts;
	return 0;
}

static void
dmap_clear(struct journal *j)
{
	memset(j->dmap, 0, j->dcap * sizeof *j->dmap);
	j->dlen = 0;
}

/* Is `key` the dedupe key of message id? 1, 0, or -1 EIO. */
static int
key_is(struct journal *j, int64_t id, const char *key)
{
	sqlite3_stmt *s = st(j, S_DKEY);
	int rc, same = 0;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		same = col_text(s, 0) != NULL && strcmp(col_text(s, 0), key) == 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? same : eio();
}

/* The id of a tail message by dedupe key (hash h), 0 if none, or -1. When none, *slot is
 * the free slot where the key goes (valid until the table changes). */
static int64_t
dmap_get(struct journal *j, const char *key, uint64_t h, size_t *slot)
{
	size_t i = h & (j->dcap - 1);
	int r;

	for (; j->dmap[i].id != 0; i = (i + 1) & (j->dcap - 1))
		if (j->dmap[i].hash == h && (r = key_is(j, j->dmap[i].id, key)) != 0)
			return r < 0 ? -1 : j->dmap[i].id;
	*slot = i;
	return 0;
}

static void
dmap_insert(struct dkey *v, size_t cap, uint64_t h, int64_t id)
{
	size_t i = h & (cap - 1);

	while (v[i].id != 0)
		i = (i + 1) & (cap - 1);
	v[i].hash = h;
	v[i].id = id;
}

/* Make room for one more key. */
static int
dmap_reserve(struct journal *j)
{
	if ((j->dlen + 1) * 2 > j->dcap) {
		size_t ncap = j->dcap * 2;
		struct dkey *nv = calloc(ncap, sizeof *nv);
		if (nv == NULL)
			return -1;
		for (size_t i = 0; i < j->dcap; i++)
			if (j->dmap[i].id != 0)
				dmap_insert(nv, ncap, j->dmap[i].hash, j->dmap[i].id);
		free(j->dmap);
		j->dmap = nv;
		j->dcap = ncap;
	}
	return 0;
}

/* --- the dedupe filter --------------------------------------------------------------------- */

static uint64_t
filter_bit2(uint64_t h)
{
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

/* The two bits of hash h in a filter of `bits` bits (a power of 2). */
static void
filter_bits(uint64_t h, uint64_t bits, uint64_t *a, uint64_t *b)
{
	*a = h & (bits - 1);
	*b = filter_bit2(h) & (bits - 1);
}

static void
bloom_add(uint64_t *f, uint64_t bits, uint64_t h)
{
	uint64_t a, b;

	filter_bits(h, bits, &a, &b);
	f[a >> 6] |= 1ULL << (a & 63);
	f[b >> 6] |= 1ULL << (b & 63);
}

static int
bloom_has(const uint64_t *f, uint64_t bits, uint64_t h)
{
	uint64_t a, b;

	filter_bits(h, bits, &a, &b);
	return (f[a >> 6] >> (a & 63) & 1) && (f[b >> 6] >> (b & 63) & 1);
}

static void
filter_add(struct journal *j, uint64_t h)
{
	bloom_add(j->filter, j->fbits, h);
	j->fkeys++;
}

/* The complete filter that answers (its size in *bits), or NULL (at open, until rebuilt). */
static const uint64_t *
filter_active(const struct journal *j, uint64_t *bits)
{
	if (j->fupto >= j->indexed) {
		*bits = j->fbits;
		return j->filter;
	}
	*bits = j->obits;
	return j->ofilter;	/* the filter grew: the one it replaced answers */
}

/* 0: the key of hash h is not in the on-disk dedupe table; 1: it may be. */
static int
filter_maybe(const struct journal *j, uint64_t h)
{
	uint64_t bits;
	const uint64_t *f = filter_active(j, &bits);

	return f != NULL ? bloom_has(f, bits, h) : 1;	/* none: ask SQL */
}

/* A new empty filter sized for `keys` keys, to be filled from id 1 by journal_filter_step.
 * A complete filter it replaces (one that grew) is kept as j->ofilter until then. 0, or -1
 * if there is no filter at all (an existing one then stays as it was, fuller but correct). */
static int
filter_reset(struct journal *j, int64_t keys)
{
	uint64_t bits = FILTER_MIN, *f;

	while (bits < FILTER_MAX && (int64_t)(bits / FILTER_PER_KEY) < keys)
		bits *= 2;
	if ((f = calloc(bits / 64, sizeof *f)) == NULL)
		return j->filter != NULL ? 0 : -1;
	free(j->ofilter);
	j->ofilter = NULL;
	if (j->filter != NULL && j->fupto >= j->indexed) {
		j->ofilter = j->filter;
		j->obits = j->fbits;
	} else {
		free(j->filter);
	}
	j->filter = f;
	j->fbits = bits;
	j->fkeys = 0;
	j->fupto = 0;
	return 0;
}

/* After a flush indexed (old, upto]: their keys, still in the memory tail, join the complete
 * filter (the new one, or while it is rebuilt the one it replaced); a new one that is full is
 * replaced by a larger one, filled by journal_filter_step. */
static void
filter_flushed(struct journal *j, int64_t old, int64_t upto)
{
	int cur = j->filter != NULL && j->fupto >= old;

	if (!cur && j->ofilter == NULL)
		return;
	for (size_t i = 0; i < j->dcap; i++)
		if (j->dmap[i].id > old && j->dmap[i].id <= upto) {
			if (cur)
				filter_add(j, j->dmap[i].hash);
			else
				bloom_add(j->ofilter, j->obits, j->dmap[i].hash);
		}
	if (!cur)
		return;		/* the new one reads these keys from `messages` */
	j->fupto = upto;
	if (j->fkeys > (int64_t)(j->fbits / FILTER_PER_KEY) && j->fbits < FILTER_MAX)
		filter_reset(j, 2 * j->fkeys);
}

int
journal_filter_step(struct journal *j, int64_t max)
{
	sqlite3_stmt *s = st(j, S_KEYS);
	int64_t upto = j->indexed;
	int rc;

	if (j->fupto >= j->indexed)
		return 0;
	if (max > 0 && upto - j->fupto > max)
		upto = j->fupto + max;
	sqlite3_bind_int64(s, 1, j->fupto);
	sqlite3_bind_int64(s, 2, upto);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		filter_add(j, chat_hash(col_text(s, 0)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return eio();
	j->fupto = upto;
	if (j->fupto >= j->indexed) {	/* complete: the old one is no longer needed */
		free(j->ofilter);
		j->ofilter = NULL;
	}
	return 1;
}

/* Index one tail message in memory (at open, from the messages table). */
static int
tail_add(struct journal *j, int64_t id, int64_t ts, const char *t, int64_t seq,
    const char *key)
{
	struct tgt *e;
	int fresh;

	if ((e = tmap_put(j, t, &fresh)) == NULL)
		return -1;
	if (fresh)
		e->base_seq = e->last_seq = seq - 1;
	if (seq != e->last_seq + 1) {	/* chan_seqs are contiguous: a broken journal */
		errno = EIO;
		return -1;
	}
	if (tail_push(e, id, ts) < 0 || (key != NULL && dmap_reserve(j) < 0))
		return -1;
	if (key != NULL) {
		dmap_insert(j->dmap, j->dcap, chat_hash(key), id);
		j->dlen++;
	}
	return 0;
}

/* (Re)load the counters and the tail index from the journal: at open, and after a failed
 * transaction (whose in-memory effects are thus undone). */
static int
load_state(struct journal *j)
{
	sqlite3_stmt *s = st(j, S_LAST);
	int rc;

	tmap_clear(j);
	dmap_clear(j);
	j->next_id = 1;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		j->next_id = sqlite3_column_int64(s, 0) + 1;
		if (sqlite3_column_int64(s, 1) > j->last_ts)
			j->last_ts = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return eio();
	s = st(j, S_MARK_GET);
	rc = sqlite3_step(s);
	j->indexed = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	if (j->indexed < 0)
		return eio();
	s = st(j, S_TAIL);
	sqlite3_bind_int64(s, 1, j->indexed);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (tail_add(j, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		    col_text(s, 2), sqlite3_column_int64(s, 3), col_text(s, 4)) < 0 ||
		    (col_text(s, 5) != NULL && tail_add(j, sqlite3_column_int64(s, 0),
		    sqlite3_column_int64(s, 1), col_text(s, 5), sqlite3_column_int64(s, 6),
		    NULL) < 0))
			break;
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : eio();
}

/* After the indexes took every id <= upto: drop those from the memory tail. */
static void
tail_trim(struct journal *j, int64_t upto)
{
	struct dkey *old = j->dmap;

	for (size_t i = 0; i < j->tcap; i++) {
		struct tgt *e = &j->tmap[i];
		size_t n = (size_t)(e->last_seq - e->base_seq), k = 0;

		while (k < n && e->tail[k].id <= upto)
			k++;
		if (k > 0 && k < n)
			memmove(e->tail, e->tail + k, (n - k) * sizeof *e->tail);
		e->base_seq += (int64_t)k;
	}
	if (upto == j->next_id - 1) {
		dmap_clear(j);
		if (j->tlen > TMAP_MAX)
			tmap_clear(j);
		return;
	}
	if ((j->dmap = calloc(j->dcap, sizeof *j->dmap)) == NULL) {
		j->dmap = old;	/* stale entries are harmless: every hit is checked */
		return;
	}
	j->dlen = 0;
	for (size_t i = 0; i < j->dcap; i++)
		if (old[i].id > upto) {
			dmap_insert(j->dmap, j->dcap, old[i].hash, old[i].id);
			j->dlen++;
		}
	free(old);
}

/* Index the messages with ids in (from, upto] and move the watermark to upto, in one
 * transaction of the index file (synchronous=NORMAL: its commit does not fdatasync; lost in
 * a power failure, the rows and their watermark are lost together, and the tail is rebuilt
 * from `messages` at open); a rebuild also names the journal whose index this is (`owner`),
 * in the same transaction, so that one cut short leaves a file that is rebuilt again. 0, or
 * -1 with everything rolled back. */
static int
index_range(struct journal *j, int64_t from, int64_t upto, const char *owner)
{
	sqlite3_bind_int64(st(j, S_FLUSH_IDX), 1, from);
	sqlite3_bind_int64(st(j, S_FLUSH_IDX), 2, upto);
	sqlite3_bind_int64(st(j, S_FLUSH_DUP), 1, from);
	sqlite3_bind_int64(st(j, S_FLUSH_DUP), 2, upto);
	sqlite3_bind_int64(st(j, S_MARK_SET), 1, upto);
	sqlite3_bind_int64(st(j, S_FLUSH_CONV), 1, from);
	sqlite3_bind_int64(st(j, S_FLUSH_CONV), 2, upto);
	if (exec_st(j, S_BEGIN) < 0)
		return -1;
	sqlite3_bind_text(st(j, S_IDX_OWNER), 1, owner, -1, SQLITE_STATIC);
	if (exec_st(j, S_FLUSH_IDX) < 0 || exec_st(j, S_FLUSH_CONV) < 0 ||
	    exec_st(j, S_FLUSH_DUP) < 0 || exec_st(j, S_MARK_SET) < 0 ||
	    (owner != NULL && exec_st(j, S_IDX_OWNER) < 0) || exec_st(j, S_COMMIT) < 0) {
		rollback(j);
		return -1;
	}
	return 0;
}

int
journal_flush_index(struct journal *j, int64_t max)
{
	int64_t upto = j->next_id - 1;

	if (max > 0 && upto - j->indexed > max)
		upto = j->indexed + max;
	if (upto == j->indexed)
		return 0;
	if (index_range(j, j->indexed, upto, NULL) < 0)
		return -1;
	filter_flushed(j, j->indexed, upto);
	j->indexed = upto;
	tail_trim(j, upto);
	return 0;
}

int64_t
journal_dedupe_probes(const struct journal *j)
{
	return j->probes;
}

int64_t
journal_unindexed(const struct journal *j)
{
	return j->next_id - 1 - j->indexed;
}

int64_t
journal_index_step(const struct journal *j)
{
	int64_t streams = 0, step;

	for (size_t i = 0; i < j->tcap; i++)
		streams += j->tmap[i].name != NULL && j->tmap[i].last_seq > j->tmap[i].base_seq;
	step = streams * JOURNAL_STEP_PER_STREAM;
	return step < JOURNAL_INDEX_STEP ? JOURNAL_INDEX_STEP :
	    step > JOURNAL_INDEX_BUSY ? JOURNAL_INDEX_BUSY : step;
}

void
journal_set_index_every(struct journal *j, int64_t n)
{
	j->index_every = n > 0 ? n : 1;
}

/* --- checkpoints --------------------------------------------------------------------------- */

/* SQLite's WAL hook, after every commit: count the WAL's frames. Installing it turns off
 * SQLite's automatic checkpoint (wal_autocheckpoint), which ran inside the commit that
 * crossed 1000 pages, before its caller could acknowledge anything. The owner checkpoints
 * when it chooses (journal_checkpoint); past wal_max pages a commit still checkpoints at
 * once, so the WAL stays bounded whatever the owner does. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct journal *j = arg;
	int *count = strcmp(name, "idx") == 0 ? &j->idx_pages : &j->wal_pages;
	int log = 0, done = 0;

	*count = pages;
	if (pages >= j->wal_max &&
	    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
	    SQLITE_OK)
		*count = 0;
	return SQLITE_OK;
}

int
journal_checkpoint(struct journal *j, int min_pages)
{
	int *count = &j->wal_pages;
	const char *name = "main";
	int log = 0, done = 0;

	if (*count == 0 || *count < min_pages) {
		count = &j->idx_pages;	/* the index file's WAL, when the journal's can wait */
		name = "idx";
	}
	if (*count == 0 || *count < min_pages)
		return 0;
	if (sqlite3_wal_checkpoint_v2(j->db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done) !=
	    SQLITE_OK)
		return eio();
	/* All copied (no reader can hold frames back: the lock is exclusive), and the next
	 * commit rewinds the WAL. Were some left, the next commit's count would show them. */
	*count = 0;
	return count == &j->wal_pages ? 1 : 2;
}

int
journal_wal_pages(const struct journal *j)
{
	return j->wal_pages;
}

int
journal_index_wal_pages(const struct journal *j)
{
	return j->idx_pages;
}

void
journal_set_wal_max(struct journal *j, int pages)
{
	j->wal_max = pages > 0 ? pages : 1;
}

/* --- open and close ----------------------------------------------------------------------- */

static int
create_schema(struct journal *j)
{
	unsigned char rnd[PREFIX_LEN];
	char sql[160];

	randombytes_buf(rnd, sizeof rnd);
	for (int i = 0; i < PREFIX_LEN; i++)
		j->prefix[i] = b32[rnd[i] & 31];
	j->prefix[PREFIX_LEN] = '\0';
	snprintf(sql, sizeof sql, "INSERT INTO meta VALUES ('msgid_prefix', '%s');"
	    "PRAGMA user_version = %d; COMMIT", j->prefix, SCHEMA_VERSION);
	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return eio();
	if (sqlite3_exec(j->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		return eio();
	}
	return 0;
}

static int
read_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return eio();
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : eio();
}

/* Version 1 to 2: number the direct messages already journaled in their conversations
 * (conv, conv_seq). One transaction; reads every message once. 0 or -1. */
static int
migrate_v1(struct journal *j)
{
	char cv[CONV_MAX];
	sqlite3_stmt *q = NULL, *u = NULL;
	struct tgt *c;
	int rc = SQLITE_ERROR, fresh;

	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE; ALTER TABLE messages ADD COLUMN conv TEXT;"
	    "ALTER TABLE messages ADD COLUMN conv_seq INTEGER", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(j->db, "SELECT id, source, target FROM messages"
	    " WHERE substr(target, 1, 1) <> '#' ORDER BY id", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(j->db, "UPDATE messages SET conv = ?2, conv_seq = ?3 WHERE id = ?1",
	    -1, &u, NULL) != SQLITE_OK)
		goto out;
	/* updating other columns of the row just read keeps a scan in id order valid */
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (conv_of(col_text(q, 1), col_text(q, 2), cv) < 0)
			continue;
		if ((c = tmap_put(j, cv, &fresh)) == NULL)
			break;
		sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
		sqlite3_bind_text(u, 2, cv, -1, SQLITE_STATIC);
		sqlite3_bind_int64(u, 3, ++c->last_seq);
		if (sqlite3_step(u) != SQLITE_DONE)
			break;
		sqlite3_reset(u);
	}
	/* the conversations' index rows come with the index file's rebuild (migrate_v2) */
	if (rc == SQLITE_DONE)
		rc = sqlite3_exec(j->db, "PRAGMA user_version = 2; COMMIT", NULL, NULL, NULL);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	tmap_clear(j);
	if (rc == SQLITE_OK)
		return 0;
	if (!sqlite3_get_autocommit(j->db))
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return eio();
}

/* Version 2 to 3: the indexes move to their own file. Those in the journal are dropped and
 * the index file is rebuilt from `messages` (journal_open). 0 or -1. */
static int
migrate_v2(struct journal *j)
{
	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE; DROP TABLE IF EXISTS chan_index;"
	    "DROP TABLE IF EXISTS dedupe; DELETE FROM meta WHERE key = 'indexed_upto';"
	    "PRAGMA user_version = 3; COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (!sqlite3_get_autocommit(j->db))
			sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		return eio();
	}
	j->idx_stale = 1;
	return 0;
}

/* The journal's last id (0 if empty) into *last: read before the statements exist. */
static int
read_last_id(struct journal *j, int64_t *last)
{
	return read_int(j->db, "SELECT coalesce(max(id), 0) FROM messages", last);
}

/* Read one text value into buf[size] ("" if none or too long). 0, or -1 with the SQLite
 * error left in the handle. */
static int
read_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *s;
	int rc;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL &&
	    (size_t)sqlite3_column_bytes(s, 0) < size)
		memcpy(buf, sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0) + 1);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Attach the index file (the journal's path and INDEX_SUFFIX) as `idx`: WAL, and
 * synchronous=NORMAL, since its content is derived. An SQLite result code. */
static int
index_attach(struct journal *j, char *path, size_t size)
{
	const char *main_path = sqlite3_db_filename(j->db, "main");
	char *q;
	int rc;

	/* a temporary journal ("" or ":memory:") gets a temporary index */
	if (main_path == NULL || main_path[0] == '\0')
		snprintf(path, size, "%s", "");
	else if ((size_t)snprintf(path, size, "%s%s", main_path, INDEX_SUFFIX) >= size)
		return SQLITE_CANTOPEN;
	if ((q = sqlite3_mprintf("ATTACH %Q AS idx; PRAGMA idx.journal_mode = WAL;"
	    "PRAGMA idx.synchronous = NORMAL; PRAGMA idx.cache_size = -8192", path)) == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(j->db, q, NULL, NULL, NULL);
	sqlite3_free(q);
	return rc;
}

/* Is the attached index file this journal's, and usable? It must be of INDEX_VERSION, name
 * this journal (its msgid prefix: a file left beside a new journal is not), and index no id
 * beyond the journal's last (a journal restored from an older copy). 1 yes, 0 no, -1 when it
 * could not be read (the error in the handle). */
static int
index_valid(struct journal *j)
{
	char prefix[PREFIX_LEN + 2];
	int64_t version, upto, last;

	if (read_int(j->db, "PRAGMA idx.user_version", &version) < 0)
		return -1;
	if (version != INDEX_VERSION)
		return 0;
	if (read_text(j->db, "SELECT value FROM idx.imeta WHERE key = 'journal'", prefix,
	    sizeof prefix) < 0 ||
	    read_int(j->db, "SELECT value FROM idx.imeta WHERE key = 'indexed_upto'", &upto) < 0 ||
	    read_last_id(j, &last) < 0)
		return -1;
	return strcmp(prefix, j->prefix) == 0 && upto >= 0 && upto <= last;
}

/* Open the index file: attached and checked; if it is missing, unreadable (not a database,
 * damaged) or not valid, it is deleted and created empty, without an owner, and j->idx_stale
 * tells journal_open to rebuild it. Only the journal's lock holder gets here. 0 or -1. */
static int
index_open(struct journal *j)
{
	char path[PATH_MAX];
	int rc, ok = -1;
	static const char *const sfx[] = { "", "-wal", "-shm" };

	if ((rc = index_attach(j, path, sizeof path)) == SQLITE_OK)
		ok = j->idx_stale ? 0 : index_valid(j);
	if (ok < 0 && (sqlite3_errcode(j->db) == SQLITE_BUSY || rc == SQLITE_CANTOPEN ||
	    rc == SQLITE_NOMEM))
		return eio();
	if (ok == 1)
		return 0;
	sqlite3_exec(j->db, "DETACH idx", NULL, NULL, NULL);
	for (size_t i = 0; path[0] != '\0' && i < sizeof sfx / sizeof *sfx; i++) {
		char f[PATH_MAX + 8];

		snprintf(f, sizeof f, "%s%s", path, sfx[i]);
		if (unlink(f) < 0 && errno != ENOENT)
			return eio();
	}
	/* no owner yet: index_rebuild names the journal when it commits the rows */
	if (index_attach(j, path, sizeof path) != SQLITE_OK ||
	    sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return eio();
	if (sqlite3_exec(j->db, index_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		return eio();
	}
	j->idx_stale = 1;
	return 0;
}

/* Pragmas, the journal's lock, schema (created, migrated or checked), msgid prefix, the
 * index file. */
static int
setup_db(struct journal *j)
{
	int64_t version;

	sqlite3_busy_timeout(j->db, 2000);
	if (sqlite3_exec(j->db, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = FULL; PRAGMA cache_size = -8192", NULL, NULL, NULL) != SQLITE_OK)
		return eio();
	sqlite3_wal_hook(j->db, wal_hook, j);
	/* the lock, taken now and kept (EXCLUSIVE mode): a second opener stops here, before it
	 * could touch the index file */
	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return eio();
	if (read_int(j->db, "PRAGMA user_version", &version) < 0)
		return -1;
	if (version < 0 || version > SCHEMA_VERSION) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if (version == 0) {
		if (create_schema(j) < 0)
			return -1;
	} else {
		if ((version == 1 && migrate_v1(j) < 0) || (version <= 2 && migrate_v2(j) < 0))
			return -1;
		if (read_text(j->db, "SELECT value FROM meta WHERE key = 'msgid_prefix'",
		    j->prefix, sizeof j->prefix) < 0)
			return eio();
		if (strlen(j->prefix) != PREFIX_LEN)
			return eio();
	}
	return index_open(j);
}

/* Index every message at once: the index file was created empty (j->idx_stale). 0 or -1. */
static int
index_rebuild(struct journal *j)
{
	int64_t last;

	if (read_last_id(j, &last) < 0 || index_range(j, 0, last, j->prefix) < 0)
		return -1;
	j->idx_stale = 0;
	return 0;
}

struct journal *
journal_open(const char *path)
{
	struct journal *j;
	int e;

	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	if ((j = calloc(1, sizeof *j)) == NULL)
		return NULL;
	j->tcap = 64;
	j->dcap = 64;
	j->index_every = INDEX_EVERY;
	j->wal_max = WAL_MAX;
	j->pw_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	j->pw_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	j->now = wall_ms;
	if ((j->tmap = calloc(j->tcap, sizeof *j->tmap)) == NULL ||
	    (j->dmap = calloc(j->dcap, sizeof *j->dmap)) == NULL)
		goto fail;
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		errno = EIO;
		goto fail;
	}
	if (setup_db(j) < 0)
		goto fail;
	for (int i = 0; i < S_N; i++)
		if (sqlite3_prepare_v3(j->db, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i],
		    NULL) != SQLITE_OK) {
			errno = EIO;
			goto fail;
		}
	if ((j->idx_stale && index_rebuild(j) < 0) || load_state(j) < 0 ||
	    filter_reset(j, j->indexed) < 0)
		goto fail;
	return j;
fail:
	e = j->db != NULL && sqlite3_errcode(j->db) == SQLITE_BUSY ? EBUSY : errno;
	journal_close(j);
	errno = e;
	return NULL;
}

int
journal_close(struct journal *j)
{
	int rc = SQLITE_OK;

	if (j == NULL)
		return 0;
	if (j->st[S_N - 1] != NULL && j->tmap != NULL)
		journal_flush_index(j, 0);	/* best effort: the next open rebuilds the tail */
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(j->st[i]);
	if (j->db != NULL)
		rc = sqlite3_close(j->db);
	if (j->tmap != NULL)
		tmap_clear(j);
	if (j->dmap != NULL)
		dmap_clear(j);
	free(j->tmap);
	free(j->dmap);
	free(j->filter);
	free(j->ofilter);
	sodium_memzero(j, sizeof *j);
	free(j);
	return rc == SQLITE_OK ? 0 : eio();
}

const char *
journal_errmsg(const struct journal *j)
{
	return j != NULL && j->db != NULL ? sqlite3_errmsg(j->db) : "no journal";
}

void
journal_set_clock(struct journal *j, int64_t (*now_ms)(void *), void *arg)
{
	j->now = now_ms != NULL ? now_ms : wall_ms;
	j->now_arg = arg;
}

void
journal_set_pwhash_limits(struct journal *j, unsigned long long ops, size_t mem)
{
	j->pw_ops = ops;
	j->pw_mem = mem;
	j->dummy_hash[0] = '\0';
}

int64_t
journal_last_id(const struct journal *j)
{
	return j->next_id - 1;
}

/* --- append ------------------------------------------------------------------------------- */

static int
valid_in(const struct jin *in)
{
	return in->target != NULL && in->target[0] != '\0' &&
	    strlen(in->target) <= JOURNAL_TARGET_MAX && in->source != NULL &&
	    in->text != NULL && (in->cmd == JOURNAL_PRIVMSG || in->cmd == JOURNAL_NOTICE) &&
	    (in->dedupe == NULL || strlen(in->dedupe) <= JOURNAL_DEDUPE_MAX);
}

/* The id of the journaled message with dedupe key `key` (hash h), 0 if none, -1 on error;
 * *slot as dmap_get. */
static int64_t
dedupe_id(struct journal *j, const char *key, uint64_t h, size_t *slot)
{
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	if (dmap_reserve(j) < 0)
		return -1;
	if ((id = dmap_get(j, key, h, slot)) != 0)
		return id;
	if (!filter_maybe(j, h))
		return 0;	/* not in the dedupe table: no probe */
	j->probes++;
	s = st(j, S_DEDUPE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? id : eio();
}

/* Fill out with the original message `id` of a retry. */
static int
fill_dup(struct journal *j, int64_t id, struct jout *out)
{
	sqlite3_stmt *s = st(j, S_BYID);
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = id;
		out->chan_seq = sqlite3_column_int64(s, 1);
		out->ts_ms = sqlite3_column_int64(s, 2);
		out->dup = 1;
		journal_msgid(j, id, out->msgid);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : eio();
}

/* A direct message also goes on its conversation's stream (docs/journal.md): *c is that
 * stream's entry, NULL for a message that is in no conversation; cv[CONV_MAX] its name. Room
 * is made first, so that looking up the target next cannot move *c. 0 or -1. */
static int
conv_get(struct journal *j, const struct jin *in, const char *t, char *cv, struct tgt **c)
{
	*c = NULL;
	if (conv_of(in->source, t, cv) < 0)
		return 0;
	while ((j->tlen + 2) * 2 > j->tcap)
		if (tmap_grow(j) < 0)
			return -1;
	return (*c = tmap_get(j, cv)) != NULL ? 0 : -1;
}

static void
conv_bind(sqlite3_stmt *s, const struct tgt *c, const char *cv)
{
	sqlite3_bind_text(s, 11, c != NULL ? cv : NULL, -1, SQLITE_STATIC);
	if (c != NULL)
		sqlite3_bind_int64(s, 12, c->last_seq + 1);
	else
		sqlite3_bind_null(s, 12);
}

/* The hash of in's dedupe key (0 if none), with a prefetch of what append_one reads for it
 * at random: its slot in the tail's table and its filter words. Those tables outgrow the
 * cache (the tail's with the tail, the filter with the journal); issued a few messages
 * ahead, the reads overlap the inserts of the messages before. */
static uint64_t
key_prefetch(const struct journal *j, const struct jin *in)
{
	uint64_t h, bits, a, b;
	const uint64_t *f = filter_active(j, &bits);

	if (in->dedupe == NULL)
		return 0;
	h = chat_hash(in->dedupe);
	__builtin_prefetch(&j->dmap[h & (j->dcap - 1)]);
	if (f != NULL) {
		filter_bits(h, bits, &a, &b);
		__builtin_prefetch(&f[a >> 6]);
		__builtin_prefetch(&f[b >> 6]);
	}
	return h;
}

/* Journal in (dedupe key hash h) in the open transaction, or find it journaled. 0 or -1. */
static int
append_one(struct journal *j, const struct jin *in, uint64_t h, int64_t now,
    struct jout *out)
{
	char t[JOURNAL_TARGET_MAX + 1], cv[CONV_MAX];
	sqlite3_stmt *s = st(j, S_INSERT);
	struct tgt *e, *c;
	int64_t ts, id;
	size_t slot = 0;
	int rc;

	if (in->dedupe != NULL) {
		if ((id = dedupe_id(j, in->dedupe, h, &slot)) != 0)
			return id < 0 ? -1 : fill_dup(j, id, out);
	}
	fold(in->target, t, JOURNAL_TARGET_MAX);
	if (conv_get(j, in, t, cv, &c) < 0 || (e = tmap_get(j, t)) == NULL)
		return -1;
	ts = now > j->last_ts ? now : j->last_ts;
	if (ts <= e->last_ts)
		ts = e->last_ts + 1;
	if (c != NULL && ts <= c->last_ts)	/* distinct times in a conversation too */
		ts = c->last_ts + 1;
	sqlite3_bind_int64(s, 1, j->next_id);
	sqlite3_bind_int64(s, 2, ts);
	sqlite3_bind_text(s, 3, t, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, e->last_seq + 1);
	sqlite3_bind_int(s, 5, (int)in->cmd);
	sqlite3_bind_text(s, 6, in->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, in->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, in->tags, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, in->text, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, in->dedupe, -1, SQLITE_STATIC);
	conv_bind(s, c, cv);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return eio();
	if (tail_push(e, j->next_id, ts) < 0 || (c != NULL && tail_push(c, j->next_id, ts) < 0))
		return -1;
	if (in->dedupe != NULL) {	/* the slot dedupe_id found free */
		j->dmap[slot].hash = h;
		j->dmap[slot].id = j->next_id;
		j->dlen++;
	}
	out->id = j->next_id++;
	out->ts_ms = ts;
	out->chan_seq = e->last_seq;
	out->dup = 0;
	journal_msgid(j, out->id, out->msgid);
	j->last_ts = ts;
	return 0;
}

int
journal_append(struct journal *j, const struct jin *in, size_t n, struct jout *out)
{
	uint64_t hs[AHEAD], h;
	int64_t now;
	size_t i;
	int e;

	for (i = 0; i < n; i++)
		if (!valid_in(&in[i])) {
			errno = EINVAL;
			return -1;
		}
	if (n == 0)
		return 0;
	now = j->now(j->now_arg);
	if (exec_st(j, S_BEGIN) < 0)
		goto fail;
	for (i = 0; i < n && i < AHEAD; i++)
		hs[i] = key_prefetch(j, &in[i]);
	for (i = 0; i < n; i++) {
		h = hs[i % AHEAD];
		if (i + AHEAD < n)
			hs[i % AHEAD] = key_prefetch(j, &in[i + AHEAD]);
		if (append_one(j, &in[i], h, now, &out[i]) < 0)
			goto fail;
	}
	if (exec_st(j, S_COMMIT) < 0)
		goto fail;
	if (j->next_id - 1 - j->indexed >= j->index_every)
		journal_flush_index(j, 0);	/* on failure, the next append tries again */
	return 0;
fail:
	rollback(j);
	e = errno;
	load_state(j);
	errno = e;
	return -1;
}

/* --- queries ------------------------------------------------------------------------------ */

/* Call cb for each row of a statement selecting MSG_COLS; reset it. Count or -1; *stop is
 * set when the callback asked to stop. */
static int
emit_rows(struct journal *j, sqlite3_stmt *s, journal_msg_cb *cb, void *arg, int *stop)
{
	struct jmsg m;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		m.id = sqlite3_column_int64(s, 0);
		m.ts_ms = sqlite3_column_int64(s, 1);
		m.target = col_text(s, 2);
		m.chan_seq = sqlite3_column_int64(s, 3);
		m.cmd = sqlite3_column_int(s, 4) == JOURNAL_NOTICE ? JOURNAL_NOTICE : JOURNAL_PRIVMSG;
		m.source = col_text(s, 5);
		m.account = col_text(s, 6);
		m.tags = col_text(s, 7);
		m.text = col_text(s, 8);
		journal_msgid(j, m.id, m.msgid);
		n++;
		if (cb(arg, &m) != 0) {
			*stop = 1;
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : eio();
}

/* Messages of folded target t with chan_seq in [a, b]: the indexed part from chan_index,
 * the tail by id from memory. */
static int
emit_range(struct journal *j, const char *t, int64_t a, int64_t b, journal_msg_cb *cb,
    void *arg)
{
	struct tgt *e = tmap_get(j, t);
	sqlite3_stmt *s;
	int n = 0, k, stop = 0;

	if (e == NULL)
		return -1;
	if (b > e->last_seq)
		b = e->last_seq;
	if (a <= e->base_seq && a <= b) {
		s = st(j, S_RANGE);
		sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, a);
		sqlite3_bind_int64(s, 3, b < e->base_seq ? b : e->base_seq);
		if ((n = emit_rows(j, s, cb, arg, &stop)) < 0)
			return -1;
	}
	for (int64_t seq = a > e->base_seq ? a : e->base_seq + 1; !stop && seq <= b; seq++) {
		s = st(j, S_ROW);
		sqlite3_bind_int64(s, 1, e->tail[seq - e->base_seq - 1].id);
		if ((k = emit_rows(j, s, cb, arg, &stop)) != 1)
			return k < 0 ? -1 : eio();
		n++;
	}
	return n;
}

int64_t
journal_last_seq(struct journal *j, const char *target)
{
	char t[JOURNAL_TARGET_MAX + 1];
	struct tgt *e;

	if (fold(target, t, JOURNAL_TARGET_MAX) < 0) {
		errno = EINVAL;
		return -1;
	}
	return (e = tmap_get(j, t)) != NULL ? e->last_seq : -1;
}

int
journal_since(struct journal *j, const char *target, int64_t after_seq, int limit,
    journal_msg_cb *cb, void *arg)
{
	char t[JOURNAL_TARGET_MAX + 1];

	if (fold(target, t, JOURNAL_TARGET_MAX) < 0 || after_seq < 0) {
		errno = EINVAL;
		return -1;
	}
	if (limit <= 0)
		return 0;
	return emit_range(j, t, after_seq + 1, after_seq + limit, cb, arg);
}

int
journal_scan(struct journal *j, int64_t after_id, int64_t limit, journal_msg_cb *cb, void *arg)
{
	sqlite3_stmt *s = st(j, S_SCAN);
	int stop = 0;

	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit < 0 ? -1 : limit);
	return emit_rows(j, s, cb, arg, &stop);
}

/* ts_ms of the message at (t, seq), or -1 EIO if there is none. */
static int64_t
ts_at(struct journal *j, const char *t, int64_t seq)
{
	sqlite3_stmt *s = st(j, S_TSAT);
	struct tgt *e = tmap_get(j, t);
	int64_t ts = -1;

	if (e == NULL)
		return -1;
	if (seq > e->base_seq && seq <= e->last_seq)
		return e->tail[seq - e->base_seq - 1].ts;
	sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	if (sqlite3_step(s) == SQLITE_ROW)
		ts = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return ts >= 0 ? ts : eio();
}

/* The span of a target: first and last chan_seq (first > last if empty). */
struct span {
	int64_t first, last;
};

static int
get_span(struct journal *j, const char *t, struct span *sp)
{
	sqlite3_stmt *s = st(j, S_TFIRST);
	struct tgt *e;
	int rc;

	if ((e = tmap_get(j, t)) == NULL)
		return -1;
	sp->last = e->last_seq;
	sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sp->first = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : e->base_seq + 1;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : eio();
}

/* The largest chan_seq whose ts_ms <= ts (< ts if strict; first - 1 if none); binary search,
 * since ts_ms increases with chan_seq in a stream (strictly, but for the direct messages of a
 * journal migrated from version 1). Sets *eq if that message has ts_ms == ts. */
static int64_t
seq_le(struct journal *j, const char *t, const struct span *sp, int64_t ts, int strict,
    int *eq)
{
	int64_t lo = sp->first, hi = sp->last, best = sp->first - 1, v, besttime = -1;

	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if ((v = ts_at(j, t, mid)) < 0)
			return -1;
		if (v < ts || (v == ts && !strict)) {
			best = mid;
			besttime = v;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	*eq = besttime == ts;
	return best;
}

/* The first seq of the messages at time ts, the last of which is le: le itself, unless
 * several share that time (only in a conversation migrated from version 1). Or -1. */
static int64_t
first_at(struct journal *j, const char *t, const struct span *sp, int64_t le, int64_t ts)
{
	int64_t v;
	int eq;

	if (le == sp->first)
		return le;
	if ((v = ts_at(j, t, le - 1)) < 0)
		return -1;
	if (v < ts)
		return le;
	return (v = seq_le(j, t, sp, ts, 1, &eq)) < 0 ? -1 : v + 1;
}

/* A reference as positions in the target: seqs > after come after it, seqs < before come
 * before it; key orders references (twice the position: odd between two messages). */
struct pos {
	int64_t after, before, key;
	int exact;
};

static int
resolve(struct journal *j, const char *t, const struct span *sp, const struct jref *r,
    struct pos *p)
{
	sqlite3_stmt *s;
	int64_t id, le;
	int rc, eq = 0;

	if (r->type == JREF_TS) {
		if ((le = seq_le(j, t, sp, r->ts_ms, 0, &eq)) < 0)
			return -1;
		p->after = le;
		p->before = le + 1;
		if (eq && (p->before = first_at(j, t, sp, le, r->ts_ms)) < 0)
			return -1;
		p->exact = eq;
		p->key = p->after + p->before;
		return 0;
	}
	if ((id = journal_msgid_id(j, r->msgid)) < 0) {
		errno = ENOENT;
		return -1;
	}
	s = st(j, S_BYID);
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && (strcmp(col_text(s, 0), t) == 0 ||
	    (col_text(s, 3) != NULL && strcmp(col_text(s, 3), t) == 0))) {
		p->after = p->before = sqlite3_column_int64(s, is_conv(t) ? 4 : 1);
		p->exact = 1;
		p->key = 2 * p->after;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == -ENOENT ? (errno = ENOENT, -1) : eio();
}

/* The window [*a, *b] for a resolved query; n >= 1. */
static void
window(enum journal_kind kind, const struct span *sp, const struct pos *p1,
    const struct pos *p2, int have1, int64_t n, int64_t *a, int64_t *b)
{
	switch (kind) {
	case JOURNAL_LATEST:
		*b = sp->last;
		*a = sp->last - n + 1;
		if (have1 && *a <= p1->after)
			*a = p1->after + 1;
		break;
	case JOURNAL_BEFORE:
		*b = p1->before - 1;
		*a = *b - n + 1;
		break;
	case JOURNAL_AFTER:
		*a = p1->after + 1;
		*b = *a + n - 1;
		break;
	case JOURNAL_BETWEEN:
		if (p1->key <= p2->key) {
			*a = p1->after + 1;
			*b = p2->before - 1 < *a + n - 1 ? p2->before - 1 : *a + n - 1;
		} else {
			*b = p1->before - 1;
			*a = p2->after + 1 > *b - n + 1 ? p2->after + 1 : *b - n + 1;
		}
		break;
	case JOURNAL_AROUND:
		*a = p1->exact ? p1->after - (n - 1) / 2 : p1->before - n / 2;
		if (*a + n - 1 > sp->last)
			*a = sp->last - n + 1;
		if (*a < sp->first)
			*a = sp->first;
		*b = *a + n - 1;
		break;
	}
	if (*a < sp->first)
		*a = sp->first;
	if (*b > sp->last)
		*b = sp->last;
}

/* CHATHISTORY on stream t (a folded target or a conversation's name); kind and refs checked. */
static int
history_of(struct journal *j, const char *t, enum journal_kind kind, const struct jref *r1,
    const struct jref *r2, int limit, journal_msg_cb *cb, void *arg)
{
	struct pos p1 = { 0 }, p2 = { 0 };
	struct span sp;
	int64_t a = 1, b = 0;
	int have1 = r1 != NULL && r1->type != JREF_NONE;

	if (get_span(j, t, &sp) < 0)
		return -1;
	if (have1 && resolve(j, t, &sp, r1, &p1) < 0)
		return -1;
	if (kind == JOURNAL_BETWEEN && resolve(j, t, &sp, r2, &p2) < 0)
		return -1;
	if (limit <= 0)
		return 0;
	window(kind, &sp, &p1, &p2, have1, limit, &a, &b);
	return emit_range(j, t, a, b, cb, arg);
}

static int
valid_query(enum journal_kind kind, const struct jref *r1, const struct jref *r2)
{
	int have1 = r1 != NULL && r1->type != JREF_NONE;

	return kind >= JOURNAL_LATEST && kind <= JOURNAL_AROUND &&
	    (have1 || kind == JOURNAL_LATEST) &&
	    (kind != JOURNAL_BETWEEN || (r2 != NULL && r2->type != JREF_NONE));
}

int
journal_history(struct journal *j, const char *target, enum journal_kind kind,
    const struct jref *r1, const struct jref *r2, int limit, journal_msg_cb *cb, void *arg)
{
	char t[JOURNAL_TARGET_MAX + 1];

	if (fold(target, t, JOURNAL_TARGET_MAX) < 0 || !valid_query(kind, r1, r2)) {
		errno = EINVAL;
		return -1;
	}
	return history_of(j, t, kind, r1, r2, limit, cb, arg);
}

int
journal_history_dm(struct journal *j, const char *me, const char *other,
    enum journal_kind kind, const struct jref *r1, const struct jref *r2, int limit,
    journal_msg_cb *cb, void *arg)
{
	char cv[CONV_MAX];

	if (conv_of_nicks(me, other, cv) < 0 || strchr(cv, ',') != strrchr(cv, ',') ||
	    !valid_query(kind, r1, r2)) {
		errno = EINVAL;
		return -1;
	}
	return history_of(j, cv, kind, r1, r2, limit, cb, arg);
}

/* --- accounts ----------------------------------------------------------------------------- */

int
journal_account_create(struct journal *j, const char *name, const char *password)
{
	char n[NAME_MAX_LEN + 1], h[crypto_pwhash_STRBYTES];
	sqlite3_stmt *s = st(j, S_ACC_INS);
	int rc;

	if (fold(name, n, NAME_MAX_LEN) < 0 || password == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (crypto_pwhash_str(h, password, strlen(password), j->pw_ops, j->pw_mem) != 0) {
		errno = ENOMEM;
		return -1;
	}
	sqlite3_bind_text(s, 1, n, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, h, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, j->now(j->now_arg));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sodium_memzero(h, sizeof h);
	if (rc == SQLITE_CONSTRAINT) {
		errno = EEXIST;
		return -1;
	}
	return rc == SQLITE_DONE ? 0 : eio();
}

int
journal_account_verify(struct journal *j, const char *name, const char *password)
{
	char n[NAME_MAX_LEN + 1], h[crypto_pwhash_STRBYTES];
	sqlite3_stmt *s = st(j, S_ACC_GET);
	int rc, found = 0;

	if (password == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (fold(name, n, NAME_MAX_LEN) == 0) {
		sqlite3_bind_text(s, 1, n, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) < (int)sizeof h) {
			memcpy(h, sqlite3_column_text(s, 0), sqlite3_column_bytes(s, 0) + 1);
			found = 1;
		}
		sqlite3_reset(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return eio();
	}
	if (!found) {	/* spend the same work, so timing does not tell which names exist */
		if (j->dummy_hash[0] == '\0' && crypto_pwhash_str(j->dummy_hash, "x", 1,
		    j->pw_ops, j->pw_mem) != 0) {
			errno = ENOMEM;
			return -1;
		}
		memcpy(h, j->dummy_hash, sizeof h);
	}
	rc = crypto_pwhash_str_verify(h, password, strlen(password)) == 0;
	return found && rc;
}

/* --- sessions ----------------------------------------------------------------------------- */

static void
bind_blob(sqlite3_stmt *s, int i, const void *data, size_t len)
{
	if (len == 0)
		sqlite3_bind_zeroblob(s, i, 0);
	else
		sqlite3_bind_blob64(s, i, data, len, SQLITE_STATIC);
}

/* A retry of event (u, seq): 1 if identical to what is journaled, else -1 EEXIST/EIO. */
static int
same_event(struct journal *j, const char *u, int64_t seq, int kind, const void *data,
    size_t len)
{
	sqlite3_stmt *s = st(j, S_EV_GET);
	int rc, same = 0;

	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		same = sqlite3_column_int(s, 0) == kind &&
		    (size_t)sqlite3_column_bytes(s, 1) == len &&
		    (len == 0 || memcmp(sqlite3_column_blob(s, 1), data, len) == 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return eio();
	if (!same) {
		errno = EEXIST;
		return -1;
	}
	return 1;
}

int
journal_session_append(struct journal *j, const char *user, int64_t seq, int kind,
    const void *data, size_t len)
{
	char u[NAME_MAX_LEN + 1];
	sqlite3_stmt *s = st(j, S_EV_LAST);
	int64_t last = 0;
	int rc;

	if (fold(user, u, NAME_MAX_LEN) < 0 || seq < 1 || (data == NULL && len != 0)) {
		errno = EINVAL;
		return -1;
	}
	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return eio();
	if (seq <= last)
		return same_event(j, u, seq, kind, data, len);
	if (seq != last + 1) {
		errno = EINVAL;
		return -1;
	}
	s = st(j, S_EV_INS);
	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_int(s, 3, kind);
	bind_blob(s, 4, data, len);
	return exec_st(j, S_EV_INS);
}

int
journal_batch_begin(struct journal *j)
{
	if (!sqlite3_get_autocommit(j->db)) {
		errno = EINVAL;
		return -1;
	}
	return exec_st(j, S_BEGIN);
}

int
journal_batch_commit(struct journal *j)
{
	return exec_st(j, S_COMMIT) == 0 ? 0 : rollback(j);
}

int
journal_session_snapshot(struct journal *j, const char *user, int64_t seq, const void *data,
    size_t len)
{
	char u[NAME_MAX_LEN + 1];
	sqlite3_stmt *s = st(j, S_SNAP_PUT);

	if (fold(user, u, NAME_MAX_LEN) < 0 || seq < 0 || (data == NULL && len != 0)) {
		errno = EINVAL;
		return -1;
	}
	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	bind_blob(s, 3, data, len);
	return exec_st(j, S_SNAP_PUT);
}

/* The events of folded user u after seq `after`, at most limit (< 0: all), to ev. Returns the
 * last seq passed (after, if none), or -1. */
static int64_t
events_after(struct journal *j, const char *u, int64_t after, int64_t limit,
    journal_event_cb *ev, void *arg)
{
	sqlite3_stmt *s = st(j, S_EV_AFTER);
	int64_t last = after;
	int rc = SQLITE_DONE, stop = 0;

	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, after);
	while (!stop && limit != 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		last = sqlite3_column_int64(s, 0);
		stop = ev(arg, last, sqlite3_column_int(s, 1), sqlite3_column_blob(s, 2),
		    sqlite3_column_bytes(s, 2));
		if (limit > 0)
			limit--;
	}
	sqlite3_reset(s);
	if (stop) {
		errno = ECANCELED;
		return -1;
	}
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? last : eio();
}

int64_t
journal_session_load(struct journal *j, const char *user, journal_snap_cb *snap,
    journal_event_cb *ev, void *arg)
{
	char u[NAME_MAX_LEN + 1];
	sqlite3_stmt *s = st(j, S_SNAP_GET);
	int64_t last = 0;
	int rc, stop = 0;

	if (fold(user, u, NAME_MAX_LEN) < 0) {
		errno = EINVAL;
		return -1;
	}
	sqlite3_bind_text(s, 1, u, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		last = sqlite3_column_int64(s, 0);
		stop = snap(arg, last, sqlite3_column_blob(s, 1), sqlite3_column_bytes(s, 1));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return eio();
	if (stop) {
		errno = ECANCELED;
		return -1;
	}
	return events_after(j, u, last, -1, ev, arg);
}

int
journal_session_since(struct journal *j, const char *user, int64_t after, int limit,
    journal_event_cb *ev, void *arg)
{
	char u[NAME_MAX_LEN + 1];

	if (fold(user, u, NAME_MAX_LEN) < 0 || after < 0) {
		errno = EINVAL;
		return -1;
	}
	return events_after(j, u, after, limit, ev, arg) < 0 ? -1 : 0;
}
