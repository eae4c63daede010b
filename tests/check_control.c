/*
 * Control through the pidfile's lock: echod --status, --stop and --reload
 * against running, stopped, stale and hung daemons, and the library calls
 * under them (dctx_pidfile_status(), dctx_pidfile_kill(),
 * dctx_pidfile_stop()), which never daemonize and may run here.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

/* util-linux's, in every Debian (it is Essential). */
#define SETPRIV_PATH "/usr/bin/setpriv"

static char out[4096];

/*
 * A port of this file's range, 7450-7469, free now; echod may still find
 * it taken when it binds, and the caller tries another.
 */
static const char *
pick_listen(void)
{
	static char listen_on[32];
	static unsigned turn;
	struct sockaddr_in sin;
	int s, i, ok;

	for (i = 0; i < 40; i++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((in_port_t)(7450 + (getpid() + turn++) %
		    20));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok) {
			snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u",
			    (unsigned)ntohs(sin.sin_port));
			return listen_on;
		}
	}
	ck_abort_msg("no free port in 7450-7469");
	return NULL;
}

/* echod, detached, holding tu_path("echod.pid"), logging to "out". */
static pid_t
start_echod(void)
{
	struct launch l;
	pid_t pid;
	int tries;

	tu_program = ECHOD_PATH;
	for (tries = 0; tries < 10; tries++) {
		tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--listen",
		    pick_listen(), "--stdout", tu_path("out"), "--stderr",
		    tu_path("out"), NULL);
		if (l.status == 0 || strstr(l.err, "in use") == NULL)
			break;
	}
	tu_program = HELPER_PATH;
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("echod.pid"));
	ck_assert(tu_alive(pid));
	return pid;
}

/* echod ACTION --pidfile tu_path("echod.pid"): its exit status, with out. */
static int
echod_ctl(const char *action, const char *extra, const char *value)
{
	return tu_run(out, sizeof(out), ECHOD_PATH, action, "--pidfile",
	    tu_path("echod.pid"), extra, value, NULL);
}

/* A process of ours that merely lives: one a stale pidfile could name.
 * Every signal it could get kills it, so alive means never signaled. */
static pid_t
bystander(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	tu_track(pid);
	return pid;
}

/* A pid that names no process: a child of ours, gone and reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* Write the pidfile as a dead daemon left it: "PID\n", nobody's lock. */
static void
leave_pidfile(pid_t pid)
{
	FILE *f = fopen(tu_path("echod.pid"), "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%ld\n", (long)pid);
	ck_assert_int_eq(fclose(f), 0);
}

static void
assert_out(const char *want)
{
	ck_assert_msg(strcmp(out, want) == 0, "output '%s', wanted '%s'", out,
	    want);
}

