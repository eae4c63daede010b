/*
 * malloc_count.so: an LD_PRELOAD shim that counts heap calls, for the
 * allocations-per-signal figure.
 *
 * The counts live in a shared mapping of the file $BENCH_MALLOC_COUNTER, so
 * that they survive the daemon's fork and its closing of every descriptor,
 * and so that the benchmark can read them from outside at any moment.  The
 * allocator itself is glibc's, called through its __libc_* entry points,
 * which needs no dlsym() (dlsym allocates, which would recurse).
 *
 * Slots, 64-bit each: 0 malloc, 1 calloc, 2 realloc, 3 aligned (memalign,
 * posix_memalign, aligned_alloc, valloc, pvalloc), 4 free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

/* Until the constructor ran (or without the variable) count here. */
static uint64_t local_counts[8];
static uint64_t *counts = local_counts;

__attribute__((constructor)) static void
malloc_count_init(void)
{
	const char *path = getenv("BENCH_MALLOC_COUNTER");
	void *map;
	int fd;

	if (path == NULL || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map != MAP_FAILED)
		counts = map;
}

static inline void
count(int slot)
{
	__atomic_fetch_add(&counts[slot], 1, __ATOMIC_RELAXED);
}

void *
malloc(size_t n)
{
	count(0);
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	count(1);
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	count(2);
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	if (p != NULL)
		count(4);
	__libc_free(p);
}

void *
memalign(size_t align, size_t n)
{
	count(3);
	return __libc_memalign(align, n);
}

void *
aligned_alloc(size_t align, size_t n)
{
	count(3);
	return __libc_memalign(align, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	count(3);
	if ((p = __libc_memalign(align, n)) == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *
valloc(size_t n)
{
	count(3);
	return __libc_valloc(n);
}

void *
pvalloc(size_t n)
{
	count(3);
	return __libc_pvalloc(n);
}
