/*
 * The privileged hook: run in the daemon before the chroot and the drop,
 * what it opens stays the daemon's once it runs as nobody, and its
 * failure is a failed start like any other (launcher, systemd, nothing
 * left behind).
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

static uid_t nobody_uid;

/* A value from the helper's report ("hook pid %ld", ...), or -1. */
static long
reported(const char *key)
{
	const char *out = tu_slurp(tu_path("out")), *p;
	char *end;
	long v;

	if ((p = strstr(out, key)) == NULL || p[strlen(key)] != ' ')
		return -1;
	v = strtol(p + strlen(key) + 1, &end, 10);
	return end == p + strlen(key) + 1 ? -1 : v;
}

/*
 * A pidfile in a directory of the daemon's user, who can then remove it
 * at exit (dctx_set_pidfile()): no warning on the launcher's stderr.
 */
static const char *
nobody_pidfile(void)
{
	static char path[512];

	ck_assert_int_eq(mkdir(tu_path("run"), 0755), 0);
	ck_assert_int_eq(chown(tu_path("run"), nobody_uid, (gid_t)-1), 0);
	snprintf(path, sizeof(path), "%s", tu_path("run/d.pid"));
	return path;
}

/* A root-only key file, 0600. */
static const char *
make_key(const char *name)
{
	const char *path = tu_path(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs("secret\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0600), 0);
	return path;
}

/*
 * The hook runs in the daemon (its pid), as root, with RLIMIT_CORE at 0
 * already, and opens a file only root may read; the daemon, running as
 * nobody, still has it open and cannot open it again.
 */
START_TEST(a_root_only_file_opened_by_the_hook_stays_open_as_nobody)
{
	char fdpath[32], uid_line[64];
	struct launch l;
	const char *key = make_key("key"), *pidfile = nobody_pidfile();
	pid_t pid;
	long fd;

	tu_program = HOOK_HELPER_PATH;
	tu_launch(&l, "--detach", "--pidfile", pidfile, "--user",
	    "nobody", "--stdout", tu_path("out"), "--hook-open", key,
	    "--serve", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "");
	pid = tu_read_pidfile(pidfile);
	ck_assert(tu_wait_file_contains(tu_path("out"), "reopen: ", 5000));
	ck_assert_int_eq(reported("hook pid"), pid);
	ck_assert_int_eq(reported("euid"), 0);
	ck_assert_int_eq(reported("core"), 0);
	snprintf(uid_line, sizeof(uid_line), "%ld\t%ld\t%ld\t%ld",
	    (long)nobody_uid, (long)nobody_uid, (long)nobody_uid,
	    (long)nobody_uid);
	ck_assert_str_eq(tu_status_field(pid, "Uid:"), uid_line);
	fd = reported("hook-fd");
	ck_assert_int_gt(fd, 2);
	snprintf(fdpath, sizeof(fdpath), "fd/%ld", fd);
	ck_assert_str_eq(tu_proc_link(pid, fdpath), key);
	ck_assert_msg(strstr(tu_slurp(tu_path("out")),
	    "reopen: Permission denied") != NULL, "out: %s",
	    tu_slurp(tu_path("out")));
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pidfile, F_OK), 0);
}
END_TEST

/*
 * Before the chroot: the hook opens a file outside the jail, which the
 * daemon, inside it, keeps.
 */
START_TEST(the_hook_runs_before_the_chroot)
{
	char fdpath[32];
	struct launch l;
	const char *key = make_key("key"), *pidfile = nobody_pidfile();
	pid_t pid;

	ck_assert_int_eq(mkdir(tu_path("jail"), 0755), 0);
	/* LeakSanitizer needs /proc, which the jail lacks. */
	tu_asan_option("detect_leaks=0");
	tu_program = HOOK_HELPER_PATH;
	tu_launch(&l, "--detach", "--pidfile", pidfile, "--chroot",
	    tu_path("jail"), "--user", "nobody", "--stdout", tu_path("out"),
	    "--hook-open", key, "--serve", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "");
	pid = tu_read_pidfile(pidfile);
	ck_assert(tu_wait_file_contains(tu_path("out"), "reopen: ", 5000));
	ck_assert_str_eq(tu_proc_link(pid, "root"), tu_path("jail"));
	snprintf(fdpath, sizeof(fdpath), "fd/%ld", reported("hook-fd"));
	ck_assert_str_eq(tu_proc_link(pid, fdpath), key);
	tu_stop_cleanly(pid);
}
END_TEST

