/* lc-testw: the test harness's worker, scriptable for OTP-scenario tests.
 *
 * Start plan (--plan FILE, shared by every incarnation of one child): each start takes the
 * first line of FILE under flock(2) and writes the rest back; a missing or empty file means
 * `ok`. Lines: ok | error (exit 1 before ready) | ignore (exit LC_EXIT_IGNORE before ready) |
 * never (never ready) | delay:MS (ready after MS) | forever-error (error, line kept).
 *
 * Signals once started: SIGUSR1 exit 0 (normal), SIGUSR2 exit LC_EXIT_SHUTDOWN ({shutdown,_}),
 * SIGHUP exit 1, SIGINT die by SIGTERM (shutdown, by itself); SIGTERM per --on-term:
 * default | ignore | delay:MS (then die by SIGTERM) | exit:N.
 *
 * With LC_TEST_LOG set, appends "NAME PID start" at start and "NAME PID term" on each SIGTERM
 * received, one write(2) each, NAME from LETITCRASH_NAME. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common.h"

static const char usage[] = "[--plan FILE] [--on-term default|ignore|delay:MS|exit:N]";

enum plan { PLAN_OK, PLAN_ERROR, PLAN_IGNORE, PLAN_NEVER, PLAN_DELAY };
enum term { TERM_DEFAULT, TERM_IGNORE, TERM_DELAY, TERM_EXIT };

struct testw {
	enum term term;
	long term_arg;                  /* ms for TERM_DELAY, status for TERM_EXIT */
	const char *plan;               /* file or NULL */
};

/* Append "NAME PID what\n" to $LC_TEST_LOG, in one write. */
static void
test_log(const char *what)
{
	const char *path = getenv("LC_TEST_LOG"), *name = getenv("LETITCRASH_NAME");
	char line[256];
	int fd, n;

	if (!path || !*path)
		return;
	n = snprintf(line, sizeof line, "%s %d %s\n", name && *name ? name : "-", (int)getpid(),
	    what);
	if (n < 0 || (size_t)n >= sizeof line)
		lc_die(LC_EXIT_BUG, "test log line too long");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		lc_die_sys(LC_EXIT_TEMP, "unable to append to %s", path);
	close(fd);
}

/* Read all of fd into a NUL-terminated heap buffer. */
static char *
slurp(int fd, const char *path)
{
	size_t len = 0, cap = 256;
	char *buf = malloc(cap);
	ssize_t r;

	if (!buf)
		lc_die_sys(LC_EXIT_TEMP, "malloc");
	while ((r = read(fd, buf + len, cap - len - 1)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			lc_die_sys(LC_EXIT_TEMP, "unable to read %s", path);
		}
		len += (size_t)r;
		if (cap - len == 1 && !(buf = realloc(buf, cap *= 2)))
			lc_die_sys(LC_EXIT_TEMP, "malloc");
	}
	buf[len] = '\0';
	return buf;
}

/* Parse one plan line (no newline). Sets *ms for delay:MS; *keep for forever-error. */
static enum plan
plan_parse(const char *line, long *ms, int *keep, const char *path)
{
	*keep = 0;
	if (!*line || !strcmp(line, "ok"))
		return PLAN_OK;
	if (!strcmp(line, "error"))
		return PLAN_ERROR;
	if (!strcmp(line, "forever-error"))
		return *keep = 1, PLAN_ERROR;
	if (!strcmp(line, "ignore"))
		return PLAN_IGNORE;
	if (!strcmp(line, "never"))
		return PLAN_NEVER;
	if (!strncmp(line, "delay:", 6)) {
		*ms = worker_ms(line + 6, path);
		return PLAN_DELAY;
	}
	lc_die(LC_EXIT_USAGE, "%s: unknown plan line: %s", path, line);
}

/* Take this start's line from the plan file (see the top of the file). */
static enum plan
plan_take(const char *path, long *ms)
{
	char *buf, *line, *rest;
	enum plan p;
	int fd, keep;
	size_t n;

	if (!path)
		return PLAN_OK;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return PLAN_OK;
		lc_die_sys(LC_EXIT_TEMP, "unable to open %s", path);
	}
	if (flock(fd, LOCK_EX) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to lock %s", path);
	buf = slurp(fd, path);
	line = buf;
	rest = strchr(buf, '\n');
	rest = rest ? (*rest = '\0', rest + 1) : buf + strlen(buf);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	p = plan_parse(line, ms, &keep, path);
	if (!keep) {
		size_t len = strlen(rest);
		if (pwrite(fd, rest, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
			lc_die_sys(LC_EXIT_TEMP, "unable to rewrite %s", path);
	}
	free(buf);
	close(fd);                      /* drops the lock */
	return p;
}

static void
parse_on_term(struct testw *w, const char *arg)
{
	if (!strcmp(arg, "default"))
		w->term = TERM_DEFAULT;
	else if (!strcmp(arg, "ignore"))
		w->term = TERM_IGNORE;
	else if (!strncmp(arg, "delay:", 6))
		w->term = TERM_DELAY, w->term_arg = worker_ms(arg + 6, "--on-term");
	else if (!strncmp(arg, "exit:", 5))
		w->term = TERM_EXIT, w->term_arg = worker_int(arg + 5, "--on-term");
	else
		worker_usage(usage, LC_EXIT_USAGE);
}

/* One received signal; returns the new SIGTERM deadline (LC_NEVER: none). */
static int64_t
on_signal(const struct testw *w, int sig, int64_t term_deadline)
{
	switch (sig) {
	case SIGUSR1: exit(0);
	case SIGUSR2: exit(LC_EXIT_SHUTDOWN);
	case SIGHUP:  exit(1);
	case SIGINT:  worker_die_by(SIGTERM);
	case SIGTERM: break;
	default: lc_die(LC_EXIT_BUG, "unexpected signal %d", sig);
	}
	test_log("term");
	switch (w->term) {
	case TERM_DEFAULT: worker_die_by(SIGTERM);
	case TERM_EXIT:    exit((int)w->term_arg);
	case TERM_IGNORE:  return term_deadline;
	case TERM_DELAY:
		return term_deadline != LC_NEVER ? term_deadline : lc_now_ms() + w->term_arg;
	}
	return term_deadline;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "plan", required_argument, NULL, 'p' },
		{ "on-term", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGTERM, 0 };
	struct testw w = { .term = TERM_DEFAULT };
	int64_t ready_at, term_at = LC_NEVER;
	long ms = 0;
	int c, sfd;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "p:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': w.plan = optarg; break;
		case 't': parse_on_term(&w, optarg); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	sfd = worker_sigfd(sigs);
	test_log("start");
	switch (plan_take(w.plan, &ms)) {
	case PLAN_OK:     ready_at = lc_now_ms(); break;
	case PLAN_ERROR:  exit(1);
	case PLAN_IGNORE: worker_ignore();
	case PLAN_NEVER:  ready_at = LC_NEVER; break;
	case PLAN_DELAY:  ready_at = lc_now_ms() + ms; break;
	default:          lc_die(LC_EXIT_BUG, "bad plan");
	}
	for (;;) {
		int64_t next = ready_at < term_at ? ready_at : term_at;
		int sig = worker_wait(sfd, next, NULL);

		if (sig)
			term_at = on_signal(&w, sig, term_at);
		else if (next == term_at)
			worker_die_by(SIGTERM);
		else
			worker_ready(), ready_at = LC_NEVER;
	}
}
