/* lc_ready (letitcrash/actor.h): tell the supervisor this process is ready. Shared by actors,
 * the workers of workers/ and nested supervisors. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "letitcrash/actor.h"

static int ready_done;

/* sd_notify(3)'s "READY=1" to path ('@' first: abstract namespace). */
static int
notify_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	socklen_t salen;
	int fd, e;
	ssize_t r;

	if (len == 0 || len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@')) {
		errno = EINVAL;
		return -1;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	r = sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	e = errno;
	close(fd);
	errno = e;
	return r == 7 ? 0 : -1;
}

/* LETITCRASH_READY_FD=N: write "\n" on N and close it (s6's notification-fd); else
 * NOTIFY_SOCKET: "READY=1" as sd_notify(3); else nothing (ready at exec). Both variables are
 * removed from the environment so that our own children never see them. Only the first call
 * does anything. -1 with EINVAL for a malformed variable, or the errno of write/sendto. */
int
lc_ready(void)
{
	const char *v;
	int r = 0;

	if (ready_done)
		return 0;
	ready_done = 1;
	if ((v = getenv("LETITCRASH_READY_FD")) && *v) {
		char *end;
		long fd;
		ssize_t w;

		errno = 0;
		fd = strtol(v, &end, 10);
		if (errno || *end || fd < 0 || fd > INT_MAX) {
			errno = EINVAL;
			r = -1;
		} else {
			while ((w = write((int)fd, "\n", 1)) < 0 && errno == EINTR)
				;
			r = w == 1 ? 0 : -1;
			if (r == 0)
				close((int)fd);
		}
	} else if ((v = getenv("NOTIFY_SOCKET")) && *v) {
		r = notify_socket(v);
	}
	int e = errno;
	unsetenv("LETITCRASH_READY_FD");
	unsetenv("NOTIFY_SOCKET");
	errno = e;
	return r;
}
