/*
 * dctx_log(): where the daemon's messages land, read where an operator
 * reads them: the helper's stderr file (plain, or with the journal's "<N>"
 * prefixes when JOURNAL_STREAM names it), a syslog socket bound over
 * /dev/log in a private mount namespace, and the journal of the real
 * systemd (tests/sdbox) for echod.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

static const char *unshare_path;

/* A whole file, however long (malloc'd, NUL-terminated). */
static char *
read_all(const char *path)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(buf);
	while (fd >= 0 && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			ck_assert_ptr_nonnull(buf = realloc(buf, cap));
		}
	}
	if (fd >= 0)
		close(fd);
	buf[len] = '\0';
	return buf;
}

/* Run the helper in the foreground, wait for it; its stderr file. */
static const char *
run_fg(const char *arg, ...)
{
	const char *argv[13] = { arg };
	va_list ap;
	int n = 0;
	pid_t pid;

	va_start(ap, arg);
	while (argv[n] != NULL && n < 12)
		argv[++n] = va_arg(ap, const char *);
	va_end(ap);
	/* tu_start_fg() takes a list: at most 11 arguments, then NULL. */
	ck_assert_ptr_null(argv[n]);
	tu_program = LOG_HELPER_PATH;
	pid = tu_start_fg(argv[0], argv[1], argv[2], argv[3], argv[4],
	    argv[5], argv[6], argv[7], argv[8], argv[9], argv[10], argv[11],
	    NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 10000), 0);
	return tu_path("fg.stderr");
}

/* Make path exist and point JOURNAL_STREAM at it: "dev:ino". */
static void
journal_stream_names(const char *path)
{
	char v[64];
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

START_TEST(plain_stderr_in_the_foreground_is_one_line_per_line)
{
	unsetenv("JOURNAL_STREAM");
	run_fg("--foreground", "--keep-stderr", "--log-before", "5:before",
	    "--log", "3:one\\ntwo\\n", "--log", "7:not at the default level",
	    "--log", "6:after", NULL);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")),
	    "log-helper: before\n"
	    "log-helper: one\n"
	    "log-helper: two\n"
	    "log-helper: after\n");
}
END_TEST

START_TEST(the_journal_stream_gets_priority_prefixes)
{
	journal_stream_names(tu_path("fg.stderr"));
	run_fg("--foreground", "--keep-stderr", "--log-before", "5:before",
	    "--log", "3:one\\ntwo", "--log", "6:after", "--libevent-warn",
	    NULL);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")),
	    "<5>before\n"
	    "<3>one\n"
	    "<3>two\n"
	    "<6>after\n"
	    "<4>libevent: fcntl(-1, F_GETFL): Bad file descriptor\n");
}
END_TEST

/*
 * JOURNAL_STREAM is inherited: it counts only where it names fd 2.  Case
 * 0: it names the stderr the helper started with, which the stdio step
 * then replaces with a file; case 1: it names another file.
 */
START_TEST(a_journal_stream_that_is_not_stderr_is_plain)
{
	if (_i == 0) {
		journal_stream_names(tu_path("fg.stderr"));
		run_fg("--foreground", "--stderr", tu_path("err"),
		    "--log-before", "5:before", "--log", "3:after", NULL);
		ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")), "<5>before\n");
		ck_assert_str_eq(tu_slurp(tu_path("err")),
		    "log-helper: after\n");
	} else {
		journal_stream_names(tu_path("elsewhere"));
		run_fg("--foreground", "--keep-stderr", "--log-before",
		    "5:before", "--log", "3:after", NULL);
		ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")),
		    "log-helper: before\nlog-helper: after\n");
	}
}
END_TEST

START_TEST(a_long_message_is_written_whole)
{
	enum { LEN = 200000 };
	char *all, *line;

	unsetenv("JOURNAL_STREAM");
	run_fg("--foreground", "--keep-stderr", "--long", "200000", NULL);
	all = read_all(tu_path("fg.stderr"));
	line = strstr(all, "log-helper: long:");
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), strlen("log-helper: long:") + LEN +
	    strlen(":end\n"));
	ck_assert(strcmp(line + strlen(line) - 5, ":end\n") == 0);
	free(all);
}
END_TEST

