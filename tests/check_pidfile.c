/* The pidfile: content, mode, lock, refusal, takeover, removal. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* dctx_pidfile_holder()'s pid, where the call must succeed. */
static pid_t
holder_of(const char *path)
{
	pid_t pid = -1;

	ck_assert_int_eq(dctx_pidfile_holder(path, &pid), 0);
	ck_assert_int_ge(pid, 0);
	return pid;
}

/* Whether someone holds an exclusive lock on path, asked without waiting. */
static int
is_locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int locked;

	if (fd < 0)
		return 0;
	locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

/* Wait up to ms for path to exist. */
static int
wait_exists(const char *path, int ms)
{
	int waited;

	for (waited = 0; waited < ms && access(path, F_OK) != 0; waited += 2)
		usleep(2000);
	return access(path, F_OK) == 0;
}

START_TEST(pidfile_holds_the_pid_with_mode_0644_and_a_lock)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	struct stat st;
	char want[32];
	pid_t pid;
	int fd;

	/* Whatever the launcher's umask, the file is 0644. */
	umask(_i == 0 ? 0 : 077);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	snprintf(want, sizeof(want), "%ld\n", (long)pid);
	ck_assert_str_eq(tu_slurp(pf), want);
	ck_assert_int_eq(stat(pf, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	/* The lock is held by the daemon. */
	fd = open(pf, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	close(fd);
	ck_assert_int_eq(holder_of(pf), pid);
}
END_TEST

START_TEST(second_instance_is_refused_with_the_first_ones_pid)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	char want[64];
	pid_t first;

	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	first = tu_read_pidfile(pf);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)first);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	/* The first one and its file are untouched. */
	ck_assert(tu_alive(first));
	ck_assert_int_eq(tu_read_pidfile(pf), first);
}
END_TEST

