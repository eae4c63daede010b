/*
 * examples/minimal, the README's "Using it" program: it starts, drops to
 * its user, writes its pidfile, stops on SIGTERM with status 0 and
 * removes the pidfile; its errors reach the shell.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/*
 * The user to drop to, and a directory it may write, so that it can remove
 * its pidfile when it stops: nobody and a directory given to it as root,
 * ourselves and the test's directory otherwise.
 */
static const char *
run_dir(struct passwd *pw)
{
	struct passwd *found;
	const char *dir;

	found = getuid() == 0 ? getpwnam("nobody") : getpwuid(getuid());
	ck_assert_msg(found != NULL, "no user to run as");
	*pw = *found;
	if (getuid() != 0)
		return tu_dir();
	dir = tu_path("run");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
	return dir;
}

START_TEST(minimal_runs_as_its_user_and_stops_on_sigterm)
{
	char pf[512], want[128];
	struct passwd pw;
	struct launch l;
	pid_t pid;
	long uid;

	tu_program = MINIMAL_PATH;
	snprintf(pf, sizeof(pf), "%s/minimal.pid", run_dir(&pw));
	tu_launch(&l, pf, pw.pw_name, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "");
	pid = tu_read_pidfile(pf);
	ck_assert_int_gt(pid, 0);
	tu_track(pid);
	ck_assert(tu_alive(pid));
	uid = (long)pw.pw_uid;
	snprintf(want, sizeof(want), "%ld\t%ld\t%ld\t%ld", uid, uid, uid, uid);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), want);
	ck_assert_str_eq(tu_proc_link(pid, "cwd"), "/");
	tu_stop_cleanly(pid);
	ck_assert_msg(access(pf, F_OK) < 0 && errno == ENOENT,
	    "the pidfile is left behind");
}
END_TEST

START_TEST(minimal_without_arguments_says_how_to_run_it)
{
	struct launch l;

	tu_program = MINIMAL_PATH;
	tu_launch(&l, NULL);
	ck_assert_int_eq(l.status, 2);
	ck_assert_str_eq(l.err, "usage: minimal PIDFILE USER\n");
}
END_TEST

START_TEST(minimal_reports_what_failed_to_the_shell)
{
	char pf[512], want[600];
	struct passwd pw;
	struct launch l;

	tu_program = MINIMAL_PATH;
	snprintf(pf, sizeof(pf), "%s/minimal.pid", run_dir(&pw));
	tu_launch(&l, pf, "no-such-user-dctx", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_str_eq(l.err,
	    "minimal: user 'no-such-user-dctx': no such user or group\n");
	ck_assert(access(pf, F_OK) < 0);

	snprintf(pf, sizeof(pf), "%s/missing/minimal.pid", tu_dir());
	tu_launch(&l, pf, pw.pw_name, NULL);
	ck_assert_int_eq(l.status, 1);
	snprintf(want, sizeof(want), "minimal: pidfile %s: ", pf);
	ck_assert_msg(strncmp(l.err, want, strlen(want)) == 0 &&
	    strstr(l.err, "No such file or directory\n") != NULL,
	    "stderr: %s", l.err);
}
END_TEST

static Suite *
minimal_suite(void)
{
	Suite *s = suite_create("minimal");
	TCase *tc = tu_tcase("minimal");

	tcase_add_test(tc, minimal_runs_as_its_user_and_stops_on_sigterm);
	tcase_add_test(tc, minimal_without_arguments_says_how_to_run_it);
	tcase_add_test(tc, minimal_reports_what_failed_to_the_shell);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(minimal_suite)
