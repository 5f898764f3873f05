/* The supervisor's state machine: OTP's supervisor.erl semantics on OS processes.
 *
 * OTP handles one message at a time, and a restart (stop some children in reverse order, start
 * some in order, each start waiting for the child's init) runs to completion before the next
 * message. We cannot block, so each such piece of work is an `op`: a program of stops then
 * starts, driven by advance() as children exit and become ready. Ops run one at a time in
 * arrival order; a child that dies while another op runs is queued as OP_EXIT, unless the
 * running op is about to stop it anyway, in which case its real exit reason is taken as the
 * stop's result (OTP's unlink_flush) and the queued exit goes stale.
 *
 * References: erlang/otp lib/stdlib/src/supervisor.erl (do_restart, restart/3,
 * restart_multiple_children, terminate_children, shutdown/2, handle_call). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "sup.h"

static void advance(struct sup *s);
static void run_queue(struct sup *s);
static void restart(struct sup *s, struct child *c);

/* --- children ------------------------------------------------------------------------------ */

int
sup_is_simple(const struct sup *s)
{
	return s->me->strategy == SUP_SIMPLE_ONE_FOR_ONE;
}

const char *
sup_state_name(const struct child *c)
{
	switch (c->state) {
	case CH_STARTING: return "starting";
	case CH_RUNNING:  return "running";
	case CH_STOPPING: return "stopping";
	case CH_DOWN:     break;
	}
	return c->restarting ? "restarting" : "undefined";
}

static void on_child_timer(struct lc_loop *, struct lc_timer *);

static struct child *
child_new(struct sup *s, struct sup_spec *spec, int owned, const char *name)
{
	struct child *c = calloc(1, sizeof *c);
	if (!c)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	c->spec = spec;
	c->owned = owned;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->rfd = -1;
	lc_timer_init(&c->timer, on_child_timer, s);
	c->timer.arg = c;
	return c;
}

static void
child_add(struct sup *s, struct child *c)
{
	if (s->nkids == s->capkids) {
		size_t cap = s->capkids ? 2 * s->capkids : 16;
		struct child **k = reallocarray(s->kids, cap, sizeof *k);
		if (!k)
			lc_die_sys(LC_EXIT_TEMP, "out of memory");
		s->kids = k;
		s->capkids = cap;
	}
	s->kids[s->nkids++] = c;
}

/* Forget c entirely (temporary children, dynamic children, delete_child). */
static void
child_remove(struct sup *s, struct child *c)
{
	size_t i;
	for (i = 0; i < s->nkids && s->kids[i] != c; i++)
		;
	if (i == s->nkids)
		return;
	memmove(s->kids + i, s->kids + i + 1, (s->nkids - i - 1) * sizeof *s->kids);
	s->nkids--;
	lc_timer_cancel(&s->loop, &c->timer);
	sup_readiness_close(s, c);
	/* Ops still referring to c: the queue is scanned by the caller where it matters. */
	for (struct op *o = s->qhead; o; o = o->next)
		if (o->child == c)
			o->child = NULL;
	if (s->cur && s->cur->child == c)
		s->cur->child = NULL;
	if (c->owned)
		sup_spec_free(c->spec);
	free(c);
}

/* OTP's del_child: a temporary child (or any simple_one_for_one child) is forgotten, any other
 * keeps its spec with no process. Returns 1 if c was freed. */
static int
del_child(struct sup *s, struct child *c)
{
	c->restarting = 0;
	if (c->spec->restart == SUP_TEMPORARY || sup_is_simple(s)) {
		child_remove(s, c);
		return 1;
	}
	return 0;
}

struct child *
sup_find_pid(struct sup *s, pid_t pid)
{
	for (size_t i = 0; i < s->nkids; i++)
		if (s->kids[i]->pid == pid)
			return s->kids[i];
	return NULL;
}

struct child *
sup_find(struct sup *s, const char *key)
{
	char *end;
	long pid = strtol(key, &end, 10);
	if (*key && !*end && pid > 0)
		return sup_find_pid(s, (pid_t)pid);
	for (size_t i = 0; i < s->nkids; i++)
		if (strcmp(s->kids[i]->name, key) == 0)
			return s->kids[i];
	return NULL;
}

/* --- ops ----------------------------------------------------------------------------------- */

