/* supctl: show and steer a running supervision tree through its supervisors' control sockets
 * (docs/supctl.md). Every supervisor, root or nested, answers on RUNDIR/sup/NAME.ctl; supctl
 * walks the tree from the root (named in RUNDIR/root) and talks to whichever supervisor owns
 * the child a command is about. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/sock.h"
#include "letitcrash/time.h"
#include "letitcrash/watch.h"
#include "sup.h"

static const char *rundir;
static int json, timeout_ms = 5000, change_timeout_ms = 120000;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: supctl [-r RUNDIR] [--json] [-t MS] COMMAND [ARG...]\n"
	    "  tree                         the whole tree: name, pid, state, uptime, restarts\n"
	    "  which_children SUP           SUP's children (OTP order: reverse start order)\n"
	    "  count_children SUP           specs, active, supervisors, workers\n"
	    "  spec [SUP] NAME              a child's spec\n"
	    "  start SUP NAME exec=CMD [KEY=VALUE...]   add and start a child\n"
	    "  start SUP [ARG...]           simple_one_for_one: start a child with extra args\n"
	    "  restart [SUP] NAME           start a stopped child again\n"
	    "  terminate [SUP] NAME|PID     stop a child (its spec stays, but temporary ones)\n"
	    "  delete [SUP] NAME            forget a stopped child's spec\n"
	    "  stop                         stop the whole tree and wait until it is gone\n"
	    "  events [-a] [-n COUNT]       follow lifecycle events (-a: recent ones first)\n"
	    "RUNDIR: -r, else $LETITCRASH_RUNDIR, else $XDG_RUNTIME_DIR/letitcrash, else\n"
	    "/tmp/letitcrash-UID. Exit status: 0 ok, 1 the supervisor said error, 100 usage,\n"
	    "111 no tree running or no answer.\n");
	exit(LC_EXIT_USAGE);
}

/* --- talking to supervisors ------------------------------------------------------------------ */

/* Fail at once, clearly, when no root holds the run directory's lock. */
static void
check_running(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/lock", rundir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0)
		lc_die(LC_EXIT_TEMP, "no tree is running in %s", rundir);
	close(fd);
}

static void
root_name(char *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/root", rundir);
	FILE *f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		lc_die(LC_EXIT_TEMP, "no tree is running in %s", rundir);
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

/* Send the words to supervisor `sup` and return its reply (malloc'd, NUL-terminated), or NULL
 * with a message when it cannot be reached in time. */
static char *
request(const char *sup, char *const *w, size_t n, int tmo)
{
	char addr[256], name[SUP_NAME_MAX + 16], msg[4096];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(w[i]) + 1;
		if (len + l > sizeof msg)
			lc_die(LC_EXIT_USAGE, "request too long");
		memcpy(msg + len, w[i], l);
		len += l;
	}
	snprintf(name, sizeof name, "sup/%s.ctl", sup);
	if (lc_sock_ipc_addr(addr, sizeof addr, rundir, name) < 0)
		lc_die(LC_EXIT_USAGE, "run directory path too long");
	if (access(addr + 6, F_OK) < 0) {
		if (json)
			printf("{\"ok\":false,\"error\":\"no_supervisor\"}\n");
		lc_die(1, "no supervisor named %s in %s", sup, rundir);
	}
	int s = lc_sock_open(LC_SOCK_REQ);
	if (s < 0 || lc_sock_timeouts(s, tmo, tmo) < 0 || lc_sock_connect(s, addr) < 0)
		lc_die(LC_EXIT_TEMP, "unable to reach %s: %s", sup, lc_sock_strerror(errno));
	char *reply = NULL;
	void *m;
	ssize_t r;
	if (lc_sock_send(s, msg, len, 0) < 0 || (r = lc_sock_recv(s, &m, 0)) < 0) {
		lc_warn("%s: no answer: %s", sup, lc_sock_strerror(errno));
	} else {
		reply = malloc((size_t)r + 1);
		if (!reply)
			lc_die_sys(LC_EXIT_TEMP, "out of memory");
		memcpy(reply, m, (size_t)r);
		reply[r] = 0;
		lc_sock_free(m);
	}
	lc_sock_close(s);
	return reply;
}

