/*
 * startlat: time one start of a peer, from spawning its launcher until the
 * pidfile names a live daemon and the launcher has exited.
 *
 * usage: startlat [-x EXTRA] [-r SETTLE_MS] [-W] PIDFILE CMD [ARG...]
 *
 * It prints one line: the launcher's exit, the moment the pidfile named a
 * live process, ready (the later of the two), all in microseconds, then 1
 * when the pidfile named no live process yet at the moment the launcher's
 * exit was seen (the launcher races its daemon: a script that reads the
 * pidfile when the launcher returns finds nothing) or 0, then the daemon's
 * VmRSS in kB (-1 without -r).
 *
 *   -x EXTRA   leave EXTRA more descriptors open for the daemon to inherit
 *   -r MS      wait MS milliseconds after ready, then read VmRSS
 *   -W         do not wait for the launcher (it is a tracer that ends only
 *              when its tracees do): keep the daemon MS ms (-r), then kill
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

static void
usage(void)
{
	fprintf(stderr, "usage: startlat [-x EXTRA] [-r SETTLE_MS] [-W] "
	    "PIDFILE CMD [ARG...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_start st;
	struct timespec ts;
	int c, extra = 0, settle = -1, wait_launcher = 1, i, rc;
	long rss = -1;

	while ((c = getopt(argc, argv, "+x:r:W")) != -1) {
		switch (c) {
		case 'x': extra = atoi(optarg); break;
		case 'r': settle = atoi(optarg); break;
		case 'W': wait_launcher = 0; break;
		default: usage();
		}
	}
	if (argc - optind < 2)
		usage();
	bench_init();
	/* Descriptors a careless parent leaves behind, inheritable. */
	for (i = 0; i < extra; i++)
		if (open("/dev/null", O_RDONLY) < 0) {
			perror("/dev/null");
			return 1;
		}
	rc = bench_start(argv[optind], argv + optind + 1, NULL, -1,
	    wait_launcher, 20000, &st);
	if (rc == 0 && settle >= 0) {
		ts.tv_sec = settle / 1000;
		ts.tv_nsec = (long)(settle % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		rss = bench_rss_kb(st.daemon);
	}
	bench_reap_all(rc == 0 ? st.daemon : 0);
	if (rc < 0)
		return 1;
	printf("%.1f %.1f %.1f %d %ld\n", st.exit_ns / 1e3, st.pid_ns / 1e3,
	    (st.exit_ns > st.pid_ns ? st.exit_ns : st.pid_ns) / 1e3,
	    st.racing, rss);
	return 0;
}
