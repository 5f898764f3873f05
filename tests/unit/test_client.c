/* Unit tests for the chat client's protocol core (chatd/client.c) on canned server lines:
 * registration and CAP negotiation, 433, PING, live lines, /log and the CHATHISTORY gap fill
 * after a reconnection (duplicates dropped by msgid), the one-shot post and log tasks. Times
 * print in UTC (TZ is set). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../chatd/client.h"

static char shown[1 << 14];

static void capture(void *arg, const char *line)
{
	size_t n = strlen(shown);

	snprintf(shown + n, sizeof(shown) - n, "%s\n", line);
}

/* What was queued to the server since the last call, CRLFs shown as "|". */
static const char *sent(struct chat_client *c)
{
	static char buf[CL_OUT_CAP + 1];
	size_t i, j = 0;

	for (i = 0; i < c->outlen; i++)
		if (c->out[i] == '\n')
			buf[j++] = '|';
		else if (c->out[i] != '\r')
			buf[j++] = c->out[i];
	buf[j] = '\0';
	c->outlen = 0;
	return buf;
}

static void feed(struct chat_client *c, const char *line)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "%s", line);
	cl_line(c, buf);
}

static const char *take(void)
{
	static char buf[sizeof(shown)];

	memcpy(buf, shown, sizeof(buf));
	shown[0] = '\0';
	return buf;
}

#define CAPS_ALL "batch draft/chathistory echo-message message-tags server-time"

/* Register alice with the caps in `ls` (all that we ask for are acked) and join #c. */
static void session(struct chat_client *c, const char *ls, bool join)
{
	char line[512];

	assert_int_equal(cl_init(c, "alice", capture, NULL), 0);
	if (join)
		assert_int_equal(cl_command(c, "/join #c"), 0);
	cl_connected(c);
	sent(c);
	snprintf(line, sizeof(line), ":srv CAP * LS :%s", ls);
	feed(c, line);
	if (strstr(sent(c), "CAP REQ") != NULL) {
		snprintf(line, sizeof(line), ":srv CAP alice ACK :%s", ls);
		feed(c, line);
	}
	feed(c, ":srv 001 alice :Welcome");
	feed(c, ":srv 005 alice CHATHISTORY=50 CASEMAPPING=ascii :are supported");
	if (join)
		feed(c, "@time=2026-01-02T03:04:00.000Z :alice!a@h JOIN #c");
	sent(c);
	take();
}

static void test_registration(void **state)
{
	struct chat_client c;

	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	cl_connected(&c);
	assert_string_equal(sent(&c), "CAP LS 302|NICK alice|USER alice 0 * :alice|");
	feed(&c, ":srv CAP * LS * :multi-prefix server-time sasl=PLAIN,EXTERNAL");
	assert_string_equal(sent(&c), "");
	feed(&c, ":srv CAP * LS :draft/chathistory batch echo-message message-tags");
	assert_string_equal(sent(&c), "CAP REQ :" CAPS_ALL "|");
	feed(&c, ":srv CAP * ACK :" CAPS_ALL);
	assert_string_equal(sent(&c), "CAP END|");
	assert_int_equal(c.enabled, CL_CAP_SERVER_TIME | CL_CAP_ECHO | CL_CAP_BATCH |
	    CL_CAP_HISTORY | CL_CAP_TAGS);
	feed(&c, ":srv 433 * alice :Nickname already in use");
	assert_string_equal(sent(&c), "NICK alice_|");
	feed(&c, ":srv 001 alice_ :Welcome");
	assert_true(c.registered);
	assert_string_equal(c.nick, "alice_");
	feed(&c, "PING :tok 1");
	assert_string_equal(sent(&c), "PONG :tok 1|");
	assert_int_equal(c.result, CL_RUNNING);
}

static void test_registration_without_caps(void **state)
{
	struct chat_client c;

	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	cl_connected(&c);
	sent(&c);
	feed(&c, ":srv CAP * LS :multi-prefix");
	assert_string_equal(sent(&c), "CAP END|");
	assert_int_equal(c.enabled, 0);
	/* an old server: 421 for CAP is no failure */
	feed(&c, ":srv 421 * CAP :Unknown command");
	assert_int_equal(c.result, CL_RUNNING);
	assert_int_equal(cl_command(&c, "/join #c"), 0);
	feed(&c, ":srv 001 alice :Welcome");
	assert_string_equal(sent(&c), "JOIN #c|JOIN #c|");   /* before and after the welcome */
	feed(&c, ":alice!a@h JOIN #c");
	assert_string_equal(take(), "-- connected as alice\n-- alice joined #c\n");
	assert_int_equal(cl_command(&c, "/log"), 0);
	assert_string_equal(sent(&c), "");
	assert_string_equal(take(),
	    "-- error: the server does not offer draft/chathistory: no chat log\n");
}

