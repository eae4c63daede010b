/* examples/echod: echoes, drains on SIGTERM, and is gone within its deadline. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

static char listen_on[64];
static in_port_t port;

/*
 * Every test here chooses its port in 23400-23499, which no other test
 * uses, below the ephemeral range (where a client may connect to itself):
 * a port from that range that is free now.  echod may still find it taken
 * by the time it binds; the callers retry then.
 */
static void
pick_port(void)
{
	static unsigned turn;
	struct sockaddr_in sin;
	int s, i, ok;

	for (i = 0; i < 100; i++) {
		port = (in_port_t)(23400 + (getpid() + turn++) % 100);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok) {
			snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u",
			    (unsigned)port);
			return;
		}
	}
	ck_abort_msg("no free port in 23400-23499");
}

/* echod started on a free port of our range, with a worker thread. */
static pid_t
start_echod(const char *timeout)
{
	struct launch l;
	int tries;
	pid_t pid;

	tu_program = ECHOD_PATH;
	for (tries = 0; tries < 10; tries++) {
		pick_port();
		tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--listen",
		    listen_on, "--worker", "--stdout", tu_path("out"),
		    "--stderr", tu_path("err"), "--shutdown-timeout", timeout,
		    NULL);
		if (l.status == 0 || strstr(l.err, "in use") == NULL)
			break;
	}
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("echod.pid"));
	ck_assert(tu_alive(pid));
	return pid;
}

static int
dial(void)
{
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return s;
}

