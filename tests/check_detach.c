/* Detaching and the launcher handshake, watched from outside. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(detached_daemon_is_in_its_own_session_and_not_leader)
{
	struct launch l;
	pid_t pid;
	char ppid[32];

	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	ck_assert_str_eq(l.err, "");
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_gt(pid, 0);
	ck_assert(tu_alive(pid));
	/* setsid then fork again: a session of its own it does not lead. */
	ck_assert_int_ne(getsid(pid), getsid(0));
	ck_assert_int_ne(getsid(pid), pid);
	ck_assert_int_eq(getpgid(pid), getsid(pid));
	/* The launcher and the middle child are gone: we, the subreaper,
	 * are its parent now. */
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	ck_assert_str_eq(tu_status_field(pid, "PPid:"), ppid);
	/* No controlling terminal: field 7 of /proc/PID/stat is 0. */
	{
		char path[64];
		FILE *f;
		int tty = -1;
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fscanf(f, "%*d %*s %*c %*d %*d %*d %d", &tty), 1);
		fclose(f);
		ck_assert_int_eq(tty, 0);
	}
}
END_TEST

START_TEST(foreground_stays_in_the_callers_session)
{
	pid_t pid = tu_start_fg("--foreground", "--stdout", tu_path("out"), NULL);

	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	ck_assert_int_eq(getsid(pid), getsid(0));
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(auto_detaches_from_a_shell)
{
	struct launch l;

	/* Our parent is not pid 1, NOTIFY_SOCKET is unset: it detaches. */
	unsetenv("NOTIFY_SOCKET");
	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
}
END_TEST

START_TEST(auto_stays_in_front_under_notify_socket)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	pid_t pid;

	/* A listening socket, as systemd's: the daemon connects to it. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tu_path("notify"));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), NULL);
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	/* The pid that started is the daemon: no fork happened. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(auto_detaches_with_a_socketpair_on_stdin)
{
	struct launch l;
	int sv[2];

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	tu_stdin_fd = sv[0];
	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
}
END_TEST

START_TEST(auto_stays_in_front_with_an_inet_socket_on_stdin)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin;
	pid_t pid;

	unsetenv("NOTIFY_SOCKET");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	tu_stdin_fd = s;
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), NULL);
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
}
END_TEST

START_TEST(launcher_reports_a_failure_after_the_fork)
{
	struct launch l;
	char want[600];

	snprintf(want, sizeof(want), "chdir(%s): No such file or directory",
	    tu_path("missing"));
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--workdir",
	    tu_path("missing"), NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	/* Nothing left: no pidfile, no process. */
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(manual_ready_reports_ready)
{
	struct launch l;

	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", "ready", NULL);
	ck_assert_int_eq(l.status, 0);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
}
END_TEST

START_TEST(manual_failure_reaches_the_launcher)
{
	struct launch l;

	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", "cannot bind 127.0.0.1:1: Permission denied",
	    "--exit-after-open", NULL);
	ck_assert_int_eq(l.status, 3);
	ck_assert_msg(strstr(l.err, "cannot bind 127.0.0.1:1: Permission denied")
	    != NULL, "stderr: %s", l.err);
	ck_assert(tu_no_children(3000));
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_daemon_that_dies_before_ready_fails_the_launcher)
{
	struct launch l;

	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", "crash", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "exited before it was ready") != NULL,
	    "stderr: %s", l.err);
	ck_assert(tu_no_children(3000));
	/* The launcher removed the file the dead daemon left unlocked. */
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_failed_second_fork_leaves_nothing_behind)
{
	struct launch l;

	/* The helper's fork() fails its second call: the middle process's. */
	setenv("DCTX_HELPER_FAIL_FORK", "2", 1);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "second fork: Resource temporarily unavailable")
	    != NULL, "stderr: %s", l.err);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(a_failure_frees_the_pidfile_before_the_launcher_hears_it)
{
	struct launch l;

	/*
	 * Removing the pidfile takes a second: a daemon that told its
	 * launcher first would still hold the lock when the restart below
	 * comes, and the restart would be refused as "already running".
	 */
	setenv("DCTX_HELPER_UNLINK_DELAY", "1000", 1);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", "cannot bind 127.0.0.1:1: Permission denied",
	    "--exit-after-open", NULL);
	unsetenv("DCTX_HELPER_UNLINK_DELAY");
	ck_assert_int_eq(l.status, 3);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_msg(l.status == 0, "restart: status %d, stderr: %s",
	    l.status, l.err);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
}
END_TEST

