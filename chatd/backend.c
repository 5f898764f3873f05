/* The chat backend's pure state: users from session events, channels from channel events
 * (backend.h). Tables are arrays (in creation order, never shrunk) with a hash index by key:
 * a lookup costs the same with 100,000 users as with ten. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "chatd.h"

void
bk_fold(const char *s, char *out, size_t cap)
{
	snprintf(out, cap, "%s", s);
	irc_casefold(out);
}

void
bk_prefix_nick(const char *prefix, char *out, size_t cap)
{
	size_t n = strcspn(prefix, "!@");

	if (n >= cap)
		n = cap - 1;
	memcpy(out, prefix, n);
	out[n] = '\0';
}

/* --- the index: rows are pointers to structs whose first member is the casefolded key ------ */

_Static_assert(offsetof(struct bk_user, key) == 0, "key first");
_Static_assert(offsetof(struct bk_chan, key) == 0, "key first");
_Static_assert(offsetof(struct bk_where, key) == 0, "key first");

/* The slot holding key k, or the empty slot where it would go. */
static size_t
ix_probe(const struct bk_index *ix, void *const *v, const char *k)
{
	size_t i = chat_shard(k, (unsigned)ix->n);     /* FNV-1a; n is a power of 2 */

	while (ix->slot[i] && strcmp((const char *)v[ix->slot[i] - 1], k) != 0)
		i = (i + 1) & (ix->n - 1);
	return i;
}

/* Row `i` (of `rows`, i included) is new: index it, growing the index first if needed. */
static int
ix_add(struct bk_index *ix, void *const *v, size_t rows, size_t i)
{
	if (rows * 2 > ix->n) {
		size_t n = ix->n ? ix->n : 64;
		while (rows * 2 > n)
			n *= 2;
		size_t *slot = calloc(n, sizeof *slot);
		if (!slot)
			return -1;
		free(ix->slot);
		*ix = (struct bk_index){ .slot = slot, .n = n };
		for (size_t r = 0; r < rows; r++)
			ix->slot[ix_probe(ix, v, (const char *)v[r])] = r + 1;
		return 0;
	}
	ix->slot[ix_probe(ix, v, (const char *)v[i])] = i + 1;
	return 0;
}

static void *
ix_find(const struct bk_index *ix, void *const *v, const char *k)
{
	size_t s;

	if (!ix->n || !(s = ix->slot[ix_probe(ix, v, k)]))
		return NULL;
	return v[s - 1];
}

/* A table's row of key k (casefolded, at most keymax bytes), created zeroed (size bytes, the
 * key first) if there is none; NULL on ENOMEM. */
static void *
row_get(struct bk_index *ix, void ***v, size_t *n, size_t *cap, const char *k, size_t size,
    size_t keymax)
{
	void *r = ix_find(ix, *v, k);

	if (r)
		return r;
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		void **nv = realloc(*v, ncap * sizeof *nv);
		if (!nv)
			return NULL;
		*v = nv, *cap = ncap;
	}
	if (!(r = calloc(1, size)))
		return NULL;
	snprintf(r, keymax + 1, "%s", k);
	(*v)[*n] = r;
	if (ix_add(ix, *v, *n + 1, *n) < 0) {
		free(r);
		return NULL;
	}
	++*n;
	return r;
}

/* --- users --------------------------------------------------------------------------------- */

struct bk_user *
bk_user_find(const struct bk_users *t, const char *nick)
{
	char k[CHAT_NICK_MAX + 1];

	bk_fold(nick, k, sizeof k);
	return ix_find(&t->ix, (void *const *)t->v, k);
}

struct bk_user *
bk_user_get(struct bk_users *t, const char *nick)
{
	char k[CHAT_NICK_MAX + 1];
	struct bk_user *u;

	bk_fold(nick, k, sizeof k);
	if ((u = row_get(&t->ix, (void ***)&t->v, &t->n, &t->cap, k, sizeof *u, CHAT_NICK_MAX)) &&
	    !u->nick[0])
		snprintf(u->nick, sizeof u->nick, "%s", nick);
	return u;
}

int
bk_user_in(const struct bk_user *u, const char *chan)
{
	char k[CHAT_TARGET_MAX + 1];

	bk_fold(chan, k, sizeof k);
	for (size_t i = 0; i < u->nchans; i++)
		if (strcmp(u->chans[i], k) == 0)
			return 1;
	return 0;
}

void
bk_user_prefix(const struct bk_user *u, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s!%s@%s", u->nick, u->user, u->host);
}

int
bk_reg_data(char *buf, size_t cap, const char *conn, const char *user, const char *host,
    const char *realname, const char *account)
{
	int n = snprintf(buf, cap, "%s\n%s\n%s\n%s\n%s", conn, user, host, realname, account);

	if (n < 0 || (size_t)n >= cap)
		return errno = EMSGSIZE, -1;
	return 0;
}

