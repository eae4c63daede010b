/*
 * dctx_open() and dctx_close(): the order of the steps, and the one cleanup
 * path.  Each step lives in its own file; this one only sequences them, in
 * the order the public header documents (daemon(7), with the pidfile taken
 * first so that its errors reach the shell and /run is still writable).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "dctx-internal.h"

/* The open context of this process, for the exit handler. */
static struct dctx *open_ctx;

/* close at exit, in the process that opened the context only. */
static void
close_at_exit(void)
{
	if (open_ctx != NULL && open_ctx->pid == getpid())
		dctx_close(open_ctx);
}

static int
make_base(struct dctx *ctx)
{
	struct event_config *cfg = event_config_new();
	const char **methods = NULL;
	int i;

	if (cfg == NULL)
		return dctx__fail(ctx, -ENOMEM, "event_config_new");
	/* Locking must be chosen before the base exists. */
	if (ctx->threads && evthread_use_pthreads() < 0) {
		event_config_free(cfg);
		return dctx__fail(ctx, -ENOMEM, "evthread_use_pthreads");
	}
	/*
	 * libevent can only avoid methods: avoid all but the chosen one.  The
	 * list is asked for only then: libevent keeps it allocated for good.
	 */
	if (ctx->event_method != NULL)
		methods = event_get_supported_methods();
	for (i = 0; methods != NULL && methods[i] != NULL; i++)
		if (strcmp(methods[i], ctx->event_method) != 0)
			event_config_avoid_method(cfg, methods[i]);
	ctx->base = event_base_new_with_config(cfg);
	ctx->base_pid = getpid();
	event_config_free(cfg);
	if (ctx->base == NULL)
		return dctx__fail(ctx, -ENOMEM, "event_base_new(%s)",
		    ctx->event_method ? ctx->event_method : "default");
	return 0;
}

/*
 * The checks of step 1 that must hold at the fork itself: dctx_open()
 * repeats them after a dctx_prepare(), since the program ran its own
 * set-up in between (a thread started, a preserved descriptor closed).
 */
static int
check_now(struct dctx *ctx)
{
	size_t i;
	int rc;

	if (open_ctx != NULL)
		return dctx__fail(ctx, DCTX_EOPEN,
		    "another context is open in this process");
	/* Before anything changes: see dctx__threads_alone(). */
	if ((rc = dctx__threads_alone(ctx)) < 0)
		return rc;
	for (i = 0; i < ctx->npreserve; i++)
		if (fcntl(ctx->preserve[i], F_GETFD) < 0)
			return dctx__fail(ctx, -EBADF, "files_preserve fd %d",
			    ctx->preserve[i]);
	return 0;
}

/*
 * Steps 1-2: what may fail while the caller can still be told, and what
 * must precede the program's own set-up (dctx_prepare()).  On failure the
 * caller unwinds what was made.
 */
static int
prepare(struct dctx *ctx)
{
	int rc;

	/* First: the new process of an upgrade reports to the old daemon. */
	if ((rc = dctx__upgrade_prepare(ctx)) < 0 ||
	    (rc = check_now(ctx)) < 0 || (rc = dctx__resolve_ids(ctx)) < 0)
		return rc;
	/* Before the fork: $LISTEN_PID names this process (activation.c). */
	if ((rc = dctx__listen_read(ctx)) < 0)
		return rc;
	/*
	 * A closed 0, 1 or 2 would be the number our next open() gets, and
	 * the stdio step would then overwrite the pidfile or the pipe.
	 * dctx_new() filled the holes already; a program that closed one
	 * since, or whose dctx_new() found no /dev/null, gets them filled
	 * here, or the error.  Open /dev/null now, too, while it is
	 * reachable: a chroot may have none.
	 */
	if ((rc = dctx__fill_stdio()) < 0)
		return dctx__fail(ctx, rc, "open(/dev/null)");
	ctx->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (ctx->devnull < 0)
		return dctx__fail(ctx, -errno, "open(/dev/null)");
	if ((rc = dctx__notify_open(ctx)) < 0)
		return rc;
	if (ctx->pidfile_path == NULL)
		return 0;
	/* Started by an upgrade: the old daemon's (upgrade-new.c). */
	if (ctx->up_child)
		rc = dctx__upgrade_pidfile(ctx);
	else
		rc = dctx__pidfile_open(&ctx->pidfile, ctx->pidfile_path,
		    ctx->errmsg, sizeof(ctx->errmsg));
	if (rc == 0 && ctx->change_ids)
		dctx__pidfile_check_removable(ctx->pidfile, ctx);
	return rc;
}

