/* Unit tests for the IRC core of chatd (chatd/ircbuf.c, irc.c, ircutil.c, chathistory.c):
 * framing under every chunking, the parser on a table of vectors (our own, in the style of
 * the message-tags spec and IRC parser test suites), the writer (colons, escaping, limits,
 * truncation on UTF-8 boundaries), names, server-time, msgids and CHATHISTORY params. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../chatd/chatd.h"

/* ------------------------------------------------------------------ framing */

/* Feed input[0, n) in chunks of the sizes given by next_chunk, and describe what comes out:
 * "L<line>\n" per line ('\r' shown as "\\r"), "TOOLONG\n", "NUL\n". */
typedef size_t chunker(size_t done, size_t left, void *arg);

static void describe(char **o, enum irc_in_status st, const char *line, size_t len)
{
	size_t i;

	if (st == IRC_IN_TOOLONG)
		*o += sprintf(*o, "TOOLONG\n");
	else if (st == IRC_IN_NUL)
		*o += sprintf(*o, "NUL\n");
	else {
		assert_int_equal(strlen(line), len);
		*(*o)++ = 'L';
		for (i = 0; i < len; i++)
			if (line[i] == '\r')
				*o += sprintf(*o, "\\r");
			else
				*(*o)++ = line[i];
		*(*o)++ = '\n';
		**o = '\0';
	}
}

static char *frame(const char *input, size_t n, chunker *next_chunk, void *arg)
{
	static struct irc_in in;
	static char out[1 << 16];
	char *o = out, *line;
	size_t done = 0, len;
	enum irc_in_status st;

	irc_in_init(&in);
	*o = '\0';
	while (done < n) {
		size_t c = next_chunk(done, n - done, arg), k;

		if (c > n - done)
			c = n - done;
		while (c > 0) {
			k = irc_in_push(&in, input + done, c);
			done += k;
			c -= k;
			while ((st = irc_in_next(&in, &line, &len)) != IRC_IN_AGAIN)
				describe(&o, st, line, len);
		}
	}
	assert_true(o < out + sizeof out - 1000);
	return out;
}

static size_t chunk_all(size_t done, size_t left, void *arg)
{
	return left;
}

static size_t chunk_one(size_t done, size_t left, void *arg)
{
	return 1;
}

/* Chunks split at the two offsets in arg (size_t[2]). */
static size_t chunk_split(size_t done, size_t left, void *arg)
{
	const size_t *at = arg;

	if (done < at[0])
		return at[0] - done;
	if (done < at[1])
		return at[1] - done;
	return left;
}

static size_t chunk_random(size_t done, size_t left, void *arg)
{
	unsigned *seed = arg;

	*seed = *seed * 1103515245 + 12345;
	return 1 + (*seed >> 16) % 700;
}

/* Every chunking of input gives want: all, byte by byte, every pair of split points (for
 * inputs up to 200 bytes; else single splits every 37 bytes), and 50 random chunkings. */
static void frame_all_ways(const char *input, size_t n, const char *want)
{
	size_t at[2];
	unsigned seed;

	assert_string_equal(frame(input, n, chunk_all, NULL), want);
	assert_string_equal(frame(input, n, chunk_one, NULL), want);
	for (at[0] = 0; at[0] <= n; at[0] += n > 200 ? 37 : 1)
		for (at[1] = n > 200 ? n : at[0]; at[1] <= n; at[1]++)
			if (strcmp(frame(input, n, chunk_split, at), want) != 0)
				fail_msg("split at %zu, %zu: %s", at[0], at[1],
				    frame(input, n, chunk_split, at));
	for (seed = 1; seed <= 50; seed++) {
		unsigned s = seed;

		assert_string_equal(frame(input, n, chunk_random, &s), want);
	}
}

static void test_frame_endings(void **state)
{
	static const char in[] = "PING a\r\nPING b\nPRIVMSG #a :x\ry\r\n\r\n\n \nQUIT\r\r\n"
	    "\rX\nlast without newline";

	frame_all_ways(in, sizeof in - 1,
	    "LPING a\nLPING b\nLPRIVMSG #a :x\\ry\nL \nLQUIT\\r\nL\\rX\n");
}

static void test_frame_nul(void **state)
{
	static const char in[] = "A\0B\r\nC\n\0\nD\r\0\n\0E\nF\n";

	frame_all_ways(in, sizeof in - 1, "NUL\nLC\nNUL\nNUL\nNUL\nLF\n");
}

/* A line of `tags` bytes of tag section (0: none; else '@', tags - 2 'k' bytes, a space) then
 * a body of `body` bytes, then the ending. */
static size_t make_line(char *p, size_t tags, size_t body, const char *ending)
{
	size_t n = 0;

	if (tags > 0) {
		p[n++] = '@';
		memset(p + n, 'k', tags - 2);
		n += tags - 2;
		p[n++] = ' ';
	}
	memcpy(p + n, "PRIVMSG #a :", 12);
	memset(p + n + 12, 'x', body - 12);
	n += body;
	strcpy(p + n, ending);
	return n + strlen(ending);
}

