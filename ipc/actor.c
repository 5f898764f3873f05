/* Actors (letitcrash/actor.h, docs/ipc.md): a PULL mailbox bound at ipc://RUNDIR/NAME, one
 * cached PUSH per destination address, an output buffer per destination that packs messages
 * into frames when nanomsg's queue is full or the application corks, and an input queue of
 * received frames from which messages are handed out in arrival order.
 *
 * Input queue: a list of whole frames (nanomsg buffers, or malloc'd ones for posted
 * messages); each has a read offset. lc_call looks for its reply further down the queue and
 * cuts it out of its frame (memmove of the rest), so everything else keeps its order. A frame
 * whose last message was handed to the application goes to the `spent` list and is freed at
 * the next lc_recv or after the callback returns: that is how long a struct lc_msg stays valid.
 *
 * Output: per destination, the bytes of encoded messages [head, tail) not yet given to
 * nanomsg. The rule (docs/ipc.md, "Coalescing"): a message goes out at once when nothing is
 * buffered for its destination, the actor is not corked, and the last message that went out at
 * once to that destination is at least BURST_US old; otherwise, or when nanomsg says EAGAIN,
 * it is appended. Buffers are flushed in frames of whole messages up to FRAME_MAX before
 * every wait of the loop (a before-wait hook; not while corked), when one destination holds
 * FRAME_MAX bytes, at uncork, by lc_flush, and by a 1 ms timer (a turn that runs long). A destination whose buffer makes no progress for DOWN_MS is "down": its buffer is
 * kept and retried every DOWN_RETRY_MS, and sends to it fail with EAGAIN until nanomsg takes
 * something again. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "actor_int.h"
#include "letitcrash/exit.h"
#include "letitcrash/sock.h"
#include "letitcrash/time.h"

#define LOCAL_NAMEMAX 48                /* msg.h: "name@node" is 48 + 1 + 51 */
#define NODE_NAMEMAX  51
#define ADDRMAX       128
#define DEST_MAX      256               /* PUSH sockets kept open (NANOMSG.md: 512 a process) */
#define FRAME_MAX     (64 * 1024)       /* coalesced frame size */
#define OUTBUF_MAX    (4 * 1024 * 1024) /* per destination; EAGAIN beyond */
#define INQ_MAX       (8 * 1024 * 1024) /* received but not consumed: stop reading beyond */
#define DRAIN_MAX     64                /* frames read per wakeup */
#define DISPATCH_MAX  1024              /* callbacks per loop turn */
#define DOWN_MS       1000
#define FLUSH_MS      1
#define BURST_US      20                /* sends closer than this to the last direct one coalesce */
#define DOWN_RETRY_MS 20
#define EXIT_FLUSH_MS 500
#define EXIT_GRACE_MS 20

struct frame {
	struct frame *next;
	unsigned char *data;
	size_t len, off;
	int nn;                 /* data is a nanomsg buffer (else malloc'd) */
	int handed;             /* a message of it was handed to the application */
};

struct dest {
	char addr[ADDRMAX];
	uint32_t hash;
	int sock;
	uint64_t used;          /* LRU clock */
	unsigned char *buf;
	size_t head, tail, cap;
	int64_t stall;          /* last progress while data is buffered */
	int64_t last_direct;    /* lc_now_us() of the last message sent at once */
	int down;
};

struct lc_actor {
	char name[LOCAL_NAMEMAX + 1];
	char qname[LC_WIRE_NAMEMAX + 1];    /* name@node, or "" without LETITCRASH_NODE */
	char node[NODE_NAMEMAX + 1];
	char *nodes;                        /* LETITCRASH_NODES, copied at open */
	char rundir[PATH_MAX];
	size_t namelen, qnamelen;
	struct lc_loop *loop, own;
	int ownloop;
	int mbox;
	struct lc_io mio;
	int paused;                         /* mio stopped: input queue full */
	struct lc_timer flusht, kickt;
	struct lc_hook flushh;              /* before every wait: flush_all */

	struct dest *dests[DEST_MAX];
	size_t ndests;
	uint64_t tick;
	size_t buffered;
	int corked;
	int64_t last_out;

	struct frame *inq, **inq_tail, *spent;
	size_t inq_bytes;
	struct frame *scan_f;               /* lc_call's search position */
	size_t scan_off;
	unsigned char *reply, *scratch;
	size_t replycap, scratchcap;

