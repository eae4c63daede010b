/*
 * systemd's notify protocol beyond readiness: the watchdog's pings
 * (WATCHDOG=1), the status line (STATUS=) and more time (
 * EXTEND_TIMEOUT_USEC=).  First against a datagram socket of our own, as
 * systemd's, where the exact datagrams and their sender can be read; then
 * under the real systemd (tests/sdbox), judged by what systemctl shows.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"


static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A datagram socket like systemd's, at a path in the test's directory,
 * named by $NOTIFY_SOCKET for the helpers started next.  The sender's
 * credentials come with each datagram (SO_PASSCRED), as systemd gets
 * them, to tell the daemon's pings from anybody else's.
 */
static int
notify_socket(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tu_path("notify"));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	return fd;
}

/* One datagram within ms, or ""; *from gets its sender's pid (or 0). */
static const char *
receive(int fd, int ms, pid_t *from)
{
	static char buf[2048];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(struct ucred))];
	} cbuf;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	buf[0] = '\0';
	if (from != NULL)
		*from = 0;
	if (poll(&p, 1, ms) != 1)
		return buf;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = &cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(fd, &mh, 0)) <= 0)
		return buf;
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS && from != NULL) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*from = uc.pid;
		}
	return buf;
}

/* The next datagram must be READY=1 from pid (the daemon). */
static void
expect_ready(int fd, pid_t pid)
{
	char want[64];
	pid_t from;

	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
	ck_assert_str_eq(receive(fd, 5000, &from), want);
	ck_assert_int_eq(from, pid);
}

/*
 * Read datagrams for ms: each must be "WATCHDOG=1" from pid.  The number
 * of pings, and the median interval between them in *median (0 for fewer
 * than two).
 */
static int
collect_pings(int fd, pid_t pid, int ms, long long *median)
{
	long long end = now_ms() + ms, at[256], gap[256], t;
	const char *got;
	pid_t from;
	int n = 0, i, j;

	while ((t = end - now_ms()) > 0) {
		got = receive(fd, (int)t, &from);
		if (got[0] == '\0')
			break;
		ck_assert_msg(strcmp(got, "WATCHDOG=1") == 0,
		    "datagram '%s' among the pings", got);
		ck_assert_int_eq(from, pid);
		if (n < 256)
			at[n++] = now_ms();
	}
	*median = 0;
	for (i = 1; i < n; i++) {
		/* Insertion sort of the gaps: a handful of them. */
		t = at[i] - at[i - 1];
		for (j = i - 1; j > 0 && gap[j - 1] > t; j--)
			gap[j] = gap[j - 1];
		gap[j] = t;
	}
	if (n >= 2)
		*median = gap[(n - 1) / 2];
	return n;
}

START_TEST(pings_every_half_interval_until_the_chain_ends)
{
	const char *got;
	long long median;
	pid_t pid;
	int fd = notify_socket(), n;

	/* WatchdogSec=0.2: a ping every 100 ms. */
	setenv("WATCHDOG_USEC", "200000", 1);
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--step", "drain:async:700", NULL);
	expect_ready(fd, pid);
	ck_assert(tu_wait_file_contains(tu_path("out"), "watchdog 200000 "
	    "WATCHDOG_USEC=unset WATCHDOG_PID=unset", 3000));
	n = collect_pings(fd, pid, 2000, &median);
	/* 20 are due; a loaded machine delays some, and loses none. */
	ck_assert_msg(n >= 12 && n <= 22, "%d pings in 2 s", n);
	ck_assert_msg(median >= 70 && median <= 150, "median interval %lld "
	    "ms, nominal 100", median);
	/* The loop turns while the chain drains: the pings go on.  (A ping
	 * sent before the signal was handled may come first.) */
	kill(pid, SIGTERM);
	while (strcmp((got = receive(fd, 3000, NULL)), "WATCHDOG=1") == 0)
		;
	ck_assert_str_eq(got, "STOPPING=1");
	n = collect_pings(fd, pid, 400, &median);
	ck_assert_msg(n >= 2, "%d pings while the chain ran", n);
	/* Then the chain's end ends the loop: the timer does not hold it. */
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 0);
	ck_assert(tu_wait_file_contains(tu_path("out"), "step drain done\n"
	    "stopped 0\nafter the loop watchdog 0\n", 1000));
	close(fd);
	unsetenv("WATCHDOG_USEC");
}
END_TEST

