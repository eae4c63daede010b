/*
 * loadgen: many short echo requests at once against a server, counted per
 * window of 10 ms, to see what switching the server's process (an
 * upgrade, a restart) costs its clients.
 *
 * usage: loadgen [-f] [-c CONNS] [-n BYTES] [-d SECONDS] [-b BACKOFF_MS]
 *            [-t TIMEOUT_MS] [-w WINDOW_MS] [-o SERIES] HOST:PORT
 *
 * Each of CONNS clients (64) runs requests one after the other: connect,
 * send BYTES (1024) of a pattern that differs from request to request,
 * read them back, check that exactly what was sent came back, and close.
 * The close is a reset (SO_LINGER 0): the side that closes first keeps
 * the connection in TIME_WAIT for a minute, and at 10,000 requests a
 * second our 28,000 ephemeral ports would be TIME_WAIT within seconds;
 * Linux reuses one for loopback only once its TIME_WAIT is a second old,
 * and until then connect() crawls through the port range, which shows as
 * a stall of the load, not of the server.  With -f the close is orderly
 * instead: shut down our sending side once all is sent, and read until
 * the server closes, which then counts too (a run of a few seconds).
 * A request ends as one of
 *   ok        every byte echoed (with -f: then end of file)
 *   refused   connect() said ECONNREFUSED: nobody listened
 *   reset     ECONNRESET or EPIPE: the connection was dropped
 *   eof       end of file before every byte came back
 *   timeout   not done within TIMEOUT_MS (5000)
 *   corrupt   a byte came back that was not sent there
 *   error     anything else (the last one is named in the summary)
 * and bytes lost are those sent but not echoed by requests that failed.
 * A client whose request failed waits BACKOFF_MS (10) before its next
 * one, as a client that retries would: without it, a port nobody listens
 * on is refused thousands of times a second and the count says more of
 * our speed than of the server.  After a success the next request starts
 * at once.
 *
 * A request is counted in the window where it ended; the latency of the
 * ok ones (connect to end of file) gives each window's slowest and the
 * run's percentiles.  Windows are reckoned from t0_ns, on CLOCK_MONOTONIC,
 * the clock the other bench tools use, so that their moments (an upgrade
 * asked for, a new process ready) fall into the right window.
 *
 * The run lasts SECONDS (0: until SIGINT or SIGTERM).  Then no request
 * starts any more, the ones under way finish (or time out), and the
 * summary goes to stdout as key=value lines; with -o, the series of
 * windows goes to SERIES, one line per window:
 *   t_ms ok refused reset eof timeout corrupt error lost_bytes max_latency_us
 * t_ms being the window's start from t0.  Exit status 0 once the run
 * happened, whatever the server did; 2 for bad arguments, 1 for a failure
 * of our own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

enum outcome { OK, REFUSED, RESET, EARLY_EOF, TIMEOUT, CORRUPT, ERROR, NOUTCOMES };
static const char *const outcome_name[NOUTCOMES] = {
	"ok", "refused", "reset", "eof", "timeout", "corrupt", "error"
};

struct window {
	unsigned long n[NOUTCOMES];
	unsigned long long lost;
	unsigned max_us;
};

enum state { IDLE, CONNECTING, XFER };

struct client {
	struct loadgen *lg;
	struct event *ev;    /* the socket's, or the back-off timer */
	enum state state;
	int fd;
	size_t off;          /* where this request's bytes start in pattern */
	size_t sent, got;
	int shut;            /* our sending side is shut down */
	long long t0;
};

struct loadgen {
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	size_t bytes;
	int backoff_ms, timeout_ms, window_ms;
	int orderly;             /* -f: half-close, read to end of file */
	unsigned char *pattern;  /* bytes + 256 pseudo-random bytes */
	unsigned char *rbuf;
	size_t rbuflen;
	struct client *clients;
	int nclients, busy;
	int stopping;
	unsigned long serial;

	long long t0;
	struct window *w;
	size_t nw;
	unsigned long long sent, echoed;
	unsigned *lat;           /* every ok request's latency, in us */
	size_t nlat, maxlat;
	unsigned lat_max;
	long long lat_max_at;
	char last_error[128];
};

static int start(struct client *c);

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The window a moment falls in, grown as the run goes. */
static struct window *
window_at(struct loadgen *lg, long long t)
{
	size_t i = t > lg->t0 ?
	    (size_t)((t - lg->t0) / ((long long)lg->window_ms * 1000000)) : 0;
	size_t n;

	if (i >= lg->nw) {
		n = lg->nw ? lg->nw : 1024;
		while (n <= i)
			n *= 2;
		if ((lg->w = realloc(lg->w, n * sizeof(*lg->w))) == NULL)
			die("realloc");
		memset(lg->w + lg->nw, 0, (n - lg->nw) * sizeof(*lg->w));
		lg->nw = n;
	}
	return &lg->w[i];
}

