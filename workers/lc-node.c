/* lc-node: the router of one tree's node (docs/nodes.md).
 *
 *   lc-node [-v] [-l ADDR] [-n NODE] [-r RUNDIR]
 *
 * Binds a PULL socket at ADDR (default: NODE's entry in LETITCRASH_NODES, NODE defaulting to
 * LETITCRASH_NODE), where the other nodes' actors push frames for actors of this tree. Each
 * frame is checked whole with the wire decoder (a malformed frame is counted and dropped), then
 * every message whose `to` is "NAME@NODE" or plain "NAME" is pushed, its bytes unchanged, to
 * the local mailbox ipc://RUNDIR/NAME; a message for another node or with an impossible name is
 * counted and dropped. Messages for one destination that arrive in the same turn of the loop are
 * packed into one frame.
 *
 * One PUSH per destination, cached (at most MAX_DESTS; the least recently used idle one is
 * closed to make room). A destination that cannot take a frame yet (its actor is restarting,
 * or the connection is still being made) keeps its frames, in order, up to PENDING_MAX bytes,
 * and for at most DEST_TIMEOUT_MS: then they are dropped and counted ("down"). Every send is
 * NN_DONTWAIT; a destination with frames waiting is woken by its NN_SNDFD.
 *
 * Signals: SIGTERM/SIGINT end it (reason shutdown), SIGUSR1 logs the counters. Ready (the
 * common readiness helper) once bound. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "letitcrash/loop.h"
#include "letitcrash/msg.h"
#include "letitcrash/sock.h"

#define NAME_MAX_LEN    48              /* an actor or node name, as in the config */
#define MAX_DESTS       64              /* cached PUSH sockets: well under nanomsg's 512 */
#define FRAME_MAX       LC_SOCK_MAXMSG  /* a packed frame never exceeds what a mailbox accepts */
#define FRAME_MIN       4096            /* first allocation of a frame's buffer; doubles */
#define PENDING_MAX     (4 * LC_SOCK_MAXMSG)    /* bytes waiting for one destination */
#define DEST_TIMEOUT_MS 1000            /* how long frames wait for a destination */
#define ADDR_MAX        256

static const char usage[] = "[-v] [-l tcp://HOST:PORT] [-n NODE] [-r RUNDIR]";

/* A frame waiting for its destination's socket, oldest first. */
struct frame {
	struct frame *next;
	int64_t queued;                 /* lc_now_ms() when created */
	size_t len, cap;
	uint32_t nmsg;                  /* messages in it */
	unsigned char *data;            /* cap bytes, owned */
};

struct dest {
	char name[NAME_MAX_LEN + 1];    /* "" when the slot is free */
	int sock;
	struct lc_io sndio;             /* NN_SNDFD, watched while frames wait */
	struct lc_timer timer;          /* fires when the oldest frame has waited too long */
	struct frame *head, *tail;
	size_t pending;                 /* bytes in the frames */
	int64_t used;                   /* last message routed to it, for eviction */
	int touched;                    /* in this turn's flush list */
};

struct stats {
	uint64_t frames_in, msgs_in, bad_frames, other_node, bad_name;
	uint64_t frames_out, msgs_out, dropped_down, dropped_full, evicted;
};

static struct {
	struct lc_loop loop;
	struct lc_io rcvio;
	int sock;
	const char *node, *rundir, *addr;
	struct dest dests[MAX_DESTS];
	struct dest *touched[MAX_DESTS];
	int ntouched;
	struct stats st;
} R;

static void
log_stats(const char *why)
{
	const struct stats *s = &R.st;
	lc_info("%s: %s: frames_in=%llu msgs_in=%llu bad_frames=%llu other_node=%llu bad_name=%llu "
	    "frames_out=%llu msgs_out=%llu dropped_down=%llu dropped_full=%llu evicted=%llu",
	    R.node, why, (unsigned long long)s->frames_in, (unsigned long long)s->msgs_in,
	    (unsigned long long)s->bad_frames, (unsigned long long)s->other_node,
	    (unsigned long long)s->bad_name, (unsigned long long)s->frames_out,
	    (unsigned long long)s->msgs_out, (unsigned long long)s->dropped_down,
	    (unsigned long long)s->dropped_full, (unsigned long long)s->evicted);
}

/* Log the 1st, 2nd, 4th, 8th ... occurrence of a problem: visible, never a flood. */
static int
pow2(uint64_t n)
{
	return n && (n & (n - 1)) == 0;
}

/* Actor and node names, as the config allows them: 1..48 of [A-Za-z0-9_.-], not starting
 * with '.' or '-'. This is also what keeps a remote name from escaping RUNDIR. */