static char *
request1(const char *sup, const char *cmd, const char *arg)
{
	char *w[2] = { (char *)cmd, (char *)arg };
	return request(sup, w, arg ? 2 : 1, timeout_ms);
}

/* --- output helpers ------------------------------------------------------------------------ */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int
is_number(const char *s)
{
	if (!*s)
		return 0;
	for (const char *p = s + (*s == '-'); *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static void
json_val(const char *s)
{
	if (is_number(s))
		fputs(s, stdout);
	else if (strcmp(s, "undefined") == 0)
		fputs("null", stdout);
	else
		json_str(s);
}

static void
uptime(char *buf, size_t len, long long ms)
{
	long long s = ms / 1000;
	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/* A reply's status line: returns the data after it, or exits 1 after printing the error. */
static char *
expect_ok(char *reply, const char *sup)
{
	if (!reply)
		exit(LC_EXIT_TEMP);
	char *nl = strchr(reply, '\n');
	if (nl)
		*nl++ = 0;
	if (strncmp(reply, "ok", 2) == 0 && (reply[2] == 0 || reply[2] == ' '))
		return nl ? nl : reply + strlen(reply);
	const char *e = strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply;
	if (json) {
		printf("{\"ok\":false,\"error\":");
		json_str(e);
		printf(",\"supervisor\":");
		json_str(sup);
		printf("}\n");
	}
	fprintf(stderr, "supctl: %s: error: %s\n", sup, e);
	exit(1);
}

/* --- children records ---------------------------------------------------------------------- */

enum { F_NAME, F_PID, F_TYPE, F_STATE, F_RESTART, F_UPTIME, F_RESTARTS, F_N, F_EXTRA, NF };
static const char *fname[NF] = { "name", "pid", "type", "state", "restart", "uptime_ms",
	"restarts", "incarnation", "args" };

struct rec {
	char *f[NF];
};

/* Split which_children data into records; returns their number. Modifies data. */
static size_t
parse_children(char *data, struct rec **out)
{
	size_t n = 0, cap = 0;
	struct rec *r = NULL;
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(r = realloc(r, cap * sizeof *r)))
				lc_die_sys(LC_EXIT_TEMP, "out of memory");
		}
		char *p = line;
		for (int i = 0; i < NF; i++) {
			r[n].f[i] = p ? strsep(&p, "\t") : (char *)"";
		}
		n++;
	}
	*out = r;
	return n;
}

static void
json_rec(const struct rec *r)
{
	printf("{");
	for (int i = 0; i < NF; i++) {
		if (i == F_EXTRA && !*r->f[i])
			continue;
		printf("%s\"%s\":", i ? "," : "", fname[i]);
		if (i == F_NAME || i == F_EXTRA)
			json_str(r->f[i]);
		else
			json_val(r->f[i]);
	}
}

static int
cmd_which_children(const char *sup)
{
	char *reply = request1(sup, "which_children", NULL);
	char *data = expect_ok(reply, sup);
	struct rec *r;
	size_t n = parse_children(data, &r);
	if (json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			printf("%s", i ? "," : "");
			json_rec(&r[i]);
			printf("}");
		} else
			printf("%s\t%s\t%s\t%s\n", r[i].f[F_NAME], r[i].f[F_PID], r[i].f[F_TYPE],
			    r[i].f[F_STATE]);
	}
	if (json)
		printf("]\n");
	free(r);
	free(reply);
	return 0;
}

static int
cmd_kv(const char *sup, const char *cmd, const char *arg)
{
	char *reply = request1(sup, cmd, arg);
	char *data = expect_ok(reply, sup);
	int first = 1;
	if (json)
		printf("{");
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
		char *v = strchr(line, '\t');
		if (v)
			*v++ = 0;
		if (json) {
			printf("%s\"%s\":", first ? "" : ",", line);
			json_val(v ? v : "");
		} else
			printf("%s %s\n", line, v ? v : "");
		first = 0;
	}
	if (json)
		printf("}\n");
	free(reply);
	return 0;
}

