/* The chat client's protocol core: registration with CAP negotiation, channels, live lines,
 * CHATHISTORY (the /log command and the gap after a reconnection, duplicates dropped by msgid)
 * and the one-shot tasks. See client.h; pure code, the caller does the I/O. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

static const struct { const char *name; unsigned bit; } caps[] = {
	{ "batch",             CL_CAP_BATCH },
	{ "draft/chathistory", CL_CAP_HISTORY },
	{ "echo-message",      CL_CAP_ECHO },
	{ "message-tags",      CL_CAP_TAGS },
	{ "server-time",       CL_CAP_SERVER_TIME },
};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

/* ------------------------------------------------------------------ output */

static void say(struct chat_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct chat_client *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->print(c->arg, line);
}

/* Queue `cmd params...` (NULL-terminated); the last param is written as trailing when
 * `trailing` is set. Overflow of the queue sets c->overflow and drops the line. */
static void sendv(struct chat_client *c, bool trailing, const char *cmd, ...)
{
	struct irc_msg m;
	char buf[IRC_OUT_MAX];
	const char *p;
	ssize_t n;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.command = cmd;
	m.trailing = trailing;
	va_start(ap, cmd);
	while ((p = va_arg(ap, const char *)) != NULL && m.nparams < IRC_PARAMS_MAX)
		m.params[m.nparams++] = p;
	va_end(ap);
	n = irc_write(buf, sizeof(buf), &m);
	if (n < 0)
		return;         /* a middle param with a space: the user's typo, not sendable */
	if ((size_t)n > sizeof(c->out) - c->outlen) {
		c->overflow = true;
		return;
	}
	memcpy(c->out + c->outlen, buf, (size_t)n);
	c->outlen += (size_t)n;
}

static void fail(struct chat_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct chat_client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->result != CL_RUNNING)
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->result = CL_FAILED;
}

void cl_clock(char *buf, size_t cap, int64_t ms)
{
	time_t t = ms >= 0 ? (time_t)(ms / 1000) : time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, cap, "%H:%M:%S", &tm);
}

/* ------------------------------------------------------------------ state */

static struct cl_chan *chan_find(struct chat_client *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nchans; i++)
		if (irc_casecmp(c->chans[i].name, name) == 0)
			return &c->chans[i];
	return NULL;
}

static struct cl_chan *chan_add(struct chat_client *c, const char *name)
{
	struct cl_chan *ch = chan_find(c, name);

	if (ch != NULL)
		return ch;
	if (c->nchans == CL_CHANS_MAX || !irc_chan_valid(name))
		return NULL;
	ch = &c->chans[c->nchans++];
	memset(ch, 0, sizeof(*ch));
	COPY(ch->name, name);
	return ch;
}

static void chan_del(struct chat_client *c, struct cl_chan *ch)
{
	int i = (int)(ch - c->chans);

	memmove(ch, ch + 1, (c->nchans - (size_t)i - 1) * sizeof(*ch));
	c->nchans--;
	if (c->cur == i)
		c->cur = c->nchans > 0 ? 0 : -1;
	else if (c->cur > i)
		c->cur--;
}

static bool seen_has(const struct chat_client *c, uint64_t h)
{
	size_t i, n = c->nseen < CL_SEEN_MAX ? c->nseen : CL_SEEN_MAX;

	for (i = 0; i < n; i++)
		if (c->seen[i] == h)
			return true;
	return false;
}

/* Remember a msgid. Returns true if it had been seen already. */
static bool seen_add(struct chat_client *c, const char *msgid)
{
	uint64_t h = chat_hash(msgid);

	if (seen_has(c, h))
		return true;
	c->seen[c->nseen++ % CL_SEEN_MAX] = h;
	return false;
}

static struct cl_batch *batch_find(struct chat_client *c, const char *ref)
{
	size_t i;

	for (i = 0; i < CL_BATCH_MAX; i++)
		if (c->batch[i].ref[0] != '\0' && strcmp(c->batch[i].ref, ref) == 0)
			return &c->batch[i];
	return NULL;
}

