/* chat-bench: an IRC load generator that speaks plain RFC IRC (NICK/USER, JOIN, PRIVMSG), so it
 * drives any IRC server. CLIENTS connections are spread over K channels; once every client has
 * joined, each posts to its channel at RATE messages/s, or as fast as acknowledged (`max`: at
 * most W messages in flight, a message being acknowledged when any other member of its channel
 * received it). Every payload starts with "cb:<client>:<seq>:<send_ns> " (bench.h), so each
 * receiver measures the latency (CLOCK_MONOTONIC, same machine), and counts deliveries, losses
 * and duplicates per sender. One process, one event loop (letitcrash/loop.h). docs/chat.md.
 *
 * Exit: 0 after a run (losses are reported, not failures), 100 usage, 111 setup failure
 * (server unreachable, a client refused or not joined within --setup-timeout). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/loop.h"
#include "letitcrash/time.h"
#include "bench.h"
#include "chatd.h"

#define CB_CONNECT_BATCH  200           /* connections being set up at once */
#define CB_OUTQ_MAX       (64 * 1024)   /* bytes queued per client */
#define CB_SIZE_MAX       400           /* payload bytes: fits any server's 512 with a prefix */
#define CB_ACK_TIMEOUT_MS 5000          /* max mode: a message nobody received is given up */
#define CB_CATCHUP_MAX    100           /* rate mode: sends per timer turn */
#define CB_CLIENTS_MAX    100000
#define CB_REG_TIMEOUT_MS 10000         /* connect + registration of one client, per try
                                         * (a durable server under load may queue it) */
#define CB_REG_TRIES      5             /* a server's full accept queue drops connections */

enum cstate { C_IDLE, C_CONNECTING, C_REGISTERING, C_JOINING, C_JOINED, C_DEAD };
enum phase { P_SETUP, P_WARMUP, P_MEASURE, P_DRAIN, P_DONE };

struct client {
	uint32_t id;
	unsigned chan;
	int fd;
	enum cstate st;
	struct lc_io io;
	uint32_t events;
	struct lc_timer timer;          /* rate: next send; max: ack deadline */
	struct gw_outq out;
	uint64_t sent;                  /* seqs 0..sent-1 were sent */
	uint64_t acked;                 /* max mode: seqs below were received by someone */
	int64_t due_ns;                 /* rate mode: next send */
	unsigned tries;                 /* setup: connection attempts */
	struct cb_track *track;         /* per member of the channel (sender id / K) */
	struct irc_in in;
};

static struct {
	/* options */
	const char *host, *port, *prefix;
	unsigned nclients, nchans, size, window;
	double rate;                    /* 0: max */
	double duration, warmup, drain, setup_timeout;
	bool json;
	/* state */
	struct lc_loop loop;
	struct lc_timer phase_timer;
	struct addrinfo *ai;
	struct client *c;
	unsigned next_connect, setting_up, joined;
	enum phase phase;
	int64_t t_measure, t_end;       /* ns */
	double cpu_measure, cpu_end;    /* our own CPU time at both ends, s */
	/* figures */
	uint64_t sent_total, sent_window, deliveries, delivered_window;
	struct cb_hist hist;
	struct cb_loss loss;
	uint64_t err_lines, disconnects, sendq_full, ack_timeouts, behind, foreign, retries;
	uint64_t numerics[1000];
} B;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static unsigned members(unsigned chan)
{
	return B.nclients / B.nchans + (chan < B.nclients % B.nchans);
}

static void client_io(struct lc_loop *l, struct lc_io *io, uint32_t ev);
static void finish(void);
static double cpu_s(void);

/* Write what is queued; watch EPOLLOUT only while something is left. */
static void flush(struct client *c)
{
	ssize_t n;
	uint32_t want;

	while (gw_outq_pending(&c->out) > 0) {
		n = write(c->fd, gw_outq_data(&c->out), gw_outq_pending(&c->out));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;          /* EAGAIN: wait for EPOLLOUT; errors show on read */
		}
		gw_outq_consume(&c->out, (size_t)n);
	}
	want = EPOLLIN | (gw_outq_pending(&c->out) ? EPOLLOUT : 0);
	if (want != c->events && c->st != C_CONNECTING) {
		c->events = want;
		if (lc_io_modify(&B.loop, &c->io, want) < 0)
			lc_die_sys(LC_EXIT_TEMP, "unable to watch client %u", c->id);
	}
}