/* --- tree ---------------------------------------------------------------------------------- */

static int
is_simple(const char *sup)
{
	char *reply = request1(sup, "info", NULL);
	int yes = reply && strstr(reply, "\nstrategy\tsimple_one_for_one") != NULL;
	free(reply);
	return yes;
}

/* Display columns of a UTF-8 string (the tree's box-drawing characters are one column). */
static int
utf8_width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w > 38 ? 38 : w;
}

static void
tree_node(const char *sup, const char *prefix, int depth, int jfirst)
{
	char *reply = request1(sup, "which_children", NULL);
	if (!reply || strncmp(reply, "ok", 2) != 0) {
		if (json)
			printf(",\"children\":null");
		else
			printf("%s(not answering)\n", prefix);
		free(reply);
		return;
	}
	char *data = strchr(reply, '\n');
	struct rec *r;
	size_t n = data ? parse_children(data + 1, &r) : 0;
	if (!data)
		r = NULL;
	if (json)
		printf(",\"children\":[");
	int64_t nkids = (int64_t)n;
	int simple = is_simple(sup);
	for (int64_t k = 0; k < nkids; k++) {
		/* which_children is in reverse start order, but for simple_one_for_one. */
		struct rec *c = &r[simple ? (size_t)k : n - 1 - k];
		int last = k == nkids - 1;
		if (json) {
			printf("%s", k ? "," : "");
			json_rec(c);
		} else {
			char up[32] = "-", line[256];
			if (strcmp(c->f[F_STATE], "running") == 0)
				uptime(up, sizeof up, atoll(c->f[F_UPTIME]));
			snprintf(line, sizeof line, "%s%s%s", prefix, last ? "└─ " : "├─ ",
			    c->f[F_NAME]);
			printf("%s%*s %-10s %-8s %-10s %8s %8s\n", line, 38 - utf8_width(line), "",
			    c->f[F_TYPE], c->f[F_PID], c->f[F_STATE], up, c->f[F_RESTARTS]);
		}
		if (strcmp(c->f[F_TYPE], "supervisor") == 0 && strcmp(c->f[F_STATE], "running") == 0) {
			char pre[256];
			snprintf(pre, sizeof pre, "%s%s", prefix, last ? "   " : "│  ");
			tree_node(c->f[F_NAME], pre, depth + 1, 0);
		} else if (json && strcmp(c->f[F_TYPE], "supervisor") == 0)
			printf(",\"children\":[]");
		if (json)
			printf("}");
	}
	if (json)
		printf("]");
	(void)jfirst;
	free(r);
	free(reply);
}

static int
cmd_tree(void)
{
	char root[SUP_NAME_MAX + 2];
	root_name(root, sizeof root);
	char *reply = request1(root, "info", NULL);
	char *data = expect_ok(reply, root);
	char pid[16] = "", state[16] = "";
	for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n")) {
		if (strncmp(l, "pid\t", 4) == 0)
			snprintf(pid, sizeof pid, "%s", l + 4);
		if (strncmp(l, "state\t", 6) == 0)
			snprintf(state, sizeof state, "%s", l + 6);
	}
	if (json) {
		printf("{\"name\":");
		json_str(root);
		printf(",\"pid\":%s,\"type\":\"supervisor\",\"state\":", pid);
		json_str(state);
	} else {
		printf("%-38s %-10s %-8s %-10s %8s %8s\n", "NAME", "TYPE", "PID", "STATE", "UPTIME",
		    "RESTARTS");
		printf("%-38s %-10s %-8s %-10s %8s %8s\n", root, "supervisor", pid, state, "-", "-");
	}
	tree_node(root, "", 0, 1);
	if (json)
		printf("}\n");
	free(reply);
	return 0;
}

