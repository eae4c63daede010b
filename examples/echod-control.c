/*
 * echod --status, --stop, --reload.  One line each: the answer on stdout,
 * a failure on stderr.  The exit statuses are LSB's (LSB 3.1 Core, "Init
 * Script Actions"): for status 0 running, 1 dead with its pidfile left, 3
 * not running, 4 cannot tell; for the other actions 0 done, 1 failed, 2
 * a bad command line, 7 not running.  Stopping what is not running is
 * done, as LSB asks: 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dctx.h"
#include "echod-control.h"

static const char *
action_name(enum echod_action action)
{
	return action == ECHOD_STATUS ? "status" :
	    action == ECHOD_STOP ? "stop" : "reload";
}

static int
status(const char *pidfile)
{
	pid_t pid;
	int rc = dctx_pidfile_status(pidfile, &pid);

	switch (rc) {
	case DCTX_PIDFILE_RUNNING:
		if (pid > 0)
			printf("echod: running as pid %ld\n", (long)pid);
		else
			printf("echod: running (pidfile %s is locked, but "
			    "names no live process holding it)\n", pidfile);
		return 0;
	case DCTX_PIDFILE_DEAD:
		printf("echod: dead, pidfile %s left\n", pidfile);
		return 1;
	case DCTX_PIDFILE_NOT_RUNNING:
		printf("echod: not running\n");
		return 3;
	default:
		fprintf(stderr, "echod: cannot tell: pidfile %s: %s\n",
		    pidfile, dctx_strerror(rc));
		return DCTX_PIDFILE_UNKNOWN;
	}
}

static int
stop(const char *pidfile, int stop_ms)
{
	pid_t pid;
	int rc = dctx_pidfile_stop(pidfile, stop_ms, &pid);

	switch (rc) {
	case DCTX_STOP_TERMINATED:
		printf("echod: stopped pid %ld\n", (long)pid);
		return 0;
	case DCTX_STOP_KILLED:
		printf("echod: pid %ld did not stop in %d ms: killed\n",
		    (long)pid, stop_ms);
		return 0;
	case DCTX_STOP_NOT_RUNNING:
		printf("echod: not running\n");
		return 0;
	case DCTX_STOP_STALE:
		printf("echod: dead, pidfile %s left\n", pidfile);
		return 0;
	case -ESRCH:
		fprintf(stderr, "echod: cannot stop: pidfile %s is locked, "
		    "but names no live process holding it\n", pidfile);
		return 1;
	case -ETIMEDOUT:
		fprintf(stderr, "echod: pid %ld did not stop in %d ms, nor "
		    "after SIGKILL: pidfile %s still locked\n", (long)pid,
		    stop_ms, pidfile);
		return 1;
	default:
		fprintf(stderr, "echod: cannot stop: pidfile %s: %s\n",
		    pidfile, dctx_strerror(rc));
		return 1;
	}
}

static int
reload(const char *pidfile)
{
	pid_t pid;
	int rc = dctx_pidfile_kill(pidfile, SIGHUP, &pid);

	switch (rc) {
	case 0:
		printf("echod: sent SIGHUP to pid %ld\n", (long)pid);
		return 0;
	case DCTX_PIDFILE_NOT_RUNNING:
		fprintf(stderr, "echod: not running\n");
		return 7;
	case DCTX_PIDFILE_DEAD:
		fprintf(stderr, "echod: dead, pidfile %s left\n", pidfile);
		return 7;
	case -ESRCH:
		fprintf(stderr, "echod: cannot reload: pidfile %s is locked, "
		    "but names no live process holding it\n", pidfile);
		return 1;
	default:
		fprintf(stderr, "echod: cannot reload: pidfile %s: %s\n",
		    pidfile, dctx_strerror(rc));
		return 1;
	}
}

int
echod_control(enum echod_action action, const char *pidfile, int stop_ms)
{
	if (pidfile == NULL) {
		fprintf(stderr, "echod: --%s needs --pidfile PATH\n",
		    action_name(action));
		return action == ECHOD_STATUS ? DCTX_PIDFILE_UNKNOWN : 2;
	}
	if (action == ECHOD_STATUS)
		return status(pidfile);
	if (action == ECHOD_STOP)
		return stop(pidfile, stop_ms);
	return reload(pidfile);
}
