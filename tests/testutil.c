#include "config.h"

#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define MAX_TRACKED 64

static char dir[256];
/* A ring, so that several tu_path() results can sit in one call. */
static char pathbuf[16][512];
static int pathnext;
static pid_t tracked[MAX_TRACKED];
static int ntracked;
int tu_stdin_fd = -1;
int tu_close_stdio;
long tu_nofile;
const char *tu_program = HELPER_PATH;

/*
 * A failed assertion ends the test's process at once, and its checked
 * teardown never runs; the daemons it started live on in their own
 * sessions.  So every test writes what it starts into a file of its own,
 * removed by a teardown that ran, and the runner's unchecked teardown kills
 * what the remaining files name.
 */
static char stray_dir[64];

static void
remove_tree(const char *path)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

static void
stray_file(char *buf, size_t len, pid_t test)
{
	snprintf(buf, len, "%s/%ld", stray_dir, (long)test);
}

static void
stray_note(const char *what, const char *value)
{
	char path[128];
	FILE *f;

	if (stray_dir[0] == '\0')
		return;
	stray_file(path, sizeof(path), getpid());
	if ((f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s %s\n", what, value);
	fclose(f);
}

static void
suite_setup(void)
{
	snprintf(stray_dir, sizeof(stray_dir), "/tmp/dctx-strays.XXXXXX");
	if (mkdtemp(stray_dir) == NULL)
		stray_dir[0] = '\0';
}

/* A process's start time (field 22 of /proc/PID/stat); 0 when gone. */
static unsigned long long
start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* The command name may hold spaces: count from its closing ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/* Kill a pid only if it is still the process we started: pids are reused. */
static void
kill_stray(pid_t pid, unsigned long long started)
{
	if (started != 0 && start_time(pid) == started)
		kill(pid, SIGKILL);
}

static void
suite_teardown(void)
{
	char path[400], line[600];
	struct dirent *de;
	DIR *d;
	FILE *f;

	if (stray_dir[0] == '\0' || (d = opendir(stray_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", stray_dir, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "pid ", 4) == 0) {
				char *end;
				long pid = strtol(line + 4, &end, 10);
				kill_stray((pid_t)pid, strtoull(end, NULL, 10));
			}
			else if (strncmp(line, "dir /tmp/dctx-test.", 19) == 0)
				remove_tree(line + 4);
		}
		fclose(f);
		unlink(path);
	}
	closedir(d);
	rmdir(stray_dir);
}

void
tu_setup(void)
{
	/* Double-forked daemons come back to us, so we can reap them. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(dir, sizeof(dir), "/tmp/dctx-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* Reachable by an unprivileged daemon user. */
	chmod(dir, 0755);
	ntracked = 0;
	stray_note("dir", dir);
	/*
	 * What a service manager may have put in our own environment (CI
	 * under systemd, a shell inside a unit) would change how the helpers
	 * start: whether they detach, where they log, what they are passed.
	 * A test that wants one sets it for its helper.
	 */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("INVOCATION_ID");
	unsetenv("SYSTEMD_EXEC_PID");
	unsetenv("JOURNAL_STREAM");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	tu_stdin_fd = -1;
	tu_close_stdio = 0;
	tu_nofile = 0;
}


void
tu_teardown(void)
{
	int i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i] > 0 && kill(tracked[i], SIGKILL) == 0)
			tu_wait_gone(tracked[i], 2000);
	ntracked = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (dir[0] != '\0')
		remove_tree(dir);
	dir[0] = '\0';
	/* This test cleaned up after itself: nothing for the runner to do. */
	if (stray_dir[0] != '\0') {
		char path[128];
		stray_file(path, sizeof(path), getpid());
		unlink(path);
	}
}

const char *
tu_dir(void)
{
	return dir;
}

const char *
tu_path(const char *name)
{
	char *p = pathbuf[pathnext++ % 16];

	snprintf(p, sizeof(pathbuf[0]), "%s/%s", dir, name);
	return p;
}

