/* letitcrash chat: the terminal client's protocol core (chatd/client.c).
 *
 * Pure code over the IRC core of chatd.h: it reads server lines and user commands, keeps the
 * session (caps, nick, channels, last message seen per channel, open history batches) and
 * writes what to send into a bounded output queue and what to show through a print callback.
 * No sockets, no allocation, no clock except the wall clock for lines without server-time.
 * chat.c owns the I/O: the connection, stdin, timers and reconnection. docs/chat-client.md. */
#ifndef CHATD_CLIENT_H
#define CHATD_CLIENT_H

#include "chatd.h"

#define CL_CHANS_MAX   32
#define CL_SEEN_MAX    1024         /* msgids remembered to drop duplicates (a ring of hashes) */
#define CL_OUT_CAP     (64 * 1024)  /* bytes queued to the server; past it, c->overflow */
#define CL_BATCH_MAX   8            /* open batches tracked at once */
#define CL_HREQ_MAX    16           /* CHATHISTORY requests waiting for their batch */
#define CL_REF_MAX     96           /* "msgid=..." or "timestamp=..." */
#define CL_FILL_LIMIT  100          /* messages asked for after a reconnection */

/* Capabilities we request when offered. */
enum {
	CL_CAP_SERVER_TIME = 1 << 0,
	CL_CAP_ECHO        = 1 << 1,
	CL_CAP_BATCH       = 1 << 2,
	CL_CAP_HISTORY     = 1 << 3,    /* draft/chathistory */
	CL_CAP_TAGS        = 1 << 4,    /* message-tags */
};

enum cl_hmode { CL_H_LOG, CL_H_FILL };  /* print everything / only what was not seen */
enum cl_task { CL_TASK_NONE, CL_TASK_POST, CL_TASK_LOG };
enum cl_result { CL_RUNNING, CL_DONE, CL_FAILED };

struct cl_chan {
	char name[IRC_CHAN_MAX + 1];
	bool joined;            /* our JOIN came back on this connection */
	bool fill;              /* on our next JOIN, ask for the messages missed meanwhile */
	char last[CL_REF_MAX];  /* reference of the newest message seen, or "" */
	int64_t last_ms;        /* its server time (ms), or 0 */
};

struct cl_batch {
	char ref[64];           /* "" when the slot is free */
	bool history;           /* a chathistory batch (others are transparent) */
	enum cl_hmode mode;
	bool task;              /* the one-shot log's answer */
	char target[IRC_CHAN_MAX + 1];
};

struct cl_hreq {
	char target[IRC_CHAN_MAX + 1];
	enum cl_hmode mode;
	bool task;
};

typedef void cl_print_fn(void *arg, const char *line);

struct chat_client {
	char want[IRC_NICK_MAX + 1];    /* the nick asked for on the command line or by /nick */
	char nick[IRC_NICK_MAX + 1];    /* the nick we have or are registering with */
	bool registered;
	unsigned offered, enabled;      /* CL_CAP_* */
	unsigned hist_max;              /* ISUPPORT CHATHISTORY=, 0 when not given */
	bool quiet;                     /* one-shot: show only the history asked for */

	struct cl_chan chans[CL_CHANS_MAX];
	size_t nchans;
	int cur;                        /* current channel (index), -1 for none */
	char next_cur[IRC_CHAN_MAX + 1];/* becomes current when our JOIN of it comes back */

	uint64_t seen[CL_SEEN_MAX];     /* FNV-1a of msgids, ring */
	size_t nseen;

	struct cl_batch batch[CL_BATCH_MAX];
	struct cl_hreq hreq[CL_HREQ_MAX];
	size_t nhreq;

	/* one-shot task: post or log on one channel, then the caller quits */
	enum cl_task task;
	char task_chan[IRC_CHAN_MAX + 1];
	char task_text[IRC_BODY_MAX + 1];
	unsigned task_n;
	bool task_started, task_echoed;
	char token[32];                 /* PING token the task waits for, or "" */
	unsigned ntoken;

	enum cl_result result;          /* CL_FAILED is fatal for interactive sessions too */
	char error[256];

	char out[CL_OUT_CAP];           /* queued to the server, whole lines */
	size_t outlen;
	bool overflow;                  /* a line did not fit: the caller drops the connection */

	cl_print_fn *print;
	void *arg;
};

/* Set up a client for `nick`; lines to show go to print(arg, line) (no newline). */
int  cl_init(struct chat_client *c, const char *nick, cl_print_fn *print, void *arg);
/* One-shot tasks, set before the first connection: post `text` to `chan` and wait for the
 * server's acknowledgement, or print the last `n` messages of `chan`. -1 (EINVAL) on a bad
 * channel name. */
int  cl_task_post(struct chat_client *c, const char *chan, const char *text);
int  cl_task_log(struct chat_client *c, const char *chan, unsigned n);
/* A new connection is up: forget the previous one's session and queue the registration. */
void cl_connected(struct chat_client *c);
/* The connection is gone: channels are to be rejoined (and their gap filled) next time. */
void cl_disconnected(struct chat_client *c);
/* Handle one line from the server (modified in place). */
void cl_line(struct chat_client *c, char *line);
/* Handle one line typed by the user. Returns 1 when the user asked to quit, else 0. */
int  cl_command(struct chat_client *c, const char *input);
/* Queue QUIT with an optional reason. */
void cl_quit(struct chat_client *c, const char *reason);
/* Format `ms` (server time, or <0 for now) as local HH:MM:SS. */
void cl_clock(char *buf, size_t cap, int64_t ms);

#endif
