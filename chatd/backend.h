/* The chat backend's pure state (docs/chat.md), shared by chat-session and chat-storage and
 * unit-tested (tests/unit/test_backend.c): the user table rebuilt from session events, the
 * channel table rebuilt from channel events, and the POST target check. No I/O, no printing.
 *
 * Session events (journal session streams named by the casefolded nick; kind, data):
 *   BK_EV_REG    "conn\nuser\nhost\nrealname\naccount"   the nick is registered by conn
 *   BK_EV_UNREG  reason                                  unregistered; out of every channel
 *   BK_EV_JOIN   channel (casefolded)                    BK_EV_PART  channel
 *   BK_EV_NICK   the nick as shown (same casefolding: a change of case only)
 * Channel events (journal session streams named by the casefolded channel, "#..."; kind is
 * a chat_kind: CHAT_K_JOIN, CHAT_K_PART, CHAT_K_QUIT, CHAT_K_TOPIC, CHAT_K_NICK):
 *   "time_ms\nprefix\ntext"  (text: the part/quit reason or the topic; for a JOIN, the
 *   channel's last message seq when it was journaled, in decimal: the joiner's live stream
 *   starts after it; for a NICK, the member's new nick: prefix is its old one)
 * Events are state-setting: applying the same event twice in a row changes nothing, which is
 * what makes a retried, already committed event harmless. */
#ifndef CHATD_BACKEND_H
#define CHATD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "chatproto.h"

enum bk_ev { BK_EV_REG = 1, BK_EV_UNREG, BK_EV_JOIN, BK_EV_PART, BK_EV_NICK };

struct bk_user {
	char key[CHAT_NICK_MAX + 1];            /* casefolded nick */
	char nick[CHAT_NICK_MAX + 1];           /* as registered */
	int registered;
	char conn[CHAT_CONN_MAX + 1];
	char user[CHAT_USER_MAX + 1];
	char host[CHAT_HOST_MAX + 1];
	char realname[CHAT_REAL_MAX + 1];
	char account[CHAT_ACCOUNT_MAX + 1];
	char (*chans)[CHAT_TARGET_MAX + 1];     /* casefolded channel names */
	size_t nchans, capchans;
	/* chat-storage's bookkeeping: the last event journaled (seq, kind, data) */
	int64_t seq;
	int last_kind;
	char last_data[CHAT_TEXT_MAX + 1];
};

/* A hash index over a table's v[] by key (open addressing: slot = index + 1, 0 empty). */
struct bk_index {
	size_t *slot;
	size_t n;                               /* slots: 0 or a power of 2 above twice the rows */
};

struct bk_users {
	struct bk_user **v;
	size_t n, cap;
	struct bk_index ix;
};

struct bk_member {
	char key[CHAT_NICK_MAX + 1];
	char nick[CHAT_NICK_MAX + 1];
	char prefix[CHAT_PREFIX_MAX + 1];       /* "nick!user@host" of its JOIN */
	int op;                                 /* channel operator: the one who created it */
	/* where the member's live stream starts: messages with seq > join_seq, channel events
	 * after stream position join_ev (its JOIN event) */
	int64_t join_seq, join_ev;
};

struct bk_chan {
	char key[CHAT_TARGET_MAX + 1];          /* casefolded */
	struct bk_member *m;
	size_t n, cap;
	char topic[CHAT_TEXT_MAX + 1];
	char setter[CHAT_PREFIX_MAX + 1];
	int64_t topic_ms;
	int64_t created_ms;                     /* the JOIN that made it non-empty */
	int64_t seq;                            /* events in its journal stream */
	/* chat-storage's: the gateways serving its members (a bitmap, NULL until first
	 * needed), to be rebuilt if gw_stale (bk_chan_apply sets it when a member comes or
	 * goes) */
	uint64_t *gw;
	int gw_stale;
};

/* Where a member is: its channels in the order it joined them (bk_chan_apply keeps them), so
 * that a QUIT or a nick change visits its channels, not every channel (at a million users,
 * every channel's member list was a million comparisons per QUIT). */
struct bk_where {
	char key[CHAT_NICK_MAX + 1];            /* casefolded nick */
	struct bk_chan **c;
	size_t n, cap;
};

