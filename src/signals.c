/*
 * The signal map.  After dctx_open() every mapped signal but the ignored
 * ones is a libevent signal event (EV_SIGNAL|EV_PERSIST), so callbacks run
 * in the loop, where they may allocate, log and call libevent; no raw
 * handler of ours runs user code.  Ignored signals are SIG_IGN in the
 * kernel: nothing to wake up for.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

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

static void
set_disposition(int signo, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

/* daemon(7) steps 2-3: every disposition to default, an empty mask. */
void
dctx__signals_reset(void)
{
	sigset_t none;
	int signo;

	for (signo = 1; signo < NSIG; signo++)
		if (dctx__signal_valid(signo))
			set_disposition(signo, SIG_DFL);
	reset_reserved();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void
dctx__signals_default_map(struct dctx *ctx)
{
	/* PEP 3143's default map. */
	ctx->sigmap[SIGTSTP].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTTIN].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTTOU].kind = DCTX__SIG_IGNORE;
	ctx->sigmap[SIGTERM].kind = DCTX__SIG_TERMINATE;
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
}

static int
is_event_kind(enum dctx__sigkind kind)
{
	return kind == DCTX__SIG_TERMINATE || kind == DCTX__SIG_CALLBACK;
}

/*
 * Put a signal event in.  libevent remembers the disposition it finds and
 * puts it back when the event goes; we make that SIG_IGN, so that turning
 * the event into "ignore" later never passes through SIG_DFL, whose action
 * for most signals is death, in whichever thread the signal lands.
 */
static int
add_event(struct dctx *ctx, int signo)
{
	struct dctx__sig *s = &ctx->sigmap[signo];

	set_disposition(signo, SIG_IGN);
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

/* Take an event out; the signal is then ignored (see add_event()). */
static void
del_event(struct dctx__sig *s)
{
	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
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
		else if (is_event_kind(kind) && (rc = add_event(ctx, signo)) < 0) {
			dctx__signals_remove(ctx);
			return dctx__fail(ctx, rc, "signal %d (%s)", signo,
			    strsignal(signo));
		}
	}
	return 0;
}

/* Everything back to the default: the context is closing. */
void
dctx__signals_remove(struct dctx *ctx)
{
	int signo;

	for (signo = 1; signo < NSIG; signo++) {
		struct dctx__sig *s = &ctx->sigmap[signo];

		if (s->ev == NULL && s->kind != DCTX__SIG_IGNORE)
			continue;
		del_event(s);
		set_disposition(signo, SIG_DFL);
	}
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
	s = &ctx->sigmap[signo];
	old = s->kind;
	if (ctx->is_open && is_event_kind(kind) && !is_event_kind(old)) {
		/* From ignore (SIG_IGN) or default, through SIG_IGN, to ours. */
		if ((rc = add_event(ctx, signo)) < 0) {
			set_disposition(signo, old == DCTX__SIG_IGNORE ?
			    SIG_IGN : SIG_DFL);
			return dctx__fail(ctx, rc, "signal %d (%s)", signo,
			    strsignal(signo));
		}
	} else if (ctx->is_open && !is_event_kind(kind)) {
		/* Our event leaves SIG_IGN behind; default is asked for. */
		del_event(s);
		set_disposition(signo, kind == DCTX__SIG_IGNORE ? SIG_IGN :
		    SIG_DFL);
	}
	/* Between callback and terminate the event stays: on_signal()
	 * reads the entry each time. */
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
dctx_unset_signal(struct dctx *ctx, int signo)
{
	return set_entry(ctx, signo, DCTX__SIG_UNSET, NULL, NULL);
}
