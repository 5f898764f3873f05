/* letitcrash chatd: private header. Prototypes are grouped by the file that defines them.
 * The IRC core below is pure code (no I/O, no allocation); docs/irc.md states its rules. */
#ifndef CHATD_H
#define CHATD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits, in bytes. A line is `[@tags SP] body CRLF`. */
#define IRC_BODY_MAX      510   /* body (source, command, params) without CRLF */
#define IRC_LINE_MAX      512   /* body with CRLF */
#define IRC_TAGS_IN_MAX   4096  /* client tag section, '@' and the trailing space included */
#define IRC_TAGS_OUT_MAX  8191  /* tag section we write, '@' and the trailing space included */
#define IRC_OUT_MAX       (IRC_TAGS_OUT_MAX + IRC_LINE_MAX + 1) /* writer buffer, with NUL */
#define IRC_PARAMS_MAX    15
#define IRC_TAGS_MAX      64    /* distinct tags kept per parsed message */
#define IRC_NICK_MAX      30    /* NICKLEN */
#define IRC_CHAN_MAX      50    /* CHANNELLEN, '#' included */
#define IRC_TIME_LEN      24    /* "2026-01-02T03:04:05.678Z" */
#define IRC_MSGID_LEN     16    /* 16 lowercase hex digits of a 64-bit id */

/* Input buffer capacity: the longest acceptable line (4096 bytes of tags, 510 of body, CRLF).
 * An unterminated prefix that fills the buffer is necessarily too long, so the buffer never
 * needs to grow: it is flushed and the rest of that line skipped up to its LF. */
#define IRC_IN_CAP        (IRC_TAGS_IN_MAX + IRC_LINE_MAX)

/* ircbuf.c: line framing of one connection's input. */
struct irc_in {
	size_t start, end;      /* unread bytes are buf[start, end) */
	size_t scan;            /* buf[start, scan) holds no LF */
	bool skipping;          /* dropping the rest of an over-long line, up to its LF */
	uint64_t nlines, ntoolong, nnul;  /* counters: lines returned, too long, with NUL */
	char buf[IRC_IN_CAP];
};

enum irc_in_status {
	IRC_IN_AGAIN = 0,       /* no complete line: push more bytes */
	IRC_IN_LINE,            /* a line (CR/LF stripped, NUL-terminated, not empty) */
	IRC_IN_TOOLONG,         /* a line exceeded the limits: answer 417; reported once */
	IRC_IN_NUL,             /* a line held a NUL byte and was dropped */
};

void   irc_in_init(struct irc_in *in);
size_t irc_in_push(struct irc_in *in, const void *data, size_t n);
size_t irc_in_space(struct irc_in *in, char **p);
void   irc_in_commit(struct irc_in *in, size_t n);
enum irc_in_status irc_in_next(struct irc_in *in, char **line, size_t *len);

/* irc.c: parse a line in place; write one. */
struct irc_tag {
	const char *key;        /* non-empty, e.g. "time", "+draft/reply", "example.com/x" */
	const char *value;      /* unescaped; "" when absent (`k` and `k=` are the same) */
};

struct irc_msg {
	struct irc_tag tags[IRC_TAGS_MAX];
	size_t ntags;
	bool tags_dropped;      /* parser: distinct tags beyond IRC_TAGS_MAX were ignored */
	const char *source;     /* without ':'; NULL when absent */
	const char *command;    /* parser: uppercased letters, or 3 digits */
	const char *params[IRC_PARAMS_MAX];
	size_t nparams;
	bool trailing;          /* parser: the last param came as ":trailing" (maybe empty);
	                           writer: always write the last param with ':' */
};

int     irc_parse(char *line, struct irc_msg *m);
ssize_t irc_write(char *buf, size_t cap, const struct irc_msg *m);
ssize_t irc_numeric(char *buf, size_t cap, const char *server, unsigned num,
            const char *nick, ...);
