/*
 * Zero-downtime upgrade, the new process's side.  The old daemon started
 * us with its listening sockets (LISTEN_FDS: the socket-activation code
 * hands them to the program), its locked pidfile, a report channel and
 * its stderr (see upgrade.c).  Here, at dctx_prepare() or dctx_open():
 *  - we are a daemon already, in the old daemon's session, its child (or,
 *    under systemd, the service manager's already): no detaching, no
 *    fork, no setsid (open.c asks dctx->up_child).  When the old one
 *    exits after its drain, we are reparented as any orphan is, to init
 *    or the nearest subreaper;
 *  - the pidfile is taken through the inherited descriptor, not opened
 *    by its path (the old one's lock would refuse us), and written by the
 *    old daemon when it hands over: until then it is not ours to remove;
 *  - readiness, or the failure, goes to the old daemon on the report
 *    channel, as to a launcher; systemd hears nothing from us until the
 *    old daemon, its main process, told it MAINPID= and answered us:
 *    our status line and the descriptors for its fd store are held, and
 *    sent then;
 *  - fd 2 is a pipe to the old daemon, so that what the program says on
 *    stderr before the library can report reaches whoever asked for the
 *    upgrade; the daemon's real stderr goes back on 2 once we are open.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dctx-internal.h"
#include "upgrade-internal.h"

/* A decimal number from the environment, 0 to max; -1 when unset or bad. */
static long
env_number(const char *name, long max)
{
	const char *v = getenv(name);
	long n = 0;

	if (v == NULL || *v == '\0')
		return -1;
	for (; *v >= '0' && *v <= '9'; v++)
		if ((n = n * 10 + (*v - '0')) > max)
			return -1;
	return *v == '\0' ? n : -1;
}