/* Queue a formatted line (CRLF added). Returns 0, or -1 when the queue is full. */
static int sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sendf(struct client *c, const char *fmt, ...)
{
	char buf[IRC_LINE_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf - 2)
		lc_die(LC_EXIT_BUG, "line too long for client %u", c->id);
	memcpy(buf + n, "\r\n", 2);
	if (gw_outq_put(&c->out, buf, (size_t)n + 2) < 0)
		return -1;
	return 0;
}

/* Post the next message of c to its channel. Returns 0, or -1 (queue full, not sent). */
static int post(struct client *c)
{
	char text[CB_SIZE_MAX + 64];
	int64_t t = now_ns();

	if (cb_payload_format(text, sizeof text, B.size, c->id, c->sent, t) < 0)
		lc_die(LC_EXIT_BUG, "payload does not fit");
	if (sendf(c, "PRIVMSG #%s%u :%s", B.prefix, c->chan, text) < 0) {
		B.sendq_full++;
		return -1;
	}
	c->sent++;
	B.sent_total++;
	if (B.phase == P_MEASURE)
		B.sent_window++;
	return 0;
}

static bool sending(void)
{
	return B.phase == P_WARMUP || B.phase == P_MEASURE;
}

/* max mode: fill the window. */
static void post_window(struct client *c)
{
	bool any = false;

	while (sending() && c->st == C_JOINED && c->sent - c->acked < B.window && post(c) == 0)
		any = true;
	if (any)
		flush(c);
	if (c->sent > c->acked && !lc_timer_armed(&c->timer))
		lc_timer_set(&B.loop, &c->timer, lc_now_ms() + CB_ACK_TIMEOUT_MS);
}

static void client_retry(struct client *c);

static void client_timer(struct lc_loop *l, struct lc_timer *t)
{
	struct client *c = t->arg;
	int64_t now = now_ns(), interval;
	unsigned n = 0;

	if (B.phase == P_SETUP) {
		client_retry(c);
		return;
	}
	if (!sending() || c->st != C_JOINED)
		return;
	if (B.rate == 0) {              /* ack deadline */
		B.ack_timeouts += c->sent - c->acked;
		c->acked = c->sent;
		post_window(c);
		return;
	}
	interval = (int64_t)(1e9 / B.rate);
	while (c->due_ns <= now && n++ < CB_CATCHUP_MAX) {
		post(c);
		c->due_ns += interval;
	}
	if (c->due_ns < now - 1000000000) {     /* more than 1 s behind: drop the backlog */
		B.behind++;
		c->due_ns = now;
	}
	flush(c);
	lc_timer_set(l, t, c->due_ns / 1000000 + 1);
}

static void setup_fail(struct client *c, const char *what)
{
	lc_die(LC_EXIT_TEMP, "setup failed: client %u (%s%u): %s", c->id, B.prefix, c->id, what);
}

static void client_joined(struct client *c)
{
	c->st = C_JOINED;
	B.joined++;
	B.setting_up--;
	if (B.joined == B.nclients)
		lc_loop_break(&B.loop);         /* main() starts the load */
}

