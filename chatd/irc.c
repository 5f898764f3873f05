/* IRC messages: the parser (in place, destructive) and the writer (into a caller's buffer).
 * Grammar: `[@tags SP] [:source SP] COMMAND [SP param]* [SP :trailing]`, IRCv3 message-tags
 * escaping, at most 15 params (RFC 2812: the 15th takes the rest of the line). No allocation,
 * no I/O. docs/irc.md has the rules and the reasons. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chatd.h"

/* ------------------------------------------------------------------ parser */

static char *skip_spaces(char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

/* A tag key: an optional '+' (client-only tag), then letters, digits, '-', '.', '/' (for the
 * vendor prefix, e.g. "+example.com/x"), not empty. */
static bool tag_key_valid(const char *k)
{
	if (*k == '+')
		k++;
	if (*k == '\0')
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		    (*k >= '0' && *k <= '9') || *k == '-' || *k == '.' || *k == '/'))
			return false;
	return true;
}

/* Unescape a tag value in place: \: ; \s space, \\ \, \r CR, \n LF, \x x for any other x,
 * a lone trailing backslash is dropped. */
static void tag_unescape(char *v)
{
	static const char from[] = ":s\\rn", to[] = "; \\\r\n";
	char *w = v;

	for (; *v; v++) {
		const char *e;

		if (*v != '\\') {
			*w++ = *v;
			continue;
		}
		if (*++v == '\0')
			break;
		e = strchr(from, *v);
		*w++ = e ? to[e - from] : *v;
	}
	*w = '\0';
}

/* Add or replace (last one wins) a tag; beyond IRC_TAGS_MAX distinct keys, drop it. */
static void tag_add(struct irc_msg *m, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < m->ntags; i++)
		if (strcmp(m->tags[i].key, key) == 0) {
			m->tags[i].value = value;
			return;
		}
	if (m->ntags == IRC_TAGS_MAX) {
		m->tags_dropped = true;
		return;
	}
	m->tags[m->ntags].key = key;
	m->tags[m->ntags++].value = value;
}

/* Parse "k=v;k2;..." (the '@' and the space already gone). Empty items are skipped; items
 * with an invalid key are dropped and flagged. */
static void parse_tags(struct irc_msg *m, char *s)
{
	while (s != NULL) {
		char *next = strchr(s, ';'), *eq;
		const char *value = "";

		if (next != NULL)
			*next++ = '\0';
		if ((eq = strchr(s, '=')) != NULL) {
			*eq = '\0';
			tag_unescape(eq + 1);
			value = eq + 1;
		}
		if (tag_key_valid(s))
			tag_add(m, s, value);
		else if (*s != '\0' || eq != NULL)
			m->tags_dropped = true;
		s = next;
	}
}

/* A command is letters (uppercased here) or exactly three digits. */
static bool command_take(char *c)
{
	char *p;

	if (c[0] >= '0' && c[0] <= '9')
		return strlen(c) == 3 && c[1] >= '0' && c[1] <= '9' && c[2] >= '0' && c[2] <= '9';
	for (p = c; *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (!(*p >= 'A' && *p <= 'Z'))
			return false;
	}
	return p != c;
}

static void parse_params(struct irc_msg *m, char *p)
{
	for (;;) {
		char *s;

		p = skip_spaces(p);
		if (*p == '\0')
			return;
		if (*p == ':' || m->nparams == IRC_PARAMS_MAX - 1) {
			m->params[m->nparams++] = p + (*p == ':');
			m->trailing = true;
			return;
		}
		for (s = p; *p != '\0' && *p != ' '; p++)
			;
		if (*p != '\0')
			*p++ = '\0';
		m->params[m->nparams++] = s;
	}
}

/* Cut the first word of *p (up to a space or the end) and step past it. */
static char *word(char **p)
{
	char *w = *p, *q = w;

	while (*q != '\0' && *q != ' ')
		q++;
	if (*q != '\0')
		*q++ = '\0';
	*p = skip_spaces(q);
	return w;
}

