/*
 * dctx_log(): the daemon's logger, which writes where the daemon's messages
 * are read (libdaemon's daemon_log() is the model, with what it lacks):
 *
 *  - syslog, from dctx_open() on, when the program gave the daemon no
 *    stderr file: the stdio step points fd 2 at /dev/null, where a message
 *    is lost.  The socket is our own, not syslog(3)'s: it must be connected
 *    before the chroot hides /dev/log and kept through the close step,
 *    and glibc's, whose number nobody can know, would be closed by that
 *    step (and glibc would then send to whatever file took its number).
 *    daemon_log() opens and closes syslog around every message, which
 *    fails once the daemon is in a chroot.
 *  - the journal, when fd 2 is the stream systemd connected to it: the
 *    JOURNAL_STREAM variable names its device and inode, and only a match
 *    counts, since the variable is inherited by processes whose stderr is
 *    elsewhere (systemd.exec(5)).  Each line gets sd-daemon(3)'s "<N>"
 *    prefix, so that `journalctl -p err` sees the priority; journald adds
 *    the program's name itself.
 *  - otherwise stderr, "PROGRAM: message", one line each.
 *
 * The choice is made for every message, so that it follows fd 2 wherever
 * it is moved.  Nothing is cut at a fixed size: a message longer than the
 * stack buffer is formatted again into one of its own size.  Every line
 * is written with one system call, so that lines of messages logged at
 * once by several threads never mix, and no lock is taken: a process
 * forked while another thread logs cannot inherit a lock held for ever.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

#ifndef _PATH_LOG
#define _PATH_LOG "/dev/log"
#endif

/* A syslog line longer than the socket takes is sent cut to this. */
#define SYSLOG_CUT 4096

/*
 * The context libevent's messages go to: one context is open per process
 * (dctx_open()), and libevent's callback takes no argument.
 */
static struct dctx *event_ctx;

/*
 * Whether fd 2 is a file the program chose for the daemon, rather than the
 * /dev/null the stdio step puts there by default: a descriptor
 * (dctx_set_stderr()) or a path the library opens and reopens on reload
 * (dctx_set_stderr_path()).
 */
static int
has_stderr_file(const struct dctx *ctx)
{
	return ctx->stdio[2] >= 0 || ctx->stdio_path[2] != NULL;
}

void
dctx__log_init(struct dctx *ctx)
{
	ctx->log_fd = -1;
	ctx->log_level = LOG_INFO;
	ctx->log_facility = LOG_DAEMON;
}

DCTX_EXPORT int
dctx_set_log_level(struct dctx *ctx, int prio)
{
	if (prio < LOG_EMERG || prio > LOG_DEBUG)
		return dctx__fail(ctx, -EINVAL, "log level %d: not a priority "
		    "from LOG_EMERG (0) to LOG_DEBUG (7)", prio);
	ctx->log_level = prio;
	return 0;
}

DCTX_EXPORT int
dctx_set_log_facility(struct dctx *ctx, int facility)
{
	/* LOG_KERN (0) is the kernel's, and syslog(3) refuses it too. */
	if (facility <= 0 || (facility & ~LOG_FACMASK) != 0 ||
	    LOG_FAC(facility) >= LOG_NFACILITIES)
		return dctx__fail(ctx, -EINVAL, "log facility %d: not one of "
		    "LOG_USER to LOG_LOCAL7", facility);
	ctx->log_facility = facility;
	return 0;
}

/* A datagram socket connected to syslog's, or -errno. */
static int
syslog_connect(void)
{
	struct sockaddr_un sun;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Connect again (syslog restarted, or was not there at dctx_open()) and
 * put the new socket at the old number.  dup3() replaces it in one step:
 * another thread sending at the same time reaches the old socket or the
 * new one, never a file that took a freed number.  Inside a chroot this
 * works only where the jail has a /dev/log of its own.
 */
static int
syslog_reconnect(int fd)
{
	int fresh = syslog_connect(), rc = 0;

	if (fresh < 0)
		return fresh;
	if (dup3(fresh, fd, O_CLOEXEC) < 0)
		rc = -errno;
	close(fresh);
	return rc;
}

static void
from_libevent(int severity, const char *msg)
{
	int prio;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		prio = LOG_DEBUG;
		break;
	case EVENT_LOG_MSG:
		prio = LOG_INFO;
		break;
	case EVENT_LOG_WARN:
		prio = LOG_WARNING;
		break;
	default:
		prio = LOG_ERR;
		break;
	}
	dctx_log(event_ctx, prio, "libevent: %s", msg);
}

