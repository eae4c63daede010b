/*
 * The real systemd for the service-manager tests: tests/sdbox boots it as
 * pid 1 of private namespaces, once per test program (a boot costs about a
 * second), and every test of the program drives it with systemctl.  Files
 * the units write land in the box's own /run, which the test reads from
 * outside through /proc/PID/root.
 */
#include "config.h"

#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char state[128];
static char root[64];
static pid_t starter;

static void
stop_at_exit(void)
{
	/* Check's forked test processes exit too: only the starter stops. */
	if (getpid() == starter)
		tu_sdbox_stop();
}

int
tu_sdbox_start(char *why, size_t len)
{
	char cmd[2048], line[256];
	FILE *p;
	int st;

	snprintf(state, sizeof(state), "/run/dctx-sdbox.%ld.pid",
	    (long)getpid());
	/* The build and source trees may sit under /tmp, which the box
	 * covers with its own: bind them in. */
	snprintf(cmd, sizeof(cmd), "SDBOX_STATE='%s' SDBOX_BIND='%s:%s' "
	    "'%s' start 2>&1", state, getenv("abs_top_builddir") ?
	    getenv("abs_top_builddir") : ".", getenv("abs_top_srcdir") ?
	    getenv("abs_top_srcdir") : ".", SDBOX_PATH);
	why[0] = '\0';
	if ((p = popen(cmd, "r")) == NULL) {
		snprintf(why, len, "popen: cannot run %s", SDBOX_PATH);
		return -1;
	}
	while (fgets(line, sizeof(line), p) != NULL)
		if (why[0] == '\0') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(why, len, "%s", line);
		}
	st = pclose(p);
	if (st != 0) {
		if (why[0] == '\0')
			snprintf(why, len, "%s start failed", SDBOX_PATH);
		state[0] = '\0';
		return -1;
	}
	if ((p = fopen(state, "r")) == NULL || fgets(line, sizeof(line), p)
	    == NULL) {
		if (p != NULL)
			fclose(p);
		snprintf(why, len, "no state in %s", state);
		return -1;
	}
	fclose(p);
	snprintf(root, sizeof(root), "/proc/%ld/root", strtol(line, NULL, 10));
	starter = getpid();
	atexit(stop_at_exit);
	return 0;
}

void
tu_sdbox_stop(void)
{
	char cmd[512];

	if (state[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "SDBOX_STATE='%s' '%s' stop", state,
	    SDBOX_PATH);
	if (system(cmd) != 0)
		fprintf(stderr, "sdbox stop failed\n");
	state[0] = '\0';
}

int
tu_sdbox_run(char *out, size_t len, const char *fmt, ...)
{
	char inner[4096], cmd[4608];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	ck_assert_msg(state[0] != '\0', "the box is not running");
	va_start(ap, fmt);
	vsnprintf(inner, sizeof(inner), fmt, ap);
	va_end(ap);
	/* The command goes through sh -c inside the box, quoted once. */
	snprintf(cmd, sizeof(cmd), "SDBOX_STATE='%s' '%s' run sh -c '%s' 2>&1",
	    state, SDBOX_PATH, inner);
	ck_assert_msg(strchr(inner, '\'') == NULL, "no single quotes: %s",
	    inner);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	if (out != NULL && len > 0) {
		n = fread(out, 1, len - 1, p);
		out[n] = '\0';
	}
	/* Read whatever did not fit, so the command never blocks. */
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *
tu_sdbox_path(const char *inside)
{
	static char buf[4][512];
	static int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s%s", root, inside);
	return b;
}

void
tu_sdbox_unit(const char *name, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "/run/systemd/system/%s", name);
	f = fopen(tu_sdbox_path(path), "w");
	ck_assert_msg(f != NULL, "cannot write unit %s", name);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(tu_sdbox_run(NULL, 0, "systemctl daemon-reload"), 0);
}

const char *
tu_sdbox_show(const char *unit, const char *prop)
{
	static char buf[512];

	tu_sdbox_run(buf, sizeof(buf), "systemctl show -P %s %s", prop, unit);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}
