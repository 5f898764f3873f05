/* Exit statuses and OTP exit reasons: see letitcrash/exit.h. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "letitcrash/exit.h"

enum lc_reason_kind
lc_reason_of(int st, int ready)
{
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGTERM)
			return LC_REASON_SHUTDOWN;
		return WTERMSIG(st) == SIGKILL ? LC_REASON_KILLED : LC_REASON_ABNORMAL;
	}
	switch (WEXITSTATUS(st)) {
	case LC_EXIT_OK:       return LC_REASON_NORMAL;
	case LC_EXIT_GAVE_UP:  return LC_REASON_SHUTDOWN;
	case LC_EXIT_SHUTDOWN: return LC_REASON_SHUTDOWN_TERM;
	case LC_EXIT_IGNORE:   return ready ? LC_REASON_ABNORMAL : LC_REASON_IGNORE;
	default:               return LC_REASON_ABNORMAL;
	}
}

char *
lc_reason_str(int st, int ready, char *buf, size_t len)
{
	switch (lc_reason_of(st, ready)) {
	case LC_REASON_NORMAL:
		snprintf(buf, len, "normal");
		break;
	case LC_REASON_SHUTDOWN:
		snprintf(buf, len, "shutdown");
		break;
	case LC_REASON_SHUTDOWN_TERM:
		snprintf(buf, len, "{shutdown,exit}");
		break;
	case LC_REASON_IGNORE:
		snprintf(buf, len, "ignore");
		break;
	case LC_REASON_KILLED:
		snprintf(buf, len, "killed");
		break;
	case LC_REASON_ABNORMAL:
		if (WIFSIGNALED(st)) {
			const char *a = sigabbrev_np(WTERMSIG(st));
			if (a)
				snprintf(buf, len, "SIG%s", a);
			else
				snprintf(buf, len, "signal %d", WTERMSIG(st));
		} else
			snprintf(buf, len, "exit %d", WEXITSTATUS(st));
		break;
	}
	return buf;
}

int
lc_reason_is_clean(enum lc_reason_kind k)
{
	return k == LC_REASON_NORMAL || k == LC_REASON_SHUTDOWN || k == LC_REASON_SHUTDOWN_TERM;
}