START_TEST(lines_logged_by_threads_at_once_never_mix)
{
	enum { THREADS = 8, LINES = 500 };
	char *all, *p, *nl, want[300];
	int seen[THREADS] = { 0 }, t, i, total = 0;

	unsetenv("JOURNAL_STREAM");
	run_fg("--foreground", "--stderr", tu_path("err"), "--threads",
	    "8:500", NULL);
	all = read_all(tu_path("err"));
	for (p = all; *p != '\0'; p = nl + 1) {
		ck_assert_ptr_nonnull(nl = strchr(p, '\n'));
		*nl = '\0';
		ck_assert_msg(sscanf(p, "log-helper: thread %d line %d", &t,
		    &i) == 2 && t >= 0 && t < THREADS, "torn line: %.80s", p);
		/* The whole line, as one thread wrote it. */
		snprintf(want, sizeof(want), "log-helper: thread %d line %d "
		    "%0200d end", t, i, 0);
		ck_assert_msg(strcmp(p, want) == 0, "torn line: %.80s", p);
		ck_assert_int_eq(i, seen[t]++);
		total++;
	}
	ck_assert_int_eq(total, THREADS * LINES);
	free(all);
}
END_TEST

/*
 * libevent's warnings go through dctx_log() from dctx_open() on, and its
 * own callback is back after dctx_free() ("[warn] ..." on stderr).
 */
START_TEST(libevent_warnings_arrive_through_dctx_log)
{
	unsetenv("JOURNAL_STREAM");
	run_fg("--foreground", "--keep-stderr", "--libevent-warn",
	    "--after-free-warn", NULL);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")),
	    "log-helper: libevent: fcntl(-1, F_GETFL): Bad file descriptor\n"
	    "[warn] fcntl(-1, F_GETFL): Bad file descriptor\n");
}
END_TEST

/* libevent's debug messages: dropped at the default level, kept at 7. */
START_TEST(libevent_debug_passes_only_when_asked_for)
{
	unsetenv("JOURNAL_STREAM");
	run_fg("--foreground", "--keep-stderr", "--libevent-debug", "--log",
	    "6:marker", NULL);
	ck_assert_str_eq(tu_slurp(tu_path("fg.stderr")),
	    "log-helper: marker\n");
	run_fg("--foreground", "--keep-stderr", "--libevent-debug", "--level",
	    "7", NULL);
	ck_assert_msg(strstr(tu_slurp(tu_path("fg.stderr")),
	    "log-helper: libevent: event_add: event") != NULL, "stderr: %s",
	    tu_slurp(tu_path("fg.stderr")));
}
END_TEST

/*
 * A foreground open that fails after the syslog socket was connected
 * (the chroot fails) puts the caller's stderr back: the program's
 * message about it goes there, not to syslog.
 */
START_TEST(a_failed_open_logs_to_the_callers_stderr)
{
	pid_t pid;

	unsetenv("JOURNAL_STREAM");
	tu_program = LOG_HELPER_PATH;
	pid = tu_start_fg("--foreground", "--chroot", "/nonexistent-dctx-log",
	    NULL);
	ck_assert_int_eq(tu_wait_gone(pid, 10000), 1);
	ck_assert_msg(strstr(tu_slurp(tu_path("fg.stderr")),
	    "log-helper: open failed: chroot(/nonexistent-dctx-log): ") !=
	    NULL, "stderr: %s", tu_slurp(tu_path("fg.stderr")));
}
END_TEST

/*
 * The launcher's report of a failed start is its one word to the
 * operator: it is printed whatever level the program chose for its
 * daemon's messages (here LOG_CRIT, which LOG_ERR is below).
 */
