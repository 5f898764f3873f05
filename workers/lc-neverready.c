/* lc-neverready: a worker that never becomes ready; it runs until a signal's default action
 * ends it, so its supervisor's start timeout must fire. */
#include <getopt.h>
#include <unistd.h>

#include "common.h"

static const char usage[] = "";

int
main(int argc, char **argv)
{
	worker_init(argv[0]);
	if (getopt(argc, argv, "h") == 'h')
		worker_usage(usage, 0);
	if (argc != 1)
		worker_usage(usage, LC_EXIT_USAGE);
	for (;;)
		pause();
}
