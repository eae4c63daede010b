/*
 * d_daemon3: the minimal baseline.  glibc's daemon(3) and a plain pidfile,
 * as countless programs do it.  daemon(3) forks once, and its parent exits
 * at once, before the child has done anything: the launcher reports
 * success before the pidfile exists.  It closes no descriptor either (it
 * only points 0-2 at /dev/null).
 *
 * usage: d_daemon3 --pidfile PATH
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	FILE *f;

	if (argc != 3 || strcmp(argv[1], "--pidfile") != 0) {
		fprintf(stderr, "usage: d_daemon3 --pidfile PATH\n");
		return 2;
	}
	if (daemon(0, 0) < 0) {
		perror("daemon");
		return 1;
	}
	if ((f = fopen(argv[2], "we")) == NULL)
		_exit(1);
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		_exit(1);
	for (;;)
		pause();
}
