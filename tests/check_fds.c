/* Descriptors: what is closed, what is kept, what 0-2 become. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

/*
 * The library's syslog socket (dctx_log()): a daemon without a stderr file
 * keeps one AF_UNIX datagram socket, connected to /dev/log where a syslog
 * listens.  /proc/net/unix gives the type (2, SOCK_DGRAM) of the inode.
 */
static int
is_log_socket(const char *target)
{
	unsigned long ino, other;
	unsigned int type;
	char line[512];
	FILE *f;
	int found = 0;

	if (sscanf(target, "socket:[%lu]", &ino) != 1 ||
	    (f = fopen("/proc/net/unix", "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "%*s %*s %*s %*s %x %*s %lu", &type,
		    &other) == 2 && other == ino && type == 2;
	fclose(f);
	return found;
}

/* Put a file at a chosen number, inherited across exec. */
static void
open_at(const char *path, int fd)
{
	int tmp = open(path, O_RDWR | O_CREAT, 0644);

	ck_assert_int_ge(tmp, 0);
	ck_assert_int_eq(dup2(tmp, fd), fd);
	close(tmp);
}

START_TEST(only_stdio_preserved_and_library_fds_stay_open)
{
	const char *pf = tu_path("d.pid"), *kept = tu_path("kept"),
	    *dropped = tu_path("dropped");
	struct tu_fd fds[64];
	char keptpath[512], droppedpath[512];
	struct launch l;
	size_t n, i;
	int saw_kept = 0, saw_log = 0;
	pid_t pid;

	snprintf(keptpath, sizeof(keptpath), "%s", kept);
	snprintf(droppedpath, sizeof(droppedpath), "%s", dropped);
	open_at(keptpath, 40);
	open_at(droppedpath, 41);
	tu_launch(&l, "--pidfile", pf, "--preserve-fd", "40", "--leak-fds", "5",
	    NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	n = tu_fds_settled(pid, fds, 64);
	ck_assert_uint_ge(n, 4);
	for (i = 0; i < n; i++) {
		const char *t = fds[i].target;
		if (fds[i].fd <= 2) {
			ck_assert_msg(strcmp(t, "/dev/null") == 0,
			    "fd %d is %s", fds[i].fd, t);
		} else if (fds[i].fd == 40) {
			ck_assert_str_eq(t, keptpath);
			saw_kept = 1;
		} else {
			/* The pidfile, its directory, libevent's own, the
			 * syslog socket. */
			ck_assert_msg(strcmp(t, pf) == 0 ||
			    strcmp(t, tu_dir()) == 0 || tu_is_event_fd_of(fds, n, i) ||
			    (is_log_socket(t) && saw_log++ == 0),
			    "unexpected fd %d open on %s", fds[i].fd, t);
		}
		ck_assert_msg(strcmp(t, droppedpath) != 0, "fd %d leaked", fds[i].fd);
		ck_assert_msg(strcmp(t, "/dev/zero") != 0, "fd %d leaked", fds[i].fd);
	}
	ck_assert(saw_kept);
	ck_assert_int_eq(fds[0].fd, 0);
	ck_assert_int_eq(fds[1].fd, 1);
	ck_assert_int_eq(fds[2].fd, 2);
}
END_TEST

START_TEST(stdout_and_stderr_go_where_they_are_told)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out"),
	    *err = tu_path("err");
	struct tu_fd fds[64];
	char outpath[512], errpath[512];
	struct launch l;
	size_t n;
	pid_t pid;

	snprintf(outpath, sizeof(outpath), "%s", out);
	snprintf(errpath, sizeof(errpath), "%s", err);
	tu_launch(&l, "--pidfile", pf, "--stdout", outpath, "--stderr", errpath,
	    NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	n = tu_fds_settled(pid, fds, 64);
	ck_assert_uint_ge(n, 3);
	ck_assert_str_eq(fds[0].target, "/dev/null");
	ck_assert_str_eq(fds[1].target, outpath);
	ck_assert_str_eq(fds[2].target, errpath);
	/* What the daemon prints lands in the file. */
	ck_assert(tu_wait_file_contains(outpath, "open pid", 3000));
}
END_TEST

/*
 * dctx_set_stdout(ctx, 1) keeps the stdout the daemon was started with, as
 * a shell's ">file" or a supervisor's pipe gives it: nothing is closed or
 * replaced, and what the daemon prints lands there.
 */
START_TEST(stdout_1_keeps_the_current_stdout)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct tu_fd fds[64];
	char outpath[512];
	size_t n;
	pid_t pid;
	int saved;

	snprintf(outpath, sizeof(outpath), "%s", out);
	/* The helper's fd 1 is ours at the fork: point it at the file. */
	saved = dup(1);
	ck_assert_int_ge(saved, 0);
	open_at(outpath, 1);
	pid = tu_start_fg("--foreground", "--pidfile", pf, "--keep-stdout",
	    NULL);
	ck_assert_int_eq(dup2(saved, 1), 1);
	close(saved);
	ck_assert_msg(tu_wait_file_contains(outpath, "open pid", 3000),
	    "nothing on the kept stdout; stderr: %s",
	    tu_slurp(tu_path("fg.stderr")));
	n = tu_fds_settled(pid, fds, 64);
	ck_assert_uint_ge(n, 3);
	ck_assert_str_eq(fds[0].target, "/dev/null");
	ck_assert_str_eq(fds[1].target, outpath);
	ck_assert_str_eq(fds[2].target, "/dev/null");
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(closed_stdin_is_fine_and_becomes_dev_null)
{
	const char *pf = tu_path("d.pid");
	struct tu_fd fds[64];
	struct launch l;
	pid_t pid;

	/* A closed fd 0 in the launcher: it must neither crash nor stay in front. */
	tu_stdin_fd = -2;
	tu_launch(&l, "--pidfile", pf, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	ck_assert_uint_ge(tu_fds(pid, fds, 64), 3);
	ck_assert_int_eq(fds[0].fd, 0);
	ck_assert_str_eq(fds[0].target, "/dev/null");
}
END_TEST

START_TEST(close_all_with_nofile_at_its_hard_limit)
{
	const char *pf = tu_path("d.pid");
	struct tu_fd fds[64];
	struct rlimit rl;
	struct launch l;
	size_t n, i;
	pid_t pid;

	/* The helper raises its soft limit to the hard one and puts a
	 * descriptor at the very top; it must be closed like any other. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	tu_launch(&l, "--pidfile", pf, "--raise-nofile", NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(pf);
	n = tu_fds_settled(pid, fds, 64);
	ck_assert_uint_ge(n, 3);
	for (i = 0; i < n; i++)
		ck_assert_msg((rlim_t)fds[i].fd != rl.rlim_max - 1,
		    "fd %d at the top of the limit survived", fds[i].fd);
}
END_TEST

/* Without close_range (an old kernel, a seccomp profile), /proc is walked. */
START_TEST(close_all_without_close_range)
{
	const char *err = _i == 0 ? "ENOSYS" : "EPERM";
	const char *pf = tu_path("d.pid");
	struct tu_fd fds[64];
	char dropped[512];
	struct launch l;
	size_t n, i;
	pid_t pid;
	int saw_log = 0;

	snprintf(dropped, sizeof(dropped), "%s", tu_path("dropped"));
	open_at(dropped, 41);
	tu_launch(&l, "--pidfile", pf, "--deny-close-range", err,
	    "--leak-fds", "5", "--raise-nofile", NULL);
	ck_assert_msg(l.status == 0, "%s: launcher %d: %s", err, l.status, l.err);
	pid = tu_read_pidfile(pf);
	n = tu_fds_settled(pid, fds, 64);
	ck_assert_uint_ge(n, 3);
	for (i = 0; i < n; i++)
		ck_assert_msg(fds[i].fd <= 2 || strcmp(fds[i].target, pf) == 0 ||
		    strcmp(fds[i].target, tu_dir()) == 0 ||
		    tu_is_event_fd_of(fds, n, i) ||
		    (is_log_socket(fds[i].target) && saw_log++ == 0),
		    "%s: fd %d open on %s", err, fds[i].fd, fds[i].target);
}
END_TEST

static Suite *
fds_suite(void)
{
	Suite *s = suite_create("fds");
	TCase *tc = tu_tcase("fds");

	tcase_add_test(tc, only_stdio_preserved_and_library_fds_stay_open);
	tcase_add_test(tc, stdout_and_stderr_go_where_they_are_told);
	tcase_add_test(tc, stdout_1_keeps_the_current_stdout);
	tcase_add_test(tc, closed_stdin_is_fine_and_becomes_dev_null);
	tcase_add_test(tc, close_all_with_nofile_at_its_hard_limit);
	tcase_add_loop_test(tc, close_all_without_close_range, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(fds_suite)
