/*
 * The upgrade's edges, from outside (a hostile review of issue 10): what
 * happens when the old daemon dies at the worst moment, what a failed new
 * binary leaves behind, what a requester may believe, and against what.
 * echod runs from a copy of its binary in the test's directory; the new
 * binaries are small scripts put at that path, as in check_upgrade.c.
 * Ports 7900-7949 are this file's.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"
#include "tu-upgrade.h"

static in_port_t port;
static char listen_on[32];
static char binary[512];

/* A port of 7900-7949 free now (echod may still lose it: callers retry). */
static void
pick_port(void)
{
	static unsigned turn;
	struct sockaddr_in sin;
	int s, i, ok;

	for (i = 0; i < 50; i++) {
		port = (in_port_t)(7900 + (getpid() + turn++) % 50);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok) {
			snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u",
			    (unsigned)port);
			return;
		}
	}
	ck_abort_msg("no free port in 7900-7949");
}

/* echod at tu_path("echod"), and the same binary at tu_path("real/echod"). */
static void
install_echod(void)
{
	echod_binary(binary, sizeof(binary));
	install_file(binary, tu_path("echod"));
	ck_assert_int_eq(mkdir(tu_path("real"), 0755), 0);
	install_file(binary, tu_path("real/echod"));
}

/* Start echod with its pidfile at pidfile, its log in tu_path("log"). */
static pid_t
launch_echod_at(const char *pidfile, const char *timeout, const char *extra)
{
	const char *out;
	int tries, st = -1;
	pid_t pid;

	for (tries = 0; tries < 10; tries++) {
		pick_port();
		st = run(&out, tu_path("echod"), "--pidfile", pidfile,
		    "--listen", listen_on, "--stdout", tu_path("log"),
		    "--stderr", tu_path("log"), "--upgrade-timeout", timeout,
		    "--shutdown-timeout", "20000", extra, (char *)NULL);
		if (st == 0 || strstr(out, "in use") == NULL)
			break;
	}
	ck_assert_msg(st == 0, "echod: %d %s", st, out);
	pid = tu_read_pidfile(pidfile);
	ck_assert(tu_alive(pid));
	tu_track(pid);
	return pid;
}

static pid_t
start_echod(const char *timeout)
{
	install_echod();
	return launch_echod_at(tu_path("echod.pid"), timeout, NULL);
}

