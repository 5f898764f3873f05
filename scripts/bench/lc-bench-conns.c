/* lc-bench-conns: one client process of scripts/bench-conns. It opens idle IRC connections to
 * a chat server from one source address, registers them and makes each join its channel, then
 * follows orders on stdin:
 *
 *   lc-bench-conns -p PORT -s SRCADDR -n COUNT -f FIRST -m PER_CHANNEL [-P NICKPREFIX]
 *                  [-w WINDOW]
 *
 * Client i (FIRST <= i < FIRST + COUNT) is nick `<P><i>` in channel `#<P>c<i / PER_CHANNEL>`.
 * FIRST and COUNT are multiples of PER_CHANNEL, so each channel's members are all here.
 * At most WINDOW clients (default 256) are being set up at once: the server's queue, and so
 * each client's wait, is the clients' windows over its rate (a client not joined SETUP_MS
 * after it started is given up).
 * stdout, one line each: `ready OPEN REGISTERED FAILED SLOWEST_MS WHY...` once setup is over
 * (every client joined, or given up on; the longest a joined client waited; the failures by
 * cause, in the order of enum why), then for each `post` read on stdin: the first member of every
 * channel posts one line, and `fanout RECEIVED EXPECTED MS` says how many members received
 * it (the poster excepted) and how long the last one took (giving up after FANOUT_MS). EOF on
 * stdin: exit (closing all). PINGs are answered, also while waiting for orders (the gateways
 * drop a client silent for two PING periods); everything else is read and dropped. Exit 111
 * on a setup error of the process itself (epoll, memory, no source port left), 100 on usage.
 *
 * Each socket is bound to the next free port of SRCADDR (from 1024 up) before it connects:
 * letting connect() choose costs a scan of the ports in use per connection (the kernel
 * checks candidate after candidate against its established table), which made setup grow
 * with the square of the connections per address. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SETUP_MS    60000       /* a client not joined by then is given up */
#define INBUF       2048
#define FANOUT_MS   120000      /* a fan-out not complete by then is reported as it is */
#define ORDERS      UINT32_MAX  /* the epoll tag of stdin */

enum state { C_IDLE, C_CONNECTING, C_REGISTERING, C_JOINING, C_JOINED, C_FAILED };
/* why a client failed: printed in this order on the ready line */
enum why { W_CONNECT, W_SEND, W_CLOSED, W_433, W_ERROR, W_LATE_CONNECT, W_LATE_REGISTER,
	W_LATE_JOIN, W_END };

struct client {
	int fd;
	enum state st;
	int got_probe;
	int64_t since;          /* ms: when its setup started */
	size_t inlen;
	char *in;               /* allocated while a partial line is held */
};

static struct client *C;
static unsigned n, first, per_chan, port, nsetup, next_start;
static unsigned nopen, njoined, nfailed, window = 256, whys[W_END];
static int64_t slowest;                 /* ms: the longest setup of a joined client */
static const char *prefix = "bc";
static struct sockaddr_in src, dst;
static int ep;
static unsigned next_port = 1024;       /* the next source port to try */
static int posting, order;              /* order: stdin is readable */
static unsigned fan_got, fan_want;
static int64_t fan_t0, fan_last;

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	fprintf(stderr, "lc-bench-conns: fatal: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s%s\n", e ? ": " : "", e ? strerror(e) : "");
	va_end(ap);
	exit(code);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(struct client *c, enum why w);

/* Write a whole short line (idle connections: the socket buffer always takes it). */
static void
say(struct client *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (write(c->fd, buf, (size_t)len) != len)
		fail(c, W_SEND);
}

static void
fail(struct client *c, enum why w)
{
	if (c->st == C_FAILED)
		return;
	whys[w]++;
	if (c->st != C_JOINED)
		nsetup--;
	else
		njoined--;
	c->st = C_FAILED;
	nfailed++;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		nopen--;
	}
	free(c->in);
	c->in = NULL;
}

