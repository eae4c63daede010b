/*
 * systemd's file descriptor store: a descriptor sent with "FDSTORE=1" on
 * the notify socket is kept open by systemd while the service restarts
 * (systemctl restart, or Restart= after a crash), and handed to the next
 * process as a socket-activated one, in LISTEN_FDS with its name in
 * LISTEN_FDNAMES.  A listening socket kept there outlives the process:
 * connections that arrive while the old process drains and the new one
 * starts wait in its accept queue instead of being refused.
 *
 * The datagram goes through the socket readiness.c connected at open, as
 * every other notification does, so it works after a chroot too; the
 * descriptor rides along as SCM_RIGHTS (sd_pid_notify_with_fds(3)).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dctx-internal.h"

/* systemd's FDNAME_MAX: LISTEN_FDNAMES carries at most this much a name. */
#define FDNAME_MAX 255

/*
 * systemd's own rule (fdname_is_valid()): printable ASCII but ':', which
 * separates the names in LISTEN_FDNAMES.  An empty name is refused too:
 * systemd would call it "stored", and FDSTOREREMOVE would miss it.
 */
static int
check_name(struct dctx *ctx, const char *what, const char *name)
{
	size_t n;

	if (name == NULL)
		return dctx__fail(ctx, -EINVAL, "%s: no name", what);
	for (n = 0; name[n] != '\0'; n++)
		if (name[n] < ' ' || name[n] > '~' || name[n] == ':')
			return dctx__fail(ctx, -EINVAL, "%s: name '%.64s': "
			    "not printable ASCII without ':'", what, name);
	if (n == 0 || n > FDNAME_MAX)
		return dctx__fail(ctx, -EINVAL, "%s: name of %zu bytes, not "
		    "1 to %d", what, n, FDNAME_MAX);
	return 0;
}

/*
 * Whether there is a service manager to tell: the context is open, the
 * notify socket connected, and we are the daemon itself (a forked
 * worker speaks for nobody, as in dctx__notify()).  1 when there is, 0
 * when not, or the error.
 */
static int
can_tell(struct dctx *ctx, const char *what)
{
	if (!ctx->is_open)
		return dctx__fail(ctx, -EINVAL, "%s: the context is not open",
		    what);
	return ctx->notify_fd >= 0 && ctx->pid == getpid();
}

/*
 * msg with fd attached, on the notify socket.  The new process of an
 * upgrade is not systemd's main process before it is ready, and systemd
 * would close the descriptor: it is held until then (upgrade-new.c).
 */
int
dctx__notify_with_fd(struct dctx *ctx, const char *msg, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	char buf[32 + FDNAME_MAX];
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;

	if (ctx->up_child)
		return dctx__upgrade_hold(ctx, msg, fd);
	snprintf(buf, sizeof(buf), "%s", msg);
	iov.iov_base = buf;
	iov.iov_len = strlen(buf);
	memset(&control, 0, sizeof(control));
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(ctx->notify_fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

DCTX_EXPORT int
dctx_fdstore(struct dctx *ctx, int fd, const char *name)
{
	char msg[32 + FDNAME_MAX];
	int rc;

	if ((rc = can_tell(ctx, "fdstore")) < 0 ||
	    (rc = check_name(ctx, "fdstore", name)) < 0)
		return rc;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return dctx__fail(ctx, -EBADF, "fdstore fd %d", fd);
	if (!can_tell(ctx, "fdstore"))
		return 0;
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	if ((rc = dctx__notify_with_fd(ctx, msg, fd)) < 0)
		return dctx__fail(ctx, rc, "fdstore %s: FDSTORE=1 on "
		    "NOTIFY_SOCKET", name);
	return 1;
}

DCTX_EXPORT int
dctx_fdstore_remove(struct dctx *ctx, const char *name)
{
	char msg[32 + FDNAME_MAX];
	int rc;

	if ((rc = can_tell(ctx, "fdstore_remove")) < 0 ||
	    (rc = check_name(ctx, "fdstore_remove", name)) < 0)
		return rc;
	if (!can_tell(ctx, "fdstore_remove"))
		return 0;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	if ((rc = dctx__notify(ctx, msg)) < 0)
		return dctx__fail(ctx, rc, "fdstore_remove %s: FDSTOREREMOVE=1 "
		    "on NOTIFY_SOCKET", name);
	return 1;
}