/* Parse one line (no CR/LF; NUL-terminated) in place: the line is modified and m's strings
 * point into it, so it must outlive m. Returns 0, or -1 (errno EINVAL) when there is no valid
 * command (missing, or not letters / three digits), the tag section is not followed by a
 * space, or the source is empty. Leading and repeated spaces are allowed. */
int irc_parse(char *line, struct irc_msg *m)
{
	char *p = line;

	m->ntags = 0;
	m->tags_dropped = false;
	m->source = m->command = NULL;
	m->nparams = 0;
	m->trailing = false;
	if (*p == '@') {
		char *tags = word(&p) + 1;

		if (*p == '\0')
			return errno = EINVAL, -1;
		parse_tags(m, tags);
	}
	p = skip_spaces(p);
	if (*p == ':') {
		m->source = word(&p) + 1;
		if (*m->source == '\0')
			return errno = EINVAL, -1;
	}
	m->command = word(&p);
	if (!command_take((char *)m->command))
		return errno = EINVAL, -1;
	parse_params(m, p);
	return 0;
}

/* The value of tag `key` in m, or NULL. */
const char *irc_tag_get(const struct irc_msg *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->ntags; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			return m->tags[i].value;
	return NULL;
}

/* ------------------------------------------------------------------ writer */

/* The largest cut <= max of s[0, len) that does not split a UTF-8 sequence: it backs off at
 * most 3 continuation bytes; on invalid UTF-8 (more of them) it cuts at max. */
size_t irc_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t k = max;

	if (len <= max)
		return len;
	while (k > 0 && max - k < 3 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	return ((unsigned char)s[k] & 0xC0) == 0x80 ? max : k;
}

struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* The escaped length of a tag value. */
static size_t escaped_len(const char *v)
{
	size_t n = 0;

	for (; *v; v++)
		n += strchr(";\\ \r\n", *v) ? 2 : 1;
	return n;
}

static void put_escaped(struct out *o, const char *v)
{
	static const char from[] = "; \\\r\n", to[] = ":s\\rn";

	for (; *v; v++) {
		const char *e = strchr(from, *v);
		char esc[2] = { '\\', e ? to[e - from] : 0 };

		if (e != NULL)
			put(o, esc, 2);
		else
			put(o, v, 1);
	}
}

/* Write the tag section: tags that would push it past IRC_TAGS_OUT_MAX are skipped whole.
 * Returns -1 on an invalid key. */
static int put_tags(struct out *o, const struct irc_msg *m)
{
	size_t i, start = o->len, used = 1;     /* '@' */

	put(o, "@", 1);
	for (i = 0; i < m->ntags; i++) {
		const char *k = m->tags[i].key, *v = m->tags[i].value ? m->tags[i].value : "";
		size_t n = (used > 1) + strlen(k) + (*v ? 1 + escaped_len(v) : 0);

		if (!tag_key_valid(k))
			return -1;
		if (used + n + 1 > IRC_TAGS_OUT_MAX)
			continue;
		if (used > 1)
			put(o, ";", 1);
		puts_(o, k);
		if (*v) {
			put(o, "=", 1);
			put_escaped(o, v);
		}
		used += n;
	}
	if (used == 1)
		o->len = start;         /* every tag skipped: no section */
	else
		put(o, " ", 1);
	return 0;
}

/* Whether a middle param can be written as is. */
static bool word_valid(const char *s)
{
	return *s != '\0' && *s != ':' && strpbrk(s, " \r\n") == NULL;
}

static bool command_valid(const char *c)
{
	const char *p = c;

	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
		p++;
	return p != c && *p == '\0';
}

/* Write the last param, cut to what is left of the body on a UTF-8 boundary; CR and LF in it
 * become spaces. `body` is the length of the body so far, <= IRC_BODY_MAX - 2. */
