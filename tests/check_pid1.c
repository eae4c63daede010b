/*
 * Staying in front, and what that asks of a daemon.  As pid 1 of a pid
 * namespace (a container's entry point; here `unshare --pid --fork
 * --mount-proc`, as root): every step but the fork still applies, the
 * orphans reparented to the daemon are reaped from its loop while its own
 * claimed child keeps its status for its own waitpid(), and SIGTERM and
 * SIGINT both run the shutdown chain.  The namespace is watched from
 * outside, through its /proc as /proc/PID/root/proc shows it.  Elsewhere:
 * DCTX_REAPER_YES makes any daemon a subreaper, and under systemd without
 * NOTIFY_SOCKET (INVOCATION_ID) DCTX_DETACH_AUTO does not fork.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* execv() searches no PATH; util-linux puts it here on Debian. */
#define UNSHARE_PATH "/usr/bin/unshare"

/* The unshare of the running test: our child, with the helper's status. */
static pid_t outer;

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The number after "prefix" in file, waiting up to ms for it; -1. */
static long
said(const char *file, const char *prefix, int ms)
{
	const char *p;

	if (!tu_wait_file_contains(file, prefix, ms))
		return -1;
	p = strstr(tu_slurp(file), prefix);
	return strtol(p + strlen(prefix), NULL, 10);
}

/* The last line of text (a failure's message shows one line only). */
static const char *
last_line(const char *text)
{
	static char line[256];
	size_t len = strlen(text);
	const char *p;

	while (len > 0 && text[len - 1] == '\n')
		len--;
	for (p = text + len; p > text && p[-1] != '\n'; p--)
		;
	snprintf(line, sizeof(line), "%.*s", (int)(text + len - p), p);
	return line;
}

/*
 * The helper as pid 1: unshare (our child, which exits with the helper's
 * status) forks it into the new namespaces.  Returns the helper's pid as
 * we see it, once it said it is open.
 */
static pid_t
pid1_of(pid_t unshare)
{
	char path[64];
	long pid = 0;
	int waited;

	outer = unshare;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)outer, (long)outer);
	for (waited = 0; waited < 5000 && pid <= 0; waited += 10) {
		pid = strtol(tu_slurp(path), NULL, 10);
		if (pid <= 0)
			sleep_ms(10);
	}
	ck_assert_msg(pid > 0, "unshare started no child: %s",
	    tu_slurp(tu_path("fg.stderr")));
	tu_track((pid_t)pid);
	ck_assert_msg(said(tu_path("out"), "open pid ", 5000) == 1,
	    "not pid 1 and open: %s", tu_slurp(tu_path("out")));
	return (pid_t)pid;
}

#define START_PID1(...)                                                 \
	(tu_program = UNSHARE_PATH, pid1_of(tu_start_fg("--pid", "--fork", \
	    "--kill-child", "--mount-proc", HELPER_PATH, "--stdout",      \
	    tu_path("out"), "--stderr", tu_path("err"), __VA_ARGS__)))

