/*
 * shutlat: time one shutdown of a peer, from kill(SIGTERM) until the
 * daemon has been reaped.
 *
 * usage: shutlat [-c CONNS -a ADDR:PORT] [-e] [-s SETTLE_MS] PIDFILE CMD [ARG...]
 *
 * The peer is started as startlat does (until the pidfile names a live
 * daemon and the launcher has exited).  We are the subreaper of all we
 * start, so a daemon that forked twice is our child once its middle
 * process is gone, and waitpid() on it tells the very moment it ended.
 *
 *   -c CONNS     open CONNS TCP connections to ADDR:PORT (-a) before the
 *                signal, and wait until the daemon has accepted them all
 *                (its descriptor count grows by CONNS); they stay idle
 *   -e           let each connection echo one byte first, then idle
 *   -s MS        wait MS milliseconds (default 20) between ready and the
 *                signal, so that the daemon idles in its loop when it
 *                comes
 *
 * It prints one line: the time from kill() until waitpid() returned, in
 * microseconds; how the daemon ended ("exit" or "signal") and the status
 * or signal number; 1 when the pidfile is gone after, else 0; and how many
 * of the connections read an orderly end of stream (the daemon closed
 * them) rather than a reset, out of how many.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

/* Connections opened before we look whether the daemon keeps up. */
#define CONNECT_BATCH 64

static void
usage(void)
{
	fprintf(stderr, "usage: shutlat [-c CONNS -a ADDR:PORT] [-e] "
	    "[-s SETTLE_MS] PIDFILE CMD [ARG...]\n");
	exit(2);
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* The parent pid of a process, from /proc/PID/stat, or -1. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	long ppid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* How many descriptors a process holds. */
static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/*
 * Wait, without a busy loop, until the daemon holds at least want
 * descriptors: then every connection we made is accepted, not merely
 * queued in the kernel, and the shutdown has them all to drain.
 */
static int
wait_fds(pid_t pid, int want)
{
	long long give_up = bench_now_ns() + 5000000000LL;
	int n;

	while ((n = count_fds(pid)) >= 0 && n < want) {
		if (bench_now_ns() > give_up || bench_timed_out) {
			fprintf(stderr, "shutlat: the daemon holds %d "
			    "descriptors, not %d\n", n, want);
			return -1;
		}
		sleep_us(200);
	}
	return n < 0 ? -1 : 0;
}

/*
 * Make room for the connections: the soft RLIMIT_NOFILE is raised here,
 * before the spawn, because the daemon inherits it from its launcher and
 * needs as many descriptors as we do.
 */
static int
raise_nofile(int conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		fprintf(stderr, "shutlat: %d connections need RLIMIT_NOFILE "
		    "%lu, the hard limit is %lu\n", conns, (unsigned long)want,
		    (unsigned long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int
parse_addr(const char *spec, struct sockaddr_in *sin)
{
	char host[64], *colon;
	long port;

	snprintf(host, sizeof(host), "%s", spec);
	if ((colon = strrchr(host, ':')) == NULL)
		return -1;
	*colon = '\0';
	port = strtol(colon + 1, NULL, 10);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	return port > 0 && port < 65536 &&
	    inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* One byte out and the same byte back, on a blocking socket. */
static int
echo_once(int fd)
{
	char c = 'e';
	ssize_t n;

	if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
		return -1;
	while ((n = recv(fd, &c, 1, 0)) < 0 && errno == EINTR &&
	    !bench_timed_out)
		;
	return n == 1 ? 0 : -1;
}

/*
 * Open the connections in batches, each batch accepted before the next is
 * made, so that the daemon's listen backlog never overflows (a dropped
 * SYN is retried only a second later).
 */
static int
open_conns(pid_t daemon, const struct sockaddr_in *sin, int *fds, int conns,
    int echo)
{
	int base = count_fds(daemon), i;

	if (base < 0)
		return -1;
	for (i = 0; i < conns; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (const struct sockaddr *)sin,
		    sizeof(*sin)) < 0) {
			perror("shutlat: connect");
			return -1;
		}
		if (echo && echo_once(fds[i]) < 0) {
			fprintf(stderr, "shutlat: no echo on connection %d\n", i);
			return -1;
		}
		if ((i + 1) % CONNECT_BATCH == 0 || i + 1 == conns)
			if (wait_fds(daemon, base + i + 1) < 0)
				return -1;
	}
	return 0;
}

/* How many connections the daemon closed in order (we read end of stream). */
static int
count_eof(const int *fds, int conns)
{
	char buf[64];
	int i, n = 0;

	for (i = 0; i < conns; i++)
		if (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) == 0)
			n++;
	return n;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct bench_start st;
	const char *addr = NULL, *pidfile;
	long long t0, t1, give_up;
	int c, conns = 0, echo = 0, settle = 20, status = 0, *fds = NULL, i;
	int rc = 1, eof = 0, reaped = 0;
	pid_t w;

	while ((c = getopt(argc, argv, "+c:a:es:")) != -1) {
		switch (c) {
		case 'c': conns = atoi(optarg); break;
		case 'a': addr = optarg; break;
		case 'e': echo = 1; break;
		case 's': settle = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind < 2 || conns < 0 || settle < 0 ||
	    (conns > 0 && (addr == NULL || parse_addr(addr, &sin) < 0)))
		usage();
	pidfile = argv[optind];
	bench_init();
	if (conns > 0) {
		if (raise_nofile(conns) < 0)
			return 1;
		if ((fds = calloc((size_t)conns, sizeof(*fds))) == NULL)
			return 1;
		for (i = 0; i < conns; i++)
			fds[i] = -1;
	}
	if (bench_start(pidfile, argv + optind + 1, NULL, -1, 1, 20000,
	    &st) < 0) {
		bench_reap_all(0);
		return 1;
	}
	/*
	 * The pidfile can name the daemon before its middle process has
	 * exited; until then the daemon is not our child and cannot be
	 * waited for.
	 */
	give_up = bench_now_ns() + 2000000000LL;
	while (parent_of(st.daemon) != getpid()) {
		if (bench_now_ns() > give_up || bench_timed_out) {
			fprintf(stderr, "shutlat: daemon %ld never became our "
			    "child\n", (long)st.daemon);
			goto out;
		}
		sleep_us(100);
	}
	if (conns > 0 && open_conns(st.daemon, &sin, fds, conns, echo) < 0)
		goto out;
	sleep_us((long)settle * 1000);

	t0 = bench_now_ns();
	if (kill(st.daemon, SIGTERM) < 0) {
		perror("shutlat: kill");
		goto out;
	}
	while ((w = waitpid(st.daemon, &status, 0)) < 0 && errno == EINTR &&
	    !bench_timed_out)
		;
	t1 = bench_now_ns();
	if (w != st.daemon) {
		fprintf(stderr, "shutlat: daemon %ld did not end\n",
		    (long)st.daemon);
		goto out;
	}
	reaped = 1;
	eof = count_eof(fds, conns);
	printf("%.1f %s %d %d %d %d\n", (t1 - t0) / 1e3,
	    WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
	    access(pidfile, F_OK) < 0 && errno == ENOENT, eof, conns);
	rc = 0;
out:
	for (i = 0; i < conns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	bench_reap_all(reaped ? 0 : st.daemon);
	unlink(pidfile);
	return rc;
}