static void put_last(struct out *o, const char *p, bool colon, size_t body)
{
	size_t len = strlen(p), cut, i;

	colon = colon || *p == '\0' || *p == ':' || strpbrk(p, " \r\n") != NULL;
	cut = irc_utf8_cut(p, len, IRC_BODY_MAX - body - 1 - colon);
	if (cut == 0 && !colon)
		colon = true;
	put(o, colon ? " :" : " ", 1 + colon);
	for (i = 0; i < cut; i++)
		put(o, p[i] == '\r' || p[i] == '\n' ? " " : p + i, 1);
}

/* Write the body (source, command, params) and CRLF. Returns -1 with errno set. */
static int put_body(struct out *o, const struct irc_msg *m)
{
	size_t start = o->len, i, last = m->nparams - 1;

	if (m->source != NULL) {
		if (*m->source == '\0' || strpbrk(m->source, " \r\n") != NULL)
			return errno = EINVAL, -1;
		put(o, ":", 1);
		puts_(o, m->source);
		put(o, " ", 1);
	}
	if (m->command == NULL || !command_valid(m->command) || m->nparams > IRC_PARAMS_MAX)
		return errno = EINVAL, -1;
	puts_(o, m->command);
	for (i = 0; i + 1 < m->nparams; i++) {
		if (!word_valid(m->params[i]))
			return errno = EINVAL, -1;
		put(o, " ", 1);
		puts_(o, m->params[i]);
	}
	if (o->full)
		return errno = ENOSPC, -1;
	if (m->nparams > 0) {
		if (o->len - start + 2 > IRC_BODY_MAX)
			return errno = EMSGSIZE, -1;
		put_last(o, m->params[last], m->trailing, o->len - start);
	} else if (o->len - start > IRC_BODY_MAX) {
		return errno = EMSGSIZE, -1;
	}
	put(o, "\r\n", 2);
	return 0;
}

/* Write m as one line, CRLF included, NUL-terminated, into buf[cap]: returns its length
 * (without the NUL) or -1 with errno EINVAL (a command not letters/digits, an empty middle
 * param or one with a space or a leading ':', CR or LF outside the last param, an invalid tag
 * key, more than 15 params), EMSGSIZE (the body before the last param is over 508 bytes) or
 * ENOSPC (cap too small; IRC_OUT_MAX always suffices). The body is cut to 510 bytes + CRLF by
 * cutting the last param on a UTF-8 boundary; tags are skipped whole to keep the tag section
 * within IRC_TAGS_OUT_MAX. The last param gets a ':' when it needs one or m->trailing is set.
 * A NULL tag value is written as no value. */
ssize_t irc_write(char *buf, size_t cap, const struct irc_msg *m)
{
	struct out o = { buf, cap, 0, cap == 0 };

	if (m->ntags > 0 && put_tags(&o, m) != 0)
		return errno = EINVAL, -1;
	if (put_body(&o, m) != 0)
		return -1;
	if (o.full)
		return errno = ENOSPC, -1;
	buf[o.len] = '\0';
	return (ssize_t)o.len;
}

/* ":server NNN nick params..." into buf[cap]: the params are const char * up to a NULL (at
 * most 14). Same returns as irc_write. */
ssize_t irc_numeric(char *buf, size_t cap, const char *server, unsigned num,
    const char *nick, ...)
{
	struct irc_msg m;
	char cmd[4];
	const char *p;
	va_list ap;

	if (num > 999)
		return errno = EINVAL, -1;
	snprintf(cmd, sizeof cmd, "%03u", num);
	m.ntags = 0;
	m.source = server;
	m.command = cmd;
	m.params[0] = nick;
	m.nparams = 1;
	m.trailing = false;
	va_start(ap, nick);
	while ((p = va_arg(ap, const char *)) != NULL && m.nparams < IRC_PARAMS_MAX)
		m.params[m.nparams++] = p;
	va_end(ap);
	if (p != NULL)
		return errno = EINVAL, -1;
	return irc_write(buf, cap, &m);
}