/* A port below 1024 no one else uses now, from 950 to 999. */
static int
free_privileged_port(void)
{
	struct sockaddr_in sin;
	int port, s, ok;

	for (port = 950; port < 1000; port++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((in_port_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok)
			return port;
	}
	ck_abort_msg("no free port from 950 to 999");
	return -1;
}

/*
 * The hook binds a privileged port; the daemon serves it as nobody (the
 * answer is the serving process's own ids), and it stays the daemon's.
 */
START_TEST(a_privileged_port_bound_by_the_hook_is_served_as_nobody)
{
	char port_s[16], buf[128], want[128];
	struct sockaddr_in sin;
	struct launch l;
	int port = free_privileged_port(), s;
	const char *pidfile = nobody_pidfile();
	ssize_t n;
	pid_t pid;

	snprintf(port_s, sizeof(port_s), "%d", port);
	tu_program = HOOK_HELPER_PATH;
	tu_launch(&l, "--detach", "--pidfile", pidfile, "--user",
	    "nobody", "--stdout", tu_path("out"), "--hook-bind", port_s,
	    "--serve", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "");
	pid = tu_read_pidfile(pidfile);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((in_port_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	n = read(s, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	close(s);
	snprintf(want, sizeof(want), "uid %ld euid %ld pid %ld\n",
	    (long)nobody_uid, (long)nobody_uid, (long)pid);
	ck_assert_str_eq(buf, want);
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(pidfile, F_OK), 0);
}
END_TEST

/*
 * A failing hook: the launcher prints the program's own message and
 * exits 1; no pidfile, no process is left.  Case 0: the message set with
 * dctx_set_errmsg(); 1: none set; 2: a positive return.
 */
START_TEST(a_failing_hook_fails_the_start_with_its_message)
{
	static const char *const want[] = {
		"hook-helper: key /etc/dctx.key: Permission denied\n",
		"hook-helper: privileged hook: Permission denied\n",
		"hook-helper: privileged hook returned 1, not 0 or a negative "
		    "code: Invalid argument\n",
	};
	struct launch l;

	tu_program = HOOK_HELPER_PATH;
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"), "--stdout",
	    tu_path("out"), _i == 0 ? "--hook-fail" : _i == 1 ?
	    "--hook-fail-bare" : "--hook-positive",
	    "key /etc/dctx.key: Permission denied", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_str_eq(l.err, want[_i]);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
	ck_assert(tu_no_children(3000));
	ck_assert_str_eq(tu_slurp(tu_path("out")), "");
}
END_TEST

/* In the foreground, dctx_open() returns the hook's code and message. */
START_TEST(a_failing_hook_in_the_foreground_returns_its_code)
{
	char want[128];
	pid_t pid;

	tu_program = HOOK_HELPER_PATH;
	pid = tu_start_fg("--foreground", "--pidfile", tu_path("d.pid"),
	    "--hook-fail", "no key", NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 5000), 1);
	snprintf(want, sizeof(want), "hook-helper: open %d: no key\n",
	    -EACCES);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")), want);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

/*
 * A foreground open whose hook fails after it preserved a file it opened
 * (its port still busy, say) may be retried, once the program closed that
 * file as dctx.h tells it to: the retry runs the hook again and opens.
 * The failed open must not leave the hook's descriptor in the list of
 * preserved ones, which the retry would find closed (EBADF).
 */
START_TEST(a_foreground_open_whose_hook_failed_can_be_retried)
{
	char want[128];
	pid_t pid;

	tu_program = HOOK_HELPER_PATH;
	pid = tu_start_fg("--foreground", "--pidfile", tu_path("d.pid"),
	    "--stdout", tu_path("out"), "--hook-open", make_key("key"),
	    "--fail-first", NULL);
	ck_assert_msg(tu_wait_gone(pid, 5000) == 0, "stderr: %s",
	    tu_slurp(tu_path("fg.stderr")));
	snprintf(want, sizeof(want), "hook-helper: first open %d: port: busy\n",
	    -EADDRINUSE);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")), want);
	ck_assert_int_ge(reported("hook-fd"), 3);
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

/* Under $NOTIFY_SOCKET systemd hears the hook's message and errno. */
START_TEST(a_failing_hook_is_told_to_systemd)
{
	struct sockaddr_un sun;
	struct pollfd p;
	struct launch l;
	char buf[512];
	ssize_t n;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
	    tu_path("notify"));
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	tu_program = HOOK_HELPER_PATH;
	tu_launch(&l, "--detach", "--pidfile", tu_path("d.pid"),
	    "--hook-fail", "key /etc/dctx.key: Permission denied", NULL);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(l.status, 1);
	p.fd = s;
	p.events = POLLIN;
	ck_assert_int_eq(poll(&p, 1, 3000), 1);
	n = recv(s, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "STATUS=key /etc/dctx.key: Permission denied\n"
	    "ERRNO=13");
	close(s);
}
END_TEST

static Suite *
hook_suite(void)
{
	Suite *s = suite_create("hook");
	TCase *tc = tu_tcase("hook");
	struct passwd *pw = getpwnam("nobody");

	tcase_add_loop_test(tc, a_failing_hook_fails_the_start_with_its_message,
	    0, 3);
	tcase_add_test(tc, a_failing_hook_in_the_foreground_returns_its_code);
	tcase_add_test(tc, a_failing_hook_is_told_to_systemd);
	tcase_add_test(tc, a_foreground_open_whose_hook_failed_can_be_retried);
	if (geteuid() != 0 || pw == NULL) {
		printf("hook: root-only tests skipped, %s\n", geteuid() != 0 ?
		    "not root" : "no user nobody");
	} else {
		nobody_uid = pw->pw_uid;
		tcase_add_test(tc,
		    a_root_only_file_opened_by_the_hook_stays_open_as_nobody);
		tcase_add_test(tc, the_hook_runs_before_the_chroot);
		tcase_add_test(tc,
		    a_privileged_port_bound_by_the_hook_is_served_as_nobody);
	}
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(hook_suite)