START_TEST(a_daemon_closing_before_ready_frees_the_pidfile_first)
{
	struct launch l;

	/* dctx_close() before readiness: the same rule as above. */
	setenv("DCTX_HELPER_UNLINK_DELAY", "1000", 1);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", "never", "--exit-after-open", NULL);
	unsetenv("DCTX_HELPER_UNLINK_DELAY");
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "closed before it was ready") != NULL,
	    "stderr: %s", l.err);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_msg(l.status == 0, "restart: status %d, stderr: %s",
	    l.status, l.err);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("d.pid"))));
}
END_TEST

START_TEST(a_foreground_failure_after_the_stdio_step_reaches_stderr)
{
	struct tu_fd fds[64];
	const char *line;
	size_t n, i;
	pid_t pid;

	/*
	 * The privilege drop fails after stdio pointed fd 2 at /dev/null:
	 * the helper's message must still reach the stderr it started with,
	 * as under systemd's Type=simple.
	 */
	setenv("DCTX_HELPER_FAIL_SETRESUID", "1", 1);
	pid = tu_start_fg("--foreground", "--uid", "65534", "--gid", "65534",
	    "--pidfile", tu_path("d.pid"), NULL);
	unsetenv("DCTX_HELPER_FAIL_SETRESUID");
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 1);
	line = tu_slurp(tu_path("fg.stderr"));
	ck_assert_msg(strstr(line, "dctx-helper: setres") != NULL &&
	    strstr(line, "(65534): Operation not permitted") != NULL,
	    "stderr: '%s'", line);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);

	/* A start that succeeds keeps no copy of that stderr open. */
	pid = tu_start_fg("--foreground", "--stdout", tu_path("out"), NULL);
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	n = tu_fds(pid, fds, 64);
	for (i = 0; i < n; i++)
		ck_assert_msg(fds[i].fd <= 2 ||
		    strstr(fds[i].target, "fg.stderr") == NULL,
		    "fd %d is the caller's stderr", fds[i].fd);
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(a_child_holding_the_pipe_does_not_hide_a_crash)
{
	struct launch l;
	const char *out;
	pid_t holder;

	/*
	 * The daemon forks a child that sleeps 15 s with the pipe open, then
	 * crashes.  The launcher must report the crash while that child still
	 * lives, not when it lets go of the pipe.
	 */
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--fork-holder", "15000", "--manual-ready", "crash",
	    NULL);
	out = strstr(tu_slurp(tu_path("out")), "holder pid ");
	ck_assert_ptr_nonnull(out);
	holder = (pid_t)atol(out + strlen("holder pid "));
	tu_track(holder);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "exited before it was ready") != NULL,
	    "stderr: %s", l.err);
	ck_assert_msg(tu_alive(holder), "the launcher waited for the holder");
}
END_TEST

