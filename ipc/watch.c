/* The tree watcher: every supervisor's events, in order, none lost (letitcrash/watch.h).
 *
 * Per supervisor: one REQ socket to its control socket (asynchronous requests from the loop,
 * one at a time: `info`, then `events LAST` when behind), and its event bus connected to the
 * watcher's one SUB socket. `last` is the seq of the last event delivered; an event from PUB
 * is delivered only if it is exactly last + 1, else a gap is noted and the ring is asked. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "letitcrash/sock.h"
#include "letitcrash/time.h"
#include "letitcrash/watch.h"

#define RUNDIR_MAX 200

enum pending { P_NONE, P_INFO, P_EVENTS };

struct wsup {
	struct lc_watch *w;
	char name[LC_WATCH_NAMEMAX + 1];
	char parent[LC_WATCH_NAMEMAX + 1];
	pid_t pid;              /* 0: not known yet */
	uint64_t last;          /* seq of the last event delivered */
	int dead;               /* its exit was seen: ignore it until a new pid answers */
	int req;                /* REQ socket, -1 if none */
	struct lc_io io;
	enum pending pending;
	int64_t deadline;
	int want_events;        /* a gap was seen while a request was out */
};

struct wname {
	char name[LC_WATCH_NAMEMAX + 1];
	struct wsup *sup;
	pid_t pid;              /* 0: no process now */
	unsigned n;
	char last_reason[64];   /* the last exit's reason, "" if none seen */
};

struct lc_watch {
	char rundir[RUNDIR_MAX + 1];
	struct lc_loop *loop;
	int flags;
	lc_watch_fn *fn;
	void *arg;
	int sub;
	struct lc_io subio;
	struct lc_timer tick;
	struct wsup **sups;
	size_t nsups, capsups;
	struct wname *names;    /* entries are never removed: indices stay valid */
	size_t nnames, capnames;
	struct lc_watch_stats st;
};

/* --- parsing --------------------------------------------------------------------------------- */

static int
is_name_ch(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '.' || c == '-';
}

/* Copy a token [p, end) of allowed characters up to a blank into out (max bytes); advance *p. */
static int
token(const char **p, const char *end, char *out, size_t max, int event)
{
	size_t n = 0;
	while (*p < end && **p != ' ') {
		int c = (unsigned char)**p;
		if (event ? !((c >= 'a' && c <= 'z') || c == '_') : !is_name_ch(c))
			return -1;
		if (n == max)
			return -1;
		out[n++] = (char)c;
		(*p)++;
	}
	out[n] = 0;
	return n ? 0 : -1;
}

