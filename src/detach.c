/*
 * Detaching, and the launcher handshake.  The original process (the
 * launcher) makes a pipe before the first fork and waits on it: it exits
 * only when the daemon says it is ready or why it failed (daemon(7) steps
 * 14-15), so that the shell, an init script or systemd's Type=forking learn
 * the truth from the exit status.
 *
 * The wire format on the pipe, in the order written:
 *  - 'P', the daemon's pid in decimal, '\n': written by the daemon first
 *    thing after the second fork, so that the launcher can watch the
 *    process itself and not only the pipe (a child the daemon forks
 *    before it is ready holds the pipe open after a crash);
 *  - then one of: 'R' (ready), or 'F', one byte of exit status, and the
 *    error text up to a NUL byte or the end.
 * A middle process that fails writes only the 'F' message.  The launcher
 * exits on 'R' or 'F'; on the daemon's death without either, it reports
 * that the daemon died.  The end of file is no death: a daemon may close
 * its end and live on, and is then watched until it exits.  When the start
 * timeout passes first (dctx_set_start_timeout()), it stops the daemon
 * (its process group, before its pid is known) and says so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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
	 * systemd Type=notify ($NOTIFY_SOCKET, connected by now),
	 * or s6 with a notification fd: the supervisor watches this very
	 * process, which must not fork away.  A variable naming a socket
	 * nobody listens on (a stale one, inherited from a shell) means no
	 * supervisor waits: detach as from any shell.
	 */
	if (ctx->notify_fd >= 0 || ctx->s6_fd >= 0)
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
 * The default map ignores SIGPIPE, but the reset puts it at its default
 * first, and a program may unmap it: block it for the write and take back
 * the one the write raised.
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
		/* The launcher's buffer holds 511 bytes: keep the reason. */
		dctx__shorten(buf + 2, sizeof(ctx->errmsg), msg);
		len = strlen(buf + 2) + 3;
	}
	rc = dctx__write_nosigpipe(ctx->report_fd, buf, len);
	close(ctx->report_fd);
	ctx->report_fd = -1;
	return rc;
}

DCTX_EXPORT int
dctx_set_start_timeout(struct dctx *ctx, int ms)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "start timeout");
	if (ms < 0)
		return dctx__fail(ctx, -EINVAL, "start timeout %d ms", ms);
	ctx->start_ms = ms;
	return 0;
}

/* How long the launcher gives a daemon it stopped to exit on SIGTERM. */
#define STOP_GRACE_MS 5000

/* What the launcher knows of the daemon. */
struct watch {
	int rfd;          /* the pipe's read end, non-blocking */
	pid_t pid;        /* the daemon, once its 'P' message came */
	int pidfd;        /* a pidfd for it, or -1 */
	char buf[64 + sizeof(((struct dctx *)0)->errmsg)];
	size_t got;
	int eof;
};

/*
 * A pidfd (Linux 5.3) names the process itself, so it cannot be fooled by
 * a reused pid; glibc wraps it only since 2.36, hence syscall().
 */
int
dctx__pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Signal the daemon: through its pidfd where there is one. */
static void
signal_daemon(const struct watch *w, int signo)
{
#ifdef SYS_pidfd_send_signal
	if (w->pidfd >= 0 &&
	    syscall(SYS_pidfd_send_signal, w->pidfd, signo, NULL, 0) == 0)
		return;
#endif
	if (w->pid > 0)
		kill(w->pid, signo);
}

/*
 * Whether the daemon is gone.  It is not our child (the middle process
 * was its parent), so without a pidfd all we can ask is whether the pid
 * still names a live process, as a pidfile's reader does: a zombie that
 * nobody reaped yet counts as gone (dctx__pid_is_live()).
 */
static int
daemon_gone(const struct watch *w)
{
	struct pollfd p = { w->pidfd, POLLIN, 0 };

	if (w->pid <= 0)
		return 0;
	if (w->pidfd >= 0)
		return poll(&p, 1, 0) == 1;
	return !dctx__pid_is_live(w->pid);
}

/*
 * Read what the pipe holds now, and act on the 'P' message.  Returns 1
 * once an 'R' or a whole 'F' message is in w->buf.
 */
