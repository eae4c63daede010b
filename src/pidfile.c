/*
 * The pidfile, done as FreeBSD's pidfile(3) does it: open without
 * truncating, take a non-blocking exclusive flock(), check that the path
 * still names the locked inode, and only then write.  A file found at the
 * path is taken over only when it is ours alone (one link, our owner).
 * The descriptor stays open for the daemon's life, so the kernel drops the
 * lock when the daemon dies and a file left behind is harmless.  flock()
 * belongs to the open file description, so the lock survives fork (POSIX
 * record locks would not).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dctx-internal.h"

struct dctx_pidfile {
	int fd;
	int dirfd;   /* to remove the file after a chdir; -1: cannot remove */
	char *name;  /* the last component of the path, inside dirfd */
	char *path;  /* as given, for messages */
	pid_t owner; /* only this process removes the file */
	int inherited; /* handed over by an upgrade: see dctx__pidfile_inherit() */
};

/* Split path into its directory (opened) and its last component. */
static int
open_parent(const char *path, int *dirfd, char **name)
{
	char *a = strdup(path), *b = strdup(path);
	int rc = 0;

	if (a == NULL || b == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	*dirfd = open(dirname(a), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0) {
		rc = -errno;
		goto out;
	}
	*name = strdup(basename(b));
	if (*name == NULL) {
		close(*dirfd);
		rc = -ENOMEM;
	}
out:
	free(a);
	free(b);
	return rc;
}

/* The kernel's pid_max: every pid is below it. */
static long
pid_max(void)
{
	char buf[24];
	long max = INT_MAX;
	int fd = open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return max;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		max = strtol(buf, NULL, 10);
	}
	return max > 0 ? max : INT_MAX;
}

/*
 * Parse the pid a pidfile holds, from the len bytes at buf: digits, then a
 * newline (bytes after it are a longer pid being replaced, see
 * dctx__pidfile_write()) or the end of the file.  at_end says whether the
 * file ends where buf does: a reader's buffer that its read filled may
 * stop in the middle of the number, and "000...0123456" cut after 31
 * bytes reads as 1, so digits that run to the end of a buffer that is not
 * the file's are no pid.  What does not fit an int is no pid either, and
 * must not be cut down to one (4294967297 as a pid_t is 1), since the
 * tools that read it send signals to it.  Pure, for the fuzz target.
 * Returns 0 with *pid above 0, or -EINVAL.
 */
int
dctx__parse_pid(const char *buf, size_t len, int at_end, pid_t *pid)
{
	long long value = 0; /* INT_MAX * 10 + 9 fits, even where long is 32 bits */
	size_t i;

	for (i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		value = value * 10 + (buf[i] - '0');
		if (value > INT_MAX)
			return -EINVAL;
	}
	if (i == 0 || (i < len && buf[i] != '\n') || (i == len && !at_end) ||
	    value <= 0)
		return -EINVAL;
	*pid = (pid_t)value;
	return 0;
}

/*
 * Read the pid a pidfile holds; 0 when it holds none (yet), or one at or
 * above the kernel's pid_max, which no process can have.  A read that
 * fills the buffer has not seen the end of the file: the parser is told.
 */
static pid_t
read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	pid_t pid;

	if (n <= 0 || dctx__parse_pid(buf, (size_t)n,
	    (size_t)n < sizeof(buf), &pid) < 0 || pid >= pid_max())
		return 0;
	return pid;
}

/*
 * Whether pid names a live process.  A pidfile's lock can outlive the pid
 * written in it: a process the daemon forked shares the lock (flock()
 * belongs to the open file description) and keeps it after the daemon
 * died.  A zombie counts as gone: it has closed its files already, and
 * is no daemon to signal.  EPERM is a live process of another user;
 * where /proc cannot be read, what kill() says stands.
 */
int
dctx__pid_is_live(pid_t pid)
{
	char path[32], buf[512], *paren;
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno != ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "PID (COMM) S ...": COMM may hold ")", the state follows the last. */
	paren = strrchr(buf, ')');
	return paren == NULL || paren[1] != ' ' ||
	    (paren[2] != 'Z' && paren[2] != 'X');
}

