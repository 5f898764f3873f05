/* draft/chathistory arguments: message references and the CHATHISTORY command's params
 * (subcommand, target, refs, limit). Pure code; the gateway maps errors to FAIL replies. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "chatd.h"

/* Parse a reference: "*", "msgid=<irc_msgid_parse>" or "timestamp=<irc_time_parse>"
 * (lowercase names, strict values). Returns 0, or -1 (errno EINVAL) for anything else. */
int irc_ref_parse(const char *s, struct irc_ref *r)
{
	if (strcmp(s, "*") == 0) {
		r->kind = IRC_REF_STAR;
		return 0;
	}
	if (strncmp(s, "msgid=", 6) == 0) {
		r->kind = IRC_REF_MSGID;
		return irc_msgid_parse(s + 6, &r->msgid);
	}
	if (strncmp(s, "timestamp=", 10) == 0) {
		r->kind = IRC_REF_TIME;
		return irc_time_parse(s + 10, &r->ms);
	}
	return errno = EINVAL, -1;
}

/* A limit: decimal digits only, > 0; values above max (or too big to hold) become max. */
static int limit_parse(const char *s, unsigned max, unsigned *limit)
{
	unsigned long long v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (unsigned)(*p - '0')) > max)
			v = (unsigned long long)max + 1;
	if (p == s || *p != '\0' || v == 0)
		return -1;
	*limit = v > max ? max : (unsigned)v;
	return 0;
}

static const struct {
	const char *name;
	enum irc_ch_sub sub;
	size_t nparams;         /* after the subcommand */
	size_t nrefs;
} subs[] = {
	{ "AFTER",   IRC_CH_AFTER,   3, 1 },
	{ "AROUND",  IRC_CH_AROUND,  3, 1 },
	{ "BEFORE",  IRC_CH_BEFORE,  3, 1 },
	{ "BETWEEN", IRC_CH_BETWEEN, 4, 2 },
	{ "LATEST",  IRC_CH_LATEST,  3, 1 },
	{ "TARGETS", IRC_CH_TARGETS, 3, 2 },
};

/* Parse ref s for subcommand sub: "*" only for LATEST, timestamps only for TARGETS. */
static int ref_take(enum irc_ch_sub sub, const char *s, struct irc_ref *r)
{
	if (irc_ref_parse(s, r) != 0)
		return -1;
	if (r->kind == IRC_REF_STAR && sub != IRC_CH_LATEST)
		return -1;
	if (r->kind != IRC_REF_TIME && sub == IRC_CH_TARGETS)
		return -1;
	return 0;
}

/* Parse the params of a CHATHISTORY message m (params[0] is the subcommand, any case):
 *   LATEST <target> <* | ref> <limit>      BEFORE|AFTER|AROUND <target> <ref> <limit>
 *   BETWEEN <target> <ref> <ref> <limit>   TARGETS <timestamp> <timestamp> <limit>
 * into *q (q->target points into m). max (>= 1) is the advertised CHATHISTORY=max; a larger
 * limit is clamped to it. Extra params are ignored. Returns 0 or an enum irc_ch_err. */
int irc_chq_parse(const struct irc_msg *m, unsigned max, struct irc_chq *q)
{
	const char *const *p = m->params + 1;
	size_t i, k;

	if (m->nparams < 1)
		return IRC_CH_ENEEDMORE;
	for (i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcasecmp(m->params[0], subs[i].name) == 0)
			break;
	if (i == sizeof subs / sizeof subs[0])
		return IRC_CH_EUNKNOWN;
	if (m->nparams - 1 < subs[i].nparams)
		return IRC_CH_ENEEDMORE;
	q->sub = subs[i].sub;
	k = q->sub == IRC_CH_TARGETS ? 0 : 1;
	q->target = k ? p[0] : NULL;
	if (ref_take(q->sub, p[k], &q->a) != 0)
		return IRC_CH_EREF;
	if (subs[i].nrefs == 2 && ref_take(q->sub, p[k + 1], &q->b) != 0)
		return IRC_CH_EREF;
	if (limit_parse(p[subs[i].nparams - 1], max, &q->limit) != 0)
		return IRC_CH_ELIMIT;
	return 0;
}