static void test_live_lines(void **state)
{
	struct chat_client c;

	session(&c, CAPS_ALL, true);
	feed(&c, "@time=2026-01-02T03:04:05.678Z;msgid=0000000000000001 :bob!b@h PRIVMSG #c :hi");
	feed(&c, "@time=2026-01-02T03:04:06.000Z;msgid=0000000000000001 :bob!b@h PRIVMSG #c :hi");
	feed(&c, "@time=2026-01-02T03:04:07.000Z :bob!b@h PRIVMSG #d :elsewhere");
	feed(&c, "@time=2026-01-02T03:04:08.000Z :bob!b@h PRIVMSG #c :\001ACTION waves\001");
	feed(&c, ":carol!c@h JOIN #c");
	feed(&c, ":carol!c@h PART #c :later");
	feed(&c, ":srv 404 alice #c :Cannot send to channel");
	assert_string_equal(take(),
	    "03:04:05 <bob> hi\n"
	    "03:04:07 [#d] <bob> elsewhere\n"
	    "03:04:08 * bob waves\n"
	    "-- carol joined #c\n"
	    "-- carol left #c (later)\n"
	    "-- error: #c Cannot send to channel\n");
	assert_int_equal(cl_command(&c, "hello all"), 0);
	assert_string_equal(sent(&c), "PRIVMSG #c :hello all|");
	assert_string_equal(take(), "");    /* echo-message: shown when it comes back */
	/* a script's lines: the text after /join goes to the new channel, behind the JOIN */
	assert_int_equal(cl_command(&c, "/join #d"), 0);
	assert_int_equal(cl_command(&c, "to d"), 0);
	assert_string_equal(sent(&c), "JOIN #d|PRIVMSG #d :to d|");
	feed(&c, ":srv 473 alice #d :Cannot join channel (+i)");
	assert_int_equal(c.nchans, 1);      /* never joined: forgotten, not rejoined later */
	assert_int_equal(cl_command(&c, "back in c"), 0);
	assert_string_equal(sent(&c), "PRIVMSG #c :back in c|");
	assert_string_equal(take(), "-- error: #d Cannot join channel (+i)\n");
	assert_int_equal(cl_command(&c, "/quit gone"), 1);
	assert_string_equal(sent(&c), "QUIT :gone|");
}

static void test_log(void **state)
{
	struct chat_client c;

	session(&c, CAPS_ALL, true);
	assert_int_equal(cl_command(&c, "/log 500"), 0);
	assert_string_equal(sent(&c), "CHATHISTORY LATEST #c * 50|");     /* CHATHISTORY=50 */
	feed(&c, ":srv BATCH +h1 chathistory #c");
	feed(&c, "@batch=h1;time=2026-01-02T01:00:00.000Z;msgid=0000000000000009 "
	    ":bob!b@h PRIVMSG #c :old one");
	feed(&c, "@batch=h1;time=2026-01-02T01:00:01.000Z;msgid=000000000000000a "
	    ":bob!b@h NOTICE #c :old two");
	feed(&c, ":srv BATCH -h1");
	assert_string_equal(take(), "01:00:00 <bob> old one\n01:00:01 -bob- old two\n");
	/* /log prints what was already seen too */
	assert_int_equal(cl_command(&c, "/log 1"), 0);
	feed(&c, ":srv BATCH +h2 chathistory #c");
	feed(&c, "@batch=h2;time=2026-01-02T01:00:01.000Z;msgid=000000000000000a "
	    ":bob!b@h NOTICE #c :old two");
	feed(&c, ":srv BATCH -h2");
	assert_string_equal(take(), "01:00:01 -bob- old two\n");
	/* history does not move the channel's newest reference backwards */
	assert_string_equal(c.chans[0].last, "timestamp=2026-01-02T03:04:00.000Z");
	feed(&c, "FAIL CHATHISTORY MESSAGE_ERROR LATEST #c :store failed");
	assert_string_equal(take(), "-- error: CHATHISTORY MESSAGE_ERROR: store failed\n");
}

