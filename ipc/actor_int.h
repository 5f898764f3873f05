/* libletitcrash private: the seam between the actor core (actor.c) and links/monitors (link.c).
 * Not installed. */
#ifndef LC_ACTOR_INT_H
#define LC_ACTOR_INT_H

#include "letitcrash/actor.h"

struct lc_links;                /* link.c's state, one per actor */

/* actor.c, for link.c */
/* The loop the actor runs in: the caller's, or the actor's own when opened without one
 * (lc_recv and lc_call turn it while they wait), so link.c can watch sockets and set timers. */
struct lc_loop *lc__actor_loop(struct lc_actor *a);
const char *lc__actor_rundir(const struct lc_actor *a);
struct lc_links **lc__actor_links(struct lc_actor *a);
/* Put a message made here (EXIT, DOWN) at the end of the actor's queue, as if it had arrived;
 * everything is copied. */
int lc__actor_post(struct lc_actor *a, uint16_t type, const char *from, uint64_t ref,
    const void *body, size_t len);

/* link.c, for actor.c */
/* Called by lc_actor_open / lc_actor_close. */
int  lc__links_init(struct lc_actor *a);
void lc__links_fini(struct lc_actor *a);
/* Called by actor.c for every LC_MSG_LINK / LC_MSG_UNLINK received, before anything else;
 * these never reach the application. */
void lc__links_on_msg(struct lc_actor *a, const struct lc_msg *m);

#endif