static void on_op_timer(struct lc_loop *, struct lc_timer *);

struct op *
sup_op_new(enum op_kind kind, struct child *c)
{
	struct op *op = calloc(1, sizeof *op);
	if (!op)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	op->kind = kind;
	op->child = c;
	lc_timer_init(&op->timer, on_op_timer, op);
	return op;
}

static void
op_free(struct sup *s, struct op *op)
{
	lc_timer_cancel(&s->loop, &op->timer);
	if (op->has_req)
		sup_reply(s, op, "error shutting_down");
	if (op->spec)
		sup_spec_free(op->spec);
	if (op->extra) {
		for (char **w = op->extra; *w; w++)
			free(*w);
		free(op->extra);
	}
	free(op->stops);
	free(op->starts);
	free(op);
}

void
sup_enqueue(struct sup *s, struct op *op)
{
	op->next = NULL;
	if (s->qtail)
		s->qtail->next = op;
	else
		s->qhead = op;
	s->qtail = op;
	run_queue(s);
}

static struct child **
list_push(struct child **l, size_t *n, struct child *c)
{
	l = reallocarray(l, *n + 1, sizeof *l);
	if (!l)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	l[(*n)++] = c;
	return l;
}

/* Add to op's stop list, in reverse start order, the children from index `from` on (except
 * `skip`) that have a process, or an exit not yet handled. */
static void
plan_stops(struct sup *s, struct op *op, size_t from, const struct child *skip)
{
	for (size_t i = s->nkids; i-- > from;) {
		struct child *c = s->kids[i];
		if (c != skip && (c->pid || c->exited))
			op->stops = list_push(op->stops, &op->nstops, c);
	}
}

static void
plan_starts(struct sup *s, struct op *op, size_t from)
{
	for (size_t i = from; i < s->nkids; i++)
		op->starts = list_push(op->starts, &op->nstarts, s->kids[i]);
}

static size_t
index_of(struct sup *s, const struct child *c)
{
	for (size_t i = 0; i < s->nkids; i++)
		if (s->kids[i] == c)
			return i;
	return s->nkids;
}

/* --- stopping a child ---------------------------------------------------------------------- */

static void
send_signal(struct child *c, int sig)
{
	/* Each child leads its own process group (setsid): the signal reaches its helpers too. */
	if (c->pid > 0 && kill(-c->pid, sig) < 0 && kill(c->pid, sig) < 0 && errno != ESRCH)
		lc_warn_sys("unable to signal %s (pid %d)", c->name, (int)c->pid);
}

static void
begin_stop(struct sup *s, struct child *c)
{
	struct sup_spec *sp = c->spec;
	c->state = CH_STOPPING;
	lc_timer_cancel(&s->loop, &c->timer);
	if (sp->shutdown == SUP_SHUTDOWN_BRUTAL) {
		send_signal(c, SIGKILL);
		return;
	}
	send_signal(c, SIGTERM);
	if (sp->shutdown == SUP_SHUTDOWN_TIMEOUT)
		lc_timer_set(&s->loop, &c->timer, lc_now_ms() + sp->shutdown_ms);
}

/* The result of a stop, as OTP's shutdown/2 judges it: report shutdown_error unless the child
 * died the way it was asked to (or, for a non-permanent child, any clean way). */
static void
judge_stop(struct sup *s, struct child *c, int st)
{
	enum lc_reason_kind k = lc_reason_of(st, 1);
	int ok;
	if (c->spec->shutdown == SUP_SHUTDOWN_BRUTAL)
		ok = k == LC_REASON_KILLED;
	else
		ok = k == LC_REASON_SHUTDOWN;
	if (!ok && c->spec->restart != SUP_PERMANENT &&
	    (k == LC_REASON_SHUTDOWN || k == LC_REASON_SHUTDOWN_TERM || k == LC_REASON_NORMAL))
		ok = 1;
	if (!ok) {
		char why[64];
		sup_event(s, "shutdown_error", c, lc_reason_str(st, 1, why, sizeof why));
	}
}

/* --- starting a child ---------------------------------------------------------------------- */

/* Start c now. Returns 1 if it is already ready (readiness "exec"), 0 if the op must wait for
 * readiness, -1 if the start failed (op->why set). */
