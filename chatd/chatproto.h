/* The chat service's messages between its workers (docs/chat.md, "Messages between the
 * workers"). Every message is a cast (no library call/reply: gateways never block) whose body
 * is packed with letitcrash/pack.h following one schema per type: a string of field codes.
 * One encoder and one decoder serve every type; the decoder checks each field's length against
 * its bound and fails on short or trailing bytes (fuzz target tests/fuzz/fuzz_chatproto.c). */
#ifndef CHATPROTO_H
#define CHATPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "letitcrash/msg.h"

enum chat_type {
	CHAT_REGISTER = LC_MSG_APP + 1, /* gateway -> session: rid conn nick user host realname account */
	CHAT_REGISTERED,        /* session -> gateway: rid conn nick */
	CHAT_NICK_IN_USE,       /* session -> gateway: rid conn nick */
	CHAT_UNREGISTER,        /* gateway -> session: rid conn nick text(reason) */
	CHAT_CHANNEL_OP,        /* gateway -> session -> storage: rid conn nick prefix op target text */
	CHAT_CHANNEL_DONE,      /* storage -> session -> gateway: rid conn status op target text(topic)
	                           prefix(topic setter) time(topic time) names; for JOIN, where the
	                           joiner's live stream starts: seq (messages) evseq (events); for
	                           the queries (WHO..MODE, storage -> gateway) see chat-storage.c
	                           on_query */
	CHAT_POST,              /* gateway -> storage: rid conn dedupe prefix account op(kind) target text */
	CHAT_POSTED,            /* storage -> gateway: rid conn item (after the commit) */
	CHAT_POST_FAILED,       /* storage -> gateway: rid conn status(numeric) target */
	CHAT_ITEM,              /* storage -> the gateways of its target's members: item */
	CHAT_SINCE,             /* gateway -> storage: rid target seq limit */
	CHAT_ITEMS,             /* storage -> gateway: rid target items */
	CHAT_HISTORY,           /* gateway -> storage: rid conn nick target op(subcommand) ref1 ref2 limit */
	CHAT_HISTORY_ROWS,      /* storage -> gateway: rid conn status target items */
	CHAT_AUTH,              /* gateway -> storage: rid conn account password */
	CHAT_AUTH_OK,           /* storage -> gateway: rid conn account */
	CHAT_AUTH_FAIL,         /* storage -> gateway: rid conn */
	CHAT_SESSION_EVENT,     /* session -> storage: rid nick op(kind) text(data); acked by CHAT_ACK */
	CHAT_SESSION_LOAD,      /* session -> storage: rid seq(shard) limit(shards) */
	CHAT_SESSION_STATE,     /* storage -> session: rid items (kind=op, target=user, text=data) */
	CHAT_ACK,               /* any -> requester: rid conn status */
	CHAT_EV_SINCE,          /* gateway -> storage: rid target seq(event position) limit;
	                           answered by ITEMS (channel events: seq 0, id = position) */
	CHAT_NICK,              /* gateway -> session: rid conn nick user host realname account
	                           prefix(the old prefix) op(chat_nick_step) target(the other nick):
	                           one step of a nick change (docs/chat.md, "Nick change") */
	CHAT_NICK_DONE,         /* session -> gateway: rid conn nick status op(the step) */
	CHAT_FANOUT_MARK,       /* storage -> every gateway, every second: seq(ITEMs sent to
	                           this gateway since it started, lost ones included)
	                           evseq(its epoch): a gateway that received fewer lost some,
	                           and repairs */
	CHAT_TYPE_END,
};

/* Kinds of journal items, operations and CHATHISTORY subcommands (field `op`). */
enum chat_kind {
	CHAT_K_PRIVMSG = 1, CHAT_K_NOTICE, CHAT_K_JOIN, CHAT_K_PART, CHAT_K_QUIT, CHAT_K_TOPIC,
	CHAT_K_NICK, CHAT_K_NAMES,
	/* queries a gateway sends storage directly as CHANNEL_OP (nothing journaled) */
	CHAT_K_WHO, CHAT_K_WHOIS, CHAT_K_LIST, CHAT_K_MODE,
};
/* The steps of a nick change, each sent by the gateway and retried until answered (field op
 * of CHAT_NICK; nick is the nick the receiving session owns, target the other one):
 *   CLAIM    at session(new): register new for the connection (433 if held)
 *   MOVE     at session(new): storage renames old to new in every channel (CHANNEL_OP op
 *            CHAT_K_NICK, nick old, text new), then the session records those channels
 *   RELEASE  at session(old): unregister old without a QUIT (it is in no channel any more)
 * and before registration:
 *   RESERVE  at session(nick): hold the nick for the unregistered connection (433 if held);
 *            in memory only, until its REGISTER, an UNREGISTER, or its gateway's death */
enum chat_nick_step { CHAT_NS_CLAIM = 1, CHAT_NS_MOVE, CHAT_NS_RELEASE, CHAT_NS_RESERVE };
enum chat_hist {
	CHAT_H_LATEST = 1, CHAT_H_BEFORE, CHAT_H_AFTER, CHAT_H_BETWEEN, CHAT_H_AROUND,
};

