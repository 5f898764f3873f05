/* chat-storage's durable journal: a pure module over SQLite (WAL, synchronous=FULL) and
 * libsodium. No networking, no IPC, no printing: every function returns a value >= 0, or -1
 * with errno set (EIO for a store failure, whose text journal_errmsg() gives for logs).
 *
 * Durability rule: a message is acknowledged (echoed, published) only after the call that
 * journaled it returned 0; the results it filled in are valid only then.
 * One writer: the journal holds SQLite's exclusive lock from journal_open to journal_close,
 * and keeps per-target counters in memory. See docs/journal.md. */
#ifndef CHATD_JOURNAL_H
#define CHATD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal;

/* msgid: the message's global id as 16 lowercase hex digits, chatd's format (docs/irc.md,
 * irc_msgid_format). (The random per-file prefix is still created in meta, unused.) */
#define JOURNAL_MSGID_MAX 24
/* Maximum lengths accepted (bytes, without the NUL). */
#define JOURNAL_TARGET_MAX 200
#define JOURNAL_DEDUPE_MAX 200

/* The owner's deferred work, one piece after each turn's replies (chat-storage's
 * background(); lc-bench-journal does the same): a checkpoint when the WAL holds
 * JOURNAL_CKPT_PAGES pages (SQLite's default), else an index step of JOURNAL_INDEX_STEP
 * messages when JOURNAL_INDEX_BUSY are unindexed (idle: any), else a step of the dedupe
 * filter's rebuild of JOURNAL_FILTER_STEP ids. So a busy journal's memory tail stays under
 * JOURNAL_INDEX_BUSY plus a batch. */
#define JOURNAL_CKPT_PAGES 1000
#define JOURNAL_INDEX_BUSY 16384	/* a step indexes the current senders, not a backlog */
#define JOURNAL_INDEX_STEP 2048		/* pages a step touches grow with its senders */
#define JOURNAL_STEP_PER_STREAM 32	/* and with its streams: a busy step's rows per stream */
#define JOURNAL_FILTER_STEP 8192

enum journal_cmd { JOURNAL_PRIVMSG = 0, JOURNAL_NOTICE = 1 };

/* One message to journal. target: a channel ("#lobby") or, for a direct message, the
 * recipient's nick; it is casefolded (ASCII) by the journal. A target that does not start
 * with '#' and holds no ',' is a nick: the message is then also on the conversation of the
 * source's nick and that nick (journal_history_dm). dedupe: the sender's id for
 * this message (e.g. "gw2:conn17:seq42"), unique per message, reused verbatim on a retry;
 * NULL means no de-duplication. account and tags may be NULL. */
struct jin {
	const char *target;
	const char *source;	/* nick!user@host */
	const char *account;
	const char *tags;	/* client-only tags, escaped as on the wire, without '@' */
	const char *text;
	const char *dedupe;
	enum journal_cmd cmd;
};

/* What journal_append assigned. dup = 1: the dedupe key was already journaled (earlier, or
 * earlier in the same batch) and these are the original's values; nothing new was written. */
struct jout {
	int64_t id;		/* global journal order, from 1, contiguous */
	int64_t ts_ms;		/* Unix time in ms: strictly increasing per target */
	int64_t chan_seq;	/* per target, from 1, contiguous */
	int dup;
	char msgid[JOURNAL_MSGID_MAX];
};

/* A journaled message handed to a callback; the pointers live until the callback returns. */
struct jmsg {
	int64_t id;
	int64_t ts_ms;
	int64_t chan_seq;
	enum journal_cmd cmd;
	const char *target;
	const char *source;
	const char *account;	/* NULL if none */
	const char *tags;	/* NULL if none */
	const char *text;
	char msgid[JOURNAL_MSGID_MAX];
};

/* Return 0 to go on, anything else to stop the iteration (no error). A callback must not
 * call the journal. */
typedef int journal_msg_cb(void *arg, const struct jmsg *m);

enum journal_kind {
	JOURNAL_LATEST, JOURNAL_BEFORE, JOURNAL_AFTER, JOURNAL_BETWEEN, JOURNAL_AROUND
};

/* A CHATHISTORY reference: `*` (JREF_NONE, LATEST only), msgid=..., timestamp=... */
enum journal_ref_type { JREF_NONE, JREF_MSGID, JREF_TS };
struct jref {
	enum journal_ref_type type;
	int64_t ts_ms;			/* JREF_TS */
	char msgid[JOURNAL_MSGID_MAX];	/* JREF_MSGID */
};

/* journal.c */

/* Open (creating if missing) the journal at `path`. Returns NULL with errno set: EBUSY if
 * another process has it open (after waiting 2 s), EPROTONOSUPPORT for an unknown schema
 * version, EIO. */
