/* The chat backend's pure state (chatd/backend.c): users rebuilt from session events (what a
 * restarted session and storage do), channels from channel events, the POST target check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../chatd/backend.h"

static void
reg(struct bk_users *t, const char *nick, const char *conn)
{
	char d[CHAT_TEXT_MAX + 1];

	assert_int_equal(bk_reg_data(d, sizeof d, conn, "u", "h", "Real Name", ""), 0);
	assert_int_equal(bk_user_apply(t, nick, BK_EV_REG, d), 0);
}

static void
test_user_events(void **st)
{
	struct bk_users t = { 0 };
	struct bk_user *u;

	reg(&t, "Alice", "chatd.0/5/1");
	u = bk_user_find(&t, "ALICE");
	assert_non_null(u);
	assert_true(u->registered);
	assert_string_equal(u->conn, "chatd.0/5/1");
	assert_string_equal(u->nick, "Alice");
	assert_string_equal(u->realname, "Real Name");
	assert_string_equal(u->account, "");
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_JOIN, "#A"), 0);
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_JOIN, "#a"), 0);    /* again: no-op */
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_JOIN, "#b"), 0);
	assert_int_equal(u->nchans, 2);
	assert_true(bk_user_in(u, "#a"));
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_PART, "#a"), 0);
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_PART, "#a"), 0);    /* again: no-op */
	assert_false(bk_user_in(u, "#a"));
	assert_true(bk_user_in(u, "#B"));
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_UNREG, "bye"), 0);
	assert_false(u->registered);
	assert_int_equal(u->nchans, 0);
	assert_int_equal(bk_user_apply(&t, "alice", BK_EV_REG, "too\nfew"), -1);
	assert_int_equal(bk_user_apply(&t, "alice", 99, ""), -1);
	bk_users_fini(&t);
}

/* A session's recovery: the state storage sends (REG + JOINs per registered user) applied to an
 * empty table, twice (a resent load), gives the table it came from. */
static void
test_recovery_from_events(void **st)
{
	struct bk_users a = { 0 }, b = { 0 };
	char d[CHAT_TEXT_MAX + 1];

	reg(&a, "bob", "chatd.1/2/3");
	bk_user_apply(&a, "bob", BK_EV_JOIN, "#x");
	reg(&a, "eve", "chatd.0/1/1");
	bk_user_apply(&a, "eve", BK_EV_UNREG, "");
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < a.n; i++) {
			struct bk_user *u = a.v[i];
			if (!u->registered)
				continue;
			bk_reg_data(d, sizeof d, u->conn, u->user, u->host, u->realname, u->account);
			assert_int_equal(bk_user_apply(&b, u->nick, BK_EV_REG, d), 0);
			for (size_t k = 0; k < u->nchans; k++)
				assert_int_equal(bk_user_apply(&b, u->nick, BK_EV_JOIN, u->chans[k]), 0);
		}
	assert_int_equal(b.n, 1);
	assert_string_equal(b.v[0]->conn, "chatd.1/2/3");
	assert_int_equal(b.v[0]->nchans, 1);
	assert_true(bk_user_in(b.v[0], "#X"));
	assert_null(bk_user_find(&b, "eve"));
	bk_users_fini(&a);
	bk_users_fini(&b);
}

