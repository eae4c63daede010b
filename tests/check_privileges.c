/*
 * Privileges and chroot: these need root.  Run as anyone else, the program
 * exits 77, which automake reports as SKIP, never as PASS.
 */
#include "config.h"

#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static struct passwd nobody;

/*
 * What dpkg's start-stop-daemon --status says of a pidfile: 0 running, 3
 * not running, 4 unable to determine (an empty file); -1 without it.
 */
static int
ssd_status(const char *pidfile)
{
	char cmd[600];
	int st;

	if (access("/usr/sbin/start-stop-daemon", X_OK) != 0 &&
	    access("/sbin/start-stop-daemon", X_OK) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH "
	    "start-stop-daemon --status --pidfile '%s'", pidfile);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* "65534\t65534\t65534\t65534" for one id in all four places. */
static void
four_times(char *buf, size_t len, long id)
{
	snprintf(buf, len, "%ld\t%ld\t%ld\t%ld", id, id, id, id);
}

START_TEST(user_drops_uid_gid_and_groups)
{
	const char *pf = tu_path("d.pid");
	char want[128], groups[512] = "";
	gid_t list[64];
	int n = 64, i;
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", pf, "--user", nobody.pw_name, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	four_times(want, sizeof(want), (long)nobody.pw_uid);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), want);
	four_times(want, sizeof(want), (long)nobody.pw_gid);
	ck_assert_str_eq(tu_status_field(pid, "Gid:"), want);
	/* The user's own groups, as the group database lists them. */
	ck_assert_int_ge(getgrouplist(nobody.pw_name, nobody.pw_gid, list, &n), 0);
	for (i = 0; i < n; i++)
		snprintf(groups + strlen(groups), sizeof(groups) - strlen(groups),
		    "%s%ld", i ? " " : "", (long)list[i]);
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), groups);
}
END_TEST

START_TEST(numeric_ids_leave_only_the_gid_as_group)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	char want[128];
	pid_t pid;

	tu_launch(&l, "--pidfile", pf, "--uid", "65534", "--gid", "65534", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	four_times(want, sizeof(want), 65534);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), want);
	ck_assert_str_eq(tu_status_field(pid, "Gid:"), want);
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), "65534");
}
END_TEST

START_TEST(a_bare_uid_takes_the_users_group_not_roots)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	char want[128], uid[16];
	pid_t pid;

	snprintf(uid, sizeof(uid), "%ld", (long)nobody.pw_uid);
	tu_launch(&l, "--pidfile", pf, "--uid", uid, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	four_times(want, sizeof(want), (long)nobody.pw_gid);
	ck_assert_str_eq(tu_status_field(pid, "Gid:"), want);
	snprintf(want, sizeof(want), "%ld", (long)nobody.pw_gid);
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), want);
}
END_TEST

