/*
 * Socket activation: the descriptors a service manager (systemd, its
 * systemd-socket-activate, or an old self handing over its sockets) passes
 * at 3, 4, ..., described by $LISTEN_FDS, $LISTEN_PID and $LISTEN_FDNAMES
 * (sd_listen_fds(3)).  The variables are read once per context, before any
 * fork: $LISTEN_PID names the process they are meant for, and after a fork
 * it no longer would.  They are then removed from the environment, whether
 * they were ours or not, as sd_listen_fds(1) removes them: a program the
 * daemon runs must not take the daemon's sockets for its own, and a stale
 * $LISTEN_PID (an ancestor's) could name a later process by pid reuse.
 *
 * Unlike sd_listen_fds(), which trusts the numbers, a value that is not
 * what a service manager writes is refused with a message naming the
 * variable: a daemon that served on whatever sits at fd 3, or silently
 * bound its configured address instead, would hide the mistake.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dctx-internal.h"

/* SD_LISTEN_FDS_START: the first passed descriptor. */
#define LISTEN_FDS_START 3

/* systemd's limit for a FileDescriptorName= (fdname_is_valid()). */
#define LISTEN_NAME_MAX 255

/*
 * Copy at most 32 bytes of an outside value into buf for a message, each
 * byte that is not printable ASCII as '?': the message may end up on a
 * terminal or in systemd's STATUS=.
 */
