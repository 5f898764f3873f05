/* lc-slowstart: a worker that becomes ready only after --delay MS (default 2000), then runs
 * until a signal's default action ends it. */
#include <getopt.h>
#include <unistd.h>

#include "common.h"

static const char usage[] = "[--delay MS]";

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long delay = 2000;
	int c;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': delay = worker_ms(optarg, "--delay"); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	/* A signalfd for no signal: worker_wait() is then a sleep that signals do not cut short,
	 * and every signal keeps its default action. */
	{
		static const int none[] = { 0 };
		worker_wait(worker_sigfd(none), lc_now_ms() + delay, NULL);
	}
	worker_ready();
	for (;;)
		pause();
}