static int
name_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* --- destinations --------------------------------------------------------------------------- */

static void dest_flush(struct dest *d);

static void
on_dest_writable(struct lc_loop *loop, struct lc_io *io, uint32_t events)
{
	dest_flush(io->arg);
}

/* Drop every frame d holds, counting their messages as dropped_down. */
static void
drop_pending(struct dest *d)
{
	struct frame *f, *next;
	for (f = d->head; f; f = next) {
		next = f->next;
		R.st.dropped_down += f->nmsg;
		free(f->data);
		free(f);
	}
	d->head = d->tail = NULL;
	d->pending = 0;
	lc_io_stop(&R.loop, &d->sndio);
	lc_timer_cancel(&R.loop, &d->timer);
}

static void
on_dest_timeout(struct lc_loop *loop, struct lc_timer *t)
{
	static uint64_t timeouts;
	struct dest *d = t->arg;
	drop_pending(d);
	if (pow2(++timeouts))
		lc_warn("%s: %s: down for %d ms: frames dropped (%llu so far)", R.node, d->name,
		    DEST_TIMEOUT_MS, (unsigned long long)R.st.dropped_down);
}

static void
dest_close(struct dest *d)
{
	if (d->head)
		drop_pending(d);
	lc_io_stop(&R.loop, &d->sndio);
	lc_timer_cancel(&R.loop, &d->timer);
	if (d->sock >= 0)
		lc_sock_close(d->sock);
	d->sock = -1;
	d->name[0] = '\0';
}

/* Open a PUSH towards ipc://RUNDIR/NAME. Returns 0, or -1 with errno. */
static int
dest_open(struct dest *d, const char *name, size_t n)
{
	char addr[ADDR_MAX];

	memcpy(d->name, name, n);
	d->name[n] = '\0';
	if (lc_sock_ipc_addr(addr, sizeof addr, R.rundir, d->name) < 0)
		goto fail;
	if ((d->sock = lc_sock_open(LC_SOCK_PUSH)) < 0)
		goto fail;
	if (lc_sock_connect(d->sock, addr) < 0 || (d->sndio.fd = lc_sock_send_fd(d->sock)) < 0) {
		int e = errno;
		lc_sock_close(d->sock);
		errno = e;
		goto fail;
	}
	d->sndio.fn = on_dest_writable;
	d->sndio.arg = d;
	d->sndio.active = 0;
	lc_timer_init(&d->timer, on_dest_timeout, d);
	d->head = d->tail = NULL;
	d->pending = 0;
	d->touched = 0;
	return 0;
fail:
	d->sock = -1;
	d->name[0] = '\0';
	return -1;
}

static void flush_touched(void);

/* The destination for `name`: the cached one, or a new one (closing the least recently used
 * slot, preferring one with nothing waiting, when the cache is full; when every slot has
 * messages of this turn, those are sent first). NULL with errno. */
static struct dest *
dest_get(const char *name, size_t n)
{
	struct dest *free_slot = NULL, *lru = NULL, *lru_idle = NULL;

	if (R.ntouched == MAX_DESTS)
		flush_touched();

	for (int i = 0; i < MAX_DESTS; i++) {
		struct dest *d = &R.dests[i];
		if (!d->name[0]) {
			if (!free_slot)
				free_slot = d;
			continue;
		}
		if (strlen(d->name) == n && memcmp(d->name, name, n) == 0)
			return d;
		if (d->touched)
			continue;       /* holds a frame being packed this turn */
		if (!lru || d->used < lru->used)
			lru = d;
		if (!d->head && (!lru_idle || d->used < lru_idle->used))
			lru_idle = d;
	}
	if (!free_slot) {
		free_slot = lru_idle ? lru_idle : lru;
		if (!free_slot) {
			errno = EMFILE;
			return NULL;
		}
		R.st.evicted++;
		dest_close(free_slot);
	}
	return dest_open(free_slot, name, n) < 0 ? NULL : free_slot;
}

/* Append one message's bytes to d's last frame if it fits and has not been sent, else to a
 * new frame. Returns 0, or -1 (dropped: too much is waiting, or out of memory). */
