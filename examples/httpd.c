/*
 * httpd: a small static-file server on libevent's evhttp, made a daemon
 * with libdctx.  It answers GET and HEAD with the regular files under its
 * document root, and nothing else.
 *
 * The start follows the order the README teaches: dctx_new() first, the
 * document root made absolute (dctx_open() changes the working directory
 * to "/", where a relative root would name another directory), the
 * pidfile taken by dctx_prepare(), the listening socket bound before
 * dctx_open() and preserved through it (a privileged port still works
 * with --user), then the evhttp server made on dctx_base() and handed that
 * socket.
 *
 * evhttp 2.1 has no graceful stop: evhttp_free() drops every connection,
 * replies half-written included.  The drain below is a shutdown step of
 * our own: stop accepting, let the replies in flight finish, answer the
 * requests that arrive meanwhile with "Connection: close", close the idle
 * keep-alive connections, and finish once no connection is left.  The
 * shutdown deadline (--shutdown-timeout) cuts whatever is still open.
 *
 * Outside input is bounded: a request's headers may take MAX_HEADERS
 * bytes, and no request may carry a body (only GET and HEAD are served),
 * so that no client can make the daemon hold what it sends; option values
 * go through echod's parsers (echod-args.c), which refuse what they do not
 * take whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "dctx.h"
#include "echod-args.h"

/*
 * What we know of one client connection.  evhttp 2.1 tells a server
 * nothing when it accepts (evhttp_set_newreqcb() came with 2.2), so a
 * connection becomes known at its first request; one that never sent a
 * request is closed by evhttp_free() when the loop has ended.
 */
struct conn {
	struct server *srv;
	struct evhttp_connection *evcon;
	struct evbuffer_cb_entry *watch; /* on the connection's input */
	struct conn *prev, *next;        /* in its hash bucket */
	int busy;    /* a reply is being written */
	int pending; /* bytes of a next request came in */
	long long idle_since; /* ms, monotonic: when its last reply was done */
};

/* Connections by evhttp_connection pointer: evhttp keeps no user data. */
#define NBUCKETS 256

/*
 * While draining, a connection that has just finished a reply is given
 * DRAIN_GRACE_MS to send its next request, which is then answered with
 * "Connection: close": a client that reads a reply and asks again at once
 * learns of the close in the protocol instead of finding its connection
 * gone.  One quiet for longer is closed; the sweep looks every
 * DRAIN_TICK_MS.
 *
 * A connection that has begun its next request but not finished it is
 * not idle, yet it may not hold the drain until the deadline by sending
 * a byte now and then: from the start of the drain (or the end of its
 * last reply, if later) it has DRAIN_READ_MS to complete the request, and
 * is then closed with the request unanswered.
 */
#define DRAIN_GRACE_MS 200
#define DRAIN_TICK_MS 50
#define DRAIN_READ_MS 1000

/*
 * The most a request's first line and headers may take, and its body:
 * none, since only GET and HEAD are served.  evhttp answers longer
 * headers with 400 and a body with 413, and closes the connection.
 */
#define MAX_HEADERS 8192
#define MAX_BODY 0

struct server {
	struct dctx *ctx;
	const char *listen_on;
	char *root;     /* the document root, absolute */
	int rootfd;
	int lfd;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct conn *conns[NBUCKETS];
	size_t nconns;
	int draining;
	long long drain_started;    /* ms, monotonic */
	struct dctx_shutdown *step; /* the drain, until it is done */
	struct event *sweep;        /* closes idle connections while draining */
	struct event *resume;       /* accepts again after EMFILE */
	int accept_failed;
};

/*
 * evhttp hands the listener's error callback its own argument, not ours:
 * the one server of this process is reached through this pointer.
 */
static struct server *the_server;

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: httpd --root DIR [options]\n"
	    "  --root DIR          serve the files under DIR (required)\n"
	    "  --listen ADDR:PORT  listen there (default 127.0.0.1:8080)\n"
	    "  --pidfile PATH      create and lock PATH, holding the pid\n"
	    "  --user NAME         run as NAME (its uid, gid and groups)\n"
	    "  --foreground        do not detach; log to stderr\n"
	    "  --detach            always detach (systemd Type=forking)\n"
	    "  --shutdown-timeout MS  bound the graceful stop (default 30000)\n"
	    "  --help              this text\n");
}

