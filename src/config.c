/*
 * The context's attributes: construction, the PEP 3143 setters, and the
 * error words.  Every setter refuses to change an open context, since PEP
 * 3143 says changes after open() have no effect, and silence would hide it.
 * For the same reason the attributes dctx_prepare() resolves (the ids and
 * the pidfile) are refused between dctx_prepare() and dctx_open().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

DCTX_EXPORT struct dctx *
dctx_new(void)
{
	struct dctx *ctx;

	/*
	 * First, before the program opens anything of its own: see
	 * dctx__fill_stdio().  A failure (no /dev/null) is not reported
	 * here; dctx_prepare() fills the holes again and says what failed.
	 */
	(void)dctx__fill_stdio();
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->workdir = strdup("/");
	if (ctx->workdir == NULL) {
		free(ctx);
		return NULL;
	}
	ctx->uid = (uid_t)-1;
	ctx->gid = (gid_t)-1;
	ctx->run_uid = (uid_t)-1;
	ctx->run_gid = (gid_t)-1;
	ctx->prevent_core = 1;
	ctx->detach = DCTX_DETACH_AUTO;
	ctx->stdio[0] = ctx->stdio[1] = ctx->stdio[2] = -1;
	ctx->devnull = -1;
	ctx->report_fd = -1;
	ctx->s6_fd = -1;
	ctx->notify_fd = -1;
	ctx->shutdown_ms = 30000;
	ctx->start_ms = DCTX_START_TIMEOUT_DEFAULT;
	ctx->saved_stderr = -1;
	dctx__signals_default_map(ctx);
	return ctx;
}

DCTX_EXPORT void
dctx_free(struct dctx *ctx)
{
	if (ctx == NULL)
		return;
	dctx_close(ctx);
	/* Prepared but never opened: the pidfile is ours to remove. */
	dctx_pidfile_release(ctx->pidfile);
	ctx->pidfile = NULL;
	dctx__base_own(ctx);
	dctx__upgrade_free(ctx);
	dctx__shutdown_free(ctx);
	if (ctx->base != NULL)
		event_base_free(ctx->base);
	if (ctx->devnull >= 0)
		close(ctx->devnull);
	if (ctx->report_fd >= 0)
		close(ctx->report_fd);
	if (ctx->notify_fd >= 0)
		close(ctx->notify_fd);
	free(ctx->chroot_dir);
	free(ctx->workdir);
	free(ctx->workdir_full);
	free(ctx->user);
	free(ctx->group);
	free(ctx->preserve);
	free(ctx->pidfile_path);
	free(ctx->event_method);
	free(ctx->groups);
	dctx__listen_free(ctx);
	free(ctx);
}

/* Whether c is the second, third or fourth byte of a UTF-8 sequence. */
static int
utf8_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * Write the first head and the last tail bytes of s (slen long) into buf,
 * "..." between them, then sep and reason.  The cuts move back, never
 * forward, off a byte inside a UTF-8 sequence, so that none is split.
 */
static void
put_cut(char *buf, size_t len, const char *s, size_t slen, size_t head,
    size_t tail, const char *sep, const char *reason)
{
	while (head > 0 && utf8_continuation(s[head]))
		head--;
	while (tail > 0 && utf8_continuation(s[slen - tail]))
		tail--;
	snprintf(buf, len, "%.*s...%s%s%s", (int)head, s, s + slen - tail,
	    sep, reason);
}

/*
 * Write "what: reason" into buf, where what is made from fmt.  A message
 * must say why something failed, and the input in what (a path, a user
 * name) can be longer than buf: then what loses its middle, which becomes
 * "...", so that its head (the step) and its tail (the file name) stay,
 * and the reason always stays whole.
 */
