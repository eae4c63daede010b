/*
 * Asking a running daemon for an upgrade and hearing the outcome: what
 * `echod --upgrade --pidfile P` does, for any program.  The daemon is
 * found through its pidfile's lock (dctx_pidfile_holder()), signalled
 * through a pidfd when there is one (a pid reused meanwhile is never
 * hit), and heard through the status file it keeps beside the pidfile
 * (upgrade.c): one record, replaced whole at each step of an attempt,
 *
 *	PID START SEQ STATE NEW
 *	MESSAGE
 *
 * PID the daemon, START its start time (/proc/PID/stat, field 22: a pid
 * reused by another daemon never passes for it), SEQ its attempt, counted
 * from 1, STATE "starting", "ready" or "failed", NEW the new process, and
 * MESSAGE, for a failure, the new process's own words (NEW 0: none was
 * started, and MESSAGE says why the daemon refused).  An attempt newer
 * than the one the file showed before the signal is ours: it began after
 * we read, so it runs the binary on disk when we asked.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dctx-internal.h"
#include "upgrade-internal.h"

/* How long a daemon may take to start an attempt once signalled. */
#define START_SEEN_MS 5000
#define TICK_MS 10

/* A decimal number of at most 19 digits at *p; the end in *end. */
static int
number(const char *p, const char *lim, unsigned long long *out,
    const char **end)
{
	unsigned long long v = 0;
	const char *q = p;

	while (q < lim && *q >= '0' && *q <= '9' && q - p < 19)
		v = v * 10 + (unsigned long long)(*q++ - '0');
	if (q == p || (q < lim && *q >= '0' && *q <= '9'))
		return -EINVAL;
	*out = v;
	*end = q;
	return 0;
}

/*
 * Parse a record (see the top), from outside input: the file lies in a
 * directory others may write, so nothing in it is trusted beyond its
 * form.  Pure, for a fuzz target.  0, or -EINVAL.
 */
int
dctx__upgrade_parse_status(const char *buf, size_t len,
    struct dctx__upgrade_status *st)
{
	static const char *const words[] = { [DCTX__UP_STARTING] = "starting",
	    [DCTX__UP_READY] = "ready", [DCTX__UP_FAILED] = "failed" };
	const char *p = buf, *lim = buf + len, *nl;
	unsigned long long pid, start, seq, new_pid;
	size_t w, n;
	int state = 0;

	if (number(p, lim, &pid, &p) < 0 || p >= lim || *p++ != ' ' ||
	    number(p, lim, &start, &p) < 0 || p >= lim || *p++ != ' ' ||
	    number(p, lim, &seq, &p) < 0 || p >= lim || *p++ != ' ')
		return -EINVAL;
	for (w = 0; w < sizeof(words) / sizeof(words[0]) && state == 0; w++) {
		if (words[w] == NULL)
			continue;
		n = strlen(words[w]);
		if ((size_t)(lim - p) > n && memcmp(p, words[w], n) == 0 &&
		    p[n] == ' ') {
			state = (int)w;
			p += n + 1;
		}
	}
	if (state == 0 || number(p, lim, &new_pid, &p) < 0 || p >= lim ||
	    *p++ != '\n' || pid == 0 || pid > INT_MAX || new_pid > INT_MAX ||
	    seq == 0)
		return -EINVAL;
	st->old_pid = (pid_t)pid;
	st->start = start;
	st->seq = (unsigned long)seq;
	st->state = state;
	st->new_pid = (pid_t)new_pid;
	nl = memchr(p, '\n', (size_t)(lim - p));
	n = (size_t)((nl != NULL ? nl : lim) - p);
	if (n >= sizeof(st->msg))
		n = sizeof(st->msg) - 1;
	memcpy(st->msg, p, n);
	st->msg[n] = '\0';
	return 0;
}

/*
 * A process's start time in clock ticks since boot (/proc/PID/stat,
 * field 22): with the pid, it names one process for good.  0 when gone.
 */
unsigned long long
dctx__upgrade_start_time(pid_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* The command may hold spaces and ')': count from the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/*
 * The record in path, if it is one of pid's (started at start), in a
 * file only the daemon could have written: its own user's (uid, -1 when
 * unknown: then ours), or root's.  A pidfile may lie in a directory
 * others can write (/tmp): a file another user put at the name first
 * stays theirs (the sticky bit keeps the daemon from replacing it), and
 * would say whatever they like: "ready" with a pid of their choosing, a
 * failure in words of theirs, "starting" for ever.
 */
static int
read_status(const char *path, pid_t pid, unsigned long long start,
    long uid, struct dctx__upgrade_status *st)
{
	char buf[64 + sizeof(st->msg)];
	struct stat fst;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    (fst.st_uid != 0 && (long)fst.st_uid != (uid >= 0 ? uid :
	    (long)geteuid()))) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || dctx__upgrade_parse_status(buf, (size_t)n, st) < 0 ||
	    st->old_pid != pid || st->start != start)
		return -ENOENT;
	return 0;
}

