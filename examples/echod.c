/*
 * echod: an echo server built on libdctx.  Every PEP 3143 attribute is a
 * long option (see --help).  The start-up order is the one the library
 * asks for: dctx_new() before anything is opened (a closed stdin must not
 * become our socket), the options, dctx_prepare() (the pidfile: a second
 * instance says "already running", not "Address already in use"), then
 * the listening socket, bound while we may still bind any port (so a
 * privileged port works with --user) and preserved, then dctx_open().
 * Under socket activation (systemd's .socket units,
 * systemd-socket-activate) it binds nothing: it serves on the passed
 * sockets, which dctx_prepare() has read, and the library keeps open.
 * Under systemd it gives the socket it bound to the unit's fd store
 * (FileDescriptorStoreMax=), so that `systemctl restart` passes it back.
 * SIGTERM (or SIGINT) runs the shutdown chain: stop accepting, let every
 * connection get back what it sent, close, then stop and join the worker
 * thread; a second signal or --shutdown-timeout cuts it short.  SIGHUP
 * runs the library's reload chain: --stdout and --stderr, given to the
 * library by path, are reopened (logrotate), then echod logs the reload.
 * SIGUSR2 upgrades, as nginx's does: the binary on disk starts with our
 * sockets and pidfile, and once it serves we drain as on SIGTERM
 * (dctx_upgrade()); `echod --upgrade --pidfile P` asks for it and prints
 * how it went.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "dctx.h"
#include "echod-args.h"
#include "echod-control.h"

struct conn {
	struct server *srv;
	struct bufferevent *bev;
	struct conn *prev, *next;
	int eof;    /* the client finished sending */
	int active; /* read something since the last drain tick */
};

/*
 * While draining, a connection closes once it has been quiet for a whole
 * tick with nothing left to write.  "Nothing readable right now" is not
 * enough: bytes the client already sent can still sit in its own send
 * queue, waiting for our receive window to open.
 */
#define DRAIN_TICK_MS 50

/*
 * The status line systemd shows ("listening on ADDR, N connections") is
 * told at most this often: a change starts a timer, and its callback
 * tells the count of that moment.  A busy server thus sends pid 1 a few
 * datagrams a second, an idle one none.
 */
#define STATUS_MS 250

struct server {
	struct dctx *ctx;
	const char *listen_on;
	const char *listen_fdname;  /* --listen-fdname: serve only these */
	int upgrade;                /* --upgrade: ask the running echod */
	char where[256];            /* what we listen on, for the log */
	int lfd;                    /* bound by us, until a listener owns it */
	int *lfds;                  /* the sockets to serve, nlisteners */
	struct evconnlistener **listeners;
	int nlisteners;
	struct conn *conns;
	size_t nconns;
	int closing;
	struct dctx_shutdown *step; /* the connections' step, while it drains */
	struct event *drain_tick;
	struct event *resume_ev;    /* accepting again after EMFILE */
	struct event *status_ev;    /* the status line, told soon */
	int starved;                /* out of descriptors: accepts paused */

	/* The worker demo: a thread that ticks until told to stop. */
	int worker;
	struct dctx_thread *thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	unsigned long ticks;

