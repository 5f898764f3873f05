/* letitcrash workers: private header. Prototypes are grouped by the file that defines them.
 *
 * Every worker follows one shape: worker_init(), options, worker_sigfd() for the signals it
 * handles (blocked, read from a signalfd: nothing runs in signal context), worker_ready() when
 * it is ready, then a loop on worker_wait(). */
#ifndef WORKERS_COMMON_H
#define WORKERS_COMMON_H

#include <stdint.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"

/* common.c */
/* Name the program for log.h and mark an inherited readiness descriptor close-on-exec. */
void worker_init(const char *argv0);
/* Print `usage` ("[-v] [--after MS]": what follows the program name) and exit: on stdout
 * with status 0 for -h, on stderr with LC_EXIT_USAGE otherwise. */
void worker_usage(const char *usage, int code) __attribute__((noreturn));
/* Parse a duration in milliseconds (0 .. INT32_MAX) for option `opt`; usage error if bad. */
long worker_ms(const char *arg, const char *opt);
/* Parse an int (INT_MIN .. INT_MAX) for option `opt`; usage error if bad. */
int  worker_int(const char *arg, const char *opt);
/* Block the signals of the 0-terminated list `sigs` and return a close-on-exec signalfd for
 * them. Dies (111) on failure. */
int  worker_sigfd(const int *sigs);
/* Wait for one of the signals of `sfd` until `deadline` (lc_now_ms() scale, LC_NEVER: no
 * limit). Returns the signal number, 0 at the deadline; sets *pid (if not NULL) to the
 * sender's pid. Dies (111) on failure. */
int  worker_wait(int sfd, int64_t deadline, int *pid);
/* Tell the supervisor we are ready, once (later calls do nothing):
 *   LETITCRASH_READY_FD=N  write "\n" to fd N and close it (s6's notification-fd);
 *   NOTIFY_SOCKET=PATH     send "READY=1" to that datagram socket ('@': abstract), as
 *                          sd_notify(3);
 *   neither                nothing: the supervisor counts us ready at exec.
 * Both variables are removed from the environment. Dies (111) if the message cannot go. */
void worker_ready(void);
struct lc_actor;
/* Log dropped malformed frames (once per burst) on stderr: "NAME: warning: dropped ...". */
void worker_log_bad_frames(struct lc_actor *a);
struct lc_msg;
/* Run an event-loop actor until SIGTERM: open the mailbox ($LETITCRASH_NAME), log dropped
 * frames, hand every message to on_msg, become ready, and on SIGTERM leave with `shutdown`.
 * Never returns. */
void worker_serve(void (*on_msg)(struct lc_actor *, const struct lc_msg *, void *), void *arg)
	__attribute__((noreturn));
/* OTP's `ignore`: exit with LC_EXIT_IGNORE (before readiness). */
void worker_ignore(void) __attribute__((noreturn));
/* Die by `sig` with its default action (for SIGTERM: reason shutdown). */
void worker_die_by(int sig) __attribute__((noreturn));

#endif