static void
test_channels_and_post_check(void **st)
{
	struct bk_chans c = { 0 };
	struct bk_users u = { 0 };
	char names[64];
	struct bk_chan *ch;

	reg(&u, "alice", "chatd.0/1/1");
	reg(&u, "bob", "chatd.0/2/1");
	assert_int_equal(bk_post_check(&c, &u, "alice", "#a"), 403);
	assert_int_equal(bk_chan_apply(&c, "#A", CHAT_K_JOIN, "1\nalice!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "2\nbob!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "2\nbob!u@h\n"), 0);
	ch = bk_chan_find(&c, "#a");
	bk_chan_names(ch, names, sizeof names);
	assert_string_equal(names, "@alice!u@h bob!u@h");     /* the creator is operator */
	assert_int_equal(ch->created_ms, 1);
	assert_true(bk_chan_is_op(ch, "ALICE"));
	assert_false(bk_chan_is_op(ch, "bob"));
	bk_chan_names(ch, names, 12);                   /* whole names only */
	assert_string_equal(names, "@alice!u@h");
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_TOPIC, "3\nbob!u@h\nhello world"), 0);
	assert_string_equal(ch->topic, "hello world");
	assert_string_equal(ch->setter, "bob!u@h");
	assert_int_equal(ch->topic_ms, 3);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_PART, "4\nbob!u@h\nbye"), 0);
	assert_int_equal(bk_post_check(&c, &u, "alice", "#a"), 0);
	assert_int_equal(bk_post_check(&c, &u, "BOB", "#A"), 404);
	assert_int_equal(bk_post_check(&c, &u, "alice", "Bob"), 0);
	assert_int_equal(bk_post_check(&c, &u, "alice", "carol"), 401);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_QUIT, "5\nalice!u@h\nquit"), 0);
	assert_int_equal(bk_post_check(&c, &u, "alice", "#a"), 403);
	assert_string_equal(ch->topic, "");             /* an emptied channel is gone */
	assert_int_equal(ch->created_ms, 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "no time"), -1);
	assert_int_equal(bk_chan_apply(&c, "#a", 99, "1\nx\n"), -1);
	bk_chans_fini(&c);
	bk_users_fini(&u);
}

/* A JOIN records where the member's live stream starts: the message seq in its text, the
 * event's stream position from the channel's seq (set by the caller); a repeated JOIN keeps
 * the first. */
static void
test_join_point(void **st)
{
	struct bk_chans c = { 0 };
	const struct bk_member *m;
	struct bk_chan *ch = bk_chan_get(&c, "#j");

	ch->seq = 1;
	assert_int_equal(bk_chan_apply(&c, "#j", CHAT_K_JOIN, "10\nalice!u@h\n"), 0);
	ch->seq = 2;
	assert_int_equal(bk_chan_apply(&c, "#j", CHAT_K_JOIN, "10\nbob!u@h\n42"), 0);
	ch->seq = 3;
	assert_int_equal(bk_chan_apply(&c, "#j", CHAT_K_JOIN, "11\nBob!u@h\n99"), 0);
	assert_non_null(m = bk_chan_find_member(ch, "alice"));
	assert_int_equal(m->join_seq, 0);               /* older journals: no seq, from 0 */
	assert_int_equal(m->join_ev, 1);
	assert_non_null(m = bk_chan_find_member(ch, "BOB"));
	assert_int_equal(m->join_seq, 42);
	assert_int_equal(m->join_ev, 2);
	assert_null(bk_chan_find_member(ch, "carol"));
	bk_chans_fini(&c);
}

