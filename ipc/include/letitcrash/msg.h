/* letitcrash: the one wire format for every message between our processes (docs/wire.md).
 *
 * A frame (one nanomsg message) holds one or more messages back to back; a sender whose queue
 * has built up packs several small messages into one frame and the receiver splits them again.
 * Each message is a fixed 20-byte header, then the sender's name, the receiver's name, and the
 * body. All integers are big-endian (network order); nothing is a raw struct on the wire.
 *
 *   off size field
 *     0    1 magic      0x4c ('L')
 *     1    1 version    LC_WIRE_VERSION
 *     2    2 type       enum lc_msg_type
 *     4    2 flags      LC_MSGF_*
 *     6    1 fromlen    length of the sender's name (0..LC_WIRE_NAMEMAX)
 *     7    1 tolen      length of the receiver's name (0..LC_WIRE_NAMEMAX)
 *     8    8 ref        correlation reference: a call's id, echoed by its reply; 0 otherwise
 *    16    4 len        body length (0..LC_WIRE_BODYMAX)
 *    20      from[fromlen] to[tolen] body[len]
 *
 * Names are actor names, optionally node-qualified ("session.3@east"); they are not
 * NUL-terminated on the wire. The decoder checks every length against what remains of the
 * frame, the magic and version, the type's body size rules, and rejects trailing bytes. */
#ifndef LETITCRASH_MSG_H
#define LETITCRASH_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LC_WIRE_MAGIC    0x4c
#define LC_WIRE_VERSION  1      /* bumped on every change of this file's wire layout or types */
#define LC_WIRE_HDR      20
#define LC_WIRE_NAMEMAX  100    /* "name@node": 48 + 1 + 51 */
#define LC_WIRE_BODYMAX  (1024 * 1024 - 512)

/* Flags. */
#define LC_MSGF_CALL     0x0001 /* the sender waits for a reply carrying the same ref */
#define LC_MSGF_FORWARDED 0x0002 /* relayed by lc_forward: `from` is the original sender */

/* Message types, grouped by subsystem. Each: from -> to, payload. Application types start at
 * LC_MSG_APP; a process's dispatch table says which it takes (STYLE.md, Messages). */
enum lc_msg_type {
	/* actor layer (ipc/) */
	LC_MSG_INVALID  = 0,
	LC_MSG_CAST     = 1,    /* any -> any: application bytes, no reply expected */
	LC_MSG_CALL     = 2,    /* any -> any: application bytes, flag CALL, a reply is due */
	LC_MSG_REPLY    = 3,    /* callee -> caller: ref of the call; application bytes */
	LC_MSG_LINK     = 4,    /* A -> B: "link me"; body: empty */
	LC_MSG_UNLINK   = 5,    /* A -> B: "unlink me"; body: empty */
	LC_MSG_EXIT     = 6,    /* library -> a trapping actor: linked `from` exited; body: reason text */
	LC_MSG_DOWN     = 7,    /* library -> a monitoring actor: `from` exited; ref: the monitor's
	                           ref; body: reason text ("noproc" if it was not running) */
	LC_MSG_PING     = 8,    /* any -> any: liveness; answered with PONG, same ref */
	LC_MSG_PONG     = 9,
	LC_MSG_ACTOR_MAX,

	/* application messages: chat (chatd/) and others number from here */
	LC_MSG_APP      = 1000,
};

/* A decoded message: pointers into the frame it was decoded from (valid while it is). */
struct lc_msg {
	uint16_t type;
	uint16_t flags;
	uint64_t ref;
	const char *from;       /* not NUL-terminated: use fromlen */
	const char *to;
	uint8_t fromlen, tolen;
	const void *body;
	uint32_t len;
};

/* The name of a type for logs ("cast", "call", ..., "app+17"); never NULL. */
const char *lc_msg_name(uint16_t type);

/* Encoded size of a message, or 0 if a field is too long. */
size_t lc_wire_size(size_t fromlen, size_t tolen, size_t bodylen);

/* Encode m into buf (cap bytes). Returns the bytes written, or -1 with errno (EMSGSIZE: a
 * name or the body is too long, ENOBUFS: buf too small). */
ssize_t lc_wire_encode(void *buf, size_t cap, const struct lc_msg *m);

/* Decode the message at *off in frame[0..len) into m and advance *off past it. Returns 1 for a
 * message, 0 at the end of the frame, -1 for a malformed message (errno EBADMSG; the rest of
 * the frame must be dropped). m's pointers point into frame. */
int lc_wire_next(const void *frame, size_t len, size_t *off, struct lc_msg *m);

/* Check a whole frame: the number of messages in it, or -1 if any is malformed. */
int lc_wire_check(const void *frame, size_t len);

#endif