START_TEST(stale_pidfile_is_taken_over)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	struct stat st;
	pid_t pid;

	/* A file left by a dead daemon: no lock, some pid, a mode of its
	 * own, which is not ours to change. */
	write_file(pf, "999999\n");
	ck_assert_int_eq(chmod(pf, 0600), 0);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert_int_ne(pid, 999999);
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(stat(pf, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(pidfile_in_a_missing_directory_fails_before_the_fork)
{
	char want[600];
	struct launch l;

	snprintf(want, sizeof(want), "pidfile %s: No such file or directory",
	    tu_path("missing/d.pid"));
	tu_launch(&l, "--pidfile", tu_path("missing/d.pid"), NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(pidfile_that_is_a_symlink_is_refused)
{
	const char *pf = tu_path("d.pid"), *target = tu_path("target");
	char want[600];
	struct launch l;

	write_file(target, "precious\n");
	ck_assert_int_eq(symlink(target, pf), 0);
	snprintf(want, sizeof(want), "pidfile %s: is a symbolic link", pf);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_str_eq(tu_slurp(target), "precious\n");
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(sigterm_removes_the_pidfile)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", pf, NULL);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

START_TEST(a_forked_child_that_exits_leaves_the_pidfile_alone)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", pf, "--stdout", out, "--fork-child", NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_wait_file_contains(out, "exited", 3000));
	ck_assert_int_eq(tu_read_pidfile(pf), pid);
	ck_assert_int_eq(holder_of(pf), pid);
}
END_TEST

START_TEST(a_forked_child_reporting_a_failure_is_not_heard)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct launch l;
	pid_t pid;

	/* After ready, a child of the daemon calls dctx_notify_failure(). */
	tu_launch(&l, "--pidfile", pf, "--stdout", out,
	    "--fork-child-notify-failure", NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_wait_file_contains(out, "exited", 3000));
	ck_assert_msg(strstr(tu_slurp(out), "child notify_failure 0\n") !=
	    NULL, "stdout: %s", tu_slurp(out));
	ck_assert_int_eq(holder_of(pf), pid);
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(pidfile_api_on_its_own)
{
	const char *path = tu_path("own.pid");
	struct dctx_pidfile *pf = NULL, *second = NULL;
	char want[32];
	pid_t child;
	int st;

	ck_assert_int_eq(dctx_pidfile_acquire(&pf, path), 0);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_str_eq(tu_slurp(path), want);
	/* A second open file description cannot take the lock. */
	child = fork();
	if (child == 0)
		_exit(dctx_pidfile_acquire(&second, path) == DCTX_ERUNNING &&
		    second == NULL ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* A forked child's release only closes. */
	child = fork();
	if (child == 0)
		_exit(dctx_pidfile_release(pf) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_str_eq(tu_slurp(path), want);
	ck_assert_int_eq(holder_of(path), getpid());
	ck_assert_int_eq(dctx_pidfile_release(pf), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(holder_of(path), 0);
	ck_assert_int_eq(dctx_pidfile_release(NULL), 0);
}
END_TEST

START_TEST(a_forked_child_that_frees_the_context_leaves_the_daemon_whole)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct launch l;
	pid_t pid;

	/* The child cleans up with dctx_free() before the daemon is ready. */
	tu_launch(&l, "--pidfile", pf, "--stdout", out, "--fork-child-free",
	    "--manual-ready", "ready", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_wait_file_contains(out, "exited", 3000));
	ck_assert_int_eq(holder_of(pf), pid);
	/* The daemon still hears SIGTERM through its loop. */
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

START_TEST(a_stale_pid_is_never_shown_while_starting)
{
	const char *pf = tu_path("d.pid");
	char stale[32];
	pid_t launcher, seen;
	int i;

	/* The stale file names a live, unrelated process: this one. */
	snprintf(stale, sizeof(stale), "%ld\n", (long)getpid());
	write_file(pf, stale);
	/* Each fork waits 300 ms: the pid is written long after the lock. */
	setenv("DCTX_HELPER_FORK_DELAY", "300", 1);
	launcher = tu_start_fg("--detach", "--pidfile", pf, NULL);
	for (i = 0; i < 400 && !is_locked(pf); i++)
		usleep(2000);
	ck_assert_msg(i < 400, "the pidfile was never locked");
	/* The stale pid goes with the lock (within 200 ms, where the pid is
	 * written 600 ms on) and never comes back. */
	for (i = 0; i < 40 && tu_read_pidfile(pf) == getpid(); i++)
		usleep(5000);
	ck_assert_msg(i < 40, "the stale pid stayed after the lock");
	for (i = 0; i < 60; i++) {
		seen = tu_read_pidfile(pf);
		ck_assert_msg(seen != getpid(), "the stale pid was shown");
		usleep(5000);
	}
	ck_assert_int_eq(tu_wait_gone(launcher, 3000), 0);
	tu_track(tu_read_pidfile(pf));
	ck_assert(tu_alive(tu_read_pidfile(pf)));
}
END_TEST

START_TEST(a_daemon_whose_launcher_was_killed_lives_on)
{
	const char *pf = tu_path("d.pid");
	pid_t launcher, pid = 0;
	int i;

	launcher = tu_start_fg("--detach", "--pidfile", pf, "--manual-ready",
	    "ready", "--ready-delay", "1000", NULL);
	for (i = 0; i < 200 && (pid = tu_read_pidfile(pf)) == 0; i++)
		usleep(5000);
	ck_assert_int_gt(pid, 0);
	tu_track(pid);
	/* An init script's timeout kills the launcher before ready. */
	kill(launcher, SIGKILL);
	tu_wait_gone(launcher, 2000);
	usleep(1500 * 1000);
	/* Reporting to a dead launcher did not kill the daemon (SIGPIPE). */
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

START_TEST(a_hard_link_to_another_file_is_refused_and_left_alone)
{
	const char *pf = tu_path("d.pid"), *target = tu_path("shadow");
	char want[600];
	struct launch l;
	struct stat st;

	/* O_NOFOLLOW does not see a hard link: the name is a second one
	 * for a file that must stay as it is. */
	write_file(target, "secret\n");
	ck_assert_int_eq(chmod(target, 0600), 0);
	ck_assert_int_eq(link(target, pf), 0);
	snprintf(want, sizeof(want), "pidfile %s: has 2 hard links", pf);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_str_eq(tu_slurp(target), "secret\n");
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert(!is_locked(pf));
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(a_file_of_another_user_is_refused_and_left_alone)
{
	const char *pf = tu_path("d.pid");
	char want[600];
	struct launch l;
	struct stat st;

	/* Made beforehand by nobody (65534), who could rewrite the pid. */
	write_file(pf, "4242\n");
	ck_assert_int_eq(chown(pf, 65534, 65534), 0);
	ck_assert_int_eq(chmod(pf, 0664), 0);
	snprintf(want, sizeof(want), "pidfile %s: owned by uid 65534, not by us",
	    pf);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_str_eq(tu_slurp(pf), "4242\n");
	ck_assert_int_eq(stat(pf, &st), 0);
	ck_assert_int_eq(st.st_uid, 65534);
	ck_assert_int_eq(st.st_mode & 07777, 0664);
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(a_pid_written_just_before_the_lock_is_never_shown)
{
	const char *pf = tu_path("d.pid"), *marker = tu_path("pause");
	char stale[32];
	pid_t launcher;
	int i;

	/* A holder that has not written its pid yet: the file is empty when
	 * the launcher opens it, and the launcher stops before its lock. */
	write_file(pf, "");
	setenv("DCTX_HELPER_PAUSE_FILE", marker, 1);
	setenv("DCTX_HELPER_PAUSE_BEFORE_LOCK", "1", 1);
	setenv("DCTX_HELPER_FORK_DELAY", "300", 1);
	launcher = tu_start_fg("--detach", "--pidfile", pf, NULL);
	ck_assert_msg(wait_exists(marker, 5000), "the launcher never paused");
	/* Meanwhile the holder writes its pid and dies; that pid now names
	 * an unrelated live process, this one. */
	snprintf(stale, sizeof(stale), "%ld\n", (long)getpid());
	write_file(pf, stale);
	ck_assert_int_eq(unlink(marker), 0);
	for (i = 0; i < 1000 && !is_locked(pf); i++)
		usleep(2000);
	ck_assert_msg(i < 1000, "the pidfile was never locked");
	/* Locked now; our pid is written 600 ms on. */
	usleep(50 * 1000);
	for (i = 0; i < 60; i++) {
		ck_assert_msg(tu_read_pidfile(pf) != getpid(),
		    "the dead holder's pid was shown after the lock");
		usleep(5000);
	}
	ck_assert_int_eq(tu_wait_gone(launcher, 3000), 0);
	tu_track(tu_read_pidfile(pf));
	ck_assert(tu_alive(tu_read_pidfile(pf)));
}
END_TEST

START_TEST(a_stale_cleanup_leaves_a_newer_instances_pidfile)
{
	const char *pf = tu_path("d.pid"), *marker = tu_path("pause");
	struct launch l;
	pid_t launcher, newer;

	/* The daemon dies without a word; its launcher takes the lock of
	 * the stale file to remove it, and stops right there. */
	setenv("DCTX_HELPER_PAUSE_FILE", marker, 1);
	setenv("DCTX_HELPER_PAUSE_AFTER_LOCK", "2", 1);
	launcher = tu_start_fg("--detach", "--pidfile", pf, "--manual-ready",
	    "crash", NULL);
	ck_assert_msg(wait_exists(marker, 5000), "the launcher never paused");
	/* Meanwhile the stale file goes and a newer instance starts. */
	unsetenv("DCTX_HELPER_PAUSE_FILE");
	unsetenv("DCTX_HELPER_PAUSE_AFTER_LOCK");
	ck_assert_int_eq(unlink(pf), 0);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_msg(l.status == 0, "newer instance: %d %s", l.status, l.err);
	newer = tu_read_pidfile(pf);
	ck_assert(tu_alive(newer));
	/* The old launcher finishes its cleanup and reports the death. */
	ck_assert_int_eq(unlink(marker), 0);
	ck_assert_int_eq(tu_wait_gone(launcher, 3000), 1);
	ck_assert_msg(strstr(tu_slurp(tu_path("fg.stderr")),
	    "the daemon exited before it was ready") != NULL,
	    "stderr: %s", tu_slurp(tu_path("fg.stderr")));
	/* The newer instance's file is still there, and still locked. */
	ck_assert_int_eq(tu_read_pidfile(pf), newer);
	ck_assert(is_locked(pf));
	ck_assert_int_eq(holder_of(pf), newer);
}
END_TEST

/* File contents that are no pid, though strtol() would read one. */
static const char *const not_pids[] = {
	"4294967297\n",		/* 2^32 + 1: pid 1 once cut to 32 bits */
	"2147483648\n",		/* INT_MAX + 1 */
	"99999999999999999999999\n",	/* beyond long */
	"4194305\n",		/* above any pid_max Linux allows */
	"12abc\n",		/* trailing garbage */
	"-5\n",
	" 42\n",
	"+42\n",
	"0\n",
	/* 123456 behind 30 zeros: longer than the reader's buffer, whose
	 * first 31 bytes say 1 (init, alive): no pid either. */
	"000000000000000000000000000000123456\n",
};

START_TEST(a_value_that_is_no_pid_is_never_read_as_one)
{
	const char *pf = tu_path("d.pid");
	char want[600];
	struct launch l;
	pid_t pid = -1;
	int fd;

	/* Held, as by a daemon that wrote something that is no pid. */
	write_file(pf, not_pids[_i]);
	fd = open(pf, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), DCTX_ERUNNING);
	ck_assert_int_eq(pid, 0);
	snprintf(want, sizeof(want), "pidfile %s: already running", pf);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_msg(strstr(l.err, "(pid") == NULL, "stderr: %s", l.err);
	ck_assert_str_eq(tu_slurp(pf), not_pids[_i]);
	close(fd);
}
END_TEST

START_TEST(holder_gives_the_pid_apart_from_the_error)
{
	const char *pf = tu_path("d.pid"), *link = tu_path("link.pid");
	char path[600];
	pid_t pid;
	int fd;

	/* No file: nobody. */
	pid = -1;
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), 0);
	ck_assert_int_eq(pid, 0);
	/* A file nobody holds, whatever it says. */
	write_file(pf, "1\n");
	pid = -1;
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), 0);
	ck_assert_int_eq(pid, 0);
	/* Held, with no pid written yet. */
	write_file(pf, "");
	fd = open(pf, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	pid = -1;
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), DCTX_ERUNNING);
	ck_assert_int_eq(pid, 0);
	/* Held, with a pid. */
	write_file(pf, "1\n");
	ck_assert_int_eq(holder_of(pf), 1);
	close(fd);
	/* Cannot be opened: the error comes back, never in *pid. */
	ck_assert_int_eq(symlink(pf, link), 0);
	pid = -1;
	ck_assert_int_eq(dctx_pidfile_holder(link, &pid), -ELOOP);
	ck_assert_int_eq(pid, 0);
	snprintf(path, sizeof(path), "%s/x", pf);
	pid = -1;
	ck_assert_int_eq(dctx_pidfile_holder(path, &pid), -ENOTDIR);
	ck_assert_int_eq(pid, 0);
	ck_assert_int_eq(dctx_pidfile_holder(pf, NULL), -EINVAL);
}
END_TEST

START_TEST(a_long_pidfile_path_keeps_the_reason)
{
	const char *tail = "File name too long\n";
	char name[301], path[1024], head[600];
	struct launch l;
	size_t n;

	/* A component longer than NAME_MAX, last (_i 0) or in the middle
	 * (_i 1); either way the message is longer than its 512 bytes. */
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	if (_i == 0)
		snprintf(path, sizeof(path), "%s/%s%s.pid", tu_dir(), name, name);
	else
		snprintf(path, sizeof(path), "%s/%s/%s.pid", tu_dir(), name, name);
	ck_assert_int_gt(strlen(path), 600);
	tu_launch(&l, "--pidfile", path, NULL);
	ck_assert_int_eq(l.status, 1);
	n = strlen(l.err);
	ck_assert_msg(n > strlen(tail) && strcmp(l.err + n - strlen(tail),
	    tail) == 0, "stderr: %s", l.err);
	/* Cut in the middle: the head and the tail of the path stay. */
	snprintf(head, sizeof(head), "pidfile %s/xxx", tu_dir());
	ck_assert_msg(strstr(l.err, head) != NULL, "stderr: %s", l.err);
	ck_assert_msg(strstr(l.err, "x...x") != NULL, "stderr: %s", l.err);
	ck_assert_msg(strstr(l.err, "xx.pid: File name too long") != NULL,
	    "stderr: %s", l.err);
	ck_assert(tu_no_children(2000));
}
END_TEST

/*
 * FreeBSD's pattern, through the pidfile API alone (tests/pidfile-helper):
 * acquire, fork, the parent exits.  The child's dctx_pidfile_write() makes
 * the file name it, and makes it the owner that removes the file.
 */
START_TEST(a_forked_child_rewrites_the_pid_and_owns_the_file)
{
	const char *pf = tu_path("p.pid");
	struct launch l;
	long child = 0;

	tu_program = PIDFILE_HELPER_PATH;
	tu_launch(&l, "--pidfile", pf, "--fork-write", NULL);
	ck_assert_msg(l.status == 0, "helper: %d %s", l.status, l.err);
	ck_assert_int_eq(sscanf(l.err, "child %ld", &child), 1);
	tu_track((pid_t)child);
	/* The parent is gone; the file names the live child, who holds it. */
	ck_assert(tu_alive((pid_t)child));
	ck_assert_int_eq(tu_read_pidfile(pf), child);
	ck_assert_int_eq(holder_of(pf), child);
	/* Its release removes the file: it is the owner now. */
	ck_assert_int_eq(kill((pid_t)child, SIGTERM), 0);
	ck_assert_int_eq(tu_wait_gone((pid_t)child, 3000), 0);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

/* Without the rewrite, what a program could do before: a dead pid. */
START_TEST(without_the_rewrite_the_file_names_the_dead_parent)
{
	const char *pf = tu_path("p.pid");
	struct launch l;
	long child = 0;
	pid_t named;

	tu_program = PIDFILE_HELPER_PATH;
	tu_launch(&l, "--pidfile", pf, "--fork", NULL);
	ck_assert_msg(l.status == 0, "helper: %d %s", l.status, l.err);
	ck_assert_int_eq(sscanf(l.err, "child %ld", &child), 1);
	tu_track((pid_t)child);
	named = tu_read_pidfile(pf);
	ck_assert_int_ne(named, child);
	ck_assert(!tu_alive(named));
	/* The child holds the lock, but is not the owner: the file stays. */
	ck_assert_int_eq(kill((pid_t)child, SIGTERM), 0);
	ck_assert_int_eq(tu_wait_gone((pid_t)child, 3000), 0);
	ck_assert_int_eq(access(pf, F_OK), 0);
}
END_TEST

/* dctx_pidfile_close(): the file and what it says stay; the lock goes. */
START_TEST(close_leaves_the_file_and_its_content)
{
	const char *pf = tu_path("p.pid");
	struct launch l;
	pid_t named;

	tu_program = PIDFILE_HELPER_PATH;
	tu_launch(&l, "--pidfile", pf, "--close", NULL);
	ck_assert_msg(l.status == 0, "helper: %d %s", l.status, l.err);
	named = tu_read_pidfile(pf);
	ck_assert_int_gt(named, 0);
	ck_assert(!tu_alive(named));
	{
		char want[32];
		snprintf(want, sizeof(want), "%ld\n", (long)named);
		ck_assert_str_eq(tu_slurp(pf), want);
	}
	/* Nobody holds it: a stale file, which the next start takes over. */
	ck_assert_int_eq(holder_of(pf), 0);
}
END_TEST

/*
 * dctx_prepare() takes the pidfile and keeps it, locked and empty, until
 * dctx_open(); a program that gives up then (its bind failed) frees the
 * context, which removes the file.  In between, the ids and the pidfile
 * are frozen, the other attributes are not.
 */
START_TEST(a_prepared_context_holds_the_pidfile_until_freed)
{
	const char *pf = tu_path("d.pid"), *marker = tu_path("pause");
	const char *err;
	struct launch l;
	pid_t pid, holder = -1;
	int i;

	setenv("DCTX_HELPER_PAUSE_FILE", marker, 1);
	pid = tu_start_fg("--pidfile", pf, "--prepare-and-free", NULL);
	for (i = 0; i < 2000 && access(marker, F_OK) != 0; i++)
		usleep(1000);
	unsetenv("DCTX_HELPER_PAUSE_FILE");
	ck_assert_int_eq(access(marker, F_OK), 0);
	/* Locked, no pid yet; another start is refused. */
	ck_assert_int_eq(dctx_pidfile_holder(pf, &holder), DCTX_ERUNNING);
	ck_assert_int_eq(holder, 0);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "already running") != NULL, "stderr: %s",
	    l.err);
	ck_assert_int_eq(unlink(marker), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 0);
	ck_assert_int_ne(access(pf, F_OK), 0);
	err = tu_slurp(tu_path("fg.stderr"));
	ck_assert_msg(strstr(err, "set_user -30009 user: resolved by "
	    "dctx_prepare(): set it before") != NULL, "stderr: %s", err);
	ck_assert(strstr(err, "set_uid -30009 uid: ") != NULL);
	ck_assert(strstr(err, "set_gid -30009 gid: ") != NULL);
	ck_assert(strstr(err, "set_group -30009 group: ") != NULL);
	ck_assert(strstr(err, "set_pidfile -30009 pidfile: ") != NULL);
	ck_assert(strstr(err, "set_umask 0\n") != NULL);
	ck_assert(strstr(err, "preserve_fd 0\n") != NULL);
}
END_TEST

/* A failed dctx_prepare() leaves the holder's file as it was. */
START_TEST(a_failed_prepare_leaves_nothing_behind)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	char want[64];
	pid_t first;

	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	first = tu_read_pidfile(pf);
	tu_launch(&l, "--pidfile", pf, "--prepare", NULL);
	ck_assert_int_eq(l.status, 1);
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)first);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_int_eq(tu_read_pidfile(pf), first);
	ck_assert_int_eq(holder_of(pf), first);
	/* And a prepared start that goes on opens as usual. */
	tu_stop_cleanly(first);
	tu_launch(&l, "--pidfile", pf, "--prepare", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert(tu_alive(tu_read_pidfile(pf)));
	ck_assert_int_eq(holder_of(pf), tu_read_pidfile(pf));
}
END_TEST

/*
 * A program that forks between dctx_prepare() and dctx_open(): the child
 * shares the lock, but the pidfile is the parent's, which removes it when
 * it frees its context; a daemon made of the child would lose its pidfile
 * under it.  The child's dctx_prepare() and dctx_open() are refused.
 */
START_TEST(a_child_forked_after_prepare_cannot_open)
{
	const char *pf = tu_path("d.pid");
	struct launch l;

	tu_launch(&l, "--pidfile", pf, "--prepare-fork-child-open", NULL);
	ck_assert_msg(strstr(l.err, "child prepare -1 dctx_prepare in pid") !=
	    NULL && strstr(l.err, "child open -1 dctx_open in pid") != NULL &&
	    strstr(l.err, "which holds the pidfile: Operation not permitted") !=
	    NULL, "stderr: %s", l.err);
	ck_assert_int_eq(l.status, 0);
	ck_assert_int_ne(access(pf, F_OK), 0);
	ck_assert(tu_no_children(2000));
}
END_TEST

/* A pid that surely names no process: a child of ours, reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* A number printed by the helper on its --stdout: "WHAT %ld". */
static pid_t
said_pid(const char *out, const char *what)
{
	const char *p = strstr(tu_slurp(out), what);
	long pid = 0;

	ck_assert_msg(p != NULL, "no \"%s\" in %s", what, tu_slurp(out));
	ck_assert_int_eq(sscanf(p + strlen(what), " %ld", &pid), 1);
	return (pid_t)pid;
}

/*
 * A daemon crashes while a child it forked lives on: the child shares the
 * lock (flock() belongs to the open file description), so the file stays
 * locked, but the dead daemon's pid must not be shown as its holder: the
 * launcher empties the file, and neither dctx_pidfile_holder() nor a
 * second start name a dead pid.
 */
START_TEST(a_crashed_daemons_child_keeps_the_lock_but_no_dead_pid_is_shown)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct launch l;
	pid_t daemon, holder, pid = -1;

	tu_launch(&l, "--pidfile", pf, "--stdout", out, "--fork-holder",
	    "6000", "--manual-ready", "crash", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "the daemon exited before it was ready")
	    != NULL, "stderr: %s", l.err);
	daemon = said_pid(out, "open pid");
	holder = said_pid(out, "holder pid");
	tu_track(holder);
	ck_assert(!tu_alive(daemon));
	ck_assert(tu_alive(holder));
	/* The child still holds the lock: the file stays, locked... */
	ck_assert(is_locked(pf));
	/* ...but no longer says the dead daemon's pid. */
	ck_assert_int_ne(tu_read_pidfile(pf), daemon);
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), DCTX_ERUNNING);
	ck_assert_int_eq(pid, 0);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "already running (locked, no live pid "
	    "in it)") != NULL, "stderr: %s", l.err);
	ck_assert(tu_alive(holder));
}
END_TEST