static void
start(unsigned i)
{
	struct client *c = &C[i];
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die(111, "socket (client %u)", first + i);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  /* past TIME_WAITs */
	nopen++;
	nsetup++;
	c->since = now_ms();
	c->st = C_CONNECTING;
	int rc;
	do {                    /* the next port not bound on SRCADDR */
		if (next_port > 65535)
			die(111, "no source port left on this address (client %u)", first + i);
		src.sin_port = htons((uint16_t)next_port++);
	} while ((rc = bind(c->fd, (struct sockaddr *)&src, sizeof src)) < 0 && errno == EADDRINUSE);
	if (rc < 0 ||
	    (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
		fail(c, W_CONNECT);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = i };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die(111, "epoll_ctl");
}

static void
on_line(unsigned i, char *line)
{
	struct client *c = &C[i];
	char *cmd = line;

	if (!strncmp(line, "PING ", 5)) {
		line[1] = 'O';
		say(c, "%s\r\n", line);
		return;
	}
	if (*cmd == ':' && (cmd = strchr(cmd, ' ')))
		cmd++;
	if (!cmd)
		return;
	if (c->st == C_REGISTERING && !strncmp(cmd, "001 ", 4)) {
		c->st = C_JOINING;
		say(c, "JOIN #%sc%u\r\n", prefix, (first + i) / per_chan);
	} else if (c->st == C_JOINING && !strncmp(cmd, "366 ", 4)) {
		c->st = C_JOINED;
		nsetup--;
		njoined++;
		if (now_ms() - c->since > slowest)
			slowest = now_ms() - c->since;
	} else if (c->st != C_JOINED && (!strncmp(cmd, "433 ", 4) || !strncmp(line, "ERROR", 5))) {
		fail(c, *cmd == '4' ? W_433 : W_ERROR);
	} else if (posting && !strncmp(cmd, "PRIVMSG ", 8) && strstr(cmd, ":probe") &&
	    !c->got_probe) {
		c->got_probe = 1;
		fan_got++;
		fan_last = now_ms();
	}
}

/* Read what is there and hand out whole lines; a partial line is kept (allocated). */
static void
on_input(unsigned i)
{
	struct client *c = &C[i];
	char buf[INBUF * 2];

	for (;;) {
		size_t have = c->inlen;
		if (have)
			memcpy(buf, c->in, have);
		ssize_t r = read(c->fd, buf + have, sizeof buf - have - 1);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			fail(c, W_CLOSED);
			return;
		}
		size_t len = have + (size_t)r, off = 0;
		buf[len] = '\0';
		for (char *nl; (nl = memchr(buf + off, '\n', len - off)); off = (size_t)(nl - buf) + 1) {
			*nl = '\0';
			if (nl > buf + off && nl[-1] == '\r')
				nl[-1] = '\0';
			on_line(i, buf + off);
			if (c->st == C_FAILED)
				return;
		}
		c->inlen = len - off;
		if (c->inlen > INBUF)
			c->inlen = 0;           /* an absurd line: drop it */
		if (c->inlen && !c->in && !(c->in = malloc(INBUF)))
			die(111, "malloc");
		if (c->inlen)
			memcpy(c->in, buf + off, c->inlen);
		if (!c->inlen) {
			free(c->in);
			c->in = NULL;
		}
	}
}