	uint64_t nextref;
	int calling, dispatching, receiving;
	lc_actor_fn *fn;
	void *fnarg;
	struct lc_links *links;
	struct lc_actor_stats st;
	lc_actor_bad_fn *on_bad;        /* told of malformed frames, once per burst */
	void *on_bad_arg;
	int64_t bad_told_ms;            /* when on_bad was last called */
	uint64_t bad_told;              /* bad_frames then */
};

static void on_mbox(struct lc_loop *, struct lc_io *, uint32_t);
static void on_flush(struct lc_loop *, struct lc_timer *);
static void on_kick(struct lc_loop *, struct lc_timer *);
static void on_wait(struct lc_loop *, struct lc_hook *);
static size_t flush_all(struct lc_actor *a, int skip_down);

/* --- names and addresses ------------------------------------------------------------------ */

static int
local_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > LOCAL_NAMEMAX || memchr(s, '/', n) || memchr(s, '@', n))
		return 0;
	return !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* The address of node `node` (n bytes) in LETITCRASH_NODES ("east=tcp://...,west=..."). */
static int
node_addr(const struct lc_actor *a, const char *node, size_t n, char *out)
{
	const char *p = a->nodes;

	while (p && *p) {
		const char *end = strchr(p, ','), *eq = strchr(p, '=');
		if (!end)
			end = p + strlen(p);
		if (eq && eq < end && (size_t)(eq - p) == n && memcmp(p, node, n) == 0) {
			size_t len = (size_t)(end - eq - 1);
			if (len == 0 || len >= ADDRMAX) {
				errno = EINVAL;
				return -1;
			}
			memcpy(out, eq + 1, len);
			out[len] = '\0';
			return 0;
		}
		p = *end ? end + 1 : end;
	}
	errno = EHOSTUNREACH;
	return -1;
}

