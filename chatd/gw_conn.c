/* chatd: the listener and the connections: input framing, one command at a time, flood
 * control that delays, the bounded output queue, labeled replies. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "chatd.h"

static void conn_io(struct lc_loop *l, struct lc_io *io, uint32_t events);

const char *
gw_nick(const struct gw_conn *c)
{
	return c->has_nick && c->state == GW_REGISTERED ? c->nick : "*";
}

struct gw_text *
gw_text(struct gw_conn *c)
{
	if (!c->tx && !(c->tx = calloc(1, sizeof *c->tx)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	return c->tx;
}

/* Input buffer: allocated when a read needs it, freed once every byte in it was handled, so
 * that an idle connection holds none (4.6 KiB each). Returns c->in, or NULL (no memory). */
static struct gw_blocks in_blocks = { .size = sizeof(struct irc_in) };

static struct irc_in *
in_get(struct gw_conn *c)
{
	if (!c->in && (c->in = gw_block_get(&in_blocks)))
		irc_in_init(c->in);
	return c->in;
}

static void
in_release(struct gw_conn *c)
{
	if (c->in && c->in->start == c->in->end && !c->in->skipping) {
		gw_block_put(&in_blocks, c->in);
		c->in = NULL;
	}
}

/* Whether c's input buffer can take more (a missing one can). */
static bool
in_room(struct gw_conn *c)
{
	char *p;

	return !c->in || irc_in_space(c->in, &p) > 0;
}

struct gw_conn *
gw_conn_by_id(struct gw *gw, const char *id)
{
	const char *p = strchr(id, '/');
	char *end;

	if (!p)
		return NULL;
	unsigned long fd = strtoul(p + 1, &end, 10);
	if (*end != '/' || fd >= gw->nconns || !gw->conns[fd])
		return NULL;
	return strcmp(gw->conns[fd]->id, id) ? NULL : gw->conns[fd];
}

/* --- output ---------------------------------------------------------------------------------- */

static void
mark_dirty(struct gw_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->dnext = c->gw->dirty;
		c->gw->dirty = c;
	}
}

void
gw_out(struct gw_conn *c, const char *line, size_t len)
{
	if (c->closing)
		return;
	if (gw_outq_put(&c->out, line, len) < 0) {
		lc_info("%s: SendQ exceeded (%zu bytes queued), dropped", c->id,
		    gw_outq_pending(&c->out));
		gw_conn_close(c, "SendQ exceeded");
		return;
	}
	mark_dirty(c);
}

void
gw_reply_raw(struct gw_conn *c, const char *line, size_t len)
{
	if (!c->labeled) {
		gw_out(c, line, len);
		return;
	}
	if (gw_outq_put(&c->lab, line, len) < 0) {
		gw_conn_close(c, "SendQ exceeded");
		return;
	}
	c->lablines++;
}

void
gw_reply(struct gw_conn *c, struct irc_msg *m)
{
	char buf[IRC_OUT_MAX];
	ssize_t n = irc_write(buf, sizeof buf, m);

	if (n < 0) {
		lc_warn_sys("%s: unable to format a %s reply", c->id, m->command);
		return;
	}
	gw_reply_raw(c, buf, (size_t)n);
}

void
gw_num(struct gw_conn *c, unsigned num, ...)
{
	struct irc_msg m = { .ntags = 0 };
	char cmd[4];
	const char *p;
	va_list ap;

	snprintf(cmd, sizeof cmd, "%03u", num % 1000);
	m.source = c->gw->server;
	m.command = cmd;
	m.params[m.nparams++] = gw_nick(c);
	va_start(ap, num);
	while ((p = va_arg(ap, const char *)) != NULL && m.nparams < IRC_PARAMS_MAX)
		m.params[m.nparams++] = p;
	va_end(ap);
	/* the last param is text (':' always), but for the numerics made of tokens */
	m.trailing = num != 4 && num != 221 && num != 324 && num != 329 && num != 333;
	gw_reply(c, &m);
}