/*
 * Steps 5-10, in the daemon process.  Signals are held from the reset on
 * (dctx__signals_reset()), and the pid is written last: whoever reads it
 * may signal it at once (systemctl stop, start-stop-daemon, logrotate's
 * kill -HUP), and the map must be live by then.
 */
static int
become_daemon(struct dctx *ctx)
{
	int rc;

	dctx__signals_reset();
	/* Before the chroot hides /dev/log (log.c), and /proc (upgrade.c). */
	dctx__log_open(ctx);
	dctx__upgrade_started(ctx);
	/* After the fork, before the chroot and the drop (hook.c). */
	if ((rc = dctx__run_privileged_hook(ctx)) < 0 ||
	    (rc = dctx__setup_process(ctx)) < 0 ||
	    (rc = dctx__setup_fds(ctx)) < 0 ||
	    (rc = dctx__drop_privileges(ctx)) < 0 ||
	    (rc = make_base(ctx)) < 0 ||
	    (rc = dctx__reaper_open(ctx)) < 0 ||
	    (rc = dctx__watchdog_start(ctx)) < 0 ||
	    (rc = dctx__signals_install(ctx)) < 0)
		return rc;
	/* An inherited pidfile names the old daemon until it hands over. */
	if (ctx->pidfile != NULL && !dctx__pidfile_inherited(ctx->pidfile) &&
	    (rc = dctx__pidfile_write(ctx->pidfile, ctx->errmsg,
	    sizeof(ctx->errmsg))) < 0) {
		dctx__signals_undo(ctx);
		return rc;
	}
	return 0;
}

/*
 * The caller's stderr, kept above 2 while a foreground start can still
 * fail: the stdio step points fd 2 at /dev/null (or the configured file),
 * and a failure after it (the privilege drop, the pid, the base) must
 * still reach the operator, who under systemd's Type=simple or
 * Type=notify would otherwise see only "exit 1".  A detached daemon needs
 * no copy: its launcher prints the failure.
 */
static void
stderr_keep(struct dctx *ctx)
{
	if (!ctx->detached)
		ctx->saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
}

/* Put the kept stderr back on fd 2 (restore 1) or just drop it. */
static void
stderr_done(struct dctx *ctx, int restore)
{
	if (ctx->saved_stderr < 0)
		return;
	if (restore)
		dup2(ctx->saved_stderr, 2);
	close(ctx->saved_stderr);
	ctx->saved_stderr = -1;
}

/*
 * A failed start: undo what prepare() and become_daemon() made, then tell
 * the launcher and systemd.  The pidfile goes first: once told, the
 * launcher exits, and whoever started it may start the daemon again at
 * once and must not find our lock.  The notification socket is closed
 * last, after systemd heard the failure on it.
 */