static void
on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	c->lg->busy--;
	if (!c->lg->stopping)
		start(c);
	else if (c->lg->busy == 0)
		event_base_loopbreak(c->lg->base);
}

/* The request ended: count it, then start the next one or rest. */
static void
finish(struct client *c, enum outcome o, int err)
{
	struct loadgen *lg = c->lg;
	long long t = now_ns();
	struct window *w = window_at(lg, t);
	struct timeval pause;
	unsigned us;

	event_free(c->ev);
	c->ev = NULL;
	if (o == OK && !lg->orderly) {
		struct linger abort = { 1, 0 };

		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort,
		    sizeof(abort));
	}
	close(c->fd);
	c->fd = -1;
	c->state = IDLE;
	w->n[o]++;
	if (o == OK) {
		us = (unsigned)((t - c->t0) / 1000);
		if (us > w->max_us)
			w->max_us = us;
		if (us > lg->lat_max) {
			lg->lat_max = us;
			lg->lat_max_at = t;
		}
		if (lg->nlat == lg->maxlat) {
			lg->maxlat = lg->maxlat ? lg->maxlat * 2 : 1 << 16;
			if ((lg->lat = realloc(lg->lat,
			    lg->maxlat * sizeof(*lg->lat))) == NULL)
				die("realloc");
		}
		lg->lat[lg->nlat++] = us;
	} else {
		if (c->sent > c->got)
			w->lost += c->sent - c->got;
		if (o == ERROR)
			snprintf(lg->last_error, sizeof(lg->last_error), "%s",
			    strerror(err));
	}
	lg->busy--;
	if (lg->stopping) {
		if (lg->busy == 0)
			event_base_loopbreak(lg->base);
		return;
	}
	if (o == OK || lg->backoff_ms == 0) {
		start(c);
		return;
	}
	pause.tv_sec = lg->backoff_ms / 1000;
	pause.tv_usec = (lg->backoff_ms % 1000) * 1000;
	if ((c->ev = evtimer_new(lg->base, on_backoff, c)) == NULL ||
	    evtimer_add(c->ev, &pause) < 0)
		die("evtimer_new");
	lg->busy++;
}

static enum outcome
classify(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return REFUSED;
	case ECONNRESET:
	case EPIPE:
		return RESET;
	case ETIMEDOUT:
		return TIMEOUT;
	default:
		return ERROR;
	}
}

/* Send what the socket takes; once all is sent, shut down our side. */
static int
send_some(struct client *c)
{
	struct loadgen *lg = c->lg;
	ssize_t n;

	while (c->sent < lg->bytes) {
		n = send(c->fd, lg->pattern + c->off + c->sent,
		    lg->bytes - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->sent += (size_t)n;
		lg->sent += (size_t)n;
	}
	if (!c->shut) {
		if (lg->orderly && shutdown(c->fd, SHUT_WR) < 0)
			return -errno;
		c->shut = 1;
	}
	return 0;
}

static void
on_xfer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct loadgen *lg = c->lg;
	ssize_t n;
	int rc;

	if ((what & EV_WRITE) && !c->shut) {
		if ((rc = send_some(c)) < 0) {
			finish(c, classify(-rc), -rc);
			return;
		}
		if (c->shut) {
			/* Nothing left to send: wait for reads only. */
			event_del(c->ev);
			event_assign(c->ev, lg->base, fd, EV_READ | EV_PERSIST,
			    on_xfer, c);
			event_add(c->ev, NULL);
		}
	}
	if (!(what & EV_READ))
		return;
	for (;;) {
		n = recv(fd, lg->rbuf, lg->rbuflen, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			finish(c, classify(errno), errno);
			return;
		}
		if (n == 0) {
			finish(c, c->got == lg->bytes && c->shut ? OK :
			    EARLY_EOF, 0);
			return;
		}
		if (c->got + (size_t)n > lg->bytes ||
		    memcmp(lg->rbuf, lg->pattern + c->off + c->got,
		    (size_t)n) != 0) {
			finish(c, CORRUPT, 0);
			return;
		}
		c->got += (size_t)n;
		lg->echoed += (size_t)n;
		if (c->got == lg->bytes && !lg->orderly) {
			finish(c, OK, 0);
			return;
		}
	}
}