/*
 * dctx_open(), step 5, before the chroot.  A syslog that cannot be reached
 * now (none yet at boot) is not an error: the socket is made anyway, so
 * that its number is kept through the close step, and each message tries
 * to connect it.  tzset() reads the time zone while /etc is reachable, so
 * that the timestamps stay local in the jail.
 */
void
dctx__log_open(struct dctx *ctx)
{
	int fd;

	event_ctx = ctx;
	event_set_log_callback(from_libevent);
	if (has_stderr_file(ctx) || ctx->log_fd >= 0)
		return;
	tzset();
	if ((fd = syslog_connect()) < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ctx->log_fd = fd;
	ctx->log_pid = getpid();
}

/* dctx_free(), or a failed dctx_open(): libevent logs as it did before. */
void
dctx__log_close(struct dctx *ctx)
{
	if (event_ctx == ctx) {
		event_set_log_callback(NULL);
		event_ctx = NULL;
	}
	if (ctx->log_fd >= 0) {
		close(ctx->log_fd);
		ctx->log_fd = -1;
	}
}

/* Whether fd 2 is the journal's stream that JOURNAL_STREAM names. */
static int
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (env == NULL || *env < '0' || *env > '9')
		return 0;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (*end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (*end != '\0' || errno != 0 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* writev() all of it, through partial writes and signals. */
static void
write_all(int fd, struct iovec *iov, int n)
{
	ssize_t done;

	while (n > 0) {
		if ((done = writev(fd, iov, n)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (; n > 0 && (size_t)done >= iov->iov_len; iov++, n--)
			done -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
}

static void
stderr_line(int prio, int journal, char *line, size_t len)
{
	static char newline[] = "\n";
	char prefix[512];
	struct iovec iov[3];

	if (journal)
		snprintf(prefix, sizeof(prefix), "<%d>", prio);
	else
		snprintf(prefix, sizeof(prefix), "%s: ",
		    program_invocation_short_name);
	iov[0].iov_base = prefix;
	iov[0].iov_len = strlen(prefix);
	iov[1].iov_base = line;
	iov[1].iov_len = len;
	iov[2].iov_base = newline;
	iov[2].iov_len = 1;
	write_all(2, iov, 3);
}

/*
 * One line, one datagram, as syslog(3) sends it ("<PRI>Mmm dd hh:mm:ss
 * TAG[PID]: text", RFC 3164 without the host name, which a local syslog
 * adds): rsyslog, syslog-ng and journald all read that.  The pid is asked
 * for each time, so that a forked child's lines carry its own.  The
 * month is spelled here: strftime's depends on the locale.
 *
 * A forked child sends no timestamp, and the syslog daemon stamps the
 * line when it arrives, as RFC 3164 has a relay do (local daemons mostly
 * use their own time anyway).  localtime_r() takes glibc's time zone
 * lock, which a thread of the parent may have held at the fork: the
 * child would wait for it for ever.
 */
static void
syslog_line(const struct dctx *ctx, int prio, char *line, size_t len)
{
	static char dots[] = "...";
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char head[160];
	struct iovec iov[3];
	struct msghdr mh;
	struct tm tm;
	time_t now = time(NULL);
	pid_t pid = getpid();
	int cut = 0, again = 0;

	if (pid != ctx->log_pid || localtime_r(&now, &tm) == NULL)
		snprintf(head, sizeof(head), "<%d>%.64s[%ld]: ",
		    ctx->log_facility | prio, program_invocation_short_name,
		    (long)pid);
	else
		snprintf(head, sizeof(head), "<%d>%s %2d %02d:%02d:%02d "
		    "%.64s[%ld]: ", ctx->log_facility | prio,
		    months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, program_invocation_short_name, (long)pid);
	iov[0].iov_base = head;
	iov[0].iov_len = strlen(head);
	iov[1].iov_base = line;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	for (;;) {
		if (sendmsg(ctx->log_fd, &mh, MSG_NOSIGNAL) >= 0)
			return;
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE && !cut && len > SYSLOG_CUT) {
			/* Over the socket's limit (some 200 KiB). */
			cut = 1;
			iov[1].iov_len = SYSLOG_CUT;
			iov[2].iov_base = dots;
			iov[2].iov_len = 3;
			mh.msg_iovlen = 3;
			continue;
		}
		if ((errno == ECONNREFUSED || errno == ENOTCONN ||
		    errno == ECONNRESET) && !again++ &&
		    syslog_reconnect(ctx->log_fd) == 0)
			continue;
		return;
	}
}

/*
 * Each line of msg on its own: journald and syslog take one record per
 * line, and a "<N>" or "PROGRAM: " prefix only counts at a line's start.
 * Newlines at the end are dropped (a habit of printf users, not empty
 * lines they meant).
 */
static void
emit(const struct dctx *ctx, int prio, char *msg)
{
	char *line = msg, *end, *stop = msg + strlen(msg);
	int to_syslog = ctx != NULL && ctx->log_fd >= 0;
	int journal = !to_syslog && stderr_is_journal();

	while (stop > msg && stop[-1] == '\n')
		stop--;
	for (;;) {
		if ((end = memchr(line, '\n', (size_t)(stop - line))) == NULL)
			end = stop;
		if (to_syslog)
			syslog_line(ctx, prio, line, (size_t)(end - line));
		else
			stderr_line(prio, journal, line, (size_t)(end - line));
		if (end == stop)
			break;
		line = end + 1;
	}
}

/* Format and write; 0, or -errno when fmt cannot be expanded. */
static int __attribute__((format(printf, 3, 0)))
vlog(const struct dctx *ctx, int prio, const char *fmt, va_list ap)
{
	char small[1024], *msg = small;
	int saved = errno, n;
	va_list copy;

	if (prio > (ctx != NULL ? ctx->log_level : LOG_INFO))
		return 0;
	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0) {
		n = errno != 0 ? -errno : -EINVAL;
		errno = saved;
		return n;
	}
	if ((size_t)n >= sizeof(small)) {
		/* Never cut but where memory is short; then say so. */
		if ((msg = malloc((size_t)n + 1)) != NULL)
			vsnprintf(msg, (size_t)n + 1, fmt, ap);
		else
			memcpy((msg = small) + sizeof(small) - 4, "...", 4);
	}
	emit(ctx, prio, msg);
	if (msg != small)
		free(msg);
	errno = saved;
	return 0;
}

/* The library's own messages: their priority and format are right. */
void
dctx__log(const struct dctx *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vlog(ctx, prio, fmt, ap);
	va_end(ap);
}

DCTX_EXPORT int
dctx_vlog(struct dctx *ctx, int prio, const char *fmt, va_list ap)
{
	int rc;

	if (prio < LOG_EMERG || prio > LOG_DEBUG || fmt == NULL) {
		if (ctx == NULL)
			return -EINVAL;
		return dctx__fail(ctx, -EINVAL, "log: %s", fmt == NULL ?
		    "no format" : "priority not from LOG_EMERG to LOG_DEBUG");
	}
	if ((rc = vlog(ctx, prio, fmt, ap)) < 0 && ctx != NULL)
		return dctx__fail(ctx, rc, "log: format %.64s", fmt);
	return rc;
}

DCTX_EXPORT int
dctx_log(struct dctx *ctx, int prio, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = dctx_vlog(ctx, prio, fmt, ap);
	va_end(ap);
	return rc;
}
