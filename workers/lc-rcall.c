/* lc-rcall: a tiny actor for remote-node trees and their tests (docs/nodes.md).
 *
 *   lc-rcall serve                 answer every call with "NAME@NODE: BODY"; log every cast
 *                                  ("lc-rcall: NAME: cast from FROM: BODY"); ready once the
 *                                  mailbox is open; SIGTERM ends it (shutdown)
 *   lc-rcall [-a NAME] [-t MS] call TO BODY
 *                                  call TO (a plain or "NAME@NODE" name) and print the reply's
 *                                  body; exit 1 with "timed out" if none came within MS
 *                                  (default 2000)
 *   lc-rcall [-a NAME] cast TO BODY   send BODY to TO, flush, exit 0
 *
 * The actor's name is -a NAME, else LETITCRASH_NAME, else "rcall.PID"; its mailbox is in
 * LETITCRASH_RUNDIR; its node is LETITCRASH_NODE (remote names resolve through
 * LETITCRASH_NODES). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "letitcrash/actor.h"

static const char usage[] = "[-a NAME] [-t MS] serve | call TO BODY | cast TO BODY";

static void __attribute__((noreturn))
serve(struct lc_actor *a)
{
	const char *node = getenv("LETITCRASH_NODE");
	char out[LC_WIRE_NAMEMAX + 2 + 4096];
	struct lc_msg m;

	worker_ready();
	for (;;) {
		if (lc_recv(a, &m, -1) < 0)
			lc_die_sys(LC_EXIT_TEMP, "receive");
		if (m.flags & LC_MSGF_CALL) {
			int n = snprintf(out, sizeof out, "%s%s%s: %.*s", lc_actor_name(a),
			    node ? "@" : "", node ? node : "", (int)(m.len < 4096 ? m.len : 4096),
			    (const char *)m.body);
			if (lc_reply(a, &m, LC_MSG_REPLY, out, (size_t)n) < 0)
				lc_warn_sys("%s: reply to %.*s", lc_actor_name(a), m.fromlen, m.from);
		} else if (m.type == LC_MSG_CAST) {
			lc_info("%s: cast from %.*s: %.*s", lc_actor_name(a), m.fromlen, m.from,
			    (int)(m.len < 4096 ? m.len : 4096), (const char *)m.body);
		} else {
			lc_info("%s: %s from %.*s ignored", lc_actor_name(a), lc_msg_name(m.type),
			    m.fromlen, m.from);
		}
	}
}

int
main(int argc, char **argv)
{
	const char *name = getenv("LETITCRASH_NAME");
	char namebuf[32];
	long timeout = 2000;
	struct lc_actor *a;
	struct lc_msg r;
	int c;

	worker_init(argv[0]);
	while ((c = getopt(argc, argv, "+a:ht:")) != -1) {
		switch (c) {
		case 'a': name = optarg; break;
		case 't': timeout = worker_ms(optarg, "-t"); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (!strcmp(argv[0], "serve") ? argc != 1 : argc != 3 ||
	    (strcmp(argv[0], "call") && strcmp(argv[0], "cast"))))
		worker_usage(usage, LC_EXIT_USAGE);
	if (!name || !*name) {
		snprintf(namebuf, sizeof namebuf, "rcall.%d", (int)getpid());
		name = namebuf;
	}
	if (!(a = lc_actor_open(name, NULL, NULL)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox of %s", name);
	worker_log_bad_frames(a);
	if (!strcmp(argv[0], "serve"))
		serve(a);
	if (!strcmp(argv[0], "cast")) {
		if (lc_send(a, argv[1], LC_MSG_CAST, argv[2], strlen(argv[2])) < 0)
			lc_die_sys(1, "cast to %s", argv[1]);
		lc_exit(a, "normal");
	}
	if (lc_call(a, argv[1], LC_MSG_CALL, argv[2], strlen(argv[2]), (int)timeout, &r) < 0) {
		if (errno == ETIMEDOUT)
			lc_die(1, "call to %s: timed out after %ld ms", argv[1], timeout);
		lc_die_sys(1, "call to %s", argv[1]);
	}
	printf("%.*s\n", (int)r.len, (const char *)r.body);
	fflush(stdout);
	lc_actor_close(a);
	return 0;
}
