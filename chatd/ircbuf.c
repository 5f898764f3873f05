/* IRC line framing: a fixed per-connection buffer fed with arbitrary chunks of a byte stream
 * (one byte at a time works) that yields complete lines. LF ends a line, one CR before it is
 * stripped, a lone CR is an ordinary byte. Over-long lines are reported once and skipped up to
 * their LF without growing anything; lines holding NUL are dropped; empty lines are ignored.
 * No allocation, no I/O. */
#include <string.h>

#include "chatd.h"

void irc_in_init(struct irc_in *in)
{
	memset(in, 0, offsetof(struct irc_in, buf));
}

/* Move the unread bytes to the front of the buffer. */
static void compact(struct irc_in *in)
{
	if (in->start == 0)
		return;
	memmove(in->buf, in->buf + in->start, in->end - in->start);
	in->end -= in->start;
	in->scan -= in->start;
	in->start = 0;
}

/* Copy up to n bytes of data into the buffer. Returns how many were taken: fewer than n when
 * the buffer is full, and then the caller must drain it with irc_in_next (until IRC_IN_AGAIN)
 * and push the rest. Invalidates the last line returned by irc_in_next. */
size_t irc_in_push(struct irc_in *in, const void *data, size_t n)
{
	char *p;
	size_t room = irc_in_space(in, &p);

	if (n > room)
		n = room;
	memcpy(p, data, n);
	in->end += n;
	return n;
}

/* For reading straight into the buffer: *p receives where to write, the return value how many
 * bytes fit (0 only if irc_in_next has not been called since the buffer filled). Then call
 * irc_in_commit with the number of bytes written. */
size_t irc_in_space(struct irc_in *in, char **p)
{
	compact(in);
	*p = in->buf + in->end;
	return sizeof in->buf - in->end;
}

void irc_in_commit(struct irc_in *in, size_t n)
{
	in->end += n;
}

/* The tag section of line[0, n): bytes up to and including the first space (or n + 1 if there
 * is none, as if the space were next), 0 when the line has no tags. */
static size_t tags_len(const char *line, size_t n)
{
	const char *sp;

	if (n == 0 || line[0] != '@')
		return 0;
	sp = memchr(line, ' ', n);
	return sp ? (size_t)(sp - line) + 1 : n + 1;
}

/* Whether the unterminated prefix line[0, n) already dooms its line: the tag section cannot
 * fit any more, or the body exceeds 510 bytes plus a CR that could still be stripped. */
static bool prefix_too_long(const char *line, size_t n)
{
	size_t t = tags_len(line, n);

	if (t > IRC_TAGS_IN_MAX)
		return true;
	return n - (t > n ? n : t) > IRC_BODY_MAX + 1;
}

/* Whether the complete line[0, n) (CR/LF stripped) is over the limits. */
static bool line_too_long(const char *line, size_t n)
{
	size_t t = tags_len(line, n);

	if (t > IRC_TAGS_IN_MAX)
		return true;
	return n - (t > n ? n : t) > IRC_BODY_MAX;
}

/* No LF among the unread bytes: drop them if skipping, or start skipping if they are too long
 * already. Returns IRC_IN_TOOLONG once per over-long line, else IRC_IN_AGAIN. */
static enum irc_in_status no_lf(struct irc_in *in)
{
	in->scan = in->end;
	if (!in->skipping && !prefix_too_long(in->buf + in->start, in->end - in->start))
		return IRC_IN_AGAIN;
	in->start = in->end = in->scan = 0;
	if (in->skipping)
		return IRC_IN_AGAIN;
	in->skipping = true;
	in->ntoolong++;
	return IRC_IN_TOOLONG;
}

/* The next complete line. On IRC_IN_LINE, *line points into the buffer (NUL-terminated, CR
 * and LF stripped, never empty, no NUL inside) and *len is its length; it stays valid until the
 * next call on `in`, and may be modified in place (irc_parse does). IRC_IN_TOOLONG and
 * IRC_IN_NUL report a line that was dropped; IRC_IN_AGAIN means more input is needed. */
enum irc_in_status irc_in_next(struct irc_in *in, char **line, size_t *len)
{
	for (;;) {
		char *l = in->buf + in->start, *lf;
		size_t n;

		lf = memchr(in->buf + in->scan, '\n', in->end - in->scan);
		if (lf == NULL)
			return no_lf(in);
		n = (size_t)(lf - l);
		in->start = in->scan = (size_t)(lf - in->buf) + 1;
		if (in->start == in->end)
			in->start = in->end = in->scan = 0;
		if (in->skipping) {
			in->skipping = false;
			continue;
		}
		if (n > 0 && l[n - 1] == '\r')
			n--;
		l[n] = '\0';
		if (line_too_long(l, n))
			return in->ntoolong++, IRC_IN_TOOLONG;
		if (memchr(l, '\0', n) != NULL)
			return in->nnul++, IRC_IN_NUL;
		if (n == 0)
			continue;
		*line = l;
		*len = n;
		in->nlines++;
		return IRC_IN_LINE;
	}
}