	/* The operator's commands (echod-control.c), and s6 readiness. */
	enum echod_action action;
	const char *pidfile;
	int stop_ms;
	int ready_ms;               /* --ready-delay */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: echod [options]\n"
	    "  --pidfile PATH      create and lock PATH, holding the pid\n"
	    "  --user NAME         run as NAME (its uid, gid and groups)\n"
	    "  --group NAME        run with NAME as primary group\n"
	    "  --chroot DIR        change the root directory to DIR\n"
	    "  --workdir DIR       working directory (default /)\n"
	    "  --umask MODE        file mode creation mask, octal (default 0)\n"
	    "  --foreground        do not detach\n"
	    "  --detach            always detach (systemd Type=forking)\n"
	    "  --stdout PATH       append stdout to PATH, reopened on SIGHUP\n"
	    "                      (default /dev/null; - keeps echod's own)\n"
	    "  --stderr PATH       append stderr to PATH, reopened on SIGHUP\n"
	    "                      (default /dev/null; - keeps echod's own:\n"
	    "                      a terminal, the journal, a container's log)\n"
	    "  --preserve-fd N     keep descriptor N open\n"
	    "  --allow-core        do not set RLIMIT_CORE to 0\n"
	    "  --listen ADDR:PORT  echo on this address (default 127.0.0.1:7777)\n"
	    "  --listen-fdname NAME  under socket activation, serve only the\n"
	    "                      passed sockets named NAME (default: all);\n"
	    "                      under systemd, the name of the socket echod\n"
	    "                      binds in the fd store (default: echod)\n"
	    "  --shutdown-timeout MS  bound the graceful stop (default 30000)\n"
	    "  --upgrade-timeout MS  on SIGUSR2 (--upgrade), how long this echod\n"
	    "                      waits for the new one to be ready before it\n"
	    "                      stops it and serves on (default 30000)\n"
	    "  --worker            run the worker-thread demo\n"
	    "  --notification-fd N tell s6 readiness on descriptor N\n"
	    "  --ready-delay MS    report ready MS ms after serving starts\n"
	    "                      (tests of supervisors)\n"
	    "  --status            tell whether the daemon holding --pidfile\n"
	    "                      runs (exit 0 running, 1 dead, 3 not, 4 unknown)\n"
	    "  --stop              stop it: SIGTERM, SIGKILL after --stop-timeout\n"
	    "  --stop-timeout MS   (default 10000)\n"
	    "  --reload            send it SIGHUP\n"
	    "  --upgrade           ask the echod of --pidfile to upgrade to\n"
	    "                      the binary on disk (SIGUSR2), and say how\n"
	    "                      it went (exit 0 upgraded, 1 not)\n"
	    "  --help              this text\n");
}

/*
 * A log path for the library, which opens it at dctx_open() and reopens it
 * on SIGHUP, after its chdir: a relative one is taken from where echod was
 * started, as the shell meant it.  *out is to be freed.
 */
static int
log_path(const char *path, char **out)
{
	char *cwd;
	int n;

	if (path[0] == '/' || path[0] == '\0')
		return (*out = strdup(path)) != NULL ? 0 : -1;
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return -1;
	n = asprintf(out, "%s/%s", cwd, path);
	free(cwd);
	return n < 0 ? -1 : 0;
}

/* Open the listening socket now, while we may still bind any port. */
static int
open_listener(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	int fd, one = 1;

	if ((why = echod_parse_listen(spec, &ss, &len)) != NULL) {
		dctx_log(NULL, LOG_ERR, "--listen %s: %s", spec, why);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 128) < 0) {
		dctx_log(NULL, LOG_ERR, "--listen %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Serve on fd, described as what in the log. */
static int
add_socket(struct server *srv, int fd, const char *what)
{
	int *more = realloc(srv->lfds, (size_t)(srv->nlisteners + 1) *
	    sizeof(*more));
	size_t used = strlen(srv->where);

	if (more == NULL) {
		dctx_log(srv->ctx, LOG_ERR, "out of memory");
		return -1;
	}
	srv->lfds = more;
	srv->lfds[srv->nlisteners++] = fd;
	snprintf(srv->where + used, sizeof(srv->where) - used, "%s%s",
	    used > 0 ? ", " : "", what);
	return 0;
}

/*
 * A passed socket we can serve on: a listening stream socket (a unit with
 * Accept=yes passes each connection instead, and a datagram socket is no
 * echo service), made non-blocking for libevent's listener, which accepts
 * until EAGAIN: systemd passes its sockets blocking, and a blocking accept
 * would stall the loop.
 */
static const char *
passed_unusable(int fd)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno == ENOTSOCK ? "not a socket" : strerror(errno);
	len = sizeof(listening);
	if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &listening, &len) < 0 || !listening)
		return "not a listening stream socket";
	if (evutil_make_socket_nonblocking(fd) < 0)
		return strerror(errno);
	return NULL;
}