/* Write a held line with the label tag, or with batch=ref unless it already belongs to a
 * nested batch. */
static void
lab_emit(struct gw_conn *c, const char *line, size_t len, const char *key, const char *val)
{
	char buf[IRC_OUT_MAX + GW_LABEL_MAX * 2 + 16];
	ssize_t n;

	if (!strcmp(key, "batch") && gw_tag_has(line, len, "batch")) {
		gw_out(c, line, len);
		return;
	}
	if ((n = gw_tag_insert(buf, sizeof buf, line, len, key, val)) < 0)
		gw_out(c, line, len);
	else
		gw_out(c, buf, (size_t)n);
}

void
gw_cmd_end(struct gw_conn *c)
{
	char buf[256], ref[24];

	if (!c->labeled)
		return;
	c->labeled = false;
	if (c->lablines == 0) {
		int n = snprintf(buf, sizeof buf, ":%s ACK\r\n", c->gw->server);
		lab_emit(c, buf, (size_t)n, "label", c->label);
	} else if (c->lablines == 1) {
		lab_emit(c, gw_outq_data(&c->lab), gw_outq_pending(&c->lab), "label", c->label);
	} else {
		snprintf(ref, sizeof ref, "L%llu", (unsigned long long)++c->batch_serial);
		int n = snprintf(buf, sizeof buf, ":%s BATCH +%s labeled-response\r\n",
		    c->gw->server, ref);
		lab_emit(c, buf, (size_t)n, "label", c->label);
		const char *p = gw_outq_data(&c->lab), *end = p + gw_outq_pending(&c->lab);
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = (size_t)(nl - p) + 1;
			lab_emit(c, p, len, "batch", ref);
			p += len;
		}
		n = snprintf(buf, sizeof buf, ":%s BATCH -%s\r\n", c->gw->server, ref);
		gw_out(c, buf, (size_t)n);
	}
	gw_outq_consume(&c->lab, gw_outq_pending(&c->lab));
	c->lablines = 0;
}

/* Watch for what c can take now: input while there is room, output while some is pending.
 * A dirty connection is left to gw_flush, which writes first and then watches. */
static void
conn_watch(struct gw_conn *c)
{
	uint32_t ev = 0;

	if (c->dirty)
		return;
	if (!c->closing && !c->eof && in_room(c))
		ev |= EPOLLIN;
	if (gw_outq_pending(&c->out))
		ev |= EPOLLOUT;
	if (ev != c->events) {
		if (lc_io_modify(c->gw->loop, &c->io, ev) < 0)
			lc_warn_sys("%s: epoll", c->id);
		c->events = ev;
	}
}

/* Write what is queued, as far as the socket takes it. -1: the connection is gone. */
static int
conn_write(struct gw_conn *c)
{
	while (gw_outq_pending(&c->out)) {
		ssize_t n = write(c->fd, gw_outq_data(&c->out), gw_outq_pending(&c->out));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		gw_outq_consume(&c->out, (size_t)n);
	}
	return 0;
}

static void conn_free(struct gw_conn *c);

/* Free c's texts once nothing in them is live: no request out (its op_text, its quit), no SASL
 * exchange, no JOIN/PART list under way. Every JOIN allocates them; kept, they were 2.3 kB of
 * an idle connection's 4.1 kB. From gw_flush only: no handler holds them there. */
static void
text_release(struct gw_conn *c)
{
	if (c->tx && !c->req && !c->sasl_on && !c->tx->targets[0]) {
		free(c->tx);
		c->tx = NULL;
	}
}

/* Write the output of every dirty connection (once per loop turn: the before-wait hook),
 * free the closed ones. */
