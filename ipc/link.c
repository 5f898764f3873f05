/* Links, monitors and trap_exit across processes (letitcrash/actor.h, docs/links.md).
 *
 * Deaths are learned from the supervisors' event buses through a tree watcher (watch.h),
 * opened the first time this actor links, monitors or is linked to. A link or a monitor is to
 * one incarnation: the pid holding the name when it was made (lc_watch_lookup, fresh), and it
 * fires once, on that pid's exit event. The other direction of a link is made by sending the
 * target LC_MSG_LINK; its library records the link back (lc__links_on_msg). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actor_int.h"
#include "letitcrash/watch.h"

struct lmon {
	uint64_t ref;
	char name[LC_WATCH_NAMEMAX + 1];
	pid_t pid;
};

struct llink {
	char name[LC_WATCH_NAMEMAX + 1];
	pid_t pid;
};

struct lc_links {
	struct lc_actor *a;
	struct lc_watch *w;
	int trap;
	uint64_t next_ref;
	struct lmon *mons;
	size_t nmons, capmons;
	struct llink *links;
	size_t nlinks, caplinks;
};

static struct lc_links *
links_of(struct lc_actor *a)
{
	struct lc_links **lp = lc__actor_links(a);
	return lp ? *lp : NULL;
}

static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 8;
	void *t = realloc(*arr, c * size);
	if (!t)
		return -1;
	*arr = t;
	*cap = c;
	return 0;
}

/* A local name of this tree: [A-Za-z0-9_.-]{1,48}. Links to other nodes are not done yet. */
static int
name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > LC_WATCH_NAMEMAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* A linked process ended with `reason`: OTP's exit signal. A trapping process gets it as a
 * message whatever the reason, `normal` included; any other ignores `normal` and dies of the
 * rest. */
static void
exit_signal(struct lc_links *L, const char *from, const char *reason)
{
	if (L->trap)
		lc__actor_post(L->a, LC_MSG_EXIT, from, 0, reason, strlen(reason));
	else if (strcmp(reason, "normal") != 0)
		lc_exit(L->a, reason);
}

static void
on_event(struct lc_watch *w, const struct lc_watch_event *ev, void *arg)
{
	struct lc_links *L = arg;
	if (ev->pid == 0 || (strcmp(ev->event, "exit") && strcmp(ev->event, "ignore") &&
	    strcmp(ev->event, "start_error")))
		return;
	const char *reason = ev->has_reason ? ev->reason : "normal";
	for (size_t i = 0; i < L->nmons; ) {
		struct lmon *m = &L->mons[i];
		if (m->pid == ev->pid && strcmp(m->name, ev->child) == 0) {
			lc__actor_post(L->a, LC_MSG_DOWN, m->name, m->ref, reason, strlen(reason));
			L->mons[i] = L->mons[--L->nmons];
		} else
			i++;
	}
	for (size_t i = 0; i < L->nlinks; i++) {
		struct llink *k = &L->links[i];
		if (k->pid == ev->pid && strcmp(k->name, ev->child) == 0) {
			L->links[i] = L->links[--L->nlinks];
			exit_signal(L, ev->child, reason);      /* may not return */
			break;
		}
	}
}

static int
watch(struct lc_links *L)
{
	if (!L) {
		errno = EINVAL;
		return -1;
	}
	if (!L->w)
		L->w = lc_watch_open(lc__actor_rundir(L->a), lc__actor_loop(L->a), 0, on_event, L);
	return L->w ? 0 : -1;
}

int
lc__links_init(struct lc_actor *a)
{
	struct lc_links *L = calloc(1, sizeof *L);
	if (!L)
		return -1;
	L->a = a;
	L->next_ref = 1;
	*lc__actor_links(a) = L;
	return 0;
}

void
lc__links_fini(struct lc_actor *a)
{
	struct lc_links **lp = lc__actor_links(a), *L = lp ? *lp : NULL;
	if (!L)
		return;
	lc_watch_close(L->w);
	free(L->mons);
	free(L->links);
	free(L);
	*lp = NULL;
}

/* Ready to monitor `name`: its watcher open and room for one more monitor; NULL with errno. */
static struct lc_links *
mon_prepare(struct lc_actor *a, const char *name)
{
	struct lc_links *L = links_of(a);
	if (!name_ok(name)) {
		errno = EINVAL;
		return NULL;
	}
	if (watch(L) < 0 || grow((void **)&L->mons, &L->capmons, L->nmons, sizeof *L->mons) < 0)
		return NULL;
	return L;
}

/* A new monitor of the process pid under name; pid 0: none runs there, DOWN "noproc" now. */
static uint64_t
mon_add(struct lc_actor *a, struct lc_links *L, const char *name, pid_t pid)
{
	uint64_t ref = L->next_ref++;
	if (pid == 0)
		return lc__actor_post(a, LC_MSG_DOWN, name, ref, "noproc", 6) < 0 ? 0 : ref;
	struct lmon *m = &L->mons[L->nmons++];
	m->ref = ref;
	m->pid = pid;
	strcpy(m->name, name);
	return ref;
}