struct bk_chans {
	struct bk_chan **v;
	size_t n, cap;
	struct bk_index ix;
	struct bk_where **w;                    /* by nick; rows are never removed */
	size_t wn, wcap;
	struct bk_index wix;
};

/* backend.c */
/* Casefold (CASEMAPPING=ascii) s into out[cap], truncating. */
void bk_fold(const char *s, char *out, size_t cap);
/* The nick of a prefix "nick!user@host" into out[cap]. */
void bk_prefix_nick(const char *prefix, char *out, size_t cap);

struct bk_user *bk_user_find(const struct bk_users *t, const char *nick);
/* Find or create (unregistered); NULL on ENOMEM. */
struct bk_user *bk_user_get(struct bk_users *t, const char *nick);
/* Apply one session event of `nick`. 0, or -1 (EINVAL: unknown kind or malformed data,
 * ENOMEM); the table is unchanged on EINVAL. */
int  bk_user_apply(struct bk_users *t, const char *nick, int kind, const char *data);
int  bk_user_in(const struct bk_user *u, const char *chan);
/* "nick!user@host" into buf[cap]. */
void bk_user_prefix(const struct bk_user *u, char *buf, size_t cap);
/* The REG event's data; -1 (EMSGSIZE) if it does not fit. */
int  bk_reg_data(char *buf, size_t cap, const char *conn, const char *user, const char *host,
    const char *realname, const char *account);
void bk_users_fini(struct bk_users *t);

struct bk_chan *bk_chan_find(const struct bk_chans *t, const char *chan);
struct bk_chan *bk_chan_get(struct bk_chans *t, const char *chan);
/* Apply one channel event (kind, data as above). 0 or -1 (EINVAL, ENOMEM). The caller sets
 * the channel's seq to the event's stream position first (a JOIN records it as join_ev). */
int  bk_chan_apply(struct bk_chans *t, const char *chan, int kind, const char *data);
int  bk_chan_member(const struct bk_chan *c, const char *nick);
/* The member entry of nick, or NULL. */
const struct bk_member *bk_chan_find_member(const struct bk_chan *c, const char *nick);
/* Whether nick is a member and operator of c. */
int  bk_chan_is_op(const struct bk_chan *c, const char *nick);
/* Space-separated members as "[@]nick!user@host" into buf[cap] (cut at a whole name). */
void bk_chan_names(const struct bk_chan *c, char *buf, size_t cap);
/* WHO data: one line "[@]nick!user@host realname\n" per member of c (realname from ut, ""
 * if unknown), or for the user u alone when c is NULL; cut at a whole line. */
void bk_who(const struct bk_chan *c, const struct bk_users *ut, const struct bk_user *u,
    char *buf, size_t cap);
/* The channels of u, space-separated, "@" before those it operates (WHOIS 319). */
void bk_user_chans(const struct bk_chans *ct, const struct bk_user *u, char *buf, size_t cap);
/* LIST data: one line "#chan members topic\n" per non-empty channel; cut at a whole line. */
void bk_chan_list(const struct bk_chans *ct, char *buf, size_t cap);
/* The channels (casefolded keys) nick is a member of, space-separated, into buf[cap] (cut at
 * a whole name). */
void bk_member_chans(const struct bk_chans *ct, const char *nick, char *buf, size_t cap);
/* The channels nick is a member of, in join order, as a copy in *v (the caller frees it;
 * NULL if none): their number, or -1 (ENOMEM). A copy: applying an event changes them. */
int  bk_nick_chans(const struct bk_chans *ct, const char *nick, struct bk_chan ***v);
/* May the connection `conn` rename `from` to `to` in the channels? Both nicks must be
 * registered by conn (to is claimed first; the same user for a change of case only). 1 or 0:
 * a late copy of a finished change's request must not rename someone who took `from` since. */
int  bk_nick_owned(const struct bk_users *ut, const char *from, const char *to, const char *conn);
/* Split channel event data into its parts (pointers into a copy held by the caller's buf). */
int  bk_chan_event_split(char *data, int64_t *ms, char **prefix, char **text);
void bk_chans_fini(struct bk_chans *t);

/* May `sender` (a nick) POST to `target`? 0; 401 no such nick (a nick not registered),
 * 403 no such channel (no members), 404 cannot send to channel (not a member). */
unsigned bk_post_check(const struct bk_chans *ct, const struct bk_users *ut, const char *sender,
    const char *target);

#endif
