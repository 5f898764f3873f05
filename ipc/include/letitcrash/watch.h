/* letitcrash: watching a whole tree's lifecycle events from any process (docs/links.md).
 *
 * A watcher finds every supervisor of the tree in RUNDIR (the root named in RUNDIR/root, its
 * supervisor children by which_children, then RUNDIR/sup/NAME.ctl and the `start` events of
 * supervisors as they appear), subscribes to each one's event bus (RUNDIR/sup/NAME.ev, PUB,
 * lossy) and keeps, per supervisor, the sequence number of the last event it delivered. A gap,
 * and a periodic resync (LC_WATCH_RESYNC_MS), are filled from the supervisor's ring with
 * `events SEQ` over its control socket, so every event is delivered once and in order per
 * supervisor, even the last one of a burst that PUB dropped. Requests from the loop are
 * asynchronous (a REQ socket per supervisor, LC_WATCH_REQ_MS to answer, else abandoned and
 * tried again at the next resync); only lc_watch_open and lc_watch_lookup(fresh) wait, each
 * request bounded by LC_WATCH_REQ_MS.
 *
 * A supervisor that restarts (new pid, seq from 1 again) is followed from its first event. A
 * supervisor that dies (its parent publishes its exit) takes its children with it (they die of
 * PR_SET_PDEATHSIG, or were stopped first): the watcher then delivers, for every child it still
 * knew running under it (and under its nested supervisors), a synthetic exit event with seq 0
 * and reason "killed" (the supervisor was killed) or "shutdown" (it stopped).
 *
 * The watcher also keeps which pid holds each name now (from which_children at open, then from
 * the events), for lc_watch_lookup. Not thread-safe; one loop. */
#ifndef LETITCRASH_WATCH_H
#define LETITCRASH_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "letitcrash/loop.h"

#define LC_WATCH_NAMEMAX   48          /* supervisor and child names (docs/config.md) */
#define LC_WATCH_EVENTMAX  24
#define LC_WATCH_REASONMAX 400
#define LC_WATCH_LINEMAX   512         /* longest event line a supervisor publishes */
#define LC_WATCH_RESYNC_MS 500
#define LC_WATCH_REQ_MS    250

/* One event line, parsed: "EVENT CHILD sup=SUP seq=N time=MS pid=PID n=N [reason=REASON]". */
struct lc_watch_event {
	char event[LC_WATCH_EVENTMAX + 1];      /* spawn start ignore exit start_error ... */
	char child[LC_WATCH_NAMEMAX + 1];
	char sup[LC_WATCH_NAMEMAX + 1];
	uint64_t seq;                           /* per supervisor process, from 1; 0: synthetic */
	int64_t time;                           /* wall clock, ms since the epoch */
	pid_t pid;                              /* 0 when the child had no process */
	unsigned n;                             /* incarnation */
	int has_reason;
	char reason[LC_WATCH_REASONMAX + 1];    /* "" unless has_reason; may hold blanks */
};

/* Parse one event line (len bytes, no NUL needed, one trailing newline allowed). Strict:
 * the five keys in that order, numbers in decimal without sign, names [A-Za-z0-9_.-]{1,48},
 * the event [a-z_]{1,24}, reason (optional, last) printable and not empty. Returns 0, or -1
 * with errno EBADMSG (ev then holds garbage). */
int lc_watch_parse(const char *line, size_t len, struct lc_watch_event *ev);

struct lc_watch;

/* Called for every event, in order per supervisor. It may call lc_watch_lookup, and may exit
 * the process; it must not close the watcher. */
typedef void lc_watch_fn(struct lc_watch *w, const struct lc_watch_event *ev, void *arg);

#define LC_WATCH_HISTORY 1      /* also deliver, at open, the events still in the rings */

/* Start watching the tree of `rundir` from `loop`. Waits for the supervisors found at once
 * (a few requests each, each at most LC_WATCH_REQ_MS). Returns NULL with errno (ESRCH: no
 * tree runs there, ENAMETOOLONG: rundir too long for ipc://). */
struct lc_watch *lc_watch_open(const char *rundir, struct lc_loop *loop, int flags,
    lc_watch_fn *fn, void *arg);
void lc_watch_close(struct lc_watch *w);

/* Which pid holds `name` now. fresh: first bring the watcher up to date with the supervisor
 * that owns the name (all of them if unknown), waiting at most LC_WATCH_REQ_MS for each;
 * events that this delivers run the callback before lc_watch_lookup returns. A supervisor
 * that does not answer leaves what the watcher knew, unless fresh is LC_WATCH_FRESH_STRICT:
 * then -1 with ETIMEDOUT. Returns 1 with *pid (and *sup, if not NULL, the owning supervisor's
 * name, valid until the next call into the watcher), 0 when nothing runs under that name, or
 * -1 with errno. */
#define LC_WATCH_FRESH_STRICT 2
int lc_watch_lookup(struct lc_watch *w, const char *name, int fresh, pid_t *pid,
    const char **sup);

/* The reason of the last exit seen under `name`, if nothing runs under it now: returns 1 with
 * the reason in buf (cut to 63 bytes), else 0. */
int lc_watch_last_reason(struct lc_watch *w, const char *name, char *buf, size_t len);

struct lc_watch_stats {
	uint64_t events;        /* delivered, synthetic ones included */
	uint64_t from_ring;     /* of those, learned from `events SEQ` rather than PUB */
	uint64_t gaps;          /* times a PUB gap was seen */
	uint64_t timeouts;      /* requests abandoned */
	uint64_t bad_lines;     /* unparsable lines, dropped */
	uint64_t sup_restarts;  /* supervisors seen with a new pid */
	uint64_t synthetic;     /* exits delivered for children of a dead supervisor */
	size_t sups;            /* supervisors followed */
};
void lc_watch_stats(const struct lc_watch *w, struct lc_watch_stats *st);

#endif
