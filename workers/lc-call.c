/* lc-call: a command-line actor for tests and the curious. It opens a mailbox NAME (default
 * "lc-call.PID") in RUNDIR (default $LETITCRASH_RUNDIR), runs the operations in order, prints
 * one line per operation on stdout, and exits 0 (1 if a call or recv failed):
 *   call TO BODY MS    -> "reply from FROM: BODY" | "error: Connection timed out"
 *   send TO BODY       -> "sent" | "error: ..."
 *   recv MS            -> "recv from FROM type TYPE: BODY" | "error: ..."
 *   stats              -> "stale_replies=N bad_frames=N received=N"
 * Example: lc-call -r /run/tree call pong hello 1000 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "letitcrash/actor.h"

#include "common.h"

static const char usage[] = "[-r RUNDIR] [-n NAME] OP... (call TO BODY MS | send TO BODY | "
    "recv MS | stats)";

int
main(int argc, char **argv)
{
	const char *rundir = NULL, *name = NULL;
	char defname[64];
	struct lc_actor *a;
	int c, failed = 0;

	worker_init(argv[0]);
	while ((c = getopt(argc, argv, "hr:n:")) != -1) {
		switch (c) {
		case 'r': rundir = optarg; break;
		case 'n': name = optarg; break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (!name) {
		snprintf(defname, sizeof defname, "lc-call.%d", (int)getpid());
		name = defname;
	}
	if (!(a = lc_actor_open(name, rundir, NULL)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open mailbox %s", name);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = optind; i < argc;) {
		const char *op = argv[i];
		struct lc_msg m;
		if (strcmp(op, "call") == 0 && i + 3 < argc) {
			int r = lc_call(a, argv[i + 1], LC_MSG_CALL, argv[i + 2], strlen(argv[i + 2]),
			    worker_int(argv[i + 3], "call"), &m);
			if (r == 0)
				printf("reply from %.*s: %.*s\n", (int)m.fromlen, m.from, (int)m.len,
				    (const char *)m.body);
			else
				printf("error: %s\n", strerror(errno)), failed = 1;
			i += 4;
		} else if (strcmp(op, "send") == 0 && i + 2 < argc) {
			if (lc_send(a, argv[i + 1], LC_MSG_CAST, argv[i + 2], strlen(argv[i + 2])) == 0)
				printf("sent\n");
			else
				printf("error: %s\n", strerror(errno)), failed = 1;
			i += 3;
		} else if (strcmp(op, "recv") == 0 && i + 1 < argc) {
			if (lc_recv(a, &m, worker_int(argv[i + 1], "recv")) == 0)
				printf("recv from %.*s type %s: %.*s\n", (int)m.fromlen, m.from,
				    lc_msg_name(m.type), (int)m.len, (const char *)m.body);
			else
				printf("error: %s\n", strerror(errno)), failed = 1;
			i += 2;
		} else if (strcmp(op, "stats") == 0) {
			struct lc_actor_stats st;
			lc_actor_stats(a, &st);
			printf("stale_replies=%" PRIu64 " bad_frames=%" PRIu64 " received=%" PRIu64 "\n",
			    st.stale_replies, st.bad_frames, st.received);
			i += 1;
		} else {
			worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	lc_exit(a, failed ? "exit 1" : "normal");
}