static int
begin_start(struct sup *s, struct op *op, struct child *c)
{
	c->ready = 0;
	c->timed_out = 0;
	if (sup_spawn(s, c) < 0) {
		snprintf(op->why, sizeof op->why, "{exec,\"%s\"}", strerror(errno));
		return -1;
	}
	if (c->n++ > 0)
		c->restarts++;
	c->spawned_ms = lc_now_ms();
	c->state = CH_STARTING;
	c->restarting = 0;
	sup_event(s, "spawn", c, NULL);
	if (c->spec->ready == SUP_READY_EXEC && c->spec->type == SUP_WORKER) {
		sup_on_ready(s, c);
		return c->state == CH_RUNNING ? 1 : 0;
	}
	if (c->spec->start_timeout_ms != SUP_INFINITY)
		lc_timer_set(&s->loop, &c->timer, c->spawned_ms + c->spec->start_timeout_ms);
	return 0;
}

void
sup_on_ready(struct sup *s, struct child *c)
{
	if (c->state != CH_STARTING || c->ready)
		return;
	sup_readiness_close(s, c);
	lc_timer_cancel(&s->loop, &c->timer);
	c->ready = 1;
	c->state = CH_RUNNING;
	c->since_ms = lc_now_ms();
	sup_event(s, "start", c, NULL);
	if (s->cur && s->cur->istart < s->cur->nstarts && s->cur->starts[s->cur->istart] == c &&
	    !s->cur->failed) {
		s->cur->istart++;
		advance(s);
	}
}

static void
on_child_timer(struct lc_loop *l, struct lc_timer *t)
{
	struct child *c = t->arg;
	if (c->state == CH_STOPPING) {          /* shutdown timeout: kill */
		send_signal(c, SIGKILL);
	} else if (c->state == CH_STARTING) {   /* start timeout: kill, fail when reaped */
		c->timed_out = 1;
		send_signal(c, SIGKILL);
	}
}

/* --- the op runner ------------------------------------------------------------------------- */

static void finish(struct sup *s, struct op *op);
static void start_failed(struct sup *s, struct op *op, struct child *c);

/* Drive the current op's program as far as it goes without waiting. */
static void begin(struct sup *s, struct op *op);

static void
advance(struct sup *s)
{
	if (s->in_advance)
		return;                 /* the outer turn of this loop goes on */
	s->in_advance = 1;
	for (;;) {
		struct op *op = s->cur;
		if (!op) {
			if (!(op = s->qhead))
				break;
			s->qhead = op->next;
			if (!s->qhead)
				s->qtail = NULL;
			s->cur = op;
			begin(s, op);
			continue;
		}
		if (op->aborted) {
			finish(s, op);
			continue;
		}
		if (op->istop < op->nstops) {
			struct child *c = op->stops[op->istop];
			if (c->pid) {
				if (c->state != CH_STOPPING)
					begin_stop(s, c);
				if (op->parallel) {
					for (size_t i = op->istop + 1; i < op->nstops; i++)
						if (op->stops[i]->pid && op->stops[i]->state != CH_STOPPING)
							begin_stop(s, op->stops[i]);
				}
				break;                  /* wait for its exit */
			}
			if (c->exited) {                /* died meanwhile: take its real reason */
				c->exited = 0;
				judge_stop(s, c, c->wstatus);
			}
			op->istop++;
			if (op->drop_temporary && c->spec->restart == SUP_TEMPORARY)
				child_remove(s, c);
			continue;
		}
		if (op->wait_until && lc_now_ms() < op->wait_until) {
			lc_timer_set(&s->loop, &op->timer, op->wait_until);
			break;
		}
		if (op->istart < op->nstarts && !op->failed) {
			struct child *c = op->starts[op->istart];
			if (c->state == CH_STARTING)
				break;                  /* waiting for readiness */
			int r = begin_start(s, op, c);
			if (r < 0) {
				start_failed(s, op, c);
				continue;
			}
			if (r == 0)
				break;
			continue;                       /* ready at once: on_ready counted it */
		}
		finish(s, op);
	}
	s->in_advance = 0;
}

static void
on_op_timer(struct lc_loop *l, struct lc_timer *t)
{
	struct sup *s = container_of_loop(l);
	if (s->cur == t->arg)
		advance(s);
}

static void
run_queue(struct sup *s)
{
	advance(s);
}

/* --- beginning and ending ops -------------------------------------------------------------- */

