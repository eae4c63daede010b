/*
 * hook-helper: a daemon with a privileged hook (dctx_set_privileged_hook()),
 * for tests/check_hook.c.  The hook opens a file (--hook-open PATH), binds
 * a TCP port on 127.0.0.1 (--hook-bind PORT), or fails (--hook-fail TEXT:
 * with that message and -EACCES; --hook-fail-bare: -EACCES alone;
 * --hook-positive: returns 1).  After the open it reports on its stdout
 * what the hook saw ("hook pid P euid E core C") and what the daemon can
 * do now ("hook-fd N", "reopen: WORDS"); with --serve it then serves the
 * bound port, answering each client "uid U euid E pid P", until SIGTERM.
 * With --fail-first the hook fails once after it opened and preserved
 * its file, as one whose port is still busy; the program then closes the
 * file, as dctx.h tells it to, and calls dctx_open() again.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx.h"

struct hook {
	const char *open_path;
	int port;
	const char *fail;
	int bare, positive;
	int fail_first;   /* fail the first call, after the open */
	int calls;

	/* What the hook saw and made. */
	pid_t pid;
	uid_t euid;
	long core;
	int fd;
	int lfd;
};

static int
hook(struct dctx *ctx, void *arg)
{
	struct hook *h = arg;
	struct sockaddr_in sin;
	struct rlimit rl;
	int one = 1, rc;

	h->pid = getpid();
	h->euid = geteuid();
	h->core = getrlimit(RLIMIT_CORE, &rl) == 0 ? (long)rl.rlim_cur : -1;
	if (h->fail != NULL)
		return dctx_set_errmsg(ctx, -EACCES, "%s", h->fail);
	if (h->bare)
		return -EACCES;
	if (h->positive)
		return 1;
	if (h->open_path != NULL) {
		if ((h->fd = open(h->open_path, O_RDONLY | O_CLOEXEC)) < 0)
			return dctx_set_errmsg(ctx, -errno, "key %s: %s",
			    h->open_path, strerror(errno));
		if ((rc = dctx_preserve_fd(ctx, h->fd)) < 0)
			return rc;
	}
	if (h->fail_first && h->calls++ == 0)
		return dctx_set_errmsg(ctx, -EADDRINUSE, "port: busy");
	if (h->port > 0) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((in_port_t)h->port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (h->lfd < 0 ||
		    setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) < 0 ||
		    bind(h->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    listen(h->lfd, 16) < 0)
			return dctx_set_errmsg(ctx, -errno, "bind port %d: %s",
			    h->port, strerror(errno));
		if ((rc = dctx_preserve_fd(ctx, h->lfd)) < 0)
			return rc;
	}
	return 0;
}

static void
on_client(evutil_socket_t fd, short what, void *arg)
{
	char buf[128];
	int c, n;

	(void)what;
	(void)arg;
	if ((c = accept(fd, NULL, NULL)) < 0)
		return;
	n = snprintf(buf, sizeof(buf), "uid %ld euid %ld pid %ld\n",
	    (long)getuid(), (long)geteuid(), (long)getpid());
	if (write(c, buf, (size_t)n) != n)
		perror("hook-helper: write");
	close(c);
}

static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "hook-helper: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stdout", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'u' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "hook-open", required_argument, NULL, 'O' },
		{ "hook-bind", required_argument, NULL, 'B' },
		{ "hook-fail", required_argument, NULL, 'X' },
		{ "hook-fail-bare", no_argument, NULL, 'x' },
		{ "hook-positive", no_argument, NULL, 'P' },
		{ "serve", no_argument, NULL, 's' },
		{ "fail-first", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	struct hook h = { .fd = -1, .lfd = -1 };
	struct event *ev = NULL;
	struct dctx *ctx;
	int c, rc = 0, serve = 0, fd;

	if ((ctx = dctx_new()) == NULL)
		return 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO); break;
		case 'd': rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES); break;
		case 'p': rc = dctx_set_pidfile(ctx, optarg); break;
		case 'o': rc = dctx_set_stdout(ctx, open_file(optarg)); break;
		case 'u': rc = dctx_set_user(ctx, optarg); break;
		case 'r': rc = dctx_set_chroot_directory(ctx, optarg); break;
		case 'O': h.open_path = optarg; break;
		case 'B': h.port = atoi(optarg); break;
		case 'X': h.fail = optarg; break;
		case 'x': h.bare = 1; break;
		case 'P': h.positive = 1; break;
		case 's': serve = 1; break;
		case 'F': h.fail_first = 1; break;
		default: return 2;
		}
	}
	if (rc == 0)
		rc = dctx_set_privileged_hook(ctx, hook, &h);
	if (rc < 0) {
		fprintf(stderr, "hook-helper: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 2;
	}
	if (h.fail_first && (rc = dctx_open(ctx)) < 0) {
		fprintf(stderr, "hook-helper: first open %d: %s\n", rc,
		    dctx_errmsg(ctx));
		/* What the hook opened is the program's to close. */
		if (h.fd >= 0)
			close(h.fd);
		h.fd = -1;
	}
	if ((rc = dctx_open(ctx)) < 0) {
		/* In the foreground: the code and the message come back. */
		fprintf(stderr, "hook-helper: open %d: %s\n", rc,
		    dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	printf("open pid %ld\nhook pid %ld euid %ld core %ld\n",
	    (long)getpid(), (long)h.pid, (long)h.euid, h.core);
	if (h.fd >= 0) {
		printf("hook-fd %d\n", h.fd);
		/* As the daemon's user now: the file is closed to it. */
		fd = open(h.open_path, O_RDONLY | O_CLOEXEC);
		printf("reopen: %s\n", fd >= 0 ? "ok" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	fflush(stdout);
	if (h.lfd >= 0) {
		ev = event_new(dctx_base(ctx), h.lfd, EV_READ | EV_PERSIST,
		    on_client, NULL);
		event_add(ev, NULL);
	}
	if (serve)
		event_base_dispatch(dctx_base(ctx));
	if (ev != NULL)
		event_free(ev);
	rc = dctx_exit_status(ctx);
	dctx_free(ctx);
	if (h.fd >= 0)
		close(h.fd);
	if (h.lfd >= 0)
		close(h.lfd);
	return rc;
}
