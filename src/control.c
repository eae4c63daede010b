/*
 * Controlling a daemon from outside through its pidfile: is it running,
 * signal it, stop it.  The lock says whether a daemon runs, not kill(pid,
 * 0): a pid in a file left behind may name, by now, any process.
 *
 * How the lock is probed.  Two ways tell from outside whether a file is
 * flock()ed:
 *  - /proc/locks lists the locks without taking any.  But the kernel hides
 *    from it, in any pid namespace but the first, every flock() whose
 *    taker is gone: it names a lock by the pid that took it, and a pid
 *    that no longer exists translates to none there.  A libdctx daemon's
 *    lock is taken by its launcher, which exits once the daemon is ready,
 *    so in a container /proc/locks says "not locked" of every running
 *    daemon (tried on Linux 6.18: the lock is listed from the host, and
 *    missing from inside `unshare --pid --fork --mount-proc`, even while
 *    its holder lives in that very namespace).
 *  - flock(LOCK_SH | LOCK_NB) on a descriptor of our own: refused exactly
 *    when somebody holds the exclusive lock, whatever the namespace, and
 *    on every file system that has flock().  When it is granted, we hold
 *    a shared lock for the moment it takes to drop it, and a daemon
 *    starting in that moment is refused its exclusive lock.
 * The second is used, and its one danger is taken away at the other end:
 * a starting daemon whose exclusive lock is refused asks for a shared one,
 * which is granted only when the holders are lookers like us, and then
 * tries again instead of saying "already running" (lock_now() in
 * pidfile.c).  So a probe, however long it is delayed while it holds its
 * shared lock, never makes a start fail.
 *
 * Whom to signal.  The pid is read from the locked file, and must name a
 * live process that holds the lock itself: one of its descriptors is the
 * pidfile, with the flock() on it (/proc/PID/fd and /proc/PID/fdinfo,
 * Linux 4.1).  Without that check, a process the daemon forked, which
 * shares the lock and may keep it after the daemon died, would make the
 * dead daemon's pid look like a running daemon's, and that pid, once
 * reused, names an unrelated process.  Where /proc is not mounted, a
 * live pid is taken as it is.  Where it is, but hides the process's
 * descriptors from us (another user's, one that is not dumpable seen
 * without CAP_SYS_PTRACE, one a sandbox protects), the pid is not taken:
 * the pidfile of a daemon that runs as pid 1 of a container, on a /run
 * or /tmp it shares with the host, says "1", and on the host that is
 * init, which some sandboxes hide even from root; taken as it is, it got
 * --stop's SIGTERM and then SIGKILL.
 *
 * The signal goes through a pidfd (pidfd_open(), Linux 5.3, and
 * pidfd_send_signal(), 5.1): the pidfd is opened first, the holder is
 * checked again, and the pidfd is seen still running after the check, so
 * the process checked is the process signaled, even if the daemon died
 * and its pid was reused in between.  Without pidfds (an older kernel:
 * ENOSYS), kill() follows the second check, and a pid reused in the
 * microseconds between them would be hit: the window the pidfd closes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dctx-internal.h"

/* How long dctx_pidfile_stop() waits for the lock after SIGKILL. */
#define KILL_WAIT_MS 5000

/* A daemon found behind a pidfile. */
struct target {
	int fd;         /* the pidfile, read only: the inode that was locked */
	struct stat st;
	pid_t pid;      /* its holder, or 0 */
	int pidfd;      /* a pidfd for pid, or -1 */
	int exited;     /* the pidfd said the process is gone */
	int hidden;     /* pid 0: the one in the file hides its descriptors */
};

static void
target_close(struct target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->fd = t->pidfd = -1;
	t->pid = 0;
	t->exited = 0;
	t->hidden = 0;
}

/*
 * Open path to look at it.  It is judged by lstat() before it is opened,
 * as the pidfile's writer does: what is not a regular file (a device, a
 * FIFO given by mistake) is never opened, and a symbolic link is no
 * pidfile of ours (the library never writes through one).  What is opened
 * must be the inode judged.  Returns 0, -ENOENT when there is no file, or
 * -errno.
 */
static int
open_pidfile(const char *path, struct target *t)
{
	struct stat lst;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (lstat(path, &lst) < 0)
			return -errno;
		if (S_ISLNK(lst.st_mode))
			return -ELOOP;
		if (!S_ISREG(lst.st_mode))
			return S_ISDIR(lst.st_mode) ? -EISDIR : -EINVAL;
		t->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY);
		if (t->fd < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (fstat(t->fd, &t->st) == 0 && t->st.st_dev == lst.st_dev &&
		    t->st.st_ino == lst.st_ino)
			return 0;
		close(t->fd);
		t->fd = -1;
	}
	return -EAGAIN;
}

/*
 * Whether somebody holds the exclusive lock on the open file: 1, 0, or
 * -errno.  A shared lock of ours is refused exactly then; when it is
 * granted, it goes at once (see the top of this file).
 */