/* Where messages for `to` go: its mailbox, or its node's router. *remote says which. */
static int
resolve(const struct lc_actor *a, const char *to, char *addr, int *remote)
{
	size_t n = strlen(to);
	const char *at = memchr(to, '@', n);

	if (n > LC_WIRE_NAMEMAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*remote = at && !(a->node[0] && strcmp(at + 1, a->node) == 0);
	if (*remote)
		return at[1] ? node_addr(a, at + 1, n - (size_t)(at + 1 - to), addr) :
		    (errno = EINVAL, -1);
	size_t base = at ? (size_t)(at - to) : n;
	char name[LOCAL_NAMEMAX + 1];
	if (!local_name_ok(to, base)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(name, to, base);
	name[base] = '\0';
	return lc_sock_ipc_addr(addr, ADDRMAX, a->rundir, name);
}

/* Is m addressed to this actor ("name", or "name@ournode")? */
static int
for_us(const struct lc_actor *a, const struct lc_msg *m)
{
	if (m->tolen == a->namelen && memcmp(m->to, a->name, a->namelen) == 0)
		return 1;
	return a->qnamelen && m->tolen == a->qnamelen &&
	    memcmp(m->to, a->qname, a->qnamelen) == 0;
}

/* A reply: carries a ref, is not itself a call, and is not a DOWN or EXIT (whose ref is a
 * monitor's). */
static int
is_reply(const struct lc_msg *m)
{
	return m->ref != 0 && !(m->flags & LC_MSGF_CALL) && m->type != LC_MSG_DOWN &&
	    m->type != LC_MSG_EXIT;
}

/* --- destinations ------------------------------------------------------------------------- */

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
dest_drop(struct lc_actor *a, struct dest *d)
{
	a->buffered -= d->tail - d->head;
	d->head = d->tail = 0;
	d->stall = 0;
}

static void
dest_free(struct lc_actor *a, size_t i)
{
	struct dest *d = a->dests[i];

	dest_drop(a, d);
	lc_sock_close(d->sock);
	free(d->buf);
	free(d);
	a->dests[i] = a->dests[--a->ndests];
}

/* Make room for one more destination: close the least recently used one, preferring one with
 * nothing buffered (what a buffered one held is lost). */
static void
dest_evict(struct lc_actor *a)
{
	size_t best = 0;
	int best_empty = 0;

	for (size_t i = 0; i < a->ndests; i++) {
		struct dest *d = a->dests[i];
		int empty = d->head == d->tail;
		if ((empty && !best_empty) ||
		    (empty == best_empty && d->used < a->dests[best]->used)) {
			best = i;
			best_empty = empty;
		}
	}
	dest_free(a, best);
}

static struct dest *
dest_get(struct lc_actor *a, const char *addr)
{
	uint32_t h = hash(addr);

	for (size_t i = 0; i < a->ndests; i++) {
		struct dest *d = a->dests[i];
		if (d->hash == h && strcmp(d->addr, addr) == 0) {
			d->used = ++a->tick;
			return d;
		}
	}
	if (a->ndests == DEST_MAX)
		dest_evict(a);
	struct dest *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	strcpy(d->addr, addr);
	d->hash = h;
	d->used = ++a->tick;
	if ((d->sock = lc_sock_open(LC_SOCK_PUSH)) < 0 || lc_sock_connect(d->sock, addr) < 0) {
		int e = errno;
		if (d->sock >= 0)
			lc_sock_close(d->sock);
		free(d);
		errno = e;
		return NULL;
	}
	a->dests[a->ndests++] = d;
	return d;
}

/* Size of the encoded message at p (trusted: we encoded it). */
static size_t
msg_size(const unsigned char *p)
{
	return LC_WIRE_HDR + p[6] + p[7] +
	    ((size_t)p[16] << 24 | (size_t)p[17] << 16 | (size_t)p[18] << 8 | p[19]);
}

/* Give d's buffer to nanomsg in frames of whole messages up to FRAME_MAX, until EAGAIN. */
static void
flush_dest(struct lc_actor *a, struct dest *d, int64_t now)
{
	while (d->head < d->tail) {
		size_t end = d->head;
		while (end < d->tail) {
			size_t n = msg_size(d->buf + end);
			if (end > d->head && end + n - d->head > FRAME_MAX)
				break;
			end += n;
		}
		if (lc_sock_send(d->sock, d->buf + d->head, end - d->head, LC_SOCK_DONTWAIT) < 0) {
			if (errno != EAGAIN)
				dest_drop(a, d);
			break;
		}
		a->st.frames_out++;
		a->buffered -= end - d->head;
		a->last_out = now;
		d->head = end;
		d->stall = now;
		d->down = 0;
	}
	if (d->head == d->tail) {
		d->head = d->tail = 0;
		d->stall = 0;
		if (d->cap > FRAME_MAX * 4) {
			free(d->buf);
			d->buf = NULL;
			d->cap = 0;
		}
	} else if (now - d->stall >= DOWN_MS) {
		d->down = 1;
	}
}

/* Flush every destination with data (skip_down: but those that are down, which have their
 * retry timer). Returns the bytes still buffered. */
static size_t
flush_all(struct lc_actor *a, int skip_down)
{
	int64_t now = lc_now_ms();

	int up = 0;

	if (a->buffered == 0) {
		if (lc_timer_armed(&a->flusht))
			lc_timer_cancel(a->loop, &a->flusht);
		return 0;
	}
	for (size_t i = 0; i < a->ndests; i++) {
		struct dest *d = a->dests[i];
		if (d->head < d->tail && !(skip_down && d->down)) {
			flush_dest(a, d, now);
			up |= d->head < d->tail && !d->down;
		}
	}
	/* every 1 ms while a live destination has data; a down one is retried every 20 ms */
	if (a->buffered && !lc_timer_armed(&a->flusht))
		lc_timer_set(a->loop, &a->flusht, now + (up ? FLUSH_MS : DOWN_RETRY_MS));
	else if (!a->buffered && lc_timer_armed(&a->flusht))
		lc_timer_cancel(a->loop, &a->flusht);
	return a->buffered;
}

/* The loop is about to wait: what this turn buffered goes out now rather than on the timer
 * (unless corked: the application uncorks when its turn is complete). */
static void
on_wait(struct lc_loop *l, struct lc_hook *h)
{
	struct lc_actor *a = h->arg;

	if (!a->corked)
		flush_all(a, 1);
}

static void
on_flush(struct lc_loop *l, struct lc_timer *t)
{
	flush_all(t->arg, 0);
}

/* Room for n more bytes at the tail of d's buffer. */
static int
dest_room(struct dest *d, size_t n)
{
	if (d->tail + n <= d->cap)
		return 0;
	if (d->head > 0) {
		memmove(d->buf, d->buf + d->head, d->tail - d->head);
		d->tail -= d->head;
		d->head = 0;
		if (d->tail + n <= d->cap)
			return 0;
	}
	size_t cap = d->cap ? d->cap : FRAME_MAX;
	while (cap < d->tail + n)
		cap *= 2;
	unsigned char *b = realloc(d->buf, cap);
	if (!b)
		return -1;
	d->buf = b;
	d->cap = cap;
	return 0;
}

static int
scratch_room(unsigned char **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	unsigned char *b = realloc(*buf, n);
	if (!b)
		return -1;
	*buf = b;
	*cap = n;
	return 0;
}

/* Queue one message for `to` (see the rule at the top). `from` NULL: this actor. */
static int
send_msg(struct lc_actor *a, const char *to, uint16_t type, uint16_t flags, uint64_t ref,
    const char *from, size_t fromlen, const void *body, size_t len)
{
	char addr[ADDRMAX], qfrom[LC_WIRE_NAMEMAX + 1];
	int remote;

	if (resolve(a, to, addr, &remote) < 0)
		return -1;
	if (!from) {
		from = remote && a->qnamelen ? a->qname : a->name;
		fromlen = strlen(from);
	} else if (remote && a->node[0] && !memchr(from, '@', fromlen)) {
		/* a local sender forwarded to another node: qualify it so the reply finds it */
		if (fromlen + 1 + strlen(a->node) > LC_WIRE_NAMEMAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(qfrom, from, fromlen);
		qfrom[fromlen] = '@';
		strcpy(qfrom + fromlen + 1, a->node);
		from = qfrom;
		fromlen = strlen(qfrom);
	}
	struct lc_msg m = {
		.type = type, .flags = flags, .ref = ref, .from = from, .to = to,
		.fromlen = (uint8_t)fromlen, .tolen = (uint8_t)strlen(to), .body = body,
		.len = (uint32_t)len,
	};
	size_t n = lc_wire_size(fromlen, m.tolen, len);
	if (n == 0 || len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	struct dest *d = dest_get(a, addr);
	if (!d)
		return -1;
	int64_t now_us = lc_now_us();
	int burst = now_us - d->last_direct < BURST_US;
	if (d->head == d->tail && !a->corked && !burst) {
		d->last_direct = now_us;
		if (scratch_room(&a->scratch, &a->scratchcap, n) < 0 ||
		    lc_wire_encode(a->scratch, n, &m) < 0)
			return -1;
		if (lc_sock_send(d->sock, a->scratch, n, LC_SOCK_DONTWAIT) >= 0) {
			a->st.sent++;
			a->st.frames_out++;
			a->last_out = lc_now_ms();
			d->down = 0;
			return 0;
		}
		if (errno != EAGAIN)
			return -1;
		if (d->down) {
			a->st.send_eagain++;
			return -1;
		}
	}
	if (d->down || d->tail - d->head + n > OUTBUF_MAX) {
		a->st.send_eagain++;
		errno = EAGAIN;
		return -1;
	}
	if (dest_room(d, n) < 0 || lc_wire_encode(d->buf + d->tail, n, &m) < 0)
		return -1;
	if (d->head == d->tail)
		d->stall = lc_now_ms();
	d->tail += n;
	a->buffered += n;
	a->st.sent++;
	if (d->tail - d->head >= FRAME_MAX)
		flush_dest(a, d, lc_now_ms());
	if (a->buffered && !lc_timer_armed(&a->flusht))
		lc_timer_set(a->loop, &a->flusht, lc_now_ms() + FLUSH_MS);
	return 0;
}

/* --- input -------------------------------------------------------------------------------- */

static void
frame_free(struct frame *f)
{
	if (f->nn)
		lc_sock_free(f->data);
	else
		free(f->data);
	free(f);
}

static void
inq_append(struct lc_actor *a, struct frame *f)
{
	f->next = NULL;
	*a->inq_tail = f;
	a->inq_tail = &f->next;
	a->inq_bytes += f->len;
}

/* Take the exhausted head frame off the queue. */
static void
inq_pop(struct lc_actor *a)
{
	struct frame *f = a->inq;

	a->inq = f->next;
	if (!a->inq)
		a->inq_tail = &a->inq;
	a->inq_bytes -= f->len;
	if (a->scan_f == f)
		a->scan_f = NULL;
	if (f->handed) {
		f->next = a->spent;
		a->spent = f;
	} else {
		frame_free(f);
	}
}

static void
release_spent(struct lc_actor *a)
{
	while (a->spent) {
		struct frame *f = a->spent;
		a->spent = f->next;
		frame_free(f);
	}
}

/* Count a malformed frame; tell the application about the first of a burst (none in the
 * second before it), with how many were dropped since it was last told. */
static void
bad_frame(struct lc_actor *a)
{
	a->st.bad_frames++;
	int64_t now = lc_now_ms();
	if (!a->on_bad || now - a->bad_told_ms < 1000)
		return;
	a->on_bad(a, a->st.bad_frames - a->bad_told, a->st.bad_frames, a->on_bad_arg);
	a->bad_told_ms = now;
	a->bad_told = a->st.bad_frames;
}

void
lc_actor_on_bad_frame(struct lc_actor *a, lc_actor_bad_fn *fn, void *arg)
{
	a->on_bad = fn;
	a->on_bad_arg = arg;
	a->bad_told_ms = INT64_MIN / 2;
}

/* Read up to DRAIN_MAX frames from the mailbox into the input queue. Malformed frames are
 * counted and dropped. Returns the number of frames queued. */
static int
read_frames(struct lc_actor *a)
{
	int got = 0;

	for (int i = 0; i < DRAIN_MAX; i++) {
		if (a->inq_bytes > INQ_MAX && !a->calling)
			break;
		void *buf;
		ssize_t n = lc_sock_recv(a->mbox, &buf, LC_SOCK_DONTWAIT);
		if (n < 0)
			break;
		a->st.frames_in++;
		int k = lc_wire_check(buf, (size_t)n);
		struct frame *f = k > 0 ? calloc(1, sizeof *f) : NULL;
		if (!f) {
			if (k <= 0)
				bad_frame(a);
			lc_sock_free(buf);
			continue;
		}
		f->data = buf;
		f->len = (size_t)n;
		f->nn = 1;
		inq_append(a, f);
		a->st.received += (uint64_t)k;
		got++;
	}
	return got;
}

static void
mio_resume(struct lc_actor *a)
{
	if (a->paused && lc_io_start(a->loop, &a->mio, EPOLLIN) == 0)
		a->paused = 0;
}

/* The next message for the application, or 0. Link messages go to link.c, PINGs are answered,
 * stale replies and misaddressed messages are counted and dropped on the way. */
static int
next_msg(struct lc_actor *a, struct lc_msg *m)
{
	for (;;) {
		struct frame *f = a->inq;
		if (!f)
			return 0;
		int r = lc_wire_next(f->data, f->len, &f->off, m);
		if (r <= 0) {
			if (r < 0)
				a->st.bad_frames++;     /* cannot happen: checked on arrival */
			f->off = f->len;
			inq_pop(a);
			if (a->paused && a->inq_bytes < INQ_MAX / 2)
				mio_resume(a);
			continue;
		}
		if (!for_us(a, m)) {
			a->st.bad_frames++;
			continue;
		}
		if (m->type == LC_MSG_LINK || m->type == LC_MSG_UNLINK) {
			lc__links_on_msg(a, m);
			continue;
		}
		if (m->type == LC_MSG_PING) {
			char to[LC_WIRE_NAMEMAX + 1];
			memcpy(to, m->from, m->fromlen);
			to[m->fromlen] = '\0';
			(void)send_msg(a, to, LC_MSG_PONG, 0, m->ref, NULL, 0, NULL, 0);
			continue;
		}
		if (is_reply(m)) {
			a->st.stale_replies++;
			continue;
		}
		f->handed = 1;
		return 1;
	}
}

static void
dispatch(struct lc_actor *a)
{
	struct lc_msg m;
	int n = 0;

	if (!a->fn || a->calling || a->dispatching || a->receiving)
		return;
	a->dispatching = 1;
	while (a->fn && next_msg(a, &m)) {
		a->fn(a, &m, a->fnarg);
		release_spent(a);
		if (++n == DISPATCH_MAX && a->inq) {
			lc_timer_set(a->loop, &a->kickt, lc_now_ms());
			break;
		}
	}
	a->dispatching = 0;
}

static void
on_kick(struct lc_loop *l, struct lc_timer *t)
{
	dispatch(t->arg);
}

static void
on_mbox(struct lc_loop *l, struct lc_io *io, uint32_t events)
{
	struct lc_actor *a = io->arg;

	if (a->inq_bytes > INQ_MAX && !a->calling) {
		lc_io_stop(l, io);
		a->paused = 1;
		return;
	}
	read_frames(a);
	dispatch(a);
}

/* Turn the loop once, waiting at most until `deadline` (LC_NEVER: no limit). */
static int
turn(struct lc_actor *a, int64_t deadline)
{
	int wait = -1;

	flush_all(a, 0);
	if (deadline != LC_NEVER) {
		int64_t d = deadline - lc_now_ms();
		wait = d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
	}
	return lc_loop_once(a->loop, wait);
}

/* --- the API ------------------------------------------------------------------------------ */

struct lc_actor *
lc_actor_open(const char *name, const char *rundir, struct lc_loop *loop)
{
	const char *node = getenv("LETITCRASH_NODE"), *nodes = getenv("LETITCRASH_NODES");
	char addr[ADDRMAX];
	struct lc_actor *a;

	if (!name)
		name = getenv("LETITCRASH_NAME");
	if (!rundir)
		rundir = getenv("LETITCRASH_RUNDIR");
	if (!name || !rundir || !local_name_ok(name, strlen(name)) ||
	    (node && strlen(node) > NODE_NAMEMAX) || strlen(rundir) >= PATH_MAX) {
		errno = name && strlen(name) > LOCAL_NAMEMAX ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	if (lc_sock_ipc_addr(addr, sizeof addr, rundir, name) < 0)
		return NULL;
	if (!(a = calloc(1, sizeof *a)))
		return NULL;
	strcpy(a->name, name);
	a->namelen = strlen(name);
	strcpy(a->rundir, rundir);
	if (node && *node) {
		strcpy(a->node, node);
		a->qnamelen = (size_t)snprintf(a->qname, sizeof a->qname, "%s@%s", name, node);
	}
	a->mbox = -1;
	a->inq_tail = &a->inq;
	a->loop = loop;
	if (!loop) {
		if (lc_loop_init(&a->own) < 0)
			goto fail;
		a->loop = &a->own;
		a->ownloop = 1;
	}
	if (nodes && !(a->nodes = strdup(nodes)))
		goto fail;
	if (getrandom(&a->nextref, sizeof a->nextref, GRND_NONBLOCK) != sizeof a->nextref)
		a->nextref = (uint64_t)lc_now_us() << 20 ^ (uint64_t)getpid();
	lc_timer_init(&a->flusht, on_flush, a);
	lc_timer_init(&a->kickt, on_kick, a);
	if ((a->mbox = lc_sock_open(LC_SOCK_PULL)) < 0 || lc_sock_bind(a->mbox, addr) < 0)
		goto fail;
	a->mio = (struct lc_io){ .fd = lc_sock_recv_fd(a->mbox), .fn = on_mbox, .arg = a };
	if (a->mio.fd < 0 || lc_io_start(a->loop, &a->mio, EPOLLIN) < 0)
		goto fail;
	if (lc__links_init(a) < 0)
		goto fail;
	lc_hook_add(a->loop, &a->flushh, on_wait, a);
	return a;
fail:;
	int e = errno;
	lc_io_stop(a->loop ? a->loop : &a->own, &a->mio);
	if (a->mbox >= 0)
		lc_sock_close(a->mbox);
	if (a->ownloop)
		lc_loop_fini(&a->own);
	free(a->nodes);
	free(a);
	errno = e;
	return NULL;
}

void
lc_actor_close(struct lc_actor *a)
{
	if (!a)
		return;
	lc__links_fini(a);
	flush_all(a, 0);
	lc_hook_del(a->loop, &a->flushh);
	lc_timer_cancel(a->loop, &a->flusht);
	lc_timer_cancel(a->loop, &a->kickt);
	lc_io_stop(a->loop, &a->mio);
	while (a->ndests)
		dest_free(a, a->ndests - 1);
	lc_sock_close(a->mbox);
	while (a->inq) {
		a->inq->handed = 0;
		inq_pop(a);
	}
	release_spent(a);
	if (a->ownloop)
		lc_loop_fini(&a->own);
	free(a->reply);
	free(a->scratch);
	free(a->nodes);
	free(a);
}

const char *
lc_actor_name(const struct lc_actor *a)
{
	return a->name;
}

struct lc_loop *lc_actor_loop(struct lc_actor *a) { return a->loop; }
struct lc_loop *lc__actor_loop(struct lc_actor *a) { return a->loop; }
const char *lc__actor_rundir(const struct lc_actor *a) { return a->rundir; }
struct lc_links **lc__actor_links(struct lc_actor *a) { return &a->links; }

int
lc__actor_post(struct lc_actor *a, uint16_t type, const char *from, uint64_t ref,
    const void *body, size_t len)
{
	size_t fromlen = strlen(from);
	struct lc_msg m = {
		.type = type, .ref = ref, .from = from, .to = a->name,
		.fromlen = (uint8_t)fromlen, .tolen = (uint8_t)a->namelen, .body = body,
		.len = (uint32_t)len,
	};
	size_t n = lc_wire_size(fromlen, a->namelen, len);
	struct frame *f;

	if (n == 0 || len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (!(f = calloc(1, sizeof *f)) || !(f->data = malloc(n))) {
		free(f);
		return -1;
	}
	if (lc_wire_encode(f->data, n, &m) < 0) {
		int e = errno;
		frame_free(f);
		errno = e;
		return -1;
	}
	f->len = n;
	inq_append(a, f);
	a->st.received++;
	if (a->fn && !a->dispatching)
		lc_timer_set(a->loop, &a->kickt, lc_now_ms());
	return 0;
}

int
lc_send(struct lc_actor *a, const char *to, uint16_t type, const void *body, size_t len)
{
	return send_msg(a, to, type, 0, 0, NULL, 0, body, len);
}

/* Find the reply with `ref` in the input queue, from where the last search stopped; cut it
 * out of its frame into a->reply and decode it into *out. Stale replies met on the way (only
 * one call is ever pending, so any other ref is stale) are cut out and counted. */
static int
find_reply(struct lc_actor *a, uint64_t ref, struct lc_msg *out)
{
	for (;;) {
		struct frame *f = a->scan_f;
		if (!f) {
			if (!(f = a->scan_f = a->inq))
				return 0;
			a->scan_off = f->off;
		}
		struct lc_msg m;
		size_t start = a->scan_off, end = start;
		if (lc_wire_next(f->data, f->len, &end, &m) == 1) {
			if (is_reply(&m) && for_us(a, &m)) {
				size_t n = end - start, off = 0;
				int mine = m.ref == ref;
				if (mine) {
					if (scratch_room(&a->reply, &a->replycap, n) < 0)
						return -1;
					memcpy(a->reply, f->data + start, n);
				} else {
					a->st.stale_replies++;
				}
				memmove(f->data + start, f->data + end, f->len - end);
				f->len -= n;
				a->inq_bytes -= n;
				if (mine)
					return lc_wire_next(a->reply, n, &off, out);
				continue;
			}
			a->scan_off = end;
			continue;
		}
		if (!f->next)
			return 0;
		a->scan_f = f->next;
		a->scan_off = f->next->off;
	}
}

/* Free the frames at the head of the queue that lc_call emptied (nothing left, nothing
 * handed out of them). */
static void
trim_empty(struct lc_actor *a)
{
	while (a->inq && a->inq->off == a->inq->len && !a->inq->handed)
		inq_pop(a);
}

int
lc_call(struct lc_actor *a, const char *to, uint16_t type, const void *body, size_t len,
    int timeout_ms, struct lc_msg *reply)
{
	int64_t deadline = timeout_ms < 0 ? LC_NEVER : lc_now_ms() + timeout_ms;
	uint64_t ref;
	int r = 0;

	if (a->calling) {
		errno = EBUSY;
		return -1;
	}
	if ((ref = ++a->nextref) == 0)
		ref = ++a->nextref;
	if (send_msg(a, to, type, LC_MSGF_CALL, ref, NULL, 0, body, len) < 0)
		return -1;
	a->calling = 1;
	a->scan_f = NULL;
	mio_resume(a);
	for (;;) {
		read_frames(a);
		if ((r = find_reply(a, ref, reply)) != 0)
			break;
		if (lc_now_ms() >= deadline) {
			errno = ETIMEDOUT;
			r = -1;
			break;
		}
		if (turn(a, deadline) < 0) {
			r = -1;
			break;
		}
	}
	a->calling = 0;
	a->scan_f = NULL;
	trim_empty(a);
	if (a->fn && a->inq && !a->dispatching)
		lc_timer_set(a->loop, &a->kickt, lc_now_ms());
	return r > 0 ? 0 : -1;
}

int
lc_reply(struct lc_actor *a, const struct lc_msg *req, uint16_t type, const void *body,
    size_t len)
{
	char to[LC_WIRE_NAMEMAX + 1];

	if (req->ref == 0 || req->fromlen == 0) {
		errno = EINVAL;
		return -1;
	}
	memcpy(to, req->from, req->fromlen);
	to[req->fromlen] = '\0';
	return send_msg(a, to, type, 0, req->ref, NULL, 0, body, len);
}

int
lc_forward(struct lc_actor *a, const char *to, const struct lc_msg *m)
{
	return send_msg(a, to, m->type, m->flags | LC_MSGF_FORWARDED, m->ref, m->from,
	    m->fromlen, m->body, m->len);
}

int
lc_recv(struct lc_actor *a, struct lc_msg *m, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? LC_NEVER : lc_now_ms() + timeout_ms;
	int r = 0;

	release_spent(a);
	a->receiving++;
	for (;;) {
		if (next_msg(a, m))
			break;
		if (read_frames(a) > 0)
			continue;
		if (lc_now_ms() >= deadline) {
			errno = ETIMEDOUT;
			r = -1;
			break;
		}
		if (turn(a, deadline) < 0) {
			r = -1;
			break;
		}
	}
	a->receiving--;
	return r;
}

void
lc_actor_on_message(struct lc_actor *a, lc_actor_fn *fn, void *arg)
{
	a->fn = fn;
	a->fnarg = arg;
	if (fn && a->inq)
		lc_timer_set(a->loop, &a->kickt, lc_now_ms());
}

void
lc_actor_stats(const struct lc_actor *a, struct lc_actor_stats *st)
{
	*st = a->st;
}

size_t
lc_flush(struct lc_actor *a)
{
	return flush_all(a, 0);
}

void
lc_actor_cork(struct lc_actor *a, int on)
{
	a->corked = on;
	if (!on)
		flush_all(a, 0);
}

/* --- exit --------------------------------------------------------------------------------- */

static void __attribute__((noreturn))
die_by(int sig)
{
	sigset_t set;
	struct rlimit nocore = { 0, 0 };

	setrlimit(RLIMIT_CORE, &nocore);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	_exit(LC_EXIT_BUG);
}

static int
signal_named(const char *s)
{
	if (strncmp(s, "SIG", 3) != 0)
		return 0;
	for (int i = 1; i < NSIG; i++) {
		const char *n = sigabbrev_np(i);
		if (n && strcmp(n, s + 3) == 0)
			return i;
	}
	return 0;
}

/* Give what is buffered to nanomsg within EXIT_FLUSH_MS, then leave nanomsg's threads a
 * moment (EXIT_GRACE_MS) to write what was handed over lately. */
static void
exit_flush(struct lc_actor *a)
{
	int64_t end = lc_now_ms() + EXIT_FLUSH_MS;

	while (flush_all(a, 0) > 0 && lc_now_ms() < end)
		lc_loop_once(a->loop, FLUSH_MS);
	if (a->last_out && lc_now_ms() - a->last_out < EXIT_GRACE_MS) {
		struct timespec ts = { 0, EXIT_GRACE_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

void
lc_exit(struct lc_actor *a, const char *reason)
{
	int sig;
	char *end;
	long n;

	if (a)
		exit_flush(a);
	if (!reason || strcmp(reason, "normal") == 0)
		exit(LC_EXIT_OK);
	if (strcmp(reason, "shutdown") == 0)
		die_by(SIGTERM);
	if (strncmp(reason, "{shutdown", 9) == 0)
		exit(LC_EXIT_SHUTDOWN);
	if (strcmp(reason, "killed") == 0)
		die_by(SIGKILL);
	if (strncmp(reason, "exit ", 5) == 0) {
		errno = 0;
		n = strtol(reason + 5, &end, 10);
		if (!errno && end != reason + 5 && !*end && n >= 0 && n <= 255)
			exit((int)n);
	}
	if ((sig = signal_named(reason)) != 0)
		die_by(sig);
	exit(1);
}