static void test_frame_limits(void **state)
{
	static const struct {
		size_t tags, body;
		const char *ending;
		int ok;
	} cases[] = {
		{ 0, 510, "\r\n", 1 }, { 0, 510, "\n", 1 }, { 0, 511, "\r\n", 0 },
		{ 0, 511, "\n", 0 }, { 0, 512, "\r\n", 0 }, { 0, 509, "\r\r\n", 1 },
		{ 0, 510, "\r\r\n", 0 }, { 4096, 510, "\r\n", 1 }, { 4096, 510, "\n", 1 },
		{ 4097, 12, "\r\n", 0 }, { 4097, 510, "\r\n", 0 }, { 4096, 511, "\r\n", 0 },
		{ 4095, 510, "\r\n", 1 }, { 3, 511, "\n", 0 }, { 3, 510, "\n", 1 },
		{ 0, 9000, "\r\n", 0 }, { 8000, 20, "\n", 0 },
	};
	static char in[20000], want[20000];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = make_line(in, cases[i].tags, cases[i].body, "");
		if (cases[i].ok)
			sprintf(want, "L%.*s%s\nLPING after\n", (int)n, in,
			    strstr(cases[i].ending, "\r\r") ? "\\r" : "");
		else
			strcpy(want, "TOOLONG\nLPING after\n");
		n += (size_t)sprintf(in + n, "%sPING after\r\n", cases[i].ending);
		frame_all_ways(in, n, want);
	}
}

static void test_frame_counters_and_full(void **state)
{
	static struct irc_in in;
	static char big[20000];
	char *line, *p;
	size_t len, k;

	irc_in_init(&in);
	memset(big, 'a', sizeof big);
	k = irc_in_push(&in, big, sizeof big);
	assert_int_equal(k, IRC_IN_CAP);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_TOOLONG);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_AGAIN);
	assert_int_equal(irc_in_push(&in, big, sizeof big), IRC_IN_CAP);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_AGAIN);   /* still skipping */
	assert_int_equal(irc_in_push(&in, "x\nA\0\nok\n", 8), 8);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_NUL);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_LINE);
	assert_string_equal(line, "ok");
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_AGAIN);
	assert_int_equal(in.ntoolong, 1);
	assert_int_equal(in.nnul, 1);
	assert_int_equal(in.nlines, 1);
	/* reading straight into the buffer */
	k = irc_in_space(&in, &p);
	assert_int_equal(k, IRC_IN_CAP);
	memcpy(p, "JOIN #x\r\n", 9);
	irc_in_commit(&in, 9);
	assert_int_equal(irc_in_next(&in, &line, &len), IRC_IN_LINE);
	assert_string_equal(line, "JOIN #x");
	assert_int_equal(len, 7);
}

/* ------------------------------------------------------------------ parser */

struct pcase {
	const char *line;
	int ok;
	const char *tags;       /* "k=v|k2=v2|" in order, values with \r \n shown raw */
	const char *source;
	const char *command;
	size_t nparams;
	const char *params[IRC_PARAMS_MAX];
	bool trailing;
	bool dropped;
};