const char *irc_tag_get(const struct irc_msg *m, const char *key);
size_t  irc_utf8_cut(const char *s, size_t len, size_t max);

/* ircutil.c: case mapping, names, server-time, msgid. */
void irc_casefold(char *s);
int  irc_casecmp(const char *a, const char *b);
bool irc_nick_valid(const char *s);
bool irc_chan_valid(const char *s);
int  irc_time_format(char *buf, size_t cap, int64_t ms);
int  irc_time_parse(const char *s, int64_t *ms);
int  irc_msgid_format(char *buf, size_t cap, uint64_t id);
int  irc_msgid_parse(const char *s, uint64_t *id);

/* chathistory.c: draft/chathistory arguments. */
enum irc_ref_kind { IRC_REF_STAR, IRC_REF_MSGID, IRC_REF_TIME };
struct irc_ref {
	enum irc_ref_kind kind;
	uint64_t msgid;         /* IRC_REF_MSGID */
	int64_t ms;             /* IRC_REF_TIME: ms since the epoch */
};

enum irc_ch_sub { IRC_CH_LATEST, IRC_CH_BEFORE, IRC_CH_AFTER, IRC_CH_AROUND,
	IRC_CH_BETWEEN, IRC_CH_TARGETS };

/* A parsed CHATHISTORY command. TARGETS has no target; its refs are timestamps. */
struct irc_chq {
	enum irc_ch_sub sub;
	const char *target;     /* points into the message; NULL for TARGETS */
	struct irc_ref a, b;    /* b only for BETWEEN and TARGETS */
	unsigned limit;         /* 1..max */
};

/* irc_chq_parse errors (negative), for FAIL CHATHISTORY <code>. */
enum irc_ch_err {
	IRC_CH_ENEEDMORE = -1,  /* too few params: NEED_MORE_PARAMS */
	IRC_CH_EUNKNOWN  = -2,  /* unknown subcommand: INVALID_PARAMS (UNKNOWN_COMMAND) */
	IRC_CH_EREF      = -3,  /* malformed or disallowed ref: INVALID_PARAMS */
	IRC_CH_ELIMIT    = -4,  /* limit not a positive integer: INVALID_PARAMS */
};

int irc_ref_parse(const char *s, struct irc_ref *r);
int irc_chq_parse(const struct irc_msg *m, unsigned max, struct irc_chq *q);

/* gw_util.c: the gateway's pure pieces (no I/O): flood bucket, output queue, capabilities,
 * ISUPPORT, tag insertion, base64, numeric texts. */

/* Flood control that delays: a token bucket of `burst` lines refilled at `rate` lines/s.
 * rate <= 0: no limit. */
struct gw_flood {
	double tokens, rate, burst;
	int64_t last_ms;
};
void    gw_flood_init(struct gw_flood *f, double rate, double burst, int64_t now_ms);
/* Take one token: 0 if the line may be handled now, else the ms until a token is due
 * (nothing taken). */
int64_t gw_flood_take(struct gw_flood *f, int64_t now_ms);

/* A request's first deadline, from the round trips of the gateway's answered requests, as TCP
 * sets its retransmission timeout (RFC 6298): srtt + 4 x rttvar, between GW_REQ_TIMEOUT_MS and
 * GW_RTO_MAX_MS. A worker that is slow under load, not gone, is then waited for instead of
 * sent every request again (at a million clients, one resend per registration). Only requests
 * sent once give samples (Karn); a sweep that resends backs the timeout off by 1.5, kept
 * until the next sample, so that a round trip longer than every deadline is still learned. */
struct gw_rto {
	int64_t srtt, rttvar;           /* ms; srtt 0: no sample yet */
	int64_t rto;                    /* ms */
};
void    gw_rto_init(struct gw_rto *r);
void    gw_rto_sample(struct gw_rto *r, int64_t rtt_ms);
void    gw_rto_backoff(struct gw_rto *r);

