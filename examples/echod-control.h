/*
 * echod's operator commands: --status, --stop and --reload act on the
 * daemon that holds --pidfile, through the library's control calls, and
 * exit with the LSB codes of an init script's action.  They neither
 * daemonize nor take the pidfile.
 */
#ifndef ECHOD_CONTROL_H
#define ECHOD_CONTROL_H

enum echod_action {
	ECHOD_SERVE = 0,
	ECHOD_STATUS,
	ECHOD_STOP,
	ECHOD_RELOAD
};

/* The default of --stop-timeout, in ms. */
#define ECHOD_STOP_TIMEOUT_MS 10000

/*
 * Run an action on the daemon holding pidfile (NULL: none given), print
 * one line, and return the exit status.
 */
int echod_control(enum echod_action action, const char *pidfile,
    int stop_ms);

#endif