static const char *
quote(char *buf, size_t len, const char *value)
{
	size_t i;

	for (i = 0; i + 1 < len && value[i] != '\0'; i++)
		buf[i] = value[i] >= ' ' && value[i] <= '~' ? value[i] : '?';
	buf[i] = '\0';
	if (value[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

/*
 * A decimal number, digits only: no sign, no blank, no base prefix, not
 * empty, at most max.  systemd writes nothing else.
 */
static int
parse_uint(const char *s, long long max, long long *out)
{
	long long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
		if ((v = v * 10 + (s[i] - '0')) > max)
			return -ERANGE;
	if (i == 0 || s[i] != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Whether one name of $LISTEN_FDNAMES, len bytes at name, is one systemd
 * could have written (FileDescriptorName=, systemd.socket(5)): 1 to 255
 * bytes of ASCII, without control characters or ':'.  The reason, or NULL.
 */
static const char *
name_invalid(const char *name, size_t len)
{
	size_t i;

	if (len == 0)
		return "empty";
	if (len > LISTEN_NAME_MAX)
		return "longer than 255 bytes";
	for (i = 0; i < len; i++)
		if (name[i] < ' ' || name[i] > '~')
			return "not printable ASCII";
	return NULL;
}

int
dctx__listen_parse(const char *pid_s, const char *fds_s, const char *names,
    pid_t self, int *count, char *err, size_t errlen)
{
	char q[40];
	long long pid, n;
	const char *p, *colon;
	const char *why;
	int rc, i;

	*count = 0;
	/* sd_listen_fds(3): no $LISTEN_PID, or another's, is not for us. */
	if (pid_s == NULL)
		return 0;
	if ((rc = parse_uint(pid_s, INT_MAX, &pid)) < 0 || pid == 0) {
		dctx__errfmt(err, errlen, rc == -EINVAL ?
		    "not a decimal number" : "not a process id",
		    "LISTEN_PID=%s", quote(q, sizeof(q), pid_s));
		return -EINVAL;
	}
	if ((pid_t)pid != self || fds_s == NULL)
		return 0;
	/* The last descriptor, 3 + n - 1, must be an int. */
	if ((rc = parse_uint(fds_s, INT_MAX - LISTEN_FDS_START + 1, &n)) < 0) {
		dctx__errfmt(err, errlen, rc == -EINVAL ?
		    "not a decimal number" : "more descriptors than can exist",
		    "LISTEN_FDS=%s", quote(q, sizeof(q), fds_s));
		return -EINVAL;
	}
	/* Unset names are "unknown" (sd_listen_fds_with_names(3)). */
	if (names == NULL) {
		*count = (int)n;
		return 0;
	}
	/* Colon-separated, one per descriptor; "" is no name at all. */
	for (i = 0, p = names; *names != '\0'; p = colon + 1) {
		colon = p + strcspn(p, ":");
		if ((why = name_invalid(p, (size_t)(colon - p))) != NULL) {
			dctx__errfmt(err, errlen, why, "LISTEN_FDNAMES: name %d",
			    i + 1);
			return -EINVAL;
		}
		i++;
		if (*colon == '\0')
			break;
	}
	if (i != n) {
		dctx__errfmt(err, errlen, "one name per descriptor is needed",
		    "LISTEN_FDNAMES: %d name%s for LISTEN_FDS=%lld", i,
		    i == 1 ? "" : "s", n);
		return -EINVAL;
	}
	*count = (int)n;
	return 0;
}

char **
dctx__listen_names(const char *names, int count)
{
	size_t len = names != NULL ? strlen(names) + 1 : sizeof("unknown");
	char **v, *buf;
	int i;

	/* One block: the pointers, then the names; free() frees it all. */
	if ((size_t)count > (SIZE_MAX - len) / sizeof(*v) - 1)
		return NULL;
	if ((v = malloc(((size_t)count + 1) * sizeof(*v) + len)) == NULL)
		return NULL;
	buf = (char *)(v + count + 1);
	memcpy(buf, names != NULL ? names : "unknown", len);
	for (i = 0; i < count; i++) {
		v[i] = buf;
		if (names == NULL)
			continue;
		buf += strcspn(buf, ":");
		*buf++ = '\0';
	}
	v[count] = NULL;
	return v;
}

/*
 * Check the passed descriptors and mark them close-on-exec, as
 * sd_listen_fds() does: they are the daemon's, and a program it runs
 * must not hold its listening sockets.  What is not open cannot have
 * been passed: the variables are wrong, or something closed it since.
 */
static int
claim_fds(int count, char *err, size_t errlen)
{
	int fd, flags;

	for (fd = LISTEN_FDS_START; fd - LISTEN_FDS_START < count; fd++) {
		if ((flags = fcntl(fd, F_GETFD)) < 0 ||
		    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			int e = errno;

			dctx__errfmt(err, errlen, e == EBADF ? "not open" :
			    strerror(e), "LISTEN_FDS=%d: fd %d", count, fd);
			return -e;
		}
	}
	return 0;
}

/* Read the variables, once; remove them from the environment. */
static void
listen_read(struct dctx *ctx)
{
	const char *names = getenv("LISTEN_FDNAMES");
	struct stat st;
	int count, rc, i;

	rc = dctx__listen_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
	    names, getpid(), &count, ctx->listen_err, sizeof(ctx->listen_err));
	if (rc == 0 && count > 0 &&
	    (rc = claim_fds(count, ctx->listen_err,
	    sizeof(ctx->listen_err))) == 0 &&
	    (ctx->listen_names = dctx__listen_names(names, count)) == NULL) {
		rc = -ENOMEM;
		dctx__errfmt(ctx->listen_err, sizeof(ctx->listen_err),
		    dctx_strerror(rc), "LISTEN_FDNAMES");
	}
	/*
	 * What each one is: a program may close those it does not use, and
	 * the number then names anything (an accepted connection, a log);
	 * an upgrade passes on only the very sockets it was given.
	 */
	if (rc == 0 && count > 0 && (ctx->listen_ids = calloc((size_t)count,
	    sizeof(*ctx->listen_ids))) != NULL)
		for (i = 0; i < count; i++)
			if (fstat(LISTEN_FDS_START + i, &st) == 0) {
				ctx->listen_ids[i].dev = st.st_dev;
				ctx->listen_ids[i].ino = st.st_ino;
			}
	ctx->listen_rc = rc;
	ctx->nlisten = rc == 0 ? count : 0;
	ctx->listen_read = 1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int
dctx__listen_read(struct dctx *ctx)
{
	if (!ctx->listen_read)
		listen_read(ctx);
	/* Every call that meets the refusal says it again. */
	if (ctx->listen_rc < 0)
		snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s",
		    ctx->listen_err);
	return ctx->listen_rc;
}

int
dctx__listen_has(const struct dctx *ctx, int fd)
{
	return fd >= LISTEN_FDS_START && fd - LISTEN_FDS_START < ctx->nlisten;
}

/*
 * Whether the passed descriptor at index is still open and the very file
 * it was when passed (see listen_read()); where that was not noted, open
 * is enough.
 */
int
dctx__listen_still(const struct dctx *ctx, int index)
{
	struct stat st;

	if (index < 0 || index >= ctx->nlisten ||
	    fstat(LISTEN_FDS_START + index, &st) < 0)
		return 0;
	return ctx->listen_ids == NULL ||
	    (st.st_dev == ctx->listen_ids[index].dev &&
	    st.st_ino == ctx->listen_ids[index].ino);
}

void
dctx__listen_free(struct dctx *ctx)
{
	free(ctx->listen_names);
	ctx->listen_names = NULL;
	free(ctx->listen_ids);
	ctx->listen_ids = NULL;
}

DCTX_EXPORT int
dctx_listen_fds(struct dctx *ctx)
{
	int rc = dctx__listen_read(ctx);

	return rc < 0 ? rc : ctx->nlisten;
}

DCTX_EXPORT int
dctx_listen_fd(struct dctx *ctx, int index)
{
	int rc = dctx__listen_read(ctx);

	if (rc < 0)
		return rc;
	if (index < 0 || index >= ctx->nlisten) {
		dctx__errfmt(ctx->errmsg, sizeof(ctx->errmsg),
		    dctx_strerror(-ENOENT), "listen fd index %d (%d passed)",
		    index, ctx->nlisten);
		return -ENOENT;
	}
	return LISTEN_FDS_START + index;
}

DCTX_EXPORT const char *
dctx_listen_fd_name(struct dctx *ctx, int index)
{
	if (dctx_listen_fd(ctx, index) < 0)
		return NULL;
	return ctx->listen_names[index];
}

DCTX_EXPORT int
dctx_listen_fd_named(struct dctx *ctx, const char *name)
{
	int rc = dctx__listen_read(ctx), i;

	if (rc < 0)
		return rc;
	if (name == NULL)
		return dctx__fail(ctx, -EINVAL, "listen fd named NULL");
	for (i = 0; i < ctx->nlisten; i++)
		if (strcmp(ctx->listen_names[i], name) == 0)
			return LISTEN_FDS_START + i;
	dctx__errfmt(ctx->errmsg, sizeof(ctx->errmsg), dctx_strerror(-ENOENT),
	    "listen fd named '%s' (%d passed)", name, ctx->nlisten);
	return -ENOENT;
}