/* One exchange with the daemon: connect, send, read the echo back. */
static void
assert_serves(void)
{
	struct sockaddr_in sin;
	struct timeval tv = { 10, 0 };
	char buf[16];
	ssize_t n;
	size_t got = 0;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "connect: %s", strerror(errno));
	ck_assert_int_eq(write(s, "ping", 4), 4);
	shutdown(s, SHUT_WR);
	while ((n = read(s, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(s);
	ck_assert_msg(got == 4 && memcmp(buf, "ping", 4) == 0, "echo: %zu "
	    "bytes", got);
}

/* The new process of the attempt the status file shows starting. */
static pid_t
starting_pid(void)
{
	const char *status;

	await_file(tu_path("echod.pid.upgrade"), " starting ", 5000);
	status = tu_slurp(tu_path("echod.pid.upgrade"));
	return (pid_t)atol(strstr(status, " starting ") + 10);
}

/* The live holder of pidfile within ms, or 0. */
static pid_t
holder_of_within(const char *pidfile, int ms)
{
	pid_t pid = 0;
	int waited;

	for (waited = 0; waited <= ms; waited += 20) {
		if (dctx_pidfile_holder(pidfile, &pid) == 0 && pid > 0)
			return pid;
		sleep_ms(20);
	}
	return 0;
}

/* The live holder of tu_path("echod.pid") within ms, or 0. */
static pid_t
holder_within(int ms)
{
	return holder_of_within(tu_path("echod.pid"), ms);
}

/*
 * The old daemon is killed once the new one is ready, before it answers:
 * it is stopped (SIGSTOP) so that it does not answer, and killed after
 * kill_ms.  Nobody will write the new pid into the pidfile, whose lock
 * the new process holds: it must write it itself, or the daemon that
 * serves is one no tool can find ("locked, but it names no live
 * process"), nor stop.
 */
static void
old_killed_before_its_answer(int kill_ms)
{
	const char *out;
	char want[64];
	pid_t old = start_echod("30000"), req, new;
	int st;

	install_script(tu_path("echod"), "sleep 1\nexec '%s' \"$@\"\n",
	    tu_path("real/echod"));
	req = start_to(tu_path("req.out"), ECHOD_PATH, "--upgrade",
	    "--pidfile", tu_path("echod.pid"), (char *)NULL);
	new = starting_pid();
	tu_track(new);
	ck_assert_int_eq(kill(old, SIGSTOP), 0);
	/* Ready: it says so in its log, then tells the old one. */
	snprintf(want, sizeof(want), "as pid %ld", (long)new);
	await_file(tu_path("log"), want, 10000);
	sleep_ms(kill_ms);
	ck_assert_int_eq(kill(old, SIGKILL), 0);
	ck_assert_int_eq(tu_wait_gone(old, 5000), 128 + SIGKILL);
	/* The requester knows the old one ended without an outcome. */
	st = finish(req);
	out = tu_slurp(tu_path("req.out"));
	ck_assert_msg(st == 1 && strstr(out, "ended during the upgrade") !=
	    NULL, "%d %s", st, out);
	/* The new one serves, and the pidfile names it. */
	ck_assert_msg(holder_within(5000) == new, "pidfile holder: %ld, not "
	    "%ld; pidfile: '%s'; log: %s", (long)holder_within(0), (long)new,
	    tu_slurp(tu_path("echod.pid")), tu_slurp(tu_path("log")));
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), new);
	assert_serves();
	ck_assert(strstr(tu_slurp(tu_path("log")), "ended before it handed "
	    "over") != NULL);
	/* An operator stops it by its pidfile, which goes with it. */
	st = run(&out, ECHOD_PATH, "--stop", "--pidfile", tu_path("echod.pid"),
	    (char *)NULL);
	ck_assert_msg(st == 0, "%d %s", st, out);
	ck_assert_int_eq(tu_wait_gone(new, 10000), 0);
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), -1);
	ck_assert_int_eq(access(tu_path("echod.pid.upgrade"), F_OK), -1);
	ck_assert(tu_no_children(5000));
}

START_TEST(an_old_daemon_killed_before_it_answers_gives_its_pidfile_over)
{
	/* The new one still waits for the answer (5 s at most). */
	old_killed_before_its_answer(300);
}
END_TEST

START_TEST(an_old_daemon_killed_after_the_answer_wait_gives_its_pidfile_over)
{
	/* The new one stopped waiting and serves; the old one dies later. */
	old_killed_before_its_answer(6500);
}
END_TEST

/*
 * The new process says it is ready, then exits (or crashes) before the
 * old daemon has read its word: the old one is stopped meanwhile
 * (SIGSTOP), as a busy loop would be.  It must not hand over to a dead
 * process: the pidfile would name it, the old daemon would drain and
 * exit, nothing would serve any more, and the requester would be told
 * "handed over to pid NEW".  It rolls back instead.
 */
START_TEST(a_new_process_gone_before_its_word_is_read_gets_no_hand_over)
{
	const char *out;
	char want[64];
	pid_t old = start_echod("30000"), req, new;
	int st;

	install_script(tu_path("echod"), "sleep 1\nexec '%s' --pidfile '%s' "
	    "--exit-after-open --stdout '%s'\n", HELPER_PATH,
	    tu_path("echod.pid"), tu_path("helper.out"));
	req = start_to(tu_path("req.out"), ECHOD_PATH, "--upgrade",
	    "--pidfile", tu_path("echod.pid"), (char *)NULL);
	new = starting_pid();
	tu_track(new);
	ck_assert_int_eq(kill(old, SIGSTOP), 0);
	/* Its readiness went unanswered (5 s), and it exited. */
	snprintf(want, sizeof(want), "open pid %ld\n", (long)new);
	await_file(tu_path("helper.out"), want, 15000);
	await_file(tu_path("helper.out"), "stopped", 5000);
	sleep_ms(300);
	ck_assert_int_eq(kill(old, SIGCONT), 0);
	st = finish(req);
	out = tu_slurp(tu_path("req.out"));
	if (holder_within(0) > 0)
		tu_track(holder_within(0));
	ck_assert_msg(st == 1 && strstr(out, "right after it said it was "
	    "ready") != NULL, "%d %s", st, out);
	/* The old one serves on, and its pidfile names it. */
	ck_assert_int_eq(holder_within(1000), old);
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), old);
	assert_serves();
	stop_daemon(old);
}
END_TEST