/*
 * Whose watchdog it is: $WATCHDOG_PID names the process systemd started;
 * ours, or unset, means pings; another's, or a value that does not parse,
 * none.  The variables are gone from the daemon's environment either way.
 */
START_TEST(watchdog_pid_decides_whose_pings)
{
	long long median;
	const char *saved = tu_program;
	pid_t pid;
	int fd = notify_socket(), n, want;

	setenv("WATCHDOG_USEC", "200000", 1);
	switch (_i) {
	case 0: /* another process's watchdog */
		setenv("WATCHDOG_PID", "1", 1);
		want = 0;
		break;
	case 1: /* ours: the shell's pid, which exec keeps */
		tu_program = "/bin/sh";
		want = 1;
		break;
	case 2: /* not a pid */
		setenv("WATCHDOG_PID", "12abc", 1);
		want = 0;
		break;
	default: /* not a number of microseconds */
		setenv("WATCHDOG_USEC", "2s", 1);
		want = 0;
		break;
	}
	if (_i == 1)
		pid = tu_start_fg("-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
		    HELPER_PATH, "--stdout", tu_path("out"), NULL);
	else
		pid = tu_start_fg("--stdout", tu_path("out"), NULL);
	tu_program = saved;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	expect_ready(fd, pid);
	ck_assert(tu_wait_file_contains(tu_path("out"), want ?
	    "watchdog 200000 WATCHDOG_USEC=unset WATCHDOG_PID=unset" :
	    "watchdog 0 WATCHDOG_USEC=unset WATCHDOG_PID=unset", 3000));
	n = collect_pings(fd, pid, 1000, &median);
	if (want)
		ck_assert_msg(n >= 5, "%d pings in 1 s", n);
	else
		ck_assert_msg(n == 0, "%d pings for another's watchdog", n);
	tu_stop_cleanly(pid);
	close(fd);
}
END_TEST

/*
 * A daemon that detaches reads the variables before its fork: systemd
 * named the process it started, and the daemon pings under its own pid.
 */
