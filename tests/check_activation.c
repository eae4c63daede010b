/*
 * Socket activation, from outside, with the real tools: systemd's own
 * systemd-socket-activate passes a listening socket to echod or the helper
 * (it listens first, and execs the daemon at the first connection), and
 * the real systemd (tests/sdbox) starts echod from a .socket unit.  What
 * is judged is what an operator sees: the first client answered, the
 * passed socket kept in /proc/PID/fd and nothing else leaked, the
 * variables gone from what the daemon's children inherit, bad values
 * refused with a message naming them.  Ports 7400-7449 are this file's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

#define SSA "/usr/bin/systemd-socket-activate"

/* A connection to 127.0.0.1:port, or -errno. */
static int
dial(int port)
{
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	ck_assert_int_ge(s, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((in_port_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		e = errno;
		close(s);
		return -e;
	}
	return s;
}

/* Send a line and read it back within ms: 1 when it came back whole. */
static int
echoed(int s, int ms)
{
	static const char msg[] = "hello, activated\n";
	char buf[sizeof(msg)];
	struct pollfd p = { s, POLLIN, 0 };
	size_t got = 0;
	ssize_t n;

	ck_assert_int_eq(write(s, msg, sizeof(msg) - 1), sizeof(msg) - 1);
	while (got < sizeof(msg) - 1 && poll(&p, 1, ms) == 1) {
		if ((n = read(s, buf + got, sizeof(msg) - 1 - got)) <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof(msg) - 1 && memcmp(buf, msg, got) == 0;
}

/*
 * The inode of the socket listening on 127.0.0.1:port, from
 * /proc/net/tcp (whoever holds it), or 0.
 */
static unsigned long
listen_inode(int port)
{
	char line[512], want[32];
	unsigned long inode = 0, ino;
	FILE *f = fopen("/proc/net/tcp", "r");

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "0100007F:%04X", (unsigned)port);
	while (fgets(line, sizeof(line), f) != NULL) {
		char local[64], st[8];

		/* sl local rem st tx:rx tr:when retr uid timeout inode */
		if (sscanf(line, "%*s %63s %*s %7s %*s %*s %*s %*s %*s %lu",
		    local, st, &ino) == 3 && strcmp(local, want) == 0 &&
		    strcmp(st, "0A") == 0)
			inode = ino;
	}
	fclose(f);
	return inode;
}

/* The inode of a socket open as fd in pid, or 0 when it is no socket. */
static unsigned long
fd_socket_inode(pid_t pid, int fd)
{
	char what[32];
	unsigned long ino;

	snprintf(what, sizeof(what), "fd/%d", fd);
	if (sscanf(tu_proc_link(pid, what), "socket:[%lu]", &ino) != 1)
		return 0;
	return ino;
}

/* Whether fd in pid is close-on-exec (the flags of /proc/PID/fdinfo). */
static int
fd_cloexec(pid_t pid, int fd)
{
	char path[64];
	const char *flags;

	snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%d", (long)pid, fd);
	flags = strstr(tu_slurp(path), "flags:");
	ck_assert_ptr_nonnull(flags);
	return (strtoul(flags + 6, NULL, 8) & 02000000) != 0;
}

/* Wait until the pidfile names a live process; its pid. */
static pid_t
wait_pidfile(const char *path, int ms)
{
	pid_t pid = 0;

	for (; ms > 0; ms -= 20) {
		if ((pid = tu_read_pidfile(path)) > 0 && tu_alive(pid)) {
			tu_track(pid);
			return pid;
		}
		usleep(20000);
	}
	ck_abort_msg("no live pid in %s", path);
	return 0;
}

/* systemd-socket-activate, started with args, listening by now. */
static pid_t
start_ssa(const char *arg, ...)
{
	const char *argv[24] = { NULL };
	va_list ap;
	pid_t pid;
	int n = 0;

	va_start(ap, arg);
	for (; arg != NULL && n < 23; arg = va_arg(ap, const char *))
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;
	tu_program = SSA;
	/* tu_start_fg() is variadic: pass the list through, NULL-padded. */
	pid = tu_start_fg(argv[0], argv[1], argv[2], argv[3], argv[4],
	    argv[5], argv[6], argv[7], argv[8], argv[9], argv[10], argv[11],
	    argv[12], argv[13], argv[14], argv[15], argv[16], argv[17],
	    argv[18], argv[19], argv[20], argv[21], argv[22], NULL);
	ck_assert_msg(tu_wait_file_contains(tu_path("fg.stderr"),
	    "Listening on", 5000), "systemd-socket-activate: %s",
	    tu_slurp(tu_path("fg.stderr")));
	return pid;
}

/*
 * Under systemd-socket-activate, echod serves the passed socket: the
 * first client (whose connection made the tool exec echod) is answered.
 * echod detaches, so the variables were read before the fork; its daemon
 * holds the very socket listening on the port (the inode /proc/net/tcp
 * shows) at fd 3, close-on-exec, binds nothing of its own (--listen
 * names a port nobody listens on), and has no other descriptor than its
 * stdio, the passed socket, its pidfile and libevent's own.
 */
START_TEST(echod_serves_the_socket_systemd_socket_activate_passes)
{
	const char *pf = tu_path("echod.pid"), *out = tu_path("out");
	struct tu_fd fds[64];
	size_t n, i;
	pid_t ssa, pid;
	int s, tries, clean = 0;

	ssa = start_ssa("-l", "127.0.0.1:7401", ECHOD_PATH, "--pidfile", pf,
	    "--listen", "127.0.0.1:7402", "--stdout", out, "--stderr", out,
	    NULL);
	s = dial(7401);
	ck_assert_int_ge(s, 0);
	pid = wait_pidfile(pf, 5000);
	ck_assert_msg(echoed(s, 5000), "the first client got no echo; %s%s",
	    tu_slurp(tu_path("fg.stderr")), tu_slurp(out));
	/* The launcher (the tool's own process, exec'd) exits 0: detached. */
	ck_assert_int_ne(pid, ssa);
	ck_assert_int_eq(tu_wait_gone(ssa, 5000), 0);
	ck_assert(tu_wait_file_contains(out, "listening on fd 3 (unknown)",
	    3000));
	ck_assert_uint_ne(listen_inode(7401), 0);
	ck_assert_uint_eq(fd_socket_inode(pid, 3), listen_inode(7401));
	ck_assert(fd_cloexec(pid, 3));
	ck_assert_int_eq(dial(7402), -ECONNREFUSED);
	close(s);
	/* Once the client's connection is closed, nothing else is open. */
	for (tries = 0; tries < 100 && !clean; tries++) {
		usleep(30000);
		n = tu_fds(pid, fds, 64);
		for (clean = 1, i = 0; i < n; i++)
			if (fds[i].fd > 3 && strcmp(fds[i].target, pf) != 0 &&
			    strcmp(fds[i].target, tu_dir()) != 0 &&
			    !tu_is_event_fd_of(fds, n, i))
				clean = 0;
	}
	for (i = 0; i < n; i++)
		ck_assert_msg(fds[i].fd <= 3 || strcmp(fds[i].target, pf) == 0 ||
		    strcmp(fds[i].target, tu_dir()) == 0 ||
		    tu_is_event_fd_of(fds, n, i),
		    "fd %d leaked: %s", fds[i].fd, fds[i].target);
	ck_assert_str_eq(fds[1].target, out);
	kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 0);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

/*
 * Two sockets, named with --fdname: echod --listen-fdname admin serves
 * the one named "admin" only, in the foreground, in the process the tool
 * exec'd; the other stays open (kept) but unserved.
 */
START_TEST(echod_serves_only_the_socket_it_names)
{
	const char *out = tu_path("out");
	pid_t pid;
	int s, other;

	pid = start_ssa("-l", "127.0.0.1:7403", "-l", "127.0.0.1:7404",
	    "--fdname=echo:admin", ECHOD_PATH, "--foreground",
	    "--listen-fdname", "admin", "--stdout", out, "--stderr", out,
	    NULL);
	s = dial(7404);
	ck_assert_int_ge(s, 0);
	ck_assert_msg(echoed(s, 5000), "no echo on the admin socket; %s%s",
	    tu_slurp(tu_path("fg.stderr")), tu_slurp(out));
	ck_assert(tu_wait_file_contains(out, "listening on fd 4 (admin) as "
	    "pid", 3000));
	ck_assert_uint_eq(fd_socket_inode(pid, 4), listen_inode(7404));
	/* The other is kept (the library closes no passed socket)... */
	ck_assert_uint_eq(fd_socket_inode(pid, 3), listen_inode(7403));
	/* ...but echod does not answer on it. */
	other = dial(7403);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(write(other, "x", 1), 1);
	{
		struct pollfd p = { other, POLLIN, 0 };
		ck_assert_int_eq(poll(&p, 1, 500), 0);
	}
	close(other);
	close(s);
	tu_stop_cleanly(pid);
}
END_TEST

/* A name that none of the passed sockets has: echod says so, and exits 1. */
START_TEST(echod_refuses_a_name_nobody_passed)
{
	pid_t pid;
	int s;

	pid = start_ssa("-l", "127.0.0.1:7405", "--fdname=echo", ECHOD_PATH,
	    "--foreground", "--listen-fdname", "admin", "--pidfile",
	    tu_path("echod.pid"), NULL);
	s = dial(7405);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 1);
	ck_assert_msg(strstr(tu_slurp(tu_path("fg.stderr")), "echod: "
	    "--listen-fdname admin: none of the 1 socket passed has that "
	    "name") != NULL, "stderr: %s", tu_slurp(tu_path("fg.stderr")));
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
	close(s);
}
END_TEST

/* The part of the helper's report a child wrote with env. */
static const char *
child_env(const char *report)
{
	static char buf[16384];
	const char *from = strstr(report, "child env:\n"), *to;

	ck_assert_ptr_nonnull(from);
	from += strlen("child env:\n");
	to = strstr(from, "child env end\n");
	ck_assert_ptr_nonnull(to);
	snprintf(buf, sizeof(buf), "%.*s", (int)(to - from), from);
	return buf;
}

/*
 * The helper opens without dctx_prepare(): dctx_open() reads the
 * variables at step 1, before its fork, and the daemon asks afterwards
 * (the count, index and name, by name).  The variables are gone from its
 * environment and from what a program it runs inherits: /proc/PID/environ
 * cannot show that, since it is the environment the process was exec'd
 * with (proc(5)), so the child's env shows it.
 */
START_TEST(the_daemon_gets_the_names_and_its_children_no_variables)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out"), *env;
	pid_t pid;
	int s;

	start_ssa("-l", "127.0.0.1:7406", "--fdname=echo", HELPER_PATH,
	    "--listen-report", "--pidfile", pf, "--stdout", out, NULL);
	s = dial(7406);
	ck_assert_int_ge(s, 0);
	pid = wait_pidfile(pf, 5000);
	ck_assert_msg(tu_wait_file_contains(out, "child env end", 5000),
	    "report: %s; stderr: %s", tu_slurp(out),
	    tu_slurp(tu_path("fg.stderr")));
	ck_assert_ptr_nonnull(strstr(tu_slurp(out), "listen_fds 1\n"
	    "listen_fd 0 3 echo\nlisten_fd_named echo 3\n"
	    "env LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset\n"));
	env = child_env(tu_slurp(out));
	ck_assert_ptr_nonnull(strstr(env, "PATH="));
	ck_assert_msg(strstr(env, "LISTEN_") == NULL, "child env: %s", env);
	ck_assert_uint_eq(fd_socket_inode(pid, 3), listen_inode(7406));
	close(s);
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * A shell between the tool and the helper forks it: $LISTEN_PID names the
 * shell, not the helper, so the variables are not the helper's.  It takes
 * no descriptor (0), closes the socket it inherited at fd 3 like any
 * other in its close step, and still removes the variables: its children
 * see none.
 */
START_TEST(listen_pid_of_another_process_is_not_ours)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out"), *env;
	struct tu_fd fds[64];
	unsigned long ino;
	char script[1024];
	size_t n, i;
	pid_t pid;
	int s;

	/* In the foreground: the shell, waiting, keeps the socket open. */
	snprintf(script, sizeof(script), "%s --foreground --listen-report "
	    "--pidfile %s --stdout %s; exit $?", HELPER_PATH, pf, out);
	start_ssa("-l", "127.0.0.1:7407", "/bin/sh", "-c", script, NULL);
	s = dial(7407);
	ck_assert_int_ge(s, 0);
	pid = wait_pidfile(pf, 5000);
	ck_assert_msg(tu_wait_file_contains(out, "child env end", 5000),
	    "report: %s; stderr: %s", tu_slurp(out),
	    tu_slurp(tu_path("fg.stderr")));
	ck_assert_ptr_nonnull(strstr(tu_slurp(out), "listen_fds 0\n"
	    "listen_fd_named echo -2\n"
	    "env LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset\n"));
	env = child_env(tu_slurp(out));
	ck_assert_msg(strstr(env, "LISTEN_") == NULL, "child env: %s", env);
	ino = listen_inode(7407);
	ck_assert_uint_ne(ino, 0);
	n = tu_fds(pid, fds, 64);
	for (i = 0; i < n; i++)
		ck_assert_msg(fd_socket_inode(pid, fds[i].fd) != ino,
		    "fd %d is the socket passed to another process",
		    fds[i].fd);
	close(s);
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * Values no service manager writes, set for the very process (LISTEN_PID
 * is the shell's pid, which exec keeps): the start fails, in dctx_open()
 * (the helper) or dctx_prepare() (echod), with a message naming the
 * variable and the reason, exit status 1, and no pidfile left.
 */
static const struct {
	const char *env;      /* assignments before exec */
	const char *redirect; /* descriptors the shell opens for it */
	const char *says;
} bad[] = {
	{ "LISTEN_FDS=abc", "3</dev/null", "LISTEN_FDS=abc: not a decimal number" },
	{ "LISTEN_FDS=-1", "3</dev/null", "LISTEN_FDS=-1: not a decimal number" },
	{ "LISTEN_FDS=' 1'", "3</dev/null", "LISTEN_FDS= 1: not a decimal number" },
	{ "LISTEN_FDS=0x1", "3</dev/null", "LISTEN_FDS=0x1: not a decimal number" },
	{ "LISTEN_FDS=99999999999", "3</dev/null",
	    "LISTEN_FDS=99999999999: more descriptors than can exist" },
	{ "LISTEN_FDS=2", "3</dev/null", "LISTEN_FDS=2: fd 4: not open" },
	{ "LISTEN_FDS=2 LISTEN_FDNAMES=a", "3</dev/null 4</dev/null",
	    "LISTEN_FDNAMES: 1 name for LISTEN_FDS=2: one name per "
	    "descriptor is needed" },
	{ "LISTEN_FDS=2 LISTEN_FDNAMES=a:", "3</dev/null 4</dev/null",
	    "LISTEN_FDNAMES: name 2: empty" },
};

START_TEST(bad_values_are_refused_with_a_clear_message)
{
	const char *pf = tu_path("d.pid");
	char script[1024];
	struct launch l;

	snprintf(script, sizeof(script), "LISTEN_PID=$$ %s exec %s "
	    "--foreground --pidfile %s %s", bad[_i].env, HELPER_PATH, pf,
	    bad[_i].redirect);
	tu_program = "/bin/sh";
	tu_launch(&l, "-c", script, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, bad[_i].says) != NULL, "%s: said %s",
	    bad[_i].env, l.err);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

/* A LISTEN_PID that is no pid is refused too, whatever LISTEN_FDS says. */
START_TEST(a_listen_pid_that_is_no_number_is_refused)
{
	struct launch l;

	tu_program = "/bin/sh";
	tu_launch(&l, "-c", "LISTEN_PID=12x LISTEN_FDS=1 exec " HELPER_PATH
	    " --foreground", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "LISTEN_PID=12x: not a decimal number")
	    != NULL, "said %s", l.err);
}
END_TEST

/*
 * echod reads them in dctx_prepare(): the same refusal, before the
 * pidfile is left behind; and a passed descriptor that is no listening
 * socket is refused by echod itself.
 */
START_TEST(echod_refuses_bad_values_and_what_it_cannot_serve)
{
	const char *pf = tu_path("echod.pid");
	char script[1024];
	struct launch l;

	tu_program = "/bin/sh";
	snprintf(script, sizeof(script), "LISTEN_PID=$$ LISTEN_FDS=x exec %s "
	    "--foreground --pidfile %s", ECHOD_PATH, pf);
	tu_launch(&l, "-c", script, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "echod: LISTEN_FDS=x: not a decimal "
	    "number") != NULL, "said %s", l.err);
	ck_assert_int_ne(access(pf, F_OK), 0);
	snprintf(script, sizeof(script), "LISTEN_PID=$$ LISTEN_FDS=1 exec %s "
	    "--foreground --pidfile %s 3</dev/null", ECHOD_PATH, pf);
	tu_launch(&l, "-c", script, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "echod: socket activation: fd 3 "
	    "(unknown): not a socket") != NULL, "said %s", l.err);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

/* An example unit file, with the build's echod and the test's port. */
static const char *
example_unit(const char *name, int port)
{
	static char text[8192];
	char path[1024], line[512], listen[32];
	const char *src = getenv("abs_top_srcdir");
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/examples/systemd/%s",
	    src != NULL ? src : ".", name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	text[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL && n < sizeof(text) - 1) {
		char *at;

		/* As an operator would: sed the path and the port. */
		if ((at = strstr(line, "/usr/local/bin/echod")) != NULL)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%.*s%s%s", (int)(at - line), line, ECHOD_PATH,
			    at + strlen("/usr/local/bin/echod"));
		else if ((at = strstr(line, "127.0.0.1:7777")) != NULL)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%.*s%s%s", (int)(at - line), line, listen,
			    at + strlen("127.0.0.1:7777"));
		else
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%s", line);
	}
	fclose(f);
	ck_assert_uint_lt(n, sizeof(text) - 1);
	return text;
}