/* The pid a script wrote into name, tracked: killed at teardown. */
static pid_t
written_pid(const char *name)
{
	pid_t pid;

	ck_assert(tu_wait_file_contains(tu_path(name), "\n", 5000));
	pid = (pid_t)atol(tu_slurp(tu_path(name)));
	ck_assert_int_gt(pid, 0);
	tu_track(pid);
	return pid;
}

/*
 * A new binary that fails after it started a process of its own (a
 * script's command in the background; a program's worker): that process
 * has the listening socket and the pidfile's lock, inherited.  Left
 * running, it keeps the port bound after the daemon stopped (a new start
 * fails: "Address already in use") and never ends.  It goes with the new
 * process, however that one fails: at the deadline, by a crash, or with
 * its own message.
 */
START_TEST(what_a_failed_new_binary_started_goes_with_it)
{
	const char *out;
	pid_t old = start_echod("1000"), bg;
	int st;

	/* Hangs (stopped at the deadline). */
	install_script(tu_path("echod"), "sleep 60 &\necho $! >'%s'\n"
	    "exec sleep 600\n", tu_path("bg1"));
	st = upgrade(&out);
	ck_assert_msg(st == 1 && strstr(out, "was not ready within 1000 ms")
	    != NULL, "%d %s", st, out);
	bg = written_pid("bg1");
	ck_assert_msg(tu_wait_gone(bg, 5000) >= 0, "pid %ld, started by the "
	    "new process stopped at the deadline, lives on", (long)bg);
	/* Crashes. */
	install_script(tu_path("echod"), "sleep 60 &\necho $! >'%s'\n"
	    "kill -SEGV $$\n", tu_path("bg2"));
	st = upgrade(&out);
	ck_assert_msg(st == 1 && strstr(out, "killed by signal 11") != NULL,
	    "%d %s", st, out);
	bg = written_pid("bg2");
	ck_assert_msg(tu_wait_gone(bg, 5000) >= 0, "pid %ld, started by the "
	    "new process that crashed, lives on", (long)bg);
	/* Fails, and says why. */
	install_script(tu_path("echod"), "sleep 60 &\necho $! >'%s'\n"
	    "exec '%s' \"$@\" --user dctx-no-such-user\n", tu_path("bg3"),
	    tu_path("real/echod"));
	st = upgrade(&out);
	ck_assert_msg(st == 1 && strstr(out, "user 'dctx-no-such-user'") !=
	    NULL, "%d %s", st, out);
	bg = written_pid("bg3");
	ck_assert_msg(tu_wait_gone(bg, 5000) >= 0, "pid %ld, started by the "
	    "new process that failed, lives on", (long)bg);
	/* The old one serves on, and leaves nothing behind when it stops. */
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), old);
	assert_serves();
	stop_daemon(old);
}
END_TEST

/* A process's start time in clock ticks (/proc/PID/stat, field 22). */
static unsigned long long
start_time(pid_t pid)
{
	char path[64];
	const char *p;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	p = strrchr(tu_slurp(path), ')');
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	ck_assert_ptr_nonnull(p);
	return strtoull(p + 1, NULL, 10);
}

/*
 * A daemon stopped (kill -STOP, a debugger) cannot begin an upgrade: the
 * requester must not leave a signal pending in it, which would upgrade
 * the daemon whenever it continues, long after the requester said "not
 * done" and exited.  It says why instead, at once.
 */
START_TEST(a_stopped_daemon_is_not_left_an_upgrade_for_later)
{
	const char *out;
	pid_t old = start_echod("30000");
	int st;

	ck_assert_int_eq(kill(old, SIGSTOP), 0);
	st = upgrade(&out);
	ck_assert_int_eq(kill(old, SIGCONT), 0);
	/* Continued, it serves on as it was: no upgrade comes later. */
	sleep_ms(1500);
	if (holder_within(0) > 0)
		tu_track(holder_within(0));
	ck_assert_msg(st == 1 && strstr(out, "is stopped") != NULL, "%d %s",
	    st, out);
	ck_assert_int_eq(holder_within(0), old);
	ck_assert_msg(strstr(tu_slurp(tu_path("log")), "upgrade") == NULL,
	    "%s", tu_slurp(tu_path("log")));
	assert_serves();
	/* And upgrades when asked again. */
	st = upgrade(&out);
	ck_assert_msg(st == 0, "%d %s", st, out);
	ck_assert_int_ne(holder_within(0), old);
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	stop_daemon(holder_within(0));
}
END_TEST

