/* The event loop: see letitcrash/loop.h. Modelled on the shape of redis's ae.c: compute the
 * wait from the earliest deadline, wait once, run due timers, then ready descriptors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "letitcrash/loop.h"
#include "letitcrash/time.h"

#define NOSLOT ((size_t)-1)

int
lc_loop_init(struct lc_loop *self)
{
	memset(self, 0, sizeof *self);
	self->sigio.fd = -1;
	self->epfd = epoll_create1(EPOLL_CLOEXEC);
	return self->epfd < 0 ? -1 : 0;
}

void
lc_loop_fini(struct lc_loop *self)
{
	if (self->sigio.fd >= 0)
		close(self->sigio.fd);
	if (self->epfd >= 0)
		close(self->epfd);
	free(self->heap);
	self->heap = NULL;
	self->epfd = -1;
}

int
lc_io_start(struct lc_loop *self, struct lc_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -1;
	io->active = 1;
	return 0;
}

int
lc_io_modify(struct lc_loop *self, struct lc_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	return epoll_ctl(self->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void
lc_io_stop(struct lc_loop *self, struct lc_io *io)
{
	if (!io->active)
		return;
	epoll_ctl(self->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->active = 0;
	/* Forget events of this turn not yet run for it. */
	for (int i = self->iev; i < self->nev; i++)
		if (self->ev[i].data.ptr == io)
			self->ev[i].data.ptr = NULL;
}

/* --- timers: a binary min-heap of deadlines ---------------------------------------------- */

void
lc_timer_init(struct lc_timer *t, lc_timer_fn *fn, void *arg)
{
	t->when = LC_NEVER;
	t->fn = fn;
	t->arg = arg;
	t->slot = NOSLOT;
}

static void
heap_put(struct lc_loop *self, size_t i, struct lc_timer *t)
{
	self->heap[i] = t;
	t->slot = i;
}

static void
heap_up(struct lc_loop *self, size_t i)
{
	struct lc_timer *t = self->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (self->heap[p]->when <= t->when)
			break;
		heap_put(self, i, self->heap[p]);
		i = p;
	}
	heap_put(self, i, t);
}

static void
heap_down(struct lc_loop *self, size_t i)
{
	struct lc_timer *t = self->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= self->nheap)
			break;
		if (c + 1 < self->nheap && self->heap[c + 1]->when < self->heap[c]->when)
			c++;
		if (t->when <= self->heap[c]->when)
			break;
		heap_put(self, i, self->heap[c]);
		i = c;
	}
	heap_put(self, i, t);
}

void
lc_timer_cancel(struct lc_loop *self, struct lc_timer *t)
{
	size_t i = t->slot;
	if (i == NOSLOT)
		return;
	t->slot = NOSLOT;
	t->when = LC_NEVER;
	struct lc_timer *last = self->heap[--self->nheap];
	if (i == self->nheap)
		return;
	heap_put(self, i, last);
	heap_up(self, i);
	heap_down(self, last->slot);
}

int
lc_timer_set(struct lc_loop *self, struct lc_timer *t, int64_t when)
{
	lc_timer_cancel(self, t);
	if (self->nheap == self->capheap) {
		size_t cap = self->capheap ? 2 * self->capheap : 16;
		struct lc_timer **h = reallocarray(self->heap, cap, sizeof *h);
		if (!h)
			return -1;
		self->heap = h;
		self->capheap = cap;
	}
	t->when = when;
	self->heap[self->nheap] = t;
	t->slot = self->nheap++;
	heap_up(self, t->slot);
	return 0;
}

/* --- signals ------------------------------------------------------------------------------ */

static void
on_signalfd(struct lc_loop *self, struct lc_io *io, uint32_t events)
{
	struct signalfd_siginfo si[16];
	ssize_t n = read(io->fd, si, sizeof si);
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof si[0]; i++)
		self->sigfn(self, (int)si[i].ssi_signo, (pid_t)si[i].ssi_pid, self->sigarg);
}

int
lc_loop_signals(struct lc_loop *self, const sigset_t *set, lc_signal_fn *fn, void *arg)
{
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -1;
	int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -1;
	self->sigio = (struct lc_io){ .fd = fd, .fn = on_signalfd, .arg = arg };
	self->sigfn = fn;
	self->sigarg = arg;
	return lc_io_start(self, &self->sigio, EPOLLIN);
}

/* --- before-wait hooks ------------------------------------------------------------------- */

void
lc_hook_add(struct lc_loop *self, struct lc_hook *h, lc_hook_fn *fn, void *arg)
{
	if (h->active)
		return;
	h->fn = fn;
	h->arg = arg;
	h->next = self->hooks;
	self->hooks = h;
	h->active = 1;
}

void
lc_hook_del(struct lc_loop *self, struct lc_hook *h)
{
	for (struct lc_hook **pp = &self->hooks; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			h->active = 0;
			return;
		}
}

static void
run_hooks(struct lc_loop *self)
{
	struct lc_hook *h = self->hooks;

	while (h) {
		struct lc_hook *next = h->next;    /* h may delete itself */
		h->fn(self, h);
		h = next;
	}
}

/* --- the turn ----------------------------------------------------------------------------- */

static void
run_timers(struct lc_loop *self)
{
	int64_t now = lc_now_ms();
	while (self->nheap > 0 && self->heap[0]->when <= now) {
		struct lc_timer *t = self->heap[0];
		lc_timer_cancel(self, t);
		t->fn(self, t);
	}
}

int
lc_loop_once(struct lc_loop *self, int max_wait_ms)
{
	int wait = max_wait_ms;

	if (self->depth == 0)
		run_hooks(self);
	if (self->nheap > 0) {
		int64_t d = self->heap[0]->when - lc_now_ms();
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d > 3600000 ? 3600000 : (int)d;
	}
	int n = epoll_wait(self->epfd, self->ev, LC_LOOP_BATCH, wait);
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	self->depth++;
	self->nev = n;
	run_timers(self);
	for (self->iev = 0; self->iev < self->nev; self->iev++) {
		struct lc_io *io = self->ev[self->iev].data.ptr;
		if (io)
			io->fn(self, io, self->ev[self->iev].events);
	}
	/* after a nested turn (lc_call inside a callback) what is left of the outer batch is
	 * dropped here too: level-triggered, it comes back at the next wait */
	self->nev = self->iev = 0;
	self->depth--;
	return 0;
}

int
lc_loop_run(struct lc_loop *self)
{
	self->stop = 0;
	while (!self->stop)
		if (lc_loop_once(self, -1) < 0)
			return -1;
	return 0;
}
