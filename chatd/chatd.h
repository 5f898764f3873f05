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

#endif