#define CHAT_CONN_MAX     63    /* "chatd.K/FD/SERIAL/PID" */
#define CHAT_CONN_TAIL    43    /* its longest "/FD/SERIAL/PID": 3 + 10 + 20 + 10 digits */
#define CHAT_NICK_MAX     30
#define CHAT_USER_MAX     32
#define CHAT_HOST_MAX     63
#define CHAT_REAL_MAX     127
#define CHAT_ACCOUNT_MAX  63
#define CHAT_PREFIX_MAX   (CHAT_NICK_MAX + CHAT_USER_MAX + CHAT_HOST_MAX + 2)
#define CHAT_TARGET_MAX   63    /* a channel (casefolded or not, as said) or a nick */
#define CHAT_TEXT_MAX     512
#define CHAT_DEDUPE_MAX   95
#define CHAT_REF_MAX      63    /* "msgid=..." or "timestamp=..." or "*" */
#define CHAT_MSGID_MAX    31
#define CHAT_PASS_MAX     255
#define CHAT_NAMES_MAX    16383 /* space-separated, with prefixes */
#define CHAT_ITEMS_MAX    128   /* per message: CHATHISTORY's limit and repair batches */

/* One journaled item: a message or a channel event, as fanned out and replayed. */
struct chat_item {
	uint64_t seq;           /* in its target's stream, from 1 */
	uint64_t id;            /* journal order */
	uint8_t kind;           /* enum chat_kind */
	char target[CHAT_TARGET_MAX + 1];
	char msgid[CHAT_MSGID_MAX + 1];
	int64_t time_ms;
	char prefix[CHAT_PREFIX_MAX + 1];
	char account[CHAT_ACCOUNT_MAX + 1];
	char text[CHAT_TEXT_MAX + 1];
};

/* Any chat message, decoded: only the fields of its type's schema are meaningful. Large
 * (items): allocate it, or keep one per process. */
struct chat_msg {
	uint16_t type;
	uint64_t rid;
	char conn[CHAT_CONN_MAX + 1];
	char nick[CHAT_NICK_MAX + 1];
	char user[CHAT_USER_MAX + 1];
	char host[CHAT_HOST_MAX + 1];
	char realname[CHAT_REAL_MAX + 1];
	char account[CHAT_ACCOUNT_MAX + 1];
	char prefix[CHAT_PREFIX_MAX + 1];
	uint8_t op;
	char target[CHAT_TARGET_MAX + 1];
	char text[CHAT_TEXT_MAX + 1];
	char dedupe[CHAT_DEDUPE_MAX + 1];
	uint16_t status;        /* 0 ok, else an IRC numeric or a FAIL code */
	uint64_t seq;
	uint64_t evseq;         /* a channel event stream position */
	uint32_t limit;
	char ref1[CHAT_REF_MAX + 1], ref2[CHAT_REF_MAX + 1];
	int64_t time_ms;
	char password[CHAT_PASS_MAX + 1];
	char names[CHAT_NAMES_MAX + 1];
	struct chat_item item;
	uint16_t nitems;
	struct chat_item items[CHAT_ITEMS_MAX];
};

/* chatproto.c */
/* The session worker owning a nick: FNV-1a (32 bit) of the nick casefolded by CASEMAPPING=ascii,
 * modulo the number of session workers. Gateways and sessions must agree: this is the one. */
unsigned chat_shard(const char *nick, unsigned nsessions);
/* A connection id "GATEWAY/FD/SERIAL/PID": the length of its gateway's name (up to the first
 * '/'), and the pid of the gateway's incarnation that made it (0: the id has no such field,
 * as in journals written before 2026-11-22 and in the test tools' ids). */
size_t chat_conn_gwlen(const char *conn);
pid_t chat_conn_pid(const char *conn);
/* A 64-bit hash of a string for in-memory tables and "seen" checks (FNV-1a, its high bits
 * folded into the low ones, which mix poorly); never stored. */
uint64_t chat_hash(const char *s);
/* The schema of a type (field codes, docs in chatproto.c), or NULL for a type not ours. */
const char *chat_schema(uint16_t type);
const char *chat_type_name(uint16_t type);
/* Encode m (by m->type's schema) into buf; the body's length, or -1 (EINVAL: not a chat type,
 * EMSGSIZE: a field over its bound or the buffer too small). */
ssize_t chat_encode(const struct chat_msg *m, void *buf, size_t cap);
/* Empty m as a zeroed one would be, without writing its large arrays (names and items are
 * empty, items beyond nitems undefined): about 1 KB written instead of 130 KB. */
void chat_msg_clear(struct chat_msg *m);
/* Decode a body of `type` into m (cleared first). 0, or -1 with EBADMSG (malformed: a field too
 * long, a string with a NUL, short or trailing bytes, too many items) or EINVAL (not ours). */
int chat_decode(uint16_t type, const void *body, size_t len, struct chat_msg *m);

#endif