/* WHO, WHOIS and LIST data (chat-storage's queries). */
static void
test_who_whois_list(void **st)
{
	struct bk_chans c = { 0 };
	struct bk_users u = { 0 };
	char buf[256];

	reg(&u, "alice", "chatd.0/1/1");
	reg(&u, "bob", "chatd.0/2/1");
	assert_int_equal(bk_chan_apply(&c, "#A", CHAT_K_JOIN, "1\nalice!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "2\nbob!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_JOIN, "3\nbob!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_TOPIC, "4\nbob!u@h\nthe b topic"), 0);
	assert_int_equal(bk_chan_apply(&c, "#gone", CHAT_K_JOIN, "5\nbob!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#gone", CHAT_K_PART, "6\nbob!u@h\n"), 0);
	assert_int_equal(bk_user_apply(&u, "bob", BK_EV_JOIN, "#a"), 0);
	assert_int_equal(bk_user_apply(&u, "bob", BK_EV_JOIN, "#b"), 0);

	bk_who(bk_chan_find(&c, "#a"), &u, NULL, buf, sizeof buf);
	assert_string_equal(buf, "@alice!u@h Real Name\nbob!u@h Real Name\n");
	bk_who(NULL, &u, bk_user_find(&u, "BOB"), buf, sizeof buf);
	assert_string_equal(buf, "bob!u@h Real Name\n");
	bk_who(bk_chan_find(&c, "#a"), &u, NULL, buf, 30);     /* whole lines only */
	assert_string_equal(buf, "@alice!u@h Real Name\n");
	bk_user_chans(&c, bk_user_find(&u, "bob"), buf, sizeof buf);
	assert_string_equal(buf, "#a @#b");
	bk_chan_list(&c, buf, sizeof buf);
	assert_string_equal(buf, "#a 2 \n#b 1 the b topic\n");
	bk_chan_list(&c, buf, 8);
	assert_string_equal(buf, "#a 2 \n");
	bk_chans_fini(&c);
	bk_users_fini(&u);
}

/* Where each nick is a member (bk_nick_chans, bk_member_chans): kept by every event, in
 * join order, and the same as asking every channel. */
static void
test_member_index(void **st)
{
	static const char *nicks[] = { "alice", "bob", "carol" };
	struct bk_chans c = { 0 };
	struct bk_chan **v;
	char data[64];
	unsigned seed = 7;

	assert_int_equal(bk_chan_apply(&c, "#c", CHAT_K_JOIN, "1\nalice!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "2\nAlice!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_JOIN, "3\nalice!u@h\n"), 0);
	assert_int_equal(bk_nick_chans(&c, "ALICE", &v), 3);
	assert_string_equal(v[0]->key, "#c");
	assert_string_equal(v[2]->key, "#b");
	free(v);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_PART, "4\nalice!u@h\nbye"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_QUIT, "5\nalice!u@h\nbye"), 0);
	assert_int_equal(bk_nick_chans(&c, "alice", &v), 1);
	assert_ptr_equal(v[0], bk_chan_find(&c, "#c"));
	free(v);
	assert_int_equal(bk_nick_chans(&c, "nobody", &v), 0);
	assert_null(v);
	/* random events: the index says what every channel's member list says */
	for (int i = 0; i < 2000; i++) {
		const char *n = nicks[rand_r(&seed) % 3];
		char chan[8];
		snprintf(chan, sizeof chan, "#%c", 'a' + rand_r(&seed) % 5);
		int k = rand_r(&seed) % 4;
		if (k == 3)
			snprintf(data, sizeof data, "9\n%s!u@h\n%s", n, nicks[rand_r(&seed) % 3]);
		else
			snprintf(data, sizeof data, "9\n%s!u@h\nx", n);
		assert_int_equal(bk_chan_apply(&c, chan, k == 0 ? CHAT_K_JOIN : k == 1 ?
		    CHAT_K_PART : k == 2 ? CHAT_K_JOIN : CHAT_K_NICK, data), 0);
		/* the same set: as many, each a member, none twice */
		for (int m = 0; m < 3; m++) {
			int want = 0, got = bk_nick_chans(&c, nicks[m], &v);
			for (size_t ci = 0; ci < c.n; ci++)
				want += bk_chan_member(c.v[ci], nicks[m]);
			assert_int_equal(got, want);
			for (int a = 0; a < got; a++) {
				assert_true(bk_chan_member(v[a], nicks[m]));
				for (int b = a + 1; b < got; b++)
					assert_ptr_not_equal(v[a], v[b]);
			}
			free(v);
		}
	}
	bk_chans_fini(&c);
}

/* A nick change in the channels: one NICK event per channel renames the member (operator
 * status, user@host and join point kept); applied again (a retry, a replay) it changes
 * nothing; a change of case only renames in place. */
