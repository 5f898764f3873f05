/* chat-storage: the chat service's source of truth (docs/chat.md), mailbox `storage`.
 *
 *   chat-storage --journal PATH [--add-account NAME:PASSWORD]
 *   env CHAT_GATEWAYS=M (fan-out to chatd.0 .. chatd.M-1), CHAT_ACCOUNTS="n:p,..." (created
 *   at start if missing, for tests), CHAT_PWHASH_FAST=1 (cheapest argon2id, for tests).
 * --add-account creates one account and exits.
 *
 * One loop. A turn is one lc_loop_once: every message that arrived is decoded and handled;
 * the POSTs are checked (membership) and queued, and after the turn they are journaled in ONE
 * transaction (group commit, journal_append), then answered (POSTED) and fanned out (ITEM to
 * the gateways serving the target's members: fan_targets), corked. Nothing is answered
 * before its commit; a retry with a journaled dedupe key gets the original item and commits
 * nothing. The rest of the journal's work (the
 * WAL checkpoint, the index flush) is done in bounded pieces after a turn's replies went out,
 * at most one piece a turn, so that no message waits behind more than one (background()).
 *
 * Channel state and users are event streams in the journal's session-event store (the
 * journal has no channel table): a channel "#x" is a stream of JOIN/PART/QUIT/TOPIC events
 * (backend.h), a user "nick" a stream of REG/UNREG/JOIN/PART events written by its session
 * worker, and two directory streams "!chans" and "!users" list the stream names, so that
 * everything is rebuilt in memory at start. Those writes are group-committed too: the first
 * of a turn opens a transaction (journal_batch_begin), and from then on everything the turn
 * sends (ACKs, CHANNEL_DONEs, fanned-out channel events, and any other answer, which may have
 * read the turn's uncommitted state) is held (defer_send) until that transaction is
 * committed after the turn, before the POSTs' own commit. A session with many requests out
 * (chat-session pipelines them) gets all of a turn's answers in arrival order, after one
 * commit. Channel events are fanned out with seq 0 (outside the per-target message sequence
 * that gap repair counts; their stream position is in item.id).
 *
 * A JOIN records where the joiner's live stream starts: the channel's last committed message
 * seq (in the event's text) and the JOIN event's own position. CHANNEL_DONE carries both (seq,
 * evseq), the same on a retried JOIN; the joiner's gateway holds the channel's items from the
 * moment it sends the JOIN and, on CHANNEL_DONE, delivers exactly those after that point. The
 * POSTs of the turn that are not committed yet get later seqs: they follow the JOIN.
 *
 * A message that fails to decode is our own code's bug (only our workers write here): it is
 * logged once per turn and dropped, not fatal, so that a sender retrying a malformed request
 * cannot crash-loop the journal's owner and take the tree down. A journal write failure is
 * fatal (exit 111): nothing of it was acknowledged and the senders retry. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "letitcrash/actor.h"
#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"

#include "backend.h"
#include "chatd.h"
#include "chatproto.h"
#include "journal.h"

#define DIR_USERS "!users"
#define DIR_CHANS "!chans"
#define HISTORY_MAX 100
#define QUIET_MS    200         /* no message for this long: the loop is idle */
#define MARK_MS     1000        /* how often gateways are told how many ITEMs went out */

struct post {
	uint64_t rid;
	char from[64];
	char conn[CHAT_CONN_MAX + 1];
	char dedupe[CHAT_DEDUPE_MAX + 1];
	char prefix[CHAT_PREFIX_MAX + 1];
	char account[CHAT_ACCOUNT_MAX + 1];
	char target[CHAT_TARGET_MAX + 1];       /* casefolded */
	char text[CHAT_TEXT_MAX + 1];
	uint8_t kind;
};

static struct journal *J;
static struct lc_actor *A;
static int ngw;
static struct bk_users users;
static struct bk_chans chans;
static int64_t dirseq_users, dirseq_chans;
static struct chat_msg in, out;         /* large: one each */
static struct post *posts;
static size_t nposts, capposts;
static uint64_t bad_turn, nmsgs_turn;
static bool filter_done;                /* the journal's dedupe filter was complete */
static char from[64];                   /* sender of the message being handled */
static bool in_turn;                    /* handling a turn's messages: writes are batched */
static bool batch;                      /* the turn's batch of session writes is open */
/* What the turn sends while its batch is open, in order: records (to, type, len, body) */
static char *held;
static size_t nheld, capheld;
static uint64_t epoch;                  /* this start's id */
/* The gateways chatd.0 .. chatd.ngw-1: names, ITEMs sent to each since the start, and the
 * bitmap of them all (gwwords words; a fan-out's targets are such a bitmap) */
static char (*gwname)[24];
static uint64_t *fanned, *gwall;
static uint64_t *gwone, *gwprev;        /* scratch: one nick's gateway; a set before an event */
static size_t gwwords;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
jfail(const char *what)
{
	lc_die(LC_EXIT_TEMP, "journal: %s: %s (%s)", what, strerror(errno), journal_errmsg(J));
}

/* Encode `out` as type t into a static buffer; the length. */
static size_t
encode_out(uint16_t t, char **body)
{
	static char buf[1 << 17];
	ssize_t n;

	out.type = t;
	if ((n = chat_encode(&out, buf, sizeof buf)) < 0)
		lc_die(LC_EXIT_BUG, "cannot encode %s: %s", chat_type_name(t), strerror(errno));
	*body = buf;
	return (size_t)n;
}

