/* The process's attributes: working directory, umask, core limit, signals. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static pid_t
launch_ok(const char *a, const char *b, const char *c, const char *d)
{
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), a, b, c, d, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_alive(pid));
	return pid;
}

START_TEST(working_directory_defaults_to_root)
{
	pid_t pid = launch_ok(NULL, NULL, NULL, NULL);

	ck_assert_str_eq(tu_proc_link(pid, "cwd"), "/");
}
END_TEST

START_TEST(working_directory_is_changed)
{
	char want[512];
	pid_t pid;

	snprintf(want, sizeof(want), "%s", tu_dir());
	pid = launch_ok("--workdir", want, NULL, NULL);
	ck_assert_str_eq(tu_proc_link(pid, "cwd"), want);
}
END_TEST

START_TEST(umask_defaults_to_zero_and_is_set)
{
	pid_t pid;

	umask(022);
	pid = launch_ok(NULL, NULL, NULL, NULL);
	ck_assert_str_eq(tu_status_field(pid, "Umask:"), "0000");
	kill(pid, SIGKILL);
	tu_wait_gone(pid, 2000);
	pid = launch_ok("--umask", "027", NULL, NULL);
	ck_assert_str_eq(tu_status_field(pid, "Umask:"), "0027");
}
END_TEST

/* "Max core file size  <soft>  <hard>  bytes" from /proc/PID/limits. */
static void
core_limit(pid_t pid, char *soft, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	soft[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Max core file size", 18) == 0)
			sscanf(line + 18, "%31s", soft);
	fclose(f);
	(void)len;
}

START_TEST(prevent_core_sets_the_core_limit_to_zero)
{
	struct rlimit rl;
	char soft[32];
	pid_t pid;

	/* AddressSanitizer's runtime zeroes the limit itself unless told not
	 * to; without it, the variable is ignored. */
	tu_asan_option("disable_coredump=0");
	/* Start from a non-zero limit, so that zero proves the step. */
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 4096 ?
	    4096 : rl.rlim_max;
	ck_assert_msg(rl.rlim_cur > 0, "the hard core limit is 0 here");
	ck_assert_int_eq(setrlimit(RLIMIT_CORE, &rl), 0);
	pid = launch_ok(NULL, NULL, NULL, NULL);
	core_limit(pid, soft, sizeof(soft));
	ck_assert_str_eq(soft, "0");
	kill(pid, SIGKILL);
	tu_wait_gone(pid, 2000);
	pid = launch_ok("--allow-core", NULL, NULL, NULL);
	core_limit(pid, soft, sizeof(soft));
	ck_assert_str_eq(soft, "4096");
}
END_TEST

START_TEST(signal_dispositions_and_mask_are_reset)
{
	struct tu_fd fds[64];
	sigset_t set;
	pid_t pid;

	/* Inherited through exec: a blocked SIGUSR1, an ignored SIGHUP. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	signal(SIGHUP, SIG_IGN);
	pid = launch_ok(NULL, NULL, NULL, NULL);
	/*
	 * The daemon holds SIGPIPE for the moment it writes its report to
	 * the launcher, which may exit before the mask is put back: look once
	 * the daemon has closed its end of that pipe, after the write.
	 */
	tu_fds_settled(pid, fds, sizeof(fds) / sizeof(fds[0]));
	ck_assert_str_eq(tu_status_field(pid, "SigBlk:"), "0000000000000000");
	/* Only the default map is ignored: SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE. */
	ck_assert_str_eq(tu_status_field(pid, "SigIgn:"), "0000000000381000");
	/* SIGTERM and SIGHUP (the reload) are caught, by libevent's
	 * handler for their signal events: SIGHUP, ignored when inherited,
	 * is no longer. */
	ck_assert_str_eq(tu_status_field(pid, "SigCgt:"), "0000000000004001");
}
END_TEST

START_TEST(threads_started_before_open_are_refused)
{
	const char *pf = tu_path("d.pid");
	struct launch l;

	tu_launch(&l, "--pidfile", pf, "--thread-before-open", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, "2 threads in the process: other threads "
	    "are running") != NULL, "stderr: %s", l.err);
	/* Refused before anything changed: no pidfile, no daemon. */
	ck_assert_int_ne(access(pf, F_OK), 0);
	ck_assert(tu_no_children(3000));
}
END_TEST

START_TEST(threads_started_before_open_are_refused_in_the_foreground)
{
	pid_t pid;

	pid = tu_start_fg("--foreground", "--thread-before-open", NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 1);
	ck_assert_msg(strstr(tu_slurp(tu_path("fg.stderr")),
	    "2 threads in the process") != NULL, "stderr: %s",
	    tu_slurp(tu_path("fg.stderr")));
}
END_TEST

START_TEST(a_closed_context_is_not_opened_again)
{
	const char *out = tu_path("out");
	pid_t pid;

	pid = tu_start_fg("--foreground", "--stdout", out, "--reopen", NULL);
	ck_assert(tu_wait_file_contains(out, "open pid", 3000));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	/* The reopen is refused, so the process ends after its first stop. */
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 1);
	ck_assert_msg(strstr(tu_slurp(out), "reopen -30008 dctx_open after "
	    "dctx_close: a closed context cannot be opened again") != NULL,
	    "stdout: %s", tu_slurp(out));
}
END_TEST

START_TEST(a_closed_daemon_is_not_opened_again)
{
	const char *pf = tu_path("d.pid"), *out = tu_path("out");
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", pf, "--stdout", out, "--reopen", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(pf);
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 1);
	ck_assert(tu_wait_file_contains(out, "reopen -30008", 1000));
	/* Nothing was forked again: no daemon is left. */
	ck_assert(tu_no_children(3000));
}
END_TEST

static Suite *
process_suite(void)
{
	Suite *s = suite_create("process");
	TCase *tc = tu_tcase("process");

	tcase_add_test(tc, working_directory_defaults_to_root);
	tcase_add_test(tc, working_directory_is_changed);
	tcase_add_test(tc, umask_defaults_to_zero_and_is_set);
	tcase_add_test(tc, prevent_core_sets_the_core_limit_to_zero);
	tcase_add_test(tc, signal_dispositions_and_mask_are_reset);
	tcase_add_test(tc, threads_started_before_open_are_refused);
	tcase_add_test(tc, threads_started_before_open_are_refused_in_the_foreground);
	tcase_add_test(tc, a_closed_context_is_not_opened_again);
	tcase_add_test(tc, a_closed_daemon_is_not_opened_again);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(process_suite)