START_TEST(an_unknown_uid_without_a_gid_is_refused)
{
	struct launch l;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--uid", "4242424", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "uid 4242424 without a gid: no such user or group")
	    != NULL, "stderr: %s", l.err);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(pidfile_in_a_root_directory_is_written_then_emptied)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	struct stat st;
	pid_t pid;

	char want[600];
	int ssd;

	/* The directory is root's, 0755: the dropped daemon cannot unlink. */
	tu_launch(&l, "--pidfile", pf, "--user", nobody.pw_name, NULL);
	ck_assert_int_eq(l.status, 0);
	/* The operator is told so, once, before the fork, with the remedy. */
	snprintf(want, sizeof(want), "warning: pidfile %s: user %s (uid %ld) "
	    "cannot remove files from %s, so the pidfile will be emptied at "
	    "exit, not removed; use a directory the daemon's user owns", pf,
	    nobody.pw_name, (long)nobody.pw_uid, tu_dir());
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	snprintf(want, sizeof(want), "(install -d -o %s /run/NAME before the "
	    "start)", nobody.pw_name);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert(strstr(strstr(l.err, "warning") + 1, "warning") == NULL);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(stat(pf, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	tu_stop_cleanly(pid);
	/* Not removable, so emptied: nobody reads a live pid from it. */
	ck_assert_int_eq(access(pf, F_OK), 0);
	ck_assert_str_eq(tu_slurp(pf), "");
	/* Which start-stop-daemon cannot read: 4, "unable to determine". */
	if ((ssd = ssd_status(pf)) != -1)
		ck_assert_int_eq(ssd, 4);
}
END_TEST

/* The remedy: a directory of the daemon's user.  No warning, no file left. */
START_TEST(a_pidfile_in_the_users_own_directory_is_removed)
{
	const char *run = tu_path("run"), *pf = tu_path("run/d.pid");
	struct launch l;
	pid_t pid;
	int ssd;

	ck_assert_int_eq(mkdir(run, 0755), 0);
	ck_assert_int_eq(chown(run, nobody.pw_uid, nobody.pw_gid), 0);
	tu_launch(&l, "--pidfile", pf, "--user", nobody.pw_name, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_msg(strstr(l.err, "warning") == NULL, "stderr: %s", l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pf, F_OK), 0);
	/* start-stop-daemon: 3, "not running". */
	if ((ssd = ssd_status(pf)) != -1)
		ck_assert_int_eq(ssd, 3);
}
END_TEST

/*
 * In a sticky directory (/tmp) that is not its own, the daemon cannot
 * remove the file root made for it either, however open the directory.
 */
START_TEST(a_sticky_directory_not_the_users_draws_the_warning)
{
	const char *tmp = tu_path("tmp"), *pf = tu_path("tmp/d.pid");
	struct launch l;
	pid_t pid;

	ck_assert_int_eq(mkdir(tmp, 0755), 0);
	ck_assert_int_eq(chmod(tmp, 01777), 0);
	tu_launch(&l, "--pidfile", pf, "--user", nobody.pw_name, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_msg(strstr(l.err, "cannot remove files from") != NULL,
	    "stderr: %s", l.err);
	pid = tu_read_pidfile(pf);
	tu_stop_cleanly(pid);
	ck_assert_str_eq(tu_slurp(pf), "");
}
END_TEST

START_TEST(unknown_user_fails_before_the_fork)
{
	const char *pf = tu_path("d.pid");
	struct launch l;

	tu_launch(&l, "--pidfile", pf, "--user", "no-such-user-dctx", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "user 'no-such-user-dctx': no such user or group")
	    != NULL, "stderr: %s", l.err);
	ck_assert_int_ne(access(pf, F_OK), 0);
	ck_assert(tu_no_children(2000));
}
END_TEST

START_TEST(chroot_and_working_directory_inside_it)
{
	char jail[512], data[600];
	struct launch l;
	pid_t pid;

	snprintf(jail, sizeof(jail), "%s", tu_path("jail"));
	snprintf(data, sizeof(data), "%s/data", jail);
	ck_assert_int_eq(mkdir(jail, 0755), 0);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	/* LeakSanitizer needs /proc, which the jail lacks; without a
	 * sanitizer the variable is ignored. */
	tu_asan_option("detect_leaks=0");
	/* "/data" is taken inside the jail, as PEP 3143 says. */
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--chroot", jail,
	    "--workdir", "/data", "--user", nobody.pw_name, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_alive(pid));
	ck_assert_str_eq(tu_proc_link(pid, "root"), jail);
	ck_assert_str_eq(tu_proc_link(pid, "cwd"), data);
	/* No directory outside the jail stays open: it would be a way out. */
	{
		struct tu_fd fds[64];
		size_t n = tu_fds(pid, fds, 64), i;
		for (i = 0; i < n; i++)
			ck_assert_msg(strcmp(fds[i].target, tu_dir()) != 0,
			    "fd %d is open on %s, outside the jail", fds[i].fd,
			    fds[i].target);
	}
	/* SIGTERM still removes or empties the pidfile outside the jail. */
	tu_stop_cleanly(pid);
	ck_assert_str_eq(tu_slurp(tu_path("d.pid")), "");
}
END_TEST

START_TEST(a_pidfile_inside_the_jail_is_removed)
{
	char jail[512], run[600], pf[700];
	struct launch l;
	pid_t pid;

	snprintf(jail, sizeof(jail), "%s", tu_path("jail"));
	snprintf(run, sizeof(run), "%s/run", jail);
	snprintf(pf, sizeof(pf), "%s/d.pid", run);
	ck_assert_int_eq(mkdir(jail, 0755), 0);
	ck_assert_int_eq(mkdir(run, 0755), 0);
	tu_asan_option("detect_leaks=0");
	tu_launch(&l, "--pidfile", pf, "--chroot", jail, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pf, F_OK), 0);
}
END_TEST

