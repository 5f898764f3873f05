/* chatd: the gateway's pure pieces (chatd.h, gw_util.c): no I/O, unit-tested in
 * tests/unit/test_gateway.c. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/* --- flood ----------------------------------------------------------------------------------- */

void
gw_flood_init(struct gw_flood *f, double rate, double burst, int64_t now_ms)
{
	f->rate = rate;
	f->burst = burst < 1 ? 1 : burst;
	f->tokens = f->burst;
	f->last_ms = now_ms;
}

int64_t
gw_flood_take(struct gw_flood *f, int64_t now_ms)
{
	if (f->rate <= 0)
		return 0;
	if (now_ms > f->last_ms) {
		f->tokens += (double)(now_ms - f->last_ms) * f->rate / 1000.0;
		if (f->tokens > f->burst)
			f->tokens = f->burst;
		f->last_ms = now_ms;
	}
	if (f->tokens >= 1.0) {
		f->tokens -= 1.0;
		return 0;
	}
	int64_t wait = (int64_t)((1.0 - f->tokens) * 1000.0 / f->rate) + 1;
	return wait;
}

/* --- request timeout ------------------------------------------------------------------------- */

static void
rto_set(struct gw_rto *r, int64_t rto)
{
	if (rto < GW_REQ_TIMEOUT_MS)
		rto = GW_REQ_TIMEOUT_MS;
	r->rto = rto > GW_RTO_MAX_MS ? GW_RTO_MAX_MS : rto;
}

void
gw_rto_init(struct gw_rto *r)
{
	r->srtt = r->rttvar = 0;
	r->rto = GW_REQ_TIMEOUT_MS;
}

void
gw_rto_sample(struct gw_rto *r, int64_t rtt)
{
	if (rtt < 1)
		rtt = 1;
	if (!r->srtt) {
		r->srtt = rtt;
		r->rttvar = rtt / 2;
	} else {
		int64_t d = r->srtt > rtt ? r->srtt - rtt : rtt - r->srtt;
		r->rttvar += (d - r->rttvar) / 4;
		r->srtt += (rtt - r->srtt) / 8;
	}
	rto_set(r, r->srtt + 4 * r->rttvar);
}

void
gw_rto_backoff(struct gw_rto *r)
{
	rto_set(r, r->rto * 3 / 2);
}

/* --- memory --------------------------------------------------------------------------------- */

