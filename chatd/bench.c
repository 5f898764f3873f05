/* chat-bench's pure pieces: payload token, latency histogram, loss accounting (bench.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int cb_payload_format(char *buf, size_t cap, size_t size, uint32_t client, uint64_t seq,
            int64_t send_ns)
{
	int n = snprintf(buf, cap, "cb:%" PRIu32 ":%" PRIu64 ":%" PRId64, client, seq, send_ns);
	size_t len;

	if (n < 0 || (size_t)n >= cap)
		return -1;
	len = (size_t)n;
	if (size > len) {       /* a space, then padding (the space may be the last byte) */
		if (size >= cap)
			return -1;
		buf[len] = ' ';
		memset(buf + len + 1, 'x', size - len - 1);
		len = size;
		buf[len] = '\0';
	}
	return (int)len;
}

/* A decimal field ended by `end` (or, when end is ' ', by the string's end: servers strip
 * trailing spaces); advances *s past it. */
static int field(const char **s, char end, uint64_t *v, bool neg_ok)
{
	const char *p = *s;
	bool neg = false;
	uint64_t x = 0;

	if (neg_ok && *p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (*p != end && !(end == ' ' && *p == '\0'))
		return -1;
	*s = *p ? p + 1 : p;
	*v = neg ? (uint64_t)-(int64_t)x : x;
	return 0;
}

int cb_payload_parse(const char *text, uint32_t *client, uint64_t *seq, int64_t *send_ns)
{
	const char *p = text;
	uint64_t c, q, t;

	if (strncmp(p, "cb:", 3) != 0)
		return -1;
	p += 3;
	if (field(&p, ':', &c, false) < 0 || c > UINT32_MAX || field(&p, ':', &q, false) < 0 ||
	    field(&p, ' ', &t, true) < 0)
		return -1;
	*client = (uint32_t)c;
	*seq = q;
	*send_ns = (int64_t)t;
	return 0;
}

void cb_hist_init(struct cb_hist *h)
{
	memset(h, 0, sizeof *h);
}

/* Buckets [0, 64) hold 0..63 exactly; then per shift s >= 0, 64 buckets of width 2^s covering
 * [64 << s, 128 << s). */
size_t cb_hist_index(uint64_t us)
{
	unsigned msb, shift;
	size_t idx;

	if (us < CB_HIST_SUB)
		return (size_t)us;
	msb = 63u - (unsigned)__builtin_clzll(us);
	shift = msb - 6;
	idx = (size_t)(shift + 1) * CB_HIST_SUB + (size_t)((us >> shift) - CB_HIST_SUB);
	return idx < CB_HIST_N ? idx : CB_HIST_N - 1;
}

uint64_t cb_hist_upper(size_t idx)
{
	unsigned shift;
	uint64_t sub;

	if (idx < CB_HIST_SUB)
		return idx;
	shift = (unsigned)(idx / CB_HIST_SUB) - 1;
	sub = idx % CB_HIST_SUB;
	return ((CB_HIST_SUB + sub + 1) << shift) - 1;
}

void cb_hist_add(struct cb_hist *h, uint64_t us)
{
	h->b[cb_hist_index(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t cb_hist_quantile(const struct cb_hist *h, double q)
{
	uint64_t rank, cum = 0, u;
	size_t i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < CB_HIST_N; i++) {
		cum += h->b[i];
		if (cum >= rank) {
			u = cb_hist_upper(i);
			return u < h->max_us ? u : h->max_us;
		}
	}
	return h->max_us;
}

enum cb_seen cb_track_see(struct cb_track *t, struct cb_loss *l, uint64_t seq)
{
	uint64_t d, bit;

	if (seq >= t->next) {
		d = seq - t->next;      /* skipped seqs */
		l->lost += d;
		t->seen = d + 1 >= 64 ? 0 : t->seen << (d + 1);
		t->seen |= 1;
		t->next = seq + 1;
		t->got++;
		return d ? CB_GAP : CB_NEW;
	}
	d = t->next - 1 - seq;
	if (d >= 64) {
		l->dup++;
		return CB_DUP;
	}
	bit = (uint64_t)1 << d;
	if (t->seen & bit) {
		l->dup++;
		return CB_DUP;
	}
	t->seen |= bit;
	t->got++;
	l->lost--;
	l->late++;
	return CB_LATE;
}

void cb_track_finish(const struct cb_track *t, struct cb_loss *l, uint64_t sent)
{
	if (sent > t->next)
		l->lost += sent - t->next;
}
