/*
 * systemd's watchdog (WatchdogSec=): while $WATCHDOG_USEC is set for us, a
 * timer in the daemon's own loop sends "WATCHDOG=1" at half the interval,
 * as sd_watchdog_enabled(3) advises.  The pings come from the loop on
 * purpose: a loop that is stuck (a callback that never returns, a
 * deadlock, a SIGSTOP) stops them, and systemd then kills and restarts the
 * service, which is the watchdog's whole point.  A thread of its own would
 * keep pinging for a dead server.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

/* Decimal digits only, more than 0, no overflow: "WATCHDOG_USEC=". */
static int
parse_usec(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s || *p != '\0' || v == 0 || v == UINT64_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Whether systemd asks this process for pings, as sd_watchdog_enabled(3)
 * decides: $WATCHDOG_USEC set, and $WATCHDOG_PID unset or naming us.
 * Called by dctx_open() before the detach, in the process systemd
 * started: systemd names that process in $WATCHDOG_PID, and a daemon that
 * detaches has another pid by the time it pings (under Type=forking
 * systemd takes the daemon for the main process once it knows its pid,
 * and hears its pings from then on).  A variable that does not parse is
 * no watchdog.
 */
void
dctx__watchdog_read(struct dctx *ctx)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	pid_t who;

	ctx->watchdog_usec = 0;
	if (usec == NULL || parse_usec(usec, &ctx->watchdog_usec) < 0) {
		ctx->watchdog_usec = 0;
		return;
	}
	if (pid != NULL && (dctx__parse_pid(pid, strlen(pid), 1, &who) < 0 ||
	    who != getpid()))
		ctx->watchdog_usec = 0;
}

/*
 * The open succeeded: the variables were for us, and a program the daemon
 * runs must not take them for its own (sd_watchdog_enabled()'s
 * unset_environment), whether they named us or not.  A failed open leaves
 * them for its retry, as it leaves $NOTIFY_SOCKET.
 */
void
dctx__watchdog_opened(void)
{
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void
on_ping(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	/* dctx__notify() stays quiet in a forked child that runs the loop. */
	dctx__notify(arg, "WATCHDOG=1");
}

/*
 * Step 8, once the base exists: the ping timer, when systemd asked for
 * pings and we can reach it.  A persistent libevent timer is rescheduled
 * from the time it was due, not from when its callback ran, so the pings
 * do not drift later under load.  The first one is due half an interval
 * after the open: systemd arms its watchdog only when the service is up
 * (READY=1), and a first ping from the loop proves the loop turns.
 */
int
dctx__watchdog_start(struct dctx *ctx)
{
	struct timeval tv;
	uint64_t half = ctx->watchdog_usec / 2;

	/*
	 * Never below a millisecond: nobody can meet a shorter interval, and
	 * a timeout of 0 would spin the loop.
	 */
	if (half < 1000)
		half = 1000;

	if (ctx->watchdog_usec == 0 || ctx->notify_fd < 0)
		return 0;
	ctx->watchdog_ev = event_new(ctx->base, -1, EV_PERSIST, on_ping, ctx);
	if (ctx->watchdog_ev == NULL)
		return dctx__fail(ctx, -ENOMEM, "watchdog timer");
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	if (event_add(ctx->watchdog_ev, &tv) < 0) {
		event_free(ctx->watchdog_ev);
		ctx->watchdog_ev = NULL;
		return dctx__fail(ctx, -ENOMEM, "watchdog timer");
	}
	return 0;
}

/*
 * No more pings: the shutdown chain has ended (systemd stopped watching
 * at STOPPING=1, and a timer left pending would keep a loop run again
 * after the chain from ever running out of events), or the context
 * closes, or a failed open frees the base under it.
 */
void
dctx__watchdog_stop(struct dctx *ctx)
{
	if (ctx->watchdog_ev != NULL) {
		event_free(ctx->watchdog_ev);
		ctx->watchdog_ev = NULL;
	}
}

DCTX_EXPORT uint64_t
dctx_watchdog_usec(const struct dctx *ctx)
{
	if (ctx->watchdog_ev == NULL || !ctx->is_open || ctx->pid != getpid())
		return 0;
	return ctx->watchdog_usec;
}