void
tu_asan_option(const char *opt)
{
	const char *old = getenv("ASAN_OPTIONS");
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s%s", old ? old : "", old ? ":" : "", opt);
	setenv("ASAN_OPTIONS", buf, 1);
}

void
tu_track(pid_t pid)
{
	if (pid > 0 && ntracked < MAX_TRACKED) {
		tracked[ntracked++] = pid;
		char num[48];
		snprintf(num, sizeof(num), "%ld %llu", (long)pid, start_time(pid));
		stray_note("pid", num);
	}
}

/* The helper's argv, as copies: execv() wants them writable. */
static void
collect_args(char **argv, const char *first, va_list ap)
{
	int n = 0;
	const char *a;

	argv[n++] = strdup(tu_program);
	for (a = first; a != NULL && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
		argv[n++] = strdup(a);
	argv[n] = NULL;
}

static void
free_args(char **argv)
{
	int i;

	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
}

static pid_t
spawn(char **argv, int errfd)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (tu_stdin_fd == -2)
			close(0);
		else
			dup2(tu_stdin_fd >= 0 ? tu_stdin_fd :
			    open("/dev/null", O_RDWR), 0);
		dup2(errfd, 2);
		if (tu_close_stdio & (1 << 1))
			close(1);
		if (tu_close_stdio & (1 << 2))
			close(2);
		if (tu_nofile > 0) {
			struct rlimit rl = { (rlim_t)tu_nofile, (rlim_t)tu_nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

void
tu_launch(struct launch *out, const char *arg, ...)
{
	char *argv[MAX_ARGS];
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid, daemon_pid;
	va_list ap;

	va_start(ap, arg);
	collect_args(argv, arg, ap);
	va_end(ap);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = spawn(argv, p[1]);
	close(p[1]);
	/* The daemon's stderr is not this pipe: EOF comes with the launcher. */
	while ((n = read(p[0], out->err + got, sizeof(out->err) - 1 - got)) > 0)
		got += (size_t)n;
	out->err[got] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	out->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* Whatever the pidfile names is ours to kill later. */
	for (int i = 1; argv[i] != NULL; i++)
		if (strcmp(argv[i], "--pidfile") == 0 && argv[i + 1] != NULL &&
		    (daemon_pid = tu_read_pidfile(argv[i + 1])) > 0)
			tu_track(daemon_pid);
	free_args(argv);
}

pid_t
tu_start_fg(const char *arg, ...)
{
	char *argv[MAX_ARGS];
	pid_t pid;
	va_list ap;
	int errfd;

	va_start(ap, arg);
	collect_args(argv, arg, ap);
	va_end(ap);
	errfd = open(tu_path("fg.stderr"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(errfd, 0);
	pid = spawn(argv, errfd);
	close(errfd);
	free_args(argv);
	tu_track(pid);
	return pid;
}

const char *
tu_long_path(void)
{
	static char path[4400];
	size_t n;

	n = (size_t)snprintf(path, sizeof(path), "%s/", dir);
	while (n < 3900) {
		memcpy(path + n, "./", 2);
		n += 2;
	}
	memset(path + n, 'p', 200);
	path[n + 200] = '\0';
	return path;
}

pid_t
tu_read_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)atol(buf);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
tu_no_children(int ms)
{
	int waited;

	for (waited = 0; waited <= ms; waited += 5) {
		pid_t r = waitpid(-1, NULL, WNOHANG);
		if (r < 0 && errno == ECHILD)
			return 1;
		if (r == 0)
			sleep_ms(5);
	}
	return 0;
}

int
tu_alive(pid_t pid)
{
	const char *state = tu_status_field(pid, "State:");

	return state[0] != '\0' && strchr(state, 'Z') == NULL;
}

int
tu_wait_gone(pid_t pid, int ms)
{
	int st, waited;

	for (waited = 0; waited <= ms; waited += 5) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0 && !tu_alive(pid))
			return 0; /* not our child, and gone */
		sleep_ms(5);
	}
	return -1;
}

void
tu_stop_cleanly(pid_t pid)
{
	int status;

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	status = tu_wait_gone(pid, 3000);
	ck_assert_msg(status == 0, "pid %ld after SIGTERM: status %d (-1: "
	    "still running)", (long)pid, status);
}

const char *
tu_slurp(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

int
tu_wait_file_contains(const char *path, const char *needle, int ms)
{
	int waited;

	for (waited = 0; waited <= ms; waited += 5) {
		if (strstr(tu_slurp(path), needle) != NULL)
			return 1;
		sleep_ms(5);
	}
	return 0;
}

const char *
tu_status_field(pid_t pid, const char *key)
{
	static char line[256];
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	line[0] = '\0';
	if ((f = fopen(path, "re")) == NULL)
		return line;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			char *v = line + strlen(key);
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = '\0';
			/* "Groups:" ends in a space. */
			while (*v != '\0' && v[strlen(v) - 1] == ' ')
				v[strlen(v) - 1] = '\0';
			memmove(line, v, strlen(v) + 1);
			fclose(f);
			return line;
		}
	line[0] = '\0';
	fclose(f);
	return line;
}

const char *
tu_proc_link(pid_t pid, const char *what)
{
	static char buf[512];
	char path[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
cmp_fd(const void *a, const void *b)
{
	return ((const struct tu_fd *)a)->fd - ((const struct tu_fd *)b)->fd;
}

size_t
tu_fds(pid_t pid, struct tu_fd *out, size_t max)
{
	char path[64], link[400];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		ssize_t len;
		if (de->d_name[0] == '.')
			continue;
		out[n].fd = atoi(de->d_name);
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		len = readlink(link, out[n].target, sizeof(out[n].target) - 1);
		/* Closed between readdir and readlink: not open any more. */
		if (len <= 0)
			continue;
		out[n].target[len] = '\0';
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_fd);
	return n;
}

int
tu_is_event_fd(const char *target)
{
	return strcmp(target, "anon_inode:[eventpoll]") == 0 ||
	    strcmp(target, "anon_inode:[eventfd]") == 0 ||
	    strncmp(target, "pipe:", 5) == 0;
}

size_t
tu_fds_settled(pid_t pid, struct tu_fd *out, size_t max)
{
	size_t n = 0, i;
	int waited, lone;

	/*
	 * The launcher exits as soon as it reads "ready", a moment before the
	 * daemon closes its end of that pipe: give it a second.  A pipe that
	 * stays half-open past that is a leak.
	 */
	for (waited = 0; waited <= 1000; waited += 10) {
		n = tu_fds(pid, out, max);
		for (i = 0, lone = 0; i < n; i++)
			lone |= strncmp(out[i].target, "pipe:", 5) == 0 &&
			    !tu_is_event_fd_of(out, n, i);
		if (!lone)
			break;
		sleep_ms(10);
	}
	return n;
}

int
tu_is_event_fd_of(const struct tu_fd *fds, size_t n, size_t which)
{
	size_t i, same = 0;

	if (!tu_is_event_fd(fds[which].target))
		return 0;
	if (strncmp(fds[which].target, "pipe:", 5) != 0)
		return 1;
	/* libevent's signal pipe has both ends here; a leaked pipe one. */
	for (i = 0; i < n; i++)
		same += strcmp(fds[i].target, fds[which].target) == 0;
	return same == 2;
}

TCase *
tu_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 20);
	return tc;
}

int
tu_run(char *out, size_t len, const char *prog, ...)
{
	char *argv[MAX_ARGS], rest[512];
	const char *saved = tu_program, *first;
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	va_list ap;

	tu_program = prog;
	va_start(ap, prog);
	first = va_arg(ap, const char *);
	collect_args(argv, first, ap);
	va_end(ap);
	tu_program = saved;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(open("/dev/null", O_RDWR), 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	/* What does not fit is read and dropped: the writer must not block. */
	while ((n = got + 1 < len ? read(p[0], out + got, len - 1 - got) :
	    read(p[0], rest, sizeof(rest))) > 0)
		if (got + 1 < len)
			got += (size_t)n;
	if (len > 0)
		out[got] = '\0';
	close(p[0]);
	free_args(argv);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

long long
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