static void
handle_exit(struct sup *s, struct op *op, struct child *c)
{
	char why[64];
	int st = c->wstatus;
	enum lc_reason_kind k = lc_reason_of(st, 1);

	c->exited = 0;
	lc_reason_str(st, 1, why, sizeof why);
	if (c->spec->restart == SUP_PERMANENT ||
	    (c->spec->restart == SUP_TRANSIENT && !lc_reason_is_clean(k))) {
		sup_event(s, "child_terminated", c, why);
		restart(s, c);
		return;
	}
	if (!lc_reason_is_clean(k))                     /* temporary, abnormal */
		sup_event(s, "child_terminated", c, why);
	del_child(s, c);
}

/* A start-child op on a simple_one_for_one supervisor: a new child from the template. */
static struct child *
adopt_dynamic(struct sup *s, struct op *op)
{
	struct sup_spec *t = s->me->children[0];
	struct sup_spec *sp = sup_spec_dup(t);
	char name[SUP_NAME_MAX + 1];
	size_t n = 0, k = 0;

	if (!sp)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	while (sp->argv[n])
		n++;
	while (op->extra && op->extra[k])
		k++;
	char **argv = reallocarray(sp->argv, n + k + 1, sizeof *argv);
	if (!argv)
		lc_die_sys(LC_EXIT_TEMP, "out of memory");
	sp->argv = argv;
	struct child *c;
	snprintf(name, sizeof name, "%.*s.%u", SUP_NAME_MAX - 11, t->name, ++s->dyn_seq);
	c = child_new(s, sp, 1, name);
	for (size_t i = 0; i < k; i++) {
		argv[n + i] = op->extra[i];
		size_t used = strlen(c->extra);
		snprintf(c->extra + used, sizeof c->extra - used, "%s%s", i ? " " : "", op->extra[i]);
		op->extra[i] = NULL;
	}
	argv[n + k] = NULL;
	snprintf(sp->name, sizeof sp->name, "%s", name);
	return c;
}

static void
begin_start_child(struct sup *s, struct op *op)
{
	struct child *c;
	if (sup_is_simple(s)) {
		c = adopt_dynamic(s, op);
	} else {
		if ((c = sup_find(s, op->spec->name)) != NULL) {
			if (c->pid)
				sup_reply(s, op, "error already_started %d", (int)c->pid);
			else
				sup_reply(s, op, "error already_present");
			return;
		}
		c = child_new(s, op->spec, 1, op->spec->name);
		op->spec = NULL;
	}
	child_add(s, c);
	op->child = c;
	op->starts = list_push(op->starts, &op->nstarts, c);
}

/* restart_child and delete_child take a stopped child only (OTP: pid undefined): NULL if c
 * is one, else the error to answer. */
static const char *
not_stopped(const struct child *c)
{
	if (!c)
		return "error not_found";
	if (c->restarting && !c->pid)
		return "error restarting";
	if (c->pid || c->exited)
		return "error running";
	return NULL;
}

static void
begin(struct sup *s, struct op *op)
{
	struct child *c = op->child;
	const char *why;
	switch (op->kind) {
	case OP_BOOT:
		plan_starts(s, op, 0);
		break;
	case OP_EXIT:
		if (c && c->exited && c->n == op->n)
			handle_exit(s, op, c);
		break;
	case OP_RETRY:                  /* OTP's try_again_restart */
		if (c && c->restarting && c->state == CH_DOWN)
			restart(s, c);
		break;
	case OP_START_CHILD:
		begin_start_child(s, op);
		break;
	case OP_RESTART_CHILD:
		if ((why = not_stopped(c)) != NULL)
			sup_reply(s, op, "%s", why);
		else
			op->starts = list_push(op->starts, &op->nstarts, c);
		break;
	case OP_TERMINATE_CHILD:
		if (!c)
			sup_reply(s, op, "error not_found");
		else if (c->pid || c->exited)
			op->stops = list_push(op->stops, &op->nstops, c);
		break;
	case OP_DELETE_CHILD:
		if ((why = not_stopped(c)) != NULL)
			sup_reply(s, op, "%s", why);
		else {
			child_remove(s, c);
			sup_reply(s, op, "ok");
		}
		break;
	case OP_SHUTDOWN:
		/* Drop everything queued: the supervisor is going away (OTP's terminate/2). */
		while (s->qhead) {
			struct op *q = s->qhead;
			s->qhead = q->next;
			op_free(s, q);
		}
		s->qtail = NULL;
		plan_stops(s, op, 0, NULL);
		op->parallel = sup_is_simple(s);
		break;
	}
}

