/*
 * Readiness, told to whoever waits: the launcher (detach.c), systemd
 * through $NOTIFY_SOCKET, and s6 through a notification fd.
 *
 * The sd_notify sender is written here rather than taken from libsystemd:
 * it is one datagram, systemd documents the protocol as stable and
 * publishes its own sender for copying into programs precisely so that
 * they need not link libsystemd, and libdctx must not depend on systemd.
 * The socket is connected at dctx_open(), before any chroot can hide its
 * path.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dctx-internal.h"

DCTX_EXPORT int
dctx_set_notification_fd(struct dctx *ctx, int fd)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "notification fd");
	if (fd != -1 && (fd < 3 || fcntl(fd, F_GETFD) < 0))
		return dctx__fail(ctx, -EBADF, "notification fd %d", fd);
	ctx->s6_fd = fd;
	return 0;
}

int
dctx__notify_open(struct dctx *ctx)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;
	socklen_t salen;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path))
		return dctx__fail(ctx, -EINVAL, "NOTIFY_SOCKET '%s'", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	/* "@name" is an abstract socket: a leading NUL, no trailing one. */
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dctx__fail(ctx, -errno, "NOTIFY_SOCKET %s: socket", path);
	if (connect(fd, (struct sockaddr *)&sun, salen) < 0) {
		int rc = -errno;
		close(fd);
		return dctx__fail(ctx, rc, "NOTIFY_SOCKET %s", path);
	}
	ctx->notify_fd = fd;
	/*
	 * The socket is ours now; programs the daemon runs must not take it
	 * for theirs (sd_notify's unset_environment does the same).
	 */
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

int
dctx__notify(struct dctx *ctx, const char *msg)
{
	/* A forked worker speaks for nobody: only the daemon tells systemd. */
	if (ctx->notify_fd < 0 || ctx->pid != getpid())
		return 0;
	if (send(ctx->notify_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int
dctx__ready(struct dctx *ctx)
{
	char msg[64];
	int rc, nrc;

	rc = dctx__report(ctx, 0, NULL);
	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld", (long)getpid());
	if ((nrc = dctx__notify(ctx, msg)) < 0 && rc == 0)
		rc = nrc;
	/* s6: a newline, then close, so s6 sees the readiness once. */
	if (ctx->s6_fd >= 0) {
		if ((nrc = dctx__write_nosigpipe(ctx->s6_fd, "\n", 1)) < 0 &&
		    rc == 0)
			rc = nrc;
		close(ctx->s6_fd);
		ctx->s6_fd = -1;
	}
	return rc;
}
