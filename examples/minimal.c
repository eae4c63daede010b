#include <dctx.h>
#include <event2/event.h>
#include <stdio.h>

/* minimal PIDFILE USER: for example minimal /run/minimal/minimal.pid daemon */
int main(int argc, char **argv)
{
	struct dctx *ctx = dctx_new();          /* first: PEP 3143 defaults */

	if (ctx == NULL || argc != 3) {
		fprintf(stderr, "usage: minimal PIDFILE USER\n");
		dctx_free(ctx);                 /* NULL is fine */
		return 2;
	}
	if (dctx_set_pidfile(ctx, argv[1]) < 0 ||
	    dctx_set_user(ctx, argv[2]) < 0 ||  /* uid, gid and groups */
	    dctx_open(ctx) < 0) {               /* errors before the fork */
		fprintf(stderr, "minimal: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	/* Now the daemon: add your events to dctx_base(ctx), and the steps
	 * that undo them with dctx_on_shutdown(). */
	event_base_dispatch(dctx_base(ctx));    /* SIGTERM ends it */
	int status = dctx_exit_status(ctx);
	dctx_free(ctx);                         /* closes: removes the pidfile */
	return status;
}
