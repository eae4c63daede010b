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
#include <sys/stat.h>
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
	ck_assert_int_eq(dctx_pidfile_holder(pf), pid);
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
	pid_t pid;

	/* A file left by a dead daemon: no lock, some pid. */
	write_file(pf, "999999\n");
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert_int_ne(pid, 999999);
	ck_assert(tu_alive(pid));
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
	ck_assert_int_eq(dctx_pidfile_holder(pf), pid);
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
	ck_assert_int_eq(dctx_pidfile_holder(path), getpid());
	ck_assert_int_eq(dctx_pidfile_release(pf), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(dctx_pidfile_holder(path), 0);
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
	ck_assert_int_eq(dctx_pidfile_holder(pf), pid);
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
	for (i = 0; i < 400 && dctx_pidfile_holder(pf) == 0; i++)
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
	tcase_add_test(tc, a_forked_child_that_frees_the_context_leaves_the_daemon_whole);
	tcase_add_test(tc, a_stale_pid_is_never_shown_while_starting);
	tcase_add_test(tc, a_daemon_whose_launcher_was_killed_lives_on);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(pidfile_suite)