static int
is_locked(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return 0;
	}
	return errno == EWOULDBLOCK ? 1 : -errno;
}

/* Whether an fdinfo file lists a flock() held through its descriptor. */
static int
fdinfo_has_flock(int dirfd, const char *name)
{
	char buf[1024];
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "lock:\t1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INO 0 EOF" */
	return strstr(buf, "lock:\t") != NULL && strstr(buf, " FLOCK ") != NULL;
}

/* EACCES or EPERM: /proc refuses us what it shows of that process. */
static int
denied(int err)
{
	return err == EACCES || err == EPERM;
}

/*
 * Whether process pid holds the lock on the file st describes: one of
 * its descriptors is that file and carries a flock().  1, 0, -ENOENT when
 * there is no /proc to tell, or -EPERM when /proc hides the process's
 * descriptors from us (the list may be shown, and the links and fdinfo
 * still refused: ptrace_may_access() guards those).  Stops at the first
 * such descriptor: a libdctx daemon opens its pidfile before its
 * sockets, so it comes early.
 */
static int
holds_lock(pid_t pid, const struct stat *st)
{
	char path[64];
	struct dirent *de;
	struct stat fst;
	int found = 0, infofd = -1, rc;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL) {
		if (denied(errno))
			return -EPERM;
		return errno == ENOENT && access("/proc/self/fd", F_OK) == 0 ?
		    0 : -ENOENT;
	}
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &fst, 0) < 0) {
			/* ENOENT: closed since, so not the one. */
			if (denied(errno))
				found = -EPERM;
			continue;
		}
		if (fst.st_dev != st->st_dev || fst.st_ino != st->st_ino)
			continue;
		if (infofd < 0) {
			snprintf(path, sizeof(path), "/proc/%ld/fdinfo",
			    (long)pid);
			infofd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (infofd < 0) {
				found = denied(errno) ? -EPERM : -ENOENT;
				break;
			}
		}
		if ((rc = fdinfo_has_flock(infofd, de->d_name)) != 0)
			found = rc > 0 ? 1 : -ENOENT;
	}
	closedir(d);
	if (infofd >= 0)
		close(infofd);
	return found;
}

/*
 * Whether pid is the live holder of t's lock: 1, 0, or -EPERM when that
 * cannot be checked, for /proc hides its descriptors.  Without /proc, a
 * live pid is taken as it is.
 */
static int
is_holder(pid_t pid, const struct target *t)
{
	int rc;

	if (pid <= 0 || !dctx__pid_is_live(pid))
		return 0;
	rc = holds_lock(pid, &t->st);
	return rc == -ENOENT ? 1 : rc;
}

/*
 * Look at the pidfile: its LSB status, and with DCTX_PIDFILE_RUNNING the
 * holder in t->pid (0 when the lock is held but no live holder is named).
 * t->fd stays open on the file for the caller (-1 when there is none).
 */
static int
look(const char *path, struct target *t)
{
	int rc;

	t->fd = t->pidfd = -1;
	t->pid = 0;
	t->exited = 0;
	t->hidden = 0;
	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	if ((rc = open_pidfile(path, t)) < 0)
		return rc == -ENOENT ? DCTX_PIDFILE_NOT_RUNNING : rc;
	if ((rc = is_locked(t->fd)) < 0) {
		target_close(t);
		return rc;
	}
	if (rc == 0) {
		/*
		 * Nobody holds it.  An empty file is what a daemon that could
		 * not remove its pidfile leaves at a clean stop (see
		 * dctx_set_pidfile()): not running.  A pid in it is a daemon
		 * that died without its cleanup.
		 */
		return dctx__pidfile_pid(t->fd, 0) > 0 ? DCTX_PIDFILE_DEAD :
		    DCTX_PIDFILE_NOT_RUNNING;
	}
	t->pid = dctx__pidfile_pid(t->fd, 1);
	if ((rc = is_holder(t->pid, t)) != 1) {
		t->hidden = rc == -EPERM;
		t->pid = 0;
	}
	return DCTX_PIDFILE_RUNNING;
}

/* A pidfd for pid; glibc wraps it only since 2.36, hence syscall(). */
static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Whether the process behind t's pidfd has exited (it is readable then). */
static int
pidfd_exited(struct target *t, int ms)
{
	struct pollfd p = { t->pidfd, POLLIN, 0 };

	if (!t->exited && poll(&p, 1, ms) == 1)
		t->exited = 1;
	return t->exited;
}

/*
 * Find the daemon to signal: 0 with t->pid and t->pidfd (or -1 where
 * pidfds are missing), the LSB status DCTX_PIDFILE_DEAD or
 * DCTX_PIDFILE_NOT_RUNNING when nobody holds the lock, -ESRCH when it is
 * held but no live holder is named, -EPERM when the pid named hides its
 * descriptors from us, or -errno.  The holder is checked
 * again once the pidfd is open (see the top of this file).
 */