static int
open_failed(struct dctx *ctx, int rc)
{
	/* Every failure names what failed (dctx_errmsg()); a step that
	 * forgot still says which call and why. */
	if (ctx->errmsg[0] == '\0')
		dctx__fail(ctx, rc, "dctx_open");
	dctx__watchdog_stop(ctx);
	if (ctx->base != NULL) {
		event_base_free(ctx->base);
		ctx->base = NULL;
	}
	dctx_pidfile_release(ctx->pidfile);
	ctx->pidfile = NULL;
	if (ctx->devnull >= 0) {
		close(ctx->devnull);
		ctx->devnull = -1;
	}
	dctx__stdpath_close(ctx);
	dctx__privileged_hook_undo(ctx);
	stderr_done(ctx, 1);
	/* The caller's stderr is back: its messages go there again. */
	dctx__log_close(ctx);
	ctx->prepared = 0;
	dctx__start_failed(ctx, 1, rc, ctx->errmsg);
	if (ctx->notify_fd >= 0) {
		close(ctx->notify_fd);
		ctx->notify_fd = -1;
	}
	return rc;
}

/*
 * Steps 1-2 on their own, once.  A context opens once: after dctx_close()
 * the process is a daemon already, its pidfile released and its shutdown
 * chain finished, so a second open would half work (dctx.h, the reopen
 * rule).
 */
static int
prepare_once(struct dctx *ctx, const char *caller)
{
	int rc;

	if (ctx->prepared)
		return 0;
	ctx->errmsg[0] = '\0';
	if (ctx->closed)
		return dctx__fail(ctx, DCTX_ECLOSED, "%s after dctx_close",
		    caller);
	ctx->start_told = 0;
	if ((rc = prepare(ctx)) < 0)
		return open_failed(ctx, rc);
	ctx->prepared = 1;
	ctx->prepared_pid = getpid();
	return 0;
}

/*
 * A child forked after dctx_prepare() shares the lock, but the pidfile is
 * its parent's, which removes it when it frees the context: a daemon made
 * of the child would lose its pidfile under it.  Nothing of the child's
 * own is to undo.
 */
static int
prepared_here(struct dctx *ctx, const char *caller)
{
	if (ctx->prepared_pid == getpid())
		return 0;
	return dctx__fail(ctx, -EPERM, "%s in pid %ld: dctx_prepare() ran in "
	    "pid %ld, which holds the pidfile", caller, (long)getpid(),
	    (long)ctx->prepared_pid);
}

DCTX_EXPORT int
dctx_prepare(struct dctx *ctx)
{
	if (ctx->is_open)
		return 0;
	if (ctx->prepared)
		return prepared_here(ctx, "dctx_prepare");
	return prepare_once(ctx, "dctx_prepare");
}

DCTX_EXPORT int
dctx_open(struct dctx *ctx)
{
	static int registered;
	int rc;

	if (ctx->is_open)
		return 0;
	if (ctx->prepared) {
		ctx->errmsg[0] = '\0';
		if ((rc = prepared_here(ctx, "dctx_open")) < 0)
			return rc;
		if ((rc = check_now(ctx)) < 0)
			return open_failed(ctx, rc);
	} else if ((rc = prepare_once(ctx, "dctx_open")) < 0)
		return rc;
	/* stdout and stderr by path: reachable, and as the starter. */
	if ((rc = dctx__stdpath_open(ctx)) < 0)
		return open_failed(ctx, rc);
	/* Before the detach: $WATCHDOG_PID names the process systemd ran. */
	dctx__watchdog_read(ctx);
	/* The new process of an upgrade is a daemon already (upgrade-new.c). */
	ctx->detached = !ctx->up_child && dctx__should_detach(ctx);
	if (ctx->detached && (rc = dctx__detach(ctx)) < 0)
		return open_failed(ctx, rc);
	stderr_keep(ctx);
	if ((rc = become_daemon(ctx)) < 0) {
		open_failed(ctx, rc);
		/* Nobody but the launcher can hear a detached daemon now. */
		if (ctx->detached)
			_exit(1);
		dctx__signals_release();
		return rc;
	}
	stderr_done(ctx, 0);
	dctx__upgrade_opened(ctx);
	/* Only now: a failed open leaves $NOTIFY_SOCKET for its retry. */
	dctx__notify_opened();
	dctx__watchdog_opened();
	ctx->pid = getpid();
	ctx->prepared = 0;
	ctx->is_open = 1;
	open_ctx = ctx;
	if (!registered && atexit(close_at_exit) == 0)
		registered = 1;
	/* The map is live and the pid written: the held signals come in. */
	dctx__signals_release();
	if (!ctx->manual_ready)
		dctx__ready(ctx);
	return 0;
}