START_TEST(a_symlink_in_the_pidfile_path_cannot_aim_removal_at_a_decoy)
{
	char jail[512], host[512], link[600], pf[700], decoy[2200];
	struct launch l;
	pid_t pid;

	/* jail/run -> <dir>/hostrun: outside, the pidfile is in hostrun;
	 * inside the jail the same name leads to jail<dir>/hostrun. */
	snprintf(jail, sizeof(jail), "%s", tu_path("jail"));
	snprintf(host, sizeof(host), "%s", tu_path("hostrun"));
	snprintf(link, sizeof(link), "%s/run", jail);
	snprintf(pf, sizeof(pf), "%s/d.pid", link);
	ck_assert_int_eq(mkdir(jail, 0755), 0);
	ck_assert_int_eq(mkdir(host, 0755), 0);
	ck_assert_int_eq(symlink(host, link), 0);
	snprintf(decoy, sizeof(decoy), "mkdir -p '%s%s' && echo decoy > '%s%s/d.pid'",
	    jail, host, jail, host);
	ck_assert_int_eq(system(decoy), 0);
	snprintf(decoy, sizeof(decoy), "%s%s/d.pid", jail, host);
	tu_asan_option("detect_leaks=0");
	tu_launch(&l, "--pidfile", pf, "--chroot", jail, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	/* The decoy is untouched; the real file is emptied, not removed. */
	ck_assert_str_eq(tu_slurp(decoy), "decoy\n");
	ck_assert_str_eq(tu_slurp(pf), "");
}
END_TEST

START_TEST(missing_chroot_is_reported_by_the_launcher)
{
	char want[600];
	struct launch l;

	snprintf(want, sizeof(want), "chroot(%s): No such file or directory",
	    tu_path("missing"));
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--chroot",
	    tu_path("missing"), NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL, "stderr: %s", l.err);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

/*
 * A directory the unprivileged starter (nobody) may write: its pidfile and
 * its --stdout file go there.
 */
static const char *
nobody_dir(void)
{
	const char *d = tu_path("run");

	ck_assert_int_eq(mkdir(d, 0755), 0);
	ck_assert_int_eq(chown(d, nobody.pw_uid, nobody.pw_gid), 0);
	return d;
}

/*
 * Start the helper as nobody, not root but holding CAP_SETUID and
 * CAP_SETGID in every set, as a systemd User= service with
 * AmbientCapabilities= does, with root's group 0 among its supplementary
 * groups (the helper's --become does what util-linux setpriv would, after
 * exec); it asks for uid 65533 and gid.  Once open, it tries to become
 * root again.
 */
static void
capable_drop(const char *gid)
{
	char pf[600], out[600], as[96], want[128];
	const char *dir;
	struct launch l;
	pid_t pid;

	dir = nobody_dir();
	snprintf(pf, sizeof(pf), "%s/d.pid", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(as, sizeof(as), "%ld:%ld:0,%ld:caps", (long)nobody.pw_uid,
	    (long)nobody.pw_gid, (long)nobody.pw_gid);
	tu_launch(&l, "--become", as, "--pidfile", pf, "--stdout", out,
	    "--uid", "65533", "--gid", gid, "--try-regain", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	ck_assert(tu_wait_file_contains(out, "setresuid(0,0,0)", 3000));
	four_times(want, sizeof(want), 65533);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), want);
	four_times(want, sizeof(want), atol(gid));
	ck_assert_str_eq(tu_status_field(pid, "Gid:"), want);
	/* Group 0 is gone with the id change. */
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), gid);
	ck_assert_str_eq(tu_status_field(pid, "CapEff:"), "0000000000000000");
	ck_assert_str_eq(tu_status_field(pid, "CapPrm:"), "0000000000000000");
	ck_assert_str_eq(tu_status_field(pid, "CapInh:"), "0000000000000000");
	ck_assert_str_eq(tu_status_field(pid, "CapAmb:"), "0000000000000000");
	/* And root cannot be taken back. */
	ck_assert_msg(strstr(tu_slurp(out), "setresuid(0,0,0) -1 ") != NULL,
	    "stdout: %s", tu_slurp(out));
}

START_TEST(capabilities_are_dropped_between_two_non_root_uids)
{
	capable_drop("65533");
}
END_TEST

START_TEST(capabilities_are_dropped_when_the_gid_stays)
{
	char gid[16];

	/* The gid it started with: no old gid to try to take back. */
	snprintf(gid, sizeof(gid), "%ld", (long)nobody.pw_gid);
	capable_drop(gid);
}
END_TEST

