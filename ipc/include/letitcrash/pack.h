/* letitcrash: message bodies, field by field (docs/wire.md, "Bodies").
 *
 * A body is a sequence of fields with explicit widths, big-endian, never a raw struct:
 * u8, u16, u32, u64, and str (u16 length + bytes; no NUL on the wire). A writer appends into a
 * fixed buffer and remembers overflow (checked once at the end); a reader takes fields in
 * order, remembers the first error, and lc_unpack_end() fails unless every byte was read
 * exactly: short bodies and trailing bytes are both malformed. */
#ifndef LETITCRASH_PACK_H
#define LETITCRASH_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lc_pack {
	unsigned char *buf;
	size_t cap, len;
	int overflow;
};

void lc_pack_init(struct lc_pack *p, void *buf, size_t cap);
void lc_pack_u8(struct lc_pack *p, uint8_t v);
void lc_pack_u16(struct lc_pack *p, uint16_t v);
void lc_pack_u32(struct lc_pack *p, uint32_t v);
void lc_pack_u64(struct lc_pack *p, uint64_t v);
void lc_pack_i64(struct lc_pack *p, int64_t v);
/* A string of len bytes (len <= 65535; longer is an overflow). s may hold any bytes. */
void lc_pack_str(struct lc_pack *p, const char *s, size_t len);
void lc_pack_cstr(struct lc_pack *p, const char *s);          /* NULL packs as "" */
/* The body's length, or -1 with errno EMSGSIZE if anything did not fit. */
ssize_t lc_pack_end(const struct lc_pack *p);

struct lc_unpack {
	const unsigned char *buf;
	size_t len, off;
	int bad;
};

void lc_unpack_init(struct lc_unpack *u, const void *buf, size_t len);
uint8_t  lc_unpack_u8(struct lc_unpack *u);
uint16_t lc_unpack_u16(struct lc_unpack *u);
uint32_t lc_unpack_u32(struct lc_unpack *u);
uint64_t lc_unpack_u64(struct lc_unpack *u);
int64_t  lc_unpack_i64(struct lc_unpack *u);
/* A string: *len set, returns a pointer into the body (not NUL-terminated), or NULL when
 * malformed (and *len 0). */
const char *lc_unpack_str(struct lc_unpack *u, size_t *len);
/* Copy a string into dst (cap bytes, NUL-terminated); malformed if it does not fit or holds a
 * NUL byte. Returns dst, or NULL. */
char *lc_unpack_cstr(struct lc_unpack *u, char *dst, size_t cap);
/* 0 if every field was there and every byte was read; -1 (errno EBADMSG) otherwise. */
int lc_unpack_end(const struct lc_unpack *u);

#endif