static int
dest_append(struct dest *d, const void *msg, size_t len)
{
	struct frame *f = d->tail;

	if (d->pending + len > PENDING_MAX) {
		R.st.dropped_full++;
		if (pow2(R.st.dropped_full))
			lc_warn("%s: %s: %d bytes already waiting: message dropped (%llu so far)",
			    R.node, d->name, PENDING_MAX, (unsigned long long)R.st.dropped_full);
		return -1;
	}
	if (f && f->len + len > f->cap && f->len + len <= FRAME_MAX) {
		size_t cap = f->cap * 2 > FRAME_MAX ? FRAME_MAX : f->cap * 2;
		unsigned char *p;
		if (cap < f->len + len)
			cap = f->len + len;
		if (!(p = realloc(f->data, cap)))
			return -1;
		f->data = p;
		f->cap = cap;
	}
	if (!f || f->len + len > f->cap) {
		if (!(f = malloc(sizeof *f)))
			return -1;
		f->cap = len > FRAME_MIN ? len : FRAME_MIN;
		if (!(f->data = malloc(f->cap))) {
			free(f);
			return -1;
		}
		f->next = NULL;
		f->queued = lc_now_ms();
		f->len = 0;
		f->nmsg = 0;
		if (d->tail)
			d->tail->next = f;
		else
			d->head = f;
		d->tail = f;
	}
	memcpy(f->data + f->len, msg, len);
	f->len += len;
	f->nmsg++;
	d->pending += len;
	return 0;
}

/* Send what d holds, in order, until the socket would block. While frames remain, watch the
 * socket's send descriptor and keep a deadline on the oldest frame. */
static void
dest_flush(struct dest *d)
{
	struct frame *f;

	while ((f = d->head)) {
		if (lc_sock_send(d->sock, f->data, f->len, LC_SOCK_DONTWAIT) < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				lc_warn_sys("%s: %s: send", R.node, d->name);
				drop_pending(d);
				return;
			}
			break;
		}
		R.st.frames_out++;
		R.st.msgs_out += f->nmsg;
		d->pending -= f->len;
		d->head = f->next;
		if (!d->head)
			d->tail = NULL;
		free(f->data);
		free(f);
	}
	if (!d->head) {
		lc_io_stop(&R.loop, &d->sndio);
		lc_timer_cancel(&R.loop, &d->timer);
		return;
	}
	if (!d->sndio.active && lc_io_start(&R.loop, &d->sndio, EPOLLIN) < 0)
		lc_die_sys(LC_EXIT_TEMP, "epoll");
	lc_timer_set(&R.loop, &d->timer, d->head->queued + DEST_TIMEOUT_MS);
}

/* --- routing -------------------------------------------------------------------------------- */

/* Route one decoded message whose bytes are msg[0..len). */
static void
route(const struct lc_msg *m, const void *msg, size_t len)
{
	const char *at = memchr(m->to, '@', m->tolen);
	size_t n = at ? (size_t)(at - m->to) : m->tolen;
	struct dest *d;

	R.st.msgs_in++;
	if (at) {
		size_t nl = m->tolen - n - 1;
		if (nl != strlen(R.node) || memcmp(at + 1, R.node, nl) != 0) {
			R.st.other_node++;
			if (pow2(R.st.other_node))
				lc_warn("%s: message for %.*s dropped: not this node (%llu so far)",
				    R.node, (int)m->tolen, m->to, (unsigned long long)R.st.other_node);
			return;
		}
	}
	if (!name_ok(m->to, n)) {
		R.st.bad_name++;
		if (pow2(R.st.bad_name))
			lc_warn("%s: message for an impossible name dropped (%llu so far)", R.node,
			    (unsigned long long)R.st.bad_name);
		return;
	}
	if (!(d = dest_get(m->to, n))) {
		R.st.dropped_down++;
		lc_warn_sys("%s: %.*s: no socket", R.node, (int)n, m->to);
		return;
	}
	d->used = lc_now_ms();
	if (dest_append(d, msg, len) < 0)
		return;
	if (!d->touched) {
		d->touched = 1;
		R.touched[R.ntouched++] = d;
	}
}

/* One frame from the wire: check it whole, then route each message. */
static void
route_frame(const unsigned char *frame, size_t len)
{
	struct lc_msg m;
	size_t off = 0, start;
	int r;

	R.st.frames_in++;
	if (lc_wire_check(frame, len) < 0) {
		R.st.bad_frames++;
		if (pow2(R.st.bad_frames))
			lc_warn("%s: malformed frame of %zu bytes dropped (%llu so far)", R.node, len,
			    (unsigned long long)R.st.bad_frames);
		return;
	}
	for (;;) {
		start = off;
		if ((r = lc_wire_next(frame, len, &off, &m)) <= 0)
			break;
		route(&m, frame + start, off - start);
	}
	if (r < 0)              /* lc_wire_check said otherwise: the decoder is inconsistent */
		lc_die(LC_EXIT_BUG, "lc_wire_next rejects a frame lc_wire_check accepted");
}

/* Send the frames packed in this turn. */
static void
flush_touched(void)
{
	for (int i = 0; i < R.ntouched; i++) {
		R.touched[i]->touched = 0;
		dest_flush(R.touched[i]);
	}
	R.ntouched = 0;
}

