/*
 * The signal map.  After dctx_open() every mapped signal but the ignored
 * ones is a libevent signal event (EV_SIGNAL|EV_PERSIST), so callbacks run
 * in the loop, where they may allocate, log and call libevent; no raw
 * handler of ours runs user code.  Ignored signals are SIG_IGN in the
 * kernel: nothing to wake up for.  The only handler of our own does
 * nothing: it stands under libevent's, so that removing an event leaves a
 * signal caught and dropped, never ignored (which would discard one that
 * is pending) nor at its default action (which kills for most).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

/*
 * The signals a faulting instruction raises.  A handler that returns sends
 * the thread back to the same instruction, which faults again: mapped, the
 * daemon would spin there for ever, and its loop, where the callback would
 * run, never turns again.
 */
static int
is_fault(int signo)
{
	switch (signo) {
	case SIGSEGV:
	case SIGBUS:
	case SIGFPE:
	case SIGILL:
	case SIGTRAP:
	case SIGSYS:
		return 1;
	}
	return 0;
}

/*
 * Every signal but the fault ones: what may be blocked without turning a
 * fault into a hang (the start-up hold here, a worker thread's mask).
 */
void
dctx__signals_all_but_faults(sigset_t *set)
{
	int signo;

	sigfillset(set);
	for (signo = 1; signo < NSIG; signo++)
		if (is_fault(signo))
			sigdelset(set, signo);
}

int
dctx__signal_valid(int signo)
{
	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
		return 0;
	/* glibc keeps 32 and 33 for its threads; sigaction refuses them. */
	if (signo >= DCTX__SIG_RESERVED_FIRST && signo < SIGRTMIN)
		return 0;
	return 1;
}

/*
 * glibc's sigaction() refuses the signals it reserves for its threads (32
 * and 33), yet they can arrive ignored across exec (seen under Check), and
 * an ignored one would stay so for the daemon's life.  The kernel takes
 * them: ask it directly, with its own struct layout, for SIG_DFL, which
 * needs no restorer.  No library offers this.
 */
static void
reset_reserved(void)
{
#ifdef SYS_rt_sigaction
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask[(NSIG + 8 * sizeof(long) - 1) /
		    (8 * sizeof(long))];
	} ksa;
	int signo;

	memset(&ksa, 0, sizeof(ksa));
	ksa.handler = SIG_DFL;
	for (signo = DCTX__SIG_RESERVED_FIRST; signo < SIGRTMIN; signo++)
		syscall(SYS_rt_sigaction, signo, &ksa, NULL, (NSIG - 1) / 8);
#endif
}

/* The harmless handler: the signal is caught, and dropped. */
static void
drop_signal(int signo)
{
	(void)signo;
}

static void
set_disposition(int signo, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	/* A dropped signal must not fail the system call it interrupted. */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

/*
 * daemon(7) steps 2-3: every disposition to default, and the mask.  The
 * mask is not emptied yet but filled: every signal is held from here until
 * the signal map is live and the pid written (dctx__signals_release()).
 * Between the reset and the map a SIGTERM would kill the daemon and leave
 * its pidfile, a SIGHUP (logrotate's kill -HUP) kill it, a SIGTSTP stop it;
 * held, each waits and is then served as the map says.  The mask is set
 * before the dispositions, so that none slips between the two.  The fault
 * signals stay deliverable: the kernel would force one raised by an
 * instruction through the mask anyway, and none can be mapped.
 */
void
dctx__signals_reset(void)
{
	sigset_t held;
	int signo;

	dctx__signals_all_but_faults(&held);
	sigprocmask(SIG_SETMASK, &held, NULL);
	for (signo = 1; signo < NSIG; signo++)
		if (dctx__signal_valid(signo))
			set_disposition(signo, SIG_DFL);
	reset_reserved();
}

/*
 * daemon(7) step 3, completed: the empty mask.  A signal held since the
 * reset is delivered now, to the handler the map installed.
 */
void
dctx__signals_release(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Catch signo and drop it (see drop_signal()). */
void
dctx__signal_catch(int signo)
{
	set_disposition(signo, drop_signal);
}

void
dctx__signals_default_map(struct dctx *ctx)
{
	/* PEP 3143's default map. */
	ctx->sigmap[SIGTSTP].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTTIN].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTTOU].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTERM].kind = DCTX__SIG_TERMINATE;
	/*
	 * And SIGPIPE, which PEP 3143 leaves out: the reset above undoes a
	 * program's own signal(SIGPIPE, SIG_IGN), and a server would then
	 * die the first time a client goes away in the middle of a reply.
	 * A write to a closed pipe or socket fails with EPIPE instead.
	 */
	ctx->sigmap[SIGPIPE].kind = DCTX__SIG_IGNORE;
	/*
	 * And SIGHUP, which PEP 3143 leaves at its default action, death:
	 * `systemctl reload` and logrotate's `kill -HUP` would kill the
	 * daemon.  daemon(7) says SIGHUP means reload (reload.c).
	 */
	ctx->sigmap[SIGHUP].kind = DCTX__SIG_RELOAD;
}

