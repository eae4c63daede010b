/* The signal map, as libevent signal events in the daemon's loop. */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(sigterm_stops_cleanly_with_status_zero)
{
	pid_t pid = tu_start_fg("--foreground", "--pidfile", tu_path("d.pid"),
	    "--stdout", tu_path("out"), NULL);

	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
	tu_stop_cleanly(pid);
	ck_assert(strstr(tu_slurp(tu_path("out")), "stopped") != NULL);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(mapped_signal_runs_its_callback_in_the_loop)
{
	struct launch l;
	char arg[64];
	pid_t pid;

	snprintf(arg, sizeof(arg), "%d", SIGUSR1);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    "--signal", arg, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	kill(pid, SIGUSR1);
	snprintf(arg, sizeof(arg), "signal %d in-loop 1", SIGUSR1);
	ck_assert(tu_wait_file_contains(tu_path("out"), arg, 3000));
	ck_assert(tu_alive(pid));
}
END_TEST

START_TEST(default_map_ignores_terminal_stop_signals)
{
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	pid = tu_read_pidfile(tu_path("d.pid"));
	kill(pid, SIGTSTP);
	kill(pid, SIGTTIN);
	kill(pid, SIGTTOU);
	usleep(100 * 1000);
	ck_assert(tu_alive(pid));
	/* Still running, not stopped ("T"). */
	ck_assert(strncmp(tu_status_field(pid, "State:"), "S", 1) == 0);
}
END_TEST

START_TEST(sigkill_cannot_be_mapped)
{
	struct launch l;
	char arg[16];

	snprintf(arg, sizeof(arg), "%d", SIGKILL);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--signal", arg, NULL);
	ck_assert_int_eq(l.status, 2);
	ck_assert_msg(strstr(l.err, "signal 9 (Killed): signal cannot be mapped")
	    != NULL, "stderr: %s", l.err);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(signals_mapped_after_open_take_effect_at_once)
{
	char usr1[16], usr2[16], want[64];
	struct launch l;
	pid_t pid;

	snprintf(usr1, sizeof(usr1), "%d", SIGUSR1);
	snprintf(usr2, sizeof(usr2), "%d", SIGUSR2);
	/* SIGUSR2 is added to the map after dctx_open; SIGUSR1 is mapped
	 * before and ignored after. */
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    "--signal", usr1, "--signal-later", usr2, "--ignore-later", usr1,
	    NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	kill(pid, SIGUSR2);
	snprintf(want, sizeof(want), "signal %d in-loop 1", SIGUSR2);
	ck_assert(tu_wait_file_contains(tu_path("out"), want, 3000));
	kill(pid, SIGUSR1);
	usleep(100 * 1000);
	ck_assert(tu_alive(pid));
	snprintf(want, sizeof(want), "signal %d ", SIGUSR1);
	ck_assert(strstr(tu_slurp(tu_path("out")), want) == NULL);
}
END_TEST

START_TEST(a_signal_unset_after_open_gets_its_default_action)
{
	char usr1[16];
	struct launch l;
	pid_t pid;

	snprintf(usr1, sizeof(usr1), "%d", SIGUSR1);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--signal", usr1,
	    "--unset-later", usr1, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	kill(pid, SIGUSR1);
	/* The default action of SIGUSR1 is to terminate. */
	ck_assert_int_eq(tu_wait_gone(pid, 3000), 128 + SIGUSR1);
}
END_TEST

START_TEST(remapping_a_signal_never_exposes_its_default_action)
{
	struct launch l;
	char hup[16];
	pid_t pid;
	int i;

	/* The daemon flips SIGHUP between a callback and ignore every
	 * millisecond; SIGHUP's default action would kill it. */
	snprintf(hup, sizeof(hup), "%d", SIGHUP);
	/* With _i, a thread that does not block SIGHUP takes some of them. */
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--remap-churn", hup,
	    _i ? "--plain-thread" : NULL, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	for (i = 0; i < 3000 && tu_alive(pid); i++) {
		kill(pid, SIGHUP);
		if (i % 10 == 0)
			usleep(100);
	}
	usleep(50 * 1000);
	ck_assert_msg(tu_alive(pid), "killed by SIGHUP after %d signals", i);
}
END_TEST

static Suite *
signals_suite(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tu_tcase("signals");

	tcase_add_test(tc, sigterm_stops_cleanly_with_status_zero);
	tcase_add_test(tc, mapped_signal_runs_its_callback_in_the_loop);
	tcase_add_test(tc, default_map_ignores_terminal_stop_signals);
	tcase_add_test(tc, sigkill_cannot_be_mapped);
	tcase_add_test(tc, signals_mapped_after_open_take_effect_at_once);
	tcase_add_test(tc, a_signal_unset_after_open_gets_its_default_action);
	tcase_add_loop_test(tc, remapping_a_signal_never_exposes_its_default_action, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(signals_suite)
