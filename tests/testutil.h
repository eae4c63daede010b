/*
 * What every test file shares: starting the helper daemon, watching it from
 * outside (its launcher's exit status and stderr, its pidfile, /proc), and
 * killing whatever it started.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* How a launcher ended: its exit status (or 128+signal) and its stderr. */
struct launch {
	int status;
	char err[4096];
};

/* Per-test setup and teardown: a subreaper, a fresh directory, cleanup. */
void tu_setup(void);
void tu_teardown(void);

/* The test's scratch directory (mode 0755), and a path inside it (one
 * of 16 buffers used in turn). */
const char *tu_dir(void);
const char *tu_path(const char *name);

/*
 * Run the helper with args (NULL-terminated) and wait for its launcher to
 * exit.  Every daemon it leaves is killed at teardown.
 */
void tu_launch(struct launch *out, const char *arg, ...);

/*
 * Start the helper in the foreground (it stays our child); returns its pid.
 * Its stderr is kept in the file tu_path("fg.stderr") (tu_slurp() it).
 */
pid_t tu_start_fg(const char *arg, ...);

/* The program tu_launch() and tu_start_fg() run: the helper by default. */
extern const char *tu_program;

/* The helper's stdin for the next launches; -1 (default) is /dev/null,
 * -2 a closed fd 0. */
extern int tu_stdin_fd;

/* Bits 1 << 1 and 1 << 2: close fd 1 or 2 too in the next launches (the
 * launcher's stderr is then lost: tu_launch() reads nothing). */
extern int tu_close_stdio;

/* The RLIMIT_NOFILE (soft and hard) of the next launches; 0 keeps ours. */
extern long tu_nofile;

/* 1 when every child (daemons included, we are their subreaper) is reaped
 * within ms: nothing was left running. */
int tu_no_children(int ms);

/* Add an option to ASAN_OPTIONS for the helpers this test starts, keeping
 * what the environment already says (the log path of the sanitizer run). */
void tu_asan_option(const char *opt);

/* Remember a pid to kill at teardown. */
void tu_track(pid_t pid);

/*
 * A pidfile path of more than PATH_MAX - 1 bytes whose directory, the
 * test's own spelled with many "./", can still be opened (static buffer).
 */
const char *tu_long_path(void);

/* Read a pid from a pidfile: 0 when there is none. */
pid_t tu_read_pidfile(const char *path);

/* Wait until pid is gone (reaping it if it is our child); its status or -1. */
int tu_wait_gone(pid_t pid, int ms);

/* SIGTERM to pid, which must then exit 0 within 3 s. */
void tu_stop_cleanly(pid_t pid);

/* Whether pid exists (and is not a zombie). */
int tu_alive(pid_t pid);

/* Wait until path contains needle; 1 when it does within ms. */
int tu_wait_file_contains(const char *path, const char *needle, int ms);

/* The contents of a file (static buffer), "" when it cannot be read. */
const char *tu_slurp(const char *path);

/* A line from /proc/PID/status, e.g. tu_status_field(pid, "Umask:"). */
const char *tu_status_field(pid_t pid, const char *key);

/* readlink("/proc/PID/<what>"), static buffer. */
const char *tu_proc_link(pid_t pid, const char *what);

/* The open fds of pid, sorted, with their link targets. */
struct tu_fd {
	int fd;
	char target[256];
};
size_t tu_fds(pid_t pid, struct tu_fd *out, size_t max);

/* tu_fds() once the daemon has closed its end of the launcher pipe. */
size_t tu_fds_settled(pid_t pid, struct tu_fd *out, size_t max);

/* Whether an fd's target looks like libevent's own (epoll, eventfd, pipe). */
int tu_is_event_fd(const char *target);

/* The same, for fds[which] of a process's fds: a pipe counts only when both
 * of its ends are open there (libevent's signal pipe, not a leaked one). */
int tu_is_event_fd_of(const struct tu_fd *fds, size_t n, size_t which);

/*
 * The real systemd (tests/sdbox), one box per test program, started before
 * the suite is made: 0, or -1 with the reason (the tests are then skipped,
 * and say so).  Stopped at exit.
 */
int tu_sdbox_start(char *why, size_t len);
void tu_sdbox_stop(void);

/* Run a shell command inside the box (no single quotes in it): its exit
 * status, with stdout and stderr in out (may be NULL). */
int tu_sdbox_run(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The path, seen from outside, of a file inside the box (one of 4
 * buffers used in turn). */
const char *tu_sdbox_path(const char *inside);

/* Write /run/systemd/system/NAME inside the box, then daemon-reload. */
void tu_sdbox_unit(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* `systemctl show -P PROP UNIT`, one line (static buffer). */
const char *tu_sdbox_show(const char *unit, const char *prop);

/*
 * Run prog (a path) with args (NULL-terminated), stdin /dev/null, and wait
 * for it: its exit status (or 128+signal), with what it wrote on stdout
 * and stderr, in the order written, in out.  For a command that leaves no
 * process holding those (a daemon's launcher does: use tu_launch()).
 */
int tu_run(char *out, size_t len, const char *prog, ...);

/* The monotonic clock in ms, for bounds that prove behaviour. */
long long tu_now_ms(void);

/* A test case with the fixture above and a generous timeout. */
#include <check.h>
TCase *tu_tcase(const char *name);

/* main() for a test file: run the suite, exit 1 on any failure. */
#define TU_MAIN(make_suite)                                             \
	int main(void)                                                  \
	{                                                               \
		SRunner *sr = srunner_create(make_suite());             \
		int failed;                                             \
		srunner_run_all(sr, CK_NORMAL);                         \
		failed = srunner_ntests_failed(sr);                     \
		srunner_free(sr);                                       \
		return failed == 0 ? 0 : 1;                             \
	}

#endif
