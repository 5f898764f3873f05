/* libFuzzer target for chatd's IRC core: the input is a byte stream from a client, fed to the
 * framing in chunks whose sizes come from the first input byte. Every line is parsed; every
 * parsed message is written back and must obey the limits (tag section <= IRC_TAGS_OUT_MAX,
 * body <= 512 bytes with CRLF, no CR/LF/NUL but the final CRLF), and re-parse to the same
 * command, params and tags (the last param may only lose a tail to truncation; CR in it becomes
 * a space). The writer may refuse only a source or middle param holding a CR. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../chatd/chatd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool has_cr(const struct irc_msg *m)
{
	size_t i;

	if (m->source != NULL && strchr(m->source, '\r') != NULL)
		return true;
	for (i = 0; i + 1 < m->nparams; i++)
		if (strchr(m->params[i], '\r') != NULL)
			return true;
	return false;
}

/* The written line's shape. Returns the body's start. */
static const char *check_shape(const char *out, size_t n)
{
	const char *body = out;

	check(n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n' && strlen(out) == n);
	check(memchr(out, '\r', n - 2) == NULL && memchr(out, '\n', n - 2) == NULL);
	if (out[0] == '@') {
		body = strchr(out, ' ') + 1;
		check((size_t)(body - out) <= IRC_TAGS_OUT_MAX);
	}
	check(n - (size_t)(body - out) <= IRC_LINE_MAX);
	return body;
}

/* back (parsed from what m was written to) against m. */
static void check_same(const struct irc_msg *m, const struct irc_msg *back)
{
	size_t i, n;
	const char *last, *blast;

	check(strcmp(m->command, back->command) == 0);
	check((m->source == NULL) == (back->source == NULL));
	check(m->source == NULL || strcmp(m->source, back->source) == 0);
	check(m->nparams == back->nparams && m->ntags == back->ntags);
	for (i = 0; i < m->ntags; i++)
		check(strcmp(m->tags[i].key, back->tags[i].key) == 0 &&
		    strcmp(m->tags[i].value, back->tags[i].value) == 0);
	if (m->nparams == 0)
		return;
	for (i = 0; i + 1 < m->nparams; i++)
		check(strcmp(m->params[i], back->params[i]) == 0);
	last = m->params[i];
	blast = back->params[i];
	n = strlen(blast);
	check(n <= strlen(last));
	for (i = 0; i < n; i++)
		check(blast[i] == (last[i] == '\r' ? ' ' : last[i]));
}

static void one_line(char *line, size_t len)
{
	static char copy[IRC_IN_CAP + 1], out[IRC_OUT_MAX];
	struct irc_msg m, back;
	ssize_t n;

	check(len > 0 && len <= IRC_IN_CAP - 2 && strlen(line) == len);
	memcpy(copy, line, len + 1);
	if (irc_parse(copy, &m) != 0)
		return;
	if ((n = irc_write(out, sizeof out, &m)) < 0) {
		check(errno == EINVAL && has_cr(&m));
		return;
	}
	check_shape(out, (size_t)n);
	out[n - 2] = '\0';
	check(irc_parse(out, &back) == 0);
	check_same(&m, &back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct irc_in in;
	unsigned seed = size > 0 ? data[0] : 0;
	size_t done = 0, len;
	enum irc_in_status st;
	char *line;

	irc_in_init(&in);
	while (done < size) {
		size_t c;

		seed = seed * 1103515245 + 12345;
		c = (seed >> 16) % 64 == 0 ? size - done : 1 + (seed >> 16) % 97;
		if (c > size - done)
			c = size - done;
		done += irc_in_push(&in, data + done, c);
		while ((st = irc_in_next(&in, &line, &len)) != IRC_IN_AGAIN)
			if (st == IRC_IN_LINE)
				one_line(line, len);
	}
	check(in.end - in.start < IRC_IN_CAP);
	return 0;
}
