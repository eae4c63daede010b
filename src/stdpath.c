/*
 * stdout and stderr given by path, and reopened by every reload: what
 * logrotate's `postrotate kill -HUP` expects.  A descriptor handed over
 * with dctx_set_stdout() cannot be reopened (the library does not know
 * what it names); a path can.  The file is opened by dctx_open() before
 * the fork, the chroot and the privilege drop, as the one who starts the
 * daemon, so that its errors reach the shell and /var/log is still
 * writable; a reload reopens it as the daemon, which is all a daemon can
 * do then.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dctx-internal.h"

static const char *const names[] = { "stdin", "stdout", "stderr" };

/*
 * Appending, so that lines from the daemon and from a program it runs
 * never overwrite each other; never through a symbolic link (the file is
 * opened as root, in a directory others may write); never a controlling
 * terminal; and not blocking on a FIFO nobody reads (ENXIO instead),
 * which would hang a reload in the loop.  0640: a log is for its owner
 * and, through the group, its readers (adm on Debian); the umask may take
 * more away.
 */
static int
open_log(const char *path)
{
	int fd, flags;

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* Writes must block as they would on any stdout. */
	if ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		flags = -errno;
		close(fd);
		return flags;
	}
	return fd;
}

static int
set_path(struct dctx *ctx, int which, const char *path)
{
	char *copy = NULL;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "%s path", names[which]);
	/*
	 * Relative, the path would name one file at dctx_open() and another
	 * at a reload, after the chdir to the working directory.
	 */
	if (path != NULL && path[0] != '/')
		return dctx__fail(ctx, -EINVAL, "%s path '%s': not an absolute "
		    "path", names[which], path);
	if (path != NULL && (copy = strdup(path)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "%s path", names[which]);
	free(ctx->stdio_path[which]);
	ctx->stdio_path[which] = copy;
	/* The last call wins, as between any two setters. */
	ctx->stdio[which] = -1;
	return 0;
}

DCTX_EXPORT int
dctx_set_stdout_path(struct dctx *ctx, const char *path)
{
	return set_path(ctx, 1, path);
}

DCTX_EXPORT int
dctx_set_stderr_path(struct dctx *ctx, const char *path)
{
	return set_path(ctx, 2, path);
}

/* dctx_open(), before the fork: open the files, or fail naming them. */
int
dctx__stdpath_open(struct dctx *ctx)
{
	int which, fd;

	for (which = 1; which <= 2; which++) {
		if (ctx->stdio_path[which] == NULL ||
		    ctx->stdio_path_fd[which] >= 0)
			continue;
		if ((fd = open_log(ctx->stdio_path[which])) < 0) {
			dctx__stdpath_close(ctx);
			return dctx__fail(ctx, fd, "%s %s", names[which],
			    ctx->stdio_path[which]);
		}
		ctx->stdio_path_fd[which] = fd;
	}
	return 0;
}

/* The files opened and not yet put on 1 and 2: a failed open, the end. */
void
dctx__stdpath_close(struct dctx *ctx)
{
	int which;

	for (which = 1; which <= 2; which++)
		if (ctx->stdio_path_fd[which] >= 0) {
			close(ctx->stdio_path_fd[which]);
			ctx->stdio_path_fd[which] = -1;
		}
}

/* What the stdio step puts on fd which: the file, else the descriptor. */
int
dctx__stdpath_source(const struct dctx *ctx, int which)
{
	if (which > 0 && ctx->stdio_path_fd[which] >= 0)
		return ctx->stdio_path_fd[which];
	return ctx->stdio[which];
}

void
dctx__stdpath_free(struct dctx *ctx)
{
	dctx__stdpath_close(ctx);
	free(ctx->stdio_path[1]);
	free(ctx->stdio_path[2]);
	ctx->stdio_path[1] = ctx->stdio_path[2] = NULL;
}

/*
 * The path as the daemon sees it.  Inside a chroot, a path under the
 * chroot directory loses that prefix (as the pidfile's does); one outside
 * it names nothing the daemon can reach, and NULL says so.
 */
static const char *
path_inside(const struct dctx *ctx, const char *path)
{
	const char *root = ctx->chroot_dir;
	size_t rlen;

	if (root == NULL)
		return path;
	rlen = strlen(root);
	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	if (rlen == 1)
		return path; /* chroot "/" */
	if (strncmp(path, root, rlen) != 0 || path[rlen] != '/')
		return NULL;
	return path + rlen;
}

/*
 * The library's reload step: each file given by path is opened again, at
 * its path, and put in place of the old one with dup2(), which leaves no
 * moment without a descriptor 1 or 2.  A failure keeps the old file: the
 * daemon logs on to the rotated file rather than nowhere.  It is logged
 * (dctx_log(): the stderr in place, the old one when stderr's own reopen
 * failed; or syslog, where stderr is /dev/null because only stdout was
 * given by path) and kept for dctx_errmsg(); the reload goes on.
 */
void
dctx__stdpath_reopen(struct dctx *ctx)
{
	const char *path, *inside;
	int which, fd;

	for (which = 1; which <= 2; which++) {
		if ((path = ctx->stdio_path[which]) == NULL)
			continue;
		if ((inside = path_inside(ctx, path)) == NULL) {
			dctx__errfmt(ctx->errmsg, sizeof(ctx->errmsg),
			    "outside the chroot, out of reach", "reload: %s %s: "
			    "reopen", names[which], path);
			fd = -EXDEV;
		} else if ((fd = open_log(inside)) < 0)
			dctx__fail(ctx, fd, "reload: %s %s: reopen", names[which],
			    path);
		if (fd < 0) {
			dctx__log(ctx, LOG_WARNING, "%s; still writing to the "
			    "old file", dctx_errmsg(ctx));
			continue;
		}
		/* What was written before the reload goes to the old file. */
		fflush(which == 1 ? stdout : stderr);
		if (dup2(fd, which) < 0) {
			dctx__fail(ctx, -errno, "reload: %s %s: dup2",
			    names[which], path);
			dctx__log(ctx, LOG_WARNING, "%s; still writing to the "
			    "old file", dctx_errmsg(ctx));
		}
		close(fd);
	}
}