/*
 * The library where a daemon that dropped privileges can read it (the
 * sanitizer pass builds under a 0700 directory), as check_upgrade.c
 * does.
 */
static void
library_for_all(void)
{
	char lib[600], top[512], *slash;

	snprintf(top, sizeof(top), "%s", binary);
	*strrchr(top, '/') = '\0';
	if ((slash = strrchr(top, '/')) != NULL && strcmp(slash, "/.libs") == 0)
		*slash = '\0';
	snprintf(lib, sizeof(lib), "%s/../.libs/libdctx.so.0", top);
	ck_assert_int_eq(mkdir(tu_path("lib"), 0755), 0);
	install_file(lib, tu_path("lib/libdctx.so.0"));
	/* LeakSanitizer cannot follow a process that changed its uid. */
	tu_asan_option("detect_leaks=0");
	setenv("LD_LIBRARY_PATH", tu_path("lib"), 1);
}

/*
 * The pidfile in a directory everyone may write (sticky, as /tmp), the
 * daemon running as user daemon: another user (nobody) puts a file at
 * the status file's name first, which stays theirs (the daemon may not
 * replace it, nor write into it), and writes records in it, well formed,
 * with the daemon's pid and start time (both public).  The requester
 * must not take their word for the outcome: not a failure in their words
 * (nor a "ready" with a pid of their choosing, nor "starting" for ever).
 */
