/* chat: the chat service's terminal client.
 *
 *   chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK                   interactive, lines on stdin
 *   chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK post '#c' 'text'  post, wait for the ack
 *   chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK log '#c' [--last N]
 *
 * The protocol is chatd/client.c; this file is the I/O around it on the project's event loop:
 * a non-blocking TCP connection with a queued output, stdin read only while registered, and a
 * reconnection with bounded exponential back-off after the session was up once. Exit codes:
 * 0 done, 1 the server refused (error reply, no chat log), 100 usage, 111 cannot connect,
 * connection lost in a one-shot command or time-out. docs/chat-client.md. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <letitcrash/exit.h>
#include <letitcrash/log.h>
#include <letitcrash/loop.h>
#include <letitcrash/time.h>

#include "client.h"

#define EXIT_REFUSED    1
#define BACKOFF_MIN     250     /* ms */
#define BACKOFF_MAX     8000
#define REGISTER_MS     30000   /* a connection must be registered within this */
#define QUIT_MS         2000    /* after QUIT, wait this long for the server to close */
#define STDIN_LINE      1024

enum conn { C_DOWN, C_CONNECTING, C_UP };

struct app {
	struct lc_loop loop;
	struct chat_client cl;
	const char *host, *port;
	int64_t timeout_ms;             /* one-shot commands: the whole run */

	enum conn conn;
	int fd;
	struct lc_io sio;
	struct irc_in in;
	struct addrinfo *ai, *ai_next;
	bool ever_up, was_registered, quitting, oneshot;
	int backoff;
	int exit_code;
	char why[128];                  /* why the last connection attempt failed */

	struct lc_io inio;
	bool in_watch, in_pump, in_eof; /* in_pump: stdin cannot be polled (a file), read it */
	char inbuf[STDIN_LINE];
	size_t inlen;
	bool inskip;

	struct lc_timer t_retry, t_reg, t_quit, t_deadline, t_pump;
};

static void conn_start(struct app *a);
static void conn_lost(struct app *a, const char *why);
static void stdin_set(struct app *a, bool on);

static void print_line(void *arg, const char *line)
{
	(void)arg;
	fputs(line, stdout);
	fputc('\n', stdout);
}

/* "chat: fatal: ..." without exiting: the caller still says QUIT. */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lc_logv(LC_LOG_FATAL, 0, fmt, ap);
	va_end(ap);
}

static void finish(struct app *a, int code)
{
	a->exit_code = code;
	lc_loop_break(&a->loop);
}

/* Send QUIT (when connected) and wait for the server to close, at most QUIT_MS. */
static void quit(struct app *a, int code, const char *reason)
{
	a->exit_code = code;
	if (a->quitting)
		return;
	a->quitting = true;
	stdin_set(a, false);
	lc_timer_cancel(&a->loop, &a->t_retry);
	if (a->conn != C_UP || !a->cl.registered) {
		finish(a, code);
		return;
	}
	cl_quit(&a->cl, reason);
	lc_timer_set(&a->loop, &a->t_quit, lc_now_ms() + QUIT_MS);
}

/* ------------------------------------------------------------------ socket */

static void flush(struct app *a)
{
	ssize_t n;

	if (a->cl.overflow) {
		conn_lost(a, "output queue full");
		return;
	}
	while (a->cl.outlen > 0) {
		n = send(a->fd, a->cl.out, a->cl.outlen, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			conn_lost(a, strerror(errno));
			return;
		}
		memmove(a->cl.out, a->cl.out + n, a->cl.outlen - (size_t)n);
		a->cl.outlen -= (size_t)n;
	}
	lc_io_modify(&a->loop, &a->sio, EPOLLIN | (a->cl.outlen ? EPOLLOUT : 0));
}

