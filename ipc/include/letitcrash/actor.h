/* letitcrash: actors (docs/ipc.md).
 *
 * An actor is one process of a tree with a mailbox: a nanomsg PULL socket bound at
 * ipc://RUNDIR/NAME, where NAME and RUNDIR come from the supervisor (LETITCRASH_NAME,
 * LETITCRASH_RUNDIR). Sending by name needs no registry: the address is derived from the name.
 * A name "NAME@NODE" is on another tree reached over tcp:// (see lc_actor_open's nodes file).
 *
 * Guarantees, and their limits (NANOMSG.md): messages from one actor to another arrive in the
 * order sent, or not at all; a send that returns 0 was queued, not delivered; what is queued
 * towards a process that dies is lost. Anything that must not be lost carries an application
 * id and an acknowledgement. Deaths are learned from the supervisors' event bus (monitor, link),
 * never from the message layer.
 *
 * Memory: a struct lc_msg handed to the application points into a buffer owned by the actor;
 * it stays valid until the next lc_recv / lc_call / return from the message callback.
 * All functions return >= 0, or -1 with errno set; none prints, none exits (but lc_exit). */
#ifndef LETITCRASH_ACTOR_H
#define LETITCRASH_ACTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "letitcrash/loop.h"
#include "letitcrash/msg.h"

struct lc_actor;

/* Open this process's actor. name: NULL for $LETITCRASH_NAME; rundir: NULL for
 * $LETITCRASH_RUNDIR. loop: the process's event loop, in which the mailbox is watched and
 * lc_actor_on_message's callback runs; NULL for an actor that only uses lc_recv. Returns NULL
 * with errno (EADDRINUSE: another process holds that mailbox). */
struct lc_actor *lc_actor_open(const char *name, const char *rundir, struct lc_loop *loop);
void lc_actor_close(struct lc_actor *a);
const char *lc_actor_name(const struct lc_actor *a);
/* The loop the actor runs in: the one given to lc_actor_open, or its own (turned by lc_recv and
 * lc_call), for the application's timers and descriptors. */
struct lc_loop *lc_actor_loop(struct lc_actor *a);

/* Tell the supervisor this process is ready (LETITCRASH_READY_FD, else NOTIFY_SOCKET, else
 * nothing). Call once, after the mailbox is open and the process can serve. */
int lc_ready(void);

/* Leave with an OTP reason, so that the supervisor reports the same reason (exit.h):
 * "normal" exit 0; "shutdown" dies of SIGTERM; "{shutdown,...}" exit LC_EXIT_SHUTDOWN;
 * "killed" dies of SIGKILL; "exit N" exit N; "SIGxxx" dies of that signal (core dumps off);
 * anything else exit 1. Flushes what the actor still has queued, within a short bound, first. */
void lc_exit(struct lc_actor *a, const char *reason) __attribute__((noreturn));

/* Send: queue m for `to`; never blocks. EAGAIN: the destination's queue is full or nobody
 * has the mailbox (down): the message was not queued. */
int lc_send(struct lc_actor *a, const char *to, uint16_t type, const void *body, size_t len);

/* Call: send a request (flag CALL, a fresh ref) and wait up to timeout_ms for the reply with
 * that ref; messages arriving meanwhile are kept, in order, for later. A reply that arrives
 * after its call timed out is dropped (counted), never returned to a later call. Returns 0
 * with *reply set, or -1: ETIMEDOUT, or EAGAIN when the request could not be queued. */
int lc_call(struct lc_actor *a, const char *to, uint16_t type, const void *body, size_t len,
    int timeout_ms, struct lc_msg *reply);

/* Reply to a request (its `from` and `ref`). */
int lc_reply(struct lc_actor *a, const struct lc_msg *req, uint16_t type, const void *body,
    size_t len);

/* Forward m to `to` unchanged but for the destination: same type, ref, body and sender, so the
 * final receiver replies to the original caller. */
int lc_forward(struct lc_actor *a, const char *to, const struct lc_msg *m);

/* Receive the next message (kept ones first), waiting up to timeout_ms (-1: no limit, 0: poll).
 * Returns 0 with *m set, or -1 with ETIMEDOUT. */
int lc_recv(struct lc_actor *a, struct lc_msg *m, int timeout_ms);

/* Event-loop actors: fn runs for every message, in order, from the loop. */
typedef void lc_actor_fn(struct lc_actor *a, const struct lc_msg *m, void *arg);
void lc_actor_on_message(struct lc_actor *a, lc_actor_fn *fn, void *arg);

/* Links and monitors, across processes, through the supervisors' event buses.
 * lc_monitor: a DOWN message (from = the watched name, ref = the returned ref, body = reason)
 * when the process now holding that name exits, or at once ("noproc") if none does; it fires
 * once. lc_link: both ways; when either exits with a reason other than normal, the other exits
 * with the same reason, unless it traps exits: then it gets an EXIT message (from = the dead
 * one, body = reason). lc_monitor_pid: a monitor of one incarnation, the process `pid` under
 * `name` (OTP's monitor of a pid): DOWN when it exits, or at once ("noproc") if, the owning
 * supervisor asked, it holds the name no more; if that supervisor does not answer, the
 * monitor is made as if pid still held the name. */
uint64_t lc_monitor(struct lc_actor *a, const char *name);
uint64_t lc_monitor_pid(struct lc_actor *a, const char *name, pid_t pid);
int lc_demonitor(struct lc_actor *a, uint64_t ref);
int lc_link(struct lc_actor *a, const char *name);
int lc_unlink(struct lc_actor *a, const char *name);
void lc_trap_exit(struct lc_actor *a, int on);

/* Coalescing (docs/ipc.md): while corked, sends are buffered and packed into frames of up to
 * 64 KiB instead of going out one by one; uncorking flushes. The loop flushes anyway within
 * about 1 ms, and before every wait of lc_recv / lc_call. */
void lc_actor_cork(struct lc_actor *a, int on);
/* Hand what is buffered to nanomsg now, as far as it takes it (never blocks). Returns the
 * bytes still buffered (0: all handed over). */
size_t lc_flush(struct lc_actor *a);

/* Malformed frames are counted and dropped, never delivered. The library never prints: fn, if
 * set, is called for the first bad frame of a burst (then at most once a second) with the
 * number dropped since the last call and the total, so the program can log it once. */
typedef void lc_actor_bad_fn(struct lc_actor *a, uint64_t dropped, uint64_t total, void *arg);
void lc_actor_on_bad_frame(struct lc_actor *a, lc_actor_bad_fn *fn, void *arg);

struct lc_actor_stats {
	uint64_t sent, received;        /* messages */
	uint64_t frames_in, frames_out;
	uint64_t bad_frames;            /* malformed, dropped */
	uint64_t stale_replies;         /* replies to calls that had timed out */
	uint64_t send_eagain;
};
void lc_actor_stats(const struct lc_actor *a, struct lc_actor_stats *st);

#endif
