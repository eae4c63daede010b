/*
 * pidfile-helper: a program that uses only the pidfile API, as one that
 * has no daemon context would, in FreeBSD's pidfile(3) pattern: acquire,
 * fork, let the parent exit.
 *
 *   --pidfile PATH --fork-write  acquire, fork; the child rewrites the pid
 *       (dctx_pidfile_write()), tells the parent, which closes its handle
 *       (dctx_pidfile_close()), says "child N" on stderr and exits 0; the
 *       child waits for SIGTERM, then releases the file and exits 0.
 *   --pidfile PATH --fork        the same without the rewrite.
 *   --pidfile PATH --close       acquire, close without removing, exit 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dctx.h"

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "pidfile-helper: %s: %s\n", what, dctx_strerror(rc));
	return 1;
}

/* The child: stdio away from the test's pipe, then wait for SIGTERM. */
static int
child(struct dctx_pidfile *pf, int rewrite, int tell)
{
	sigset_t set;
	int rc = 0, sig, fd;

	if (rewrite && (rc = dctx_pidfile_write(pf)) < 0)
		fprintf(stderr, "pidfile-helper: write: %s\n", dctx_strerror(rc));
	if (write(tell, rc < 0 ? "!" : "w", 1) != 1)
		return 1;
	close(tell);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	/* SIGTERM was blocked before the fork: it waits for us here. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	return dctx_pidfile_release(pf) < 0;
}

int
main(int argc, char **argv)
{
	struct dctx_pidfile *pf;
	sigset_t set;
	int p[2], rc, rewrite;
	pid_t pid;
	char c;

	if (argc != 4 || strcmp(argv[1], "--pidfile") != 0) {
		fprintf(stderr, "usage: pidfile-helper --pidfile PATH "
		    "--fork-write|--fork|--close\n");
		return 2;
	}
	if ((rc = dctx_pidfile_acquire(&pf, argv[2])) < 0)
		return fail("acquire", rc);
	if (strcmp(argv[3], "--close") == 0)
		return dctx_pidfile_close(pf) < 0;
	rewrite = strcmp(argv[3], "--fork-write") == 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe(p) < 0 || (pid = fork()) < 0)
		return fail("fork", -errno);
	if (pid == 0) {
		close(p[0]);
		return child(pf, rewrite, p[1]);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'w')
		return 1;
	fprintf(stderr, "child %ld\n", (long)pid);
	return dctx_pidfile_close(pf) < 0;
}
