/* lc-pong: an event-loop actor that answers every call with the request's own body (type
 * REPLY), and ends on SIGTERM (reason shutdown). See docs/ipc.md (ping-pong). */
#include <getopt.h>
#include <signal.h>

#include "letitcrash/actor.h"

#include "common.h"

static const char usage[] = "";

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	if ((m->flags & LC_MSGF_CALL) && lc_reply(a, m, LC_MSG_REPLY, m->body, m->len) < 0)
		lc_warn_sys("unable to reply to %.*s", (int)m->fromlen, m->from);
}

int
main(int argc, char **argv)
{

	worker_init(argv[0]);
	if (getopt(argc, argv, "h") == 'h')
		worker_usage(usage, 0);
	if (argc != 1)
		worker_usage(usage, LC_EXIT_USAGE);
	worker_serve(on_msg, NULL);
}
