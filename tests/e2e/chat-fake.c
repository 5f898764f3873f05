/* chat-fake: an in-memory stand-in for chat-session and chat-storage, for chatd's end-to-end
 * tests until the real workers exist. Nothing is durable: a killed fake forgets everything.
 *
 *   chat-fake session   as session.K: REGISTER / UNREGISTER (nick table); CHANNEL_OP is
 *                       forwarded to `storage` (lc_forward keeps the gateway as sender, so
 *                       storage answers the gateway directly)
 *   chat-fake storage   as storage: channels, items, POST (dedupe by key), SINCE, HISTORY
 *                       (LATEST/BEFORE/AFTER by msgid, timestamp or *), AUTH (alice/secret),
 *                       fan-out of every item to chatd.0 .. chatd.(CHAT_GATEWAYS-1)
 *
 * FAKE_DROP_EVERY=N: storage skips the fan-out of every Nth item (the gateways must repair:
 * the FANOUT_MARK it sends every second, as chat-storage does, counts the skipped ones). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "letitcrash/actor.h"
#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "../../chatd/chatd.h"

#define MAXN 256

static struct chat_msg in, out;
static struct lc_actor *actor;
static char reply_to[128];

static struct { char nick[CHAT_NICK_MAX + 1], conn[CHAT_CONN_MAX + 1]; } users[MAXN];
static struct chan {
	char name[CHAT_TARGET_MAX + 1];
	char members[MAXN][CHAT_NICK_MAX + 1];
	int nmembers;
	char topic[CHAT_TEXT_MAX + 1], setter[CHAT_PREFIX_MAX + 1];
	int64_t topic_ms;
	uint64_t seq;
} chans[64];
static int nchans;
static struct chat_item *items;
static size_t nitems, citems;
static struct { char key[CHAT_DEDUPE_MAX + 1]; size_t item; } dedupe[4096];
static size_t ndedupe;
static int gateways = 1, drop_every;
static uint64_t fanned;                 /* items fanned out, the skipped ones included */
static int64_t last_ms;

static void
send_out(uint16_t type)
{
	static char buf[LC_WIRE_BODYMAX];
	out.type = type;
	ssize_t n = chat_encode(&out, buf, sizeof buf);
	if (n < 0)
		lc_die(LC_EXIT_BUG, "encode %s", chat_type_name(type));
	lc_send(actor, reply_to, type, buf, (size_t)n);
}

static void
reply_start(void)
{
	memset(&out, 0, offsetof(struct chat_msg, items));
	out.nitems = 0;
	out.rid = in.rid;
	snprintf(out.conn, sizeof out.conn, "%s", in.conn);
}

static struct chan *
chan_get(const char *name, bool create)
{
	for (int i = 0; i < nchans; i++)
		if (!irc_casecmp(chans[i].name, name))
			return &chans[i];
	if (!create || nchans == 64)
		return NULL;
	memset(&chans[nchans], 0, sizeof chans[0]);
	snprintf(chans[nchans].name, sizeof chans[0].name, "%s", name);
	return &chans[nchans++];
}

static uint64_t target_seq(const char *target)
{
	uint64_t s = 0;
	for (size_t i = 0; i < nitems; i++)
		if (!irc_casecmp(items[i].target, target))
			s = items[i].seq;
	return s;
}

/* Send m (type t) to every gateway. */
static void
to_gateways(struct chat_msg *m, uint16_t t)
{
	static char buf[4096];
	ssize_t n;

	m->type = t;
	n = chat_encode(m, buf, sizeof buf);
	for (int g = 0; g < gateways; g++) {
		char to[32];
		snprintf(to, sizeof to, "chatd.%d", g);
		lc_send(actor, to, t, buf, (size_t)n);
	}
}

static void
on_mark(struct lc_loop *l, struct lc_timer *t)
{
	struct chat_msg f;

	memset(&f, 0, offsetof(struct chat_msg, items));
	f.seq = fanned;
	f.evseq = 1;
	to_gateways(&f, CHAT_FANOUT_MARK);
	lc_timer_set(l, t, lc_now_ms() + 1000);
}

/* Journal an item and fan it out. */
static struct chat_item *
item_add(uint8_t kind, const char *target, const char *prefix, const char *text)
{
	if (nitems == citems) {
		citems = citems ? citems * 2 : 256;
		if (!(items = realloc(items, citems * sizeof *items)))
			lc_die(LC_EXIT_TEMP, "out of memory");
	}
	struct chat_item *it = &items[nitems];
	memset(it, 0, sizeof *it);
	it->seq = target_seq(target) + 1;
	it->id = ++nitems;
	it->kind = kind;
	snprintf(it->target, sizeof it->target, "%s", target);
	irc_msgid_format(it->msgid, sizeof it->msgid, it->id);
	int64_t now = lc_wall_ms();
	it->time_ms = now > last_ms ? now : last_ms + 1;
	last_ms = it->time_ms;
	snprintf(it->prefix, sizeof it->prefix, "%s", prefix);
	snprintf(it->text, sizeof it->text, "%s", text);
	fanned++;
	if (!(drop_every && it->id % (uint64_t)drop_every == 0)) {
		struct chat_msg f;
		memset(&f, 0, offsetof(struct chat_msg, items));
		f.item = *it;
		to_gateways(&f, CHAT_ITEM);
	}
	return it;
}

