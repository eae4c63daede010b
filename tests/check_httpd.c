/*
 * examples/httpd: serves the files under its root and nothing outside it,
 * and drains on SIGTERM under load: no reply is cut, new connections are
 * refused, idle keep-alive connections are closed, and the daemon exits 0
 * with its pidfile gone.  The clients are the test's own threads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

enum {
	BIG = 300 * 1024,         /* the load's file */
	HUGE = 16 * 1024 * 1024,  /* more than the socket buffers hold */
	READ_MS = 5000            /* a client's patience, per read */
};

static in_port_t port;
static char listen_on[64];

/* Byte i of big.bin and huge.bin: known without keeping the file. */
static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4093);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	static unsigned char chunk[65536];
	size_t off = 0, i, n;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	while (off < len) {
		n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
		if (text != NULL)
			memcpy(chunk, text + off, n);
		else
			for (i = 0; i < n; i++)
				chunk[i] = pattern(off + i);
		ck_assert_int_eq(write(fd, chunk, n), (ssize_t)n);
		off += n;
	}
	close(fd);
}

#define INDEX "<h1>httpd test</h1>\n"

/*
 * www/ is the root; secret lies beside it, reachable only through "..",
 * the link www/link -> ../secret, or the directory link www/up -> ..
 */
static void
make_root(void)
{
	ck_assert_int_eq(mkdir(tu_path("www"), 0755), 0);
	ck_assert_int_eq(mkdir(tu_path("www/sub"), 0755), 0);
	write_file(tu_path("www/index.html"), INDEX, strlen(INDEX));
	write_file(tu_path("www/sub/a.txt"), "a\n", 2);
	write_file(tu_path("www/big.bin"), NULL, BIG);
	write_file(tu_path("www/huge.bin"), NULL, HUGE);
	write_file(tu_path("secret"), "secret\n", 7);
	ck_assert_int_eq(symlink("../secret", tu_path("www/link")), 0);
	ck_assert_int_eq(symlink("..", tu_path("www/up")), 0);
}

/* Ports 13000-13999: below the ephemeral range, unused by other tests. */
static void
pick_port(int attempt)
{
	port = (in_port_t)(13000 + (getpid() + attempt * 131) % 1000);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", (unsigned)port);
}

/* httpd in the foreground, our child, serving www/; retried on EADDRINUSE. */
static pid_t
start_httpd(const char *timeout)
{
	const char *err = tu_path("fg.stderr");
	int attempt;
	pid_t pid;

	tu_program = HTTPD_PATH;
	for (attempt = 0; attempt < 20; attempt++) {
		pick_port(attempt);
		pid = tu_start_fg("--foreground", "--pidfile", tu_path("httpd.pid"),
		    "--listen", listen_on, "--root", tu_path("www"),
		    "--shutdown-timeout", timeout, NULL);
		while (tu_alive(pid) && !tu_wait_file_contains(err, "serving", 20))
			;
		if (tu_alive(pid))
			return pid;
		ck_assert_int_eq(tu_wait_gone(pid, 1000), 1);
		ck_assert_msg(strstr(tu_slurp(err), "Address already in use") != NULL,
		    "httpd did not start: %s", tu_slurp(err));
	}
	ck_abort_msg("no free port");
	return -1;
}

/* A connection to httpd, or -1 with errno. */
static int
dial_rcvbuf(int rcvbuf)
{
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (s < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		err = errno;
		close(s);
		errno = err;
		return -1;
	}
	return s;
}

static int
dial(void)
{
	return dial_rcvbuf(0);
}

