/* Unit tests for the gateway's pure pieces (chatd/gw_util.c): the flood bucket (delay, never
 * drop), the bounded output queue, CAP LS/LIST/REQ (all or nothing), the ISUPPORT tokens, tag
 * insertion for labeled responses, base64 for SASL PLAIN, the item formatting, and the
 * request timeout learned from round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../chatd/chatd.h"

static void
test_flood_burst_then_rate(void **state)
{
	struct gw_flood f;
	int64_t now = 1000;

	gw_flood_init(&f, 10, 5, now);
	for (int i = 0; i < 5; i++)
		assert_int_equal(gw_flood_take(&f, now), 0);
	int64_t wait = gw_flood_take(&f, now);
	assert_true(wait > 0 && wait <= 101);
	/* nothing was taken by the refused call: after the wait one line passes */
	assert_int_equal(gw_flood_take(&f, now + wait), 0);
	assert_true(gw_flood_take(&f, now + wait) > 0);
	/* a long pause refills to the burst, not beyond */
	now += 100000;
	for (int i = 0; i < 5; i++)
		assert_int_equal(gw_flood_take(&f, now), 0);
	assert_true(gw_flood_take(&f, now) > 0);
}

/* Quick answers keep the least timeout; slow answers raise it above the round trip, back off
 * raises it further, bounded; quick answers bring it back down. */
static void
test_rto(void **state)
{
	struct gw_rto r;

	gw_rto_init(&r);
	assert_int_equal(r.rto, GW_REQ_TIMEOUT_MS);
	for (int i = 0; i < 50; i++)
		gw_rto_sample(&r, 3);
	assert_int_equal(r.rto, GW_REQ_TIMEOUT_MS);
	/* a worker that answers after 5 s, steadily: the timeout follows, above 5 s */
	for (int i = 0; i < 100; i++)
		gw_rto_sample(&r, 5000);
	assert_true(r.rto > 5000 && r.rto < 6000);
	/* a jump is learned at once, with margin for its variance */
	gw_rto_init(&r);
	gw_rto_sample(&r, 3);
	gw_rto_sample(&r, 4000);
	assert_true(r.rto > 4000);
	/* sweeps that resend back it off, no further than the bound */
	int64_t before = r.rto;
	gw_rto_backoff(&r);
	assert_int_equal(r.rto, before * 3 / 2);
	for (int i = 0; i < 30; i++)
		gw_rto_backoff(&r);
	assert_int_equal(r.rto, GW_RTO_MAX_MS);
	/* the next samples set it from the round trips again */
	for (int i = 0; i < 100; i++)
		gw_rto_sample(&r, 10);
	assert_int_equal(r.rto, GW_REQ_TIMEOUT_MS);
	/* a round trip beyond the bound: the bound */
	for (int i = 0; i < 10; i++)
		gw_rto_sample(&r, 100000);
	assert_int_equal(r.rto, GW_RTO_MAX_MS);
}

