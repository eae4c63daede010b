/*
 * What the benchmark tools share: a clock, starting a launcher and watching
 * for the moment its daemon is ready, and cleaning up after it.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <signal.h>
#include <sys/types.h>

/* What one start looked like, in nanoseconds from the spawn. */
struct bench_start {
	pid_t launcher;     /* the process we spawned */
	pid_t daemon;       /* the pid the pidfile names */
	long long exit_ns;  /* the launcher's exit; -1 when not waited for */
	long long pid_ns;   /* the pidfile first named a live process */
	int status;         /* the launcher's wait status */
	int racing;         /* the pidfile named no live process when the
			       launcher's exit was seen */
};

/* Set when the run's alarm went off: every wait gives up. */
extern volatile sig_atomic_t bench_timed_out;

/* The monotonic clock, in nanoseconds. */
long long bench_now_ns(void);

/* Close every descriptor above 2 that we inherited. */
void bench_close_strays(void);

/*
 * Close inherited descriptors, then become the subreaper of everything we
 * start, so that double-forked daemons come back to us and can be reaped,
 * and set an alarm after which every wait gives up.  Call once, first.
 */
void bench_init(void);

/*
 * Spawn argv with stdin and stdout on /dev/null and stderr inherited;
 * answer_fd, when not -1, becomes the child's fd 3.  envp NULL means our
 * own environment.  Wait until the pidfile names a live process and, with
 * wait_launcher, until the launcher has exited too.
 *
 * @return 0, or -1 with a message on stderr (timeout, launcher failed)
 */
int bench_start(const char *pidfile, char *const argv[], char *const envp[],
    int answer_fd, int wait_launcher, int timeout_ms, struct bench_start *out);

/* SIGKILL the daemon (when > 0) and reap every child we have. */
void bench_reap_all(pid_t daemon);

/* VmRSS of a process, in kB, or -1. */
long bench_rss_kb(pid_t pid);

/* Read the pid a pidfile names; 0 unless it names one in full. */
pid_t bench_read_pidfile(const char *path);

#endif /* BENCHUTIL_H */