struct journal *journal_open(const char *path);
/* Close; the handle is freed. Returns 0, or -1 if SQLite reported an error on close. */
int journal_close(struct journal *);
/* The last SQLite error message, for logs (never NULL). */
const char *journal_errmsg(const struct journal *);

/* Group commit: journal all `n` messages in one transaction, fill out[0..n-1].
 * Returns 0 once the transaction is durable; -1 (nothing written, out undefined) on failure:
 * EINVAL for a malformed input (then nothing of the batch is written either), EIO store. */
int journal_append(struct journal *, const struct jin *in, size_t n, struct jout *out);

/* CHATHISTORY on `target`: r2 is used by BETWEEN only; r1 may be JREF_NONE for LATEST only.
 * Calls cb for each message, oldest to newest, at most `limit` (<= 0 gives none).
 * Returns the number of messages passed to cb, or -1: ENOENT when a msgid ref is unknown or
 * belongs to another target (the gateway answers an empty batch, see docs/journal.md),
 * EINVAL for a bad kind/ref combination, EIO. */
int journal_history(struct journal *, const char *target, enum journal_kind kind,
    const struct jref *r1, const struct jref *r2, int limit, journal_msg_cb *cb, void *arg);
/* CHATHISTORY on the direct conversation of nicks `me` and `other` (ASCII-casefolded; the
 * same conversation whichever way round): the PRIVMSG/NOTICEs either sent to the other, in
 * journal order, with the same kinds, refs, bounds and results as journal_history (a msgid
 * ref must name a message of this conversation, else ENOENT). me == other gives the messages
 * one sent to oneself. The jmsg's chan_seq is the message's in its target (the recipient).
 * Returns the count passed to cb, or -1: EINVAL (as journal_history, or a nick that is empty,
 * holds a ',' or is too long), ENOENT, EIO. */
int journal_history_dm(struct journal *, const char *me, const char *other,
    enum journal_kind kind, const struct jref *r1, const struct jref *r2, int limit,
    journal_msg_cb *cb, void *arg);
/* Gap repair: messages of `target` with chan_seq > after_seq, oldest first, at most limit.
 * Returns the count passed to cb, or -1. */
int journal_since(struct journal *, const char *target, int64_t after_seq, int limit,
    journal_msg_cb *cb, void *arg);
/* Replay in journal order: messages with id > after_id, at most limit (< 0: all). */
int journal_scan(struct journal *, int64_t after_id, int64_t limit, journal_msg_cb *cb,
    void *arg);
/* Indexing. journal_append writes the messages table only; the per-target and dedupe
 * indexes on disk are brought up to date from it by journal_flush_index, one transaction for
 * at most `max` messages (<= 0: all), oldest first; until then the messages not yet indexed
 * (the tail) are indexed in memory, rebuilt at open. The storage worker calls it when its
 * loop is idle (e.g. max 4096 per idle turn); journal_append forces a whole flush when the
 * tail reaches `n` messages (journal_set_index_every, default 262144) and journal_close
 * flushes. Every query sees every committed message either way. 0 or -1. */
int journal_flush_index(struct journal *, int64_t max);
void journal_set_index_every(struct journal *, int64_t n);
/* Checkpoints. The journal never checkpoints inside a commit below `wal_max` WAL pages
 * (journal_set_wal_max, default 16384, 64 MiB): the owner calls journal_checkpoint when
 * nothing waits on it (after its replies went out). journal_checkpoint copies one WAL into
 * its database (PASSIVE, fdatasync'ed) if it holds at least `min_pages` pages (and at least
 * one): the journal's, else the index file's. 1 if it copied the journal's, 2 the index
 * file's, 0 if there was nothing to do, -1 EIO. journal_wal_pages / journal_index_wal_pages:
 * that WAL's pages after its last commit, 0 after a checkpoint until the next commit. The indexes are in a file of their own (the
 * journal's path and ".index"), derived data: an index flush writes nothing to the journal's
 * WAL, and journal_open rebuilds that file when it is missing, damaged or another's. */
int journal_checkpoint(struct journal *, int min_pages);
int journal_wal_pages(const struct journal *);
int journal_index_wal_pages(const struct journal *);
void journal_set_wal_max(struct journal *, int pages);
/* journal_append asks SQL whether a dedupe key is in the on-disk dedupe table only when a
 * Bloom filter of that table's keys says it may be. At open (and when the filter grows) the
 * filter is rebuilt from `messages`, `max` ids a call (<= 0: all): 1 if it did a step, 0 if
 * the filter is complete, -1 EIO. Until then, after a growth the filter it replaces answers;
 * after an open every key is probed. */
int journal_filter_step(struct journal *, int64_t max);
/* How many new dedupe keys were looked up in the on-disk dedupe table so far (the filter
 * could not rule them out): for tests and benchmarks. */
