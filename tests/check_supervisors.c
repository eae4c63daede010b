/*
 * echod under the real supervisors: s6 (s6-supervise with a
 * notification-fd, s6-svwait, s6-svc, s6-svstat) and Debian's
 * start-stop-daemon --notify-await.  Readiness is proved with
 * --ready-delay: echod serves at once but says it is ready only later,
 * so a supervisor that took the start for readiness would return before
 * echod's "ready" line is in its log.  The failure of a start under
 * start-stop-daemon is check_readiness's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

static char out[4096];
static char listen_on[32];
static in_port_t port;

/* The full path of a tool, or NULL when it is not installed. */
static const char *
tool(const char *name)
{
	static const char *dirs[] = { "/usr/bin", "/bin", "/usr/sbin",
	    "/sbin" };
	static char path[8][128];
	static int next;
	char *p = path[next++ % 8];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(path[0]), "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
	}
	return NULL;
}

/* A port of this file's range, 7470-7499, free now. */
static void
pick_port(void)
{
	static unsigned turn;
	struct sockaddr_in sin;
	int s, i, ok;

	for (i = 0; i < 60; i++) {
		port = (in_port_t)(7470 + (getpid() + turn++) % 30);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok) {
			snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u",
			    (unsigned)port);
			return;
		}
	}
	ck_abort_msg("no free port in 7470-7499");
}

