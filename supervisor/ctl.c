/* The control socket: a raw nanomsg REP at RUNDIR/sup/NAME.ctl, so that requests that take
 * time (terminate waits for the child's exit) do not hold up the others. The protocol is plain
 * text so that `nanocat --req` can speak it (docs/control.md):
 *   request  = words separated by NUL bytes, or by blanks when there is no NUL
 *   reply    = "ok[ VALUE]" or "error REASON[ DETAIL]", then zero or more lines of data
 * Reads are answered at once; changes are queued behind the supervisor's running work, as
 * calls to an OTP supervisor are. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "sup.h"

#define MAXWORDS 64

struct buf {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *p = realloc(b->p, cap);
		if (!p)
			lc_die_sys(111, "out of memory");
		b->p = p;
		b->cap = cap;
	}
}

void
sup_reply(struct sup *s, struct op *op, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!op->has_req)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	op->has_req = 0;
	if (lc_sock_reply(s->ctl, &op->req, line, (size_t)n) < 0)
		lc_debug("%s: unable to reply: %s", s->me->name, lc_sock_strerror(errno));
}

static void
send_buf(struct sup *s, struct lc_sock_req *req, struct buf *b)
{
	if (lc_sock_reply(s->ctl, req, b->p ? b->p : "", b->len) < 0)
		lc_debug("%s: unable to reply: %s", s->me->name, lc_sock_strerror(errno));
	free(b->p);
}

static size_t
split_words(char *body, size_t len, char **w)
{
	size_t n = 0;
	if (memchr(body, 0, len)) {
		for (size_t i = 0; i < len && n < MAXWORDS; i += strlen(body + i) + 1)
			w[n++] = body + i;
		return n;
	}
	for (char *t = strtok(body, " \t\r\n"); t && n < MAXWORDS; t = strtok(NULL, " \t\r\n"))
		w[n++] = t;
	return n;
}

/* --- reads --------------------------------------------------------------------------------- */

static void
child_line(struct buf *b, const struct child *c, int64_t now)
{
	const char *t = c->spec->type == SUP_SUPERVISOR ? "supervisor" : "worker";
	char pid[16];
	if (c->pid)
		snprintf(pid, sizeof pid, "%d", (int)c->pid);
	else
		snprintf(pid, sizeof pid, "%s", c->restarting ? "restarting" : "undefined");
	bprintf(b, "\n%s\t%s\t%s\t%s\t%s\t%lld\t%u\t%u\t%s", c->name, pid, t, sup_state_name(c),
	    sup_restart_name(c->spec->restart),
	    (long long)(c->state == CH_RUNNING ? now - c->since_ms : 0), c->restarts, c->n,
	    c->extra);
}

static void
do_which_children(struct sup *s, struct buf *b)
{
	int64_t now = lc_now_ms();
	bprintf(b, "ok");
	if (sup_is_simple(s)) {         /* OTP lists dynamic children in start order */
		for (size_t i = 0; i < s->nkids; i++)
			child_line(b, s->kids[i], now);
	} else {                        /* and static ones in reverse start order */
		for (size_t i = s->nkids; i-- > 0;)
			child_line(b, s->kids[i], now);
	}
}

static void
do_count_children(struct sup *s, struct buf *b)
{
	size_t active = 0, sups = 0, workers = 0;
	for (size_t i = 0; i < s->nkids; i++) {
		active += s->kids[i]->pid != 0 && s->kids[i]->state != CH_STOPPING;
		if (s->kids[i]->spec->type == SUP_SUPERVISOR)
			sups++;
		else
			workers++;
	}
	size_t specs = sup_is_simple(s) ? 1 : s->nkids;
	bprintf(b, "ok\nspecs\t%zu\nactive\t%zu\nsupervisors\t%zu\nworkers\t%zu", specs, active,
	    sups, workers);
}

static void
do_info(struct sup *s, struct buf *b)
{
	const struct sup_spec *m = s->me;
	bprintf(b, "ok\nname\t%s\npid\t%d\nparent\t%s\nstrategy\t%s\nintensity\t%d\nperiod\t%d"
	    "\nchildren\t%zu\nseq\t%llu\nstate\t%s", m->name, (int)getpid(),
	    m->parent ? m->parent->name : "", sup_strategy_name(m->strategy), m->intensity,
	    m->period, s->nkids, (unsigned long long)s->seq,
	    s->ending ? "stopping" : s->booted ? "running" : "starting");
}