static void __attribute__((format(printf, 4, 0)))
verrfmt(char *buf, size_t len, const char *reason, const char *fmt,
    va_list ap)
{
	char small[512], *what = small;
	size_t wlen, rlen = strlen(reason), room, head;
	va_list copy;
	int n;

	if (len == 0)
		return;
	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0) {
		small[0] = '\0';
	} else if ((size_t)n >= sizeof(small)) {
		/* Without memory, only the head of what is known. */
		if ((what = malloc((size_t)n + 1)) != NULL)
			vsnprintf(what, (size_t)n + 1, fmt, ap);
		else
			what = small;
	}
	wlen = strlen(what);
	if (wlen + 2 + rlen < len) {
		snprintf(buf, len, "%s: %s", what, reason);
		goto out;
	}
	if (len < 2 + rlen + 3 + 2) {
		/* Not even room for "a...b: ": the reason is all we say. */
		snprintf(buf, len, "%s", reason);
		goto out;
	}
	room = len - 1 - 2 - rlen - 3;
	head = (room + 1) / 2;
	put_cut(buf, len, what, wlen, head, room - head, ": ", reason);
out:
	if (what != small)
		free(what);
}

/*
 * Copy a failure message into buf, shortened in the middle when it does
 * not fit: the head says what was being done and the tail why it failed
 * ("listen on ...: Address already in use"), so both stay, and only the
 * middle of a long name goes, as in dctx_errmsg().  The tail is at least
 * the part after the last ": ", when that leaves room for a head.
 */
void
dctx__shorten(char *buf, size_t len, const char *msg)
{
	const char *sep = NULL, *p;
	size_t n = strlen(msg), room, tail;

	if (n < len) {
		memcpy(buf, msg, n + 1);
		return;
	}
	if (len < 8) {
		snprintf(buf, len, "%s", msg + n - (len - 1));
		return;
	}
	for (p = msg; (p = strstr(p, ": ")) != NULL; p++)
		sep = p;
	room = len - 1 - 3;
	tail = room / 2;
	if (sep != NULL && (size_t)(msg + n - sep) > tail &&
	    (size_t)(msg + n - sep) <= room - room / 4)
		tail = (size_t)(msg + n - sep);
	put_cut(buf, len, msg, n, room - tail, tail, "", "");
}

void
dctx__errfmt(char *buf, size_t len, const char *reason, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	verrfmt(buf, len, reason, fmt, ap);
	va_end(ap);
	errno = saved;
}

int
dctx__fail(struct dctx *ctx, int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	verrfmt(ctx->errmsg, sizeof(ctx->errmsg), dctx_strerror(code), fmt, ap);
	va_end(ap);
	errno = saved;
	return code;
}

/* Replace *slot with a copy of value (NULL allowed). */
static int
set_string(char **slot, const char *value)
{
	char *copy = NULL;

	if (value != NULL && (copy = strdup(value)) == NULL)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

/* PEP 3143: a working directory outside the chroot is taken inside it. */
static int
update_workdir_full(struct dctx *ctx)
{
	const char *root = ctx->chroot_dir;
	size_t rlen;
	char *full;

	free(ctx->workdir_full);
	ctx->workdir_full = NULL;
	if (root == NULL)
		return 0;
	rlen = strlen(root);
	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	if (strncmp(ctx->workdir, root, rlen) == 0 &&
	    (ctx->workdir[rlen] == '/' || ctx->workdir[rlen] == '\0'))
		return 0;
	if (asprintf(&full, "%.*s%s", (int)rlen, root,
	    strcmp(ctx->workdir, "/") == 0 ? "" : ctx->workdir) < 0)
		return -ENOMEM;
	ctx->workdir_full = full;
	return 0;
}

DCTX_EXPORT int
dctx_set_chroot_directory(struct dctx *ctx, const char *path)
{
	char *old = NULL;
	int rc;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "chroot_directory");
	if (path != NULL && path[0] != '/')
		return dctx__fail(ctx, -EINVAL,
		    "chroot_directory '%s': not an absolute path", path);
	if (ctx->chroot_dir != NULL && (old = strdup(ctx->chroot_dir)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "chroot_directory");
	if ((rc = set_string(&ctx->chroot_dir, path)) < 0 ||
	    (rc = update_workdir_full(ctx)) < 0) {
		set_string(&ctx->chroot_dir, old);
		free(old);
		return dctx__fail(ctx, rc, "chroot_directory");
	}
	free(old);
	return 0;
}

DCTX_EXPORT int
dctx_set_working_directory(struct dctx *ctx, const char *path)
{
	char *old;
	int rc;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "working_directory");
	if (path == NULL || path[0] != '/')
		return dctx__fail(ctx, -EINVAL,
		    "working_directory '%s': not an absolute path",
		    path ? path : "(null)");
	if ((old = strdup(ctx->workdir)) == NULL)
		return dctx__fail(ctx, -ENOMEM, "working_directory");
	if ((rc = set_string(&ctx->workdir, path)) < 0 ||
	    (rc = update_workdir_full(ctx)) < 0) {
		free(ctx->workdir);
		ctx->workdir = old;
		update_workdir_full(ctx);
		return dctx__fail(ctx, rc, "working_directory");
	}
	free(old);
	return 0;
}