START_TEST(status_of_a_running_echod_names_its_pid)
{
	char want[128], before[64];
	pid_t pid = start_echod();
	struct stat st1, st2;

	ck_assert_int_eq(stat(tu_path("echod.pid"), &st1), 0);
	snprintf(before, sizeof(before), "%s", tu_slurp(tu_path("echod.pid")));
	ck_assert_int_eq(echod_ctl("--status", NULL, NULL), 0);
	snprintf(want, sizeof(want), "echod: running as pid %ld\n", (long)pid);
	assert_out(want);
	/* Only looked: the same file, the same pid, the daemon untouched. */
	ck_assert_int_eq(stat(tu_path("echod.pid"), &st2), 0);
	ck_assert(st1.st_ino == st2.st_ino);
	ck_assert_str_eq(tu_slurp(tu_path("echod.pid")), before);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(status_and_stop_without_a_pidfile_say_not_running)
{
	ck_assert_int_eq(echod_ctl("--status", NULL, NULL), 3);
	assert_out("echod: not running\n");
	ck_assert_int_eq(echod_ctl("--stop", NULL, NULL), 0);
	assert_out("echod: not running\n");
	ck_assert_int_eq(echod_ctl("--reload", NULL, NULL), 7);
	assert_out("echod: not running\n");
	/* No daemon was started, no pidfile made by looking. */
	ck_assert(tu_no_children(200));
	ck_assert_int_ne(access(tu_path("echod.pid"), F_OK), 0);
}
END_TEST

/*
 * A file left by a daemon that died: with a pid that names nobody (0), or,
 * worse, one that names a live unrelated process now (1).  Nobody holds
 * the lock, so nobody is signaled, whatever the pid names.
 */
START_TEST(a_stale_pidfile_is_dead_and_its_pid_never_signaled)
{
	pid_t other = _i == 0 ? dead_pid() : bystander();
	char want[600], before[64];

	leave_pidfile(other);
	snprintf(before, sizeof(before), "%s", tu_slurp(tu_path("echod.pid")));
	snprintf(want, sizeof(want), "echod: dead, pidfile %s left\n",
	    tu_path("echod.pid"));
	ck_assert_int_eq(echod_ctl("--status", NULL, NULL), 1);
	assert_out(want);
	ck_assert_int_eq(echod_ctl("--stop", "--stop-timeout", "300"), 0);
	assert_out(want);
	ck_assert_int_eq(echod_ctl("--reload", NULL, NULL), 7);
	assert_out(want);
	usleep(100 * 1000);
	if (_i == 1)
		ck_assert_msg(tu_alive(other), "the unrelated pid %ld was "
		    "signaled", (long)other);
	/* Left as it was: a start takes it over. */
	ck_assert_str_eq(tu_slurp(tu_path("echod.pid")), before);
}
END_TEST

START_TEST(status_that_cannot_tell_is_4)
{
	char want[600];

	/* A directory where the pidfile should be. */
	ck_assert_int_eq(mkdir(tu_path("echod.pid"), 0755), 0);
	ck_assert_int_eq(echod_ctl("--status", NULL, NULL), 4);
	snprintf(want, sizeof(want), "echod: cannot tell: pidfile %s: Is a "
	    "directory\n", tu_path("echod.pid"));
	assert_out(want);
	/* A usage error under --status is 4 too: LSB's 2 means "dead". */
	ck_assert_int_eq(tu_run(out, sizeof(out), ECHOD_PATH, "--status",
	    NULL), 4);
	assert_out("echod: --status needs --pidfile PATH\n");
	ck_assert_int_eq(tu_run(out, sizeof(out), ECHOD_PATH, "--stop",
	    NULL), 2);
}
END_TEST

START_TEST(stop_terminates_cleanly_and_returns_once_the_lock_is_gone)
{
	pid_t pid = start_echod();
	struct launch l;
	char want[128];

	ck_assert_int_eq(echod_ctl("--stop", NULL, NULL), 0);
	snprintf(want, sizeof(want), "echod: stopped pid %ld\n", (long)pid);
	assert_out(want);
	/* The lock is released when it returns: a start right away works. */
	ck_assert_int_eq(dctx_pidfile_status(tu_path("echod.pid"), NULL),
	    DCTX_PIDFILE_NOT_RUNNING);
	/* It was SIGTERM, and the drain: exit status 0 (we reap it). */
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	ck_assert(tu_wait_file_contains(tu_path("out"),
	    "echod: stopped, status 0", 3000));
	tu_program = HELPER_PATH;
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), NULL);
	ck_assert_msg(l.status == 0, "restart: %d %s", l.status, l.err);
}
END_TEST

START_TEST(stop_kills_a_hung_daemon_after_the_timeout)
{
	pid_t pid = start_echod();
	long long t0, ms;
	char want[128];

	/* Hung: SIGTERM stays pending, nothing answers. */
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(echod_ctl("--stop", "--stop-timeout", "500"), 0);
	ms = tu_now_ms() - t0;
	snprintf(want, sizeof(want), "echod: pid %ld did not stop in 500 ms: "
	    "killed\n", (long)pid);
	assert_out(want);
	ck_assert_msg(ms >= 500 && ms < 5000, "took %lld ms", ms);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 128 + SIGKILL);
	/* Killed, it could not remove its pidfile: dead, file left. */
	ck_assert_int_eq(echod_ctl("--status", NULL, NULL), 1);
}
END_TEST

