/*
 * d_floor: the floor.  What any daemon that tells its launcher the truth
 * must do, and nothing else: a pipe, fork, setsid, fork, the pid written
 * to a plain file, one byte on the pipe.  No descriptor is closed, no
 * signal reset, no lock taken.  Nothing can start faster and still wait
 * for its daemon.
 *
 * usage: d_floor --pidfile PATH [--answer-fd N]
 *
 * With --answer-fd N it answers every SIGUSR1 with one byte on N through
 * the classic raw self-pipe: a sigaction handler writes to a pipe, a poll
 * loop reads it.  That is the yardstick for libdctx's signal events.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int self_pipe[2];

static void
on_signal(int signo)
{
	int saved = errno;
	char c = (char)signo;

	/* The pipe is non-blocking: a full pipe already says "wake up". */
	(void)write(self_pipe[1], &c, 1);
	errno = saved;
}

static void __attribute__((noreturn))
serve_signals(int answer_fd)
{
	struct sigaction sa;
	struct pollfd pfd;
	char buf[64];

	if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		_exit(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	pfd.fd = self_pipe[0];
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, -1) < 0)
			continue;
		if (read(self_pipe[0], buf, sizeof(buf)) > 0 &&
		    write(answer_fd, "!", 1) != 1)
			_exit(1);
	}
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	ok = write(fd, buf, (size_t)n) == n;
	return close(fd) == 0 && ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *pidfile = NULL;
	int answer_fd = -1, report[2], i;
	pid_t pid;
	char c = 0;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--pidfile") == 0)
			pidfile = argv[i + 1];
		else if (strcmp(argv[i], "--answer-fd") == 0)
			answer_fd = atoi(argv[i + 1]);
		else
			break;
	}
	if (pidfile == NULL || i != argc) {
		fprintf(stderr, "usage: d_floor --pidfile PATH [--answer-fd N]\n");
		return 2;
	}
	if (pipe2(report, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		perror("d_floor");
		return 1;
	}
	if (pid > 0) {
		/* The launcher: exit with the daemon's word, not before. */
		close(report[1]);
		while (read(report[0], &c, 1) < 0 && errno == EINTR)
			;
		waitpid(pid, NULL, 0);
		return c == 'R' ? 0 : 1;
	}
	close(report[0]);
	if (setsid() < 0 || (pid = fork()) < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	if (write_pidfile(pidfile) < 0 || write(report[1], "R", 1) != 1)
		_exit(1);
	close(report[1]);
	if (answer_fd >= 0)
		serve_signals(answer_fd);
	for (;;)
		pause();
}
