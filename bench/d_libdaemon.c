/*
 * d_libdaemon: the libdaemon peer, written the way libdaemon's own
 * documentation starts a daemon: reset and unblock signals, check the
 * pidfile, daemon_retval_init(), daemon_fork(); the parent waits in
 * daemon_retval_wait(), the daemon closes every descriptor, creates the
 * pidfile, sets up its signal pipe and sends 0 with daemon_retval_send().
 *
 * usage: d_libdaemon --pidfile PATH [--answer-fd N]
 *
 * With --answer-fd N, descriptor N is kept and every SIGUSR1 is answered
 * with one byte on it, through libdaemon's own signal pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <libdaemon/daemon.h>

static const char *pidfile_path;

/* libdaemon asks a function for the pidfile's path. */
static const char *
pidfile_proc(void)
{
	return pidfile_path;
}

static int
serve(int answer_fd)
{
	int sfd = daemon_signal_fd();
	fd_set fds;

	for (;;) {
		FD_ZERO(&fds);
		FD_SET(sfd, &fds);
		if (select(sfd + 1, &fds, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		switch (daemon_signal_next()) {
		case SIGUSR1:
			if (answer_fd >= 0 && write(answer_fd, "!", 1) != 1)
				return 1;
			break;
		case SIGTERM:
		case SIGINT:
			return 0;
		default:
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	int answer_fd = -1, i, rc;
	pid_t pid;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--pidfile") == 0)
			pidfile_path = argv[i + 1];
		else if (strcmp(argv[i], "--answer-fd") == 0)
			answer_fd = atoi(argv[i + 1]);
		else
			break;
	}
	if (pidfile_path == NULL || i != argc) {
		fprintf(stderr, "usage: d_libdaemon --pidfile PATH [--answer-fd N]\n");
		return 2;
	}
	daemon_pid_file_ident = daemon_log_ident = daemon_ident_from_argv0(argv[0]);
	daemon_pid_file_proc = pidfile_proc;
	if (daemon_reset_sigs(-1) < 0 || daemon_unblock_sigs(-1) < 0) {
		fprintf(stderr, "d_libdaemon: signals: %s\n", strerror(errno));
		return 1;
	}
	if ((pid = daemon_pid_file_is_running()) >= 0) {
		fprintf(stderr, "d_libdaemon: already running (pid %ld)\n", (long)pid);
		return 1;
	}
	if (daemon_retval_init() < 0) {
		fprintf(stderr, "d_libdaemon: retval pipe: %s\n", strerror(errno));
		return 1;
	}
	if ((pid = daemon_fork()) < 0) {
		daemon_retval_done();
		return 1;
	}
	if (pid > 0) {
		/* The launcher: the daemon's word, or a timeout. */
		rc = daemon_retval_wait(20);
		return rc == 0 ? 0 : 1;
	}
	/* libdaemon keeps its own retval pipe open across this. */
	if (daemon_close_all(answer_fd, -1) < 0 ||
	    daemon_pid_file_create() < 0 ||
	    daemon_signal_init(SIGINT, SIGTERM, SIGUSR1, 0) < 0) {
		daemon_retval_send(1);
		return 1;
	}
	daemon_retval_send(0);
	rc = serve(answer_fd);
	daemon_signal_done();
	daemon_pid_file_remove();
	return rc;
}
