/*
 * Closing inherited descriptors (daemon(7) step 1) and setting up 0-2
 * (step 9).  The cost must follow the number of open descriptors, never
 * RLIMIT_NOFILE, which systemd's LimitNOFILE=infinity sets to 2^30: so one
 * close_range() per gap between kept descriptors, and where the kernel lacks
 * it, a walk of /proc/self/fd.  glibc's closefrom() cannot keep a list of
 * descriptors, so the gaps are ours to compute.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dctx-internal.h"

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
is_kept(int fd, const int *keep, size_t nkeep)
{
	return bsearch(&fd, keep, nkeep, sizeof(*keep), cmp_int) != NULL;
}

/* close_range() from the kernel, whether or not libc wraps it. */
static int
sys_close_range(unsigned int first, unsigned int last)
{
#if defined(HAVE_CLOSE_RANGE)
	return close_range(first, last, 0);
#elif defined(SYS_close_range)
	return (int)syscall(SYS_close_range, first, last, 0);
#else
	(void)first;
	(void)last;
	errno = ENOSYS;
	return -1;
#endif
}

/* Without close_range: close what /proc says is open. */
static int
close_by_proc(const int *keep, size_t nkeep)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int self;

	if (dir == NULL)
		return -errno;
	self = dirfd(dir);
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end != '\0' || end == de->d_name || fd <= 2 ||
		    fd == self || is_kept((int)fd, keep, nkeep))
			continue;
		close((int)fd);
	}
	closedir(dir);
	return 0;
}

/*
 * The last resort, on a kernel without close_range and without /proc (an
 * old kernel inside a chroot): a loop up to the soft limit.
 */
static int
close_by_loop(const int *keep, size_t nkeep)
{
	struct rlimit rl;
	long fd, max = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	if (nkeep > 0 && keep[nkeep - 1] >= max)
		max = keep[nkeep - 1] + 1;
	for (fd = 3; fd < max; fd++)
		if (!is_kept((int)fd, keep, nkeep))
			close((int)fd);
	return 0;
}

/*
 * Fill a closed 0, 1 or 2 with /dev/null.  A program started with one of
 * them closed (`prog <&-`, a careless supervisor) would otherwise get it
 * back from its next open(): its listening socket on fd 0 is taken for
 * stdin, for an inetd socket even, and the stdio step later puts
 * /dev/null over it.  OpenSSH's sanitise_stdfd() does the same.  The
 * descriptors stay across exec, as stdio should.  Holes are filled from 0
 * up, so each open() returns the number it fills.
 */
int
dctx__fill_stdio(void)
{
	int fd, saved = errno, rc = 0;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) < 0) {
			rc = -errno;
			break;
		}
	errno = saved;
	return rc;
}

/* Close every descriptor above 2 but those in keep_in. */
int
dctx__close_fds(const int *keep_in, size_t nkeep)
{
	unsigned int next = 3;
	int *keep = NULL;
	size_t i, n = 0;
	int rc = 0;

	if (nkeep > 0 && (keep = malloc(nkeep * sizeof(*keep))) == NULL)
		return -ENOMEM;
	for (i = 0; i < nkeep; i++)
		if (keep_in[i] > 2)
			keep[n++] = keep_in[i];
	qsort(keep, n, sizeof(*keep), cmp_int);
	for (i = 0; i <= n; i++) {
		unsigned int last = i < n ? (unsigned int)keep[i] - 1 : UINT_MAX;

		if (i < n && (unsigned int)keep[i] < next)
			continue; /* a duplicate */
		if (last >= next && sys_close_range(next, last) < 0) {
			/*
			 * Old kernels say ENOSYS; seccomp filters that do not
			 * know the call often say EPERM or EACCES.  All mean:
			 * close them another way.
			 */
			if (errno != ENOSYS && errno != EINVAL &&
			    errno != EPERM && errno != EACCES) {
				rc = -errno;
				goto out;
			}
			rc = close_by_proc(keep, n);
			if (rc < 0)
				rc = close_by_loop(keep, n);
			goto out;
		}
		if (i < n)
			next = (unsigned int)keep[i] + 1;
	}
out:
	free(keep);
	return rc;
}

int
dctx__setup_fds(struct dctx *ctx)
{
	/* Preserved and socket-activated fds, pidfile and its directory,
	 * pipe, s6 and systemd readiness, /dev/null, stdio, the caller's
	 * kept stderr, an upgrade's stderr. */
	size_t max = ctx->npreserve + (size_t)ctx->nlisten + 11;
	int *all, copies[3] = { -1, -1, -1 };
	size_t n = 0, i;
	int rc = 0, which;

	all = malloc(max * sizeof(*all));
	if (all == NULL)
		return dctx__fail(ctx, -ENOMEM, "close fds");
	for (i = 0; i < ctx->npreserve; i++)
		all[n++] = ctx->preserve[i];
	/* Passed by socket activation: preserved as if the program asked. */
	for (i = 0; i < (size_t)ctx->nlisten; i++)
		all[n++] = 3 + (int)i;
	if (ctx->pidfile != NULL) {
		all[n++] = dctx__pidfile_fd(ctx->pidfile);
		all[n++] = dctx__pidfile_dirfd(ctx->pidfile); /* may be -1 */
	}
	if (ctx->report_fd >= 0)
		all[n++] = ctx->report_fd;
	all[n++] = ctx->s6_fd;     /* -1 when unset: ignored */
	all[n++] = ctx->notify_fd;
	if (ctx->devnull >= 0)
		all[n++] = ctx->devnull;
	if (ctx->saved_stderr >= 0)
		all[n++] = ctx->saved_stderr;
	all[n++] = dctx__upgrade_keep_fd(ctx); /* -1 when none: ignored */
	for (which = 0; which < 3; which++)
		if (ctx->stdio[which] >= 0)
			all[n++] = ctx->stdio[which];
	rc = dctx__close_fds(all, n);
	free(all);
	if (rc < 0)
		return dctx__fail(ctx, rc, "close fds");

	/*
	 * Copy each source above 2 first: a source may itself be 0-2 (a
	 * daemon keeping its stderr), and the first dup2 must not destroy
	 * what the next one reads.
	 */
	for (which = 0; which < 3; which++) {
		int src = ctx->stdio[which] >= 0 ? ctx->stdio[which] : ctx->devnull;

		copies[which] = fcntl(src, F_DUPFD_CLOEXEC, 3);
		if (copies[which] < 0) {
			rc = dctx__fail(ctx, -errno, "%s: dup fd %d",
			    which == 0 ? "stdin" : which == 1 ? "stdout" :
			    "stderr", src);
			goto out;
		}
	}
	for (which = 0; which < 3; which++)
		if (dup2(copies[which], which) < 0) {
			rc = dctx__fail(ctx, -errno, "dup2 onto fd %d", which);
			goto out;
		}
	/* The sources' own numbers are closed unless they are preserved. */
	for (which = 0; which < 3; which++) {
		int fd = ctx->stdio[which], kept = dctx__listen_has(ctx, fd);

		for (i = 0; i < ctx->npreserve; i++)
			kept |= ctx->preserve[i] == fd;
		for (i = 0; i < (size_t)which; i++)
			kept |= ctx->stdio[i] == fd; /* closed already */
		if (fd > 2 && !kept)
			close(fd);
	}
	close(ctx->devnull);
	ctx->devnull = -1;
out:
	for (which = 0; which < 3; which++)
		if (copies[which] >= 0)
			close(copies[which]);
	return rc;
}