void
chat_malloc_tune(void)
{
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

/* --- block cache ----------------------------------------------------------------------------- */

void *
gw_block_get(struct gw_blocks *b)
{
	return b->n > 0 ? b->v[--b->n] : malloc(b->size);
}

void
gw_block_put(struct gw_blocks *b, void *p)
{
	if (!p)
		return;
	if (b->n < GW_BLOCKS_MAX)
		b->v[b->n++] = p;
	else
		free(p);
}

/* --- output queue ---------------------------------------------------------------------------- */

#define OUTQ_BLOCK 4096
static struct gw_blocks outq_blocks = { .size = OUTQ_BLOCK };

/* Give q's buffer back: the first size to the cache, a grown one to malloc. */
static void
outq_release(struct gw_outq *q)
{
	if (q->cap == OUTQ_BLOCK)
		gw_block_put(&outq_blocks, q->buf);
	else
		free(q->buf);
	q->buf = NULL;
	q->off = q->len = q->cap = 0;
}

void
gw_outq_init(struct gw_outq *q, size_t max)
{
	memset(q, 0, sizeof *q);
	q->max = max;
}

void
gw_outq_fini(struct gw_outq *q)
{
	outq_release(q);
}

int
gw_outq_put(struct gw_outq *q, const void *data, size_t n)
{
	if (q->len - q->off + n > q->max)
		return errno = ENOBUFS, -1;
	if (q->off > 0 && q->len + n > q->cap) {
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->cap == 0 && n <= OUTQ_BLOCK) {
		if (!(q->buf = gw_block_get(&outq_blocks)))
			return errno = ENOMEM, -1;
		q->cap = OUTQ_BLOCK;
	}
	if (q->len + n > q->cap) {
		size_t ncap = q->cap ? q->cap : OUTQ_BLOCK;
		while (ncap < q->len + n)
			ncap *= 2;
		bool cached = q->cap == OUTQ_BLOCK;    /* the cache's: not realloc's to grow */
		char *nb = cached ? malloc(ncap) : realloc(q->buf, ncap);
		if (!nb)
			return errno = ENOMEM, -1;
		if (cached) {
			memcpy(nb, q->buf, q->len);
			gw_block_put(&outq_blocks, q->buf);
		}
		q->buf = nb;
		q->cap = ncap;
	}
	memcpy(q->buf + q->len, data, n);
	q->len += n;
	return 0;
}

size_t
gw_outq_pending(const struct gw_outq *q)
{
	return q->len - q->off;
}

const char *
gw_outq_data(const struct gw_outq *q)
{
	return q->buf + q->off;
}

void
gw_outq_consume(struct gw_outq *q, size_t n)
{
	q->off += n;
	if (q->off >= q->len) {
		/* empty: give the buffer back, so that an idle connection holds none */
		outq_release(q);
	}
}

/* --- capabilities ---------------------------------------------------------------------------- */

static const struct {
	const char *name, *value;
	unsigned bit;
} caps[] = {
	{ "batch", NULL, GW_CAP_BATCH },
	{ "draft/chathistory", NULL, GW_CAP_CHATHISTORY },
	{ "echo-message", NULL, GW_CAP_ECHO },
	{ "labeled-response", NULL, GW_CAP_LABELED },
	{ "message-tags", NULL, GW_CAP_MESSAGE_TAGS },
	{ "multi-prefix", NULL, GW_CAP_MULTI_PREFIX },
	{ "sasl", "PLAIN", GW_CAP_SASL },
	{ "server-time", NULL, GW_CAP_SERVER_TIME },
	{ "userhost-in-names", NULL, GW_CAP_USERHOST },
};
#define NCAPS (sizeof caps / sizeof *caps)

static int
cap_join(char *buf, size_t cap, unsigned set, bool values)
{
	size_t len = 0;

	if (cap == 0)
		return errno = ENOSPC, -1;
	buf[0] = '\0';
	for (size_t i = 0; i < NCAPS; i++) {
		if (!(set & caps[i].bit))
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s%s%s", len ? " " : "", caps[i].name,
		    values && caps[i].value ? "=" : "", values && caps[i].value ? caps[i].value : "");
		if (n < 0 || (size_t)n >= cap - len)
			return errno = ENOSPC, -1;
		len += (size_t)n;
	}
	return (int)len;
}

int
gw_cap_ls(char *buf, size_t cap, unsigned offered, bool v302)
{
	return cap_join(buf, cap, offered, v302);
}

int
gw_cap_list(char *buf, size_t cap, unsigned enabled)
{
	return cap_join(buf, cap, enabled, false);
}

int
gw_cap_req(const char *text, unsigned offered, unsigned *enabled)
{
	unsigned on = 0, off = 0;
	const char *p = text;
	int n = 0;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		bool minus = *p == '-';
		if (minus)
			p++;
		size_t len = strcspn(p, " ");
		unsigned bit = 0;
		for (size_t i = 0; i < NCAPS; i++)
			if (strlen(caps[i].name) == len && !memcmp(caps[i].name, p, len))
				bit = caps[i].bit;
		if (!bit || !(bit & offered))
			return -1;
		if (minus)
			off |= bit, on &= ~bit;
		else
			on |= bit, off &= ~bit;
		p += len;
		n++;
	}
	if (n == 0)
		return -1;
	*enabled = (*enabled | on) & ~off;
	return 0;
}

/* --- ISUPPORT -------------------------------------------------------------------------------- */

int
gw_isupport(char *buf, size_t cap, const char *network, unsigned histmax)
{
	int n = snprintf(buf, cap, "CASEMAPPING=ascii CHANTYPES=# PREFIX=(o)@ CHANMODES=,,,n "
	    "NICKLEN=%d CHANNELLEN=%d TOPICLEN=390 NETWORK=%s "
	    "TARGMAX=JOIN:%d,PART:%d,NAMES:1,WHOIS:1,PRIVMSG:1,NOTICE:1 CHATHISTORY=%u "
	    "MSGREFTYPES=timestamp,msgid CLIENTTAGDENY=*", IRC_NICK_MAX, IRC_CHAN_MAX,
	    network, GW_TARGMAX, GW_TARGMAX, histmax);
	if (n < 0 || (size_t)n >= cap)
		return errno = ENOSPC, -1;
	return n;
}

/* --- tags ------------------------------------------------------------------------------------ */