/*
 * Under the real systemd, the example pair: with echod.socket started,
 * systemd listens and the service is not running; the first connection
 * starts echod-activated.service, and that client is answered.
 */
START_TEST(the_socket_unit_starts_echod_on_the_first_connection)
{
	char out[4096];
	int s, tries;

	tu_sdbox_unit("echod-activated.service", "%s",
	    example_unit("echod-activated.service", 7410));
	tu_sdbox_unit("echod.socket", "%s", example_unit("echod.socket",
	    7410));
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start echod.socket"), 0);
	ck_assert_str_eq(tu_sdbox_show("echod.socket", "ActiveState"),
	    "active");
	ck_assert_str_eq(tu_sdbox_show("echod-activated.service",
	    "ActiveState"), "inactive");
	for (tries = 0; tries < 50 && (s = dial(7410)) < 0; tries++)
		usleep(100000);
	ck_assert_int_ge(s, 0);
	ck_assert_msg(echoed(s, 10000), "no echo; %s", (tu_sdbox_run(out,
	    sizeof(out), "systemctl status echod-activated.service"), out));
	ck_assert_str_eq(tu_sdbox_show("echod-activated.service",
	    "ActiveState"), "active");
	ck_assert_int_gt(strtol(tu_sdbox_show("echod-activated.service",
	    "MainPID"), NULL, 10), 1);
	close(s);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out), "systemctl stop "
	    "echod-activated.service echod.socket"), 0);
	ck_assert_str_eq(tu_sdbox_show("echod-activated.service", "Result"),
	    "success");
	ck_assert_int_eq(dial(7410), -ECONNREFUSED);
}
END_TEST