static struct cl_batch *batch_free(struct chat_client *c)
{
	size_t i;

	for (i = 0; i < CL_BATCH_MAX; i++)
		if (c->batch[i].ref[0] == '\0')
			return &c->batch[i];
	return NULL;
}

static bool hist_on(const struct chat_client *c)
{
	return (c->enabled & (CL_CAP_HISTORY | CL_CAP_BATCH)) == (CL_CAP_HISTORY | CL_CAP_BATCH);
}

/* Ask for history: LATEST (ref NULL) or AFTER ref; remember what the batch is for. */
static void hist_ask(struct chat_client *c, const char *chan, const char *ref, unsigned n,
		enum cl_hmode mode, bool task)
{
	char num[16];

	if (c->nhreq == CL_HREQ_MAX) {
		say(c, "-- error: too many history requests in flight");
		return;
	}
	if (c->hist_max > 0 && n > c->hist_max)
		n = c->hist_max;
	snprintf(num, sizeof(num), "%u", n);
	COPY(c->hreq[c->nhreq].target, chan);
	c->hreq[c->nhreq].mode = mode;
	c->hreq[c->nhreq].task = task;
	c->nhreq++;
	if (ref == NULL)
		sendv(c, false, "CHATHISTORY", "LATEST", chan, "*", num, NULL);
	else
		sendv(c, false, "CHATHISTORY", "AFTER", chan, ref, num, NULL);
}

/* ------------------------------------------------------------------ setup */

int cl_init(struct chat_client *c, const char *nick, cl_print_fn *print, void *arg)
{
	memset(c, 0, sizeof(*c));
	if (!irc_nick_valid(nick))
		return errno = EINVAL, -1;
	COPY(c->want, nick);
	COPY(c->nick, nick);
	c->cur = -1;
	c->print = print;
	c->arg = arg;
	return 0;
}

static int task_set(struct chat_client *c, enum cl_task t, const char *chan)
{
	if (chan_add(c, chan) == NULL)
		return errno = EINVAL, -1;
	c->task = t;
	c->quiet = true;
	COPY(c->task_chan, chan);
	COPY(c->next_cur, chan);
	return 0;
}

int cl_task_post(struct chat_client *c, const char *chan, const char *text)
{
	if (text[0] == '\0' || strpbrk(text, "\r\n") != NULL)
		return errno = EINVAL, -1;
	COPY(c->task_text, text);
	return task_set(c, CL_TASK_POST, chan);
}

int cl_task_log(struct chat_client *c, const char *chan, unsigned n)
{
	if (n == 0)
		return errno = EINVAL, -1;
	c->task_n = n;
	return task_set(c, CL_TASK_LOG, chan);
}

void cl_connected(struct chat_client *c)
{
	c->registered = false;
	c->offered = c->enabled = 0;
	c->hist_max = 0;
	c->outlen = 0;
	c->overflow = false;
	c->nhreq = 0;
	memset(c->batch, 0, sizeof(c->batch));
	COPY(c->nick, c->want);
	sendv(c, false, "CAP", "LS", "302", NULL);
	sendv(c, false, "NICK", c->nick, NULL);
	sendv(c, true, "USER", c->want, "0", "*", c->want, NULL);
}

void cl_disconnected(struct chat_client *c)
{
	size_t i;

	for (i = 0; i < c->nchans; i++) {
		if (c->chans[i].joined)
			c->chans[i].fill = true;
		c->chans[i].joined = false;
	}
	if (c->cur >= 0)
		COPY(c->next_cur, c->chans[c->cur].name);
	c->registered = false;
	c->outlen = 0;
}

void cl_quit(struct chat_client *c, const char *reason)
{
	sendv(c, true, "QUIT", reason != NULL && reason[0] ? reason : "bye", NULL);
}

/* ------------------------------------------------------------------ registration */