/* After each batch of input: act on what the protocol core decided. */
static void after(struct app *a)
{
	if (a->cl.registered && !a->was_registered) {
		a->was_registered = a->ever_up = true;
		a->backoff = BACKOFF_MIN;
		lc_timer_cancel(&a->loop, &a->t_reg);
		if (!a->oneshot && !a->quitting)
			stdin_set(a, true);
	}
	if (a->cl.result == CL_FAILED && !a->quitting) {
		fatal("%s", a->cl.error);
		quit(a, EXIT_REFUSED, "error");
	} else if (a->cl.result == CL_DONE && !a->quitting)
		quit(a, 0, "done");
	if (a->conn == C_UP)
		flush(a);
}

static void sock_read(struct app *a)
{
	char *p, *line;
	size_t len;
	ssize_t n;
	enum irc_in_status st;

	if (irc_in_space(&a->in, &p) == 0)
		abort();        /* irc_in_next always leaves room */
	n = read(a->fd, p, irc_in_space(&a->in, &p));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_lost(a, n == 0 ? "closed by the server" : strerror(errno));
		return;
	}
	irc_in_commit(&a->in, (size_t)n);
	while ((st = irc_in_next(&a->in, &line, &len)) != IRC_IN_AGAIN && a->conn == C_UP)
		if (st == IRC_IN_LINE)
			cl_line(&a->cl, line);
}

static void connected(struct app *a)
{
	a->conn = C_UP;
	a->was_registered = false;
	irc_in_init(&a->in);
	cl_connected(&a->cl);
	lc_timer_set(&a->loop, &a->t_reg, lc_now_ms() + REGISTER_MS);
	lc_io_modify(&a->loop, &a->sio, EPOLLIN | EPOLLOUT);
}

static void on_sock(struct lc_loop *l, struct lc_io *io, uint32_t ev)
{
	struct app *a = io->arg;
	int err = 0;
	socklen_t sl = sizeof(err);

	if (a->conn == C_CONNECTING) {
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err != 0) {
			snprintf(a->why, sizeof(a->why), "%s", strerror(err));
			lc_io_stop(l, io);
			close(a->fd);
			a->fd = -1;
			conn_start(a);          /* the next address, or give up */
			return;
		}
		connected(a);
	} else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sock_read(a);
	if (a->conn == C_UP)
		after(a);
}

/* Try the addresses left in a->ai_next; when none is left, report the failure. */
static void conn_start(struct app *a)
{
	struct addrinfo *ai;
	int fd;

	while ((ai = a->ai_next) != NULL) {
		a->ai_next = ai->ai_next;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			snprintf(a->why, sizeof(a->why), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(a->why, sizeof(a->why), "%s", strerror(errno));
			close(fd);
			continue;
		}
		a->fd = fd;
		a->conn = C_CONNECTING;
		a->sio.fd = fd;
		if (lc_io_start(&a->loop, &a->sio, EPOLLOUT) < 0)
			lc_die_sys(LC_EXIT_TEMP, "epoll");
		lc_timer_set(&a->loop, &a->t_reg, lc_now_ms() + REGISTER_MS);
		return;
	}
	a->conn = C_DOWN;
	conn_lost(a, a->why);
}

static void conn_open(struct app *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	int rc;

	if (a->ai != NULL)
		freeaddrinfo(a->ai);
	a->ai = NULL;
	rc = getaddrinfo(a->host, a->port, &hints, &a->ai);
	if (rc != 0) {
		snprintf(a->why, sizeof(a->why), "%s", gai_strerror(rc));
		conn_lost(a, a->why);
		return;
	}
	a->ai_next = a->ai;
	snprintf(a->why, sizeof(a->why), "no address");
	conn_start(a);
}