static int
number(const char **p, const char *end, const char *key, uint64_t max, uint64_t *v)
{
	size_t kl = strlen(key);
	if ((size_t)(end - *p) < kl || memcmp(*p, key, kl) != 0)
		return -1;
	*p += kl;
	uint64_t x = 0;
	const char *start = *p;
	while (*p < end && **p >= '0' && **p <= '9') {
		unsigned d = (unsigned)(**p - '0');
		if (x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
		(*p)++;
	}
	if (*p == start || *p - start > 20)
		return -1;
	*v = x;
	return 0;
}

static int
blank(const char **p, const char *end)
{
	if (*p >= end || **p != ' ')
		return -1;
	(*p)++;
	return 0;
}

static int
parse(const char *p, const char *end, struct lc_watch_event *ev)
{
	uint64_t v;
	memset(ev, 0, sizeof *ev);
	if (token(&p, end, ev->event, LC_WATCH_EVENTMAX, 1) || blank(&p, end) ||
	    token(&p, end, ev->child, LC_WATCH_NAMEMAX, 0) || blank(&p, end))
		return -1;
	if ((size_t)(end - p) < 4 || memcmp(p, "sup=", 4) != 0)
		return -1;
	p += 4;
	if (token(&p, end, ev->sup, LC_WATCH_NAMEMAX, 0) || blank(&p, end))
		return -1;
	if (number(&p, end, "seq=", UINT64_MAX, &ev->seq) || blank(&p, end) ||
	    number(&p, end, "time=", INT64_MAX, &v) || blank(&p, end))
		return -1;
	ev->time = (int64_t)v;
	if (number(&p, end, "pid=", 0x7fffffff, &v) || (ev->pid = (pid_t)v, 0) ||
	    blank(&p, end) || number(&p, end, "n=", 0xffffffffu, &v))
		return -1;
	ev->n = (unsigned)v;
	if (p == end)
		return 0;
	if (blank(&p, end) || (size_t)(end - p) < 8 || memcmp(p, "reason=", 7) != 0)
		return -1;
	p += 7;
	size_t n = (size_t)(end - p);
	if (n > LC_WATCH_REASONMAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	memcpy(ev->reason, p, n);
	ev->reason[n] = 0;
	ev->has_reason = 1;
	return 0;
}

int
lc_watch_parse(const char *line, size_t len, struct lc_watch_event *ev)
{
	if (len && line[len - 1] == '\n')
		len--;
	if (len > LC_WATCH_LINEMAX || parse(line, line + len, ev) < 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/* --- tables ---------------------------------------------------------------------------------- */

static struct wsup *
sup_find(struct lc_watch *w, const char *name)
{
	for (size_t i = 0; i < w->nsups; i++)
		if (strcmp(w->sups[i]->name, name) == 0)
			return w->sups[i];
	return NULL;
}

static struct wname *
name_find(struct lc_watch *w, const char *name)
{
	for (size_t i = 0; i < w->nnames; i++)
		if (strcmp(w->names[i].name, name) == 0)
			return &w->names[i];
	return NULL;
}

static struct wname *
name_get(struct lc_watch *w, const char *name)
{
	struct wname *e = name_find(w, name);
	if (e)
		return e;
	if (w->nnames == w->capnames) {
		size_t cap = w->capnames ? 2 * w->capnames : 64;
		struct wname *t = realloc(w->names, cap * sizeof *t);
		if (!t)
			return NULL;
		w->names = t;
		w->capnames = cap;
	}
	e = &w->names[w->nnames++];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	return e;
}

/* --- requests -------------------------------------------------------------------------------- */

static size_t
words(char *buf, size_t cap, const char *cmd, const char *arg)
{
	size_t a = strlen(cmd) + 1, b = arg ? strlen(arg) + 1 : 0;
	if (a + b > cap)
		return 0;
	memcpy(buf, cmd, a);
	if (arg)
		memcpy(buf + a, arg, b);
	return a + b;
}

static int
req_send(struct wsup *s, enum pending kind, uint64_t arg)
{
	char buf[64], num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)arg);
	size_t len = words(buf, sizeof buf, kind == P_INFO ? "info" : "events",
	    kind == P_INFO ? NULL : num);
	s->pending = P_NONE;
	if (s->req < 0 || lc_sock_send(s->req, buf, len, LC_SOCK_DONTWAIT) < 0)
		return -1;
	s->pending = kind;
	s->deadline = lc_now_ms() + LC_WATCH_REQ_MS;
	return 0;
}

/* What a reply answers, from its shape: `info` ("ok\nname\t..."), `events` ("ok N..."), or
 * something else (which_children, an error). A reply is handled by what it is, not by what
 * we think we asked last: one to an abandoned request may still come in. */
static enum pending
reply_kind(const char *r)
{
	if (strncmp(r, "ok ", 3) == 0 && r[3] >= '0' && r[3] <= '9')
		return P_EVENTS;
	if (strncmp(r, "ok\nname\t", 8) == 0)
		return P_INFO;
	return P_NONE;
}

/* A blocking request (each step at most LC_WATCH_REQ_MS); abandons any asynchronous one.
 * Returns the reply, malloc'd and NUL-terminated, or NULL. */
static char *
req_sync(struct wsup *s, const char *cmd, const char *arg)
{
	char buf[64];
	size_t len = words(buf, sizeof buf, cmd, arg);
	enum pending want = !strcmp(cmd, "info") ? P_INFO : !strcmp(cmd, "events") ? P_EVENTS :
	    P_NONE;
	s->pending = P_NONE;
	if (s->req < 0 || lc_sock_send(s->req, buf, len, 0) < 0) {
		s->w->st.timeouts++;
		return NULL;
	}
	for (int tries = 0; tries < 4; tries++) {
		void *m;
		ssize_t n = lc_sock_recv(s->req, &m, 0);
		if (n < 0)
			break;
		char *r = malloc((size_t)n + 1);
		if (r) {
			memcpy(r, m, (size_t)n);
			r[n] = 0;
		}
		lc_sock_free(m);
		if (!r || reply_kind(r) == want)
			return r;
		free(r);        /* a late answer to an abandoned request */
	}
	s->w->st.timeouts++;
	return NULL;
}

/* --- delivering -------------------------------------------------------------------------------- */

static void sup_dead(struct lc_watch *w, struct wsup *s, const char *reason);
static struct wsup *sup_add(struct lc_watch *w, const char *name);

static int
has_ctl(struct lc_watch *w, const char *name)
{
	char path[RUNDIR_MAX + LC_WATCH_NAMEMAX + 16];
	snprintf(path, sizeof path, "%s/sup/%s.ctl", w->rundir, name);
	return access(path, F_OK) == 0;
}

/* Keep the name table, follow supervisors coming and going, then run the callback. */
static void
apply(struct lc_watch *w, struct wsup *s, const struct lc_watch_event *ev)
{
	struct wname *e = name_get(w, ev->child);
	int gone = !strcmp(ev->event, "exit") || !strcmp(ev->event, "ignore") ||
	    !strcmp(ev->event, "start_error");
	if (e && (!strcmp(ev->event, "spawn") || !strcmp(ev->event, "start"))) {
		e->sup = s;
		e->pid = ev->pid;
		e->n = ev->n;
	} else if (e && gone && e->pid == ev->pid) {
		e->pid = 0;
		const char *r = ev->has_reason ? ev->reason : "";
		size_t n = strnlen(r, sizeof e->last_reason - 1);
		memcpy(e->last_reason, r, n);
		e->last_reason[n] = 0;
	}
	w->st.events++;
	if (w->fn)
		w->fn(w, ev, w->arg);
	struct wsup *cs = sup_find(w, ev->child);
	if (gone && cs && !cs->dead && ev->pid && (cs->pid == ev->pid || cs->pid == 0))
		sup_dead(w, cs, ev->has_reason && !strcmp(ev->reason, "killed") ? "killed" : "shutdown");
	else if (!strcmp(ev->event, "start") && (cs || has_ctl(w, ev->child))) {
		if (!cs)
			cs = sup_add(w, ev->child);
		if (cs && cs->pid != ev->pid && cs->pending == P_NONE)
			req_send(cs, P_INFO, 0);
	}
}

/* A supervisor died: so did every child it still had. */
static void
sup_dead(struct lc_watch *w, struct wsup *s, const char *reason)
{
	s->dead = 1;
	for (size_t i = 0; i < w->nnames; i++) {
		struct wname *e = &w->names[i];
		if (e->sup != s || e->pid == 0)
			continue;
		struct lc_watch_event ev = { .seq = 0, .pid = e->pid, .n = e->n, .has_reason = 1 };
		snprintf(ev.event, sizeof ev.event, "exit");
		snprintf(ev.child, sizeof ev.child, "%s", e->name);
		snprintf(ev.sup, sizeof ev.sup, "%s", s->name);
		snprintf(ev.reason, sizeof ev.reason, "%s", reason);
		ev.time = lc_wall_ms();
		w->st.synthetic++;
		apply(w, s, &ev);       /* recurses into nested supervisors */
	}
}

/* One line from PUB (ring = 0) or from the ring. */
static void
deliver(struct lc_watch *w, const char *line, size_t len, int ring)
{
	struct lc_watch_event ev;
	if (lc_watch_parse(line, len, &ev) < 0) {
		w->st.bad_lines++;
		return;
	}
	struct wsup *s = sup_find(w, ev.sup);
	if (!s || s->dead || ev.seq <= s->last)
		return;
	if (ev.seq != s->last + 1 && !ring) {
		w->st.gaps++;
		if (s->pending == P_NONE)
			req_send(s, P_EVENTS, s->last);
		else
			s->want_events = 1;
		return;
	}
	s->last = ev.seq;       /* from the ring, a jump means the ring had already moved on */
	if (ring)
		w->st.from_ring++;
	apply(w, s, &ev);
}

/* --- replies ----------------------------------------------------------------------------------- */

static const char *
kv(const char *reply, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	for (const char *l = reply; l; l = strchr(l, '\n')) {
		l += *l == '\n';
		if (strncmp(l, key, kl) == 0 && l[kl] == '\t') {
			size_t n = strcspn(l + kl + 1, "\n");
			snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), l + kl + 1);
			return out;
		}
	}
	return NULL;
}

