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

/* A free port on loopback, and echod started on it. */
static pid_t
start_echod(const char *timeout)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct launch l;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(s);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", (unsigned)port);
	tu_program = ECHOD_PATH;
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--listen", listen_on,
	    "--worker", "--stdout", tu_path("out"), "--stderr", tu_path("out"),
	    "--shutdown-timeout", timeout, NULL);
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
	ck_assert(strstr(tu_slurp(tu_path("out")), "stopped, status 0") != NULL);
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

static Suite *
echod_suite(void)
{
	Suite *s = suite_create("echod");
	TCase *tc = tu_tcase("echod");

	tcase_add_test(tc, echoes_what_a_client_sends);
	tcase_add_test(tc, in_flight_data_survives_a_graceful_stop);
	tcase_add_test(tc, idle_connections_are_closed_at_once);
	tcase_add_test(tc, a_client_that_never_reads_meets_the_deadline);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(echod_suite)
