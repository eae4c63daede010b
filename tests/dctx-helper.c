/*
 * dctx-helper: the daemon the tests start.  It takes echod's options plus a
 * few that make it do what a test needs to watch from outside; it reports
 * on its stdout (a file the test names with --stdout).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx.h"

static struct dctx *ctx;

/* A shutdown step: its name and how it behaves. */
struct step {
	char name[32];
	int mode;              /* STEP_NOW, STEP_ASYNC, STEP_NEVER */
	int ms;
	struct dctx_shutdown *handle;
	struct event *timer;
};
enum { STEP_NOW, STEP_ASYNC, STEP_NEVER };
static struct step steps[8];
static int nsteps;

/* The reload step of --reload-step-ms: how long it takes, its runs. */
static int reload_ms = -1;
static int reload_runs;
static struct event *reload_timer;

/* The worker thread, stopped through a pipe. */
static struct dctx_thread *worker;
static int worker_pipe[2] = { -1, -1 };

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* A mapped signal: prove it runs in the loop by using the base, and on
 * the main thread. */
static void
on_signal(struct dctx *c, int signo, void *arg)
{
	struct timeval tv;
	int in_loop = event_base_gettimeofday_cached(dctx_base(c), &tv) == 0;

	(void)arg;
	say("signal %d in-loop %d main-thread %d\n", signo, in_loop,
	    gettid() == getpid());
}

static void
step_timer(evutil_socket_t fd, short what, void *arg)
{
	struct step *st = arg;

	(void)fd;
	(void)what;
	say("step %s done\n", st->name);
	dctx_shutdown_done(st->handle);
}

static void
run_step(struct dctx *c, struct dctx_shutdown *handle, int late, void *arg)
{
	struct step *st = arg;
	struct timeval tv;

	if (late) {
		say("step %s late\n", st->name);
		return;
	}
	say("step %s start\n", st->name);
	st->handle = handle;
	if (st->mode == STEP_NOW) {
		dctx_shutdown_done(handle);
	} else if (st->mode == STEP_ASYNC) {
		tv.tv_sec = st->ms / 1000;
		tv.tv_usec = (st->ms % 1000) * 1000;
		st->timer = evtimer_new(dctx_base(c), step_timer, st);
		evtimer_add(st->timer, &tv);
	}
}

/* "NAME:now", "NAME:async:MS" or "NAME:never". */
static int
add_step(const char *spec)
{
	struct step *st = &steps[nsteps];
	const char *colon = strchr(spec, ':');

	if (nsteps == 8 || colon == NULL || colon - spec >= 32)
		return -1;
	memcpy(st->name, spec, (size_t)(colon - spec));
	if (strcmp(colon + 1, "now") == 0)
		st->mode = STEP_NOW;
	else if (strcmp(colon + 1, "never") == 0)
		st->mode = STEP_NEVER;
	else if (strncmp(colon + 1, "async:", 6) == 0) {
		st->mode = STEP_ASYNC;
		st->ms = atoi(colon + 7);
	} else
		return -1;
	nsteps++;
	return dctx_on_shutdown(ctx, run_step, st);
}

static void
reload_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	say("reload step done %d\n", reload_runs);
	dctx_reload_done(arg);
}

/* A reload step that finishes reload_ms later, from a timer. */
static void
reload_step(struct dctx *c, struct dctx_reload *step, void *arg)
{
	struct timeval tv = { reload_ms / 1000, (reload_ms % 1000) * 1000 };

	(void)arg;
	say("reload step start %d\n", ++reload_runs);
	if (reload_ms == 0) {
		say("reload step done %d\n", reload_runs);
		dctx_reload_done(step);
		return;
	}
	if (reload_timer != NULL)
		event_free(reload_timer);
	reload_timer = evtimer_new(dctx_base(c), reload_timer_cb, step);
	evtimer_add(reload_timer, &tv);
}

/* --reload-by-call: a program that maps the signal itself and reloads. */
static void
reload_by_call(struct dctx *c, int signo, void *arg)
{
	(void)arg;
	say("reload call %d: %d\n", signo, dctx_reload(c));
}