/* A held message: `to` (a mailbox), type, then len bytes of body. */
struct held_hdr {
	char to[64];
	uint16_t type;
	size_t len;
};

/* Send, or hold until the batch's commit if one is open. A send that fails is the peer's
 * loss: every request is retried by its sender. */
static void
defer_send(const char *to, uint16_t t, const char *body, size_t n)
{
	struct held_hdr h = { .type = t, .len = n };

	if (batch) {
		size_t need = nheld + sizeof h + n;
		if (need > capheld) {
			size_t cap = capheld ? capheld : 1 << 16;
			while (cap < need)
				cap *= 2;
			if (!(held = realloc(held, cap)))
				lc_die(LC_EXIT_TEMP, "out of memory");
			capheld = cap;
		}
		snprintf(h.to, sizeof h.to, "%s", to);
		memcpy(held + nheld, &h, sizeof h);
		memcpy(held + nheld + sizeof h, body, n);
		nheld = need;
		return;
	}
	lc_send(A, to, t, body, n);
}

/* Open the turn's batch before its first session write (outside a turn, at start: each
 * write is its own transaction). */
static void
batch_open(void)
{
	if (!in_turn || batch)
		return;
	if (journal_batch_begin(J) < 0)
		jfail("batch begin");
	batch = true;
}

/* Commit the turn's batch, then send what it held, in order. */
static void
batch_commit(void)
{
	struct held_hdr h;

	if (!batch)
		return;
	if (journal_batch_commit(J) < 0)
		jfail("batch commit");
	batch = false;
	for (size_t off = 0; off < nheld; off += sizeof h + h.len) {
		memcpy(&h, held + off, sizeof h);
		defer_send(h.to, h.type, held + off + sizeof h, h.len);
	}
	nheld = 0;
}

/* Encode `out` (type t) and send it to `to` (held while a batch is open). */
static void
send_out(const char *to, uint16_t t)
{
	char *body;
	size_t n = encode_out(t, &body);

	defer_send(to, t, body, n);
}

/* --- fan-out ------------------------------------------------------------------------------- */

