/* The chat service's messages: one schema per type, one encoder, one decoder (chatproto.h).
 *
 * Field codes (in schema order on the wire, pack.h widths, big-endian):
 *   r rid u64      c conn str     n nick str       u user str      h host str
 *   R realname str a account str  p prefix str     o op u8         t target str
 *   x text str     d dedupe str   s status u16     q seq u64       l limit u32
 *   e evseq u64
 *   1 ref1 str     2 ref2 str     m time_ms i64    w password str  N names str
 *   i one item     I items: u16 count (<= CHAT_ITEMS_MAX), then that many items
 * An item is: seq u64, id u64, kind u8, target str, msgid str, time_ms i64, prefix str,
 * account str, text str. A str is u16 length + bytes, no NUL inside, at most its field's bound. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "letitcrash/pack.h"
#include "chatproto.h"

static const char *const schemas[CHAT_TYPE_END - CHAT_REGISTER] = {
	[CHAT_REGISTER - CHAT_REGISTER]      = "rcnuhRa",
	[CHAT_REGISTERED - CHAT_REGISTER]    = "rcn",
	[CHAT_NICK_IN_USE - CHAT_REGISTER]   = "rcn",
	[CHAT_UNREGISTER - CHAT_REGISTER]    = "rcnx",
	[CHAT_CHANNEL_OP - CHAT_REGISTER]    = "rcnpotx",
	[CHAT_CHANNEL_DONE - CHAT_REGISTER]  = "rcsotxpmNqe",
	[CHAT_POST - CHAT_REGISTER]          = "rcdpaotx",
	[CHAT_POSTED - CHAT_REGISTER]        = "rci",
	[CHAT_POST_FAILED - CHAT_REGISTER]   = "rcst",
	[CHAT_ITEM - CHAT_REGISTER]          = "i",
	[CHAT_SINCE - CHAT_REGISTER]         = "rtql",
	[CHAT_ITEMS - CHAT_REGISTER]         = "rtI",
	[CHAT_HISTORY - CHAT_REGISTER]       = "rcnto12l",
	[CHAT_HISTORY_ROWS - CHAT_REGISTER]  = "rcstI",
	[CHAT_AUTH - CHAT_REGISTER]          = "rcaw",
	[CHAT_AUTH_OK - CHAT_REGISTER]       = "rca",
	[CHAT_AUTH_FAIL - CHAT_REGISTER]     = "rc",
	[CHAT_SESSION_EVENT - CHAT_REGISTER] = "rnox",
	[CHAT_SESSION_LOAD - CHAT_REGISTER]  = "rql",
	[CHAT_SESSION_STATE - CHAT_REGISTER] = "rI",
	[CHAT_ACK - CHAT_REGISTER]           = "rcs",
	[CHAT_EV_SINCE - CHAT_REGISTER]      = "rtql",
	[CHAT_NICK - CHAT_REGISTER]          = "rcnuhRapot",
	[CHAT_NICK_DONE - CHAT_REGISTER]     = "rcnso",
	[CHAT_FANOUT_MARK - CHAT_REGISTER]   = "qe",
};

static const char *const names[CHAT_TYPE_END - CHAT_REGISTER] = {
	"register", "registered", "nick_in_use", "unregister", "channel_op", "channel_done",
	"post", "posted", "post_failed", "item", "since", "items", "history", "history_rows",
	"auth", "auth_ok", "auth_fail", "session_event", "session_load", "session_state", "ack",
	"ev_since", "nick", "nick_done", "fanout_mark",
};

const char *
chat_schema(uint16_t type)
{
	if (type < CHAT_REGISTER || type >= CHAT_TYPE_END)
		return NULL;
	return schemas[type - CHAT_REGISTER];
}

const char *
chat_type_name(uint16_t type)
{
	if (type < CHAT_REGISTER || type >= CHAT_TYPE_END)
		return lc_msg_name(type);
	return names[type - CHAT_REGISTER];
}

/* The string fields of struct chat_msg: code, where, bound (the array's size). */
struct sfield {
	char code;
	size_t off, size;
};

#define SF(c, f) { c, offsetof(struct chat_msg, f), sizeof(((struct chat_msg *)0)->f) }
static const struct sfield sfields[] = {
	SF('c', conn), SF('n', nick), SF('u', user), SF('h', host), SF('R', realname),
	SF('a', account), SF('p', prefix), SF('t', target), SF('x', text), SF('d', dedupe),
	SF('1', ref1), SF('2', ref2), SF('w', password), SF('N', names),
};

static const struct sfield *
sfield(char code)
{
	for (size_t i = 0; i < sizeof sfields / sizeof *sfields; i++)
		if (sfields[i].code == code)
			return &sfields[i];
	return NULL;
}

/* A bounded C string of ours: too long (no NUL within its array) is an encoding error. */
static void
pack_bounded(struct lc_pack *p, const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size) {
		p->overflow = 1;
		return;
	}
	lc_pack_str(p, s, n);
}