static void *
worker_main(void *arg)
{
	char c;

	(void)arg;
	/* Block until the stop step writes to the pipe. */
	while (read(worker_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void *
idle_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void
stop_worker(struct dctx *c, struct dctx_shutdown *handle, int late, void *arg)
{
	(void)c;
	(void)arg;
	if (write(worker_pipe[1], "x", 1) != 1 || late)
		return;
	say("thread stopping\n");
	dctx_thread_join(worker, handle);
}

static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "dctx-helper: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* Put a descriptor at the top of a raised RLIMIT_NOFILE. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	int fd;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("setrlimit");
		exit(2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (dup2(fd, (int)(rl.rlim_cur - 1)) < 0) {
		perror("dup2");
		exit(2);
	}
	close(fd);
}

/*
 * fork() as libdctx sees it: this definition in the executable comes
 * before libc's.  With DCTX_HELPER_FAIL_FORK=N the Nth call fails with
 * EAGAIN, as it would under RLIMIT_NPROC or a pids cgroup limit; with
 * DCTX_HELPER_FORK_DELAY=MS every call waits first, which stretches the
 * time between taking the pidfile and writing the pid.
 */
pid_t
fork(void)
{
	static pid_t (*real_fork)(void);
	static int calls;
	const char *fail = getenv("DCTX_HELPER_FAIL_FORK");

	if (real_fork == NULL)
		real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	if (getenv("DCTX_HELPER_FORK_DELAY") != NULL)
		usleep((useconds_t)atoi(getenv("DCTX_HELPER_FORK_DELAY")) * 1000);
	if (fail != NULL && ++calls == atoi(fail)) {
		errno = EAGAIN;
		return -1;
	}
	return real_fork();
}

/*
 * event_base_new_with_config() as libdctx sees it, interposed as fork() is.
 * libdctx calls it between resetting the signal dispositions and
 * installing the signal map; with DCTX_HELPER_BASE_DELAY=MS it says
 * "base delay" on stdout (a bare write: stdio may be buffered) and waits,
 * so that a test can send a signal inside that window, knowing it is in.
 */
struct event_base *
event_base_new_with_config(const struct event_config *cfg)
{
	static struct event_base *(*real_new)(const struct event_config *);
	const char *delay = getenv("DCTX_HELPER_BASE_DELAY");
	static const char mark[] = "base delay\n";

	if (real_new == NULL)
		real_new = (struct event_base *(*)(const struct event_config *))
		    dlsym(RTLD_NEXT, "event_base_new_with_config");
	if (delay != NULL) {
		if (write(1, mark, sizeof(mark) - 1) < 0)
			perror("dctx-helper: write");
		usleep((useconds_t)atoi(delay) * 1000);
	}
	return real_new(cfg);
}

/*
 * unlinkat() as libdctx sees it: with DCTX_HELPER_UNLINK_DELAY=MS, removing
 * the pidfile takes that long, which widens the window between a report
 * and a release made in the wrong order.
 */
int
unlinkat(int dirfd, const char *path, int flags)
{
	static int (*real_unlinkat)(int, const char *, int);
	const char *delay = getenv("DCTX_HELPER_UNLINK_DELAY");

	if (real_unlinkat == NULL)
		real_unlinkat = (int (*)(int, const char *, int))dlsym(RTLD_NEXT,
		    "unlinkat");
	if (delay != NULL)
		usleep((useconds_t)atoi(delay) * 1000);
	return real_unlinkat(dirfd, path, flags);
}

/*
 * setresuid() as libdctx sees it: with DCTX_HELPER_FAIL_SETRESUID set, it
 * fails with EPERM, as it would under a seccomp profile or without
 * CAP_SETUID, after the stdio step has pointed stderr elsewhere.
 */
int
setresuid(uid_t r, uid_t e, uid_t s)
{
	static int (*real_setresuid)(uid_t, uid_t, uid_t);

	if (real_setresuid == NULL)
		real_setresuid = (int (*)(uid_t, uid_t, uid_t))dlsym(RTLD_NEXT,
		    "setresuid");
	if (getenv("DCTX_HELPER_FAIL_SETRESUID") != NULL) {
		errno = EPERM;
		return -1;
	}
	return real_setresuid(r, e, s);
}

/*
 * Stop here until the test says go: create the file DCTX_HELPER_PAUSE_FILE
 * names, then wait (up to 10 s) until the test removes it.
 */
static void
pause_point(void)
{
	const char *marker = getenv("DCTX_HELPER_PAUSE_FILE");
	int fd, i;

	if (marker == NULL)
		return;
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < 10000 && access(marker, F_OK) == 0; i++)
		usleep(1000);
}

/*
 * flock() as libdctx sees it, interposed like fork().  Exclusive locks are
 * counted in each process (a child inherits the count): with
 * DCTX_HELPER_PAUSE_BEFORE_LOCK=N the Nth attempt waits at pause_point()
 * first, which opens the time between opening the pidfile and locking it;
 * with DCTX_HELPER_PAUSE_AFTER_LOCK=N the Nth lock taken waits right after
 * (the launcher's second is the one of its stale-file cleanup).
 */
int
flock(int fd, int op)
{
	static int (*real_flock)(int, int);
	static int attempts, taken;
	const char *before = getenv("DCTX_HELPER_PAUSE_BEFORE_LOCK");
	const char *after = getenv("DCTX_HELPER_PAUSE_AFTER_LOCK");
	int rc, saved;

	if (real_flock == NULL)
		real_flock = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	if ((op & LOCK_EX) == 0)
		return real_flock(fd, op);
	if (before != NULL && ++attempts == atoi(before))
		pause_point();
	rc = real_flock(fd, op);
	saved = errno;
	if (rc == 0 && after != NULL && ++taken == atoi(after))
		pause_point();
	errno = saved;
	return rc;
}

/*
 * --become UID:GID:GROUPS[:caps] makes the helper what util-linux
 * "setpriv --reuid UID --regid GID --groups GROUPS" would start, and with
 * "caps" also "--inh-caps +setuid,+setgid --ambient-caps +setuid,+setgid"
 * (a systemd User= service with AmbientCapabilities=).  It is done here,
 * after exec as root, because the build tree may sit under a directory
 * UID cannot enter (a private temporary directory), where setpriv could
 * not exec the helper at all.
 */
static void
become(const char *spec)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	char list[128], caps[16] = "", *tok, *save = NULL;
	unsigned long uid, gid;
	gid_t groups[16];
	size_t n = 0;
	int with_caps;

	if (sscanf(spec, "%lu:%lu:%127[^:]:%15s", &uid, &gid, list, caps) < 3) {
		fprintf(stderr, "dctx-helper: --become %s\n", spec);
		exit(2);
	}
	with_caps = strcmp(caps, "caps") == 0;
	for (tok = strtok_r(list, ",", &save); tok != NULL && n < 16;
	    tok = strtok_r(NULL, ",", &save))
		groups[n++] = (gid_t)strtoul(tok, NULL, 10);
	/* Without KEEPCAPS the uid change clears every capability. */
	if ((with_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) ||
	    setgroups(n, groups) < 0 ||
	    setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0 ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) {
		perror("dctx-helper: --become");
		exit(2);
	}
	if (!with_caps)
		return;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable =
	    (1u << CAP_SETUID) | (1u << CAP_SETGID);
	if (syscall(SYS_capset, &hdr, data) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETUID, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETGID, 0, 0) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		perror("dctx-helper: --become caps");
		exit(2);
	}
}

