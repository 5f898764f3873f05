/* lc-bench-ipc: raw transports, the baselines of scripts/bench-ipc.
 *
 *   lc-bench-ipc push SIZE N DIR     one-way PUSH -> PULL over ipc://DIR/thr: prints
 *                                    "thr MSGS_PER_S" (first to last message received)
 *   lc-bench-ipc reqrep SIZE N DIR   REQ -> REP echo over ipc://DIR/rr: "lat MEDIAN_US P99_US"
 *   lc-bench-ipc unix SIZE N DIR     a Unix-domain stream socket echo: "lat MEDIAN_US P99_US"
 *
 * The measuring side is this process; the other side is this program again (`--peer`),
 * started with posix_spawn. Every nanomsg call goes through libletitcrash's sock.h, with its
 * socket options (NN_RCVMAXSIZE, reconnect interval), so the baselines and the library run on
 * the same settings. Sends and receives here block (with timeouts): a benchmark process is not
 * an event-loop process. */
#include <sys/socket.h>

#include "bench_ipc.h"
#include "letitcrash/sock.h"

#define WARMUP 200
#define TIMEOUT_MS 10000

static char addr[256];

static int
nn_open(enum lc_sock_kind kind, int bind)
{
	int s = lc_sock_open(kind);
	if (s < 0 || lc_sock_timeouts(s, TIMEOUT_MS, TIMEOUT_MS) < 0 ||
	    (bind ? lc_sock_bind(s, addr) : lc_sock_connect(s, addr)) < 0)
		bench_die("%s %s", bind ? "bind" : "connect", addr);
	return s;
}

static void
xsend(int s, const void *b, size_t n)
{
	if (lc_sock_send(s, b, n, 0) != (int)n)
		bench_die("send");
}

static void
xrecv(int s, size_t want)
{
	void *m;
	ssize_t n = lc_sock_recv(s, &m, 0);
	if (n < 0)
		bench_die("receive");
	if ((size_t)n != want)
		bench_die("received %zd bytes, not %zu", n, want);
	lc_sock_free(m);
}

static void
xfull(int fd, void *b, size_t n, int wr)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = wr ? write(fd, (char *)b + off, n - off) : read(fd, (char *)b + off, n - off);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			bench_die("unix socket %s", wr ? "write" : "read");
		}
		off += (size_t)r;
	}
}

static void
peer(const char *mode, size_t size, size_t n)
{
	char *buf = calloc(1, size);
	if (!strcmp(mode, "push")) {
		int s = nn_open(LC_SOCK_PUSH, 0);
		for (size_t i = 0; i < n; i++)
			xsend(s, buf, size);
		bench_wait_stop();      /* closing now could lose what is still queued */
		lc_sock_close(s);
	} else if (!strcmp(mode, "reqrep")) {
		int s = nn_open(LC_SOCK_REP, 0);
		for (size_t i = 0; i < n + WARMUP; i++) {
			xrecv(s, size);
			xsend(s, buf, size);
		}
		bench_wait_stop();
		lc_sock_close(s);
	} else {
		for (size_t i = 0; i < n + WARMUP; i++) {
			xfull(3, buf, size, 0);
			xfull(3, buf, size, 1);
		}
		bench_wait_stop();
	}
	free(buf);
}

int
main(int argc, char **argv)
{
	int peer_mode = argc > 1 && !strcmp(argv[1], "--peer");
	char **av = argv + peer_mode;
	int ac = argc - peer_mode, stop, sv[2] = { -1, -1 };
	char *buf;
	int64_t *rtt;
	size_t size, n;
	pid_t pid;

	if (ac != 5)
		bench_die("usage: lc-bench-ipc push|reqrep|unix SIZE N DIR");
	size = strtoul(av[2], NULL, 10);
	n = strtoul(av[3], NULL, 10);
	if (size == 0 || size > LC_SOCK_MAXMSG || n < 2)
		bench_die("bad SIZE or N");
	snprintf(addr, sizeof addr, "ipc://%s/%s", av[4], !strcmp(av[1], "push") ? "thr" : "rr");
	if (peer_mode) {
		peer(av[1], size, n);
		return 0;
	}

	char *pargv[] = { argv[0], "--peer", av[1], av[2], av[3], av[4], NULL };
	buf = calloc(1, size);
	rtt = calloc(n, sizeof *rtt);
	if (!strcmp(av[1], "push")) {
		int s = nn_open(LC_SOCK_PULL, 1);
		pid = bench_spawn(argv[0], pargv, &stop, -1);
		xrecv(s, size);
		int64_t t0 = bench_now_ns();
		for (size_t i = 1; i < n; i++)
			xrecv(s, size);
		bench_print_thr(n, t0, bench_now_ns());
		bench_reap(pid, stop);
		lc_sock_close(s);
	} else if (!strcmp(av[1], "reqrep")) {
		int s = nn_open(LC_SOCK_REQ, 1);
		pid = bench_spawn(argv[0], pargv, &stop, -1);
		for (size_t i = 0; i < n + WARMUP; i++) {
			int64_t t = bench_now_ns();
			xsend(s, buf, size);
			xrecv(s, size);
			if (i >= WARMUP)
				rtt[i - WARMUP] = bench_now_ns() - t;
		}
		bench_print_lat(rtt, n);
		bench_reap(pid, stop);
		lc_sock_close(s);
	} else if (!strcmp(av[1], "unix")) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			bench_die("socketpair");
		pid = bench_spawn(argv[0], pargv, &stop, sv[1]);
		close(sv[1]);
		for (size_t i = 0; i < n + WARMUP; i++) {
			int64_t t = bench_now_ns();
			xfull(sv[0], buf, size, 1);
			xfull(sv[0], buf, size, 0);
			if (i >= WARMUP)
				rtt[i - WARMUP] = bench_now_ns() - t;
		}
		bench_print_lat(rtt, n);
		bench_reap(pid, stop);
		close(sv[0]);
	} else {
		bench_die("unknown mode %s", av[1]);
	}
	free(buf);
	free(rtt);
	return 0;
}
