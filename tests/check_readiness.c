/* Readiness for systemd ($NOTIFY_SOCKET) and s6 (a notification fd). */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

/* A datagram socket like systemd's, bound to a path or an abstract name. */
static int
notify_socket(const char *name, int abstract)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s%s",
	    abstract ? "@" : "", name);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(sun.sun_path) + !abstract);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	if (abstract)
		sun.sun_path[0] = '\0';
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

/* One datagram within ms, or "". */
static const char *
receive(int fd, int ms)
{
	static char buf[2048];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n = 0;

	buf[0] = '\0';
	if (poll(&p, 1, ms) == 1 && (n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0)
		buf[n] = '\0';
	return buf;
}

START_TEST(systemd_hears_ready_with_mainpid_then_stopping)
{
	char want[64], name[128];
	pid_t pid;
	int fd;

	snprintf(name, sizeof(name), "dctx-notify-%ld", (long)getpid());
	fd = _i == 0 ? notify_socket(tu_path("notify"), 0) :
	    notify_socket(name, 1);
	/* Under NOTIFY_SOCKET the daemon stays in front: pid is the daemon. */
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), NULL);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
	ck_assert_str_eq(receive(fd, 3000), want);
	/* The variable was for us: what the daemon runs does not see it. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "NOTIFY_SOCKET=unset",
	    3000));
	kill(pid, SIGTERM);
	ck_assert_str_eq(receive(fd, 3000), "STOPPING=1");
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	close(fd);
}
END_TEST

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

START_TEST(a_stale_notify_socket_warns_once_and_detaches)
{
	const char *addr = _i == 0 ? tu_path("nobody-listens") : "vsock:2:9999";
	char want[600];
	struct launch l;
	pid_t pid;

	/*
	 * A variable left in a shell that once ran a service: sd_notify(3)
	 * would not fail for it, nor do we.  Nobody waits on it, so the
	 * automatic choice detaches as from any shell.
	 */
	setenv("NOTIFY_SOCKET", addr, 1);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    NULL);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_msg(l.status == 0, "status %d, stderr: %s", l.status, l.err);
	snprintf(want, sizeof(want), "NOTIFY_SOCKET %s: ", addr);
	ck_assert_msg(count(l.err, want) == 1, "stderr: %s", l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_alive(pid));
	ck_assert_int_ne(getsid(pid), getsid(0));
	ck_assert(tu_wait_file_contains(tu_path("out"), "NOTIFY_SOCKET=unset",
	    3000));
}
END_TEST

/* Whether a datagram is "STATUS=<has text>\nERRNO=<errno>". */
static void
assert_failure_datagram(const char *got, const char *text, int errnum)
{
	char tail[32];
	size_t len = strlen(got);

	snprintf(tail, sizeof(tail), "\nERRNO=%d", errnum);
	ck_assert_msg(strncmp(got, "STATUS=", 7) == 0 &&
	    strstr(got, text) != NULL && len > strlen(tail) &&
	    strcmp(got + len - strlen(tail), tail) == 0 &&
	    strchr(got, '\n') == got + len - strlen(tail),
	    "datagram: '%s'", got);
}

