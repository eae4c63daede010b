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
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

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

/* Nothing more to hear from the old daemon, nor to watch. */
static void
answer_done(struct dctx__upgrade *u)
{
	if (u->answer_ev != NULL) {
		event_free(u->answer_ev);
		u->answer_ev = NULL;
	}
	if (u->answer_fd >= 0) {
		close(u->answer_fd);
		u->answer_fd = -1;
	}
	if (u->old_ev != NULL) {
		event_free(u->old_ev);
		u->old_ev = NULL;
	}
	if (u->old_pidfd >= 0) {
		close(u->old_pidfd);
		u->old_pidfd = -1;
	}
}

/* The old daemon (pid old) is gone, and the pidfile still names it. */
static void
take_pidfile(struct dctx *ctx, pid_t old)
{
	char err[256];

	if (dctx__pidfile_write(ctx->pidfile, err, sizeof(err)) < 0)
		dctx__log(ctx, LOG_ERR, "upgrade: the old daemon (pid %ld) "
		    "ended before it handed over, and its pidfile cannot "
		    "be ours: %s", (long)old, err);
	else
		dctx__log(ctx, LOG_WARNING, "upgrade: the old daemon (pid %ld) "
		    "ended before it handed over: pid %ld takes its pidfile",
		    (long)old, (long)getpid());
}

/* The pid the pidfile we share names, when it is not ours; else 0. */
static pid_t
named_other(const struct dctx *ctx)
{
	pid_t named;

	if (!dctx__pidfile_inherited(ctx->pidfile))
		return 0;
	named = dctx__pidfile_pid(dctx__pidfile_fd(ctx->pidfile), 0);
	return named == getpid() ? 0 : named > 0 ? named : -1;
}

/* The old daemon we watch may have ended: then the pidfile is ours. */
static void
on_old(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__upgrade *u = ctx->upgrade;
	pid_t old = u->old_pid;

	(void)fd;
	(void)what;
	if (dctx__pid_is_live(old))
		return;
	answer_done(u);
	if (named_other(ctx) == old)
		take_pidfile(ctx, old);
}

/*
 * No answer came, and none will: the old daemon closed the channel (the
 * end of file) or it is broken.  Either it stops us (it failed the
 * attempt, or is stopping), and lives on; or it ends before it handed
 * over (killed), and nobody will ever write our pid into the pidfile we
 * share with it: it would name a dead process for as long as we serve,
 * and no tool could find us ("locked, no live pid in it").  Then it is
 * ours.  The lock never left us, so nothing can have taken the file.
 * A process closes its files before it is gone: one still there is
 * watched from the loop (a daemon that stops us lives on, and we stop).
 */
static void
no_answer(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	struct timeval tick = { 0, 50 * 1000 };
	pid_t named = named_other(ctx);

	/* Nobody told systemd about us: what we held is for nobody. */
	send_held(ctx, 0);
	if (named == 0)
		return;
	if (named < 0 || !dctx__pid_is_live(named)) {
		take_pidfile(ctx, named < 0 ? 0 : named);
		return;
	}
	if (ctx->base == NULL || u == NULL)
		return;
	u->old_pid = named;
	u->old_pidfd = dctx__pidfd_open(named);
	u->old_ev = u->old_pidfd >= 0 ?
	    event_new(ctx->base, u->old_pidfd, EV_READ | EV_PERSIST, on_old,
	    ctx) : event_new(ctx->base, -1, EV_PERSIST, on_old, ctx);
	if (u->old_ev == NULL || event_add(u->old_ev,
	    u->old_pidfd >= 0 ? NULL : &tick) < 0)
		answer_done(u);
}

/* The reload the old daemon had under way, run by us (see hand_over()). */
static void
reload_in_place(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;

	(void)fd;
	(void)what;
	dctx__log(ctx, LOG_INFO, "upgrade: the old daemon was reloading when "
	    "it handed over: pid %ld reloads", (long)getpid());
	if (dctx_reload(ctx) < 0)
		dctx__log(ctx, LOG_WARNING, "upgrade: %s", dctx_errmsg(ctx));
}