/* Bind now, while any port may still be bound (before --user applies). */
static int
open_listener(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	int fd, one = 1;

	/* Checked by configure() already: this cannot fail there. */
	if ((why = echod_parse_listen(spec, &ss, &len)) != NULL) {
		fprintf(stderr, "httpd: --listen %s: %s\n", spec, why);
		return -1;
	}
	/* Non-blocking: libevent's listener accepts until EAGAIN. */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 128) < 0) {
		fprintf(stderr, "httpd: --listen %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * The document root, made absolute now: after dctx_open() the working
 * directory is "/", and "--root www" would then serve "/www", or, for
 * "--root .", the whole file system.
 */
static int
set_root(struct server *srv, const char *dir)
{
	struct stat st;

	free(srv->root);
	if ((srv->root = realpath(dir, NULL)) == NULL || stat(srv->root, &st) < 0) {
		fprintf(stderr, "httpd: --root %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "httpd: --root %s: %s\n", dir, strerror(ENOTDIR));
		return -1;
	}
	return 0;
}

static int
refuse(const char *opt, const char *value, const char *why)
{
	fprintf(stderr, "httpd: --%s %s: %s\n", opt, value, why);
	return 2;
}

/*
 * The command line.  Values are refused, quoting what was typed, unless
 * taken whole (echod-args.c); --foreground and --detach together are a
 * contradiction, refused rather than settled by their order.
 */
static int
configure(struct dctx *ctx, struct server *srv, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "shutdown-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *why;
	int c, rc = 0, n, foreground = 0, detach = 0;

	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (set_root(srv, optarg) < 0)
				return 2;
			break;
		case 'l':
			if ((why = echod_parse_listen(optarg, &ss, &sslen)) != NULL)
				return refuse("listen", optarg, why);
			srv->listen_on = optarg;
			break;
		case 'p': rc = dctx_set_pidfile(ctx, optarg); break;
		case 'u': rc = dctx_set_user(ctx, optarg); break;
		case 'f':
			/* A foreground daemon logs to the stderr it was given:
			 * the terminal, or the service manager's journal. */
			foreground = 1;
			if ((rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO)) == 0)
				rc = dctx_set_stderr(ctx, 2);
			break;
		case 'd':
			/* Forks even under pid 1, where the auto rule would
			 * not: what a systemd Type=forking unit expects. */
			detach = 1;
			rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES);
			break;
		case 't':
			if ((why = echod_parse_ms(optarg, &n)) != NULL)
				return refuse("shutdown-timeout", optarg, why);
			rc = dctx_set_shutdown_timeout(ctx, n);
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
		fprintf(stderr, "httpd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "httpd: %s\n", dctx_errmsg(ctx));
		return 2;
	}
	if (foreground && detach) {
		fprintf(stderr, "httpd: --foreground and --detach contradict "
		    "each other: give one of them\n");
		return 2;
	}
	if (srv->root == NULL) {
		fprintf(stderr, "httpd: --root DIR is required\n");
		return 2;
	}
	return 0;
}

static unsigned
bucket(const struct evhttp_connection *evcon)
{
	/* Fibonacci hashing of the address; its low bits are alignment. */
	return (unsigned)((((uintptr_t)evcon >> 4) * 2654435761u) >> 8) %
	    NBUCKETS;
}

static struct conn *
conn_find(struct server *srv, const struct evhttp_connection *evcon)
{
	struct conn *c;

	for (c = srv->conns[bucket(evcon)]; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static struct evbuffer *
conn_input(struct conn *c)
{
	return bufferevent_get_input(evhttp_connection_get_bufferevent(c->evcon));
}

/* The drain ends when the last connection is gone. */
static void
drain_check(struct server *srv)
{
	struct dctx_shutdown *step = srv->step;

	if (step != NULL && srv->nconns == 0) {
		srv->step = NULL;
		event_del(srv->sweep);
		dctx_shutdown_done(step);
	}
}

/* evhttp is freeing the connection: forget it. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;

	(void)evcon;
	/* The input buffer outlives this callback by a moment: unhook first. */
	evbuffer_remove_cb_entry(conn_input(c), c->watch);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns[bucket(c->evcon)] = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	srv->nconns--;
	drain_check(srv);
}

/*
 * Bytes arriving between two requests mean a request is on its way: such
 * a connection is not idle, even once evhttp has parsed its first line
 * out of the buffer.
 */
static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)buf;
	if (info->n_added > 0 && !c->busy)
		c->pending = 1;
}

