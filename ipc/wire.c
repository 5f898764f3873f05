/* The wire codec of letitcrash/msg.h (docs/wire.md). Every read is checked against what remains
 * of the frame; nothing is ever read past frame[len). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "letitcrash/msg.h"

#define KNOWN_FLAGS (LC_MSGF_CALL | LC_MSGF_FORWARDED)
#define REASONMAX 256           /* EXIT and DOWN: reason text, 1..REASONMAX bytes */

static const char *const names[LC_MSG_ACTOR_MAX] = {
	[LC_MSG_INVALID] = "invalid", [LC_MSG_CAST] = "cast", [LC_MSG_CALL] = "call",
	[LC_MSG_REPLY] = "reply", [LC_MSG_LINK] = "link", [LC_MSG_UNLINK] = "unlink",
	[LC_MSG_EXIT] = "exit", [LC_MSG_DOWN] = "down", [LC_MSG_PING] = "ping",
	[LC_MSG_PONG] = "pong",
};

const char *
lc_msg_name(uint16_t type)
{
	static char buf[16];

	if (type < LC_MSG_ACTOR_MAX)
		return names[type];
	if (type >= LC_MSG_APP) {
		snprintf(buf, sizeof buf, "app+%u", (unsigned)(type - LC_MSG_APP));
		return buf;
	}
	return "reserved";
}

size_t
lc_wire_size(size_t fromlen, size_t tolen, size_t bodylen)
{
	if (fromlen > LC_WIRE_NAMEMAX || tolen > LC_WIRE_NAMEMAX || bodylen > LC_WIRE_BODYMAX)
		return 0;
	return LC_WIRE_HDR + fromlen + tolen + bodylen;
}

/* The rules a message must follow besides its lengths: a known type, known flags, a body
 * size allowed for the type, a ref where one is due. */
static int
valid(const struct lc_msg *m)
{
	if (m->flags & ~KNOWN_FLAGS)
		return 0;
	if ((m->flags & LC_MSGF_CALL) && m->ref == 0)
		return 0;
	switch (m->type) {
	case LC_MSG_CAST:
		return 1;
	case LC_MSG_CALL:
		return (m->flags & LC_MSGF_CALL) != 0;
	case LC_MSG_REPLY:
		return m->ref != 0 && !(m->flags & LC_MSGF_CALL);
	case LC_MSG_LINK:
	case LC_MSG_UNLINK:
		return m->len == 0;
	case LC_MSG_EXIT:
	case LC_MSG_DOWN:
		return m->len >= 1 && m->len <= REASONMAX;
	case LC_MSG_PING:
	case LC_MSG_PONG:
		return m->len == 0;
	default:
		return m->type >= LC_MSG_APP;
	}
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

ssize_t
lc_wire_encode(void *buf, size_t cap, const struct lc_msg *m)
{
	size_t n = lc_wire_size(m->fromlen, m->tolen, m->len);
	unsigned char *p = buf;

	if (n == 0) {
		errno = EMSGSIZE;
		return -1;
	}
	if (!valid(m)) {
		errno = EINVAL;
		return -1;
	}
	if (n > cap) {
		errno = ENOBUFS;
		return -1;
	}
	p[0] = LC_WIRE_MAGIC;
	p[1] = LC_WIRE_VERSION;
	put16(p + 2, m->type);
	put16(p + 4, m->flags);
	p[6] = m->fromlen;
	p[7] = m->tolen;
	for (int i = 0; i < 8; i++)
		p[8 + i] = (unsigned char)(m->ref >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		p[16 + i] = (unsigned char)(m->len >> (24 - 8 * i));
	p += LC_WIRE_HDR;
	if (m->fromlen)
		memcpy(p, m->from, m->fromlen);
	p += m->fromlen;
	if (m->tolen)
		memcpy(p, m->to, m->tolen);
	p += m->tolen;
	if (m->len)
		memcpy(p, m->body, m->len);
	return (ssize_t)n;
}

int
lc_wire_next(const void *frame, size_t len, size_t *off, struct lc_msg *m)
{
	const unsigned char *p;
	size_t left, need;

	if (*off >= len)
		return 0;
	left = len - *off;
	p = (const unsigned char *)frame + *off;
	if (left < LC_WIRE_HDR || p[0] != LC_WIRE_MAGIC || p[1] != LC_WIRE_VERSION)
		goto bad;
	m->type = get16(p + 2);
	m->flags = get16(p + 4);
	m->fromlen = p[6];
	m->tolen = p[7];
	m->ref = 0;
	for (int i = 0; i < 8; i++)
		m->ref = m->ref << 8 | p[8 + i];
	m->len = get32(p + 16);
	need = lc_wire_size(m->fromlen, m->tolen, m->len);
	if (need == 0 || need > left)
		goto bad;
	m->from = (const char *)p + LC_WIRE_HDR;
	m->to = m->from + m->fromlen;
	m->body = m->to + m->tolen;
	if (!valid(m))
		goto bad;
	*off += need;
	return 1;
bad:
	memset(m, 0, sizeof *m);
	errno = EBADMSG;
	return -1;
}

int
lc_wire_check(const void *frame, size_t len)
{
	struct lc_msg m;
	size_t off = 0;
	int n = 0, r;

	if (len == 0) {
		errno = EBADMSG;
		return -1;
	}
	while ((r = lc_wire_next(frame, len, &off, &m)) == 1)
		n++;
	return r < 0 ? -1 : n;
}