static void
gateways_init(void)
{
	gwwords = ((size_t)ngw + 63) / 64;
	if (!(gwname = calloc((size_t)ngw + 1, sizeof *gwname)) ||
	    !(fanned = calloc((size_t)ngw + 1, sizeof *fanned)) ||
	    !(gwall = calloc(gwwords + 1, sizeof *gwall)) ||
	    !(gwone = calloc(gwwords + 1, sizeof *gwone)) ||
	    !(gwprev = calloc(gwwords + 1, sizeof *gwprev)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	for (int k = 0; k < ngw; k++) {
		snprintf(gwname[k], sizeof gwname[k], "chatd.%d", k);
		gwall[k / 64] |= UINT64_C(1) << (k % 64);
	}
}

static bool
gw_in(const uint64_t *set, int k)
{
	return set[k / 64] & UINT64_C(1) << (k % 64);
}

/* The gateway a registered nick is connected to (its connection id "chatd.K/FD/SERIAL/PID"), or
 * -1: not registered, or not by a gateway of the pool. */
static int
gw_of(const char *nick)
{
	const struct bk_user *u = bk_user_find(&users, nick);
	char *end;

	if (!u || !u->registered || strncmp(u->conn, "chatd.", 6) != 0)
		return -1;
	long k = strtol(u->conn + 6, &end, 10);
	return end != u->conn + 6 && *end == '/' && k >= 0 && k < ngw ? (int)k : -1;
}

/* The gateways with a member of c: c->gw, rebuilt after a change of its members (gw_stale);
 * every gateway if one member's is not known. */
static const uint64_t *
chan_gws(struct bk_chan *c)
{
	if (!c->gw && !(c->gw = calloc(gwwords + 1, sizeof *c->gw)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	else if (!c->gw_stale)
		return c->gw;
	memset(c->gw, 0, gwwords * sizeof *c->gw);
	for (size_t i = 0; i < c->n; i++) {
		int k = gw_of(c->m[i].key);
		if (k < 0) {
			memcpy(c->gw, gwall, gwwords * sizeof *c->gw);
			break;
		}
		c->gw[k / 64] |= UINT64_C(1) << (k % 64);
	}
	c->gw_stale = 0;
	return c->gw;
}

/* Where an item for `target` (casefolded) goes: the gateways serving a member of the channel
 * or the nick; every gateway when that is not known (the gateways drop what no local
 * connection watches). The channel's set is read before a PART or QUIT is applied (the
 * leaver's gateway shows it the line) and after a JOIN (the joiner's). */
static const uint64_t *
fan_targets(const char *target)
{
	struct bk_chan *c;
	int k;

	if (target[0] == '#')
		return (c = bk_chan_find(&chans, target)) ? chan_gws(c) : gwall;
	if ((k = gw_of(target)) < 0)
		return gwall;
	memset(gwone, 0, gwwords * sizeof *gwone);
	gwone[k / 64] |= UINT64_C(1) << (k % 64);
	return gwone;
}

/* An ITEM to the gateways of `to` (a bitmap), encoded once, counted per gateway. */
static void
fan_out_to(const struct chat_item *item, const uint64_t *to)
{
	char *body;
	size_t n;

	if (item != &out.item) {
		chat_msg_clear(&out);
		out.item = *item;
	}
	n = encode_out(CHAT_ITEM, &body);
	for (int k = 0; k < ngw; k++)
		if (gw_in(to, k)) {
			defer_send(gwname[k], CHAT_ITEM, body, n);
			fanned[k]++;
		}
}

static void
fan_out(const struct chat_item *item)
{
	fan_out_to(item, fan_targets(item->target));
}

/* Every MARK_MS: tell each gateway how many ITEMs were sent to it so far (after them: held
 * with them while a batch is open). A gateway that received fewer lost some (a full queue,
 * a restart on either side) and asks storage for what follows each stream it serves: the
 * lost last item of an idle stream is repaired without every gateway asking about every
 * stream every second. */
static void
on_mark(struct lc_loop *l, struct lc_timer *t)
{
	char *body;
	size_t n;

	for (int k = 0; k < ngw; k++) {
		chat_msg_clear(&out);
		out.seq = fanned[k];
		out.evseq = epoch;
		n = encode_out(CHAT_FANOUT_MARK, &body);
		defer_send(gwname[k], CHAT_FANOUT_MARK, body, n);
	}
	lc_timer_set(l, t, lc_now_ms() + MARK_MS);
}

/* --- streams ------------------------------------------------------------------------------- */

static void
dir_add(const char *dir, int64_t *seq, const char *name)
{
	batch_open();
	if (journal_session_append(J, dir, *seq + 1, 1, name, strlen(name)) < 0)
		jfail("directory append");
	++*seq;
}

/* The item of channel event `pos` of `chan`: seq 0 (outside the message stream), id = pos. */
static void
event_item(struct chat_item *it, const char *chan, int64_t pos, int kind, int64_t ms,
    const char *prefix, const char *text)
{
	memset(it, 0, sizeof *it);
	it->id = (uint64_t)pos;
	it->kind = (uint8_t)kind;
	snprintf(it->target, sizeof it->target, "%s", chan);
	it->time_ms = ms;
	snprintf(it->prefix, sizeof it->prefix, "%s", prefix);
	snprintf(it->text, sizeof it->text, "%s", text);
}

/* Journal a channel event and fan it out. */
static void
chan_event_at(struct bk_chan *c, int kind, const char *prefix, const char *text, int64_t ms)
{
	char data[CHAT_TEXT_MAX + CHAT_PREFIX_MAX + 32];
	struct chat_item it;
	const uint64_t *to = NULL;

	snprintf(data, sizeof data, "%" PRId64 "\n%s\n%s", ms, prefix, text);
	if (kind == CHAT_K_PART || kind == CHAT_K_QUIT) {         /* the leaver's gateway too */
		memcpy(gwprev, chan_gws(c), gwwords * sizeof *gwprev);
		to = gwprev;
	}
	if (c->seq == 0)
		dir_add(DIR_CHANS, &dirseq_chans, c->key);
	batch_open();
	if (journal_session_append(J, c->key, c->seq + 1, kind, data, strlen(data)) < 0)
		jfail("channel append");
	c->seq++;
	if (bk_chan_apply(&chans, c->key, kind, data) < 0)
		lc_die(LC_EXIT_BUG, "channel event: %s", strerror(errno));
	event_item(&it, c->key, c->seq, kind, ms, prefix, text);
	fan_out_to(&it, to ? to : chan_gws(c));
}

static void
chan_event(struct bk_chan *c, int kind, const char *prefix, const char *text)
{
	chan_event_at(c, kind, prefix, text, now_ms());
}

/* The channels nick is a member of, a copy in *v to free (events applied change them). */
static int
nick_chans(const char *nick, struct bk_chan ***v)
{
	int n = bk_nick_chans(&chans, nick, v);

	if (n < 0)
		lc_die(LC_EXIT_TEMP, "out of memory");
	return n;
}

/* The user leaves every channel (QUIT events, one time for all: gateways show it once). */
static void
quit_all(const char *nick, const char *prefix, const char *reason)
{
	int64_t ms = now_ms();
	struct bk_chan **v;
	int n = nick_chans(nick, &v);

	for (int i = 0; i < n; i++)
		chan_event_at(v[i], CHAT_K_QUIT, prefix, reason, ms);
	free(v);
}

/* Journal a session event of `nick`. 1: identical to its last event (a retry): nothing
 * written; 0: written and applied. */
static int
user_event(const char *nick, int kind, const char *data)
{
	struct bk_user *u = bk_user_get(&users, nick);
	char prefix[CHAT_PREFIX_MAX + 1];

	if (!u)
		lc_die(LC_EXIT_TEMP, "out of memory");
	if (u->seq > 0 && u->last_kind == kind && strcmp(u->last_data, data) == 0)
		return 1;
	if (u->seq == 0)
		dir_add(DIR_USERS, &dirseq_users, u->key);
	bk_user_prefix(u, prefix, sizeof prefix);
	batch_open();
	if (journal_session_append(J, u->key, u->seq + 1, kind, data, strlen(data)) < 0)
		jfail("session append");
	u->seq++;
	u->last_kind = kind;
	snprintf(u->last_data, sizeof u->last_data, "%s", data);
	if (bk_user_apply(&users, nick, kind, data) < 0)
		lc_die(LC_EXIT_BUG, "bad session event from %s: kind %d", from, kind);
	if (kind == BK_EV_REG) {
		/* a new connection: the channels it is in may be served by another gateway */
		struct bk_chan **v;
		int nv = nick_chans(nick, &v);
		for (int i = 0; i < nv; i++)
			v[i]->gw_stale = 1;
		free(v);
	}
	if (kind == BK_EV_UNREG) {
		/* the state is empty again: a snapshot ends the stream's replay here */
		if (journal_session_snapshot(J, u->key, u->seq, "", 0) < 0)
			jfail("session snapshot");
		quit_all(nick, prefix, data);
	}
	return 0;
}

/* --- recovery ------------------------------------------------------------------------------ */

struct names {
	char (*v)[CHAT_TARGET_MAX + 1];
	size_t n;
};

static int
dir_cb(void *arg, int64_t seq, int kind, const void *data, size_t len)
{
	struct names *nm = arg;
	void *v = realloc(nm->v, (nm->n + 1) * sizeof *nm->v);

	if (!v || len > CHAT_TARGET_MAX)
		return -1;
	nm->v = v;
	memcpy(nm->v[nm->n], data, len);
	nm->v[nm->n++][len] = '\0';
	return 0;
}

static int
user_snap_cb(void *arg, int64_t seq, const void *data, size_t len)
{
	return bk_user_apply(&users, arg, BK_EV_UNREG, "");
}

static int
user_ev_cb(void *arg, int64_t seq, int kind, const void *data, size_t len)
{
	struct bk_user *u;
	char d[CHAT_TEXT_MAX + 1];

	if (len > CHAT_TEXT_MAX)
		return -1;
	memcpy(d, data, len);
	d[len] = '\0';
	if (bk_user_apply(&users, arg, kind, d) < 0 || !(u = bk_user_find(&users, arg)))
		return -1;
	u->last_kind = kind;
	memcpy(u->last_data, d, len + 1);
	return 0;
}

static int
chan_ev_cb(void *arg, int64_t seq, int kind, const void *data, size_t len)
{
	char d[CHAT_TEXT_MAX + CHAT_PREFIX_MAX + 32];
	struct bk_chan *c;

	if (len >= sizeof d)
		return -1;
	memcpy(d, data, len);
	d[len] = '\0';
	if (!(c = bk_chan_get(&chans, arg)))
		return -1;
	c->seq = seq;           /* the event's position, as chan_event sets it */
	return bk_chan_apply(&chans, arg, kind, d);
}

/* Rebuild users and channels from the journal; then members who are no longer registered
 * (a crash between a user's UNREG and its QUITs) are made to quit. */
static void
recover(void)
{
	struct names nu = { 0 }, nc = { 0 };
	int64_t s;

	if ((dirseq_users = journal_session_load(J, DIR_USERS, NULL, dir_cb, &nu)) < 0 ||
	    (dirseq_chans = journal_session_load(J, DIR_CHANS, NULL, dir_cb, &nc)) < 0)
		jfail("load directories");
	for (size_t i = 0; i < nu.n; i++) {
		if (!bk_user_get(&users, nu.v[i]) ||
		    (s = journal_session_load(J, nu.v[i], user_snap_cb, user_ev_cb, nu.v[i])) < 0)
			jfail("load user");
		bk_user_find(&users, nu.v[i])->seq = s;
	}
	for (size_t i = 0; i < nc.n; i++) {
		struct bk_chan *c = bk_chan_get(&chans, nc.v[i]);
		if (!c || (s = journal_session_load(J, nc.v[i], NULL, chan_ev_cb, nc.v[i])) < 0)
			jfail("load channel");
		c->seq = s;
	}
	for (size_t i = 0; i < chans.n; i++)
		for (size_t k = 0; k < chans.v[i]->n;) {
			struct bk_member *mb = &chans.v[i]->m[k];
			struct bk_user *u = bk_user_find(&users, mb->key);
			if (u && u->registered) {
				k++;
				continue;
			}
			chan_event(chans.v[i], CHAT_K_QUIT, mb->nick, "Connection closed");
		}
	lc_info("recovered %zu users, %zu channels, %" PRId64 " messages", nu.n, nc.n,
	    journal_last_id(J));
	free(nu.v);
	free(nc.v);
}

/* --- requests ------------------------------------------------------------------------------ */

static void
on_post(void)
{
	char nick[CHAT_NICK_MAX + 1];
	unsigned st;
	struct post *p;

	bk_prefix_nick(in.prefix, nick, sizeof nick);
	st = bk_post_check(&chans, &users, nick, in.target);
	if (st == 0 && in.text[0] == '\0')
		st = 412;       /* ERR_NOTEXTTOSEND */
	if (st != 0) {
		chat_msg_clear(&out);
		out.rid = in.rid;
		snprintf(out.conn, sizeof out.conn, "%s", in.conn);
		out.status = (uint16_t)st;
		snprintf(out.target, sizeof out.target, "%s", in.target);
		send_out(from, CHAT_POST_FAILED);
		return;
	}
	if (nposts == capposts) {
		size_t cap = capposts ? 2 * capposts : 64;
		void *v = realloc(posts, cap * sizeof *posts);
		if (!v)
			lc_die(LC_EXIT_TEMP, "out of memory");
		posts = v, capposts = cap;
	}
	p = &posts[nposts++];
	p->rid = in.rid;
	memcpy(p->from, from, sizeof p->from);
	memcpy(p->conn, in.conn, sizeof p->conn);
	memcpy(p->dedupe, in.dedupe, sizeof p->dedupe);
	memcpy(p->prefix, in.prefix, sizeof p->prefix);
	memcpy(p->account, in.account, sizeof p->account);
	bk_fold(in.target, p->target, sizeof p->target);
	memcpy(p->text, in.text, sizeof p->text);
	p->kind = in.op == CHAT_K_NOTICE ? CHAT_K_NOTICE : CHAT_K_PRIVMSG;
}

static void
item_of(struct chat_item *it, const struct jmsg *m)
{
	memset(it, 0, sizeof *it);
	it->seq = (uint64_t)m->chan_seq;
	it->id = (uint64_t)m->id;
	it->kind = m->cmd == JOURNAL_NOTICE ? CHAT_K_NOTICE : CHAT_K_PRIVMSG;
	snprintf(it->target, sizeof it->target, "%s", m->target);
	snprintf(it->msgid, sizeof it->msgid, "%s", m->msgid);
	it->time_ms = m->ts_ms;
	snprintf(it->prefix, sizeof it->prefix, "%s", m->source);
	snprintf(it->account, sizeof it->account, "%s", m->account ? m->account : "");
	snprintf(it->text, sizeof it->text, "%s", m->text);
}

/* The turn's group commit: journal every queued POST in one transaction, then answer and
 * fan out (a retry's original item too: harmless, gateways drop a seq they delivered). */
static void
commit_posts(void)
{
	static struct jin *jin;
	static struct jout *jout;
	static size_t cap;
	struct jmsg m;

	if (nposts == 0)
		return;
	if (cap < nposts) {
		free(jin);
		free(jout);
		cap = capposts;
		if (!(jin = calloc(cap, sizeof *jin)) || !(jout = calloc(cap, sizeof *jout)))
			lc_die(LC_EXIT_TEMP, "out of memory");
	}
	for (size_t i = 0; i < nposts; i++) {
		struct post *p = &posts[i];
		jin[i] = (struct jin){ .target = p->target, .source = p->prefix,
		    .account = p->account[0] ? p->account : NULL, .tags = NULL, .text = p->text,
		    .dedupe = p->dedupe[0] ? p->dedupe : NULL,
		    .cmd = p->kind == CHAT_K_NOTICE ? JOURNAL_NOTICE : JOURNAL_PRIVMSG };
	}
	if (journal_append(J, jin, nposts, jout) < 0)
		jfail("append");
	for (size_t i = 0; i < nposts; i++) {
		struct post *p = &posts[i];
		/* a retry's original may differ from the retry (it is the original that counts) */
		m = (struct jmsg){ .id = jout[i].id, .ts_ms = jout[i].ts_ms,
		    .chan_seq = jout[i].chan_seq, .cmd = jin[i].cmd, .target = p->target,
		    .source = p->prefix, .account = jin[i].account, .text = p->text };
		memcpy(m.msgid, jout[i].msgid, sizeof m.msgid);
		chat_msg_clear(&out);
		out.rid = p->rid;
		memcpy(out.conn, p->conn, sizeof out.conn);
		item_of(&out.item, &m);
		send_out(p->from, CHAT_POSTED);
		fan_out(&out.item);
	}
	nposts = 0;
}

static void
done_reply(unsigned status, const struct bk_chan *c)
{
	uint8_t op = in.op;

	chat_msg_clear(&out);
	out.rid = in.rid;
	memcpy(out.conn, in.conn, sizeof out.conn);
	out.status = (uint16_t)status;
	out.op = op;
	memcpy(out.target, in.target, sizeof out.target);
	if (c && status == 0) {
		memcpy(out.text, c->topic, sizeof out.text);
		memcpy(out.prefix, c->setter, sizeof out.prefix);
		out.time_ms = c->topic_ms;
		bk_chan_names(c, out.names, sizeof out.names);
		const struct bk_member *mb = bk_chan_find_member(c, in.nick);
		if (op == CHAT_K_JOIN && mb) {
			out.seq = (uint64_t)mb->join_seq;
			out.evseq = (uint64_t)mb->join_ev;
		}
	}
	send_out(from, CHAT_CHANNEL_DONE);
}

/* CHANNEL_OP queries, straight from a gateway (nothing journaled); the answer is a
 * CHANNEL_DONE with status 401 (no such nick) or 403 (no such channel), or:
 *   WHO    names = bk_who lines of the channel's members, or of the user a nick target names
 *   WHOIS  prefix = nick!user@host, text = realname, names = its channels ("@#a #b")
 *   LIST   names = bk_chan_list lines of every non-empty channel
 *   MODE   time_ms = the channel's creation; text = the changes asked: 482 unless operator */
static void
on_query(void)
{
	bool chan = in.target[0] == '#';
	struct bk_chan *c = chan ? bk_chan_find(&chans, in.target) : NULL;
	struct bk_user *u = chan ? NULL : bk_user_find(&users, in.target);
	unsigned st = 0;

	if (c && c->n == 0)
		c = NULL;
	if (u && !u->registered)
		u = NULL;
	memset(&out, 0, sizeof out);
	out.rid = in.rid;
	memcpy(out.conn, in.conn, sizeof out.conn);
	out.op = in.op;
	memcpy(out.target, in.target, sizeof out.target);
	if (in.op != CHAT_K_LIST && !c && !u)
		st = chan ? 403 : 401;
	else if (in.op == CHAT_K_LIST)
		bk_chan_list(&chans, out.names, sizeof out.names);
	else if (in.op == CHAT_K_WHO)
		bk_who(c, &users, u, out.names, sizeof out.names);
	else if (in.op == CHAT_K_WHOIS && u) {
		bk_user_prefix(u, out.prefix, sizeof out.prefix);
		snprintf(out.text, sizeof out.text, "%s", u->realname);
		bk_user_chans(&chans, u, out.names, sizeof out.names);
	} else if (in.op == CHAT_K_MODE && c) {
		if (in.text[0] && !bk_chan_is_op(c, in.nick))
			st = 482;
		out.time_ms = c->created_ms;
	} else
		st = 403;       /* WHOIS of a channel, MODE of a nick: not channel / user queries */
	out.status = (uint16_t)st;
	send_out(from, CHAT_CHANNEL_DONE);
}

/* CHANNEL_OP op NICK from the new nick's session (a nick change's MOVE step): nick = old,
 * text = new, conn = the connection both are registered by (else nothing is renamed: a late
 * copy of an old request). One NICK event per channel old is in (one time for all: gateways
 * show it once per user), journaled and fanned out like a QUIT; then CHANNEL_DONE with names
 * = the channels new is in. A retry (storage restarted halfway, or the answer lost) renames
 * what is left and answers the same list. */
static void
on_rename(void)
{
	char pfx[CHAT_PREFIX_MAX + 1];
	int64_t ms = now_ms();

	if (bk_nick_owned(&users, in.nick, in.text, in.conn)) {
		struct bk_chan **v;
		int n = nick_chans(in.nick, &v);
		for (int i = 0; i < n; i++) {
			const struct bk_member *mb = bk_chan_find_member(v[i], in.nick);
			if (!mb || strcmp(mb->nick, in.text) == 0)
				continue;       /* renamed already (case only) */
			snprintf(pfx, sizeof pfx, "%s", mb->prefix[0] ? mb->prefix : mb->nick);
			chan_event_at(v[i], CHAT_K_NICK, pfx, in.text, ms);
		}
		free(v);
	} else
		lc_info("nick %s -> %s for %s: not both its nicks, nothing renamed", in.nick,
		    in.text, in.conn);
	memset(&out, 0, sizeof out);
	out.rid = in.rid;
	memcpy(out.conn, in.conn, sizeof out.conn);
	out.op = CHAT_K_NICK;
	bk_member_chans(&chans, in.text, out.names, sizeof out.names);
	send_out(from, CHAT_CHANNEL_DONE);
}

/* CHANNEL_OP from a session: JOIN (idempotent), PART, TOPIC (set; text may be empty),
 * NAMES (query: names and topic, nothing journaled). Status: 0, 403 no such channel,
 * 442 not on channel, 479 bad channel name. */
static void
on_chanop(void)
{
	struct bk_chan *c = bk_chan_find(&chans, in.target);
	int member = c && bk_chan_member(c, in.nick);

	if (in.op >= CHAT_K_WHO)
		return on_query();
	if (in.op == CHAT_K_NICK)
		return on_rename();
	if (!irc_chan_valid(in.target))
		return done_reply(479, NULL);
	switch (in.op) {
	case CHAT_K_JOIN:
		if (!member) {
			char at[24];
			int64_t last;
			if (!c && !(c = bk_chan_get(&chans, in.target)))
				lc_die(LC_EXIT_TEMP, "out of memory");
			if ((last = journal_last_seq(J, c->key)) < 0)
				jfail("last seq");
			snprintf(at, sizeof at, "%" PRId64, last);
			chan_event(c, CHAT_K_JOIN, in.prefix, at);
		}
		return done_reply(0, c);
	case CHAT_K_PART:
	case CHAT_K_TOPIC:
		if (!c || c->n == 0)
			return done_reply(403, NULL);
		if (!member)
			return done_reply(442, NULL);
		chan_event(c, in.op, in.prefix, in.text);
		return done_reply(0, c);
	case CHAT_K_NAMES:
		return done_reply(c && c->n ? 0 : 403, c);
	}
	done_reply(472, NULL);
}

static int
rows_cb(void *arg, const struct jmsg *m)
{
	if (out.nitems >= CHAT_ITEMS_MAX)
		return 1;
	item_of(&out.items[out.nitems++], m);
	return 0;
}

static int
ev_rows_cb(void *arg, int64_t seq, int kind, const void *data, size_t len)
{
	char d[CHAT_TEXT_MAX + CHAT_PREFIX_MAX + 32], *prefix, *text;
	int64_t ms;

	if (out.nitems >= CHAT_ITEMS_MAX)
		return 1;
	if (len >= sizeof d)
		return 0;               /* not ours to repair: skipped */
	memcpy(d, data, len);
	d[len] = '\0';
	if (bk_chan_event_split(d, &ms, &prefix, &text) < 0)
		return 0;
	event_item(&out.items[out.nitems++], arg, seq, kind, ms, prefix, text);
	return 0;
}

/* SINCE (messages after a seq) and EV_SINCE (a channel's events after a stream position):
 * a gateway's repair, answered by ITEMS. */
static void
on_since(bool events)
{
	char t[CHAT_TARGET_MAX + 1];
	int lim = in.limit > CHAT_ITEMS_MAX ? CHAT_ITEMS_MAX : (int)in.limit, rc = 0;

	bk_fold(in.target, t, sizeof t);
	chat_msg_clear(&out);
	out.rid = in.rid;
	memcpy(out.target, in.target, sizeof out.target);
	if (in.seq > INT64_MAX)
		rc = 0;         /* past any seq: nothing follows */
	else if (!events)
		rc = journal_since(J, t, (int64_t)in.seq, lim, rows_cb, NULL);
	else if (t[0] == '#')
		rc = journal_session_since(J, t, (int64_t)in.seq, lim, ev_rows_cb, t);
	if (rc < 0)
		jfail("since");
	send_out(from, CHAT_ITEMS);
}

/* HISTORY: status 0 (items, possibly none: an unknown msgid gives none), 403 INVALID_TARGET
 * (no such channel, not a member), 461 INVALID_PARAMS (bad ref or subcommand), 500
 * MESSAGE_ERROR (the store failed). A nick target X asked by R: the R<->X conversation (both
 * directions; none for a nick never seen); X == R: every direct message R received, from
 * anyone, oneself included (docs/chatd.md). */
static void
on_history(void)
{
	static const enum journal_kind kinds[] = { [CHAT_H_LATEST] = JOURNAL_LATEST,
	    [CHAT_H_BEFORE] = JOURNAL_BEFORE, [CHAT_H_AFTER] = JOURNAL_AFTER,
	    [CHAT_H_BETWEEN] = JOURNAL_BETWEEN, [CHAT_H_AROUND] = JOURNAL_AROUND };
	char t[CHAT_TARGET_MAX + 1], me[CHAT_NICK_MAX + 1];
	struct bk_chan *c;
	struct jref r1, r2;
	int lim = in.limit > HISTORY_MAX ? HISTORY_MAX : (int)in.limit, rc = 0;
	unsigned st = 0;
	bool dm = false;

	bk_fold(in.target, t, sizeof t);
	bk_fold(in.nick, me, sizeof me);
	chat_msg_clear(&out);
	out.rid = in.rid;
	memcpy(out.conn, in.conn, sizeof out.conn);
	memcpy(out.target, in.target, sizeof out.target);
	if (t[0] == '#')
		st = (c = bk_chan_find(&chans, t)) && bk_chan_member(c, me) ? 0 : 403;
	else
		dm = strcmp(t, me) != 0;
	if (st == 0 && (in.op < CHAT_H_LATEST || in.op > CHAT_H_AROUND ||
	    journal_ref_parse(in.ref1, &r1) < 0 ||
	    (in.op == CHAT_H_BETWEEN && journal_ref_parse(in.ref2, &r2) < 0)))
		st = 461;
	if (st == 0)
		rc = dm ? journal_history_dm(J, me, t, kinds[in.op], &r1, &r2, lim, rows_cb, NULL)
		    : journal_history(J, t, kinds[in.op], &r1, &r2, lim, rows_cb, NULL);
	if (rc < 0) {
		if (errno == EINVAL)
			st = 461;
		else if (errno != ENOENT)
			st = 500, lc_warn("history: %s", journal_errmsg(J));
		out.nitems = 0;
	}
	out.status = (uint16_t)st;
	send_out(from, CHAT_HISTORY_ROWS);
}

static void
on_auth(void)
{
	int r = journal_account_verify(J, in.account, in.password);

	sodium_memzero(in.password, sizeof in.password);
	chat_msg_clear(&out);
	out.rid = in.rid;
	memcpy(out.conn, in.conn, sizeof out.conn);
	memcpy(out.account, in.account, sizeof out.account);
	if (r < 0)
		lc_warn("auth: %s", journal_errmsg(J));
	send_out(from, r == 1 ? CHAT_AUTH_OK : CHAT_AUTH_FAIL);
}

static void
on_session_event(void)
{
	if (in.op < BK_EV_REG || in.op > BK_EV_NICK || in.nick[0] == '\0')
		lc_die(LC_EXIT_BUG, "bad session event from %s: kind %u", from, in.op);
	user_event(in.nick, in.op, in.text);
	chat_msg_clear(&out);
	out.rid = in.rid;
	send_out(from, CHAT_ACK);
}

static void
state_push(uint8_t kind, const char *nick, const char *text)
{
	struct chat_item *it;

	if (out.nitems == CHAT_ITEMS_MAX) {
		send_out(from, CHAT_SESSION_STATE);
		out.nitems = 0;
	}
	it = &out.items[out.nitems++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	snprintf(it->target, sizeof it->target, "%s", nick);
	snprintf(it->text, sizeof it->text, "%s", text);
}

/* SESSION_LOAD (seq = shard, limit = shards): the registered users of the shard as events
 * (REG, then a JOIN per channel), in SESSION_STATE messages of up to CHAT_ITEMS_MAX items;
 * the last one has fewer (possibly none). */
static void
on_session_load(void)
{
	char data[CHAT_TEXT_MAX + 1];

	if (in.limit == 0 || in.seq >= in.limit)
		lc_die(LC_EXIT_BUG, "bad session load from %s", from);
	chat_msg_clear(&out);
	out.rid = in.rid;
	for (size_t i = 0; i < users.n; i++) {
		struct bk_user *u = users.v[i];
		if (!u->registered || chat_shard(u->nick, in.limit) != in.seq)
			continue;
		bk_reg_data(data, sizeof data, u->conn, u->user, u->host, u->realname, u->account);
		state_push(BK_EV_REG, u->nick, data);
		for (size_t k = 0; k < u->nchans; k++)
			state_push(BK_EV_JOIN, u->nick, u->chans[k]);
	}
	send_out(from, CHAT_SESSION_STATE);
}

static void
on_msg(struct lc_actor *a, const struct lc_msg *m, void *arg)
{
	if (m->type < CHAT_REGISTER || m->type >= CHAT_TYPE_END)
		return;         /* DOWN, EXIT, PONG...: nothing of ours */
	nmsgs_turn++;
	snprintf(from, sizeof from, "%.*s", (int)m->fromlen, m->from);
	if (chat_decode(m->type, m->body, m->len, &in) < 0) {
		if (bad_turn++ == 0)
			lc_warn("dropped a malformed %s from %s: %s", chat_type_name(m->type), from,
			    strerror(errno));
		return;
	}
	switch (m->type) {
	case CHAT_POST: on_post(); break;
	case CHAT_CHANNEL_OP: on_chanop(); break;
	case CHAT_SINCE: on_since(false); break;
	case CHAT_EV_SINCE: on_since(true); break;
	case CHAT_HISTORY: on_history(); break;
	case CHAT_AUTH: on_auth(); break;
	case CHAT_SESSION_EVENT: on_session_event(); break;
	case CHAT_SESSION_LOAD: on_session_load(); break;
	default:
		lc_warn("unexpected %s from %s, dropped", chat_type_name(m->type), from);
	}
}

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	lc_loop_break(l);
}

static void
add_accounts(const char *list)
{
	char buf[1024], *save = NULL, *tok, *colon;

	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!(colon = strchr(tok, ':')))
			lc_die(LC_EXIT_USAGE, "account %s: expected NAME:PASSWORD", tok);
		*colon = '\0';
		if (journal_account_create(J, tok, colon + 1) < 0 && errno != EEXIST)
			jfail("account create");
	}
	sodium_memzero(buf, sizeof buf);
}

/* One bounded piece of the journal's deferred work, after the turn's replies went out (the
 * policy and its constants are in journal.h: no checkpoint runs inside a commit): a
 * checkpoint, else an index step when the tail is long (busy) or anything is left to index
 * (idle), else a step of the dedupe filter's rebuild (after a restart or a growth), else
 * (idle) a checkpoint of what is left.
 * 1 if it did something (the next wait should not block), 0 if not. */
static int
background(bool idle)
{
	int r;

	if ((r = journal_checkpoint(J, JOURNAL_CKPT_PAGES)) != 0) {
		if (r < 0)
			jfail("checkpoint");
		return 1;
	}
	if (journal_unindexed(J) >= (idle ? 1 : JOURNAL_INDEX_BUSY)) {
		if (journal_flush_index(J, journal_index_step(J)) < 0)
			jfail("index flush");
		filter_done = false;
		return 1;
	}
	if (!filter_done && (r = journal_filter_step(J, JOURNAL_FILTER_STEP)) != 0) {
		if (r < 0)
			jfail("dedupe filter");
		return 1;
	}
	filter_done = true;	/* until an index flush grows it (cheap to ask again) */
	if (idle && (r = journal_checkpoint(J, 1)) != 0) {
		if (r < 0)
			jfail("checkpoint");
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = { { "journal", 1, NULL, 'j' },
	    { "add-account", 1, NULL, 'a' }, { 0, 0, 0, 0 } };
	const char *path = NULL, *add = NULL, *s;
	struct lc_loop loop;
	struct lc_timer mark;
	sigset_t set;
	bool idle, idle_work = false;
	int c;

	lc_log_init("chat-storage");
	chat_malloc_tune();
	umask(077);             /* the journal (messages, account hashes) is ours alone */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			path = optarg;
		else if (c == 'a')
			add = optarg;
		else
			lc_die(LC_EXIT_USAGE, "usage: chat-storage --journal PATH [--add-account N:P]");
	}
	if (!path)
		lc_die(LC_EXIT_USAGE, "usage: chat-storage --journal PATH [--add-account N:P]");
	ngw = (s = getenv("CHAT_GATEWAYS")) ? atoi(s) : 0;
	if (ngw < 0 || ngw > 4096)
		lc_die(LC_EXIT_USAGE, "CHAT_GATEWAYS=%s: 0 to 4096 gateways", s);
	gateways_init();
	if (!(J = journal_open(path)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open journal %s", path);
	if ((s = getenv("CHAT_PWHASH_FAST")) && *s == '1')
		journal_set_pwhash_limits(J, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
	if (add) {
		add_accounts(add);
		return journal_close(J) < 0 ? LC_EXIT_TEMP : 0;
	}
	if ((s = getenv("CHAT_ACCOUNTS")))
		add_accounts(s);
	if (lc_loop_init(&loop) < 0 || !(A = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	lc_loop_signals(&loop, &set, on_signal, NULL);
	lc_actor_on_bad_frame(A, lc_log_bad_frames, NULL);
	lc_actor_on_message(A, on_msg, NULL);
	lc_actor_cork(A, 1);
	recover();
	lc_actor_cork(A, 0);
	randombytes_buf(&epoch, sizeof epoch);
	epoch |= 1;                             /* never 0: a gateway's "none seen yet" */
	lc_timer_init(&mark, on_mark, NULL);
	lc_timer_set(&loop, &mark, lc_now_ms() + MARK_MS);
	lc_ready();
	while (!loop.stop) {
		/* idle work waits QUIET_MS for a message, then goes on in steps without waiting
		 * (a message that arrives meanwhile waits for one step at most) */
		int wait = journal_unindexed(J) > 0 || journal_wal_pages(J) > 0 || !filter_done ?
		    (idle_work ? 0 : QUIET_MS) : -1;
		lc_actor_cork(A, 1);
		bad_turn = 0;
		in_turn = true;
		if (lc_loop_once(&loop, wait) < 0)
			lc_die_sys(LC_EXIT_TEMP, "loop");
		in_turn = false;
		idle = nmsgs_turn == 0;
		nmsgs_turn = 0;
		batch_commit();
		commit_posts();
		lc_actor_cork(A, 0);
		idle_work = background(idle) && idle;
	}
	/* lc_exit turns the loop while it flushes: no handler may run on freed state */
	lc_actor_on_message(A, NULL, NULL);
	lc_timer_cancel(&loop, &mark);
	journal_close(J);
	bk_users_fini(&users);
	bk_chans_fini(&chans);
	free(posts);
	free(held);
	free(gwname);
	free(fanned);
	free(gwall);
	free(gwone);
	free(gwprev);
	lc_exit(A, "shutdown");
}
