/* lc-crasher: a worker that runs until it crashes: by abort() (SIGABRT) after --after MS or at
 * once on SIGUSR1, or by exit(N) with --status N. Leaves no core file. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common.h"

static const char usage[] = "[-v] [--after MS] [--status N]";

static void __attribute__((noreturn))
crash(int status)
{
	if (status >= 0)
		exit(status);
	abort();
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "status", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGUSR1, 0 };
	int64_t deadline = LC_NEVER;
	int c, sfd, status = -1, verbose = 0;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "a:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': deadline = lc_now_ms() + worker_ms(optarg, "--after"); break;
		case 's': status = worker_int(optarg, "--status") & 0xff; break;
		case 'v': verbose = 1; break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	prctl(PR_SET_DUMPABLE, 0);      /* a crash on purpose needs no core file */
	sfd = worker_sigfd(sigs);
	if (verbose)
		lc_info("pid %d, crashing by %s %s", (int)getpid(),
		    status >= 0 ? "exit" : "abort", deadline == LC_NEVER ? "on SIGUSR1" : "on time");
	worker_ready();
	worker_wait(sfd, deadline, NULL);
	crash(status);
}
