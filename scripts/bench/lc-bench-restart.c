/* lc-bench-restart: the measuring side of scripts/bench-restart.
 *
 *   lc-bench-restart restart FIFO KILLS GAP_MS TIMEOUT_MS -- CMD [ARG...]
 *     Runs CMD (a supervisor of one lc-bench-probe writing its records to FIFO), then KILLS
 *     times: waits until GAP_MS after the current probe's ready stamp, takes t0, SIGKILLs the
 *     probe and waits for the next probe's record; latency = its stamp - t0. Prints
 *     "RESULT kills=N median_ms=X p99_ms=Y min_ms=A max_ms=B".
 *   lc-bench-restart tree SOCKET TIMEOUT_MS -- CMD [ARG...]
 *     Binds a datagram socket at SOCKET, runs CMD with NOTIFY_SOCKET=SOCKET, times launch to
 *     "READY=1", reads CMD's VmRSS and its number of children, then times SIGTERM to exit.
 *     Prints "TREE start_ms=X stop_ms=Y rss_kb=R children=C status=S".
 *
 * CMD runs in its own process group; it is stopped with SIGTERM (then SIGKILL of the group
 * after TIMEOUT_MS) at the end and on any failure. Every wait has TIMEOUT_MS: a supervisor that
 * dies or stalls fails the run at once (exit 111) with a message naming what was awaited.
 * SIGTERM, SIGINT or SIGHUP stop CMD and exit 111 too. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"

struct run {
	pid_t cmd;                      /* 0 once reaped */
	int cmd_status;
	int sfd;                        /* signalfd: SIGCHLD, SIGTERM, SIGINT, SIGHUP */
	int stopping;
	int timeout_ms;
	int probe_pid;                  /* restart mode: the current probe, for cleanup */
};

static struct run R;

static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reap CMD if it exited. Returns 1 if it is gone. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static int
cmd_reaped(void)
{
	struct signalfd_siginfo si;
	int st;

	while (read(R.sfd, &si, sizeof si) == (ssize_t)sizeof si)
		if (si.ssi_signo != SIGCHLD && !R.stopping)
			fail("interrupted by signal %d", (int)si.ssi_signo);
	if (R.cmd && waitpid(R.cmd, &st, WNOHANG) == R.cmd)
		R.cmd = 0, R.cmd_status = st;
	return R.cmd == 0;
}

/* Stop CMD: SIGTERM, then SIGKILL to its group after the timeout. Returns CMD's status. */
static int
cmd_stop(void)
{
	int64_t deadline = now_ns() + (int64_t)R.timeout_ms * 1000000;

	R.stopping = 1;
	if (R.cmd)
		kill(R.cmd, SIGTERM);
	while (!cmd_reaped()) {
		struct pollfd p = { .fd = R.sfd, .events = POLLIN };
		int left = (int)((deadline - now_ns()) / 1000000);
		if (left <= 0) {
			lc_warn("%d did not stop within %d ms: killing its group", (int)R.cmd,
			    R.timeout_ms);
			killpg(R.cmd, SIGKILL);
			waitpid(R.cmd, &R.cmd_status, 0);
			R.cmd = 0;
			break;
		}
		poll(&p, 1, left);
	}
	if (R.probe_pid > 0 && kill(R.probe_pid, 0) == 0)
		kill(R.probe_pid, SIGKILL);     /* a supervisor that left its child behind */
	return R.cmd_status;
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lc_logv(LC_LOG_FATAL, 0, fmt, ap);
	va_end(ap);
	cmd_stop();
	exit(LC_EXIT_TEMP);
}

static void
cmd_start(char **argv, const char *env_key, const char *env_val)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((R.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		lc_die_sys(LC_EXIT_TEMP, "signalfd");
	if ((R.cmd = fork()) < 0)
		lc_die_sys(LC_EXIT_TEMP, "fork");
	if (R.cmd == 0) {
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		setpgid(0, 0);
		if (env_key)
			setenv(env_key, env_val, 1);
		execvp(argv[0], argv);
		lc_die_sys(LC_EXIT_TEMP, "unable to exec %s", argv[0]);
	}
	setpgid(R.cmd, R.cmd);
}

/* Wait until `fd` is readable, failing if CMD dies or `what` takes longer than the timeout. */
static void
await(int fd, const char *what)
{
	int64_t deadline = now_ns() + (int64_t)R.timeout_ms * 1000000;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
		                       { .fd = R.sfd, .events = POLLIN } };
		int left = (int)((deadline - now_ns()) / 1000000);

		if (left < 0)
			fail("timed out after %d ms waiting for %s", R.timeout_ms, what);
		if (poll(p, 2, left + 1) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (p[0].revents)
			return;
		if (p[1].revents && cmd_reaped())
			fail("the supervisor exited (status 0x%x) while waiting for %s",
			    R.cmd_status, what);
	}
}