static const struct pcase pcases[] = {
	{ "PING foo", 1, "", NULL, "PING", 1, { "foo" }, 0, 0 },
	{ "ping :foo bar", 1, "", NULL, "PING", 1, { "foo bar" }, 1, 0 },
	{ "jOiN #x", 1, "", NULL, "JOIN", 1, { "#x" }, 0, 0 },
	{ ":n!u@h PRIVMSG #a :hello world", 1, "", "n!u@h", "PRIVMSG", 2,
	    { "#a", "hello world" }, 1, 0 },
	{ "PRIVMSG #a :", 1, "", NULL, "PRIVMSG", 2, { "#a", "" }, 1, 0 },
	{ "PRIVMSG #a", 1, "", NULL, "PRIVMSG", 1, { "#a" }, 0, 0 },
	{ "PRIVMSG #a ", 1, "", NULL, "PRIVMSG", 1, { "#a" }, 0, 0 },
	{ "PRIVMSG   #a    :x  y  ", 1, "", NULL, "PRIVMSG", 2, { "#a", "x  y  " }, 1, 0 },
	{ "FOO a b c ", 1, "", NULL, "FOO", 3, { "a", "b", "c" }, 0, 0 },
	{ "FOO :", 1, "", NULL, "FOO", 1, { "" }, 1, 0 },
	{ "FOO ::x", 1, "", NULL, "FOO", 1, { ":x" }, 1, 0 },
	{ "FOO a:b :c:d", 1, "", NULL, "FOO", 2, { "a:b", "c:d" }, 1, 0 },
	{ "FOO", 1, "", NULL, "FOO", 0, { NULL }, 0, 0 },
	{ "  PING x", 1, "", NULL, "PING", 1, { "x" }, 0, 0 },
	{ "001 nick :Welcome", 1, "", NULL, "001", 2, { "nick", "Welcome" }, 1, 0 },
	{ ":srv 433 * n :Nickname is already in use", 1, "", "srv", "433", 3,
	    { "*", "n", "Nickname is already in use" }, 1, 0 },
	{ "PRIVMSG #a :x\ry", 1, "", NULL, "PRIVMSG", 2, { "#a", "x\ry" }, 1, 0 },
	{ "CAP REQ :multi-prefix sasl", 1, "", NULL, "CAP", 2, { "REQ", "multi-prefix sasl" },
	    1, 0 },
	{ "USER u 0 * :", 1, "", NULL, "USER", 4, { "u", "0", "*", "" }, 1, 0 },
	/* 15 params: the 15th takes the rest (RFC 2812) */
	{ "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16  17 ", 1, "", NULL, "C", 15,
	    { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
	    "15 16  17 " }, 1, 0 },
	{ "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :15 16", 1, "", NULL, "C", 15,
	    { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
	    "15 16" }, 1, 0 },
	{ "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14   15", 1, "", NULL, "C", 15,
	    { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
	    "15" }, 1, 0 },
	{ "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14", 1, "", NULL, "C", 14,
	    { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14" }, 0, 0 },
	/* tags */
	{ "@a=b;c;+d=e\\sf CMD", 1, "a=b|c=|+d=e f|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@a=1;a=2;b=3;a=4 CMD", 1, "a=4|b=3|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k=\\:\\s\\\\\\r\\n\\x\\ CMD", 1, "k=; \\\r\nx|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k=a\\ CMD", 1, "k=a|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k=a\\\\ CMD", 1, "k=a\\|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k=a=b CMD", 1, "k=a=b|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k= CMD", 1, "k=|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@;;a; CMD", 1, "a=|", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@ CMD", 1, "", NULL, "CMD", 0, { NULL }, 0, 0 },
	{ "@k!x=1;ok=2;=3 CMD", 1, "ok=2|", NULL, "CMD", 0, { NULL }, 0, 1 },
	{ "@+example.com/foo=bar;time=2026-01-02T03:04:05.678Z :n!u@h TAGMSG #a", 1,
	    "+example.com/foo=bar|time=2026-01-02T03:04:05.678Z|", "n!u@h", "TAGMSG", 1,
	    { "#a" }, 0, 0 },
	{ "@label=x   :src   CMD   x  :y", 1, "label=x|", "src", "CMD", 2, { "x", "y" }, 1, 0 },
	{ "@a=b\\ :src CMD", 1, "a=b|", "src", "CMD", 0, { NULL }, 0, 0 },
	/* errors */
	{ "", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "   ", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ ":src", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ ":src ", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ ": PING", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "@a=b", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "@a=b ", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "@a=b :src", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "12 x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "1234 x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "12a x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "PRIV1 x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ ":x @y", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "PRIV\rMSG x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
	{ "\xc3\xa9 x", 0, NULL, NULL, NULL, 0, { NULL }, 0, 0 },
};

static void tags_string(const struct irc_msg *m, char *out)
{
	size_t i;

	*out = '\0';
	for (i = 0; i < m->ntags; i++)
		out += sprintf(out, "%s=%s|", m->tags[i].key, m->tags[i].value);
}

static void check_parse(const struct pcase *c)
{
	struct irc_msg m;
	char line[600], tags[600];
	size_t i;
	int r;

	strcpy(line, c->line);
	r = irc_parse(line, &m);
	if (!c->ok) {
		if (r != -1)
			fail_msg("\"%s\": parsed, should not", c->line);
		assert_int_equal(errno, EINVAL);
		return;
	}
	if (r != 0)
		fail_msg("\"%s\": does not parse", c->line);
	tags_string(&m, tags);
	assert_string_equal(tags, c->tags);
	if (c->source == NULL)
		assert_null(m.source);
	else
		assert_string_equal(m.source, c->source);
	assert_string_equal(m.command, c->command);
	assert_int_equal(m.nparams, c->nparams);
	for (i = 0; i < c->nparams; i++)
		assert_string_equal(m.params[i], c->params[i]);
	assert_int_equal(m.trailing, c->trailing);
	assert_int_equal(m.tags_dropped, c->dropped);
}

static void test_parse_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof pcases / sizeof pcases[0]; i++)
		check_parse(&pcases[i]);
}

static void test_parse_tag_bound(void **state)
{
	static char line[4096];
	struct irc_msg m;
	char *p = line;
	int i;

	*p++ = '@';
	for (i = 0; i < IRC_TAGS_MAX + 10; i++)
		p += sprintf(p, "t%d=%d;", i, i);
	strcpy(p, "t3=last;t70=x CMD");
	assert_int_equal(irc_parse(line, &m), 0);
	assert_int_equal(m.ntags, IRC_TAGS_MAX);
	assert_true(m.tags_dropped);
	assert_string_equal(irc_tag_get(&m, "t3"), "last");
	assert_string_equal(irc_tag_get(&m, "t63"), "63");
	assert_null(irc_tag_get(&m, "t64"));
	assert_null(irc_tag_get(&m, "t70"));
}

/* ------------------------------------------------------------------ writer */

static struct irc_msg msg(const char *source, const char *command, size_t n, ...)
{
	struct irc_msg m;
	va_list ap;
	size_t i;

	memset(&m, 0, sizeof m);
	m.source = source;
	m.command = command;
	m.nparams = n;
	va_start(ap, n);
	for (i = 0; i < n; i++)
		m.params[i] = va_arg(ap, const char *);
	va_end(ap);
	return m;
}

static const char *written(const struct irc_msg *m)
{
	static char buf[IRC_OUT_MAX];
	ssize_t n = irc_write(buf, sizeof buf, m);

	if (n < 0)
		return NULL;
	assert_int_equal(strlen(buf), (size_t)n);
	return buf;
}

static void test_write_basic(void **state)
{
	struct irc_msg m = msg("n!u@h", "PRIVMSG", 2, "#a", "hello world");

	assert_string_equal(written(&m), ":n!u@h PRIVMSG #a :hello world\r\n");
	m = msg(NULL, "PING", 1, "tok");
	assert_string_equal(written(&m), "PING tok\r\n");
	m.trailing = true;
	assert_string_equal(written(&m), "PING :tok\r\n");
	m = msg("srv", "PONG", 2, "srv", "");
	assert_string_equal(written(&m), ":srv PONG srv :\r\n");
	m = msg("srv", "X", 2, "a", ":b");
	assert_string_equal(written(&m), ":srv X a ::b\r\n");
	m = msg(NULL, "QUIT", 0);
	assert_string_equal(written(&m), "QUIT\r\n");
	m = msg(NULL, "PRIVMSG", 2, "#a", "x\ry\nz");
	assert_string_equal(written(&m), "PRIVMSG #a :x y z\r\n");
}

static void test_write_invalid(void **state)
{
	static const char *p16[16] = { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
	    "12", "13", "14", "15", "16" };
	struct irc_msg m;
	char buf[32];

	m = msg(NULL, "X", 2, "", "b");
	assert_null(written(&m));
	assert_int_equal(errno, EINVAL);
	m = msg(NULL, "X", 2, "a b", "c");
	assert_null(written(&m));
	m = msg(NULL, "X", 2, ":a", "c");
	assert_null(written(&m));
	m = msg(NULL, "X", 2, "a\rb", "c");
	assert_null(written(&m));
	m = msg(NULL, "PRIV MSG", 0);
	assert_null(written(&m));
	m = msg(NULL, "", 0);
	assert_null(written(&m));
	m = msg("a b", "X", 0);
	assert_null(written(&m));
	m = msg("", "X", 0);
	assert_null(written(&m));
	m = msg(NULL, "X", 0);
	memcpy(m.params, p16, sizeof p16 - sizeof p16[0]);
	m.nparams = 15;
	assert_non_null(written(&m));
	m.nparams = 16;
	assert_null(written(&m));
	m = msg(NULL, "X", 0);
	m.ntags = 1;
	m.tags[0].key = "bad key";
	m.tags[0].value = "v";
	assert_null(written(&m));
	assert_int_equal(errno, EINVAL);
	m = msg("server.example", "PRIVMSG", 2, "#a", "a long enough text");
	assert_int_equal(irc_write(buf, sizeof buf, &m), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(irc_write(buf, 0, &m), -1);
	assert_int_equal(errno, ENOSPC);
}

static void test_write_middle_too_long(void **state)
{
	static char big[600];
	struct irc_msg m;

	memset(big, 'c', 505);
	m = msg(NULL, "X", 2, big, "t");        /* "X " + 505 + " :" + cut = 509 + 1 */
	assert_non_null(written(&m));
	assert_string_equal(written(&m) + 508, "t\r\n");
	big[506] = '\0';
	memset(big, 'c', 506);
	m = msg(NULL, "X", 2, big, "t");
	assert_non_null(written(&m));
	assert_string_equal(written(&m) + 508, " t\r\n");
	m = msg(NULL, "X", 2, big, "tt");
	assert_string_equal(written(&m) + 508, " t\r\n");
	m = msg(NULL, "X", 2, big, "\xc3\xa9");
	assert_string_equal(written(&m) + 508, " :\r\n");
	memset(big, 'c', 507);
	m = msg(NULL, "X", 2, big, "t");
	assert_null(written(&m));
	assert_int_equal(errno, EMSGSIZE);
	memset(big, 'c', 520);
	m = msg(NULL, "X", 1, big);
	assert_int_equal(strlen(written(&m)), 512);
}

static bool utf8_valid(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		k = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 9;
		if (k == 9 || i + k >= n + (k == 0))
			return k == 0;
		for (i++; k > 0; k--, i++)
			if (((unsigned char)s[i] & 0xC0) != 0x80)
				return false;
	}
	return true;
}

/* Texts of one repeated character of 1 to 4 bytes after 0..4 ASCII bytes: the written body
 * is 510 bytes or less, the text a valid UTF-8 prefix that lost less than one character. */
static void test_write_truncate_utf8(void **state)
{
	static const char *chars[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	static char text[1200];
	size_t c, pad, len;
	const char *w, *t;
	struct irc_msg m;

	for (c = 0; c < 4; c++)
		for (pad = 0; pad < 5; pad++) {
			size_t cl = strlen(chars[c]);

			memset(text, 'p', pad);
			for (len = pad; len + cl < 1100; len += cl)
				memcpy(text + len, chars[c], cl);
			text[len] = '\0';
			m = msg("nick!user@host.example", "PRIVMSG", 2, "#chan", text);
			w = written(&m);
			assert_non_null(w);
			assert_true(strlen(w) <= 512);
			assert_true(strlen(w) > 512 - cl);
			assert_string_equal(w + strlen(w) - 2, "\r\n");
			t = strstr(w, "#chan ") + 6;
			t += *t == ':';
			assert_true(utf8_valid(t, strlen(t) - 2));
			assert_memory_equal(t, text, strlen(t) - 2);
		}
	/* invalid UTF-8 (a run of continuation bytes) is cut at the limit */
	memset(text, 0x80, 600);
	text[600] = '\0';
	m = msg(NULL, "PRIVMSG", 2, "#a", text);
	assert_int_equal(strlen(written(&m)), 512);
	assert_int_equal(irc_utf8_cut("ab\xc3\xa9", 4, 3), 2);
	assert_int_equal(irc_utf8_cut("ab\xc3\xa9", 4, 4), 4);
	assert_int_equal(irc_utf8_cut("ab\xc3\xa9", 4, 2), 2);
	assert_int_equal(irc_utf8_cut("\xf0\x9f\x98\x80", 4, 3), 0);
}

static void test_write_tags(void **state)
{
	struct irc_msg m = msg("n!u@h", "PRIVMSG", 2, "#a", "hi");

	m.ntags = 4;
	m.tags[0] = (struct irc_tag){ "time", "2026-01-02T03:04:05.678Z" };
	m.tags[1] = (struct irc_tag){ "msgid", "00000000000004d2" };
	m.tags[2] = (struct irc_tag){ "+x", "a;b c\\d\r\ne" };
	m.tags[3] = (struct irc_tag){ "flag", NULL };
	assert_string_equal(written(&m), "@time=2026-01-02T03:04:05.678Z;msgid=00000000000004d2;"
	    "+x=a\\:b\\sc\\\\d\\r\\ne;flag :n!u@h PRIVMSG #a hi\r\n");
	m.ntags = 1;
	m.tags[0] = (struct irc_tag){ "account", "" };
	assert_string_equal(written(&m), "@account :n!u@h PRIVMSG #a hi\r\n");
}

/* Tags that do not fit in IRC_TAGS_OUT_MAX are skipped whole; later small ones still go. */
static void test_write_tags_bound(void **state)
{
	static char v1[4001], v2[4001], v3[4001];
	struct irc_msg m = msg(NULL, "TAGMSG", 1, "#a");
	const char *w;

	memset(v1, 'a', 4000);
	memset(v2, 'b', 4000);
	memset(v3, 'c', 4000);
	m.ntags = 4;
	m.tags[0] = (struct irc_tag){ "+a", v1 };
	m.tags[1] = (struct irc_tag){ "+b", v2 };
	m.tags[2] = (struct irc_tag){ "+c", v3 };
	m.tags[3] = (struct irc_tag){ "label", "L1" };
	w = written(&m);
	assert_non_null(w);
	assert_true(strchr(w, ' ') - w + 1 <= IRC_TAGS_OUT_MAX);
	assert_non_null(strstr(w, "+b="));
	assert_null(strstr(w, "+c="));
	assert_non_null(strstr(w, ";label=L1 TAGMSG #a\r\n"));
	{
		static char huge[9000];

		memset(huge, 'h', 8500);
		m.ntags = 1;
		m.tags[0].value = huge;
		assert_string_equal(written(&m), "TAGMSG #a\r\n");
	}
}

/* Tag values survive write then parse, whatever bytes they hold (but NUL). */
static void test_escape_round_trip(void **state)
{
	static const char *values[] = { "", "plain", ";", " ", "\\", "\r", "\n", "\\s", "\\:",
	    "a;b c\\d\r\ne\\", "==", "\xc3\xa9t\xc3\xa9", "\\\\\\", ";;  ;;", "x\\" };
	char line[600];
	struct irc_msg m, back;
	size_t i;

	for (i = 0; i < sizeof values / sizeof values[0]; i++) {
		m = msg(NULL, "TAGMSG", 1, "#a");
		m.ntags = 1;
		m.tags[0] = (struct irc_tag){ "+k", values[i] };
		assert_true(irc_write(line, sizeof line, &m) > 0);
		line[strlen(line) - 2] = '\0';
		assert_int_equal(irc_parse(line, &back), 0);
		assert_int_equal(back.ntags, 1);
		assert_string_equal(back.tags[0].value, values[i]);
	}
}

static void test_numeric(void **state)
{
	char buf[IRC_OUT_MAX];

	assert_true(irc_numeric(buf, sizeof buf, "irc.test", 1, "nick",
	    "Welcome to the test network, nick", NULL) > 0);
	assert_string_equal(buf, ":irc.test 001 nick :Welcome to the test network, nick\r\n");
	irc_numeric(buf, sizeof buf, "irc.test", 5, "nick", "CASEMAPPING=ascii", "NICKLEN=30",
	    "are supported by this server", NULL);
	assert_string_equal(buf, ":irc.test 005 nick CASEMAPPING=ascii NICKLEN=30 "
	    ":are supported by this server\r\n");
	irc_numeric(buf, sizeof buf, "s", 333, "n", "#a", "setter", "1767322800", NULL);
	assert_string_equal(buf, ":s 333 n #a setter 1767322800\r\n");
	irc_numeric(buf, sizeof buf, "s", 422, "*", "MOTD File is missing", NULL);
	assert_string_equal(buf, ":s 422 * :MOTD File is missing\r\n");
	assert_int_equal(irc_numeric(buf, sizeof buf, "s", 1000, "n", NULL), -1);
	assert_true(irc_numeric(buf, sizeof buf, "s", 1, "n", "1", "2", "3", "4", "5", "6",
	    "7", "8", "9", "10", "11", "12", "13", "14", NULL) > 0);
	assert_string_equal(buf, ":s 001 n 1 2 3 4 5 6 7 8 9 10 11 12 13 14\r\n");
	assert_int_equal(irc_numeric(buf, sizeof buf, "s", 1, "n", "1", "2", "3", "4", "5", "6",
	    "7", "8", "9", "10", "11", "12", "13", "14", "15", NULL), -1);
	assert_int_equal(errno, EINVAL);
}

/* Whatever the parser accepts (from a framed line), the writer writes back to a line that
 * parses to the same message. */
static void test_parse_write_round_trip(void **state)
{
	size_t i, j;

	for (i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
		char line[600], out[IRC_OUT_MAX];
		struct irc_msg m, back;

		if (!pcases[i].ok || strchr(pcases[i].line, '\r'))
			continue;
		strcpy(line, pcases[i].line);
		assert_int_equal(irc_parse(line, &m), 0);
		assert_true(irc_write(out, sizeof out, &m) > 0);
		out[strlen(out) - 2] = '\0';
		assert_int_equal(irc_parse(out, &back), 0);
		assert_string_equal(back.command, m.command);
		assert_int_equal(back.nparams, m.nparams);
		for (j = 0; j < m.nparams; j++)
			assert_string_equal(back.params[j], m.params[j]);
		assert_int_equal(back.ntags, m.ntags);
		for (j = 0; j < m.ntags; j++)
			assert_string_equal(back.tags[j].value, m.tags[j].value);
	}
}

/* ------------------------------------------------------------------ helpers */

static void test_casefold(void **state)
{
	char s[] = "NiCk[]\\~^{}|AZaz09\xc3\x89";

	irc_casefold(s);
	assert_string_equal(s, "nick[]\\~^{}|azaz09\xc3\x89");
	assert_int_equal(irc_casecmp("Nick", "nICK"), 0);
	assert_int_equal(irc_casecmp("#Chan", "#chan"), 0);
	assert_true(irc_casecmp("nick[", "nick{") != 0);  /* ascii, not rfc1459 */
	assert_true(irc_casecmp("a", "B") < 0);
	assert_true(irc_casecmp("b", "A") > 0);
	assert_true(irc_casecmp("ab", "a") > 0);
	assert_true(irc_casecmp("", "a") < 0);
}

static void test_names(void **state)
{
	static const struct { const char *s; bool nick, chan; } cases[] = {
		{ "nick", 1, 0 }, { "Nick_", 1, 0 }, { "[x]", 1, 0 }, { "`a", 1, 0 },
		{ "\\o/", 0, 0 }, { "{a}|^b-1", 1, 0 }, { "a-", 1, 0 }, { "-a", 0, 0 },
		{ "1abc", 0, 0 }, { "*", 0, 0 }, { "a*", 0, 0 }, { "", 0, 0 }, { "a b", 0, 0 },
		{ "#a", 0, 1 }, { "a#", 0, 0 }, { ":a", 0, 0 }, { "a:", 0, 0 }, { "a@b", 0, 0 },
		{ "a!b", 0, 0 }, { "a,b", 0, 0 }, { "a.b", 0, 0 }, { "\xc3\xa9", 0, 0 },
		{ "abcdefghijklmnopqrstuvwxyz0123", 1, 0 },
		{ "abcdefghijklmnopqrstuvwxyz01234", 0, 0 },
		{ "#", 0, 0 }, { "##", 0, 1 }, { "#a b", 0, 0 }, { "#a,b", 0, 0 },
		{ "#a\x07", 0, 0 }, { "#a:b", 0, 0 }, { "#a\r", 0, 0 }, { "#a\x7f", 0, 0 },
		{ "#\xc3\xa9t\xc3\xa9", 0, 1 }, { "&a", 0, 0 }, { "#Chan-1.x", 0, 1 },
		{ "#bcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn", 0, 1 },  /* 50 */
		{ "#bcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno", 0, 0 }, /* 51 */
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (irc_nick_valid(cases[i].s) != cases[i].nick)
			fail_msg("nick \"%s\": want %d", cases[i].s, cases[i].nick);
		if (irc_chan_valid(cases[i].s) != cases[i].chan)
			fail_msg("channel \"%s\": want %d", cases[i].s, cases[i].chan);
	}
}

static void test_time(void **state)
{
	static const struct { int64_t ms; const char *s; } cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1, "1970-01-01T00:00:00.001Z" },
		{ 951782400000LL, "2000-02-29T00:00:00.000Z" },
		{ 1709164800123LL, "2024-02-29T00:00:00.123Z" },
		{ 1767323045678LL, "2026-01-02T03:04:05.678Z" },
		{ 4102444799999LL, "2099-12-31T23:59:59.999Z" },
		{ 253402300799999LL, "9999-12-31T23:59:59.999Z" },
	};
	static const char *bad[] = { "", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.678",
	    "2026-01-02T03:04:05.678z", "2026-01-02 03:04:05.678Z", "2026-01-02T03:04:05.67Z",
	    "2026-01-02T03:04:05.6789Z", "2026-02-29T00:00:00.000Z", "1900-02-29T00:00:00.000Z",
	    "2026-13-01T00:00:00.000Z", "2026-00-01T00:00:00.000Z", "2026-01-00T00:00:00.000Z",
	    "2026-04-31T00:00:00.000Z", "2026-01-02T24:00:00.000Z", "2026-01-02T03:60:00.000Z",
	    "2026-01-02T03:04:60.000Z", "1969-12-31T23:59:59.999Z", "+026-01-02T03:04:05.678Z",
	    "2026-01-02T03:04:05.678Z ", " 2026-01-02T03:04:05.678Z", "2026-1-02T03:04:05.678Z",
	    "2026-01-02T03:04:05.-78Z", "2026-01-02T03:04:05,678Z", "2026-01-02T03:04:05.678+00" };
	char buf[IRC_TIME_LEN + 1];
	int64_t ms, t;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(irc_time_format(buf, sizeof buf, cases[i].ms), 0);
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(irc_time_parse(cases[i].s, &ms), 0);
		assert_int_equal(ms, cases[i].ms);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (irc_time_parse(bad[i], &ms) != -1)
			fail_msg("time \"%s\" accepted", bad[i]);
	assert_int_equal(irc_time_format(buf, sizeof buf, -1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(irc_time_format(buf, sizeof buf, 253402300800000LL), -1);
	assert_int_equal(irc_time_format(buf, IRC_TIME_LEN, 0), -1);
	assert_int_equal(errno, ENOSPC);
	/* round trip over the whole range, and every ms of one second */
	for (t = 0; t < 253402300799999LL; t += 999999937LL) {
		assert_int_equal(irc_time_format(buf, sizeof buf, t), 0);
		assert_int_equal(irc_time_parse(buf, &ms), 0);
		assert_int_equal(ms, t);
	}
	for (t = 1767323045000LL; t < 1767323046000LL; t++) {
		irc_time_format(buf, sizeof buf, t);
		assert_int_equal(irc_time_parse(buf, &ms), 0);
		assert_int_equal(ms, t);
	}
}

static void test_msgid(void **state)
{
	static const char *bad[] = { "", "0", "000000000000000", "00000000000000000",
	    "000000000000000G", "000000000000000A", "-00000000000000a", " 00000000000000a" };
	char buf[IRC_MSGID_LEN + 1];
	uint64_t id;
	size_t i;

	assert_int_equal(irc_msgid_format(buf, sizeof buf, 0), 0);
	assert_string_equal(buf, "0000000000000000");
	irc_msgid_format(buf, sizeof buf, 1234);
	assert_string_equal(buf, "00000000000004d2");
	irc_msgid_format(buf, sizeof buf, UINT64_MAX);
	assert_string_equal(buf, "ffffffffffffffff");
	assert_int_equal(irc_msgid_parse("ffffffffffffffff", &id), 0);
	assert_true(id == UINT64_MAX);
	assert_int_equal(irc_msgid_parse("00000000000004d2", &id), 0);
	assert_true(id == 1234);
	assert_int_equal(irc_msgid_format(buf, IRC_MSGID_LEN, 0), -1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (irc_msgid_parse(bad[i], &id) != -1)
			fail_msg("msgid \"%s\" accepted", bad[i]);
}

static void test_ref(void **state)
{
	static const char *bad[] = { "", "**", "msgid=", "msgid=xyz", "MSGID=00000000000004d2",
	    "msgid=00000000000004D2", "timestamp=", "timestamp=2026-01-02T03:04:05Z",
	    "timestamp=2026-01-02T03:04:05.678Z ", "time=2026-01-02T03:04:05.678Z", "12345",
	    "msgid:00000000000004d2", " *" };
	struct irc_ref r;
	size_t i;

	assert_int_equal(irc_ref_parse("*", &r), 0);
	assert_int_equal(r.kind, IRC_REF_STAR);
	assert_int_equal(irc_ref_parse("msgid=00000000000004d2", &r), 0);
	assert_int_equal(r.kind, IRC_REF_MSGID);
	assert_true(r.msgid == 1234);
	assert_int_equal(irc_ref_parse("timestamp=2026-01-02T03:04:05.678Z", &r), 0);
	assert_int_equal(r.kind, IRC_REF_TIME);
	assert_int_equal(r.ms, 1767323045678LL);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (irc_ref_parse(bad[i], &r) != -1)
			fail_msg("ref \"%s\" accepted", bad[i]);
}

#define TS1 "timestamp=2026-01-02T03:04:05.678Z"
#define TS2 "timestamp=2026-01-03T00:00:00.000Z"
#define MID "msgid=00000000000004d2"

static void test_chq(void **state)
{
	static const struct {
		const char *line;
		int ret;
		enum irc_ch_sub sub;
		const char *target;
		enum irc_ref_kind a, b;
		unsigned limit;
	} cases[] = {
		{ "CHATHISTORY LATEST #a * 50", 0, IRC_CH_LATEST, "#a", IRC_REF_STAR, 0, 50 },
		{ "CHATHISTORY latest #a " MID " 10", 0, IRC_CH_LATEST, "#a", IRC_REF_MSGID, 0, 10 },
		{ "CHATHISTORY LATEST #a " TS1 " 1", 0, IRC_CH_LATEST, "#a", IRC_REF_TIME, 0, 1 },
		{ "CHATHISTORY BEFORE #a " TS1 " 1000", 0, IRC_CH_BEFORE, "#a", IRC_REF_TIME, 0, 100 },
		{ "CHATHISTORY AFTER nick " MID " 99999999999999999999", 0, IRC_CH_AFTER, "nick",
		    IRC_REF_MSGID, 0, 100 },
		{ "CHATHISTORY AROUND #a " MID " 0100", 0, IRC_CH_AROUND, "#a", IRC_REF_MSGID, 0,
		    100 },
		{ "CHATHISTORY BETWEEN #a " TS2 " " MID " 5", 0, IRC_CH_BETWEEN, "#a", IRC_REF_TIME,
		    IRC_REF_MSGID, 5 },
		{ "CHATHISTORY TARGETS " TS1 " " TS2 " 7", 0, IRC_CH_TARGETS, NULL, IRC_REF_TIME,
		    IRC_REF_TIME, 7 },
		{ "CHATHISTORY LATEST #a * 5 extra", 0, IRC_CH_LATEST, "#a", IRC_REF_STAR, 0, 5 },
		{ "CHATHISTORY", IRC_CH_ENEEDMORE, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a *", IRC_CH_ENEEDMORE, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY BETWEEN #a " TS1 " 5", IRC_CH_ENEEDMORE, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY FOO #a * 5", IRC_CH_EUNKNOWN, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY BEFORE #a * 5", IRC_CH_EREF, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY BETWEEN #a * " TS1 " 5", IRC_CH_EREF, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY BETWEEN #a " TS1 " * 5", IRC_CH_EREF, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY TARGETS " MID " " TS2 " 5", IRC_CH_EREF, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a msgid=zz 5", IRC_CH_EREF, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a * 0", IRC_CH_ELIMIT, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a * -1", IRC_CH_ELIMIT, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a * +5", IRC_CH_ELIMIT, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a * 5x", IRC_CH_ELIMIT, 0, NULL, 0, 0, 0 },
		{ "CHATHISTORY LATEST #a * :", IRC_CH_ELIMIT, 0, NULL, 0, 0, 0 },
	};
	struct irc_msg m;
	struct irc_chq q;
	char line[200];
	size_t i;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strcpy(line, cases[i].line);
		assert_int_equal(irc_parse(line, &m), 0);
		r = irc_chq_parse(&m, 100, &q);
		if (r != cases[i].ret)
			fail_msg("\"%s\": %d, want %d", cases[i].line, r, cases[i].ret);
		if (r != 0)
			continue;
		assert_int_equal(q.sub, cases[i].sub);
		if (cases[i].target)
			assert_string_equal(q.target, cases[i].target);
		else
			assert_null(q.target);
		assert_int_equal(q.a.kind, cases[i].a);
		if (q.sub == IRC_CH_BETWEEN || q.sub == IRC_CH_TARGETS)
			assert_int_equal(q.b.kind, cases[i].b);
		assert_int_equal(q.limit, cases[i].limit);
	}
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_endings),
		cmocka_unit_test(test_frame_nul),
		cmocka_unit_test(test_frame_limits),
		cmocka_unit_test(test_frame_counters_and_full),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_tag_bound),
		cmocka_unit_test(test_write_basic),
		cmocka_unit_test(test_write_invalid),
		cmocka_unit_test(test_write_middle_too_long),
		cmocka_unit_test(test_write_truncate_utf8),
		cmocka_unit_test(test_write_tags),
		cmocka_unit_test(test_write_tags_bound),
		cmocka_unit_test(test_escape_round_trip),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_parse_write_round_trip),
		cmocka_unit_test(test_casefold),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_chq),
	};
	return cmocka_run_group_tests_name("irc", tests, NULL, NULL);
}
