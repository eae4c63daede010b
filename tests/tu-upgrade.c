/*
 * What the two upgrade test programs (check_upgrade, check_upgrade_edges)
 * share: echod run from a copy of its binary, new binaries put at its
 * path, commands run with their output in a file, and the end of a test.
 */
#include "config.h"

#include "tu-upgrade.h"

#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The echod binary itself, not libtool's wrapper script: the path an
 * upgrade re-reads is the one the kernel ran, which the wrapper's exec
 * would make the build tree's.  Its library is found through
 * LD_LIBRARY_PATH, as the wrapper would set it.
 */
void
echod_binary(char *out, size_t len)
{
	char head[4] = "", dir[1024], top[512];
	int fd = open(ECHOD_PATH, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, head, 4), 4);
	close(fd);
	snprintf(dir, sizeof(dir), "%s", ECHOD_PATH);
	snprintf(top, sizeof(top), "%s", dirname(dir));
	if (memcmp(head, "\177ELF", 4) == 0)
		snprintf(out, len, "%s", ECHOD_PATH);
	else
		snprintf(out, len, "%.480s/.libs/echod", top);
	snprintf(dir, sizeof(dir), "%s/../.libs", top);
	setenv("LD_LIBRARY_PATH", dir, 1);
}

/* Copy a file, then rename it over to, as install(1) does. */
void
install_file(const char *from, const char *to)
{
	char tmp[600], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(tmp, sizeof(tmp), "%s.new", to);
	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	ck_assert_int_eq(close(out), 0);
	ck_assert_int_eq(rename(tmp, to), 0);
}

/* Put a shell script at path, replacing what is there. */
void
install_script(const char *path, const char *fmt, ...)
{
	char tmp[600];
	va_list ap;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ck_assert_ptr_nonnull(f = fopen(tmp, "we"));
	fprintf(f, "#!/bin/sh\n");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(tmp, 0755), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

/* Run prog (args NULL-terminated), stdout and stderr into out; its pid. */
pid_t
spawn_to(const char *out, const char *prog, va_list ap)
{
	char *argv[16], path[512];
	int n = 0, fd;
	pid_t pid;

	snprintf(path, sizeof(path), "%s", prog);
	argv[n++] = path;
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	argv[n] = NULL;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(open("/dev/null", O_RDONLY), 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(path, argv);
		_exit(127);
	}
	close(fd);
	return pid;
}

pid_t
start_to(const char *out, const char *prog, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, prog);
	pid = spawn_to(out, prog, ap);
	va_end(ap);
	return pid;
}

/* Its exit status (or 128 + signal), within 60 s. */
int
finish(pid_t pid)
{
	int st = tu_wait_gone(pid, 60000);

	ck_assert_msg(st >= 0, "pid %ld still runs after 60 s", (long)pid);
	return st;
}

/* Run to the end; its output in a static buffer; its status. */
int
run(const char **output, const char *prog, ...)
{
	va_list ap;
	pid_t pid;
	int st;

	va_start(ap, prog);
	pid = spawn_to(tu_path("run.out"), prog, ap);
	va_end(ap);
	st = finish(pid);
	*output = tu_slurp(tu_path("run.out"));
	return st;
}

/* `echod --upgrade --pidfile P`: its status, and what it said. */
int
upgrade(const char **output)
{
	pid_t now = 0;
	int st;

	st = run(output, ECHOD_PATH, "--upgrade", "--pidfile",
	    tu_path("echod.pid"), (char *)NULL);
	if (dctx_pidfile_holder(tu_path("echod.pid"), &now) == 0 && now > 0)
		tu_track(now);
	return st;
}

/* Wait until path's content contains needle, or fail. */
void
await_file(const char *path, const char *needle, int ms)
{
	ck_assert_msg(tu_wait_file_contains(path, needle, ms),
	    "no '%s' in %s within %d ms:\n%s", needle, path, ms,
	    tu_slurp(path));
}

/* The end of a test: SIGTERM, exit 0, nothing left behind. */
void
stop_daemon(pid_t pid)
{
	tu_stop_cleanly(pid);
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), -1);
	ck_assert_int_eq(access(tu_path("echod.pid.upgrade"), F_OK), -1);
	ck_assert(tu_no_children(5000));
}
