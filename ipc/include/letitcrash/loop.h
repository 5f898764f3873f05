/* letitcrash: the event loop every process runs.
 *
 * One epoll instance, level-triggered. Watched descriptors are caller-owned `struct lc_io`
 * records (no allocation per fd); timers are caller-owned `struct lc_timer` records kept in a
 * binary heap ordered by CLOCK_MONOTONIC deadline (ms). Signals are blocked and read from a
 * signalfd, so nothing ever runs in signal context.
 *
 * It is safe to stop watching an io or cancel a timer from inside any callback, including the
 * one being run: events already fetched for a removed io are dropped. Not thread-safe: one loop
 * per thread, and the project's processes are single-threaded. */
#ifndef LETITCRASH_LOOP_H
#define LETITCRASH_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct lc_loop;
struct lc_io;
struct lc_timer;
struct lc_hook;

typedef void lc_io_fn(struct lc_loop *, struct lc_io *, uint32_t events);
typedef void lc_timer_fn(struct lc_loop *, struct lc_timer *);
typedef void lc_signal_fn(struct lc_loop *, int signo, pid_t sender, void *arg);
typedef void lc_hook_fn(struct lc_loop *, struct lc_hook *);

struct lc_io {
	int fd;
	lc_io_fn *fn;
	void *arg;
	int active;             /* private */
};

struct lc_timer {
	int64_t when;           /* deadline, lc_now_ms() clock; LC_NEVER when idle */
	lc_timer_fn *fn;
	void *arg;
	size_t slot;            /* private: index in the heap, or (size_t)-1 */
};

/* A before-wait hook (redis's beforeSleep): run at the start of every outermost turn, before
 * the wait is computed, so what a turn's callbacks queued goes out once, before the process
 * sleeps. */
struct lc_hook {
	lc_hook_fn *fn;
	void *arg;
	struct lc_hook *next;   /* private */
	int active;             /* private */
};

#define LC_LOOP_BATCH 64

struct lc_loop {
	int epfd;
	int stop;
	struct lc_timer **heap;
	size_t nheap, capheap;
	struct epoll_event ev[LC_LOOP_BATCH];
	int nev, iev;           /* events fetched by the current turn, and the one being run */
	struct lc_io sigio;
	lc_signal_fn *sigfn;
	void *sigarg;
	struct lc_hook *hooks;
	int depth;              /* lc_loop_once calls in progress (a callback may turn the loop) */
};

int  lc_loop_init(struct lc_loop *self);
void lc_loop_fini(struct lc_loop *self);

/* Watch io->fd for `events` (EPOLLIN ...). Returns 0, or -1 with errno. */
int  lc_io_start(struct lc_loop *self, struct lc_io *io, uint32_t events);
int  lc_io_modify(struct lc_loop *self, struct lc_io *io, uint32_t events);
void lc_io_stop(struct lc_loop *self, struct lc_io *io);

void lc_timer_init(struct lc_timer *t, lc_timer_fn *fn, void *arg);
/* Arm (or re-arm) t to fire at `when` (ms, monotonic). */
int  lc_timer_set(struct lc_loop *self, struct lc_timer *t, int64_t when);
void lc_timer_cancel(struct lc_loop *self, struct lc_timer *t);
static inline int lc_timer_armed(const struct lc_timer *t) { return t->slot != (size_t)-1; }

/* Run fn(loop, hook) before every wait of an outermost turn (not in a turn nested inside a
 * callback, e.g. lc_call's, when the callers up the stack may hold pointers a hook frees).
 * Hooks run in reverse order of addition: an application's hook added after a library's runs
 * first, so what it queues is flushed by the library's hook of the same turn. A hook may arm
 * timers (they count for this turn's wait), add hooks (run from the next turn on) and delete
 * itself. Adding an active hook does nothing. */
void lc_hook_add(struct lc_loop *self, struct lc_hook *h, lc_hook_fn *fn, void *arg);
void lc_hook_del(struct lc_loop *self, struct lc_hook *h);

/* Block the signals of `set` and deliver them to fn through a signalfd. sender is the pid
 * that sent the signal (0 for the kernel). Call once. */
int  lc_loop_signals(struct lc_loop *self, const sigset_t *set, lc_signal_fn *fn, void *arg);

/* One turn: run the before-wait hooks (outermost turns only), wait for events up to the
 * earliest timer or max_wait_ms (-1: no limit), run the callbacks of due timers and ready
 * descriptors. Returns 0, or -1 with errno (not EINTR). */
int  lc_loop_once(struct lc_loop *self, int max_wait_ms);
/* Turn until lc_loop_break(). */
int  lc_loop_run(struct lc_loop *self);
static inline void lc_loop_break(struct lc_loop *self) { self->stop = 1; }

#endif