static void
on_signal(evutil_socket_t signo, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__sig *s = &ctx->sigmap[signo];

	(void)what;
	if (s->kind == DCTX__SIG_CALLBACK)
		s->cb(ctx, (int)signo, s->arg);
	else if (s->kind == DCTX__SIG_TERMINATE)
		dctx_terminate(ctx, (int)signo);
	else if (s->kind == DCTX__SIG_RELOAD &&
	    ctx->chain == DCTX__CHAIN_IDLE)
		dctx_reload(ctx); /* while stopping, dropped (dctx.h) */
	/* After the program's own callback, which may reap its children. */
	if (signo == SIGCHLD)
		dctx__reap(ctx);
}

static int
is_event_kind(enum dctx__sigkind kind)
{
	return kind == DCTX__SIG_TERMINATE || kind == DCTX__SIG_CALLBACK ||
	    kind == DCTX__SIG_RELOAD;
}

/*
 * Whether signo needs our libevent event with this entry: a mapped one
 * does, and so does SIGCHLD left unmapped while the reaper works
 * (reaper.c).  An ignored SIGCHLD needs none: the kernel then makes no
 * zombies.
 */
static int
wants_event(const struct dctx *ctx, int signo, enum dctx__sigkind kind)
{
	return is_event_kind(kind) || (signo == SIGCHLD && ctx->reaping &&
	    kind == DCTX__SIG_UNSET);
}

/*
 * Put a signal event in.  libevent remembers the disposition it finds and
 * puts it back when the event goes; we make that drop_signal(), so that
 * turning the event into "ignore" later, or closing, never passes through
 * SIG_DFL, whose action for most signals is death, in whichever thread the
 * signal lands.  Not SIG_IGN: setting it discards a pending signal, and a
 * SIGTERM held since the reset would be lost, the daemon running on.
 */