static int
send_all(int s, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;

	while (off < len) {
		/* MSG_NOSIGNAL: a connection the server closed is an EPIPE. */
		if ((n = send(s, text + off, len - off, MSG_NOSIGNAL)) <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* How a reply ended, as a client sees it. */
enum outcome {
	REPLY_OK,   /* complete: headers, then exactly Content-Length bytes */
	REPLY_NONE, /* closed (EOF or reset) before any byte of a reply */
	REPLY_CUT,  /* closed or stalled after some bytes, before the end */
	REPLY_BAD   /* complete, but the bytes are not the file's */
};

struct reply {
	int status;
	long long length;  /* Content-Length */
	int close;         /* Connection: close */
	char head[1024];   /* the headers, as received */
};

/* Read with a deadline: bytes, 0 at EOF, -1 on error or time out. */
static ssize_t
read_some(int s, char *buf, size_t len, int ms)
{
	struct pollfd p = { s, POLLIN, 0 };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return read(s, buf, len);
}

/*
 * Read one reply.  expect: the body's bytes (NULL for pattern()); head:
 * a HEAD reply, which has no body.
 */
static enum outcome
read_reply(int s, struct reply *r, const char *expect, int head)
{
	char buf[65536], *end;
	size_t have = 0, hlen, off, i, n;
	long long body = 0;
	ssize_t got;
	const char *v;

	memset(r, 0, sizeof(*r));
	/* The headers: up to the empty line. */
	for (;;) {
		got = read_some(s, buf + have, sizeof(buf) - 1 - have, READ_MS);
		if (got <= 0)
			return have == 0 ? REPLY_NONE : REPLY_CUT;
		have += (size_t)got;
		buf[have] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (have == sizeof(buf) - 1)
			return REPLY_BAD;
	}
	hlen = (size_t)(end - buf) + 4;
	snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, buf);
	if (sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
		return REPLY_BAD;
	r->length = -1;
	if ((v = strcasestr(r->head, "\r\nContent-Length: ")) != NULL)
		r->length = atoll(v + 18);
	r->close = strcasestr(r->head, "\r\nConnection: close\r\n") != NULL;
	if (r->length < 0)
		return REPLY_BAD;
	if (head)
		return have == hlen ? REPLY_OK : REPLY_BAD;
	/* The body: exactly Content-Length bytes, checked as they come. */
	off = hlen;
	for (;;) {
		n = have - off;
		if ((long long)n > r->length - body)
			return REPLY_BAD; /* more than announced */
		for (i = 0; i < n; i++) {
			unsigned char want = expect != NULL ?
			    (unsigned char)expect[body + (long long)i] :
			    pattern((size_t)body + i);
			if ((unsigned char)buf[off + i] != want)
				return REPLY_BAD;
		}
		body += (long long)n;
		if (body == r->length)
			return REPLY_OK;
		got = read_some(s, buf, sizeof(buf), READ_MS);
		if (got <= 0)
			return REPLY_CUT;
		have = (size_t)got;
		off = 0;
	}
}

/* Whether the server closes s, with nothing more to read, within ms. */
static int
closed_by_server(int s, int ms)
{
	char c;
	ssize_t n = read_some(s, &c, 1, ms);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void
get(int s, const char *path)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
	ck_assert_int_eq(send_all(s, req), 0);
}

/* A keep-alive connection that did one request and now waits. */
static int
idle_connection(void)
{
	struct reply r;
	int s = dial();

	ck_assert_int_ge(s, 0);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert(!r.close);
	return s;
}

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- The load --------------------------------------------------------- */

enum { CLIENTS = 6, IDLE = 4 };

static atomic_llong draining_seen; /* when the test saw "draining"; 0 before */
static atomic_int total_ok;

struct client {
	pthread_t thread;
	int ok;             /* complete replies */
	int announced;      /* ... of which said Connection: close, then closed */
	int none_reused;    /* a reused connection closed before any reply */
	int none_fresh;     /* a new connection closed before any reply */
	int cut;            /* replies cut short */
	int bad;            /* wrong bytes, or a close announced but not done */
	int refused;        /* a connect refused: the client's end */
	int late;           /* connects that succeeded after "draining" */
	int timed_out;      /* the client gave up waiting for the end */
};

/* GET big.bin in a loop over keep-alive connections, until refused. */
static void *
client_main(void *arg)
{
	struct client *c = arg;
	long long until = now_ns() + 15000000000LL, started;
	struct reply r;
	int s, reused;

	while (!c->refused) {
		if (now_ns() > until) {
			c->timed_out = 1;
			break;
		}
		started = now_ns();
		/*
		 * A small receive window keeps most of each reply in httpd's
		 * own buffers rather than the kernel's: a stop that dropped
		 * them would cut replies.
		 */
		if ((s = dial_rcvbuf(16384)) < 0) {
			if (errno == ECONNREFUSED)
				c->refused = 1;
			else
				c->bad++;
			continue;
		}
		if (atomic_load(&draining_seen) != 0 &&
		    started > atomic_load(&draining_seen))
			c->late++;
		for (reused = 0;; reused = 1) {
			enum outcome o = REPLY_NONE;

			if (send_all(s, "GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n") == 0)
				o = read_reply(s, &r, NULL, 0);
			if (o == REPLY_OK && (r.status != 200 || r.length != BIG))
				o = REPLY_BAD;
			if (o == REPLY_OK) {
				c->ok++;
				atomic_fetch_add(&total_ok, 1);
				if (!r.close)
					continue;
				/* Announced: the server must close now. */
				if (closed_by_server(s, READ_MS))
					c->announced++;
				else
					c->bad++;
			} else if (o == REPLY_NONE) {
				if (reused)
					c->none_reused++;
				else
					c->none_fresh++;
			} else if (o == REPLY_CUT) {
				c->cut++;
			} else {
				c->bad++;
			}
			break;
		}
		close(s);
	}
	return NULL;
}

START_TEST(drains_under_load_without_cutting_a_reply)
{
	struct client clients[CLIENTS], sum;
	int idle[IDLE], i, s, waited;
	pid_t pid;

	make_root();
	pid = start_httpd("10000");
	for (i = 0; i < IDLE; i++)
		idle[i] = idle_connection();
	atomic_store(&draining_seen, 0);
	atomic_store(&total_ok, 0);
	memset(clients, 0, sizeof(clients));
	for (i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(pthread_create(&clients[i].thread, NULL,
		    client_main, &clients[i]), 0);
	/* Under load: the clients have been served a while. */
	for (waited = 0; atomic_load(&total_ok) < 60 && waited < 10000; waited += 10)
		usleep(10 * 1000);
	ck_assert_int_ge(atomic_load(&total_ok), 60);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_msg(tu_wait_file_contains(tu_path("fg.stderr"), "draining", 3000),
	    "no drain: %s", tu_slurp(tu_path("fg.stderr")));
	atomic_store(&draining_seen, now_ns());
	/* The listening socket was closed before the line was written. */
	s = dial();
	ck_assert_msg(s < 0 && errno == ECONNREFUSED,
	    "a new connection after the stop began: %s",
	    s >= 0 ? "accepted" : strerror(errno));
	/* Idle keep-alive connections: closed by the server, no byte sent. */
	for (i = 0; i < IDLE; i++) {
		ck_assert_msg(closed_by_server(idle[i], 3000),
		    "idle connection %d still open", i);
		close(idle[i]);
	}

	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < CLIENTS; i++) {
		ck_assert_int_eq(pthread_join(clients[i].thread, NULL), 0);
		sum.ok += clients[i].ok;
		sum.announced += clients[i].announced;
		sum.none_reused += clients[i].none_reused;
		sum.none_fresh += clients[i].none_fresh;
		sum.cut += clients[i].cut;
		sum.bad += clients[i].bad;
		sum.refused += clients[i].refused;
		sum.late += clients[i].late;
		sum.timed_out += clients[i].timed_out;
	}
	fprintf(stderr, "httpd load: %d complete replies (%d with Connection: "
	    "close), closed before a reply: %d reused, %d new; cut %d, bad %d, "
	    "refused %d/%d\n", sum.ok, sum.announced, sum.none_reused,
	    sum.none_fresh, sum.cut, sum.bad, sum.refused, CLIENTS);
	ck_assert_int_eq(sum.cut, 0);
	ck_assert_int_eq(sum.bad, 0);
	ck_assert_int_eq(sum.late, 0);
	ck_assert_int_eq(sum.timed_out, 0);
	/* Every client ended on a refused connect. */
	ck_assert_int_eq(sum.refused, CLIENTS);

	ck_assert_int_eq(tu_wait_gone(pid, 5000), DCTX_EXIT_CLEAN);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
	ck_assert(strstr(tu_slurp(tu_path("fg.stderr")), "stopped, status 0") != NULL);
}
END_TEST

/*
 * The drain step by step: a reply in flight finishes, a request that
 * arrives during the drain is answered with "Connection: close", an idle
 * connection is closed, a new one refused.
 */
START_TEST(drain_finishes_replies_and_announces_the_close)
{
	struct reply r;
	int slow, partial, idle1, s;
	pid_t pid;

	make_root();
	pid = start_httpd("10000");
	/* A client that does not read yet: its reply stays in flight. */
	slow = dial_rcvbuf(4096);
	ck_assert_int_ge(slow, 0);
	get(slow, "/huge.bin");
	/* A client half-way through its second request. */
	partial = idle_connection();
	ck_assert_int_eq(send_all(partial, "GET /index.html HTTP/1.1\r\n"
	    "Host: test\r\n"), 0);
	idle1 = idle_connection();
	usleep(200 * 1000);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert(tu_wait_file_contains(tu_path("fg.stderr"),
	    "draining 3 connections", 3000));
	s = dial();
	ck_assert_msg(s < 0 && errno == ECONNREFUSED, "not refused: %s",
	    s >= 0 ? "accepted" : strerror(errno));
	ck_assert(closed_by_server(idle1, 3000));

	/* The request completed during the drain: its reply says close. */
	ck_assert_int_eq(send_all(partial, "\r\n"), 0);
	ck_assert_int_eq(read_reply(partial, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(r.close, "no Connection: close in %s", r.head);
	ck_assert(closed_by_server(partial, 3000));
	ck_assert(tu_alive(pid));

	/* The reply in flight at the stop arrives whole, then the close. */
	ck_assert_int_eq(read_reply(slow, &r, NULL, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.length, HUGE);
	ck_assert(closed_by_server(slow, 3000));

	ck_assert_int_eq(tu_wait_gone(pid, 5000), DCTX_EXIT_CLEAN);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
	close(slow);
	close(partial);
	close(idle1);
}
END_TEST

/* The deadline cuts a client that never reads: exit 124, pidfile gone. */
START_TEST(the_deadline_cuts_a_reply_nobody_reads)
{
	int slow;
	pid_t pid;

	make_root();
	pid = start_httpd("500");
	slow = dial_rcvbuf(4096);
	ck_assert_int_ge(slow, 0);
	get(slow, "/huge.bin");
	usleep(200 * 1000);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(tu_wait_gone(pid, 3000), DCTX_EXIT_TIMEOUT);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
	close(slow);
}
END_TEST

/* One keep-alive connection, one GET after the other. */
static void
expect_status(int s, const char *path, int status)
{
	const char *body = status == 200 ? INDEX : status == 403 ?
	    "403 Forbidden\n" : "404 Not Found\n";
	struct reply r;

	get(s, path);
	ck_assert_int_eq(read_reply(s, &r, body, 0), REPLY_OK);
	ck_assert_msg(r.status == status, "GET %s: %d, not %d", path,
	    r.status, status);
	ck_assert_int_eq(r.length, (long long)strlen(body));
	/* An error is no reason to close a keep-alive connection. */
	ck_assert(!r.close);
}

START_TEST(nothing_outside_the_root_is_served)
{
	struct reply r;
	int s;

	make_root();
	tu_track(start_httpd("3000"));
	s = dial();
	ck_assert_int_ge(s, 0);
	expect_status(s, "/index.html", 200);
	expect_status(s, "/", 200);
	expect_status(s, "/../secret", 403);
	expect_status(s, "/%2e%2e/secret", 403);
	expect_status(s, "/sub/../../secret", 403);
	expect_status(s, "/link", 403);
	expect_status(s, "/up/secret", 403);
	expect_status(s, "/missing", 404);
	expect_status(s, "/index.html/x", 404);
	/* A file is not a directory: a trailing slash finds nothing. */
	expect_status(s, "/index.html/", 404);
	expect_status(s, "/sub/a.txt/", 404);
	/* Nor is "." after a file: /sub/a.txt/. names no directory. */
	expect_status(s, "/sub/a.txt/.", 404);
	expect_status(s, "/sub/a.txt/./", 404);
	expect_status(s, "/index.html/.", 404);
	/* "." after a directory is that directory. */
	expect_status(s, "/./index.html", 200);
	expect_status(s, "/.", 200);
	close(s);

	/* HEAD: the length, no body (the next reply parses right after). */
	s = dial();
	ck_assert_int_eq(send_all(s, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	ck_assert_int_eq(read_reply(s, &r, NULL, 1), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.length, BIG);
	ck_assert(strstr(r.head, "Content-Type: application/octet-stream") != NULL);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert(strstr(r.head, "Content-Type: text/html") != NULL);
	/* Other methods: 405, saying which are allowed. */
	ck_assert_int_eq(send_all(s, "POST / HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\n"), 0);
	ck_assert_int_eq(read_reply(s, &r, "405 Method Not Allowed\n", 0), REPLY_OK);
	ck_assert_int_eq(r.status, 405);
	ck_assert(strstr(r.head, "\r\nAllow: GET, HEAD\r\n") != NULL);
	close(s);
}
END_TEST

/*
 * Whatever arrives after a request with a body httpd does not read is
 * not run as a request of its own: evhttp 2.1 never reads a HEAD
 * request's body, so the bytes of a body would be parsed as the next
 * request (smuggled past a front proxy that counts them as a body).
 * Such a request gets one error reply, then the connection closes.
 */
static void
one_refusal_then_close(const char *req)
{
	char buf[65536];
	size_t have = 0;
	ssize_t n;
	int s, replies = 0, status = 0;
	const char *p;

	s = dial();
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(send_all(s, req), 0);
	for (;;) {
		n = read_some(s, buf + have, sizeof(buf) - 1 - have, 5000);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		ck_assert_msg(n > 0, "%s: not closed; got %.*s", req,
		    (int)have, buf);
		have += (size_t)n;
		ck_assert(have < sizeof(buf) - 1);
	}
	buf[have] = '\0';
	for (p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
		if (replies++ == 0)
			sscanf(p, "HTTP/1.1 %d ", &status);
	ck_assert_msg(replies == 1 && (status == 400 || status == 413),
	    "%s: %d replies, the first %d: %s", req, replies, status, buf);
	close(s);
}

START_TEST(a_body_httpd_does_not_read_is_refused)
{
	static const char next[] = "GET /index.html HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n";
	char req[1024];
	struct reply r;
	int s;

	make_root();
	tu_track(start_httpd("3000"));
	/* The review's exchange: the body is a request of its own. */
	snprintf(req, sizeof(req), "HEAD /sub/a.txt HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(next), next);
	one_refusal_then_close(req);
	/* A second Content-Length, after a harmless first one. */
	snprintf(req, sizeof(req), "HEAD /sub/a.txt HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(next), next);
	one_refusal_then_close(req);
	/* A chunked body of one chunk. */
	snprintf(req, sizeof(req), "HEAD /sub/a.txt HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
	    strlen(next), next);
	one_refusal_then_close(req);
	/* An empty chunked body evhttp reads: still refused, never served. */
	snprintf(req, sizeof(req), "GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s", next);
	one_refusal_then_close(req);
	/* Content-Length: 0 is no body: served, and the connection kept. */
	s = dial();
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(send_all(s, "HEAD /index.html HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0\r\n\r\n"), 0);
	ck_assert_int_eq(read_reply(s, &r, NULL, 1), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert(!r.close);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(s);
}
END_TEST

/*
 * A relative root is resolved before dctx_open()'s chdir to "/"; a second
 * start is refused as already running.
 */
START_TEST(a_relative_root_is_made_absolute)
{
	char want[64];
	struct launch l;
	struct reply r;
	int attempt, s;
	pid_t pid;

	make_root();
	ck_assert_int_eq(chdir(tu_dir()), 0);
	tu_program = HTTPD_PATH;
	for (attempt = 0; attempt < 20; attempt++) {
		pick_port(attempt);
		tu_launch(&l, "--pidfile", tu_path("httpd.pid"), "--listen",
		    listen_on, "--root", "www", NULL);
		if (l.status == 0 || strstr(l.err, "Address already in use") == NULL)
			break;
	}
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("httpd.pid"));
	ck_assert(tu_alive(pid));
	ck_assert_str_eq(tu_proc_link(pid, "cwd"), "/");
	s = dial();
	ck_assert_int_ge(s, 0);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(s);
	/*
	 * Started again the same way, it takes the pidfile before the port
	 * (dctx_prepare()): "already running", never "Address in use".
	 */
	snprintf(want, sizeof(want), "already running (pid %ld)", (long)pid);
	tu_launch(&l, "--pidfile", tu_path("httpd.pid"), "--listen",
	    listen_on, "--root", "www", NULL);
	ck_assert_int_eq(l.status, 1);
	ck_assert_msg(strstr(l.err, want) != NULL && strstr(l.err, "in use") ==
	    NULL, "stderr: %s", l.err);
	ck_assert_int_eq(tu_read_pidfile(tu_path("httpd.pid")), pid);
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
}
END_TEST

START_TEST(a_missing_root_is_refused)
{
	struct launch l;

	tu_program = HTTPD_PATH;
	pick_port(0);
	tu_launch(&l, "--pidfile", tu_path("httpd.pid"), "--listen", listen_on,
	    "--root", tu_path("none"), NULL);
	ck_assert_int_eq(l.status, 2);
	ck_assert_msg(strstr(l.err, "none: No such file or directory") != NULL,
	    "%s", l.err);
	tu_launch(&l, "--pidfile", tu_path("httpd.pid"), "--listen", listen_on,
	    NULL);
	ck_assert_int_eq(l.status, 2);
	ck_assert_msg(strstr(l.err, "--root DIR is required") != NULL, "%s", l.err);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
}
END_TEST

/* CPU time of pid so far, in clock ticks (utime + stime). */
static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	long utime = 0, stime = 0;
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	buf[0] = '\0';
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	/* Fields 14 and 15, counted after the command's closing ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (field = 2; field < 14 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%ld %ld", &utime, &stime) != 2)
		return -1;
	return utime + stime;
}

/*
 * Out of descriptors with clients waiting, httpd pauses accepting instead
 * of retrying accept() at once for ever (evhttp sets no error callback on
 * its listener), says so once, and serves again when descriptors free up.
 */
START_TEST(no_busy_loop_when_descriptors_run_out)
{
	struct rlimit old, low;
	enum { WAITING = 30 };
	int s[WAITING], i, c;
	long before, spent;
	struct reply r;
	pid_t pid;

	make_root();
	/* The limit the daemon inherits: a few above what it holds idle. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 16;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	pid = start_httpd("3000");
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (i = 0; i < WAITING; i++)
		ck_assert_int_ge(s[i] = dial(), 0);
	usleep(300 * 1000);
	/* A busy loop burns a whole second a second (sysconf(_SC_CLK_TCK)). */
	before = cpu_ticks(pid);
	usleep(1000 * 1000);
	spent = cpu_ticks(pid) - before;
	ck_assert_msg(spent < sysconf(_SC_CLK_TCK) / 4,
	    "%ld ticks in one second while out of descriptors", spent);
	ck_assert(tu_wait_file_contains(tu_path("fg.stderr"),
	    "Too many open files; pausing", 3000));
	for (i = 0; i < WAITING; i++)
		close(s[i]);
	/* Said once only, and served again. */
	c = dial();
	ck_assert_int_ge(c, 0);
	get(c, "/index.html");
	ck_assert_int_eq(read_reply(c, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(c);
	ck_assert_ptr_eq(strstr(strstr(tu_slurp(tu_path("fg.stderr")),
	    "pausing") + 1, "pausing"), NULL);
	tu_stop_cleanly(pid);
}
END_TEST

/* VmRSS of pid in kB, or -1. */
static long
rss_kb(pid_t pid)
{
	const char *line = tu_status_field(pid, "VmRSS:");
	long kb = -1;

	if (line == NULL || sscanf(line, "%ld", &kb) != 1)
		return -1;
	return kb;
}

/*
 * Send prefix, then line again and again up to total bytes, or until the
 * server stops reading (an error, or 5 s without progress).  The bytes
 * sent.
 */
static size_t
flood(int s, const char *prefix, const char *line, size_t total)
{
	size_t sent = 0, len = strlen(line);
	struct pollfd p = { s, POLLOUT, 0 };
	ssize_t n;

	if (send_all(s, prefix) < 0)
		return 0;
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	while (sent < total) {
		if (poll(&p, 1, 5000) != 1)
			break;
		n = send(s, line + sent % len, len - sent % len, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	return sent;
}

/*
 * Whether the server ends the connection within ms: a reply (its status
 * in *status, 0 when none came) then the close, or a reset.
 */
static int
ends_connection(int s, int ms, int *status)
{
	char buf[65536];
	size_t have = 0;
	ssize_t n;

	*status = 0;
	for (;;) {
		n = read_some(s, buf + have, sizeof(buf) - 1 - have, ms);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0)
			return 0;
		have += (size_t)n;
		buf[have] = '\0';
		if (*status == 0)
			sscanf(buf, "HTTP/1.1 %d ", status);
		if (have == sizeof(buf) - 1)
			have = 0;
	}
	return 1;
}

/*
 * Headers and bodies are bounded: 32 MB of header lines, or a body of
 * Content-Length 10000000000, get an error reply (or a reset) and the
 * close at once, and httpd's memory does not grow with what was sent.
 */
START_TEST(oversized_headers_and_bodies_are_refused)
{
	static const char pad[] = "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	static char body[65536];
	long before, after;
	int s, status;
	size_t sent;
	struct reply r;
	pid_t pid;

	make_root();
	pid = start_httpd("3000");
	before = rss_kb(pid);
	ck_assert_int_gt(before, 0);

	s = dial();
	ck_assert_int_ge(s, 0);
	sent = flood(s, "GET / HTTP/1.1\r\nHost: t\r\n", pad, 32u << 20);
	ck_assert_msg(ends_connection(s, 5000, &status),
	    "32 MB of headers: connection still open (%zu bytes sent)", sent);
	ck_assert_msg(status == 0 || status == 413 || status == 431 ||
	    status == 400, "headers: status %d", status);
	fprintf(stderr, "httpd: headers refused after %zu bytes, status %d\n",
	    sent, status);
	close(s);

	memset(body, 'b', sizeof(body) - 1);
	s = dial();
	ck_assert_int_ge(s, 0);
	sent = flood(s, "POST / HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 10000000000\r\n\r\n", body, 32u << 20);
	ck_assert_msg(ends_connection(s, 5000, &status),
	    "a 10 GB body: connection still open (%zu bytes sent)", sent);
	ck_assert_msg(status == 0 || status == 413, "body: status %d", status);
	fprintf(stderr, "httpd: body refused after %zu bytes, status %d\n",
	    sent, status);
	close(s);

	after = rss_kb(pid);
	fprintf(stderr, "httpd: VmRSS %ld kB before, %ld kB after\n", before,
	    after);
	ck_assert_msg(after - before < 16 * 1024, "VmRSS grew from %ld kB to "
	    "%ld kB", before, after);
	/* Still serving. */
	s = dial();
	ck_assert_int_ge(s, 0);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(s);
	tu_stop_cleanly(pid);
}
END_TEST

/* SIGHUP (systemctl reload, logrotate) is logged; httpd keeps serving. */
START_TEST(sighup_is_logged_and_serving_goes_on)
{
	struct reply r;
	int s;
	pid_t pid;

	make_root();
	pid = start_httpd("3000");
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	ck_assert_msg(tu_wait_file_contains(tu_path("fg.stderr"), "SIGHUP", 3000),
	    "no SIGHUP line: %s", tu_slurp(tu_path("fg.stderr")));
	ck_assert(tu_alive(pid));
	s = dial();
	ck_assert_int_ge(s, 0);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(s);
	ck_assert_int_eq(access(tu_path("httpd.pid"), F_OK), 0);
	tu_stop_cleanly(pid);
}
END_TEST

/*
 * A keep-alive client that sends its next request one byte every 0.5 s
 * does not hold the drain until the deadline: its partial request gets a
 * bounded time, then the connection is closed and httpd exits 0.
 */
START_TEST(drain_does_not_wait_for_a_slow_partial_request)
{
	static const char req[] = "GET /index.html HTTP/1.1\r\nHost: test\r\n";
	long long start;
	int s, status = -1;
	size_t i;
	pid_t pid;

	make_root();
	pid = start_httpd("10000");
	s = idle_connection();
	ck_assert_int_eq(send_all(s, "G"), 0);
	usleep(100 * 1000);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	start = now_ns();
	ck_assert(tu_wait_file_contains(tu_path("fg.stderr"), "draining", 3000));
	for (i = 1; i < sizeof(req) - 1 && now_ns() - start < 8000000000LL; i++) {
		send(s, req + i, 1, MSG_NOSIGNAL);
		if ((status = tu_wait_gone(pid, 500)) != -1)
			break;
	}
	ck_assert_msg(status == DCTX_EXIT_CLEAN, "status %d after %lld ms",
	    status, (now_ns() - start) / 1000000);
	ck_assert_int_lt(now_ns() - start, 5000000000LL);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
	close(s);
}
END_TEST

/*
 * --detach forks even where the auto rule would not (an inet socket on
 * stdin, as under inetd; pid 1 as the parent, as under systemd): a
 * Type=forking unit works.  --foreground --detach is refused (see
 * check_inputs).
 */
START_TEST(detach_forks_where_auto_would_not)
{
	struct sockaddr_in sin;
	struct launch l;
	struct reply r;
	int attempt, in, s;
	pid_t pid;

	make_root();
	in = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(in, (struct sockaddr *)&sin, sizeof(sin)), 0);
	tu_stdin_fd = in;
	tu_program = HTTPD_PATH;
	for (attempt = 0; attempt < 20; attempt++) {
		pick_port(attempt);
		tu_launch(&l, "--detach", "--pidfile", tu_path("httpd.pid"),
		    "--listen", listen_on, "--root", tu_path("www"), NULL);
		if (l.status == 0 || strstr(l.err, "Address already in use") == NULL)
			break;
	}
	ck_assert_msg(l.status == 0, "launcher: %d %s", l.status, l.err);
	pid = tu_read_pidfile(tu_path("httpd.pid"));
	ck_assert(tu_alive(pid));
	s = dial();
	ck_assert_int_ge(s, 0);
	get(s, "/index.html");
	ck_assert_int_eq(read_reply(s, &r, INDEX, 0), REPLY_OK);
	ck_assert_int_eq(r.status, 200);
	close(s);
	close(in);
	tu_stop_cleanly(pid);
	ck_assert_int_ne(access(tu_path("httpd.pid"), F_OK), 0);
}
END_TEST

/*
 * httpd's own set-up failing after dctx_open() (a root the dropped user
 * cannot read) reaches the launcher with its reason, not "cannot serve".
 */
START_TEST(a_setup_failure_reaches_the_launcher_with_its_reason)
{
	struct passwd *pw;
	struct launch l;
	char want[600];
	int attempt;

	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	ck_assert_int_eq(mkdir(tu_path("priv"), 0700), 0);
	ck_assert_int_eq(mkdir(tu_path("run"), 0755), 0);
	ck_assert_int_eq(chown(tu_path("run"), pw->pw_uid, pw->pw_gid), 0);
	tu_program = HTTPD_PATH;
	for (attempt = 0; attempt < 20; attempt++) {
		pick_port(attempt);
		tu_launch(&l, "--pidfile", tu_path("run/httpd.pid"), "--user",
		    "nobody", "--listen", listen_on, "--root", tu_path("priv"),
		    NULL);
		if (strstr(l.err, "Address already in use") == NULL)
			break;
	}
	snprintf(want, sizeof(want), "%s: Permission denied", tu_path("priv"));
	ck_assert_msg(l.status == 1 && strstr(l.err, want) != NULL,
	    "launcher: %d %s", l.status, l.err);
	ck_assert_int_ne(access(tu_path("run/httpd.pid"), F_OK), 0);
	ck_assert(tu_no_children(2000));
}
END_TEST

static Suite *
httpd_suite(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tu_tcase("httpd");

	tcase_add_test(tc, drains_under_load_without_cutting_a_reply);
	tcase_add_test(tc, drain_finishes_replies_and_announces_the_close);
	tcase_add_test(tc, the_deadline_cuts_a_reply_nobody_reads);
	tcase_add_test(tc, nothing_outside_the_root_is_served);
	tcase_add_test(tc, a_body_httpd_does_not_read_is_refused);
	tcase_add_test(tc, a_relative_root_is_made_absolute);
	tcase_add_test(tc, a_missing_root_is_refused);
	tcase_add_test(tc, no_busy_loop_when_descriptors_run_out);
	tcase_add_test(tc, oversized_headers_and_bodies_are_refused);
	tcase_add_test(tc, sighup_is_logged_and_serving_goes_on);
	tcase_add_test(tc, drain_does_not_wait_for_a_slow_partial_request);
	tcase_add_test(tc, detach_forks_where_auto_would_not);
	/* The drop to nobody needs root: not run, nor counted, without. */
	if (geteuid() == 0)
		tcase_add_test(tc,
		    a_setup_failure_reaches_the_launcher_with_its_reason);
	else
		printf("httpd: skipped "
		    "a_setup_failure_reaches_the_launcher_with_its_reason, it "
		    "needs root\n");
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(httpd_suite)
