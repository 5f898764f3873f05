/* letitcrash: reporting for executables.
 *
 * The library itself never prints. Executables report through this one family, in one shape:
 *   PROG: fatal: unable to spawn chat-session: Too many open files
 * lc_log_init() names the program (defaults to argv[0]'s basename). The _sys variants append
 * ": strerror(errno)". Each message is written with a single write(2) so lines from several
 * processes sharing stderr never interleave. */
#ifndef LETITCRASH_LOG_H
#define LETITCRASH_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum lc_log_level { LC_LOG_DEBUG, LC_LOG_INFO, LC_LOG_WARN, LC_LOG_FATAL };

void lc_log_init(const char *prog);
const char *lc_log_prog(void);
void lc_log_set_level(enum lc_log_level min);
void lc_logv(enum lc_log_level lvl, int errnum, const char *fmt, va_list ap);

void lc_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lc_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lc_warn_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "PROG: fatal: ..." and exit with status `code` (see exit.h). */
/* An lc_actor_bad_fn (letitcrash/actor.h) that logs the malformed frames an actor dropped:
 * `prog: warning: NAME: dropped 3 malformed frames (5 in all)`. Install it with
 * lc_actor_on_bad_frame(a, lc_log_bad_frames, NULL). */
struct lc_actor;
void lc_log_bad_frames(struct lc_actor *a, uint64_t dropped, uint64_t total, void *arg);

void lc_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void lc_die_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
