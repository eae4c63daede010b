/*
 * The reload chain: what SIGHUP means to a daemon (daemon(7): "SIGHUP
 * means reload"), where PEP 3143's map leaves it at its default action,
 * which kills.  A reload runs in the loop, like the shutdown chain: the
 * library's own step first (stdout and stderr files given by path are
 * reopened, stdpath.c), then the program's steps in the order they were
 * registered, each free to take its time (re-read a configuration
 * asynchronously).  systemd hears "RELOADING=1" with the time it started
 * and "READY=1" when the last step is done, so that `systemctl reload`
 * returns when the reload is really finished.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dctx-internal.h"

enum { STEP_IDLE = 0, STEP_RUNNING, STEP_DONE };

struct dctx_reload {
	struct dctx *ctx;
	dctx_reload_cb cb;
	void *arg;
	int state;
};

DCTX_EXPORT int
dctx_on_reload(struct dctx *ctx, dctx_reload_cb cb, void *arg)
{
	struct dctx_reload *step, **grown;

	if (cb == NULL)
		return dctx__fail(ctx, -EINVAL, "reload step: NULL callback");
	grown = realloc(ctx->rsteps, (ctx->nrsteps + 1) * sizeof(*grown));
	if (grown == NULL)
		return dctx__fail(ctx, -ENOMEM, "reload step");
	ctx->rsteps = grown;
	if ((step = calloc(1, sizeof(*step))) == NULL)
		return dctx__fail(ctx, -ENOMEM, "reload step");
	step->ctx = ctx;
	step->cb = cb;
	step->arg = arg;
	ctx->rsteps[ctx->nrsteps++] = step;
	return 0;
}

void
dctx__reload_free(struct dctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nrsteps; i++)
		free(ctx->rsteps[i]);
	free(ctx->rsteps);
	ctx->rsteps = NULL;
	ctx->nrsteps = 0;
}

/*
 * Whether the reload may go on: not once the shutdown chain has started,
 * which told systemd STOPPING=1 (a READY=1 after it would say the daemon
 * serves again), nor once the context is closed.
 */
static int
may_go_on(const struct dctx *ctx)
{
	return ctx->is_open && ctx->chain == DCTX__CHAIN_IDLE;
}

/*
 * Start one reload: the datagram first, stamped now, since systemd (253's
 * Type=notify-reload) takes a RELOADING=1 stamped before its own signal
 * for the answer to an older request.  A daemon that has not reported
 * ready yet says nothing: systemd would take the READY=1 at the end for
 * the end of the start.  Nor does one that reported a failed start
 * instead (dctx_notify_failure()) and still runs its loop: that READY=1
 * would turn the failure into a success.
 */
static void
begin(struct dctx *ctx)
{
	struct timespec ts;
	char msg[64];
	size_t i;

	ctx->reloading = 1;
	ctx->rcursor = 0;
	for (i = 0; i < ctx->nrsteps; i++)
		ctx->rsteps[i]->state = STEP_IDLE;
	ctx->reload_told = ctx->ready_told;
	if (ctx->reload_told) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)ts.tv_sec * 1000000ULL +
		    (unsigned long long)ts.tv_nsec / 1000ULL);
		dctx__notify(ctx, msg);
	}
	/* The library's own step, which finishes at once. */
	dctx__stdpath_reopen(ctx);
}

/*
 * Start steps until one is still working, or none is left; then tell
 * systemd, and start the reload asked for meanwhile, if any.  A step that
 * finishes inside its callback comes back here through
 * dctx_reload_done(), which only marks it: the loop below moves on.
 */
static void
advance(struct dctx *ctx)
{
	struct dctx_reload *step;

	if (ctx->reload_advancing)
		return;
	ctx->reload_advancing = 1;
	while (ctx->reloading && may_go_on(ctx)) {
		if (ctx->rcursor < ctx->nrsteps) {
			step = ctx->rsteps[ctx->rcursor];
			if (step->state == STEP_IDLE) {
				step->state = STEP_RUNNING;
				step->cb(ctx, step, step->arg);
			}
			if (step->state == STEP_RUNNING)
				break;
			ctx->rcursor++;
			continue;
		}
		ctx->reloading = 0;
		if (ctx->reload_told)
			dctx__notify(ctx, "READY=1");
		if (!ctx->reload_again)
			break;
		ctx->reload_again = 0;
		begin(ctx);
	}
	ctx->reload_advancing = 0;
}

DCTX_EXPORT void
dctx_reload_done(struct dctx_reload *step)
{
	if (step == NULL || step->state != STEP_RUNNING)
		return;
	step->state = STEP_DONE;
	advance(step->ctx);
}

DCTX_EXPORT int
dctx_reload(struct dctx *ctx)
{
	if (!ctx->is_open || ctx->base == NULL)
		return dctx__fail(ctx, -EINVAL, "reload: the context is not open");
	if (ctx->chain != DCTX__CHAIN_IDLE)
		return dctx__fail(ctx, -ECANCELED, "reload: the daemon is "
		    "stopping");
	/*
	 * One more after the current one, however many are asked for: the
	 * current one may have read its files before the change that
	 * prompted this request.
	 */
	if (ctx->reloading) {
		ctx->reload_again = 1;
		return 0;
	}
	begin(ctx);
	advance(ctx);
	return 0;
}