/* The state letter of pid nspid inside the namespace of pid1; 0: gone. */
static char
ns_state(pid_t pid1, long nspid)
{
	char path[128];
	const char *stat, *p;

	snprintf(path, sizeof(path), "/proc/%ld/root/proc/%ld/stat",
	    (long)pid1, nspid);
	stat = tu_slurp(path);
	if ((p = strrchr(stat, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

/* The zombies in the namespace of pid1, as its own `ps` would list them. */
static int
ns_zombies(pid_t pid1, char *list, size_t len)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	list[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/root/proc", (long)pid1);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		long nspid = strtol(de->d_name, NULL, 10);

		if (nspid > 0 && ns_state(pid1, nspid) == 'Z') {
			n++;
			snprintf(list + strlen(list), len - strlen(list),
			    " %ld", nspid);
		}
	}
	closedir(d);
	return n;
}

/* Wait until nspid is gone from the namespace; 1 when it is within ms. */
static int
ns_gone(pid_t pid1, long nspid, int ms)
{
	int waited;

	for (waited = 0; waited <= ms; waited += 10) {
		if (ns_state(pid1, nspid) == 0)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/* SIGTERM or SIGINT to pid 1 from outside: unshare's status is its own. */
static int
stop_pid1(pid_t pid1, int signo)
{
	ck_assert_int_eq(kill(pid1, signo), 0);
	return tu_wait_gone(outer, 5000);
}

START_TEST(pid1_reaps_an_orphan)
{
	char zombies[256];
	pid_t pid1 = START_PID1("--orphan", "200", NULL);
	long orphan = said(tu_path("out"), "orphan pid ", 5000);

	ck_assert_int_gt(orphan, 1);
	/* It was reparented to us: its parent died before it exited. */
	ck_assert(tu_wait_file_contains(tu_path("out"), "ppid 1\n", 1000));
	ck_assert_msg(ns_gone(pid1, orphan, 5000), "orphan %ld still there, "
	    "state %c", orphan, ns_state(pid1, orphan));
	ck_assert_msg(ns_zombies(pid1, zombies, sizeof(zombies)) == 0,
	    "zombies:%s", zombies);
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

/* The control: the method above sees a zombie where nobody reaps. */
START_TEST(pid1_without_the_reaper_keeps_the_zombie)
{
	char zombies[256];
	pid_t pid1 = START_PID1("--orphan", "0", "--reaper", "no", NULL);
	long orphan = said(tu_path("out"), "orphan pid ", 5000);

	ck_assert_int_gt(orphan, 1);
	ck_assert(!ns_gone(pid1, orphan, 1000));
	ck_assert_int_eq(ns_state(pid1, orphan), 'Z');
	ck_assert_int_eq(ns_zombies(pid1, zombies, sizeof(zombies)), 1);
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

/*
 * The program's own child, claimed, exits at once and is waited for only
 * 5 s later.  Meanwhile an orphan exits and is reaped, past the claimed
 * zombie that heads the list; the program's waitpid() then gets 42.
 */
START_TEST(pid1_leaves_a_claimed_child_to_the_programs_waitpid)
{
	char zombies[256];
	pid_t pid1 = START_PID1("--own-child", "42:5000", "--orphan", "100",
	    NULL);
	long own = said(tu_path("out"), "own child ", 5000);
	long orphan = said(tu_path("out"), "orphan pid ", 5000);

	ck_assert_int_gt(own, 1);
	ck_assert_int_gt(orphan, 1);
	ck_assert_msg(ns_gone(pid1, orphan, 4000), "orphan %ld not reaped "
	    "behind the claimed zombie", orphan);
	/* The claimed one is still a zombie: nobody took it. */
	ck_assert_msg(strstr(tu_slurp(tu_path("out")), "status") == NULL,
	    "waited too early: %s", tu_slurp(tu_path("out")));
	ck_assert_int_eq(ns_state(pid1, own), 'Z');
	ck_assert(tu_wait_file_contains(tu_path("out"), "status 42\n", 8000));
	ck_assert_msg(ns_zombies(pid1, zombies, sizeof(zombies)) == 0,
	    "zombies:%s", zombies);
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

/*
 * A worker thread's child, unclaimed, waited for by the thread 2 s later
 * while orphans come and go: the reaper, in the main thread, never sees
 * it (__WNOTHREAD).
 */
START_TEST(pid1_leaves_a_worker_threads_child_alone)
{
	pid_t pid1 = START_PID1("--thread-child", "7:2000", "--orphan", "100",
	    NULL);
	long orphan = said(tu_path("out"), "orphan pid ", 5000);

	ck_assert_int_gt(orphan, 1);
	ck_assert(ns_gone(pid1, orphan, 4000));
	ck_assert_msg(tu_wait_file_contains(tu_path("out"), "status 7\n",
	    8000), "%s", last_line(tu_slurp(tu_path("out"))));
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

/* The rule's other side, as documented: an unclaimed child is reaped. */
START_TEST(pid1_reaps_an_unclaimed_child_of_the_program)
{
	pid_t pid1 = START_PID1("--own-child-unclaimed", "42:3000", NULL);

	ck_assert(tu_wait_file_contains(tu_path("out"),
	    "waitpid: No child processes\n", 5000));
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

START_TEST(pid1_stops_cleanly_on_sigterm)
{
	pid_t pid1 = START_PID1("--step", "drain:async:100", NULL);

	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
	ck_assert(tu_wait_file_contains(tu_path("err"),
	    "terminating on signal 15", 1000));
	ck_assert(tu_wait_file_contains(tu_path("out"),
	    "step drain done\nstopped 0\n", 1000));
}
END_TEST

/* The kernel drops an unmapped SIGINT sent to pid 1: mapped, it stops. */
START_TEST(pid1_stops_cleanly_on_sigint)
{
	pid_t pid1 = START_PID1("--step", "drain:async:100", NULL);

	ck_assert_int_eq(stop_pid1(pid1, SIGINT), 0);
	ck_assert(tu_wait_file_contains(tu_path("err"),
	    "terminating on signal 2", 1000));
	ck_assert(tu_wait_file_contains(tu_path("out"),
	    "step drain done\nstopped 0\n", 1000));
}
END_TEST

/* A SIGINT the program mapped stays the program's. */
START_TEST(pid1_keeps_the_programs_own_sigint)
{
	pid_t pid1 = START_PID1("--signal", "2", NULL);

	ck_assert_int_eq(kill(pid1, SIGINT), 0);
	ck_assert(tu_wait_file_contains(tu_path("out"), "signal 2 in-loop 1",
	    3000));
	sleep_ms(200);
	ck_assert(tu_alive(pid1));
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
}
END_TEST

/*
 * In front, every other step of dctx_open() applies: working directory,
 * umask, descriptors, stdin, the pidfile (holding the pid the namespace
 * knows).
 */
START_TEST(pid1_in_front_takes_every_other_step)
{
	struct tu_fd fds[32];
	size_t n, i;
	pid_t pid1 = START_PID1("--workdir", tu_dir(), "--umask", "027",
	    "--leak-fds", "2", "--pidfile", tu_path("p.pid"), NULL);

	ck_assert_str_eq(tu_proc_link(pid1, "cwd"), tu_dir());
	ck_assert_str_eq(tu_status_field(pid1, "Umask:"), "0027");
	ck_assert_str_eq(tu_proc_link(pid1, "fd/0"), "/dev/null");
	ck_assert_str_eq(tu_slurp(tu_path("p.pid")), "1\n");
	n = tu_fds(pid1, fds, 32);
	for (i = 0; i < n; i++)
		ck_assert_msg(strcmp(fds[i].target, "/dev/zero") != 0,
		    "fd %d still open on /dev/zero", fds[i].fd);
	ck_assert_int_eq(stop_pid1(pid1, SIGTERM), 0);
	ck_assert_int_eq(access(tu_path("p.pid"), F_OK), -1);
}
END_TEST

/* The children of pid, as /proc lists them ("" when none). */
static const char *
children_of(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)pid, (long)pid);
	return tu_slurp(path);
}

START_TEST(reaper_yes_makes_a_subreaper_that_reaps)
{
	pid_t pid = tu_start_fg("--foreground", "--reaper", "yes", "--orphan",
	    "200", "--stdout", tu_path("out"), NULL);
	long orphan = said(tu_path("out"), "orphan pid ", 5000);
	char ppid[64];
	int waited;

	ck_assert_int_gt(orphan, 1);
	/* Given to the daemon, not to us (we are a subreaper too, above). */
	snprintf(ppid, sizeof(ppid), "ppid %ld\n", (long)pid);
	ck_assert_msg(tu_wait_file_contains(tu_path("out"), ppid, 1000),
	    "%s", tu_slurp(tu_path("out")));
	for (waited = 0; waited < 5000 && children_of(pid)[0] != '\0';
	    waited += 10)
		sleep_ms(10);
	ck_assert_msg(children_of(pid)[0] == '\0', "children left: %s",
	    children_of(pid));
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(reaper_auto_elsewhere_than_pid1_takes_nothing)
{
	pid_t pid = tu_start_fg("--foreground", "--orphan", "0", "--stdout",
	    tu_path("out"), NULL);
	char ppid[64];

	/* The orphan goes past the daemon, to the subreaper above: us. */
	snprintf(ppid, sizeof(ppid), "ppid %ld\n", (long)getpid());
	ck_assert_msg(tu_wait_file_contains(tu_path("out"), ppid, 5000),
	    "%s", tu_slurp(tu_path("out")));
	tu_stop_cleanly(pid);
}
END_TEST

/* The environment of a systemd service started without NOTIFY_SOCKET. */
static void
systemd_env(const char *exec_pid)
{
	unsetenv("NOTIFY_SOCKET");
	setenv("INVOCATION_ID", "4e1a2d3c5b6f47a8b9c0d1e2f3a4b5c6", 1);
	if (exec_pid != NULL)
		setenv("SYSTEMD_EXEC_PID", exec_pid, 1);
	else
		unsetenv("SYSTEMD_EXEC_PID");
}

/* systemd < 248: INVOCATION_ID alone. */
START_TEST(auto_stays_in_front_under_systemd)
{
	pid_t pid;

	systemd_env(NULL);
	pid = tu_start_fg("--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), NULL);
	/* The pid systemd started is the daemon: no fork happened. */
	/* Whichever process opened is ours to kill, a detached one too. */
	tu_track((pid_t)said(tu_path("out"), "open pid ", 3000));
	ck_assert_int_eq(said(tu_path("out"), "open pid ", 3000), pid);
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
	ck_assert_int_eq(getsid(pid), getsid(0));
	tu_stop_cleanly(pid);
}
END_TEST

/* systemd >= 248 names the process it ran; exec keeps the pid. */
START_TEST(auto_stays_in_front_as_the_process_systemd_ran)
{
	pid_t pid;

	systemd_env(NULL);
	tu_program = "/bin/sh";
	pid = tu_start_fg("-c", "SYSTEMD_EXEC_PID=$$ exec \"$0\" \"$@\"",
	    HELPER_PATH, "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), NULL);
	/* Whichever process opened is ours to kill, a detached one too. */
	tu_track((pid_t)said(tu_path("out"), "open pid ", 3000));
	ck_assert_int_eq(said(tu_path("out"), "open pid ", 3000), pid);
	ck_assert_int_eq(tu_read_pidfile(tu_path("d.pid")), pid);
	tu_stop_cleanly(pid);
}
END_TEST

/* A daemon a unit's script starts is not the unit's process: it forks. */
START_TEST(auto_detaches_when_systemd_ran_another_process)
{
	struct launch l;
	char other[32];
	pid_t pid;

	snprintf(other, sizeof(other), "%ld", (long)getpid());
	systemd_env(other);
	tu_launch(&l, "--pidfile", tu_path("d.pid"), NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert(tu_alive(pid));
	ck_assert_int_ne(getsid(pid), getsid(0));
}
END_TEST

/* Whether namespaces can be made here: "" or the reason they cannot. */
static const char *
no_namespaces(void)
{
	if (geteuid() != 0)
		return "a new pid namespace needs root";
	if (access(UNSHARE_PATH, X_OK) != 0)
		return "no " UNSHARE_PATH " (util-linux)";
	if (system(UNSHARE_PATH " --pid --fork --kill-child --mount-proc "
	    "true >/dev/null 2>&1") != 0)
		return UNSHARE_PATH " --pid --fork --kill-child --mount-proc "
		    "failed (no CAP_SYS_ADMIN, or util-linux too old)";
	return "";
}

static Suite *
pid1_suite(void)
{
	Suite *s = suite_create("pid1");
	TCase *tc = tu_tcase("pid1");
	TCase *elsewhere = tu_tcase("elsewhere");
	const char *why = no_namespaces();

	if (why[0] != '\0') {
		printf("pid1: skipped, %s\n", why);
	} else {
		tcase_add_test(tc, pid1_reaps_an_orphan);
		tcase_add_test(tc, pid1_without_the_reaper_keeps_the_zombie);
		tcase_add_test(tc, pid1_leaves_a_claimed_child_to_the_programs_waitpid);
		tcase_add_test(tc, pid1_reaps_an_unclaimed_child_of_the_program);
		tcase_add_test(tc, pid1_leaves_a_worker_threads_child_alone);
		tcase_add_test(tc, pid1_stops_cleanly_on_sigterm);
		tcase_add_test(tc, pid1_stops_cleanly_on_sigint);
		tcase_add_test(tc, pid1_keeps_the_programs_own_sigint);
		tcase_add_test(tc, pid1_in_front_takes_every_other_step);
		suite_add_tcase(s, tc);
	}
	tcase_add_test(elsewhere, reaper_yes_makes_a_subreaper_that_reaps);
	tcase_add_test(elsewhere, reaper_auto_elsewhere_than_pid1_takes_nothing);
	tcase_add_test(elsewhere, auto_stays_in_front_under_systemd);
	tcase_add_test(elsewhere, auto_stays_in_front_as_the_process_systemd_ran);
	tcase_add_test(elsewhere, auto_detaches_when_systemd_ran_another_process);
	suite_add_tcase(s, elsewhere);
	return s;
}

TU_MAIN(pid1_suite)
