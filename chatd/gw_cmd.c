/* chatd: the IRC commands of one connection (the design notes' IRC.md's subset). A handler either
 * answers at once, or sends one request to a backend worker (gw_request) and the connection
 * waits for its reply (gw_backend.c) before its next line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "chatd.h"

#define OFFERED (GW_CAP_MESSAGE_TAGS | GW_CAP_SERVER_TIME | GW_CAP_ECHO | GW_CAP_BATCH | \
	GW_CAP_LABELED | GW_CAP_SASL | GW_CAP_MULTI_PREFIX | GW_CAP_CHATHISTORY | GW_CAP_USERHOST)

struct cmd {
	const char *name;
	bool before_reg;                /* allowed before registration */
	unsigned minparams;
	void (*fn)(struct gw_conn *c, struct irc_msg *m);
};

static char *
session_of(struct gw_conn *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "session.%u", chat_shard(c->nick, c->gw->nsessions));
	return buf;
}

static struct chat_msg *
req_msg(struct gw_conn *c, uint16_t type)
{
	struct chat_msg *m = c->gw->enc;

	chat_msg_clear(m);
	m->type = type;
	snprintf(m->conn, sizeof m->conn, "%s", c->id);
	if (c->has_nick)
		snprintf(m->nick, sizeof m->nick, "%s", c->nick);
	snprintf(m->prefix, sizeof m->prefix, "%s", c->prefix);
	snprintf(m->account, sizeof m->account, "%s", c->account);
	return m;
}

/* --- channels of a connection ---------------------------------------------------------------- */

bool
gw_in_chan(const struct gw_conn *c, const char *chan)
{
	for (unsigned i = 0; i < c->nchans; i++)
		if (!irc_casecmp(c->chans[i], chan))
			return true;
	return false;
}

/* Room for one more channel in c's arrays (at most GW_CHANS_MAX). */
static bool
chans_room(struct gw_conn *c)
{
	if (c->nchans < c->capchans)
		return true;
	unsigned cap = c->capchans ? 2 * c->capchans : 2;
	if (cap > GW_CHANS_MAX)
		cap = GW_CHANS_MAX;
	void *n = reallocarray(c->chans, cap, sizeof *c->chans);
	if (!n)
		return false;
	c->chans = n;
	if (!(n = reallocarray(c->memb, cap, sizeof *c->memb)))
		return false;
	c->memb = n;
	c->capchans = cap;
	return true;
}

void
gw_chan_add(struct gw_conn *c, const char *chan, uint64_t seq, uint64_t ev)
{
	if (gw_in_chan(c, chan) || c->nchans >= GW_CHANS_MAX || !chans_room(c))
		return;
	struct gw_target *t = gw_target_watch(c->gw, chan);
	/* the first member here: its streams go on from its join (storage sent this gateway
	 * none of the channel's items while it had no member here: not a gap) */
	if (!t->nmembers) {
		if (t->msg.last < seq)
			t->msg.last = seq;
		if (t->ev.last < ev)
			t->ev.last = ev;
	}
	snprintf(c->chans[c->nchans], sizeof c->chans[0], "%s", chan);
	c->memb[c->nchans].t = t;
	c->memb[c->nchans].slot = gw_target_join(t, c);
	c->memb[c->nchans].seq = seq;
	c->memb[c->nchans].ev = ev;
	c->nchans++;
}

static void
chan_del_at(struct gw_conn *c, unsigned i)
{
	gw_target_leave(c->memb[i].t, c->memb[i].slot);
	memmove(c->chans[i], c->chans[i + 1], (c->nchans - i - 1) * sizeof c->chans[0]);
	memmove(&c->memb[i], &c->memb[i + 1], (c->nchans - i - 1) * sizeof c->memb[0]);
	c->nchans--;
}

void
gw_chan_del(struct gw_conn *c, const char *chan)
{
	for (unsigned i = 0; i < c->nchans; i++)
		if (!irc_casecmp(c->chans[i], chan)) {
			chan_del_at(c, i);
			return;
		}
}