static size_t
tag_escape(char *dst, size_t cap, const char *v)
{
	size_t n = 0;

	for (; *v; v++) {
		const char *e = NULL;
		char one[2] = { *v, 0 };
		switch (*v) {
		case ';': e = "\\:"; break;
		case ' ': e = "\\s"; break;
		case '\\': e = "\\\\"; break;
		case '\r': e = "\\r"; break;
		case '\n': e = "\\n"; break;
		default: e = one; break;
		}
		size_t l = strlen(e);
		if (n + l < cap)
			memcpy(dst + n, e, l);
		n += l;
	}
	return n;
}

ssize_t
gw_tag_insert(char *dst, size_t cap, const char *line, size_t len, const char *key,
    const char *value)
{
	char esc[1024];
	size_t elen = value ? tag_escape(esc, sizeof esc, value) : 0;
	size_t klen = strlen(key);
	bool tagged = len > 0 && line[0] == '@';
	/* "@" key ["=" esc] (";" | " ") rest */
	size_t rest = tagged ? len - 1 : len;
	size_t need = 1 + klen + (elen ? 1 + elen : 0) + 1 + rest;

	if (elen >= sizeof esc || need + 1 > cap)
		return errno = ENOSPC, -1;
	size_t n = 0;
	dst[n++] = '@';
	memcpy(dst + n, key, klen);
	n += klen;
	if (elen) {
		dst[n++] = '=';
		memcpy(dst + n, esc, elen);
		n += elen;
	}
	dst[n++] = tagged ? ';' : ' ';
	memcpy(dst + n, tagged ? line + 1 : line, rest);
	n += rest;
	dst[n] = '\0';
	return (ssize_t)n;
}

bool
gw_tag_has(const char *line, size_t len, const char *key)
{
	size_t klen = strlen(key);

	if (len == 0 || line[0] != '@')
		return false;
	const char *end = memchr(line, ' ', len);
	const char *p = line + 1;
	if (!end)
		end = line + len;
	while (p < end) {
		const char *q = p;
		while (q < end && *q != ';')
			q++;
		const char *eq = memchr(p, '=', (size_t)(q - p));
		size_t kl = (size_t)((eq ? eq : q) - p);
		if (kl == klen && !memcmp(p, key, klen))
			return true;
		p = q + 1;
	}
	return false;
}

/* --- base64 ---------------------------------------------------------------------------------- */

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

ssize_t
gw_b64_decode(const char *s, void *dst, size_t cap)
{
	size_t len = strlen(s), n = 0;
	unsigned char *out = dst;

	if (len % 4)
		return errno = EINVAL, -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
				return errno = EINVAL, -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		unsigned char b[3] = { (unsigned char)(w >> 16), (unsigned char)(w >> 8),
			(unsigned char)w };
		for (int k = 0; k < 3 - pad; k++) {
			if (n >= cap)
				return errno = ENOSPC, -1;
			out[n++] = b[k];
		}
	}
	return (ssize_t)n;
}

/* --- NAMES ---------------------------------------------------------------------------------- */

size_t
gw_names_format(char *dst, size_t cap, const char *names, bool userhost)
{
	size_t len = 0;

	if (cap == 0)
		return 0;
	dst[0] = '\0';
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, " ");
		size_t keep = userhost ? n : strcspn(p, " !");
		if (n > 0 && len + (len > 0) + keep < cap) {
			if (len > 0)
				dst[len++] = ' ';
			memcpy(dst + len, p, keep);
			len += keep;
			dst[len] = '\0';
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return len;
}

/* --- numerics -------------------------------------------------------------------------------- */

const char *
gw_numeric_text(unsigned num)
{
	switch (num) {
	case 401: return "No such nick/channel";
	case 402: return "No such server";
	case 403: return "No such channel";
	case 404: return "Cannot send to channel";
	case 405: return "You have joined too many channels";
	case 407: return "Too many targets";
	case 409: return "No origin specified";
	case 411: return "No recipient given";
	case 412: return "No text to send";
	case 417: return "Input line was too long";
	case 421: return "Unknown command";
	case 431: return "No nickname given";
	case 432: return "Erroneous nickname";
	case 433: return "Nickname is already in use";
	case 442: return "You're not on that channel";
	case 472: return "is unknown mode char to me";
	case 451: return "You have not registered";
	case 461: return "Not enough parameters";
	case 462: return "You may not reregister";
	case 471: return "Cannot join channel (+l)";
	case 473: return "Cannot join channel (+i)";
	case 474: return "Cannot join channel (+b)";
	case 475: return "Cannot join channel (+k)";
	case 476: return "Bad Channel Mask";
	case 479: return "Illegal channel name";
	case 482: return "You're not channel operator";
	default: return "Request failed";
	}
}
