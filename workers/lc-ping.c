/* lc-ping: calls PEER with a small body, COUNT times (0: forever), every INTERVAL ms, each call
 * waiting up to TIMEOUT ms, and logs every round trip:
 *   lc-ping: ping: pong seq=3 rtt=84us
 *   lc-ping: ping: pong seq=4 timeout after 1000 ms
 * With -q only a summary is logged at the end: count, timeouts, calls/s, median and max rtt.
 * Exits normally after COUNT calls. See docs/ipc.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "letitcrash/actor.h"

#include "common.h"

static const char usage[] = "[-q] [-n COUNT] [-i INTERVAL_MS] [-t TIMEOUT_MS] [-s SIZE] PEER";

static int
cmp64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

int
main(int argc, char **argv)
{
	long count = 0, interval = 1000, timeout = 1000, size = 16;
	int quiet = 0, c;
	struct lc_actor *a;

	worker_init(argv[0]);
	while ((c = getopt(argc, argv, "hqn:i:t:s:")) != -1) {
		switch (c) {
		case 'h': worker_usage(usage, 0);
		case 'q': quiet = 1; break;
		case 'n': count = worker_ms(optarg, "-n"); break;
		case 'i': interval = worker_ms(optarg, "-i"); break;
		case 't': timeout = worker_ms(optarg, "-t"); break;
		case 's': size = worker_ms(optarg, "-s"); break;
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc - 1 || size > 65536)
		worker_usage(usage, LC_EXIT_USAGE);
	const char *peer = argv[optind];
	if (!(a = lc_actor_open(NULL, NULL, NULL)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	worker_log_bad_frames(a);
	worker_ready();

	char *body = calloc(1, (size_t)size + 1);
	int64_t *rtt = count && quiet ? calloc((size_t)count, sizeof *rtt) : NULL;
	long ok = 0, lost = 0;
	int64_t t0 = lc_now_us();
	if (!body || (count && quiet && !rtt))
		lc_die(LC_EXIT_TEMP, "out of memory");
	for (long seq = 1; count == 0 || seq <= count; seq++) {
		struct lc_msg r, m;
		int64_t start = lc_now_us();
		snprintf(body, (size_t)size + 1, "%0*ld", (int)size, seq % 1000000000L);
		if (lc_call(a, peer, LC_MSG_CALL, body, (size_t)size, (int)timeout, &r) == 0) {
			int64_t us = lc_now_us() - start;
			if (rtt)
				rtt[ok] = us;
			ok++;
			if (!quiet)
				lc_info("%s seq=%ld rtt=%lldus", peer, seq, (long long)us);
		} else {
			lost++;
			if (!quiet)
				lc_info("%s seq=%ld %s after %ld ms", peer, seq,
				    errno == ETIMEDOUT ? "timeout" : "not queued", timeout);
		}
		/* wait out the interval, serving the mailbox (messages other than replies are
		 * dropped: ping takes none) */
		int64_t end = lc_now_ms() + interval;
		while (interval && lc_now_ms() < end)
			if (lc_recv(a, &m, (int)(end - lc_now_ms())) == 0)
				lc_debug("dropped a %s from %.*s", lc_msg_name(m.type),
				    (int)m.fromlen, m.from);
	}
	if (quiet) {
		double secs = (double)(lc_now_us() - t0) / 1e6;
		qsort(rtt, (size_t)ok, sizeof *rtt, cmp64);
		lc_info("%s: %ld calls, %ld timeouts, %.0f calls/s, rtt median %lldus max %lldus",
		    peer, ok, lost, secs > 0 ? (double)ok / secs : 0.0,
		    ok ? (long long)rtt[ok / 2] : 0LL, ok ? (long long)rtt[ok - 1] : 0LL);
	}
	free(rtt);
	free(body);
	lc_exit(a, "normal");
}