/* Split REG data into the user's fields; -1 if it does not have five. */
static int
apply_reg(struct bk_user *u, const char *data)
{
	char tmp[CHAT_TEXT_MAX + 1], *f[5], *p = tmp;
	char (*dst[5]) = { u->conn, u->user, u->host, u->realname, u->account };
	size_t sz[5] = { sizeof u->conn, sizeof u->user, sizeof u->host, sizeof u->realname,
	    sizeof u->account };

	snprintf(tmp, sizeof tmp, "%s", data);
	for (int i = 0; i < 5; i++) {
		f[i] = p;
		p = strchr(p, '\n');
		if ((p == NULL) != (i == 4))
			return -1;
		if (p)
			*p++ = '\0';
	}
	for (int i = 0; i < 5; i++)
		snprintf(dst[i], sz[i], "%s", f[i]);
	u->registered = 1;
	u->nchans = 0;
	return 0;
}

int
bk_user_apply(struct bk_users *t, const char *nick, int kind, const char *data)
{
	char k[CHAT_TARGET_MAX + 1];
	struct bk_user *u;

	if (kind < BK_EV_REG || kind > BK_EV_NICK)
		return errno = EINVAL, -1;
	if (kind == BK_EV_NICK) {
		bk_fold(data, k, sizeof k);
		if (!(u = bk_user_find(t, nick)) || strcmp(k, u->key) != 0)
			return errno = EINVAL, -1;
		snprintf(u->nick, sizeof u->nick, "%s", data);
		return 0;
	}
	if (!(u = bk_user_get(t, nick)))
		return -1;
	switch (kind) {
	case BK_EV_REG:
		if (apply_reg(u, data) < 0)
			return errno = EINVAL, -1;
		snprintf(u->nick, sizeof u->nick, "%s", nick);
		return 0;
	case BK_EV_UNREG:
		u->registered = 0;
		u->nchans = 0;
		u->conn[0] = '\0';
		return 0;
	}
	bk_fold(data, k, sizeof k);
	for (size_t i = 0; i < u->nchans; i++)
		if (strcmp(u->chans[i], k) == 0) {
			if (kind == BK_EV_PART)
				memmove(u->chans[i], u->chans[i + 1],
				    (u->nchans - i - 1) * sizeof *u->chans), u->nchans--;
			return 0;
		}
	if (kind == BK_EV_PART)
		return 0;
	if (u->nchans == u->capchans) {
		size_t cap = u->capchans ? 2 * u->capchans : 4;
		void *v = realloc(u->chans, cap * sizeof *u->chans);
		if (!v)
			return -1;
		u->chans = v, u->capchans = cap;
	}
	memcpy(u->chans[u->nchans++], k, sizeof k);
	return 0;
}

void
bk_users_fini(struct bk_users *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i]->chans);
		free(t->v[i]);
	}
	free(t->v);
	free(t->ix.slot);
	memset(t, 0, sizeof *t);
}

/* --- channels ------------------------------------------------------------------------------ */

struct bk_chan *
bk_chan_find(const struct bk_chans *t, const char *chan)
{
	char k[CHAT_TARGET_MAX + 1];

	bk_fold(chan, k, sizeof k);
	return ix_find(&t->ix, (void *const *)t->v, k);
}

struct bk_chan *
bk_chan_get(struct bk_chans *t, const char *chan)
{
	char k[CHAT_TARGET_MAX + 1];

	bk_fold(chan, k, sizeof k);
	return row_get(&t->ix, (void ***)&t->v, &t->n, &t->cap, k, sizeof(struct bk_chan),
	    CHAT_TARGET_MAX);
}

/* --- where each nick is a member ----------------------------------------------------------- */

static struct bk_where *
where_find(const struct bk_chans *t, const char *key)
{
	return ix_find(&t->wix, (void *const *)t->w, key);
}

/* The channels of nick (not casefolded yet), or NULL if it was never a member. */
static const struct bk_where *
where_of(const struct bk_chans *t, const char *nick)
{
	char k[CHAT_NICK_MAX + 1];

	bk_fold(nick, k, sizeof k);
	return where_find(t, k);
}

/* c is a channel of the member with casefolded nick `key` (at the end: join order). */
static int
where_add(struct bk_chans *t, const char *key, struct bk_chan *c)
{
	struct bk_where *w = row_get(&t->wix, (void ***)&t->w, &t->wn, &t->wcap, key, sizeof *w,
	    CHAT_NICK_MAX);

	if (!w)
		return -1;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 4;
		void *v = realloc(w->c, cap * sizeof *w->c);
		if (!v)
			return -1;
		w->c = v, w->cap = cap;
	}
	w->c[w->n++] = c;
	return 0;
}