static void
pack_item(struct lc_pack *p, const struct chat_item *it)
{
	lc_pack_u64(p, it->seq);
	lc_pack_u64(p, it->id);
	lc_pack_u8(p, it->kind);
	pack_bounded(p, it->target, sizeof it->target);
	pack_bounded(p, it->msgid, sizeof it->msgid);
	lc_pack_i64(p, it->time_ms);
	pack_bounded(p, it->prefix, sizeof it->prefix);
	pack_bounded(p, it->account, sizeof it->account);
	pack_bounded(p, it->text, sizeof it->text);
}

static void
unpack_item(struct lc_unpack *u, struct chat_item *it)
{
	it->seq = lc_unpack_u64(u);
	it->id = lc_unpack_u64(u);
	it->kind = lc_unpack_u8(u);
	lc_unpack_cstr(u, it->target, sizeof it->target);
	lc_unpack_cstr(u, it->msgid, sizeof it->msgid);
	it->time_ms = lc_unpack_i64(u);
	lc_unpack_cstr(u, it->prefix, sizeof it->prefix);
	lc_unpack_cstr(u, it->account, sizeof it->account);
	lc_unpack_cstr(u, it->text, sizeof it->text);
}

static void
pack_field(struct lc_pack *p, const struct chat_msg *m, char code)
{
	const struct sfield *f = sfield(code);
	if (f) {
		pack_bounded(p, (const char *)m + f->off, f->size);
		return;
	}
	switch (code) {
	case 'r': lc_pack_u64(p, m->rid); break;
	case 'o': lc_pack_u8(p, m->op); break;
	case 's': lc_pack_u16(p, m->status); break;
	case 'q': lc_pack_u64(p, m->seq); break;
	case 'e': lc_pack_u64(p, m->evseq); break;
	case 'l': lc_pack_u32(p, m->limit); break;
	case 'm': lc_pack_i64(p, m->time_ms); break;
	case 'i': pack_item(p, &m->item); break;
	case 'I':
		if (m->nitems > CHAT_ITEMS_MAX) {
			p->overflow = 1;
			break;
		}
		lc_pack_u16(p, m->nitems);
		for (size_t k = 0; k < m->nitems; k++)
			pack_item(p, &m->items[k]);
		break;
	default:
		p->overflow = 1;        /* a schema with an unknown code: a bug, refuse */
	}
}

ssize_t
chat_encode(const struct chat_msg *m, void *buf, size_t cap)
{
	const char *sc = chat_schema(m->type);
	struct lc_pack p;
	if (!sc) {
		errno = EINVAL;
		return -1;
	}
	lc_pack_init(&p, buf, cap);
	for (; *sc; sc++)
		pack_field(&p, m, *sc);
	return lc_pack_end(&p);
}

static void
unpack_field(struct lc_unpack *u, struct chat_msg *m, char code)
{
	const struct sfield *f = sfield(code);
	if (f) {
		lc_unpack_cstr(u, (char *)m + f->off, f->size);
		return;
	}
	switch (code) {
	case 'r': m->rid = lc_unpack_u64(u); break;
	case 'o': m->op = lc_unpack_u8(u); break;
	case 's': m->status = lc_unpack_u16(u); break;
	case 'q': m->seq = lc_unpack_u64(u); break;
	case 'e': m->evseq = lc_unpack_u64(u); break;
	case 'l': m->limit = lc_unpack_u32(u); break;
	case 'm': m->time_ms = lc_unpack_i64(u); break;
	case 'i': unpack_item(u, &m->item); break;
	case 'I':
		m->nitems = lc_unpack_u16(u);
		if (m->nitems > CHAT_ITEMS_MAX) {
			u->bad = 1;
			m->nitems = 0;
			break;
		}
		for (size_t k = 0; k < m->nitems && !u->bad; k++)
			unpack_item(u, &m->items[k]);
		break;
	default:
		u->bad = 1;
	}
}

void
chat_msg_clear(struct chat_msg *m)
{
	/* what precedes the big arrays; names and items are set by their fields or left empty
	 * (items beyond nitems are never meaningful) */
	memset(m, 0, offsetof(struct chat_msg, names));
	m->names[0] = 0;
	memset(&m->item, 0, sizeof m->item);
	m->nitems = 0;
}

int
chat_decode(uint16_t type, const void *body, size_t len, struct chat_msg *m)
{
	const char *sc = chat_schema(type);
	struct lc_unpack u;
	chat_msg_clear(m);
	if (!sc) {
		errno = EINVAL;
		return -1;
	}
	m->type = type;
	lc_unpack_init(&u, body, len);
	for (; *sc && !u.bad; sc++)
		unpack_field(&u, m, *sc);
	return lc_unpack_end(&u);
}

unsigned
chat_shard(const char *nick, unsigned n)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)nick; *p; p++) {
		unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
		h = (h ^ c) * 16777619u;
	}
	return n ? h % n : 0;
}

size_t
chat_conn_gwlen(const char *conn)
{
	return strcspn(conn, "/");
}

pid_t
chat_conn_pid(const char *conn)
{
	const char *p = conn;
	long v = 0;

	for (int i = 0; i < 3; i++)
		if (!(p = strchr(p, '/')))
			return 0;
		else
			p++;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > 0x7fffffff)
			return 0;
	return *p ? 0 : (pid_t)v;
}

uint64_t
chat_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}
