/*
 * Fuzz target: the $NOTIFY_SOCKET address parser, dctx__notify_address().
 * The environment is outside input.  Besides memory errors, the target
 * checks what a parsed address must be: AF_UNIX, a length within the
 * structure, a path ending in its NUL, an abstract name starting with one,
 * and the bytes of the variable, none lost or added.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "dctx-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	struct sockaddr_un sun;
	socklen_t len = 0;
	char *addr = malloc(size + 1);
	size_t n;
	int rc;

	if (addr == NULL)
		return 0;
	/* An environment variable is a C string: it ends at the first NUL. */
	memcpy(addr, data, size);
	addr[size] = '\0';
	n = strlen(addr);
	rc = dctx__notify_address(addr, &sun, &len);
	if (rc == -EAFNOSUPPORT) {
		if (strncmp(addr, "vsock", 5) != 0)
			abort();
	} else if (rc < 0) {
		if (rc != -EINVAL || (n >= 2 && addr[0] == '@' &&
		    n <= sizeof(sun.sun_path)) ||
		    (addr[0] == '/' && n < sizeof(sun.sun_path)))
			abort();
	} else {
		if (sun.sun_family != AF_UNIX || len > sizeof(sun) ||
		    len <= off + 1)
			abort();
		if (addr[0] == '/' ? len != off + n + 1 ||
		    memcmp(sun.sun_path, addr, n + 1) != 0 :
		    addr[0] != '@' || len != off + n || sun.sun_path[0] != '\0' ||
		    memcmp(sun.sun_path + 1, addr + 1, n - 1) != 0)
			abort();
	}
	free(addr);
	return 0;
}
