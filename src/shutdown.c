/*
 * terminate and the graceful shutdown chain.  PEP 3143's terminate raises
 * SystemExit, so the daemon exits 1 from wherever it was, and systemd counts
 * the stop as a failure.  Here terminate runs the registered steps one
 * after the other in the loop, in the reverse order of registration, each
 * free to take its time (drain connections, join a thread), and ends in
 * event_base_loopexit() so that main returns with status 0.  A deadline,
 * or a second signal, cuts it short with a distinct status.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "dctx-internal.h"

/* Repeats within this window are the same request, not a second one. */
#define REPEAT_WINDOW_MS 100

enum { STEP_IDLE = 0, STEP_RUNNING, STEP_DONE, STEP_LATE };

struct dctx_shutdown {
	struct dctx *ctx;
	dctx_shutdown_cb cb;
	void *arg;
	int state;
};

/* The monotonic clock in milliseconds: deadlines here and in the launcher. */
long long
dctx__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

DCTX_EXPORT int
dctx_on_shutdown(struct dctx *ctx, dctx_shutdown_cb cb, void *arg)
{
	struct dctx_shutdown *step, **grown;

	if (cb == NULL)
		return dctx__fail(ctx, -EINVAL, "shutdown step: NULL callback");
	if (ctx->chain != DCTX__CHAIN_IDLE)
		return dctx__fail(ctx, -EALREADY, "shutdown step");
	grown = realloc(ctx->steps, (ctx->nsteps + 1) * sizeof(*grown));
	if (grown == NULL)
		return dctx__fail(ctx, -ENOMEM, "shutdown step");
	ctx->steps = grown;
	if ((step = calloc(1, sizeof(*step))) == NULL)
		return dctx__fail(ctx, -ENOMEM, "shutdown step");
	step->ctx = ctx;
	step->cb = cb;
	step->arg = arg;
	ctx->steps[ctx->nsteps++] = step;
	return 0;
}

DCTX_EXPORT int
dctx_set_shutdown_timeout(struct dctx *ctx, int ms)
{
	if (ms < 0)
		return dctx__fail(ctx, -EINVAL, "shutdown timeout %d ms", ms);
	ctx->shutdown_ms = ms;
	return 0;
}

/* Release what the chain holds in the loop: its timer and its SIGINT. */
void
dctx__shutdown_close(struct dctx *ctx)
{
	if (ctx->deadline_ev != NULL) {
		event_free(ctx->deadline_ev);
		ctx->deadline_ev = NULL;
	}
	if (ctx->sigint_ev != NULL) {
		event_free(ctx->sigint_ev);
		ctx->sigint_ev = NULL;
	}
}

void
dctx__shutdown_free(struct dctx *ctx)
{
	size_t i;

	dctx__shutdown_close(ctx);
	for (i = 0; i < ctx->nsteps; i++)
		free(ctx->steps[i]);
	free(ctx->steps);
	ctx->steps = NULL;
	ctx->nsteps = 0;
}

static void
finish(struct dctx *ctx, int status)
{
	ctx->chain = DCTX__CHAIN_FINISHED;
	ctx->exit_status = status;
	dctx__shutdown_close(ctx);
	dctx__watchdog_stop(ctx);
	/* A clean end lets the current callbacks finish; a forced one not. */
	if (status == DCTX_EXIT_CLEAN)
		event_base_loopexit(ctx->base, NULL);
	else
		event_base_loopbreak(ctx->base);
}

/* Start steps until one is still working, or none is left. */
static void
advance(struct dctx *ctx)
{
	struct dctx_shutdown *step;

	if (ctx->advancing || ctx->chain != DCTX__CHAIN_RUNNING)
		return;
	ctx->advancing = 1;
	while (ctx->cursor > 0) {
		step = ctx->steps[ctx->cursor - 1];
		if (step->state == STEP_IDLE) {
			step->state = STEP_RUNNING;
			step->cb(ctx, step, 0, step->arg);
		}
		if (step->state == STEP_RUNNING ||
		    ctx->chain != DCTX__CHAIN_RUNNING)
			break;
		ctx->cursor--;
	}
	ctx->advancing = 0;
	if (ctx->cursor == 0 && ctx->chain == DCTX__CHAIN_RUNNING)
		finish(ctx, DCTX_EXIT_CLEAN);
}