DCTX_EXPORT int
dctx_notify_ready(struct dctx *ctx)
{
	int rc;

	if (ctx->pid != getpid())
		return 0;
	if ((rc = dctx__ready(ctx)) < 0)
		return dctx__fail(ctx, rc, "readiness report");
	return 0;
}

/*
 * The daemon is failing: release the pidfile, then report, for the same
 * reason as a failed dctx_open() (see open_failed()).  A forked child
 * speaks for nobody.
 */
DCTX_EXPORT int
dctx_notify_failure(struct dctx *ctx, int status, const char *msg)
{
	int rc;

	if (status < 1 || status > 255 || msg == NULL)
		return dctx__fail(ctx, -EINVAL, "notify failure: status %d%s",
		    status, msg == NULL ? ", no message" : "");
	/* A process forked from the daemon speaks for nobody. */
	if (ctx->is_open && ctx->pid != getpid())
		return 0;
	if (!ctx->is_open || ctx->start_told)
		return dctx__fail(ctx, -EALREADY, "notify failure: %s",
		    ctx->is_open ? "readiness or a failure was reported already" :
		    "the context is not open");
	dctx_pidfile_release(ctx->pidfile);
	ctx->pidfile = NULL;
	if ((rc = dctx__start_failed(ctx, status, 0, msg)) < 0)
		return dctx__fail(ctx, rc, "failure report");
	return 0;
}

/*
 * A base is shared with a forked child down to its epoll instance: an
 * event the child deletes disappears from the parent's loop too.  The
 * child gets kernel objects of its own (event_reinit) before it touches
 * any event.
 */
void
dctx__base_own(struct dctx *ctx)
{
	if (ctx->base != NULL && ctx->base_pid != getpid()) {
		event_reinit(ctx->base);
		ctx->base_pid = getpid();
	}
}

DCTX_EXPORT int
dctx_close(struct dctx *ctx)
{
	int forked = ctx->pid != getpid();
	int rc;

	if (!ctx->is_open)
		return 0;
	dctx__base_own(ctx);
	/* A new process still starting is stopped (upgrade.c). */
	dctx__upgrade_close(ctx);
	/*
	 * The pidfile goes first, while the signal map still stands: a
	 * SIGTERM sent again and again until the daemon is gone
	 * (start-stop-daemon --retry) must find it either serving or gone
	 * without its file, never dead of the signal with the file left.
	 */
	rc = dctx_pidfile_release(ctx->pidfile);
	ctx->pidfile = NULL;
	/*
	 * A daemon that stops before it said it was ready has failed; it
	 * says so only now that the pidfile is free (see open_failed()).
	 */
	if (!forked && !ctx->start_told)
		dctx__start_failed(ctx, 1, 0, ctx->errmsg[0] ? ctx->errmsg :
		    "the daemon closed before it was ready");
	/*
	 * From here on the daemon's mapped signals are caught and dropped
	 * until it exits.  A forked child closing its copy may live on, as
	 * a worker: it gets their defaults back.
	 */
	if (forked)
		dctx__signals_undo(ctx);
	else
		dctx__signals_remove(ctx);
	dctx__shutdown_close(ctx);
	dctx__watchdog_stop(ctx);
	dctx__threads_orphan(ctx, forked);
	ctx->is_open = 0;
	ctx->closed = 1;
	if (open_ctx == ctx)
		open_ctx = NULL;
	/* Said only now: the failure report above may quote the message. */
	if (rc < 0)
		return dctx__fail(ctx, rc, "pidfile %s: remove",
		    ctx->pidfile_path != NULL ? ctx->pidfile_path : "");
	return rc;
}