START_TEST(a_detached_daemon_pings_under_its_own_pid)
{
	const char *saved = tu_program;
	long long median;
	pid_t launcher, pid;
	int fd = notify_socket(), n;

	setenv("WATCHDOG_USEC", "200000", 1);
	tu_program = "/bin/sh";
	launcher = tu_start_fg("-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
	    HELPER_PATH, "--detach", "--pidfile", tu_path("d.pid"), NULL);
	tu_program = saved;
	unsetenv("WATCHDOG_USEC");
	ck_assert_int_eq(tu_wait_gone(launcher, 5000), 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	tu_track(pid);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_ne(pid, launcher);
	expect_ready(fd, pid);
	n = collect_pings(fd, pid, 1000, &median);
	ck_assert_msg(n >= 5, "%d pings in 1 s", n);
	tu_stop_cleanly(pid);
	close(fd);
}
END_TEST

START_TEST(status_lines_are_one_line_and_cut_at_a_character)
{
	char x1022[1100], x1021[1100], want[1200];
	pid_t pid, from;
	int fd = notify_socket();

	memset(x1022, 'x', 1022 + 5);
	memcpy(x1022, "open:", 5);
	strcpy(x1022 + 5 + 1022, "\xc3\xa9"); /* é: 1024 bytes of text */
	memset(x1021, 'x', 1021 + 5);
	memcpy(x1021, "open:", 5);
	strcpy(x1021 + 5 + 1021, "\xc3\xa9"); /* 1023 bytes: it fits */
	pid = tu_start_fg("--stdout", tu_path("out"), "--status", "early:e",
	    "--prepare", "--status", "prepared:loading\nthe data",
	    "--status", x1022, "--status", x1021, NULL);
	/* Before dctx_prepare() the socket is not connected: said so. */
	ck_assert(tu_wait_file_contains(tu_path("fg.stderr"), "status early "
	    "-107 status: NOTIFY_SOCKET is not connected", 3000));
	/* After it, the process that prepared speaks; one line. */
	ck_assert_str_eq(receive(fd, 3000, &from), "STATUS=loading the data");
	ck_assert_int_eq(from, pid);
	expect_ready(fd, pid);
	/* Cut before the character that would not fit whole. */
	snprintf(want, sizeof(want), "STATUS=%.1022s", x1022 + 5);
	ck_assert_str_eq(receive(fd, 3000, NULL), want);
	snprintf(want, sizeof(want), "STATUS=%s", x1021 + 5);
	ck_assert_str_eq(receive(fd, 3000, NULL), want);
	ck_assert_uint_eq(strlen(want), 7 + 1023);
	ck_assert(tu_wait_file_contains(tu_path("out"), "status open 0", 3000));
	tu_stop_cleanly(pid);
	close(fd);
}
END_TEST

/* Without a service manager there is nobody to tell: 0, at every stage. */
START_TEST(without_a_manager_status_and_extend_do_nothing)
{
	pid_t pid;

	unsetenv("NOTIFY_SOCKET");
	pid = tu_start_fg("--foreground", "--stdout", tu_path("out"),
	    "--status", "early:e", "--prepare", "--status", "prepared:p",
	    "--status", "open:o", "--slow-start", "300", NULL);
	ck_assert(tu_wait_file_contains(tu_path("out"), "slow start ready 0",
	    3000));
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")), "status early 0 \n"
	    "status prepared 0 \n");
	ck_assert(strstr(tu_slurp(tu_path("out")), "status open 0 \n") !=
	    NULL);
	ck_assert(strstr(tu_slurp(tu_path("out")), "extend 0 status 0\n") !=
	    NULL);
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(a_slow_start_asks_for_more_time_until_ready)
{
	const char *got;
	pid_t pid, from;
	int fd = notify_socket(), extends = 0;

	pid = tu_start_fg("--stdout", tu_path("out"), "--slow-start", "1200",
	    NULL);
	/* 1.5 s from now, asked again every 500 ms, until READY=1. */
	while ((got = receive(fd, 3000, &from))[0] != '\0' &&
	    strncmp(got, "READY=1", 7) != 0) {
		ck_assert_int_eq(from, pid);
		if (strncmp(got, "STATUS=", 7) == 0) {
			ck_assert_msg(strncmp(got, "STATUS=starting, ", 17) == 0,
			    "'%s'", got);
			continue;
		}
		ck_assert_str_eq(got, "EXTEND_TIMEOUT_USEC=1500000");
		extends++;
	}
	ck_assert_msg(strncmp(got, "READY=1", 7) == 0, "no READY=1");
	ck_assert_msg(extends >= 2 && extends <= 4, "%d extensions", extends);
	tu_stop_cleanly(pid);
	close(fd);
}
END_TEST

/* echod tells its state: listening with a count, then draining. */
START_TEST(echod_says_what_it_does)
{
	struct sockaddr_in sin;
	const char *saved = tu_program;
	pid_t pid, from;
	int fd = notify_socket(), c;

	tu_program = ECHOD_PATH;
	pid = tu_start_fg("--listen", "127.0.0.1:7310", "--pidfile",
	    tu_path("d.pid"), NULL);
	tu_program = saved;
	/* echod gives systemd's fd store its socket first (dctx_fdstore()). */
	ck_assert_str_eq(receive(fd, 5000, &from), "FDSTORE=1\nFDNAME=echod");
	ck_assert_str_eq(receive(fd, 5000, &from),
	    "STATUS=listening on 127.0.0.1:7310, 0 connections");
	ck_assert_int_eq(from, pid);
	expect_ready(fd, pid);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(7310);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_str_eq(receive(fd, 3000, NULL),
	    "STATUS=listening on 127.0.0.1:7310, 1 connection");
	kill(pid, SIGTERM);
	ck_assert_str_eq(receive(fd, 3000, NULL), "STOPPING=1");
	ck_assert_str_eq(receive(fd, 3000, NULL),
	    "STATUS=draining 1 connection");
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 0);
	close(c);
	close(fd);
}
END_TEST

