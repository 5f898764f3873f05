/* Unit tests for ipc/wire.c: round trips of every type, multi-message frames, and every way a
 * frame can be malformed (each must be rejected with EBADMSG, never read past the frame). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "letitcrash/msg.h"

static struct lc_msg
mk(uint16_t type, uint16_t flags, uint64_t ref, const char *from, const char *to,
    const void *body, size_t len)
{
	struct lc_msg m = {
		.type = type, .flags = flags, .ref = ref, .from = from, .to = to,
		.fromlen = (uint8_t)strlen(from), .tolen = (uint8_t)strlen(to),
		.body = body, .len = (uint32_t)len,
	};
	return m;
}

static void
same(const struct lc_msg *a, const struct lc_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->ref == b->ref);
	assert_int_equal(a->fromlen, b->fromlen);
	assert_int_equal(a->tolen, b->tolen);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->from, b->from, a->fromlen);
	assert_memory_equal(a->to, b->to, a->tolen);
	if (a->len)
		assert_memory_equal(a->body, b->body, a->len);
}

/* Encode m alone into buf, decode it back, compare. */
static size_t
round_trip(unsigned char *buf, size_t cap, const struct lc_msg *m)
{
	struct lc_msg d;
	size_t off = 0;
	ssize_t n = lc_wire_encode(buf, cap, m);

	assert_true(n > 0);
	assert_int_equal((size_t)n, lc_wire_size(m->fromlen, m->tolen, m->len));
	assert_int_equal(lc_wire_next(buf, (size_t)n, &off, &d), 1);
	assert_int_equal(off, (size_t)n);
	same(m, &d);
	assert_int_equal(lc_wire_next(buf, (size_t)n, &off, &d), 0);
	assert_int_equal(lc_wire_check(buf, (size_t)n), 1);
	return (size_t)n;
}

static void
test_round_trips(void **state)
{
	unsigned char buf[4096];
	struct lc_msg ms[] = {
		mk(LC_MSG_CAST, 0, 0, "a", "b", "hello", 5),
		mk(LC_MSG_CAST, 0, 0, "", "b", "", 0),
		mk(LC_MSG_CALL, LC_MSGF_CALL, UINT64_MAX, "ping", "pong", "x", 1),
		mk(LC_MSG_CALL, LC_MSGF_CALL | LC_MSGF_FORWARDED, 1, "a@east", "c@west", "", 0),
		mk(LC_MSG_REPLY, 0, 0x0102030405060708ULL, "b", "a", "ok", 2),
		mk(LC_MSG_LINK, 0, 0, "a", "b", NULL, 0),
		mk(LC_MSG_UNLINK, 0, 0, "a", "b", NULL, 0),
		mk(LC_MSG_EXIT, 0, 0, "a", "b", "killed", 6),
		mk(LC_MSG_DOWN, 0, 42, "a", "b", "noproc", 6),
		mk(LC_MSG_PING, 0, 7, "a", "b", NULL, 0),
		mk(LC_MSG_PONG, 0, 7, "a", "b", NULL, 0),
		mk(LC_MSG_APP, 0, 0, "a", "b", "\0\1\2", 3),
		mk(65535, LC_MSGF_CALL, 9, "a", "b", "z", 1),
	};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		round_trip(buf, sizeof buf, &ms[i]);
}