/* The gap after a reconnection: AFTER the last msgid seen, duplicates dropped by msgid. */
static void test_gap_fill(void **state)
{
	struct chat_client c;

	session(&c, CAPS_ALL, true);
	feed(&c, "@time=2026-01-02T03:05:00.000Z;msgid=0000000000000010 :bob!b@h PRIVMSG #c :one");
	feed(&c, "@time=2026-01-02T03:05:01.000Z;msgid=0000000000000011 :bob!b@h PRIVMSG #c :two");
	assert_string_equal(take(), "03:05:00 <bob> one\n03:05:01 <bob> two\n");
	cl_disconnected(&c);
	cl_connected(&c);
	assert_string_equal(sent(&c), "CAP LS 302|NICK alice|USER alice 0 * :alice|");
	feed(&c, ":srv CAP * LS :" CAPS_ALL);
	feed(&c, ":srv CAP alice ACK :" CAPS_ALL);
	feed(&c, ":srv 001 alice :Welcome");
	assert_string_equal(sent(&c), "CAP REQ :" CAPS_ALL "|CAP END|JOIN #c|");
	feed(&c, ":alice!a@h JOIN #c");
	assert_string_equal(sent(&c), "CHATHISTORY AFTER #c msgid=0000000000000011 100|");
	/* a live line that is also in the batch, then the batch (a duplicate of it, an old
	 * duplicate and the new ones) */
	feed(&c, "@time=2026-01-02T03:05:04.000Z;msgid=0000000000000014 :bob!b@h PRIVMSG #c :four");
	feed(&c, ":srv BATCH +f chathistory #c");
	feed(&c, "@batch=f;time=2026-01-02T03:05:01.000Z;msgid=0000000000000011 "
	    ":bob!b@h PRIVMSG #c :two");
	feed(&c, "@batch=f;time=2026-01-02T03:05:02.000Z;msgid=0000000000000012 "
	    ":bob!b@h PRIVMSG #c :three");
	feed(&c, "@batch=f;time=2026-01-02T03:05:03.000Z;msgid=0000000000000013 "
	    ":carol!c@h PRIVMSG #c :three and a half");
	feed(&c, "@batch=f;time=2026-01-02T03:05:04.000Z;msgid=0000000000000014 "
	    ":bob!b@h PRIVMSG #c :four");
	feed(&c, ":srv BATCH -f");
	assert_string_equal(take(),
	    "-- connected as alice\n"
	    "-- alice joined #c\n"
	    "03:05:04 <bob> four\n"
	    "03:05:02 <bob> three\n"
	    "03:05:03 <carol> three and a half\n");
	assert_string_equal(c.chans[0].last, "msgid=0000000000000014");
	/* a second drop: the next fill starts after the newest */
	cl_disconnected(&c);
	cl_connected(&c);
	sent(&c);
	feed(&c, ":srv CAP * LS :" CAPS_ALL);
	feed(&c, ":srv CAP alice ACK :" CAPS_ALL);
	feed(&c, ":srv 001 alice :Welcome");
	feed(&c, ":alice!a@h JOIN #c");
	assert_string_equal(sent(&c), "CAP REQ :" CAPS_ALL "|CAP END|JOIN #c|"
	    "CHATHISTORY AFTER #c msgid=0000000000000014 100|");
}

/* No message seen: the fill starts at the join's server time. Without chathistory: none. */
static void test_gap_fill_by_time(void **state)
{
	struct chat_client c;

	session(&c, CAPS_ALL, true);
	cl_disconnected(&c);
	cl_connected(&c);
	feed(&c, ":srv CAP * LS :" CAPS_ALL);
	feed(&c, ":srv CAP alice ACK :" CAPS_ALL);
	feed(&c, ":srv 001 alice :Welcome");
	feed(&c, ":alice!a@h JOIN #c");
	assert_string_equal(sent(&c), "CAP LS 302|NICK alice|USER alice 0 * :alice|"
	    "CAP REQ :" CAPS_ALL "|CAP END|JOIN #c|"
	    "CHATHISTORY AFTER #c timestamp=2026-01-02T03:04:00.000Z 100|");

	session(&c, "server-time", true);
	cl_disconnected(&c);
	cl_connected(&c);
	feed(&c, ":srv CAP * LS :server-time");
	feed(&c, ":srv CAP alice ACK :server-time");
	feed(&c, ":srv 001 alice :Welcome");
	feed(&c, ":alice!a@h JOIN #c");
	assert_string_equal(sent(&c), "CAP LS 302|NICK alice|USER alice 0 * :alice|"
	    "CAP REQ :server-time|CAP END|JOIN #c|");
}