/* malloc for a long-running worker of the chat tree: freed memory stays in the heap (no trim
 * below 64 MiB at its top, no mmap below 4 MiB). glibc's default shrinks the heap by brk
 * whenever a free leaves 128 KiB at its top; with nanomsg's threads on the other CPU, each
 * shrink is a TLB shootdown by IPI. Call first thing in main. */
void   chat_malloc_tune(void);

/* A cache of freed blocks of one size, for the next taker (gw_util.c). A busy gateway takes and
 * gives back a connection's output buffer once per write and its input buffer once per read:
 * through malloc, an allocation and a free each time, and the heap shrinking and growing
 * again (chat_malloc_tune): 37% of a gateway's time under workload (b). At most
 * GW_BLOCKS_MAX blocks are kept; the rest go back to malloc. */
#define GW_BLOCKS_MAX 256
struct gw_blocks {
	size_t size, n;
	void *v[GW_BLOCKS_MAX];
};
/* A block of b->size bytes (uninitialised), or NULL (no memory). */
void  *gw_block_get(struct gw_blocks *b);
/* Give back a block from gw_block_get (NULL: nothing). */
void   gw_block_put(struct gw_blocks *b, void *p);

/* A bounded output queue of whole lines. */
struct gw_outq {
	char *buf;
	size_t off, len, cap;   /* pending bytes are buf[off, len) */
	size_t max;             /* bound on pending bytes */
};
void   gw_outq_init(struct gw_outq *q, size_t max);
void   gw_outq_fini(struct gw_outq *q);
/* Append n bytes (whole lines). 0, or -1 with ENOBUFS past the bound (nothing appended) or
 * ENOMEM. */
int    gw_outq_put(struct gw_outq *q, const void *data, size_t n);
size_t gw_outq_pending(const struct gw_outq *q);
const char *gw_outq_data(const struct gw_outq *q);
void   gw_outq_consume(struct gw_outq *q, size_t n);

/* Capabilities: bits of a connection's enabled set. */
enum gw_cap_bit {
	GW_CAP_MESSAGE_TAGS = 1u << 0,
	GW_CAP_SERVER_TIME  = 1u << 1,
	GW_CAP_ECHO         = 1u << 2,
	GW_CAP_BATCH        = 1u << 3,
	GW_CAP_LABELED      = 1u << 4,
	GW_CAP_SASL         = 1u << 5,
	GW_CAP_MULTI_PREFIX = 1u << 6,
	GW_CAP_CHATHISTORY  = 1u << 7,
	GW_CAP_USERHOST     = 1u << 8,      /* userhost-in-names */
};
/* The CAP LS list of the caps in `offered` (values only for 302 clients). Returns the length
 * or -1 (ENOSPC). */
int gw_cap_ls(char *buf, size_t cap, unsigned offered, bool v302);
/* The CAP LIST list of `enabled`. */
int gw_cap_list(char *buf, size_t cap, unsigned enabled);
/* Apply a CAP REQ text ("a b -c") to *enabled, all or nothing: 0 (applied), or -1 (a name
 * not offered, or an empty request: *enabled unchanged). */
int gw_cap_req(const char *text, unsigned offered, unsigned *enabled);

/* Targets of one JOIN or PART (TARGMAX). */
#define GW_TARGMAX 10

/* The 005 tokens, space-separated. Returns the length or -1 (ENOSPC). */
int gw_isupport(char *buf, size_t cap, const char *network, unsigned histmax);

/* Insert the tag key=value (value escaped) first in the formatted line `line` (with or without
 * a tag section). Returns the new length, or -1 (ENOSPC). */
ssize_t gw_tag_insert(char *dst, size_t cap, const char *line, size_t len, const char *key,
            const char *value);
/* Whether the formatted line carries the tag `key`. */
bool gw_tag_has(const char *line, size_t len, const char *key);

/* Decode standard base64 (with padding); returns the length or -1 (EINVAL, ENOSPC). */
ssize_t gw_b64_decode(const char *s, void *dst, size_t cap);