static void
test_big_names_and_body(void **state)
{
	char name[LC_WIRE_NAMEMAX + 2];
	size_t cap = LC_WIRE_HDR + 2 * LC_WIRE_NAMEMAX + LC_WIRE_BODYMAX;
	unsigned char *buf = malloc(cap), *body = calloc(1, LC_WIRE_BODYMAX + 1);
	struct lc_msg m;

	assert_non_null(buf);
	assert_non_null(body);
	memset(name, 'n', sizeof name);
	name[LC_WIRE_NAMEMAX] = 0;
	m = mk(LC_MSG_CAST, 0, 0, name, name, body, LC_WIRE_BODYMAX);
	assert_int_equal(round_trip(buf, cap, &m), cap);
	/* one byte too many anywhere: EMSGSIZE */
	m.len = LC_WIRE_BODYMAX + 1;
	assert_int_equal(lc_wire_encode(buf, cap + 1, &m), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(lc_wire_size(LC_WIRE_NAMEMAX + 1, 1, 0), 0);
	assert_int_equal(lc_wire_size(1, LC_WIRE_NAMEMAX + 1, 0), 0);
	m = mk(LC_MSG_CAST, 0, 0, "a", "b", "", 0);
	m.fromlen = LC_WIRE_NAMEMAX + 1;
	m.from = name;
	assert_int_equal(lc_wire_encode(buf, cap, &m), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* too small a buffer: ENOBUFS */
	m = mk(LC_MSG_CAST, 0, 0, "a", "b", "abc", 3);
	assert_int_equal(lc_wire_encode(buf, LC_WIRE_HDR + 4, &m), -1);
	assert_int_equal(errno, ENOBUFS);
	free(buf);
	free(body);
}

static void
test_encode_rejects_invalid(void **state)
{
	unsigned char buf[256];
	struct lc_msg bad[] = {
		mk(LC_MSG_INVALID, 0, 0, "a", "b", "", 0),
		mk(LC_MSG_ACTOR_MAX, 0, 0, "a", "b", "", 0),
		mk(999, 0, 0, "a", "b", "", 0),
		mk(LC_MSG_CAST, 0x0004, 0, "a", "b", "", 0),
		mk(LC_MSG_CALL, 0, 1, "a", "b", "", 0),
		mk(LC_MSG_CALL, LC_MSGF_CALL, 0, "a", "b", "", 0),
		mk(LC_MSG_REPLY, 0, 0, "a", "b", "", 0),
		mk(LC_MSG_LINK, 0, 0, "a", "b", "x", 1),
		mk(LC_MSG_EXIT, 0, 0, "a", "b", "", 0),
		mk(LC_MSG_PING, 0, 0, "a", "b", "x", 1),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		assert_int_equal(lc_wire_encode(buf, sizeof buf, &bad[i]), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void
test_multi_message_frame(void **state)
{
	unsigned char buf[8192];
	size_t off = 0, n = 0;
	struct lc_msg d, m;
	char body[32];

	for (int i = 0; i < 50; i++) {
		int k = snprintf(body, sizeof body, "message %d", i);
		m = mk(i % 2 ? LC_MSG_CAST : LC_MSG_APP + (uint16_t)i, 0, 0, "from", "to", body,
		    (size_t)k);
		ssize_t w = lc_wire_encode(buf + n, sizeof buf - n, &m);
		assert_true(w > 0);
		n += (size_t)w;
	}
	assert_int_equal(lc_wire_check(buf, n), 50);
	for (int i = 0; i < 50; i++) {
		int k = snprintf(body, sizeof body, "message %d", i);
		assert_int_equal(lc_wire_next(buf, n, &off, &d), 1);
		assert_int_equal(d.len, k);
		assert_memory_equal(d.body, body, (size_t)k);
	}
	assert_int_equal(lc_wire_next(buf, n, &off, &d), 0);
	/* a malformed last message spoils the frame */
	buf[n++] = LC_WIRE_MAGIC;
	assert_int_equal(lc_wire_check(buf, n), -1);
	assert_int_equal(errno, EBADMSG);
}

/* A frame with a good message, then damage it in every header field. */
static size_t
good(unsigned char *buf)
{
	struct lc_msg m = mk(LC_MSG_CALL, LC_MSGF_CALL, 5, "abc", "de", "body!", 5);
	ssize_t n = lc_wire_encode(buf, 256, &m);

	assert_int_equal(n, LC_WIRE_HDR + 3 + 2 + 5);
	return (size_t)n;
}

static void
expect_bad(const unsigned char *buf, size_t len)
{
	struct lc_msg d;
	size_t off = 0;

	errno = 0;
	assert_int_equal(lc_wire_next(buf, len, &off, &d), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(off, 0);
	assert_int_equal(lc_wire_check(buf, len), -1);
}

static void
test_malformed(void **state)
{
	unsigned char buf[256];
	size_t n;

	n = good(buf);
	buf[0] = 'X';
	expect_bad(buf, n);                     /* magic */
	n = good(buf);
	buf[1] = LC_WIRE_VERSION + 1;
	expect_bad(buf, n);                     /* version */
	n = good(buf);
	buf[2] = 0, buf[3] = 0;
	expect_bad(buf, n);                     /* type 0 */
	n = good(buf);
	buf[2] = 0x01, buf[3] = 0x00;
	expect_bad(buf, n);                     /* reserved type 256 */
	n = good(buf);
	buf[5] |= 0x80;
	expect_bad(buf, n);                     /* unknown flag */
	n = good(buf);
	buf[6] = LC_WIRE_NAMEMAX + 1;
	expect_bad(buf, n);                     /* from too long */
	n = good(buf);
	buf[7] = 200;
	expect_bad(buf, n);                     /* to too long */
	n = good(buf);
	buf[6] = 4;
	expect_bad(buf, n);                     /* names overrun the frame */
	n = good(buf);
	buf[19] = 6;
	expect_bad(buf, n);                     /* body overruns */
	n = good(buf);
	buf[16] = 0x10;
	expect_bad(buf, n);                     /* body over LC_WIRE_BODYMAX */
	n = good(buf);
	buf[16] = 0xff;
	expect_bad(buf, n);                     /* huge length: no overflow */
	n = good(buf);
	memset(buf + 8, 0, 8);
	expect_bad(buf, n);                     /* call without a ref */
	for (size_t cut = 1; cut < good(buf); cut++)
		expect_bad(buf, cut);           /* truncated anywhere */
}

static void
test_trailing_garbage(void **state)
{
	unsigned char buf[256];
	struct lc_msg d;
	size_t n = good(buf), off = 0;

	buf[n] = 0;
	assert_int_equal(lc_wire_next(buf, n + 1, &off, &d), 1);
	assert_int_equal(lc_wire_next(buf, n + 1, &off, &d), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(lc_wire_check(buf, n + 1), -1);
	assert_int_equal(lc_wire_check(buf, 0), -1);    /* an empty frame is malformed */
	assert_int_equal(lc_wire_check("junk", 4), -1);
}

static void
test_names(void **state)
{
	assert_string_equal(lc_msg_name(LC_MSG_CAST), "cast");
	assert_string_equal(lc_msg_name(LC_MSG_DOWN), "down");
	assert_string_equal(lc_msg_name(LC_MSG_APP + 17), "app+17");
	assert_string_equal(lc_msg_name(500), "reserved");
	assert_non_null(lc_msg_name(LC_MSG_INVALID));
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_big_names_and_body),
		cmocka_unit_test(test_encode_rejects_invalid),
		cmocka_unit_test(test_multi_message_frame),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