static void task_session(struct chat_client *c, const char *ls)
{
	char line[512];

	cl_connected(c);
	snprintf(line, sizeof(line), ":srv CAP * LS :%s", ls);
	feed(c, line);
	snprintf(line, sizeof(line), ":srv CAP alice ACK :%s", ls);
	feed(c, line);
	feed(c, ":srv 001 alice :Welcome");
	feed(c, ":srv NOTICE alice :server notice");
	sent(c);
	feed(c, ":alice!a@h JOIN #c");
}

static void test_post_without_echo(void **state)
{
	struct chat_client c;

	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_post(&c, "#c", "hi there"), 0);
	task_session(&c, "server-time");
	assert_string_equal(sent(&c), "PRIVMSG #c :hi there|PING chat-ack-1|");
	feed(&c, ":srv PONG srv :other");
	assert_int_equal(c.result, CL_RUNNING);
	feed(&c, ":srv PONG srv :chat-ack-1");
	assert_int_equal(c.result, CL_DONE);
	assert_string_equal(take(), "");    /* quiet */
}

static void test_post_with_echo(void **state)
{
	struct chat_client c;

	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_post(&c, "#c", "hi there"), 0);
	task_session(&c, CAPS_ALL);
	assert_string_equal(sent(&c), "PRIVMSG #c :hi there|PING chat-ack-1|");
	feed(&c, "@msgid=0000000000000001 :alice!a@h PRIVMSG #c :hi there");
	feed(&c, ":srv PONG srv :chat-ack-1");
	assert_int_equal(c.result, CL_DONE);

	/* an echo-message server that did not echo */
	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_post(&c, "#c", "hi there"), 0);
	task_session(&c, CAPS_ALL);
	feed(&c, ":srv PONG srv :chat-ack-1");
	assert_int_equal(c.result, CL_FAILED);
	assert_string_equal(c.error, "the server did not echo the message");

	/* refused */
	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_post(&c, "#c", "hi there"), 0);
	task_session(&c, CAPS_ALL);
	feed(&c, ":srv 404 alice #c :Cannot send to channel");
	assert_int_equal(c.result, CL_FAILED);
	assert_string_equal(c.error, "server: 404 #c Cannot send to channel");
	take();
}

static void test_log_task(void **state)
{
	struct chat_client c;

	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_log(&c, "#c", 20), 0);
	task_session(&c, CAPS_ALL);
	assert_string_equal(sent(&c), "CHATHISTORY LATEST #c * 20|");
	feed(&c, "@msgid=00000000000000ff :bob!b@h PRIVMSG #c :live, not shown");
	feed(&c, ":srv BATCH +z chathistory #c");
	feed(&c, "@batch=z;time=2026-01-02T01:00:00.000Z;msgid=00000000000000fe "
	    ":bob!b@h PRIVMSG #c :logged");
	assert_int_equal(c.result, CL_RUNNING);
	feed(&c, ":srv BATCH -z");
	assert_int_equal(c.result, CL_DONE);
	assert_string_equal(take(), "01:00:00 <bob> logged\n");

	/* no chathistory on the server: a clear error */
	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_log(&c, "#c", 20), 0);
	task_session(&c, "server-time");
	assert_string_equal(sent(&c), "");
	assert_int_equal(c.result, CL_FAILED);
	assert_string_equal(c.error, "the server does not offer draft/chathistory: no chat log");

	/* FAIL from the server */
	assert_int_equal(cl_init(&c, "alice", capture, NULL), 0);
	assert_int_equal(cl_task_log(&c, "#c", 20), 0);
	task_session(&c, CAPS_ALL);
	feed(&c, "FAIL CHATHISTORY INVALID_TARGET LATEST #c :No such channel");
	assert_int_equal(c.result, CL_FAILED);
	assert_string_equal(c.error, "server: CHATHISTORY INVALID_TARGET: No such channel");
	assert_int_equal(cl_task_log(&c, "nochan", 20), -1);
	take();
}

static int clear(void **state)
{
	shown[0] = '\0';
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_registration, clear),
		cmocka_unit_test_setup(test_registration_without_caps, clear),
		cmocka_unit_test_setup(test_live_lines, clear),
		cmocka_unit_test_setup(test_log, clear),
		cmocka_unit_test_setup(test_gap_fill, clear),
		cmocka_unit_test_setup(test_gap_fill_by_time, clear),
		cmocka_unit_test_setup(test_post_without_echo, clear),
		cmocka_unit_test_setup(test_post_with_echo, clear),
		cmocka_unit_test_setup(test_log_task, clear),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