/* `info`: notice a new incarnation (new pid), then ask for what is missing. */
static void
on_info(struct lc_watch *w, struct wsup *s, const char *reply, uint64_t *seqp)
{
	char pid[32] = "", seq[32] = "";
	if (strncmp(reply, "ok", 2) || !kv(reply, "pid", pid, sizeof pid) ||
	    !kv(reply, "seq", seq, sizeof seq))
		return;
	kv(reply, "parent", s->parent, sizeof s->parent);
	pid_t p = (pid_t)atoi(pid);
	uint64_t last = strtoull(seq, NULL, 10);
	if (p != s->pid) {
		if (s->pid != 0) {
			w->st.sup_restarts++;
			if (!s->dead)
				sup_dead(w, s, "killed");
		}
		s->pid = p;
		s->dead = 0;
		s->last = 0;
	}       /* same pid: a lower seq is only an old answer; never go back */
	if (seqp)
		*seqp = last;
	else if (last > s->last)
		req_send(s, P_EVENTS, s->last);
}

static void
on_events(struct lc_watch *w, struct wsup *s, char *reply)
{
	if (strncmp(reply, "ok ", 3) != 0 || s->dead)
		return;
	/* A new incarnation (seq from 1 again) is noticed by its pid (on_info), never from a
	 * lower LAST here: that may be the answer to an abandoned request. */
	char *l = strchr(reply, '\n');
	while (l && !s->dead) {
		char *line = l + 1;
		l = strchr(line, '\n');
		deliver(w, line, l ? (size_t)(l - line) : strlen(line), 1);
	}
}