START_TEST(groups_that_cannot_be_cleared_are_refused)
{
	char pf[600], as[96], id[16];
	const char *dir;
	struct launch l;

	dir = nobody_dir();
	snprintf(pf, sizeof(pf), "%s/d.pid", dir);
	snprintf(as, sizeof(as), "%ld:%ld:0", (long)nobody.pw_uid,
	    (long)nobody.pw_gid);
	snprintf(id, sizeof(id), "%ld", (long)nobody.pw_uid);
	/* No CAP_SETGID, and group 0 besides its own: it cannot shed it. */
	tu_launch(&l, "--become", as, "--pidfile", pf, "--uid", id, "--gid",
	    id, NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "setgroups(1 groups of gid") != NULL &&
	    strstr(l.err, "Operation not permitted") != NULL, "stderr: %s",
	    l.err);
	ck_assert_int_ne(access(pf, F_OK), 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(groups_already_equal_need_no_capability)
{
	char pf[600], as[96], id[16], want[128];
	const char *dir;
	struct launch l;
	pid_t pid;

	dir = nobody_dir();
	snprintf(pf, sizeof(pf), "%s/d.pid", dir);
	snprintf(as, sizeof(as), "%ld:%ld:%ld", (long)nobody.pw_uid,
	    (long)nobody.pw_gid, (long)nobody.pw_gid);
	snprintf(id, sizeof(id), "%ld", (long)nobody.pw_uid);
	/* setgroups fails with EPERM, but the groups are already right. */
	tu_launch(&l, "--become", as, "--pidfile", pf, "--uid", id, "--gid",
	    id, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	four_times(want, sizeof(want), (long)nobody.pw_uid);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), want);
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), id);
}
END_TEST

START_TEST(a_retried_open_resolves_its_groups_afresh)
{
	const char *pf = tu_path("d.pid");
	struct launch l;
	char want[128];
	pid_t pid;

	/* The first open fails at the pidfile, after resolving gid 65533. */
	tu_launch(&l, "--pidfile", tu_path("missing/d.pid"), "--gid", "65533",
	    "--retry-pidfile", pf, "--retry-gid", "65532", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_msg(strstr(l.err, "first open:") != NULL, "stderr: %s", l.err);
	/* tu_launch() tracks the first --pidfile only: this one is ours too. */
	pid = tu_read_pidfile(pf);
	tu_track(pid);
	ck_assert(tu_alive(pid));
	four_times(want, sizeof(want), 65532);
	ck_assert_str_eq(tu_status_field(pid, "Gid:"), want);
	ck_assert_str_eq(tu_status_field(pid, "Groups:"), "65532");
}
END_TEST

static Suite *
privileges_suite(void)
{
	Suite *s = suite_create("privileges");
	TCase *tc = tu_tcase("privileges");

	tcase_add_test(tc, user_drops_uid_gid_and_groups);
	tcase_add_test(tc, numeric_ids_leave_only_the_gid_as_group);
	tcase_add_test(tc, a_bare_uid_takes_the_users_group_not_roots);
	tcase_add_test(tc, an_unknown_uid_without_a_gid_is_refused);
	tcase_add_test(tc, pidfile_in_a_root_directory_is_written_then_emptied);
	tcase_add_test(tc, a_pidfile_in_the_users_own_directory_is_removed);
	tcase_add_test(tc, a_sticky_directory_not_the_users_draws_the_warning);
	tcase_add_test(tc, a_pidfile_inside_the_jail_is_removed);
	tcase_add_test(tc, a_symlink_in_the_pidfile_path_cannot_aim_removal_at_a_decoy);
	tcase_add_test(tc, unknown_user_fails_before_the_fork);
	tcase_add_test(tc, chroot_and_working_directory_inside_it);
	tcase_add_test(tc, missing_chroot_is_reported_by_the_launcher);
	tcase_add_test(tc, capabilities_are_dropped_between_two_non_root_uids);
	tcase_add_test(tc, capabilities_are_dropped_when_the_gid_stays);
	tcase_add_test(tc, groups_that_cannot_be_cleared_are_refused);
	tcase_add_test(tc, groups_already_equal_need_no_capability);
	tcase_add_test(tc, a_retried_open_resolves_its_groups_afresh);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	struct passwd *pw;
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		printf("privileges: skipped, these tests need root\n");
		return 77;
	}
	if ((pw = getpwnam("nobody")) == NULL) {
		printf("privileges: skipped, there is no user 'nobody'\n");
		return 77;
	}
	nobody = *pw;
	nobody.pw_name = strdup(pw->pw_name);
	sr = srunner_create(privileges_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(nobody.pw_name);
	return failed == 0 ? 0 : 1;
}