/*
 * A number option: digits of base 8 or 10 (a leading '-' where min is
 * negative) and nothing else, from min to max, or the helper exits 2
 * quoting what it was given.  The range is the option's type, so nothing
 * wraps on the way to the library; whether the value makes sense is the
 * library's to say, and what the tests watch.
 */
static long long
number(const char *opt, const char *s, int base, long long min,
    long long max)
{
	int neg = s[0] == '-' && min < 0;
	long long bound = neg ? -min : max, v = 0;
	const char *p = s + neg;

	/* Stop as soon as the value passes its bound: no overflow. */
	for (; *p >= '0' && *p < '0' + base && v <= bound; p++)
		v = v * base + (*p - '0');
	if (p == s + neg || *p != '\0' || v > bound) {
		if (base == 8)
			fprintf(stderr, "dctx-helper: --%s %s: not an octal "
			    "number from 0 to %#llo\n", opt, s, max);
		else
			fprintf(stderr, "dctx-helper: --%s %s: not a number "
			    "from %lld to %lld\n", opt, s, min, max);
		exit(2);
	}
	return neg ? -v : v;
}

/* Remap a signal every millisecond, between a callback and ignore. */
static void
churn(evutil_socket_t fd, short what, void *arg)
{
	static int flip;
	int signo = *(int *)arg;

	(void)fd;
	(void)what;
	if ((flip = !flip))
		dctx_ignore_signal(ctx, signo);
	else
		dctx_set_signal(ctx, signo, on_signal, NULL);
}

/*
 * Make close_range() fail with err, as an old kernel (ENOSYS) or a seccomp
 * profile that does not know the call (EPERM) would.  The filter looks at
 * the system call number only; the architecture check is left out because
 * the test runs where it was built.
 */
static void
deny_close_range(int err)
{
#ifdef SYS_close_range
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("seccomp");
		exit(2);
	}
#else
	(void)err;
#endif
}

/*
 * After dctx_prepare(): say on stderr what the setters answer now (the
 * ids and the pidfile are frozen, the rest is not, and a descriptor
 * opened now may be preserved), wait at pause_point() so that the test
 * can look at the pidfile, then free the context without opening it.
 */
/*
 * --prepare-fork-child-open: a program that forks between dctx_prepare()
 * and dctx_open(), lets the child open, then frees its own copy.
 */
static int
prepared_child_opens(void)
{
	pid_t child = fork();
	int rc;

	if (child == 0) {
		rc = dctx_prepare(ctx);
		fprintf(stderr, "child prepare %d %s\n", rc, dctx_errmsg(ctx));
		rc = dctx_open(ctx);
		fprintf(stderr, "child open %d %s\n", rc, dctx_errmsg(ctx));
		if (rc == 0)
			event_base_dispatch(dctx_base(ctx));
		dctx_free(ctx);
		_exit(0);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	dctx_free(ctx);
	return 0;
}

static int
prepared_and_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), rc;

	rc = dctx_set_user(ctx, "root");
	fprintf(stderr, "set_user %d %s\n", rc, dctx_errmsg(ctx));
	rc = dctx_set_uid(ctx, 0);
	fprintf(stderr, "set_uid %d %s\n", rc, dctx_errmsg(ctx));
	rc = dctx_set_gid(ctx, 0);
	fprintf(stderr, "set_gid %d %s\n", rc, dctx_errmsg(ctx));
	rc = dctx_set_group(ctx, "root");
	fprintf(stderr, "set_group %d %s\n", rc, dctx_errmsg(ctx));
	rc = dctx_set_pidfile(ctx, "/nonexistent/other.pid");
	fprintf(stderr, "set_pidfile %d %s\n", rc, dctx_errmsg(ctx));
	rc = dctx_set_umask(ctx, 022);
	fprintf(stderr, "set_umask %d\n", rc);
	rc = dctx_preserve_fd(ctx, fd);
	fprintf(stderr, "preserve_fd %d\n", rc);
	fflush(stderr);
	pause_point();
	dctx_free(ctx);
	close(fd);
	return 0;
}

/*
 * --listen-report: what socket activation gave the daemon (read by
 * dctx_open() before its fork), what is left of the variables in its
 * environment, and what a program it runs inherits (env, as a child).
 */
