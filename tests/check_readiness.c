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
	static char buf[512];
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

START_TEST(a_bad_notify_socket_is_reported)
{
	struct launch l;

	setenv("NOTIFY_SOCKET", tu_path("nobody-listens"), 1);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "nobody-listens: No such file or directory")
	    != NULL, "stderr: %s", l.err);
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
	tcase_add_test(tc, a_bad_notify_socket_is_reported);
	tcase_add_test(tc, s6_reads_one_newline_then_end_of_file);
	tcase_add_test(tc, s6_without_detach_stays_in_front_and_survives_a_closed_reader);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(readiness_suite)