/* Find which supervisor has a child `name` (a name or a pid): depth first from `sup`. */
static int
owner_of(const char *sup, const char *name, char *out, size_t len)
{
	char *reply = request1(sup, "which_children", NULL);
	int found = 0;
	char *data = reply && strncmp(reply, "ok", 2) == 0 ? strchr(reply, '\n') : NULL;
	struct rec *r = NULL;
	size_t n = data ? parse_children(data + 1, &r) : 0;
	for (size_t i = 0; i < n && !found; i++)
		if (strcmp(r[i].f[F_NAME], name) == 0 || strcmp(r[i].f[F_PID], name) == 0) {
			snprintf(out, len, "%s", sup);
			found = 1;
		}
	for (size_t i = 0; i < n && !found; i++)
		if (strcmp(r[i].f[F_TYPE], "supervisor") == 0 && strcmp(r[i].f[F_STATE], "running") == 0)
			found = owner_of(r[i].f[F_NAME], name, out, len);
	free(r);
	free(reply);
	return found;
}

/* --- changes ------------------------------------------------------------------------------- */

static int
cmd_change(const char *cmd, int argc, char **argv)
{
	char sup[SUP_NAME_MAX + 2], root[SUP_NAME_MAX + 2];
	const char *name;
	if (argc == 2) {
		snprintf(sup, sizeof sup, "%s", argv[0]);
		name = argv[1];
	} else if (argc == 1) {
		name = argv[0];
		root_name(root, sizeof root);
		if (!owner_of(root, name, sup, sizeof sup)) {
			if (json)
				printf("{\"ok\":false,\"error\":\"not_found\"}\n");
			fprintf(stderr, "supctl: error: no child named %s in the tree\n", name);
			return 1;
		}
	} else
		usage();
	char *w[2] = { (char *)cmd, (char *)name };
	if (strcmp(cmd, "spec") == 0)
		return cmd_kv(sup, "spec", name);
	char *reply = request(sup, w, 2, change_timeout_ms);
	char *status = reply ? strdup(reply) : NULL;
	expect_ok(reply, sup);
	const char *val = status && status[2] == ' ' ? status + 3 : "";
	if (json) {
		printf("{\"ok\":true,\"supervisor\":");
		json_str(sup);
		if (*val) {
			printf(",\"pid\":");
			json_val(val);
		}
		printf("}\n");
	} else if (*val)
		printf("%s\n", val);
	free(status);
	free(reply);
	return 0;
}

static int
cmd_start(int argc, char **argv)
{
	if (argc < 1)
		usage();
	char **w = calloc((size_t)argc + 1, sizeof *w);
	if (!w)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	w[0] = "start";
	for (int i = 1; i < argc; i++)
		w[i] = argv[i];
	char *reply = request(argv[0], w, (size_t)argc, change_timeout_ms);
	free(w);
	char *status = reply ? strdup(reply) : NULL;
	expect_ok(reply, argv[0]);
	const char *val = status[2] == ' ' ? status + 3 : "";
	if (json) {
		printf("{\"ok\":true,\"pid\":");
		json_val(*val ? val : "undefined");
		printf("}\n");
	} else
		printf("%s\n", *val ? val : "undefined");
	free(status);
	free(reply);
	return 0;
}