static int
find_daemon(const char *path, struct target *t)
{
	int rc, tries;

	for (tries = 0; tries < 4; tries++) {
		if ((rc = look(path, t)) != DCTX_PIDFILE_RUNNING) {
			target_close(t);
			return rc;
		}
		if (t->pid == 0) {
			rc = t->hidden ? -EPERM : -ESRCH;
			target_close(t);
			return rc;
		}
		if ((t->pidfd = open_pidfd(t->pid)) < 0 && errno != ENOSYS) {
			rc = -errno;
			target_close(t);
			if (rc == -ESRCH)
				continue; /* gone since: look again */
			return rc;
		}
		if (is_locked(t->fd) == 1 && dctx__pidfile_pid(t->fd, 0) ==
		    t->pid && is_holder(t->pid, t) == 1 &&
		    (t->pidfd < 0 || !pidfd_exited(t, 0)))
			return 0;
		target_close(t);
	}
	return -EAGAIN;
}

/*
 * The daemon behind path, found as the control calls find it (the pid
 * named holds the lock itself), for upgrade-request.c: 0 with *pid and
 * *pidfd (-1 where pidfds are missing, or on failure), or what
 * find_daemon() says.
 */
int
dctx__pidfile_find(const char *path, pid_t *pid, int *pidfd)
{
	struct target t;
	int rc = find_daemon(path, &t);

	*pid = rc == 0 ? t.pid : 0;
	*pidfd = rc == 0 ? t.pidfd : -1;
	if (rc == 0)
		t.pidfd = -1;
	target_close(&t);
	return rc;
}

static int
send_signal(struct target *t, int signo)
{
#ifdef SYS_pidfd_send_signal
	if (t->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, t->pidfd, signo, NULL,
		    0) < 0 ? -errno : 0;
#endif
	return kill(t->pid, signo) < 0 ? -errno : 0;
}

/*
 * Wait up to ms for the lock on t's file to be released: 1 when it was,
 * 0 when the time ran out.  The pidfd, while its process lives, is the
 * clock: poll() returns as soon as the daemon exits, which is when its
 * lock goes (a child it forked may keep it longer).  Short steps
 * otherwise, growing to 50 ms.
 */
static int
wait_released(struct target *t, int ms)
{
	long long deadline = dctx__now_ms() + ms, left;
	int step = 1;
	struct timespec ts;

	for (;;) {
		if (is_locked(t->fd) == 0)
			return 1;
		if ((left = deadline - dctx__now_ms()) <= 0)
			return 0;
		if (step > left)
			step = (int)left;
		if (t->pidfd < 0 || pidfd_exited(t, step)) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)step * 1000000L;
			nanosleep(&ts, NULL);
		}
		if (step < 50)
			step *= 2;
	}
}

DCTX_EXPORT int
dctx_pidfile_status(const char *path, pid_t *pid)
{
	struct target t;
	int rc = look(path, &t);

	if (pid != NULL)
		*pid = rc == DCTX_PIDFILE_RUNNING ? t.pid : 0;
	target_close(&t);
	return rc;
}

DCTX_EXPORT int
dctx_pidfile_kill(const char *path, int signo, pid_t *pid)
{
	struct target t;
	int rc;

	if (pid != NULL)
		*pid = 0;
	if (signo < 0 || signo >= NSIG)
		return -EINVAL;
	if ((rc = find_daemon(path, &t)) != 0)
		return rc;
	if ((rc = send_signal(&t, signo)) == 0 && pid != NULL)
		*pid = t.pid;
	target_close(&t);
	return rc;
}

DCTX_EXPORT int
dctx_pidfile_stop(const char *path, int timeout_ms, pid_t *pid)
{
	struct target t;
	int rc;

	if (pid != NULL)
		*pid = 0;
	if (timeout_ms < 0)
		return -EINVAL;
	if ((rc = find_daemon(path, &t)) != 0)
		return rc == DCTX_PIDFILE_DEAD ? DCTX_STOP_STALE :
		    rc == DCTX_PIDFILE_NOT_RUNNING ? DCTX_STOP_NOT_RUNNING : rc;
	if (pid != NULL)
		*pid = t.pid;
	/*
	 * No SIGCONT after the SIGTERM, unlike systemd: a stopped daemon is
	 * taken for a hung one, as start-stop-daemon --retry takes it, and
	 * gets SIGKILL when the time is up.  ESRCH: it exited on its own
	 * since it was found; its lock is going or gone.
	 */
	if ((rc = send_signal(&t, SIGTERM)) < 0 && rc != -ESRCH)
		goto out;
	if (wait_released(&t, timeout_ms)) {
		rc = DCTX_STOP_TERMINATED;
		goto out;
	}
	if ((rc = send_signal(&t, SIGKILL)) < 0 && rc != -ESRCH)
		goto out;
	rc = wait_released(&t, KILL_WAIT_MS) ? DCTX_STOP_KILLED : -ETIMEDOUT;
out:
	target_close(&t);
	return rc;
}
