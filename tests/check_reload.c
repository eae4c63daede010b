/*
 * The reload chain: SIGHUP (the default map), dctx_reload() and
 * dctx_on_reload(), as systemd hears them on a $NOTIFY_SOCKET of the
 * test's own and as the real systemd runs them (tests/sdbox); and the
 * library's own reload step, which reopens stdout and stderr given by
 * path, seen from outside as logrotate sees it: rename, SIGHUP, and where
 * the lines land.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* A datagram socket like systemd's, bound to a path; $NOTIFY_SOCKET. */
static int
notify_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	return fd;
}

/* One datagram within ms, or "" (one of 4 buffers used in turn). */
static const char *
receive(int fd, int ms)
{
	static char buf[4][512];
	static int next;
	char *b = buf[next++ % 4];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	b[0] = '\0';
	if (poll(&p, 1, ms) == 1 && (n = recv(fd, b, 511, 0)) > 0)
		b[n] = '\0';
	return b;
}

/* CLOCK_MONOTONIC in microseconds, the clock of MONOTONIC_USEC=. */
static unsigned long long
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}

/*
 * A reload's first datagram: exactly "RELOADING=1\nMONOTONIC_USEC=N",
 * one datagram, N a time between from and the datagram's arrival.
 */
static unsigned long long
expect_reloading(int fd, unsigned long long from)
{
	const char *got = receive(fd, 3000);
	unsigned long long usec, to = now_usec();
	char tail;

	ck_assert_msg(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu%c", &usec,
	    &tail) == 1 && strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27) ==
	    0, "datagram: '%s'", got);
	ck_assert_msg(usec >= from && usec <= to, "MONOTONIC_USEC=%llu not "
	    "within [%llu, %llu]", usec, from, to);
	return usec;
}

/*
 * The helper in the foreground under our $NOTIFY_SOCKET, with a reload
 * step of ms and a shutdown step of 600 ms; once it said READY=1.
 */
static pid_t
start_notified(int fd, const char *ms)
{
	char want[64];
	pid_t pid;

	pid = tu_start_fg("--stdout", tu_path("out"), "--reload-step-ms", ms,
	    "--step", "s:async:600", NULL);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
	ck_assert_str_eq(receive(fd, 3000), want);
	return pid;
}

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