static struct conn *
conn_add(struct server *srv, struct evhttp_connection *evcon)
{
	struct conn *c = calloc(1, sizeof(*c));
	unsigned b = bucket(evcon);

	if (c == NULL)
		return NULL;
	c->srv = srv;
	c->evcon = evcon;
	if ((c->watch = evbuffer_add_cb(conn_input(c), on_input, c)) == NULL) {
		free(c);
		return NULL;
	}
	c->next = srv->conns[b];
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns[b] = c;
	srv->nconns++;
	evhttp_connection_set_closecb(evcon, on_close, c);
	return c;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Idle: no reply being written, no byte of a next request received, none
 * waiting in the kernel, and quiet past the grace.  Closing a socket with
 * unread bytes would reset the connection (RST) instead of ending it with
 * a FIN.
 */
static int
conn_idle(struct conn *c, long long now)
{
	int unread = 0;

	if (c->busy || c->pending || now - c->idle_since < DRAIN_GRACE_MS ||
	    evbuffer_get_length(conn_input(c)) > 0)
		return 0;
	return ioctl(bufferevent_getfd(evhttp_connection_get_bufferevent(
	    c->evcon)), FIONREAD, &unread) == 0 && unread == 0;
}

/*
 * While draining, a connection half-way through a request is given
 * DRAIN_READ_MS to finish it (see DRAIN_READ_MS): past that it is closed
 * as it is.
 */
static int
conn_too_slow(struct conn *c, long long now)
{
	long long since = c->idle_since > c->srv->drain_started ?
	    c->idle_since : c->srv->drain_started;

	return !c->busy && now - since >= DRAIN_READ_MS;
}

/* While draining: close every idle connection, and end when none is left. */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;
	long long now = now_ms();
	unsigned b;

	(void)fd;
	(void)what;
	for (b = 0; b < NBUCKETS; b++)
		for (c = srv->conns[b]; c != NULL; c = next) {
			next = c->next;
			if (conn_idle(c, now) || conn_too_slow(c, now))
				evhttp_connection_free(c->evcon); /* on_close frees c */
		}
	drain_check(srv);
}

/* A reply was written out in full. */
static void
on_complete(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	c->busy = 0;
	/* A pipelined request may already sit in the buffer. */
	c->pending = evbuffer_get_length(conn_input(c)) > 0;
	/*
	 * Not closed here even while draining: evhttp still owns the
	 * connection in this callback (it decides about keep-alive when we
	 * return), and the client gets its grace.  The sweep closes it.
	 */
	c->idle_since = now_ms();
}

static const char *
content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".css", "text/css" },
		{ ".js", "text/javascript" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },
		{ ".gif", "image/gif" },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/*
 * Open name in the directory fd, which is closed either way: the next fd
 * of the walk, or -1 with errno set, a symbolic link met by O_NOFOLLOW
 * being refused (EACCES), not missing.
 */
static int
step_into(int fd, const char *name, int flags)
{
	int next = openat(fd, name, flags), err = errno;

	close(fd);
	if (next < 0)
		errno = err == ELOOP ? EACCES : err;
	return next;
}

/*
 * Open path (decoded, absolute in URL terms) under the root, one component
 * at a time with O_NOFOLLOW: no symbolic link is followed, so none can
 * lead out of the root, and no check can be raced by a link swapped in
 * after it.  ".." is refused outright.  A directory stands for its
 * index.html (*is_index set).  Returns an fd of a regular file, with *st
 * filled, or -1 with errno set: EACCES for what is refused, ENOENT for
 * what is not there, ENOTDIR for a file named as a directory.
 */