static void
on_event(unsigned i, uint32_t events)
{
	struct client *c;

	if (i == ORDERS) {
		order = 1;
		return;
	}
	c = &C[i];
	if (c->st == C_FAILED)
		return;
	if (c->st == C_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof err;
		if (!(events & EPOLLOUT))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err) {
			fail(c, W_CONNECT);
			return;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->st = C_REGISTERING;
		say(c, "NICK %s%u\r\nUSER %s%u 0 * :bench-conns\r\n", prefix, first + i, prefix,
		    first + i);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_input(i);
}

/* Turn the loop until `done` says so or `ms` passed. */
static void
run(int (*done)(void), int64_t ms)
{
	struct epoll_event ev[256];
	int64_t end = now_ms() + ms, check = now_ms() + 1000;

	while (!done() && now_ms() < end) {
		while (nsetup < window && next_start < n)
			start(next_start++);
		int k = epoll_wait(ep, ev, 256, 100);
		for (int j = 0; j < k; j++)
			on_event(ev[j].data.u32, ev[j].events);
		int64_t now = now_ms();
		if (now < check)
			continue;
		check = now + 1000;
		for (unsigned i = 0; i < next_start && nsetup; i++)
			if (C[i].st > C_IDLE && C[i].st < C_JOINED && now - C[i].since > SETUP_MS)
				fail(&C[i], C[i].st == C_CONNECTING ? W_LATE_CONNECT :
				    C[i].st == C_REGISTERING ? W_LATE_REGISTER : W_LATE_JOIN);
	}
}

static int setup_done(void) { return next_start == n && nsetup == 0; }
static int fanout_done(void) { return fan_got >= fan_want; }
static int order_come(void) { return order; }

static unsigned
arg(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 10000000)
		die(100, "bad %s: %s", what, s);
	return (unsigned)v;
}

int
main(int argc, char **argv)
{
	const char *srcaddr = "127.0.0.1";
	char cmd[64];
	int o;

	per_chan = 100;
	while ((o = getopt(argc, argv, "p:s:n:f:m:P:w:")) != -1) {
		switch (o) {
		case 'p': port = arg(optarg, "port"); break;
		case 's': srcaddr = optarg; break;
		case 'n': n = arg(optarg, "count"); break;
		case 'f': first = arg(optarg, "first"); break;
		case 'm': per_chan = arg(optarg, "per-channel"); break;
		case 'P': prefix = optarg; break;
		case 'w': window = arg(optarg, "window"); break;
		default:
			die(100, "usage: lc-bench-conns -p PORT -s SRC -n N -f FIRST -m M [-P P] [-w W]");
		}
	}
	errno = 0;
	if (!port || !n || !per_chan || !window || n % per_chan || first % per_chan || strlen(prefix) > 8)
		die(100, "bad arguments (COUNT and FIRST are multiples of PER_CHANNEL)");
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	src = (struct sockaddr_in){ .sin_family = AF_INET };
	dst = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, srcaddr, &src.sin_addr) != 1)
		die(100, "bad source address %s", srcaddr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	if (!(C = calloc(n, sizeof *C)) || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die(111, "setup");
	for (unsigned i = 0; i < n; i++)
		C[i].fd = -1;
	run(setup_done, INT64_MAX / 2);
	struct epoll_event oev = { .events = EPOLLIN, .data.u32 = ORDERS };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &oev) < 0)
		die(111, "epoll_ctl (stdin)");
	printf("ready %u %u %u %lld", nopen, njoined, nfailed, (long long)slowest);
	for (int w = 0; w < W_END; w++)
		printf(" %u", whys[w]);
	printf("\n");
	fflush(stdout);
	for (;;) {
		order = 0;
		run(order_come, INT64_MAX / 2);         /* answering PINGs meanwhile */
		if (!fgets(cmd, sizeof cmd, stdin))
			break;
		if (strncmp(cmd, "post", 4))
			continue;
		posting = 1;
		fan_got = fan_want = 0;
		for (unsigned i = 0; i < n; i++) {
			C[i].got_probe = 0;
			if (C[i].st != C_JOINED)
				continue;
			if (i % per_chan == 0)
				say(&C[i], "PRIVMSG #%sc%u :probe\r\n", prefix, (first + i) / per_chan);
			else if (C[(i / per_chan) * per_chan].st == C_JOINED)
				fan_want++;
		}
		fan_t0 = fan_last = now_ms();
		run(fanout_done, FANOUT_MS);
		printf("fanout %u %u %lld\n", fan_got, fan_want, (long long)(fan_last - fan_t0));
		fflush(stdout);
		posting = 0;
	}
	return 0;
}