static int
take(struct watch *w)
{
	ssize_t n;
	char *nl;

	for (;;) {
		while (w->got > 0 && w->buf[0] == 'P' &&
		    (nl = memchr(w->buf, '\n', w->got)) != NULL) {
			size_t len = (size_t)(nl - w->buf) + 1;

			w->pid = (pid_t)atol(w->buf + 1);
			if (w->pid > 0 && w->pidfd < 0)
				w->pidfd = dctx__pidfd_open(w->pid);
			memmove(w->buf, w->buf + len, w->got - len);
			w->got -= len;
		}
		if (w->got >= 1 && w->buf[0] == 'R')
			return 1;
		if (w->got >= 2 && w->buf[0] == 'F' &&
		    (memchr(w->buf + 2, '\0', w->got - 2) != NULL ||
		    w->got == sizeof(w->buf) - 1))
			return 1;
		if (w->eof || w->got == sizeof(w->buf) - 1)
			return 0;
		n = read(w->rfd, w->buf + w->got, sizeof(w->buf) - 1 - w->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0; /* EAGAIN: nothing more for now */
		if (n == 0)
			w->eof = 1;
		w->got += (size_t)n;
	}
}

/*
 * Whether what the start timeout stops is gone.  Before its 'P' message
 * the daemon's pid is unknown, but the pipe tells: the middle process and
 * the daemon both hold its write end, and the daemon writes 'P' first
 * thing, so with no pid known the end of file means both are gone.
 */
static int
stopped(const struct watch *w)
{
	return w->pid > 0 ? daemon_gone(w) : w->eof;
}

/*
 * Send signo to what the start timeout stops: the daemon through its
 * pidfd once its pid is known; before that its process group.  The
 * middle process made a session of its own with setsid(), so its pid is
 * the group's id, and the daemon it forks is in the group from birth.
 * That id names no other group as long as the middle process is our
 * child not reaped, which the launcher does only afterwards.
 */
static void
signal_start(const struct watch *w, pid_t child, int signo)
{
	if (w->pid > 0) {
		signal_daemon(w, signo);
		return;
	}
	/* The middle process itself, too, in case it has not setsid yet. */
	kill(-child, signo);
	kill(child, signo);
}

/*
 * Wait up to ms for what was signalled to go; 1 when it went.  A daemon
 * whose 'P' comes in meanwhile was born after the group got the signal,
 * and gets its own.
 */
static int
wait_stopped(struct watch *w, int signo, int ms)
{
	long long end = dctx__now_ms() + ms;
	pid_t known;
	int left;

	for (;;) {
		known = w->pid;
		take(w);
		if (known <= 0 && w->pid > 0)
			signal_daemon(w, signo);
		if (stopped(w))
			return 1;
		if ((left = (int)(end - dctx__now_ms())) <= 0)
			return 0;
		{
			struct pollfd p[2] = { { w->eof ? -1 : w->rfd, POLLIN, 0 },
			    { w->pidfd, POLLIN, 0 } };

			if (w->pidfd < 0 && left > 20)
				left = 20;
			poll(p, 2, left);
		}
	}
}

/*
 * The start timeout passed: stop the daemon as systemd stops a unit,
 * SIGTERM, then SIGKILL after a grace period.  Returns 1 when it is gone,
 * 0 when even SIGKILL did not end it in time (a process stuck in the
 * kernel): the launcher then says so rather than "stopped it".
 */
static int
stop_daemon(struct watch *w, pid_t child)
{
	signal_start(w, child, SIGTERM);
	if (wait_stopped(w, SIGTERM, STOP_GRACE_MS))
		return 1;
	signal_start(w, child, SIGKILL);
	return wait_stopped(w, SIGKILL, STOP_GRACE_MS);
}

/*
 * Reap the middle process, which exits right after the second fork (or
 * was stopped with its group).  The wait is bounded: a middle process
 * stuck there must not hold the launcher past its own timeout.  It is
 * our child, not reaped, so its pid is still its own to signal.
 */
static void
reap_middle(pid_t child)
{
	long long end = dctx__now_ms() + STOP_GRACE_MS;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	pid_t r;

	while ((r = waitpid(child, NULL, WNOHANG)) == 0 &&
	    dctx__now_ms() < end)
		nanosleep(&tick, NULL);
	if (r == 0) {
		kill(child, SIGKILL);
		end = dctx__now_ms() + STOP_GRACE_MS;
		while (waitpid(child, NULL, WNOHANG) == 0 && dctx__now_ms() < end)
			nanosleep(&tick, NULL);
	}
}

/* A failure the daemon could not report itself: say it, and clean up. */
static void __attribute__((noreturn))
launcher_fails(struct dctx *ctx, pid_t pid, int code, const char *msg)
{
	if (ctx->pidfile_path != NULL)
		dctx__pidfile_remove_stale(ctx->pidfile_path, pid);
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	/* A supervisor waiting on $NOTIFY_SOCKET hears it too. */
	dctx__notify_failed(ctx, code, msg);
	_exit(1);
}

/*
 * The start timeout passed with neither 'R' nor 'F': stop what there is,
 * then say what happened, and only what is true.  A daemon that closed
 * its end of the pipe (a program closing the descriptors it does not
 * know) could not have reported anything any more: it is told apart.
 */
static void __attribute__((noreturn))
timed_out(struct dctx *ctx, struct watch *w, pid_t child)
{
	const char *end;
	char msg[192];
	int closed = w->eof && w->pid > 0;

	end = stop_daemon(w, child) ? "stopped it" : "SIGKILL did not end it";
	reap_middle(child);
	if (closed)
		snprintf(msg, sizeof(msg), "the daemon (pid %ld) closed its "
		    "report pipe before it was ready, and still ran after "
		    "%d ms: %s", (long)w->pid, ctx->start_ms, end);
	else if (w->pid > 0)
		snprintf(msg, sizeof(msg), "the daemon (pid %ld) was not ready "
		    "within %d ms: %s", (long)w->pid, ctx->start_ms, end);
	else
		snprintf(msg, sizeof(msg), "the daemon was not ready within "
		    "%d ms, still starting (its pid not known yet): %s",
		    ctx->start_ms, end);
	launcher_fails(ctx, w->pid, -ETIMEDOUT, msg);
}

/*
 * The launcher's side: wait for the daemon's word, its death, or the
 * start timeout, then exit.  The daemon's own children may hold the pipe
 * open long after it died, so its death is watched on its own, through a
 * pidfd (or, on a kernel without them, by asking every 100 ms); and the
 * end of file is not its death either: a daemon may close the pipe and
 * live on, and is then watched until it exits or the timeout passes.
 */
static void __attribute__((noreturn))
launcher(struct dctx *ctx, int rfd, pid_t child)
{
	struct watch w = { rfd, 0, -1, { 0 }, 0, 0 };
	long long deadline = ctx->start_ms > 0 ?
	    dctx__now_ms() + ctx->start_ms : 0;
	int done, status, wait_ms;

	/* Our copy of the pidfile must not keep its lock alive. */
	dctx__pidfile_forget(ctx->pidfile);
	ctx->pidfile = NULL;
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	while (!(done = take(&w))) {
		struct pollfd p[2] = { { w.eof ? -1 : rfd, POLLIN, 0 },
		    { w.pidfd, POLLIN, 0 } };

		/* Gone: what it wrote before it died is in the pipe already. */
		if (daemon_gone(&w)) {
			done = take(&w);
			break;
		}
		/* Nobody holds the pipe, and no daemon ever said its pid. */
		if (w.eof && w.pid <= 0)
			break;
		wait_ms = -1;
		if (deadline > 0) {
			if (dctx__now_ms() >= deadline)
				timed_out(ctx, &w, child);
			wait_ms = (int)(deadline - dctx__now_ms());
		}
		if (w.pid > 0 && w.pidfd < 0 && (wait_ms < 0 || wait_ms > 100))
			wait_ms = 100;
		poll(p, 2, wait_ms);
	}
	/* The middle process exits right after the second fork. */
	reap_middle(child);
	if (done && w.buf[0] == 'R')
		_exit(0);
	if (done) {
		w.buf[w.got] = '\0';
		status = (unsigned char)w.buf[1];
		fprintf(stderr, "%s: %s\n", program_invocation_short_name,
		    w.buf + 2);
		_exit(status ? status : 1);
	}
	/* Died without a word (a crash, a kill): say so, clean up. */
	launcher_fails(ctx, w.pid, DCTX_EDAEMON, dctx_strerror(DCTX_EDAEMON));
}

/*
 * The middle process failed: it holds the pidfile's lock like the daemon
 * would, so it removes the file before it tells the launcher.
 */
static void __attribute__((noreturn))
middle_fails(struct dctx *ctx, const char *what)
{
	int rc = dctx__fail(ctx, -errno, "%s", what);

	if (ctx->pidfile != NULL) {
		dctx__pidfile_adopt(ctx->pidfile);
		dctx_pidfile_release(ctx->pidfile);
		ctx->pidfile = NULL;
	}
	dctx__start_failed(ctx, 1, rc, ctx->errmsg);
	_exit(1);
}

int
dctx__detach(struct dctx *ctx)
{
	char msg[32];
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
	/* The launcher watches this process from now on (see the top). */
	snprintf(msg, sizeof(msg), "P%ld\n", (long)getpid());
	dctx__write_nosigpipe(ctx->report_fd, msg, strlen(msg));
	return 0;
}
