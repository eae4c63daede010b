/*
 * Fuzz target: echod's option values (examples/echod-args.c), the code
 * echod itself runs.  The first byte chooses the parser (umask, fd, ms,
 * listen), the rest is the text, up to its first NUL as in argv.  Besides
 * memory errors, the target checks each parser against a reference: a
 * number is accepted exactly when it is digits and nothing else within
 * its range, and an accepted address prints back to one that parses the
 * same.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echod-args.h"

/* Digits of base and nothing else, up to max: the value, or -1. */
static long long
reference(const char *s, int base, long long max)
{
	size_t i, z, n = strlen(s);

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] >= '0' + base)
			return -1;
	for (z = 0; z < n && s[z] == '0'; z++)
		;
	if (n - z > 12)
		return -1;
	return strtoll(s, NULL, base) <= max ? strtoll(s, NULL, base) : -1;
}

static void
check_listen(const char *s)
{
	struct sockaddr_storage ss, again;
	socklen_t len, len2;
	char host[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 16];
	unsigned port;

	if (echod_parse_listen(s, &ss, &len) != NULL)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		if (len != sizeof(*sin) || inet_ntop(AF_INET, &sin->sin_addr,
		    host, sizeof(host)) == NULL)
			abort();
		port = ntohs(sin->sin_port);
		snprintf(text, sizeof(text), "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (len != sizeof(*sin6) || inet_ntop(AF_INET6,
		    &sin6->sin6_addr, host, sizeof(host)) == NULL)
			abort();
		port = ntohs(sin6->sin6_port);
		snprintf(text, sizeof(text), "[%s]:%u", host, port);
	} else {
		abort();
	}
	if (port == 0 || echod_parse_listen(text, &again, &len2) != NULL ||
	    len2 != len || memcmp(&ss, &again, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	mode_t mask = 01234567;
	int n = -7;
	long long want;
	const char *why;

	if (size == 0 || (s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		why = echod_parse_umask(s, &mask);
		want = reference(s, 8, 0777);
		if (why == NULL ? (long long)mask != want :
		    want >= 0 || mask != 01234567)
			abort();
		break;
	case 1:
	case 2:
		why = data[0] % 4 == 1 ? echod_parse_fd(s, &n) :
		    echod_parse_ms(s, &n);
		want = reference(s, 10, INT_MAX);
		if (why == NULL ? n != want : want >= 0 || n != -7)
			abort();
		break;
	default:
		check_listen(s);
		break;
	}
	free(s);
	return 0;
}
