/*
 * d_dctx: the libdctx peer.  The smallest daemon the library makes: the
 * PEP 3143 defaults, a pidfile, and the event loop.
 *
 * usage: d_dctx --pidfile PATH [--answer-fd N]
 *
 * With --answer-fd N, descriptor N is preserved and every SIGUSR1 is
 * answered with one byte on it, from a dctx_set_signal() callback, which
 * runs in the event loop: that is the signal round trip the benchmark
 * times.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx.h"

static void
on_usr1(struct dctx *ctx, int signo, void *arg)
{
	int fd = *(int *)arg;

	(void)signo;
	/* A lost answer shows as a timeout on the other side. */
	if (write(fd, "!", 1) != 1)
		dctx_terminate(ctx, 0);
}

int
main(int argc, char **argv)
{
	const char *pidfile = NULL;
	struct dctx *ctx;
	int answer_fd = -1, i, rc;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--pidfile") == 0)
			pidfile = argv[i + 1];
		else if (strcmp(argv[i], "--answer-fd") == 0)
			answer_fd = atoi(argv[i + 1]);
		else
			break;
	}
	if (pidfile == NULL || i != argc) {
		fprintf(stderr, "usage: d_dctx --pidfile PATH [--answer-fd N]\n");
		return 2;
	}
	if ((ctx = dctx_new()) == NULL) {
		fprintf(stderr, "d_dctx: out of memory\n");
		return 1;
	}
	rc = dctx_set_pidfile(ctx, pidfile);
	if (rc == 0 && answer_fd >= 0)
		rc = dctx_preserve_fd(ctx, answer_fd);
	if (rc == 0 && answer_fd >= 0)
		rc = dctx_set_signal(ctx, SIGUSR1, on_usr1, &answer_fd);
	if (rc < 0 || dctx_open(ctx) < 0) {
		fprintf(stderr, "d_dctx: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	event_base_dispatch(dctx_base(ctx));
	rc = dctx_exit_status(ctx);
	dctx_free(ctx);
	return rc;
}