static void
test_nick_rename(void **st)
{
	struct bk_chans c = { 0 };
	struct bk_chan *a, *b;
	const struct bk_member *m;
	char buf[128];

	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "1\nalice!ua@ha\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_JOIN, "2\nbob!u@h\n7"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_JOIN, "3\nbob!u@h\n"), 0);
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_JOIN, "4\nalice!ua@ha\n"), 0);
	a = bk_chan_find(&c, "#a");
	b = bk_chan_find(&c, "#b");
	bk_member_chans(&c, "ALICE", buf, sizeof buf);
	assert_string_equal(buf, "#a #b");
	for (int round = 0; round < 2; round++) {
		assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_NICK, "5\nalice!ua@ha\nZed"), 0);
		bk_chan_names(a, buf, sizeof buf);
		assert_string_equal(buf, "@Zed!ua@ha bob!u@h");
	}
	assert_false(bk_chan_member(a, "alice"));
	assert_true(bk_chan_is_op(a, "zed"));
	bk_member_chans(&c, "alice", buf, sizeof buf);
	assert_string_equal(buf, "#b");                 /* #b not renamed yet: halfway */
	bk_member_chans(&c, "zed", buf, sizeof buf);
	assert_string_equal(buf, "#a");
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_NICK, "5\nalice!ua@ha\nZed"), 0);
	bk_member_chans(&c, "zed", buf, sizeof buf);
	assert_string_equal(buf, "#a #b");
	bk_member_chans(&c, "alice", buf, sizeof buf);
	assert_string_equal(buf, "");
	/* case only: the same key, shown otherwise */
	assert_int_equal(bk_chan_apply(&c, "#b", CHAT_K_NICK, "6\nbob!u@h\nBOB"), 0);
	assert_non_null(m = bk_chan_find_member(b, "bob"));
	assert_string_equal(m->nick, "BOB");
	assert_string_equal(m->prefix, "BOB!u@h");
	assert_true(m->op);              /* bob created #b */
	assert_non_null(m = bk_chan_find_member(a, "bob"));
	assert_int_equal(m->join_seq, 7);
	/* the new nick a member already (a journal is what it is): one member, operator kept */
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_NICK, "7\nZed!ua@ha\nbob"), 0);
	assert_int_equal(a->n, 1);
	assert_true(bk_chan_is_op(a, "bob"));
	/* not a nick */
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_NICK, "8\nbob!u@h\n"), -1);
	assert_int_equal(bk_chan_apply(&c, "#a", CHAT_K_NICK, "8\nbob!u@h\na b"), -1);
	bk_chans_fini(&c);
}

/* The session side: BK_EV_NICK shows a nick otherwise (same key only), and who may rename. */
static void
test_nick_user_events(void **st)
{
	struct bk_users u = { 0 };

	reg(&u, "alice", "chatd.0/1/1");
	assert_int_equal(bk_user_apply(&u, "alice", BK_EV_JOIN, "#a"), 0);
	assert_int_equal(bk_user_apply(&u, "alice", BK_EV_NICK, "ALICE"), 0);
	assert_string_equal(bk_user_find(&u, "alice")->nick, "ALICE");
	assert_int_equal(bk_user_find(&u, "alice")->nchans, 1);
	assert_int_equal(bk_user_apply(&u, "alice", BK_EV_NICK, "bob"), -1);  /* another key */
	assert_int_equal(bk_user_apply(&u, "carol", BK_EV_NICK, "carol"), -1); /* unknown */
	assert_null(bk_user_find(&u, "carol"));
	/* the new nick claimed by the same connection: both its nicks */
	assert_false(bk_nick_owned(&u, "alice", "zed", "chatd.0/1/1"));
	reg(&u, "zed", "chatd.0/1/1");
	assert_true(bk_nick_owned(&u, "alice", "zed", "chatd.0/1/1"));
	assert_true(bk_nick_owned(&u, "alice", "Alice", "chatd.0/1/1"));     /* case only */
	assert_false(bk_nick_owned(&u, "alice", "zed", "chatd.1/1/1"));
	assert_false(bk_nick_owned(&u, "alice", "zed", ""));
	/* a late copy after the change: alice released, then taken by another connection */
	assert_int_equal(bk_user_apply(&u, "alice", BK_EV_UNREG, "Nick change to zed"), 0);
	assert_false(bk_nick_owned(&u, "alice", "zed", "chatd.0/1/1"));
	reg(&u, "alice", "chatd.1/4/2");
	assert_false(bk_nick_owned(&u, "alice", "zed", "chatd.0/1/1"));
	bk_users_fini(&u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_events),
		cmocka_unit_test(test_recovery_from_events),
		cmocka_unit_test(test_channels_and_post_check),
		cmocka_unit_test(test_join_point),
		cmocka_unit_test(test_who_whois_list),
		cmocka_unit_test(test_nick_rename),
		cmocka_unit_test(test_member_index),
		cmocka_unit_test(test_nick_user_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
