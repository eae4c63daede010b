/*
 * upswitch: replace a daemon's process COUNT times while a load
 * generator runs against it, and note the moments of each switch: the
 * harness of bench/upgrade.sh.
 *
 * usage: upswitch -m upgrade|restart -p PIDFILE -e EVENTS -l SUMMARY
 *            [-n COUNT] [-i INTERVAL_MS] [-w WARMUP_MS] [-s]
 *            -- DAEMON [ARG...] -- LOADGEN [ARG...]
 *
 * The daemon is started (until its pidfile names a live process and its
 * launcher has exited), then the load generator, its stdout going to
 * SUMMARY.  After WARMUP_MS (500) come COUNT (20) switches, INTERVAL_MS
 * (500) apart, then WARMUP_MS more; then the load generator is stopped
 * (SIGINT), and the daemon (SIGTERM).  A switch is
 *   upgrade  `DAEMON --upgrade --pidfile PIDFILE`, which asks the running
 *            daemon for an upgrade and waits for its outcome; with -s,
 *            SIGUSR2 sent to it instead;
 *   restart  SIGTERM to the running daemon, wait until it is gone, then
 *            start DAEMON ARG... again, as an init script's restart does.
 * We are the subreaper of everything started here, so a daemon that
 * detached is our child, and a pidfd says the moment it ends.
 *
 * EVENTS gets one line per switch, times on CLOCK_MONOTONIC in ns (the
 * load generator's clock, so that they fall into its windows):
 *   mode i t_request t_ready t_command t_old_gone old_pid new_pid status
 * t_ready: the pidfile names the new process (and, for a restart, its
 * launcher has exited); t_command: the upgrade command returned (a
 * restart: t_ready); t_old_gone: the old process ended; status: the
 * upgrade command's exit status.  A switch that did not happen has
 * t_ready -1, new_pid 0, and the old process, still serving, goes on.
 * Exit status 0 when every switch happened, 1 otherwise.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

extern char **environ;

/* How long one switch may take before we give up on it. */
#define SWITCH_TIMEOUT_MS 30000

struct sw {
	long long t_req, t_ready, t_cmd, t_gone;
	pid_t old, new;
	int status;
};

static pid_t loadgen;
static int loadgen_status = -1;

static void
usage(void)
{
	fprintf(stderr, "usage: upswitch -m upgrade|restart -p PIDFILE "
	    "-e EVENTS -l SUMMARY [-n COUNT] [-i INTERVAL_MS] [-w WARMUP_MS] "
	    "[-s] -- DAEMON [ARG...] -- LOADGEN [ARG...]\n");
	exit(2);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bench_timed_out)
		;
}

/* Reap whatever ended (middle processes, commands), minding loadgen's. */
static void
reap(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == loadgen)
			loadgen_status = st;
}

