/* letitcrash: exit statuses and how an exit maps onto an OTP exit reason.
 *
 *   exit status 0                    normal
 *   killed by SIGTERM (anyone's)     shutdown
 *   exit status LC_EXIT_SHUTDOWN     {shutdown, _}      (a worker's deliberate clean stop)
 *   exit status LC_EXIT_GAVE_UP      shutdown           (a supervisor that reached its intensity)
 *   exit status LC_EXIT_IGNORE       ignore             (only before readiness: "do not start me")
 *   anything else                    abnormal: "exit N", or the signal's name ("killed", "SIGSEGV")
 *
 * Program exit codes follow s6: 100 usage or config error, 101 internal bug, 111 temporary
 * system failure. */
#ifndef LETITCRASH_EXIT_H
#define LETITCRASH_EXIT_H

#include <stddef.h>

#define LC_EXIT_OK        0
#define LC_EXIT_IGNORE    95
#define LC_EXIT_GAVE_UP   96
#define LC_EXIT_SHUTDOWN  97
#define LC_EXIT_USAGE     100
#define LC_EXIT_BUG       101
#define LC_EXIT_TEMP      111

enum lc_reason_kind {
	LC_REASON_NORMAL,        /* exit 0 */
	LC_REASON_SHUTDOWN,      /* SIGTERM, or a supervisor giving up */
	LC_REASON_SHUTDOWN_TERM, /* {shutdown, _} */
	LC_REASON_IGNORE,        /* LC_EXIT_IGNORE before readiness */
	LC_REASON_KILLED,        /* SIGKILL */
	LC_REASON_ABNORMAL,      /* any other status or signal */
};

/* Classify a wait(2) status. `ready` says whether the child had become ready (LC_EXIT_IGNORE
 * means ignore only before that). */
enum lc_reason_kind lc_reason_of(int wstatus, int ready);
/* Render the reason as OTP would print it: "normal", "shutdown",
 * "{shutdown,exit}", "killed", "SIGSEGV", "exit 3". Returns buf. */
char *lc_reason_str(int wstatus, int ready, char *buf, size_t len);
/* True for the reasons a transient child is not restarted for (normal, shutdown, {shutdown,_}). */
int lc_reason_is_clean(enum lc_reason_kind k);

#endif
