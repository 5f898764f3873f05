/* lc-trio: an actor that links, monitors and traps exits as told, and says what it receives
 * and does. One program for the linked-trio walk-through (docs/links.md, etc/trio-*.conf)
 * and for the links/monitors end-to-end tests.
 *
 *   lc-trio [--trap] [--link NAME]... [--monitor NAME]... [--exit-after MS [--reason R]]
 *
 * In this order: trap exits (--trap), link to each NAME, monitor each NAME, become ready,
 * then serve until SIGTERM (reason shutdown) or, with --exit-after, until MS have passed,
 * then leave with reason R (default normal) through lc_exit. Every line goes to stderr, in one
 * fixed shape, "lc-trio: NAME: WHAT":
 *
 *   lc-trio: b: trap_exit
 *   lc-trio: b: link a
 *   lc-trio: b: link a failed: ERROR
 *   lc-trio: b: monitor a ref=1
 *   lc-trio: b: ready
 *   lc-trio: b: EXIT from c reason=exit 3
 *   lc-trio: b: DOWN from c ref=1 reason=killed
 *   lc-trio: b: exit reason=exit 3
 *
 * A non-trapping actor killed through a link says nothing (the library exits for it): its
 * supervisor's `exit` line shows the reason it took. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "letitcrash/actor.h"
#include "letitcrash/loop.h"

static const char usage[] = "[--trap] [--link NAME]... [--monitor NAME]... "
    "[--exit-after MS [--reason R]]";

static const char *reason = "normal";
static struct lc_actor *actor;

static void
on_message(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	const char *me = lc_actor_name(a);
	int fl = m->fromlen, bl = (int)m->len;
	if (m->type == LC_MSG_EXIT)
		lc_info("%s: EXIT from %.*s reason=%.*s", me, fl, m->from, bl, (const char *)m->body);
	else if (m->type == LC_MSG_DOWN)
		lc_info("%s: DOWN from %.*s ref=%llu reason=%.*s", me, fl, m->from,
		    (unsigned long long)m->ref, bl, (const char *)m->body);
	else
		lc_info("%s: %s from %.*s", me, lc_msg_name(m->type), fl, m->from);
}

static void
on_exit_timer(struct lc_loop *l, struct lc_timer *t)
{
	lc_info("%s: exit reason=%s", lc_actor_name(actor), reason);
	lc_exit(actor, reason);
}

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_exit(actor, "shutdown");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "trap", no_argument, NULL, 't' }, { "link", required_argument, NULL, 'l' },
		{ "monitor", required_argument, NULL, 'm' },
		{ "exit-after", required_argument, NULL, 'e' },
		{ "reason", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ 0 } };
	const char *links[16], *mons[16];
	int nlinks = 0, nmons = 0, trap = 0, c;
	long after = -1;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "tl:m:e:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': trap = 1; break;
		case 'l': if (nlinks == 16) worker_usage(usage, LC_EXIT_USAGE);
			links[nlinks++] = optarg; break;
		case 'm': if (nmons == 16) worker_usage(usage, LC_EXIT_USAGE);
			mons[nmons++] = optarg; break;
		case 'e': after = worker_ms(optarg, "--exit-after"); break;
		case 'r': reason = optarg; break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);

	struct lc_loop loop;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (lc_loop_init(&loop) < 0 || lc_loop_signals(&loop, &set, on_signal, NULL) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to set up the event loop");
	if (!(actor = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open my mailbox");
	worker_log_bad_frames(actor);
	const char *me = lc_actor_name(actor);
	lc_actor_on_message(actor, on_message, NULL);
	if (trap) {
		lc_trap_exit(actor, 1);
		lc_info("%s: trap_exit", me);
	}
	for (int i = 0; i < nlinks; i++) {
		lc_info("%s: link %s", me, links[i]);
		if (lc_link(actor, links[i]) < 0)
			lc_info("%s: link %s failed: %s", me, links[i], strerror(errno));
	}
	for (int i = 0; i < nmons; i++) {
		uint64_t ref = lc_monitor(actor, mons[i]);
		if (ref == 0)
			lc_die_sys(LC_EXIT_TEMP, "unable to monitor %s", mons[i]);
		lc_info("%s: monitor %s ref=%llu", me, mons[i], (unsigned long long)ref);
	}
	struct lc_timer t;
	lc_timer_init(&t, on_exit_timer, NULL);
	if (after >= 0)
		lc_timer_set(&loop, &t, lc_now_ms() + after);
	lc_info("%s: ready", me);
	lc_ready();
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	lc_actor_close(actor);
	return 0;
}
