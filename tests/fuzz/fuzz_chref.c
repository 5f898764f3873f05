/* libFuzzer target for chatd's CHATHISTORY arguments and server-time / msgid codecs. The input
 * is tried as a reference, a timestamp and a msgid (whatever parses must format back to the
 * same text: the parsers are strict), as 8 bytes of ms since the epoch (what formats must
 * parse back to the same value), and as the params of a CHATHISTORY line. */
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

static void as_text(const char *s)
{
	char buf[64];
	struct irc_ref r;
	int64_t ms;
	uint64_t id;

	if (irc_ref_parse(s, &r) == 0) {
		if (r.kind == IRC_REF_TIME) {
			check(irc_time_format(buf, sizeof buf, r.ms) == 0);
			check(strcmp(buf, s + 10) == 0);
		} else if (r.kind == IRC_REF_MSGID) {
			check(irc_msgid_format(buf, sizeof buf, r.msgid) == 0);
			check(strcmp(buf, s + 6) == 0);
		} else {
			check(strcmp(s, "*") == 0);
		}
	}
	if (irc_time_parse(s, &ms) == 0) {
		check(irc_time_format(buf, sizeof buf, ms) == 0 && strcmp(buf, s) == 0);
	}
	if (irc_msgid_parse(s, &id) == 0) {
		check(irc_msgid_format(buf, sizeof buf, id) == 0 && strcmp(buf, s) == 0);
	}
}

static void as_ms(const uint8_t *data, size_t size)
{
	char buf[IRC_TIME_LEN + 1];
	int64_t ms, back;

	if (size < 8)
		return;
	memcpy(&ms, data, 8);
	if (ms < 0)
		ms = -(ms + 1);
	ms %= 253402300800000LL + 1000;
	if (irc_time_format(buf, sizeof buf, ms) != 0) {
		check(ms >= 253402300800000LL);
		return;
	}
	check(strlen(buf) == IRC_TIME_LEN && irc_time_parse(buf, &back) == 0 && back == ms);
}

static void as_command(const char *s)
{
	static char line[5000];
	struct irc_msg m;
	struct irc_chq q;

	if (strlen(s) > sizeof line - 20)
		return;
	strcpy(line, "CHATHISTORY ");
	strcat(line, s);
	if (irc_parse(line, &m) != 0 || irc_chq_parse(&m, 100, &q) != 0)
		return;
	check(q.limit >= 1 && q.limit <= 100);
	check((q.target == NULL) == (q.sub == IRC_CH_TARGETS));
	check(q.sub == IRC_CH_LATEST || q.a.kind != IRC_REF_STAR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	as_text(s);
	as_command(s);
	as_ms(data, size);
	free(s);
	return 0;
}