/* The connection failed or dropped: give up, or retry after the back-off. */
static void conn_lost(struct app *a, const char *why)
{
	if (a->fd >= 0) {
		lc_io_stop(&a->loop, &a->sio);
		close(a->fd);
		a->fd = -1;
	}
	if (a->conn == C_UP)
		cl_disconnected(&a->cl);
	a->conn = C_DOWN;
	lc_timer_cancel(&a->loop, &a->t_reg);
	stdin_set(a, false);
	if (a->quitting) {
		finish(a, a->exit_code);
		return;
	}
	if (!a->ever_up) {
		fatal("unable to connect to %s port %s: %s", a->host, a->port, why);
		finish(a, LC_EXIT_TEMP);
		return;
	}
	if (a->oneshot) {
		fatal("connection to %s port %s lost: %s", a->host, a->port, why);
		finish(a, LC_EXIT_TEMP);
		return;
	}
	printf("-- connection lost (%s); reconnecting in %d ms\n", why, a->backoff);
	lc_timer_set(&a->loop, &a->t_retry, lc_now_ms() + a->backoff);
	a->backoff = a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : a->backoff * 2;
}

static void on_retry(struct lc_loop *l, struct lc_timer *t)
{
	conn_open(t->arg);
}

static void on_reg_timeout(struct lc_loop *l, struct lc_timer *t)
{
	struct app *a = t->arg;

	conn_lost(a, a->conn == C_CONNECTING ? "connect timed out" : "registration timed out");
}

static void on_quit_timeout(struct lc_loop *l, struct lc_timer *t)
{
	struct app *a = t->arg;

	finish(a, a->exit_code);
}

static void on_deadline(struct lc_loop *l, struct lc_timer *t)
{
	struct app *a = t->arg;

	fatal("timed out after %lld ms", (long long)a->timeout_ms);
	a->quitting = true;
	finish(a, LC_EXIT_TEMP);
}

/* ------------------------------------------------------------------ stdin */

static void stdin_lines(struct app *a, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0 && !a->quitting) {
		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) : n;
		if (a->inskip || a->inlen + k >= sizeof(a->inbuf)) {
			if (!a->inskip)
				lc_warn("input line too long: dropped");
			a->inskip = nl == NULL;
			a->inlen = 0;
		} else {
			memcpy(a->inbuf + a->inlen, p, k);
			a->inlen += k;
			if (nl != NULL) {
				if (a->inlen > 0 && a->inbuf[a->inlen - 1] == '\r')
					a->inlen--;
				a->inbuf[a->inlen] = '\0';
				a->inlen = 0;
				if (cl_command(&a->cl, a->inbuf))
					quit(a, 0, NULL);
			}
		}
		if (nl == NULL)
			break;
		n -= k + 1;
		p += k + 1;
	}
}

static void stdin_read(struct app *a)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		a->in_eof = true;
		stdin_set(a, false);
		quit(a, 0, NULL);
	} else
		stdin_lines(a, buf, (size_t)n);
	if (a->in_pump && !a->in_eof && a->in_watch)
		lc_timer_set(&a->loop, &a->t_pump, lc_now_ms());
	if (a->conn == C_UP)
		after(a);
}

static void on_stdin(struct lc_loop *l, struct lc_io *io, uint32_t ev)
{
	stdin_read(io->arg);
}

static void on_pump(struct lc_loop *l, struct lc_timer *t)
{
	stdin_read(t->arg);
}

/* Read stdin only while registered: what is typed during a reconnection waits in the pipe. */
static void stdin_set(struct app *a, bool on)
{
	if (on == a->in_watch || a->in_eof)
		return;
	a->in_watch = on;
	if (!on) {
		if (a->in_pump)
			lc_timer_cancel(&a->loop, &a->t_pump);
		else
			lc_io_stop(&a->loop, &a->inio);
		return;
	}
	if (!a->in_pump && lc_io_start(&a->loop, &a->inio, EPOLLIN) < 0) {
		if (errno != EPERM)
			lc_die_sys(LC_EXIT_TEMP, "epoll on stdin");
		a->in_pump = true;      /* a regular file or /dev/null */
	}
	if (a->in_pump)
		lc_timer_set(&a->loop, &a->t_pump, lc_now_ms());
}

/* ------------------------------------------------------------------ main */

