/* chat-session: owner of the registered users whose nick hashes to this instance
 * (chat_shard(nick, CHAT_SESSIONS) == LETITCRASH_INSTANCE), mailbox session.I (docs/chat.md).
 *
 * Requests from gateways (REGISTER, UNREGISTER, CHANNEL_OP, NICK) are served one at a time, in
 * arrival order: that is what makes exactly one of two racing REGISTERs win. A request that
 * changes a user is journaled first, as a session event sent to storage (SESSION_EVENT, acked
 * by ACK), and answered after the ack. A CHANNEL_OP goes to storage (which owns channels),
 * then the user's JOIN/PART is journaled, then CHANNEL_DONE is relayed to the gateway.
 * Whatever is out at storage is resent every RETRY_MS with the same rid until answered
 * (storage may be restarting); events are state-setting, so a resent one that was already
 * committed changes nothing.
 *
 * At start: SESSION_LOAD from storage rebuilds the users (one REG event per registered user,
 * then a JOIN per channel), and only then lc_ready; requests arriving meanwhile wait in the
 * queue. Each gateway holding users is monitored; on its DOWN its users are unregistered
 * (storage then fans out their QUITs). A NICK change's steps (start_nick) are requests like
 * the others: the gateway drives the hand-over, so no session ever waits for another. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "letitcrash/actor.h"
#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"

#include "backend.h"
#include "chatd.h"
#include "chatproto.h"

#define RETRY_MS 300
#define STORAGE "storage"

struct req {
	uint16_t type;
	int internal;                   /* a gateway's death: no reply */
	uint64_t rid;
	char from[64];
	char conn[CHAT_CONN_MAX + 1];
	char nick[CHAT_NICK_MAX + 1];
	char user[CHAT_USER_MAX + 1];
	char host[CHAT_HOST_MAX + 1];
	char realname[CHAT_REAL_MAX + 1];
	char account[CHAT_ACCOUNT_MAX + 1];
	char prefix[CHAT_PREFIX_MAX + 1];
	uint8_t op;
	char target[CHAT_TARGET_MAX + 1];
	char text[CHAT_TEXT_MAX + 1];
};

enum stage { IDLE, LOADING, WAIT_EVENT, WAIT_CHANOP };

static struct lc_actor *A;
static struct lc_loop loop;
static unsigned inst, nsess;
static struct bk_users users;
static struct req *q;                   /* FIFO: q[qhead .. qtail) */
static size_t qhead, qtail, qcap;
static enum stage stage = LOADING;
static uint64_t ridseq, pend_rid;
static int pend_kind;                   /* WAIT_EVENT: the event's kind and data */
static char pend_data[CHAT_TEXT_MAX + 1];
static char pend_buf[1 << 12];          /* the request out at storage, for resends */
static size_t pend_len;
static uint16_t pend_type;
static struct lc_timer retry;
static struct chat_msg in, out, done;   /* large: one each */
static char (*mon)[64];                 /* gateways monitored */
static size_t nmon;

static char move_chans[CHAT_NAMES_MAX + 1]; /* MOVE: the channels storage says new is in */
/* Nicks held by unregistered connections (RESERVE): not journaled, a restart forgets them
 * (the connection's REGISTER then races like one without a reservation) */
static struct resv {
	char key[CHAT_NICK_MAX + 1];
	char conn[CHAT_CONN_MAX + 1];
} *resv;
static size_t nresv;

static void step(void);
static void relay_done(void);

static void
send_to(const char *to, uint16_t t, struct chat_msg *m)
{
	static char buf[1 << 16];
	ssize_t n;

	m->type = t;
	if ((n = chat_encode(m, buf, sizeof buf)) < 0)
		lc_die(LC_EXIT_BUG, "cannot encode %s: %s", chat_type_name(t), strerror(errno));
	lc_send(A, to, t, buf, (size_t)n);
}

/* Send out (type t) to storage with a fresh rid, and keep it for resends until answered. */
static void
to_storage(uint16_t t)
{
	ssize_t n;

	out.type = t;
	out.rid = pend_rid = ++ridseq;
	if ((n = chat_encode(&out, pend_buf, sizeof pend_buf)) < 0)
		lc_die(LC_EXIT_BUG, "cannot encode %s: %s", chat_type_name(t), strerror(errno));
	pend_len = (size_t)n;
	pend_type = t;
	lc_send(A, STORAGE, t, pend_buf, pend_len);
	lc_timer_set(&loop, &retry, lc_now_ms() + RETRY_MS);
}