/* ---- under the real systemd ---------------------------------------- */

/* Wait until `systemctl show -P prop unit` says want; 1 when it did. */
static int
show_becomes(const char *unit, const char *prop, const char *want, int ms)
{
	long long end = now_ms() + ms;

	do {
		if (strcmp(tu_sdbox_show(unit, prop), want) == 0)
			return 1;
		usleep(100000);
	} while (now_ms() < end);
	return 0;
}

static long
main_pid(const char *unit)
{
	return strtol(tu_sdbox_show(unit, "MainPID"), NULL, 10);
}

START_TEST(watchdog_keeps_a_running_echod_alive)
{
	char out[4096];
	long pid;

	tu_sdbox_unit("w-alive.service",
	    "[Service]\nType=notify\nWatchdogSec=1\nRestart=on-failure\n"
	    "RestartSec=100ms\nExecStart=%s --listen 127.0.0.1:7301\n",
	    ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start w-alive.service"), 0);
	pid = main_pid("w-alive.service");
	ck_assert_int_gt(pid, 1);
	/* Four intervals: without pings systemd kills it after one. */
	sleep(4);
	ck_assert_str_eq(tu_sdbox_show("w-alive.service", "ActiveState"),
	    "active");
	ck_assert_str_eq(tu_sdbox_show("w-alive.service", "NRestarts"), "0");
	ck_assert_int_eq(main_pid("w-alive.service"), pid);
	ck_assert_str_eq(tu_sdbox_show("w-alive.service", "Result"),
	    "success");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop w-alive.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("w-alive.service", "Result"),
	    "success");
}
END_TEST

START_TEST(a_stopped_loop_is_killed_by_the_watchdog)
{
	char out[4096];
	long pid;

	tu_sdbox_unit("w-stuck.service",
	    "[Service]\nType=notify\nWatchdogSec=1\nTimeoutStopSec=3\n"
	    "ExecStart=%s --listen 127.0.0.1:7302\n", ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start w-stuck.service"), 0);
	pid = main_pid("w-stuck.service");
	ck_assert_int_gt(pid, 1);
	/* Alive while its loop turns... */
	sleep(2);
	ck_assert_str_eq(tu_sdbox_show("w-stuck.service", "ActiveState"),
	    "active");
	ck_assert_int_eq(main_pid("w-stuck.service"), pid);
	/* ...killed once it stops. */
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out), "kill -STOP %ld",
	    pid), 0);
	ck_assert_msg(show_becomes("w-stuck.service", "Result", "watchdog",
	    8000), "Result=%s", tu_sdbox_show("w-stuck.service", "Result"));
	ck_assert_msg(show_becomes("w-stuck.service", "ActiveState", "failed",
	    5000), "ActiveState=%s", tu_sdbox_show("w-stuck.service",
	    "ActiveState"));
	tu_sdbox_run(NULL, 0, "systemctl reset-failed w-stuck.service");
}
END_TEST