START_TEST(a_failed_start_is_reported_whatever_the_log_level)
{
	struct launch l;

	tu_program = LOG_HELPER_PATH;
	tu_launch(&l, "--detach", "--level", "2", "--pidfile", tu_path("d.pid"),
	    "--chroot", "/nonexistent-dctx-log", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_str_eq(l.err, "log-helper: chroot(/nonexistent-dctx-log): "
	    "No such file or directory\n");
	ck_assert_int_ne(access(tu_path("d.pid"), F_OK), 0);
}
END_TEST

/* A datagram socket at path, readable by anyone's daemon. */
static int
syslog_socket(const char *path)
{
	struct sockaddr_un sun;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	chmod(path, 0666);
	return s;
}

/* The next datagram within ms (static buffer), or NULL. */
static const char *
datagram(int s, int ms)
{
	static char buf[8192];
	struct pollfd p = { s, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return NULL;
	n = recv(s, buf, sizeof(buf) - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

/*
 * Whether a datagram is what syslog(3) sends: "<PRI>Mmm dd hh:mm:ss
 * log-helper[PID]: text", with the pid returned; a forked child's comes
 * without the timestamp (stamped by the receiver), is_child_syslog().
 */
static int
syslog_match(const char *d, int pri, int stamped, const char *text,
    long *pid)
{
	char pattern[512];
	regmatch_t m[3];
	regex_t re;
	int ok;

	snprintf(pattern, sizeof(pattern), "^<%d>%slog-helper\\[([0-9]+)\\]: ",
	    pri, stamped ? "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
	    "[ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] " : "()");
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
	ok = regexec(&re, d, 3, m, 0) == 0 &&
	    strcmp(d + m[0].rm_eo, text) == 0;
	if (ok)
		*pid = strtol(d + m[2].rm_so, NULL, 10);
	regfree(&re);
	return ok;
}

static int
is_syslog(const char *d, int pri, const char *text, long *pid)
{
	return syslog_match(d, pri, 1, text, pid);
}

static int
is_child_syslog(const char *d, int pri, const char *text, long *pid)
{
	return syslog_match(d, pri, 0, text, pid);
}

/*
 * The helper started through unshare, with up to 8 more arguments (the
 * first NULL ends them): in a mount namespace of its own, whose /dev is a
 * tmpfs holding only null and a log that is our socket.
 */
static void
launch_with_syslog(struct launch *l, const char *a1, const char *a2,
    const char *a3, const char *a4, const char *a5, const char *a6,
    const char *a7, const char *a8)
{
	static const char script[] =
	    "set -e; sock=$1; dir=$2; shift 2; "
	    "touch \"$dir/null\"; mount --bind /dev/null \"$dir/null\"; "
	    "mount -t tmpfs -o mode=0755 dctx-test-dev /dev; "
	    "touch /dev/null /dev/log; "
	    "mount --bind \"$dir/null\" /dev/null; "
	    "mount --bind \"$sock\" /dev/log; exec \"$@\"";

	tu_program = unshare_path;
	tu_launch(l, "--mount", "--propagation", "private", "/bin/sh", "-c",
	    script, "sh", tu_path("log.sock"), tu_dir(), LOG_HELPER_PATH,
	    "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"), a1, a2,
	    a3, a4, a5, a6, a7, a8, NULL);
}

/*
 * A detached daemon with no stderr file logs to syslog, in its jail too:
 * the socket was connected before the chroot.  Case 0 with LOG_DAEMON
 * (3), case 1 with LOG_LOCAL3 (19), which the program chose.  A line of
 * two becomes two datagrams; the library's own "terminating on signal
 * 15" arrives too, each with its priority and the daemon's pid.
 */
START_TEST(detached_without_stderr_logs_to_syslog)
{
	int fac = _i == 0 ? 3 : 19, s;
	const char *d;
	long pid, from;
	struct launch l;

	s = syslog_socket(tu_path("log.sock"));
	ck_assert_int_eq(mkdir(tu_path("jail"), 0755), 0);
	/* LeakSanitizer needs /proc, which the jail lacks; without a
	 * sanitizer the variable is ignored. */
	tu_asan_option("detect_leaks=0");
	launch_with_syslog(&l, "--detach", "--chroot", tu_path("jail"),
	    "--log", "5:hello\\nsyslog", "--serve", _i == 0 ? NULL :
	    "--facility", "152");
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_gt(pid, 0);
	ck_assert_str_eq(tu_proc_link((pid_t)pid, "root"), tu_path("jail"));
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, fac * 8 + 5, "hello", &from),
	    "datagram: %s", d ? d : "none");
	ck_assert_int_eq(from, pid);
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, fac * 8 + 5, "syslog", &from),
	    "datagram: %s", d ? d : "none");
	kill((pid_t)pid, SIGTERM);
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, fac * 8 + 6,
	    "terminating on signal 15 (Terminated)", &from), "datagram: %s",
	    d ? d : "none");
	ck_assert_int_eq(from, pid);
	ck_assert_int_eq(tu_wait_gone((pid_t)pid, 5000), 0);
	close(s);
}
END_TEST

START_TEST(syslog_gets_libevent_and_a_forked_childs_lines)
{
	const char *d;
	long pid, from;
	struct launch l;
	int s;

	s = syslog_socket(tu_path("log.sock"));
	launch_with_syslog(&l, "--detach", "--libevent-warn", "--fork-child",
	    "from the child", "--facility", "184", NULL, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert(tu_wait_file_contains(tu_path("out"), "child pid", 5000));
	ck_assert_int_eq(sscanf(tu_slurp(tu_path("out")), "open pid %ld",
	    &pid), 1);
	/* LOG_LOCAL7 (23): 23 * 8 + LOG_WARNING, then + LOG_NOTICE. */
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, 23 * 8 + 4, "libevent: "
	    "fcntl(-1, F_GETFL): Bad file descriptor", &from), "datagram: %s",
	    d ? d : "none");
	ck_assert_int_eq(from, pid);
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_child_syslog(d, 23 * 8 + 5,
	    "from the child", &from), "datagram: %s", d ? d : "none");
	ck_assert_int_ne(from, pid);
	ck_assert(strstr(tu_slurp(tu_path("out")), "child pid") != NULL);
	ck_assert_int_eq(sscanf(strstr(tu_slurp(tu_path("out")), "child pid"),
	    "child pid %ld", &pid), 1);
	ck_assert_int_eq(from, pid);
	close(s);
}
END_TEST