START_TEST(a_failed_start_tells_systemd_status_and_errno)
{
	char missing[512], longmsg[700];
	const char *got;
	pid_t pid;
	int fd;

	snprintf(missing, sizeof(missing), "chdir(%s): No such file or "
	    "directory", tu_path("missing"));
	fd = notify_socket(tu_path("notify"), 0);
	switch (_i) {
	case 0:	/* A step of dctx_open() after the socket was connected. */
		pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--workdir",
		    tu_path("missing"), NULL);
		assert_failure_datagram(receive(fd, 3000), missing, 2);
		break;
	case 1:	/* One before it would be connected. */
		pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--user",
		    "no-such-user-dctx", NULL);
		assert_failure_datagram(receive(fd, 3000), "no-such-user-dctx",
		    2);
		break;
	case 2:	/* dctx_notify_failure() in the foreground. */
		pid = tu_start_fg("--pidfile", tu_path("d.pid"),
		    "--manual-ready", "cannot bind 127.0.0.1:1: Permission "
		    "denied", "--exit-after-open", NULL);
		assert_failure_datagram(receive(fd, 3000),
		    "STATUS=cannot bind 127.0.0.1:1: Permission denied", 5);
		break;
	case 3: /* A message too long for STATUS=: its middle goes. */
		memset(longmsg, 'x', sizeof(longmsg));
		memcpy(longmsg, "listen on ", 10);
		snprintf(longmsg + 610, sizeof(longmsg) - 610,
		    ": Address already in use");
		pid = tu_start_fg("--pidfile", tu_path("d.pid"),
		    "--manual-ready", longmsg, NULL);
		got = receive(fd, 3000);
		assert_failure_datagram(got, "xxx...xxx", 5);
		ck_assert_msg(strlen(got) < 7 + 512 + 8 && strstr(got,
		    "x: Address already in use\nERRNO=5") != NULL,
		    "datagram: '%s'", got);
		break;
	default: /* A daemon that detached anyway, after the fork. */
		pid = tu_start_fg("--detach", "--pidfile", tu_path("d.pid"),
		    "--workdir", tu_path("missing"), NULL);
		assert_failure_datagram(receive(fd, 3000), missing, 2);
		break;
	}
	/* The helper ends 0 after its own dctx_notify_failure(). */
	ck_assert_int_eq(tu_wait_gone(pid, 3000), _i == 2 || _i == 3 ? 0 : 1);
	/* Said once: nothing else follows. */
	ck_assert_str_eq(receive(fd, 200), "");
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	close(fd);
}
END_TEST

/*
 * Lock path as a running daemon would: the helper's open then fails.  No
 * pid is written: tu_launch() would take it for the daemon's, to kill.
 */
static int
hold_pidfile(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	return fd;
}

START_TEST(a_retried_open_still_tells_systemd_ready)
{
	char want[64];
	pid_t pid, daemon;
	int fd, held;

	/*
	 * The first dctx_open() fails (the pidfile is held); the retry the
	 * header allows must find $NOTIFY_SOCKET still set, connect, stay
	 * in front (automatic mode: systemd watches this process) and say
	 * READY=1.
	 */
	held = hold_pidfile(tu_path("held.pid"));
	fd = notify_socket(tu_path("notify"), 0);
	if (_i == 0)
		pid = tu_start_fg("--foreground", "--pidfile",
		    tu_path("held.pid"), "--retry-pidfile", tu_path("ok.pid"),
		    "--stdout", tu_path("out"), NULL);
	else
		pid = tu_start_fg("--pidfile", tu_path("held.pid"),
		    "--retry-pidfile", tu_path("ok.pid"), "--stdout",
		    tu_path("out"), NULL);
	assert_failure_datagram(receive(fd, 3000), "held.pid", 17);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	/* A daemon that detached is not the one tu_start_fg() tracks. */
	if ((daemon = tu_read_pidfile(tu_path("ok.pid"))) > 0)
		tu_track(daemon);
	ck_assert_str_eq(receive(fd, 3000), want);
	ck_assert_int_eq(daemon, pid);
	/* Unset once the open succeeded, for what the daemon runs. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "NOTIFY_SOCKET=unset",
	    3000));
	kill(pid, SIGTERM);
	ck_assert_str_eq(receive(fd, 3000), "STOPPING=1");
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	close(fd);
	close(held);
}
END_TEST

START_TEST(a_retried_open_warns_once_of_a_stale_notify_socket)
{
	const char *addr = tu_path("nobody-listens");
	char want[600];
	struct launch l;
	int held;

	/* The warning is the operator's, once per context, not per try. */
	held = hold_pidfile(tu_path("held.pid"));
	setenv("NOTIFY_SOCKET", addr, 1);
	tu_launch(&l, "--pidfile", tu_path("held.pid"), "--retry-pidfile",
	    tu_path("ok.pid"), "--stdout", tu_path("out"), NULL);
	unsetenv("NOTIFY_SOCKET");
	if (tu_read_pidfile(tu_path("ok.pid")) > 0)
		tu_track(tu_read_pidfile(tu_path("ok.pid")));
	ck_assert_msg(l.status == 0, "status %d, stderr: %s", l.status, l.err);
	ck_assert_msg(strstr(l.err, "first open: ") != NULL, "stderr: %s",
	    l.err);
	snprintf(want, sizeof(want), "NOTIFY_SOCKET %s: ", addr);
	ck_assert_msg(count(l.err, want) == 1, "stderr: %s", l.err);
	/* Nobody listens: the retry detached as from any shell. */
	ck_assert_int_ne(getsid(tu_read_pidfile(tu_path("ok.pid"))),
	    getsid(0));
	close(held);
}
END_TEST

