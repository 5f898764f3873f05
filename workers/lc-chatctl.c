/* lc-chatctl: send one chat message (chatd/chatproto.h) and print the reply as one JSON line.
 *   lc-chatctl -r RUNDIR [-n NAME] [-t MS] [-R MS] TO TYPE [FIELD=VALUE]...
 * TYPE is a chatproto name (register, post, history, ...); FIELD one of rid conn nick user
 * host realname account prefix op target text dedupe seq limit ref1 ref2 password; op takes a
 * number or join/part/topic/names/privmsg/notice/latest/before/after/between/around.
 * Waits up to -t MS (default 3000) for a chat message with the same rid, resending every -R MS
 * (default 0: never) as the gateways do while a worker restarts. Exit 0 with the reply on
 * stdout, 1 on timeout ({"error":"timeout"}). For tests. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "letitcrash/actor.h"
#include "letitcrash/time.h"

#include "../chatd/chatproto.h"
#include "common.h"

static const char usage[] = "-r RUNDIR [-n NAME] [-t MS] [-R MS] TO TYPE [FIELD=VALUE]...";
static struct chat_msg m, r;

static void
jstr(const char *k, const char *v)
{
	printf(",\"%s\":\"", k);
	for (; *v; v++)
		if (*v == '"' || *v == '\\')
			printf("\\%c", *v);
		else if ((unsigned char)*v < 0x20)
			printf("\\u%04x", *v);
		else
			putchar(*v);
	putchar('"');
}

static void
jitem(const struct chat_item *it)
{
	printf("{\"seq\":%" PRIu64 ",\"id\":%" PRIu64 ",\"kind\":%u,\"time_ms\":%" PRId64,
	    it->seq, it->id, it->kind, it->time_ms);
	jstr("target", it->target);
	jstr("msgid", it->msgid);
	jstr("prefix", it->prefix);
	jstr("account", it->account);
	jstr("text", it->text);
	putchar('}');
}

static void
print_reply(void)
{
	printf("{\"type\":\"%s\",\"rid\":%" PRIu64 ",\"status\":%u,\"op\":%u,\"time_ms\":%" PRId64,
	    chat_type_name(r.type), r.rid, r.status, r.op, r.time_ms);
	printf(",\"seq\":%" PRIu64 ",\"evseq\":%" PRIu64, r.seq, r.evseq);
	jstr("conn", r.conn), jstr("nick", r.nick), jstr("target", r.target);
	jstr("text", r.text), jstr("prefix", r.prefix), jstr("names", r.names);
	jstr("account", r.account);
	printf(",\"item\":");
	jitem(&r.item);
	printf(",\"items\":[");
	for (size_t i = 0; i < r.nitems; i++) {
		if (i)
			putchar(',');
		jitem(&r.items[i]);
	}
	printf("]}\n");
}

static int
op_of(const char *v)
{
	static const char *const k[] = { "", "privmsg", "notice", "join", "part", "quit", "topic",
	    "nick", "names" };
	static const char *const h[] = { "", "latest", "before", "after", "between", "around" };
	for (int i = 1; i < 9; i++)
		if (strcmp(v, k[i]) == 0)
			return i;
	for (int i = 1; i < 6; i++)
		if (strcmp(v, h[i]) == 0)
			return i;
	return atoi(v);
}

static void
set_field(const char *kv)
{
	const char *eq = strchr(kv, '=');
	static const struct { const char *k; char *p; size_t n; } s[] = {
		{ "conn", m.conn, sizeof m.conn }, { "nick", m.nick, sizeof m.nick },
		{ "user", m.user, sizeof m.user }, { "host", m.host, sizeof m.host },
		{ "realname", m.realname, sizeof m.realname },
		{ "account", m.account, sizeof m.account }, { "prefix", m.prefix, sizeof m.prefix },
		{ "target", m.target, sizeof m.target }, { "text", m.text, sizeof m.text },
		{ "dedupe", m.dedupe, sizeof m.dedupe }, { "ref1", m.ref1, sizeof m.ref1 },
		{ "ref2", m.ref2, sizeof m.ref2 }, { "password", m.password, sizeof m.password },
	};
	size_t kl;

	if (!eq)
		worker_usage(usage, LC_EXIT_USAGE);
	kl = (size_t)(eq - kv);
	for (size_t i = 0; i < sizeof s / sizeof *s; i++)
		if (strlen(s[i].k) == kl && strncmp(kv, s[i].k, kl) == 0) {
			snprintf(s[i].p, s[i].n, "%s", eq + 1);
			return;
		}
	if (strncmp(kv, "rid=", 4) == 0)
		m.rid = strtoull(eq + 1, NULL, 10);
	else if (strncmp(kv, "op=", 3) == 0)
		m.op = (uint8_t)op_of(eq + 1);
	else if (strncmp(kv, "seq=", 4) == 0)
		m.seq = strtoull(eq + 1, NULL, 10);
	else if (strncmp(kv, "limit=", 6) == 0)
		m.limit = (uint32_t)strtoul(eq + 1, NULL, 10);
	else if (strncmp(kv, "status=", 7) == 0)
		m.status = (uint16_t)atoi(eq + 1);
	else
		worker_usage(usage, LC_EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	const char *rundir = NULL, *name = NULL, *to;
	char defname[64], buf[1 << 16];
	long timeout = 3000, resend = 0;
	struct lc_actor *a;
	struct lc_msg in;
	int64_t deadline, next;
	ssize_t len;
	int c, t = 0;

	worker_init(argv[0]);
	while ((c = getopt(argc, argv, "hr:n:t:R:")) != -1) {
		switch (c) {
		case 'r': rundir = optarg; break;
		case 'n': name = optarg; break;
		case 't': timeout = worker_ms(optarg, "-t"); break;
		case 'R': resend = worker_ms(optarg, "-R"); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (argc - optind < 2)
		worker_usage(usage, LC_EXIT_USAGE);
	to = argv[optind];
	for (int k = CHAT_REGISTER; k < CHAT_TYPE_END; k++)
		if (strcmp(chat_type_name((uint16_t)k), argv[optind + 1]) == 0)
			t = k;
	if (!t)
		worker_usage(usage, LC_EXIT_USAGE);
	m.type = (uint16_t)t;
	m.rid = (uint64_t)getpid() << 20 | (uint64_t)(lc_now_ms() & 0xfffff);
	for (int i = optind + 2; i < argc; i++)
		set_field(argv[i]);
	if ((len = chat_encode(&m, buf, sizeof buf)) < 0)
		lc_die_sys(LC_EXIT_USAGE, "cannot encode");
	if (!name) {
		snprintf(defname, sizeof defname, "chatctl.%d", (int)getpid());
		name = defname;
	}
	if (!(a = lc_actor_open(name, rundir, NULL)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open mailbox %s", name);
	deadline = lc_now_ms() + timeout;
	next = 0;
	for (;;) {
		int64_t now = lc_now_ms(), until = deadline;
		if (now >= deadline)
			break;
		if (now >= next) {
			lc_send(a, to, m.type, buf, (size_t)len);
			next = resend ? now + resend : deadline;
		}
		if (next < until)
			until = next;
		if (lc_recv(a, &in, (int)(until - now)) < 0)
			continue;
		if (in.type < CHAT_REGISTER || in.type >= CHAT_TYPE_END ||
		    chat_decode(in.type, in.body, in.len, &r) < 0 || r.rid != m.rid)
			continue;
		r.type = in.type;
		print_reply();
		lc_actor_close(a);
		return 0;
	}
	printf("{\"error\":\"timeout\"}\n");
	lc_actor_close(a);
	return 1;
}