/* A lock held under a pid that no longer exists: no pid is shown. */
START_TEST(a_lock_held_under_a_dead_pid_shows_no_pid)
{
	const char *pf = tu_path("d.pid");
	char dead[32];
	struct launch l;
	pid_t pid = -1;
	int fd;

	snprintf(dead, sizeof(dead), "%ld\n", (long)dead_pid());
	write_file(pf, dead);
	fd = open(pf, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(dctx_pidfile_holder(pf, &pid), DCTX_ERUNNING);
	ck_assert_int_eq(pid, 0);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "already running (locked, no live pid "
	    "in it)") != NULL, "stderr: %s", l.err);
	/* A start that is refused leaves the file as it was. */
	ck_assert_str_eq(tu_slurp(pf), dead);
	close(fd);
}
END_TEST

/* Modes that let a group or others rewrite the pid. */
static const mode_t writable_modes[] = { 0666, 0664, 0646, 0620 };

START_TEST(a_file_writable_by_group_or_others_is_refused_and_left_alone)
{
	const char *pf = tu_path("d.pid");
	mode_t mode = writable_modes[_i];
	char want[600];
	struct launch l;
	struct stat st;

	/* Left by someone, with a mode that lets others choose the pid a
	 * "stop" script signals. */
	write_file(pf, "4242\n");
	ck_assert_int_eq(chmod(pf, mode), 0);
	snprintf(want, sizeof(want), "pidfile %s: writable by group or "
	    "others (mode 0%o)", pf, (unsigned)mode);
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_str_eq(tu_slurp(pf), "4242\n");
	ck_assert_int_eq(stat(pf, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, mode);
	ck_assert(!is_locked(pf));
	ck_assert(tu_no_children(2000));
}
END_TEST

/*
 * Something that is not a regular file at the path (a FIFO, _i 0; a
 * device node, _i 1, which needs root) is refused without being opened:
 * opening a device can have effects (a watchdog, a tape).  inotify sees
 * every open of the node from outside.
 */
START_TEST(a_path_that_is_no_regular_file_is_refused_unopened)
{
	const char *pf = tu_path("d.pid"), *err;
	char want[600], events[4096];
	pid_t pid;
	int in;

	if (_i == 0)
		ck_assert_int_eq(mkfifo(pf, 0644), 0);
	else
		ck_assert_int_eq(mknod(pf, S_IFCHR | 0644, makedev(1, 3)), 0);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, pf, IN_OPEN), 0);
	snprintf(want, sizeof(want), "pidfile %s: not a regular file", pf);
	/* Not tu_launch(), which reads the pidfile: a FIFO would block. */
	pid = tu_start_fg("--pidfile", pf, NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 1);
	err = tu_slurp(tu_path("fg.stderr"));
	ck_assert_msg(strstr(err, want) != NULL, "stderr: %s", err);
	ck_assert_msg(read(in, events, sizeof(events)) < 0 && errno == EAGAIN,
	    "the node was opened");
	close(in);
	ck_assert(tu_no_children(2000));
}
END_TEST