static void cap_ls(struct chat_client *c, const char *list, bool more)
{
	char buf[IRC_BODY_MAX + 1], req[256] = "", *tok, *save, *eq;
	size_t i;

	COPY(buf, list);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if ((eq = strchr(tok, '=')) != NULL)
			*eq = '\0';
		for (i = 0; i < NCAPS; i++)
			if (strcmp(tok, caps[i].name) == 0)
				c->offered |= caps[i].bit;
	}
	if (more)
		return;
	for (i = 0; i < NCAPS; i++)
		if (c->offered & caps[i].bit)
			snprintf(req + strlen(req), sizeof(req) - strlen(req), "%s%s",
			    req[0] ? " " : "", caps[i].name);
	if (req[0])
		sendv(c, true, "CAP", "REQ", req, NULL);
	else
		sendv(c, false, "CAP", "END", NULL);
}

static void cap_ack(struct chat_client *c, const char *list)
{
	char buf[IRC_BODY_MAX + 1], *tok, *save;
	size_t i;

	COPY(buf, list);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		bool off = tok[0] == '-';

		for (i = 0; i < NCAPS; i++)
			if (strcmp(tok + off, caps[i].name) == 0) {
				if (off)
					c->enabled &= ~caps[i].bit;
				else
					c->enabled |= caps[i].bit;
			}
	}
}

static void on_cap(struct chat_client *c, const struct irc_msg *m)
{
	const char *sub, *list;
	bool more;

	if (m->nparams < 3)
		return;
	sub = m->params[1];
	more = m->nparams >= 4 && strcmp(m->params[2], "*") == 0;
	list = m->params[m->nparams - 1];
	if (strcmp(sub, "LS") == 0 && !c->registered)
		cap_ls(c, list, more);
	else if (strcmp(sub, "ACK") == 0) {
		cap_ack(c, list);
		if (!c->registered)
			sendv(c, false, "CAP", "END", NULL);
	} else if (strcmp(sub, "NAK") == 0 && !c->registered)
		sendv(c, false, "CAP", "END", NULL);
}

static void task_begin(struct chat_client *c);

static void on_welcome(struct chat_client *c, const struct irc_msg *m)
{
	size_t i;

	c->registered = true;
	if (m->nparams > 0 && irc_nick_valid(m->params[0]))
		COPY(c->nick, m->params[0]);
	if (!c->quiet)
		say(c, "-- connected as %s", c->nick);
	for (i = 0; i < c->nchans; i++)
		sendv(c, false, "JOIN", c->chans[i].name, NULL);
}

static void on_isupport(struct chat_client *c, const struct irc_msg *m)
{
	size_t i;

	for (i = 1; i + 1 < m->nparams; i++)
		if (strncmp(m->params[i], "CHATHISTORY=", 12) == 0)
			c->hist_max = (unsigned)strtoul(m->params[i] + 12, NULL, 10);
}

/* 433 before registration: append '_' (or replace the last byte at NICKLEN) and retry. */
static void on_nick_in_use(struct chat_client *c)
{
	size_t n = strlen(c->nick);

	if (c->registered) {
		say(c, "-- error: nick in use");
		return;
	}
	if (n < IRC_NICK_MAX)
		c->nick[n++] = '_';
	else if (c->nick[n - 1] != '_')
		c->nick[n - 1] = '_';
	else {
		fail(c, "no free nick left from %s", c->want);
		return;
	}
	c->nick[n] = '\0';
	sendv(c, false, "NICK", c->nick, NULL);
}

/* ------------------------------------------------------------------ messages */

static void nick_of(char *buf, size_t cap, const char *source)
{
	size_t n = source ? strcspn(source, "!@") : 0;

	if (source == NULL)
		source = "?", n = 1;
	snprintf(buf, cap, "%.*s", (int)n, source);
}

static bool is_me(const struct chat_client *c, const char *nick)
{
	return irc_casecmp(nick, c->nick) == 0;
}

/* Update a channel's newest-message reference from a message's msgid and time tags. */
static void chan_mark(struct cl_chan *ch, const char *msgid, const char *time, int64_t ms)
{
	if (ms > 0 && ms < ch->last_ms)
		return;
	if (msgid != NULL && msgid[0])
		snprintf(ch->last, sizeof(ch->last), "msgid=%s", msgid);
	else if (time != NULL && ms > 0)
		snprintf(ch->last, sizeof(ch->last), "timestamp=%s", time);
	if (ms > 0)
		ch->last_ms = ms;
}

