/* The only module that calls nanomsg: see letitcrash/sock.h for the contract. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "letitcrash/sock.h"

#define RECONNECT_IVL_MS 20
#define REQ_RESEND_IVL_MS 60000

static int
setint(int s, int level, int opt, int v)
{
	return nn_setsockopt(s, level, opt, &v, sizeof v);
}

int
lc_sock_open(enum lc_sock_kind kind)
{
	static const int proto[] = {
		[LC_SOCK_PUSH] = NN_PUSH, [LC_SOCK_PULL] = NN_PULL,
		[LC_SOCK_PUB] = NN_PUB,   [LC_SOCK_SUB] = NN_SUB,
		[LC_SOCK_REQ] = NN_REQ,   [LC_SOCK_REP] = NN_REP,
		[LC_SOCK_REP_RAW] = NN_REP,
	};
	int s = nn_socket(kind == LC_SOCK_REP_RAW ? AF_SP_RAW : AF_SP, proto[kind]);
	if (s < 0)
		return -1;
	if (setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, LC_SOCK_MAXMSG) < 0 ||
	    setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, RECONNECT_IVL_MS) < 0 ||
	    (kind == LC_SOCK_REQ &&
	     setint(s, NN_REQ, NN_REQ_RESEND_IVL, REQ_RESEND_IVL_MS) < 0)) {
		int e = errno;
		nn_close(s);
		errno = e;
		return -1;
	}
	return s;
}

int lc_sock_close(int s) { return nn_close(s); }
int lc_sock_shutdown(int s, int ep) { return nn_shutdown(s, ep); }

static int
addr_ok(const char *addr)
{
	if (strncmp(addr, "ipc://", 6) == 0 && strlen(addr + 6) >= LC_SOCK_PATHMAX) {
		errno = ENAMETOOLONG;
		return 0;
	}
	return 1;
}

/* An ipc:// socket file is created private (mode 0700 under umask 077, whatever the process's
 * umask): only its owner may connect. nn_bind creates the file before it returns. */
int
lc_sock_bind(int s, const char *addr)
{
	if (!addr_ok(addr))
		return -1;
	if (strncmp(addr, "ipc://", 6) != 0)
		return nn_bind(s, addr);
	mode_t old = umask(077);
	int r = nn_bind(s, addr);
	int e = errno;
	umask(old);
	errno = e;
	return r;
}

int
lc_sock_connect(int s, const char *addr)
{
	return addr_ok(addr) ? nn_connect(s, addr) : -1;
}

int
lc_sock_subscribe(int s, const char *topic)
{
	return nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic));
}

int
lc_sock_timeouts(int s, int send_ms, int recv_ms)
{
	if (setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, send_ms) < 0)
		return -1;
	return setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, recv_ms);
}

int
lc_sock_resend_ivl(int s, int ms)
{
	return setint(s, NN_REQ, NN_REQ_RESEND_IVL, ms);
}

int
lc_sock_recv_fd(int s)
{
	int fd;
	size_t sz = sizeof fd;
	if (nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) < 0)
		return -1;
	return fd;
}

int
lc_sock_send_fd(int s)
{
	int fd;
	size_t sz = sizeof fd;
	if (nn_getsockopt(s, NN_SOL_SOCKET, NN_SNDFD, &fd, &sz) < 0)
		return -1;
	return fd;
}

int
lc_sock_send(int s, const void *buf, size_t len, int flags)
{
	if (len > LC_SOCK_MAXMSG) {
		errno = EMSGSIZE;
		return -1;
	}
	return nn_send(s, buf, len, flags & LC_SOCK_DONTWAIT ? NN_DONTWAIT : 0);
}

ssize_t
lc_sock_recv(int s, void **msg, int flags)
{
	void *m = NULL;
	int n = nn_recv(s, &m, NN_MSG, flags & LC_SOCK_DONTWAIT ? NN_DONTWAIT : 0);
	if (n < 0)
		return -1;
	*msg = m;
	return n;
}

void
lc_sock_free(void *msg)
{
	if (msg)
		nn_freemsg(msg);
}

int
lc_sock_recv_req(int s, struct lc_sock_req *req, int flags)
{
	void *body = NULL, *ctl = NULL;
	struct nn_iovec iov = { .iov_base = &body, .iov_len = NN_MSG };
	struct nn_msghdr h = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = &ctl, .msg_controllen = NN_MSG,
	};
	int n = nn_recvmsg(s, &h, flags & LC_SOCK_DONTWAIT ? NN_DONTWAIT : 0);
	if (n < 0)
		return -1;
	req->body = body;
	req->len = (size_t)n;
	req->hdr = ctl;
	return 0;
}

int
lc_sock_reply(int s, struct lc_sock_req *req, const void *buf, size_t len)
{
	if (len > LC_SOCK_MAXMSG) {
		errno = EMSGSIZE;
		return -1;
	}
	void *m = nn_allocmsg(len, 0);
	if (!m)
		return -1;
	memcpy(m, buf, len);
	struct nn_iovec iov = { .iov_base = &m, .iov_len = NN_MSG };
	struct nn_msghdr h = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = &req->hdr, .msg_controllen = NN_MSG,
	};
	int r = nn_sendmsg(s, &h, NN_DONTWAIT);
	if (r < 0) {
		int e = errno;
		nn_freemsg(m);
		lc_sock_req_free(req);
		errno = e;
		return -1;
	}
	req->hdr = NULL;    /* nanomsg took the header with the message */
	lc_sock_req_free(req);
	return 0;
}

void
lc_sock_req_free(struct lc_sock_req *req)
{
	if (req->body)
		nn_freemsg(req->body);
	if (req->hdr)
		nn_freemsg(req->hdr);
	req->body = req->hdr = NULL;
}

int
lc_sock_ipc_addr(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "ipc://%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len || (size_t)n - 6 >= LC_SOCK_PATHMAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

const char *
lc_sock_strerror(int err)
{
	return nn_strerror(err);
}
