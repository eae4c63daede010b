/*
 * The privileged hook: the program's own work in the daemon process while
 * it still has what the start will take away (open a key file only root
 * may read, bind a port below 1024 late).  It runs in dctx_open()'s step
 * 5, after the fork (so what it opens belongs to the daemon, not to the
 * launcher that exits) and before the chroot, the close step and the
 * privilege drop: daemon(7) and OpenSSH alike read what needs root before
 * they give it up, and a key file usually lies outside the jail.
 *
 * Its failure is a failed start like any other: the hook's return value
 * goes down dctx_open()'s failure path, so the launcher prints the
 * program's message and exits 1, systemd gets STATUS= and ERRNO=, and no
 * pidfile is left behind.  dctx_set_errmsg() lets the program word the
 * message itself.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "dctx-internal.h"

DCTX_EXPORT int
dctx_set_privileged_hook(struct dctx *ctx, dctx_privileged_cb cb, void *arg)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "privileged hook");
	ctx->priv_cb = cb;
	ctx->priv_arg = arg;
	return 0;
}

/*
 * The message is the program's, whole: shortened in the middle only past
 * dctx_errmsg()'s room, as every message of the library is.
 */
DCTX_EXPORT int
dctx_set_errmsg(struct dctx *ctx, int code, const char *fmt, ...)
{
	int saved = errno;
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg != NULL) {
		dctx__shorten(ctx->errmsg, sizeof(ctx->errmsg), msg);
		free(msg);
	} else {
		/* Memory is short: keep the head, at least. */
		va_start(ap, fmt);
		vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return code;
}

/*
 * dctx_open(), step 5.  prevent_core is applied before the hook rather
 * than after it, in dctx__setup_process(): a hook that crashes while it
 * holds a key must not leave the key in a core file.
 */
int
dctx__run_privileged_hook(struct dctx *ctx)
{
	struct rlimit none = { 0, 0 };
	int rc;

	if (ctx->priv_cb == NULL)
		return 0;
	if (ctx->prevent_core && setrlimit(RLIMIT_CORE, &none) < 0)
		return dctx__fail(ctx, -errno, "setrlimit(RLIMIT_CORE)");
	ctx->errmsg[0] = '\0';
	ctx->priv_ran = 1;
	ctx->priv_npreserve = ctx->npreserve;
	rc = ctx->priv_cb(ctx, ctx->priv_arg);
	if (rc > 0)
		return dctx__fail(ctx, -EINVAL, "privileged hook returned %d, "
		    "not 0 or a negative code", rc);
	if (rc < 0 && ctx->errmsg[0] == '\0')
		return dctx__fail(ctx, rc, "privileged hook");
	/* What the hook tried and then did without is no failure of ours. */
	if (rc == 0)
		ctx->errmsg[0] = '\0';
	return rc;
}

/*
 * A failed dctx_open(): the descriptors the hook preserved are forgotten.
 * The program closes what its hook opened (dctx.h), and a retry runs the
 * hook again, which preserves what it opens then: the old numbers, kept,
 * would fail the retry's check of the preserved descriptors (EBADF), or
 * keep whatever file took one of them through the close step.
 */
void
dctx__privileged_hook_undo(struct dctx *ctx)
{
	if (ctx->priv_ran && ctx->npreserve > ctx->priv_npreserve)
		ctx->npreserve = ctx->priv_npreserve;
	ctx->priv_ran = 0;
}
