/*
 * Starting a peer's launcher and telling when its daemon is ready.
 *
 * Ready means two things at once: the pidfile names a live process, and the
 * launcher has exited (a shell script or systemd's Type=forking goes on at
 * that moment).  Both are watched without polling: the pidfile's directory
 * through inotify, the launcher through a pidfd, so that the watcher sleeps
 * while the peer runs and the two cores stay free for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

extern char **environ;

volatile sig_atomic_t bench_timed_out;

static void
on_alarm(int signo)
{
	(void)signo;
	bench_timed_out = 1;
}

long long
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
bench_init(void)
{
	struct sigaction sa;

	/*
	 * Whatever our own parent left open (a terminal's, a CI runner's)
	 * would reach the peers and change what they have to close.
	 */
	bench_close_strays();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("prctl(PR_SET_CHILD_SUBREAPER)");
	/*
	 * A hung peer must not hang the whole run.  The alarm interrupts
	 * whatever we wait in (no SA_RESTART), and the waits give up, so
	 * that the daemons are still killed and reaped on the way out.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(120);
}

void
bench_close_strays(void)
{
	if (syscall(SYS_close_range, 3U, ~0U, 0) < 0)
		perror("close_range");
}

pid_t
bench_read_pidfile(const char *path)
{
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	/* Only a whole line counts: a write may still be under way. */
	if (end == buf || *end != '\n' || pid <= 0)
		return 0;
	return (pid_t)pid;
}

/* The pid in the pidfile, if the process it names is alive. */
static pid_t
live_pid(const char *path)
{
	pid_t pid = bench_read_pidfile(path);

	if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
		return pid;
	return 0;
}

int
bench_start(const char *pidfile, char *const argv[], char *const envp[],
    int answer_fd, int wait_launcher, int timeout_ms, struct bench_start *out)
{
	posix_spawn_file_actions_t fa;
	char dir[PATH_MAX];
	char evbuf[4096];
	struct pollfd pfd[2];
	long long t0, deadline;
	int ino, pidfd = -1, have_pid = 0, have_exit = 0, rc = -1;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	out->exit_ns = -1;
	out->pid_ns = -1;
	if (unlink(pidfile) < 0 && errno != ENOENT) {
		perror(pidfile);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", pidfile);
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, dirname(dir), IN_CREATE |
	    IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		perror("inotify");
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (answer_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, answer_fd, 3);

	t0 = bench_now_ns();
	errno = posix_spawn(&out->launcher, argv[0], &fa, NULL, argv,
	    envp != NULL ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno != 0) {
		perror(argv[0]);
		goto out;
	}
	/* A pidfd works on a zombie too, so nothing can be missed here. */
	pidfd = (int)syscall(SYS_pidfd_open, out->launcher, 0);
	if (pidfd < 0) {
		perror("pidfd_open");
		goto out;
	}
	deadline = t0 + (long long)timeout_ms * 1000000LL;
	while (!have_pid || (wait_launcher && !have_exit)) {
		long long left = deadline - bench_now_ns();
		int nfds = 1;

		if (left <= 0) {
			fprintf(stderr, "bench: %s: not ready after %d ms "
			    "(pidfile %s, launcher %s)\n", argv[0], timeout_ms,
			    have_pid ? "ok" : "missing",
			    have_exit ? "exited" : "running");
			goto out;
		}
		pfd[0].fd = ino;
		pfd[0].events = POLLIN;
		if (!have_exit) {
			pfd[1].fd = pidfd;
			pfd[1].events = POLLIN;
			nfds = 2;
		}
		if (poll(pfd, (nfds_t)nfds, (int)(left / 1000000) + 1) < 0) {
			if (errno == EINTR && !bench_timed_out)
				continue;
			perror("poll");
			goto out;
		}
		/* The exit first: its check must not see later writes. */
		if (nfds == 2 && (pfd[1].revents & POLLIN)) {
			out->exit_ns = bench_now_ns() - t0;
			have_exit = 1;
			waitpid(out->launcher, &out->status, 0);
			/*
			 * What a script sees that reads the pidfile when its
			 * launcher returns: is the daemon named there yet?
			 */
			if ((pid = live_pid(pidfile)) == 0)
				out->racing = 1;
			else if (!have_pid) {
				out->daemon = pid;
				out->pid_ns = out->exit_ns;
				have_pid = 1;
			}
			if (!WIFEXITED(out->status) ||
			    WEXITSTATUS(out->status) != 0) {
				fprintf(stderr, "bench: %s: launcher failed "
				    "(status 0x%x)\n", argv[0], out->status);
				goto out;
			}
		}
		if (pfd[0].revents & POLLIN) {
			while (read(ino, evbuf, sizeof(evbuf)) > 0)
				;
			if (!have_pid && (out->daemon = live_pid(pidfile)) > 0) {
				out->pid_ns = bench_now_ns() - t0;
				have_pid = 1;
			}
		}
	}
	rc = 0;
out:
	if (pidfd >= 0)
		close(pidfd);
	if (ino >= 0)
		close(ino);
	return rc;
}

/* Send sig to every child we have (as subreaper: orphans included). */
static int
signal_children(int sig)
{
	char path[64];
	long child;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fscanf(f, "%ld", &child) == 1) {
		kill((pid_t)child, sig);
		n++;
	}
	fclose(f);
	return n;
}

void
bench_reap_all(pid_t daemon)
{
	struct timespec ms = { 0, 1000000 };
	long long give_up = bench_now_ns() + (daemon > 0 ? 5000000000LL : 0);

	if (daemon > 0)
		kill(daemon, SIGKILL);
	/*
	 * A tracer among our children ends by itself once its tracees are
	 * gone, and writes its summary then: give it time before the kill.
	 * Without a known daemon something failed: kill everything at once.
	 */
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (signal_children(0) == 0)
			break;
		if (bench_now_ns() > give_up)
			signal_children(SIGKILL);
		nanosleep(&ms, NULL);
	}
}

long
bench_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}