/* Whether pid catches signo (SigCgt in /proc/PID/status); -1: unknown. */
static int
catches(pid_t pid, int signo)
{
	char path[32], line[256];
	unsigned long long mask;
	int found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "SigCgt:", 7) == 0) {
			mask = strtoull(line + 7, NULL, 16);
			found = signo <= 64 && (mask >> (signo - 1)) & 1;
			break;
		}
	fclose(f);
	return found;
}

/*
 * Whether pid is stopped (/proc/PID/stat: T, by SIGSTOP or a job
 * control signal; t, by a debugger).  A stopped daemon keeps our signal
 * pending: it would begin the upgrade whenever it continues, long after
 * we gave up waiting and said it was not done.
 */
static int
stopped(pid_t pid)
{
	char path[32], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' &&
	    (paren[2] == 'T' || paren[2] == 't');
}

/* The effective uid of pid (/proc/PID/status), or -1. */
static long
uid_of(pid_t pid)
{
	char path[32], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Uid:", 4) == 0) {
			char *p = line + 4;
			strtol(p, &p, 10);      /* the real uid */
			uid = strtol(p, NULL, 10);
			break;
		}
	fclose(f);
	return uid;
}

/*
 * A daemon that dropped privileges may not create files beside its
 * pidfile (root's /run): make the status file for it, its own (root
 * may), and it writes it in place.  Nothing where we may not, where a
 * file is there already, or where the daemon needs no help: a directory
 * its user owns, or one a group or everyone may write, where it makes
 * the file itself.  A file given to another user is made only through
 * the very directory that holds the pidfile the daemon has locked, and
 * only one nobody but its owner (root) can change: a directory of the
 * path swapped for a link meanwhile (by that user) must not have us
 * create a file of theirs anywhere else.
 */