static void sup_end(struct sup *s);

static void
finish(struct sup *s, struct op *op)
{
	struct child *c = op->child;
	s->cur = NULL;
	if (!op->aborted && !op->failed) {
		switch (op->kind) {
		case OP_BOOT:
			s->booted = 1;
			lc_info("%s: up, %zu children", s->me->name, s->nkids);
			sup_notify_parent();
			break;
		case OP_START_CHILD:
		case OP_RESTART_CHILD:
			if (op->has_req && c && c->pid)
				sup_reply(s, op, "ok %d", (int)c->pid);
			else if (op->has_req)
				sup_reply(s, op, "ok undefined");
			break;
		case OP_TERMINATE_CHILD:
			if (c)
				del_child(s, c);
			sup_reply(s, op, "ok");
			break;
		case OP_SHUTDOWN:
			op_free(s, op);
			sup_end(s);             /* does not return */
			return;
		default:
			break;
		}
	}
	op_free(s, op);
}

/* A start in op's program failed (exec error, exit before readiness, start timeout). As in
 * OTP, a start the supervisor made on its own (init, a restart) is reported as start_error;
 * one asked for by start_child or restart_child is only answered with the error. */
static void
start_failed(struct sup *s, struct op *op, struct child *c)
{
	if (op->kind != OP_START_CHILD && op->kind != OP_RESTART_CHILD)
		sup_event(s, "start_error", c, op->why);
	op->failed = 1;
	switch (op->kind) {
	case OP_BOOT:
		lc_warn("%s: failed to start child %s: %s", s->me->name, c->name, op->why);
		sup_shutdown(s, END_BOOT_FAILED, 0);
		break;
	case OP_START_CHILD:
		sup_reply(s, op, "error start_failed %s", op->why);
		op->child = NULL;
		child_remove(s, c);
		break;
	case OP_RESTART_CHILD:
		sup_reply(s, op, "error start_failed %s", op->why);
		break;
	default:                        /* a restart: try again, through the queue (OTP) */
		c->restarting = 1;
		struct op *retry = sup_op_new(OP_RETRY, c);
		retry->n = c->n;
		sup_enqueue(s, retry);
		break;
	}
}

/* OTP's restart/2: count the restart, then run the strategy's program on the current op. */
static void
restart(struct sup *s, struct child *c)
{
	struct op *op = s->cur;
	int64_t now = lc_now_ms();

	if (!sup_intensity_add(&s->it, now / 1000)) {
		sup_event(s, "give_up", c, "reached_max_restart_intensity");
		del_child(s, c);
		sup_shutdown(s, END_GAVE_UP, 0);
		return;
	}
	if (s->me->backoff_min_ms > 0) {
		if (c->ready && now - c->since_ms >= (int64_t)s->me->period * 1000)
			c->backoff = 0;
		long d = s->me->backoff_min_ms;
		for (unsigned i = 0; i < c->backoff && d < s->me->backoff_max_ms; i++)
			d *= 2;
		if (d > s->me->backoff_max_ms && s->me->backoff_max_ms > 0)
			d = s->me->backoff_max_ms;
		c->backoff++;
		op->wait_until = now + d;
	}
	c->restarting = 1;
	size_t i = index_of(s, c);
	switch (s->me->strategy) {
	case SUP_ONE_FOR_ONE:
	case SUP_SIMPLE_ONE_FOR_ONE:
		op->starts = list_push(op->starts, &op->nstarts, c);
		return;
	case SUP_ONE_FOR_ALL:
		i = 0;
		break;
	case SUP_REST_FOR_ONE:
		break;
	}
	/* restart_multiple_children: stop the others from i on, in reverse start order, forgetting
	 * the temporary ones, then start every remaining child from i on, in order. */
	plan_stops(s, op, i, c);
	op->drop_temporary = 1;
	for (size_t j = i; j < s->nkids; j++)
		if (s->kids[j] == c || s->kids[j]->spec->restart != SUP_TEMPORARY)
			op->starts = list_push(op->starts, &op->nstarts, s->kids[j]);
}