DCTX_EXPORT const char *
dctx_working_directory(const struct dctx *ctx)
{
	return ctx->workdir_full != NULL ? ctx->workdir_full : ctx->workdir;
}

DCTX_EXPORT int
dctx_set_umask(struct dctx *ctx, mode_t mask)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "umask");
	/*
	 * Only the permission bits mean anything to umask(2), which would
	 * drop the others silently.  A value that did not fit mode_t was cut
	 * down before it got here (040000000000 is 0): that check belongs to
	 * the caller's parser, before its cast.
	 */
	if (mask & ~(mode_t)0777)
		return dctx__fail(ctx, -EINVAL,
		    "umask %#o: not a mode from 0 to 0777", (unsigned)mask);
	ctx->umask = mask;
	return 0;
}

DCTX_EXPORT int
dctx_set_uid(struct dctx *ctx, uid_t uid)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "uid");
	if (ctx->prepared)
		return dctx__fail(ctx, DCTX_EPREPARED, "uid");
	ctx->uid = uid;
	return 0;
}

DCTX_EXPORT int
dctx_set_gid(struct dctx *ctx, gid_t gid)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "gid");
	if (ctx->prepared)
		return dctx__fail(ctx, DCTX_EPREPARED, "gid");
	ctx->gid = gid;
	return 0;
}

DCTX_EXPORT int
dctx_set_user(struct dctx *ctx, const char *name)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "user");
	if (ctx->prepared)
		return dctx__fail(ctx, DCTX_EPREPARED, "user");
	if (name == NULL || name[0] == '\0')
		return dctx__fail(ctx, -EINVAL, "user: empty name");
	if (set_string(&ctx->user, name) < 0)
		return dctx__fail(ctx, -ENOMEM, "user");
	return 0;
}

DCTX_EXPORT int
dctx_set_group(struct dctx *ctx, const char *name)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "group");
	if (ctx->prepared)
		return dctx__fail(ctx, DCTX_EPREPARED, "group");
	if (name == NULL || name[0] == '\0')
		return dctx__fail(ctx, -EINVAL, "group: empty name");
	if (set_string(&ctx->group, name) < 0)
		return dctx__fail(ctx, -ENOMEM, "group");
	return 0;
}

DCTX_EXPORT int
dctx_set_prevent_core(struct dctx *ctx, int on)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "prevent_core");
	ctx->prevent_core = on != 0;
	return 0;
}

DCTX_EXPORT int
dctx_set_detach_process(struct dctx *ctx, enum dctx_detach mode)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "detach_process");
	if (mode != DCTX_DETACH_AUTO && mode != DCTX_DETACH_NO &&
	    mode != DCTX_DETACH_YES)
		return dctx__fail(ctx, -EINVAL, "detach_process %d", (int)mode);
	ctx->detach = mode;
	return 0;
}

