/* Shared by the workers: readiness, signals, options. See common.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "letitcrash/actor.h"

#include "common.h"

/* The readiness descriptor named by LETITCRASH_READY_FD, or -1 if unset or malformed. */
static int
ready_fd(void)
{
	const char *s = getenv("LETITCRASH_READY_FD");
	char *end;
	long fd;

	if (!s || !*s)
		return -1;
	errno = 0;
	fd = strtol(s, &end, 10);
	if (errno || *end || fd < 0 || fd > INT_MAX)
		lc_die(LC_EXIT_USAGE, "LETITCRASH_READY_FD is not a descriptor: %s", s);
	return (int)fd;
}

void
worker_init(const char *argv0)
{
	int fd;

	lc_log_init(argv0);
	fd = ready_fd();
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		lc_die_sys(LC_EXIT_USAGE, "LETITCRASH_READY_FD=%d", fd);
}

void
worker_usage(const char *usage, int code)
{
	fprintf(code ? stderr : stdout, "usage: %s %s\n", lc_log_prog(), usage);
	exit(code);
}

long
worker_ms(const char *arg, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT32_MAX) {
		lc_die(LC_EXIT_USAGE, "%s: not a duration in milliseconds: %s", opt, arg);
	}
	return v;
}

int
worker_int(const char *arg, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < INT_MIN || v > INT_MAX) {
		lc_die(LC_EXIT_USAGE, "%s: not an integer: %s", opt, arg);
	}
	return (int)v;
}

int
worker_sigfd(const int *sigs)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (; *sigs; sigs++)
		sigaddset(&set, *sigs);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to block signals");
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to create a signalfd");
	return fd;
}

int
worker_wait(int sfd, int64_t deadline, int *pid)
{
	struct signalfd_siginfo si;
	struct pollfd p = { .fd = sfd, .events = POLLIN };

	for (;;) {
		int64_t now = lc_now_ms();
		int timeout = -1;
		ssize_t r;

		if (deadline != LC_NEVER) {
			if (now >= deadline)
				return 0;
			timeout = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
		}
		if (poll(&p, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			lc_die_sys(LC_EXIT_TEMP, "poll");
		}
		r = read(sfd, &si, sizeof si);
		if (r == (ssize_t)sizeof si) {
			if (pid)
				*pid = (int)si.ssi_pid;
			return (int)si.ssi_signo;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			lc_die_sys(LC_EXIT_TEMP, "read signalfd");
	}
}

void
worker_ready(void)
{
	if (lc_ready() < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to notify readiness");
}

void
worker_ignore(void)
{
	exit(LC_EXIT_IGNORE);
}

void
worker_die_by(int sig)
{
	sigset_t set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);                     /* pending while blocked: delivered on unblocking */
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	lc_die(LC_EXIT_BUG, "still alive after raising signal %d", sig);
}

void
worker_log_bad_frames(struct lc_actor *a)
{
	lc_actor_on_bad_frame(a, lc_log_bad_frames, NULL);
}

static void
serve_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_exit(arg, "shutdown");
}

void
worker_serve(void (*on_msg)(struct lc_actor *, const struct lc_msg *, void *), void *arg)
{
	static struct lc_loop loop;
	struct lc_actor *a;
	sigset_t set;

	if (lc_loop_init(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to create the event loop");
	if (!(a = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	worker_log_bad_frames(a);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	if (lc_loop_signals(&loop, &set, serve_signal, a) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to watch signals");
	lc_actor_on_message(a, on_msg, arg);
	worker_ready();
	lc_loop_run(&loop);
	lc_die_sys(LC_EXIT_TEMP, "event loop");
}
