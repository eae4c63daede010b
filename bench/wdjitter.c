/*
 * wdjitter: the watchdog's ping jitter, with the daemon's loop idle or
 * busy echoing.
 *
 * usage: wdjitter [-u WATCHDOG_USEC] [-s SECONDS] [-c CONNS] [-m BYTES]
 *                 [-P CPU] [-n LABEL] PORT ECHOD [ARG...]
 *        wdjitter -r
 *
 * We play systemd: a datagram socket of our own is the daemon's
 * $NOTIFY_SOCKET, and $WATCHDOG_USEC asks it for pings (WATCHDOG=1) every
 * half of it.  ECHOD (libdctx's echo server, told to --listen on
 * 127.0.0.1:PORT by the caller) is started in the foreground; once it said
 * READY=1, we read its datagrams for SECONDS and note when each ping came,
 * by the kernel's receive time stamp (SO_TIMESTAMPNS), so that our own
 * scheduling does not count.
 *
 *   -c CONNS   while we listen, a client process keeps CONNS connections
 *              busy: each sends BYTES (-m, default 512), reads them back,
 *              and sends again, for the whole run (0: the loop idles)
 *   -P CPU     pin echod and the client to CPU, so that they compete for
 *              it (-1, the default: let the scheduler place them)
 *   -r         only print the resolution of CLOCK_MONOTONIC_COARSE, the
 *              clock libevent's timers read by default, in microseconds
 *
 * It prints one row of a Markdown table: LABEL, the pings counted and
 * the number due, the median interval, the p99 and the largest deviation
 * of an interval from the nominal one (half of WATCHDOG_USEC), the
 * client's round trips per second, and echod's CPU use over the run.
 * Everything is bounded in time; echod gets SIGTERM, then SIGKILL.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PINGS 100000
#define MAX_CONNS 1024

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(pid, sizeof(set), &set) < 0)
		die("sched_setaffinity");
}

/* One datagram within ms: its length (0 on timeout), its kernel time. */
static ssize_t
receive(int fd, char *buf, size_t len, int ms, long long *at_ns)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(struct timespec))];
	} cbuf;
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = &cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(fd, &mh, 0)) < 0)
		return n;
	buf[n] = '\0';
	*at_ns = -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			*at_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		}
	return n;
}

/*
 * The client: CONNS connections to 127.0.0.1:port, each echoing a
 * message of `bytes` over and over until `until_ns`; writes its count of
 * round trips on fd `out`.
 */
static void
client(int port, int conns, int bytes, long long until_ns, int out)
{
	static char msg[65536], back[65536];
	static int got[MAX_CONNS];
	struct epoll_event ev, evs[64];
	struct sockaddr_in sin;
	long long trips = 0;
	int ep, fd[MAX_CONNS], i, n;
	ssize_t r;

	memset(msg, 'e', sizeof(msg));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	for (i = 0; i < conns; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd[i] < 0 || connect(fd[i], (struct sockaddr *)&sin,
		    sizeof(sin)) < 0)
			die("client connect");
		fcntl(fd[i], F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.u32 = (unsigned)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev) < 0)
			die("epoll_ctl");
		if (write(fd[i], msg, (size_t)bytes) != bytes)
			die("client write");
	}
	while (now_ns() < until_ns) {
		n = epoll_wait(ep, evs, 64, 100);
		for (int k = 0; k < n; k++) {
			i = (int)evs[k].data.u32;
			r = read(fd[i], back, sizeof(back));
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				die("client read");
			}
			got[i] += (int)r;
			if (got[i] < bytes)
				continue;
			got[i] = 0;
			trips++;
			if (write(fd[i], msg, (size_t)bytes) != bytes)
				die("client write");
		}
	}
	if (write(out, &trips, sizeof(trips)) != sizeof(trips))
		die("client report");
	_exit(0);
}

/* utime + stime of pid, in clock ticks. */
static long long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long at[MAX_PINGS], gap[MAX_PINGS], dev[MAX_PINGS];