START_TEST(a_status_file_another_user_wrote_is_not_believed)
{
	struct passwd *pw;
	char status[600], rec[256];
	unsigned long long start;
	unsigned long seq;
	const char *out;
	uid_t forger_uid;
	gid_t forger_gid;
	pid_t old, forger, new;
	int st, fd, n;

	/* getpwnam() answers in one static buffer: copied at once. */
	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	forger_uid = pw->pw_uid;
	forger_gid = pw->pw_gid;
	ck_assert_ptr_nonnull(pw = getpwnam("daemon"));
	ck_assert_uint_ne(pw->pw_uid, forger_uid);
	install_echod();
	library_for_all();
	fd = open(tu_path("log"), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	ck_assert_int_eq(fchown(fd, pw->pw_uid, pw->pw_gid), 0);
	close(fd);
	ck_assert_int_eq(mkdir(tu_path("shared"), 0755), 0);
	ck_assert_int_eq(chmod(tu_path("shared"), 01777), 0);
	old = launch_echod_at(tu_path("shared/echod.pid"), "30000",
	    "--user=daemon");
	start = start_time(old);
	snprintf(status, sizeof(status), "%s",
	    tu_path("shared/echod.pid.upgrade"));
	forger = fork();
	ck_assert_int_ge(forger, 0);
	if (forger == 0) {
		if (setgid(forger_gid) < 0 || setuid(forger_uid) < 0)
			_exit(1);
		for (seq = 1; seq < 100000; seq++) {
			fd = open(status, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0644);
			n = snprintf(rec, sizeof(rec), "%ld %llu %lu failed 0\n"
			    "FORGED by another user\n", (long)old, start, seq);
			if (fd < 0 || write(fd, rec, (size_t)n) != n)
				_exit(1);
			close(fd);
			usleep(2000);
		}
		_exit(0);
	}
	tu_track(forger);
	ck_assert(tu_wait_file_contains(status, "FORGED", 5000));
	st = run(&out, ECHOD_PATH, "--upgrade", "--pidfile",
	    tu_path("shared/echod.pid"), (char *)NULL);
	new = holder_of_within(tu_path("shared/echod.pid"), 5000);
	if (new > 0)
		tu_track(new);
	ck_assert_msg(strstr(out, "FORGED") == NULL, "status %d: %s", st, out);
	/*
	 * The upgrade itself took place; its outcome could not be written
	 * where the requester looks, which it says (exit 1).
	 */
	ck_assert_msg(st == 1, "status %d: %s", st, out);
	ck_assert_int_gt(new, 0);
	ck_assert_int_ne(new, old);
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	ck_assert_int_eq(kill(forger, SIGKILL), 0);
	tu_wait_gone(forger, 5000);
	tu_stop_cleanly(new);
}
END_TEST

/* --victim: a bystander that catches SIGUSR2, and exits 42 on it. */
static void
on_usr2(int signo)
{
	(void)signo;
	_exit(42);
}

/*
 * A pidfile where others may write (sticky, as /tmp), and no daemon:
 * another user (nobody) makes the file, names in it a process of root's
 * that catches SIGUSR2 (a bystander: a database that dumps its state on
 * it, another daemon that upgrades on it), and holds a lock on it.  The
 * root requester must not signal that process: it does not hold the
 * lock, the user's process does.  (echod --stop refuses the same file.)
 */
START_TEST(a_pidfile_another_user_locked_gets_no_process_signalled)
{
	struct passwd *pw;
	struct sigaction sa;
	char pidfile[600], num[32];
	const char *out;
	uid_t uid;
	gid_t gid;
	pid_t victim, locker;
	int st, fd, gate[2];
	char c;

	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	install_echod();
	ck_assert_int_eq(mkdir(tu_path("shared"), 0755), 0);
	ck_assert_int_eq(chmod(tu_path("shared"), 01777), 0);
	snprintf(pidfile, sizeof(pidfile), "%s", tu_path("shared/echod.pid"));
	victim = fork();
	ck_assert_int_ge(victim, 0);
	if (victim == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr2;
		sigaction(SIGUSR2, &sa, NULL);
		for (;;)
			pause();
	}
	tu_track(victim);
	ck_assert_int_eq(pipe(gate), 0);
	locker = fork();
	ck_assert_int_ge(locker, 0);
	if (locker == 0) {
		close(gate[0]);
		if (setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		fd = open(pidfile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		snprintf(num, sizeof(num), "%ld\n", (long)victim);
		if (fd < 0 || write(fd, num, strlen(num)) < 0 ||
		    flock(fd, LOCK_EX) < 0)
			_exit(1);
		close(gate[1]);
		for (;;)
			pause();
	}
	tu_track(locker);
	close(gate[1]);
	ck_assert_int_eq(read(gate[0], &c, 1), 0);
	close(gate[0]);
	ck_assert(tu_alive(locker));
	/* What echod --stop makes of it: no daemon to stop. */
	st = run(&out, ECHOD_PATH, "--stop", "--pidfile", pidfile,
	    (char *)NULL);
	ck_assert_msg(st != 0 && tu_alive(victim), "%d %s", st, out);
	st = run(&out, ECHOD_PATH, "--upgrade", "--pidfile", pidfile,
	    (char *)NULL);
	sleep_ms(200);
	ck_assert_msg(tu_alive(victim), "pid %ld, named in a pidfile another "
	    "user locked, got the signal (echod --upgrade said %d: %s)",
	    (long)victim, st, out);
	ck_assert_msg(st == 1 && strstr(out, "no live process that holds "
	    "the lock") != NULL, "%d %s", st, out);
}
END_TEST

/*
 * A program closes a socket it marked for upgrades, then unmarks it: the
 * order is the natural one (stop listening, then forget), and the only
 * way out once an upgrade has said "fd N: marked, then closed (unmark it
 * with a NULL name)".  Refused with -EBADF, the mark stayed, and every
 * later upgrade failed.  No daemon here: the calls' answers are what a
 * program sees.
 */
START_TEST(a_closed_descriptor_can_be_unmarked)
{
	struct dctx *ctx = dctx_new();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_gt(fd, 2);
	ck_assert_int_eq(dctx_upgrade_fd(ctx, fd, "web"), 0);
	close(fd);
	ck_assert_int_eq(dctx_upgrade_fd(ctx, fd, NULL), 0);
	/* Closed and never marked: nothing to do, and no error either. */
	ck_assert_int_eq(dctx_upgrade_fd(ctx, fd, NULL), 0);
	/* Marking still wants an open descriptor. */
	ck_assert_int_eq(dctx_upgrade_fd(ctx, fd, "web"), -EBADF);
	dctx_free(ctx);
}
END_TEST

/*
 * A socket-activated daemon closes a passed descriptor it does not use,
 * and the number is taken by another file (here /dev/null; an accepted
 * connection, a log, in a real one).  An upgrade passes the activated
 * descriptors "as long as they are open": the number is open, but it is
 * no longer what was passed, and the new process must not get it, under
 * the passed socket's name.
 */
START_TEST(an_activated_descriptor_closed_and_reused_is_not_passed_on)
{
	char script[2048], msg[600];
	const char *out = tu_path("out");
	struct launch l;
	pid_t old, new = 0;
	int rc, fd;

	fd = open(tu_path("keep"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	close(fd);
	fd = open(tu_path("gone"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	close(fd);
	tu_program = "/bin/sh";
	snprintf(script, sizeof(script), "LISTEN_PID=$$ LISTEN_FDS=2 "
	    "LISTEN_FDNAMES=keep:gone exec %s --pidfile %s --upgrade-on %d "
	    "--listen-report --replace-listen-fd 1 --stdout %s 3<%s 4<%s",
	    HELPER_PATH, tu_path("d.pid"), SIGUSR2, out, tu_path("keep"),
	    tu_path("gone"));
	tu_launch(&l, "-c", script, NULL);
	ck_assert_msg(l.status == 0, "%d %s", l.status, l.err);
	old = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_wait_file_contains(out, "replaced listen fd 4: 4\n",
	    5000));
	rc = dctx_upgrade_request(tu_path("d.pid"), SIGUSR2, &new, msg,
	    sizeof(msg));
	if (new > 0)
		tu_track(new);
	ck_assert_msg(rc == 0, "%d %s; report: %s", rc, msg, tu_slurp(out));
	ck_assert_int_ne(new, old);
	ck_assert_int_eq(tu_wait_gone(old, 10000), 0);
	/*
	 * The new process got the one socket still passed, and no more.  Its
	 * report may still be under way (the old one is gone once it handed
	 * over, not once the new one wrote): wait for the lines, and judge
	 * them from one reading of the file.
	 */
	snprintf(script, sizeof(script), "open pid %ld\n", (long)new);
	{
		const char *want = "listen_fds 1\nlisten_fd 0 3 keep\n"
		    "listen_fd_named ";
		const char *text = "", *at = NULL, *fds;
		int waited;

		for (waited = 0; waited <= 5000; waited += 10) {
			text = tu_slurp(out);
			if ((at = strstr(text, script)) != NULL &&
			    (fds = strstr(at, "listen_fd_named ")) != NULL)
				break;
			at = NULL;
			sleep_ms(10);
		}
		ck_assert_msg(at != NULL, "no report of pid %ld: %s",
		    (long)new, text);
		fds = strstr(at, "listen_fds ");
		ck_assert_msg(fds != NULL && strncmp(fds, want,
		    strlen(want)) == 0, "%s", text);
	}
	ck_assert_str_eq(tu_proc_link(new, "fd/3"), tu_path("keep"));
	tu_stop_cleanly(new);
}
END_TEST

static Suite *
upgrade_edges_suite(void)
{
	Suite *s = suite_create("upgrade_edges");
	TCase *tc = tu_tcase("upgrade_edges");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    an_old_daemon_killed_before_it_answers_gives_its_pidfile_over);
	tcase_add_test(tc,
	    an_old_daemon_killed_after_the_answer_wait_gives_its_pidfile_over);
	tcase_add_test(tc, what_a_failed_new_binary_started_goes_with_it);
	tcase_add_test(tc,
	    a_new_process_gone_before_its_word_is_read_gets_no_hand_over);
	tcase_add_test(tc, a_stopped_daemon_is_not_left_an_upgrade_for_later);
	tcase_add_test(tc, a_closed_descriptor_can_be_unmarked);
	tcase_add_test(tc,
	    an_activated_descriptor_closed_and_reused_is_not_passed_on);
	if (geteuid() != 0)
		printf("upgrade_edges: a_status_file_another_user_wrote_is_not_"
		    "believed, a_pidfile_another_user_locked_gets_no_process_"
		    "signalled: skipped, they need root\n");
	else if (getpwnam("nobody") == NULL || getpwnam("daemon") == NULL)
		printf("upgrade_edges: a_status_file_another_user_wrote_is_not_"
		    "believed, a_pidfile_another_user_locked_gets_no_process_"
		    "signalled: skipped, there is no user 'nobody' or "
		    "'daemon'\n");
	else {
		tcase_add_test(tc,
		    a_status_file_another_user_wrote_is_not_believed);
		tcase_add_test(tc,
		    a_pidfile_another_user_locked_gets_no_process_signalled);
	}
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(upgrade_edges_suite)
