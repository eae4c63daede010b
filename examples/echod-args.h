/*
 * echod's option values, parsed apart from echod so that its fuzz target
 * (fuzz/fuzz_echod_args.c) runs the very code echod runs.  Each parser
 * takes the text the operator typed and returns NULL with *out set, or
 * the reason it was refused, for a message that quotes the text.
 */
#ifndef ECHOD_ARGS_H
#define ECHOD_ARGS_H

#include <sys/socket.h>
#include <sys/types.h>

/* --umask: octal digits only, 0 to 0777. */
const char *echod_parse_umask(const char *s, mode_t *out);

/* --preserve-fd: decimal digits only, 0 to INT_MAX (the library refuses
 * 0 to 2 and a closed descriptor, saying so). */
const char *echod_parse_fd(const char *s, int *out);

/* --shutdown-timeout: decimal milliseconds, 0 to INT_MAX. */
const char *echod_parse_ms(const char *s, int *out);

/* --listen: "A.B.C.D:PORT" or "[IPv6]:PORT", PORT from 1 to 65535. */
const char *echod_parse_listen(const char *s, struct sockaddr_storage *ss,
    socklen_t *len);

#endif
