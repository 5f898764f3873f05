/* chatd: MODE, WHO, WHOIS and LIST. User modes are the connection's own (only +i, which
 * changes nothing); the rest asks storage, which knows every channel and registered user,
 * with a CHANNEL_OP query (op CHAT_K_WHO .. CHAT_K_MODE, chat-storage.c on_query) sent to it
 * directly: the connection waits for the answer like for any request, so replies stay in
 * command order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"

#define STORAGE "storage"

/* --- MODE ------------------------------------------------------------------------------------ */

/* A list query (`MODE #a b`, `+e`, `I`): our lists are always empty. */
static bool
list_query(struct gw_conn *c, const char *chan, const char *modes)
{
	static const struct { char mode; unsigned num; const char *text; } lists[] = {
		{ 'b', 368, "End of channel ban list" },
		{ 'e', 349, "End of channel exception list" },
		{ 'I', 347, "End of channel invite list" },
	};

	if (modes[0] == '+')
		modes++;
	for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
		if (modes[0] == lists[i].mode && !modes[1]) {
			gw_num(c, lists[i].num, chan, lists[i].text, NULL);
			return true;
		}
	return false;
}

/* MODE nick [changes]: +i/-i are taken (and acknowledged with a MODE line when they change
 * something); any other letter gets one 501. */
static void
user_mode(struct gw_conn *c, struct irc_msg *m)
{
	bool plus = true, unknown = false, was = c->umode_i;

	if (irc_casecmp(m->params[0], c->nick)) {
		gw_num(c, 502, "Can't change mode for other users", NULL);
		return;
	}
	if (m->nparams < 2) {
		gw_num(c, 221, c->umode_i ? "+i" : "+", NULL);
		return;
	}
	for (const char *p = m->params[1]; *p; p++) {
		if (*p == '+' || *p == '-')
			plus = *p == '+';
		else if (*p == 'i')
			c->umode_i = plus;
		else
			unknown = true;
	}
	if (unknown)
		gw_num(c, 501, "Unknown MODE flag", NULL);
	if (was != c->umode_i) {
		struct irc_msg r = { .source = c->prefix, .command = "MODE", .trailing = true };
		r.params[r.nparams++] = c->nick;
		r.params[r.nparams++] = c->umode_i ? "+i" : "-i";
		gw_reply(c, &r);
	}
}

void
gw_cmd_mode(struct gw_conn *c, struct irc_msg *m)
{
	const char *t = m->params[0];

	if (t[0] != '#') {
		user_mode(c, m);
		return;
	}
	if (!irc_chan_valid(t)) {
		gw_num(c, 403, t, gw_numeric_text(403), NULL);
		return;
	}
	if (m->nparams == 2 && list_query(c, t, m->params[1]))
		return;
	gw_op_request(c, CHAT_K_MODE, t, m->nparams > 1 ? m->params[1] : "", STORAGE);
}

/* Storage's answer to MODE #chan: 324 (+ 329) for a query; for changes, which we do not
 * support beyond the +n every channel has, one 472 per other letter. */
static void
mode_done(struct gw_conn *c, const struct chat_msg *m)
{
	char ts[24], one[2] = { 0, 0 }, seen[64] = "";
	size_t nseen = 0;
	bool plus = true;

	if (!gw_op_text(c)[0]) {
		gw_num(c, 324, m->target, "+n", NULL);
		if (m->time_ms > 0) {
			snprintf(ts, sizeof ts, "%lld", (long long)(m->time_ms / 1000));
			gw_num(c, 329, m->target, ts, NULL);
		}
		return;
	}
	for (const char *p = gw_op_text(c); *p && *p != ' '; p++) {
		if (*p == '+' || *p == '-') {
			plus = *p == '+';
			continue;
		}
		if ((*p == 'n' && plus) || strchr(seen, *p) || nseen + 1 >= sizeof seen)
			continue;
		seen[nseen++] = one[0] = *p;
		gw_num(c, 472, one, gw_numeric_text(472), NULL);
	}
}

/* --- WHO, WHOIS ------------------------------------------------------------------------------ */

void
gw_cmd_who(struct gw_conn *c, struct irc_msg *m)
{
	const char *mask = m->nparams && m->params[0][0] ? m->params[0] : "*";

	if (irc_chan_valid(mask) || irc_nick_valid(mask))
		gw_op_request(c, CHAT_K_WHO, mask, NULL, STORAGE);
	else                            /* patterns: we match none */
		gw_num(c, 315, mask, "End of /WHO list", NULL);
}

