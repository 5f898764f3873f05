/* The event bus: every lifecycle event of a supervisor's children is logged on stderr, kept in
 * a ring of the last SUP_RING events (so a subscriber that missed some can ask for them by
 * sequence number over the control socket) and published on the supervisor's PUB socket.
 *
 * One event is one line of text, the topic first (PUB/SUB filters on prefixes):
 *   EVENT SP CHILD SP sup=SUP seq=N time=WALLMS pid=PID n=INCARNATION [reason=REASON]
 * EVENT: spawn start ignore exit start_error child_terminated shutdown_error give_up.
 * The reason comes last and may contain spaces ("exit 3"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "letitcrash/log.h"
#include "letitcrash/time.h"
#include "sup.h"

void
sup_event(struct sup *s, const char *what, const struct child *c, const char *reason)
{
	char line[512];
	uint64_t seq = ++s->seq;
	int n = snprintf(line, sizeof line, "%s %s sup=%s seq=%llu time=%lld pid=%d n=%u%s%s", what,
	    c->name, s->me->name, (unsigned long long)seq, (long long)lc_wall_ms(),
	    (int)c->pid, c->n, reason ? " reason=" : "", reason ? reason : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;

	char **slot = &s->ring[seq % SUP_RING];
	free(*slot);
	*slot = strdup(line);
	if (s->pub >= 0)
		lc_sock_send(s->pub, line, (size_t)n, LC_SOCK_DONTWAIT);

	/* The log: OTP's trace shape, "exit a#2 pid=123 reason=killed". */
	if (strcmp(what, "spawn") == 0)
		lc_debug("%s: spawn %s#%u pid=%d", s->me->name, c->name, c->n, (int)c->pid);
	else if (strcmp(what, "give_up") == 0)
		lc_info("%s: report shutdown %s#%u reason=%s", s->me->name, c->name, c->n, reason);
	else if (strcmp(what, "start_error") == 0)
		lc_info("%s: report start_error %s reason=%s", s->me->name, c->name, reason);
	else if (strcmp(what, "child_terminated") == 0 || strcmp(what, "shutdown_error") == 0)
		lc_info("%s: report %s %s#%u reason=%s", s->me->name, what, c->name, c->n, reason);
	else
		lc_info("%s: %s %s#%u pid=%d%s%s", s->me->name, what, c->name, c->n, (int)c->pid,
		    reason ? " reason=" : "", reason ? reason : "");
}

void
sup_event_fini(struct sup *s)
{
	for (size_t i = 0; i < SUP_RING; i++) {
		free(s->ring[i]);
		s->ring[i] = NULL;
	}
}