static void
on_frames(struct lc_loop *loop, struct lc_io *io, uint32_t events)
{
	for (int i = 0; i < LC_LOOP_BATCH; i++) {
		void *frame;
		ssize_t n = lc_sock_recv(R.sock, &frame, LC_SOCK_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				lc_die_sys(LC_EXIT_TEMP, "%s: receive", R.node);
			break;
		}
		route_frame(frame, (size_t)n);
		lc_sock_free(frame);
	}
	flush_touched();
}

static void
on_signal(struct lc_loop *loop, int signo, pid_t sender, void *arg)
{
	if (signo == SIGUSR1)
		log_stats("stats");
	if (signo == SIGUSR1 || signo == SIGHUP)
		return;
	log_stats("exit");
	worker_die_by(signo);
}

/* --- setup ---------------------------------------------------------------------------------- */

/* NODE's address in a LETITCRASH_NODES list ("east=tcp://127.0.0.1:7001,west=..."), copied
 * into buf; NULL if it is not there. */
static const char *
node_addr(const char *list, const char *node, char *buf, size_t len)
{
	size_t nl = strlen(node);
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t el = end ? (size_t)(end - p) : strlen(p);
		if (el > nl + 1 && memcmp(p, node, nl) == 0 && p[nl] == '=') {
			if (el - nl - 1 >= len)
				return NULL;
			memcpy(buf, p + nl + 1, el - nl - 1);
			buf[el - nl - 1] = '\0';
			return buf;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static void
setup(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	if (lc_loop_init(&R.loop) < 0 || lc_loop_signals(&R.loop, &set, on_signal, NULL) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	for (int i = 0; i < MAX_DESTS; i++)
		R.dests[i].sock = -1;
	if ((R.sock = lc_sock_open(LC_SOCK_PULL)) < 0)
		lc_die_sys(LC_EXIT_TEMP, "socket");
	if (lc_sock_bind(R.sock, R.addr) < 0)
		lc_die(errno == EADDRINUSE ? LC_EXIT_TEMP : LC_EXIT_USAGE, "%s: unable to bind %s: %s",
		    R.node, R.addr, lc_sock_strerror(errno));
	if ((R.rcvio.fd = lc_sock_recv_fd(R.sock)) < 0)
		lc_die_sys(LC_EXIT_TEMP, "NN_RCVFD");
	R.rcvio.fn = on_frames;
	if (lc_io_start(&R.loop, &R.rcvio, EPOLLIN) < 0)
		lc_die_sys(LC_EXIT_TEMP, "epoll");
}

int
main(int argc, char **argv)
{
	static char addrbuf[ADDR_MAX];
	const char *nodes;
	int c;

	worker_init(argv[0]);
	lc_log_set_level(LC_LOG_INFO);
	R.node = getenv("LETITCRASH_NODE");
	R.rundir = getenv("LETITCRASH_RUNDIR");
	while ((c = getopt(argc, argv, "hl:n:r:v")) != -1) {
		switch (c) {
		case 'l': R.addr = optarg; break;
		case 'n': R.node = optarg; break;
		case 'r': R.rundir = optarg; break;
		case 'v': lc_log_set_level(LC_LOG_DEBUG); break;
		case 'h': worker_usage(usage, 0);
		default: worker_usage(usage, LC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		worker_usage(usage, LC_EXIT_USAGE);
	if (!R.node || !name_ok(R.node, strlen(R.node)))
		lc_die(LC_EXIT_USAGE, "no valid node name (-n NODE or LETITCRASH_NODE): %s",
		    R.node ? R.node : "unset");
	if (!R.rundir || !*R.rundir)
		lc_die(LC_EXIT_USAGE, "no run directory (-r RUNDIR or LETITCRASH_RUNDIR)");
	if (!R.addr && (!(nodes = getenv("LETITCRASH_NODES")) ||
	    !(R.addr = node_addr(nodes, R.node, addrbuf, sizeof addrbuf))))
		lc_die(LC_EXIT_USAGE, "%s: no address: give -l ADDR or name the node in "
		    "LETITCRASH_NODES", R.node);
	if (strncmp(R.addr, "tcp://", 6) != 0 && strncmp(R.addr, "ipc://", 6) != 0)
		lc_die(LC_EXIT_USAGE, "%s: address must be tcp://HOST:PORT or ipc://PATH: %s", R.node,
		    R.addr);

	setup();
	lc_info("%s: routing %s to %s", R.node, R.addr, R.rundir);
	worker_ready();
	if (lc_loop_run(&R.loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	return 0;
}