/* A PRIVMSG seen by receiver r. */
static void on_privmsg(struct client *r, const struct irc_msg *m, int64_t t)
{
	uint32_t sid;
	uint64_t seq;
	int64_t sent_ns;
	struct client *s;
	enum cb_seen k;

	if (m->nparams < 2 || cb_payload_parse(m->params[1], &sid, &seq, &sent_ns) < 0 ||
	    sid >= B.nclients || sid % B.nchans != r->chan || sid == r->id) {
		B.foreign++;
		return;
	}
	s = &B.c[sid];
	k = cb_track_see(&r->track[sid / B.nchans], &B.loss, seq);
	if (k == CB_DUP)
		return;
	B.deliveries++;
	if (B.phase == P_MEASURE) {
		B.delivered_window++;
		cb_hist_add(&B.hist, t > sent_ns ? (uint64_t)(t - sent_ns) / 1000 : 0);
	}
	if (B.rate == 0 && seq >= s->acked) {
		s->acked = seq + 1;
		lc_timer_cancel(&B.loop, &s->timer);
		post_window(s);
	}
}

/* Close c's connection, if it has one. */
static void hang_up(struct client *c)
{
	if (c->fd < 0)
		return;
	lc_io_stop(&B.loop, &c->io);
	close(c->fd);
	c->fd = -1;
}

/* Whether c has a connection to read and write (not closed for good, nor waiting to retry). */
static bool client_open(const struct client *c)
{
	return c->st != C_DEAD && c->st != C_IDLE;
}

static void on_line(struct client *c, char *line, int64_t t)
{
	struct irc_msg m;
	unsigned num;

	if (irc_parse(line, &m) < 0 || !m.command)
		return;
	if (strcmp(m.command, "PRIVMSG") == 0) {
		on_privmsg(c, &m, t);
	} else if (strcmp(m.command, "PING") == 0) {
		sendf(c, "PONG :%s", m.nparams ? m.params[m.nparams - 1] : "");
		flush(c);
	} else if (strcmp(m.command, "ERROR") == 0) {
		B.err_lines++;
		if (B.phase == P_SETUP)
			setup_fail(c, m.nparams ? m.params[0] : "ERROR");
	} else if (m.command[0] >= '0' && m.command[0] <= '9') {
		num = (unsigned)atoi(m.command);
		if (num == 1 && c->st == C_REGISTERING) {
			c->st = C_JOINING;
			lc_timer_cancel(&B.loop, &c->timer);
			sendf(c, "JOIN #%s%u", B.prefix, c->chan);
			flush(c);
		} else if (num == 366 && c->st == C_JOINING) {
			client_joined(c);
		} else if (num == 433 && c->st == C_REGISTERING && c->tries > 1) {
			/* our own earlier try of this client may still hold the nick until the
			 * server has seen its close: try again later (a few times at most) */
			hang_up(c);
			c->st = C_IDLE;
			lc_timer_set(&B.loop, &c->timer, lc_now_ms() + CB_REG_TIMEOUT_MS);
		} else if (num >= 400 && num < 1000 && num != 422) {    /* 422: no MOTD */
			B.numerics[num]++;
			if (B.phase == P_SETUP && c->st != C_JOINED) {
				char what[IRC_LINE_MAX];
				snprintf(what, sizeof what, "server answered %03u %s", num,
				    m.nparams ? m.params[m.nparams - 1] : "");
				setup_fail(c, what);
			}
		}
	}
}

static void client_close(struct client *c, const char *why)
{
	if (B.phase == P_SETUP)
		setup_fail(c, why);
	if (B.phase < P_DONE)
		B.disconnects++;
	lc_timer_cancel(&B.loop, &c->timer);
	hang_up(c);
	c->st = C_DEAD;
}

static void client_read(struct client *c)
{
	char *p, *line;
	size_t len;
	ssize_t n;
	enum irc_in_status st;
	int64_t t;
	int turns = 0;

	while (turns++ < 4 && client_open(c)) {
		len = irc_in_space(&c->in, &p);  /* never 0: irc_in_next leaves room */
		n = read(c->fd, p, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c, n == 0 ? "the server closed the connection" : strerror(errno));
			return;
		}
		t = now_ns();
		irc_in_commit(&c->in, (size_t)n);
		while (client_open(c) && (st = irc_in_next(&c->in, &line, &len)) != IRC_IN_AGAIN)
			if (st == IRC_IN_LINE)
				on_line(c, line, t);
	}
}