static void
test_flood_off(void **state)
{
	struct gw_flood f;

	gw_flood_init(&f, 0, 1, 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(gw_flood_take(&f, 0), 0);
}

static void
test_flood_rate_over_time(void **state)
{
	struct gw_flood f;
	int64_t now = 0;
	int lines = 0;

	gw_flood_init(&f, 50, 10, now);
	/* a client sending as fast as allowed for 2 s gets burst + 2 s x rate lines */
	while (now <= 2000) {
		int64_t w = gw_flood_take(&f, now);
		if (w == 0)
			lines++;
		else
			now += w;
	}
	assert_true(lines >= 108 && lines <= 111);
}

static void
test_outq_bound(void **state)
{
	struct gw_outq q;
	char line[100];

	memset(line, 'x', sizeof line);
	gw_outq_init(&q, 250);
	assert_int_equal(gw_outq_put(&q, line, 100), 0);
	assert_int_equal(gw_outq_put(&q, line, 100), 0);
	assert_int_equal(gw_outq_put(&q, line, 100), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(gw_outq_pending(&q), 200);
	gw_outq_consume(&q, 150);
	assert_int_equal(gw_outq_pending(&q), 50);
	assert_int_equal(gw_outq_put(&q, "ab\r\n", 4), 0);
	assert_int_equal(gw_outq_pending(&q), 54);
	assert_memory_equal(gw_outq_data(&q) + 50, "ab\r\n", 4);
	gw_outq_consume(&q, 54);
	assert_int_equal(gw_outq_pending(&q), 0);
	gw_outq_fini(&q);
}

/* The block cache hands back what was put (last in, first out), keeps at most GW_BLOCKS_MAX
 * and frees the rest (ASan/valgrind see a leak or a double free otherwise). */
static void
test_block_cache(void **state)
{
	static struct gw_blocks b = { .size = 64 };
	void *p[GW_BLOCKS_MAX + 8];

	(void)state;
	for (size_t i = 0; i < GW_BLOCKS_MAX + 8; i++) {
		assert_non_null(p[i] = gw_block_get(&b));
		memset(p[i], (int)i, b.size);  /* the whole size is usable */
	}
	for (size_t i = 0; i < GW_BLOCKS_MAX + 8; i++)
		gw_block_put(&b, p[i]);
	assert_int_equal(b.n, GW_BLOCKS_MAX);
	gw_block_put(&b, NULL);
	assert_int_equal(b.n, GW_BLOCKS_MAX);
	void *q = gw_block_get(&b);
	assert_ptr_equal(q, p[GW_BLOCKS_MAX - 1]);
	gw_block_put(&b, q);
	while (b.n > 0)
		free(gw_block_get(&b));
}

/* An output queue that grows past its first block and empties again, many times: its data
 * stays whole across the move out of the cached block. */
static void
test_outq_grow_from_block(void **state)
{
	struct gw_outq q;
	char line[1000];

	(void)state;
	gw_outq_init(&q, 1 << 20);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++) {
			memset(line, 'a' + i, sizeof line);
			assert_int_equal(gw_outq_put(&q, line, sizeof line), 0);
		}
		assert_int_equal(gw_outq_pending(&q), 10 * sizeof line);
		for (int i = 0; i < 10; i++)
			assert_int_equal(gw_outq_data(&q)[i * (int)sizeof line], 'a' + i);
		gw_outq_consume(&q, gw_outq_pending(&q));
		assert_int_equal(gw_outq_pending(&q), 0);
	}
	gw_outq_fini(&q);
}

static void
test_outq_large(void **state)
{
	struct gw_outq q;
	char buf[1000];

	gw_outq_init(&q, 1 << 20);
	for (int i = 0; i < 500; i++) {
		memset(buf, 'a' + i % 26, sizeof buf);
		assert_int_equal(gw_outq_put(&q, buf, sizeof buf), 0);
		if (i % 3 == 0)
			gw_outq_consume(&q, 700);
	}
	size_t left = 500 * 1000 - 167 * 700;
	assert_int_equal(gw_outq_pending(&q), left);
	/* the last byte is the last put's */
	assert_int_equal(gw_outq_data(&q)[left - 1], 'a' + 499 % 26);
	gw_outq_fini(&q);
}

static void
test_cap_ls_list(void **state)
{
	char buf[400];
	unsigned all = GW_CAP_MESSAGE_TAGS | GW_CAP_SERVER_TIME | GW_CAP_ECHO | GW_CAP_BATCH |
	    GW_CAP_LABELED | GW_CAP_SASL | GW_CAP_MULTI_PREFIX | GW_CAP_CHATHISTORY |
	    GW_CAP_USERHOST;

	assert_true(gw_cap_ls(buf, sizeof buf, all, true) > 0);
	assert_string_equal(buf, "batch draft/chathistory echo-message labeled-response "
	    "message-tags multi-prefix sasl=PLAIN server-time userhost-in-names");
	assert_true(gw_cap_ls(buf, sizeof buf, all, false) > 0);
	assert_non_null(strstr(buf, " sasl "));
	assert_true(gw_cap_ls(buf, sizeof buf, GW_CAP_BATCH | GW_CAP_ECHO, true) > 0);
	assert_string_equal(buf, "batch echo-message");
	assert_int_equal(gw_cap_list(buf, sizeof buf, 0), 0);
	assert_string_equal(buf, "");
	assert_int_equal(gw_cap_ls(buf, 10, all, true), -1);
}

