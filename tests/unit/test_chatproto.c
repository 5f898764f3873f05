/* The chat workers' messages (chatd/chatproto.c): every type round-trips, bounds are enforced
 * both ways, malformed bodies are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../chatd/chatproto.h"

static struct chat_msg a, b;
static unsigned char buf[1 << 20];

static void
fill(struct chat_msg *m, uint16_t type)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	m->rid = 0x1122334455667788ULL;
	strcpy(m->conn, "chatd.1/17/42");
	strcpy(m->nick, "alice");
	strcpy(m->user, "al");
	strcpy(m->host, "127.0.0.1");
	strcpy(m->realname, "Alice Liddell");
	strcpy(m->account, "alice");
	strcpy(m->prefix, "alice!al@127.0.0.1");
	m->op = CHAT_K_PRIVMSG;
	strcpy(m->target, "#lobby");
	strcpy(m->text, "hello, world");
	strcpy(m->dedupe, "chatd.1/17/42:9");
	m->status = 404;
	m->seq = 77;
	m->limit = 50;
	strcpy(m->ref1, "msgid=0000000000000001");
	strcpy(m->ref2, "*");
	m->time_ms = 1795329006951;
	strcpy(m->password, "s3cret");
	strcpy(m->names, "@alice bob");
	m->item = (struct chat_item){ .seq = 5, .id = 99, .kind = CHAT_K_NOTICE, .time_ms = 12 };
	strcpy(m->item.target, "#lobby");
	strcpy(m->item.msgid, "0000000000000063");
	strcpy(m->item.text, "an item");
	m->nitems = 3;
	for (int i = 0; i < 3; i++) {
		m->items[i] = m->item;
		m->items[i].seq = (uint64_t)i + 1;
	}
}

/* Compare the fields the type's schema carries. */
static void
same(const struct chat_msg *x, const struct chat_msg *y, const char *sc)
{
	assert_int_equal(x->type, y->type);
	for (; *sc; sc++) {
		switch (*sc) {
		case 'r': assert_true(x->rid == y->rid); break;
		case 'c': assert_string_equal(x->conn, y->conn); break;
		case 'n': assert_string_equal(x->nick, y->nick); break;
		case 'x': assert_string_equal(x->text, y->text); break;
		case 'N': assert_string_equal(x->names, y->names); break;
		case 'w': assert_string_equal(x->password, y->password); break;
		case 'm': assert_true(x->time_ms == y->time_ms); break;
		case 'i': assert_memory_equal(&x->item, &y->item, sizeof x->item); break;
		case 'I':
			assert_int_equal(x->nitems, y->nitems);
			assert_memory_equal(x->items, y->items, x->nitems * sizeof *x->items);
			break;
		default: break;
		}
	}
}

static void
test_every_type_round_trips(void **state)
{
	for (uint16_t t = CHAT_REGISTER; t < CHAT_TYPE_END; t++) {
		fill(&a, t);
		ssize_t n = chat_encode(&a, buf, sizeof buf);
		assert_true(n > 0);
		assert_int_equal(chat_decode(t, buf, (size_t)n, &b), 0);
		same(&a, &b, chat_schema(t));
		assert_non_null(chat_type_name(t));
		/* one byte short, one byte more: both malformed */
		if (n > 0) {
			errno = 0;
			assert_int_equal(chat_decode(t, buf, (size_t)n - 1, &b), -1);
			assert_int_equal(errno, EBADMSG);
		}
		buf[n] = 0;
		assert_int_equal(chat_decode(t, buf, (size_t)n + 1, &b), -1);
	}
}

static void
test_not_ours(void **state)
{
	fill(&a, LC_MSG_CAST);
	errno = 0;
	assert_int_equal(chat_encode(&a, buf, sizeof buf), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(chat_decode(CHAT_TYPE_END, buf, 0, &b), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(chat_schema(LC_MSG_APP));
}

static void
test_bounds(void **state)
{
	fill(&a, CHAT_REGISTER);
	memset(a.nick, 'x', sizeof a.nick);          /* no NUL: over its bound */
	assert_int_equal(chat_encode(&a, buf, sizeof buf), -1);
	assert_int_equal(errno, EMSGSIZE);

	fill(&a, CHAT_ITEMS);
	a.nitems = CHAT_ITEMS_MAX + 1;
	assert_int_equal(chat_encode(&a, buf, sizeof buf), -1);

	fill(&a, CHAT_ITEMS);
	ssize_t n = chat_encode(&a, buf, 10);        /* buffer too small */
	assert_int_equal(n, -1);

	/* A nick of 31 bytes on the wire (bound 30): refused by the decoder. */
	fill(&a, CHAT_REGISTERED);
	n = chat_encode(&a, buf, sizeof buf);
	assert_true(n > 0);
	unsigned char evil[256];
	size_t k = 0;
	memcpy(evil, buf, 8 + 2 + strlen(a.conn));   /* rid, conn */
	k = 8 + 2 + strlen(a.conn);
	evil[k++] = 0;
	evil[k++] = 31;
	memset(evil + k, 'n', 31);
	k += 31;
	assert_int_equal(chat_decode(CHAT_REGISTERED, evil, k, &b), -1);
	assert_int_equal(errno, EBADMSG);

	/* An item count over the maximum. */
	unsigned char many[16] = { 0 };
	many[8] = 0; many[9] = 0;                    /* rid, empty target */
	many[10] = 0xff; many[11] = 0xff;            /* 65535 items */
	assert_int_equal(chat_decode(CHAT_ITEMS, many, 12, &b), -1);
}

/* A connection id's gateway and incarnation: "GATEWAY/FD/SERIAL/PID". */
static void
test_conn_id(void **state)
{
	assert_int_equal(chat_conn_pid("chatd.3/17/1763842000123/4242"), 4242);
	assert_int_equal(chat_conn_gwlen("chatd.3/17/1763842000123/4242"), 7);
	assert_int_equal(chat_conn_pid("chatd.0/5/1"), 0);              /* before pids */
	assert_int_equal(chat_conn_gwlen("chatd.0"), 7);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/"), 0);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/0"), 0);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/-3"), 0);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/12x"), 0);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/12/3"), 0);
	assert_int_equal(chat_conn_pid("chatd.0/5/1/99999999999"), 0); /* over a pid_t */
	assert_int_equal(chat_conn_pid("chatd.0/5/1/2147483647"), 2147483647);
	assert_int_equal(chat_conn_pid(""), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_round_trips),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_conn_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
