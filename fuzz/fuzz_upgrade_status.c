/*
 * Fuzz target: the upgrade status file's parser,
 * dctx__upgrade_parse_status().  The file lies beside the pidfile, in a
 * directory other processes of its owner may write, and a requester
 * prints what it says: besides memory errors, the target checks the
 * parser against a slow reference that splits the first line on its
 * blanks, and that the message never runs past its buffer's end.
 */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dctx-internal.h"
#include "upgrade-internal.h"

/* Digits only, 1 to 19 of them (which fit): 0 with *v, or -1. */
static int
digits(const char *s, size_t n, unsigned long long *v)
{
	char buf[24];
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 10);
	return 0;
}

/* The record by the rule of upgrade-request.c, or -1 for none. */
static int
reference(const char *data, size_t size, struct dctx__upgrade_status *st)
{
	static const char *const words[] = { [DCTX__UP_STARTING] = "starting",
	    [DCTX__UP_READY] = "ready", [DCTX__UP_FAILED] = "failed" };
	const char *nl = memchr(data, '\n', size), *tok[5], *p, *end;
	size_t len[5], n, w;
	unsigned long long v[5];
	int i;

	if (nl == NULL)
		return -1;
	for (i = 0, p = data; i < 5; i++) {
		end = i < 4 ? memchr(p, ' ', (size_t)(nl - p)) : nl;
		if (end == NULL)
			return -1;
		tok[i] = p;
		len[i] = (size_t)(end - p);
		p = end + 1;
	}
	for (i = 0; i < 5; i++)
		if (i != 3 && digits(tok[i], len[i], &v[i]) < 0)
			return -1;
	st->state = 0;
	for (w = 0; w < sizeof(words) / sizeof(words[0]); w++)
		if (words[w] != NULL && len[3] == strlen(words[w]) &&
		    memcmp(tok[3], words[w], len[3]) == 0)
			st->state = (int)w;
	if (st->state == 0 || v[0] == 0 || v[0] > INT_MAX || v[4] > INT_MAX ||
	    v[2] == 0)
		return -1;
	st->old_pid = (pid_t)v[0];
	st->start = v[1];
	st->seq = (unsigned long)v[2];
	st->new_pid = (pid_t)v[4];
	p = nl + 1;
	end = memchr(p, '\n', size - (size_t)(p - data));
	n = (size_t)((end != NULL ? end : data + size) - p);
	if (n >= sizeof(st->msg))
		n = sizeof(st->msg) - 1;
	memcpy(st->msg, p, n);
	st->msg[n] = '\0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dctx__upgrade_status got, want;
	char *copy = malloc(size + 1);
	int rc, ref;

	if (copy == NULL)
		return 0;
	/* Exactly size bytes: a read past them is ASan's to see. */
	memcpy(copy, data, size);
	memset(&got, 0x5a, sizeof(got));
	rc = dctx__upgrade_parse_status(copy, size, &got);
	ref = reference(copy, size, &want);
	if ((rc == 0) != (ref == 0))
		abort();
	if (rc == 0 && (got.old_pid != want.old_pid ||
	    got.start != want.start || got.seq != want.seq ||
	    got.state != want.state || got.new_pid != want.new_pid ||
	    memcmp(got.msg, want.msg, strlen(want.msg) + 1) != 0))
		abort();
	free(copy);
	return 0;
}