/*
 * Where the program gave a stderr file, that file is the log: nothing
 * reaches syslog.  Messages before dctx_open() go to the caller's stderr
 * (here the launcher's, which the test reads).
 */
START_TEST(a_stderr_file_is_the_log_not_syslog)
{
	struct launch l;
	int s;

	s = syslog_socket(tu_path("log.sock"));
	launch_with_syslog(&l, "--detach", "--stderr", tu_path("err"),
	    "--log-before", "5:before", "--log", "5:after", NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "log-helper: before\n");
	ck_assert(tu_wait_file_contains(tu_path("err"), "log-helper: after\n",
	    5000));
	ck_assert_ptr_null(datagram(s, 500));
	close(s);
}
END_TEST

/*
 * stdout given by path, no stderr file: a reload whose reopen fails (a
 * directory took the rotated file's place) says so where the daemon's
 * messages go, syslog, not on the /dev/null that is its stderr.
 */
START_TEST(a_failed_reopen_is_logged_to_syslog)
{
	char want[600];
	const char *d;
	long pid, from;
	struct launch l;
	int s, i;

	s = syslog_socket(tu_path("log.sock"));
	launch_with_syslog(&l, "--detach", "--stdout-path", tu_path("Q"),
	    "--serve", NULL, NULL, NULL, NULL);
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("d.pid"));
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(rename(tu_path("Q"), tu_path("Q.1")), 0);
	ck_assert_int_eq(mkdir(tu_path("Q"), 0755), 0);
	kill((pid_t)pid, SIGHUP);
	snprintf(want, sizeof(want), "reload: stdout %s: reopen: Is a "
	    "directory; still writing to the old file", tu_path("Q"));
	for (i = 0; i < 4 && (d = datagram(s, 5000)) != NULL; i++)
		if (is_syslog(d, 3 * 8 + 4, want, &from))
			break;
	ck_assert_msg(d != NULL && is_syslog(d, 3 * 8 + 4, want, &from),
	    "datagram: %s", d ? d : "none");
	ck_assert_int_eq(from, pid);
	ck_assert(tu_alive((pid_t)pid));
	kill((pid_t)pid, SIGTERM);
	ck_assert_int_eq(tu_wait_gone((pid_t)pid, 5000), 0);
	close(s);
}
END_TEST

/* The foreground daemon without a stderr file logs to syslog too. */
START_TEST(foreground_without_stderr_logs_to_syslog)
{
	struct launch l;
	const char *d;
	long from;
	int s;

	s = syslog_socket(tu_path("log.sock"));
	launch_with_syslog(&l, "--foreground", "--log", "3:in front",
	    "--log", "7:too verbose", "--log", "6:done", NULL);
	ck_assert_msg(l.status == 0, "helper: %d %s", l.status, l.err);
	ck_assert_str_eq(l.err, "");
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, 3 * 8 + 3, "in front", &from),
	    "datagram: %s", d ? d : "none");
	d = datagram(s, 5000);
	ck_assert_msg(d != NULL && is_syslog(d, 3 * 8 + 6, "done", &from),
	    "datagram: %s", d ? d : "none");
	close(s);
}
END_TEST

/*
 * The box boots an empty target, without journald: start its sockets
 * (/run/systemd/journal/stdout for the services' stderr, /dev/log), as
 * a booted system has them.  Again for each test: starting is idempotent.
 */
static void
journald_up(void)
{
	char out[1024];

	ck_assert_msg(tu_sdbox_run(out, sizeof(out), "systemctl start "
	    "systemd-journald.socket systemd-journald-dev-log.socket") == 0,
	    "journald: %s", out);
}

/* journalctl inside the box, until out contains want or 10 s passed. */
static int
journal_has(const char *query, const char *want, char *out, size_t len)
{
	int i;

	for (i = 0; i < 100; i++) {
		tu_sdbox_run(out, len, "journalctl --no-pager -o cat %s",
		    query);
		if (strstr(out, want) != NULL)
			return 1;
		usleep(100 * 1000);
	}
	return 0;
}

/*
 * Under systemd, echod's failed start: echod logs dctx_errmsg() with
 * dctx_log(LOG_ERR) to the stderr systemd gave it, the journal's stream,
 * and `journalctl -p err` shows it.
 */