static int
cmd_stop(void)
{
	char root[SUP_NAME_MAX + 2], path[512];
	root_name(root, sizeof root);
	expect_ok(request1(root, "stop", NULL), root);
	/* The root's lock is released when its last child is gone and it exits. */
	snprintf(path, sizeof path, "%s/lock", rundir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int64_t end = lc_now_ms() + change_timeout_ms;
	while (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0) {
		if (lc_now_ms() > end)
			lc_die(LC_EXIT_TEMP, "the tree is still stopping after %d ms", change_timeout_ms);
		poll(NULL, 0, 10);
	}
	if (json)
		printf("{\"ok\":true}\n");
	return 0;
}

/* --- events -------------------------------------------------------------------------------- */

/* Following events is letitcrash/watch.h's job (discovery, SUB, gaps filled from the rings,
 * periodic resync, restarted and dead supervisors); supctl only prints. */

static long left = -1;

static void
print_event(struct lc_watch *w, const struct lc_watch_event *ev, void *arg)
{
	if (!json) {
		printf("%s %s sup=%s seq=%llu time=%lld pid=%d n=%u%s%s\n", ev->event, ev->child,
		    ev->sup, (unsigned long long)ev->seq, (long long)ev->time, (int)ev->pid, ev->n,
		    ev->has_reason ? " reason=" : "", ev->has_reason ? ev->reason : "");
	} else {
		printf("{\"event\":");
		json_str(ev->event);
		printf(",\"child\":");
		json_str(ev->child);
		printf(",\"sup\":");
		json_str(ev->sup);
		printf(",\"seq\":%llu,\"time\":%lld,\"pid\":%d,\"n\":%u", (unsigned long long)ev->seq,
		    (long long)ev->time, (int)ev->pid, ev->n);
		if (ev->has_reason) {
			printf(",\"reason\":");
			json_str(ev->reason);
		}
		printf("}\n");
	}
	fflush(stdout);
	if (left > 0 && --left == 0)
		exit(0);
}

static int
cmd_events(int argc, char **argv)
{
	int history = 0, c;
	optind = 1;
	while ((c = getopt(argc, argv, "an:")) != -1) {
		if (c == 'a')
			history = 1;
		else if (c == 'n')
			left = atol(optarg);
		else
			usage();
	}
	struct lc_loop loop;
	if (lc_loop_init(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to start the event loop");
	struct lc_watch *w = lc_watch_open(rundir, &loop, history ? LC_WATCH_HISTORY : 0,
	    print_event, NULL);
	if (!w)
		lc_die(LC_EXIT_TEMP, "unable to follow the tree in %s: %s", rundir,
		    lc_sock_strerror(errno));
	if (lc_loop_run(&loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	lc_watch_close(w);
	lc_loop_fini(&loop);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 } };
	const char *opt_r = NULL;
	int c;

	lc_log_init("supctl");
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+r:t:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': opt_r = optarg; break;
		case 't': timeout_ms = change_timeout_ms = atoi(optarg); break;
		case 'j': json = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	/* --json may also follow the command. */
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
			argc--;
			i--;
		}
	if (argc < 1)
		usage();
	static char dflt[256];
	const char *env = getenv("LETITCRASH_RUNDIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	if (opt_r)
		rundir = opt_r;
	else if (env && *env)
		rundir = env;
	else {
		if (xdg && *xdg)
			snprintf(dflt, sizeof dflt, "%s/letitcrash", xdg);
		else
			snprintf(dflt, sizeof dflt, "/tmp/letitcrash-%u", (unsigned)getuid());
		rundir = dflt;
	}
	const char *cmd = argv[0];
	if (strcmp(cmd, "help") == 0)
		usage();
	check_running();
	if (strcmp(cmd, "tree") == 0 && argc == 1)
		return cmd_tree();
	if (strcmp(cmd, "which_children") == 0 && argc == 2)
		return cmd_which_children(argv[1]);
	if (strcmp(cmd, "count_children") == 0 && argc == 2)
		return cmd_kv(argv[1], "count_children", NULL);
	if (strcmp(cmd, "info") == 0 && argc <= 2) {
		char root[SUP_NAME_MAX + 2];
		if (argc == 1)
			root_name(root, sizeof root);
		return cmd_kv(argc == 2 ? argv[1] : root, "info", NULL);
	}
	if (strcmp(cmd, "start") == 0)
		return cmd_start(argc - 1, argv + 1);
	if (!strcmp(cmd, "restart") || !strcmp(cmd, "terminate") || !strcmp(cmd, "delete") ||
	    !strcmp(cmd, "spec"))
		return cmd_change(cmd, argc - 1, argv + 1);
	if (strcmp(cmd, "stop") == 0 && argc == 1)
		return cmd_stop();
	if (strcmp(cmd, "events") == 0)
		return cmd_events(argc, argv);
	usage();
}
