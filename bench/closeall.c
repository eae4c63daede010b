/*
 * closeall: the fd-closing step of each C peer, alone, under a chosen
 * RLIMIT_NOFILE.
 *
 * usage: closeall [-m] PEER NOPEN LIMIT REPS
 *
 * PEER is one of
 *   dctx       libdctx's own step, dctx__close_fds(), which dctx_open()
 *              runs with the descriptors it keeps (an internal function:
 *              the benchmark links the static library to reach it)
 *   libdaemon  daemon_close_allv()
 *   loop       the plain loop: close() every number from 3 to the soft
 *              limit, as pep3143daemon and many hand-written daemons do
 *
 * Both limits are set to LIMIT (systemd's LimitNOFILE= sets both).  Each
 * repetition opens NOPEN descriptors from 3 up, keeps four of them, spread
 * out so that they split the range as badly as they can (dctx_open() keeps
 * four: the pidfile, its directory, the launcher pipe and /dev/null), times
 * the step, checks that exactly the kept ones survived, and prints the
 * time in nanoseconds.  A first, untimed repetition warms up.  With -m the step is framed by two write(-1, ...)
 * calls that fail harmlessly and mark it in an strace log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libdaemon/dfork.h>

#include "benchutil.h"

#define NKEEP 4

/* libdctx's internal step; see src/fds.c. */
int dctx__close_fds(const int *keep, size_t nkeep);

static void
mark(int on, const char *what)
{
	if (on)
		(void)write(-1, what, strlen(what));
}

static int
is_kept(int fd, const int *keep)
{
	int i;

	for (i = 0; i < NKEEP; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

static int
plain_loop(const int *keep)
{
	long fd, max = sysconf(_SC_OPEN_MAX);

	for (fd = 3; fd < max; fd++)
		if (!is_kept((int)fd, keep))
			close((int)fd);
	return 0;
}

static int
run_step(const char *peer, const int *keep)
{
	int list[NKEEP + 1], i;

	if (strcmp(peer, "dctx") == 0)
		return dctx__close_fds(keep, NKEEP);
	if (strcmp(peer, "libdaemon") == 0) {
		for (i = 0; i < NKEEP; i++)
			list[i] = keep[i];
		list[NKEEP] = -1;
		return daemon_close_allv(list);
	}
	return plain_loop(keep);
}

int
main(int argc, char **argv)
{
	int keep[NKEEP], markers = 0, nopen, reps, r, i, fd;
	const char *peer;
	struct rlimit rl;
	long limit;

	if (argc > 1 && strcmp(argv[1], "-m") == 0) {
		markers = 1;
		argv++;
		argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: closeall [-m] dctx|libdaemon|loop "
		    "NOPEN LIMIT REPS\n");
		return 2;
	}
	peer = argv[1];
	nopen = atoi(argv[2]);
	limit = atol(argv[3]);
	reps = atoi(argv[4]);
	if (nopen < 2 * NKEEP || limit < nopen + 16) {
		fprintf(stderr, "closeall: NOPEN too small or LIMIT too low\n");
		return 2;
	}
	bench_close_strays();
	rl.rlim_cur = rl.rlim_max = (rlim_t)limit;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fprintf(stderr, "closeall: RLIMIT_NOFILE %ld: %s\n", limit,
		    strerror(errno));
		return 1;
	}
	for (i = 0; i < NKEEP; i++)
		keep[i] = 3 + nopen * (i + 1) / (NKEEP + 1);
	/*
	 * One repetition more than asked, untimed, first: the allocator's
	 * first brk() and getrandom() and cold caches belong to the process
	 * start, not to the step.
	 */
	for (r = -1; r < reps; r++) {
		long long t0, t1;

		for (i = 0; i < nopen; i++)
			if ((fd = open("/dev/null", O_RDONLY)) != 3 + i) {
				fprintf(stderr, "closeall: fd %d, not %d\n",
				    fd, 3 + i);
				return 1;
			}
		mark(markers && r >= 0, "bench-step-begin");
		t0 = bench_now_ns();
		if (run_step(peer, keep) < 0) {
			fprintf(stderr, "closeall: %s: step failed\n", peer);
			return 1;
		}
		t1 = bench_now_ns();
		mark(markers && r >= 0, "bench-step-end");
		/* The step must have closed all but the kept ones. */
		for (fd = 3; fd < 3 + nopen; fd++)
			if ((fcntl(fd, F_GETFD) >= 0) != is_kept(fd, keep)) {
				fprintf(stderr, "closeall: %s: fd %d wrongly "
				    "%s\n", peer, fd, is_kept(fd, keep) ?
				    "closed" : "left open");
				return 1;
			}
		for (i = 0; i < NKEEP; i++)
			close(keep[i]);
		if (r >= 0)
			printf("%lld\n", t1 - t0);
	}
	return 0;
}