static void
do_spec(struct sup *s, struct buf *b, const char *name)
{
	struct child *c = sup_find(s, name);
	const struct sup_spec *sp;
	/* OTP: on simple_one_for_one, the template's name or any child's pid gives the template */
	if (sup_is_simple(s) && s->me->nchildren &&
	    (c || strcmp(name, s->me->children[0]->name) == 0))
		sp = s->me->children[0];
	else if (c)
		sp = c->spec;
	else {
		bprintf(b, "error not_found");
		return;
	}
	bprintf(b, "ok\nid\t%s\ntype\t%s\nrestart\t%s\nshutdown\t", sp->name,
	    sp->type == SUP_SUPERVISOR ? "supervisor" : "worker", sup_restart_name(sp->restart));
	if (sp->shutdown == SUP_SHUTDOWN_BRUTAL)
		bprintf(b, "brutal_kill");
	else if (sp->shutdown == SUP_SHUTDOWN_INFINITY)
		bprintf(b, "infinity");
	else
		bprintf(b, "%ld", sp->shutdown_ms);
	bprintf(b, "\nstart_timeout\t");
	if (sp->start_timeout_ms == SUP_INFINITY)
		bprintf(b, "infinity");
	else
		bprintf(b, "%ld", sp->start_timeout_ms);
	if (sp->argv) {
		bprintf(b, "\nexec\t");
		for (char **a = sp->argv; *a; a++)
			bprintf(b, "%s%s", a == sp->argv ? "" : " ", *a);
	}
}

static void
do_events(struct sup *s, struct buf *b, const char *from)
{
	uint64_t after = strtoull(from, NULL, 10), first = s->seq > SUP_RING ? s->seq - SUP_RING : 0;
	bprintf(b, "ok %llu", (unsigned long long)s->seq);
	if (after < first)
		after = first;
	for (uint64_t q = after + 1; q > after && q <= s->seq; q++)
		if (s->ring[q % SUP_RING])
			bprintf(b, "\n%s", s->ring[q % SUP_RING]);
}

/* --- changes ------------------------------------------------------------------------------- */

/* Queue op with the request attached; the reply is sent when the op is done. */
static void
queue(struct sup *s, struct op *op, struct lc_sock_req *req)
{
	op->req = *req;
	op->has_req = 1;
	req->body = req->hdr = NULL;
	sup_enqueue(s, op);
}

static const char *
do_start(struct sup *s, char **w, size_t n, struct lc_sock_req *req)
{
	struct op *op = sup_op_new(OP_START_CHILD, NULL);
	if (sup_is_simple(s)) {
		if (!s->me->nchildren)
			return free(op), "error no_template";
		op->extra = calloc(n + 1, sizeof *op->extra);
		for (size_t i = 1; op->extra && i < n; i++)
			op->extra[i - 1] = strdup(w[i]);
	} else {
		if (n < 2)
			return free(op), "error badarg usage: start NAME exec=... [key=value ...]";
		char *errs = NULL;
		size_t elen = 0;
		FILE *ef = open_memstream(&errs, &elen);
		op->spec = sup_spec_from_words(w[1], SUP_WORKER, w + 2, n - 2, ef);
		if (ef)
			fclose(ef);
		if (!op->spec) {
			static char msg[512];
			snprintf(msg, sizeof msg, "error badarg %s", errs ? errs : "bad child spec");
			for (char *p = msg; *p; p++)
				if (*p == '\n')
					*p = p[1] ? ';' : 0;
			free(errs);
			free(op);
			return msg;
		}
		free(errs);
	}
	queue(s, op, req);
	return NULL;
}

/* OTP's terminate_child(Sup, Pid) on simple_one_for_one answers ok for a pid that is no
 * longer alive (it may be a child that has just exited), not_found for a live process that is
 * not a child. True if `key` is a pid and no such process exists. */
