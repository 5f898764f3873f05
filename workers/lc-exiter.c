/* lc-exiter: a worker that exits normally (status 0) after --after MS, or on SIGUSR1. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>

#include "common.h"

static const char usage[] = "[--after MS]";

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGUSR1, 0 };
	long after = 0;
	int c, sfd;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': after = worker_ms(optarg, "--after"); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	sfd = worker_sigfd(sigs);
	worker_ready();
	worker_wait(sfd, lc_now_ms() + after, NULL);
	return 0;
}