START_TEST(sighup_is_framed_reloading_then_ready_when_the_step_is_done)
{
	unsigned long long from, began;
	int fd = notify_socket(tu_path("notify"));
	pid_t pid = start_notified(fd, "400");

	from = now_usec();
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	began = expect_reloading(fd, from);
	ck_assert(tu_wait_file_contains(tu_path("out"), "reload step start 1",
	    3000));
	/* The step takes 400 ms: nothing while it runs... */
	ck_assert_str_eq(receive(fd, 200), "");
	ck_assert(strstr(tu_slurp(tu_path("out")), "reload step done") == NULL);
	/* ...then READY=1 alone, once it is done, not before. */
	ck_assert_str_eq(receive(fd, 3000), "READY=1");
	ck_assert_msg(now_usec() - began >= 400000, "READY=1 %llu us after "
	    "RELOADING=1", now_usec() - began);
	ck_assert(strstr(tu_slurp(tu_path("out")), "reload step done 1") != NULL);
	/* The daemon lives on: the old default action of SIGHUP killed. */
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(a_sighup_during_a_reload_runs_one_more_after_it)
{
	unsigned long long from, first, second;
	int fd = notify_socket(tu_path("notify")), i;
	pid_t pid = start_notified(fd, "500");

	from = now_usec();
	kill(pid, SIGHUP);
	first = expect_reloading(fd, from);
	ck_assert(tu_wait_file_contains(tu_path("out"), "reload step start 1",
	    3000));
	/* Three more while it runs (logrotate after systemctl reload). */
	for (i = 0; i < 3; i++) {
		kill(pid, SIGHUP);
		usleep(20000);
	}
	ck_assert_str_eq(receive(fd, 3000), "READY=1");
	/* One more reload, stamped after the first ended, and only one. */
	second = expect_reloading(fd, first);
	ck_assert_uint_gt(second, first + 400000);
	ck_assert_str_eq(receive(fd, 3000), "READY=1");
	ck_assert_str_eq(receive(fd, 800), "");
	ck_assert_int_eq(count(tu_slurp(tu_path("out")), "reload step start"),
	    2);
	tu_stop_cleanly(pid);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

/*
 * _i 0: SIGHUP once the shutdown chain runs (its step takes 600 ms) is
 * ignored.  _i 1: a reload running when SIGTERM comes is abandoned: no
 * READY=1 after STOPPING=1.  Either way the daemon exits 0.
 */
START_TEST(no_reload_once_the_daemon_is_stopping)
{
	int fd = notify_socket(tu_path("notify"));
	pid_t pid = start_notified(fd, "1000");

	if (_i == 1) {
		kill(pid, SIGHUP);
		expect_reloading(fd, 0);
		ck_assert(tu_wait_file_contains(tu_path("out"),
		    "reload step start 1", 3000));
	}
	kill(pid, SIGTERM);
	ck_assert_str_eq(receive(fd, 3000), "STOPPING=1");
	ck_assert(tu_wait_file_contains(tu_path("out"), "step s start", 3000));
	kill(pid, SIGHUP);
	/* Nothing more is said, and the stop ends cleanly. */
	ck_assert_str_eq(receive(fd, 1500), "");
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	ck_assert_int_eq(count(tu_slurp(tu_path("out")), "reload step start"),
	    _i);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

/*
 * A daemon that has not told systemd it is ready runs a reload without
 * framing it: a READY=1 at its end would pass for a successful start.
 * _i 0: not ready yet (manual readiness, never given); _i 1: it told
 * systemd its start failed (STATUS=, ERRNO=) and its loop still runs.
 */
START_TEST(a_reload_before_readiness_is_not_told)
{
	int fd = notify_socket(tu_path("notify"));
	pid_t pid;

	pid = tu_start_fg("--stdout", tu_path("out"), "--reload-step-ms", "0",
	    "--manual-ready", _i == 0 ? "never" : "no database",
	    "--serve-after-failure", NULL);
	if (_i == 1)
		ck_assert_str_eq(receive(fd, 3000), "STATUS=no database\n"
		    "ERRNO=5");
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	if (_i == 1)
		ck_assert(tu_wait_file_contains(tu_path("out"), "failure told",
		    3000));
	kill(pid, SIGHUP);
	ck_assert(tu_wait_file_contains(tu_path("out"), "reload step done 1",
	    3000));
	ck_assert_str_eq(receive(fd, 500), "");
	kill(pid, SIGTERM);
	ck_assert_str_eq(receive(fd, 3000), "STOPPING=1");
	tu_wait_gone(pid, 3000);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(a_program_that_maps_sighup_replaces_the_reload)
{
	char sig[16], usr1[16], usr2[16], want[64];
	int fd = notify_socket(tu_path("notify"));
	pid_t pid;

	snprintf(sig, sizeof(sig), "%d", SIGHUP);
	snprintf(usr1, sizeof(usr1), "%d", SIGUSR1);
	snprintf(usr2, sizeof(usr2), "%d", SIGUSR2);
	/* SIGHUP to its own callback, SIGUSR1 to one that calls
	 * dctx_reload(), SIGUSR2 to the reload (dctx_reload_on_signal()). */
	pid = tu_start_fg("--stdout", tu_path("out"), "--reload-step-ms", "0",
	    "--signal", sig, "--reload-by-call", usr1, "--reload-on", usr2,
	    NULL);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
	ck_assert_str_eq(receive(fd, 3000), want);
	kill(pid, SIGHUP);
	snprintf(want, sizeof(want), "signal %d in-loop 1", SIGHUP);
	ck_assert(tu_wait_file_contains(tu_path("out"), want, 3000));
	ck_assert_str_eq(receive(fd, 300), "");
	ck_assert(strstr(tu_slurp(tu_path("out")), "reload step") == NULL);
	/* The program may still reload, by call... */
	kill(pid, SIGUSR1);
	expect_reloading(fd, 0);
	ck_assert_str_eq(receive(fd, 3000), "READY=1");
	snprintf(want, sizeof(want), "reload call %d: 0", SIGUSR1);
	ck_assert(tu_wait_file_contains(tu_path("out"), want, 3000));
	/* ...or by another signal. */
	kill(pid, SIGUSR2);
	expect_reloading(fd, 0);
	ck_assert_str_eq(receive(fd, 3000), "READY=1");
	ck_assert(tu_wait_file_contains(tu_path("out"), "reload step done 2",
	    3000));
	tu_stop_cleanly(pid);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

/* Whether path holds needle n times within ms. */
static int
wait_count(const char *path, const char *needle, int n, int ms)
{
	int waited;

	for (waited = 0; waited <= ms; waited += 10) {
		if (count(tu_slurp(path), needle) >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* echod, detached, its log (stderr) in P, its stdout in Q; its pid. */
static pid_t
start_echod(const char *port)
{
	struct launch l;
	pid_t pid;

	tu_program = ECHOD_PATH;
	tu_launch(&l, "--pidfile", tu_path("e.pid"), "--listen", port,
	    "--stderr", tu_path("P"), "--stdout", tu_path("Q"), NULL);
	tu_program = HELPER_PATH;
	ck_assert_msg(l.status == 0, "echod: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("e.pid"));
	ck_assert(tu_alive(pid));
	ck_assert(tu_wait_file_contains(tu_path("P"), "listening on", 3000));
	return pid;
}

/* Rename P and Q as logrotate does, SIGHUP, wait for the reload's line. */
static void
rotate(pid_t pid, const char *p_to, const char *q_to, const char *line_in)
{
	if (p_to != NULL)
		ck_assert_int_eq(rename(tu_path("P"), tu_path(p_to)), 0);
	if (q_to != NULL)
		ck_assert_int_eq(rename(tu_path("Q"), tu_path(q_to)), 0);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	ck_assert_msg(tu_wait_file_contains(tu_path(line_in), "echod: reloaded",
	    3000), "%s: %s", line_in, tu_slurp(tu_path(line_in)));
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode;
}

START_TEST(logrotate_rename_then_sighup_moves_the_log_to_the_new_file)
{
	pid_t pid = start_echod("127.0.0.1:7350");

	rotate(pid, "P.1", "Q.1", "P");
	/* The old lines stay in the rotated file, the new go to the new. */
	ck_assert(strstr(tu_slurp(tu_path("P.1")), "listening on") != NULL);
	ck_assert(strstr(tu_slurp(tu_path("P.1")), "reloaded") == NULL);
	ck_assert(strstr(tu_slurp(tu_path("P")), "listening on") == NULL);
	/* Made by the daemon: 0640, its umask (0) takes nothing away. */
	ck_assert_uint_eq(mode_of(tu_path("P")) & 07777, 0640);
	/* stdout too: a new Q was made. */
	ck_assert_uint_eq(mode_of(tu_path("Q")) & 07777, 0640);
	/* The stop's lines land in the new P. */
	tu_stop_cleanly(pid);
	ck_assert(strstr(tu_slurp(tu_path("P")), "terminating on signal") !=
	    NULL);
	ck_assert(strstr(tu_slurp(tu_path("P.1")), "terminating") == NULL);
	ck_assert(strstr(tu_slurp(tu_path("P")), "stopped, status 0") != NULL);
}
END_TEST

/*
 * The path cannot be reopened: _i 0 a directory took its place, _i 1 a
 * symbolic link (never followed: its target stays empty).  The daemon
 * lives on, logs to the old file, and says why there.
 */
START_TEST(a_reopen_that_fails_keeps_the_old_file)
{
	/* A port each: a failed loop leaves its echod until the end. */
	pid_t pid = start_echod(_i == 0 ? "127.0.0.1:7351" :
	    "127.0.0.1:7354");
	char want[600];

	ck_assert_int_eq(rename(tu_path("P"), tu_path("P.1")), 0);
	if (_i == 0)
		ck_assert_int_eq(mkdir(tu_path("P"), 0755), 0);
	else {
		ck_assert_int_eq(close(open(tu_path("decoy"), O_CREAT | O_WRONLY,
		    0644)), 0);
		ck_assert_int_eq(symlink(tu_path("decoy"), tu_path("P")), 0);
	}
	rotate(pid, NULL, NULL, "P.1");
	snprintf(want, sizeof(want), "echod: reload: stderr %s: reopen: %s; "
	    "still writing to the old file\n", tu_path("P"), _i == 0 ?
	    "Is a directory" : "Too many levels of symbolic links");
	ck_assert_msg(strstr(tu_slurp(tu_path("P.1")), want) != NULL,
	    "stderr: %s", tu_slurp(tu_path("P.1")));
	ck_assert(tu_alive(pid));
	if (_i == 1)
		ck_assert_str_eq(tu_slurp(tu_path("decoy")), "");
	/* Still there: a second reload logs to the old file again. */
	kill(pid, SIGHUP);
	ck_assert_msg(wait_count(tu_path("P.1"), "echod: reloaded", 2, 3000),
	    "P.1: %s", tu_slurp(tu_path("P.1")));
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * As the daemon's user: a reopen creates the new file as that user, and
 * where the directory is not writable by it any more, fails and keeps
 * the old file.  Root only: --user.
 */
START_TEST(a_reopen_is_done_as_the_daemon_user)
{
	struct passwd *pw = getpwnam("nobody");
	char want[600];
	struct stat st;
	pid_t pid;

	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(mkdir(tu_path("logs"), 0755), 0);
	ck_assert_int_eq(chown(tu_path("logs"), pw->pw_uid, pw->pw_gid), 0);
	tu_program = ECHOD_PATH;
	{
		struct launch l;
		tu_launch(&l, "--pidfile", tu_path("e.pid"), "--listen",
		    "127.0.0.1:7352", "--stderr", tu_path("logs/P"),
		    "--stdout", tu_path("logs/Q"), "--user", pw->pw_name, NULL);
		tu_program = HELPER_PATH;
		ck_assert_msg(l.status == 0, "echod: %d %s", l.status, l.err);
	}
	pid = tu_read_pidfile(tu_path("e.pid"));
	ck_assert(tu_wait_file_contains(tu_path("logs/P"), "listening on",
	    3000));
	/* Opened at the start as root: root's file. */
	ck_assert_int_eq(stat(tu_path("logs/P"), &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_int_eq(rename(tu_path("logs/P"), tu_path("logs/P.1")), 0);
	kill(pid, SIGHUP);
	ck_assert(tu_wait_file_contains(tu_path("logs/P"), "echod: reloaded",
	    3000));
	ck_assert_int_eq(stat(tu_path("logs/P"), &st), 0);
	ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	/* The directory closed to the user: the reopen fails, as the user. */
	ck_assert_int_eq(rename(tu_path("logs/P"), tu_path("logs/P.2")), 0);
	ck_assert_int_eq(chmod(tu_path("logs"), 0555), 0);
	kill(pid, SIGHUP);
	snprintf(want, sizeof(want), "echod: reload: stderr %s: reopen: "
	    "Permission denied; still writing to the old file",
	    tu_path("logs/P"));
	ck_assert_msg(tu_wait_file_contains(tu_path("logs/P.2"), want, 3000),
	    "stderr: %s", tu_slurp(tu_path("logs/P.2")));
	ck_assert(tu_wait_file_contains(tu_path("logs/P.2"), "echod: reloaded",
	    3000));
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * Inside a chroot, a path under the jail is reopened by its part inside;
 * one outside cannot be reached and keeps the old file.  Root only.
 */
START_TEST(a_reopen_inside_a_chroot)
{
	char jail[512], inside[600], want[700];
	struct launch l;
	pid_t pid;

	snprintf(jail, sizeof(jail), "%s", tu_path("jail"));
	snprintf(inside, sizeof(inside), "%s/out", jail);
	ck_assert_int_eq(mkdir(jail, 0755), 0);
	tu_asan_option("detect_leaks=0");
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--chroot", jail,
	    "--stdout-path", inside, "--stderr-path", tu_path("err"),
	    "--reload-step-ms", "0", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_wait_file_contains(inside, "open pid", 3000));
	ck_assert_int_eq(rename(inside, tu_path("jail/out.1")), 0);
	ck_assert_int_eq(rename(tu_path("err"), tu_path("err.1")), 0);
	kill(pid, SIGHUP);
	ck_assert(tu_wait_file_contains(inside, "reload step done 1", 3000));
	ck_assert(strstr(tu_slurp(tu_path("jail/out.1")), "reload") == NULL);
	snprintf(want, sizeof(want), "dctx-helper: reload: stderr %s: reopen: "
	    "outside the chroot, out of reach; still writing to the old file",
	    tu_path("err"));
	ck_assert_msg(tu_wait_file_contains(tu_path("err.1"), want, 3000),
	    "err.1: %s", tu_slurp(tu_path("err.1")));
	ck_assert_int_ne(access(tu_path("err"), F_OK), 0);
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * Under the real systemd: the unit of examples/systemd/echod.service,
 * with sed changing echod's path, its files (/var/log is the host's:
 * /run is the box's own) and its port.
 */
static void
example_unit(const char *name, const char *execstart)
{
	const char *src = getenv("abs_top_srcdir");
	char out[4096], start[1100];

	ck_assert_ptr_nonnull(src);
	if (execstart != NULL)
		snprintf(start, sizeof(start), "-e \"s|^ExecStart=.*|ExecStart="
		    "%s|\"", execstart);
	else
		snprintf(start, sizeof(start), "-e \"s|/usr/local/bin/echod|%s|"
		    "\"", ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out), "sed %s "
	    "-e \"s|/var/log/echod.log|/run/%s.log|g\" "
	    "-e \"s|/run/echod/|/run/%s/|g\" "
	    "-e \"s|RuntimeDirectory=echod|RuntimeDirectory=%s|\" "
	    "-e \"s|127.0.0.1:7777|127.0.0.1:7353|\" "
	    "%s/examples/systemd/echod.service >/run/systemd/system/%s.service "
	    "&& systemctl daemon-reload", start, name, name, name, src, name),
	    0);
}

static long long
now_ms(void)
{
	return (long long)(now_usec() / 1000);
}

START_TEST(systemctl_reload_runs_the_reload_and_waits_for_it)
{
	const char *log = tu_sdbox_path("/run/t-reload-echod.log");
	char rotated[600], out[4096];

	example_unit("t-reload-echod", NULL);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-reload-echod.service"), 0);
	ck_assert(tu_wait_file_contains(log, "listening on", 3000));
	snprintf(rotated, sizeof(rotated), "%s", tu_sdbox_path(
	    "/run/t-reload-echod.log.1"));
	ck_assert_int_eq(rename(log, rotated), 0);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl reload t-reload-echod.service"), 0);
	/* When systemctl returns, the reload's line is there, in the new
	 * file. */
	ck_assert_msg(strstr(tu_slurp(log), "echod: reloaded") != NULL,
	    "log: %s", tu_slurp(log));
	ck_assert(strstr(tu_slurp(rotated), "reloaded") == NULL);
	ck_assert_str_eq(tu_sdbox_show("t-reload-echod.service",
	    "ActiveState"), "active");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-reload-echod.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-reload-echod.service", "Result"),
	    "success");
	ck_assert(strstr(tu_slurp(log), "stopped, status 0") != NULL);
}
END_TEST

/*
 * The unit's ExecReload= lines with a daemon whose reload takes 2 s:
 * systemctl reload returns after it, with its line written; then 15
 * reloads of a 100 ms step, each done when systemctl returns (a bare
 * `kill -HUP` loses about one in ten of those races on systemd 252:
 * bench/RESULTS.md, section 7).
 */
START_TEST(systemctl_reload_waits_for_a_slow_reload_step)
{
	const char *file = tu_sdbox_path("/run/t-reload-slow.out");
	char exec[1024], out[4096], want[64];
	long long t0, took;
	int i;

	snprintf(exec, sizeof(exec), "%s --reload-step-ms 2000 --stdout "
	    "/run/t-reload-slow.out", HELPER_PATH);
	example_unit("t-reload-slow", exec);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-reload-slow.service"), 0);
	t0 = now_ms();
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl reload t-reload-slow.service"), 0);
	took = now_ms() - t0;
	ck_assert_msg(took >= 1900, "systemctl reload took %lld ms", took);
	ck_assert(strstr(tu_slurp(file), "reload step done 1") != NULL);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-reload-slow.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-reload-slow.service", "Result"),
	    "success");

	snprintf(exec, sizeof(exec), "%s --reload-step-ms 100 --stdout "
	    "/run/t-reload-fast.out", HELPER_PATH);
	example_unit("t-reload-fast", exec);
	file = tu_sdbox_path("/run/t-reload-fast.out");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-reload-fast.service"), 0);
	for (i = 1; i <= 15; i++) {
		ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
		    "systemctl reload t-reload-fast.service"), 0);
		snprintf(want, sizeof(want), "reload step done %d\n", i);
		ck_assert_msg(strstr(tu_slurp(file), want) != NULL,
		    "reload %d: systemctl returned before the step was done", i);
	}
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-reload-fast.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-reload-fast.service", "Result"),
	    "success");
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tu_tcase("reload"), *sd;
	char why[256];

	tcase_add_test(tc, sighup_is_framed_reloading_then_ready_when_the_step_is_done);
	tcase_add_test(tc, a_sighup_during_a_reload_runs_one_more_after_it);
	tcase_add_loop_test(tc, no_reload_once_the_daemon_is_stopping, 0, 2);
	tcase_add_test(tc, a_program_that_maps_sighup_replaces_the_reload);
	tcase_add_loop_test(tc, a_reload_before_readiness_is_not_told, 0, 2);
	tcase_add_test(tc, logrotate_rename_then_sighup_moves_the_log_to_the_new_file);
	tcase_add_loop_test(tc, a_reopen_that_fails_keeps_the_old_file, 0, 2);
	if (geteuid() == 0) {
		tcase_add_test(tc, a_reopen_is_done_as_the_daemon_user);
		tcase_add_test(tc, a_reopen_inside_a_chroot);
	} else
		printf("reload: skipped a_reopen_is_done_as_the_daemon_user, "
		    "a_reopen_inside_a_chroot: they need root\n");
	suite_add_tcase(s, tc);
	if (tu_sdbox_start(why, sizeof(why)) < 0) {
		printf("reload under systemd: skipped, %s\n", why);
		return s;
	}
	sd = tu_tcase("systemd");
	tcase_set_timeout(sd, 60);
	tcase_add_test(sd, systemctl_reload_runs_the_reload_and_waits_for_it);
	tcase_add_test(sd, systemctl_reload_waits_for_a_slow_reload_step);
	suite_add_tcase(s, sd);
	return s;
}

TU_MAIN(reload_suite)