/* Print one PRIVMSG/NOTICE. `hb` is its chathistory batch, or NULL for a live one. */
static void show_msg(struct chat_client *c, const struct irc_msg *m, const struct cl_batch *hb)
{
	const char *target = m->params[0], *text = m->params[1];
	const char *msgid = irc_tag_get(m, "msgid"), *time = irc_tag_get(m, "time");
	char nick[IRC_NICK_MAX + 64], clock[16], where[IRC_CHAN_MAX + 4] = "";
	int64_t ms = -1;
	struct cl_chan *ch;
	bool notice = strcmp(m->command, "NOTICE") == 0, dup = false;
	size_t tl;

	nick_of(nick, sizeof(nick), m->source);
	if (time == NULL || irc_time_parse(time, &ms) != 0)
		ms = -1;
	if (msgid != NULL && msgid[0])
		dup = seen_add(c, msgid);
	ch = target[0] == '#' ? chan_find(c, target) : NULL;
	if (ch != NULL)
		chan_mark(ch, msgid, time, ms);
	if (c->task == CL_TASK_POST && hb == NULL && is_me(c, nick) && ch != NULL &&
	    irc_casecmp(target, c->task_chan) == 0 && strcmp(text, c->task_text) == 0)
		c->task_echoed = true;
	if (dup && (hb == NULL || hb->mode == CL_H_FILL))
		return;
	if (c->quiet && (hb == NULL || !hb->task))
		return;
	if (m->source == NULL || (strchr(m->source, '!') == NULL && !c->registered))
		return;         /* server notices before the welcome */
	cl_clock(clock, sizeof(clock), ms);
	if (target[0] == '#' && (c->cur < 0 || irc_casecmp(c->chans[c->cur].name, target) != 0))
		snprintf(where, sizeof(where), "[%s] ", target);
	tl = strlen(text);
	if (strncmp(text, "\001ACTION ", 8) == 0 && tl > 8 && text[tl - 1] == '\001')
		say(c, "%s %s* %s %.*s", clock, where, nick, (int)(tl - 9), text + 8);
	else if (strchr(m->source, '!') == NULL)
		say(c, "-- %s: %s", nick, text);     /* from the server itself */
	else if (target[0] != '#')
		say(c, "%s *%s* %s", clock, nick, text);
	else if (notice)
		say(c, "%s %s-%s- %s", clock, where, nick, text);
	else
		say(c, "%s %s<%s> %s", clock, where, nick, text);
}

static void on_join(struct chat_client *c, const struct irc_msg *m, const char *nick)
{
	const char *time = irc_tag_get(m, "time");
	struct cl_chan *ch;
	int64_t ms;

	if (!is_me(c, nick)) {
		if (!c->quiet)
			say(c, "-- %s joined %s", nick, m->params[0]);
		return;
	}
	if ((ch = chan_add(c, m->params[0])) == NULL)
		return;
	ch->joined = true;
	if (ch->last[0] == '\0' && time != NULL && irc_time_parse(time, &ms) == 0)
		chan_mark(ch, NULL, time, ms);
	if (c->cur < 0 || irc_casecmp(c->next_cur, ch->name) == 0) {
		c->cur = (int)(ch - c->chans);
		c->next_cur[0] = '\0';
	}
	if (!c->quiet)
		say(c, "-- %s joined %s", nick, ch->name);
	if (ch->fill && ch->last[0] && hist_on(c))
		hist_ask(c, ch->name, ch->last, CL_FILL_LIMIT, CL_H_FILL, false);
	ch->fill = false;
	if (c->task != CL_TASK_NONE && !c->task_started && irc_casecmp(ch->name, c->task_chan) == 0)
		task_begin(c);
}