static void
on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)what;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		finish(c, classify(err), err);
		return;
	}
	c->state = XFER;
	event_del(c->ev);
	event_assign(c->ev, c->lg->base, fd, EV_READ | EV_WRITE | EV_PERSIST,
	    on_xfer, c);
	event_add(c->ev, NULL);
}

/* A new request: a fresh connection and a fresh stretch of the pattern. */
static int
start(struct client *c)
{
	struct loadgen *lg = c->lg;
	int err;

	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	c->off = (size_t)(lg->serial++ * 97 % 256);
	c->sent = c->got = 0;
	c->shut = 0;
	c->t0 = now_ns();
	lg->busy++;
	c->fd = socket(lg->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	c->state = CONNECTING;
	if ((c->ev = event_new(lg->base, c->fd, EV_WRITE, on_connected, c)) ==
	    NULL)
		die("event_new");
	if (connect(c->fd, (struct sockaddr *)&lg->addr, lg->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		finish(c, classify(err), err);
		return -1;
	}
	event_add(c->ev, NULL);
	return 0;
}

/* Every window: give up on the requests that took too long. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loadgen *lg = arg;
	long long limit = now_ns() - (long long)lg->timeout_ms * 1000000;
	int i;

	(void)fd;
	(void)what;
	for (i = 0; i < lg->nclients; i++)
		if (lg->clients[i].state != IDLE && lg->clients[i].t0 < limit)
			finish(&lg->clients[i], TIMEOUT, 0);
}

static void
stop(struct loadgen *lg)
{
	lg->stopping = 1;
	if (lg->busy == 0)
		event_base_loopbreak(lg->base);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stop(arg);
}

static void
on_duration(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stop(arg);
}

static int
parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon = strrchr(spec, ':');
	size_t n;

	if (colon == NULL || (n = (size_t)(colon - spec)) == 0 ||
	    n >= sizeof(host))
		return -1;
	memcpy(host, spec, n);
	host[n] = '\0';
	if (host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static unsigned
pct(const struct loadgen *lg, double p)
{
	size_t k;

	if (lg->nlat == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)(lg->nlat - 1) + 0.5);
	return lg->lat[k];
}

static void
report(struct loadgen *lg, long long t_end, const char *series)
{
	unsigned long tot[NOUTCOMES] = { 0 }, all = 0;
	unsigned long long lost = 0;
	size_t i, last = 0;
	FILE *f;
	int o;

	for (i = 0; i < lg->nw; i++) {
		for (o = 0; o < NOUTCOMES; o++) {
			tot[o] += lg->w[i].n[o];
			if (lg->w[i].n[o])
				last = i + 1;
		}
		lost += lg->w[i].lost;
	}
	for (o = 0; o < NOUTCOMES; o++)
		all += tot[o];
	if (lg->nlat > 0)
		qsort(lg->lat, lg->nlat, sizeof(*lg->lat), cmp_uint);
	printf("conns=%d\nbytes=%zu\nwindow_ms=%d\nbackoff_ms=%d\n"
	    "timeout_ms=%d\nclose=%s\n", lg->nclients, lg->bytes,
	    lg->window_ms, lg->backoff_ms, lg->timeout_ms,
	    lg->orderly ? "orderly" : "reset");
	printf("t0_ns=%lld\nt_end_ns=%lld\nseconds=%.3f\n", lg->t0, t_end,
	    (double)(t_end - lg->t0) / 1e9);
	printf("requests=%lu\n", all);
	for (o = 0; o < NOUTCOMES; o++)
		printf("%s=%lu\n", outcome_name[o], tot[o]);
	printf("failed=%lu\n", all - tot[OK]);
	printf("bytes_sent=%llu\nbytes_echoed=%llu\nbytes_lost=%llu\n",
	    lg->sent, lg->echoed, lost);
	printf("rate_per_s=%.0f\n", t_end > lg->t0 ?
	    (double)tot[OK] * 1e9 / (double)(t_end - lg->t0) : 0.0);
	printf("latency_p50_us=%u\nlatency_p99_us=%u\nlatency_p999_us=%u\n"
	    "latency_max_us=%u\nlatency_max_at_ms=%.1f\n", pct(lg, 50),
	    pct(lg, 99), pct(lg, 99.9), lg->lat_max,
	    lg->lat_max ? (double)(lg->lat_max_at - lg->t0) / 1e6 : 0.0);
	printf("last_error=%s\n", lg->last_error);
	if (series == NULL)
		return;
	if ((f = fopen(series, "w")) == NULL)
		die(series);
	fprintf(f, "# loadgen: window_ms=%d t0_ns=%lld conns=%d bytes=%zu\n"
	    "# t_ms ok refused reset eof timeout corrupt error lost_bytes "
	    "max_latency_us\n", lg->window_ms, lg->t0, lg->nclients,
	    lg->bytes);
	for (i = 0; i < last; i++) {
		fprintf(f, "%zu", i * (size_t)lg->window_ms);
		for (o = 0; o < NOUTCOMES; o++)
			fprintf(f, " %lu", lg->w[i].n[o]);
		fprintf(f, " %llu %u\n", lg->w[i].lost, lg->w[i].max_us);
	}
	if (fclose(f) != 0)
		die(series);
}

static int
number(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen [-f] [-c CONNS] [-n BYTES] [-d SECONDS] "
	    "[-b BACKOFF_MS] [-t TIMEOUT_MS] [-w WINDOW_MS] [-o SERIES] "
	    "HOST:PORT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct loadgen lg;
	struct event *tick, *sigint, *sigterm, *end = NULL;
	struct timeval tv;
	const char *series = NULL;
	int c, i, nbytes = 1024, seconds = 10;
	unsigned x = 2463534242U;

	memset(&lg, 0, sizeof(lg));
	lg.nclients = 64;
	lg.backoff_ms = 10;
	lg.timeout_ms = 5000;
	lg.window_ms = 10;
	while ((c = getopt(argc, argv, "fc:n:d:b:t:w:o:")) != -1) {
		switch (c) {
		case 'f': lg.orderly = 1; break;
		case 'c': if (number(optarg, 1, 60000, &lg.nclients)) usage(); break;
		case 'n': if (number(optarg, 1, 1 << 24, &nbytes)) usage(); break;
		case 'd': if (number(optarg, 0, 86400, &seconds)) usage(); break;
		case 'b': if (number(optarg, 0, 60000, &lg.backoff_ms)) usage(); break;
		case 't': if (number(optarg, 1, 600000, &lg.timeout_ms)) usage(); break;
		case 'w': if (number(optarg, 1, 60000, &lg.window_ms)) usage(); break;
		case 'o': series = optarg; break;
		default: usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	if (parse_addr(argv[optind], &lg.addr, &lg.addrlen) < 0) {
		fprintf(stderr, "loadgen: %s: not a numeric HOST:PORT\n",
		    argv[optind]);
		return 2;
	}
	lg.bytes = (size_t)nbytes;
	/* xorshift: bytes no echo of another request could match by luck. */
	if ((lg.pattern = malloc(lg.bytes + 256)) == NULL)
		die("malloc");
	for (i = 0; i < nbytes + 256; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		lg.pattern[i] = (unsigned char)(x >> 24);
	}
	lg.rbuflen = lg.bytes < 65536 ? lg.bytes + 1 : 65536;
	if ((lg.rbuf = malloc(lg.rbuflen)) == NULL ||
	    (lg.clients = calloc((size_t)lg.nclients, sizeof(*lg.clients))) ==
	    NULL)
		die("malloc");
	signal(SIGPIPE, SIG_IGN);
	if ((lg.base = event_base_new()) == NULL)
		die("event_base_new");
	tick = event_new(lg.base, -1, EV_PERSIST, on_tick, &lg);
	sigint = evsignal_new(lg.base, SIGINT, on_signal, &lg);
	sigterm = evsignal_new(lg.base, SIGTERM, on_signal, &lg);
	tv.tv_sec = lg.window_ms / 1000;
	tv.tv_usec = (lg.window_ms % 1000) * 1000;
	if (tick == NULL || sigint == NULL || sigterm == NULL ||
	    event_add(tick, &tv) < 0 || event_add(sigint, NULL) < 0 ||
	    event_add(sigterm, NULL) < 0)
		die("event_new");
	if (seconds > 0) {
		tv.tv_sec = seconds;
		tv.tv_usec = 0;
		if ((end = evtimer_new(lg.base, on_duration, &lg)) == NULL ||
		    evtimer_add(end, &tv) < 0)
			die("evtimer_new");
	}
	lg.t0 = now_ns();
	window_at(&lg, lg.t0);
	for (i = 0; i < lg.nclients; i++) {
		lg.clients[i].lg = &lg;
		lg.clients[i].fd = -1;
		start(&lg.clients[i]);
	}
	event_base_dispatch(lg.base);
	report(&lg, now_ns(), series);
	for (i = 0; i < lg.nclients; i++)
		if (lg.clients[i].ev != NULL)
			event_free(lg.clients[i].ev);
	event_free(tick);
	event_free(sigint);
	event_free(sigterm);
	if (end != NULL)
		event_free(end);
	event_base_free(lg.base);
	free(lg.clients);
	free(lg.rbuf);
	free(lg.pattern);
	free(lg.lat);
	free(lg.w);
	return 0;
}
