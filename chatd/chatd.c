/* chatd: the chat service's IRC gateway (docs/chat.md, the design notes' IRC.md).
 *
 *   chatd --listen ADDR:PORT --name SERVERNAME [--network NAME] [--flood LINES_PER_S]
 *         [--burst LINES] [--sendq BYTES] [--reg-timeout S] [--ping S] [--max-per-ip N]
 *         [--require-sasl 0|1]
 *
 * One process, one epoll loop for the clients and the mailbox (LETITCRASH_NAME, e.g. chatd.0).
 * CHAT_SESSIONS is the number of session workers (session.0 ..); storage is `storage`. Several
 * chatd share one port (SO_REUSEPORT). Ready once listening with the mailbox open. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "letitcrash/actor.h"
#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "chatd.h"

static const char usage[] =
    "usage: chatd --listen ADDR:PORT --name SERVERNAME [--network NAME] [--flood LINES_PER_S]\n"
    "             [--burst LINES] [--sendq BYTES] [--reg-timeout S] [--ping S]\n"
    "             [--max-per-ip N] [--require-sasl 0|1]\n";

static void
on_signal(struct lc_loop *l, int signo, pid_t sender, void *arg)
{
	struct gw *gw = arg;

	lc_info("%s: shutting down", gw->name);
	lc_exit(gw->actor, "shutdown");
}

/* Before the loop waits: write what this turn queued, one write per connection. Added after
 * the mailbox, so it runs before the actor's own hook, which sends what it queued. */
static void
on_wait(struct lc_loop *l, struct lc_hook *h)
{
	gw_flush(h->arg);
}

static double
num_arg(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || v < 0)
		lc_die(LC_EXIT_USAGE, "bad %s: %s\n%s", what, s, usage);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "name", required_argument, NULL, 'n' },
		{ "network", required_argument, NULL, 'N' }, { "flood", required_argument, NULL, 'f' },
		{ "burst", required_argument, NULL, 'b' }, { "sendq", required_argument, NULL, 'q' },
		{ "reg-timeout", required_argument, NULL, 'r' },
		{ "ping", required_argument, NULL, 'p' },
		{ "max-per-ip", required_argument, NULL, 'm' },
		{ "require-sasl", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct gw gw = { .server = "letitcrash.local", .network = "letitcrash",
		.version = "chatd-0.1", .flood_rate = 50, .flood_burst = 20,
		.sendq = GW_SENDQ_DEFAULT, .lfd = -1, .reg_timeout_ms = GW_REG_TIMEOUT_DEFAULT * 1000,
		.ping_ms = GW_PING_DEFAULT * 1000, .max_per_ip = GW_PER_IP_DEFAULT };
	const char *listen_addr = "127.0.0.1:6667", *env;
	struct lc_loop loop;
	sigset_t set;
	int o;

	lc_log_init("chatd");
	chat_malloc_tune();
	while ((o = getopt_long(argc, argv, "l:n:N:f:b:q:r:p:m:s:h", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_addr = optarg; break;
		case 'n': gw.server = optarg; break;
		case 'N': gw.network = optarg; break;
		case 'f': gw.flood_rate = num_arg(optarg, "--flood"); break;
		case 'b': gw.flood_burst = num_arg(optarg, "--burst"); break;
		case 'q': gw.sendq = (size_t)num_arg(optarg, "--sendq"); break;
		case 'r': gw.reg_timeout_ms = (int64_t)(num_arg(optarg, "--reg-timeout") * 1000); break;
		case 'p': gw.ping_ms = (int64_t)(num_arg(optarg, "--ping") * 1000); break;
		case 'm': gw.max_per_ip = (unsigned)num_arg(optarg, "--max-per-ip"); break;
		case 's': gw.require_sasl = num_arg(optarg, "--require-sasl") != 0; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return LC_EXIT_USAGE;
		}
	}
	if (optind != argc || !gw.server[0] || strchr(gw.server, ' ') || gw.sendq < 4096 ||
	    gw.reg_timeout_ms < 1000)
		lc_die(LC_EXIT_USAGE, "bad arguments\n%s", usage);
	gw.nsessions = 1;
	if ((env = getenv("CHAT_SESSIONS")) && (gw.nsessions = (unsigned)atoi(env)) == 0)
		lc_die(LC_EXIT_USAGE, "bad CHAT_SESSIONS: %s", env);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!(gw.msg = malloc(sizeof *gw.msg)) || !(gw.enc = malloc(sizeof *gw.enc)))
		lc_die(LC_EXIT_TEMP, "out of memory");
	time_t now = time(NULL);
	strftime(gw.created, sizeof gw.created, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	/* ids that a restarted gateway never reuses: the backends de-duplicate by them */
	gw.next_serial = (uint64_t)lc_wall_ms();
	gw.next_rid = (uint64_t)lc_wall_ms() << 16;
	gw_rto_init(&gw.rto);
	if (lc_loop_init(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to create the event loop");
	gw.loop = &loop;
	if (!(gw.actor = lc_actor_open(NULL, NULL, &loop)))
		lc_die_sys(LC_EXIT_TEMP, "unable to open the mailbox");
	gw.name = lc_actor_name(gw.actor);
	gw.pid = getpid();
	/* a connection id, "NAME/FD/SERIAL/PID", must fit whole: sessions match it by prefix */
	if (strlen(gw.name) > CHAT_CONN_MAX - CHAT_CONN_TAIL)
		lc_die(LC_EXIT_USAGE, "gateway name %s: longer than %d bytes", gw.name,
		    CHAT_CONN_MAX - CHAT_CONN_TAIL);
	lc_actor_on_bad_frame(gw.actor, lc_log_bad_frames, NULL);
	lc_actor_on_message(gw.actor, gw_on_message, &gw);
	lc_hook_add(&loop, &gw.flushh, on_wait, &gw);
	if (lc_loop_signals(&loop, &set, on_signal, &gw) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to watch signals");
	if (gw_listen(&gw, listen_addr) < 0)
		lc_die(LC_EXIT_TEMP, "unable to listen on %s", listen_addr);
	lc_timer_init(&gw.tick, gw_tick, &gw);
	lc_timer_set(&loop, &gw.tick, lc_now_ms() + 100);
	gw_idle_start(&gw);
	gw.next_repair = lc_now_ms() + GW_REPAIR_MS;
	lc_info("%s: listening on %s as %s, %u session workers", gw.name, listen_addr, gw.server,
	    gw.nsessions);
	lc_ready();
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	return 0;
}