static int
pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The pid the pidfile names if it is alive and not `not`, else 0. */
static pid_t
new_pid(const char *pidfile, pid_t not)
{
	pid_t pid = bench_read_pidfile(pidfile);

	if (pid <= 0 || pid == not || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	return pid;
}

static pid_t
spawn(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "upswitch: %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

/* Wait until a pidfd says its process ended; its moment, or -1. */
static long long
wait_gone(int pidfd, int timeout_ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	long long deadline = bench_now_ns() + timeout_ms * 1000000LL;

	while (bench_now_ns() < deadline && !bench_timed_out) {
		if (poll(&p, 1, 100) > 0)
			return bench_now_ns();
	}
	return -1;
}

/*
 * An upgrade: ask, then watch three things at once until each has
 * spoken or the time is up: the pidfile (inotify on its directory), the
 * command (a pidfd), the old process (a pidfd).
 */
static int
upgrade(const char *pidfile, char *daemon, int use_signal, struct sw *s)
{
	char dir[PATH_MAX], evbuf[4096];
	char *argv[] = { daemon, "--upgrade", "--pidfile", (char *)pidfile,
	    NULL };
	struct pollfd p[3];
	long long deadline;
	int ino, oldfd, cmdfd = -1, st, rc = -1;
	pid_t cmd = -1, pid;

	snprintf(dir, sizeof(dir), "%s", pidfile);
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, dirname(dir), IN_MODIFY |
	    IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0 ||
	    (oldfd = pidfd_of(s->old)) < 0) {
		perror("upswitch: inotify/pidfd");
		return -1;
	}
	s->t_req = bench_now_ns();
	if (use_signal) {
		if (kill(s->old, SIGUSR2) < 0)
			perror("upswitch: kill");
		s->t_cmd = s->t_req;
	} else if ((cmd = spawn(argv, NULL)) < 0 ||
	    (cmdfd = pidfd_of(cmd)) < 0)
		goto out;
	deadline = s->t_req + SWITCH_TIMEOUT_MS * 1000000LL;
	for (;;) {
		int done_cmd = use_signal || s->t_cmd >= 0;

		/* The new one ready and the old one gone; or the command
		 * said it failed and the old one still serves. */
		if (done_cmd && s->t_ready >= 0 && s->t_gone >= 0)
			break;
		if (done_cmd && !use_signal && s->status != 0 &&
		    s->t_ready < 0)
			break;
		if (bench_now_ns() > deadline || bench_timed_out) {
			fprintf(stderr, "upswitch: upgrade of %ld: no outcome "
			    "after %d ms\n", (long)s->old, SWITCH_TIMEOUT_MS);
			goto out;
		}
		p[0] = (struct pollfd){ ino, POLLIN, 0 };
		p[1] = (struct pollfd){ s->t_gone < 0 ? oldfd : -1, POLLIN, 0 };
		p[2] = (struct pollfd){ s->t_cmd < 0 ? cmdfd : -1, POLLIN, 0 };
		if (poll(p, 3, 100) < 0 && errno != EINTR)
			goto out;
		if (p[0].revents & POLLIN)
			while (read(ino, evbuf, sizeof(evbuf)) > 0)
				;
		if (s->t_ready < 0 && (pid = new_pid(pidfile, s->old)) > 0) {
			s->t_ready = bench_now_ns();
			s->new = pid;
		}
		if (p[1].revents & POLLIN)
			s->t_gone = bench_now_ns();
		if (p[2].revents & POLLIN) {
			s->t_cmd = bench_now_ns();
			if (waitpid(cmd, &st, 0) == cmd)
				s->status = WIFEXITED(st) ? WEXITSTATUS(st) :
				    128 + WTERMSIG(st);
		}
	}
	rc = s->t_ready >= 0 ? 0 : -1;
out:
	reap();
	close(ino);
	close(oldfd);
	if (cmdfd >= 0)
		close(cmdfd);
	return rc;
}

/* A restart: stop the old process, wait for its end, start anew. */
static int
restart(const char *pidfile, char *const daemon_argv[], struct sw *s)
{
	struct bench_start st;
	long long t;
	int oldfd;

	if ((oldfd = pidfd_of(s->old)) < 0) {
		perror("upswitch: pidfd_open");
		return -1;
	}
	s->t_req = bench_now_ns();
	kill(s->old, SIGTERM);
	s->t_gone = wait_gone(oldfd, SWITCH_TIMEOUT_MS);
	close(oldfd);
	reap();
	if (s->t_gone < 0) {
		fprintf(stderr, "upswitch: %ld did not stop\n", (long)s->old);
		return -1;
	}
	t = bench_now_ns();
	if (bench_start(pidfile, daemon_argv, NULL, -1, 1, SWITCH_TIMEOUT_MS,
	    &st) < 0)
		return -1;
	s->t_ready = t + (st.exit_ns > st.pid_ns ? st.exit_ns : st.pid_ns);
	s->t_cmd = s->t_ready;
	s->new = st.daemon;
	reap();
	return 0;
}

/* Stop the daemon for good: SIGTERM, and SIGKILL if it lingers. */
static void
stop_daemon(pid_t pid)
{
	int fd = pidfd_of(pid);

	if (fd < 0)
		return;
	kill(pid, SIGTERM);
	if (wait_gone(fd, 10000) < 0)
		kill(pid, SIGKILL);
	close(fd);
}

int
main(int argc, char **argv)
{
	const char *mode = NULL, *pidfile = NULL, *events = NULL,
	    *summary = NULL;
	char **daemon_argv, **loadgen_argv;
	int c, i, count = 20, interval = 500, warmup = 500, use_signal = 0;
	int failed = 0;
	struct bench_start st;
	pid_t cur;
	FILE *ev;

	while ((c = getopt(argc, argv, "m:p:e:l:n:i:w:s")) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'e': events = optarg; break;
		case 'l': summary = optarg; break;
		case 'n': count = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'w': warmup = atoi(optarg); break;
		case 's': use_signal = 1; break;
		default: usage();
		}
	}
	if (mode == NULL || pidfile == NULL || events == NULL ||
	    summary == NULL || count < 0 || interval < 0 || warmup < 0 ||
	    (strcmp(mode, "upgrade") != 0 && strcmp(mode, "restart") != 0) ||
	    optind >= argc)
		usage();
	daemon_argv = argv + optind;
	for (i = optind; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	if (i + 1 >= argc || i == optind)
		usage();
	argv[i] = NULL;
	loadgen_argv = argv + i + 1;

	bench_init();
	/* Room for every switch and its pause, then some. */
	alarm((unsigned)((long long)count * (interval + 10000) / 1000 +
	    warmup * 2 / 1000 + 120));
	if ((ev = fopen(events, "w")) == NULL) {
		perror(events);
		return 1;
	}
	if (bench_start(pidfile, daemon_argv, NULL, -1, 1, 10000, &st) < 0)
		return 1;
	cur = st.daemon;
	reap();
	if ((loadgen = spawn(loadgen_argv, summary)) < 0) {
		bench_reap_all(cur);
		return 1;
	}
	sleep_ms(warmup);
	for (i = 1; i <= count && !bench_timed_out; i++) {
		struct sw s = { -1, -1, -1, -1, cur, 0, 0 };
		int rc;

		if (strcmp(mode, "upgrade") == 0)
			rc = upgrade(pidfile, daemon_argv[0], use_signal, &s);
		else
			rc = restart(pidfile, daemon_argv, &s);
		fprintf(ev, "%s %d %lld %lld %lld %lld %ld %ld %d\n", mode, i,
		    s.t_req, s.t_ready, s.t_cmd, s.t_gone, (long)s.old,
		    (long)s.new, s.status);
		fflush(ev);
		if (rc == 0)
			cur = s.new;
		else
			failed++;
		reap();
		/* No daemon left to switch: the run ends here. */
		if (kill(cur, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "upswitch: no daemon after switch "
			    "%d\n", i);
			failed++;
			break;
		}
		sleep_ms(interval);
		reap();
	}
	sleep_ms(warmup);
	kill(loadgen, SIGINT);
	if (loadgen_status < 0 && waitpid(loadgen, &loadgen_status, 0) < 0)
		perror("upswitch: waitpid(loadgen)");
	if (!WIFEXITED(loadgen_status) || WEXITSTATUS(loadgen_status) != 0) {
		fprintf(stderr, "upswitch: the load generator failed "
		    "(status 0x%x)\n", loadgen_status);
		failed++;
	}
	stop_daemon(cur);
	bench_reap_all(0);
	fclose(ev);
	return failed ? 1 : 0;
}