static void
report_listen(void)
{
	int i, n = dctx_listen_fds(ctx);
	pid_t pid;

	say("listen_fds %d\n", n);
	for (i = 0; i < n; i++)
		say("listen_fd %d %d %s\n", i, dctx_listen_fd(ctx, i),
		    dctx_listen_fd_name(ctx, i));
	say("listen_fd_named echo %d\n", dctx_listen_fd_named(ctx, "echo"));
	say("env LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s\n",
	    getenv("LISTEN_PID") ? getenv("LISTEN_PID") : "unset",
	    getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "unset",
	    getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "unset");
	say("child env:\n");
	if ((pid = fork()) == 0) {
		execl("/usr/bin/env", "env", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	say("child env end\n");
}

/*
 * The children of --own-child: one the program forks and waits for itself,
 * later, with a blocking waitpid() of its pid from a timer; and what that
 * waitpid() got, said on stdout.
 */
static pid_t own_pid;
static struct event *own_ev;

static void
own_child_wait(evutil_socket_t fd, short what, void *arg)
{
	pid_t r;
	int st;

	(void)fd;
	(void)what;
	(void)arg;
	while ((r = waitpid(own_pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r == own_pid && WIFEXITED(st))
		say("own child %ld status %d\n", (long)own_pid, WEXITSTATUS(st));
	else
		say("own child %ld waitpid: %s\n", (long)own_pid,
		    r < 0 ? strerror(errno) : "not exited");
}

/* "CODE:MS": a child that exits CODE at once, waited for MS later. */
static int
own_child(const char *spec, int claim)
{
	struct timeval tv;
	int code, ms;

	if (sscanf(spec, "%d:%d", &code, &ms) != 2)
		return -1;
	if ((own_pid = fork()) < 0)
		return -1;
	if (own_pid == 0)
		_exit(code);
	/* Claimed before the loop turns: the reaper never sees it unclaimed. */
	if (claim && dctx_claim_child(ctx, own_pid) < 0)
		say("claim: %s\n", dctx_errmsg(ctx));
	say("own child %ld forked\n", (long)own_pid);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	own_ev = evtimer_new(dctx_base(ctx), own_child_wait, NULL);
	return own_ev == NULL ? -1 : evtimer_add(own_ev, &tv);
}

/*
 * --thread-child CODE:MS: a thread of the program's own forks a child
 * that exits CODE at once, and waits for it MS later, without a claim:
 * the reaper must leave a worker thread's children alone.
 */
static int thread_child_code, thread_child_ms;

static void *
thread_child_main(void *arg)
{
	pid_t pid = fork(), r;
	int st;

	(void)arg;
	if (pid == 0)
		_exit(thread_child_code);
	say("thread child %ld forked\n", (long)pid);
	/* The whole time: a signal taken by this thread cuts a sleep short. */
	{
		struct timespec left = { thread_child_ms / 1000,
		    (long)(thread_child_ms % 1000) * 1000000L };

		while (nanosleep(&left, &left) < 0 && errno == EINTR)
			;
	}
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r == pid && WIFEXITED(st))
		say("thread child %ld status %d\n", (long)pid, WEXITSTATUS(st));
	else
		say("thread child %ld waitpid: %s\n", (long)pid,
		    r < 0 ? strerror(errno) : "not exited");
	return NULL;
}

/*
 * An orphan, as a shell that runs "cmd &" and exits leaves one: a middle
 * child forks a grandchild and exits at once; the grandchild waits until
 * it has been given to the reaper above it, says its pid and new parent,
 * lives MS more, and exits.  The middle is waited for here, in the same
 * call, as system() waits: no claim is needed for it.
 */
static int
make_orphan(int ms)
{
	pid_t middle = fork(), grandchild;

	if (middle < 0)
		return -1;
	if (middle == 0) {
		middle = getpid();
		if ((grandchild = fork()) < 0)
			_exit(1);
		if (grandchild > 0)
			_exit(0);
		while (getppid() == middle)
			usleep(1000);
		say("orphan pid %ld ppid %ld\n", (long)getpid(), (long)getppid());
		usleep((useconds_t)ms * 1000);
		_exit(0);
	}
	while (waitpid(middle, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/*
 * --slow-start MS: a start that takes MS in the loop before it is ready,
 * asking systemd for more time (1.5 s from now, every 500 ms) and saying
 * how far it is, unless --no-extend.
 */
static struct event *slow_ev;
static long long slow_until_ms;
static int slow_extend = 1;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
slow_tick(evutil_socket_t fd, short what, void *arg)
{
	long long left = slow_until_ms - now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	if (left <= 0) {
		event_del(slow_ev);
		say("slow start ready %d\n", dctx_notify_ready(ctx));
		return;
	}
	if (slow_extend)
		say("extend %d status %d\n", dctx_extend_timeout(ctx, 1500000),
		    dctx_status(ctx, "starting, %lld ms left", left));
}

/*
 * --status WHEN:TEXT, said at WHEN (early, prepared or open), and what
 * dctx_status() answered: before dctx_open() on stderr (the launching
 * test's file), after it on stdout (--stdout).
 */
static const char *status_when[4];
static int nstatus;

static void
status_at(const char *when)
{
	int i, rc;

	for (i = 0; i < nstatus; i++) {
		size_t n = strcspn(status_when[i], ":");
		if (strncmp(status_when[i], when, n) != 0 || when[n] != '\0')
			continue;
		rc = dctx_status(ctx, "%s", status_when[i] + n + 1);
		if (strcmp(when, "open") == 0)
			say("status %s %d %s\n", when, rc, rc < 0 ?
			    dctx_errmsg(ctx) : "");
		else {
			fprintf(stderr, "status %s %d %s\n", when, rc, rc < 0 ?
			    dctx_errmsg(ctx) : "");
			fflush(stderr);
		}
	}
}

/* --stop-extend MS: the shutdown step that asks systemd for more time. */
static void
stop_extend(struct dctx *c, struct dctx_shutdown *handle, int late, void *arg)
{
	int ms = *(int *)arg;

	if (!late)
		say("stop extend %d\n", dctx_extend_timeout(c,
		    (uint64_t)ms * 1000));
	dctx_shutdown_done(handle);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "umask", required_argument, NULL, 'm' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "stdout", required_argument, NULL, 'o' },
		{ "stderr", required_argument, NULL, 'e' },
		{ "preserve-fd", required_argument, NULL, 'k' },
		{ "allow-core", no_argument, NULL, 'c' },
		/* Test-only behaviour. */
		{ "leak-fds", required_argument, NULL, 'L' },
		{ "raise-nofile", no_argument, NULL, 'N' },
		{ "set-after-open", no_argument, NULL, 'A' },
		{ "fork-child", no_argument, NULL, 'F' },
		{ "signal", required_argument, NULL, 's' },
		{ "manual-ready", required_argument, NULL, 'M' },
		{ "exit-after-open", no_argument, NULL, 'X' },
		{ "step", required_argument, NULL, 'S' },
		{ "shutdown-timeout", required_argument, NULL, 'T' },
		{ "signal-later", required_argument, NULL, 'l' },
		{ "ignore-later", required_argument, NULL, 'i' },
		{ "unset-later", required_argument, NULL, 'x' },
		{ "thread", no_argument, NULL, 'H' },
		{ "deny-close-range", required_argument, NULL, 'D' },
		{ "fork-child-free", no_argument, NULL, 'C' },
		{ "ready-delay", required_argument, NULL, 'R' },
		{ "remap-churn", required_argument, NULL, 'Z' },
		{ "notification-fd", required_argument, NULL, 'n' },
		{ "plain-thread", no_argument, NULL, 'P' },
		{ "become", required_argument, NULL, 'b' },
		{ "thread-before-open", no_argument, NULL, 'B' },
		{ "try-regain", no_argument, NULL, 'Y' },
		{ "reopen", no_argument, NULL, 'O' },
		{ "retry-pidfile", required_argument, NULL, 'j' },
		{ "retry-gid", required_argument, NULL, 'J' },
		{ "ignore", required_argument, NULL, 'I' },
		{ "terminate-on", required_argument, NULL, 't' },
		{ "fork-holder", required_argument, NULL, 'h' },
		{ "start-timeout", required_argument, NULL, 'W' },
		/* dctx_set_stdout(ctx, 1): keep the stdout we were given. */
		{ "keep-stdout", no_argument, NULL, 1001 },
		{ "prepare", no_argument, NULL, 'Q' },
		{ "prepare-and-free", no_argument, NULL, 'q' },
		{ "prepare-fork-child-open", no_argument, NULL, 1003 },
		{ "fork-child-notify-failure", no_argument, NULL, 1004 },
		{ "slow-start", required_argument, NULL, 1201 },
		{ "no-extend", no_argument, NULL, 1202 },
		{ "status", required_argument, NULL, 1203 },
		{ "stop-extend", required_argument, NULL, 1204 },
		/* The reaper: auto, no or yes; an orphan that exits MS after
		 * it was reparented; a child of our own, claimed or not. */
		{ "reaper", required_argument, NULL, 1100 },
		{ "orphan", required_argument, NULL, 1101 },
		{ "own-child", required_argument, NULL, 1102 },
		{ "own-child-unclaimed", required_argument, NULL, 1103 },
		{ "thread-child", required_argument, NULL, 1104 },
		/* Close every fd above 2 after the open, then live MS (0:
		 * for ever) with SIGTERM at its default. */
		{ "close-all-fds", required_argument, NULL, 1002 },
		/* Say what socket activation passed: report_listen(). */
		{ "listen-report", no_argument, NULL, 1020 },
		/* The reload chain: a step of MS, stdio by path, the map. */
		{ "reload-step-ms", required_argument, NULL, 1005 },
		{ "stdout-path", required_argument, NULL, 1006 },
		{ "stderr-path", required_argument, NULL, 1007 },
		{ "reload-on", required_argument, NULL, 1008 },
		{ "reload-by-call", required_argument, NULL, 1009 },
		{ "serve-after-failure", no_argument, NULL, 1010 },
		/* dctx_upgrade_on_signal(): the signal starts an upgrade. */
		{ "upgrade-on", required_argument, NULL, 1011 },
		/* After the open: close the socket-activated descriptor of
		 * that index, and open /dev/null, which takes its number. */
		{ "replace-listen-fd", required_argument, NULL, 1012 },
		{ NULL, 0, NULL, 0 }
	};
	const char *manual = NULL;
	int c, rc = 0, i, n;
	int set_after_open = 0, fork_child = 0, exit_after_open = 0;
	int serve_after_failure = 0;
	int later[8], later_kind[8], nlater = 0, thread = 0;
	int child_frees = 0, ready_delay = 0, churn_signo = 0, plain_thread = 0;
	int thread_before = 0, try_regain = 0, reopen = 0;
	int foreground = 0, detach = 0;
	const char *retry_pidfile = NULL;
	long retry_gid = -1;
	int holder_ms = 0, prepare = 0, close_all_ms = -1, listen_report = 0;
	int replace_listen = -1;
	int slow_ms = 0;
	static int stop_extend_ms;
	pthread_t plain;
	struct event *churn_ev = NULL;
	const char *own_spec = NULL;
	int own_claim = 0, orphan_ms = -1, thread_child = 0;
	pthread_t child_thread;

	ctx = dctx_new();
	if (ctx == NULL)
		return 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': rc = dctx_set_pidfile(ctx, optarg); break;
		case 'u': rc = dctx_set_user(ctx, optarg); break;
		case 'g': rc = dctx_set_group(ctx, optarg); break;
		case 'U':
			rc = dctx_set_uid(ctx, (uid_t)number("uid", optarg, 10,
			    0, UINT32_MAX - 1));
			break;
		case 'G':
			rc = dctx_set_gid(ctx, (gid_t)number("gid", optarg, 10,
			    0, UINT32_MAX - 1));
			break;
		case 'r': rc = dctx_set_chroot_directory(ctx, optarg); break;
		case 'w': rc = dctx_set_working_directory(ctx, optarg); break;
		case 'm':
			rc = dctx_set_umask(ctx, (mode_t)number("umask", optarg,
			    8, 0, UINT32_MAX));
			break;
		case 'f':
			foreground = 1;
			rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO);
			break;
		case 'd':
			detach = 1;
			rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES);
			break;
		case 'o': rc = dctx_set_stdout(ctx, open_file(optarg)); break;
		case 'e': rc = dctx_set_stderr(ctx, open_file(optarg)); break;
		case 'k':
			rc = dctx_preserve_fd(ctx, (int)number("preserve-fd",
			    optarg, 10, INT_MIN, INT_MAX));
			break;
		case 'c': rc = dctx_set_prevent_core(ctx, 0); break;
		case 'L':
			n = atoi(optarg);
			for (i = 0; i < n; i++)
				if (open("/dev/zero", O_RDONLY) < 0)
					return 2;
			break;
		case 'N': raise_nofile(); break;
		case 'D':
			deny_close_range(strcmp(optarg, "ENOSYS") == 0 ? ENOSYS : EPERM);
			break;
		case 'A': set_after_open = 1; break;
		case 'F': fork_child = 1; break;
		case 'C': fork_child = child_frees = 1; break;
		case 1004: fork_child = child_frees = 2; break;
		case 'R': ready_delay = atoi(optarg); break;
		case 'n':
			rc = dctx_set_notification_fd(ctx, (int)number(
			    "notification-fd", optarg, 10, INT_MIN, INT_MAX));
			break;
		case 'P': plain_thread = 1; break;
		case 'b': become(optarg); break;
		case 'B': thread_before = 1; break;
		case 'Y': try_regain = 1; break;
		case 'O': reopen = 1; break;
		case 'j': retry_pidfile = optarg; break;
		case 'J': retry_gid = atol(optarg); break;
		case 'h': holder_ms = atoi(optarg); break;
		case 'W':
			rc = dctx_set_start_timeout(ctx, (int)number(
			    "start-timeout", optarg, 10, INT_MIN, INT_MAX));
			break;
		case 1001: rc = dctx_set_stdout(ctx, 1); break;
		case 1002: close_all_ms = atoi(optarg); break;
		case 1100:
			rc = dctx_set_reaper(ctx, strcmp(optarg, "yes") == 0 ?
			    DCTX_REAPER_YES : strcmp(optarg, "no") == 0 ?
			    DCTX_REAPER_NO : DCTX_REAPER_AUTO);
			break;
		case 1101: orphan_ms = atoi(optarg); break;
		case 1102:
		case 1103:
			own_spec = optarg;
			own_claim = c == 1102;
			break;
		case 1104:
			if (sscanf(optarg, "%d:%d", &thread_child_code,
			    &thread_child_ms) != 2)
				return 2;
			thread_child = 1;
			break;
		case 1020: listen_report = 1; break;
		case 1005:
			reload_ms = (int)number("reload-step-ms", optarg, 10, 0,
			    INT_MAX);
			rc = dctx_on_reload(ctx, reload_step, NULL);
			break;
		case 1006: rc = dctx_set_stdout_path(ctx, optarg); break;
		case 1007: rc = dctx_set_stderr_path(ctx, optarg); break;
		case 1008:
			rc = dctx_reload_on_signal(ctx, (int)number("reload-on",
			    optarg, 10, INT_MIN, INT_MAX));
			break;
		case 1009:
			rc = dctx_set_signal(ctx, (int)number("reload-by-call",
			    optarg, 10, INT_MIN, INT_MAX), reload_by_call, NULL);
			break;
		case 'Q': prepare = 1; break;
		case 1201:
			slow_ms = (int)number("slow-start", optarg, 10, 1,
			    INT_MAX);
			rc = dctx_set_manual_ready(ctx, 1);
			break;
		case 1202: slow_extend = 0; break;
		case 1203:
			if (nstatus < 4)
				status_when[nstatus++] = optarg;
			break;
		case 1204:
			stop_extend_ms = (int)number("stop-extend", optarg, 10,
			    0, INT_MAX);
			rc = dctx_on_shutdown(ctx, stop_extend, &stop_extend_ms);
			break;
		case 'q': prepare = 2; break;
		case 1003: prepare = 3; break;
		case 'Z':
			churn_signo = atoi(optarg);
			rc = dctx_set_signal(ctx, churn_signo, on_signal, NULL);
			break;
		case 's': rc = dctx_set_signal(ctx, atoi(optarg), on_signal, NULL); break;
		case 'I': rc = dctx_ignore_signal(ctx, atoi(optarg)); break;
		case 't': rc = dctx_terminate_on_signal(ctx, atoi(optarg)); break;
		case 'M':
			manual = optarg;
			rc = dctx_set_manual_ready(ctx, 1);
			break;
		case 'X': exit_after_open = 1; break;
		case 1010: serve_after_failure = 1; break;
		case 1011:
			rc = dctx_upgrade_on_signal(ctx, (int)number("upgrade-on",
			    optarg, 10, INT_MIN, INT_MAX));
			break;
		case 1012:
			replace_listen = (int)number("replace-listen-fd", optarg,
			    10, 0, INT_MAX);
			break;
		case 'S':
			if (add_step(optarg) < 0) {
				fprintf(stderr, "dctx-helper: --step %s\n", optarg);
				return 2;
			}
			break;
		case 'T':
			rc = dctx_set_shutdown_timeout(ctx, (int)number(
			    "shutdown-timeout", optarg, 10, INT_MIN, INT_MAX));
			break;
		case 'l':
		case 'i':
		case 'x':
			if (nlater < 8) {
				later_kind[nlater] = c;
				later[nlater++] = atoi(optarg);
			}
			break;
		case 'H':
			thread = 1;
			rc = dctx_set_threads(ctx, 1);
			break;
		default: return 2;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "dctx-helper: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 2;
	}
	/* As echod: the library keeps the last of two setter calls. */
	if (foreground && detach) {
		fprintf(stderr, "dctx-helper: --foreground and --detach "
		    "contradict each other\n");
		dctx_free(ctx);
		return 2;
	}
	status_at("early");
	/*
	 * dctx_prepare() first, as a server that binds before dctx_open()
	 * does; with --prepare-and-free, the program then gives up.
	 */
	if (prepare && dctx_prepare(ctx) < 0) {
		fprintf(stderr, "dctx-helper: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	if (prepare)
		status_at("prepared");
	if (prepare == 2)
		return prepared_and_free();
	if (prepare == 3)
		return prepared_child_opens();
	/* A thread some library started before the program daemonizes. */
	if (thread_before && pthread_create(&plain, NULL, idle_main, NULL) != 0)
		return 1;
	/*
	 * A program that retries a failed open with other settings, in the
	 * same context: a pidfile that can be made now, and another gid.
	 */
	if (retry_pidfile != NULL && dctx_open(ctx) < 0) {
		fprintf(stderr, "dctx-helper: first open: %s\n", dctx_errmsg(ctx));
		if (dctx_set_pidfile(ctx, retry_pidfile) < 0 ||
		    (retry_gid >= 0 && dctx_set_gid(ctx, (gid_t)retry_gid) < 0))
			return 2;
	}
	if (dctx_open(ctx) < 0) {
		fprintf(stderr, "dctx-helper: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	for (i = 0; i < nlater; i++) {
		if (later_kind[i] == 'l')
			rc = dctx_set_signal(ctx, later[i], on_signal, NULL);
		else if (later_kind[i] == 'i')
			rc = dctx_ignore_signal(ctx, later[i]);
		else
			rc = dctx_unset_signal(ctx, later[i]);
		if (rc < 0)
			say("map after open: %s\n", dctx_errmsg(ctx));
	}
	if (thread) {
		if (pipe(worker_pipe) < 0 ||
		    dctx_on_shutdown(ctx, stop_worker, NULL) < 0 ||
		    dctx_thread_create(ctx, &worker, worker_main, NULL) < 0) {
			say("thread: %s\n", dctx_errmsg(ctx));
			return 1;
		}
	}
	/* A thread another library might start: default signal mask. */
	if (plain_thread && pthread_create(&plain, NULL, idle_main, NULL) != 0)
		return 1;
	say("open pid %ld\n", (long)getpid());
	if (try_regain) {
		/* What a hijacked daemon would try first. */
		errno = 0;
		rc = setresuid(0, 0, 0);
		say("setresuid(0,0,0) %d %s\n", rc, rc == 0 ? "regained" :
		    strerror(errno));
		rc = 0;
	}
	say("NOTIFY_SOCKET=%s\n", getenv("NOTIFY_SOCKET") ?
	    getenv("NOTIFY_SOCKET") : "unset");
	if (listen_report)
		report_listen();
	if (replace_listen >= 0 &&
	    (n = dctx_listen_fd(ctx, replace_listen)) >= 0) {
		close(n);
		say("replaced listen fd %d: %d\n", n, open("/dev/null",
		    O_RDONLY));
	}
	say("watchdog %llu WATCHDOG_USEC=%s WATCHDOG_PID=%s\n",
	    (unsigned long long)dctx_watchdog_usec(ctx),
	    getenv("WATCHDOG_USEC") ? getenv("WATCHDOG_USEC") : "unset",
	    getenv("WATCHDOG_PID") ? getenv("WATCHDOG_PID") : "unset");
	status_at("open");
	if (close_all_ms >= 0) {
		/*
		 * A program that closes the descriptors it does not know,
		 * the launcher's pipe among them, before it is ready.  The
		 * loop's are gone too: SIGTERM gets its default back, and
		 * nothing runs at exit (the context's descriptors are
		 * stale).
		 */
		signal(SIGTERM, SIG_DFL);
		for (i = 3; i < 1024; i++)
			close(i);
		say("closed fds\n");
		if (close_all_ms == 0)
			for (;;)
				pause();
		usleep((useconds_t)close_all_ms * 1000);
		say("exiting\n");
		_exit(0);
	}
	if (set_after_open) {
		rc = dctx_set_umask(ctx, 077);
		say("set_umask after open: %d %s\n", rc, dctx_errmsg(ctx));
	}
	if (fork_child) {
		pid_t pid = fork();
		if (pid == 0) {
			/* A child that cleans up, as a careful program would. */
			/* A child speaks for nobody: 0, and nothing sent. */
			if (child_frees == 2)
				say("child notify_failure %d\n",
				    dctx_notify_failure(ctx, 3, "from a child"));
			if (child_frees)
				dctx_free(ctx);
			exit(0); /* a normal exit: atexit handlers run */
		}
		waitpid(pid, NULL, 0);
		say("child %ld exited\n", (long)pid);
	}
	/* A child forked before the daemon is ready: it holds the pipe. */
	if (holder_ms > 0) {
		pid_t pid = fork();
		if (pid == 0) {
			usleep((useconds_t)holder_ms * 1000);
			_exit(0);
		}
		say("holder pid %ld\n", (long)pid);
	}
	/* Our own child first: its zombie heads the kernel's list. */
	if (own_spec != NULL && own_child(own_spec, own_claim) < 0) {
		say("own child: cannot start\n");
		return 1;
	}
	if (thread_child &&
	    pthread_create(&child_thread, NULL, thread_child_main, NULL) != 0) {
		say("thread child: cannot start\n");
		return 1;
	}
	if (orphan_ms >= 0 && make_orphan(orphan_ms) < 0) {
		say("orphan: cannot fork\n");
		return 1;
	}
	if (churn_signo != 0) {
		struct timeval ms = { 0, 1000 };
		churn_ev = event_new(dctx_base(ctx), -1, EV_PERSIST, churn,
		    &churn_signo);
		event_add(churn_ev, &ms);
	}
	if (slow_ms > 0) {
		struct timeval half = { 0, 500000 };
		slow_until_ms = now_ms() + slow_ms;
		slow_ev = event_new(dctx_base(ctx), -1, EV_PERSIST, slow_tick,
		    NULL);
		event_add(slow_ev, &half);
		slow_tick(-1, 0, NULL);
	}
	if (ready_delay > 0)
		usleep((useconds_t)ready_delay * 1000);
	if (manual != NULL) {
		if (strcmp(manual, "ready") == 0)
			dctx_notify_ready(ctx);
		else if (strcmp(manual, "crash") == 0)
			abort();
		else if (strcmp(manual, "never") == 0)
			; /* a daemon that never becomes ready */
		else {
			/* A failing daemon closes and exits (dctx.h); with
			 * --serve-after-failure its loop runs a while first,
			 * until SIGTERM (draining, say). */
			dctx_notify_failure(ctx, 3, manual);
			say("failure told\n");
			exit_after_open = !serve_after_failure;
		}
	}
	if (!exit_after_open)
		event_base_dispatch(dctx_base(ctx));
	say("stopped %d\n", dctx_exit_status(ctx));
	say("after the loop watchdog %llu\n",
	    (unsigned long long)dctx_watchdog_usec(ctx));
	rc = dctx_exit_status(ctx);
	if (reopen) {
		/* Open the same context again after closing it. */
		dctx_close(ctx);
		rc = dctx_open(ctx);
		say("reopen %d %s\n", rc, dctx_errmsg(ctx));
		if (rc == 0) {
			event_base_dispatch(dctx_base(ctx));
			say("stopped again %d\n", dctx_exit_status(ctx));
		}
		rc = rc < 0 ? 1 : dctx_exit_status(ctx);
	}
	for (i = 0; i < nsteps; i++)
		if (steps[i].timer != NULL)
			event_free(steps[i].timer);
	if (churn_ev != NULL)
		event_free(churn_ev);
	if (own_ev != NULL)
		event_free(own_ev);
	if (thread_child)
		pthread_join(child_thread, NULL);
	if (reload_timer != NULL)
		event_free(reload_timer);
	if (slow_ev != NULL)
		event_free(slow_ev);
	dctx_free(ctx);
	if (worker_pipe[0] >= 0) {
		close(worker_pipe[0]);
		close(worker_pipe[1]);
	}
	return rc;
}