/* Read until len bytes or end of file, with a deadline; returns the count. */
static size_t
read_back(int s, char *buf, size_t len, int ms)
{
	struct pollfd p = { s, POLLIN, 0 };
	size_t got = 0;
	ssize_t n;

	while (got < len && poll(&p, 1, ms) == 1) {
		n = read(s, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

START_TEST(echoes_what_a_client_sends)
{
	char buf[16];
	int s;

	start_echod("3000");
	s = dial();
	ck_assert_int_eq(write(s, "hello\n", 6), 6);
	ck_assert_uint_eq(read_back(s, buf, 6, 3000), 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	close(s);
}
END_TEST

START_TEST(in_flight_data_survives_a_graceful_stop)
{
	enum { LEN = 512 * 1024 };
	char *out = malloc(LEN), *in = malloc(LEN);
	size_t sent = 0, got = 0, i;
	struct pollfd p;
	pid_t pid;
	int s;

	for (i = 0; i < LEN; i++)
		out[i] = (char)('a' + i % 26);
	pid = start_echod("5000");
	s = dial();
	fcntl(s, F_SETFL, O_NONBLOCK);
	/* Send it all, reading what comes back so that nobody stalls. */
	while (sent < LEN) {
		ssize_t n = write(s, out + sent, LEN - sent);
		if (n > 0)
			sent += (size_t)n;
		n = read(s, in + got, LEN - got);
		if (n > 0)
			got += (size_t)n;
		p.fd = s;
		p.events = POLLIN | POLLOUT;
		poll(&p, 1, 100);
	}
	/* Everything is sent, much of it not echoed yet: stop now. */
	kill(pid, SIGTERM);
	fcntl(s, F_SETFL, 0);
	got += read_back(s, in + got, LEN - got, 3000);
	ck_assert_uint_eq(got, LEN);
	ck_assert(memcmp(in, out, LEN) == 0);
	/* Then the server closes the connection, and exits cleanly. */
	ck_assert_uint_eq(read_back(s, in, 1, 3000), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_CLEAN);
	/* echod logs with dctx_log(): its --stderr file is its log. */
	ck_assert(strstr(tu_slurp(tu_path("err")), "echod: stopped, status 0")
	    != NULL);
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
	close(s);
	free(out);
	free(in);
}
END_TEST

START_TEST(idle_connections_are_closed_at_once)
{
	int s[10], i;
	char c;
	pid_t pid = start_echod("30000");

	for (i = 0; i < 10; i++)
		s[i] = dial();
	usleep(100 * 1000);
	kill(pid, SIGTERM);
	for (i = 0; i < 10; i++) {
		ck_assert_uint_eq(read_back(s[i], &c, 1, 2000), 0);
		close(s[i]);
	}
	ck_assert_int_eq(tu_wait_gone(pid, 2000), DCTX_EXIT_CLEAN);
}
END_TEST

START_TEST(a_client_that_never_reads_meets_the_deadline)
{
	enum { CHUNK = 64 * 1024 };
	static char junk[CHUNK];
	pid_t pid = start_echod("500");
	int s = dial(), rounds;

	/* Fill both directions until nothing moves. */
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (rounds = 0; rounds < 1000; rounds++)
		if (write(s, junk, CHUNK) < 0 && errno == EAGAIN) {
			usleep(20 * 1000);
			if (write(s, junk, CHUNK) < 0 && errno == EAGAIN)
				break;
		}
	kill(pid, SIGTERM);
	/* The 500 ms deadline, and not much more. */
	ck_assert_int_eq(tu_wait_gone(pid, 2500), DCTX_EXIT_TIMEOUT);
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
	close(s);
}
END_TEST

/*
 * echod in the background on a port of our range, with its stdout in
 * tu_path("out") and its stderr, its log, in tu_path("err") when logs is
 * set (opening them takes descriptors, which fill the holes a closed
 * stdio leaves: the tests of those run without); the daemon's pid (0 when
 * it did not start).  A port taken meanwhile is tried again with another.
 */
static pid_t
launch_own(struct launch *l, int logs)
{
	int tries;

	tu_program = ECHOD_PATH;
	for (tries = 0; tries < 10; tries++) {
		pick_port();
		if (logs)
			tu_launch(l, "--pidfile", tu_path("echod.pid"),
			    "--listen", listen_on, "--stdout", tu_path("out"),
			    "--stderr", tu_path("err"), NULL);
		else
			tu_launch(l, "--pidfile", tu_path("echod.pid"),
			    "--listen", listen_on, NULL);
		if (l->status == 0 || (strstr(l->err, "in use") == NULL &&
		    (tu_close_stdio & (1 << 2)) == 0))
			break;
	}
	return l->status == 0 ? tu_read_pidfile(tu_path("echod.pid")) : 0;
}

/* One client, one line, its echo. */
static void
echo_once(void)
{
	char buf[16];
	int s = dial();

	ck_assert_int_eq(write(s, "hello\n", 6), 6);
	ck_assert_uint_eq(read_back(s, buf, 6, 3000), 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	close(s);
}

START_TEST(a_closed_stdin_does_not_take_the_socket)
{
	struct launch l;
	pid_t pid;

	/* echod <&- : the socket must not become fd 0. */
	tu_stdin_fd = -2;
	pid = launch_own(&l, 0);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert(tu_alive(pid));
	echo_once();
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
}
END_TEST

START_TEST(closed_stdin_stdout_and_stderr_start_and_serve)
{
	struct launch l;
	pid_t pid;

	/* echod <&- >&- 2>&- : nothing to say errors on, so it must work. */
	tu_stdin_fd = -2;
	tu_close_stdio = (1 << 1) | (1 << 2);
	pid = launch_own(&l, 0);
	ck_assert_msg(l.status == 0, "launcher: %d", l.status);
	ck_assert(tu_alive(pid));
	echo_once();
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_second_start_says_already_running)
{
	struct launch l;
	char want[64];
	pid_t pid;

	pid = launch_own(&l, 1);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	/* The same command line again. */
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--listen", listen_on,
	    "--stdout", tu_path("out"), "--stderr", tu_path("err"), NULL);
	ck_assert_int_eq(l.status, 1);
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)pid);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_msg(strstr(l.err, "in use") == NULL, "stderr: %s", l.err);
	/* The first one is untouched: its pidfile, its port. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), pid);
	echo_once();
	tu_stop_cleanly(pid);
}
END_TEST

/* utime + stime of a process, in clock ticks (/proc/PID/stat, 14 and 15). */
static long
cpu_ticks(pid_t pid)
{
	char path[64], *p;
	const char *stat;
	unsigned long ut = 0, st = 0;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	stat = tu_slurp(path);
	if ((p = strrchr(stat, ')')) == NULL)
		return -1;
	for (field = 2; field < 13 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* How many times needle occurs in haystack. */
static int
count(const char *haystack, const char *needle)
{
	int n = 0;

	while ((haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return n;
}

START_TEST(running_out_of_descriptors_pauses_accepting)
{
	enum { NCLIENTS = 24 };
	long hz = sysconf(_SC_CLK_TCK), before, after;
	int s[NCLIENTS], i;
	struct launch l;
	pid_t pid;

	/*
	 * echod keeps 9 descriptors for itself: at 16, seven clients get
	 * in, and the others wait in the backlog while accept() fails
	 * with EMFILE.
	 */
	tu_nofile = 16;
	pid = launch_own(&l, 1);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	for (i = 0; i < NCLIENTS; i++)
		s[i] = dial();
	ck_assert(tu_wait_file_contains(tu_path("err"), "Too many open files",
	    3000));
	/* About one second in that state: a spinning loop burns all of it. */
	before = cpu_ticks(pid);
	usleep(1000 * 1000);
	after = cpu_ticks(pid);
	printf("echod out of descriptors: %ld ticks of CPU in 1 s (%ld/s)\n",
	    after - before, hz);
	ck_assert(tu_alive(pid));
	ck_assert_msg((after - before) * 10 < hz, "%ld ticks in 1 s, at %ld/s",
	    after - before, hz);
	/* Said once, not once per attempt. */
	ck_assert_int_eq(count(tu_slurp(tu_path("err")), "pausing new "
	    "connections"), 1);
	/* Everybody leaves; a new client is served again. */
	for (i = 0; i < NCLIENTS; i++)
		close(s[i]);
	echo_once();
	ck_assert(tu_wait_file_contains(tu_path("err"), "accepting again",
	    3000));
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * --stderr -: echod keeps the stderr it was started with, so its log
 * reaches the terminal of a foreground echod, a unit's journal or a
 * container's log (as pid 1, stdio is /dev/null otherwise).  Before, "-"
 * was a file named "-" in the working directory.
 */
START_TEST(stderr_dash_keeps_the_log_on_echods_own_stderr)
{
	char want[128];
	int tries;
	pid_t pid = 0;

	tu_program = ECHOD_PATH;
	for (tries = 0; tries < 10; tries++) {
		pick_port();
		pid = tu_start_fg("--foreground", "--listen", listen_on,
		    "--stderr", "-", NULL);
		if (tu_wait_file_contains(tu_path("fg.stderr"),
		    "echod: listening on", 3000) ||
		    strstr(tu_slurp(tu_path("fg.stderr")), "in use") == NULL)
			break;
		tu_wait_gone(pid, 3000);
	}
	snprintf(want, sizeof(want), "echod: listening on %s as pid %ld\n",
	    listen_on, (long)pid);
	ck_assert_msg(strcmp(tu_slurp(tu_path("fg.stderr")), want) == 0,
	    "stderr: '%s'", tu_slurp(tu_path("fg.stderr")));
	echo_once();
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	ck_assert_msg(tu_wait_file_contains(tu_path("fg.stderr"),
	    "echod: stopped, status 0\n", 3000), "stderr: '%s'",
	    tu_slurp(tu_path("fg.stderr")));
	ck_assert_int_ne(access("-", F_OK), 0);
}
END_TEST

static Suite *
echod_suite(void)
{
	Suite *s = suite_create("echod");
	TCase *tc = tu_tcase("echod");

	tcase_add_test(tc, echoes_what_a_client_sends);
	tcase_add_test(tc, in_flight_data_survives_a_graceful_stop);
	tcase_add_test(tc, idle_connections_are_closed_at_once);
	tcase_add_test(tc, a_client_that_never_reads_meets_the_deadline);
	tcase_add_test(tc, a_closed_stdin_does_not_take_the_socket);
	tcase_add_test(tc, closed_stdin_stdout_and_stderr_start_and_serve);
	tcase_add_test(tc, a_second_start_says_already_running);
	tcase_add_test(tc, running_out_of_descriptors_pauses_accepting);
	tcase_add_test(tc, stderr_dash_keeps_the_log_on_echods_own_stderr);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(echod_suite)