static void
on_req(struct lc_loop *loop, struct lc_io *io, uint32_t events)
{
	struct wsup *s = io->arg;
	void *m;
	ssize_t n = lc_sock_recv(s->req, &m, LC_SOCK_DONTWAIT);
	if (n < 0)
		return;
	char *r = malloc((size_t)n + 1);
	if (r) {
		memcpy(r, m, (size_t)n);
		r[n] = 0;
		enum pending kind = reply_kind(r);
		if (kind == s->pending || strncmp(r, "ok", 2) != 0)
			s->pending = P_NONE;
		if (kind == P_INFO)
			on_info(s->w, s, r, NULL);
		else if (kind == P_EVENTS)
			on_events(s->w, s, r);
		free(r);
	}
	lc_sock_free(m);
	if (s->want_events && s->pending == P_NONE) {
		s->want_events = 0;
		req_send(s, P_EVENTS, s->last);
	}
}

static void
on_sub(struct lc_loop *loop, struct lc_io *io, uint32_t events)
{
	struct lc_watch *w = io->arg;
	for (int i = 0; i < LC_LOOP_BATCH; i++) {
		void *m;
		ssize_t n = lc_sock_recv(w->sub, &m, LC_SOCK_DONTWAIT);
		if (n < 0)
			return;
		deliver(w, m, (size_t)n, 0);
		lc_sock_free(m);
	}
}

/* --- supervisors --------------------------------------------------------------------------- */

static struct wsup *
sup_add(struct lc_watch *w, const char *name)
{
	char addr[LC_SOCK_PATHMAX + 16], rel[LC_WATCH_NAMEMAX + 16];
	struct wsup *s = sup_find(w, name);
	if (s)
		return s;
	if (w->nsups == w->capsups) {
		size_t cap = w->capsups ? 2 * w->capsups : 16;
		struct wsup **t = realloc(w->sups, cap * sizeof *t);
		if (!t)
			return NULL;
		w->sups = t;
		w->capsups = cap;
	}
	if (!(s = calloc(1, sizeof *s)))
		return NULL;
	s->w = w;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->req = -1;
	snprintf(rel, sizeof rel, "sup/%s.ctl", name);
	if (lc_sock_ipc_addr(addr, sizeof addr, w->rundir, rel) < 0 ||
	    (s->req = lc_sock_open(LC_SOCK_REQ)) < 0 ||
	    lc_sock_timeouts(s->req, LC_WATCH_REQ_MS, LC_WATCH_REQ_MS) < 0 ||
	    lc_sock_connect(s->req, addr) < 0)
		goto fail;
	s->io = (struct lc_io){ .fd = lc_sock_recv_fd(s->req), .fn = on_req, .arg = s };
	if (s->io.fd < 0 || lc_io_start(w->loop, &s->io, EPOLLIN) < 0)
		goto fail;
	snprintf(rel, sizeof rel, "sup/%s.ev", name);
	if (lc_sock_ipc_addr(addr, sizeof addr, w->rundir, rel) < 0 ||
	    lc_sock_connect(w->sub, addr) < 0) {
		lc_io_stop(w->loop, &s->io);
		goto fail;
	}
	w->sups[w->nsups++] = s;
	w->st.sups = w->nsups;
	return s;
fail:
	if (s->req >= 0)
		lc_sock_close(s->req);
	free(s);
	return NULL;
}