START_TEST(a_failed_echod_start_is_in_journalctl_p_err)
{
	char out[8192];

	journald_up();
	tu_sdbox_unit("t-logfail.service",
	    "[Service]\nType=notify\n"
	    "ExecStart=%s --listen 127.0.0.1:7501 --chroot /nonexistent-dctx\n",
	    ECHOD_PATH);
	ck_assert_int_ne(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-logfail.service"), 0);
	ck_assert_msg(journal_has("-u t-logfail.service -p err",
	    "chroot(/nonexistent-dctx): No such file or directory", out,
	    sizeof(out)), "journal: %s", out);
	/* The prefix was read as the priority, not kept as text. */
	ck_assert_ptr_null(strstr(out, "<3>"));
}
END_TEST

/*
 * A running Type=notify echod has no stderr file: its lines go to syslog,
 * which is journald's /dev/log here, with their priorities: "listening
 * on" is info, so not in `-p err`, and the library's "terminating on
 * signal 15" arrives at the stop.
 */
START_TEST(a_running_echod_logs_to_the_journal_through_syslog)
{
	char out[8192];

	journald_up();
	tu_sdbox_unit("t-log.service",
	    "[Service]\nType=notify\n"
	    "ExecStart=%s --listen 127.0.0.1:7502\n", ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-log.service"), 0);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-log.service"), 0);
	ck_assert_msg(journal_has("-u t-log.service -p info",
	    "listening on 127.0.0.1:7502 as pid", out, sizeof(out)),
	    "journal: %s", out);
	ck_assert_msg(journal_has("-u t-log.service -p info",
	    "terminating on signal 15 (Terminated)", out, sizeof(out)),
	    "journal: %s", out);
	tu_sdbox_run(out, sizeof(out), "journalctl --no-pager -o cat "
	    "-u t-log.service -p warning");
	ck_assert_msg(strstr(out, "listening on") == NULL, "journal: %s", out);
	/* From syslog, with echod's name and the daemon facility. */
	ck_assert(journal_has("-u t-log.service -o verbose -p info",
	    "SYSLOG_IDENTIFIER=echod", out, sizeof(out)));
	ck_assert_ptr_nonnull(strstr(out, "SYSLOG_FACILITY=3"));
	ck_assert_ptr_nonnull(strstr(out, "_TRANSPORT=syslog"));
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tu_tcase("log");
	TCase *box = tu_tcase("journal");
	char why[256];

	tcase_add_test(tc, plain_stderr_in_the_foreground_is_one_line_per_line);
	tcase_add_test(tc, the_journal_stream_gets_priority_prefixes);
	tcase_add_loop_test(tc, a_journal_stream_that_is_not_stderr_is_plain,
	    0, 2);
	tcase_add_test(tc, a_long_message_is_written_whole);
	tcase_add_test(tc, lines_logged_by_threads_at_once_never_mix);
	tcase_add_test(tc, libevent_warnings_arrive_through_dctx_log);
	tcase_add_test(tc, libevent_debug_passes_only_when_asked_for);
	tcase_add_test(tc, a_failed_open_logs_to_the_callers_stderr);
	tcase_add_test(tc, a_failed_start_is_reported_whatever_the_log_level);
	unshare_path = access("/usr/bin/unshare", X_OK) == 0 ?
	    "/usr/bin/unshare" : access("/bin/unshare", X_OK) == 0 ?
	    "/bin/unshare" : NULL;
	if (geteuid() != 0)
		printf("log: syslog tests skipped, a private /dev needs "
		    "root\n");
	else if (unshare_path == NULL)
		printf("log: syslog tests skipped, no unshare\n");
	else {
		tcase_add_loop_test(tc, detached_without_stderr_logs_to_syslog,
		    0, 2);
		tcase_add_test(tc,
		    syslog_gets_libevent_and_a_forked_childs_lines);
		tcase_add_test(tc, a_stderr_file_is_the_log_not_syslog);
		tcase_add_test(tc, foreground_without_stderr_logs_to_syslog);
		tcase_add_test(tc, a_failed_reopen_is_logged_to_syslog);
	}
	suite_add_tcase(s, tc);
	if (tu_sdbox_start(why, sizeof(why)) < 0) {
		printf("log: journal tests skipped, %s\n", why);
		return s;
	}
	tcase_add_test(box, a_failed_echod_start_is_in_journalctl_p_err);
	tcase_add_test(box, a_running_echod_logs_to_the_journal_through_syslog);
	suite_add_tcase(s, box);
	return s;
}

TU_MAIN(log_suite)
