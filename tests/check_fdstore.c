/*
 * systemd's file descriptor store (dctx_fdstore()), through echod: what
 * goes out on $NOTIFY_SOCKET, read by a socket of our own, then the real
 * systemd (tests/sdbox) keeping echod's listening socket through
 * `systemctl restart` and Restart=, under a client load that must see no
 * refusal.  The tests under systemd are skipped, with the reason, where
 * the box cannot start.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* This file's ports: 7700-7719 (the range is 7680-7799). */
#define PORT_WIRE 7700
#define PORT_BADNAME 7701
#define PORT_RESTART 7702
#define PORT_LOAD 7703
#define PORT_NOSTORE 7704
#define PORT_CRASH 7705

/* A datagram socket like systemd's, bound to a path, in NOTIFY_SOCKET. */
static int
notify_socket(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tu_path("notify"));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	return fd;
}

/*
 * The next datagram within ms, and the descriptor that came with it
 * (-1 when none); "" when nothing came.
 */
static const char *
receive(int sock, int ms, int *fd)
{
	static char buf[1024];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct pollfd p = { sock, POLLIN, 0 };
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	buf[0] = '\0';
	if (poll(&p, 1, ms) != 1)
		return buf;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	if ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0)
		return buf;
	buf[n] = '\0';
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			ck_assert_int_eq(cm->cmsg_len, CMSG_LEN(sizeof(int)));
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
		}
	return buf;
}

/* Connect to 127.0.0.1:port: 0, or the errno. */
static int
try_connect(int port, int *out)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		err = errno;
	if (out != NULL && err == 0)
		*out = fd;
	else
		close(fd);
	return err;
}