static int
open_beneath(int rootfd, char *path, struct stat *st, int *is_index)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	char *comp, *save = NULL;
	int fd, err, want_dir;

	/* O_NONBLOCK: opening a FIFO must not hang the loop. */
	if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	/* "/a.txt/" names a directory: a file there is not found. */
	want_dir = path[0] != '\0' && path[strlen(path) - 1] == '/';
	for (comp = strtok_r(path, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		/*
		 * "." names the directory it is in: after a file, as in
		 * "/a.txt/.", there is none (ENOTDIR, as a file system says).
		 */
		if (strcmp(comp, ".") == 0) {
			if (fstat(fd, st) < 0)
				err = errno;
			else if (!S_ISDIR(st->st_mode))
				err = ENOTDIR;
			else
				continue;
			close(fd);
			errno = err;
			return -1;
		}
		if (strcmp(comp, "..") == 0) {
			close(fd);
			errno = EACCES;
			return -1;
		}
		if ((fd = step_into(fd, comp, flags)) < 0)
			return -1;
	}
	*is_index = 0;
	if (fstat(fd, st) == 0 && S_ISDIR(st->st_mode)) {
		*is_index = 1;
		if ((fd = step_into(fd, "index.html", flags)) < 0)
			return -1;
	} else if (want_dir) {
		close(fd);
		errno = ENOTDIR;
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	return fd;
}

/*
 * An error reply of our own: evhttp_send_error() clears the headers we
 * set (Allow, for a 405) and closes the connection, where a 404 on a
 * keep-alive connection is no reason to close it.
 */
static void
reply_error(struct evhttp_request *req, int code, const char *reason)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	char text[128], len[32];
	int n = snprintf(text, sizeof(text), "%d %s\n", code, reason);

	evhttp_remove_header(out, "Content-Type");
	evhttp_remove_header(out, "Content-Length");
	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	snprintf(len, sizeof(len), "%d", n);
	evhttp_add_header(out, "Content-Length", len);
	evbuffer_drain(body, evbuffer_get_length(body));
	/* evhttp 2.1 would send a body given to a HEAD reply: give none. */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(body, text, (size_t)n);
	evhttp_send_reply(req, code, reason, NULL);
}

static void
serve_file(struct server *srv, struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	char *decoded, len[32];
	size_t n;
	struct stat st;
	const char *type;
	int fd, is_index;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		reply_error(req, 405, "Method Not Allowed");
		return;
	}
	if (path == NULL || path[0] != '/') {
		reply_error(req, HTTP_BADREQUEST, "Bad Request");
		return;
	}
	if ((decoded = evhttp_uridecode(path, 0, &n)) == NULL) {
		reply_error(req, HTTP_INTERNAL, "Internal Server Error");
		return;
	}
	/* A %00 would cut the name short of what was asked. */
	if (strlen(decoded) != n) {
		free(decoded);
		reply_error(req, HTTP_BADREQUEST, "Bad Request");
		return;
	}
	/* Now: open_beneath() cuts the name into its components. */
	type = content_type(decoded);
	fd = open_beneath(srv->rootfd, decoded, &st, &is_index);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG)
			reply_error(req, HTTP_NOTFOUND, "Not Found");
		else if (errno == EACCES || errno == EPERM)
			reply_error(req, 403, "Forbidden");
		else
			reply_error(req, HTTP_INTERNAL, "Internal Server Error");
		free(decoded);
		return;
	}
	evhttp_add_header(out, "Content-Type",
	    is_index ? content_type("index.html") : type);
	free(decoded);
	/* Given for HEAD too, which has no body for evhttp to count. */
	snprintf(len, sizeof(len), "%jd", (intmax_t)st.st_size);
	evhttp_add_header(out, "Content-Length", len);
	if (cmd == EVHTTP_REQ_HEAD || st.st_size == 0)
		close(fd);
	else if (evbuffer_add_file(evhttp_request_get_output_buffer(req), fd, 0,
	    st.st_size) < 0) {
		/*
		 * Whether libevent closed fd depends on where it failed; leaking
		 * it on this rare path is safer than closing a number that may
		 * have been reused.
		 */
		evhttp_remove_header(out, "Content-Length");
		reply_error(req, HTTP_INTERNAL, "Internal Server Error");
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/*
 * Whether the request announces a body: any Transfer-Encoding, or a
 * Content-Length other than 0.  evhttp 2.1 refuses a GET's body past
 * MAX_BODY, but never reads a HEAD request's: the bytes of that body
 * would then be parsed as the next request on the connection, one a
 * front proxy never saw (request smuggling).  Every Content-Length
 * counts, not only the first, since a proxy may heed another one.
 */
static int
has_body(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *h;

	/* keyvalq_struct.h gives the list's fields, not TAILQ_FOREACH. */
	for (h = in->tqh_first; h != NULL; h = h->next.tqe_next) {
		if (strcasecmp(h->key, "Transfer-Encoding") == 0)
			return 1;
		if (strcasecmp(h->key, "Content-Length") == 0 &&
		    strcmp(h->value, "0") != 0)
			return 1;
	}
	return 0;
}

/* Every request, whatever its method, comes here (see serve()). */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = conn_find(srv, evcon);

	if (c == NULL && (c = conn_add(srv, evcon)) == NULL) {
		/* Untracked, it could outlive a drain: serve it once only. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		reply_error(req, HTTP_SERVUNAVAIL, "Service Unavailable");
		return;
	}
	c->busy = 1;
	c->pending = 0;
	evhttp_request_set_on_complete_cb(req, on_complete, c);
	/* Draining: this reply is the connection's last, and says so. */
	if (srv->draining)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
	/*
	 * A body we do not read may still be on the connection: refuse the
	 * request, and close so that nothing after it is taken as a request.
	 */
	if (has_body(req)) {
		evhttp_remove_header(evhttp_request_get_output_headers(req),
		    "Connection");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		reply_error(req, HTTP_BADREQUEST, "Bad Request");
		return;
	}
	serve_file(srv, req);
}

/*
 * accept() failing for want of descriptors (EMFILE, ENFILE) leaves the
 * pending connection readable: without this callback libevent would retry
 * at once, for ever, at full CPU.  Pause, say so once, retry later.
 */
#define ACCEPT_PAUSE_MS 100

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->bound != NULL)
		evconnlistener_enable(evhttp_bound_socket_get_listener(srv->bound));
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *srv = the_server;
	struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (!srv->accept_failed) {
		fprintf(stderr, "httpd: accept: %s; pausing\n", strerror(err));
		srv->accept_failed = 1;
	}
	evconnlistener_disable(l);
	event_add(srv->resume, &pause);
}

