/* lc-echo: a test actor (event loop). Answers every call with "NAME:BODY" (type REPLY), or,
 * with --forward TO, forwards the call to TO unchanged (TO replies to the caller), or, with
 * --delay MS, answers each call MS later. Special bodies:
 *   call "stats"          replies "received=N bad_frames=N stale_replies=N frames_in=N"
 *   cast "tell TO TEXT"   sends a cast TEXT to TO
 * SIGTERM ends it (shutdown). Used by tests/e2e/test_ipc.py. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "letitcrash/actor.h"

#include "common.h"

static const char usage[] = "[--forward TO] [--delay MS]";

struct later {
	struct lc_timer t;
	struct lc_actor *a;
	char from[LC_WIRE_NAMEMAX + 1];
	uint64_t ref;
	size_t len;
	char body[];
};

static const char *forward_to;
static long delay_ms;

static int
reply_echo(struct lc_actor *a, const char *from, size_t fromlen, uint64_t ref,
    const void *body, size_t len)
{
	char out[LC_WIRE_BODYMAX / 16];
	struct lc_msg req = { .from = from, .fromlen = (uint8_t)fromlen, .ref = ref };
	int n = snprintf(out, sizeof out, "%s:%.*s", lc_actor_name(a),
	    (int)(len > sizeof out - 64 ? sizeof out - 64 : len), (const char *)body);
	return lc_reply(a, &req, LC_MSG_REPLY, out, (size_t)n);
}

static void
on_later(struct lc_loop *l, struct lc_timer *t)
{
	struct later *w = t->arg;

	if (reply_echo(w->a, w->from, strlen(w->from), w->ref, w->body, w->len) < 0)
		lc_warn_sys("unable to reply to %s", w->from);
	free(w);
}

static void
on_call(struct lc_actor *a, const struct lc_msg *m)
{
	if (m->len == 5 && memcmp(m->body, "stats", 5) == 0) {
		struct lc_actor_stats st;
		char out[256];
		lc_actor_stats(a, &st);
		int n = snprintf(out, sizeof out, "received=%" PRIu64 " bad_frames=%" PRIu64
		    " stale_replies=%" PRIu64 " frames_in=%" PRIu64, st.received, st.bad_frames,
		    st.stale_replies, st.frames_in);
		lc_reply(a, m, LC_MSG_REPLY, out, (size_t)n);
		return;
	}
	if (forward_to) {
		if (lc_forward(a, forward_to, m) < 0)
			lc_warn_sys("unable to forward to %s", forward_to);
		return;
	}
	if (delay_ms) {
		struct later *w = calloc(1, sizeof *w + m->len);
		if (!w)
			lc_die(LC_EXIT_TEMP, "out of memory");
		w->a = a;
		memcpy(w->from, m->from, m->fromlen);
		w->ref = m->ref;
		w->len = m->len;
		memcpy(w->body, m->body, m->len);
		lc_timer_init(&w->t, on_later, w);
		lc_timer_set(lc_actor_loop(a), &w->t, lc_now_ms() + delay_ms);
		return;
	}
	if (reply_echo(a, m->from, m->fromlen, m->ref, m->body, m->len) < 0)
		lc_warn_sys("unable to reply to %.*s", (int)m->fromlen, m->from);
}

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	if (m->flags & LC_MSGF_CALL) {
		on_call(a, m);
	} else if (m->len > 5 && memcmp(m->body, "tell ", 5) == 0) {
		char to[LC_WIRE_NAMEMAX + 1];
		const char *p = (const char *)m->body + 5, *sp = memchr(p, ' ', m->len - 5);
		size_t n = sp ? (size_t)(sp - p) : 0;
		if (n == 0 || n > LC_WIRE_NAMEMAX)
			return;
		memcpy(to, p, n);
		to[n] = 0;
		if (lc_send(a, to, LC_MSG_CAST, sp + 1, m->len - 5 - n - 1) < 0)
			lc_warn_sys("unable to send to %s", to);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "forward", required_argument, NULL, 'f' },
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	worker_init(argv[0]);
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'f': forward_to = optarg; break;
		case 'd': delay_ms = worker_ms(optarg, "--delay"); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	worker_serve(on_msg, NULL);
}