/* A NAMES list as storage sends it ("@alice!u@h bob!u@h") for a client: with userhost, as
 * it is; without, each name cut at its '!'. Names that do not fit dst[cap] whole are left
 * out. Returns the length. */
size_t gw_names_format(char *dst, size_t cap, const char *names, bool userhost);

/* The usual text of an error numeric ("No such channel"). */
const char *gw_numeric_text(unsigned num);

/* The gateway (chatd.c, gw_conn.c, gw_cmd.c, gw_backend.c): state shared by its modules. */
#include "letitcrash/actor.h"
#include "letitcrash/loop.h"
#include "chatproto.h"

#define GW_REQ_BUCKETS    1024
#define GW_CHANS_MAX      32            /* channels per connection */
#define GW_SENDQ_DEFAULT  (256 * 1024)
#define GW_LABEL_MAX      64
#define GW_HISTORY_MAX    100           /* CHATHISTORY=, at most CHAT_ITEMS_MAX */
#define GW_REQ_TIMEOUT_MS 2000          /* the least first deadline; then x1.5, up to 8 s */
#define GW_REQ_BACKOFF_MAX_MS 8000            /* or the RTO, if longer */
#define GW_RTO_MAX_MS     30000         /* the longest first deadline (struct gw_rto) */
#define GW_RESEND_LOG     8             /* resends logged one by one per sweep, then counted */
#define GW_REPAIR_MS      1000          /* forget idle targets; after a loss, ask what follows */
#define GW_REPAIR_LIMIT   16
#define GW_REG_TIMEOUT_DEFAULT  60      /* s to register (NICK, USER, CAP END, SASL) */
#define GW_PING_DEFAULT   120           /* s of silence before PING; as long again: dropped */
#define GW_PER_IP_DEFAULT 64            /* connections per source address and gateway */
#define GW_IDLE_SCAN_MS   1000          /* how often the timeouts above are checked */
#define GW_DRAIN_READS    4             /* reads of 64 KiB of unread input before a close */

struct gw;
struct gw_conn;

/* A request out at a backend worker, kept until its reply (by rid) and resent on deadline. */
struct gw_req {
	struct gw_req *next;            /* hash chain, by rid */
	uint64_t rid;
	uint16_t type;
	char to[64];
	void *body;
	size_t len;
	int64_t deadline, backoff;      /* ms */
	int64_t sent_ms;                /* first sent */
	bool resent;                    /* its answer is no round-trip sample (Karn) */
	bool retry;                     /* resend forever; else drop at the deadline */
	struct gw_conn *conn;           /* the connection waiting on it, or NULL */
	char target[CHAT_TARGET_MAX + 1]; /* SINCE: casefolded target */
};

enum gw_state { GW_NEW, GW_REGISTERING, GW_REGISTERED };

/* A connection's larger texts, rarely needed: allocated on first use (gw_text), so that an
 * idle connection stays small (docs/benchmarks.md, bench-conns). */
struct gw_text {
	char sasl[400 * 2 + 1];         /* AUTHENTICATE chunks so far */
	char op_text[CHAT_TEXT_MAX + 1]; /* the CHANNEL_OP out: PART reason or new topic */
	char quit[CHAT_TEXT_MAX + 1];   /* QUIT reason, for UNREGISTER */
	char targets[IRC_BODY_MAX + 1]; /* a JOIN/PART list's targets not yet handled, comma-separated */
};