/*
 * The drain, a shutdown step: evhttp 2.1 has none.  Registered last of
 * the server's set-up, it runs first.
 */
static void
drain(struct dctx *ctx, struct dctx_shutdown *step, int late, void *arg)
{
	struct server *srv = arg;
	struct timeval tick = { 0, DRAIN_TICK_MS * 1000 };
	struct conn *c, *next;
	unsigned b;

	/*
	 * Stop accepting: this closes the listening socket, so that a client
	 * connecting from now on is refused at once (ECONNREFUSED) instead of
	 * waiting in a backlog nobody reads any more.
	 */
	if (srv->bound != NULL) {
		evhttp_del_accept_socket(srv->http, srv->bound);
		srv->bound = NULL;
		event_del(srv->resume);
	}
	if (!srv->draining)
		srv->drain_started = now_ms();
	srv->draining = 1;
	if (late) {
		/* Time is up: what is still open closes now, mid-reply or not. */
		srv->step = NULL;
		event_del(srv->sweep);
		for (b = 0; b < NBUCKETS; b++)
			for (c = srv->conns[b]; c != NULL; c = next) {
				next = c->next;
				evhttp_connection_free(c->evcon);
			}
		return;
	}
	fprintf(stderr, "httpd: draining %zu connection%s\n", srv->nconns,
	    srv->nconns == 1 ? "" : "s");
	srv->step = step;
	/*
	 * Idle keep-alive connections close now; a busy one closes after its
	 * reply and the grace (see DRAIN_GRACE_MS), and a request that arrives
	 * meanwhile gets "Connection: close" (on_request), after which evhttp
	 * closes the connection itself.
	 */
	on_sweep(-1, 0, srv);
	if (srv->step != NULL && event_add(srv->sweep, &tick) < 0) {
		/* Cannot wait: close everything now rather than hang. */
		drain(ctx, step, 1, srv);
		dctx_shutdown_done(step);
	}
}

/*
 * SIGHUP (systemctl reload, logrotate's kill -HUP) runs libdctx's reload
 * chain by default; this callback replaces it (dctx_set_signal()).  httpd
 * has nothing to reload (it opens each file as it is asked for, and has
 * no log file to reopen): it says that it is alive.
 */
static void
on_hangup(struct dctx *ctx, int signo, void *arg)
{
	struct server *srv = arg;

	(void)ctx;
	(void)signo;
	fprintf(stderr, "httpd: SIGHUP: %zu connection%s open\n", srv->nconns,
	    srv->nconns == 1 ? "" : "s");
}

/*
 * The server's set-up, after dctx_open(): on failure, why (len bytes)
 * says what failed, for dctx_notify_failure(), since a detached daemon's
 * stderr is /dev/null and only the launcher and systemd can tell the
 * operator.
 */
