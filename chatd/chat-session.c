/* chat-session: owner of the registered users whose nick hashes to this instance
 * (chat_shard(nick, CHAT_SESSIONS) == LETITCRASH_INSTANCE), mailbox session.I (docs/chat.md,
 * "The session's pipeline").
 *
 * Requests from gateways (REGISTER, UNREGISTER, CHANNEL_OP, NICK) are queued per user: by the
 * casefolded nick they name (the key). A key's requests are served one at a time, in arrival
 * order: that is what makes exactly one of two racing REGISTERs win; the head request of a
 * key is decided against that user's state, all of whose events are committed (the previous
 * request of the key was answered, which happens only after its commit). Different keys are
 * served at once: up to WINDOW requests are out at storage together, each waiting for its
 * own answer, which storage commits in groups and answers in order. A request that changes
 * a user is journaled first, as a session event sent to storage (SESSION_EVENT, acked by
 * ACK), and answered after the ack; the event is applied to the user then. A CHANNEL_OP goes
 * to storage (which owns channels), then the user's JOIN/PART is journaled, then CHANNEL_DONE
 * is relayed to the gateway. A gateway's resend of a request still queued or being served
 * (same sender, same rid) is dropped: the original is answered.
 *
 * What is out at storage is resent with the same rid until answered (storage may be
 * restarting or may have dropped it): as soon as storage answers something sent after it
 * (storage answers in arrival order, so an older request not answered by then was lost), or
 * when storage answered nothing for RETRY_MS (doubling up to RETRY_MAX_MS while it stays
 * silent: a busy storage is not flooded with copies). Events are state-setting, so a resent
 * one that was already committed changes nothing.
 *
 * At start: SESSION_LOAD from storage rebuilds the users (one REG event per registered user,
 * then a JOIN per channel), and only then lc_ready; requests arriving meanwhile wait. The
 * load is resent after the same silences, with a new rid: the users are rebuilt from the new
 * answer alone, so two answers' parts never mix. Each
 * gateway holding users is monitored; on its DOWN its users are unregistered (storage then
 * fans out their QUITs), those registered by a request still being served too. A NICK
 * change's steps (start_nick) are requests like the others: the gateway drives the
 * hand-over, so no session ever waits for another. */
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

#define RETRY_MS     1000       /* storage silent this long: resend (then twice as long...) */
#define RETRY_MAX_MS 8000
#define WINDOW       1024       /* requests out at storage at once */
#define OUT_BUCKETS  2048       /* rid index of the requests out (a power of 2 >= WINDOW) */
#define STORAGE "storage"

struct ukey;

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
	/* serving it */
	struct ukey *key;
	struct req *knext;              /* the key's next request */
	struct req *next, *prev;        /* the ready list (next), or the list out at storage */
	struct req *hnext;              /* rid index chain, while out */
	uint16_t out;                   /* the storage request out (SESSION_EVENT, CHANNEL_OP), 0 */
	uint64_t srid;                  /* its rid */
	uint64_t first, last;           /* sends counter at its first and latest copy */
	int64_t sent_ms;                /* when its latest copy went */
	int ev_kind;                    /* SESSION_EVENT: the event */
	char ev_data[CHAT_TEXT_MAX + 1];
	char *chans;                    /* NICK MOVE: the channels storage says new is in */
	char *reply;                    /* CHANNEL_OP: the CHANNEL_DONE to relay, encoded */
	size_t replylen;
};

/* A nick with requests queued, or reserved (RESERVE) by an unregistered connection: the
 * reservation is not journaled, a restart forgets it (the connection's REGISTER then races
 * like one without a reservation). */
struct ukey {
	char key[CHAT_NICK_MAX + 1];    /* casefolded */
	char resv[CHAT_CONN_MAX + 1];   /* the connection holding it, or "" */
	struct req *head, *tail;        /* its requests: the head is being served */
	struct ukey *next;              /* hash chain */
};

