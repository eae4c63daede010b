/*
 * Fuzz target: the socket-activation parser, dctx__listen_parse(), and the
 * split of $LISTEN_FDNAMES, dctx__listen_names().  The environment is
 * outside input.  The first byte says which of the three variables are
 * set (bits 0, 1, 2: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES); the rest is
 * their values, separated by NUL bytes.  Besides memory errors, the target
 * checks what the rules in dctx.h promise: a refusal is -EINVAL with a
 * one-line printable message naming the variable; without LISTEN_PID, or
 * with one that is not our pid, nothing is passed; an accepted count is
 * the number LISTEN_FDS says, with as many valid names, which the split
 * gives back one by one, none lost or added.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dctx-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SELF 4242

/* The field of the NUL-separated list at index k, or "" past its end. */
static const char *
field(const char *buf, size_t len, int k)
{
	size_t i = 0;

	while (k-- > 0) {
		i += strlen(buf + i) + 1;
		if (i >= len)
			return "";
	}
	return buf + i;
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* The value of a digits-only string, saturated above INT_MAX. */
static long long
value(const char *s)
{
	long long v = 0;

	for (; *s != '\0'; s++)
		if ((v = v * 10 + (*s - '0')) > 1LL << 40)
			return 1LL << 40;
	return v;
}

static void
check_names(const char *names, int count)
{
	char **v = dctx__listen_names(names, count);
	const char *p = names;
	size_t n;
	int i;

	if (v == NULL)
		return; /* memory short: not a defect */
	for (i = 0; i < count; i++) {
		if (names == NULL) {
			if (strcmp(v[i], "unknown") != 0)
				abort();
			continue;
		}
		n = strlen(v[i]);
		if (n == 0 || n > 255 || strncmp(v[i], p, n) != 0 ||
		    strchr(v[i], ':') != NULL)
			abort();
		p += n;
		if (*p != (i + 1 < count ? ':' : '\0'))
			abort();
		p++;
	}
	if (v[count] != NULL)
		abort();
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pid, *fds, *names;
	char *buf, err[256];
	size_t i;
	int count = -1, rc;

	if (size < 1 || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	pid = data[0] & 1 ? field(buf, size, 0) : NULL;
	fds = data[0] & 2 ? field(buf, size, 1) : NULL;
	names = data[0] & 4 ? field(buf, size, 2) : NULL;
	err[0] = '\0';
	rc = dctx__listen_parse(pid, fds, names, SELF, &count, err, sizeof(err));
	if (rc < 0) {
		if (rc != -EINVAL || count != 0 || strncmp(err, "LISTEN_", 7) != 0)
			abort();
		for (i = 0; err[i] != '\0'; i++)
			if (err[i] < ' ' || err[i] > '~')
				abort();
		/* Only a LISTEN_PID that is ours lets the others be judged. */
		if (pid != NULL && all_digits(pid) && value(pid) != SELF &&
		    value(pid) != 0 && value(pid) <= 0x7fffffff)
			abort();
	} else if (rc != 0) {
		abort();
	} else if (pid == NULL || fds == NULL || value(pid) != SELF) {
		if (count != 0)
			abort();
	} else {
		if (!all_digits(fds) || value(fds) != count)
			abort();
		/* A count with no names costs memory only: keep it small. */
		if (names != NULL || count <= 4096)
			check_names(names, count);
	}
	free(buf);
	return 0;
}