static int
serve(struct server *srv, char *why, size_t len)
{
	struct event_base *base = dctx_base(srv->ctx);

	/*
	 * Opened now, as the user the daemon runs as: who serves the files
	 * must be able to read them.
	 */
	srv->rootfd = open(srv->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srv->rootfd < 0) {
		snprintf(why, len, "%s: %s", srv->root, strerror(errno));
		return -1;
	}
	if ((srv->http = evhttp_new(base)) == NULL ||
	    (srv->sweep = event_new(base, -1, EV_PERSIST, on_sweep, srv)) == NULL ||
	    (srv->resume = evtimer_new(base, on_resume, srv)) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	/*
	 * Bounded requests: without a limit evhttp keeps every header line
	 * and body byte a client sends, and one client could fill the
	 * memory.  Past a limit evhttp answers 400 (headers) or 413 (a
	 * body) and closes.
	 */
	evhttp_set_max_headers_size(srv->http, MAX_HEADERS);
	evhttp_set_max_body_size(srv->http, MAX_BODY);
	/*
	 * Every method reaches on_request, which answers 405 with an Allow
	 * header; evhttp itself would answer 501 for the ones not allowed.
	 */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(srv->http, on_request, srv);
	if ((srv->bound = evhttp_accept_socket_with_handle(srv->http,
	    srv->lfd)) == NULL) {
		snprintf(why, len, "cannot accept on %s", srv->listen_on);
		return -1;
	}
	srv->lfd = -1; /* the bound socket owns it now */
	the_server = srv;
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(srv->bound),
	    on_accept_error);
	if (dctx_on_shutdown(srv->ctx, drain, srv) < 0) {
		snprintf(why, len, "%s", dctx_errmsg(srv->ctx));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct server srv;
	char why[512];
	int rc;

	memset(&srv, 0, sizeof(srv));
	srv.lfd = -1;
	srv.rootfd = -1;
	srv.listen_on = "127.0.0.1:8080";
	/* First, before anything opens a descriptor (see dctx_new()). */
	if ((srv.ctx = dctx_new()) == NULL) {
		fprintf(stderr, "httpd: out of memory\n");
		return 1;
	}
	rc = configure(srv.ctx, &srv, argc, argv);
	/*
	 * Manual readiness: the launcher exits 0 only once we serve.  The
	 * pidfile is taken (dctx_prepare()) before the port is bound, so a
	 * second httpd says "already running", not "Address already in use".
	 */
	if (rc == 0 && (dctx_terminate_on_signal(srv.ctx, SIGINT) < 0 ||
	    dctx_set_signal(srv.ctx, SIGHUP, on_hangup, &srv) < 0 ||
	    dctx_set_manual_ready(srv.ctx, 1) < 0 ||
	    dctx_prepare(srv.ctx) < 0)) {
		fprintf(stderr, "httpd: %s\n", dctx_errmsg(srv.ctx));
		rc = 1;
	}
	if (rc == 0 && (srv.lfd = open_listener(srv.listen_on)) < 0)
		rc = 1;
	if (rc == 0 && (dctx_preserve_fd(srv.ctx, srv.lfd) < 0 ||
	    dctx_open(srv.ctx) < 0)) {
		fprintf(stderr, "httpd: %s\n", dctx_errmsg(srv.ctx));
		rc = 1;
	}
	if (rc == 0) {
		if (serve(&srv, why, sizeof(why)) < 0) {
			/* Logged for a foreground daemon, told to the
			 * launcher and systemd (STATUS=) for every one. */
			fprintf(stderr, "httpd: %s\n", why);
			dctx_notify_failure(srv.ctx, 1, why);
			rc = 1;
		} else {
			fprintf(stderr, "httpd: serving %s on %s as pid %ld\n",
			    srv.root, srv.listen_on, (long)getpid());
			dctx_notify_ready(srv.ctx);
			event_base_dispatch(dctx_base(srv.ctx));
			rc = dctx_exit_status(srv.ctx);
			fprintf(stderr, "httpd: stopped, status %d\n", rc);
		}
	}
	/* Closes what is left: connections that never sent a request. */
	if (srv.http != NULL)
		evhttp_free(srv.http);
	if (srv.sweep != NULL)
		event_free(srv.sweep);
	if (srv.resume != NULL)
		event_free(srv.resume);
	if (srv.lfd >= 0)
		close(srv.lfd);
	if (srv.rootfd >= 0)
		close(srv.rootfd);
	free(srv.root);
	dctx_free(srv.ctx);
	libevent_global_shutdown();
	return rc;
}