void
gw_chans_drop(struct gw_conn *c)
{
	while (c->nchans)
		chan_del_at(c, c->nchans - 1);
	free(c->chans);
	free(c->memb);
	c->chans = NULL;
	c->memb = NULL;
	c->capchans = 0;
}

/* --- registration ---------------------------------------------------------------------------- */

void
gw_try_register(struct gw_conn *c)
{
	char to[32];

	if (c->state != GW_NEW || !c->has_nick || !c->has_user || c->cap_neg || c->sasl_on)
		return;
	if (c->gw->require_sasl && !c->account[0]) {
		/* as Ergo does: a FAIL for clients that parse it, then ERROR and close */
		struct irc_msg f = { .source = c->gw->server, .command = "FAIL", .trailing = true,
			.params = { "*", "ACCOUNT_REQUIRED", "You must log in with SASL to join this "
			"server" }, .nparams = 3 };
		gw_reply(c, &f);
		gw_cmd_end(c);
		lc_info("%s: registration without SASL refused", c->id);
		gw_conn_close(c, "You must log in with SASL to join this server");
		return;
	}
	snprintf(c->prefix, sizeof c->prefix, "%s!%s@%s", c->nick, c->user, c->host);
	struct chat_msg *m = req_msg(c, CHAT_REGISTER);
	snprintf(m->user, sizeof m->user, "%s", c->user);
	snprintf(m->host, sizeof m->host, "%s", c->host);
	snprintf(m->realname, sizeof m->realname, "%s", c->realname);
	c->state = GW_REGISTERING;
	gw_request(c->gw, c, session_of(c, to, sizeof to), m, true);
}

void
gw_welcome(struct gw_conn *c)
{
	struct gw *gw = c->gw;
	char buf[512], tok[400];

	c->state = GW_REGISTERED;
	snprintf(buf, sizeof buf, "Welcome to the %s IRC Network %s", gw->network, c->prefix);
	gw_num(c, 1, buf, NULL);
	snprintf(buf, sizeof buf, "Your host is %s, running version %s", gw->server, gw->version);
	gw_num(c, 2, buf, NULL);
	snprintf(buf, sizeof buf, "This server was created %s", gw->created);
	gw_num(c, 3, buf, NULL);
	gw_num(c, 4, gw->server, gw->version, "i", "no", NULL);
	if (gw_isupport(tok, sizeof tok, gw->network, GW_HISTORY_MAX) > 0) {
		struct irc_msg m = { .source = gw->server, .command = "005" };
		m.params[m.nparams++] = c->nick;
		for (char *save, *t = strtok_r(tok, " ", &save); t && m.nparams < 14;
		    t = strtok_r(NULL, " ", &save))
			m.params[m.nparams++] = t;
		m.params[m.nparams++] = "are supported by this server";
		gw_reply(c, &m);
	}
	gw_num(c, 422, "MOTD File is missing", NULL);
}

/* --- nick change ------------------------------------------------------------------------------ */

/* Send the nick change's step (chatproto.h, chat_nick_step) to the session it concerns. */
static void
nick_step(struct gw_conn *c, uint8_t step)
{
	bool release = step == CHAT_NS_RELEASE;
	struct chat_msg *r = req_msg(c, CHAT_NICK);
	char to[32];

	snprintf(r->nick, sizeof r->nick, "%s", release ? c->nick : c->nick_to);
	snprintf(r->target, sizeof r->target, "%s", release ? c->nick_to : c->has_nick ? c->nick :
	    "");
	snprintf(r->user, sizeof r->user, "%s", c->user);
	snprintf(r->host, sizeof r->host, "%s", c->host);
	snprintf(r->realname, sizeof r->realname, "%s", c->realname);
	r->op = step;
	c->nick_step = step;
	snprintf(to, sizeof to, "session.%u", chat_shard(r->nick, c->gw->nsessions));
	gw_request(c->gw, c, to, r, true);
}