/* An inherited descriptor above 2, open, and closed on exec from now. */
static int
take_fd(long fd)
{
	if (fd <= 2 || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return (int)fd;
}

/*
 * Read the variables once, and remove them, so that the programs the
 * daemon runs never take them for theirs.  They are ours only when
 * DCTX_UPGRADE_PID is our pid, as with LISTEN_PID: a process that got
 * them by mistake (a child of a careless program) ignores them.
 */
int
dctx__upgrade_inherit(struct dctx *ctx)
{
	struct dctx__upgrade *u;
	long pid, report, err, pidfile;
	struct stat st;

	if (ctx->up_child || getenv(DCTX__UP_ENV_PID) == NULL)
		return 0;
	pid = env_number(DCTX__UP_ENV_PID, INT_MAX);
	report = env_number(DCTX__UP_ENV_REPORT, INT_MAX);
	err = env_number(DCTX__UP_ENV_STDERR, INT_MAX);
	pidfile = env_number(DCTX__UP_ENV_PIDFILE, INT_MAX);
	unsetenv(DCTX__UP_ENV_PID);
	unsetenv(DCTX__UP_ENV_REPORT);
	unsetenv(DCTX__UP_ENV_STDERR);
	unsetenv(DCTX__UP_ENV_PIDFILE);
	if (pid != (long)getpid())
		return 0;
	if ((u = dctx__upgrade_get(ctx)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade");
	if ((report = take_fd(report)) < 0 || (err = take_fd(err)) < 0)
		return dctx__fail(ctx, -EBADF, "upgrade: " DCTX__UP_ENV_REPORT
		    " or " DCTX__UP_ENV_STDERR " names no descriptor we have");
	ctx->report_fd = (int)report;
	ctx->report_pid = getpid();
	u->stderr_fd = (int)err;
	/* A program with no pidfile of its own lets the old one's go. */
	u->pidfile_fd = pidfile >= 0 ? take_fd(pidfile) : -1;
	if (u->pidfile_fd >= 0 && ctx->pidfile_path == NULL) {
		close(u->pidfile_fd);
		u->pidfile_fd = -1;
	}
	if (fstat(2, &st) == 0) {
		u->capture_dev = st.st_dev;
		u->capture_ino = st.st_ino;
	}
	ctx->up_child = 1;
	return 0;
}

/*
 * Step 2 in the new process: the old daemon's pidfile, through the
 * descriptor it handed us, when it is the file our own configuration
 * names.  Another path (the new version moved its pidfile), or none
 * handed over, is opened as in any start.
 */
int
dctx__upgrade_pidfile(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	int fd = u != NULL ? u->pidfile_fd : -1, rc = -ESTALE;

	if (u != NULL)
		u->pidfile_fd = -1;
	if (fd >= 0 && (rc = dctx__pidfile_inherit(&ctx->pidfile,
	    ctx->pidfile_path, fd, ctx->errmsg, sizeof(ctx->errmsg))) < 0)
		close(fd);
	if (rc != -ESTALE)
		return rc;
	return dctx__pidfile_open(&ctx->pidfile, ctx->pidfile_path,
	    ctx->errmsg, sizeof(ctx->errmsg));
}

/* The daemon's stderr, kept through the close step until we are open. */
int
dctx__upgrade_keep_fd(const struct dctx *ctx)
{
	return ctx->up_child && ctx->upgrade != NULL ?
	    ctx->upgrade->stderr_fd : -1;
}

/*
 * dctx_open() succeeded: fd 2 is the configured stderr now, or, where the
 * program keeps the one it was given (dctx_set_stderr(ctx, 2)), still the
 * pipe to the old daemon: then the daemon's own stderr goes back there.
 */
void
dctx__upgrade_opened(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	struct stat st;

	if (!ctx->up_child || u == NULL || u->stderr_fd < 0)
		return;
	if (fstat(2, &st) == 0 && st.st_dev == u->capture_dev &&
	    st.st_ino == u->capture_ino)
		dup2(u->stderr_fd, 2);
	close(u->stderr_fd);
	u->stderr_fd = -1;
}

/*
 * A message for systemd while we are not its main process yet
 * (dctx__notify(), dctx__notify_with_fd()): systemd would refuse it, and
 * close a descriptor sent with it.  What still matters once we are ready
 * is held until then: the last status line, and the fd store's requests
 * in their order (with a copy of the descriptor).  The rest (a watchdog
 * ping, more time for the start) is for the moment only, and dropped.
 */
int
dctx__upgrade_hold(struct dctx *ctx, const char *msg, int fd)
{
	struct dctx__upgrade *u = ctx->upgrade;
	struct dctx__upgrade_held *grown, *h = NULL;
	int status = strncmp(msg, "STATUS=", 7) == 0;
	size_t i;
	char *copy;
	int dup = -1;

	if (u == NULL || (!status && strncmp(msg, "FDSTORE=1", 9) != 0 &&
	    strncmp(msg, "FDSTOREREMOVE=1", 15) != 0))
		return 0;
	for (i = 0; status && i < u->nheld; i++)
		if (strncmp(u->held[i].msg, "STATUS=", 7) == 0)
			h = &u->held[i];
	if ((copy = strdup(msg)) == NULL)
		return -ENOMEM;
	if (fd >= 0 && (dup = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		free(copy);
		return -errno;
	}
	if (h != NULL) {
		free(h->msg);
		h->msg = copy;
		return 0;
	}
	grown = realloc(u->held, (u->nheld + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		if (dup >= 0)
			close(dup);
		return -ENOMEM;
	}
	u->held = grown;
	u->held[u->nheld].msg = copy;
	u->held[u->nheld++].fd = dup;
	return 0;
}

/* Send what was held (told: we are the main process now), or drop it. */
static void
send_held(struct dctx *ctx, int told)
{
	struct dctx__upgrade *u = ctx->upgrade;
	size_t i;

	for (i = 0; u != NULL && i < u->nheld; i++) {
		if (told && u->held[i].fd >= 0)
			(void)dctx__notify_with_fd(ctx, u->held[i].msg,
			    u->held[i].fd);
		else if (told)
			(void)dctx__notify(ctx, u->held[i].msg);
		if (u->held[i].fd >= 0)
			close(u->held[i].fd);
		free(u->held[i].msg);
	}
	if (u != NULL) {
		free(u->held);
		u->held = NULL;
		u->nheld = 0;
	}
}

/*
 * Ready: tell the old daemon, 'R' when we hold its pidfile ('r' when we
 * have none of its), and wait for its answer, a byte once it told
 * systemd MAINPID= and wrote our pid into the pidfile (or the end of
 * file when it stops us instead): a message of ours to systemd before
 * that (our status line, right after this) would come from a process
 * that is not the main one yet, and be refused.  The wait is short: the
 * old daemon answers from its loop at once.  From then on we are an
 * ordinary daemon.  If the old daemon is gone (the channel is broken),
 * nobody will hand the pidfile over: it is ours, and says so.
 */
int
dctx__upgrade_ready(struct dctx *ctx)
{
	int adopted = dctx__pidfile_inherited(ctx->pidfile);
	char word = adopted ? DCTX__UP_READY_ADOPTED : DCTX__UP_READY_OWN;
	struct pollfd p = { ctx->report_fd, POLLIN, 0 };
	char err[256], answer = 0;
	int rc;

	ctx->up_child = 0;
	if (ctx->report_fd < 0 || ctx->report_pid != getpid()) {
		send_held(ctx, 0);
		return 0;
	}
	rc = dctx__write_nosigpipe(ctx->report_fd, &word, 1);
	if (rc == 0 && poll(&p, 1, DCTX__UP_ANSWER_MS) == 1 &&
	    read(ctx->report_fd, &answer, 1) < 0) {
		/* Nothing to do: we carry on either way. */
	}
	close(ctx->report_fd);
	ctx->report_fd = -1;
	/* "A": systemd names us its main process, and takes our words. */
	send_held(ctx, answer == 'A');
	if (rc == -EPIPE && adopted)
		rc = dctx__pidfile_write(ctx->pidfile, err, sizeof(err));
	return rc == -EPIPE ? 0 : rc;
}