static int
dead_pid(const char *key)
{
	char *end;
	long pid = strtol(key, &end, 10);
	if (!*key || *end || pid <= 0 || pid > INT_MAX)
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static const char *
do_change(struct sup *s, enum op_kind kind, char **w, size_t n, struct lc_sock_req *req)
{
	if (n != 2)
		return "error badarg usage: COMMAND NAME";
	int simple = sup_is_simple(s);
	int is_template = simple && s->me->nchildren && strcmp(w[1], s->me->children[0]->name) == 0;
	if (simple && (kind != OP_TERMINATE_CHILD || is_template))
		return "error simple_one_for_one";
	struct child *c = sup_find(s, w[1]);
	if (!c && simple && dead_pid(w[1]))
		return "ok";
	if (!c)
		return "error not_found";
	queue(s, sup_op_new(kind, c), req);
	return NULL;
}

static void
handle(struct sup *s, struct lc_sock_req *req)
{
	char *w[MAXWORDS];
	struct buf b = { 0 };
	const char *err = NULL;
	char *body = malloc(req->len + 1);
	if (!body)
		lc_die_sys(111, "out of memory");
	memcpy(body, req->body, req->len);
	body[req->len] = 0;
	size_t n = split_words(body, req->len, w);
	const char *cmd = n ? w[0] : "";

	if (!strcmp(cmd, "ping"))
		bprintf(&b, "ok %s %d", s->me->name, (int)getpid());
	else if (!strcmp(cmd, "info"))
		do_info(s, &b);
	else if (!strcmp(cmd, "which_children"))
		do_which_children(s, &b);
	else if (!strcmp(cmd, "count_children"))
		do_count_children(s, &b);
	else if (!strcmp(cmd, "spec") && n == 2)
		do_spec(s, &b, w[1]);
	else if (!strcmp(cmd, "events"))
		do_events(s, &b, n > 1 ? w[1] : "0");
	else if (!strcmp(cmd, "start"))
		err = do_start(s, w, n, req);
	else if (!strcmp(cmd, "restart"))
		err = do_change(s, OP_RESTART_CHILD, w, n, req);
	else if (!strcmp(cmd, "terminate"))
		err = do_change(s, OP_TERMINATE_CHILD, w, n, req);
	else if (!strcmp(cmd, "delete"))
		err = do_change(s, OP_DELETE_CHILD, w, n, req);
	else if (!strcmp(cmd, "stop")) {
		bprintf(&b, "ok stopping");
		send_buf(s, req, &b);
		free(body);
		lc_info("%s: stopping on request", s->me->name);
		sup_shutdown(s, END_STOP, 0);
		return;
	} else
		bprintf(&b, "error unknown_command %s", cmd);
	free(body);
	if (req->hdr == NULL && req->body == NULL)
		return;                         /* queued: replied later */
	if (err) {
		free(b.p);
		b = (struct buf){ 0 };
		bprintf(&b, "%s", err);
	}
	send_buf(s, req, &b);
}

static void
on_ctl(struct lc_loop *l, struct lc_io *io, uint32_t events)
{
	struct sup *s = container_of_loop(l);
	for (int i = 0; i < 64; i++) {
		struct lc_sock_req req;
		if (lc_sock_recv_req(s->ctl, &req, LC_SOCK_DONTWAIT) < 0)
			return;
		handle(s, &req);
	}
}

int
sup_ctl_open(struct sup *s)
{
	char addr[256];
	s->ctl = s->pub = -1;
	if ((s->ctl = lc_sock_open(LC_SOCK_REP_RAW)) < 0 ||
	    (s->pub = lc_sock_open(LC_SOCK_PUB)) < 0)
		return -1;
	char sub[SUP_NAME_MAX + 16];
	snprintf(sub, sizeof sub, "sup/%s.ev", s->me->name);
	if (lc_sock_ipc_addr(addr, sizeof addr, s->rundir, sub) < 0 || lc_sock_bind(s->pub, addr) < 0)
		return -1;
	snprintf(sub, sizeof sub, "sup/%s.ctl", s->me->name);
	if (lc_sock_ipc_addr(addr, sizeof addr, s->rundir, sub) < 0 || lc_sock_bind(s->ctl, addr) < 0)
		return -1;
	s->ctlio = (struct lc_io){ .fd = lc_sock_recv_fd(s->ctl), .fn = on_ctl };
	return s->ctlio.fd < 0 ? -1 : lc_io_start(&s->loop, &s->ctlio, EPOLLIN);
}

void
sup_ctl_close(struct sup *s)
{
	if (s->ctl >= 0) {
		lc_io_stop(&s->loop, &s->ctlio);
		lc_sock_close(s->ctl);
	}
	if (s->pub >= 0)
		lc_sock_close(s->pub);
	s->ctl = s->pub = -1;
}