START_TEST(start_stop_daemon_fails_at_once_with_the_daemons_reason)
{
	const char *ssd = access("/sbin/start-stop-daemon", X_OK) == 0 ?
	    "/sbin/start-stop-daemon" : "/usr/sbin/start-stop-daemon";
	struct launch l;

	/*
	 * dpkg's start-stop-daemon makes its own NOTIFY_SOCKET; the failing
	 * daemon's ERRNO= ends its wait at once with the daemon's reason,
	 * instead of "timed out waiting for a notification" after 8 s.
	 */
	unsetenv("NOTIFY_SOCKET");
	tu_program = ssd;
	tu_launch(&l, "--start", "--background", "--notify-await",
	    "--notify-timeout", "8", "--exec", HELPER_PATH, "--", "--pidfile",
	    tu_path("d.pid"), "--workdir", tu_path("missing"), NULL);
	tu_program = HELPER_PATH;
	ck_assert_int_ne(l.status, 0);
	ck_assert_msg(strstr(l.err, "timed out") == NULL &&
	    strstr(l.err, "No such file or directory") != NULL,
	    "stderr: %s", l.err);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(s6_reads_one_newline_then_end_of_file)
{
	char buf[8], arg[8];
	struct launch l;
	ssize_t n;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], 9), 9);
	close(p[1]);
	snprintf(arg, sizeof(arg), "%d", 9);
	unsetenv("NOTIFY_SOCKET");
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--notification-fd", arg, NULL);
	ck_assert_int_eq(l.status, 0);
	close(9);
	n = read(p[0], buf, sizeof(buf));
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(buf[0], '\n');
	/* Closed after the newline: nobody else holds it. */
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 0);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
	close(p[0]);
}
END_TEST

START_TEST(s6_without_detach_stays_in_front_and_survives_a_closed_reader)
{
	char arg[8];
	pid_t pid;
	int p[2];

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], 9), 9);
	close(p[1]);
	/* s6-supervise gave up on the pipe: its read end is gone. */
	close(p[0]);
	snprintf(arg, sizeof(arg), "%d", 9);
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--notification-fd", arg, NULL);
	close(9);
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	/* Not detached: the process s6 started is the daemon. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
	usleep(100 * 1000);
	/* The newline met EPIPE; SIGPIPE did not kill the daemon. */
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
}
END_TEST

static Suite *
readiness_suite(void)
{
	Suite *s = suite_create("readiness");
	TCase *tc = tu_tcase("readiness");

	tcase_add_loop_test(tc, systemd_hears_ready_with_mainpid_then_stopping, 0, 2);
	tcase_add_loop_test(tc, a_stale_notify_socket_warns_once_and_detaches, 0, 2);
	tcase_add_loop_test(tc, a_failed_start_tells_systemd_status_and_errno, 0, 5);
	tcase_add_loop_test(tc, a_retried_open_still_tells_systemd_ready, 0, 2);
	tcase_add_test(tc, a_retried_open_warns_once_of_a_stale_notify_socket);
	tcase_add_test(tc, start_stop_daemon_fails_at_once_with_the_daemons_reason);
	tcase_add_test(tc, s6_reads_one_newline_then_end_of_file);
	tcase_add_test(tc, s6_without_detach_stays_in_front_and_survives_a_closed_reader);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(readiness_suite)