/* NICK after registration: CLAIM at the new nick's session, MOVE there (storage renames the
 * memberships), RELEASE at the old one; a change of case only is a MOVE alone (same session).
 * The connection's later lines wait until the change is over (c->req). */
static void
nick_change(struct gw_conn *c, const char *nick)
{
	if (!strcmp(nick, c->nick))
		return;                 /* no change: nothing to say (as Ergo and ngircd) */
	snprintf(c->nick_to, sizeof c->nick_to, "%s", nick);
	nick_step(c, irc_casecmp(nick, c->nick) ? CHAT_NS_CLAIM : CHAT_NS_MOVE);
}

bool
gw_is_nick(const struct gw_conn *c, const char *nick)
{
	return !irc_casecmp(c->nick, nick) ||
	    ((c->nick_step == CHAT_NS_MOVE || c->nick_step == CHAT_NS_RELEASE) &&
	    !irc_casecmp(c->nick_to, nick));
}

/* NICK before registration: the session of the nick holds it for this connection (RESERVE)
 * until its REGISTER, so that a connection that asked first keeps it; the nick reserved before
 * is let go once the new one is held. */
static void
nick_reserve(struct gw_conn *c, const char *nick)
{
	if (c->has_nick && !strcmp(nick, c->nick)) {
		gw_try_register(c);
		return;
	}
	snprintf(c->nick_to, sizeof c->nick_to, "%s", nick);
	nick_step(c, CHAT_NS_RESERVE);
}

static void
reserved(struct gw_conn *c)
{
	if (c->has_nick && irc_casecmp(c->nick, c->nick_to))
		gw_unregister(c, c->nick, NULL);
	snprintf(c->nick, sizeof c->nick, "%s", c->nick_to);
	c->has_nick = true;
	c->nick_to[0] = '\0';
	c->nick_step = 0;
	gw_try_register(c);
}

void
gw_nick_done(struct gw_conn *c, const struct chat_msg *m)
{
	bool same = !irc_casecmp(c->nick, c->nick_to);

	if (c->nick_step == CHAT_NS_RESERVE && m->status == 0)
		return reserved(c);
	if (m->status) {
		/* CLAIM: held by another (433) or refused (432): nothing changed. MOVE: the
		 * claim is not ours any more (451: cannot happen but for a bug): nothing moved */
		if (m->status == 433 || m->status == 432) {
			gw_num(c, m->status, c->nick_to, gw_numeric_text(m->status), NULL);
		} else {
			gw_num(c, 400, "NICK", "Could not change nickname", NULL);
			lc_warn("%s: nick %s -> %s: step %u answered %u", c->id, c->nick,
			    c->nick_to, c->nick_step, m->status);
		}
		c->nick_to[0] = '\0';
		c->nick_step = 0;
		return;
	}
	if (c->nick_step == CHAT_NS_CLAIM)
		return nick_step(c, CHAT_NS_MOVE);
	if (c->nick_step == CHAT_NS_MOVE && !same)
		return nick_step(c, CHAT_NS_RELEASE);
	struct irc_msg r = { .source = c->prefix, .command = "NICK", .trailing = true };
	r.params[r.nparams++] = c->nick_to;
	gw_reply(c, &r);
	snprintf(c->nick, sizeof c->nick, "%s", c->nick_to);
	snprintf(c->prefix, sizeof c->prefix, "%s!%s@%s", c->nick, c->user, c->host);
	c->nick_to[0] = '\0';
	c->nick_step = 0;
}

static void
cmd_nick(struct gw_conn *c, struct irc_msg *m)
{
	if (m->nparams == 0 || !m->params[0][0]) {
		gw_num(c, 431, gw_numeric_text(431), NULL);
		return;
	}
	if (!irc_nick_valid(m->params[0])) {
		gw_num(c, 432, m->params[0], gw_numeric_text(432), NULL);
		return;
	}
	if (c->state != GW_NEW)
		nick_change(c, m->params[0]);
	else
		nick_reserve(c, m->params[0]);
}

