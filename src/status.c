/*
 * What the daemon tells its service manager besides readiness: a status
 * line ("STATUS=", shown by `systemctl status`) and more time for a slow
 * start or stop ("EXTEND_TIMEOUT_USEC=").  Both are one datagram on the
 * $NOTIFY_SOCKET that readiness.c connects (sd_notify(3)), and both are
 * nothing at all where no service manager listens.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dctx-internal.h"

/* The longest status text sent, in bytes; systemd takes 4096 a datagram. */
#define STATUS_MAX 1023

/*
 * Send one datagram.  Before dctx_prepare() or dctx_open() the socket is
 * not connected yet: under a service manager that is a call made too
 * early, said as such, rather than a status silently lost.  Without one
 * ($NOTIFY_SOCKET unset) there is nobody to tell, and nothing to say.
 */
static int
tell(struct dctx *ctx, const char *msg, const char *what)
{
	const char *sock;
	int rc;

	if (!ctx->is_open && !ctx->prepared && !ctx->closed &&
	    (sock = getenv("NOTIFY_SOCKET")) != NULL && sock[0] != '\0')
		return dctx__fail(ctx, -ENOTCONN, "%s: NOTIFY_SOCKET is not "
		    "connected before dctx_prepare() or dctx_open()", what);
	if ((rc = dctx__notify(ctx, msg)) < 0)
		return dctx__fail(ctx, rc, "%s", what);
	return 0;
}

/*
 * Cut s (of len bytes) back to a UTF-8 character boundary: systemd
 * ignores a whole STATUS= that is not valid UTF-8, and a cut through a
 * character would make one of a valid text.
 */
static size_t
utf8_floor(const char *s, size_t len)
{
	size_t i = len, need;
	unsigned char lead;

	/* Back over the continuation bytes (10xxxxxx) at the end. */
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && len - i < 3)
		i--;
	if (i == 0)
		return len;
	lead = (unsigned char)s[i - 1];
	if (lead < 0xc0)
		return len; /* ASCII, or no lead byte: nothing to mend */
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	return len - (i - 1) < need ? i - 1 : len;
}

DCTX_EXPORT int
dctx_status(struct dctx *ctx, const char *fmt, ...)
{
	char buf[7 + STATUS_MAX + 1], *p;
	size_t len;
	va_list ap;
	int n;

	if (fmt == NULL)
		return dctx__fail(ctx, -EINVAL, "status: NULL format");
	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	n = vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		return dctx__fail(ctx, -EINVAL, "status: format '%s'", fmt);
	len = strlen(buf + 7);
	if ((size_t)n > len)
		buf[7 + utf8_floor(buf + 7, len)] = '\0';
	/* One line: a newline would begin another assignment. */
	for (p = buf + 7; (p = strchr(p, '\n')) != NULL; p++)
		*p = ' ';
	return tell(ctx, buf, "status");
}

DCTX_EXPORT int
dctx_extend_timeout(struct dctx *ctx, uint64_t usec)
{
	char buf[64];

	if (usec == 0 || usec == UINT64_MAX)
		return dctx__fail(ctx, -EINVAL, "extend timeout: %" PRIu64
		    " us%s", usec, usec == 0 ? ": extends nothing" :
		    ": systemd's infinity, which it ignores");
	snprintf(buf, sizeof(buf), "EXTEND_TIMEOUT_USEC=%" PRIu64, usec);
	return tell(ctx, buf, "extend timeout");
}
