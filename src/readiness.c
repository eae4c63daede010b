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

/*
 * Turn the address $NOTIFY_SOCKET names into a socket address: a path
 * ("/...", with its NUL) or an abstract name ("@...": a leading NUL, no
 * trailing one, and at least one byte of name).  systemd also knows
 * "vsock:" addresses, for a service manager outside a virtual machine; a
 * daemon inside one is rare, so that form is refused with -EAFNOSUPPORT
 * and the caller treats it like any address it cannot reach.  Anything
 * else, or a name too long for sun_path, is -EINVAL.  Pure: the
 * environment is outside input, and this is its fuzz target.
 */
int
dctx__notify_address(const char *addr, struct sockaddr_un *sun,
    socklen_t *len)
{
	size_t n = strlen(addr);

	if (strncmp(addr, "vsock", 5) == 0)
		return -EAFNOSUPPORT;
	if (addr[0] == '/' ? n >= sizeof(sun->sun_path) :
	    addr[0] != '@' || n < 2 || n > sizeof(sun->sun_path))
		return -EINVAL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, addr, n);
	if (addr[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (addr[0] == '/'));
	return 0;
}

/* Connect a datagram socket to the address $NOTIFY_SOCKET names. */
static int
notify_connect(const char *path, int *out)
{
	struct sockaddr_un sun;
	socklen_t salen;
	int fd, rc;

	if ((rc = dctx__notify_address(path, &sun, &salen)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, salen) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/*
 * sd_notify(3) treats a socket it cannot reach as no reason to fail, and
 * so do we: a variable left over in a shell that once ran a service (the
 * usual way to meet one) names a socket nobody listens on.  The operator
 * is told once per context, here (a retried dctx_open() finds the same
 * variable and stays quiet), and the daemon goes on as if the variable
 * were unset: no service manager waits, so DCTX_DETACH_AUTO detaches as
 * it would from any shell.
 *
 * The variable stays in the environment until the open succeeds
 * (dctx__notify_opened()): a failed dctx_open() may be retried, and the
 * retry must find the address again, connect, and tell systemd READY=1.
 */
int
dctx__notify_open(struct dctx *ctx)
{
	const char *path = getenv("NOTIFY_SOCKET");
	int rc;

	if (path == NULL || path[0] == '\0' || ctx->notify_fd >= 0)
		return 0;
	if ((rc = notify_connect(path, &ctx->notify_fd)) < 0 &&
	    !ctx->notify_warned) {
		dctx__log(ctx, LOG_WARNING, "NOTIFY_SOCKET %s: %s; no service "
		    "manager will be told", path, dctx_strerror(rc));
		ctx->notify_warned = 1;
	}
	return 0;
}

/*
 * The open succeeded: the variable was for us, not for the programs the
 * daemon runs (sd_notify's unset_environment), which would otherwise
 * take systemd's socket for theirs.  The socket itself stays connected.
 */
void
dctx__notify_opened(void)
{
	unsetenv("NOTIFY_SOCKET");
}

int
dctx__notify(struct dctx *ctx, const char *msg)
{
	/*
	 * A forked worker speaks for nobody: only the daemon tells systemd,
	 * or before dctx_open() the process that prepared (a status or more
	 * time for a slow start, status.c).  A closed context says nothing.
	 */
	pid_t speaker = ctx->is_open ? ctx->pid :
	    ctx->prepared ? ctx->prepared_pid : 0;

	if (ctx->notify_fd < 0 || speaker != getpid())
		return 0;
	/* The new process of an upgrade is not the main one before it is
	 * ready: systemd would refuse it (upgrade.c).  Its status line is
	 * held until then (upgrade-new.c). */
	if (ctx->up_child)
		return dctx__upgrade_hold(ctx, msg, -1);
	if (send(ctx->notify_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int
dctx__ready(struct dctx *ctx)
{
	char msg[64];
	int rc, nrc;

	ctx->start_told = ctx->ready_told = 1;
	/* The new process of an upgrade tells the old daemon only. */
	if (ctx->up_child)
		return dctx__upgrade_ready(ctx);
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

/*
 * The errno a failure gives systemd's ERRNO=, which must be an errno
 * value (sd_notify(3)): our own codes are told as the nearest one, as
 * FreeBSD's pidfile_open() says EEXIST for a pidfile somebody holds.
 */
static int
errno_of(int code)
{
	switch (code) {
	case DCTX_ERUNNING:	return EEXIST;
	case DCTX_ENOUSER:	return ENOENT;
	case DCTX_EPRIVS:	return EPERM;
	case DCTX_ESIGNAL:	return EINVAL;
	case DCTX_EOPEN:	return EALREADY;
	case DCTX_EDAEMON:	return ECHILD;
	default:		return code < 0 && code > -4096 ? -code : EIO;
	}
}

/*
 * Tell systemd that the start failed: "STATUS=" with the message (one
 * line: a newline would begin another assignment) and "ERRNO=".  A
 * failure before the socket was connected, or one in a process that
 * never connected it, connects for this one datagram.  Nothing here can
 * fail the caller: the failure it reports is what matters.
 */
void
dctx__notify_failed(struct dctx *ctx, int code, const char *msg)
{
	char buf[64 + sizeof(ctx->errmsg)], *p;
	const char *path;
	int fd = ctx->notify_fd, own = 0;

	/* systemd's main process is the old daemon, which tells it. */
	if (ctx->up_child)
		return;
	if (fd < 0) {
		path = getenv("NOTIFY_SOCKET");
		if (path == NULL || path[0] == '\0' ||
		    notify_connect(path, &fd) < 0)
			return;
		own = 1;
	}
	memcpy(buf, "STATUS=", 7);
	dctx__shorten(buf + 7, sizeof(ctx->errmsg), msg);
	for (p = buf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(p, sizeof(buf) - (size_t)(p - buf), "\nERRNO=%d",
	    errno_of(code));
	(void)send(fd, buf, strlen(buf), MSG_NOSIGNAL);
	if (own)
		close(fd);
}

/*
 * The start failed: tell the launcher (with its exit status) and systemd,
 * once.  The caller has released the pidfile first, so that whoever
 * learns of the failure and starts the daemon again finds it free.
 */
int
dctx__start_failed(struct dctx *ctx, int status, int code, const char *msg)
{
	if (ctx->start_told)
		return -EALREADY;
	ctx->start_told = 1;
	dctx__notify_failed(ctx, code, msg);
	return dctx__report(ctx, status, msg);
}