/*
 * A path of PATH_MAX bytes or more can still be made, through the opened
 * directory and openat(), but no reader can open it by its name: every
 * tool that looks for the daemon would fail with ENAMETOOLONG.  Refuse it
 * before anything is made; err says which path (shortened in the middle)
 * and why.
 */
int
dctx__pidfile_check_path(const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path);

	if (len < PATH_MAX)
		return 0;
	dctx__errfmt(err, errlen, strerror(ENAMETOOLONG),
	    "pidfile %s: %zu bytes, more than PATH_MAX - 1 (%d)", path, len,
	    PATH_MAX - 1);
	return -ENAMETOOLONG;
}

/*
 * The holder of a lock may not have written its pid yet: it locks before it
 * forks.  Wait for it a little, as FreeBSD's pidfile_open() does.
 */
static pid_t
read_holder_pid(int fd)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	pid_t pid = 0;
	int i;

	for (i = 0; i < 100 && (pid = read_pid(fd)) == 0; i++)
		nanosleep(&ts, NULL);
	return pid;
}

/*
 * Take the lock without waiting, but do not give up at the first refusal: a
 * status check (dctx_pidfile_holder()) holds a shared lock for a moment,
 * and must not make a start fail.  A running daemon holds it for good.
 */
static int
lock_now(int fd)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	int i;

	for (i = 0; i < 10; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return DCTX_ERUNNING;
}

/*
 * Whether a file found at the path may be taken over.  O_NOFOLLOW stops
 * only a final symbolic link: a hard link to another file (a root-only
 * one, say) would have that file emptied and given our pid, and a file
 * another user made beforehand stays theirs to rewrite, so that they
 * choose the pid a "stop" script signals.  A file of ours that a group or
 * everyone may write is the same danger: its mode is kept on takeover, so
 * it would stay open to them for the daemon's life.  All are refused
 * before the file is locked or changed in any way; why says which it was.
 */
