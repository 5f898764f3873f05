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

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_exit(arg, "shutdown");
}

int
main(int argc, char **argv)
{
	struct lc_loop loop;
	struct lc_actor *a;
	sigset_t set;

	worker_init(argv[0]);
	if (getopt(argc, argv, "h") == 'h')
		worker_usage(usage, 0);
	if (argc != 1)
		worker_usage(usage, LC_EXIT_USAGE);
	if (lc_loop_init(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to create the event loop");
	if (!(a = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	worker_log_bad_frames(a);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	if (lc_loop_signals(&loop, &set, on_signal, a) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to watch signals");
	lc_actor_on_message(a, on_msg, NULL);
	worker_ready();
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	return 0;
}
