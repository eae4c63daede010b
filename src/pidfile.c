/*
 * The pidfile, done as FreeBSD's pidfile(3) does it: open without
 * truncating, take a non-blocking exclusive flock(), check that the path
 * still names the locked inode, and only then write.  The descriptor stays
 * open for the daemon's life, so the kernel drops the lock when the daemon
 * dies and a file left behind is harmless.  flock() belongs to the open file
 * description, so the lock survives fork (POSIX record locks would not).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

/* Read the pid a pidfile holds; 0 when it holds none (yet). */
static pid_t
read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return (pid_t)pid;
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

/* Open and lock name in dirfd; *holder gets the pid of a running holder. */
static int
open_locked(int dirfd, const char *name, int *out, pid_t *holder)
{
	struct stat fst, pst;
	int fd, tries, rc;

	for (tries = 0; tries < 8; tries++) {
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &fst) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (!S_ISREG(fst.st_mode)) {
			close(fd);
			return S_ISDIR(fst.st_mode) ? -EISDIR : -EINVAL;
		}
		if ((rc = lock_now(fd)) < 0) {
			if (rc == DCTX_ERUNNING)
				*holder = read_holder_pid(fd);
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
			 */
			if (fst.st_size > 0 && ftruncate(fd, 0) < 0) {
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
	pid_t holder = 0;
	int rc;

	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return -ENOMEM;
	pf->fd = pf->dirfd = -1;
	if ((pf->path = strdup(path)) == NULL) {
		free(pf);
		return -ENOMEM;
	}
	if ((rc = open_parent(path, &pf->dirfd, &pf->name)) < 0) {
		snprintf(err, errlen, "pidfile %s: %s", path, dctx_strerror(rc));
		goto fail;
	}
	rc = open_locked(pf->dirfd, pf->name, &pf->fd, &holder);
	if (rc == DCTX_ERUNNING && holder > 0)
		snprintf(err, errlen, "pidfile %s: already running (pid %ld)",
		    path, (long)holder);
	else if (rc == -ELOOP)
		snprintf(err, errlen, "pidfile %s: is a symbolic link", path);
	else if (rc == -EINVAL)
		snprintf(err, errlen, "pidfile %s: not a regular file", path);
	else if (rc < 0)
		snprintf(err, errlen, "pidfile %s: %s", path, dctx_strerror(rc));
	if (rc < 0)
		goto fail_dir;
	/* 0644 whatever the umask: others read it to find the daemon. */
	if (fchmod(pf->fd, 0644) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pidfile %s: fchmod: %s", path,
		    strerror(errno));
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
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	pf->owner = getpid();
	/*
	 * Write, then cut to length.  Truncating to 0 first marks the file,
	 * on ext4 (auto_da_alloc), as one being replaced, and its last close
	 * at exit then waits for a disk write: 0.6 ms of every stop.  A
	 * reader meanwhile sees our pid followed by stale bytes after the
	 * newline, which read_pid() ignores.
	 */
	if (pwrite(pf->fd, buf, (size_t)n, 0) != n || ftruncate(pf->fd, n) < 0) {
		int rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "pidfile %s: write: %s", pf->path,
		    strerror(-rc));
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
 * The launcher's cleanup when the daemon died without a word: the file is
 * removed only if nobody holds its lock any more.  A dying process drops
 * its files in no promised order, so the end of file on the launcher pipe
 * can come a moment before the lock goes: retry for up to a second.
 */
void
dctx__pidfile_remove_stale(const char *path)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int i;

	if (fd < 0)
		return;
	for (i = 0; i < 200; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlink(path);
			break;
		}
		nanosleep(&ts, NULL);
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

DCTX_EXPORT pid_t
dctx_pidfile_holder(const char *path)
{
	pid_t pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	pid = read_holder_pid(fd);
	close(fd);
	return pid > 0 ? pid : DCTX_ERUNNING;
}