static void
where_del(struct bk_chans *t, const char *key, const struct bk_chan *c)
{
	struct bk_where *w = where_find(t, key);

	for (size_t i = 0; w && i < w->n; i++)
		if (w->c[i] == c) {
			memmove(w->c + i, w->c + i + 1, (w->n - i - 1) * sizeof *w->c);
			w->n--;
			return;
		}
}

int
bk_nick_chans(const struct bk_chans *t, const char *nick, struct bk_chan ***v)
{
	const struct bk_where *w = where_of(t, nick);

	*v = NULL;
	if (!w || w->n == 0)
		return 0;
	if (!(*v = malloc(w->n * sizeof **v)))
		return -1;
	memcpy(*v, w->c, w->n * sizeof **v);
	return (int)w->n;
}

static struct bk_member *
member(const struct bk_chan *c, const char *nick)
{
	char k[CHAT_NICK_MAX + 1];

	bk_fold(nick, k, sizeof k);
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->m[i].key, k) == 0)
			return &c->m[i];
	return NULL;
}

int
bk_chan_member(const struct bk_chan *c, const char *nick)
{
	return member(c, nick) != NULL;
}

const struct bk_member *
bk_chan_find_member(const struct bk_chan *c, const char *nick)
{
	return member(c, nick);
}

int
bk_chan_is_op(const struct bk_chan *c, const char *nick)
{
	const struct bk_member *mb = member(c, nick);

	return mb && mb->op;
}

int
bk_chan_event_split(char *data, int64_t *ms, char **prefix, char **text)
{
	char *a = strchr(data, '\n'), *b, *end;

	if (!a || !(b = strchr(a + 1, '\n')))
		return errno = EINVAL, -1;
	*a = *b = '\0';
	*ms = strtoll(data, &end, 10);
	if (*end != '\0' || end == data)
		return errno = EINVAL, -1;
	*prefix = a + 1;
	*text = b + 1;
	return 0;
}

/* A NICK event: the member `mb` (if any) is `to` from now on, with its user@host; if `to` is
 * a member already (it cannot be, but a journal is what it is), the two become one. */
static int
chan_rename(struct bk_chans *t, struct bk_chan *c, struct bk_member *mb, const char *to)
{
	struct bk_member *other;
	const char *uh;
	char prefix[CHAT_PREFIX_MAX + 1];

	if (!to[0] || strlen(to) > CHAT_NICK_MAX || strpbrk(to, "!@ "))
		return errno = EINVAL, -1;
	if (!mb)
		return 0;               /* renamed already, or gone */
	if ((other = member(c, to)) && other != mb) {
		other->op |= mb->op;
		where_del(t, mb->key, c);
		*mb = c->m[--c->n];
		c->gw_stale = 1;
		return 0;
	}
	uh = strchr(mb->prefix, '!');
	snprintf(prefix, sizeof prefix, "%s%s", to, uh ? uh : "");
	memcpy(mb->prefix, prefix, sizeof mb->prefix);
	char key[CHAT_NICK_MAX + 1];
	bk_fold(to, key, sizeof key);
	if (strcmp(key, mb->key)) {
		if (where_add(t, key, c) < 0)
			return -1;
		where_del(t, mb->key, c);
	}
	memcpy(mb->key, key, sizeof mb->key);
	snprintf(mb->nick, sizeof mb->nick, "%s", to);
	return 0;
}

int
bk_chan_apply(struct bk_chans *t, const char *chan, int kind, const char *data)
{
	char tmp[CHAT_TEXT_MAX + CHAT_PREFIX_MAX + 32], nick[CHAT_NICK_MAX + 1], *prefix, *text;
	struct bk_member *mb;
	struct bk_chan *c;
	int64_t ms;

	snprintf(tmp, sizeof tmp, "%s", data);
	if (bk_chan_event_split(tmp, &ms, &prefix, &text) < 0)
		return -1;
	if (kind != CHAT_K_JOIN && kind != CHAT_K_PART && kind != CHAT_K_QUIT &&
	    kind != CHAT_K_TOPIC && kind != CHAT_K_NICK)
		return errno = EINVAL, -1;
	if (!(c = bk_chan_get(t, chan)))
		return -1;
	bk_prefix_nick(prefix, nick, sizeof nick);
	mb = member(c, nick);
	if (kind == CHAT_K_NICK)
		return chan_rename(t, c, mb, text);
	if (kind == CHAT_K_TOPIC) {
		snprintf(c->topic, sizeof c->topic, "%s", text);
		snprintf(c->setter, sizeof c->setter, "%s", prefix);
		c->topic_ms = ms;
	} else if (kind == CHAT_K_JOIN && !mb) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 8;
			void *v = realloc(c->m, cap * sizeof *c->m);
			if (!v)
				return -1;
			c->m = v, c->cap = cap;
		}
		char key[CHAT_NICK_MAX + 1];
		bk_fold(nick, key, sizeof key);
		if (where_add(t, key, c) < 0)
			return -1;
		mb = &c->m[c->n++];
		memcpy(mb->key, key, sizeof mb->key);
		snprintf(mb->nick, sizeof mb->nick, "%s", nick);
		snprintf(mb->prefix, sizeof mb->prefix, "%s", prefix);
		mb->op = c->n == 1;     /* joining an empty channel creates it: its operator */
		mb->join_seq = strtoll(text, NULL, 10);        /* "" (older journals): 0 */
		if (mb->join_seq < 0)
			mb->join_seq = 0;
		mb->join_ev = c->seq;
		if (c->n == 1)
			c->created_ms = ms;
		c->gw_stale = 1;
	} else if (kind != CHAT_K_JOIN && mb) {
		where_del(t, mb->key, c);
		*mb = c->m[--c->n];
		c->gw_stale = 1;
		if (c->n == 0)  /* an empty channel ceases to exist, topic included (IRC) */
			c->topic[0] = c->setter[0] = '\0', c->topic_ms = c->created_ms = 0;
	}
	return 0;
}