DCTX_EXPORT int
dctx_preserve_fd(struct dctx *ctx, int fd)
{
	int *grown;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "files_preserve");
	/* 0-2 are stdio: dctx_set_stdin() and its siblings choose them. */
	if (fd >= 0 && fd <= 2)
		return dctx__fail(ctx, -EBADF, "files_preserve fd %d: 0, 1 and 2 "
		    "are stdio (see dctx_set_stdin())", fd);
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return dctx__fail(ctx, -EBADF, "files_preserve fd %d", fd);
	grown = realloc(ctx->preserve, (ctx->npreserve + 1) * sizeof(*grown));
	if (grown == NULL)
		return dctx__fail(ctx, -ENOMEM, "files_preserve fd %d", fd);
	ctx->preserve = grown;
	ctx->preserve[ctx->npreserve++] = fd;
	return 0;
}

DCTX_EXPORT int
dctx_set_pidfile(struct dctx *ctx, const char *path)
{
	int rc;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "pidfile");
	if (ctx->prepared)
		return dctx__fail(ctx, DCTX_EPREPARED, "pidfile");
	if (path != NULL && path[0] == '\0')
		return dctx__fail(ctx, -EINVAL, "pidfile: empty path");
	if (path != NULL && (rc = dctx__pidfile_check_path(path, ctx->errmsg,
	    sizeof(ctx->errmsg))) < 0)
		return rc;
	if (set_string(&ctx->pidfile_path, path) < 0)
		return dctx__fail(ctx, -ENOMEM, "pidfile");
	return 0;
}

static int
set_stdio(struct dctx *ctx, int which, int fd)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "%s", names[which]);
	if (fd < -1 || (fd >= 0 && fcntl(fd, F_GETFD) < 0))
		return dctx__fail(ctx, -EBADF, "%s fd %d", names[which], fd);
	ctx->stdio[which] = fd;
	return 0;
}

DCTX_EXPORT int
dctx_set_stdin(struct dctx *ctx, int fd)
{
	return set_stdio(ctx, 0, fd);
}

DCTX_EXPORT int
dctx_set_stdout(struct dctx *ctx, int fd)
{
	return set_stdio(ctx, 1, fd);
}

DCTX_EXPORT int
dctx_set_stderr(struct dctx *ctx, int fd)
{
	return set_stdio(ctx, 2, fd);
}

DCTX_EXPORT int
dctx_set_event_method(struct dctx *ctx, const char *method)
{
	const char **methods = event_get_supported_methods();
	int i;

	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "event method");
	if (method == NULL)
		return set_string(&ctx->event_method, NULL);
	for (i = 0; methods != NULL && methods[i] != NULL; i++)
		if (strcmp(methods[i], method) == 0) {
			if (set_string(&ctx->event_method, method) < 0)
				return dctx__fail(ctx, -ENOMEM, "event method");
			return 0;
		}
	return dctx__fail(ctx, -ENOTSUP, "event method '%s'", method);
}

DCTX_EXPORT int
dctx_set_manual_ready(struct dctx *ctx, int on)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "manual_ready");
	ctx->manual_ready = on != 0;
	return 0;
}

DCTX_EXPORT int
dctx_is_open(const struct dctx *ctx)
{
	return ctx->is_open;
}

DCTX_EXPORT struct event_base *
dctx_base(struct dctx *ctx)
{
	return ctx->base;
}

DCTX_EXPORT const char *
dctx_errmsg(const struct dctx *ctx)
{
	return ctx->errmsg;
}

DCTX_EXPORT const char *
dctx_strerror(int code)
{
	switch (code) {
	case 0:
		return "Success";
	case DCTX_EOPEN:
		return "the daemon context is already open";
	case DCTX_ERUNNING:
		return "already running";
	case DCTX_ENOUSER:
		return "no such user or group";
	case DCTX_EPRIVS:
		return "dropped privileges could be regained";
	case DCTX_ESIGNAL:
		return "signal cannot be mapped";
	case DCTX_EDAEMON:
		return "the daemon exited before it was ready";
	case DCTX_ETHREADS:
		return "other threads are running; start them after dctx_open";
	case DCTX_ECLOSED:
		return "a closed context cannot be opened again";
	case DCTX_EPREPARED:
		return "resolved by dctx_prepare(): set it before";
	case DCTX_EUPGRADE:
		return "the upgrade failed: the old daemon serves on";
	}
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown error";
}
