/* lc-bench-bound: the smallest supervisor that does the job, as a lower bound for restart
 * latency: posix_spawn one child with a readiness pipe on fd 3 (LETITCRASH_READY_FD=3), read
 * SIGCHLD from a signalfd in a poll loop, respawn at once. SIGTERM or SIGINT: stop the child
 * with SIGTERM, reap it, exit 0.
 *
 * Usage: lc-bench-bound PROG [ARG...]   (PROG: an absolute path) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"

extern char **environ;

struct bound {
	char **argv;
	pid_t child;                    /* 0: none */
	int ready_rd;                   /* read end of the current child's pipe, or -1 */
	unsigned long starts, readies;
};

/* Spawn the child with the write end of a fresh pipe as its fd 3. */
static void
spawn(struct bound *b)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int p[2], w, e;

	if (pipe2(p, O_CLOEXEC) < 0)
		lc_die_sys(LC_EXIT_TEMP, "pipe");
	/* dup2 onto itself would keep close-on-exec: make sure the write end is not fd 3 */
	w = fcntl(p[1], F_DUPFD_CLOEXEC, 4);
	close(p[1]);
	if (w < 0)
		lc_die_sys(LC_EXIT_TEMP, "fcntl");
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, w, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSID);
	e = posix_spawn(&b->child, b->argv[0], &fa, &at, b->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(w);
	if (e) {
		errno = e;
		lc_die_sys(LC_EXIT_TEMP, "unable to spawn %s", b->argv[0]);
	}
	if (b->ready_rd >= 0)
		close(b->ready_rd);
	b->ready_rd = p[0];
	b->starts++;
}

/* Reap every exited child; respawn ours unless stopping. Returns 1 if ours exited. */
static int
reap(struct bound *b)
{
	int st, gone = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == b->child)
			b->child = 0, gone = 1;
	return gone;
}

int
main(int argc, char **argv)
{
	struct bound b = { .argv = argv + 1, .ready_rd = -1 };
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd;

	lc_log_init(argv[0]);
	if (argc < 2 || argv[1][0] != '/')
		lc_die(LC_EXIT_USAGE, "usage: lc-bench-bound /PROG [ARG...]");
	if (setenv("LETITCRASH_READY_FD", "3", 1) < 0)
		lc_die_sys(LC_EXIT_TEMP, "setenv");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		lc_die_sys(LC_EXIT_TEMP, "signalfd");
	spawn(&b);
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
		                       { .fd = b.ready_rd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			lc_die_sys(LC_EXIT_TEMP, "poll");
		if (p[1].revents) {             /* readiness newline, or EOF once it closed fd 3 */
			char c[16];
			if (read(b.ready_rd, c, sizeof c) > 0)
				b.readies++;
			close(b.ready_rd);
			b.ready_rd = -1;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo != SIGCHLD) {
				if (b.child)
					kill(b.child, SIGTERM);
				while (b.child && waitpid(b.child, NULL, 0) < 0 && errno == EINTR)
					;
				lc_info("%lu starts, %lu ready", b.starts, b.readies);
				return 0;
			}
		}
		if (reap(&b))
			spawn(&b);
	}
}
