/*
 * Zero-downtime upgrade, the old daemon's side.  dctx_upgrade() starts the
 * new binary (our own executable, read again from disk, with our
 * arguments) and hands it, in systemd's socket-activation convention
 * (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), the descriptors marked to
 * pass: the socket-activated ones and those of dctx_upgrade_fd().  Its
 * ordinary start-up takes them (sd_listen_fds(3)), and it takes the
 * locked pidfile through its inherited descriptor (upgrade-new.c), so that
 * no third instance can take the file at any moment.
 *
 * The old daemon serves on meanwhile, and waits in its loop for the new
 * one's word on a report channel (detach.c's messages).  Ready: it writes
 * the new pid into the pidfile, tells systemd MAINPID= (under systemd the
 * new process is systemd's child from its start: see child_orphan()),
 * answers the new process, forgets the pidfile without removing it, and
 * runs its shutdown chain: its listeners close, their sockets stay open
 * in the new process, so a connection waiting in the accept queue is
 * served there.  A failure, a death, or
 * no word within the deadline: the new process is stopped and reaped, its
 * own message logged, and nothing else changes (the rollback).
 *
 * Each step is written to a status file beside the pidfile, for the
 * requester of upgrade-request.c (echod --upgrade): it is how the new
 * process's own message reaches whoever asked.  Until it is open, the new
 * process's stderr is a pipe to us, so that what a program says there
 * before the library can report (a refused option) is its message too.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <poll.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"
#include "upgrade-internal.h"

extern char **environ;

/* Without a pidfd, how often the child's end is asked for. */
#define POLL_EXIT_MS 50