static int
may_take_over(const struct stat *st, char *why, size_t whylen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	if (st->st_nlink > 1) {
		snprintf(why, whylen, "has %ju hard links",
		    (uintmax_t)st->st_nlink);
		return -EMLINK;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, whylen, "owned by uid %ju, not by us",
		    (uintmax_t)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen, "writable by group or others (mode 0%o)",
		    (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/*
 * Open name in dirfd for writing, never through a symbolic link: create
 * it (*created = 1) or, where a file is there already, open that one,
 * with *st its fstat().  O_EXCL tells the two cases apart, so that only a
 * file of our own making is given our mode.  A file found is judged by
 * its lstat() before it is opened: opening a device given by mistake (a
 * watchdog, a tape) can have effects, and a FIFO would gain a writer.
 * What is opened must then be the inode that was judged: a name removed
 * or replaced in between is tried again.
 */
static int
open_file(int dirfd, const char *name, int *created, struct stat *st,
    char *why, size_t whylen)
{
	int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	struct stat lst;
	int fd, tries, rc;

	for (tries = 0; tries < 8; tries++) {
		if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			fd = openat(dirfd, name, flags | O_CREAT | O_EXCL, 0644);
			if (fd < 0 && errno == EEXIST)
				continue;
			*created = 1;
		} else {
			if (S_ISLNK(lst.st_mode))
				return -ELOOP;
			if ((rc = may_take_over(&lst, why, whylen)) < 0)
				return rc;
			fd = openat(dirfd, name, flags);
			if (fd < 0 && errno == ENOENT)
				continue;
			*created = 0;
		}
		if (fd < 0)
			return -errno;
		if (fstat(fd, st) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (*created || (st->st_dev == lst.st_dev &&
		    st->st_ino == lst.st_ino))
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/*
 * Open and lock name in dirfd.  *created says whether we made the file;
 * on failure, why may say more than the code does (a holder's pid, why a
 * file was refused).
 */
static int
open_locked(int dirfd, const char *name, int *out, int *created, char *why,
    size_t whylen)
{
	struct stat fst, pst;
	pid_t holder;
	int fd, tries, rc;

	for (tries = 0; tries < 8; tries++) {
		if ((fd = open_file(dirfd, name, created, &fst, why,
		    whylen)) < 0)
			return fd;
		/* The same inode, but its owner or mode may have changed. */
		if (!*created && (rc = may_take_over(&fst, why, whylen)) < 0) {
			close(fd);
			return rc;
		}
		if ((rc = lock_now(fd)) < 0) {
			/*
			 * Name the holder only if the pid is alive: a dead
			 * daemon's child may hold the lock under its pid,
			 * and an operator told that pid would look for it.
			 */
			if (rc == DCTX_ERUNNING) {
				holder = read_holder_pid(fd);
				if (holder > 0 && dctx__pid_is_live(holder))
					snprintf(why, whylen, "already running "
					    "(pid %ld)", (long)holder);
				else
					snprintf(why, whylen, "already running "
					    "(locked, no live pid in it)");
			}
			close(fd);
			return rc;
		}
		/*
		 * The previous holder may have removed the file between our
		 * open and our lock; then we hold a lock on an orphan inode.
		 */
		if (fstatat(dirfd, name, &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino) {
			/*
			 * A stale file names a dead daemon, or by now an
			 * unrelated process: empty it at once, as FreeBSD
			 * does, so that nobody reads that pid while we start.
			 * Its size is the one after the lock (pst is the
			 * same inode): a holder may have written its pid
			 * and died between our fstat and our lock.
			 */
			if (pst.st_size > 0 && ftruncate(fd, 0) < 0) {
				rc = -errno;
				close(fd);
				return rc;
			}
			*out = fd;
			return 0;
		}
		close(fd);
	}
	return -EAGAIN;
}

int
dctx__pidfile_open(struct dctx_pidfile **out, const char *path,
    char *err, size_t errlen)
{
	struct dctx_pidfile *pf;
	char why[64] = "";
	int rc, created = 0;

	if ((rc = dctx__pidfile_check_path(path, err, errlen)) < 0)
		return rc;
	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return -ENOMEM;
	pf->fd = pf->dirfd = -1;
	if ((pf->path = strdup(path)) == NULL) {
		free(pf);
		return -ENOMEM;
	}
	if ((rc = open_parent(path, &pf->dirfd, &pf->name)) < 0) {
		dctx__errfmt(err, errlen, dctx_strerror(rc), "pidfile %s", path);
		goto fail;
	}
	rc = open_locked(pf->dirfd, pf->name, &pf->fd, &created, why,
	    sizeof(why));
	if (rc == -ELOOP && why[0] == '\0')
		snprintf(why, sizeof(why), "is a symbolic link");
	if (rc < 0) {
		dctx__errfmt(err, errlen, why[0] ? why : dctx_strerror(rc),
		    "pidfile %s", path);
		goto fail_dir;
	}
	/*
	 * 0644 whatever the umask: others read it to find the daemon.  Only
	 * a file we created: one that was there keeps the mode it was given.
	 */
	if (created && fchmod(pf->fd, 0644) < 0) {
		rc = -errno;
		dctx__errfmt(err, errlen, strerror(-rc), "pidfile %s: fchmod",
		    path);
		goto fail_locked;
	}
	pf->owner = getpid();
	*out = pf;
	return 0;

fail_locked:
	/* The file is ours and empty: leave nothing behind. */
	unlinkat(pf->dirfd, pf->name, 0);
	close(pf->fd);
fail_dir:
	close(pf->dirfd);
fail:
	free(pf->name);
	free(pf->path);
	free(pf);
	return rc;
}

int
dctx__pidfile_write(struct dctx_pidfile *pf, char *err, size_t errlen)
{
	pf->owner = getpid();
	return dctx__pidfile_write_pid(pf, getpid(), err, errlen);
}

/*
 * Write pid, which may be another process's: the old daemon of an upgrade
 * writes the new one's (upgrade.c).  The owner does not change.
 */
int
dctx__pidfile_write_pid(struct dctx_pidfile *pf, pid_t pid, char *err,
    size_t errlen)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	/*
	 * Write, then cut to length.  Truncating to 0 first marks the file,
	 * on ext4 (auto_da_alloc), as one being replaced, and its last close
	 * at exit then waits for a disk write: 0.6 ms of every stop.  A
	 * reader meanwhile sees our pid followed by stale bytes after the
	 * newline, which read_pid() ignores.
	 */
	if (pwrite(pf->fd, buf, (size_t)n, 0) != n || ftruncate(pf->fd, n) < 0) {
		int rc = errno ? -errno : -EIO;
		dctx__errfmt(err, errlen, strerror(-rc), "pidfile %s: write",
		    pf->path);
		return rc;
	}
	return 0;
}

/* Whether name in dirfd is still the file we hold open. */
static int
names_our_file(const struct dctx_pidfile *pf)
{
	struct stat fst, pst;

	return fstat(pf->fd, &fst) == 0 &&
	    fstatat(pf->dirfd, pf->name, &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino;
}

/*
 * Just after a chroot.  An open directory outside the jail is a way out of
 * it (openat(dirfd, "../..")), so the one we kept goes.  Where the pidfile
 * lies inside the jail, its directory is opened again from inside; where
 * not, the file can only be emptied at exit, not removed.
 */
void
dctx__pidfile_enter_chroot(struct dctx_pidfile *pf, const char *root)
{
	size_t rlen = strlen(root);
	char *inner, *slash;

	close(pf->dirfd);
	pf->dirfd = -1;
	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	if (pf->path[0] != '/' || strncmp(pf->path, root, rlen) != 0 ||
	    pf->path[rlen] != '/')
		return;
	if ((inner = strdup(pf->path + rlen)) == NULL)
		return;
	slash = strrchr(inner, '/');
	if (slash == inner)
		slash[1] = '\0';
	else
		*slash = '\0';
	pf->dirfd = open(inner, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(inner);
	/* A symlink or ".." can make the same name mean another directory
	 * inside the jail: only keep it if it holds our very file. */
	if (pf->dirfd >= 0 && !names_our_file(pf)) {
		close(pf->dirfd);
		pf->dirfd = -1;
	}
}

/* Whether the ids the daemon drops to may write into a directory. */
static int
may_write(const struct stat *st, uid_t uid, gid_t gid, const gid_t *groups,
    int ngroups)
{
	int i, member = st->st_gid == gid;

	for (i = 0; i < ngroups && !member; i++)
		member = groups[i] == st->st_gid;
	if (st->st_uid == uid)
		return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
	if (member)
		return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
	return (st->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

/*
 * Before the privilege drop: will the daemon be able to remove its
 * pidfile at exit?  Not from a directory its new ids cannot write (root's
 * /run), nor from a sticky one (/tmp) where neither the directory nor the
 * file (made by us, before the drop) is its own.  Then release() can only
 * empty the file, and tools that read it find an empty file where they
 * expected none: start-stop-daemon --status says 4, "unable to
 * determine".  Nothing fails; the operator is told once, with the usual
 * remedy.  Access control lists are not read: a directory they open to
 * the user still draws the warning, which then says too much, not too
 * little.
 */
void
dctx__pidfile_check_removable(const struct dctx_pidfile *pf,
    const struct dctx *ctx)
{
	uid_t uid = ctx->run_uid != (uid_t)-1 ? ctx->run_uid : geteuid();
	gid_t gid = ctx->run_gid != (gid_t)-1 ? ctx->run_gid : getegid();
	struct stat dst, fst;
	char *copy, who[96];
	int ok;

	/* uid 0 keeps its capabilities, CAP_DAC_OVERRIDE among them. */
	if (uid == 0 || pf->dirfd < 0 || fstat(pf->dirfd, &dst) < 0 ||
	    fstat(pf->fd, &fst) < 0)
		return;
	ok = may_write(&dst, uid, gid, ctx->groups, ctx->ngroups);
	if (ok && (dst.st_mode & S_ISVTX) && dst.st_uid != uid &&
	    fst.st_uid != uid)
		ok = 0;
	if (ok || (copy = strdup(pf->path)) == NULL)
		return;
	if (ctx->user != NULL)
		snprintf(who, sizeof(who), "user %s (uid %ju)", ctx->user,
		    (uintmax_t)uid);
	else
		snprintf(who, sizeof(who), "uid %ju", (uintmax_t)uid);
	fprintf(stderr, "%s: warning: pidfile %s: %s cannot remove files "
	    "from %s, so the pidfile will be emptied at exit, not removed; "
	    "use a directory the daemon's user owns (install -d -o %s "
	    "/run/NAME before the start)\n",
	    program_invocation_short_name, pf->path, who, dirname(copy),
	    ctx->user != NULL ? ctx->user : "USER");
	free(copy);
}

/*
 * The new process of an upgrade: take the pidfile the old daemon locked,
 * through the descriptor it inherited (fd), instead of opening the path,
 * which the old one's lock would refuse.  flock() belongs to the open
 * file description, which both processes now share, so the lock is held
 * without a gap whichever of them exits first.  fd must be the very file
 * path names (same device and inode): -ESTALE when not, and the caller
 * opens path as usual.  The file stays the old daemon's until it writes
 * our pid in it (the hand-over): only then does our release remove it.
 */
int
dctx__pidfile_inherit(struct dctx_pidfile **out, const char *path, int fd,
    char *err, size_t errlen)
{
	struct dctx_pidfile *pf;
	struct stat fst, pst;
	int rc;

	if ((rc = dctx__pidfile_check_path(path, err, errlen)) < 0)
		return rc;
	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return -ENOMEM;
	pf->fd = pf->dirfd = -1;
	if ((pf->path = strdup(path)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = open_parent(path, &pf->dirfd, &pf->name)) < 0) {
		dctx__errfmt(err, errlen, dctx_strerror(rc), "pidfile %s", path);
		goto fail;
	}
	if (fstat(fd, &fst) < 0 || fstatat(pf->dirfd, pf->name, &pst,
	    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(pst.st_mode) ||
	    fst.st_dev != pst.st_dev || fst.st_ino != pst.st_ino) {
		rc = -ESTALE;
		goto fail_dir;
	}
	/* Held already through the shared description: this only checks. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? DCTX_ERUNNING : -errno;
		dctx__errfmt(err, errlen, dctx_strerror(rc),
		    "pidfile %s: inherited descriptor %d", path, fd);
		goto fail_dir;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	pf->fd = fd;
	pf->inherited = 1;
	*out = pf;
	return 0;

fail_dir:
	close(pf->dirfd);
fail:
	free(pf->name);
	free(pf->path);
	free(pf);
	return rc;
}

int
dctx__pidfile_inherited(const struct dctx_pidfile *pf)
{
	return pf != NULL && pf->inherited;
}

/* The pid the file holds now, 0 for none. */
pid_t
dctx__pidfile_pid(const struct dctx_pidfile *pf)
{
	return read_pid(pf->fd);
}

const char *
dctx__pidfile_name(const struct dctx_pidfile *pf)
{
	return pf->name;
}

const char *
dctx__pidfile_path(const struct dctx_pidfile *pf)
{
	return pf->path;
}

void
dctx__pidfile_adopt(struct dctx_pidfile *pf)
{
	pf->owner = getpid();
}

int
dctx__pidfile_fd(const struct dctx_pidfile *pf)
{
	return pf->fd;
}

int
dctx__pidfile_dirfd(const struct dctx_pidfile *pf)
{
	return pf->dirfd;
}

/* Close our descriptors without touching the file: the launcher's side. */
void
dctx__pidfile_forget(struct dctx_pidfile *pf)
{
	if (pf == NULL)
		return;
	close(pf->fd);
	if (pf->dirfd >= 0)
		close(pf->dirfd);
	free(pf->name);
	free(pf->path);
	free(pf);
}

/*
 * The launcher's cleanup when the daemon (pid daemon, or 0 when unknown)
 * died without a word: the file is removed only if nobody holds its lock
 * any more.  A dying process drops its files in no promised order, so the
 * end of file on the launcher pipe can come a moment before the lock
 * goes: retry for up to a second, while the daemon is still there.  Once
 * it is gone, a lock still held is a process it forked, which shares its
 * open file description and may live on for long: the file cannot be
 * removed (a new start would run beside that process), but it must not
 * keep naming the dead daemon, whose pid a "stop" script would signal
 * and which may be reused.  It is emptied, only if it says that very pid
 * (never another: the child may have written its own, see
 * dctx_pidfile_write()).  As in open_locked(), the file is judged before
 * it is opened, and the lock only speaks for the inode we opened: by the
 * time we have it, the path may name a newer instance's live file, which
 * must stay.
 */
void
dctx__pidfile_remove_stale(const char *path, pid_t daemon)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	struct stat lst, fst, pst;
	int fd, i, locked = 0;

	if (lstat(path, &lst) < 0 || !S_ISREG(lst.st_mode))
		return;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &fst) < 0 || fst.st_dev != lst.st_dev ||
	    fst.st_ino != lst.st_ino) {
		close(fd);
		return;
	}
	for (i = 0; i < 200; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			locked = 1;
			break;
		}
		if (daemon > 0 && !dctx__pid_is_live(daemon))
			break;
		nanosleep(&ts, NULL);
	}
	if (lstat(path, &pst) == 0 && fst.st_dev == pst.st_dev &&
	    fst.st_ino == pst.st_ino) {
		if (locked)
			unlink(path);
		else if (daemon > 0 && read_pid(fd) == daemon &&
		    !dctx__pid_is_live(daemon) && ftruncate(fd, 0) < 0) {
			/* Nothing more to do: the launcher is on its way out. */
		}
	}
	close(fd);
}

DCTX_EXPORT int
dctx_pidfile_acquire(struct dctx_pidfile **out, const char *path)
{
	struct dctx_pidfile *pf;
	char err[256];
	int rc;

	if (out == NULL || path == NULL || path[0] == '\0')
		return -EINVAL;
	if ((rc = dctx__pidfile_open(&pf, path, err, sizeof(err))) < 0)
		return rc;
	if ((rc = dctx__pidfile_write(pf, err, sizeof(err))) < 0) {
		dctx_pidfile_release(pf);
		return rc;
	}
	*out = pf;
	return 0;
}

DCTX_EXPORT int
dctx_pidfile_write(struct dctx_pidfile *pf)
{
	char err[256];

	if (pf == NULL)
		return -EINVAL;
	return dctx__pidfile_write(pf, err, sizeof(err));
}

DCTX_EXPORT int
dctx_pidfile_close(struct dctx_pidfile *pf)
{
	int rc = 0;

	if (pf == NULL)
		return 0;
	if (close(pf->fd) < 0 && errno != EINTR)
		rc = -errno;
	pf->fd = -1;
	if (pf->dirfd >= 0)
		close(pf->dirfd);
	free(pf->name);
	free(pf->path);
	free(pf);
	return rc;
}

DCTX_EXPORT int
dctx_pidfile_release(struct dctx_pidfile *pf)
{
	int rc = 0;

	if (pf == NULL)
		return 0;
	/*
	 * OpenBSD's rule: only the process that wrote the file removes it,
	 * so a forked child that exits leaves its parent's pidfile alone.
	 * Unlink before close, so that no other process can lock the file
	 * we are about to remove.  After a privilege drop the directory may
	 * not be writable: then empty the file, which tells readers the same.
	 */
	/* An inherited file is ours once the old daemon wrote our pid. */
	if (pf->inherited && pf->owner != getpid() && read_pid(pf->fd) == getpid())
		pf->owner = getpid();
	if (pf->owner == getpid() &&
	    (pf->dirfd < 0 || !names_our_file(pf) ||
	    unlinkat(pf->dirfd, pf->name, 0) < 0)) {
		rc = pf->dirfd < 0 ? -EACCES : -errno;
		if (ftruncate(pf->fd, 0) == 0)
			rc = 0;
	}
	dctx__pidfile_forget(pf);
	return rc;
}

DCTX_EXPORT int
dctx_pidfile_holder(const char *path, pid_t *pid)
{
	pid_t found;
	int fd, rc;

	if (pid == NULL)
		return -EINVAL;
	*pid = 0;
	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	rc = errno == EWOULDBLOCK ? DCTX_ERUNNING : -errno;
	/* A pid that is gone is not the holder: see dctx__pid_is_live(). */
	if (rc == DCTX_ERUNNING && (found = read_holder_pid(fd)) > 0 &&
	    dctx__pid_is_live(found)) {
		*pid = found;
		rc = 0;
	}
	close(fd);
	return rc;
}