int64_t journal_dedupe_probes(const struct journal *);
/* How many messages are not yet in the on-disk indexes. */
int64_t journal_unindexed(const struct journal *);
/* The size of a busy index step: JOURNAL_STEP_PER_STREAM messages for each stream (target or
 * conversation) with messages in the tail, at least JOURNAL_INDEX_STEP, at most
 * JOURNAL_INDEX_BUSY. A step rewrites about one chan_index leaf per stream whatever its
 * size, so a step of a few rows per stream costs a page write per row or two. */
int64_t journal_index_step(const struct journal *);
/* The last chan_seq of target (0 if none), or -1. */
int64_t journal_last_seq(struct journal *, const char *target);
/* The last global id (0 if the journal is empty). */
int64_t journal_last_id(const struct journal *);

/* Encode a global id as this journal's msgid into buf[JOURNAL_MSGID_MAX]. */
void journal_msgid(const struct journal *, int64_t id, char *buf);
/* Decode a msgid of this journal: the id, or -1 (not ours, malformed, non-canonical). */
int64_t journal_msgid_id(const struct journal *, const char *msgid);
/* Parse a CHATHISTORY ref ("*", "msgid=...", "timestamp=YYYY-MM-DDThh:mm:ss.sssZ").
 * Returns 0 or -1 (EINVAL). */
int journal_ref_parse(const char *s, struct jref *ref);
/* Format ts_ms as server-time (YYYY-MM-DDThh:mm:ss.sssZ) into buf[25]. */
void journal_ts_format(int64_t ts_ms, char buf[25]);
/* The conversation key of nicks a and b: casefolded, sorted, joined by ',' ("alice,bob", the
 * same either way round; the journal names the conversation's stream "DM:" + this key).
 * Returns 0, or -1 (ENAMETOOLONG) if it does not fit in buf or JOURNAL_TARGET_MAX. */
int journal_dm_target(const char *a, const char *b, char *buf, size_t size);

/* Accounts (SASL PLAIN). Names are casefolded; passwords are hashed with argon2id
 * (crypto_pwhash_str) and never stored or logged. create: 0, or -1 EEXIST / EINVAL / EIO /
 * ENOMEM. verify: 1 match, 0 no such account or wrong password (same work either way), -1. */
int journal_account_create(struct journal *, const char *name, const char *password);
int journal_account_verify(struct journal *, const char *name, const char *password);
/* Argon2id cost for new hashes (default: libsodium's INTERACTIVE limits). Tests lower it. */
void journal_set_pwhash_limits(struct journal *, unsigned long long ops, size_t mem);

/* Event-sourced sessions. Events of `user` are numbered by the session from 1 without gaps.
 * append: seq must be last + 1 (returns 0), or an event already journaled with identical
 * kind and data (a retry: returns 1, writes nothing); otherwise -1 EEXIST (conflicting
 * content) or EINVAL (gap). */
int journal_session_append(struct journal *, const char *user, int64_t seq, int kind,
    const void *data, size_t len);
/* Group commit of session writes: between journal_batch_begin and journal_batch_commit,
 * journal_session_append and journal_session_snapshot write into one transaction, durable
 * (and visible to another reader) only once journal_batch_commit returned 0; reads on this
 * handle see them at once. journal_append must not be called inside a batch. A failure of
 * either call leaves nothing of the batch written (the transaction is rolled back): 0 or -1
 * (EIO; EINVAL for a begin inside a batch). */
int journal_batch_begin(struct journal *);
int journal_batch_commit(struct journal *);
/* Keep one snapshot per user: the state after event `seq` (replaced if seq is not older). */
int journal_session_snapshot(struct journal *, const char *user, int64_t seq,
    const void *data, size_t len);
typedef int journal_snap_cb(void *arg, int64_t seq, const void *data, size_t len);
typedef int journal_event_cb(void *arg, int64_t seq, int kind, const void *data, size_t len);
/* Recovery: the snapshot if any, then every event after it, in order. Returns the last seq
 * (0 if nothing), or -1. A callback returning non-zero stops with -1 ECANCELED. */
int64_t journal_session_load(struct journal *, const char *user, journal_snap_cb *snap,
    journal_event_cb *ev, void *arg);
/* Repair: the events of `user` after seq `after`, oldest first, at most limit (snapshots
 * ignored). 0, or -1 (EINVAL, EIO, ECANCELED as above). */
int journal_session_since(struct journal *, const char *user, int64_t after, int limit,
    journal_event_cb *ev, void *arg);

/* Tests: replace the wall clock (ms since the epoch). */
void journal_set_clock(struct journal *, int64_t (*now_ms)(void *), void *arg);

#endif
