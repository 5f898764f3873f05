/* lc-bench-actor: the library's rows of scripts/bench-ipc (lc_send / lc_call between two
 * actor processes, mailboxes in DIR).
 *
 *   lc-bench-actor send SIZE N DIR    one-way lc_send back to back: each message its own frame
 *   lc-bench-actor burst SIZE N DIR   the same with the sender corked (lc_actor_cork): the
 *                                     library packs queued messages into frames (coalescing)
 *        both print "thr MSGS_PER_S MSGS_PER_FRAME" (receiver's side, first to last message;
 *        messages per frame from the receiver's lc_actor_stats)
 *   lc-bench-actor call SIZE N DIR    lc_call -> lc_reply round trips: "lat MEDIAN_US P99_US"
 *
 * The measuring actor is this process ("rx" or "cl"); the peer ("tx" or "srv") is this program
 * again, started with posix_spawn. */
#include "bench_ipc.h"
#include "letitcrash/actor.h"

#define WARMUP 200
#define TIMEOUT_MS 10000

static void
peer_send(struct lc_actor *a, const char *mode, const char *buf, size_t size, size_t n)
{
	struct lc_msg m;
	int64_t end = bench_now_ns() + (int64_t)TIMEOUT_MS * 1000000 * 10;

	if (!strcmp(mode, "burst"))
		lc_actor_cork(a, 1);
	for (size_t i = 0; i < n; i++) {
		while (lc_send(a, "rx", LC_MSG_CAST, buf, size) < 0) {
			if (errno != EAGAIN || bench_now_ns() > end)
				bench_die("lc_send");
			lc_recv(a, &m, 1);      /* the receiver is behind: let the loop move the queue */
		}
	}
	lc_actor_cork(a, 0);
	while (lc_flush(a) > 0) {
		if (bench_now_ns() > end)
			bench_die("lc_flush");
		lc_recv(a, &m, 1);
	}
}

/* Answer calls until a cast says stop (a first call retried by the caller may come twice). */
static void
peer_serve(struct lc_actor *a)
{
	struct lc_msg m;
	for (;;) {
		if (lc_recv(a, &m, TIMEOUT_MS) < 0)
			bench_die("lc_recv");
		if (m.type == LC_MSG_CAST)
			return;
		if (lc_reply(a, &m, LC_MSG_REPLY, m.body, m.len) < 0)
			bench_die("lc_reply");
	}
}

static void
rx(struct lc_actor *a, size_t size, size_t n)
{
	struct lc_actor_stats st0, st1;
	struct lc_msg m;
	int64_t t0 = 0;

	for (size_t i = 0; i < n; i++) {
		if (lc_recv(a, &m, TIMEOUT_MS) < 0)
			bench_die("lc_recv (%zu of %zu)", i, n);
		if (m.len != size)
			bench_die("received %u bytes, not %zu", m.len, size);
		if (i == 0) {
			t0 = bench_now_ns();
			lc_actor_stats(a, &st0);
		}
	}
	int64_t t1 = bench_now_ns();
	lc_actor_stats(a, &st1);
	printf("thr %.0f %.1f\n", (double)(n - 1) * 1e9 / (double)(t1 - t0),
	    st1.frames_in > st0.frames_in ? (double)(st1.received - st0.received) /
	    (double)(st1.frames_in - st0.frames_in) : 0.0);
}

static void
caller(struct lc_actor *a, const char *buf, size_t size, size_t n)
{
	int64_t *rtt = calloc(n, sizeof *rtt);
	int64_t end = bench_now_ns() + (int64_t)TIMEOUT_MS * 1000000;
	struct lc_msg r;

	/* The server's mailbox may not be bound yet: the first call is retried until it is. */
	while (lc_call(a, "srv", LC_MSG_CALL, buf, size, 200, &r) < 0)
		if ((errno != EAGAIN && errno != ETIMEDOUT) || bench_now_ns() > end)
			bench_die("first lc_call");
	for (size_t i = 0; i < n + WARMUP; i++) {
		int64_t t = bench_now_ns();
		if (lc_call(a, "srv", LC_MSG_CALL, buf, size, TIMEOUT_MS, &r) < 0)
			bench_die("lc_call");
		if (i >= WARMUP)
			rtt[i - WARMUP] = bench_now_ns() - t;
	}
	bench_print_lat(rtt, n);
	free(rtt);
	if (lc_send(a, "srv", LC_MSG_CAST, buf, 0) < 0)
		bench_die("lc_send stop");
}

int
main(int argc, char **argv)
{
	int peer_mode = argc > 1 && !strcmp(argv[1], "--peer");
	char **av = argv + peer_mode;
	int ac = argc - peer_mode, stop, call;
	struct lc_actor *a;
	size_t size, n;
	char *buf;
	pid_t pid;

	if (ac != 5)
		bench_die("usage: lc-bench-actor send|burst|call SIZE N DIR");
	call = !strcmp(av[1], "call");
	if (!call && strcmp(av[1], "send") && strcmp(av[1], "burst"))
		bench_die("unknown mode %s", av[1]);
	size = strtoul(av[2], NULL, 10);
	n = strtoul(av[3], NULL, 10);
	if (size == 0 || size > LC_WIRE_BODYMAX || n < 2)
		bench_die("bad SIZE or N");
	buf = calloc(1, size);
	unsetenv("LETITCRASH_NODE");
	unsetenv("LETITCRASH_NODES");
	a = lc_actor_open(peer_mode ? (call ? "srv" : "tx") : (call ? "cl" : "rx"), av[4], NULL);
	if (!a)
		bench_die("lc_actor_open");
	if (peer_mode) {
		if (call)
			peer_serve(a);
		else
			peer_send(a, av[1], buf, size, n);
		bench_wait_stop();      /* the parent has everything it needs: now we may go */
	} else {
		char *pargv[] = { argv[0], "--peer", av[1], av[2], av[3], av[4], NULL };
		pid = bench_spawn(argv[0], pargv, &stop, -1);
		if (call)
			caller(a, buf, size, n);
		else
			rx(a, size, n);
		fflush(stdout);
		bench_reap(pid, stop);
	}
	lc_actor_close(a);
	free(buf);
	return 0;
}