/* Next "PID NS" record from the FIFO (buffered: records may arrive together). */
static void
next_record(int fd, int *pid, int64_t *ns, const char *what)
{
	static char buf[4096];
	static size_t len;
	char *nl;

	while (!(nl = memchr(buf, '\n', len))) {
		ssize_t r;
		if (len == sizeof buf)
			fail("garbage on the FIFO");
		await(fd, what);
		r = read(fd, buf + len, sizeof buf - len);
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			fail("read FIFO: %s", strerror(errno));
		if (r > 0)
			len += (size_t)r;
	}
	*nl = '\0';
	{
		long long v;
		if (sscanf(buf, "%d %lld", pid, &v) != 2)
			fail("bad record on the FIFO: %s", buf);
		*ns = v;
	}
	len -= (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, len);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Sleep until t_ns, still noticing CMD's death and our own signals. */
static void
sleep_until(int64_t t_ns)
{
	for (;;) {
		struct pollfd p = { .fd = R.sfd, .events = POLLIN };
		int64_t left = t_ns - now_ns();

		if (left <= 0)
			return;
		if (poll(&p, 1, (int)((left + 999999) / 1000000)) > 0 && cmd_reaped())
			fail("the supervisor exited (status 0x%x)", R.cmd_status);
	}
}

static int
bench_restart(const char *fifo, int kills, int gap_ms, char **cmd)
{
	int64_t *lat, ready_ns, t0;
	int fd, i, pid;

	if (kills < 1 || gap_ms < 0)
		lc_die(LC_EXIT_USAGE, "bad KILLS or GAP_MS");
	if (!(lat = calloc((size_t)kills, sizeof *lat)))
		lc_die_sys(LC_EXIT_TEMP, "malloc");
	/* O_RDWR: the FIFO never reads EOF between two probes */
	if ((fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to open %s", fifo);
	cmd_start(cmd, NULL, NULL);
	next_record(fd, &pid, &ready_ns, "the first probe");
	for (i = 0; i < kills; i++) {
		int old = pid;
		R.probe_pid = pid;
		sleep_until(ready_ns + (int64_t)gap_ms * 1000000);
		if (cmd_reaped())
			fail("the supervisor exited (status 0x%x)", R.cmd_status);
		t0 = now_ns();
		if (kill(pid, SIGKILL) < 0)
			fail("kill %d: %s", pid, strerror(errno));
		do
			next_record(fd, &pid, &ready_ns, "a restarted probe");
		while (pid == old);
		R.probe_pid = pid;
		lat[i] = ready_ns - t0;
	}
	cmd_stop();
	qsort(lat, (size_t)kills, sizeof *lat, cmp_i64);
	/* median: mean of the two middle values; p99: nearest rank */
	printf("RESULT kills=%d median_ms=%.3f p99_ms=%.3f min_ms=%.3f max_ms=%.3f\n", kills,
	    (lat[(kills - 1) / 2] + lat[kills / 2]) / 2e6,
	    lat[(99 * kills + 99) / 100 - 1] / 1e6, lat[0] / 1e6, lat[kills - 1] / 1e6);
	free(lat);
	return 0;
}

/* VmRSS (kB) of pid, or -1. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Number of direct children of pid (from /proc/PID/task/PID/children), or -1. */
static long
nchildren(pid_t pid)
{
	char path[64];
	long n = 0;
	int c, prev = ' ';
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while ((c = getc(f)) != EOF) {
		if (c != ' ' && prev == ' ')
			n++;
		prev = c;
	}
	fclose(f);
	return n;
}

static int
bench_tree(const char *path, char **cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t t0, t_ready, t1;
	char msg[256];
	long rss, kids;
	int fd, st;
	ssize_t r;

	if (strlen(path) >= sizeof sa.sun_path)
		lc_die(LC_EXIT_USAGE, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to bind %s", path);
	t0 = now_ns();
	cmd_start(cmd, "NOTIFY_SOCKET", path);
	for (;;) {
		await(fd, "READY=1 from the supervisor");
		if ((r = recv(fd, msg, sizeof msg - 1, 0)) < 0)
			continue;
		msg[r] = '\0';
		if (strstr(msg, "READY=1"))
			break;
	}
	t_ready = now_ns();
	rss = rss_kb(R.cmd);
	kids = nchildren(R.cmd);
	t1 = now_ns();
	st = cmd_stop();
	printf("TREE start_ms=%.1f stop_ms=%.1f rss_kb=%ld children=%ld status=%s%d\n",
	    (t_ready - t0) / 1e6, (now_ns() - t1) / 1e6, rss, kids,
	    WIFSIGNALED(st) ? "signal:" : "exit:", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	close(fd);
	unlink(path);
	return 0;
}

int
main(int argc, char **argv)
{
	lc_log_init(argv[0]);
	if (argc > 7 && !strcmp(argv[1], "restart") && !strcmp(argv[6], "--")) {
		R.timeout_ms = atoi(argv[5]);
		return bench_restart(argv[2], atoi(argv[3]), atoi(argv[4]), argv + 7);
	}
	if (argc > 5 && !strcmp(argv[1], "tree") && !strcmp(argv[4], "--")) {
		R.timeout_ms = atoi(argv[3]);
		return bench_tree(argv[2], argv + 5);
	}
	fprintf(stderr, "usage: %s restart FIFO KILLS GAP_MS TIMEOUT_MS -- CMD [ARG...]\n"
	    "       %s tree SOCKET TIMEOUT_MS -- CMD [ARG...]\n", argv[0], argv[0]);
	return LC_EXIT_USAGE;
}
