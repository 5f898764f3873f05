/* lc-stubborn: a worker that ignores SIGTERM, so its supervisor must SIGKILL it once the
 * shutdown timeout expires. Ready at once; runs forever. */
#include <getopt.h>
#include <signal.h>

#include "common.h"

static const char usage[] = "";

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, 0 };
	int sfd;

	worker_init(argv[0]);
	if (getopt(argc, argv, "h") == 'h')
		worker_usage(usage, 0);
	if (argc != 1)
		worker_usage(usage, LC_EXIT_USAGE);
	sfd = worker_sigfd(sigs);       /* SIGTERM is read and dropped: never its default */
	worker_ready();
	for (;;)
		worker_wait(sfd, LC_NEVER, NULL);
}
