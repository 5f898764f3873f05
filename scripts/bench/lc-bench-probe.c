/* lc-bench-probe: the worker restarted by scripts/bench-restart.
 *
 * Usage: lc-bench-probe FIFO, or env LC_BENCH_FIFO (which wins: s6's ./run can be this binary,
 * and s6-supervise gives ./run the service directory as argv[1]).
 * At start: notify readiness (a newline on fd $LETITCRASH_READY_FD, else on fd 3 if it is
 * open: s6's notification-fd), then take a CLOCK_MONOTONIC stamp and write one record
 * "PID NS\n" to FIFO (one write, atomic below PIPE_BUF); then wait for a signal's default
 * action. The stamp follows the notification, so a restart's latency as measured by the
 * driver includes everything up to and including the readiness message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"

int
main(int argc, char **argv)
{
	const char *fifo = getenv("LC_BENCH_FIFO");
	const char *rfd = getenv("LETITCRASH_READY_FD");
	struct timespec ts;
	char rec[64];
	int fd = rfd ? atoi(rfd) : 3, n;

	lc_log_init(argv[0]);
	if (!fifo || !*fifo)
		fifo = argc > 1 ? argv[1] : NULL;
	if (!fifo || !*fifo)
		lc_die(LC_EXIT_USAGE, "usage: lc-bench-probe FIFO (or env LC_BENCH_FIFO)");
	if (fcntl(fd, F_GETFD) >= 0) {
		if (write(fd, "\n", 1) != 1)
			lc_die_sys(LC_EXIT_TEMP, "unable to notify readiness on fd %d", fd);
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(rec, sizeof rec, "%d %lld\n", (int)getpid(),
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	fd = open(fifo, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, rec, (size_t)n) != n)
		lc_die_sys(LC_EXIT_TEMP, "unable to write to %s", fifo);
	close(fd);
	for (;;)
		pause();
}
