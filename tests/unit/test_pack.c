/* Message bodies field by field (ipc/pack.c): round trips, overflow, short and trailing bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "letitcrash/pack.h"

static void
test_round_trip(void **state)
{
	unsigned char buf[64];
	struct lc_pack p;
	lc_pack_init(&p, buf, sizeof buf);
	lc_pack_u8(&p, 0xab);
	lc_pack_u16(&p, 0x1234);
	lc_pack_u32(&p, 0xdeadbeef);
	lc_pack_u64(&p, 0x0102030405060708ULL);
	lc_pack_i64(&p, -5);
	lc_pack_cstr(&p, "hello");
	lc_pack_str(&p, "a\0b", 3);
	lc_pack_cstr(&p, NULL);
	assert_int_equal(lc_pack_end(&p), 1 + 2 + 4 + 8 + 8 + 7 + 5 + 2);
	/* big-endian on the wire */
	assert_memory_equal(buf, "\xab\x12\x34\xde\xad\xbe\xef\x01\x02\x03\x04\x05\x06\x07\x08", 15);

	struct lc_unpack u;
	char s[16];
	size_t n;
	lc_unpack_init(&u, buf, (size_t)lc_pack_end(&p));
	assert_int_equal(lc_unpack_u8(&u), 0xab);
	assert_int_equal(lc_unpack_u16(&u), 0x1234);
	assert_int_equal(lc_unpack_u32(&u), 0xdeadbeef);
	assert_true(lc_unpack_u64(&u) == 0x0102030405060708ULL);
	assert_true(lc_unpack_i64(&u) == -5);
	assert_string_equal(lc_unpack_cstr(&u, s, sizeof s), "hello");
	const char *b = lc_unpack_str(&u, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(b, "a\0b", 3);
	assert_string_equal(lc_unpack_cstr(&u, s, sizeof s), "");
	assert_int_equal(lc_unpack_end(&u), 0);
}

static void
test_overflow(void **state)
{
	unsigned char buf[5];
	struct lc_pack p;
	lc_pack_init(&p, buf, sizeof buf);
	lc_pack_u32(&p, 1);
	lc_pack_u16(&p, 2);             /* does not fit: remembered */
	lc_pack_u8(&p, 3);              /* would fit, but the body is already lost */
	errno = 0;
	assert_int_equal(lc_pack_end(&p), -1);
	assert_int_equal(errno, EMSGSIZE);

	unsigned char big[70000];
	lc_pack_init(&p, big, sizeof big);
	lc_pack_str(&p, (const char *)big, 65536);      /* over u16 */
	assert_int_equal(lc_pack_end(&p), -1);
}

static void
test_short_and_trailing(void **state)
{
	const unsigned char body[] = { 0, 5, 'a', 'b' };     /* says 5 bytes, has 2 */
	struct lc_unpack u;
	size_t n;
	lc_unpack_init(&u, body, sizeof body);
	assert_null(lc_unpack_str(&u, &n));
	assert_int_equal(n, 0);
	assert_int_equal(lc_unpack_end(&u), -1);

	const unsigned char two[] = { 0, 1, 0xff };         /* a u16, then a stray byte */
	lc_unpack_init(&u, two, sizeof two);
	assert_int_equal(lc_unpack_u16(&u), 1);
	assert_int_equal(lc_unpack_end(&u), -1);

	lc_unpack_init(&u, two, 1);                         /* u32 from 1 byte */
	assert_int_equal(lc_unpack_u32(&u), 0);
	assert_int_equal(lc_unpack_u8(&u), 0);              /* stays bad */
	assert_int_equal(lc_unpack_end(&u), -1);

	lc_unpack_init(&u, NULL, 0);
	assert_int_equal(lc_unpack_end(&u), 0);             /* empty body, nothing read: fine */
}

static void
test_cstr_rules(void **state)
{
	unsigned char buf[32];
	struct lc_pack p;
	struct lc_unpack u;
	char s[4];
	lc_pack_init(&p, buf, sizeof buf);
	lc_pack_str(&p, "a\0b", 3);                         /* a NUL inside: not a C string */
	lc_unpack_init(&u, buf, (size_t)lc_pack_end(&p));
	assert_null(lc_unpack_cstr(&u, s, sizeof s));
	assert_string_equal(s, "");
	assert_int_equal(lc_unpack_end(&u), -1);

	lc_pack_init(&p, buf, sizeof buf);
	lc_pack_cstr(&p, "abcd");                           /* 4 bytes + NUL > cap 4 */
	lc_unpack_init(&u, buf, (size_t)lc_pack_end(&p));
	assert_null(lc_unpack_cstr(&u, s, sizeof s));
	assert_int_equal(lc_unpack_end(&u), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_short_and_trailing),
		cmocka_unit_test(test_cstr_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