static void client_connected(struct client *c)
{
	int err = 0;
	socklen_t sl = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err != 0)
		lc_die(LC_EXIT_TEMP, "unable to connect to %s:%s: %s", B.host, B.port,
		    strerror(err));
	c->st = C_REGISTERING;
	sendf(c, "NICK %s%u", B.prefix, c->id);
	sendf(c, "USER %s%u 0 * :chat-bench", B.prefix, c->id);
	c->events = 0;
	flush(c);
}

static void client_io(struct lc_loop *l, struct lc_io *io, uint32_t ev)
{
	struct client *c = io->arg;

	if (c->st == C_CONNECTING) {
		client_connected(c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		client_read(c);
	if (client_open(c) && (ev & EPOLLOUT))
		flush(c);
}

/* Open c's connection (non-blocking) and arm its registration deadline. */
static void client_connect(struct client *c)
{
	int one = 1;

	c->fd = socket(B.ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to open connection %u", c->id);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, B.ai->ai_addr, B.ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		lc_die_sys(LC_EXIT_TEMP, "unable to connect to %s:%s", B.host, B.port);
	c->st = C_CONNECTING;
	c->tries++;
	irc_in_init(&c->in);
	gw_outq_consume(&c->out, gw_outq_pending(&c->out));
	c->io.fd = c->fd;
	c->io.fn = client_io;
	c->io.arg = c;
	c->events = EPOLLOUT;
	if (lc_io_start(&B.loop, &c->io, EPOLLOUT) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to watch connection %u", c->id);
	lc_timer_set(&B.loop, &c->timer, lc_now_ms() + CB_REG_TIMEOUT_MS);
}

/* Setup deadline of c: a connection the server never accepted (its listen queue overflowed:
 * the handshake completed on our side only) or never answered. Try again, a few times. */
static void client_retry(struct client *c)
{
	if (c->st == C_JOINING || c->st == C_JOINED)
		return;
	if (c->tries >= CB_REG_TRIES)
		setup_fail(c, "not registered after " "5 tries");
	hang_up(c);
	B.retries++;
	client_connect(c);
}

/* Start connections up to CB_CONNECT_BATCH being set up. */
static void connect_more(void)
{
	while (B.setting_up < CB_CONNECT_BATCH && B.next_connect < B.nclients) {
		client_connect(&B.c[B.next_connect++]);
		B.setting_up++;
	}
}

static void phase_next(struct lc_loop *l, struct lc_timer *t)
{
	int64_t now = lc_now_ms();

	switch (B.phase) {
	case P_SETUP: {
		unsigned n[C_DEAD + 1] = { 0 }, i;
		for (i = 0; i < B.nclients; i++)
			n[B.c[i].st]++;
		lc_die(LC_EXIT_TEMP, "setup failed: %u of %u clients joined after %.0f s (not started"
		    " %u, connecting %u, registering %u, joining %u)", B.joined, B.nclients,
		    B.setup_timeout, n[C_IDLE], n[C_CONNECTING], n[C_REGISTERING], n[C_JOINING]);
	}
	case P_WARMUP:
		lc_info("measuring for %.1f s", B.duration);
		B.phase = P_MEASURE;
		B.t_measure = now_ns();
		B.cpu_measure = cpu_s();
		lc_timer_set(l, t, now + (int64_t)(B.duration * 1000));
		break;
	case P_MEASURE:
		lc_info("measured; draining");
		B.phase = P_DRAIN;
		B.t_end = now_ns();
		B.cpu_end = cpu_s();
		lc_timer_set(l, t, now + (int64_t)(B.drain * 1000));
		break;
	default:
		B.phase = P_DONE;
		lc_loop_break(l);
	}
}

static void on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	if (B.phase == P_SETUP)
		lc_die(LC_EXIT_TEMP, "interrupted during setup");
	if (B.phase <= P_MEASURE) {     /* report what was measured so far */
		B.phase = P_MEASURE;
		phase_next(l, &B.phase_timer);
	}
}

static void start_load(void)
{
	int64_t now = now_ns(), interval;
	struct client *c;
	unsigned i;

	B.phase = B.warmup > 0 ? P_WARMUP : P_MEASURE;
	B.t_measure = now;
	B.cpu_measure = cpu_s();
	lc_timer_set(&B.loop, &B.phase_timer,
	    lc_now_ms() + (int64_t)((B.warmup > 0 ? B.warmup : B.duration) * 1000));
	for (i = 0; i < B.nclients; i++) {
		c = &B.c[i];
		if (B.rate == 0) {
			post_window(c);
			continue;
		}
		/* spread the first sends over one interval */
		interval = (int64_t)(1e9 / B.rate);
		c->due_ns = now + (int64_t)((uint64_t)interval * i / B.nclients);
		lc_timer_set(&B.loop, &c->timer, c->due_ns / 1000000 + 1);
	}
}

static double pct_ms(double q)
{
	return (double)cb_hist_quantile(&B.hist, q) / 1000.0;
}

/* CPU seconds (user + system) this process used so far. */
static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t errors_total(void)
{
	uint64_t n = B.err_lines + B.disconnects;
	unsigned i;

	for (i = 400; i < 1000; i++)
		n += B.numerics[i];
	return n;
}

static void report_json(double secs)
{
	char rate[32];
	unsigned i;
	bool first = true;

	if (B.rate == 0)
		snprintf(rate, sizeof rate, "\"max\"");
	else
		snprintf(rate, sizeof rate, "%g", B.rate);
	printf("{\"server\":\"%s:%s\",\"clients\":%u,\"channels\":%u,\"size\":%u,\"rate\":%s,"
	    "\"window\":%u,\"duration_s\":%.3f,\"warmup_s\":%g,\"sent\":%" PRIu64 ","
	    "\"delivered\":%" PRIu64 ",\"delivered_per_s\":%.1f,\"messages_per_s\":%.1f,"
	    "\"latency_ms\":{\"samples\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
	    "\"max\":%.3f},\"bench_cpu_s\":%.3f,\"sent_total\":%" PRIu64 ",\"delivered_total\":%"
	    PRIu64 ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64 ",\"duplicates\":%" PRIu64 ","
	    "\"errors\":%" PRIu64 ",\"error_lines\":%" PRIu64 ",\"disconnects\":%" PRIu64 ","
	    "\"sendq_full\":%" PRIu64 ",\"ack_timeouts\":%" PRIu64 ",\"behind\":%" PRIu64 ","
	    "\"setup_retries\":%" PRIu64 ",\"numerics\":{",
	    B.host, B.port, B.nclients, B.nchans, B.size, rate, B.window, secs, B.warmup,
	    B.sent_window, B.delivered_window, (double)B.delivered_window / secs,
	    (double)B.sent_window / secs, B.hist.count, pct_ms(0.5), pct_ms(0.99), pct_ms(0.999),
	    (double)B.hist.max_us / 1000.0, B.cpu_end - B.cpu_measure, B.sent_total, B.deliveries,
	    B.loss.lost, B.loss.late, B.loss.dup, errors_total(), B.err_lines, B.disconnects,
	    B.sendq_full, B.ack_timeouts, B.behind, B.retries);
	for (i = 400; i < 1000; i++)
		if (B.numerics[i]) {
			printf("%s\"%03u\":%" PRIu64, first ? "" : ",", i, B.numerics[i]);
			first = false;
		}
	printf("}}\n");
}

static void report_human(double secs)
{
	char rate[32];
	unsigned i;

	if (B.rate == 0)
		snprintf(rate, sizeof rate, "max (window %u)", B.window);
	else
		snprintf(rate, sizeof rate, "%g/s per client", B.rate);
	printf("chat-bench %s:%s\n", B.host, B.port);
	printf("  clients %u, channels %u, size %u B, rate %s, duration %.1f s (warmup %g s)\n",
	    B.nclients, B.nchans, B.size, rate, secs, B.warmup);
	printf("  sent        %12" PRIu64 "   %12.1f msg/s\n", B.sent_window,
	    (double)B.sent_window / secs);
	printf("  delivered   %12" PRIu64 "   %12.1f deliveries/s\n", B.delivered_window,
	    (double)B.delivered_window / secs);
	printf("  latency ms  p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (%" PRIu64 " samples)\n",
	    pct_ms(0.5), pct_ms(0.99), pct_ms(0.999), (double)B.hist.max_us / 1000.0,
	    B.hist.count);
	printf("  whole run   sent %" PRIu64 ", delivered %" PRIu64 ", lost %" PRIu64
	    ", late %" PRIu64 ", duplicates %" PRIu64 "\n", B.sent_total, B.deliveries,
	    B.loss.lost, B.loss.late, B.loss.dup);
	printf("  errors %" PRIu64 ": ERROR lines %" PRIu64 ", disconnects %" PRIu64
	    ", send queue full %" PRIu64 ", ack timeouts %" PRIu64 ", behind %" PRIu64,
	    errors_total(), B.err_lines, B.disconnects, B.sendq_full, B.ack_timeouts, B.behind);
	for (i = 400; i < 1000; i++)
		if (B.numerics[i])
			printf(", %03u x%" PRIu64, i, B.numerics[i]);
	printf("\n  chat-bench's own CPU: %.2f s over the %.1f s measured\n",
	    B.cpu_end - B.cpu_measure, secs);
	if (B.retries)
		printf("  setup: %" PRIu64 " connections retried (not accepted or not answered"
		    " within %d ms, or the nick still held by the client's previous try)\n",
		    B.retries, CB_REG_TIMEOUT_MS);
}

static void report(void)
{
	double secs = (double)(B.t_end - B.t_measure) / 1e9;

	if (secs <= 0)
		secs = 1e-9;
	if (B.json)
		report_json(secs);
	else
		report_human(secs);
}

/* Losses at the end: for every (receiver, sender) pair of a channel, what was sent and never
 * received (gaps were counted as seen). Dead receivers are not counted. */
static void finish(void)
{
	struct client *r;
	unsigned i, j, n;

	for (i = 0; i < B.nclients; i++) {
		r = &B.c[i];
		if (r->st == C_DEAD)
			continue;
		n = members(r->chan);
		for (j = 0; j < n; j++)
			if (j * B.nchans + r->chan != r->id)
				cb_track_finish(&r->track[j], &B.loss, B.c[j * B.nchans + r->chan].sent);
	}
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: chat-bench [-s HOST] [-p PORT] [-c CLIENTS] [-k CHANNELS] [-z SIZE]\n"
	    "                  [-r RATE|max] [-w WINDOW] [-d SECONDS] [--warmup S] [--drain S]\n"
	    "                  [--setup-timeout S] [--nick-prefix P] [--json]\n"
	    "  defaults: -s 127.0.0.1 -p 6667 -c 50 -k 1 -z 100 -r max -w 1 -d 10 --warmup 1\n"
	    "            --drain 2 --setup-timeout 60 --nick-prefix cb\n");
	exit(LC_EXIT_USAGE);
}

static double num(const char *s, double lo, double hi, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi))
		lc_die(LC_EXIT_USAGE, "bad %s: %s (%g..%g)", what, s, lo, hi);
	return v;
}