/*
 * The old daemon's answer came: it handed over, and systemd names us its
 * main process and takes our words (send_held()).
 */
static void
answered(struct dctx *ctx, char answer)
{
	struct timeval now = { 0, 0 };

	send_held(ctx, answer == DCTX__UP_ANSWER ||
	    answer == DCTX__UP_ANSWER_RELOAD);
	/* From the loop: the program's reload steps run where they
	 * always do, not inside dctx_open() or dctx_notify_ready(). */
	if (answer == DCTX__UP_ANSWER_RELOAD && ctx->base != NULL &&
	    event_base_once(ctx->base, -1, EV_TIMEOUT, reload_in_place, ctx,
	    &now) < 0)
		reload_in_place(-1, 0, ctx);
}

/*
 * The answer, once it comes: the byte (answered()), or the end of the
 * channel (no_answer()).
 */
static void
on_answer(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	char answer;
	ssize_t n;

	(void)what;
	while ((n = read((int)fd, &answer, 1)) < 0 && errno == EINTR)
		;
	if (n < 0 && errno == EAGAIN)
		return;
	answer_done(ctx->upgrade);
	if (n <= 0)
		no_answer(ctx);
	else
		answered(ctx, answer);
}

/*
 * Ready: tell the old daemon, 'R' when we hold its pidfile ('r' when we
 * have none of its), and wait for its answer, a byte once it told
 * systemd MAINPID= and wrote our pid into the pidfile (or the end of
 * file when it stops us instead): a message of ours to systemd before
 * that (our status line, right after this) would come from a process
 * that is not the main one yet, and be refused.  The wait is short: the
 * old daemon answers from its loop at once.  From then on we are an
 * ordinary daemon.  If the old daemon is gone (the channel is broken,
 * or closed with no answer), nobody will hand the pidfile over: it is
 * ours, and says so (no_answer()).  One that does not answer in time
 * (stopped, busy) is listened to from the loop: it may hand over later,
 * or end without a word.
 */
int
dctx__upgrade_ready(struct dctx *ctx)
{
	int adopted = dctx__pidfile_inherited(ctx->pidfile);
	char word = adopted ? DCTX__UP_READY_ADOPTED : DCTX__UP_READY_OWN;
	struct pollfd p = { ctx->report_fd, POLLIN, 0 };
	struct dctx__upgrade *u = ctx->upgrade;
	char answer = 0;
	ssize_t n = -1;
	int rc;

	ctx->up_child = 0;
	if (ctx->report_fd < 0 || ctx->report_pid != getpid()) {
		send_held(ctx, 0);
		return 0;
	}
	rc = dctx__write_nosigpipe(ctx->report_fd, &word, 1);
	if (rc == 0 && poll(&p, 1, DCTX__UP_ANSWER_MS) == 1)
		while ((n = read(ctx->report_fd, &answer, 1)) < 0 &&
		    errno == EINTR)
			;
	if (rc == 0 && n < 0 && u != NULL && ctx->base != NULL) {
		/* No answer yet: it may come later, from the loop. */
		fcntl(ctx->report_fd, F_SETFL, O_NONBLOCK);
		u->answer_fd = ctx->report_fd;
		ctx->report_fd = -1;
		u->answer_ev = event_new(ctx->base, u->answer_fd, EV_READ |
		    EV_PERSIST, on_answer, ctx);
		if (u->answer_ev != NULL && event_add(u->answer_ev, NULL) == 0)
			return 0;
		ctx->report_fd = u->answer_fd;
		u->answer_fd = -1;
		answer_done(u);
	}
	close(ctx->report_fd);
	ctx->report_fd = -1;
	if (rc == -EPIPE || (rc == 0 && n == 0))
		no_answer(ctx);
	else if (rc == 0 && n == 1)
		answered(ctx, answer);
	else
		send_held(ctx, 0);
	return rc == -EPIPE ? 0 : rc;
}

/* dctx_close() and dctx_free(): stop listening for a late answer. */
void
dctx__upgrade_answer_close(struct dctx *ctx)
{
	if (ctx->upgrade != NULL)
		answer_done(ctx->upgrade);
}