static void
session_msg(uint16_t type)
{
	int free_slot = -1;

	reply_start();
	snprintf(out.nick, sizeof out.nick, "%s", in.nick);
	for (int i = 0; i < MAXN; i++) {
		if (!users[i].nick[0]) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (irc_casecmp(users[i].nick, in.nick))
			continue;
		if (type == CHAT_UNREGISTER) {
			if (!strcmp(users[i].conn, in.conn))
				users[i].nick[0] = '\0';
			send_out(CHAT_ACK);
			return;
		}
		send_out(strcmp(users[i].conn, in.conn) ? CHAT_NICK_IN_USE : CHAT_REGISTERED);
		return;
	}
	if (type == CHAT_UNREGISTER) {
		send_out(CHAT_ACK);
		return;
	}
	snprintf(users[free_slot].nick, sizeof users[0].nick, "%s", in.nick);
	snprintf(users[free_slot].conn, sizeof users[0].conn, "%s", in.conn);
	send_out(CHAT_REGISTERED);
}

/* NICK: only the reservation before registration (a nick registered by another connection
 * is in use; reservations themselves are not kept: REGISTER decides, as before). */
static void
nick_step(void)
{
	reply_start();
	snprintf(out.nick, sizeof out.nick, "%s", in.nick);
	out.op = in.op;
	if (in.op != CHAT_NS_RESERVE)
		out.status = 400;
	for (int i = 0; i < MAXN && in.op == CHAT_NS_RESERVE; i++)
		if (users[i].nick[0] && !irc_casecmp(users[i].nick, in.nick) &&
		    strcmp(users[i].conn, in.conn))
			out.status = 433;
	send_out(CHAT_NICK_DONE);
}

static void
channel_op(void)
{
	struct chan *ch = chan_get(in.target, in.op == CHAT_K_JOIN);
	size_t n = 0;

	reply_start();
	out.op = in.op;
	snprintf(out.target, sizeof out.target, "%s", in.target);
	if (!ch) {
		out.status = in.op == CHAT_K_NAMES ? 403 : 403;
		send_out(CHAT_CHANNEL_DONE);
		return;
	}
	int me = -1;
	for (int i = 0; i < ch->nmembers; i++)
		if (!irc_casecmp(ch->members[i], in.nick))
			me = i;
	switch (in.op) {
	case CHAT_K_JOIN:
		if (me < 0 && ch->nmembers < MAXN)
			snprintf(ch->members[ch->nmembers++], sizeof ch->members[0], "%s", in.nick);
		item_add(CHAT_K_JOIN, ch->name, in.prefix, "");
		break;
	case CHAT_K_PART:
		if (me < 0) {
			out.status = 442;
			send_out(CHAT_CHANNEL_DONE);
			return;
		}
		memmove(ch->members[me], ch->members[me + 1],
		    (size_t)(ch->nmembers - me - 1) * sizeof ch->members[0]);
		ch->nmembers--;
		item_add(CHAT_K_PART, ch->name, in.prefix, in.text);
		snprintf(out.text, sizeof out.text, "%s", in.text);
		send_out(CHAT_CHANNEL_DONE);
		return;
	case CHAT_K_TOPIC:
		snprintf(ch->topic, sizeof ch->topic, "%s", in.text);
		snprintf(ch->setter, sizeof ch->setter, "%s", in.prefix);
		ch->topic_ms = lc_wall_ms();
		item_add(CHAT_K_TOPIC, ch->name, in.prefix, in.text);
		snprintf(out.text, sizeof out.text, "%s", in.text);
		send_out(CHAT_CHANNEL_DONE);
		return;
	}
	snprintf(out.text, sizeof out.text, "%s", ch->topic);
	snprintf(out.prefix, sizeof out.prefix, "%s", ch->setter);
	out.time_ms = ch->topic_ms;
	for (int i = 0; i < ch->nmembers; i++)
		n += (size_t)snprintf(out.names + n, sizeof out.names - n, "%s%s%s", i ? " " : "",
		    i == 0 ? "@" : "", ch->members[i]);
	send_out(CHAT_CHANNEL_DONE);
}

static void
post(void)
{
	reply_start();
	for (size_t i = 0; i < ndedupe; i++)
		if (!strcmp(dedupe[i].key, in.dedupe)) {
			out.item = items[dedupe[i].item];
			send_out(CHAT_POSTED);
			return;
		}
	if (!strcasecmp(in.target, "#nowhere")) {
		out.status = 403;
		snprintf(out.target, sizeof out.target, "%s", in.target);
		send_out(CHAT_POST_FAILED);
		return;
	}
	struct chat_item *it = item_add(in.op, in.target, in.prefix, in.text);
	if (ndedupe < 4096) {
		snprintf(dedupe[ndedupe].key, sizeof dedupe[0].key, "%s", in.dedupe);
		dedupe[ndedupe++].item = nitems - 1;
	}
	out.item = *it;
	send_out(CHAT_POSTED);
}