static void
on_retry(struct lc_loop *l, struct lc_timer *t)
{
	if (stage == IDLE)
		return;
	lc_send(A, STORAGE, pend_type, pend_buf, pend_len);
	lc_timer_set(l, t, lc_now_ms() + RETRY_MS);
}

static void
monitor_gateway(const char *conn)
{
	char gw[64];

	snprintf(gw, sizeof gw, "%.*s", (int)strcspn(conn, "/"), conn);
	for (size_t i = 0; i < nmon; i++)
		if (strcmp(mon[i], gw) == 0)
			return;
	if (!(mon = realloc(mon, (nmon + 1) * sizeof *mon)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	snprintf(mon[nmon++], sizeof *mon, "%s", gw);
	lc_monitor(A, gw);
}

static void
enqueue(const struct req *r)
{
	if (qtail == qcap) {
		if (qhead > 0) {
			memmove(q, q + qhead, (qtail - qhead) * sizeof *q);
			qtail -= qhead, qhead = 0;
		} else {
			qcap = qcap ? 2 * qcap : 64;
			if (!(q = realloc(q, qcap * sizeof *q)))
				lc_die(LC_EXIT_TEMP, "out of memory");
		}
	}
	q[qtail++] = *r;
}

/* Answer the head request (t, status) to its gateway and move on. */
static void
finish(uint16_t t, unsigned status)
{
	struct req *r = &q[qhead];

	if (!r->internal) {
		memset(&out, 0, sizeof out);
		out.rid = r->rid;
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->nick, sizeof out.nick);
		out.status = (uint16_t)status;
		out.op = r->op;         /* NICK_DONE: the step */
		send_to(r->from, t, &out);
	}
	qhead++;
	stage = IDLE;
	lc_timer_cancel(&loop, &retry);
}

static void
journal_event(int kind, const char *nick, const char *data)
{
	memset(&out, 0, sizeof out);
	snprintf(out.nick, sizeof out.nick, "%s", nick);
	out.op = (uint8_t)kind;
	snprintf(out.text, sizeof out.text, "%s", data);
	pend_kind = kind;
	snprintf(pend_data, sizeof pend_data, "%s", data);
	stage = WAIT_EVENT;
	to_storage(CHAT_SESSION_EVENT);
}

/* The reservation of nick, or NULL. */
static struct resv *
resv_find(const char *nick)
{
	char k[CHAT_NICK_MAX + 1];

	bk_fold(nick, k, sizeof k);
	for (size_t i = 0; i < nresv; i++)
		if (strcmp(resv[i].key, k) == 0)
			return &resv[i];
	return NULL;
}

/* Forget the reservations of conn (prefix: every connection whose id starts with it). */
static void
resv_drop(const char *conn, int prefix)
{
	size_t n = strlen(conn);

	for (size_t i = 0; i < nresv;)
		if (prefix ? strncmp(resv[i].conn, conn, n) == 0 : strcmp(resv[i].conn, conn) == 0)
			resv[i] = resv[--nresv];
		else
			i++;
}

/* RESERVE: hold r->nick for the unregistered connection r->conn: 0, or 433. */
static unsigned
reserve(const struct req *r, const struct bk_user *u)
{
	struct resv *v = resv_find(r->nick);

	if ((u && u->registered) || (v && strcmp(v->conn, r->conn) != 0))
		return 433;
	if (v)
		return 0;               /* a retry */
	if (!(resv = realloc(resv, (nresv + 1) * sizeof *resv)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	bk_fold(r->nick, resv[nresv].key, sizeof resv[0].key);
	memcpy(resv[nresv++].conn, r->conn, sizeof resv[0].conn);
	monitor_gateway(r->conn);
	return 0;
}

/* REGISTER, or a nick change's CLAIM: journal the nick registered by r->conn, or answer at
 * once: `ok` to a retry (the connection holds it already), `fail` with 433 (another holds
 * it, registered or reserved) or 432 (the registration data does not fit). */
static void
claim(struct req *r, struct bk_user *u, int mine, uint16_t ok, uint16_t fail)
{
	char data[CHAT_TEXT_MAX + 1];
	struct resv *v = resv_find(r->nick);

	if (mine)
		return finish(ok, 0);
	if ((u && u->registered) || (v && strcmp(v->conn, r->conn) != 0))
		return finish(fail, 433);
	if (bk_reg_data(data, sizeof data, r->conn, r->user, r->host, r->realname,
	    r->account) < 0)
		return finish(fail, 432);
	journal_event(BK_EV_REG, r->nick, data);
}

/* MOVE, after storage renamed: record the new nick as shown (a change of case) and each
 * channel storage listed, one event at a time (each resumes here from on_ack); then answer. */
static void
move_next(void)
{
	struct req *r = &q[qhead];
	struct bk_user *u = bk_user_find(&users, r->nick);
	char chan[CHAT_TARGET_MAX + 1];

	if (!u || !u->registered)
		lc_die(LC_EXIT_BUG, "nick move to %s: not registered", r->nick);
	if (strcmp(u->nick, r->nick) != 0)
		return journal_event(BK_EV_NICK, r->nick, r->nick);
	for (const char *p = move_chans; *p;) {
		size_t n = strcspn(p, " ");
		if (n > 0 && n < sizeof chan) {
			memcpy(chan, p, n);
			chan[n] = '\0';
			if (!bk_user_in(u, chan))
				return journal_event(BK_EV_JOIN, r->nick, chan);
		}
		p += n + (p[n] == ' ');
	}
	finish(CHAT_NICK_DONE, 0);
}

/* A step of a nick change (chatproto.h, chat_nick_step; docs/chat.md "Nick change"); r->nick
 * is the nick this session owns, r->target the other. Each step is safe to repeat: CLAIM of a
 * nick the connection holds is answered OK, MOVE renames what is left, RELEASE of a nick the
 * connection no longer holds is answered OK. A change of case only (same key, this session
 * owns both) never CLAIMs nor RELEASEs: both would be about the user itself. */
static void
start_nick(struct req *r, struct bk_user *u, int mine)
{
	char data[CHAT_TEXT_MAX + 1];
	int same = irc_casecmp(r->nick, r->target) == 0;

	switch (r->op) {
	case CHAT_NS_CLAIM:
		if (same)
			return finish(CHAT_NICK_DONE, mine ? 0 : 451);
		return claim(r, u, mine, CHAT_NICK_DONE, CHAT_NICK_DONE);
	case CHAT_NS_MOVE:
		if (!mine)
			return finish(CHAT_NICK_DONE, 451);
		memset(&out, 0, sizeof out);
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->target, sizeof out.nick);
		memcpy(out.prefix, r->prefix, sizeof out.prefix);
		out.op = CHAT_K_NICK;
		memcpy(out.text, r->nick, sizeof out.nick);
		stage = WAIT_CHANOP;
		return to_storage(CHAT_CHANNEL_OP);
	case CHAT_NS_RESERVE:
		return finish(CHAT_NICK_DONE, reserve(r, u));
	case CHAT_NS_RELEASE:
		if (same || !mine)
			return finish(CHAT_NICK_DONE, 0);
		snprintf(data, sizeof data, "Nick change to %s", r->target);
		return journal_event(BK_EV_UNREG, r->nick, data);
	}
	finish(CHAT_NICK_DONE, 461);
}

/* Start serving the head request. */
static void
start(struct req *r)
{
	struct bk_user *u = bk_user_find(&users, r->nick);
	int mine = u && u->registered && strcmp(u->conn, r->conn) == 0;

	switch (r->type) {
	case CHAT_REGISTER:
		return claim(r, u, mine, CHAT_REGISTERED, CHAT_NICK_IN_USE);
	case CHAT_UNREGISTER:
		if (!mine) {
			struct resv *v = resv_find(r->nick);
			if (v && strcmp(v->conn, r->conn) == 0)
				*v = resv[--nresv];
			return finish(CHAT_ACK, 0);
		}
		return journal_event(BK_EV_UNREG, r->nick, r->text);
	case CHAT_CHANNEL_OP:
		if (!mine) {
			memset(&done, 0, sizeof done);
			done.status = 451;      /* ERR_NOTREGISTERED */
			done.op = r->op;
			memcpy(done.target, r->target, sizeof done.target);
			return relay_done();
		}
		memset(&out, 0, sizeof out);
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->nick, sizeof out.nick);
		bk_user_prefix(u, out.prefix, sizeof out.prefix);
		out.op = r->op;
		memcpy(out.target, r->target, sizeof out.target);
		memcpy(out.text, r->text, sizeof out.text);
		stage = WAIT_CHANOP;
		return to_storage(CHAT_CHANNEL_OP);
	case CHAT_NICK:
		return start_nick(r, u, mine);
	}
	lc_die(LC_EXIT_BUG, "queued request of type %u", r->type);
}

static void
relay_done(void)
{
	struct req *r = &q[qhead];

	done.rid = r->rid;
	memcpy(done.conn, r->conn, sizeof done.conn);
	send_to(r->from, CHAT_CHANNEL_DONE, &done);
	qhead++;
	stage = IDLE;
	lc_timer_cancel(&loop, &retry);
}

/* Storage answered the CHANNEL_OP: record the user's JOIN/PART (a PART that storage says did
 * not happen but we think did was committed before a storage restart: record it), then relay. */
static void
on_done(void)
{
	struct req *r = &q[qhead];
	struct bk_user *u = bk_user_find(&users, r->nick);
	int in_chan = u && bk_user_in(u, r->target);

	if (r->type == CHAT_NICK) {
		memcpy(move_chans, in.names, sizeof move_chans);
		return move_next();
	}
	done = in;
	if (r->op == CHAT_K_PART && done.status == 442 && in_chan)
		done.status = 0;
	if (done.status == 0 && r->op == CHAT_K_JOIN && !in_chan)
		return journal_event(BK_EV_JOIN, r->nick, r->target);
	if (done.status == 0 && r->op == CHAT_K_PART && in_chan)
		return journal_event(BK_EV_PART, r->nick, r->target);
	relay_done();
}

static void
on_ack(void)
{
	struct req *r = &q[qhead];

	if (bk_user_apply(&users, r->nick, pend_kind, pend_data) < 0)
		lc_die(LC_EXIT_BUG, "cannot apply event %d of %s", pend_kind, r->nick);
	if (r->type == CHAT_NICK && pend_kind != BK_EV_REG && pend_kind != BK_EV_UNREG)
		return move_next();
	switch (pend_kind) {
	case BK_EV_REG:
		monitor_gateway(r->conn);
		resv_drop(r->conn, 0);          /* registered: its reservation is done with */
		return finish(r->type == CHAT_NICK ? CHAT_NICK_DONE : CHAT_REGISTERED, 0);
	case BK_EV_UNREG:
		return finish(r->type == CHAT_NICK ? CHAT_NICK_DONE : CHAT_ACK, 0);
	default:
		return relay_done();
	}
}

/* Serve queued requests until one waits for storage. */
static void
step(void)
{
	while (stage == IDLE && qhead < qtail)
		start(&q[qhead]);
	if (qhead == qtail)
		qhead = qtail = 0;
}

/* Storage's answer to SESSION_LOAD (possibly in several parts; the last has fewer than
 * CHAT_ITEMS_MAX items). Applying it twice (a resend) gives the same users. */
static void
on_state(void)
{
	for (size_t i = 0; i < in.nitems; i++)
		if (bk_user_apply(&users, in.items[i].target, in.items[i].kind, in.items[i].text) < 0)
			lc_die(LC_EXIT_BUG, "bad session state item for %s", in.items[i].target);
	if (in.nitems == CHAT_ITEMS_MAX)
		return;
	stage = IDLE;
	lc_timer_cancel(&loop, &retry);
	size_t n = 0;
	for (size_t i = 0; i < users.n; i++)
		if (users.v[i]->registered) {
			monitor_gateway(users.v[i]->conn);
			n++;
		}
	lc_info("session.%u: recovered %zu users", inst, n);
	lc_ready();
	step();
}

static void
on_down(const struct lc_msg *m)
{
	char gw[64], pre[66];
	struct req r;

	snprintf(gw, sizeof gw, "%.*s", (int)m->fromlen, m->from);
	for (size_t i = 0; i < nmon; i++)
		if (strcmp(mon[i], gw) == 0) {
			memcpy(mon[i], mon[--nmon], sizeof *mon);
			break;
		}
	snprintf(pre, sizeof pre, "%s/", gw);
	resv_drop(pre, 1);
	for (size_t i = 0; i < users.n; i++) {
		struct bk_user *u = users.v[i];
		if (!u->registered || strncmp(u->conn, pre, strlen(pre)) != 0)
			continue;
		memset(&r, 0, sizeof r);
		r.type = CHAT_UNREGISTER;
		r.internal = 1;
		memcpy(r.conn, u->conn, sizeof r.conn);
		memcpy(r.nick, u->nick, sizeof r.nick);
		snprintf(r.text, sizeof r.text, "Connection closed");
		enqueue(&r);
	}
}

static void
on_request(const char *from)
{
	struct req r;

	memset(&r, 0, sizeof r);
	r.type = in.type;
	r.rid = in.rid;
	snprintf(r.from, sizeof r.from, "%s", from);
	memcpy(r.conn, in.conn, sizeof r.conn);
	memcpy(r.nick, in.nick, sizeof r.nick);
	memcpy(r.user, in.user, sizeof r.user);
	memcpy(r.host, in.host, sizeof r.host);
	memcpy(r.realname, in.realname, sizeof r.realname);
	memcpy(r.account, in.account, sizeof r.account);
	memcpy(r.prefix, in.prefix, sizeof r.prefix);
	r.op = in.op;
	memcpy(r.target, in.target, sizeof r.target);
	memcpy(r.text, in.text, sizeof r.text);
	if (chat_shard(r.nick, nsess) != inst)
		lc_warn("%s for %s, not ours (shard %u): served anyway", chat_type_name(r.type),
		    r.nick, chat_shard(r.nick, nsess));
	enqueue(&r);
}

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	char from[64];

	if (m->type == LC_MSG_DOWN) {
		on_down(m);
		return step();
	}
	if (m->type < CHAT_REGISTER || m->type >= CHAT_TYPE_END)
		return;
	snprintf(from, sizeof from, "%.*s", (int)m->fromlen, m->from);
	if (chat_decode(m->type, m->body, m->len, &in) < 0) {
		/* only our own workers write here: a bug, logged, the request dropped */
		lc_warn("dropped a malformed %s from %s: %s", chat_type_name(m->type), from,
		    strerror(errno));
		return;
	}
	in.type = m->type;
	switch (m->type) {
	case CHAT_REGISTER:
	case CHAT_UNREGISTER:
	case CHAT_CHANNEL_OP:
	case CHAT_NICK:
		on_request(from);
		break;
	case CHAT_SESSION_STATE:
		if (stage == LOADING && in.rid == pend_rid)
			on_state();
		return;
	case CHAT_ACK:
		if (stage == WAIT_EVENT && in.rid == pend_rid)
			on_ack();
		break;
	case CHAT_CHANNEL_DONE:
		if (stage == WAIT_CHANOP && in.rid == pend_rid)
			on_done();
		break;
	default:
		lc_warn("unexpected %s from %s, dropped", chat_type_name(m->type), from);
		return;
	}
	if (stage != LOADING)
		step();
}

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_loop_break(l);
}