static void on_part(struct chat_client *c, const struct irc_msg *m, const char *nick, bool kick)
{
	const char *chan = m->params[0], *who = kick ? m->params[1] : nick;
	const char *why = m->nparams > (kick ? 2u : 1u) ? m->params[m->nparams - 1] : "";
	struct cl_chan *ch;

	if (!c->quiet) {
		if (kick)
			say(c, "-- %s was kicked from %s by %s (%s)", who, chan, nick, why);
		else
			say(c, "-- %s left %s%s%s%s", who, chan, why[0] ? " (" : "", why,
			    why[0] ? ")" : "");
	}
	if (is_me(c, who) && (ch = chan_find(c, chan)) != NULL) {
		if (c->task != CL_TASK_NONE && irc_casecmp(chan, c->task_chan) == 0)
			fail(c, "removed from %s", chan);
		chan_del(c, ch);
	}
}

static void on_batch(struct chat_client *c, const struct irc_msg *m)
{
	const char *ref = m->params[0];
	struct cl_batch *b;
	size_t i;

	if (ref[0] == '-') {
		if ((b = batch_find(c, ref + 1)) == NULL)
			return;
		if (b->task)
			c->result = c->result == CL_RUNNING ? CL_DONE : c->result;
		memset(b, 0, sizeof(*b));
		return;
	}
	if (ref[0] != '+' || ref[1] == '\0' || (b = batch_free(c)) == NULL)
		return;         /* no free slot: its lines count as live ones */
	memset(b, 0, sizeof(*b));
	COPY(b->ref, ref + 1);
	if (m->nparams < 3 || strcmp(m->params[1], "chathistory") != 0)
		return;
	b->history = true;
	b->mode = CL_H_LOG;
	COPY(b->target, m->params[2]);
	for (i = 0; i < c->nhreq; i++)
		if (irc_casecmp(c->hreq[i].target, b->target) == 0) {
			b->mode = c->hreq[i].mode;
			b->task = c->hreq[i].task;
			memmove(&c->hreq[i], &c->hreq[i + 1], (c->nhreq - i - 1) * sizeof(c->hreq[0]));
			c->nhreq--;
			break;
		}
}

/* FAIL CHATHISTORY <code> ...: the oldest request of ours gets its answer. */
static void on_fail(struct chat_client *c, const struct irc_msg *m)
{
	const char *desc = m->params[m->nparams - 1];
	bool task = false;

	if (strcmp(m->params[0], "CHATHISTORY") == 0 && c->nhreq > 0) {
		task = c->hreq[0].task;
		memmove(&c->hreq[0], &c->hreq[1], (c->nhreq - 1) * sizeof(c->hreq[0]));
		c->nhreq--;
	}
	if (task || (c->task != CL_TASK_NONE && c->task_started))
		fail(c, "server: %s %s: %s", m->params[0], m->nparams > 2 ? m->params[1] : "", desc);
	else
		say(c, "-- error: %s %s: %s", m->params[0], m->nparams > 2 ? m->params[1] : "", desc);
}

/* ERR_NOSUCHCHANNEL, TOOMANYCHANNELS, CHANNELISFULL, INVITEONLY, BANNED, BADCHANNELKEY,
 * BADCHANMASK, NEEDREGGEDNICK (some servers), BADCHANNAME. */
static bool is_join_error(unsigned num)
{
	return num == 403 || num == 405 || num == 471 || num == 473 || num == 474 ||
	    num == 475 || num == 476 || num == 477 || num == 479;
}

/* An error numeric (4xx/5xx) after the nick param. */
static void on_error_numeric(struct chat_client *c, const struct irc_msg *m, unsigned num)
{
	char text[IRC_BODY_MAX + 1] = "";
	struct cl_chan *ch;
	size_t i;

	for (i = 1; i < m->nparams; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
		    i > 1 ? " " : "", m->params[i]);
	if (!c->registered) {
		if (num == 432 || num == 465)
			fail(c, "server refused the registration: %s", text);
		return;         /* e.g. 421 for CAP from an old server */
	}
	if (is_join_error(num) && m->nparams >= 2 && (ch = chan_find(c, m->params[1])) != NULL &&
	    !ch->joined)
		chan_del(c, ch);        /* never joined: forget it, do not rejoin it */
	if (c->task != CL_TASK_NONE)
		fail(c, "server: %u %s", num, text);
	else
		say(c, "-- error: %s", text);
}

