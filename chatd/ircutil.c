/* IRC helpers: CASEMAPPING=ascii, nick and channel names, server-time, msgids. Pure code. */
#include <errno.h>
#include <string.h>

#include "chatd.h"

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Fold s in place under CASEMAPPING=ascii: only A-Z become a-z. */
void irc_casefold(char *s)
{
	for (; *s; s++)
		*s = fold(*s);
}

/* strcmp of the casefolded strings (ascii). */
int irc_casecmp(const char *a, const char *b)
{
	while (*a && fold(*a) == fold(*b))
		a++, b++;
	return (unsigned char)fold(*a) - (unsigned char)fold(*b);
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A nick: 1..IRC_NICK_MAX bytes; the first a letter or one of []\`_^{|}, the others also
 * digits or '-'. So no '*', no leading digit, no space, '#', ':', '@', '!', ','. */
bool irc_nick_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i == IRC_NICK_MAX)
			return false;
		if (is_letter(c) || (c != '\0' && strchr("[]\\`_^{|}", c)))
			continue;
		if (i > 0 && ((c >= '0' && c <= '9') || c == '-'))
			continue;
		return false;
	}
	return i > 0;
}

/* A channel: '#' then 1..IRC_CHAN_MAX - 1 bytes, none a control byte (BEL, CR, LF...),
 * space, ',', ':' or DEL. Bytes >= 0x80 are allowed (UTF-8 names). */
bool irc_chan_valid(const char *s)
{
	size_t i;

	if (s[0] != '#' || s[1] == '\0')
		return false;
	for (i = 1; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == IRC_CHAN_MAX || c <= ' ' || c == ',' || c == ':' || c == 0x7F)
			return false;
	}
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define MS_DAY   86400000LL
#define MS_LAST  (days_from_civil(10000, 1, 1) * MS_DAY - 1)  /* 9999-12-31T23:59:59.999Z */

/* Put v as exactly `width` decimal digits at p. */
static void digits(char *p, int64_t v, int width)
{
	while (width-- > 0) {
		p[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Format ms since the epoch as server-time "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, IRC_TIME_LEN
 * bytes) plus NUL into buf[cap]. Returns 0, or -1 with errno ERANGE (ms outside 1970..9999)
 * or ENOSPC (cap <= IRC_TIME_LEN). */
int irc_time_format(char *buf, size_t cap, int64_t ms)
{
	int64_t y, day, rem;
	unsigned mo, d;

	if (ms < 0 || ms > MS_LAST)
		return errno = ERANGE, -1;
	if (cap <= IRC_TIME_LEN)
		return errno = ENOSPC, -1;
	day = ms / MS_DAY;
	rem = ms % MS_DAY;
	civil_from_days(day, &y, &mo, &d);
	memcpy(buf, "0000-00-00T00:00:00.000Z", IRC_TIME_LEN + 1);
	digits(buf, y, 4);
	digits(buf + 5, mo, 2);
	digits(buf + 8, d, 2);
	digits(buf + 11, rem / 3600000, 2);
	digits(buf + 14, rem / 60000 % 60, 2);
	digits(buf + 17, rem / 1000 % 60, 2);
	digits(buf + 20, rem % 1000, 3);
	return 0;
}

/* The value of s[0, n) if all decimal digits, else -1. */
static int64_t number(const char *s, int n)
{
	int64_t v = 0;

	while (n-- > 0) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parse strict server-time (exactly the format irc_time_format writes: 24 bytes, ms, 'Z',
 * a real date, no leap second, year 1970..9999) into *ms. Returns 0, or -1 (errno EINVAL). */
int irc_time_parse(const char *s, int64_t *ms)
{
	static const unsigned char mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t y, mo, d, h, mi, se, f;

	if (strlen(s) != IRC_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return errno = EINVAL, -1;
	y = number(s, 4), mo = number(s + 5, 2), d = number(s + 8, 2);
	h = number(s + 11, 2), mi = number(s + 14, 2), se = number(s + 17, 2);
	f = number(s + 20, 3);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 59 || f < 0)
		return errno = EINVAL, -1;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return errno = EINVAL, -1;
	*ms = days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_DAY +
	    ((h * 60 + mi) * 60 + se) * 1000 + f;
	return 0;
}

/* A msgid is the 64-bit message id as exactly IRC_MSGID_LEN lowercase hex digits,
 * zero-padded, so that string order is id order. Writes it and a NUL into buf[cap]. Returns
 * 0, or -1 with errno ENOSPC. */
int irc_msgid_format(char *buf, size_t cap, uint64_t id)
{
	int i;

	if (cap <= IRC_MSGID_LEN)
		return errno = ENOSPC, -1;
	for (i = IRC_MSGID_LEN - 1; i >= 0; i--, id >>= 4)
		buf[i] = "0123456789abcdef"[id & 15];
	buf[IRC_MSGID_LEN] = '\0';
	return 0;
}

/* Parse a msgid written by irc_msgid_format (strict: 16 lowercase hex). Returns 0 or -1
 * (errno EINVAL). */
int irc_msgid_parse(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < IRC_MSGID_LEN; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return errno = EINVAL, -1;
	}
	if (s[IRC_MSGID_LEN] != '\0')
		return errno = EINVAL, -1;
	*id = v;
	return 0;
}