void
gw_flush(struct gw *gw)
{
	struct gw_conn *c;

	while ((c = gw->dirty)) {
		gw->dirty = c->dnext;
		c->dirty = false;
		c->dnext = NULL;
		if (c->closing) {
			conn_free(c);
			continue;
		}
		if (conn_write(c) < 0) {
			gw_conn_close(c, NULL);
			continue;
		}
		text_release(c);
		conn_watch(c);
	}
}

/* --- lifecycle ------------------------------------------------------------------------------- */

static void
conn_free(struct gw_conn *c)
{
	struct gw *gw = c->gw;
	static char drain[65536];

	lc_io_stop(gw->loop, &c->io);
	lc_timer_cancel(gw->loop, &c->flood_timer);
	/* Unread input would turn close into a reset that can destroy the ERROR line in flight, so
	 * read what has arrived; but only so much: a client that keeps sending would hold the loop
	 * here for as long as it likes (it gets the reset instead). */
	for (int i = 0; i < GW_DRAIN_READS && read(c->fd, drain, sizeof drain) > 0; i++)
		;
	close(c->fd);
	gw->conns[c->fd] = NULL;
	gw_chans_drop(c);
	gw_block_put(&in_blocks, c->in);
	free(c->tx);
	gw_outq_fini(&c->out);
	gw_outq_fini(&c->lab);
	gw_outq_fini(&c->hold);
	free(c);
}

void
gw_conn_close(struct gw_conn *c, const char *error)
{
	char buf[512];

	if (c->closing)
		return;
	if (error) {
		int n = snprintf(buf, sizeof buf, "ERROR :%s\r\n", error);
		/* past the bound on purpose: the last line, written once */
		c->out.max += (size_t)n;
		if (gw_outq_put(&c->out, buf, (size_t)n) == 0)
			(void)conn_write(c);
	} else {
		gw_outq_consume(&c->out, gw_outq_pending(&c->out));
	}
	(void)conn_write(c);
	c->closing = true;
	gw_conn_forget(c);
	lc_debug("%s: closed", c->id);
	/* freed from gw_flush, after the callbacks that may still hold it */
	mark_dirty(c);
}

static void
flood_wake(struct lc_loop *l, struct lc_timer *t)
{
	struct gw_conn *c = t->arg;

	gw_conn_resume(c);
}

void
gw_conn_resume(struct gw_conn *c)
{
	char *line;
	size_t len;

	while (!c->closing && !c->req) {
		int64_t now = lc_now_ms();
		/* peek whether a line is there before taking a token for it */
		int64_t wait = gw_flood_take(&c->flood, now);
		if (wait > 0) {
			if (!lc_timer_armed(&c->flood_timer) && c->in && c->in->end > c->in->start)
				lc_timer_set(c->gw->loop, &c->flood_timer, now + wait);
			break;
		}
		enum irc_in_status st = c->in ? irc_in_next(c->in, &line, &len) : IRC_IN_AGAIN;
		if (st == IRC_IN_AGAIN) {
			c->flood.tokens += 1.0;         /* not used */
			if (c->eof) {                   /* every line answered: done */
				gw_conn_close(c, NULL);
				return;
			}
			break;
		}
		if (st == IRC_IN_NUL)
			continue;
		if (st == IRC_IN_TOOLONG) {
			gw_num(c, 417, "Input line was too long", NULL);
			gw_cmd_end(c);
			continue;
		}
		gw_cmd_line(c, line);
	}
	in_release(c);
	if (!c->closing)
		conn_watch(c);
}

static void
conn_read(struct gw_conn *c)
{
	char *p;

	if (c->eof || !in_get(c))
		return;
	size_t space = irc_in_space(c->in, &p);
	if (space == 0)
		return;
	ssize_t n = read(c->fd, p, space);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		lc_debug("%s: read: %s", c->id, strerror(errno));
		gw_conn_close(c, NULL);
		return;
	}
	if (n == 0) {
		/* a half-close (`printf ... | nc`) still gets the answers to its lines */
		c->eof = true;
		gw_conn_resume(c);
		return;
	}
	irc_in_commit(c->in, (size_t)n);
	c->last_in_ms = lc_now_ms();
	c->pinged_ms = 0;
	gw_conn_resume(c);
}

