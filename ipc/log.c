/* Reporting for executables: see letitcrash/log.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "letitcrash/actor.h"
#include "letitcrash/log.h"

static char prog[64] = "letitcrash";
static enum lc_log_level minlvl = LC_LOG_INFO;

void
lc_log_init(const char *name)
{
	const char *slash = strrchr(name, '/');
	snprintf(prog, sizeof prog, "%s", slash ? slash + 1 : name);
	const char *d = getenv("LETITCRASH_DEBUG");
	if (d && *d && strcmp(d, "0") != 0)
		minlvl = LC_LOG_DEBUG;
}

const char *
lc_log_prog(void)
{
	return prog;
}

void
lc_log_set_level(enum lc_log_level min)
{
	minlvl = min;
}

void
lc_logv(enum lc_log_level lvl, int errnum, const char *fmt, va_list ap)
{
	static const char *tag[] = { "debug: ", "", "warning: ", "fatal: " };
	char line[2048];
	int n, m;

	if (lvl < minlvl)
		return;
	n = snprintf(line, sizeof line, "%s: %s", prog, tag[lvl]);
	m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	n = m < 0 ? n : (size_t)(n + m) >= sizeof line - 2 ? (int)sizeof line - 2 : n + m;
	if (errnum) {
		m = snprintf(line + n, sizeof line - n, ": %s", strerror(errnum));
		n = m < 0 ? n : (size_t)(n + m) >= sizeof line - 2 ? (int)sizeof line - 2 : n + m;
	}
	line[n++] = '\n';
	while (write(2, line, n) < 0 && errno == EINTR)
		;
}

#define LC_LOGFN(name, lvl, useerr)                                 \
	void name(const char *fmt, ...)                             \
	{                                                           \
		int e = errno;                                      \
		va_list ap;                                         \
		va_start(ap, fmt);                                  \
		lc_logv(lvl, useerr ? e : 0, fmt, ap);              \
		va_end(ap);                                         \
		errno = e;                                          \
	}

LC_LOGFN(lc_info, LC_LOG_INFO, 0)
LC_LOGFN(lc_debug, LC_LOG_DEBUG, 0)
LC_LOGFN(lc_warn, LC_LOG_WARN, 0)
LC_LOGFN(lc_warn_sys, LC_LOG_WARN, 1)

void
lc_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lc_logv(LC_LOG_FATAL, 0, fmt, ap);
	va_end(ap);
	exit(code);
}

void
lc_die_sys(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	lc_logv(LC_LOG_FATAL, e, fmt, ap);
	va_end(ap);
	exit(code);
}

void
lc_log_bad_frames(struct lc_actor *a, uint64_t dropped, uint64_t total, void *arg)
{
	lc_warn("%s: dropped %llu malformed frame%s (%llu in all)", lc_actor_name(a),
	    (unsigned long long)dropped, dropped == 1 ? "" : "s", (unsigned long long)total);
}