/* Whether echod on our port echoes a line back now. */
static int
echoes(void)
{
	struct sockaddr_in sin;
	struct pollfd p;
	char buf[8];
	size_t got = 0;
	ssize_t n;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    write(s, "ping\n", 5) != 5) {
		close(s);
		return 0;
	}
	p.fd = s;
	p.events = POLLIN;
	while (got < 5 && poll(&p, 1, 3000) == 1 &&
	    (n = read(s, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(s);
	return got == 5 && memcmp(buf, "ping\n", 5) == 0;
}

/* --- s6 --- */

static pid_t supervise;

/*
 * The pid s6-svstat gives the service, -1 when it is down or s6-svstat
 * cannot tell yet (111: just after s6-svok answers, the status file may
 * not be written).
 */
static pid_t
s6_pid(void)
{
	if (tu_run(out, sizeof(out), tool("s6-svstat"), "-o", "pid",
	    tu_path("sv"), NULL) != 0)
		return -1;
	return (pid_t)atol(out);
}

/*
 * A service directory for echod: `run` execs it with s6's notification
 * fd 3, and `notification-fd` says 3, so that s6-supervise reads
 * readiness from it.  Then s6-supervise on it, once it answers s6-svok.
 */
static void
s6_start(const char *ready_delay)
{
	char text[1024];
	int fd, i, logfd;
	pid_t pid = -1;

	pick_port();
	ck_assert_int_eq(mkdir(tu_path("sv"), 0755), 0);
	snprintf(text, sizeof(text), "#!/bin/sh\nexec %s --notification-fd 3 "
	    "--ready-delay %s --listen %s --pidfile %s --stdout %s --stderr "
	    "%s\n", ECHOD_PATH, ready_delay, listen_on, tu_path("echod.pid"),
	    tu_path("out"), tu_path("out"));
	fd = open(tu_path("sv/run"), O_WRONLY | O_CREAT | O_EXCL, 0755);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	fd = open(tu_path("sv/notification-fd"), O_WRONLY | O_CREAT | O_EXCL,
	    0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "3\n", 2), 2);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
	logfd = open(tu_path("supervise.log"), O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0644);
	ck_assert_int_ge(logfd, 0);
	supervise = fork();
	ck_assert_int_ge(supervise, 0);
	if (supervise == 0) {
		dup2(open("/dev/null", O_RDONLY), 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		/*
		 * Nothing of ours above 2, Check's own files included: echod
		 * writes its newline to whatever fd 3 is.
		 */
#ifdef HAVE_CLOSEFROM
		closefrom(3);
#else
		for (fd = 3; fd < 1024; fd++)
			close(fd);
#endif
		execl(tool("s6-supervise"), "s6-supervise", tu_path("sv"),
		    (char *)NULL);
		_exit(127);
	}
	close(logfd);
	/* It must not outlive the test, even one that fails. */
	tu_track(supervise);
	for (i = 0; i < 500; i++) {
		if (tu_run(NULL, 0, tool("s6-svok"), tu_path("sv"), NULL) == 0)
			break;
		usleep(10 * 1000);
	}
	ck_assert_msg(i < 500, "s6-supervise never answered s6-svok: %s",
	    tu_slurp(tu_path("supervise.log")));
	/* echod outlives a killed s6-supervise: it is ours to kill too. */
	for (i = 0; i < 500 && (pid = s6_pid()) <= 0; i++)
		usleep(10 * 1000);
	ck_assert_msg(pid > 0, "s6-supervise started no echod: %s",
	    tu_slurp(tu_path("supervise.log")));
	tu_track(pid);
}

/* s6-svwait FLAG (-U up and ready, -D down) within 20 s: its status. */
static int
s6_wait(const char *flag)
{
	return tu_run(out, sizeof(out), tool("s6-svwait"), flag, "-t",
	    "20000", tu_path("sv"), NULL);
}

/* Down, and s6-supervise told to exit: what a clean end looks like. */
static void
s6_end(void)
{
	tu_run(out, sizeof(out), tool("s6-svc"), "-dx", tu_path("sv"), NULL);
	ck_assert_msg(tu_wait_gone(supervise, 10000) >= 0,
	    "s6-supervise did not exit");
}

START_TEST(s6_svwait_returns_only_once_echod_is_ready)
{
	long long t0, ms;
	pid_t pid;

	s6_start("1500");
	t0 = tu_now_ms();
	ck_assert_msg(s6_wait("-U") == 0, "s6-svwait: %s", out);
	ms = tu_now_ms() - t0;
	/*
	 * Already in the log when s6-svwait returns: echod wrote the line
	 * just before the newline on fd 3.  Without readiness, s6 would
	 * have counted "up" as ready some 1.5 s earlier.
	 */
	ck_assert_msg(strstr(tu_slurp(tu_path("out")),
	    "echod: ready after 1500 ms") != NULL, "after %lld ms, log: %s",
	    ms, tu_slurp(tu_path("out")));
	ck_assert_msg(ms >= 1000, "s6-svwait -U returned after %lld ms", ms);
	ck_assert(echoes());
	pid = s6_pid();
	tu_track(pid);
	/* echod stayed in front: the process s6 started is the daemon. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), pid);
	ck_assert_int_eq(tu_run(out, sizeof(out), tool("s6-svstat"), "-o",
	    "ready", tu_path("sv"), NULL), 0);
	ck_assert_str_eq(out, "true\n");
	s6_end();
}
END_TEST

START_TEST(s6_restarts_echod_after_a_crash)
{
	pid_t first, again = -1;
	int i;

	s6_start("0");
	ck_assert_msg(s6_wait("-U") == 0, "s6-svwait: %s", out);
	first = s6_pid();
	tu_track(first);
	ck_assert(echoes());
	ck_assert_int_eq(kill(first, SIGKILL), 0);
	for (i = 0; i < 1000; i++) {
		again = s6_pid();
		if (again > 0 && again != first)
			break;
		usleep(10 * 1000);
	}
	ck_assert_msg(again > 0 && again != first, "no new pid: %ld",
	    (long)again);
	tu_track(again);
	ck_assert_msg(s6_wait("-U") == 0, "s6-svwait: %s", out);
	/* The new echod took the killed one's stale pidfile over. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), again);
	ck_assert(echoes());
	s6_end();
}
END_TEST

START_TEST(s6_svc_down_stops_echod_cleanly)
{
	pid_t pid;

	s6_start("0");
	ck_assert_msg(s6_wait("-U") == 0, "s6-svwait: %s", out);
	pid = s6_pid();
	tu_track(pid);
	ck_assert_int_eq(tu_run(out, sizeof(out), tool("s6-svc"), "-d",
	    tu_path("sv"), NULL), 0);
	ck_assert_msg(s6_wait("-D") == 0, "s6-svwait: %s", out);
	ck_assert_int_eq(tu_run(out, sizeof(out), tool("s6-svstat"), "-o",
	    "up,exitcode", tu_path("sv"), NULL), 0);
	ck_assert_str_eq(out, "false 0\n");
	ck_assert(strstr(tu_slurp(tu_path("out")), "echod: stopped, status 0")
	    != NULL);
	ck_assert(!tu_alive(pid));
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
	s6_end();
}
END_TEST

/* --- start-stop-daemon --- */

START_TEST(start_stop_daemon_notify_await_returns_once_echod_answers)
{
	long long t0, ms;
	pid_t pid;
	int status, tries;

	/*
	 * start-stop-daemon makes its own NOTIFY_SOCKET for the daemon and
	 * exits 0 on READY=1.  echod stays in front under it (automatic
	 * detach) and says READY=1 a second after it serves.
	 */
	unsetenv("NOTIFY_SOCKET");
	for (tries = 0; tries < 10; tries++) {
		pick_port();
		t0 = tu_now_ms();
		status = tu_run(out, sizeof(out), tool("start-stop-daemon"),
		    "--start", "--background", "--notify-await",
		    "--notify-timeout", "20", "--exec", ECHOD_PATH, "--",
		    "--pidfile", tu_path("echod.pid"), "--listen", listen_on,
		    "--ready-delay", "1000", "--stdout", tu_path("out"),
		    "--stderr", tu_path("out"), NULL);
		ms = tu_now_ms() - t0;
		if (status == 0 || strstr(tu_slurp(tu_path("out")), "in use") ==
		    NULL)
			break;
	}
	ck_assert_msg(status == 0, "start-stop-daemon: %d %s", status, out);
	ck_assert_msg(strstr(tu_slurp(tu_path("out")),
	    "echod: ready after 1000 ms") != NULL, "after %lld ms, log: %s",
	    ms, tu_slurp(tu_path("out")));
	ck_assert_msg(ms >= 800, "returned after %lld ms", ms);
	ck_assert(echoes());
	pid = tu_read_pidfile(tu_path("echod.pid"));
	tu_track(pid);
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(tu_run(out, sizeof(out), ECHOD_PATH, "--stop",
	    "--pidfile", tu_path("echod.pid"), NULL), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
}
END_TEST

static Suite *
supervisors_suite(void)
{
	Suite *s = suite_create("supervisors");
	TCase *tc = tu_tcase("supervisors");
	const char *need[] = { "s6-supervise", "s6-svok", "s6-svwait",
	    "s6-svc", "s6-svstat" };
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (tool(need[i]) == NULL)
			break;
	if (i < sizeof(need) / sizeof(need[0])) {
		printf("supervisors (s6): skipped, %s is not installed "
		    "(package s6)\n", need[i]);
	} else {
		tcase_add_test(tc, s6_svwait_returns_only_once_echod_is_ready);
		tcase_add_test(tc, s6_restarts_echod_after_a_crash);
		tcase_add_test(tc, s6_svc_down_stops_echod_cleanly);
	}
	if (tool("start-stop-daemon") == NULL)
		printf("supervisors (start-stop-daemon): skipped, it is not "
		    "installed (package dpkg)\n");
	else
		tcase_add_test(tc,
		    start_stop_daemon_notify_await_returns_once_echod_answers);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(supervisors_suite)
