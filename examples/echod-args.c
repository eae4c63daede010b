/*
 * echod's option values.  strtol() is not used: it skips leading blanks,
 * takes a sign ("-1" as an octal umask became 037777777777) and a "0x"
 * prefix, and its long is then cut to the option's type, where 040000000000
 * wraps to a umask of 0.  Here a value is digits and nothing else, checked
 * against its range digit by digit, before any cast, so nothing is ever
 * silently bent into another value.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>

#include "echod-args.h"

/*
 * Digits of base 8 or 10 and nothing else, at most max: the value, or -1.
 * The loop stops as soon as the value passes max, so it never overflows.
 */
static long
digits(const char *s, int base, long max)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s >= '0' + base)
			return -1;
		v = v * base + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

const char *
echod_parse_umask(const char *s, mode_t *out)
{
	long v = digits(s, 8, 0777);

	if (v < 0)
		return "not an octal mode from 0 to 0777";
	*out = (mode_t)v;
	return NULL;
}

const char *
echod_parse_fd(const char *s, int *out)
{
	long v = digits(s, 10, INT_MAX);

	if (v < 0)
		return "not a descriptor number from 0 to 2147483647";
	*out = (int)v;
	return NULL;
}

const char *
echod_parse_ms(const char *s, int *out)
{
	long v = digits(s, 10, INT_MAX);

	if (v < 0)
		return "not a number of ms from 0 to 2147483647";
	*out = (int)v;
	return NULL;
}

const char *
echod_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *colon;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen;
	long port;

	/* An IPv6 address holds colons of its own: its port follows "]". */
	if (s[0] == '[')
		colon = (colon = strstr(s, "]:")) != NULL ? colon + 1 : NULL;
	else
		colon = strrchr(s, ':');
	if (colon == NULL)
		return "not an ADDRESS:PORT";
	if ((port = digits(colon + 1, 10, 65535)) < 1)
		return "the port is not a number from 1 to 65535";
	hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host))
		return "not an IPv4 or [IPv6] address";
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			return "not an IPv4 or [IPv6] address";
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*sin6);
		return NULL;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return "not an IPv4 or [IPv6] address";
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	*len = sizeof(*sin);
	return NULL;
}