static void on_numeric(struct chat_client *c, const struct irc_msg *m, unsigned num)
{
	if (num == 1)
		on_welcome(c, m);
	else if (num == 5)
		on_isupport(c, m);
	else if (num == 433)
		on_nick_in_use(c);
	else if (num == 332 && m->nparams >= 3 && !c->quiet)
		say(c, "-- topic of %s: %s", m->params[1], m->params[2]);
	else if (num == 422)
		;       /* ERR_NOMOTD ends the welcome burst like 376: not an error */
	else if (num >= 400 && num < 600)
		on_error_numeric(c, m, num);
}

static void on_other(struct chat_client *c, const struct irc_msg *m, const char *nick)
{
	const char *cmd = m->command;

	if (strcmp(cmd, "NICK") == 0 && m->nparams >= 1) {
		if (is_me(c, nick)) {
			COPY(c->nick, m->params[0]);
			COPY(c->want, m->params[0]);
		}
		if (!c->quiet)
			say(c, "-- %s is now known as %s", nick, m->params[0]);
	} else if (strcmp(cmd, "QUIT") == 0 && !c->quiet)
		say(c, "-- %s quit (%s)", nick, m->nparams ? m->params[0] : "");
	else if (strcmp(cmd, "TOPIC") == 0 && m->nparams >= 2 && !c->quiet)
		say(c, "-- %s set the topic of %s: %s", nick, m->params[0], m->params[1]);
	else if (strcmp(cmd, "ERROR") == 0 && !c->quiet)
		say(c, "-- server: %s", m->nparams ? m->params[0] : "closing");
	else if (strcmp(cmd, "FAIL") == 0 && m->nparams >= 3)
		on_fail(c, m);
}

void cl_line(struct chat_client *c, char *line)
{
	struct irc_msg m;
	const char *bref;
	struct cl_batch *hb = NULL;
	char nick[IRC_NICK_MAX + 64];

	if (irc_parse(line, &m) != 0)
		return;
	nick_of(nick, sizeof(nick), m.source);
	if ((bref = irc_tag_get(&m, "batch")) != NULL && (hb = batch_find(c, bref)) != NULL &&
	    !hb->history)
		hb = NULL;
	if (m.command[0] >= '0' && m.command[0] <= '9')
		on_numeric(c, &m, (unsigned)atoi(m.command));
	else if (strcmp(m.command, "PING") == 0)
		sendv(c, false, "PONG", m.nparams ? m.params[m.nparams - 1] : "", NULL);
	else if (strcmp(m.command, "PONG") == 0) {
		if (c->token[0] && m.nparams && strcmp(m.params[m.nparams - 1], c->token) == 0) {
			c->token[0] = '\0';
			if ((c->enabled & CL_CAP_ECHO) && !c->task_echoed)
				fail(c, "the server did not echo the message");
			else if (c->result == CL_RUNNING)
				c->result = CL_DONE;
		}
	} else if (strcmp(m.command, "CAP") == 0)
		on_cap(c, &m);
	else if ((strcmp(m.command, "PRIVMSG") == 0 || strcmp(m.command, "NOTICE") == 0) &&
	    m.nparams >= 2)
		show_msg(c, &m, hb);
	else if (strcmp(m.command, "JOIN") == 0 && m.nparams >= 1)
		on_join(c, &m, nick);
	else if (strcmp(m.command, "PART") == 0 && m.nparams >= 1)
		on_part(c, &m, nick, false);
	else if (strcmp(m.command, "KICK") == 0 && m.nparams >= 2)
		on_part(c, &m, nick, true);
	else if (strcmp(m.command, "BATCH") == 0 && m.nparams >= 1)
		on_batch(c, &m);
	else
		on_other(c, &m, nick);
}

/* ------------------------------------------------------------------ tasks and commands */