static void
cmd_user(struct gw_conn *c, struct irc_msg *m)
{
	size_t n = 0;

	if (c->state != GW_NEW || c->has_user) {
		gw_num(c, 462, gw_numeric_text(462), NULL);
		return;
	}
	if (m->nparams < 4 || !m->params[0][0] || !m->params[3][0]) {
		gw_num(c, 461, "USER", gw_numeric_text(461), NULL);
		return;
	}
	/* the user name goes into nick!user@host: keep it to safe bytes */
	for (const char *p = m->params[0]; *p && n < 10; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			c->user[n++] = *p;
	c->user[n] = '\0';
	if (n == 0)
		snprintf(c->user, sizeof c->user, "user");
	snprintf(c->realname, sizeof c->realname, "%s", m->params[3]);
	c->has_user = true;
	gw_try_register(c);
}

static void
cmd_pass(struct gw_conn *c, struct irc_msg *m)
{
	if (c->state != GW_NEW)
		gw_num(c, 462, gw_numeric_text(462), NULL);
}

static void
cap_reply(struct gw_conn *c, const char *sub, const char *star, const char *text)
{
	struct irc_msg m = { .source = c->gw->server, .command = "CAP", .trailing = true };

	m.params[m.nparams++] = gw_nick(c);
	m.params[m.nparams++] = sub;
	if (star)
		m.params[m.nparams++] = star;
	m.params[m.nparams++] = text;
	gw_reply(c, &m);
}

static void
cmd_cap(struct gw_conn *c, struct irc_msg *m)
{
	char buf[400];
	const char *sub = m->params[0];

	if (!strcasecmp(sub, "LS")) {
		if (c->state == GW_NEW)
			c->cap_neg = true;
		bool v302 = m->nparams > 1 && atoi(m->params[1]) >= 302;
		if (gw_cap_ls(buf, sizeof buf, OFFERED, v302) >= 0)
			cap_reply(c, "LS", NULL, buf);
	} else if (!strcasecmp(sub, "LIST")) {
		if (gw_cap_list(buf, sizeof buf, c->caps) >= 0)
			cap_reply(c, "LIST", NULL, buf);
	} else if (!strcasecmp(sub, "REQ")) {
		const char *text = m->nparams > 1 ? m->params[1] : "";
		if (c->state == GW_NEW)
			c->cap_neg = true;
		cap_reply(c, gw_cap_req(text, OFFERED, &c->caps) == 0 ? "ACK" : "NAK", NULL, text);
	} else if (!strcasecmp(sub, "END")) {
		if (c->cap_neg) {
			c->cap_neg = false;
			gw_try_register(c);
		}
	} else {
		gw_num(c, 410, sub, "Invalid CAP command", NULL);
	}
}

/* SASL PLAIN: AUTHENTICATE PLAIN, then base64 of authzid NUL authcid NUL password in chunks of
 * 400 ('+' ends one of exactly 400). */
static void
cmd_authenticate(struct gw_conn *c, struct irc_msg *m)
{
	const char *arg = m->params[0];
	struct gw_text *tx = gw_text(c);
	unsigned char plain[sizeof tx->sasl];

	if (c->state != GW_NEW) {
		gw_num(c, 907, "You have already authenticated using SASL", NULL);
		return;
	}
	if (!(c->caps & GW_CAP_SASL)) {
		gw_num(c, 904, "SASL authentication failed", NULL);
		return;
	}
	if (!strcmp(arg, "*")) {
		c->sasl_on = false;
		gw_num(c, 906, "SASL authentication aborted", NULL);
		return;
	}
	if (!c->sasl_on) {
		if (strcasecmp(arg, "PLAIN")) {
			gw_num(c, 908, "PLAIN", "are available SASL mechanisms", NULL);
			gw_num(c, 904, "SASL authentication failed", NULL);
			return;
		}
		c->sasl_on = true;
		tx->sasl[0] = '\0';
		gw_reply_raw(c, "AUTHENTICATE +\r\n", 16);
		return;
	}
	size_t have = strlen(tx->sasl), n = strlen(arg);
	if (strcmp(arg, "+")) {
		if (n > 400 || have + n >= sizeof tx->sasl) {
			c->sasl_on = false;
			gw_num(c, 905, "SASL message too long", NULL);
			return;
		}
		memcpy(tx->sasl + have, arg, n + 1);
		if (n == 400)
			return;         /* more to come */
	}
	ssize_t len = gw_b64_decode(tx->sasl, plain, sizeof plain - 1);
	const char *authz = (const char *)plain, *authc, *pass;
	if (len < 0 || (plain[len] = '\0', (authc = memchr(plain, '\0', (size_t)len)) == NULL) ||
	    (authc = authc + 1, (pass = memchr(authc, '\0', (size_t)(len - (authc - authz))))
	    == NULL) || !authc[0] || strlen(authc) > CHAT_ACCOUNT_MAX ||
	    strlen(pass + 1) > CHAT_PASS_MAX) {
		c->sasl_on = false;
		gw_num(c, 904, "SASL authentication failed", NULL);
		return;
	}
	struct chat_msg *r = req_msg(c, CHAT_AUTH);
	snprintf(r->account, sizeof r->account, "%s", authc);
	snprintf(r->password, sizeof r->password, "%s", pass + 1);
	gw_request(c->gw, c, "storage", r, true);
	explicit_bzero(plain, sizeof plain);
	explicit_bzero(tx->sasl, sizeof tx->sasl);
	explicit_bzero(r->password, sizeof r->password);
}

/* --- after registration ---------------------------------------------------------------------- */

static void
cmd_ping(struct gw_conn *c, struct irc_msg *m)
{
	struct irc_msg r = { .source = c->gw->server, .command = "PONG", .trailing = true };

	if (m->nparams == 0 || !m->params[0][0]) {
		gw_num(c, 409, gw_numeric_text(409), NULL);
		return;
	}
	r.params[r.nparams++] = c->gw->server;
	r.params[r.nparams++] = m->params[0];
	gw_reply(c, &r);
}

static void
cmd_pong(struct gw_conn *c, struct irc_msg *m)
{
}

static void
cmd_quit(struct gw_conn *c, struct irc_msg *m)
{
	char buf[600];

	struct gw_text *tx = gw_text(c);

	snprintf(tx->quit, sizeof tx->quit, "Quit: %s", m->nparams ? m->params[0] : gw_nick(c));
	if (gw_quit_request(c))
		return;         /* ERROR and close once the nick is free (gw_backend.c) */
	snprintf(buf, sizeof buf, "Closing Link: %s (%s)", c->host, tx->quit);
	gw_cmd_end(c);
	gw_conn_close(c, buf);
}

void
gw_op_request(struct gw_conn *c, uint8_t op, const char *target, const char *text,
    const char *to)
{
	char sess[32];
	struct chat_msg *r = req_msg(c, CHAT_CHANNEL_OP);

	r->op = op;
	snprintf(r->target, sizeof r->target, "%s", target);
	snprintf(r->text, sizeof r->text, "%s", text ? text : "");
	if (r->text[0] || c->tx)        /* a JOIN has none: no need to allocate for it */
		snprintf(gw_text(c)->op_text, sizeof c->tx->op_text, "%s", r->text);
	if (op == CHAT_K_JOIN)
		gw_join_hold(c, target);
	gw_request(c->gw, c, to ? to : session_of(c, sess, sizeof sess), r, true);
}

static void
channel_op(struct gw_conn *c, uint8_t op, const char *chan, const char *text)
{
	gw_op_request(c, op, chan, text, NULL);
}

static void
join_one(struct gw_conn *c, const char *chan)
{
	if (!irc_chan_valid(chan)) {
		gw_num(c, chan[0] == '#' ? 479 : 403, chan,
		    gw_numeric_text(chan[0] == '#' ? 479 : 403), NULL);
		return;
	}
	if (gw_in_chan(c, chan))
		return;
	if (c->nchans >= GW_CHANS_MAX) {
		gw_num(c, 405, chan, gw_numeric_text(405), NULL);
		return;
	}
	channel_op(c, CHAT_K_JOIN, chan, NULL);
}

/* The reason is in the connection's op_text. */
static void
part_one(struct gw_conn *c, const char *chan)
{
	if (!irc_chan_valid(chan)) {
		gw_num(c, 403, chan, gw_numeric_text(403), NULL);
		return;
	}
	/* not a member: storage tells 403 (no such channel) from 442 (not on it) */
	channel_op(c, CHAT_K_PART, chan, gw_op_text(c));
}

void
gw_targets_next(struct gw_conn *c)
{
	char t[sizeof c->tx->targets];

	while (!c->req && !c->closing && c->tx && c->tx->targets[0]) {
		char *l = c->tx->targets;
		size_t n = strcspn(l, ",");
		memcpy(t, l, n);
		t[n] = '\0';
		memmove(l, l + n + (l[n] == ','), strlen(l + n + (l[n] == ',')) + 1);
		if (!t[0])
			continue;
		if (c->targets_op == CHAT_K_JOIN)
			join_one(c, t);
		else
			part_one(c, t);
	}
}

/* JOIN/PART of a list "#a,#b": one request per target, in order (gw_targets_next, again
 * from each answer); replies stay in command order, one labeled response for all. */
static void
targets_start(struct gw_conn *c, uint8_t op, const char *cmd, const char *list)
{
	unsigned n = 1;

	for (const char *p = list; *p; p++)
		n += *p == ',';
	if (n > GW_TARGMAX) {
		gw_num(c, 407, list, gw_numeric_text(407), NULL);
		return;
	}
	if (!list[0]) {
		gw_num(c, 461, cmd, gw_numeric_text(461), NULL);
		return;
	}
	c->targets_op = op;
	snprintf(gw_text(c)->targets, sizeof c->tx->targets, "%s", list);
	gw_targets_next(c);
}

static void
cmd_join(struct gw_conn *c, struct irc_msg *m)
{
	char all[sizeof c->tx->targets];
	size_t len = 0;

	if (strcmp(m->params[0], "0")) {
		targets_start(c, CHAT_K_JOIN, "JOIN", m->params[0]);
		return;
	}
	/* JOIN 0: leave every channel */
	all[0] = '\0';
	for (unsigned i = 0; i < c->nchans && len + strlen(c->chans[i]) + 2 < sizeof all; i++)
		len += (size_t)snprintf(all + len, sizeof all - len, "%s%s", len ? "," : "",
		    c->chans[i]);
	gw_text(c)->op_text[0] = '\0';
	c->targets_op = CHAT_K_PART;
	snprintf(c->tx->targets, sizeof c->tx->targets, "%s", all);
	gw_targets_next(c);
}

static void
cmd_part(struct gw_conn *c, struct irc_msg *m)
{
	snprintf(gw_text(c)->op_text, sizeof c->tx->op_text, "%s", m->nparams > 1 ? m->params[1] : "");
	targets_start(c, CHAT_K_PART, "PART", m->params[0]);
}

static void
cmd_names(struct gw_conn *c, struct irc_msg *m)
{
	const char *chan = m->nparams ? m->params[0] : "*";

	if (!irc_chan_valid(chan)) {
		gw_num(c, 366, chan, "End of /NAMES list", NULL);
		return;
	}
	channel_op(c, CHAT_K_NAMES, chan, NULL);
	c->req_topic = false;
}

/* TOPIC #a: the session's NAMES answer carries the topic; TOPIC #a :text sets it. */
static void
cmd_topic(struct gw_conn *c, struct irc_msg *m)
{
	const char *chan = m->params[0];
	char text[391];

	if (!irc_chan_valid(chan)) {
		gw_num(c, 403, chan, gw_numeric_text(403), NULL);
		return;
	}
	if (m->nparams < 2) {
		channel_op(c, CHAT_K_NAMES, chan, NULL);
		c->req_topic = true;
		return;
	}
	snprintf(text, sizeof text, "%s", m->params[1]);     /* 403 or 442 from storage */
	text[irc_utf8_cut(text, strlen(text), 390)] = '\0';
	channel_op(c, CHAT_K_TOPIC, chan, text);
}

static void
post(struct gw_conn *c, struct irc_msg *m, uint8_t kind)
{
	bool notice = kind == CHAT_K_NOTICE;
	const char *target = m->nparams ? m->params[0] : "";

	if (!target[0] || strchr(target, ',')) {
		if (!notice)
			gw_num(c, target[0] ? 407 : 411, target[0] ? target : gw_numeric_text(411),
			    target[0] ? gw_numeric_text(407) : NULL, NULL);
		return;
	}
	if (m->nparams < 2 || !m->params[1][0]) {
		if (!notice)
			gw_num(c, 412, gw_numeric_text(412), NULL);
		return;
	}
	if (target[0] == '#' ? !irc_chan_valid(target) : !irc_nick_valid(target)) {
		if (!notice)
			gw_num(c, 401, target, gw_numeric_text(401), NULL);
		return;
	}
	struct chat_msg *r = req_msg(c, CHAT_POST);
	r->op = kind;
	c->post_kind = kind;
	/* The de-duplication key: this gateway's name and the request's rid (gw_request gives it
	 * next_rid), fixed-width so that keys sort as they were made. A restarted gateway's rids
	 * start above the old ones (chatd.c), so the journal's dedupe index only ever grows at
	 * the right end of each gateway's range: an index step writes one leaf page a gateway,
	 * where keys ordered by connection wrote one a sender (docs/journal.md). */
	snprintf(r->dedupe, sizeof r->dedupe, "%s/%016llx", c->gw->name,
	    (unsigned long long)c->gw->next_rid);
	snprintf(r->target, sizeof r->target, "%s", target);
	/* the relayed line must fit 512 bytes with our prefix: storage keeps what can be sent */
	size_t room = IRC_BODY_MAX - strlen(c->prefix) - strlen(target) - 12;
	snprintf(r->text, sizeof r->text, "%s", m->params[1]);
	r->text[irc_utf8_cut(r->text, strlen(r->text), room)] = '\0';
	gw_request(c->gw, c, "storage", r, true);
}

static void
cmd_privmsg(struct gw_conn *c, struct irc_msg *m)
{
	post(c, m, CHAT_K_PRIVMSG);
}

static void
cmd_notice(struct gw_conn *c, struct irc_msg *m)
{
	post(c, m, CHAT_K_NOTICE);
}

static void
ch_fail(struct gw_conn *c, const char *code, const char *sub, const char *target,
    const char *text)
{
	struct irc_msg r = { .source = c->gw->server, .command = "FAIL" };

	r.params[r.nparams++] = "CHATHISTORY";
	r.params[r.nparams++] = code;
	if (sub)
		r.params[r.nparams++] = sub;
	if (target)
		r.params[r.nparams++] = target;
	r.params[r.nparams++] = text;
	r.trailing = true;
	gw_reply(c, &r);
}

static void
cmd_chathistory(struct gw_conn *c, struct irc_msg *m)
{
	static const uint8_t ops[] = { [IRC_CH_LATEST] = CHAT_H_LATEST,
		[IRC_CH_BEFORE] = CHAT_H_BEFORE, [IRC_CH_AFTER] = CHAT_H_AFTER,
		[IRC_CH_AROUND] = CHAT_H_AROUND, [IRC_CH_BETWEEN] = CHAT_H_BETWEEN };
	struct irc_chq q;
	int r = irc_chq_parse(m, GW_HISTORY_MAX, &q);
	const char *sub = m->nparams ? m->params[0] : "*";

	if (r == IRC_CH_ENEEDMORE) {
		ch_fail(c, "NEED_MORE_PARAMS", sub, NULL, "Missing parameters");
		return;
	}
	if (r < 0 || q.sub == IRC_CH_TARGETS) {
		ch_fail(c, "INVALID_PARAMS", sub, NULL, r == IRC_CH_EUNKNOWN ?
		    "Unknown subcommand" : q.sub == IRC_CH_TARGETS && r >= 0 ?
		    "TARGETS is not supported" : "Invalid parameters");
		return;
	}
	if (q.target[0] == '#' ? !irc_chan_valid(q.target) : !irc_nick_valid(q.target)) {
		ch_fail(c, "INVALID_TARGET", sub, q.target, "Invalid target");
		return;
	}
	struct chat_msg *h = req_msg(c, CHAT_HISTORY);
	h->op = ops[q.sub];
	snprintf(h->target, sizeof h->target, "%s", q.target);
	snprintf(h->ref1, sizeof h->ref1, "%s", m->params[2]);
	if (q.sub == IRC_CH_BETWEEN)
		snprintf(h->ref2, sizeof h->ref2, "%s", m->params[3]);
	h->limit = q.limit;
	snprintf(c->hist_sub, sizeof c->hist_sub, "%s", sub);
	for (char *p = c->hist_sub; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	gw_request(c->gw, c, "storage", h, true);
}

static const struct cmd cmds[] = {
	{ "AUTHENTICATE", true,  1, cmd_authenticate },
	{ "CAP",          true,  1, cmd_cap },
	{ "CHATHISTORY",  false, 1, cmd_chathistory },
	{ "JOIN",         false, 1, cmd_join },
	{ "LIST",         false, 0, gw_cmd_list },
	{ "MODE",         false, 1, gw_cmd_mode },
	{ "NAMES",        false, 0, cmd_names },
	{ "NICK",         true,  0, cmd_nick },
	{ "NOTICE",       false, 0, cmd_notice },
	{ "PART",         false, 1, cmd_part },
	{ "PASS",         true,  0, cmd_pass },
	{ "PING",         true,  0, cmd_ping },
	{ "PONG",         true,  0, cmd_pong },
	{ "PRIVMSG",      false, 0, cmd_privmsg },
	{ "QUIT",         true,  0, cmd_quit },
	{ "TOPIC",        false, 1, cmd_topic },
	{ "USER",         true,  0, cmd_user },
	{ "WHO",          false, 0, gw_cmd_who },
	{ "WHOIS",        false, 0, gw_cmd_whois },
};

void
gw_cmd_line(struct gw_conn *c, char *line)
{
	struct irc_msg m;
	const struct cmd *cmd = NULL;

	if (irc_parse(line, &m) < 0)
		return;
	const char *label = irc_tag_get(&m, "label");
	if (label && (c->caps & GW_CAP_LABELED) && label[0] && strlen(label) <= GW_LABEL_MAX) {
		snprintf(c->label, sizeof c->label, "%s", label);
		c->labeled = true;
		c->lablines = 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(cmds[i].name, m.command))
			cmd = &cmds[i];
	if (!cmd) {
		if (c->state == GW_REGISTERED)
			gw_num(c, 421, m.command, gw_numeric_text(421), NULL);
		else
			gw_num(c, 451, gw_numeric_text(451), NULL);
	} else if (!cmd->before_reg && c->state != GW_REGISTERED) {
		gw_num(c, 451, gw_numeric_text(451), NULL);
	} else if (m.nparams < cmd->minparams) {
		gw_num(c, 461, m.command, gw_numeric_text(461), NULL);
	} else {
		cmd->fn(c, &m);
	}
	if (!c->req && !c->closing)
		gw_cmd_end(c);
}