static Suite *
pidfile_suite(void)
{
	Suite *s = suite_create("pidfile");
	TCase *tc = tu_tcase("pidfile");

	tcase_add_loop_test(tc, pidfile_holds_the_pid_with_mode_0644_and_a_lock, 0, 2);
	tcase_add_test(tc, second_instance_is_refused_with_the_first_ones_pid);
	tcase_add_test(tc, stale_pidfile_is_taken_over);
	tcase_add_test(tc, pidfile_in_a_missing_directory_fails_before_the_fork);
	tcase_add_test(tc, pidfile_that_is_a_symlink_is_refused);
	tcase_add_test(tc, sigterm_removes_the_pidfile);
	tcase_add_test(tc, a_forked_child_that_exits_leaves_the_pidfile_alone);
	tcase_add_test(tc, pidfile_api_on_its_own);
	tcase_add_test(tc, a_forked_child_reporting_a_failure_is_not_heard);
	tcase_add_test(tc, a_forked_child_that_frees_the_context_leaves_the_daemon_whole);
	tcase_add_test(tc, a_stale_pid_is_never_shown_while_starting);
	tcase_add_test(tc, a_daemon_whose_launcher_was_killed_lives_on);
	tcase_add_test(tc, a_hard_link_to_another_file_is_refused_and_left_alone);
	/* chown() to another user needs root; the rest does not. */
	if (geteuid() == 0)
		tcase_add_test(tc, a_file_of_another_user_is_refused_and_left_alone);
	else
		printf("pidfile: skipped "
		    "a_file_of_another_user_is_refused_and_left_alone, "
		    "it needs root\n");
	tcase_add_test(tc, a_pid_written_just_before_the_lock_is_never_shown);
	tcase_add_test(tc, a_stale_cleanup_leaves_a_newer_instances_pidfile);
	tcase_add_loop_test(tc, a_value_that_is_no_pid_is_never_read_as_one, 0,
	    (int)(sizeof(not_pids) / sizeof(not_pids[0])));
	tcase_add_test(tc, holder_gives_the_pid_apart_from_the_error);
	tcase_add_loop_test(tc, a_long_pidfile_path_keeps_the_reason, 0, 2);
	tcase_add_test(tc, a_forked_child_rewrites_the_pid_and_owns_the_file);
	tcase_add_test(tc, without_the_rewrite_the_file_names_the_dead_parent);
	tcase_add_test(tc, close_leaves_the_file_and_its_content);
	tcase_add_test(tc, a_prepared_context_holds_the_pidfile_until_freed);
	tcase_add_test(tc, a_failed_prepare_leaves_nothing_behind);
	tcase_add_test(tc, a_child_forked_after_prepare_cannot_open);
	tcase_add_test(tc,
	    a_crashed_daemons_child_keeps_the_lock_but_no_dead_pid_is_shown);
	tcase_add_test(tc, a_lock_held_under_a_dead_pid_shows_no_pid);
	tcase_add_loop_test(tc,
	    a_file_writable_by_group_or_others_is_refused_and_left_alone, 0,
	    (int)(sizeof(writable_modes) / sizeof(writable_modes[0])));
	/* Case 1, a device node, needs root to make it. */
	tcase_add_loop_test(tc, a_path_that_is_no_regular_file_is_refused_unopened,
	    0, geteuid() == 0 ? 2 : 1);
	if (geteuid() != 0)
		printf("pidfile: skipped "
		    "a_path_that_is_no_regular_file_is_refused_unopened case 1 "
		    "(a device node), it needs root\n");
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(pidfile_suite)