static void
test_cap_req(void **state)
{
	unsigned offered = GW_CAP_MESSAGE_TAGS | GW_CAP_SERVER_TIME | GW_CAP_BATCH | GW_CAP_SASL;
	unsigned en = 0;

	assert_int_equal(gw_cap_req("server-time  batch", offered, &en), 0);
	assert_int_equal(en, GW_CAP_SERVER_TIME | GW_CAP_BATCH);
	/* all or nothing: one unknown (or not offered) name refuses the whole request */
	assert_int_equal(gw_cap_req("message-tags foo", offered, &en), -1);
	assert_int_equal(gw_cap_req("message-tags echo-message", offered, &en), -1);
	assert_int_equal(en, GW_CAP_SERVER_TIME | GW_CAP_BATCH);
	assert_int_equal(gw_cap_req("-batch message-tags", offered, &en), 0);
	assert_int_equal(en, GW_CAP_SERVER_TIME | GW_CAP_MESSAGE_TAGS);
	assert_int_equal(gw_cap_req("", offered, &en), -1);
	assert_int_equal(gw_cap_req("   ", offered, &en), -1);
	assert_int_equal(gw_cap_req("sasl=PLAIN", offered, &en), -1);
	assert_int_equal(gw_cap_req("server", offered, &en), -1);
}

static void
test_isupport(void **state)
{
	char buf[400];
	int ntok = 1;

	assert_true(gw_isupport(buf, sizeof buf, "testnet", 100) > 0);
	for (char *p = buf; *p; p++)
		ntok += *p == ' ';
	assert_true(ntok <= 13);
	assert_non_null(strstr(buf, "CASEMAPPING=ascii "));
	assert_non_null(strstr(buf, "NETWORK=testnet "));
	assert_non_null(strstr(buf, "CHATHISTORY=100 "));
	assert_non_null(strstr(buf, "NICKLEN=30 "));
	assert_non_null(strstr(buf, "TARGMAX=JOIN:10,PART:10,NAMES:1,WHOIS:1,PRIVMSG:1,NOTICE:1 "));
	assert_non_null(strstr(buf, "CHANMODES=,,,n "));
	assert_int_equal(gw_isupport(buf, 20, "testnet", 100), -1);
}

static void
test_names_format(void **state)
{
	char buf[64];
	const char *names = "@alice!u@h  bob!u@10.0.0.1 carol";

	assert_int_equal(gw_names_format(buf, sizeof buf, names, true), 31);
	assert_string_equal(buf, "@alice!u@h bob!u@10.0.0.1 carol");
	assert_int_equal(gw_names_format(buf, sizeof buf, names, false), 16);
	assert_string_equal(buf, "@alice bob carol");
	gw_names_format(buf, 16, names, true);          /* names that do not fit: left out */
	assert_string_equal(buf, "@alice!u@h");
	gw_names_format(buf, 16, names, false);
	assert_string_equal(buf, "@alice bob");
	assert_int_equal(gw_names_format(buf, sizeof buf, "", false), 0);
	assert_string_equal(buf, "");
}

static void
test_tag_insert(void **state)
{
	char buf[600];
	const char *plain = ":srv PONG srv :x\r\n";
	const char *tagged = "@time=2026-01-02T03:04:05.678Z :a!b@c PRIVMSG #x :hi\r\n";

	assert_true(gw_tag_insert(buf, sizeof buf, plain, strlen(plain), "label", "a b;c") > 0);
	assert_string_equal(buf, "@label=a\\sb\\:c :srv PONG srv :x\r\n");
	assert_true(gw_tag_insert(buf, sizeof buf, tagged, strlen(tagged), "batch", "L1") > 0);
	assert_string_equal(buf, "@batch=L1;time=2026-01-02T03:04:05.678Z :a!b@c PRIVMSG #x :hi\r\n");
	assert_true(gw_tag_has(buf, strlen(buf), "batch"));
	assert_true(gw_tag_has(buf, strlen(buf), "time"));
	assert_false(gw_tag_has(buf, strlen(buf), "tim"));
	assert_false(gw_tag_has(plain, strlen(plain), "label"));
	assert_true(gw_tag_insert(buf, sizeof buf, plain, strlen(plain), "k", NULL) > 0);
	assert_string_equal(buf, "@k :srv PONG srv :x\r\n");
	assert_int_equal(gw_tag_insert(buf, 10, plain, strlen(plain), "label", "x"), -1);
}

