/*
 * log-helper: a daemon that logs with dctx_log(), for tests/check_log.c.
 * Options set up the context as echod's do; the others say what to log,
 * before and after dctx_open(), and from where (threads, a forked child,
 * libevent).  PRIO:TEXT takes a number for the priority, and "\n" in TEXT
 * (backslash, n) is a newline.  It reports "open pid N" on its stdout.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "dctx.h"

static struct dctx *ctx;

/* What to log: a priority and a text, in the order given. */
struct line {
	int prio;
	char *text;
};
static struct line before[8], after[8];
static int nbefore, nafter;

static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "log-helper: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* "PRIO:TEXT", with "\n" made a newline. */
static void
add_line(struct line *to, int *n, const char *spec)
{
	char *colon, *r, *w;

	if (*n == 8 || (colon = strchr(spec, ':')) == NULL) {
		fprintf(stderr, "log-helper: bad line %s\n", spec);
		exit(2);
	}
	to[*n].prio = atoi(spec);
	to[*n].text = strdup(colon + 1);
	for (r = w = to[*n].text; *r != '\0'; r++, w++) {
		if (r[0] == '\\' && r[1] == 'n') {
			*w = '\n';
			r++;
		} else
			*w = *r;
	}
	*w = '\0';
	(*n)++;
}

static int thread_lines;

/* Lines long enough that a torn write would show. */
static void *
thread_main(void *arg)
{
	long t = (long)arg;
	int i;

	for (i = 0; i < thread_lines; i++)
		dctx_log(ctx, LOG_INFO, "thread %ld line %d %0200d end", t, i,
		    0);
	return NULL;
}

static void
on_term_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stdout", required_argument, NULL, 'o' },
		{ "stderr", required_argument, NULL, 'e' },
		{ "keep-stderr", no_argument, NULL, 'k' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "facility", required_argument, NULL, 'F' },
		{ "level", required_argument, NULL, 'L' },
		{ "log-before", required_argument, NULL, 'b' },
		{ "log", required_argument, NULL, 'l' },
		{ "long", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "fork-child", required_argument, NULL, 'c' },
		{ "libevent-warn", no_argument, NULL, 'w' },
		{ "libevent-debug", no_argument, NULL, 'D' },
		{ "after-free-warn", no_argument, NULL, 'W' },
		{ "serve", no_argument, NULL, 's' },
		{ "stdout-path", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *child_text = NULL;
	int c, rc = 0, i, longlen = 0, nthreads = 0, warn = 0, debug = 0;
	int after_free = 0, serve = 0;
	pthread_t threads[16];

	if ((ctx = dctx_new()) == NULL)
		return 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO); break;
		case 'd': rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES); break;
		case 'p': rc = dctx_set_pidfile(ctx, optarg); break;
		case 'o': rc = dctx_set_stdout(ctx, open_file(optarg)); break;
		case 'P': rc = dctx_set_stdout_path(ctx, optarg); break;
		case 'e': rc = dctx_set_stderr(ctx, open_file(optarg)); break;
		case 'k': rc = dctx_set_stderr(ctx, 2); break;
		case 'r': rc = dctx_set_chroot_directory(ctx, optarg); break;
		case 'F': rc = dctx_set_log_facility(ctx, atoi(optarg)); break;
		case 'L': rc = dctx_set_log_level(ctx, atoi(optarg)); break;
		case 'b': add_line(before, &nbefore, optarg); break;
		case 'l': add_line(after, &nafter, optarg); break;
		case 'n': longlen = atoi(optarg); break;
		case 't':
			nthreads = atoi(optarg);
			thread_lines = atoi(strchr(optarg, ':') + 1);
			if (nthreads > 16)
				return 2;
			break;
		case 'c': child_text = optarg; break;
		case 'w': warn = 1; break;
		case 'D': debug = 1; break;
		case 'W': after_free = 1; break;
		case 's': serve = 1; break;
		default: return 2;
		}
	}
	if (rc < 0) {
		dctx_log(ctx, LOG_ERR, "%s", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 2;
	}
	if (debug)
		event_enable_debug_logging(EVENT_DBG_ALL);
	for (i = 0; i < nbefore; i++)
		dctx_log(ctx, before[i].prio, "%s", before[i].text);
	if (dctx_open(ctx) < 0) {
		/* Where the caller's stderr is back. */
		dctx_log(ctx, LOG_ERR, "open failed: %s", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	printf("open pid %ld\n", (long)getpid());
	fflush(stdout);
	for (i = 0; i < nafter; i++)
		dctx_log(ctx, after[i].prio, "%s", after[i].text);
	if (longlen > 0) {
		char *big = malloc((size_t)longlen + 1);

		memset(big, 'x', (size_t)longlen);
		big[longlen] = '\0';
		dctx_log(ctx, LOG_INFO, "long:%s:end", big);
		free(big);
	}
	if (warn)
		evutil_make_socket_nonblocking(-1);
	if (debug) {
		/* libevent says "event_add: ..." at its debug level. */
		struct event *ev = evtimer_new(dctx_base(ctx), on_term_done,
		    NULL);
		struct timeval tv = { 10, 0 };

		evtimer_add(ev, &tv);
		event_free(ev);
	}
	for (i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, thread_main, (void *)(long)i);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	if (child_text != NULL) {
		pid_t pid = fork();

		if (pid == 0) {
			dctx_log(ctx, LOG_NOTICE, "%s", child_text);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		printf("child pid %ld\n", (long)pid);
		fflush(stdout);
	}
	if (serve)
		event_base_dispatch(dctx_base(ctx));
	rc = dctx_exit_status(ctx);
	dctx_free(ctx);
	/* libevent's own callback is back: "[warn] ..." on stderr. */
	if (after_free)
		evutil_make_socket_nonblocking(-1);
	for (i = 0; i < nbefore; i++)
		free(before[i].text);
	for (i = 0; i < nafter; i++)
		free(after[i].text);
	return rc;
}