static struct lc_actor *A;
static struct lc_loop loop;
static unsigned inst, nsess;
static struct bk_users users;
static int loading = 1;
static uint64_t ridseq, load_rid, sends;
static struct lc_timer retry;
static int64_t retry_ivl = RETRY_MS, last_answer;
static struct chat_msg in, out;         /* large: one each */
struct gwmon {                          /* a gateway incarnation monitored */
	char name[64];
	pid_t pid;                      /* 0: the name (ids without a pid) */
	uint64_t ref;
};
static struct gwmon *mon;
static size_t nmon;

static struct ukey **keys;              /* hash of struct ukey by key */
static size_t nkeys, keycap;            /* entries, buckets (a power of 2) */
static struct req *ready, *ready_tail;  /* key heads to serve */
static struct req *out_head, *out_tail; /* out at storage, oldest copy first */
static struct req *out_ix[OUT_BUCKETS];
static size_t nout, maxout;            /* out at storage now, at most so far */
static uint64_t served;                 /* requests answered */

static void finish(struct req *r, uint16_t t, unsigned status);

/* --- keys -------------------------------------------------------------------------------- */

static struct ukey **
key_slot(const char *k)
{
	struct ukey **pp = &keys[chat_shard(k, (unsigned)keycap)];

	while (*pp && strcmp((*pp)->key, k) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* The entry of nick, created if `make`; else NULL if it has none. */
static struct ukey *
key_get(const char *nick, int make)
{
	char k[CHAT_NICK_MAX + 1];
	struct ukey **pp, *e;

	bk_fold(nick, k, sizeof k);
	if (keycap && *(pp = key_slot(k)))
		return *pp;
	if (!make)
		return NULL;
	if (nkeys >= keycap) {
		size_t oldcap = keycap;
		struct ukey **old = keys;
		keycap = keycap ? 2 * keycap : 1024;
		if (!(keys = calloc(keycap, sizeof *keys)))
			lc_die(LC_EXIT_TEMP, "out of memory");
		for (size_t b = 0; b < oldcap; b++)
			while ((e = old[b])) {
				old[b] = e->next;
				pp = key_slot(e->key);
				e->next = NULL;
				*pp = e;
			}
		free(old);
	}
	if (!(e = calloc(1, sizeof *e)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	memcpy(e->key, k, sizeof e->key);
	*key_slot(k) = e;
	nkeys++;
	return e;
}

/* Forget e if it holds nothing any more. */
static void
key_put(struct ukey *e)
{
	struct ukey **pp;

	if (e->head || e->resv[0])
		return;
	pp = key_slot(e->key);
	*pp = e->next;
	free(e);
	nkeys--;
}

/* The connection holding nick's reservation, or NULL. */
static const char *
resv_of(const char *nick)
{
	struct ukey *e = key_get(nick, 0);

	return e && e->resv[0] ? e->resv : NULL;
}

/* Whether connection id conn was made by g's incarnation. */
static int
conn_of(const char *conn, const struct gwmon *g)
{
	size_t n = chat_conn_gwlen(conn);

	return n == strlen(g->name) && memcmp(conn, g->name, n) == 0 &&
	    chat_conn_pid(conn) == g->pid;
}

/* Forget the reservations of every connection of gateway incarnation g. */
static void
resv_drop_gateway(const struct gwmon *g)
{
	for (size_t b = 0; b < keycap; b++)
		for (struct ukey *e = keys[b], *nx; e; e = nx) {
			nx = e->next;
			if (e->resv[0] && conn_of(e->resv, g)) {
				e->resv[0] = '\0';
				key_put(e);
			}
		}
}

/* --- storage ------------------------------------------------------------------------------ */

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

/* Send (again) r's storage request, built from r: a failed send is a loss like any other. */
static void
send_out(struct req *r)
{
	struct bk_user *u;

	chat_msg_clear(&out);
	out.rid = r->srid;
	if (r->out == CHAT_SESSION_EVENT) {
		snprintf(out.nick, sizeof out.nick, "%s", r->nick);
		out.op = (uint8_t)r->ev_kind;
		memcpy(out.text, r->ev_data, sizeof out.text);
	} else if (r->type == CHAT_NICK) {      /* MOVE: rename r->target to r->nick */
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->target, sizeof out.nick);
		memcpy(out.prefix, r->prefix, sizeof out.prefix);
		out.op = CHAT_K_NICK;
		memcpy(out.text, r->nick, sizeof out.nick);
	} else {
		if (!(u = bk_user_find(&users, r->nick)))
			lc_die(LC_EXIT_BUG, "channel op of %s: no such user", r->nick);
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->nick, sizeof out.nick);
		bk_user_prefix(u, out.prefix, sizeof out.prefix);
		out.op = r->op;
		memcpy(out.target, r->target, sizeof out.target);
		memcpy(out.text, r->text, sizeof out.text);
	}
	r->last = ++sends;
	r->sent_ms = lc_now_ms();
	send_to(STORAGE, r->out, &out);
}

/* When storage will have been silent too long: retry_ivl after the oldest copy out or the
 * last answer, whichever is later. Only while something is out. */
static int64_t
retry_due(void)
{
	int64_t base = out_head->sent_ms > last_answer ? out_head->sent_ms : last_answer;

	return base + retry_ivl;
}

static void
arm_retry(void)
{
	if (loading)
		return;
	if (!out_head) {
		lc_timer_cancel(&loop, &retry);
		return;
	}
	lc_timer_set(&loop, &retry, retry_due());
}

static void
out_unlink(struct req *r)
{
	*(r->prev ? &r->prev->next : &out_head) = r->next;
	*(r->next ? &r->next->prev : &out_tail) = r->prev;
	r->next = r->prev = NULL;
}

static void
out_append(struct req *r)
{
	r->prev = out_tail;
	r->next = NULL;
	*(out_tail ? &out_tail->next : &out_head) = r;
	out_tail = r;
}

/* Resend r (it goes to the end of the list: its latest copy is now the newest). */
static void
resend(struct req *r)
{
	out_unlink(r);
	out_append(r);
	send_out(r);
}

/* Put r's storage request (type t) out with a fresh rid, and keep it for resends. */
static void
to_storage(struct req *r, uint16_t t)
{
	struct req **pp;

	r->out = t;
	r->srid = ++ridseq;
	pp = &out_ix[r->srid & (OUT_BUCKETS - 1)];
	r->hnext = *pp;
	*pp = r;
	if (!out_head)
		last_answer = lc_now_ms();      /* silence is counted from the first request out */
	out_append(r);
	if (++nout > maxout)
		maxout = nout;
	send_out(r);
	r->first = r->last;
	if (!lc_timer_armed(&retry))
		arm_retry();
}

/* storage answered rid with a message of type t: the request waiting for it, taken off the
 * list out (a request that storage answered after something sent later was lost: resent),
 * or NULL for a stale answer (a resend's, or one meant for a previous instance). */
static struct req *
answered(uint64_t rid, uint16_t t)
{
	struct req **pp = &out_ix[rid & (OUT_BUCKETS - 1)], *r;

	while (*pp && (*pp)->srid != rid)
		pp = &(*pp)->hnext;
	if (!(r = *pp) || r->out != (t == CHAT_ACK ? CHAT_SESSION_EVENT : CHAT_CHANNEL_OP))
		return NULL;
	*pp = r->hnext;
	/* storage serves in arrival order: what went out for the last time before r's first
	 * copy should have been answered first */
	while (out_head && out_head != r && out_head->last < r->first) {
		lc_debug("session.%u: %s of %s lost at storage: resent", inst,
		    chat_type_name(out_head->out), out_head->nick);
		resend(out_head);
	}
	out_unlink(r);
	nout--;
	r->out = 0;
	last_answer = lc_now_ms();
	retry_ivl = RETRY_MS;
	arm_retry();
	return r;
}

/* Storage answered nothing for retry_ivl: it may be down or restarting. Resend the load, or
 * everything out, oldest first. */
static void
on_retry(struct lc_loop *l, struct lc_timer *t)
{
	size_t n = nout;

	if (loading) {
		if (load_rid) {
			lc_info("session.%u: no state from storage for %" PRId64 " ms: asking again",
			    inst, retry_ivl);
			bk_users_fini(&users);
			if ((retry_ivl *= 2) > RETRY_MAX_MS)
				retry_ivl = RETRY_MAX_MS;
		}
		chat_msg_clear(&out);
		out.rid = load_rid = ++ridseq;
		out.seq = inst;
		out.limit = nsess;
		send_to(STORAGE, CHAT_SESSION_LOAD, &out);
		lc_timer_set(l, t, lc_now_ms() + retry_ivl);
		return;
	}
	if (!out_head)
		return;
	if (lc_now_ms() < retry_due())
		return arm_retry();
	lc_info("session.%u: no answer from storage for %" PRId64 " ms: resending %zu requests",
	    inst, retry_ivl, nout);
	for (; n > 0; n--)
		resend(out_head);
	if ((retry_ivl *= 2) > RETRY_MAX_MS)
		retry_ivl = RETRY_MAX_MS;
	arm_retry();
}

/* --- requests ------------------------------------------------------------------------------ */

static void
monitor_gateway(const char *conn)
{
	struct gwmon g = { .pid = chat_conn_pid(conn) };

	snprintf(g.name, sizeof g.name, "%.*s", (int)chat_conn_gwlen(conn), conn);
	for (size_t i = 0; i < nmon; i++)
		if (mon[i].pid == g.pid && strcmp(mon[i].name, g.name) == 0)
			return;
	if (!(mon = realloc(mon, (nmon + 1) * sizeof *mon)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	/* by incarnation: a request that a gateway sent just before it died, served after its
	 * death was seen, gets "noproc" at once, and the DOWN of one incarnation leaves the
	 * users of the next alone */
	g.ref = g.pid ? lc_monitor_pid(A, g.name, g.pid) : lc_monitor(A, g.name);
	if (g.ref == 0) {       /* the tree's watcher failed: asked again by the next request */
		lc_warn_sys("unable to monitor %s (pid %ld)", g.name, (long)g.pid);
		return;
	}
	mon[nmon++] = g;
}

static void
ready_push(struct req *r)
{
	r->next = NULL;
	*(ready_tail ? &ready_tail->next : &ready) = r;
	ready_tail = r;
}

/* Queue r behind its key's requests: a copy of one of them (a gateway's resend) is dropped. */
static void
enqueue(struct req *r)
{
	struct ukey *e = key_get(r->nick, 1);

	for (struct req *q = e->head; q; q = q->knext)
		if (q->rid == r->rid && q->type == r->type && !q->internal && !r->internal &&
		    strcmp(q->from, r->from) == 0) {
			free(r);
			return;
		}
	r->key = e;
	r->knext = NULL;
	*(e->tail ? &e->tail->knext : &e->head) = r;
	e->tail = r;
	if (e->head == r)
		ready_push(r);
}

static void
req_free(struct req *r)
{
	free(r->chans);
	free(r->reply);
	free(r);
}

/* r (its key's head) is answered: free it, and its key's next request is ready. */
static void
retire(struct req *r)
{
	struct ukey *e = r->key;

	if (e->head != r)
		lc_die(LC_EXIT_BUG, "%s of %s retired out of turn", chat_type_name(r->type), r->nick);
	served++;
	if (!(e->head = r->knext))
		e->tail = NULL;
	else
		ready_push(e->head);
	key_put(e);
	req_free(r);
}

/* Answer r (t, status) to its gateway, and retire it. */
static void
finish(struct req *r, uint16_t t, unsigned status)
{
	if (!r->internal) {
		chat_msg_clear(&out);
		out.rid = r->rid;
		memcpy(out.conn, r->conn, sizeof out.conn);
		memcpy(out.nick, r->nick, sizeof out.nick);
		out.status = (uint16_t)status;
		out.op = r->op;         /* NICK_DONE: the step */
		send_to(r->from, t, &out);
	}
	retire(r);
}

/* Relay r's CHANNEL_DONE (kept encoded in r->reply), and retire it. */
static void
relay_done(struct req *r)
{
	lc_send(A, r->from, CHAT_CHANNEL_DONE, r->reply, r->replylen);
	retire(r);
}

/* Keep m (a CHANNEL_DONE for r) encoded as r's reply. */
static void
keep_done(struct req *r, struct chat_msg *m)
{
	static char buf[1 << 16];
	ssize_t n;

	m->type = CHAT_CHANNEL_DONE;
	m->rid = r->rid;
	memcpy(m->conn, r->conn, sizeof m->conn);
	if ((n = chat_encode(m, buf, sizeof buf)) < 0)
		lc_die(LC_EXIT_BUG, "cannot encode CHANNEL_DONE: %s", strerror(errno));
	free(r->reply);
	if (!(r->reply = malloc((size_t)n)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	memcpy(r->reply, buf, (size_t)n);
	r->replylen = (size_t)n;
}

static void
journal_event(struct req *r, int kind, const char *data)
{
	r->ev_kind = kind;
	snprintf(r->ev_data, sizeof r->ev_data, "%s", data);
	to_storage(r, CHAT_SESSION_EVENT);
}

/* RESERVE: hold r->nick for the unregistered connection r->conn: 0, or 433. */
static unsigned
reserve(const struct req *r, const struct bk_user *u)
{
	const char *v = resv_of(r->nick);

	if ((u && u->registered) || (v && strcmp(v, r->conn) != 0))
		return 433;
	if (!v)                 /* else a retry */
		snprintf(r->key->resv, sizeof r->key->resv, "%s", r->conn);
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
	const char *v = resv_of(r->nick);

	if (mine)
		return finish(r, ok, 0);
	if ((u && u->registered) || (v && strcmp(v, r->conn) != 0))
		return finish(r, fail, 433);
	if (bk_reg_data(data, sizeof data, r->conn, r->user, r->host, r->realname,
	    r->account) < 0)
		return finish(r, fail, 432);
	journal_event(r, BK_EV_REG, data);
}

/* MOVE, after storage renamed: record the new nick as shown (a change of case) and each
 * channel storage listed, one event at a time (each resumes here from on_ack); then answer. */
static void
move_next(struct req *r)
{
	struct bk_user *u = bk_user_find(&users, r->nick);
	char chan[CHAT_TARGET_MAX + 1];

	if (!u || !u->registered)
		lc_die(LC_EXIT_BUG, "nick move to %s: not registered", r->nick);
	if (strcmp(u->nick, r->nick) != 0)
		return journal_event(r, BK_EV_NICK, r->nick);
	for (const char *p = r->chans ? r->chans : ""; *p;) {
		size_t n = strcspn(p, " ");
		if (n > 0 && n < sizeof chan) {
			memcpy(chan, p, n);
			chan[n] = '\0';
			if (!bk_user_in(u, chan))
				return journal_event(r, BK_EV_JOIN, chan);
		}
		p += n + (p[n] == ' ');
	}
	finish(r, CHAT_NICK_DONE, 0);
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
			return finish(r, CHAT_NICK_DONE, mine ? 0 : 451);
		return claim(r, u, mine, CHAT_NICK_DONE, CHAT_NICK_DONE);
	case CHAT_NS_MOVE:
		if (!mine)
			return finish(r, CHAT_NICK_DONE, 451);
		return to_storage(r, CHAT_CHANNEL_OP);
	case CHAT_NS_RESERVE:
		return finish(r, CHAT_NICK_DONE, reserve(r, u));
	case CHAT_NS_RELEASE:
		if (same || !mine)
			return finish(r, CHAT_NICK_DONE, 0);
		snprintf(data, sizeof data, "Nick change to %s", r->target);
		return journal_event(r, BK_EV_UNREG, data);
	}
	finish(r, CHAT_NICK_DONE, 461);
}

/* Start serving r, its key's head: every event of its user is committed. */
static void
start(struct req *r)
{
	struct bk_user *u = bk_user_find(&users, r->nick);
	int mine = u && u->registered && strcmp(u->conn, r->conn) == 0;
	struct ukey *e = r->key;

	switch (r->type) {
	case CHAT_REGISTER:
		return claim(r, u, mine, CHAT_REGISTERED, CHAT_NICK_IN_USE);
	case CHAT_UNREGISTER:
		if (!mine) {
			if (strcmp(e->resv, r->conn) == 0)
				e->resv[0] = '\0';
			return finish(r, CHAT_ACK, 0);
		}
		return journal_event(r, BK_EV_UNREG, r->text);
	case CHAT_CHANNEL_OP:
		if (!mine) {
			chat_msg_clear(&out);
			out.status = 451;       /* ERR_NOTREGISTERED */
			out.op = r->op;
			memcpy(out.target, r->target, sizeof out.target);
			keep_done(r, &out);
			return relay_done(r);
		}
		return to_storage(r, CHAT_CHANNEL_OP);
	case CHAT_NICK:
		return start_nick(r, u, mine);
	}
	lc_die(LC_EXIT_BUG, "queued request of type %u", r->type);
}

/* Serve ready requests while fewer than WINDOW are out at storage. */
static void
step(void)
{
	struct req *r;

	while (!loading && nout < WINDOW && (r = ready)) {
		if (!(ready = r->next))
			ready_tail = NULL;
		r->next = NULL;
		start(r);
	}
}

/* Storage answered r's CHANNEL_OP (in): record the user's JOIN/PART (a PART that storage says
 * did not happen but we think did was committed before a storage restart: record it), then
 * relay. */
static void
on_done(struct req *r)
{
	struct bk_user *u = bk_user_find(&users, r->nick);
	int in_chan = u && bk_user_in(u, r->target);

	if (r->type == CHAT_NICK) {
		if (!(r->chans = strdup(in.names)))
			lc_die(LC_EXIT_TEMP, "out of memory");
		return move_next(r);
	}
	if (r->op == CHAT_K_PART && in.status == 442 && in_chan)
		in.status = 0;
	keep_done(r, &in);
	if (in.status == 0 && r->op == CHAT_K_JOIN && !in_chan)
		return journal_event(r, BK_EV_JOIN, r->target);
	if (in.status == 0 && r->op == CHAT_K_PART && in_chan)
		return journal_event(r, BK_EV_PART, r->target);
	relay_done(r);
}

/* Storage committed r's event: apply it, then answer (or go on with a MOVE). */
static void
on_ack(struct req *r)
{
	if (bk_user_apply(&users, r->nick, r->ev_kind, r->ev_data) < 0)
		lc_die(LC_EXIT_BUG, "cannot apply event %d of %s", r->ev_kind, r->nick);
	if (r->type == CHAT_NICK && r->ev_kind != BK_EV_REG && r->ev_kind != BK_EV_UNREG)
		return move_next(r);
	switch (r->ev_kind) {
	case BK_EV_REG:
		monitor_gateway(r->conn);
		if (strcmp(r->key->resv, r->conn) == 0)
			r->key->resv[0] = '\0'; /* registered: its reservation is done with */
		return finish(r, r->type == CHAT_NICK ? CHAT_NICK_DONE : CHAT_REGISTERED, 0);
	case BK_EV_UNREG:
		return finish(r, r->type == CHAT_NICK ? CHAT_NICK_DONE : CHAT_ACK, 0);
	default:
		return relay_done(r);
	}
}

/* Storage's answer to SESSION_LOAD (possibly in several parts; the last has fewer than
 * CHAT_ITEMS_MAX items). Applying it twice (a resend) gives the same users. */
static void
on_state(void)
{
	for (size_t i = 0; i < in.nitems; i++)
		if (bk_user_apply(&users, in.items[i].target, in.items[i].kind, in.items[i].text) < 0)
			lc_die(LC_EXIT_BUG, "bad session state item for %s", in.items[i].target);
	if (in.nitems == CHAT_ITEMS_MAX) {
		lc_timer_set(&loop, &retry, lc_now_ms() + retry_ivl);  /* progress: not silent */
		return;
	}
	loading = 0;
	retry_ivl = RETRY_MS;
	lc_timer_cancel(&loop, &retry);
	size_t n = 0;
	for (size_t i = 0; i < users.n; i++)
		if (users.v[i]->registered) {
			monitor_gateway(users.v[i]->conn);
			n++;
		}
	lc_info("session.%u: recovered %zu users", inst, n);
	lc_ready();
}

static void
unregister_internal(const char *conn, const char *nick)
{
	struct req *r = calloc(1, sizeof *r);

	if (!r)
		lc_die(LC_EXIT_TEMP, "out of memory");
	r->type = CHAT_UNREGISTER;
	r->internal = 1;
	snprintf(r->conn, sizeof r->conn, "%s", conn);
	snprintf(r->nick, sizeof r->nick, "%s", nick);
	snprintf(r->text, sizeof r->text, "Connection closed");
	enqueue(r);
}

/* A gateway incarnation died (or had died when first seen: "noproc"): unregister its users,
 * and those a request being served or queued may register (the UNREGISTER is served after
 * it: it changes nothing if the nick was not taken). */
static void
on_down(const struct lc_msg *m)
{
	struct gwmon g;
	size_t i;

	for (i = 0; i < nmon && mon[i].ref != m->ref; i++)
		;
	if (i == nmon)
		return;         /* not a monitor of ours */
	g = mon[i];
	mon[i] = mon[--nmon];
	lc_info("%.*s (pid %ld) is down (%.*s): its connections' users are unregistered",
	    (int)m->fromlen, m->from, (long)g.pid, (int)m->len, (const char *)m->body);
	resv_drop_gateway(&g);
	for (i = 0; i < users.n; i++) {
		struct bk_user *u = users.v[i];
		if (u->registered && conn_of(u->conn, &g))
			unregister_internal(u->conn, u->nick);
	}
	for (size_t b = 0; b < keycap; b++)
		for (struct ukey *e = keys[b]; e; e = e->next)
			for (struct req *q = e->head; q; q = q->knext)
				if ((q->type == CHAT_REGISTER || q->type == CHAT_NICK) &&
				    conn_of(q->conn, &g)) {
					unregister_internal(q->conn, q->nick);
					break;
				}
}

static void
on_request(const char *from)
{
	struct req *r = calloc(1, sizeof *r);

	if (!r)
		lc_die(LC_EXIT_TEMP, "out of memory");
	r->type = in.type;
	r->rid = in.rid;
	snprintf(r->from, sizeof r->from, "%s", from);
	memcpy(r->conn, in.conn, sizeof r->conn);
	memcpy(r->nick, in.nick, sizeof r->nick);
	memcpy(r->user, in.user, sizeof r->user);
	memcpy(r->host, in.host, sizeof r->host);
	memcpy(r->realname, in.realname, sizeof r->realname);
	memcpy(r->account, in.account, sizeof r->account);
	memcpy(r->prefix, in.prefix, sizeof r->prefix);
	r->op = in.op;
	memcpy(r->target, in.target, sizeof r->target);
	memcpy(r->text, in.text, sizeof r->text);
	if (chat_shard(r->nick, nsess) != inst)
		lc_warn("%s for %s, not ours (shard %u): served anyway", chat_type_name(r->type),
		    r->nick, chat_shard(r->nick, nsess));
	enqueue(r);
}

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	char from[64];
	struct req *r;

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
		if (loading && in.rid == load_rid)
			on_state();
		break;
	case CHAT_ACK:
		if ((r = answered(in.rid, m->type)))
			on_ack(r);
		break;
	case CHAT_CHANNEL_DONE:
		if ((r = answered(in.rid, m->type)))
			on_done(r);
		break;
	default:
		lc_warn("unexpected %s from %s, dropped", chat_type_name(m->type), from);
		return;
	}
	step();
}

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_loop_break(l);
}

/* Free every request and key (at exit: nothing is answered). */
static void
free_all(void)
{
	for (size_t b = 0; b < keycap; b++)
		for (struct ukey *e = keys[b], *nx; e; e = nx) {
			nx = e->next;
			for (struct req *r = e->head, *rn; r; r = rn) {
				rn = r->knext;
				req_free(r);
			}
			free(e);
		}
	free(keys);
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
	on_retry(&loop, &retry);        /* SESSION_LOAD; loading until the state is in */
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "loop");
	lc_info("session.%u: %" PRIu64 " requests served, at most %zu out at storage at once",
	    inst, served, maxout);
	/* lc_exit turns the loop while it flushes: nothing of ours may run on freed state */
	lc_actor_on_message(A, NULL, NULL);
	lc_timer_cancel(&loop, &retry);
	bk_users_fini(&users);
	free_all();
	free(mon);
	lc_exit(A, "shutdown");
}