int
main(int argc, char **argv)
{
	long long usec = 40000, seconds = 10, t0, t_end, cpu0, cpu1, trips = 0;
	int conns = 0, bytes = 512, cpu = -1, c, fd, one = 1, port, rep[2];
	const char *label = "run";
	char dir[] = "/tmp/wdjitter.XXXXXX", path[100], buf[256], env[64];
	struct sockaddr_un sun;
	pid_t echod, cl = -1;
	size_t n = 0, i, ng;
	long long nominal, when = 0;
	int st;

	while ((c = getopt(argc, argv, "+u:s:c:m:P:n:r")) != -1) {
		switch (c) {
		case 'r': {
			struct timespec res;
			clock_getres(CLOCK_MONOTONIC_COARSE, &res);
			printf("%ld\n", res.tv_nsec / 1000 + res.tv_sec * 1000000);
			return 0;
		}
		case 'u': usec = atoll(optarg); break;
		case 's': seconds = atoll(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'm': bytes = atoi(optarg); break;
		case 'P': cpu = atoi(optarg); break;
		case 'n': label = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind < 2 || usec < 2000 || seconds < 1 ||
	    conns < 0 || conns > MAX_CONNS || bytes < 1 || bytes > 65536) {
usage:
		fprintf(stderr, "usage: wdjitter [-u WATCHDOG_USEC] [-s SECONDS] "
		    "[-c CONNS] [-m BYTES] [-P CPU] [-n LABEL] PORT ECHOD "
		    "[ARG...]\n");
		return 2;
	}
	port = atoi(argv[optind]);
	nominal = usec * 1000 / 2;

	/* Our systemd: a socket that time-stamps what it receives. */
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/notify", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
	    sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) < 0)
		die("notify socket");
	setenv("NOTIFY_SOCKET", path, 1);
	snprintf(env, sizeof(env), "%lld", usec);
	setenv("WATCHDOG_USEC", env, 1);

	if ((echod = fork()) < 0)
		die("fork");
	if (echod == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		execv(argv[optind + 1], argv + optind + 1);
		_exit(127);
	}
	pin(echod, cpu);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	/* READY=1 within 10 s; status lines may come first. */
	t_end = now_ns() + 10000000000LL;
	do {
		buf[0] = '\0';
		if (receive(fd, buf, sizeof(buf), 100, &when) < 0)
			die("recvmsg");
	} while (strncmp(buf, "READY=1", 7) != 0 && now_ns() < t_end);
	if (strncmp(buf, "READY=1", 7) != 0) {
		fprintf(stderr, "wdjitter: echod did not say READY=1\n");
		kill(echod, SIGKILL);
		waitpid(echod, NULL, 0);
		return 1;
	}

	t0 = now_ns();
	t_end = t0 + seconds * 1000000000LL;
	if (conns > 0) {
		if (pipe2(rep, O_CLOEXEC) < 0 || (cl = fork()) < 0)
			die("client");
		if (cl == 0) {
			pin(0, cpu);
			client(port, conns, bytes, t_end, rep[1]);
		}
		close(rep[1]);
	}
	cpu0 = cpu_ticks(echod);
	while (now_ns() < t_end) {
		ssize_t r = receive(fd, buf, sizeof(buf), 100, &when);
		if (r < 0)
			die("recvmsg");
		if (r > 0 && strcmp(buf, "WATCHDOG=1") == 0 && when > 0 &&
		    n < MAX_PINGS)
			at[n++] = when;
	}
	cpu1 = cpu_ticks(echod);
	if (cl > 0) {
		if (read(rep[0], &trips, sizeof(trips)) != sizeof(trips))
			trips = -1;
		waitpid(cl, NULL, 0);
	}
	kill(echod, SIGTERM);
	for (i = 0; i < 50 && waitpid(echod, &st, WNOHANG) == 0; i++)
		usleep(100000);
	if (i == 50) {
		kill(echod, SIGKILL);
		waitpid(echod, &st, 0);
	}
	unlink(path);
	rmdir(dir);

	if (n < 3) {
		fprintf(stderr, "wdjitter: %zu pings in %lld s\n", n, seconds);
		return 1;
	}
	ng = n - 1;
	for (i = 0; i < ng; i++) {
		gap[i] = at[i + 1] - at[i];
		dev[i] = gap[i] > nominal ? gap[i] - nominal : nominal - gap[i];
	}
	qsort(gap, ng, sizeof(gap[0]), cmp_ll);
	qsort(dev, ng, sizeof(dev[0]), cmp_ll);
	/* | label | pings (due) | median | p99 dev | max dev | trips/s | cpu | */
	printf("| %s | %zu (%lld) | %.3f | %.3f | %.3f | %s | %.0f %% |\n",
	    label, n, seconds * 1000000000LL / nominal,
	    gap[ng / 2] / 1e6, dev[(ng * 99) / 100] / 1e6, dev[ng - 1] / 1e6,
	    conns > 0 ? (snprintf(buf, sizeof(buf), "%.0f",
	    (double)trips / (double)seconds), buf) : "idle",
	    cpu0 >= 0 && cpu1 >= 0 ? 100.0 * (double)(cpu1 - cpu0) /
	    (double)sysconf(_SC_CLK_TCK) / (double)seconds : -1.0);
	return 0;
}