/* --- events from the loop ------------------------------------------------------------------ */

static void
exited_while_starting(struct sup *s, struct child *c, int st)
{
	struct op *op = s->cur;
	int mine = op && op->istart < op->nstarts && op->starts[op->istart] == c;
	enum lc_reason_kind k = lc_reason_of(st, 0);

	if (!mine) {                    /* cannot happen: starts only run inside an op */
		lc_warn("%s: BUG: %s exited while starting outside any op", s->me->name, c->name);
		abort();
	}
	if (k == LC_REASON_IGNORE && !c->timed_out) {   /* OTP: start returned ignore */
		sup_event(s, "ignore", c, NULL);
		c->restarting = 0;
		op->istart++;
		if (c->spec->restart == SUP_TEMPORARY || sup_is_simple(s)) {
			if (op->kind == OP_START_CHILD)
				op->child = NULL;
			child_remove(s, c);
		}
		advance(s);
		return;
	}
	if (c->timed_out)
		snprintf(op->why, sizeof op->why, "timeout");
	else
		lc_reason_str(st, 0, op->why, sizeof op->why);
	start_failed(s, op, c);
	advance(s);
}

void
sup_on_exit(struct sup *s, pid_t pid, int st)
{
	struct child *c = sup_find_pid(s, pid);
	char why[64];

	if (!c) {
		lc_debug("%s: reaped pid %d (not a child of mine)", s->me->name, (int)pid);
		return;
	}
	/* Readiness written just before dying still counts: read it first. */
	if (c->state == CH_STARTING && c->rfd >= 0)
		c->rio.fn(&s->loop, &c->rio, EPOLLIN);
	enum ch_state was = c->state;
	sup_event(s, "exit", c, lc_reason_str(st, c->ready || was == CH_STOPPING, why, sizeof why));
	c->pid = 0;
	c->state = CH_DOWN;
	sup_readiness_close(s, c);
	lc_timer_cancel(&s->loop, &c->timer);
	switch (was) {
	case CH_STOPPING:
		judge_stop(s, c, st);
		advance(s);
		break;
	case CH_STARTING:
		exited_while_starting(s, c, st);
		break;
	case CH_RUNNING: {
		c->exited = 1;
		c->wstatus = st;
		struct op *op = sup_op_new(OP_EXIT, c);
		op->n = c->n;
		sup_enqueue(s, op);
		break;
	}
	case CH_DOWN:
		break;
	}
}

void
sup_shutdown(struct sup *s, enum sup_end why, int signo)
{
	if (s->ending != END_NONE)
		return;
	s->ending = why;
	s->end_signal = signo;
	if (s->cur)
		s->cur->aborted = 1;
	struct op *op = sup_op_new(OP_SHUTDOWN, NULL);
	op->next = s->qhead;            /* first in line */
	s->qhead = op;
	if (!s->qtail)
		s->qtail = op;
	advance(s);
}

void
sup_boot(struct sup *s)
{
	sup_enqueue(s, sup_op_new(OP_BOOT, NULL));
}

/* The shutdown op is over: every child is gone. Leave the way our parent expects. */
static void
sup_end(struct sup *s)
{
	sup_ctl_close(s);
	sup_event_fini(s);
	switch (s->ending) {
	case END_GAVE_UP:
		lc_warn("%s: gave up: reached max restart intensity", s->me->name);
		exit(LC_EXIT_GAVE_UP);
	case END_BOOT_FAILED:
		exit(LC_EXIT_SHUTDOWN);
	case END_SIGNAL: {
		/* Die of the same signal, so that our parent sees `shutdown` (SIGTERM). */
		sigset_t set;
		signal(s->end_signal, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, s->end_signal);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(s->end_signal);
		exit(LC_EXIT_SHUTDOWN);
	}
	default:
		exit(0);
	}
}

int
sup_init(struct sup *s)
{
	struct sup_spec *me = s->me;
	if (lc_loop_init(&s->loop) < 0)
		return -1;
	if (sup_intensity_init(&s->it, me->intensity, me->period) < 0)
		return -1;
	if (me->strategy != SUP_SIMPLE_ONE_FOR_ONE)
		for (size_t i = 0; i < me->nchildren; i++)
			child_add(s, child_new(s, me->children[i], 0, me->children[i]->name));
	return 0;
}