static bool
ref_match(const char *ref, const struct chat_item *it, int64_t *cmp)
{
	int64_t ms;
	uint64_t id;

	if (!strncmp(ref, "msgid=", 6) && irc_msgid_parse(ref + 6, &id) == 0) {
		*cmp = (int64_t)it->id - (int64_t)id;
		return true;
	}
	if (!strncmp(ref, "timestamp=", 10) && irc_time_parse(ref + 10, &ms) == 0) {
		*cmp = it->time_ms - ms;
		return true;
	}
	return false;
}

static void
history(void)
{
	size_t sel[MAXN * 4], n = 0;

	reply_start();
	snprintf(out.target, sizeof out.target, "%s", in.target);
	if (in.target[0] == '#' && !chan_get(in.target, false)) {
		out.status = 403;
		send_out(CHAT_HISTORY_ROWS);
		return;
	}
	for (size_t i = 0; i < nitems && n < sizeof sel / sizeof *sel; i++) {
		const struct chat_item *it = &items[i];
		int64_t c = 0;
		if (irc_casecmp(it->target, in.target) ||
		    (it->kind != CHAT_K_PRIVMSG && it->kind != CHAT_K_NOTICE))
			continue;
		bool star = !strcmp(in.ref1, "*");
		if (!star && !ref_match(in.ref1, it, &c))
			continue;
		if ((in.op == CHAT_H_BEFORE && c >= 0) ||
		    ((in.op == CHAT_H_AFTER || in.op == CHAT_H_LATEST) && !star && c <= 0))
			continue;
		sel[n++] = i;
	}
	size_t from = 0;
	if (in.op != CHAT_H_AFTER && n > in.limit)
		from = n - in.limit;
	for (size_t k = from; k < n && out.nitems < in.limit; k++)
		out.items[out.nitems++] = items[sel[k]];
	send_out(CHAT_HISTORY_ROWS);
}

static void
since(void)
{
	reply_start();
	snprintf(out.target, sizeof out.target, "%s", in.target);
	for (size_t i = 0; i < nitems && out.nitems < in.limit && out.nitems < CHAT_ITEMS_MAX; i++)
		if (!irc_casecmp(items[i].target, in.target) && items[i].seq > in.seq)
			out.items[out.nitems++] = items[i];
	send_out(CHAT_ITEMS);
}

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	bool session = *(bool *)arg;

	if (m->type < LC_MSG_APP)
		return;
	if (chat_decode(m->type, m->body, m->len, &in) < 0)
		lc_die(LC_EXIT_BUG, "malformed %s", chat_type_name(m->type));
	snprintf(reply_to, sizeof reply_to, "%.*s", (int)m->fromlen, m->from);
	switch (m->type) {
	case CHAT_REGISTER:
	case CHAT_UNREGISTER:
		session_msg(m->type);
		break;
	case CHAT_NICK:
		nick_step();
		break;
	case CHAT_CHANNEL_OP:
		if (session)
			lc_forward(a, "storage", m);
		else
			channel_op();
		break;
	case CHAT_POST: post(); break;
	case CHAT_HISTORY: history(); break;
	case CHAT_SINCE: since(); break;
	case CHAT_AUTH:
		reply_start();
		snprintf(out.account, sizeof out.account, "%s", in.account);
		send_out(!strcmp(in.account, "alice") && !strcmp(in.password, "secret") ?
		    CHAT_AUTH_OK : CHAT_AUTH_FAIL);
		break;
	default:
		lc_warn("unexpected %s", chat_type_name(m->type));
	}
}

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_exit(actor, "shutdown");
}

int
main(int argc, char **argv)
{
	static bool session;
	struct lc_loop loop;
	struct lc_timer mark;
	sigset_t set;
	const char *e;

	lc_log_init("chat-fake");
	if (argc != 2 || (strcmp(argv[1], "session") && strcmp(argv[1], "storage")))
		lc_die(LC_EXIT_USAGE, "usage: chat-fake session|storage");
	session = !strcmp(argv[1], "session");
	if ((e = getenv("CHAT_GATEWAYS")))
		gateways = atoi(e);
	if ((e = getenv("FAKE_DROP_EVERY")))
		drop_every = atoi(e);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (lc_loop_init(&loop) < 0 || !(actor = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	lc_loop_signals(&loop, &set, on_signal, NULL);
	lc_actor_on_message(actor, on_msg, &session);
	if (!session) {
		lc_timer_init(&mark, on_mark, NULL);
		lc_timer_set(&loop, &mark, lc_now_ms() + 1000);
	}
	lc_ready();
	lc_loop_run(&loop);
	return 0;
}