struct gw_conn {
	struct gw *gw;
	int fd;
	char id[CHAT_CONN_MAX + 1];     /* "chatd.K/FD/SERIAL/PID" */
	struct lc_io io;
	uint32_t events;                /* what io is watched for */
	struct lc_timer flood_timer;
	struct gw_flood flood;
	struct gw_outq out;
	enum gw_state state;
	bool cap_neg;                   /* CAP negotiation holds registration */
	bool closing;
	bool eof;                       /* the client closed its side: finish its lines, close */
	unsigned caps;
	bool has_nick, has_user;
	char nick[CHAT_NICK_MAX + 1], user[CHAT_USER_MAX + 1], host[CHAT_HOST_MAX + 1];
	char realname[CHAT_REAL_MAX + 1], account[CHAT_ACCOUNT_MAX + 1];
	char prefix[CHAT_PREFIX_MAX + 1];
	struct gw_req *req;             /* the command's request out, at most one */
	uint64_t batch_serial;
	/* labeled-response: the current command's label and its replies held back */
	char label[GW_LABEL_MAX + 1];
	bool labeled;
	struct gw_outq lab;
	size_t lablines;
	struct gw_text *tx;             /* allocated by the first command that needs it */
	bool sasl_on;
	bool req_topic;                 /* the NAMES request out answers TOPIC #a */
	uint8_t post_kind;              /* the POST out: CHAT_K_PRIVMSG or CHAT_K_NOTICE */
	char hist_sub[8];               /* the CHATHISTORY out: its subcommand */
	uint8_t targets_op;             /* JOIN/PART of a comma list: CHAT_K_JOIN or CHAT_K_PART */
	bool umode_i;                   /* user mode +i (nothing else depends on it) */
	bool unregistered;              /* QUIT: its UNREGISTER was acknowledged, the nick is free */
	/* channels: names as joined, and the place in each channel's member list (with where the
	 * channel's live stream starts for this connection); allocated by the first JOIN, grown on
	 * demand (gw_chan_add) */
	unsigned nchans, capchans;
	char (*chans)[CHAT_TARGET_MAX + 1];
	struct gw_memb *memb;
	/* a JOIN out: the channel whose items are held in `hold` until its CHANNEL_DONE says
	 * which of them follow the JOIN (gw_backend.c); c is in its `joiners` meanwhile */
	struct gw_target *joining;
	struct gw_outq hold;
	/* QUIT and NICK once per user, whatever the channels: chat_hash of the last QUIT's
	 * prefix (with its time) and of the last NICK's "old!u@h new" */
	uint64_t last_quit, last_nick;
	int64_t last_quit_ms;
	/* a nick change out (gw_cmd.c): the nick asked for and the step's request out
	 * (chat_nick_step); from a successful CLAIM on, direct messages to nick_to are ours */
	char nick_to[CHAT_NICK_MAX + 1];
	uint8_t nick_step;
	bool dirty;
	struct gw_conn *dnext;          /* dirty list: output to flush */
	char addr[64];                  /* the peer's numeric address (per-IP limit) */
	int64_t born_ms;                /* accepted at (registration timeout) */
	int64_t last_in_ms;             /* last input, or last time the gateway held it up */
	int64_t pinged_ms;              /* when our PING went out (no input since), or 0 */
	struct irc_in *in;              /* input: allocated while it holds unhandled bytes */
};

/* One numbered stream of a target: its messages (item seq), or a channel's events (item id,
 * the event's position; seq 0). */
struct gw_stream {
	uint64_t last;                  /* the last position delivered; 0: not known yet */
	uint64_t rid;                   /* a SINCE / EV_SINCE out, or 0 */
	uint64_t ahead;                 /* highest position seen beyond a gap */
};

/* A target whose items this gateway delivers: per stream, the last position delivered; for a
 * channel, the local connections in it (an index of their `chans`: delivery never scans every
 * connection). Kept in a hash table by name; freed (repair) once it has no member and no
 * SINCE out. */
struct gw_target {
	struct gw_target *next;         /* hash chain */
	char name[CHAT_TARGET_MAX + 1]; /* casefolded */
	struct gw_stream msg, ev;
	struct gw_conn **members;       /* channels: the local members, in no order */
	size_t nmembers, cmembers;
	struct gw_conn **joiners;       /* channels: local connections with a JOIN of it out */
	size_t njoiners, cjoiners;
};