static void
test_b64(void **state)
{
	char out[64];

	assert_int_equal(gw_b64_decode("AGFsaWNlAHNlY3JldA==", out, sizeof out), 13);
	assert_memory_equal(out, "\0alice\0secret", 13);
	assert_int_equal(gw_b64_decode("YWJj", out, sizeof out), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(gw_b64_decode("YQ==", out, sizeof out), 1);
	assert_int_equal(gw_b64_decode("", out, sizeof out), 0);
	assert_int_equal(gw_b64_decode("YQ=", out, sizeof out), -1);
	assert_int_equal(gw_b64_decode("Y=Q=", out, sizeof out), -1);
	assert_int_equal(gw_b64_decode("YW*j", out, sizeof out), -1);
	assert_int_equal(gw_b64_decode("YWJj", out, 2), -1);
}

static void
test_item_line(void **state)
{
	struct gw_conn *c = calloc(1, sizeof *c);
	struct chat_item it = { .seq = 1, .kind = CHAT_K_PRIVMSG, .time_ms = 1767323045678 };
	char buf[IRC_OUT_MAX];

	snprintf(it.target, sizeof it.target, "#x");
	snprintf(it.msgid, sizeof it.msgid, "00000000000004d2");
	snprintf(it.prefix, sizeof it.prefix, "a!b@c");
	snprintf(it.text, sizeof it.text, "hello world");
	assert_true(gw_item_line(c, &it, NULL, buf, sizeof buf) > 0);
	assert_string_equal(buf, ":a!b@c PRIVMSG #x :hello world\r\n");
	c->caps = GW_CAP_SERVER_TIME;
	assert_true(gw_item_line(c, &it, NULL, buf, sizeof buf) > 0);
	assert_string_equal(buf, "@time=2026-01-02T03:04:05.678Z :a!b@c PRIVMSG #x :hello world\r\n");
	c->caps = GW_CAP_SERVER_TIME | GW_CAP_MESSAGE_TAGS | GW_CAP_BATCH;
	assert_true(gw_item_line(c, &it, "H1", buf, sizeof buf) > 0);
	assert_string_equal(buf, "@batch=H1;time=2026-01-02T03:04:05.678Z;msgid=00000000000004d2 "
	    ":a!b@c PRIVMSG #x :hello world\r\n");
	it.kind = CHAT_K_JOIN;
	c->caps = 0;
	assert_true(gw_item_line(c, &it, NULL, buf, sizeof buf) > 0);
	assert_string_equal(buf, ":a!b@c JOIN #x\r\n");
	it.kind = CHAT_K_QUIT;
	snprintf(it.text, sizeof it.text, "Quit: bye");
	assert_true(gw_item_line(c, &it, NULL, buf, sizeof buf) > 0);
	assert_string_equal(buf, ":a!b@c QUIT :Quit: bye\r\n");
	it.kind = 99;
	assert_int_equal(gw_item_line(c, &it, NULL, buf, sizeof buf), -1);
	free(c);
}

static void
test_numeric_text(void **state)
{
	assert_string_equal(gw_numeric_text(403), "No such channel");
	assert_string_equal(gw_numeric_text(412), "No text to send");
	assert_string_equal(gw_numeric_text(999), "Request failed");
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_burst_then_rate),
		cmocka_unit_test(test_flood_off),
		cmocka_unit_test(test_rto),
		cmocka_unit_test(test_flood_rate_over_time),
		cmocka_unit_test(test_outq_bound),
		cmocka_unit_test(test_outq_large),
		cmocka_unit_test(test_block_cache),
		cmocka_unit_test(test_outq_grow_from_block),
		cmocka_unit_test(test_cap_ls_list),
		cmocka_unit_test(test_cap_req),
		cmocka_unit_test(test_isupport),
		cmocka_unit_test(test_names_format),
		cmocka_unit_test(test_tag_insert),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_item_line),
		cmocka_unit_test(test_numeric_text),
	};
	return cmocka_run_group_tests_name("gateway", tests, NULL, NULL);
}