START_TEST(a_daemon_never_ready_is_stopped_at_the_start_timeout)
{
	struct launch l;

	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--manual-ready", "never", "--start-timeout", "500",
	    NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "was not ready within 500 ms: stopped it")
	    != NULL, "stderr: %s", l.err);
	/* SIGTERM first: the daemon ran its shutdown and exited cleanly. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "stopped 0", 3000));
	ck_assert(tu_no_children(3000));
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_daemon_ignoring_sigterm_is_killed_after_the_grace)
{
	struct launch l;

	/*
	 * SIGTERM ignored: SIGKILL after the grace period; the launcher
	 * removes the pidfile the killed daemon left.  The mapped SIGUSR1
	 * keeps the loop running once SIGTERM's event is gone.
	 */
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--ignore-later", "15", "--signal", "10",
	    "--manual-ready", "never",
	    "--start-timeout", "300", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "was not ready within 300 ms: stopped it")
	    != NULL, "stderr: %s", l.err);
	ck_assert(strstr(tu_slurp(tu_path("out")), "stopped") == NULL);
	ck_assert(tu_no_children(3000));
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_start_timeout_before_the_daemons_pid_stops_it_all)
{
	struct launch l;
	pid_t late;

	/*
	 * Every fork takes 300 ms: the start timeout passes while the
	 * middle process is still making the daemon, before the launcher
	 * knows the daemon's pid.  It must stop what there is (the middle
	 * process's group), and say nothing untrue.
	 */
	setenv("DCTX_HELPER_FORK_DELAY", "300", 1);
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--start-timeout", "100", NULL);
	unsetenv("DCTX_HELPER_FORK_DELAY");
	/* Long enough for a daemon left behind to come up and say so. */
	usleep(1000 * 1000);
	if ((late = tu_read_pidfile(tu_path("d.pid"))) > 0)
		tu_track(late);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "not ready within 100 ms") != NULL &&
	    strstr(l.err, "stopped it") != NULL &&
	    strstr(l.err, "pid 0") == NULL, "stderr: %s", l.err);
	ck_assert_msg(strstr(tu_slurp(tu_path("out")), "open pid") == NULL,
	    "a daemon came up: %s", tu_slurp(tu_path("out")));
	ck_assert_int_eq(late, 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(a_daemon_closing_its_report_pipe_is_watched_until_it_ends)
{
	struct launch l;
	pid_t pid;

	/*
	 * The daemon closes every descriptor it does not know, the
	 * launcher's pipe with them, and lives on: the end of file is not
	 * its death.  The launcher watches it until the start timeout
	 * (case 0: then stops it) or its exit (case 1).
	 */
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), "--manual-ready", "never", "--close-all-fds",
	    _i == 0 ? "0" : "500", "--start-timeout", _i == 0 ? "500" : "10000",
	    NULL);
	ck_assert_msg(tu_wait_file_contains(tu_path("out"), "open pid", 3000),
	    "out: %s", tu_slurp(tu_path("out")));
	pid = (pid_t)atol(strstr(tu_slurp(tu_path("out")), "open pid ") + 9);
	tu_track(pid);
	ck_assert_int_eq(l.status, 1);
	if (_i == 0) {
		ck_assert_msg(strstr(l.err, "closed its report pipe before it "
		    "was ready") != NULL && strstr(l.err, "stopped it") != NULL,
		    "stderr: %s", l.err);
		ck_assert_int_eq(tu_wait_gone(pid, 3000), 128 + SIGTERM);
	} else {
		ck_assert_msg(strstr(l.err, "exited before it was ready") !=
		    NULL, "stderr: %s", l.err);
		/* The launcher answered once the daemon was gone, not at
		 * the end of file. */
		ck_assert_msg(strstr(tu_slurp(tu_path("out")), "exiting") !=
		    NULL, "out: %s", tu_slurp(tu_path("out")));
	}
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(a_long_failure_message_keeps_its_reason)
{
	char msg[700], *nl;
	struct launch l;

	/* A message longer than the 511 bytes the pipe carries. */
	memset(msg, 'x', sizeof(msg));
	memcpy(msg, "listen on ", 10);
	snprintf(msg + 610, sizeof(msg) - 610, ": Address already in use");
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--manual-ready", msg, NULL);
	ck_assert_int_eq(l.status, 3);
	nl = strchr(l.err, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_msg(strncmp(l.err, "dctx-helper: listen on xxx", 26) == 0 &&
	    strstr(l.err, "xxx...xxx") != NULL &&
	    strlen(l.err) < 13 + 512 && strcmp(l.err + strlen(l.err) - 25,
	    "x: Address already in use") == 0, "stderr: %s", l.err);
	/* The helper closed and exited after its failure. */
	ck_assert(tu_no_children(3000));
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

static Suite *
detach_suite(void)
{
	Suite *s = suite_create("detach");
	TCase *tc = tu_tcase("detach");

	tcase_add_test(tc, detached_daemon_is_in_its_own_session_and_not_leader);
	tcase_add_test(tc, foreground_stays_in_the_callers_session);
	tcase_add_test(tc, auto_detaches_from_a_shell);
	tcase_add_test(tc, auto_stays_in_front_under_notify_socket);
	tcase_add_test(tc, auto_detaches_with_a_socketpair_on_stdin);
	tcase_add_test(tc, auto_stays_in_front_with_an_inet_socket_on_stdin);
	tcase_add_test(tc, launcher_reports_a_failure_after_the_fork);
	tcase_add_test(tc, manual_ready_reports_ready);
	tcase_add_test(tc, manual_failure_reaches_the_launcher);
	tcase_add_test(tc, a_daemon_that_dies_before_ready_fails_the_launcher);
	tcase_add_test(tc, a_failed_second_fork_leaves_nothing_behind);
	tcase_add_test(tc, a_failure_frees_the_pidfile_before_the_launcher_hears_it);
	tcase_add_test(tc, a_daemon_closing_before_ready_frees_the_pidfile_first);
	tcase_add_test(tc, a_foreground_failure_after_the_stdio_step_reaches_stderr);
	tcase_add_test(tc, a_child_holding_the_pipe_does_not_hide_a_crash);
	tcase_add_test(tc, a_daemon_never_ready_is_stopped_at_the_start_timeout);
	tcase_add_test(tc, a_daemon_ignoring_sigterm_is_killed_after_the_grace);
	tcase_add_test(tc, a_start_timeout_before_the_daemons_pid_stops_it_all);
	tcase_add_loop_test(tc,
	    a_daemon_closing_its_report_pipe_is_watched_until_it_ends, 0, 2);
	tcase_add_test(tc, a_long_failure_message_keeps_its_reason);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(detach_suite)