/* Children of s from which_children: names and pids; the names of its running nested
 * supervisors are returned in *subs (malloc'd), their number as the result. */
static size_t
load_children(struct lc_watch *w, struct wsup *s, char (**subs)[LC_WATCH_NAMEMAX + 1])
{
	size_t nsub = 0;
	*subs = NULL;
	char *r = req_sync(s, "which_children", NULL);
	if (!r)
		return 0;
	char *l = strncmp(r, "ok", 2) == 0 ? strchr(r, '\n') : NULL;
	while (l) {
		char *line = l + 1, *f[4] = { 0 };
		if ((l = strchr(line, '\n')))
			*l = 0;
		for (int i = 0; i < 4 && line; i++)
			f[i] = strsep(&line, "\t");
		if (!f[3] || !*f[0] || strlen(f[0]) > LC_WATCH_NAMEMAX)
			continue;
		struct wname *e = name_get(w, f[0]);
		if (e) {
			e->sup = s;
			e->pid = (pid_t)atoi(f[1]);     /* "undefined", "restarting": 0 */
		}
		if (!strcmp(f[2], "supervisor") && !strcmp(f[3], "running")) {
			char (*t)[LC_WATCH_NAMEMAX + 1] = realloc(*subs, (nsub + 1) * sizeof *t);
			if (!t)
				break;
			*subs = t;
			snprintf(t[nsub++], sizeof *t, "%s", f[0]);
		}
	}
	free(r);
	return nsub;
}

/* Follow supervisor `name` and, depth first, its nested ones, waiting for the answers:
 * info (pid, seq), [the ring: history], which_children (who runs now), then the events since
 * info (replayed over which_children's state: each event sets what it says, so the table ends
 * right whatever the order of the two answers). */
static void
follow(struct lc_watch *w, const char *name, int depth)
{
	if (sup_find(w, name) || depth > 64)
		return;
	struct wsup *s = sup_add(w, name);
	uint64_t seq = 0;
	char *r = s ? req_sync(s, "info", NULL) : NULL;
	if (!r)
		return;         /* the resync timer tries again */
	on_info(w, s, r, &seq);
	free(r);
	if (w->flags & LC_WATCH_HISTORY) {
		if ((r = req_sync(s, "events", "0")))
			on_events(w, s, r);
		free(r);
	} else
		s->last = seq;
	char (*subs)[LC_WATCH_NAMEMAX + 1];
	size_t nsub = load_children(w, s, &subs);
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)s->last);
	if ((r = req_sync(s, "events", num)))
		on_events(w, s, r);
	free(r);
	for (size_t i = 0; i < nsub; i++)
		follow(w, subs[i], depth + 1);
	free(subs);
}

/* Supervisors that appeared without our seeing their start (RUNDIR/sup/NAME.ctl). */
static void
rescan(struct lc_watch *w)
{
	char path[RUNDIR_MAX + 8];
	snprintf(path, sizeof path, "%s/sup", w->rundir);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n <= 4 || n - 4 > LC_WATCH_NAMEMAX || strcmp(de->d_name + n - 4, ".ctl"))
			continue;
		char name[LC_WATCH_NAMEMAX + 1];
		snprintf(name, sizeof name, "%.*s", (int)(n - 4), de->d_name);
		if (!sup_find(w, name)) {
			struct wsup *s = sup_add(w, name);
			if (s)
				req_send(s, P_INFO, 0);
		}
	}
	closedir(d);
}

