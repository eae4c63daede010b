/*
 * What the two upgrade test programs share (tests/tu-upgrade.c).  The
 * daemon's pidfile is tu_path("echod.pid") throughout.
 */
#ifndef TU_UPGRADE_H
#define TU_UPGRADE_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

void sleep_ms(int ms);

/* The echod binary itself (not libtool's wrapper) into out. */
void echod_binary(char *out, size_t len);

/* Copy a file, then rename it over to, as install(1) does. */
void install_file(const char *from, const char *to);

/* Put a shell script at path, replacing what is there. */
void install_script(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Run prog (args NULL-terminated), stdout and stderr into out; its pid. */
pid_t spawn_to(const char *out, const char *prog, va_list ap);
pid_t start_to(const char *out, const char *prog, ...);

/* Its exit status (or 128 + signal), within 60 s. */
int finish(pid_t pid);

/* Run to the end; its output in a static buffer; its status. */
int run(const char **output, const char *prog, ...);

/* `echod --upgrade --pidfile P`: its status, and what it said. */
int upgrade(const char **output);

/* Wait until path's content contains needle, or fail. */
void await_file(const char *path, const char *needle, int ms);

/* The end of a test: SIGTERM, exit 0, nothing left behind. */
void stop_daemon(pid_t pid);

#endif