static void on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	struct app *a = arg;

	if (a->quitting)
		finish(a, 128 + signo);
	else
		quit(a, a->oneshot ? LC_EXIT_TEMP : 0, "interrupted");
	if (a->conn == C_UP)
		flush(a);
}

static void usage(const char *msg)
{
	if (msg != NULL)
		fatal("%s", msg);
	fprintf(stderr, "usage: chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK\n"
	    "       chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK post '#channel' 'text'\n"
	    "       chat [-s HOST] [-p PORT] [-t SECONDS] -n NICK log '#channel' [--last N]\n");
	exit(LC_EXIT_USAGE);
}

static unsigned number(const char *s, unsigned max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > max || s[0] == '-')
		lc_die(LC_EXIT_USAGE, "%s: not a number in 1..%u: %s", what, max, s);
	return (unsigned)v;
}

/* The one-shot command in argv[optind...]. */
static void task_args(struct app *a, int argc, char **argv)
{
	const char *cmd = argv[0];

	a->oneshot = true;
	if (strcmp(cmd, "post") == 0) {
		if (argc != 3)
			usage("post takes a channel and a text");
		if (cl_task_post(&a->cl, argv[1], argv[2]) < 0)
			usage("post: bad channel name or text");
	} else if (strcmp(cmd, "log") == 0) {
		unsigned n = 20;

		if (argc == 4 && strcmp(argv[2], "--last") == 0)
			n = number(argv[3], 10000, "--last");
		else if (argc != 2)
			usage("log takes a channel and optionally --last N");
		if (cl_task_log(&a->cl, argv[1], n) < 0)
			usage("log: bad channel name");
	} else
		usage("unknown command");
}

static void setup(struct app *a)
{
	sigset_t set;

	if (lc_loop_init(&a->loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to create the event loop");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (lc_loop_signals(&a->loop, &set, on_signal, a) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to set up signals");
	signal(SIGPIPE, SIG_IGN);
	a->sio = (struct lc_io){ .fd = -1, .fn = on_sock, .arg = a };
	a->inio = (struct lc_io){ .fd = STDIN_FILENO, .fn = on_stdin, .arg = a };
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	lc_timer_init(&a->t_retry, on_retry, a);
	lc_timer_init(&a->t_reg, on_reg_timeout, a);
	lc_timer_init(&a->t_quit, on_quit_timeout, a);
	lc_timer_init(&a->t_deadline, on_deadline, a);
	lc_timer_init(&a->t_pump, on_pump, a);
}

int main(int argc, char **argv)
{
	static struct app app;
	struct app *a = &app;
	const char *nick = NULL;
	int opt;

	lc_log_init("chat");
	a->host = getenv("CHAT_SERVER") ? getenv("CHAT_SERVER") : "127.0.0.1";
	a->port = getenv("CHAT_PORT") ? getenv("CHAT_PORT") : "6667";
	a->timeout_ms = 10000;
	a->fd = -1;
	a->backoff = BACKOFF_MIN;
	while ((opt = getopt(argc, argv, "+hs:p:n:t:")) != -1) {
		switch (opt) {
		case 's': a->host = optarg; break;
		case 'p': a->port = optarg; break;
		case 'n': nick = optarg; break;
		case 't': a->timeout_ms = 1000LL * number(optarg, 86400, "-t"); break;
		default: usage(NULL);
		}
	}
	if (nick == NULL)
		usage("-n NICK is required");
	if (cl_init(&a->cl, nick, print_line, a) < 0)
		usage("not a valid nick");
	if (optind < argc)
		task_args(a, argc - optind, argv + optind);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup(a);
	if (a->oneshot)
		lc_timer_set(&a->loop, &a->t_deadline, lc_now_ms() + a->timeout_ms);
	conn_open(a);
	if (!a->loop.stop && lc_loop_run(&a->loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	if (a->fd >= 0)
		close(a->fd);
	if (a->ai != NULL)
		freeaddrinfo(a->ai);
	lc_loop_fini(&a->loop);
	return a->exit_code;
}