START_TEST(echod_stores_its_listening_socket)
{
	char want[64];
	const char *msg;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int sock, fd = -1, got = -1, listening = 0, c = -1, a, i;
	pid_t pid;

	sock = notify_socket();
	tu_program = ECHOD_PATH;
	snprintf(want, sizeof(want), "127.0.0.1:%d", PORT_WIRE);
	pid = tu_start_fg("--listen", want, NULL);
	unsetenv("NOTIFY_SOCKET");
	/* FDSTORE comes before READY=1, each its own datagram. */
	for (i = 0; i < 4 && got < 0; i++) {
		msg = receive(sock, 5000, &fd);
		if (strcmp(msg, "FDSTORE=1\nFDNAME=echod") == 0)
			got = fd;
		else if (fd >= 0)
			close(fd);
	}
	ck_assert_msg(got >= 0, "no FDSTORE=1 with a descriptor; last: '%s'",
	    msg);
	/* The very socket echod listens on: TCP, listening, its port. */
	ck_assert_int_eq(getsockname(got, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(ntohs(sin.sin_port), PORT_WIRE);
	len = sizeof(listening);
	ck_assert_int_eq(getsockopt(got, SOL_SOCKET, SO_ACCEPTCONN,
	    &listening, &len), 0);
	ck_assert_int_eq(listening, 1);
	/* The status line (dctx_status()) may come between. */
	do
		msg = receive(sock, 5000, &fd);
	while (strncmp(msg, "STATUS=", 7) == 0);
	ck_assert_msg(strncmp(msg, "READY=1\nMAINPID=", 16) == 0,
	    "after FDSTORE: '%s'", msg);
	/* echod gone, a client is still queued on the stored copy. */
	tu_stop_cleanly(pid);
	ck_assert_int_eq(try_connect(PORT_WIRE, &c), 0);
	a = accept(got, NULL, NULL);
	ck_assert_int_ge(a, 0);
	close(a);
	close(c);
	close(got);
	close(sock);
}
END_TEST

START_TEST(echod_says_why_a_name_cannot_be_stored)
{
	char listen[64];
	const char *msg;
	int sock, fd, c = -1, i;
	pid_t pid;

	sock = notify_socket();
	tu_program = ECHOD_PATH;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", PORT_BADNAME);
	/* ':' separates the names in LISTEN_FDNAMES: systemd refuses it. */
	pid = tu_start_fg("--listen", listen, "--listen-fdname", "a:b",
	    "--stderr", tu_path("err"), NULL);
	unsetenv("NOTIFY_SOCKET");
	for (i = 0; i < 4; i++) {
		msg = receive(sock, 5000, &fd);
		ck_assert_msg(fd < 0, "a descriptor came with '%s'", msg);
		ck_assert_msg(strstr(msg, "FDSTORE") == NULL, "'%s'", msg);
		if (strncmp(msg, "READY=1", 7) == 0)
			break;
	}
	ck_assert_msg(i < 4, "no READY=1");
	ck_assert(tu_wait_file_contains(tu_path("err"), "echod: fdstore: name "
	    "'a:b': not printable ASCII without ':'", 2000));
	ck_assert(tu_wait_file_contains(tu_path("err"), "a restart will bind "
	    "anew", 2000));
	/* And it serves all the same. */
	ck_assert_int_eq(try_connect(PORT_BADNAME, &c), 0);
	close(c);
	tu_stop_cleanly(pid);
	close(sock);
}
END_TEST

/*
 * An echod unit of Type=notify on port, with more [Service] lines; no
 * start limit, for the tests restart it more than five times in ten
 * seconds.
 */
static void
echod_unit(const char *unit, int port, const char *more)
{
	tu_sdbox_unit(unit, "[Unit]\nStartLimitIntervalSec=0\n"
	    "[Service]\nType=notify\n%s"
	    "ExecStart=%s --listen 127.0.0.1:%d --stderr /run/%s.log\n",
	    more, ECHOD_PATH, port, unit);
}

static long
main_pid(const char *unit)
{
	return strtol(tu_sdbox_show(unit, "MainPID"), NULL, 10);
}

START_TEST(restart_passes_the_stored_socket_back)
{
	char out[4096], want[128];
	const char *u = "t-fds.service";
	long first, second;

	echod_unit(u, PORT_RESTART, "FileDescriptorStoreMax=1\n");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start %s", u), 0);
	ck_assert_str_eq(tu_sdbox_show(u, "NFileDescriptorStore"), "1");
	first = main_pid(u);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl restart %s", u), 0);
	second = main_pid(u);
	ck_assert_int_gt(second, 1);
	ck_assert_int_ne(second, first);
	ck_assert_str_eq(tu_sdbox_show(u, "ActiveState"), "active");
	/* The first bound the port; the second was given the socket back,
	 * as a socket-activated one, and did not store it twice. */
	snprintf(want, sizeof(want), "listening on 127.0.0.1:%d as pid %ld",
	    PORT_RESTART, first);
	ck_assert(tu_wait_file_contains(tu_sdbox_path("/run/t-fds.service.log"),
	    want, 2000));
	snprintf(want, sizeof(want), "listening on fd 3 (echod) as pid %ld",
	    second);
	ck_assert_msg(tu_wait_file_contains(
	    tu_sdbox_path("/run/t-fds.service.log"), want, 2000), "log: %s",
	    tu_slurp(tu_sdbox_path("/run/t-fds.service.log")));
	ck_assert_str_eq(tu_sdbox_show(u, "NFileDescriptorStore"), "1");
	/* A stop empties the store: then nobody holds the port. */
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop %s", u), 0);
	ck_assert_str_eq(tu_sdbox_show(u, "Result"), "success");
	ck_assert_str_eq(tu_sdbox_show(u, "NFileDescriptorStore"), "0");
	ck_assert_int_eq(try_connect(PORT_RESTART, NULL), ECONNREFUSED);
}
END_TEST

START_TEST(restart_after_a_crash_passes_the_socket_back)
{
	char out[4096], want[128];
	const char *u = "t-fds-crash.service";
	long first, second = 0;
	int i;

	echod_unit(u, PORT_CRASH, "FileDescriptorStoreMax=1\n"
	    "Restart=always\nRestartSec=100ms\n");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start %s", u), 0);
	first = main_pid(u);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl kill -s KILL %s", u), 0);
	for (i = 0; i < 100; i++) {
		second = main_pid(u);
		if (second > 1 && second != first &&
		    strcmp(tu_sdbox_show(u, "ActiveState"), "active") == 0)
			break;
		usleep(100000);
	}
	ck_assert_int_ne(second, first);
	ck_assert_int_gt(second, 1);
	snprintf(want, sizeof(want), "listening on fd 3 (echod) as pid %ld",
	    second);
	ck_assert_msg(tu_wait_file_contains(
	    tu_sdbox_path("/run/t-fds-crash.service.log"), want, 2000),
	    "log: %s", tu_slurp(tu_sdbox_path("/run/t-fds-crash.service.log")));
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop %s", u), 0);
}
END_TEST

/* The load generator's summary: the value of key, or -1. */
static long
summary(const char *text, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\n%s=", key);
	if ((p = strstr(text, k)) == NULL)
		return -1;
	return strtol(p + strlen(k), NULL, 10);
}

/*
 * Restart the unit five times while 16 clients of bench/loadgen run
 * connect-send-echo-close in a loop; the load generator's summary.
 */
static const char *
restarts_under_load(const char *u, int port)
{
	static char text[4096];
	char out[4096], addr[64];
	long pid, last;
	pid_t lg;
	int st, i, fd;

	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start %s", u), 0);
	last = main_pid(u);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	fd = open(tu_path("load"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	ck_assert_int_ge(fd, 0);
	lg = fork();
	ck_assert_int_ge(lg, 0);
	if (lg == 0) {
		dup2(fd, 1);
		execl(LOADGEN_PATH, LOADGEN_PATH, "-c", "16", "-d", "0", addr,
		    (char *)NULL);
		_exit(127);
	}
	close(fd);
	tu_track(lg);
	usleep(300000);
	for (i = 0; i < 5; i++) {
		ck_assert_msg(tu_sdbox_run(out, sizeof(out),
		    "systemctl restart %s", u) == 0, "restart: %s", out);
		pid = main_pid(u);
		ck_assert_int_ne(pid, last);
		last = pid;
		usleep(100000);
	}
	usleep(200000);
	kill(lg, SIGINT);
	ck_assert_int_eq(waitpid(lg, &st, 0), lg);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "loadgen: status 0x%x", st);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop %s", u), 0);
	snprintf(text, sizeof(text), "\n%s", tu_slurp(tu_path("load")));
	printf("%s: 5 restarts under load: %ld requests answered, %ld "
	    "refused, %ld failed in all, %ld bytes lost\n", u,
	    summary(text, "ok"), summary(text, "refused"),
	    summary(text, "failed"), summary(text, "bytes_lost"));
	return text;
}

START_TEST(restart_under_load_refuses_nothing)
{
	const char *u = "t-fds-load.service", *s;

	echod_unit(u, PORT_LOAD, "FileDescriptorStoreMax=1\n");
	s = restarts_under_load(u, PORT_LOAD);
	ck_assert_msg(summary(s, "ok") > 0, "%s", s);
	ck_assert_msg(summary(s, "failed") == 0, "%s", s);
	ck_assert_msg(summary(s, "refused") == 0, "%s", s);
	ck_assert_msg(summary(s, "bytes_lost") == 0, "%s", s);
	ck_assert_msg(summary(s, "bytes_sent") == summary(s, "bytes_echoed"),
	    "%s", s);
}
END_TEST

/*
 * The same load and restarts without the store: the load does see the
 * gap, which is what the store closes (and what makes the test above
 * able to fail).
 */
START_TEST(restart_without_the_store_refuses)
{
	const char *u = "t-nofds-load.service", *s;

	echod_unit(u, PORT_NOSTORE, "");
	s = restarts_under_load(u, PORT_NOSTORE);
	ck_assert_msg(summary(s, "ok") > 0, "%s", s);
	ck_assert_msg(summary(s, "refused") > 0, "%s", s);
}
END_TEST

static Suite *
fdstore_suite(void)
{
	Suite *s = suite_create("fdstore");
	TCase *tc = tu_tcase("wire"), *sd;
	char why[256];

	tcase_add_test(tc, echod_stores_its_listening_socket);
	tcase_add_test(tc, echod_says_why_a_name_cannot_be_stored);
	suite_add_tcase(s, tc);
	if (tu_sdbox_start(why, sizeof(why)) < 0) {
		printf("fdstore under systemd: skipped, %s\n", why);
		return s;
	}
	sd = tu_tcase("systemd");
	tcase_set_timeout(sd, 60);
	tcase_add_test(sd, restart_passes_the_stored_socket_back);
	tcase_add_test(sd, restart_after_a_crash_passes_the_socket_back);
	tcase_add_test(sd, restart_under_load_refuses_nothing);
	tcase_add_test(sd, restart_without_the_store_refuses);
	suite_add_tcase(s, sd);
	return s;
}

TU_MAIN(fdstore_suite)
