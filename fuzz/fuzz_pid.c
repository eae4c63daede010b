/*
 * Fuzz target: the pidfile reader's parser, dctx__parse_pid().  A pidfile
 * is outside input (any process of its owner can write it), and a tool
 * signals what it yields: besides memory errors, the target checks the
 * parser against a slow reference built on strtoll(), and that *pid is
 * untouched on failure.  Each input is tried both as a whole file and as
 * a reader's full buffer, which may end in the middle of the number.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dctx-internal.h"

/* The pid the bytes hold by the rule in dctx.h, or 0 for none; digits
 * that run to the end of data are no pid unless data is the whole file. */
static long long
reference(const uint8_t *data, size_t size, int at_end)
{
	char digits[16];
	size_t i = 0, k, z;

	while (i < size && data[i] >= '0' && data[i] <= '9')
		i++;
	if (i == 0 || (i < size && data[i] != '\n') || (i == size && !at_end))
		return 0;
	for (z = 0; z < i && data[z] == '0'; z++)
		;
	k = i - z;
	if (k == 0 || k > 10)
		return 0;
	memcpy(digits, data + z, k);
	digits[k] = '\0';
	if (strtoll(digits, NULL, 10) > INT32_MAX)
		return 0;
	return strtoll(digits, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int at_end;

	for (at_end = 0; at_end <= 1; at_end++) {
		pid_t pid = -7;
		int rc = dctx__parse_pid((const char *)data, size, at_end, &pid);
		long long want = reference(data, size, at_end);

		if (rc == 0 ? pid <= 0 || pid != want : pid != -7 || want != 0)
			abort();
	}
	return 0;
}
