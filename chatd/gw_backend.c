/* chatd: the requests out at the backend workers (kept by rid, resent with the same rid on a
 * deadline, forever, while the worker is down or restarting), their replies, and the fan-out
 * of committed items to the local connections with per-target sequence tracking: a gap is
 * repaired from storage (SINCE) before delivery, a duplicate is dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "chatd.h"

static struct gw_target *target_find(struct gw *gw, const char *name);

/* --- requests -------------------------------------------------------------------------------- */

static void
req_send(struct gw *gw, struct gw_req *r)
{
	if (lc_send(gw->actor, r->to, r->type, r->body, r->len) < 0 && errno != EAGAIN)
		lc_warn_sys("unable to send %s to %s", chat_type_name(r->type), r->to);
}

struct gw_req *
gw_request(struct gw *gw, struct gw_conn *c, const char *to, struct chat_msg *m, bool retry)
{
	static char buf[LC_WIRE_BODYMAX];
	struct gw_req *r = calloc(1, sizeof *r);

	m->rid = gw->next_rid++;
	ssize_t n = chat_encode(m, buf, sizeof buf);
	if (!r || n < 0 || !(r->body = malloc((size_t)n ? (size_t)n : 1)))
		lc_die_sys(LC_EXIT_BUG, "unable to encode %s", chat_type_name(m->type));
	memcpy(r->body, buf, (size_t)n);
	r->len = (size_t)n;
	r->rid = m->rid;
	r->type = m->type;
	snprintf(r->to, sizeof r->to, "%s", to);
	r->retry = retry;
	r->conn = c;
	r->backoff = gw->rto.rto;
	r->sent_ms = lc_now_ms();
	r->deadline = r->sent_ms + r->backoff;
	if (m->type == CHAT_SINCE || m->type == CHAT_EV_SINCE) {
		snprintf(r->target, sizeof r->target, "%s", m->target);
		irc_casefold(r->target);
	}
	size_t b = r->rid % GW_REQ_BUCKETS;
	r->next = gw->reqs[b];
	gw->reqs[b] = r;
	gw->nreqs++;
	if (c)
		c->req = r;
	req_send(gw, r);
	return r;
}