static void task_begin(struct chat_client *c)
{
	c->task_started = true;
	if (c->task == CL_TASK_LOG) {
		if (!hist_on(c))
			fail(c, "the server does not offer draft/chathistory: no chat log");
		else
			hist_ask(c, c->task_chan, NULL, c->task_n, CL_H_LOG, true);
		return;
	}
	sendv(c, true, "PRIVMSG", c->task_chan, c->task_text, NULL);
	snprintf(c->token, sizeof(c->token), "chat-ack-%u", ++c->ntoken);
	sendv(c, false, "PING", c->token, NULL);
}

static void post(struct chat_client *c, const char *target, const char *text)
{
	char clock[16];

	sendv(c, true, "PRIVMSG", target, text, NULL);
	if (c->enabled & CL_CAP_ECHO)
		return;         /* shown when it comes back, with the server's time */
	cl_clock(clock, sizeof(clock), -1);
	if (target[0] == '#')
		say(c, "%s <%s> %s", clock, c->nick, text);
	else
		say(c, "%s -> *%s* %s", clock, target, text);
}

static const char *current(const struct chat_client *c)
{
	return c->cur >= 0 ? c->chans[c->cur].name : NULL;
}

static void cmd_join(struct chat_client *c, const char *arg)
{
	struct cl_chan *ch = chan_find(c, arg);

	if (!irc_chan_valid(arg)) {
		say(c, "-- usage: /join #channel");
	} else if (ch != NULL && ch->joined) {
		c->cur = (int)(ch - c->chans);
		say(c, "-- now talking in %s", ch->name);
	} else if ((ch = chan_add(c, arg)) == NULL) {
		say(c, "-- error: too many channels");
	} else {
		/* current at once: a script's next line posts there, after the JOIN */
		c->cur = (int)(ch - c->chans);
		sendv(c, false, "JOIN", arg, NULL);
	}
}

static void cmd_log(struct chat_client *c, const char *arg)
{
	unsigned long n = arg[0] ? strtoul(arg, NULL, 10) : 20;

	if (current(c) == NULL)
		say(c, "-- not in a channel: /join #channel first");
	else if (!hist_on(c))
		say(c, "-- error: the server does not offer draft/chathistory: no chat log");
	else if (n == 0 || n > 10000)
		say(c, "-- usage: /log [N]   (1..10000)");
	else
		hist_ask(c, current(c), NULL, (unsigned)n, CL_H_LOG, false);
}

int cl_command(struct chat_client *c, const char *input)
{
	char word[32] = "";
	const char *arg;
	size_t n;

	if (input[0] == '\0')
		return 0;
	if (input[0] != '/' || input[1] == '/') {
		if (current(c) == NULL)
			say(c, "-- not in a channel: /join #channel first");
		else
			post(c, current(c), input + (input[0] == '/'));
		return 0;
	}
	n = strcspn(input + 1, " ");
	snprintf(word, sizeof(word), "%.*s", (int)n, input + 1);
	arg = input + 1 + n;
	arg += strspn(arg, " ");
	if (strcmp(word, "quit") == 0) {
		cl_quit(c, arg);
		return 1;
	} else if (strcmp(word, "join") == 0)
		cmd_join(c, arg);
	else if (strcmp(word, "part") == 0) {
		if (arg[0] == '\0' && current(c) == NULL)
			say(c, "-- not in a channel");
		else
			sendv(c, false, "PART", arg[0] ? arg : current(c), NULL);
	} else if (strcmp(word, "log") == 0)
		cmd_log(c, arg);
	else if (strcmp(word, "nick") == 0) {
		if (!irc_nick_valid(arg))
			say(c, "-- usage: /nick NEWNICK");
		else
			sendv(c, false, "NICK", arg, NULL);
	} else if (strcmp(word, "msg") == 0 && (n = strcspn(arg, " ")) > 0 && arg[n] == ' ') {
		char target[IRC_CHAN_MAX + 1];

		snprintf(target, sizeof(target), "%.*s", (int)n, arg);
		post(c, target, arg + n + 1);
	} else
		say(c, "-- commands: /join #c, /part, /log [N], /nick N, /msg T text, /quit");
	return 0;
}