START_TEST(reload_sends_sighup_that_the_daemon_logs)
{
	pid_t pid = start_echod();
	char want[128];

	ck_assert(!tu_wait_file_contains(tu_path("out"), "reloaded", 0));
	ck_assert_int_eq(echod_ctl("--reload", NULL, NULL), 0);
	snprintf(want, sizeof(want), "echod: sent SIGHUP to pid %ld\n",
	    (long)pid);
	assert_out(want);
	ck_assert(tu_wait_file_contains(tu_path("out"), "echod: reloaded,",
	    3000));
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * A pidfile whose lock is held by a process that is not the one the file
 * names: what a process the daemon forked leaves once the daemon died and
 * its pid went to somebody else.  Running (a start would be refused), but
 * nobody to signal: the pid in the file does not hold the lock.
 */
START_TEST(a_lock_held_by_another_process_than_the_pid_names_nobody)
{
	pid_t other = bystander(), holder, pid;
	int ready[2], fd;
	char c;

	leave_pidfile(other);
	ck_assert_int_eq(pipe(ready), 0);
	holder = fork();
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		fd = open(tu_path("echod.pid"), O_RDONLY);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	tu_track(holder);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	ck_assert_int_eq(dctx_pidfile_status(tu_path("echod.pid"), &pid),
	    DCTX_PIDFILE_RUNNING);
	ck_assert_int_eq(pid, 0);
	ck_assert_int_eq(dctx_pidfile_kill(tu_path("echod.pid"), SIGTERM,
	    &pid), -ESRCH);
	ck_assert_int_eq(echod_ctl("--stop", "--stop-timeout", "200"), 1);
	ck_assert_msg(strstr(out, "names no live process holding it") != NULL,
	    "output: %s", out);
	usleep(100 * 1000);
	ck_assert(tu_alive(other));
	ck_assert(tu_alive(holder));
}
END_TEST

/*
 * The pid in a locked pidfile names a process whose descriptors the
 * caller may not see.  That is what the host sees of a daemon that runs
 * as pid 1 of a container (`unshare --pid --fork`) with its pidfile on a
 * shared /run or /tmp: the file says "1", the host's init, whose
 * /proc/1/fd links and fdinfo a sandbox may hide even from root.  Here:
 * a process of ours made non-dumpable, looked at by echod run without
 * CAP_SYS_PTRACE (setpriv), which lists its descriptors but cannot read
 * them.  Whether it holds the lock cannot be checked, so it is no
 * holder: never reported as the daemon, never signaled (the old rule,
 * "a live pid is taken as it is", sent --stop's SIGTERM and SIGKILL to
 * the host's init).
 */
static pid_t
hidden_bystander(void)
{
	int ready[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
		    write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	tu_track(pid);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/* echod ACTION --pidfile tu_path("echod.pid") without CAP_SYS_PTRACE. */
static int
echod_ctl_noptrace(const char *action)
{
	return tu_run(out, sizeof(out), SETPRIV_PATH, "--bounding-set",
	    "-sys_ptrace", ECHOD_PATH, action, "--pidfile",
	    tu_path("echod.pid"), "--stop-timeout", "200", NULL);
}

START_TEST(a_holder_that_cannot_be_checked_is_never_signaled)
{
	pid_t other = hidden_bystander(), holder;
	int ready[2], fd;
	char c, want[600];

	leave_pidfile(other);
	ck_assert_int_eq(pipe(ready), 0);
	holder = fork();
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		fd = open(tu_path("echod.pid"), O_RDONLY);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	tu_track(holder);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	/* Running (a start would be refused), but not as that pid. */
	ck_assert_int_eq(echod_ctl_noptrace("--status"), 0);
	snprintf(want, sizeof(want), "echod: running (pidfile %s is locked, "
	    "but names no live process holding it)\n", tu_path("echod.pid"));
	assert_out(want);
	ck_assert_int_eq(echod_ctl_noptrace("--reload"), 1);
	snprintf(want, sizeof(want), "echod: cannot reload: pidfile %s: "
	    "Operation not permitted\n", tu_path("echod.pid"));
	assert_out(want);
	ck_assert_int_eq(echod_ctl_noptrace("--stop"), 1);
	snprintf(want, sizeof(want), "echod: cannot stop: pidfile %s: "
	    "Operation not permitted\n", tu_path("echod.pid"));
	assert_out(want);
	usleep(300 * 1000);
	ck_assert_msg(tu_alive(other), "the pid in the file, %ld, was "
	    "signaled", (long)other);
	ck_assert(tu_alive(holder));
}
END_TEST

/*
 * A status check's shared lock, held for 300 ms as a probe preempted at
 * the wrong moment would hold it, while a daemon starts: the start waits
 * it out instead of saying "already running".
 */
START_TEST(a_probe_holding_its_shared_lock_never_fails_a_start)
{
	int ready[2], fd;
	struct launch l;
	pid_t prober;
	char c;

	leave_pidfile(dead_pid());
	ck_assert_int_eq(pipe(ready), 0);
	prober = fork();
	ck_assert_int_ge(prober, 0);
	if (prober == 0) {
		fd = open(tu_path("echod.pid"), O_RDONLY);
		if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep(300 * 1000);
		_exit(0);
	}
	tu_track(prober);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	tu_program = HELPER_PATH;
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), NULL);
	ck_assert_msg(l.status == 0, "start: %d %s", l.status, l.err);
	ck_assert_int_eq(waitpid(prober, NULL, 0), prober);
	ck_assert(tu_alive(tu_read_pidfile(tu_path("echod.pid"))));
}
END_TEST

START_TEST(the_calls_refuse_bad_arguments)
{
	pid_t pid = 1;

	ck_assert_int_eq(dctx_pidfile_status(NULL, &pid), -EINVAL);
	ck_assert_int_eq(pid, 0);
	ck_assert_int_eq(dctx_pidfile_status("", NULL), -EINVAL);
	ck_assert_int_eq(dctx_pidfile_kill(tu_path("x.pid"), -1, NULL),
	    -EINVAL);
	ck_assert_int_eq(dctx_pidfile_kill(tu_path("x.pid"), NSIG, NULL),
	    -EINVAL);
	ck_assert_int_eq(dctx_pidfile_stop(tu_path("x.pid"), -1, NULL),
	    -EINVAL);
	ck_assert_int_eq(dctx_pidfile_stop(tu_path("x.pid"), 0, &pid),
	    DCTX_STOP_NOT_RUNNING);
	ck_assert_int_eq(symlink("/etc/hostname", tu_path("link.pid")), 0);
	ck_assert_int_eq(dctx_pidfile_status(tu_path("link.pid"), NULL),
	    -ELOOP);
	/* An emptied file nobody holds: a clean stop that could not unlink. */
	ck_assert_int_eq(close(open(tu_path("empty.pid"), O_CREAT | O_WRONLY,
	    0644)), 0);
	ck_assert_int_eq(dctx_pidfile_status(tu_path("empty.pid"), NULL),
	    DCTX_PIDFILE_NOT_RUNNING);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tu_tcase("control");

	tcase_add_test(tc, status_of_a_running_echod_names_its_pid);
	tcase_add_test(tc, status_and_stop_without_a_pidfile_say_not_running);
	tcase_add_loop_test(tc, a_stale_pidfile_is_dead_and_its_pid_never_signaled, 0, 2);
	tcase_add_test(tc, status_that_cannot_tell_is_4);
	tcase_add_test(tc, stop_terminates_cleanly_and_returns_once_the_lock_is_gone);
	tcase_add_test(tc, stop_kills_a_hung_daemon_after_the_timeout);
	tcase_add_test(tc, reload_sends_sighup_that_the_daemon_logs);
	tcase_add_test(tc, a_lock_held_by_another_process_than_the_pid_names_nobody);
	if (geteuid() == 0 && access(SETPRIV_PATH, X_OK) == 0)
		tcase_add_test(tc,
		    a_holder_that_cannot_be_checked_is_never_signaled);
	else
		printf("a_holder_that_cannot_be_checked_is_never_signaled: "
		    "skipped, it needs root and %s\n", SETPRIV_PATH);
	tcase_add_test(tc, a_probe_holding_its_shared_lock_never_fails_a_start);
	tcase_add_test(tc, the_calls_refuse_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(control_suite)
