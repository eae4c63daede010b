/*
 * Detaching, and the launcher handshake.  The original process (the
 * launcher) makes a pipe before the first fork and waits on it: it exits
 * only when the daemon says it is ready or why it failed (daemon(7) steps
 * 14-15), so that the shell, an init script or systemd's Type=forking learn
 * the truth from the exit status.
 *
 * The wire format on the pipe is one message: 'R' (ready), or 'F', one byte
 * of exit status, and the error text up to a NUL byte or the end.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dctx-internal.h"

int
dctx__should_detach(const struct dctx *ctx)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stat st;

	if (ctx->detach != DCTX_DETACH_AUTO)
		return ctx->detach == DCTX_DETACH_YES;
	/* Started by init (or we are init): stay in the foreground. */
	if (getpid() == 1 || getppid() == 1)
		return 0;
	/*
	 * systemd Type=notify ($NOTIFY_SOCKET, connected and unset by now),
	 * or s6 with a notification fd: the supervisor watches this very
	 * process, which must not fork away.
	 */
	if (ctx->notify_fd >= 0 || getenv("NOTIFY_SOCKET") != NULL ||
	    ctx->s6_fd >= 0)
		return 0;
	/*
	 * inetd hands over a network socket on stdin.  A Unix socket or a
	 * socketpair (a supervisor's pipe, a test harness) does not mean
	 * inetd, and a closed stdin is fine: fstat fails and we detach.
	 */
	if (fstat(0, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    getsockname(0, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		return 0;
	return 1;
}

/*
 * Write all of buf to a pipe whose reader may be gone (a launcher killed
 * by an init script's timeout, a supervisor that stopped listening).
 * SIGPIPE is at its default in a daemon and would kill it: block it for
 * the write and take back the one the write raised.
 */
int
dctx__write_nosigpipe(int fd, const void *buf, size_t len)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old;
	const char *p = buf;
	size_t done = 0;
	int rc = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (rc == -EPIPE)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int
dctx__report(struct dctx *ctx, int status, const char *msg)
{
	char buf[3 + sizeof(ctx->errmsg)];
	size_t len;
	int rc;

	/* A process forked from the daemon speaks for nobody. */
	if (ctx->report_fd < 0 || ctx->report_pid != getpid())
		return 0;
	if (status == 0) {
		buf[0] = 'R';
		len = 1;
	} else {
		buf[0] = 'F';
		buf[1] = (char)(status & 0xff);
		len = strlen(msg);
		if (len > sizeof(ctx->errmsg) - 1)
			len = sizeof(ctx->errmsg) - 1;
		memcpy(buf + 2, msg, len);
		buf[2 + len] = '\0';
		len += 3;
	}
	rc = dctx__write_nosigpipe(ctx->report_fd, buf, len);
	close(ctx->report_fd);
	ctx->report_fd = -1;
	return rc;
}

/* The launcher's side: wait for the daemon's word, then exit. */
static void __attribute__((noreturn))
launcher(struct dctx *ctx, int rfd, pid_t child)
{
	char buf[3 + sizeof(ctx->errmsg)];
	size_t got = 0;
	int status = 1;
	ssize_t n;

	/* Our copy of the pidfile must not keep its lock alive. */
	dctx__pidfile_forget(ctx->pidfile);
	ctx->pidfile = NULL;
	for (;;) {
		n = read(rfd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		/*
		 * Act on 'R' at once: a daemon's own children may hold the
		 * pipe open, so the end of file can come much later.
		 */
		if (buf[0] == 'R' || got == sizeof(buf) - 1 ||
		    memchr(buf, '\0', got) != NULL)
			break;
	}
	/* Reap the intermediate child, which exits after the second fork. */
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	if (got >= 1 && buf[0] == 'R')
		_exit(0);
	if (got >= 2 && buf[0] == 'F') {
		buf[got] = '\0';
		status = (unsigned char)buf[1];
		fprintf(stderr, "%s: %s\n", program_invocation_short_name,
		    buf + 2);
	} else {
		/* Died without a word (a crash, a kill): say so, clean up. */
		fprintf(stderr, "%s: %s\n", program_invocation_short_name,
		    dctx_strerror(DCTX_EDAEMON));
		if (ctx->pidfile_path != NULL)
			dctx__pidfile_remove_stale(ctx->pidfile_path);
	}
	_exit(status ? status : 1);
}

/*
 * The middle process failed: it holds the pidfile's lock like the daemon
 * would, so it removes the file before it tells the launcher.
 */
static void __attribute__((noreturn))
middle_fails(struct dctx *ctx, const char *what)
{
	dctx__fail(ctx, -errno, "%s", what);
	if (ctx->pidfile != NULL) {
		dctx__pidfile_adopt(ctx->pidfile);
		dctx_pidfile_release(ctx->pidfile);
		ctx->pidfile = NULL;
	}
	dctx__report(ctx, 1, ctx->errmsg);
	_exit(1);
}

int
dctx__detach(struct dctx *ctx)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return dctx__fail(ctx, -errno, "pipe");
	/* Nothing buffered may be written twice, by parent and child. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return dctx__fail(ctx, rc, "fork");
	}
	if (pid > 0) {
		close(fds[1]);
		launcher(ctx, fds[0], pid);
	}
	close(fds[0]);
	ctx->report_fd = fds[1];
	ctx->report_pid = getpid();
	/* daemon(7) steps 6-8: a new session, then leave it for good. */
	if (setsid() < 0)
		middle_fails(ctx, "setsid");
	pid = fork();
	if (pid < 0)
		middle_fails(ctx, "second fork");
	if (pid > 0)
		_exit(0);
	ctx->report_pid = getpid();
	if (ctx->pidfile != NULL)
		dctx__pidfile_adopt(ctx->pidfile);
	return 0;
}