DCTX_EXPORT void
dctx_shutdown_done(struct dctx_shutdown *step)
{
	if (step == NULL || step->state != STEP_RUNNING)
		return;
	step->state = STEP_DONE;
	advance(step->ctx);
}

/* Time is up: every step not done hears it, and the loop breaks. */
static void
force(struct dctx *ctx, int status, const char *why)
{
	size_t i, late = 0;

	if (ctx->chain != DCTX__CHAIN_RUNNING)
		return;
	for (i = ctx->cursor; i > 0; i--)
		late += ctx->steps[i - 1]->state != STEP_DONE;
	dctx__log(ctx, LOG_WARNING, "%s; %zu shutdown step%s not finished",
	    why, late, late == 1 ? "" : "s");
	for (i = ctx->cursor; i > 0; i--) {
		struct dctx_shutdown *step = ctx->steps[i - 1];
		if (step->state == STEP_DONE)
			continue;
		step->state = STEP_LATE;
		step->cb(ctx, step, 1, step->arg);
	}
	ctx->cursor = 0;
	finish(ctx, status);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	char why[64];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "shutdown deadline of %d ms passed",
	    ctx->shutdown_ms);
	force(ctx, DCTX_EXIT_TIMEOUT, why);
}

static void
on_sigint(evutil_socket_t signo, short what, void *arg)
{
	(void)what;
	dctx_terminate(arg, (int)signo);
}

/* A repeated request while the chain runs: the same one, or a force. */
static void
repeat(struct dctx *ctx, int signo)
{
	char why[96];

	if (signo == 0 || (signo != SIGINT &&
	    dctx__now_ms() - ctx->chain_started_ms < REPEAT_WINDOW_MS))
		return;
	snprintf(why, sizeof(why), "stop forced by signal %d (%s)", signo,
	    strsignal(signo));
	force(ctx, DCTX_EXIT_FORCED, why);
}

DCTX_EXPORT int
dctx_terminate(struct dctx *ctx, int signo)
{
	struct timeval tv;

	if (!ctx->is_open || ctx->base == NULL)
		return dctx__fail(ctx, -EINVAL, "terminate: the context is not open");
	if (ctx->chain == DCTX__CHAIN_RUNNING)
		repeat(ctx, signo);
	if (ctx->chain != DCTX__CHAIN_IDLE)
		return 0;
	/* PEP 3143's words, kept in the log; the status is 0 all the same. */
	if (signo > 0)
		dctx__log(ctx, LOG_INFO, "terminating on signal %d (%s)",
		    signo, strsignal(signo));
	ctx->chain = DCTX__CHAIN_RUNNING;
	ctx->chain_started_ms = dctx__now_ms();
	dctx__notify(ctx, "STOPPING=1");
	if (ctx->shutdown_ms > 0) {
		ctx->deadline_ev = evtimer_new(ctx->base, on_deadline, ctx);
		tv.tv_sec = ctx->shutdown_ms / 1000;
		tv.tv_usec = (ctx->shutdown_ms % 1000) * 1000;
		if (ctx->deadline_ev != NULL)
			evtimer_add(ctx->deadline_ev, &tv);
	}
	/*
	 * A SIGINT nobody mapped ends the chain at once, as it promises.
	 * Under the event, SIGINT is caught and dropped, which is what
	 * libevent puts back when the event goes: a SIGINT repeated while
	 * the daemon finishes its exit must not kill it by the signal.
	 */
	if (ctx->sigmap[SIGINT].kind == DCTX__SIG_UNSET) {
		ctx->sigint_ev = evsignal_new(ctx->base, SIGINT, on_sigint, ctx);
		if (ctx->sigint_ev != NULL) {
			dctx__signal_catch(SIGINT);
			event_add(ctx->sigint_ev, NULL);
		}
	}
	ctx->cursor = ctx->nsteps;
	advance(ctx);
	/*
	 * Deliveries merged into this activation run right after us; slow
	 * synchronous steps must not push them out of the window.
	 */
	ctx->chain_started_ms = dctx__now_ms();
	return 0;
}

DCTX_EXPORT int
dctx_exit_status(const struct dctx *ctx)
{
	return ctx->exit_status;
}