START_TEST(status_text_shows_in_systemctl)
{
	struct sockaddr_in sin;
	char out[4096];
	int c;

	tu_sdbox_unit("w-status.service",
	    "[Service]\nType=notify\nExecStart=%s --listen 127.0.0.1:7303\n",
	    ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start w-status.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("w-status.service", "StatusText"),
	    "listening on 127.0.0.1:7303, 0 connections");
	tu_sdbox_run(out, sizeof(out),
	    "systemctl status --no-pager w-status.service");
	ck_assert_msg(strstr(out, "Status: \"listening on 127.0.0.1:7303, 0 "
	    "connections\"") != NULL, "systemctl status: %s", out);
	/* The box shares our network: a client from here counts. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(7303);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_msg(show_becomes("w-status.service", "StatusText",
	    "listening on 127.0.0.1:7303, 1 connection", 3000),
	    "StatusText=%s", tu_sdbox_show("w-status.service", "StatusText"));
	close(c);
	ck_assert_msg(show_becomes("w-status.service", "StatusText",
	    "listening on 127.0.0.1:7303, 0 connections", 3000),
	    "StatusText=%s", tu_sdbox_show("w-status.service", "StatusText"));
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop w-status.service"), 0);
}
END_TEST

/*
 * TimeoutStartSec=1 and a start that takes 3 s: it comes up only because
 * it asks for more time.
 */
START_TEST(extend_timeout_lets_a_slow_start_finish)
{
	char out[4096];
	int extend = _i == 0;

	tu_sdbox_unit("w-slow.service",
	    "[Service]\nType=notify\nTimeoutStartSec=1\n"
	    "ExecStart=%s --slow-start 3000%s\n", HELPER_PATH,
	    extend ? "" : " --no-extend");
	if (extend) {
		ck_assert_msg(tu_sdbox_run(out, sizeof(out),
		    "systemctl start w-slow.service") == 0, "start: %s", out);
		ck_assert_str_eq(tu_sdbox_show("w-slow.service",
		    "ActiveState"), "active");
		ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
		    "systemctl stop w-slow.service"), 0);
		ck_assert_str_eq(tu_sdbox_show("w-slow.service", "Result"),
		    "success");
	} else {
		ck_assert_int_ne(tu_sdbox_run(out, sizeof(out),
		    "systemctl start w-slow.service"), 0);
		ck_assert_str_eq(tu_sdbox_show("w-slow.service", "Result"),
		    "timeout");
		tu_sdbox_run(NULL, 0, "systemctl reset-failed w-slow.service");
	}
}
END_TEST

/*
 * TimeoutStopSec=1 and a drain of 3 s: the stop ends cleanly only because
 * a shutdown step asks for more time.
 */
START_TEST(extend_timeout_lets_a_slow_stop_finish)
{
	char out[4096];
	int extend = _i == 0;

	tu_sdbox_unit("w-drain.service",
	    "[Service]\nType=notify\nTimeoutStopSec=1\n"
	    "ExecStart=%s --step drain:async:3000%s\n", HELPER_PATH,
	    extend ? " --stop-extend 5000" : "");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start w-drain.service"), 0);
	tu_sdbox_run(out, sizeof(out), "systemctl stop w-drain.service");
	ck_assert_str_eq(tu_sdbox_show("w-drain.service", "Result"),
	    extend ? "success" : "timeout");
	tu_sdbox_run(NULL, 0, "systemctl reset-failed w-drain.service");
}
END_TEST

static Suite *
watchdog_suite(void)
{
	Suite *s = suite_create("watchdog");
	TCase *tc = tu_tcase("notify socket");
	TCase *box = tu_tcase("systemd");
	char why[256];

	tcase_add_test(tc, pings_every_half_interval_until_the_chain_ends);
	tcase_add_loop_test(tc, watchdog_pid_decides_whose_pings, 0, 4);
	tcase_add_test(tc, a_detached_daemon_pings_under_its_own_pid);
	tcase_add_test(tc, status_lines_are_one_line_and_cut_at_a_character);
	tcase_add_test(tc, without_a_manager_status_and_extend_do_nothing);
	tcase_add_test(tc, a_slow_start_asks_for_more_time_until_ready);
	tcase_add_test(tc, echod_says_what_it_does);
	suite_add_tcase(s, tc);
	if (tu_sdbox_start(why, sizeof(why)) < 0) {
		printf("watchdog (systemd): skipped, %s\n", why);
		return s;
	}
	tcase_add_test(box, watchdog_keeps_a_running_echod_alive);
	tcase_add_test(box, a_stopped_loop_is_killed_by_the_watchdog);
	tcase_add_test(box, status_text_shows_in_systemctl);
	tcase_add_loop_test(box, extend_timeout_lets_a_slow_start_finish, 0, 2);
	tcase_add_loop_test(box, extend_timeout_lets_a_slow_stop_finish, 0, 2);
	suite_add_tcase(s, box);
	return s;
}

TU_MAIN(watchdog_suite)