/* Append the formatted text to buf[cap] (length *len) if it fits whole with its NUL; 0, or
 * -1 and nothing appended. */
static int
appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len) {
		buf[*len] = '\0';
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

static const char *
member_prefix(const struct bk_member *mb)
{
	return mb->prefix[0] ? mb->prefix : mb->nick;
}

void
bk_chan_names(const struct bk_chan *c, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n; i++)
		if (appendf(buf, cap, &len, "%s%s%s", len ? " " : "", c->m[i].op ? "@" : "",
		    member_prefix(&c->m[i])) < 0)
			break;
}

void
bk_who(const struct bk_chan *c, const struct bk_users *ut, const struct bk_user *u,
    char *buf, size_t cap)
{
	char prefix[CHAT_PREFIX_MAX + 1];
	size_t len = 0;

	buf[0] = '\0';
	if (!c) {
		bk_user_prefix(u, prefix, sizeof prefix);
		(void)appendf(buf, cap, &len, "%s %s\n", prefix, u->realname);
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct bk_user *mu = bk_user_find(ut, c->m[i].nick);
		if (appendf(buf, cap, &len, "%s%s %s\n", c->m[i].op ? "@" : "",
		    member_prefix(&c->m[i]), mu ? mu->realname : "") < 0)
			break;
	}
}

void
bk_user_chans(const struct bk_chans *ct, const struct bk_user *u, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < u->nchans; i++) {
		const struct bk_chan *c = bk_chan_find(ct, u->chans[i]);
		const struct bk_member *mb = c ? member(c, u->nick) : NULL;
		if (mb && appendf(buf, cap, &len, "%s%s%s", len ? " " : "", mb->op ? "@" : "",
		    c->key) < 0)
			break;
	}
}

void
bk_member_chans(const struct bk_chans *ct, const char *nick, char *buf, size_t cap)
{
	const struct bk_where *w = where_of(ct, nick);
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; w && i < w->n; i++)
		if (appendf(buf, cap, &len, "%s%s", len ? " " : "", w->c[i]->key) < 0)
			break;
}

int
bk_nick_owned(const struct bk_users *ut, const char *from, const char *to, const char *conn)
{
	const struct bk_user *a = bk_user_find(ut, from), *b = bk_user_find(ut, to);

	return a && b && a->registered && b->registered && conn[0] &&
	    strcmp(a->conn, conn) == 0 && strcmp(b->conn, conn) == 0;
}

void
bk_chan_list(const struct bk_chans *ct, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ct->n; i++) {
		const struct bk_chan *c = ct->v[i];
		if (c->n == 0)
			continue;
		if (appendf(buf, cap, &len, "%s %zu %s\n", c->key, c->n, c->topic) < 0)
			break;
	}
}

void
bk_chans_fini(struct bk_chans *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i]->m);
		free(t->v[i]->gw);
		free(t->v[i]);
	}
	free(t->v);
	free(t->ix.slot);
	for (size_t i = 0; i < t->wn; i++) {
		free(t->w[i]->c);
		free(t->w[i]);
	}
	free(t->w);
	free(t->wix.slot);
	memset(t, 0, sizeof *t);
}

unsigned
bk_post_check(const struct bk_chans *ct, const struct bk_users *ut, const char *sender,
    const char *target)
{
	const struct bk_chan *c;
	const struct bk_user *u;

	if (target[0] != '#') {
		u = bk_user_find(ut, target);
		return u && u->registered ? 0 : 401;
	}
	c = bk_chan_find(ct, target);
	if (!c || c->n == 0)
		return 403;
	return bk_chan_member(c, sender) ? 0 : 404;
}
