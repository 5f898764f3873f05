/* lc-sleeper: a plain well-behaved worker: ready at once, runs until SIGTERM, whose default
 * action ends it (reason shutdown). */
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
	worker_ready();
	for (;;)
		pause();
}