/* Unlink and return the request an answer with this rid answers, or NULL. */
static struct gw_req *
req_take(struct gw *gw, uint64_t rid)
{
	for (struct gw_req **pp = &gw->reqs[rid % GW_REQ_BUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->rid == rid) {
			struct gw_req *r = *pp;
			*pp = r->next;
			gw->nreqs--;
			if (!r->resent)
				gw_rto_sample(&gw->rto, lc_now_ms() - r->sent_ms);
			if (r->conn)
				r->conn->req = NULL;
			return r;
		}
	return NULL;
}

static void
req_free(struct gw_req *r)
{
	free(r->body);
	free(r);
}

struct gw_req *
gw_unregister(struct gw_conn *c, const char *nick, struct gw_conn *waiter)
{
	struct chat_msg *m = c->gw->enc;
	char to[32];

	memset(m, 0, offsetof(struct chat_msg, items));
	m->type = CHAT_UNREGISTER;
	snprintf(m->conn, sizeof m->conn, "%s", c->id);
	snprintf(m->nick, sizeof m->nick, "%s", nick);
	snprintf(m->text, sizeof m->text, "%s", c->tx && c->tx->quit[0] ? c->tx->quit :
	    "Connection closed");
	snprintf(to, sizeof to, "session.%u", chat_shard(nick, c->gw->nsessions));
	return gw_request(c->gw, waiter, to, m, true);
}

bool
gw_quit_request(struct gw_conn *c)
{
	if (c->state == GW_NEW && !c->has_nick)
		return false;
	gw_unregister(c, c->nick, c);
	return true;
}

/* The ACK of a QUIT's UNREGISTER: the nick is free; ERROR, close. */
static void
quit_done(struct gw_conn *c)
{
	char buf[CHAT_HOST_MAX + CHAT_TEXT_MAX + 32];

	c->unregistered = true;
	snprintf(buf, sizeof buf, "Closing Link: %s (%s)", c->host, gw_text(c)->quit);
	gw_cmd_end(c);
	gw_conn_close(c, buf);
}

void
gw_conn_forget(struct gw_conn *c)
{
	if (c->req)
		c->req->conn = NULL;    /* its reply will find no one: dropped */
	c->req = NULL;
	gw_join_release(c);
	/* registered, or reserved (or asked), and not unregistered by its QUIT */
	if ((c->state != GW_NEW || c->has_nick) && !c->unregistered)
		gw_unregister(c, c->nick, NULL);
	/* a nick change or reservation out: the nick asked may be ours already (a session
	 * answers an UNREGISTER of a nick another connection holds with ACK, changing nothing) */
	if (c->nick_to[0] && irc_casecmp(c->nick_to, c->nick))
		gw_unregister(c, c->nick_to, NULL);
}

/* Resend what is overdue (same rid, same body), drop what is not retried. Of the resends a
 * client waits on, the first GW_RESEND_LOG of a sweep get a line each and the rest one line
 * (a worker that stalls under a million clients would otherwise cost a line per request). */
static void
req_deadlines(struct gw *gw, int64_t now)
{
	size_t resent = 0;
	bool late = false;

	for (size_t b = 0; b < GW_REQ_BUCKETS; b++) {
		struct gw_req **pp = &gw->reqs[b];
		while (*pp) {
			struct gw_req *r = *pp;
			if (r->deadline > now) {
				pp = &r->next;
				continue;
			}
			late = true;
			/* a request whose connection went away is not worth resending, but for
			 * UNREGISTER (detached from the start) */
			if (!r->retry || (!r->conn && r->type != CHAT_UNREGISTER)) {
				*pp = r->next;
				gw->nreqs--;
				struct gw_target *t;
				if (r->type == CHAT_SINCE || r->type == CHAT_EV_SINCE) {
					gw->repair_all = true;  /* lost: ask again */
					if ((t = target_find(gw, r->target))) {
						if (t->msg.rid == r->rid)
							t->msg.rid = 0;
						if (t->ev.rid == r->rid)
							t->ev.rid = 0;
					}
				}
				if (r->conn)
					r->conn->req = NULL;
				req_free(r);
				continue;
			}
			(r->conn && resent++ < GW_RESEND_LOG ? lc_info : lc_debug)("%s: no answer from "
			    "%s to %s rid=%llu after %lld ms: resending", gw->name, r->to,
			    chat_type_name(r->type), (unsigned long long)r->rid, (long long)r->backoff);
			int64_t cap = gw->rto.rto > GW_REQ_BACKOFF_MAX_MS ? gw->rto.rto
			    : GW_REQ_BACKOFF_MAX_MS;
			r->backoff = r->backoff * 3 / 2 > cap ? cap : r->backoff * 3 / 2;
			r->deadline = now + r->backoff;
			r->resent = true;
			req_send(gw, r);
			pp = &r->next;
		}
	}
	if (resent > GW_RESEND_LOG)
		lc_info("%s: and %zu more requests unanswered: resent", gw->name,
		    resent - GW_RESEND_LOG);
	if (late)
		gw_rto_backoff(&gw->rto);
}

/* --- targets and fan-out --------------------------------------------------------------------- */

/* The bucket of a (casefolded) target name: chat_shard is FNV-1a of the casefolded name. */
static size_t
target_bucket(const char *fold, size_t nbuckets)
{
	return chat_shard(fold, (unsigned)nbuckets);
}

/* The target named `name` (any case), or NULL. */
static struct gw_target *
target_find(struct gw *gw, const char *name)
{
	char fold[CHAT_TARGET_MAX + 1];

	if (!gw->ntbuckets)
		return NULL;
	snprintf(fold, sizeof fold, "%s", name);
	irc_casefold(fold);
	for (struct gw_target *t = gw->tbuckets[target_bucket(fold, gw->ntbuckets)]; t;
	    t = t->next)
		if (!strcmp(t->name, fold))
			return t;
	return NULL;
}

/* Double the hash table once it holds as many targets as buckets. */
static void
targets_grow(struct gw *gw)
{
	size_t n = gw->ntbuckets ? 2 * gw->ntbuckets : 64;
	struct gw_target **b = calloc(n, sizeof *b);

	if (!b)
		lc_die(LC_EXIT_TEMP, "out of memory");
	for (size_t i = 0; i < gw->ntbuckets; i++)
		while (gw->tbuckets[i]) {
			struct gw_target *t = gw->tbuckets[i];
			gw->tbuckets[i] = t->next;
			size_t k = target_bucket(t->name, n);
			t->next = b[k];
			b[k] = t;
		}
	free(gw->tbuckets);
	gw->tbuckets = b;
	gw->ntbuckets = n;
}

struct gw_target *
gw_target_watch(struct gw *gw, const char *name)
{
	struct gw_target *t = target_find(gw, name);

	if (t)
		return t;
	if (gw->ntargets >= gw->ntbuckets)
		targets_grow(gw);
	if (!(t = calloc(1, sizeof *t)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	snprintf(t->name, sizeof t->name, "%s", name);
	irc_casefold(t->name);
	size_t k = target_bucket(t->name, gw->ntbuckets);
	t->next = gw->tbuckets[k];
	gw->tbuckets[k] = t;
	gw->ntargets++;
	return t;
}

/* Append c to the list (*v, *n, *cap), grown by doubling; its index. */
static size_t
conns_push(struct gw_conn ***v, size_t *n, size_t *cap, struct gw_conn *c)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 4;
		struct gw_conn **m = reallocarray(*v, ncap, sizeof *m);
		if (!m)
			lc_die(LC_EXIT_TEMP, "out of memory");
		*v = m;
		*cap = ncap;
	}
	(*v)[*n] = c;
	return (*n)++;
}

size_t
gw_target_join(struct gw_target *t, struct gw_conn *c)
{
	return conns_push(&t->members, &t->nmembers, &t->cmembers, c);
}

void
gw_target_leave(struct gw_target *t, size_t slot)
{
	struct gw_conn *moved = t->members[--t->nmembers];

	t->members[slot] = moved;
	if (slot == t->nmembers)
		return;
	for (unsigned i = 0; i < moved->nchans; i++)
		if (moved->memb[i].t == t) {
			moved->memb[i].slot = slot;
			return;
		}
	lc_die(LC_EXIT_BUG, "%s: member of %s without its membership", moved->id, t->name);
}

/* A direct message's target (a nick) has a local connection registered with it. */
static bool
nick_is_local(struct gw *gw, const char *nick)
{
	for (size_t i = 0; i < gw->nconns; i++) {
		struct gw_conn *c = gw->conns[i];
		if (c && !c->closing && c->state == GW_REGISTERED && gw_is_nick(c, nick))
			return true;
	}
	return false;
}

/* Local members, or connections whose JOIN of it is out (gw_join_hold). */
static bool
target_has_members(struct gw *gw, const struct gw_target *t)
{
	return t->name[0] == '#' ? t->nmembers > 0 || t->njoiners > 0 : nick_is_local(gw, t->name);
}

/* The nick of a prefix "nick!user@host" equals c's nick; or the item is c's own nick change
 * (its NICK line is the command's reply), fanned out before or after c took the new nick. */
static bool
own_item(const struct gw_conn *c, const struct chat_item *it)
{
	size_t n = strcspn(it->prefix, "!");

	if (it->kind == CHAT_K_NICK && gw_is_nick(c, it->text))
		return true;
	return strlen(c->nick) == n && !strncasecmp(c->nick, it->prefix, n);
}

static const char *const kind_cmd[] = {
	[CHAT_K_PRIVMSG] = "PRIVMSG", [CHAT_K_NOTICE] = "NOTICE", [CHAT_K_JOIN] = "JOIN",
	[CHAT_K_PART] = "PART", [CHAT_K_QUIT] = "QUIT", [CHAT_K_TOPIC] = "TOPIC",
	[CHAT_K_NICK] = "NICK",
};

ssize_t
gw_item_line(const struct gw_conn *c, const struct chat_item *it, const char *batch,
    char *buf, size_t cap)
{
	struct irc_msg m = { .ntags = 0 };
	char tm[IRC_TIME_LEN + 1];

	if (it->kind < CHAT_K_PRIVMSG || it->kind > CHAT_K_NICK)
		return errno = EINVAL, -1;
	if (batch)
		m.tags[m.ntags++] = (struct irc_tag){ "batch", batch };
	if ((c->caps & (GW_CAP_SERVER_TIME | GW_CAP_MESSAGE_TAGS)) &&
	    irc_time_format(tm, sizeof tm, it->time_ms) == 0)
		m.tags[m.ntags++] = (struct irc_tag){ "time", tm };
	if ((c->caps & GW_CAP_MESSAGE_TAGS) && it->msgid[0])
		m.tags[m.ntags++] = (struct irc_tag){ "msgid", it->msgid };
	m.source = it->prefix;
	m.command = kind_cmd[it->kind];
	switch (it->kind) {
	case CHAT_K_QUIT:
		m.params[m.nparams++] = it->text;
		m.trailing = true;
		break;
	case CHAT_K_JOIN:
		m.params[m.nparams++] = it->target;
		break;
	case CHAT_K_NICK:
		m.params[m.nparams++] = it->text;
		m.trailing = true;
		break;
	default:
		m.params[m.nparams++] = it->target;
		m.params[m.nparams++] = it->text;
		m.trailing = true;
	}
	return irc_write(buf, cap, &m);
}

/* Held items: a header, then the formatted line. */
struct held {
	uint64_t seq, id;
	uint32_t len;
};

void
gw_join_hold(struct gw_conn *c, const char *chan)
{
	struct gw_target *t;

	gw_join_release(c);
	t = gw_target_watch(c->gw, chan);
	conns_push(&t->joiners, &t->njoiners, &t->cjoiners, c);
	c->joining = t;
}

void
gw_join_release(struct gw_conn *c)
{
	struct gw_target *t = c->joining;

	gw_outq_fini(&c->hold);
	c->hold.max = c->gw->sendq;
	if (!t)
		return;
	for (size_t i = 0; i < t->njoiners; i++)
		if (t->joiners[i] == c) {
			t->joiners[i] = t->joiners[--t->njoiners];
			break;
		}
	c->joining = NULL;
}

/* The JOIN of c->joining completed: deliver what was held and follows the JOIN. */
static void
join_flush(struct gw_conn *c, uint64_t seq, uint64_t ev)
{
	const char *p = gw_outq_data(&c->hold);
	size_t left = gw_outq_pending(&c->hold);
	struct held h;

	while (left >= sizeof h && !c->closing) {
		memcpy(&h, p, sizeof h);
		if (h.seq ? h.seq > seq : h.id > ev)
			gw_out(c, p + sizeof h, h.len);
		p += sizeof h + h.len;
		left -= sizeof h + h.len;
	}
	gw_join_release(c);
}

/* An item's line is formatted once per tag variant a connection's caps select (none;
 * time; time and msgid), on first use, and copied to every recipient. */
enum { FMT_PLAIN, FMT_TIME, FMT_TAGS, FMT_N };

struct item_fmt {
	const struct chat_item *it;
	ssize_t len[FMT_N];             /* 0: not formatted yet; -1: cannot be */
	char line[FMT_N][IRC_OUT_MAX];
};

static const char *
fmt_line(struct item_fmt *f, const struct gw_conn *c, size_t *len)
{
	int v = (c->caps & GW_CAP_MESSAGE_TAGS) ? FMT_TAGS :
	    (c->caps & GW_CAP_SERVER_TIME) ? FMT_TIME : FMT_PLAIN;

	if (f->len[v] == 0)
		f->len[v] = gw_item_line(c, f->it, NULL, f->line[v], sizeof f->line[v]);
	*len = f->len[v] > 0 ? (size_t)f->len[v] : 0;
	return f->line[v];
}

/* Deliver an item to one connection concerned by it: the one place every fanned-out line
 * passes, per connection. */
static void
deliver_one(struct gw_conn *c, struct item_fmt *f, bool hold)
{
	const struct chat_item *it = f->it;
	const char *line;
	size_t n;

	if (c->closing || c->state != GW_REGISTERED)
		return;
	/* a connection's own lines (echo, its JOIN/PART/TOPIC) were written when its command
	 * completed, in command order; a direct message to oneself is both */
	if (own_item(c, it) && (it->target[0] == '#' || it->kind == CHAT_K_QUIT))
		return;
	if (it->kind == CHAT_K_QUIT) {
		uint64_t h = chat_hash(it->prefix);
		if (c->last_quit == h && c->last_quit_ms == it->time_ms)
			return;         /* once per user, however many channels we share */
		c->last_quit = h;
		c->last_quit_ms = it->time_ms;
	}
	if (it->kind == CHAT_K_NICK) {
		char key[CHAT_PREFIX_MAX + CHAT_NICK_MAX + 2];
		snprintf(key, sizeof key, "%s %.*s", it->prefix, CHAT_NICK_MAX, it->text);
		uint64_t h = chat_hash(key);
		if (c->last_nick == h)
			return;         /* once per user, however many channels we share */
		c->last_nick = h;
	}
	if (!(line = fmt_line(f, c, &n)) || n == 0)
		return;
	if (!hold) {
		gw_out(c, line, n);
		return;
	}
	struct held h = { it->seq, it->id, (uint32_t)n };
	if (gw_outq_put(&c->hold, &h, sizeof h) < 0 || gw_outq_put(&c->hold, line, n) < 0) {
		lc_info("%s: SendQ exceeded while joining %s, dropped", c->id, c->joining->name);
		gw_conn_close(c, "SendQ exceeded");
	}
}

/* c's membership of channel t, or NULL. */
static const struct gw_memb *
memb_of(const struct gw_conn *c, const struct gw_target *t)
{
	for (unsigned i = 0; i < c->nchans; i++)
		if (c->memb[i].t == t)
			return &c->memb[i];
	return NULL;
}

/* Is the item after c's JOIN (m)? */
static bool
after_join(const struct gw_memb *m, const struct chat_item *it)
{
	return it->seq ? it->seq > m->seq : it->id > m->ev;
}

void
gw_deliver_item(struct gw *gw, const struct chat_item *it)
{
	static struct item_fmt *f;

	if (!f && !(f = malloc(sizeof *f)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	f->it = it;
	for (int v = 0; v < FMT_N; v++)
		f->len[v] = 0;
	if (it->target[0] == '#') {
		struct gw_target *t = target_find(gw, it->target);
		const struct gw_memb *m;
		if (!t)
			return;
		/* a delivery may close a member (SendQ): it stays listed, closing, until gw_flush */
		for (size_t i = 0; i < t->nmembers; i++)
			if ((m = memb_of(t->members[i], t)) && after_join(m, it))
				deliver_one(t->members[i], f, false);
		/* closing a joiner (SendQ) releases it: from the last, so none is skipped */
		for (size_t i = t->njoiners; i-- > 0;)
			if (i < t->njoiners)
				deliver_one(t->joiners[i], f, true);
		return;
	}
	for (size_t i = 0; i < gw->nconns; i++) {
		struct gw_conn *c = gw->conns[i];
		if (c && gw_is_nick(c, it->target))
			deliver_one(c, f, false);
	}
}

/* Ask storage for stream s of t after what was delivered: messages (SINCE) or events. */
static void
since_ask(struct gw *gw, struct gw_target *t, struct gw_stream *s, uint32_t limit)
{
	struct chat_msg *m = gw->enc;

	chat_msg_clear(m);
	m->type = s == &t->ev ? CHAT_EV_SINCE : CHAT_SINCE;
	snprintf(m->target, sizeof m->target, "%s", t->name);
	m->seq = s->last;
	m->limit = limit;
	s->rid = gw_request(gw, NULL, "storage", m, false)->rid;
}

/* An item's stream in t, and its position there. */
static struct gw_stream *
stream_of(struct gw_target *t, const struct chat_item *it, uint64_t *pos)
{
	*pos = it->seq ? it->seq : it->id;
	return it->seq ? &t->msg : &t->ev;
}

/* A fanned-out item: deliver each stream in order; a gap is filled from storage first. */
static void
on_item(struct gw *gw, const struct chat_item *it)
{
	struct gw_target *t = target_find(gw, it->target);
	struct gw_stream *s;
	uint64_t pos;

	lc_debug("%s: item %s seq=%llu id=%llu kind=%u from %s", gw->name, it->target,
	    (unsigned long long)it->seq, (unsigned long long)it->id, it->kind, it->prefix);
	if (!t) {
		if (it->target[0] == '#' || !nick_is_local(gw, it->target))
			return;         /* a channel with local members is watched since their JOIN */
		t = gw_target_watch(gw, it->target);
	}
	s = stream_of(t, it, &pos);
	if (pos == 0) {
		gw_deliver_item(gw, it);                /* not numbered (older storage) */
		return;
	}
	if (s->last && pos <= s->last)
		return;                                 /* duplicate */
	/* a gap where no member here needed it: storage sends the gateways of members only, and
	 * a joiner's stream starts at its JOIN (a loss is still counted by FANOUT_MARK) */
	if (s->last && pos > s->last + 1 && !t->nmembers && t->name[0] == '#')
		s->last = pos - 1;
	if (s->last && pos > s->last + 1) {             /* gap: the answer has this one too */
		if (pos > s->ahead)
			s->ahead = pos;
		if (!s->rid) {
			lc_info("%s: %s: gap in the %s after %llu (got %llu): repairing", gw->name,
			    t->name, s == &t->ev ? "events" : "messages",
			    (unsigned long long)s->last, (unsigned long long)pos);
			since_ask(gw, t, s, CHAT_ITEMS_MAX);
		}
		return;
	}
	s->last = pos;
	gw_deliver_item(gw, it);
}

static void
on_items(struct gw *gw, const struct chat_msg *m)
{
	struct gw_req *r = req_take(gw, m->rid);
	if (!r)
		return;
	struct gw_target *t = target_find(gw, r->target);
	bool ev = r->type == CHAT_EV_SINCE;
	req_free(r);
	if (!t)
		return;
	struct gw_stream *s = ev ? &t->ev : &t->msg;
	size_t n = 0;
	s->rid = 0;
	for (size_t i = 0; i < m->nitems; i++) {
		const struct chat_item *it = &m->items[i];
		uint64_t pos;
		if (stream_of(t, it, &pos) != s || pos <= s->last)
			continue;
		s->last = pos;
		gw_deliver_item(gw, it);
		n++;
	}
	if (n)
		lc_info("%s: %s: %zu %s repaired, up to %llu", gw->name, t->name, n,
		    ev ? "events" : "messages", (unsigned long long)s->last);
	/* more beyond what came: past a gap seen, or after a full page of a periodic ask */
	if (m->nitems > 0 && (s->ahead > s->last || m->nitems >= GW_REPAIR_LIMIT))
		since_ask(gw, t, s, CHAT_ITEMS_MAX);
}

/* Every second: forget targets without local members; and when an ITEM was lost on the way
 * (storage's FANOUT_MARK counts more than came, or a repair's answer was lost), ask what
 * follows the last item of each stream served, so that a lost last item is repaired too. */
static void
repair(struct gw *gw)
{
	bool ask = gw->repair_all;

	gw->repair_all = false;
	for (size_t k = 0; k < gw->ntbuckets; k++) {
		struct gw_target **pp = &gw->tbuckets[k];
		while (*pp) {
			struct gw_target *t = *pp;
			if (!t->msg.rid && !t->ev.rid && !target_has_members(gw, t)) {
				*pp = t->next;
				gw->ntargets--;
				free(t->members);
				free(t->joiners);
				free(t);
				continue;
			}
			if (ask && t->msg.last && !t->msg.rid)
				since_ask(gw, t, &t->msg, GW_REPAIR_LIMIT);
			if (ask && t->ev.last && !t->ev.rid)
				since_ask(gw, t, &t->ev, GW_REPAIR_LIMIT);
			pp = &t->next;
		}
	}
}

void
gw_tick(struct lc_loop *l, struct lc_timer *t)
{
	struct gw *gw = t->arg;
	int64_t now = lc_now_ms();

	lc_actor_cork(gw->actor, 1);
	req_deadlines(gw, now);
	if (now >= gw->next_repair) {
		repair(gw);
		gw->next_repair = now + GW_REPAIR_MS;
	}
	lc_actor_cork(gw->actor, 0);
	lc_timer_set(l, t, now + 100);
}

/* --- replies --------------------------------------------------------------------------------- */

/* Take the request a reply answers and the connection waiting on it, or NULL (stale). */
static struct gw_conn *
reply_conn(struct gw *gw, const struct chat_msg *m)
{
	struct gw_req *r = req_take(gw, m->rid);
	struct gw_conn *c = r ? r->conn : NULL;

	if (r)
		req_free(r);
	return c && !c->closing ? c : NULL;
}

static void
done(struct gw_conn *c)
{
	gw_cmd_end(c);
	gw_conn_resume(c);
}

static void
on_registered(struct gw_conn *c, const struct chat_msg *m)
{
	if (m->type == CHAT_NICK_IN_USE) {
		c->state = GW_NEW;
		c->has_nick = false;
		gw_num(c, 433, m->nick, gw_numeric_text(433), NULL);
		return;
	}
	/* a nick registered here: its stream starts again at the next item (storage sends a
	 * registered nick's items to its gateway alone: what this one last saw of it is old) */
	struct gw_target *t = target_find(c->gw, c->nick);
	if (t)
		t->msg.last = t->msg.ahead = t->ev.last = t->ev.ahead = 0;
	gw_welcome(c);
}

static void
names_reply(struct gw_conn *c, const char *chan, const char *all)
{
	static char names[CHAT_NAMES_MAX + 1];
	char buf[IRC_BODY_MAX];
	size_t room = IRC_BODY_MAX - strlen(c->gw->server) - strlen(c->nick) - strlen(chan) - 16;
	const char *p = names;

	gw_names_format(names, sizeof names, all, c->caps & GW_CAP_USERHOST);
	while (*p == ' ')
		p++;
	while (*p) {
		/* as many whole names as fit the line */
		size_t n = 0;
		while (p[n]) {
			size_t w = strcspn(p + n, " ");
			if (n && n + w > room)
				break;
			n += w;
			while (p[n] == ' ')
				n++;
		}
		size_t len = n < sizeof buf ? n : sizeof buf - 1;
		memcpy(buf, p, len);
		while (len && buf[len - 1] == ' ')
			len--;
		buf[len] = '\0';
		gw_num(c, 353, "=", chan, buf, NULL);
		p += n;
	}
	gw_num(c, 366, chan, "End of /NAMES list", NULL);
}

static void
topic_reply(struct gw_conn *c, const struct chat_msg *m, bool empty_too)
{
	char ts[24];

	if (!m->text[0]) {
		if (empty_too)
			gw_num(c, 331, m->target, "No topic is set", NULL);
		return;
	}
	gw_num(c, 332, m->target, m->text, NULL);
	snprintf(ts, sizeof ts, "%lld", (long long)(m->time_ms / 1000));
	gw_num(c, 333, m->target, m->prefix[0] ? m->prefix : "*", ts, NULL);
}

static void
own_line(struct gw_conn *c, const char *cmd, const char *target, const char *text)
{
	struct irc_msg r = { .source = c->prefix, .command = cmd };

	r.params[r.nparams++] = target;
	if (text) {
		r.params[r.nparams++] = text;
		r.trailing = true;
	}
	gw_reply(c, &r);
}

static void
on_channel_done(struct gw_conn *c, const struct chat_msg *m)
{
	if (m->op >= CHAT_K_WHO) {
		gw_query_done(c, m);
		return;
	}
	if (m->op == CHAT_K_JOIN && m->status)
		gw_join_release(c);
	if (m->status) {
		if (m->op == CHAT_K_NAMES && !c->req_topic &&
		    (m->status == 403 || m->status == 401))
			gw_num(c, 366, m->target, "End of /NAMES list", NULL);
		else
			gw_num(c, m->status, m->target, gw_numeric_text(m->status), NULL);
		return;
	}
	switch (m->op) {
	case CHAT_K_JOIN:
		gw_chan_add(c, m->target, m->seq, m->evseq);
		own_line(c, "JOIN", m->target, NULL);
		topic_reply(c, m, false);
		names_reply(c, m->target, m->names);
		join_flush(c, m->seq, m->evseq);
		break;
	case CHAT_K_PART:
		gw_chan_del(c, m->target);
		own_line(c, "PART", m->target, c->tx && c->tx->op_text[0] ? c->tx->op_text : NULL);
		break;
	case CHAT_K_TOPIC:
		own_line(c, "TOPIC", m->target, c->tx ? c->tx->op_text : "");
		break;
	case CHAT_K_NAMES:
		if (c->req_topic)
			topic_reply(c, m, true);
		else
			names_reply(c, m->target, m->names);
		break;
	default:
		lc_warn("%s: channel_done with op %u", c->id, m->op);
	}
}

static void
on_posted(struct gw_conn *c, const struct chat_msg *m)
{
	char buf[IRC_OUT_MAX];
	ssize_t n;

	if (m->type == CHAT_POST_FAILED) {
		if (c->post_kind != CHAT_K_NOTICE)
			gw_num(c, m->status, m->target, gw_numeric_text(m->status), NULL);
		return;
	}
	if ((c->caps & GW_CAP_ECHO) && (n = gw_item_line(c, &m->item, NULL, buf, sizeof buf)) > 0)
		gw_reply_raw(c, buf, (size_t)n);
}

static void
on_history(struct gw_conn *c, const struct chat_msg *m)
{
	char buf[IRC_OUT_MAX], ref[24];
	bool batch = c->caps & GW_CAP_BATCH;
	ssize_t n;

	if (m->status) {
		struct irc_msg f = { .source = c->gw->server, .command = "FAIL", .trailing = true };
		bool bad = m->status == 403 || m->status == 401 || m->status == 442;
		f.params[f.nparams++] = "CHATHISTORY";
		f.params[f.nparams++] = bad ? "INVALID_TARGET" : "MESSAGE_ERROR";
		f.params[f.nparams++] = c->hist_sub;
		f.params[f.nparams++] = m->target;
		f.params[f.nparams++] = bad ? "Messages could not be retrieved" :
		    "The history could not be read";
		gw_reply(c, &f);
		return;
	}
	snprintf(ref, sizeof ref, "H%llu", (unsigned long long)++c->batch_serial);
	if (batch) {
		n = snprintf(buf, sizeof buf, ":%s BATCH +%s chathistory %s\r\n", c->gw->server, ref,
		    m->target);
		gw_reply_raw(c, buf, (size_t)n);
	}
	for (size_t i = 0; i < m->nitems; i++) {
		const struct chat_item *it = &m->items[i];
		if (it->kind != CHAT_K_PRIVMSG && it->kind != CHAT_K_NOTICE)
			continue;
		if ((n = gw_item_line(c, it, batch ? ref : NULL, buf, sizeof buf)) > 0)
			gw_reply_raw(c, buf, (size_t)n);
	}
	if (batch) {
		n = snprintf(buf, sizeof buf, ":%s BATCH -%s\r\n", c->gw->server, ref);
		gw_reply_raw(c, buf, (size_t)n);
	}
}

static void
on_auth(struct gw_conn *c, const struct chat_msg *m)
{
	c->sasl_on = false;
	if (m->type == CHAT_AUTH_FAIL) {
		gw_num(c, 904, "SASL authentication failed", NULL);
		return;
	}
	snprintf(c->account, sizeof c->account, "%s", m->account);
	char pfx[CHAT_PREFIX_MAX + 1];
	snprintf(pfx, sizeof pfx, "%s!%s@%s", c->has_nick ? c->nick : "*",
	    c->has_user ? c->user : "*", c->host);
	gw_num(c, 900, pfx, c->account, "You are now logged in", NULL);
	gw_num(c, 903, "SASL authentication successful", NULL);
	gw_try_register(c);
}

void
gw_on_message(struct lc_actor *a, const struct lc_msg *lm, void *arg)
{
	struct gw *gw = arg;
	struct chat_msg *m = gw->msg;
	struct gw_conn *c;

	if (lm->type == LC_MSG_DOWN || lm->type == LC_MSG_EXIT || lm->type == LC_MSG_PING)
		return;
	if (chat_decode(lm->type, lm->body, lm->len, m) < 0) {
		/* STYLE: a malformed message from a worker of the tree is a bug: crash */
		lc_die(LC_EXIT_BUG, "malformed %s (%u bytes) from %.*s", chat_type_name(lm->type),
		    lm->len, (int)lm->fromlen, lm->from);
	}
	m->type = lm->type;
	switch (lm->type) {
	case CHAT_ITEM:
		gw->fan_got++;
		on_item(gw, &m->item);
		break;
	case CHAT_FANOUT_MARK:
		lc_debug("%s: mark: %llu items sent here, %llu received", gw->name,
		    (unsigned long long)m->seq, (unsigned long long)gw->fan_got);
		if (m->evseq != gw->fan_epoch || m->seq != gw->fan_got) {
			if (gw->fan_epoch)
				lc_info("%s: %llu items fanned out, %llu received%s: repairing",
				    gw->name, (unsigned long long)m->seq,
				    (unsigned long long)gw->fan_got,
				    m->evseq != gw->fan_epoch ? " (storage restarted)" : "");
			gw->repair_all = true;
			gw->fan_epoch = m->evseq;
			gw->fan_got = m->seq;
		}
		break;
	case CHAT_ITEMS:
		on_items(gw, m);
		break;
	case CHAT_ACK: {
		struct gw_req *r = req_take(gw, m->rid);
		c = r && r->type == CHAT_UNREGISTER ? r->conn : NULL;
		if (r)
			req_free(r);
		if (c && !c->closing)
			quit_done(c);           /* a QUIT waiting for its nick to be free */
		break;
	}
	case CHAT_REGISTERED:
	case CHAT_NICK_IN_USE:
		if ((c = reply_conn(gw, m))) {
			on_registered(c, m);
			done(c);
		}
		break;
	case CHAT_CHANNEL_DONE:
		if ((c = reply_conn(gw, m))) {
			on_channel_done(c, m);
			gw_targets_next(c);     /* JOIN/PART #a,#b: the next target */
			if (!c->req)
				done(c);
		}
		break;
	case CHAT_NICK_DONE:
		if ((c = reply_conn(gw, m))) {
			gw_nick_done(c, m);     /* the next step, or the end of the change */
			if (!c->req)
				done(c);
		}
		break;
	case CHAT_POSTED:
	case CHAT_POST_FAILED:
		if ((c = reply_conn(gw, m))) {
			on_posted(c, m);
			done(c);
		}
		break;
	case CHAT_HISTORY_ROWS:
		if ((c = reply_conn(gw, m))) {
			on_history(c, m);
			done(c);
		}
		break;
	case CHAT_AUTH_OK:
	case CHAT_AUTH_FAIL:
		if ((c = reply_conn(gw, m))) {
			on_auth(c, m);
			done(c);
		}
		break;
	default:
		lc_die(LC_EXIT_BUG, "unexpected %s from %.*s", chat_type_name(lm->type),
		    (int)lm->fromlen, lm->from);
	}
}
