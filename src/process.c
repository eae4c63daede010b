/*
 * The process's own attributes: core dumps, root directory, umask and
 * working directory (daemon(7) steps 10-11, PEP 3143's chroot_directory,
 * umask, working_directory and prevent_core).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dctx-internal.h"

/* The working directory as the process sees it after the chroot. */
static const char *
inner_workdir(const struct dctx *ctx)
{
	const char *full = dctx_working_directory(ctx);
	size_t rlen;

	if (ctx->chroot_dir == NULL)
		return full;
	rlen = strlen(ctx->chroot_dir);
	while (rlen > 1 && ctx->chroot_dir[rlen - 1] == '/')
		rlen--;
	if (rlen == 1)
		return full;
	return full[rlen] == '\0' ? "/" : full + rlen;
}

int
dctx__setup_process(struct dctx *ctx)
{
	struct rlimit rl = { 0, 0 };

	if (ctx->prevent_core && setrlimit(RLIMIT_CORE, &rl) < 0)
		return dctx__fail(ctx, -errno, "setrlimit(RLIMIT_CORE)");
	if (ctx->chroot_dir != NULL) {
		if (chroot(ctx->chroot_dir) < 0)
			return dctx__fail(ctx, -errno, "chroot(%s)",
			    ctx->chroot_dir);
		/* A chroot without chdir("/") leaves a way out. */
		if (chdir("/") < 0)
			return dctx__fail(ctx, -errno, "chdir(/) in chroot %s",
			    ctx->chroot_dir);
		if (ctx->pidfile != NULL)
			dctx__pidfile_enter_chroot(ctx->pidfile, ctx->chroot_dir);
	}
	umask(ctx->umask);
	if (chdir(inner_workdir(ctx)) < 0)
		return dctx__fail(ctx, -errno, "chdir(%s)",
		    dctx_working_directory(ctx));
	return 0;
}