/* Split "nick!user@host" (copied into buf) into its parts; -1 if it is not that shape. */
static int
prefix_split(const char *prefix, char *buf, size_t cap, char **nick, char **user, char **host)
{
	char *bang, *at;

	snprintf(buf, cap, "%s", prefix);
	if (!(bang = strchr(buf, '!')) || !(at = strchr(bang, '@')))
		return -1;
	*bang = *at = '\0';
	*nick = buf, *user = bang + 1, *host = at + 1;
	return 0;
}

/* One 352 per line "[@]nick!user@host realname" of storage's WHO answer, then 315. */
static void
who_done(struct gw_conn *c, const struct chat_msg *m)
{
	const char *chan = m->target[0] == '#' ? m->target : "*";
	char line[CHAT_PREFIX_MAX + CHAT_REAL_MAX + 8], pfx[CHAT_PREFIX_MAX + 1], flags[3] = "H";
	char real[CHAT_REAL_MAX + 8], *nick, *user, *host;

	for (const char *p = m->names; *p;) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof line, "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
		bool op = line[0] == '@';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		if (prefix_split(line + op, pfx, sizeof pfx, &nick, &user, &host) < 0)
			continue;
		flags[1] = op ? '@' : '\0';
		snprintf(real, sizeof real, "0 %s", sp + 1);
		gw_num(c, 352, chan, user, host, c->gw->server, nick, flags, real, NULL);
	}
	gw_num(c, 315, m->target, "End of /WHO list", NULL);
}

/* WHOIS nick, or WHOIS server nick (the server is ignored: every gateway knows every user). */
void
gw_cmd_whois(struct gw_conn *c, struct irc_msg *m)
{
	const char *nick = m->nparams ? m->params[m->nparams - 1] : "";

	if (!nick[0]) {
		gw_num(c, 431, gw_numeric_text(431), NULL);
		return;
	}
	if (!irc_nick_valid(nick)) {
		gw_num(c, 401, nick, gw_numeric_text(401), NULL);
		gw_num(c, 318, nick, "End of /WHOIS list", NULL);
		return;
	}
	gw_op_request(c, CHAT_K_WHOIS, nick, NULL, STORAGE);
}

static void
whois_done(struct gw_conn *c, const struct chat_msg *m)
{
	char pfx[CHAT_PREFIX_MAX + 1], *nick, *user, *host;

	if (prefix_split(m->prefix, pfx, sizeof pfx, &nick, &user, &host) < 0) {
		gw_num(c, 401, m->target, gw_numeric_text(401), NULL);
		gw_num(c, 318, m->target, "End of /WHOIS list", NULL);
		return;
	}
	gw_num(c, 311, nick, user, host, "*", m->text, NULL);
	if (m->names[0])
		gw_num(c, 319, nick, m->names, NULL);
	gw_num(c, 312, nick, c->gw->server, c->gw->network, NULL);
	gw_num(c, 318, nick, "End of /WHOIS list", NULL);
}

/* --- LIST ------------------------------------------------------------------------------------ */

/* LIST, or LIST #a,#b (only those); other ELIST conditions are ignored. */
void
gw_cmd_list(struct gw_conn *c, struct irc_msg *m)
{
	const char *want = m->nparams && m->params[0][0] == '#' ? m->params[0] : "";

	gw_op_request(c, CHAT_K_LIST, "*", want, STORAGE);
}

/* Whether chan is in the comma list (empty: everything). */
static bool
in_list(const char *list, const char *chan)
{
	size_t len = strlen(chan);

	if (!list[0])
		return true;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncasecmp(p, chan, n))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/* Storage's lines "#chan members topic". */
static void
list_done(struct gw_conn *c, const struct chat_msg *m)
{
	char line[CHAT_TARGET_MAX + CHAT_TEXT_MAX + 32];

	gw_num(c, 321, "Channel", "Users  Name", NULL);
	for (const char *p = m->names; *p;) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof line, "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
		char *count = strchr(line, ' '), *topic;
		if (!count || !(topic = strchr(count + 1, ' ')))
			continue;
		*count++ = '\0';
		*topic++ = '\0';
		if (in_list(gw_op_text(c), line))
			gw_num(c, 322, line, count, topic, NULL);
	}
	gw_num(c, 323, "End of /LIST", NULL);
}

void
gw_query_done(struct gw_conn *c, const struct chat_msg *m)
{
	if (m->op == CHAT_K_LIST)
		list_done(c, m);
	else if (m->op == CHAT_K_WHO && m->status)
		gw_num(c, 315, m->target, "End of /WHO list", NULL);
	else if (m->op == CHAT_K_WHO)
		who_done(c, m);
	else if (m->op == CHAT_K_WHOIS)
		whois_done(c, m);       /* 401 + 318 for an error too */
	else if (m->status)
		gw_num(c, m->status, m->target, gw_numeric_text(m->status), NULL);
	else
		mode_done(c, m);
}