struct dctx__upgrade *
dctx__upgrade_get(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;

	if (u != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->timeout_ms = DCTX_UPGRADE_TIMEOUT_DEFAULT;
	u->pidfd = u->report_rd = u->capture_rd = -1;
	u->stderr_fd = u->pidfile_fd = u->answer_fd = u->old_pidfd = -1;
	ctx->upgrade = u;
	return u;
}

/*
 * systemd's rule for a descriptor name (fdname_is_valid()): 1 to 255
 * printable ASCII bytes, and no ':', which separates them in
 * LISTEN_FDNAMES.
 */
static int
name_valid(const char *name)
{
	size_t n;

	for (n = 0; name[n] != '\0'; n++)
		if (name[n] < ' ' || name[n] > '~' || name[n] == ':')
			return 0;
	return n > 0 && n <= 255;
}

DCTX_EXPORT int
dctx_upgrade_fd(struct dctx *ctx, int fd, const char *name)
{
	struct dctx__upgrade *u;
	struct dctx__upgrade_mark *grown;
	char *copy;
	size_t i;
	int rc;

	if (name != NULL && !name_valid(name))
		return dctx__fail(ctx, -EINVAL, "upgrade fd %d: name '%.64s': "
		    "not 1 to 255 printable characters without ':'", fd, name);
	/*
	 * Unmarked: the number may be reused for anything.  A descriptor
	 * closed already is unmarked too: a mark left on it would fail
	 * every upgrade, whose message says to do just this.
	 */
	if (name == NULL) {
		for (i = 0; (u = ctx->upgrade) != NULL && i < u->nmarks; i++)
			if (u->marks[i].fd == fd) {
				free(u->marks[i].name);
				u->marks[i] = u->marks[--u->nmarks];
				break;
			}
		return 0;
	}
	if (fd <= 2 || fcntl(fd, F_GETFD) < 0)
		return dctx__fail(ctx, -EBADF, "upgrade fd %d", fd);
	if ((u = dctx__upgrade_get(ctx)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade fd %d", fd);
	for (i = 0; i < u->nmarks && u->marks[i].fd != fd; i++)
		;
	/* Before dctx_open() it must survive the close step too. */
	if (!ctx->is_open && (rc = dctx_preserve_fd(ctx, fd)) < 0)
		return rc;
	if ((copy = strdup(name)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade fd %d", fd);
	if (i < u->nmarks) {
		free(u->marks[i].name);
		u->marks[i].name = copy;
		return 0;
	}
	grown = realloc(u->marks, (u->nmarks + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		return dctx__fail(ctx, -ENOMEM, "upgrade fd %d", fd);
	}
	u->marks = grown;
	u->marks[u->nmarks].fd = fd;
	u->marks[u->nmarks++].name = copy;
	return 0;
}

static void
free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

DCTX_EXPORT int
dctx_set_upgrade_exec(struct dctx *ctx, const char *path, char *const argv[])
{
	struct dctx__upgrade *u;
	char *p = NULL, **v = NULL;
	size_t n = 0, i;

	if (path != NULL && path[0] != '/')
		return dctx__fail(ctx, -EINVAL, "upgrade executable '%s': not "
		    "an absolute path", path);
	if (argv != NULL && argv[0] == NULL)
		return dctx__fail(ctx, -EINVAL, "upgrade arguments: empty");
	if ((u = dctx__upgrade_get(ctx)) == NULL)
		goto nomem;
	if (path != NULL && (p = strdup(path)) == NULL)
		goto nomem;
	if (argv != NULL) {
		while (argv[n] != NULL)
			n++;
		if ((v = calloc(n + 1, sizeof(*v))) == NULL)
			goto nomem;
		for (i = 0; i < n; i++)
			if ((v[i] = strdup(argv[i])) == NULL)
				goto nomem;
	}
	free(u->exec_path);
	free_argv(u->exec_argv);
	u->exec_path = p;
	u->exec_argv = v;
	return 0;
nomem:
	free(p);
	free_argv(v);
	return dctx__fail(ctx, -ENOMEM, "upgrade executable");
}

DCTX_EXPORT int
dctx_set_upgrade_timeout(struct dctx *ctx, int ms)
{
	struct dctx__upgrade *u;

	if (ms < 0)
		return dctx__fail(ctx, -EINVAL, "upgrade timeout %d ms", ms);
	if ((u = dctx__upgrade_get(ctx)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade timeout");
	u->timeout_ms = ms;
	return 0;
}

static void
on_upgrade_signal(struct dctx *ctx, int signo, void *arg)
{
	(void)arg;
	if (dctx_upgrade(ctx) < 0)
		dctx__log(ctx, LOG_WARNING, "upgrade on signal %d (%s) "
		    "refused: %s", signo, strsignal(signo), dctx_errmsg(ctx));
}

DCTX_EXPORT int
dctx_upgrade_on_signal(struct dctx *ctx, int signo)
{
	struct dctx__upgrade *u = dctx__upgrade_get(ctx);
	int rc;

	if (u == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade on signal %d", signo);
	if ((rc = dctx_set_signal(ctx, signo, on_upgrade_signal, NULL)) == 0)
		u->signo = signo;
	return rc;
}

/*
 * Step 1, when the program asked for upgrades before dctx_prepare() or
 * dctx_open(): note where it was started and as what, while it is still
 * true (the working directory changes in step 5).  The path is the one
 * the kernel was given (AT_EXECFN), not /proc/self/exe: that one names
 * the inode that runs, which an upgrade means to replace, and resolves
 * symbolic links, so that a link moved to a new version's directory would
 * start the old version again.  The new process starts in the same
 * directory, so that relative paths among the arguments name the same
 * files.
 */
int
dctx__upgrade_prepare(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	const char *fn;
	char *dir;
	int rc;

	if ((rc = dctx__upgrade_inherit(ctx)) < 0 || u == NULL)
		return rc;
	free(u->start_dir);
	free(u->start_exe);
	u->start_dir = u->start_exe = NULL;
	if ((dir = getcwd(NULL, 0)) == NULL)
		return 0;
	u->start_dir = dir;
	fn = (const char *)getauxval(AT_EXECFN);
	if (fn == NULL || fn[0] == '\0')
		return 0;
	if (fn[0] == '/')
		u->start_exe = strdup(fn);
	else if (asprintf(&u->start_exe, "%s/%s", dir, fn) < 0)
		u->start_exe = NULL;
	return 0;
}

/* Our own executable where step 1 did not note it: /proc/self/exe. */
static char *
self_exe(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof(deleted) - 1;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	/* Replaced by a rename (install(1), a package): the path is new. */
	if ((size_t)n > dl && strcmp(buf + n - dl, deleted) == 0)
		buf[n - dl] = '\0';
	return strdup(buf);
}

/* Our own arguments, as /proc/self/cmdline has them now. */
static char **
self_argv(void)
{
	char *buf = NULL, **argv, *p;
	size_t len = 0, cap = 0, n = 0, i;
	ssize_t got;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	for (;;) {
		if (len + 1024 > cap) {
			char *grown = realloc(buf, cap + 4096);
			if (grown == NULL)
				break;
			buf = grown;
			cap += 4096;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (buf == NULL || len == 0) {
		free(buf);
		return NULL;
	}
	if (buf[len - 1] != '\0')
		buf[len++] = '\0';
	for (i = 0; i < len; i++)
		n += buf[i] == '\0';
	if ((argv = calloc(n + 1, sizeof(*argv))) != NULL)
		for (p = buf, i = 0; i < n; i++, p += strlen(p) + 1)
			if ((argv[i] = strdup(p)) == NULL) {
				free_argv(argv);
				argv = NULL;
				break;
			}
	free(buf);
	return argv;
}

/* Everything the child needs, made before the fork: it may not allocate. */
struct spawn {
	char *path;
	char **argv;
	char **envp;
	size_t nenv;
	char *slot_listen;   /* where the child writes its pid, or NULL */
	char *slot_upgrade;
	char *slot_watchdog;
	int *src;            /* what goes to 3, 4, ...: the listening sockets,
				* then the pidfile, the report channel, stderr */
	int *high;           /* the child's scratch copies */
	int nsrc;
	int nlisten;
	int report_wr;
	int capture_wr;
	int base;            /* above every source and target */
	int close_to;        /* the last descriptor to close without close_range */
	int ignore;          /* the upgrade signal, ignored until mapped, or 0 */
	const char *dir;
};

static void
spawn_free(struct spawn *sp)
{
	size_t i;

	free(sp->path);
	free_argv(sp->argv);
	for (i = 0; i < sp->nenv; i++)
		free(sp->envp[i]);
	free(sp->envp);
	free(sp->src);
	free(sp->high);
}

/* Add "NAME=value" to the child's environment. */
static int
env_add(struct spawn *sp, char **slot, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
env_add(struct spawn *sp, char **slot, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	sp->envp[sp->nenv++] = s;
	if (slot != NULL)
		*slot = s + n;
	return 0;
}

/* A pid, written in the child: no stdio there.  The slot has room. */
static void
put_pid(char *slot, pid_t pid)
{
	char digits[24];
	int n = 0;
	unsigned long v = (unsigned long)pid;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*slot++ = digits[--n];
	*slot = '\0';
}

/* Whether the environment entry e is one we set ourselves. */
static int
env_ours(const char *e)
{
	static const char *const names[] = { "LISTEN_FDS=", "LISTEN_PID=",
	    "LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "WATCHDOG_PID=",
	    "WATCHDOG_USEC=",
	    DCTX__UP_ENV_PID "=", DCTX__UP_ENV_REPORT "=",
	    DCTX__UP_ENV_STDERR "=", DCTX__UP_ENV_PIDFILE "=" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/*
 * The $NOTIFY_SOCKET the new process needs (its STOPPING=1, its next
 * upgrade's MAINPID=): the variable is gone from our environment since
 * dctx_open(), but the socket is connected to it.  Abstract addresses
 * come back with a NUL first, and become "@" again.
 */
static int
notify_address(int fd, char *out, size_t len)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	size_t n;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&sun, &sl) < 0 ||
	    sun.sun_family != AF_UNIX ||
	    sl <= offsetof(struct sockaddr_un, sun_path))
		return -1;
	n = sl - offsetof(struct sockaddr_un, sun_path);
	if (n >= len)
		return -1;
	memcpy(out, sun.sun_path, n);
	out[n] = '\0';
	if (out[0] == '\0')
		out[0] = '@';
	return out[0] == '\0' ? -1 : 0;
}

/* Add one descriptor to pass, once; its name into names (':'-joined). */
static int
add_listen(struct spawn *sp, char **names, size_t *nlen, int fd,
    const char *name)
{
	size_t i, l = strlen(name);
	char *grown;

	for (i = 0; i < (size_t)sp->nlisten; i++)
		if (sp->src[i] == fd)
			return 0;
	if ((grown = realloc(*names, *nlen + l + 2)) == NULL)
		return -ENOMEM;
	*names = grown;
	if (*nlen > 0)
		grown[(*nlen)++] = ':';
	memcpy(grown + *nlen, name, l + 1);
	*nlen += l;
	sp->src[sp->nlisten++] = fd;
	return 0;
}

/* The descriptors to pass: socket-activated ones first, then marked. */
static int
collect_fds(struct dctx *ctx, struct spawn *sp, char **names)
{
	struct dctx__upgrade *u = ctx->upgrade;
	int n = dctx_listen_fds(ctx), i, fd, rc;
	size_t nlen = 0, k;

	if (n < 0)
		n = 0; /* refused at dctx_prepare(): none were taken */

	sp->src = malloc(((size_t)n + u->nmarks + 3) * sizeof(int));
	sp->high = malloc(((size_t)n + u->nmarks + 3) * sizeof(int));
	if (sp->src == NULL || sp->high == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade");
	/*
	 * The program may have closed activated sockets it does not use,
	 * and the number may name something else since.
	 */
	for (i = 0; i < n; i++) {
		fd = dctx_listen_fd(ctx, i);
		if (fd < 0 || !dctx__listen_still(ctx, i))
			continue;
		if ((rc = add_listen(sp, names, &nlen, fd,
		    dctx_listen_fd_name(ctx, i))) < 0)
			return dctx__fail(ctx, rc, "upgrade");
	}
	for (k = 0; k < u->nmarks; k++) {
		fd = u->marks[k].fd;
		if (fcntl(fd, F_GETFD) < 0)
			return dctx__fail(ctx, -EBADF, "upgrade fd %d (%s): "
			    "marked, then closed (unmark it with a NULL name)",
			    fd, u->marks[k].name);
		if ((rc = add_listen(sp, names, &nlen, fd,
		    u->marks[k].name)) < 0)
			return dctx__fail(ctx, rc, "upgrade");
	}
	sp->nsrc = sp->nlisten;
	return 0;
}

/* The highest descriptor open now, for a child without close_range. */
static int
highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	struct rlimit rl;
	int max = 0, fd;

	if (d == NULL) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
			return (int)rl.rlim_cur;
		return 65536;
	}
	while ((de = readdir(d)) != NULL)
		if ((fd = atoi(de->d_name)) > max)
			max = fd;
	closedir(d);
	return max;
}

/*
 * Make everything the child will use: the path and arguments, the
 * environment (ours, less the variables of activation and upgrade, plus
 * the new ones, with room for the child's pid), the pipes, and the list
 * of descriptors with their places.
 */
static int
spawn_prepare(struct dctx *ctx, struct spawn *sp, int pipes[4])
{
	struct dctx__upgrade *u = ctx->upgrade;
	char *names = NULL, addr[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	size_t nenv = 0, i;
	int rc, pidfile_fd = -1, fd, next;

	memset(sp, 0, sizeof(*sp));
	sp->path = u->exec_path ? strdup(u->exec_path) :
	    u->start_exe ? strdup(u->start_exe) : self_exe();
	if (sp->path == NULL)
		return dctx__fail(ctx, -ENOENT, "upgrade: our own executable "
		    "(/proc/self/exe)");
	if (access(sp->path, X_OK) < 0)
		return dctx__fail(ctx, -errno, "upgrade: %s", sp->path);
	if (u->exec_argv != NULL) {
		while (u->exec_argv[nenv] != NULL)
			nenv++;
		if ((sp->argv = calloc(nenv + 1, sizeof(char *))) == NULL)
			return dctx__fail(ctx, -ENOMEM, "upgrade");
		for (i = 0; i < nenv; i++)
			if ((sp->argv[i] = strdup(u->exec_argv[i])) == NULL)
				return dctx__fail(ctx, -ENOMEM, "upgrade");
	} else if ((sp->argv = self_argv()) == NULL)
		return dctx__fail(ctx, -EIO, "upgrade: our own arguments "
		    "(/proc/self/cmdline)");
	sp->dir = u->start_dir;
	sp->ignore = u->signo;

	if ((rc = collect_fds(ctx, sp, &names)) < 0) {
		free(names);
		return rc;
	}
	if (ctx->pidfile != NULL)
		sp->src[sp->nsrc++] = pidfile_fd =
		    dctx__pidfile_fd(ctx->pidfile);
	/* The report channel answers too (hand_over()): a socket pair. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipes) < 0 ||
	    pipe2(pipes + 2, O_CLOEXEC) < 0) {
		free(names);
		return dctx__fail(ctx, -errno, "upgrade: pipe");
	}
	sp->report_wr = pipes[1];
	sp->capture_wr = pipes[3];
	sp->src[sp->nsrc++] = pipes[1];
	sp->src[sp->nsrc++] = 2;

	for (nenv = 0; environ[nenv] != NULL; nenv++)
		;
	if ((sp->envp = calloc(nenv + 12, sizeof(char *))) == NULL) {
		free(names);
		return dctx__fail(ctx, -ENOMEM, "upgrade");
	}
	rc = 0;
	for (i = 0; i < nenv && rc == 0; i++)
		if (!env_ours(environ[i]) &&
		    (sp->envp[sp->nenv] = strdup(environ[i])) != NULL)
			sp->nenv++;
		else if (!env_ours(environ[i]))
			rc = -ENOMEM;
	next = 3 + sp->nlisten;
	if (rc == 0 && sp->nlisten > 0)
		rc = env_add(sp, NULL, "LISTEN_FDS=%d", sp->nlisten) < 0 ||
		    env_add(sp, NULL, "LISTEN_FDNAMES=%s", names) < 0 ||
		    env_add(sp, &sp->slot_listen, "LISTEN_PID=%24s", "") < 0 ?
		    -ENOMEM : 0;
	free(names);
	if (rc == 0 && pidfile_fd >= 0)
		rc = env_add(sp, NULL, DCTX__UP_ENV_PIDFILE "=%d", next++);
	if (rc == 0)
		rc = env_add(sp, NULL, DCTX__UP_ENV_REPORT "=%d", next++) < 0 ||
		    env_add(sp, NULL, DCTX__UP_ENV_STDERR "=%d", next++) < 0 ||
		    env_add(sp, &sp->slot_upgrade, DCTX__UP_ENV_PID "=%24s",
		    "") < 0 ? -ENOMEM : 0;
	if (rc == 0 && notify_address(ctx->notify_fd, addr, sizeof(addr)) == 0)
		rc = env_add(sp, NULL, "NOTIFY_SOCKET=%s", addr);
	/* The watchdog's interval stays; its pid becomes the new one's. */
	if (rc == 0 && ctx->watchdog_usec > 0)
		rc = env_add(sp, NULL, "WATCHDOG_USEC=%llu",
		    (unsigned long long)ctx->watchdog_usec) < 0 ||
		    env_add(sp, &sp->slot_watchdog, "WATCHDOG_PID=%24s", "") < 0 ?
		    -ENOMEM : 0;
	if (rc < 0)
		return dctx__fail(ctx, rc, "upgrade: environment");
	/* put_pid() writes from the start of the padding. */
	if (sp->slot_listen != NULL)
		sp->slot_listen -= 24;
	sp->slot_upgrade -= 24;
	if (sp->slot_watchdog != NULL)
		sp->slot_watchdog -= 24;

	sp->base = next + 1;
	for (i = 0; i < (size_t)sp->nsrc; i++)
		if ((fd = sp->src[i]) >= sp->base)
			sp->base = fd + 1;
	if (pipes[3] >= sp->base)
		sp->base = pipes[3] + 1;
	sp->close_to = highest_fd();
	if (sp->close_to < sp->base + sp->nsrc + 1)
		sp->close_to = sp->base + sp->nsrc + 1;
	return 0;
}

static int
child_close_range(unsigned int first)
{
#if defined(HAVE_CLOSE_RANGE)
	return close_range(first, ~0U, 0);
#elif defined(SYS_close_range)
	return (int)syscall(SYS_close_range, first, ~0U, 0);
#else
	(void)first;
	errno = ENOSYS;
	return -1;
#endif
}

/* The child could not become the new binary: say why, in its errno. */
static void __attribute__((noreturn))
child_fails(int report, int err)
{
	char msg[1 + sizeof(int)];

	msg[0] = DCTX__UP_EXEC_FAILED;
	memcpy(msg + 1, &err, sizeof(int));
	if (write(report, msg, sizeof(msg)) < 0) {
		/* Nobody to tell: the parent sees the exit status. */
	}
	_exit(127);
}

/*
 * The forked child, until execve: async-signal-safe calls only (the
 * daemon may run threads, whose locks stay held here).  Every source is
 * copied above all the targets first, so that moving one to its place
 * never overwrites another not moved yet; dup2() leaves the copies
 * without close-on-exec; everything else is closed.  Caught signals get
 * their default action back before the mask (all blocked since before
 * the fork) is emptied: a handler of the old daemon's, run here, would
 * write into the old daemon's loop.
 */
static void __attribute__((noreturn))
child_exec(const struct spawn *sp)
{
	struct sigaction sa;
	sigset_t none;
	int i, fd, hcap, report = sp->report_wr;

	for (i = 0; i < sp->nsrc; i++)
		if ((sp->high[i] = fcntl(sp->src[i], F_DUPFD, sp->base)) < 0)
			child_fails(report, errno);
	if ((hcap = fcntl(sp->capture_wr, F_DUPFD, sp->base)) < 0 ||
	    dup2(hcap, 2) < 0)
		child_fails(report, errno);
	for (i = 0; i < sp->nsrc; i++) {
		if (dup2(sp->high[i], 3 + i) < 0)
			child_fails(report, errno);
		if (sp->src[i] == sp->report_wr)
			report = 3 + i;
	}
	if (child_close_range((unsigned int)(3 + sp->nsrc)) < 0)
		for (fd = 3 + sp->nsrc; fd <= sp->close_to; fd++)
			close(fd);
	for (i = 1; i < NSIG; i++)
		if (sigaction(i, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
		    sa.sa_handler != SIG_IGN) {
			sa.sa_handler = SIG_DFL;
			sa.sa_flags = 0;
			sigaction(i, &sa, NULL);
		}
	/*
	 * The upgrade signal, sent again to the whole service (systemctl
	 * kill without --kill-whom=main) while the new process starts, must
	 * not kill it at its default action: ignored across exec, until its
	 * dctx_open() maps it.
	 */
	if (sp->ignore > 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(sp->ignore, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/*
	 * A process group of its own: what it starts before it is ready
	 * (a script's commands, a program's workers) inherits our sockets
	 * and the pidfile's lock, and must go with it if it fails
	 * (group_gone()); and a signal the old daemon sends its own group
	 * (kill(0, ...) to its workers) does not reach it.
	 */
	setpgid(0, 0);
	if (sp->slot_listen != NULL)
		put_pid(sp->slot_listen, getpid());
	put_pid(sp->slot_upgrade, getpid());
	if (sp->slot_watchdog != NULL)
		put_pid(sp->slot_watchdog, getpid());
	if (sp->dir != NULL && chdir(sp->dir) < 0) {
		/* Gone: relative arguments will fail and say so. */
	}
	execve(sp->path, sp->argv, sp->envp);
	child_fails(report, errno);
}

/*
 * Under systemd, the forked child forks the new process and exits at
 * once, after telling us its pid (detach.c's "P<pid>" message on the
 * report channel): the orphan is reparented to the service manager, whose
 * child it then is when MAINPID= names it.  systemd follows a main
 * process that is not its child only through cgroup events ("Supervising
 * process N which is not our child"), and where those are unreliable
 * (the legacy hierarchy, in a container) it does not even wait for it
 * to end at stop: it sends SIGKILL right after SIGTERM.
 */
static void __attribute__((noreturn))
child_orphan(const struct spawn *sp)
{
	char msg[32], c;
	size_t len;
	int gate[2];
	pid_t pid;

	/*
	 * The new process waits at a gate until we have written its pid and
	 * exited (end of file): the old daemon reads "P<pid>" first, before
	 * anything the new process says on the same channel.  Two writers
	 * are otherwise ordered by the scheduler alone, and on a busy machine
	 * the new process's readiness came first (seen under load: the
	 * upgrade taken for a failed fork, the new process left running).
	 */
	if (pipe2(gate, O_CLOEXEC) < 0)
		child_fails(sp->report_wr, errno);
	pid = fork();
	if (pid == 0) {
		close(gate[1]);
		while (read(gate[0], &c, 1) < 0 && errno == EINTR)
			;
		close(gate[0]);
		child_exec(sp);
	}
	if (pid < 0)
		child_fails(sp->report_wr, errno);
	msg[0] = 'P';
	put_pid(msg + 1, pid);
	len = strlen(msg);
	msg[len++] = '\n';
	if (write(sp->report_wr, msg, len) < 0) {
		/* The old daemon finds no pid, and says so. */
	}
	_exit(0);
}

/*
 * The intermediate process of child_orphan() has exited (reaped here):
 * its "P<pid>" message is in the pipe, or why its fork failed.  The pid
 * it names is the new process, which we watch from now on.
 */
static int
orphan_pid(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	pid_t mid = u->child;
	char *nl;
	ssize_t n;
	int err;

	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	u->child = 0;
	fcntl(u->report_rd, F_SETFL, O_NONBLOCK);
	while ((n = read(u->report_rd, u->rbuf, sizeof(u->rbuf) - 1)) < 0 &&
	    errno == EINTR)
		;
	u->rgot = n > 0 ? (size_t)n : 0;
	if (u->rgot > 0 && u->rbuf[0] == 'P' &&
	    (nl = memchr(u->rbuf, '\n', u->rgot)) != NULL) {
		*nl = '\0';
		u->child = (pid_t)atol(u->rbuf + 1);
		u->rgot -= (size_t)(nl + 1 - u->rbuf);
		memmove(u->rbuf, nl + 1, u->rgot);
	}
	if (u->child > 0)
		return 0;
	err = ECHILD;
	if (u->rgot >= 1 + sizeof(int) && u->rbuf[0] == DCTX__UP_EXEC_FAILED)
		memcpy(&err, u->rbuf + 1, sizeof(int));
	return dctx__fail(ctx, -err, "upgrade: fork");
}

/* Release what the attempt holds; the child is gone or handed over. */
static void
attempt_end(struct dctx__upgrade *u)
{
	struct event **evs[] = { &u->report_ev, &u->capture_ev, &u->exit_ev,
	    &u->timer_ev };
	size_t i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i] != NULL) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	if (u->report_rd >= 0)
		close(u->report_rd);
	if (u->capture_rd >= 0)
		close(u->capture_rd);
	if (u->pidfd >= 0)
		close(u->pidfd);
	u->report_rd = u->capture_rd = u->pidfd = -1;
	u->state = DCTX__UP_IDLE;
	u->child = 0;
}

/*
 * Where we may not create files (a daemon that dropped privileges, its
 * pidfile in root's /run), the requester made the status file ours
 * (upgrade-request.c): write it in place, as the pidfile is written.
 * Only a regular file of our own with one link, never through a link.
 */
static int
status_in_place(int dirfd, const char *name, const char *rec, int n)
{
	struct stat st;
	int fd, ok;

	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_nlink == 1 && st.st_uid == geteuid() &&
	    pwrite(fd, rec, (size_t)n, 0) == n && ftruncate(fd, n) == 0;
	close(fd);
	return ok;
}

/*
 * The status file, PIDFILE.upgrade, replaced whole (a new file renamed
 * over it) so that a reader never sees half a record, or written in
 * place where the requester made it for us.  Written through the
 * pidfile's directory; a daemon that can do neither says so once.
 */
static void
status_write(struct dctx *ctx, int state)
{
	struct dctx__upgrade *u = ctx->upgrade;
	static const char *const words[] = { [DCTX__UP_STARTING] = "starting",
	    [DCTX__UP_READY] = "ready", [DCTX__UP_FAILED] = "failed" };
	char name[NAME_MAX + 1], tmp[NAME_MAX + 1], rec[64 + sizeof(u->msg)];
	const char *base;
	int dirfd, fd, n, ok = 0, err;
	char *p;

	if (ctx->pidfile == NULL ||
	    (dirfd = dctx__pidfile_dirfd(ctx->pidfile)) < 0)
		return;
	base = dctx__pidfile_name(ctx->pidfile);
	if (snprintf(name, sizeof(name), "%s" DCTX__UP_STATUS_SUFFIX, base) >=
	    (int)sizeof(name) || snprintf(tmp, sizeof(tmp), ".%s"
	    DCTX__UP_STATUS_SUFFIX ".tmp", base) >= (int)sizeof(tmp))
		return;
	if (u->start == 0)
		u->start = dctx__upgrade_start_time(getpid());
	n = snprintf(rec, sizeof(rec), "%ld %llu %lu %s %ld\n%s\n",
	    (long)getpid(), u->start, u->seq, words[state], (long)u->child,
	    state == DCTX__UP_FAILED ? u->msg : "");
	if (n >= (int)sizeof(rec))
		n = (int)sizeof(rec) - 1;
	/* One record: the message on one line. */
	for (p = strchr(rec, '\n') + 1; p < rec + n - 1; p++)
		if (*p == '\n')
			*p = ' ';
	/* Never through a link planted at the temporary name. */
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd >= 0) {
		ok = write(fd, rec, (size_t)n) == n && fchmod(fd, 0644) == 0;
		ok = close(fd) == 0 && ok &&
		    renameat(dirfd, tmp, dirfd, name) == 0;
		if (!ok)
			unlinkat(dirfd, tmp, 0);
	}
	err = errno;
	if (!ok)
		ok = status_in_place(dirfd, name, rec, n);
	if (!ok && !u->status_warned) {
		u->status_warned = 1;
		dctx__log(ctx, LOG_WARNING, "upgrade: cannot write the status "
		    "file %s%s: %s; a requester will not hear the outcome",
		    dctx__pidfile_path(ctx->pidfile), DCTX__UP_STATUS_SUFFIX,
		    strerror(err));
	}
}

/* Remove the status file: the daemon that owns the pidfile stops. */
static void
status_remove(struct dctx *ctx)
{
	char name[NAME_MAX + 1];
	int dirfd;

	if (ctx->pidfile == NULL ||
	    (dirfd = dctx__pidfile_dirfd(ctx->pidfile)) < 0 ||
	    dctx__pidfile_pid(dctx__pidfile_fd(ctx->pidfile), 0) != getpid())
		return;
	if (snprintf(name, sizeof(name), "%s" DCTX__UP_STATUS_SUFFIX,
	    dctx__pidfile_name(ctx->pidfile)) < (int)sizeof(name))
		unlinkat(dirfd, name, 0);
}

/*
 * The new process's stderr, while it starts: copied to ours (the same log
 * it would have written to), and its last 4 KiB kept for the message.
 */
static void
drain_capture(struct dctx__upgrade *u)
{
	char buf[1024];
	ssize_t n;

	while (u->capture_rd >= 0) {
		if ((n = read(u->capture_rd, buf, sizeof(buf))) == 0)
			u->capture_eof = 1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dctx__write_nosigpipe(2, buf, (size_t)n) < 0) {
			/* Our own log is gone: the message is still kept. */
		}
		if ((size_t)n > sizeof(u->cap))
			n = (ssize_t)sizeof(u->cap);
		if (u->capgot + (size_t)n > sizeof(u->cap)) {
			size_t drop = u->capgot + (size_t)n - sizeof(u->cap);
			memmove(u->cap, u->cap + drop, u->capgot - drop);
			u->capgot -= drop;
		}
		memcpy(u->cap + u->capgot, buf, (size_t)n);
		u->capgot += (size_t)n;
	}
}

/* What the new process said on stderr, as one line ("; " between lines). */
static void
captured_text(const struct dctx__upgrade *u, char *out, size_t len)
{
	char *text = malloc(2 * sizeof(u->cap) + 1);
	size_t i, n = 0;

	out[0] = '\0';
	if (text == NULL)
		return;
	for (i = 0; i < u->capgot; i++) {
		char c = u->cap[i];
		if (c == '\n') {
			if (n > 0 && i + 1 < u->capgot) {
				text[n++] = ';';
				text[n++] = ' ';
			}
		} else if (c != '\r')
			text[n++] = c;
	}
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == ';'))
		n--;
	text[n] = '\0';
	dctx__shorten(out, len, text);
	free(text);
}

/*
 * Read the report channel.  Returns the word once a whole one is in: 'R' or
 * 'r' (ready), 'F' (failed, with u->msg), 'E' (execve failed); 0 for
 * nothing yet.
 */
static int
read_word(struct dctx__upgrade *u)
{
	ssize_t n;
	int err;

	while (u->report_rd >= 0 && u->rgot < sizeof(u->rbuf) - 1) {
		n = read(u->report_rd, u->rbuf + u->rgot,
		    sizeof(u->rbuf) - 1 - u->rgot);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			u->report_eof = 1;
		if (n <= 0)
			break;
		u->rgot += (size_t)n;
	}
	/* Once the attempt failed, its last words change nothing. */
	if (u->rgot == 0 || u->state != DCTX__UP_STARTING)
		return 0;
	switch (u->rbuf[0]) {
	case DCTX__UP_READY_ADOPTED:
	case DCTX__UP_READY_OWN:
		return u->rbuf[0];
	case DCTX__UP_EXEC_FAILED:
		if (u->rgot < 1 + sizeof(int))
			return 0;
		memcpy(&err, u->rbuf + 1, sizeof(int));
		dctx__errfmt(u->msg, sizeof(u->msg), strerror(err),
		    "execve(%s)", u->path);
		return 'E';
	case 'F':
		if (u->rgot < 3 || (memchr(u->rbuf + 2, '\0', u->rgot - 2) ==
		    NULL && u->rgot < sizeof(u->rbuf) - 1))
			return 0;
		u->rbuf[u->rgot] = '\0';
		dctx__shorten(u->msg, sizeof(u->msg), u->rbuf + 2);
		return 'F';
	}
	snprintf(u->msg, sizeof(u->msg), "the new process wrote '%c' on its "
	    "report channel", u->rbuf[0] >= ' ' && u->rbuf[0] <= '~' ?
	    u->rbuf[0] : '?');
	return 'F';
}

static void
arm_timer(struct dctx__upgrade *u, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (u->timer_ev != NULL)
		evtimer_add(u->timer_ev, &tv);
}

/*
 * Signal the new process: through its pidfd where there is one, since
 * under systemd it is not our child (see dctx_upgrade()), and its pid
 * could be another process's once it is reaped.
 */
static void
signal_child(struct dctx__upgrade *u, int signo)
{
#ifdef SYS_pidfd_send_signal
	if (u->pidfd >= 0 &&
	    syscall(SYS_pidfd_send_signal, u->pidfd, signo, NULL, 0) == 0)
		return;
#endif
	kill(u->child, signo);
}

/*
 * The new process of a failed attempt ended: what it started in its
 * process group (child_exec()) and left behind holds our listening
 * sockets, which a later start could not bind, and the pidfile's lock.
 * Killed, before its leader is reaped where we can: a zombie keeps the
 * group's id from being reused.  Not once handed over: the group is the
 * new daemon's then.
 */
static void
group_gone(struct dctx__upgrade *u)
{
	if (u->child > 1 && u->state != DCTX__UP_HANDED &&
	    u->state != DCTX__UP_IDLE)
		kill(-u->child, SIGKILL);
}

/*
 * Whether the new process ended: reaped, with *known set when its status
 * is in *status.  Our child is reaped here; one the service manager
 * adopted (dctx_upgrade()) is reaped there, its status unknown to us.
 */
static int
child_ended(struct dctx__upgrade *u, int *status, int *known)
{
	struct pollfd p = { u->pidfd, POLLIN, 0 };
	siginfo_t si;
	pid_t r;
	int ended;

	*known = 0;
	if (!u->own_child) {
		ended = u->pidfd >= 0 ? poll(&p, 1, 0) == 1 :
		    !dctx__pid_is_live(u->child);
		if (ended)
			group_gone(u);
		return ended;
	}
	memset(&si, 0, sizeof(si));
	while ((r = waitid(P_PID, (id_t)u->child, &si, WEXITED | WNOHANG |
	    WNOWAIT)) < 0 && errno == EINTR)
		;
	if (r == 0 && si.si_pid == u->child)
		group_gone(u);
	while ((r = waitpid(u->child, status, WNOHANG)) < 0 && errno == EINTR)
		;
	*known = r == u->child;
	/* ECHILD: a waitpid(-1) of the program's took it. */
	if (r < 0)
		group_gone(u);
	return r == u->child || r < 0;
}

/*
 * The attempt failed (why in u->msg): stop the new process, SIGTERM now
 * (or after a grace, when it said it failed and should exit by itself),
 * SIGKILL after another.  It ends when the child is reaped.
 */
static void
stop_child(struct dctx *ctx, int term_now)
{
	struct dctx__upgrade *u = ctx->upgrade;

	u->state = DCTX__UP_STOPPING;
	/* A new process waiting for our answer gets none: no hand-over. */
	shutdown(u->report_rd, SHUT_WR);
	if (term_now && !u->term_sent) {
		signal_child(u, SIGTERM);
		u->term_sent = 1;
	}
	arm_timer(u, DCTX__UP_GRACE_MS);
}

/* The new process is gone and reaped: the rollback is complete. */
static void
rolled_back(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;

	/* It never owned the file: we wrote no pid of its.  Still ours. */
	status_write(ctx, DCTX__UP_FAILED);
	dctx__log(ctx, LOG_ERR, "upgrade to pid %ld failed: %s; pid %ld serves "
	    "on", (long)u->child, u->msg, (long)getpid());
	attempt_end(u);
}

/*
 * The new process is ready.  It runs with our sockets; the pidfile, if
 * it took it over ('R'), now says its pid, and we let go of our
 * descriptor without removing the file (the lock stays: the new process
 * shares its open file description).  systemd hears MAINPID= from us,
 * its main process, which NotifyAccess=main allows; then our socket
 * closes, since the unit's messages are the new one's from now on.  Then
 * our shutdown chain: the program closes its listeners and drains.
 */
static void
hand_over(struct dctx *ctx, int adopted)
{
	struct dctx__upgrade *u = ctx->upgrade;
	char msg[64], answer;
	int rc;

	if (adopted && ctx->pidfile != NULL &&
	    (rc = dctx__pidfile_write_pid(ctx->pidfile, u->child, u->msg,
	    sizeof(u->msg))) < 0) {
		stop_child(ctx, 1);
		return;
	}
	u->state = DCTX__UP_HANDED;
	status_write(ctx, DCTX__UP_READY);
	if (adopted && ctx->pidfile != NULL) {
		dctx__pidfile_forget(ctx->pidfile);
		ctx->pidfile = NULL;
	}
	/* A last ping from us: the new one's first is half an interval away. */
	snprintf(msg, sizeof(msg), "MAINPID=%ld%s", (long)u->child,
	    ctx->watchdog_usec > 0 ? "\nWATCHDOG=1" : "");
	dctx__notify(ctx, msg);
	if (ctx->notify_fd >= 0) {
		close(ctx->notify_fd);
		ctx->notify_fd = -1;
	}
	dctx__log(ctx, LOG_INFO, "upgrade: pid %ld is ready; pid %ld stops",
	    (long)u->child, (long)getpid());
	/*
	 * Tell it that systemd knows it now, and that the pidfile is its
	 * own: it waits for this before it says anything more to systemd,
	 * which would refuse a message from it before MAINPID=.  A reload
	 * of ours under way (a step still working, or one more asked for)
	 * ends with our shutdown chain: systemd, told RELOADING=1, would
	 * wait for its READY=1 for ever, and whoever asked for it would
	 * not get it.  The new process runs it instead.
	 */
	answer = ctx->reloading ? DCTX__UP_ANSWER_RELOAD : DCTX__UP_ANSWER;
	if (dctx__write_nosigpipe(u->report_rd, &answer, 1) < 0) {
		/* Gone already: child_gone() says so. */
	}
	/* It reports nothing more; it is watched only to be reaped. */
	event_free(u->report_ev);
	event_free(u->capture_ev);
	u->report_ev = u->capture_ev = NULL;
	close(u->report_rd);
	close(u->capture_rd);
	u->report_rd = u->capture_rd = -1;
	if (u->timer_ev != NULL)
		evtimer_del(u->timer_ev);
	dctx_terminate(ctx, 0);
}

static void child_gone(struct dctx *ctx, int status, int known);

/* A word came while the new process was starting. */
static void
heard(struct dctx *ctx, int word)
{
	struct dctx__upgrade *u = ctx->upgrade;
	int status = 0, known;

	if (u->state != DCTX__UP_STARTING || word == 0)
		return;
	if (word == DCTX__UP_READY_ADOPTED || word == DCTX__UP_READY_OWN) {
		/*
		 * Gone already (it exited, or crashed, after its word and
		 * before we read it): no hand-over to a dead process, which
		 * would leave the service to nobody and tell the requester
		 * it was upgraded.
		 */
		if (child_ended(u, &status, &known)) {
			u->said_ready = 1;
			child_gone(ctx, status, known);
			return;
		}
		if (ctx->chain == DCTX__CHAIN_IDLE) {
			hand_over(ctx, word == DCTX__UP_READY_ADOPTED);
			return;
		}
		snprintf(u->msg, sizeof(u->msg), "the daemon was stopping "
		    "when pid %ld became ready", (long)u->child);
		stop_child(ctx, 1);
		return;
	}
	/* Its own message: it fails, and should exit by itself. */
	u->got_word = 1;
	stop_child(ctx, 0);
}

static void
on_report(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__upgrade *u = ctx->upgrade;

	(void)fd;
	(void)what;
	heard(ctx, read_word(u));
	/* Nothing more to hear: the end of file, or the word was heard. */
	if (u->report_ev != NULL &&
	    (u->report_eof || u->state != DCTX__UP_STARTING))
		event_del(u->report_ev);
}

static void
on_capture(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__upgrade *u = ctx->upgrade;

	(void)fd;
	(void)what;
	drain_capture(u);
	if (u->capture_eof && u->capture_ev != NULL)
		event_del(u->capture_ev);
}

/* How the child ended, in words, for a child that said nothing. */
static void
describe_end(struct dctx__upgrade *u, int status, int known)
{
	char said[sizeof(u->msg)], how[96];

	if (!known)
		snprintf(how, sizeof(how), "ended");
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(status));
	captured_text(u, said, sizeof(said));
	if (said[0] != '\0')
		dctx__errfmt(u->msg, sizeof(u->msg), said, "the new process "
		    "(pid %ld) %s %s", (long)u->child, how, u->said_ready ?
		    "right after it said it was ready" : "before it was ready");
	else
		snprintf(u->msg, sizeof(u->msg), "the new process (pid %ld) %s "
		    "%s", (long)u->child, how, u->said_ready ? "right after it "
		    "said it was ready" : "before it was ready");
}

/* The child is gone and reaped (known: with its status). */
static void
child_gone(struct dctx *ctx, int status, int known)
{
	struct dctx__upgrade *u = ctx->upgrade;
	int word;

	if (u->state == DCTX__UP_HANDED) {
		dctx__log(ctx, LOG_WARNING, "upgrade: the new daemon (pid %ld) "
		    "ended while we drained", (long)u->child);
		attempt_end(u);
		return;
	}
	/* What it wrote before it died is in the pipes already. */
	drain_capture(u);
	if (u->state == DCTX__UP_STARTING) {
		word = read_word(u);
		if (word == 'F' || word == 'E')
			u->got_word = 1;
		else
			describe_end(u, status, known);
	}
	rolled_back(ctx);
}

static void
on_exit_event(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__upgrade *u = ctx->upgrade;
	int status = 0, known;

	(void)fd;
	(void)what;
	if (!child_ended(u, &status, &known))
		return; /* polled, and still there */
	child_gone(ctx, status, known);
}

/* The deadline, or the end of a grace given to a process we stop. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dctx *ctx = arg;
	struct dctx__upgrade *u = ctx->upgrade;

	(void)fd;
	(void)what;
	if (u->state == DCTX__UP_STARTING) {
		/* A word that came just now counts. */
		heard(ctx, read_word(u));
		if (u->state != DCTX__UP_STARTING)
			return;
		snprintf(u->msg, sizeof(u->msg), "the new process (pid %ld) "
		    "was not ready within %d ms: stopped it", (long)u->child,
		    u->timeout_ms);
		stop_child(ctx, 1);
		return;
	}
	if (u->state != DCTX__UP_STOPPING)
		return;
	if (!u->term_sent) {
		signal_child(u, SIGTERM);
		u->term_sent = 1;
		arm_timer(u, DCTX__UP_GRACE_MS);
	} else if (!u->kill_sent) {
		signal_child(u, SIGKILL);
		u->kill_sent = 1;
		arm_timer(u, DCTX__UP_GRACE_MS);
	} else
		dctx__log(ctx, LOG_ERR, "upgrade: pid %ld does not end after "
		    "SIGKILL; another upgrade waits until it does",
		    (long)u->child);
}

/*
 * Registered at the first upgrade, so it runs before the program's own
 * steps: a daemon asked to stop while a new process starts stops that
 * process (dctx__upgrade_close() waits for it), since the service is
 * being stopped, not upgraded.
 */
static void
stop_step(struct dctx *ctx, struct dctx_shutdown *step, int late, void *arg)
{
	struct dctx__upgrade *u = ctx->upgrade;

	(void)arg;
	if (u->state == DCTX__UP_STARTING) {
		snprintf(u->msg, sizeof(u->msg), "the daemon was asked to stop "
		    "while pid %ld started", (long)u->child);
		stop_child(ctx, 1);
	}
	if (!late)
		dctx_shutdown_done(step);
}

/* Watch the child from the loop: its pipes, its end, the deadline. */
static int
watch(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	struct event_base *base = ctx->base;
	struct timeval poll_tv = { 0, POLL_EXIT_MS * 1000 };

	fcntl(u->report_rd, F_SETFL, O_NONBLOCK);
	fcntl(u->capture_rd, F_SETFL, O_NONBLOCK);
	u->pidfd = dctx__pidfd_open(u->child);
	u->report_ev = event_new(base, u->report_rd, EV_READ | EV_PERSIST,
	    on_report, ctx);
	u->capture_ev = event_new(base, u->capture_rd, EV_READ | EV_PERSIST,
	    on_capture, ctx);
	u->exit_ev = u->pidfd >= 0 ?
	    event_new(base, u->pidfd, EV_READ, on_exit_event, ctx) :
	    event_new(base, -1, EV_PERSIST, on_exit_event, ctx);
	u->timer_ev = evtimer_new(base, on_timer, ctx);
	if (u->report_ev == NULL || u->capture_ev == NULL ||
	    u->exit_ev == NULL || u->timer_ev == NULL ||
	    event_add(u->report_ev, NULL) < 0 ||
	    event_add(u->capture_ev, NULL) < 0 ||
	    event_add(u->exit_ev, u->pidfd >= 0 ? NULL : &poll_tv) < 0)
		return -ENOMEM;
	if (u->timeout_ms > 0)
		arm_timer(u, u->timeout_ms);
	/*
	 * A word read with the intermediate process's "P<pid>" (a quick new
	 * process) is in u->rbuf already: no more bytes will wake the event.
	 */
	if (u->rgot > 0)
		event_active(u->report_ev, EV_READ, 0);
	return 0;
}

/* Wait up to ms for the child to end, reaping it; 1 when it did. */
static int
wait_child(struct dctx__upgrade *u, int ms)
{
	long long end = dctx__now_ms() + ms;
	int status, known;

	for (;;) {
		if (child_ended(u, &status, &known))
			return 1;
		if (dctx__now_ms() >= end)
			return 0;
		if (u->pidfd >= 0) {
			struct pollfd p = { u->pidfd, POLLIN, 0 };
			poll(&p, 1, (int)(end - dctx__now_ms()));
		} else
			usleep(10 * 1000);
	}
}

static int
upgrade_start(struct dctx *ctx)
{
	struct dctx__upgrade *u;
	struct spawn sp;
	sigset_t all, old;
	int pipes[4] = { -1, -1, -1, -1 }, rc, err = 0, i;
	pid_t pid = -1;

	if (!ctx->is_open || ctx->pid != getpid() || ctx->base == NULL)
		return dctx__fail(ctx, -EINVAL, "upgrade: the context is not "
		    "open in this process");
	if ((u = dctx__upgrade_get(ctx)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "upgrade");
	if (u->state == DCTX__UP_STARTING || u->state == DCTX__UP_STOPPING)
		return dctx__fail(ctx, -EALREADY, "upgrade: one is in progress "
		    "(new process pid %ld)", (long)u->child);
	if (u->state == DCTX__UP_HANDED)
		return dctx__fail(ctx, -EALREADY, "upgrade: handed over to pid "
		    "%ld already", (long)u->child);
	if (ctx->chain != DCTX__CHAIN_IDLE)
		return dctx__fail(ctx, -ECANCELED, "upgrade: the daemon is "
		    "stopping");
	/* Its launcher, or the old daemon of its own upgrade, still waits. */
	if (!ctx->start_told)
		return dctx__fail(ctx, -EAGAIN, "upgrade: the daemon has not "
		    "reported ready yet");
	if (ctx->chroot_dir != NULL)
		return dctx__fail(ctx, -ENOTSUP, "upgrade in a chroot (%s): "
		    "the new binary and its files are outside it",
		    ctx->chroot_dir);
	if (getpid() == 1)
		return dctx__fail(ctx, -ENOTSUP, "upgrade of pid 1: the new "
		    "process could not be pid 1");
	if (!u->step_added) {
		if ((rc = dctx_on_shutdown(ctx, stop_step, NULL)) < 0)
			return rc;
		u->step_added = 1;
	}
	/* Under systemd, the new process is to be its child (see below). */
	u->own_child = ctx->notify_fd < 0;
	if ((rc = spawn_prepare(ctx, &sp, pipes)) == 0) {
		/* Held until exec (see child_exec()), and here for the fork. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pid = fork();
		if (pid == 0 && !u->own_child)
			child_orphan(&sp);
		if (pid == 0)
			child_exec(&sp);
		err = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (pid < 0)
			rc = dctx__fail(ctx, -err, "upgrade: fork");
	}
	for (i = 1; i < 4; i += 2)
		if (pipes[i] >= 0)
			close(pipes[i]);
	if (rc < 0) {
		for (i = 0; i < 4; i += 2)
			if (pipes[i] >= 0)
				close(pipes[i]);
		spawn_free(&sp);
		return rc;
	}
	free(u->path);
	u->path = sp.path;
	sp.path = NULL;
	spawn_free(&sp);
	u->child = pid;
	u->report_rd = pipes[0];
	u->capture_rd = pipes[2];
	u->rgot = u->capgot = 0;
	u->msg[0] = '\0';
	u->term_sent = u->kill_sent = u->got_word = u->said_ready = 0;
	u->report_eof = u->capture_eof = 0;
	if (!u->own_child && (rc = orphan_pid(ctx)) < 0) {
		attempt_end(u);
		return rc;
	}
	u->seq++;
	u->state = DCTX__UP_STARTING;
	if (watch(ctx) < 0) {
		signal_child(u, SIGKILL);
		if (u->own_child)
			waitpid(u->child, NULL, 0);
		attempt_end(u);
		return dctx__fail(ctx, -ENOMEM, "upgrade: events");
	}
	status_write(ctx, DCTX__UP_STARTING);
	dctx__log(ctx, LOG_INFO, "upgrade: started pid %ld (%s)",
	    (long)u->child, u->path);
	return 0;
}

/*
 * No attempt began: the reason goes to the status file too, as a failed
 * record with no new process, so that a requester (echod --upgrade)
 * hears it at once instead of waiting for an attempt that never comes
 * and guessing why (a daemon not ready yet, a binary gone from its path,
 * a chroot, pid 1).  Not while an attempt runs or after a hand-over: the
 * record there is that attempt's.  Only by the daemon the pidfile names:
 * the new process of an upgrade, before it is ready, does not own it.
 */
static void
refused(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	const char *why = dctx_errmsg(ctx);

	if (u == NULL || u->state != DCTX__UP_IDLE || ctx->up_child ||
	    !ctx->is_open || ctx->pid != getpid() || ctx->pidfile == NULL ||
	    dctx__pidfile_pid(dctx__pidfile_fd(ctx->pidfile), 0) != getpid())
		return;
	if (strncmp(why, "upgrade: ", 9) == 0)
		why += 9;
	u->seq++;
	u->child = 0;
	dctx__shorten(u->msg, sizeof(u->msg), why);
	status_write(ctx, DCTX__UP_FAILED);
}

DCTX_EXPORT int
dctx_upgrade(struct dctx *ctx)
{
	int rc = upgrade_start(ctx);

	if (rc < 0)
		refused(ctx);
	return rc;
}

/*
 * Step 5, in the daemon process, before the chroot: its start time (from
 * /proc, which a jail may lack), which the status file's records carry
 * so that a requester never takes a reused pid's for ours.
 */
void
dctx__upgrade_started(struct dctx *ctx)
{
	if (ctx->upgrade != NULL)
		ctx->upgrade->start = dctx__upgrade_start_time(getpid());
}

/*
 * dctx_close(), before the pidfile is released.  A new process still
 * starting is stopped and reaped (the daemon stops, so does its
 * upgrade); one we handed over to lives on.  The status file goes with
 * the pidfile, when the pidfile names us.
 */
void
dctx__upgrade_close(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;

	if (u == NULL || ctx->pid != getpid())
		return;
	dctx__upgrade_answer_close(ctx);
	if (u->state == DCTX__UP_STARTING || u->state == DCTX__UP_STOPPING) {
		if (u->state == DCTX__UP_STARTING)
			snprintf(u->msg, sizeof(u->msg), "the daemon stopped "
			    "while pid %ld started", (long)u->child);
		if (!u->term_sent)
			signal_child(u, SIGTERM);
		if (!wait_child(u, DCTX__UP_GRACE_MS)) {
			signal_child(u, SIGKILL);
			wait_child(u, DCTX__UP_GRACE_MS);
		}
		rolled_back(ctx);
	} else if (u->state == DCTX__UP_HANDED)
		attempt_end(u);
	status_remove(ctx);
}

void
dctx__upgrade_free(struct dctx *ctx)
{
	struct dctx__upgrade *u = ctx->upgrade;
	size_t i;

	if (u == NULL)
		return;
	if (u->state != DCTX__UP_IDLE)
		attempt_end(u);
	dctx__upgrade_answer_close(ctx);
	for (i = 0; i < u->nmarks; i++)
		free(u->marks[i].name);
	free(u->marks);
	free(u->exec_path);
	free_argv(u->exec_argv);
	free(u->start_dir);
	free(u->start_exe);
	free(u->path);
	if (u->stderr_fd >= 0)
		close(u->stderr_fd);
	if (u->pidfile_fd >= 0)
		close(u->pidfile_fd);
	for (i = 0; i < u->nheld; i++) {
		if (u->held[i].fd >= 0)
			close(u->held[i].fd);
		free(u->held[i].msg);
	}
	free(u->held);
	free(u);
	ctx->upgrade = NULL;
}