static void
status_make(const char *pidfile, pid_t pid, long uid)
{
	char *a = NULL, *b = NULL, name[NAME_MAX + 1];
	struct stat dst, pst;
	int dirfd = -1, pf = -1, fd;

	if (uid < 0 || uid == (long)geteuid() ||
	    (a = strdup(pidfile)) == NULL || (b = strdup(pidfile)) == NULL)
		goto out;
	if ((size_t)snprintf(name, sizeof(name), "%s" DCTX__UP_STATUS_SUFFIX,
	    basename(b)) >= sizeof(name))
		goto out;
	dirfd = open(dirname(a), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &dst) < 0 || (long)dst.st_uid == uid ||
	    (dst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		goto out;
	pf = openat(dirfd, basename(b), O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (pf < 0 || fstat(pf, &pst) < 0 || !S_ISREG(pst.st_mode) ||
	    flock(pf, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK ||
	    dctx__pidfile_pid(pf, 0) != pid)
		goto out;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (fchown(fd, (uid_t)uid, (gid_t)-1) < 0)
		unlinkat(dirfd, name, 0);
	close(fd);
out:
	if (pf >= 0)
		close(pf);
	if (dirfd >= 0)
		close(dirfd);
	free(a);
	free(b);
}

static int
say(char *msg, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
say(char *msg, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return code;
}

/* Signal the daemon through its pidfd where there is one. */
static int
send_signal(pid_t pid, int pidfd, int signo)
{
#ifdef SYS_pidfd_send_signal
	if (pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0) < 0 ?
		    -errno : 0;
#else
	(void)pidfd;
#endif
	return kill(pid, signo) < 0 ? -errno : 0;
}

static int
gone(pid_t pid, int pidfd)
{
	struct pollfd p = { pidfd, POLLIN, 0 };

	if (pidfd >= 0)
		return poll(&p, 1, 0) == 1;
	return !dctx__pid_is_live(pid);
}

/* Wait a tick, waking at once if the daemon ends. */
static void
tick(int pidfd)
{
	struct pollfd p = { pidfd, POLLIN, 0 };

	if (pidfd >= 0)
		poll(&p, 1, TICK_MS);
	else
		usleep(TICK_MS * 1000);
}

static int
request(const char *pidfile, const char *status, int signo, pid_t old,
    int pidfd, pid_t *new_pid, char *msg, size_t len)
{
	struct dctx__upgrade_status st;
	unsigned long long start = dctx__upgrade_start_time(old);
	unsigned long base = 0;
	long long sent;
	long uid = uid_of(old);
	int rc, seen = 0, ended = 0;

	if (read_status(status, old, start, uid, &st) == 0) {
		if (st.state == DCTX__UP_STARTING)
			return say(msg, len, -EALREADY, "pid %ld is upgrading "
			    "already (its new process is pid %ld): this "
			    "request is refused", (long)old, (long)st.new_pid);
		base = st.seq;
	}
	/* Unmapped, the signal's default action would end the daemon. */
	if (catches(old, signo) == 0)
		return say(msg, len, -ENOTSUP, "pid %ld does not catch signal "
		    "%d (%s): not sent, it would not upgrade and might die of "
		    "it", (long)old, signo, strsignal(signo));
	if (stopped(old))
		return say(msg, len, -EAGAIN, "pid %ld is stopped (SIGSTOP, or "
		    "a debugger): not signalled, since it would upgrade only "
		    "once continued, unheard; continue it (kill -CONT %ld) "
		    "and ask again", (long)old, (long)old);
	status_make(pidfile, old, uid);
	if ((rc = send_signal(old, pidfd, signo)) < 0)
		return say(msg, len, rc, "signal %d to pid %ld: %s", signo,
		    (long)old, strerror(-rc));
	sent = dctx__now_ms();
	for (;;) {
		if (read_status(status, old, start, uid, &st) == 0 &&
		    st.seq > base) {
			seen = 1;
			if (st.state == DCTX__UP_READY) {
				if (new_pid != NULL)
					*new_pid = st.new_pid;
				return say(msg, len, 0, "pid %ld handed over "
				    "to pid %ld", (long)old, (long)st.new_pid);
			}
			/* No new process: the daemon refused to begin. */
			if (st.state == DCTX__UP_FAILED && st.new_pid == 0)
				return say(msg, len, -ECANCELED, "pid %ld: %s",
				    (long)old, st.msg);
			if (st.state == DCTX__UP_FAILED)
				return say(msg, len, DCTX_EUPGRADE, "%s",
				    st.msg);
		}
		/* Gone: one more look, for a record written just before. */
		if (ended)
			return say(msg, len, DCTX_EDAEMON, "pid %ld ended during "
			    "the upgrade, before its outcome", (long)old);
		ended = gone(old, pidfd);
		if (!seen && !ended && dctx__now_ms() - sent > START_SEEN_MS)
			return say(msg, len, -ETIMEDOUT, "pid %ld wrote no "
			    "upgrade in %s within %d ms of signal %d (%s); "
			    "its log says why (the signal not mapped to "
			    "dctx_upgrade(), a chroot, no right to write "
			    "there)", (long)old, status, START_SEEN_MS, signo,
			    strsignal(signo));
		if (!ended)
			tick(pidfd);
	}
}

DCTX_EXPORT int
dctx_upgrade_request(const char *pidfile, int signo, pid_t *new_pid,
    char *msg, size_t len)
{
	char status[PATH_MAX + sizeof(DCTX__UP_STATUS_SUFFIX)], none[1];
	pid_t old;
	int rc, pidfd;

	if (msg == NULL || len == 0) {
		msg = none;
		len = sizeof(none);
	}
	msg[0] = '\0';
	if (new_pid != NULL)
		*new_pid = 0;
	if (pidfile == NULL || pidfile[0] == '\0')
		return say(msg, len, -EINVAL, "upgrade request: no pidfile");
	if (!dctx__signal_valid(signo))
		return say(msg, len, -EINVAL, "upgrade request: signal %d",
		    signo);
	if ((size_t)snprintf(status, sizeof(status), "%s%s", pidfile,
	    DCTX__UP_STATUS_SUFFIX) >= sizeof(status))
		return say(msg, len, -ENAMETOOLONG, "pidfile %s: %s", pidfile,
		    strerror(ENAMETOOLONG));
	/*
	 * The daemon as dctx_pidfile_kill() finds it: the pid the locked
	 * file names must hold the lock itself, and is signalled through a
	 * pidfd opened before that was checked.  A pid that merely lives is
	 * not enough: the pidfile may lie where others can write (/tmp), and
	 * anyone may lock a file naming any process that catches signo; or a
	 * child of a dead daemon keeps the lock under its reused pid.
	 */
	rc = dctx__pidfile_find(pidfile, &old, &pidfd);
	if (rc == DCTX_PIDFILE_DEAD || rc == DCTX_PIDFILE_NOT_RUNNING ||
	    rc == -ENOENT)
		return say(msg, len, -ESRCH, "pidfile %s: no daemon holds it",
		    pidfile);
	if (rc == -ESRCH)
		return say(msg, len, DCTX_ERUNNING, "pidfile %s: locked, but it "
		    "names no live process that holds the lock: nothing is "
		    "signalled", pidfile);
	if (rc == -EPERM)
		return say(msg, len, rc, "pidfile %s: the process it names "
		    "hides its descriptors from us, so that it cannot be told "
		    "to hold the lock: nothing is signalled", pidfile);
	if (rc == -EAGAIN)
		return say(msg, len, rc, "pidfile %s changed hands while it "
		    "was read: ask again", pidfile);
	if (rc != 0)
		return say(msg, len, rc < 0 ? rc : -EIO, "pidfile %s: %s",
		    pidfile, rc < 0 ? dctx_strerror(rc) : "unreadable");
	rc = request(pidfile, status, signo, old, pidfd, new_pid, msg, len);
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}