static void options(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "drain", required_argument, NULL, 'D' },
		{ "setup-timeout", required_argument, NULL, 'T' },
		{ "nick-prefix", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	B.host = "127.0.0.1", B.port = "6667", B.prefix = "cb";
	B.nclients = 50, B.nchans = 1, B.size = 100, B.window = 1;
	B.duration = 10, B.warmup = 1, B.drain = 2, B.setup_timeout = 60;
	while ((o = getopt_long(argc, argv, "s:p:c:k:z:r:w:d:h", lo, NULL)) != -1) {
		switch (o) {
		case 's': B.host = optarg; break;
		case 'p': B.port = optarg; break;
		case 'c': B.nclients = (unsigned)num(optarg, 1, CB_CLIENTS_MAX, "clients"); break;
		case 'k': B.nchans = (unsigned)num(optarg, 1, CB_CLIENTS_MAX, "channels"); break;
		case 'z': B.size = (unsigned)num(optarg, 0, CB_SIZE_MAX, "size"); break;
		case 'r': B.rate = strcmp(optarg, "max") == 0 ? 0 : num(optarg, 0.001, 1e6, "rate");
			break;
		case 'w': B.window = (unsigned)num(optarg, 1, 1000, "window"); break;
		case 'd': B.duration = num(optarg, 0.1, 86400, "duration"); break;
		case 'W': B.warmup = num(optarg, 0, 3600, "warmup"); break;
		case 'D': B.drain = num(optarg, 0, 600, "drain"); break;
		case 'T': B.setup_timeout = num(optarg, 1, 3600, "setup timeout"); break;
		case 'P': B.prefix = optarg; break;
		case 'J': B.json = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (B.nchans > B.nclients)
		lc_die(LC_EXIT_USAGE, "more channels (%u) than clients (%u)", B.nchans, B.nclients);
	if (B.rate == 0 && B.nclients / B.nchans < 2)
		lc_die(LC_EXIT_USAGE, "-r max needs at least 2 clients per channel");
	if (strlen(B.prefix) < 1 || strlen(B.prefix) > 8 || strspn(B.prefix,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(B.prefix))
		lc_die(LC_EXIT_USAGE, "bad nick prefix (1 to 8 letters): %s", B.prefix);
}

static void setup(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct rlimit rl;
	sigset_t set;
	unsigned i;
	int e;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < B.nclients + 16)
		lc_die(LC_EXIT_TEMP, "%u clients need more descriptors than allowed (%lu)",
		    B.nclients, (unsigned long)rl.rlim_cur);
	if ((e = getaddrinfo(B.host, B.port, &hints, &B.ai)) != 0)
		lc_die(LC_EXIT_TEMP, "unable to resolve %s:%s: %s", B.host, B.port, gai_strerror(e));
	signal(SIGPIPE, SIG_IGN);
	if (lc_loop_init(&B.loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to start the event loop");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (lc_loop_signals(&B.loop, &set, on_signal, NULL) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to watch signals");
	B.c = calloc(B.nclients, sizeof *B.c);
	if (!B.c)
		lc_die_sys(LC_EXIT_TEMP, "unable to allocate %u clients", B.nclients);
	for (i = 0; i < B.nclients; i++) {
		struct client *c = &B.c[i];
		c->id = i;
		c->chan = i % B.nchans;
		c->fd = -1;
		irc_in_init(&c->in);
		gw_outq_init(&c->out, CB_OUTQ_MAX);
		lc_timer_init(&c->timer, client_timer, c);
		c->track = calloc(members(c->chan), sizeof *c->track);
		if (!c->track)
			lc_die_sys(LC_EXIT_TEMP, "unable to allocate the trackers");
	}
	cb_hist_init(&B.hist);
	lc_timer_init(&B.phase_timer, phase_next, NULL);
}

int main(int argc, char **argv)
{
	lc_log_init("chat-bench");
	options(argc, argv);
	setup();

	/* setup: connect, register, join; the loop breaks when every client has joined */
	B.phase = P_SETUP;
	int64_t t0 = lc_now_ms();
	lc_timer_set(&B.loop, &B.phase_timer, lc_now_ms() + (int64_t)(B.setup_timeout * 1000));
	while (B.joined < B.nclients) {
		connect_more();
		if (lc_loop_once(&B.loop, 100) < 0)
			lc_die_sys(LC_EXIT_TEMP, "event loop");
	}
	lc_timer_cancel(&B.loop, &B.phase_timer);
	B.loop.stop = 0;
	/* on stderr, for whoever profiles the server during the measured phase only */
	lc_info("%u clients joined in %.1f s; load starts", B.nclients,
	    (double)(lc_now_ms() - t0) / 1000);

	start_load();
	if (lc_loop_run(&B.loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	finish();
	report();
	return LC_EXIT_OK;
}