/* A connection's membership of a channel: its target and its slot in t->members; where the
 * channel's live stream starts for it (its JOIN's CHANNEL_DONE): items with seq > seq, or
 * seq 0 events with id > ev. */
struct gw_memb {
	struct gw_target *t;
	size_t slot;
	uint64_t seq, ev;
};

struct gw {
	struct lc_loop *loop;
	struct lc_actor *actor;
	const char *name, *server, *network, *version;
	char created[64];
	unsigned nsessions;
	double flood_rate, flood_burst;
	size_t sendq;
	int64_t reg_timeout_ms;         /* unregistered connections are dropped after it */
	int64_t ping_ms;                /* registered and silent: PING after it; 0: off */
	unsigned max_per_ip;            /* 0: no limit */
	uint64_t nrefused;              /* connections refused by max_per_ip */
	int64_t refused_log_ms;         /* when a refusal was last logged (once a second) */
	bool require_sasl;              /* registration needs a SASL account */
	struct lc_timer idle;           /* the scan for the timeouts above */
	int lfd;
	struct lc_io lio;
	struct gw_conn **conns;         /* by fd */
	size_t nconns;
	uint64_t next_serial, next_rid;
	pid_t pid;                      /* in every connection id: this incarnation */
	struct gw_req *reqs[GW_REQ_BUCKETS];
	size_t nreqs;
	struct gw_rto rto;
	struct lc_timer tick;
	int64_t next_repair;
	uint64_t fan_got, fan_epoch;    /* ITEMs received from storage's start fan_epoch */
	bool repair_all;                /* some were lost: ask after every stream served */
	struct gw_target **tbuckets;    /* hash table of targets, ntbuckets a power of 2 */
	size_t ntbuckets, ntargets;
	struct chat_msg *msg, *enc;     /* decode and encode scratch (large) */
	struct gw_conn *dirty;
	struct lc_hook flushh;          /* before every wait: gw_flush */
};

/* gw_conn.c */
int  gw_listen(struct gw *gw, const char *addr);
/* Start the once-a-second scan for registration and ping timeouts. */
void gw_idle_start(struct gw *gw);
/* Handle the connection's next lines while no request is out and the flood bucket allows. */
void gw_conn_resume(struct gw_conn *c);
/* Close now (after a last try to write what is queued, `error` first as ERROR :error). */
void gw_conn_close(struct gw_conn *c, const char *error);
/* Queue one formatted line (CRLF included): a delivery, never part of a labeled reply. */
void gw_out(struct gw_conn *c, const char *line, size_t len);
/* Queue a reply of the current command (labeled-response aware). */
void gw_reply_raw(struct gw_conn *c, const char *line, size_t len);
void gw_reply(struct gw_conn *c, struct irc_msg *m);
/* `:server NUM nick params...` (NULL-terminated) as a reply. */
void gw_num(struct gw_conn *c, unsigned num, ...);
/* The current command is complete: close its labeled response. */
void gw_cmd_end(struct gw_conn *c);
void gw_flush(struct gw *gw);
struct gw_conn *gw_conn_by_id(struct gw *gw, const char *id);
const char *gw_nick(const struct gw_conn *c);    /* the nick, or "*" */
/* c's texts, allocated (zeroed) on the first call; exits on lack of memory. */
struct gw_text *gw_text(struct gw_conn *c);
/* c's op_text, "" if it has no texts yet. */
static inline const char *
gw_op_text(const struct gw_conn *c)
{
	return c->tx ? c->tx->op_text : "";
}

/* gw_cmd.c */
/* Handle one complete line; ends the command unless a request is out. */
void gw_cmd_line(struct gw_conn *c, char *line);
/* Registration may complete: send REGISTER if NICK, USER are in and CAP/SASL are over. */
void gw_try_register(struct gw_conn *c);
void gw_welcome(struct gw_conn *c);
bool gw_in_chan(const struct gw_conn *c, const char *chan);
/* The channel joined; its live stream starts after message seq and event position ev. */
void gw_chan_add(struct gw_conn *c, const char *chan, uint64_t seq, uint64_t ev);
void gw_chan_del(struct gw_conn *c, const char *chan);
/* Send a CHANNEL_OP (op, target, text) to `to` (NULL: the user's session) for the current
 * command; text is kept in c->op_text. */
