/* scripts/bench: what lc-bench-ipc (raw nanomsg, unix socket) and lc-bench-actor (the
 * library) share: spawning the peer process, timing, the printed result. Header-only, so each
 * benchmark stays one .c file for the Makefile's lc-bench-% rule. */
#ifndef BENCH_IPC_H
#define BENCH_IPC_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static inline int64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench: fatal: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s%s\n", errno ? ": " : "", errno ? strerror(errno) : "");
	va_end(ap);
	exit(111);
}

/* Start `self --peer ARGS...` with posix_spawn (NANOMSG.md rule 1): its stdin is the read end
 * of a pipe whose write end goes to *stop (close it to tell the peer to exit), fd 3 is
 * `fd3` (-1: none); every other descriptor closed, signals reset. Returns the pid. */
static inline pid_t
bench_spawn(const char *self, char *const argv[], int *stop, int fd3)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		bench_die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	if (fd3 >= 0)
		posix_spawn_file_actions_adddup2(&fa, fd3, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, fd3 >= 0 ? 4 : 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	{
		sigset_t all;
		sigfillset(&all);
		posix_spawnattr_setsigdefault(&at, &all);
	}
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	errno = posix_spawn(&pid, self, &fa, &at, argv, environ);
	if (errno)
		bench_die("spawn %s", self);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0]);
	*stop = p[1];
	return pid;
}

/* Close the peer's stdin and reap it; dies if it failed. */
static inline void
bench_reap(pid_t pid, int stop)
{
	int st;
	close(stop);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_die("peer failed (status %#x)", st);
}

/* The peer's "wait until the parent is done": read stdin until EOF. */
static inline void
bench_wait_stop(void)
{
	char c;
	while (read(0, &c, 1) > 0 || errno == EINTR)
		;
}

static int
bench_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Print "lat MEDIAN_US P99_US" for n round trips (ns), sorted in place. */
static inline void
bench_print_lat(int64_t *rtt, size_t n)
{
	qsort(rtt, n, sizeof *rtt, bench_cmp64);
	printf("lat %.1f %.1f\n", rtt[n / 2] / 1e3, rtt[(n * 99) / 100] / 1e3);
}

/* Print "thr MSGS_PER_S" for n messages received between t0 (first) and t1 (last). */
static inline void
bench_print_thr(size_t n, int64_t t0, int64_t t1)
{
	printf("thr %.0f\n", (double)(n - 1) * 1e9 / (double)(t1 - t0));
}

#endif
