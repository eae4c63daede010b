/* The signal map, as libevent signal events in the daemon's loop. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
	/* The helper maps them after ready: wait until it has. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
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
	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    "--signal", usr1, "--unset-later", usr1, NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	/* The helper unmaps it after ready: wait until it has. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "open pid", 3000));
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

/*
 * Start the helper in front with its event base creation stretched (see
 * event_base_new_with_config() in dctx-helper.c), which libdctx does
 * between resetting the dispositions and installing the map, and send
 * signo while it waits there.  map_opt and its argument, if any, go to
 * the helper.
 */
/* What the pidfile said inside the window: nothing, the map not live. */
static pid_t pid_in_window;

static pid_t
signal_in_startup_window(int signo, const char *map_opt, const char *map_arg)
{
	pid_t pid;

	setenv("DCTX_HELPER_BASE_DELAY", "300", 1);
	pid = tu_start_fg("--foreground", "--pidfile", tu_path("d.pid"),
	    "--stdout", tu_path("out"), map_opt, map_arg, NULL);
	unsetenv("DCTX_HELPER_BASE_DELAY");
	ck_assert(tu_wait_file_contains(tu_path("out"), "base delay", 3000));
	pid_in_window = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_eq(kill(pid, signo), 0);
	return pid;
}

START_TEST(sigterm_in_the_startup_window_stops_cleanly)
{
	pid_t pid = signal_in_startup_window(SIGTERM, NULL, NULL);
	int status = tu_wait_gone(pid, 5000);

	ck_assert_msg(status == 0, "status %d (-1: still running)", status);
	ck_assert(strstr(tu_slurp(tu_path("out")), "open pid") != NULL);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert_int_eq(pid_in_window, 0);
}
END_TEST

START_TEST(sighup_in_the_startup_window_runs_its_callback)
{
	char hup[16], want[64];
	pid_t pid;

	snprintf(hup, sizeof(hup), "%d", SIGHUP);
	pid = signal_in_startup_window(SIGHUP, "--signal", hup);
	snprintf(want, sizeof(want), "signal %d in-loop 1", SIGHUP);
	ck_assert_msg(tu_wait_file_contains(tu_path("out"), want, 3000),
	    "alive %d, out: %s", tu_alive(pid), tu_slurp(tu_path("out")));
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
	ck_assert_int_eq(pid_in_window, 0);
}
END_TEST

START_TEST(sigtstp_in_the_startup_window_is_ignored)
{
	pid_t pid = signal_in_startup_window(SIGTSTP, NULL, NULL);

	ck_assert_msg(tu_wait_file_contains(tu_path("out"), "open pid", 3000),
	    "state %s", tu_status_field(pid, "State:"));
	usleep(100 * 1000);
	/* Running, not stopped ("T"). */
	ck_assert_msg(strncmp(tu_status_field(pid, "State:"), "S", 1) == 0,
	    "state %s", tu_status_field(pid, "State:"));
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
	tu_stop_cleanly(pid);
	ck_assert_int_eq(pid_in_window, 0);
}
END_TEST

/*
 * What start-stop-daemon --retry and many stop scripts do: signal until
 * the process is gone.  Whatever moment of the exit a signal meets, the
 * daemon ends with its own status, its pidfile removed.  Looped: the
 * window is short, and on the old code most runs met it.
 */
START_TEST(sigterm_until_gone_always_ends_cleanly)
{
	struct launch l;
	long sent = 0;
	pid_t pid;
	int status;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_gt(pid, 0);
	while (kill(pid, SIGTERM) == 0 && tu_alive(pid))
		sent++;
	status = tu_wait_gone(pid, 3000);
	ck_assert_msg(status == 0, "status %d after %ld SIGTERMs", status, sent);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

/* The same with SIGINT, which forces a running shutdown chain to end. */
START_TEST(sigint_until_gone_always_ends_forced)
{
	struct launch l;
	long sent = 0;
	pid_t pid;
	int status;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    "--step", "slow:async:2000", NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_gt(pid, 0);
	kill(pid, SIGTERM);
	ck_assert(tu_wait_file_contains(tu_path("out"), "step slow start", 3000));
	while (kill(pid, SIGINT) == 0 && tu_alive(pid))
		sent++;
	status = tu_wait_gone(pid, 3000);
	ck_assert_msg(status == 125, "status %d after %ld SIGINTs", status, sent);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

/* The signals a faulting instruction raises, and every way to map them. */
static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
    SIGTRAP, SIGSYS };
static const char *const map_options[] = { "--signal", "--ignore",
    "--terminate-on" };

START_TEST(fault_signals_cannot_be_mapped)
{
	int signo = fault_signals[_i / 3];
	const char *opt = map_options[_i % 3];
	char arg[16], want[128];
	struct launch l;

	snprintf(arg, sizeof(arg), "%d", signo);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), opt, arg, NULL);
	ck_assert_msg(l.status == 2, "%s %d: status %d", opt, signo, l.status);
	snprintf(want, sizeof(want), "signal %d (%s) is raised by a faulting "
	    "instruction", signo, strsignal(signo));
	ck_assert_msg(strstr(l.err, want) != NULL, "%s %d: stderr: %s", opt,
	    signo, l.err);
	ck_assert(strstr(l.err, "signal cannot be mapped") != NULL);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

