/*
 * terminate.  PEP 3143's terminate raises SystemExit and so exits 1, which
 * systemd counts as a failure; here a terminate stops the loop, and a clean
 * stop exits 0.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <syslog.h>

#include <event2/event.h>

#include "dctx-internal.h"

void
dctx__shutdown_signal(struct dctx *ctx, int signo)
{
	dctx_terminate(ctx, signo);
}

DCTX_EXPORT int
dctx_terminate(struct dctx *ctx, int signo)
{
	if (!ctx->is_open || ctx->base == NULL)
		return -EINVAL;
	if (ctx->terminating)
		return 0;
	ctx->terminating = 1;
	(void)signo;
	event_base_loopexit(ctx->base, NULL);
	return 0;
}

DCTX_EXPORT int
dctx_exit_status(const struct dctx *ctx)
{
	return ctx->exit_status;
}
