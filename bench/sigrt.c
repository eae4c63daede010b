/*
 * sigrt: the signal round trip.  Start a peer with a pipe on its fd 3, then
 * kill() it with SIGUSR1 and wait for the byte its handler writes back, one
 * signal at a time (so that the kernel never merges two deliveries).
 *
 * usage: sigrt [-n N] [-w WARM] [-m SHIM] PIDFILE CMD [ARG...]
 *
 * CMD must answer on fd 3 (the driver passes --answer-fd 3).  WARM round
 * trips (default 100) go untimed, then N (default 10000) are timed and
 * printed, one per line, in nanoseconds.
 *
 * With -m SHIM the daemon runs under LD_PRELOAD=SHIM (malloc_count.so) and
 * nothing is timed: the heap calls of the N signals after the warm-up are
 * counted and printed as "allocs frees N before", the steady state per
 * signal being allocs / N; "before" is every allocation up to then (the
 * start-up and the warm-up), which proves the shim was counting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "benchutil.h"

extern char **environ;

static void
usage(void)
{
	fprintf(stderr, "usage: sigrt [-n N] [-w WARM] [-m SHIM] "
	    "PIDFILE CMD [ARG...]\n");
	exit(2);
}

/* One round trip: the signal out, the byte back. */
static int
round_trip(pid_t pid, int rfd)
{
	char c;
	ssize_t n;

	if (kill(pid, SIGUSR1) < 0) {
		perror("kill");
		return -1;
	}
	while ((n = read(rfd, &c, 1)) < 0 && errno == EINTR &&
	    !bench_timed_out)
		;
	if (n != 1) {
		fprintf(stderr, "sigrt: the daemon did not answer\n");
		return -1;
	}
	return 0;
}

/* Our environment plus the shim's two variables. */
static char **
shim_env(const char *shim, const char *counter)
{
	size_t n = 0, i;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 3, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		env[i] = environ[i];
	if (asprintf(&env[n], "LD_PRELOAD=%s", shim) < 0 ||
	    asprintf(&env[n + 1], "BENCH_MALLOC_COUNTER=%s", counter) < 0)
		return NULL;
	return env;
}

static uint64_t
allocs(const volatile uint64_t *c)
{
	return c[0] + c[1] + c[2] + c[3];
}

int
main(int argc, char **argv)
{
	char counter[] = "/tmp/dctx-bench-count.XXXXXX";
	volatile uint64_t *counts = NULL;
	struct bench_start st;
	const char *shim = NULL;
	char **env = NULL;
	long long *ns;
	uint64_t a0 = 0, f0 = 0;
	int c, n = 10000, warm = 100, p[2], rfd, wfd, i, rc = 1;

	while ((c = getopt(argc, argv, "+n:w:m:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 'm': shim = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 2 || n <= 0 || warm < 0)
		usage();
	if ((ns = calloc((size_t)n, sizeof(*ns))) == NULL)
		return 1;
	bench_init();
	if (shim != NULL) {
		int fd = mkstemp(counter);

		if (fd < 0 || ftruncate(fd, 4096) < 0 ||
		    (counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0)) == MAP_FAILED ||
		    (env = shim_env(shim, counter)) == NULL) {
			perror("sigrt: counter");
			return 1;
		}
		close(fd);
	}
	/* Keep both ends well above 3, so that the dup onto 3 is real. */
	if (pipe2(p, O_CLOEXEC) < 0 ||
	    (rfd = fcntl(p[0], F_DUPFD_CLOEXEC, 10)) < 0 ||
	    (wfd = fcntl(p[1], F_DUPFD_CLOEXEC, 10)) < 0) {
		perror("sigrt: pipe");
		return 1;
	}
	close(p[0]);
	close(p[1]);
	if (bench_start(argv[optind], argv + optind + 1, env, wfd, 1, 20000,
	    &st) < 0) {
		bench_reap_all(0);
		return 1;
	}
	/* Only the daemon may hold the write end: its death must read EOF. */
	close(wfd);
	for (i = 0; i < warm; i++)
		if (round_trip(st.daemon, rfd) < 0)
			goto out;
	if (counts != NULL) {
		a0 = allocs(counts);
		f0 = counts[4];
	}
	for (i = 0; i < n; i++) {
		long long t0 = bench_now_ns();

		if (round_trip(st.daemon, rfd) < 0)
			goto out;
		ns[i] = bench_now_ns() - t0;
	}
	if (counts != NULL)
		printf("%llu %llu %d %llu\n",
		    (unsigned long long)(allocs(counts) - a0),
		    (unsigned long long)(counts[4] - f0), n,
		    (unsigned long long)a0);
	else
		for (i = 0; i < n; i++)
			printf("%lld\n", ns[i]);
	rc = 0;
out:
	bench_reap_all(st.daemon);
	if (shim != NULL)
		unlink(counter);
	return rc;
}