/*
 * The sockets passed by socket activation (the library read them in
 * dctx_prepare()): all of them, or those named --listen-fdname.  None
 * passed: 0 with none added, and main binds --listen.  Passed, but none
 * of the name: refused, for the operator asked for that one.
 */
static int
activated_sockets(struct server *srv)
{
	char what[300];
	const char *name, *why;
	int i, n = dctx_listen_fds(srv->ctx), fd;

	if (n < 0) {
		dctx_log(srv->ctx, LOG_ERR, "%s", dctx_errmsg(srv->ctx));
		return 1;
	}
	for (i = 0; i < n; i++) {
		fd = dctx_listen_fd(srv->ctx, i);
		name = dctx_listen_fd_name(srv->ctx, i);
		if (srv->listen_fdname != NULL &&
		    strcmp(name, srv->listen_fdname) != 0)
			continue;
		snprintf(what, sizeof(what), "fd %d (%s)", fd, name);
		if ((why = passed_unusable(fd)) != NULL) {
			dctx_log(srv->ctx, LOG_ERR, "socket activation: %s: %s",
			    what, why);
			return 1;
		}
		if (add_socket(srv, fd, what) < 0)
			return 1;
	}
	if (n > 0 && srv->nlisteners == 0) {
		dctx_log(srv->ctx, LOG_ERR, "--listen-fdname %s: none of the "
		    "%d socket%s passed has that name", srv->listen_fdname, n,
		    n == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

/*
 * Under systemd, give the socket we bound to the unit's fd store (the
 * unit says FileDescriptorStoreMax=1 or more): systemd keeps it open
 * through `systemctl restart`, and the next echod gets it back as a
 * socket-activated one, under --listen-fdname's name or "echod", so
 * that the clients who come meanwhile wait in its queue rather than
 * being refused.  Only the socket we bound: a passed one is held by
 * whoever passed it.  Without a service manager this does nothing; a
 * failure costs only the gap at the next restart, so it is said and
 * the start goes on.
 */
static void
store_socket(struct server *srv)
{
	if (srv->lfd >= 0 && dctx_fdstore(srv->ctx, srv->lfd,
	    srv->listen_fdname != NULL ? srv->listen_fdname : "echod") < 0)
		fprintf(stderr, "echod: %s; a restart will bind anew\n",
		    dctx_errmsg(srv->ctx));
}

/* Refuse an option's value, quoting what the operator typed. */
static int
refuse(const char *opt, const char *value, const char *why)
{
	dctx_log(NULL, LOG_ERR, "--%s %s: %s", opt, value, why);
	return 2;
}

/* Long options without a short letter. */
enum {
	OPT_NOTIFY_FD = 1000,
	OPT_READY_DELAY,
	OPT_STATUS,
	OPT_STOP,
	OPT_STOP_TIMEOUT,
	OPT_RELOAD,
	OPT_UPGRADE,
	OPT_UPGRADE_TIMEOUT
};

/*
 * The command line.  Values are checked here, before they reach the
 * library or any cast (echod-args.c), and a contradiction is refused
 * rather than settled by the order of the options: --foreground and
 * --detach are two setter calls to the library, which can only keep the
 * last one.
 */
static int
configure(struct dctx *ctx, struct server *srv, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "umask", required_argument, NULL, 'm' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "stdout", required_argument, NULL, 'o' },
		{ "stderr", required_argument, NULL, 'e' },
		{ "preserve-fd", required_argument, NULL, 'k' },
		{ "allow-core", no_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "listen-fdname", required_argument, NULL, 'a' },
		{ "shutdown-timeout", required_argument, NULL, 't' },
		{ "worker", no_argument, NULL, 'W' },
		{ "notification-fd", required_argument, NULL, OPT_NOTIFY_FD },
		{ "ready-delay", required_argument, NULL, OPT_READY_DELAY },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
		{ "reload", no_argument, NULL, OPT_RELOAD },
		{ "upgrade", no_argument, NULL, OPT_UPGRADE },
		{ "upgrade-timeout", required_argument, NULL, OPT_UPGRADE_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_storage ss;
	const char *why;
	socklen_t sslen;
	char *path;
	int c, rc = 0, n, foreground = 0, detach = 0;
	enum echod_action action;
	mode_t mask;

	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			srv->pidfile = optarg;
			rc = dctx_set_pidfile(ctx, optarg);
			break;
		case 'u': rc = dctx_set_user(ctx, optarg); break;
		case 'g': rc = dctx_set_group(ctx, optarg); break;
		case 'r': rc = dctx_set_chroot_directory(ctx, optarg); break;
		case 'w': rc = dctx_set_working_directory(ctx, optarg); break;
		case 'f':
			foreground = 1;
			rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO);
			break;
		case 'd':
			detach = 1;
			rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES);
			break;
		case 'c': rc = dctx_set_prevent_core(ctx, 0); break;
		case 'm':
			if ((why = echod_parse_umask(optarg, &mask)) != NULL)
				return refuse("umask", optarg, why);
			rc = dctx_set_umask(ctx, mask);
			break;
		case 'o':
		case 'e':
			/*
			 * "-": the stream echod was started with, kept as it
			 * is (the library's 1 and 2).  The log then reaches
			 * a foreground echod's terminal, the journal of a
			 * unit (with its priorities), or a container's log.
			 */
			if (strcmp(optarg, "-") == 0) {
				rc = c == 'o' ? dctx_set_stdout(ctx, 1) :
				    dctx_set_stderr(ctx, 2);
				break;
			}
			/* By path, so that a reload reopens it (logrotate). */
			if (log_path(optarg, &path) < 0) {
				dctx_log(ctx, LOG_ERR, "--%s %s: %s", c == 'o' ?
				    "stdout" : "stderr", optarg, strerror(errno));
				return 2;
			}
			rc = c == 'o' ? dctx_set_stdout_path(ctx, path) :
			    dctx_set_stderr_path(ctx, path);
			free(path);
			break;
		case 'k':
			if ((why = echod_parse_fd(optarg, &n)) != NULL)
				return refuse("preserve-fd", optarg, why);
			rc = dctx_preserve_fd(ctx, n);
			break;
		case 'l':
			if ((why = echod_parse_listen(optarg, &ss, &sslen)) != NULL)
				return refuse("listen", optarg, why);
			srv->listen_on = optarg;
			break;
		case 'a': srv->listen_fdname = optarg; break;
		case 'W': srv->worker = 1; break;
		case OPT_UPGRADE: srv->upgrade = 1; break;
		case OPT_UPGRADE_TIMEOUT:
			if ((why = echod_parse_ms(optarg, &n)) != NULL)
				return refuse("upgrade-timeout", optarg, why);
			rc = dctx_set_upgrade_timeout(ctx, n);
			break;
		case 't':
			if ((why = echod_parse_ms(optarg, &n)) != NULL)
				return refuse("shutdown-timeout", optarg, why);
			rc = dctx_set_shutdown_timeout(ctx, n);
			break;
		case OPT_NOTIFY_FD:
			if ((why = echod_parse_fd(optarg, &n)) != NULL)
				return refuse("notification-fd", optarg, why);
			rc = dctx_set_notification_fd(ctx, n);
			break;
		case OPT_READY_DELAY:
			if ((why = echod_parse_ms(optarg, &n)) != NULL)
				return refuse("ready-delay", optarg, why);
			srv->ready_ms = n;
			break;
		case OPT_STOP_TIMEOUT:
			if ((why = echod_parse_ms(optarg, &n)) != NULL)
				return refuse("stop-timeout", optarg, why);
			srv->stop_ms = n;
			break;
		case OPT_STATUS:
		case OPT_STOP:
		case OPT_RELOAD:
			action = c == OPT_STATUS ? ECHOD_STATUS :
			    c == OPT_STOP ? ECHOD_STOP : ECHOD_RELOAD;
			if (srv->action != ECHOD_SERVE && srv->action != action) {
				dctx_log(ctx, LOG_ERR, "--status, --stop and "
				    "--reload contradict each other: give one "
				    "of them");
				return 2;
			}
			srv->action = action;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (rc == 0 && optind < argc) {
		dctx_log(ctx, LOG_ERR, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (rc < 0 || (srv->worker && (rc = dctx_set_threads(ctx, 1)) < 0)) {
		dctx_log(ctx, LOG_ERR, "%s", dctx_errmsg(ctx));
		return 2;
	}
	if (foreground && detach) {
		dctx_log(ctx, LOG_ERR, "--foreground and --detach contradict "
		    "each other: give one of them");
		return 2;
	}
	if (srv->upgrade && srv->action != ECHOD_SERVE) {
		dctx_log(ctx, LOG_ERR, "--upgrade and --%s contradict each "
		    "other: give one of them", srv->action == ECHOD_STATUS ?
		    "status" : srv->action == ECHOD_STOP ? "stop" : "reload");
		return 2;
	}
	return 0;
}

/* Tell the service manager what we do now (nothing without one). */
static void
tell_status(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->closing)
		dctx_status(srv->ctx, "draining %zu connection%s", srv->nconns,
		    srv->nconns == 1 ? "" : "s");
	else
		dctx_status(srv->ctx, "listening on %s, %zu connection%s",
		    srv->where, srv->nconns, srv->nconns == 1 ? "" : "s");
}

/* The count changed: tell it within STATUS_MS, once. */
static void
status_soon(struct server *srv)
{
	struct timeval soon = { 0, STATUS_MS * 1000 };

	if (srv->status_ev != NULL && !evtimer_pending(srv->status_ev, NULL))
		evtimer_add(srv->status_ev, &soon);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
	srv->nconns--;
	status_soon(srv);
	/* A descriptor is free again: do not wait for the timer. */
	if (srv->starved && srv->listeners != NULL)
		event_active(srv->resume_ev, EV_TIMEOUT, 0);
	/* The last connection gone ends the draining step. */
	if (srv->closing && srv->nconns == 0 && srv->step != NULL) {
		struct dctx_shutdown *step = srv->step;
		srv->step = NULL;
		event_del(srv->drain_tick);
		dctx_shutdown_done(step);
	}
}

/* Whether a draining connection has nothing left to do. */
static int
conn_quiet(struct conn *c)
{
	int pending = 0;

	if (c->active ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return 0;
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &pending) == 0 &&
	    pending == 0;
}

static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (conn_quiet(c))
			conn_free(c);
		else
			c->active = 0;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	c->active = 1;
	evbuffer_add_buffer(bufferevent_get_output(bev),
	    bufferevent_get_input(bev));
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->eof)
		conn_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_free(c);
		return;
	}
	/* The client is done sending: finish writing back, then close. */
	bufferevent_disable(c->bev, EV_READ);
	c->eof = 1;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct server *srv = arg;
	struct conn *c = calloc(1, sizeof(*c));

	(void)l;
	(void)sa;
	(void)salen;
	if (srv->starved) {
		srv->starved = 0;
		dctx_log(srv->ctx, LOG_INFO, "accepting again");
	}
	if (c == NULL ||
	    (c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	status_soon(srv);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/*
 * accept() failed.  Out of descriptors (EMFILE, ENFILE) or of kernel
 * memory, the waiting connection stays in the backlog and the listener
 * stays readable: retried at once, as libevent's listener does without
 * this callback, accept() fails again, for ever, at full CPU.  So stop
 * accepting, say so once, and try again a little later, or as soon as one
 * of our connections closes.  Clients wait in the backlog meanwhile.
 */
#define RESUME_MS 100

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *srv = arg;
	struct timeval later = { 0, RESUME_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		/* A failure of this one connection (ECONNABORTED, ...). */
		dctx_log(srv->ctx, LOG_WARNING, "accept: %s", strerror(err));
		return;
	}
	evconnlistener_disable(l);
	if (!srv->starved) {
		srv->starved = 1;
		dctx_log(srv->ctx, LOG_WARNING, "accept: %s; pausing new "
		    "connections until a descriptor frees", strerror(err));
	}
	event_add(srv->resume_ev, &later);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	int i;

	(void)fd;
	(void)what;
	for (i = 0; srv->listeners != NULL && i < srv->nlisteners; i++)
		evconnlistener_enable(srv->listeners[i]);
}

/* Stop accepting: close every listening socket. */
static void
listeners_free(struct server *srv)
{
	int i;

	for (i = 0; srv->listeners != NULL && i < srv->nlisteners; i++)
		if (srv->listeners[i] != NULL)
			evconnlistener_free(srv->listeners[i]);
	free(srv->listeners);
	srv->listeners = NULL;
}

/* Shutdown step 1 (registered last): stop accepting, drain, close. */
static void
stop_serving(struct dctx *ctx, struct dctx_shutdown *step, int late, void *arg)
{
	struct server *srv = arg;
	struct timeval tick = { 0, DRAIN_TICK_MS * 1000 };
	struct conn *c;

	listeners_free(srv);
	event_del(srv->resume_ev);
	srv->closing = 1;
	if (late) {
		srv->step = NULL;
		if (srv->drain_tick != NULL)
			event_del(srv->drain_tick);
		while (srv->conns != NULL)
			conn_free(srv->conns);
		return;
	}
	dctx_log(ctx, LOG_INFO, "draining %zu connection%s", srv->nconns,
	    srv->nconns == 1 ? "" : "s");
	tell_status(-1, 0, srv);
	if (srv->nconns == 0) {
		dctx_shutdown_done(step);
		return;
	}
	/* Judge quietness from now on: what was read before does not count. */
	for (c = srv->conns; c != NULL; c = c->next)
		c->active = 0;
	srv->step = step;
	srv->drain_tick = event_new(dctx_base(ctx), -1, EV_PERSIST,
	    on_drain_tick, srv);
	if (srv->drain_tick == NULL || event_add(srv->drain_tick, &tick) < 0) {
		/* Cannot wait: close everything now rather than hang. */
		srv->step = NULL;
		while (srv->conns != NULL)
			conn_free(srv->conns);
		dctx_shutdown_done(step);
	}
}

static void *
worker_main(void *arg)
{
	struct server *srv = arg;
	struct timespec until;

	pthread_mutex_lock(&srv->lock);
	while (!srv->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (pthread_cond_timedwait(&srv->wake, &srv->lock, &until) ==
		    ETIMEDOUT)
			srv->ticks++;
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Shutdown step 2 (registered first): stop the worker, join it. */
static void
stop_worker(struct dctx *ctx, struct dctx_shutdown *step, int late, void *arg)
{
	struct server *srv = arg;

	(void)ctx;
	pthread_mutex_lock(&srv->lock);
	srv->stop = 1;
	pthread_cond_signal(&srv->wake);
	pthread_mutex_unlock(&srv->lock);
	/* Told to stop, the worker returns at once: late, wait for it here,
	 * since main is about to destroy what it uses. */
	if (late)
		dctx_thread_join_now(srv->thread);
	else
		dctx_thread_join(srv->thread, step);
}

/*
 * The reload step: the library has reopened stdout and stderr by now, so
 * this line is the first in the new file.  echod has nothing else to
 * read again.
 */
static void
on_reload(struct dctx *ctx, struct dctx_reload *step, void *arg)
{
	struct server *srv = arg;

	dctx_log(ctx, LOG_INFO, "reloaded, %zu connection%s open",
	    srv->nconns, srv->nconns == 1 ? "" : "s");
	dctx_reload_done(step);
}

/* --ready-delay: readiness told late, while echod already serves. */
static void
on_ready_late(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	dctx_log(srv->ctx, LOG_INFO, "ready after %d ms", srv->ready_ms);
	dctx_notify_ready(srv->ctx);
}

/*
 * Whether the command line asks for --status, whose exit statuses are
 * LSB's: a usage error is 4 ("unknown") there, since 2 means "dead, lock
 * file left".
 */
static int
wants_status(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--status") == 0)
			return 1;
	return 0;
}

static int
serve(struct server *srv)
{
	struct event_base *base = dctx_base(srv->ctx);
	int i;

	srv->listeners = calloc((size_t)srv->nlisteners,
	    sizeof(*srv->listeners));
	if (srv->listeners == NULL) {
		dctx_log(srv->ctx, LOG_ERR, "out of memory");
		return -1;
	}
	for (i = 0; i < srv->nlisteners; i++) {
		srv->listeners[i] = evconnlistener_new(base, on_accept, srv,
		    LEV_OPT_CLOSE_ON_FREE, 0, srv->lfds[i]);
		if (srv->listeners[i] == NULL) {
			dctx_log(srv->ctx, LOG_ERR, "evconnlistener_new failed");
			return -1;
		}
		if (srv->lfds[i] == srv->lfd)
			srv->lfd = -1; /* the listener owns it now */
		evconnlistener_set_error_cb(srv->listeners[i], on_accept_error);
	}
	srv->resume_ev = evtimer_new(base, on_resume, srv);
	if (srv->resume_ev == NULL) {
		dctx_log(srv->ctx, LOG_ERR, "evtimer_new failed");
		return -1;
	}
	srv->status_ev = evtimer_new(base, tell_status, srv);
	if (srv->status_ev == NULL) {
		dctx_log(srv->ctx, LOG_ERR, "evtimer_new failed");
		return -1;
	}
	if (srv->worker &&
	    (dctx_on_shutdown(srv->ctx, stop_worker, srv) < 0 ||
	    dctx_thread_create(srv->ctx, &srv->thread, worker_main, srv) < 0)) {
		dctx_log(srv->ctx, LOG_ERR, "%s", dctx_errmsg(srv->ctx));
		return -1;
	}
	if (dctx_on_shutdown(srv->ctx, stop_serving, srv) < 0)
		return -1;
	return 0;
}

/*
 * echod --upgrade: ask the echod holding the pidfile to upgrade, and wait
 * for the outcome: 0 when the new echod serves, 1 with the new echod's
 * own message when it failed (the old one serves on), or when the
 * request was refused.
 */
static int
request_upgrade(const char *pidfile)
{
	char msg[600];
	pid_t pid;
	int rc;

	if (pidfile == NULL) {
		fprintf(stderr, "echod: --upgrade needs the --pidfile of the "
		    "running echod\n");
		return 2;
	}
	rc = dctx_upgrade_request(pidfile, SIGUSR2, &pid, msg, sizeof(msg));
	if (rc == 0) {
		printf("echod: upgraded: %s\n", msg);
		return 0;
	}
	fprintf(stderr, "echod: upgrade %s: %s\n", rc == DCTX_EUPGRADE ?
	    "failed" : rc == -EALREADY || rc == -ECANCELED ? "refused" :
	    "not done", msg);
	return 1;
}

int
main(int argc, char **argv)
{
	struct server srv;
	int rc;

	/* First of all: a closed stdin must not become our socket. */
	memset(&srv, 0, sizeof(srv));
	if ((srv.ctx = dctx_new()) == NULL) {
		dctx_log(NULL, LOG_ERR, "out of memory");
		return 1;
	}
	srv.lfd = -1;
	srv.listen_on = "127.0.0.1:7777";
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.wake, NULL);
	srv.stop_ms = ECHOD_STOP_TIMEOUT_MS;
	rc = configure(srv.ctx, &srv, argc, argv);
	if (rc == 2 && wants_status(argc, argv))
		rc = DCTX_PIDFILE_UNKNOWN;
	/* The operator's commands: no daemon, no lock of ours on the pidfile. */
	if (rc == 0 && srv.upgrade) {
		rc = request_upgrade(srv.pidfile);
		dctx_free(srv.ctx);
		return rc;
	}
	if (rc == 0 && srv.action != ECHOD_SERVE) {
		rc = echod_control(srv.action, srv.pidfile, srv.stop_ms);
		dctx_free(srv.ctx);
		return rc;
	}
	/*
	 * Manual readiness: the launcher exits 0 only once we serve.  SIGPIPE
	 * needs nothing: the default map ignores it, so a client gone in the
	 * middle of a reply is an EPIPE for its connection only.  Nor SIGHUP:
	 * the default map runs the reload chain, with on_reload() in it, and
	 * tells systemd (RELOADING=1, READY=1).  The pidfile
	 * is ours (dctx_prepare()) before the port is bound: a second echod
	 * is "already running", and never steals or fails on the port.
	 */
	if (rc == 0 && (dctx_terminate_on_signal(srv.ctx, SIGINT) < 0 ||
	    dctx_on_reload(srv.ctx, on_reload, &srv) < 0 ||
	    dctx_upgrade_on_signal(srv.ctx, SIGUSR2) < 0 ||
	    dctx_set_manual_ready(srv.ctx, 1) < 0 ||
	    dctx_prepare(srv.ctx) < 0)) {
		dctx_log(srv.ctx, LOG_ERR, "%s", dctx_errmsg(srv.ctx));
		rc = 1;
	}
	/* Not socket-activated: bind --listen, as always. */
	if (rc == 0 && (rc = activated_sockets(&srv)) == 0 &&
	    srv.nlisteners == 0) {
		if ((srv.lfd = open_listener(srv.listen_on)) < 0 ||
		    add_socket(&srv, srv.lfd, srv.listen_on) < 0)
			rc = 1;
		/* Kept through dctx_open(), and passed at an upgrade. */
		else if (dctx_upgrade_fd(srv.ctx, srv.lfd, "echod") < 0) {
			dctx_log(srv.ctx, LOG_ERR, "%s", dctx_errmsg(srv.ctx));
			rc = 1;
		}
	}
	if (rc == 0 && dctx_open(srv.ctx) < 0) {
		dctx_log(srv.ctx, LOG_ERR, "%s", dctx_errmsg(srv.ctx));
		rc = 1;
	}
	if (rc != 0) {
		if (srv.lfd >= 0)
			close(srv.lfd);
		free(srv.lfds);
		dctx_free(srv.ctx);
		return rc;
	}
	store_socket(&srv);
	if (serve(&srv) < 0) {
		dctx_notify_failure(srv.ctx, 1, "cannot serve");
		rc = 1;
	} else {
		/* Said by the daemon, in its log: a start that fails later
		 * must not have claimed to listen. */
		dctx_log(srv.ctx, LOG_INFO, "listening on %s as pid %ld", srv.where,
		    (long)getpid());
		tell_status(-1, 0, &srv);
		if (srv.ready_ms > 0) {
			struct timeval tv = { srv.ready_ms / 1000,
			    (srv.ready_ms % 1000) * 1000 };
			if (event_base_once(dctx_base(srv.ctx), -1, EV_TIMEOUT,
			    on_ready_late, &srv, &tv) < 0)
				dctx_notify_ready(srv.ctx);
		} else {
			dctx_notify_ready(srv.ctx);
		}
		event_base_dispatch(dctx_base(srv.ctx));
		rc = dctx_exit_status(srv.ctx);
	}
	/* A forced stop can leave connections behind: free them now. */
	while (srv.conns != NULL)
		conn_free(srv.conns);
	listeners_free(&srv);
	free(srv.lfds);
	if (srv.drain_tick != NULL)
		event_free(srv.drain_tick);
	if (srv.resume_ev != NULL)
		event_free(srv.resume_ev);
	if (srv.status_ev != NULL)
		event_free(srv.status_ev);
	if (srv.lfd >= 0)
		close(srv.lfd);
	dctx_log(srv.ctx, LOG_INFO, "stopped, status %d", rc);
	dctx_free(srv.ctx);
	pthread_cond_destroy(&srv.wake);
	pthread_mutex_destroy(&srv.lock);
	libevent_global_shutdown();
	return rc;
}