START_TEST(default_map_ignores_sigpipe)
{
	struct launch l;
	unsigned long long ign;
	pid_t pid;

	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ign = strtoull(tu_status_field(pid, "SigIgn:"), NULL, 16);
	ck_assert_msg(ign & (1ULL << (SIGPIPE - 1)), "SigIgn %llx", ign);
	kill(pid, SIGPIPE);
	usleep(100 * 1000);
	ck_assert(tu_alive(pid));
}
END_TEST

/* A port below 32768 (away from the ephemeral range) that is free now. */
static in_port_t
free_port(void)
{
	struct sockaddr_in sin;
	int s, i, one = 1;

	for (i = 0; i < 100; i++) {
		in_port_t port = (in_port_t)(20000 + (getpid() + i * 97) % 10000);

		s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(s);
			return port;
		}
		close(s);
	}
	ck_abort_msg("no free port");
	return 0;
}

/* Connect with a small receive buffer: echoes pile up in the server. */
static int
dial(in_port_t port)
{
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_STREAM, 0), small = 4096;

	ck_assert_int_eq(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return s;
}

/*
 * echod leaves SIGPIPE to the default map.  A client sends far more than
 * its own receive buffer holds and never reads the echo; once echod has
 * read it all, the client says it is done (a FIN) and closes, which resets the
 * connection (the echo lies unread).  echod, still writing the echo back
 * to a connection the client shut, meets EPIPE: it must live on to serve
 * the next client.
 */
START_TEST(a_server_outlives_a_client_gone_mid_reply)
{
	enum { CHUNK = 64 * 1024, ROUNDS = 3 };
	static char junk[CHUNK];
	char listen_on[64], buf[8];
	in_port_t port = free_port();
	struct launch l;
	int s, round, i, queued;
	pid_t pid;

	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", (unsigned)port);
	tu_program = ECHOD_PATH;
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--listen", listen_on,
	    NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("echod.pid"));
	for (round = 0; round < ROUNDS; round++) {
		s = dial(port);
		/* echod reads without limit: blocking writes all complete. */
		for (i = 0; i < 32; i++)
			ck_assert_int_eq(write(s, junk, CHUNK), CHUNK);
		/* Everything delivered, so that the FIN goes out at once. */
		for (i = 0; i < 300; i++) {
			ck_assert_int_eq(ioctl(s, SIOCOUTQ, &queued), 0);
			if (queued == 0)
				break;
			usleep(10 * 1000);
		}
		shutdown(s, SHUT_WR);
		usleep(20 * 1000);
		close(s);
		usleep(100 * 1000);
		ck_assert_msg(tu_alive(pid), "round %d: gone, status %d", round,
		    tu_wait_gone(pid, 100));
	}
	s = dial(port);
	ck_assert_int_eq(write(s, "ping\n", 5), 5);
	ck_assert_int_eq(read(s, buf, 5), 5);
	ck_assert(memcmp(buf, "ping\n", 5) == 0);
	close(s);
	tu_stop_cleanly(pid);
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
	tcase_add_test(tc, sigterm_in_the_startup_window_stops_cleanly);
	tcase_add_test(tc, sighup_in_the_startup_window_runs_its_callback);
	tcase_add_test(tc, sigtstp_in_the_startup_window_is_ignored);
	tcase_add_loop_test(tc, sigterm_until_gone_always_ends_cleanly, 0, 20);
	tcase_add_loop_test(tc, sigint_until_gone_always_ends_forced, 0, 10);
	tcase_add_loop_test(tc, fault_signals_cannot_be_mapped, 0, 18);
	tcase_add_test(tc, default_map_ignores_sigpipe);
	tcase_add_test(tc, a_server_outlives_a_client_gone_mid_reply);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(signals_suite)