int
main(int argc, char **argv)
{
	const char *s;
	sigset_t set;

	lc_log_init("chat-session");
	chat_malloc_tune();
	nsess = (s = getenv("CHAT_SESSIONS")) ? (unsigned)atoi(s) : 1;
	inst = (s = getenv("LETITCRASH_INSTANCE")) ? (unsigned)atoi(s) : 0;
	if (nsess == 0 || inst >= nsess)
		lc_die(LC_EXIT_USAGE, "instance %u of %u sessions: bad CHAT_SESSIONS or "
		    "LETITCRASH_INSTANCE", inst, nsess);
	if (getrandom(&ridseq, sizeof ridseq, 0) != sizeof ridseq)
		lc_die_sys(LC_EXIT_TEMP, "getrandom");
	ridseq >>= 1;
	if (lc_loop_init(&loop) < 0 || !(A = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	lc_loop_signals(&loop, &set, on_signal, NULL);
	lc_timer_init(&retry, on_retry, NULL);
	lc_actor_on_bad_frame(A, lc_log_bad_frames, NULL);
	lc_actor_on_message(A, on_msg, NULL);
	memset(&out, 0, sizeof out);
	out.seq = inst;
	out.limit = nsess;
	to_storage(CHAT_SESSION_LOAD);  /* LOADING until the state is in: then lc_ready */
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "loop");
	bk_users_fini(&users);
	free(resv);
	free(q);
	free(mon);
	lc_exit(A, "shutdown");
}
