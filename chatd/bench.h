/* letitcrash chat-bench: the load generator's pure pieces (chatd/bench.c): the payload token,
 * the latency histogram and per (receiver, sender) loss and duplicate accounting. No I/O, no
 * clock, no allocation. chat-bench.c owns the sockets and the loop. */
#ifndef CHATD_BENCH_H
#define CHATD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Payload: "cb:<client>:<seq>:<send_ns>" (decimal), then a space and 'x' up to `size` bytes in
 * all. The token is never cut: when size is not above its length, the text is the token alone
 * (no trailing space: servers strip it). Returns the length written (NUL added), or -1 when cap
 * is too small. */
int cb_payload_format(char *buf, size_t cap, size_t size, uint32_t client, uint64_t seq,
            int64_t send_ns);
/* Parse the token at the start of text (ended by a space or the end): 0, or -1 when text is
 * not a chat-bench payload. */
int cb_payload_parse(const char *text, uint32_t *client, uint64_t *seq, int64_t *send_ns);

/* Latency histogram, log-linear: values in microseconds, 64 sub-buckets per power of two
 * (relative error under 1/64), values up to 2^40 us; larger ones land in the last bucket.
 * max is exact. */
#define CB_HIST_SUB     64
#define CB_HIST_SHIFTS  35
#define CB_HIST_N       (CB_HIST_SUB * (CB_HIST_SHIFTS + 1))
struct cb_hist {
	uint64_t count, max_us;
	uint64_t b[CB_HIST_N];
};
void     cb_hist_init(struct cb_hist *h);
void     cb_hist_add(struct cb_hist *h, uint64_t us);
/* The smallest recorded bucket bound at or above the q-quantile (0 < q <= 1): the upper bound
 * of the bucket holding the sample of rank ceil(q * count), at most max. 0 when empty. */
uint64_t cb_hist_quantile(const struct cb_hist *h, double q);
/* Bucket index of a value, and the largest value of a bucket (for the tests). */
size_t   cb_hist_index(uint64_t us);
uint64_t cb_hist_upper(size_t idx);

/* What one receiver saw of one sender. Over one connection through one server messages
 * arrive in order; a sequence number above the next expected one counts the gap as lost; one
 * below it within the last 64 is a late arrival (lost--, late++) or a duplicate if already
 * seen; older ones count as duplicates. */
struct cb_track {
	uint64_t next;          /* next expected seq */
	uint64_t seen;          /* bit i: seq next-1-i was received */
	uint64_t got;           /* distinct seqs received */
};
enum cb_seen { CB_NEW, CB_GAP, CB_LATE, CB_DUP };
struct cb_loss {
	uint64_t lost, late, dup;
};
/* Account seq in t; returns what it was (CB_GAP: new, after a gap). */
enum cb_seen cb_track_see(struct cb_track *t, struct cb_loss *l, uint64_t seq);
/* At the end: messages the sender sent (seqs 0..sent-1) never received here (the tail past
 * t->next; gaps were counted as they were seen). Adds them to l->lost. */
void cb_track_finish(const struct cb_track *t, struct cb_loss *l, uint64_t sent);

#endif
