/* terminate and the graceful shutdown chain, watched from outside. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

#define OUT tu_path("out")
#define ERR tu_path("err")
#define PIDFILE tu_path("d.pid")

/* Start the helper detached with its output in OUT and ERR. */
static pid_t
start(const char *a, const char *b, const char *c, const char *d,
    const char *e, const char *f)
{
	struct launch l;
	pid_t pid;

	tu_launch(&l, "--pidfile", PIDFILE, "--stdout", OUT, "--stderr", ERR,
	    a, b, c, d, e, f, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(PIDFILE);
	ck_assert(tu_alive(pid));
	return pid;
}

static int
count(const char *text, const char *needle)
{
	int n = 0;

	for (; (text = strstr(text, needle)) != NULL; text += strlen(needle))
		n++;
	return n;
}

/* Position of needle in OUT, to compare orders. */
static long
at(const char *needle)
{
	const char *text = tu_slurp(OUT), *p = strstr(text, needle);

	ck_assert_msg(p != NULL, "'%s' not in output: %s", needle, text);
	return p - text;
}

START_TEST(steps_run_in_reverse_order_of_registration)
{
	pid_t pid = start("--step", "first:now", "--step", "second:now",
	    "--step", "third:now");

	kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_CLEAN);
	ck_assert_int_lt(at("step third start"), at("step second start"));
	ck_assert_int_lt(at("step second start"), at("step first start"));
	ck_assert_int_lt(at("step first start"), at("stopped 0"));
	ck_assert_int_ne(access(PIDFILE, F_OK), 0);
	/* PEP 3143's words are kept in the log. */
	ck_assert(strstr(tu_slurp(ERR), "terminating on signal 15 (Terminated)"));
}
END_TEST

START_TEST(an_asynchronous_step_holds_the_loop_until_done)
{
	pid_t pid = start("--step", "slow:async:600", "--step", "quick:now",
	    NULL, NULL);

	kill(pid, SIGTERM);
	usleep(250 * 1000);
	/* "quick" ran, then "slow" started and holds the loop. */
	ck_assert(tu_alive(pid));
	ck_assert_int_lt(at("step quick start"), at("step slow start"));
	ck_assert(strstr(tu_slurp(OUT), "stopped") == NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_CLEAN);
	ck_assert_int_lt(at("step slow done"), at("stopped 0"));
	ck_assert_int_ne(access(PIDFILE, F_OK), 0);
}
END_TEST

START_TEST(the_deadline_fires_on_a_step_that_never_finishes)
{
	pid_t pid = start("--step", "unstarted:now", "--step", "stuck:never",
	    "--shutdown-timeout", "300");

	kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_TIMEOUT);
	/* Both the stuck step and the one that never started are told. */
	ck_assert_int_lt(at("step stuck start"), at("step stuck late"));
	ck_assert_int_lt(at("step stuck late"), at("step unstarted late"));
	ck_assert(strstr(tu_slurp(OUT), "step unstarted start") == NULL);
	ck_assert(strstr(tu_slurp(ERR), "shutdown deadline of 300 ms passed; "
	    "2 shutdown steps not finished"));
	ck_assert_int_ne(access(PIDFILE, F_OK), 0);
}
END_TEST

START_TEST(a_second_signal_forces_the_stop)
{
	int second = _i == 0 ? SIGTERM : SIGINT;
	pid_t pid = start("--step", "stuck:never", "--shutdown-timeout", "0",
	    NULL, NULL);
	char want[80];

	kill(pid, SIGTERM);
	usleep(300 * 1000);
	ck_assert(tu_alive(pid));
	kill(pid, second);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_FORCED);
	ck_assert(strstr(tu_slurp(OUT), "step stuck late") != NULL);
	snprintf(want, sizeof(want), "stop forced by signal %d", second);
	ck_assert(strstr(tu_slurp(ERR), want) != NULL);
	ck_assert_int_ne(access(PIDFILE, F_OK), 0);
}
END_TEST

START_TEST(a_burst_of_sigterms_starts_exactly_one_chain)
{
	pid_t pid = start("--step", "a:async:300", "--step", "b:now", NULL, NULL);
	int i;

	for (i = 0; i < 1000; i++)
		kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone(pid, 5000), DCTX_EXIT_CLEAN);
	ck_assert_int_eq(count(tu_slurp(OUT), "step a start"), 1);
	ck_assert_int_eq(count(tu_slurp(OUT), "step b start"), 1);
	ck_assert_int_eq(count(tu_slurp(OUT), "late"), 0);
	ck_assert_int_eq(count(tu_slurp(ERR), "terminating on signal"), 1);
	ck_assert_int_ne(access(PIDFILE, F_OK), 0);
}
END_TEST

/*
 * The first task of pid that is not its main thread.  The helper starts
 * its worker after dctx_open() has reported ready, so the launcher may
 * exit before the thread exists: wait for it, up to 3 s.
 */
static pid_t
worker_tid(pid_t pid)
{
	char path[64];
	struct dirent *de;
	pid_t tid = 0;
	int waited;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	for (waited = 0; tid == 0 && waited <= 3000; waited += 10) {
		d = opendir(path);
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && atol(de->d_name) != pid)
				tid = (pid_t)atol(de->d_name);
		closedir(d);
		if (tid == 0)
			usleep(10 * 1000);
	}
	return tid;
}

START_TEST(worker_threads_block_signals_and_are_joined_by_the_chain)
{
	char arg[16], path[64], line[256], blk[256] = "";
	unsigned long long mask;
	pid_t pid, tid;
	FILE *f;

	snprintf(arg, sizeof(arg), "%d", SIGUSR1);
	pid = start("--thread", "--signal", arg, NULL, NULL, NULL);
	tid = worker_tid(pid);
	ck_assert_int_gt(tid, 0);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/status", (long)pid,
	    (long)tid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "SigBlk:", 7) == 0)
			snprintf(blk, sizeof(blk), "%s", line + 7);
	fclose(f);
	mask = strtoull(blk, NULL, 16);
	/* The worker blocks what the loop handles; the main thread nothing. */
	ck_assert(mask & (1ULL << (SIGTERM - 1)));
	ck_assert(mask & (1ULL << (SIGUSR1 - 1)));
	ck_assert(mask & (1ULL << (SIGHUP - 1)));
	ck_assert_str_eq(tu_status_field(pid, "SigBlk:"), "0000000000000000");
	/* Many signals, every one handled on the main thread, in the loop. */
	for (int i = 0; i < 50; i++) {
		kill(pid, SIGUSR1);
		usleep(1000);
	}
	ck_assert(tu_wait_file_contains(OUT, "main-thread 1", 3000));
	ck_assert_int_eq(count(tu_slurp(OUT), "main-thread 0"), 0);
	kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_CLEAN);
	ck_assert_int_lt(at("thread stopping"), at("stopped 0"));
}
END_TEST

static Suite *
shutdown_suite(void)
{
	Suite *s = suite_create("shutdown");
	TCase *tc = tu_tcase("shutdown");

	tcase_add_test(tc, steps_run_in_reverse_order_of_registration);
	tcase_add_test(tc, an_asynchronous_step_holds_the_loop_until_done);
	tcase_add_test(tc, the_deadline_fires_on_a_step_that_never_finishes);
	tcase_add_loop_test(tc, a_second_signal_forces_the_stop, 0, 2);
	tcase_add_test(tc, a_burst_of_sigterms_starts_exactly_one_chain);
	tcase_add_test(tc, worker_threads_block_signals_and_are_joined_by_the_chain);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(shutdown_suite)