/* Every LC_WATCH_RESYNC_MS: abandon late requests, ask every supervisor where it is. */
static void
on_tick(struct lc_loop *loop, struct lc_timer *t)
{
	struct lc_watch *w = t->arg;
	int64_t now = lc_now_ms();
	rescan(w);
	for (size_t i = 0; i < w->nsups; i++) {
		struct wsup *s = w->sups[i];
		if (s->pending != P_NONE && now >= s->deadline) {
			s->pending = P_NONE;    /* the next request cancels it */
			w->st.timeouts++;
		}
		if (s->pending == P_NONE)
			req_send(s, P_INFO, 0);
	}
	lc_timer_set(loop, t, now + LC_WATCH_RESYNC_MS);
}

/* --- API ----------------------------------------------------------------------------------- */

struct lc_watch *
lc_watch_open(const char *rundir, struct lc_loop *loop, int flags, lc_watch_fn *fn, void *arg)
{
	char path[RUNDIR_MAX + 8], root[LC_WATCH_NAMEMAX + 2];
	if (strlen(rundir) > RUNDIR_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	snprintf(path, sizeof path, "%s/root", rundir);
	FILE *f = fopen(path, "re");
	int ok = f && fgets(root, sizeof root, f);
	if (f)
		fclose(f);
	root[ok ? strcspn(root, "\n") : 0] = 0;
	if (!ok || !*root) {
		errno = ESRCH;
		return NULL;
	}
	struct lc_watch *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	snprintf(w->rundir, sizeof w->rundir, "%s", rundir);
	w->loop = loop;
	w->flags = flags;
	w->fn = fn;
	w->arg = arg;
	if ((w->sub = lc_sock_open(LC_SOCK_SUB)) < 0) {
		free(w);
		return NULL;
	}
	w->subio = (struct lc_io){ .fd = lc_sock_recv_fd(w->sub), .fn = on_sub, .arg = w };
	if (lc_sock_subscribe(w->sub, "") < 0 || w->subio.fd < 0 ||
	    lc_io_start(loop, &w->subio, EPOLLIN) < 0) {
		int e = errno;
		lc_sock_close(w->sub);
		free(w);
		errno = e;
		return NULL;
	}
	lc_timer_init(&w->tick, on_tick, w);
	follow(w, root, 0);
	rescan(w);
	lc_timer_set(loop, &w->tick, lc_now_ms() + LC_WATCH_RESYNC_MS);
	return w;
}

void
lc_watch_close(struct lc_watch *w)
{
	if (!w)
		return;
	lc_timer_cancel(w->loop, &w->tick);
	for (size_t i = 0; i < w->nsups; i++) {
		lc_io_stop(w->loop, &w->sups[i]->io);
		lc_sock_close(w->sups[i]->req);
		free(w->sups[i]);
	}
	lc_io_stop(w->loop, &w->subio);
	lc_sock_close(w->sub);
	free(w->sups);
	free(w->names);
	free(w);
}

/* Bring s up to date, waiting: 0, or -1 when it did not answer. */
static int
sync_sup(struct lc_watch *w, struct wsup *s)
{
	char *r;
	uint64_t seq = 0;
	if ((r = req_sync(s, "info", NULL))) {
		on_info(w, s, r, &seq);
		free(r);
	}
	if (!r)
		return -1;
	if (s->dead || seq <= s->last)
		return 0;
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)s->last);
	if ((r = req_sync(s, "events", num)))
		on_events(w, s, r);
	free(r);
	return r ? 0 : -1;
}

int
lc_watch_lookup(struct lc_watch *w, const char *name, int fresh, pid_t *pid, const char **sup)
{
	struct wname *e = name_find(w, name);
	int stale = 0;
	if (fresh) {
		if (e && e->sup)
			stale = sync_sup(w, e->sup) < 0;
		else
			for (size_t i = 0; i < w->nsups; i++)
				stale |= sync_sup(w, w->sups[i]) < 0;
		e = name_find(w, name);
	}
	if (stale && fresh == LC_WATCH_FRESH_STRICT) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (!e || e->pid == 0)
		return 0;
	*pid = e->pid;
	if (sup)
		*sup = e->sup ? e->sup->name : "";
	return 1;
}

int
lc_watch_last_reason(struct lc_watch *w, const char *name, char *buf, size_t len)
{
	struct wname *e = name_find(w, name);
	if (!e || e->pid != 0 || !e->last_reason[0])
		return 0;
	snprintf(buf, len, "%s", e->last_reason);
	return 1;
}

void
lc_watch_stats(const struct lc_watch *w, struct lc_watch_stats *st)
{
	*st = w->st;
}
