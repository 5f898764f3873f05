/* Message bodies field by field: see letitcrash/pack.h. */
#include <errno.h>
#include <string.h>

#include "letitcrash/pack.h"

void
lc_pack_init(struct lc_pack *p, void *buf, size_t cap)
{
	p->buf = buf;
	p->cap = cap;
	p->len = 0;
	p->overflow = 0;
}

static void
put(struct lc_pack *p, uint64_t v, size_t width)
{
	if (p->overflow || p->cap - p->len < width) {
		p->overflow = 1;
		return;
	}
	for (size_t i = width; i-- > 0; v >>= 8)
		p->buf[p->len + i] = (unsigned char)v;
	p->len += width;
}

void lc_pack_u8(struct lc_pack *p, uint8_t v) { put(p, v, 1); }
void lc_pack_u16(struct lc_pack *p, uint16_t v) { put(p, v, 2); }
void lc_pack_u32(struct lc_pack *p, uint32_t v) { put(p, v, 4); }
void lc_pack_u64(struct lc_pack *p, uint64_t v) { put(p, v, 8); }
void lc_pack_i64(struct lc_pack *p, int64_t v) { put(p, (uint64_t)v, 8); }

void
lc_pack_str(struct lc_pack *p, const char *s, size_t len)
{
	if (len > UINT16_MAX) {
		p->overflow = 1;
		return;
	}
	put(p, len, 2);
	if (p->overflow || p->cap - p->len < len) {
		p->overflow = 1;
		return;
	}
	if (len)
		memcpy(p->buf + p->len, s, len);
	p->len += len;
}

void
lc_pack_cstr(struct lc_pack *p, const char *s)
{
	lc_pack_str(p, s ? s : "", s ? strlen(s) : 0);
}

ssize_t
lc_pack_end(const struct lc_pack *p)
{
	if (p->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	return (ssize_t)p->len;
}

void
lc_unpack_init(struct lc_unpack *u, const void *buf, size_t len)
{
	u->buf = buf;
	u->len = buf ? len : 0;
	u->off = 0;
	u->bad = 0;
}

static uint64_t
get(struct lc_unpack *u, size_t width)
{
	uint64_t v = 0;
	if (u->bad || u->len - u->off < width) {
		u->bad = 1;
		return 0;
	}
	for (size_t i = 0; i < width; i++)
		v = v << 8 | u->buf[u->off + i];
	u->off += width;
	return v;
}

uint8_t  lc_unpack_u8(struct lc_unpack *u) { return (uint8_t)get(u, 1); }
uint16_t lc_unpack_u16(struct lc_unpack *u) { return (uint16_t)get(u, 2); }
uint32_t lc_unpack_u32(struct lc_unpack *u) { return (uint32_t)get(u, 4); }
uint64_t lc_unpack_u64(struct lc_unpack *u) { return get(u, 8); }
int64_t  lc_unpack_i64(struct lc_unpack *u) { return (int64_t)get(u, 8); }

const char *
lc_unpack_str(struct lc_unpack *u, size_t *len)
{
	size_t n = get(u, 2);
	*len = 0;
	if (u->bad || u->len - u->off < n) {
		u->bad = 1;
		return NULL;
	}
	const char *s = (const char *)u->buf + u->off;
	u->off += n;
	*len = n;
	return s;
}

char *
lc_unpack_cstr(struct lc_unpack *u, char *dst, size_t cap)
{
	size_t n;
	const char *s = lc_unpack_str(u, &n);
	if (!s || n >= cap || memchr(s, 0, n)) {
		u->bad = 1;
		if (cap)
			dst[0] = 0;
		return NULL;
	}
	memcpy(dst, s, n);
	dst[n] = 0;
	return dst;
}

int
lc_unpack_end(const struct lc_unpack *u)
{
	if (u->bad || u->off != u->len) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}
