/* letitcrash: the message sockets (nanomsg 1.1.5 underneath; every nn_* call of the project lives
 * in ipc/nn.c, so that moving to NNG is a one-module change).
 *
 * Rules applied here for every socket (see NANOMSG.md in the design notes and docs/ipc.md):
 * NN_RCVMAXSIZE set to LC_SOCK_MAXMSG, NN_RECONNECT_IVL small, NN_REQ_RESEND_IVL explicit,
 * ipc:// paths checked for length before nanomsg sees them. Sends are never blocking when
 * LC_SOCK_DONTWAIT is given; a blocking send or receive honours the socket's timeouts. */
#ifndef LETITCRASH_SOCK_H
#define LETITCRASH_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#define LC_SOCK_MAXMSG   (1024 * 1024)    /* largest message we ever send or accept */
#define LC_SOCK_PATHMAX  100              /* longest ipc:// path we accept (nanomsg aborts at 108) */
#define LC_SOCK_DONTWAIT 1

enum lc_sock_kind {
	LC_SOCK_PUSH, LC_SOCK_PULL,
	LC_SOCK_PUB, LC_SOCK_SUB,
	LC_SOCK_REQ, LC_SOCK_REP,
	LC_SOCK_REP_RAW,        /* raw REP: many requests in flight, replies in any order */
};

/* A request received on a raw REP socket; reply to it (once) with lc_sock_reply(). */
struct lc_sock_req {
	void *body;             /* owned: freed by lc_sock_reply() or lc_sock_req_free() */
	size_t len;
	void *hdr;              /* private: nanomsg's routing header */
};

int  lc_sock_open(enum lc_sock_kind kind);                 /* socket id >= 0, or -1 */
int  lc_sock_close(int s);
int  lc_sock_bind(int s, const char *addr);                /* endpoint id >= 0, or -1 */
int  lc_sock_connect(int s, const char *addr);
int  lc_sock_shutdown(int s, int endpoint);
int  lc_sock_subscribe(int s, const char *topic);          /* SUB; "" for all */
int  lc_sock_timeouts(int s, int send_ms, int recv_ms);    /* -1: none */
int  lc_sock_resend_ivl(int s, int ms);                    /* REQ */
/* The descriptor that is readable while a message can be received (EPOLLIN, level). Never
 * read, write or close it. */
int  lc_sock_recv_fd(int s);
/* The descriptor that is readable while a message can be sent without blocking (EPOLLIN,
 * level: nanomsg's NN_SNDFD). Never read, write or close it. */
int  lc_sock_send_fd(int s);

int     lc_sock_send(int s, const void *buf, size_t len, int flags);
/* Receive one message into a fresh buffer: returns its length and sets *msg (free with
 * lc_sock_free), or -1 with errno (EAGAIN when LC_SOCK_DONTWAIT and nothing is there). */
ssize_t lc_sock_recv(int s, void **msg, int flags);
void    lc_sock_free(void *msg);

int  lc_sock_recv_req(int s, struct lc_sock_req *req, int flags);  /* raw REP */
int  lc_sock_reply(int s, struct lc_sock_req *req, const void *buf, size_t len);
void lc_sock_req_free(struct lc_sock_req *req);

/* Build "ipc://DIR/NAME" into buf; -1 with ENAMETOOLONG if the path would be too long. */
int  lc_sock_ipc_addr(char *buf, size_t len, const char *dir, const char *name);
const char *lc_sock_strerror(int err);

#endif