static Suite *
activation_suite(void)
{
	Suite *s = suite_create("activation");
	TCase *tc = tu_tcase("activation");
	char why[256];

	tcase_add_loop_test(tc, bad_values_are_refused_with_a_clear_message,
	    0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, a_listen_pid_that_is_no_number_is_refused);
	tcase_add_test(tc, echod_refuses_bad_values_and_what_it_cannot_serve);
	if (access(SSA, X_OK) < 0) {
		printf("activation: systemd-socket-activate tests skipped, "
		    "no %s\n", SSA);
	} else {
		tcase_add_test(tc,
		    echod_serves_the_socket_systemd_socket_activate_passes);
		tcase_add_test(tc, echod_serves_only_the_socket_it_names);
		tcase_add_test(tc, echod_refuses_a_name_nobody_passed);
		tcase_add_test(tc,
		    the_daemon_gets_the_names_and_its_children_no_variables);
		tcase_add_test(tc, listen_pid_of_another_process_is_not_ours);
	}
	if (tu_sdbox_start(why, sizeof(why)) < 0)
		printf("activation: the_socket_unit_starts_echod_on_the_first_"
		    "connection skipped, %s\n", why);
	else
		tcase_add_test(tc,
		    the_socket_unit_starts_echod_on_the_first_connection);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(activation_suite)