void gw_op_request(struct gw_conn *c, uint8_t op, const char *target, const char *text,
            const char *to);
/* Work through the rest of a JOIN/PART list: bad names are answered at once, until one
 * target's request is out or none is left. */
void gw_targets_next(struct gw_conn *c);
/* The answer to a nick change's step: send the next step, or end the change (433 ..., or
 * success: `:old!u@h NICK :new` and c's nick and prefix are the new ones). */
void gw_nick_done(struct gw_conn *c, const struct chat_msg *m);
/* Whether a direct message to `nick` is for c (its nick, or the one it is changing to). */
bool gw_is_nick(const struct gw_conn *c, const char *nick);

/* gw_query.c: MODE, WHO, WHOIS, LIST (commands, and their answers from storage). */
void gw_cmd_mode(struct gw_conn *c, struct irc_msg *m);
void gw_cmd_who(struct gw_conn *c, struct irc_msg *m);
void gw_cmd_whois(struct gw_conn *c, struct irc_msg *m);
void gw_cmd_list(struct gw_conn *c, struct irc_msg *m);
/* The CHANNEL_DONE of a query (op CHAT_K_WHO .. CHAT_K_MODE). */
void gw_query_done(struct gw_conn *c, const struct chat_msg *m);
/* Leave every channel (the connection closes) and free the channel arrays. */
void gw_chans_drop(struct gw_conn *c);

/* gw_backend.c */
/* Send m (its rid is set here) to `to` and keep it until its reply; c waits on it (NULL for
 * none). retry: resend on deadline forever, else drop. Returns the request. */
struct gw_req *gw_request(struct gw *gw, struct gw_conn *c, const char *to, struct chat_msg *m,
            bool retry);
/* Forget the requests of a connection that closes (and unregister its nicks). */
void gw_conn_forget(struct gw_conn *c);
/* UNREGISTER nick for c at its session, resent until acknowledged (also after c is gone):
 * c's reason, or "Connection closed". waiter: the connection waiting on it, or NULL. */
struct gw_req *gw_unregister(struct gw_conn *c, const char *nick, struct gw_conn *waiter);
/* QUIT: unregister c's nick as its request; on the ACK, ERROR and close (so the nick is free
 * by the time the client sees ERROR). false if c holds no nick (close at once). */
bool gw_quit_request(struct gw_conn *c);
void gw_on_message(struct lc_actor *a, const struct lc_msg *m, void *arg);
void gw_tick(struct lc_loop *l, struct lc_timer *t);
/* The target `name` (any case), created if missing. */
struct gw_target *gw_target_watch(struct gw *gw, const char *name);
/* Put c in t's member list; its slot there. */
size_t gw_target_join(struct gw_target *t, struct gw_conn *c);
/* Take the member at `slot` out of t's list (the last one moves there: its gw_memb follows). */
void gw_target_leave(struct gw_target *t, size_t slot);
/* Deliver an item to the local connections concerned (no seq bookkeeping). */
void gw_deliver_item(struct gw *gw, const struct chat_item *it);
/* A JOIN of `chan` goes out for c: hold the channel's items from now until its reply. */
void gw_join_hold(struct gw_conn *c, const char *chan);
/* Drop what a JOIN held (the JOIN failed, or c closes). */
void gw_join_release(struct gw_conn *c);
/* Format an item as a line for c, with the tags c's caps allow, plus batch if given. */
ssize_t gw_item_line(const struct gw_conn *c, const struct chat_item *it, const char *batch,
            char *buf, size_t cap);

#endif