static void
conn_io(struct lc_loop *l, struct lc_io *io, uint32_t events)
{
	struct gw_conn *c = io->arg;

	if (events & EPOLLOUT) {
		if (conn_write(c) < 0)
			gw_conn_close(c, NULL);
	}
	if (!c->closing && (events & (EPOLLERR | EPOLLHUP))) {
		/* nothing more to read or write: level-triggered, this would fire forever */
		if (c->eof || !in_room(c))
			gw_conn_close(c, NULL);
	}
	if (!c->closing && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(c);
	if (!c->closing)
		conn_watch(c);
}

static int
conn_slot(struct gw *gw, int fd)
{
	if ((size_t)fd < gw->nconns)
		return 0;
	size_t n = gw->nconns ? gw->nconns : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct gw_conn **nc = realloc(gw->conns, n * sizeof *nc);
	if (!nc)
		return -1;
	memset(nc + gw->nconns, 0, (n - gw->nconns) * sizeof *nc);
	gw->conns = nc;
	gw->nconns = n;
	return 0;
}

/* How many open connections (this one included) come from the address. A linear scan, like
 * the other lookups by value: fine for the gateway's hundreds of connections. */
static unsigned
per_ip(const struct gw *gw, const char *addr)
{
	unsigned n = 0;

	for (size_t i = 0; i < gw->nconns; i++)
		if (gw->conns[i] && !gw->conns[i]->closing && !strcmp(gw->conns[i]->addr, addr))
			n++;
	return n;
}

static void
conn_new(struct gw *gw, int fd, const struct sockaddr_storage *ss)
{
	struct gw_conn *c;
	int one = 1;

	if (conn_slot(gw, fd) < 0 || !(c = calloc(1, sizeof *c))) {
		lc_warn("unable to accept a connection: out of memory");
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->gw = gw;
	c->fd = fd;
	snprintf(c->id, sizeof c->id, "%s/%d/%llu/%ld", gw->name, fd,
	    (unsigned long long)gw->next_serial++, (long)gw->pid);
	if (getnameinfo((const struct sockaddr *)ss, sizeof *ss, c->addr, sizeof c->addr, NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(c->addr, sizeof c->addr, "%s", "unknown");
	/* the host goes into nick!user@host: an IPv6 address starting with ':' would break it */
	snprintf(c->host, sizeof c->host, "%s", c->addr[0] == ':' || !strcmp(c->addr, "unknown") ?
	    "localhost" : c->addr);
	c->born_ms = c->last_in_ms = lc_now_ms();
	gw_outq_init(&c->out, gw->sendq);
	gw_outq_init(&c->lab, 4 * gw->sendq);
	gw_outq_init(&c->hold, gw->sendq);
	gw_flood_init(&c->flood, gw->flood_rate, gw->flood_burst, lc_now_ms());
	lc_timer_init(&c->flood_timer, flood_wake, c);
	c->io.fd = fd;
	c->io.fn = conn_io;
	c->io.arg = c;
	c->events = EPOLLIN;
	if (lc_io_start(gw->loop, &c->io, EPOLLIN) < 0) {
		lc_warn_sys("%s: epoll", c->id);
		close(fd);
		gw_outq_fini(&c->out);
		free(c);
		return;
	}
	gw->conns[fd] = c;
	lc_debug("%s: connected from %s", c->id, c->host);
	unsigned same = gw->max_per_ip ? per_ip(gw, c->addr) : 0;   /* no limit: no scan */
	if (gw->max_per_ip && same > gw->max_per_ip) {
		int64_t now = lc_now_ms();
		gw->nrefused++;
		if (now - gw->refused_log_ms >= 1000) {  /* a hostile loop must not flood the log */
			lc_info("%s: %u connections from %s, over the limit of %u: refused (%llu in "
			    "all)", c->id, same, c->addr, gw->max_per_ip,
			    (unsigned long long)gw->nrefused);
			gw->refused_log_ms = now;
		}
		gw_conn_close(c, "Too many connections from your host");
		gw_flush(gw);
	}
}

/* --- timeouts -------------------------------------------------------------------------------- */

/* One connection's timeouts at `now`: an unregistered one (no request out: a registration
 * waiting on a session worker is the tree's delay, not the client's) past the registration
 * timeout is dropped; a registered one silent for ping_ms gets a PING, and is dropped if still
 * silent ping_ms after that PING. Waiting on a request (REGISTER included) or on the flood
 * bucket is not silence. */
static void
conn_timeouts(struct gw_conn *c, int64_t now)
{
	struct gw *gw = c->gw;
	char buf[IRC_LINE_MAX];

	if (c->state == GW_NEW && !c->req) {
		if (now - c->born_ms >= gw->reg_timeout_ms) {
			lc_info("%s: registration timed out", c->id);
			snprintf(buf, sizeof buf, "Closing Link: %s (Registration timed out)", c->host);
			gw_conn_close(c, buf);
		}
		return;
	}
	if (c->req || (c->in && c->in->end > c->in->start)) {
		c->last_in_ms = now;
		c->pinged_ms = 0;
	} else if (c->state != GW_REGISTERED || gw->ping_ms <= 0) {
		return;
	} else if (c->pinged_ms && now - c->pinged_ms >= gw->ping_ms) {
		lc_info("%s: ping timeout", c->id);
		snprintf(buf, sizeof buf, "Closing Link: %s (Ping timeout: %lld seconds)", c->host,
		    (long long)((now - c->last_in_ms) / 1000));
		gw_conn_close(c, buf);
	} else if (!c->pinged_ms && now - c->last_in_ms >= gw->ping_ms) {
		int n = snprintf(buf, sizeof buf, "PING :%s\r\n", gw->server);
		if (n > 0 && (size_t)n < sizeof buf)    /* a server name too long for a line: none */
			gw_out(c, buf, (size_t)n);
		c->pinged_ms = now;
	}
}

static void
idle_scan(struct lc_loop *l, struct lc_timer *t)
{
	struct gw *gw = t->arg;
	int64_t now = lc_now_ms();

	for (size_t i = 0; i < gw->nconns; i++)
		if (gw->conns[i] && !gw->conns[i]->closing)
			conn_timeouts(gw->conns[i], now);
	gw_flush(gw);
	lc_timer_set(l, t, now + GW_IDLE_SCAN_MS);
}

void
gw_idle_start(struct gw *gw)
{
	lc_timer_init(&gw->idle, idle_scan, gw);
	lc_timer_set(gw->loop, &gw->idle, lc_now_ms() + GW_IDLE_SCAN_MS);
}

static void
listener_io(struct lc_loop *l, struct lc_io *io, uint32_t events)
{
	struct gw *gw = io->arg;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(gw->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				lc_warn_sys("accept");
			break;
		}
		conn_new(gw, fd, &ss);
	}
}

/* Listen on ADDR:PORT ([v6]:PORT too), SO_REUSEPORT. 0, or -1 with a message logged. */
int
gw_listen(struct gw *gw, const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	int one = 1, fd, r;

	if (!colon || (size_t)(colon - addr) >= sizeof host) {
		lc_warn("bad listen address %s (want ADDR:PORT)", addr);
		return -1;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai)) != 0) {
		lc_warn("bad listen address %s: %s", addr, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
		lc_warn_sys("unable to listen on %s", addr);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	gw->lfd = fd;
	gw->lio.fd = fd;
	gw->lio.fn = listener_io;
	gw->lio.arg = gw;
	if (lc_io_start(gw->loop, &gw->lio, EPOLLIN) < 0) {
		lc_warn_sys("epoll");
		return -1;
	}
	return 0;
}