uint64_t
lc_monitor(struct lc_actor *a, const char *name)
{
	struct lc_links *L = mon_prepare(a, name);
	pid_t pid = 0;
	int r;
	if (!L || (r = lc_watch_lookup(L->w, name, 1, &pid, NULL)) < 0)
		return 0;
	return mon_add(a, L, name, r ? pid : 0);
}

/* The watcher's view is enough when it says pid holds the name (its exit, if past, is still
 * to be delivered); anything else is asked of the owning supervisor: after an answer, pid
 * not holding the name means it has ended, since it ran before the question. If the
 * supervisor does not answer, pid is watched as if it held the name. */
uint64_t
lc_monitor_pid(struct lc_actor *a, const char *name, pid_t pid)
{
	struct lc_links *L;
	pid_t cur = 0;
	if (pid <= 0) {
		errno = EINVAL;
		return 0;
	}
	if (!(L = mon_prepare(a, name)))
		return 0;
	int r = lc_watch_lookup(L->w, name, 0, &cur, NULL);
	if (r != 1 || cur != pid)
		r = lc_watch_lookup(L->w, name, LC_WATCH_FRESH_STRICT, &cur, NULL);
	if (r < 0 && errno != ETIMEDOUT)
		return 0;
	return mon_add(a, L, name, r < 0 || (r == 1 && cur == pid) ? pid : 0);
}

int
lc_demonitor(struct lc_actor *a, uint64_t ref)
{
	struct lc_links *L = links_of(a);
	for (size_t i = 0; L && i < L->nmons; i++)
		if (L->mons[i].ref == ref) {
			L->mons[i] = L->mons[--L->nmons];
			return 0;
		}
	return 0;       /* OTP: demonitoring a monitor that fired or never was is not an error */
}

static struct llink *
link_find(struct lc_links *L, const char *name)
{
	for (size_t i = 0; i < L->nlinks; i++)
		if (strcmp(L->links[i].name, name) == 0)
			return &L->links[i];
	return NULL;
}

/* Record a link to the process now holding `name`; 0 if none runs (then *none is set). */
static int
link_record(struct lc_links *L, const char *name, int *none)
{
	pid_t pid;
	*none = 0;
	if (watch(L) < 0 || grow((void **)&L->links, &L->caplinks, L->nlinks, sizeof *L->links) < 0)
		return -1;
	int r = lc_watch_lookup(L->w, name, 1, &pid, NULL);
	if (r <= 0) {
		*none = r == 0;
		return r;
	}
	struct llink *k = link_find(L, name);
	if (!k) {
		k = &L->links[L->nlinks++];
		strcpy(k->name, name);
	}
	k->pid = pid;           /* a link to an earlier incarnation is replaced */
	return 0;
}

int
lc_link(struct lc_actor *a, const char *name)
{
	struct lc_links *L = links_of(a);
	int none;
	if (!name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	if (strcmp(name, lc_actor_name(a)) == 0)
		return 0;       /* OTP: linking to oneself does nothing */
	if (link_record(L, name, &none) < 0)
		return -1;
	if (none) {
		exit_signal(L, name, "noproc");
		return 0;
	}
	/* If this does not go out, the link is one way (we still see its exit): say so. */
	return lc_send(a, name, LC_MSG_LINK, "", 0) < 0 ? -1 : 0;
}

int
lc_unlink(struct lc_actor *a, const char *name)
{
	struct lc_links *L = links_of(a);
	if (!name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	struct llink *k = L ? link_find(L, name) : NULL;
	if (!k)
		return 0;
	*k = L->links[--L->nlinks];
	return lc_send(a, name, LC_MSG_UNLINK, "", 0) < 0 ? -1 : 0;
}

void
lc_trap_exit(struct lc_actor *a, int on)
{
	struct lc_links *L = links_of(a);
	if (L)
		L->trap = on != 0;
}

void
lc__links_on_msg(struct lc_actor *a, const struct lc_msg *m)
{
	struct lc_links *L = links_of(a);
	char from[LC_WATCH_NAMEMAX + 1], reason[64];
	int none;
	if (!L || m->fromlen == 0 || m->fromlen > LC_WATCH_NAMEMAX)
		return;
	memcpy(from, m->from, m->fromlen);
	from[m->fromlen] = 0;
	if (!name_ok(from))
		return;
	if (m->type == LC_MSG_UNLINK) {
		struct llink *k = link_find(L, from);
		if (k)
			*k = L->links[--L->nlinks];
	} else if (m->type == LC_MSG_LINK && link_record(L, from, &none) == 0 && none) {
		/* It died before its LINK was read: the exit signal it would have sent us. */
		if (lc_watch_last_reason(L->w, from, reason, sizeof reason))
			exit_signal(L, from, reason);
	}
}