static int
add_event(struct dctx *ctx, int signo)
{
	struct dctx__sig *s = &ctx->sigmap[signo];

	set_disposition(signo, drop_signal);
	s->ev = evsignal_new(ctx->base, signo, on_signal, ctx);
	if (s->ev == NULL)
		return -ENOMEM;
	if (event_add(s->ev, NULL) < 0) {
		event_free(s->ev);
		s->ev = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Take an event out; the signal is then dropped (see add_event()). */
static void
del_event(struct dctx__sig *s)
{
	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
}

/* Every entry of the map out of the process, leaving handler behind. */
static void
clear_map(struct dctx *ctx, void (*handler)(int))
{
	int signo;

	for (signo = 1; signo < NSIG; signo++) {
		struct dctx__sig *s = &ctx->sigmap[signo];

		if (s->ev == NULL && s->kind != DCTX__SIG_IGNORE)
			continue;
		del_event(s);
		set_disposition(signo, handler);
	}
}

int
dctx__signals_install(struct dctx *ctx)
{
	int signo, rc;

	for (signo = 1; signo < NSIG; signo++) {
		enum dctx__sigkind kind = ctx->sigmap[signo].kind;

		if (kind == DCTX__SIG_IGNORE)
			set_disposition(signo, SIG_IGN);
		else if (wants_event(ctx, signo, kind) &&
		    (rc = add_event(ctx, signo)) < 0) {
			dctx__signals_undo(ctx);
			return dctx__fail(ctx, rc, "signal %d (%s)", signo,
			    strsignal(signo));
		}
	}
	return 0;
}

/*
 * Every mapped signal back to its default: dctx_open() failed, or a forked
 * child closes its copy of the context.
 */
void
dctx__signals_undo(struct dctx *ctx)
{
	clear_map(ctx, SIG_DFL);
}

/*
 * The context is closing, in a process about to exit: every mapped signal
 * is caught and dropped from now on.  A SIGTERM repeated until the daemon
 * is gone (start-stop-daemon --retry) must not kill it on its way out, nor
 * a SIGTSTP stop it, nor a SIGPIPE end it with a signal instead of its
 * exit status.  A program it execs starts with the defaults all the same:
 * exec resets caught signals, where it would keep ignored ones.
 */
void
dctx__signals_remove(struct dctx *ctx)
{
	clear_map(ctx, drop_signal);
}

/*
 * Change one entry; when open, the process follows at once, going from
 * the old disposition straight to the new one.  Blocking the signal would
 * not do: a signal mask is per thread, and a thread we did not start may
 * take the signal meanwhile.
 */
static int
set_entry(struct dctx *ctx, int signo, enum dctx__sigkind kind,
    dctx_signal_cb cb, void *arg)
{
	struct dctx__sig *s;
	enum dctx__sigkind old;
	int rc;

	if (!dctx__signal_valid(signo))
		return dctx__fail(ctx, DCTX_ESIGNAL, "signal %d%s%s%s", signo,
		    signo > 0 && signo < NSIG ? " (" : "",
		    signo > 0 && signo < NSIG ? strsignal(signo) : "",
		    signo > 0 && signo < NSIG ? ")" : "");
	if (is_fault(signo))
		return dctx__fail(ctx, DCTX_ESIGNAL, "signal %d (%s) is raised "
		    "by a faulting instruction, which would run again each "
		    "time a handler returned", signo, strsignal(signo));
	s = &ctx->sigmap[signo];
	old = s->kind;
	if (ctx->is_open && wants_event(ctx, signo, kind) &&
	    !wants_event(ctx, signo, old)) {
		/* From ignore or default, through drop_signal(), to ours. */
		if ((rc = add_event(ctx, signo)) < 0) {
			set_disposition(signo, old == DCTX__SIG_IGNORE ?
			    SIG_IGN : SIG_DFL);
			return dctx__fail(ctx, rc, "signal %d (%s)", signo,
			    strsignal(signo));
		}
	} else if (ctx->is_open && !wants_event(ctx, signo, kind)) {
		/* Our event leaves drop_signal() behind; then the new one. */
		del_event(s);
		set_disposition(signo, kind == DCTX__SIG_IGNORE ? SIG_IGN :
		    SIG_DFL);
	}
	/* Between callback, terminate and reload the event stays:
	 * on_signal() reads the entry each time. */
	s->kind = kind;
	s->cb = cb;
	s->arg = arg;
	return 0;
}

DCTX_EXPORT int
dctx_set_signal(struct dctx *ctx, int signo, dctx_signal_cb cb, void *arg)
{
	if (cb == NULL)
		return dctx__fail(ctx, -EINVAL, "signal %d: NULL callback", signo);
	return set_entry(ctx, signo, DCTX__SIG_CALLBACK, cb, arg);
}

DCTX_EXPORT int
dctx_ignore_signal(struct dctx *ctx, int signo)
{
	return set_entry(ctx, signo, DCTX__SIG_IGNORE, NULL, NULL);
}

DCTX_EXPORT int
dctx_terminate_on_signal(struct dctx *ctx, int signo)
{
	return set_entry(ctx, signo, DCTX__SIG_TERMINATE, NULL, NULL);
}

DCTX_EXPORT int
dctx_reload_on_signal(struct dctx *ctx, int signo)
{
	return set_entry(ctx, signo, DCTX__SIG_RELOAD, NULL, NULL);
}

DCTX_EXPORT int
dctx_unset_signal(struct dctx *ctx, int signo)
{
	return set_entry(ctx, signo, DCTX__SIG_UNSET, NULL, NULL);
}
