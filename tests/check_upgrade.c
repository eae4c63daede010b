/*
 * Zero-downtime upgrade, from outside: echod started from a copy of its
 * binary in the test's directory, upgraded with `echod --upgrade` (SIGUSR2)
 * after that file was replaced, as a package would replace it.  Judged by
 * what clients and an operator see: every connection answered with every
 * byte, the pid in the pidfile, its lock, the processes left, the
 * requester's exit status and message, the daemon's log.  The new
 * binaries that fail are small scripts put at the path: they run echod
 * with an option that fails it, or the helper daemon crashing or never
 * ready, or a program that hangs.  Ports 7600-7679 are this file's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"
#include "tu-upgrade.h"

static in_port_t port;
static char listen_on[32];

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port of 7600-7679 free now (echod may still lose it: callers retry). */
static void
pick_port(void)
{
	static unsigned turn;
	struct sockaddr_in sin;
	int s, i, ok;

	for (i = 0; i < 80; i++) {
		port = (in_port_t)(7600 + (getpid() + turn++) % 80);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok) {
			snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u",
			    (unsigned)port);
			return;
		}
	}
	ck_abort_msg("no free port in 7600-7679");
}

static char binary[512];

/*
 * echod from tu_path("echod"), a copy of the built binary, with its log
 * in tu_path("log"); returns its pid.  extra: more options, or NULL.
 */
static void
install_echod(void)
{
	echod_binary(binary, sizeof(binary));
	install_file(binary, tu_path("echod"));
	/* Under its own name: echod's messages say which program speaks. */
	ck_assert_int_eq(mkdir(tu_path("real"), 0755), 0);
	install_file(binary, tu_path("real/echod"));
}

static pid_t
launch_echod(const char *timeout, const char *extra)
{
	const char *out;
	int tries, st = -1;
	pid_t pid;

	for (tries = 0; tries < 10; tries++) {
		pick_port();
		if (extra != NULL)
			st = run(&out, tu_path("echod"), "--pidfile",
			    tu_path("echod.pid"), "--listen", listen_on,
			    "--stdout", tu_path("log"), "--stderr",
			    tu_path("log"), "--upgrade-timeout", timeout,
			    "--shutdown-timeout", "20000", extra, (char *)NULL);
		else
			st = run(&out, tu_path("echod"), "--pidfile",
			    tu_path("echod.pid"), "--listen", listen_on,
			    "--stdout", tu_path("log"), "--stderr",
			    tu_path("log"), "--upgrade-timeout", timeout,
			    "--shutdown-timeout", "20000", (char *)NULL);
		if (st == 0 || strstr(out, "in use") == NULL)
			break;
	}
	ck_assert_msg(st == 0, "echod: %d %s", st, out);
	pid = tu_read_pidfile(tu_path("echod.pid"));
	ck_assert(tu_alive(pid));
	tu_track(pid);
	return pid;
}

static pid_t
start_echod(const char *timeout, const char *extra)
{
	install_echod();
	return launch_echod(timeout, extra);
}

/* The pidfile's locked holder; fails the test when there is none. */
static pid_t
holder(void)
{
	pid_t pid = 0;
	int rc = dctx_pidfile_holder(tu_path("echod.pid"), &pid);

	ck_assert_msg(rc == 0 && pid > 0, "pidfile holder: rc %d pid %ld",
	    rc, (long)pid);
	return pid;
}

/*
 * One client's exchange: connect, send len bytes of a pattern, say it
 * is done (shutdown), read the echo to the end.  0, or what went wrong.
 */
static const char *
exchange(unsigned seed, size_t len, int *err)
{
	static __thread char out[16384], in[16384 + 1];
	struct sockaddr_in sin;
	struct timeval tv = { 10, 0 };
	size_t i, got = 0;
	ssize_t n;
	int s;

	*err = 0;
	for (i = 0; i < len; i++)
		out[i] = (char)('A' + (seed + i * 7) % 57);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		*err = errno;
		close(s);
		return "connect";
	}
	for (i = 0; i < len; i += (size_t)n)
		if ((n = write(s, out + i, len - i)) <= 0) {
			*err = errno;
			close(s);
			return "write";
		}
	shutdown(s, SHUT_WR);
	while ((n = read(s, in + got, sizeof(in) - got)) > 0)
		got += (size_t)n;
	if (n < 0)
		*err = errno;
	close(s);
	if (n < 0)
		return "read";
	if (got != len)
		return "short echo";
	if (memcmp(in, out, len) != 0)
		return "wrong bytes";
	return NULL;
}

/* A connection to the daemon, idle. */
static int
dial(void)
{
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return s;
}

/* Clients in a loop, and a sampler of the pidfile, until told to stop. */
struct load {
	pthread_mutex_t lock;
	volatile int stop;
	unsigned long ok, failed, bytes;
	char first_failure[256];
	unsigned long samples, bad_samples;
	char first_bad[128];
	char pidfile[512];
};

static void *
client_main(void *arg)
{
	struct load *ld = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	const char *why;
	size_t len;
	int err;

	while (!ld->stop) {
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 8) % 16384;
		why = exchange(seed, len, &err);
		pthread_mutex_lock(&ld->lock);
		if (why == NULL) {
			ld->ok++;
			ld->bytes += len;
		} else if (ld->failed++ == 0)
			snprintf(ld->first_failure, sizeof(ld->first_failure),
			    "%s: %s", why, err ? strerror(err) : "");
		pthread_mutex_unlock(&ld->lock);
	}
	return NULL;
}

static void *
sampler_main(void *arg)
{
	struct load *ld = arg;
	pid_t pid;
	int rc;

	while (!ld->stop) {
		rc = dctx_pidfile_holder(ld->pidfile, &pid);
		pthread_mutex_lock(&ld->lock);
		ld->samples++;
		if ((rc != 0 || pid <= 0) && ld->bad_samples++ == 0)
			snprintf(ld->first_bad, sizeof(ld->first_bad),
			    "rc %d pid %ld", rc, (long)pid);
		pthread_mutex_unlock(&ld->lock);
		usleep(200);
	}
	return NULL;
}

/* One exchange now, from the test itself: the daemon answers. */
static void
assert_serves(void)
{
	const char *why;
	int err;

	why = exchange(42, 1000, &err);
	ck_assert_msg(why == NULL, "a client: %s: %s", why ? why : "",
	    strerror(err));
}

/* How many times needle occurs in s. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

/* The children of pid, as /proc lists them ("" for none). */
static const char *
children_of(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)pid, (long)pid);
	return tu_slurp(path);
}

START_TEST(twenty_upgrades_under_load_refuse_and_lose_nothing)
{
	enum { CLIENTS = 6, UPGRADES = 20 };
	struct load ld;
	pthread_t clients[CLIENTS], sampler;
	unsigned long before;
	const char *out;
	pid_t old, new, first;
	long long took[UPGRADES], t0, tmp;
	int i, j, st;

	memset(&ld, 0, sizeof(ld));
	pthread_mutex_init(&ld.lock, NULL);
	first = old = start_echod("30000", NULL);
	snprintf(ld.pidfile, sizeof(ld.pidfile), "%s", tu_path("echod.pid"));
	for (i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(pthread_create(&clients[i], NULL, client_main,
		    &ld), 0);
	ck_assert_int_eq(pthread_create(&sampler, NULL, sampler_main, &ld), 0);
	for (i = 0; i < UPGRADES; i++) {
		/* Clients at work before each upgrade, not only between. */
		pthread_mutex_lock(&ld.lock);
		before = ld.ok;
		pthread_mutex_unlock(&ld.lock);
		do
			sleep_ms(20);
		while (ld.ok < before + 20 && !ld.failed);
		/* The binary on disk is replaced, as a package would. */
		install_file(binary, tu_path("echod"));
		t0 = now_ms();
		st = upgrade(&out);
		took[i] = now_ms() - t0;
		ck_assert_msg(st == 0, "upgrade %d: status %d: %s", i + 1, st,
		    out);
		new = holder();
		ck_assert_msg(new != old, "upgrade %d: still pid %ld", i + 1,
		    (long)old);
		ck_assert(tu_alive(new));
		ck_assert_msg(strstr(out, "handed over to pid") != NULL, "%s",
		    out);
		/* The old one drains and is gone, with status 0. */
		ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
		tu_track(new);
		old = new;
	}
	ld.stop = 1;
	for (i = 0; i < CLIENTS; i++)
		pthread_join(clients[i], NULL);
	pthread_join(sampler, NULL);
	/* Measured, not asserted: echod --upgrade from start to exit. */
	for (i = 1; i < UPGRADES; i++)
		for (j = i; j > 0 && took[j - 1] > took[j]; j--) {
			tmp = took[j];
			took[j] = took[j - 1];
			took[j - 1] = tmp;
		}
	printf("upgrade: %d upgrades, %lu exchanges (%lu bytes) echoed, %lu "
	    "failed; %lu pidfile samples, %lu without a live holder; "
	    "echod --upgrade took %lld/%lld/%lld ms (min/median/max)\n",
	    UPGRADES, ld.ok, ld.bytes, ld.failed, ld.samples, ld.bad_samples,
	    took[0], took[UPGRADES / 2], took[UPGRADES - 1]);
	ck_assert_msg(ld.failed == 0, "%lu of %lu exchanges failed, the "
	    "first: %s", ld.failed, ld.ok + ld.failed, ld.first_failure);
	ck_assert_msg(ld.bad_samples == 0, "%lu of %lu samples of the "
	    "pidfile found no live holder, the first: %s", ld.bad_samples,
	    ld.samples, ld.first_bad);
	ck_assert_uint_gt(ld.ok, UPGRADES * 20);
	/* Every upgrade, and only those, in the log of the first. */
	ck_assert_int_eq(count(tu_slurp(tu_path("log")), "is ready; pid"),
	    UPGRADES);
	(void)first;
	stop_daemon(old);
}
END_TEST

/* The old daemon still holds and serves after a failed upgrade. */
static void
assert_rolled_back(pid_t old, const char *out)
{
	ck_assert_msg(holder() == old, "the pidfile names pid %ld, not %ld",
	    (long)holder(), (long)old);
	ck_assert_int_eq(tu_read_pidfile(tu_path("echod.pid")), old);
	assert_serves();
	/* The failed process was reaped: no child is left. */
	ck_assert_str_eq(children_of(old), "");
	ck_assert_msg(strstr(tu_slurp(tu_path("log")), "serves on") != NULL,
	    "log: %s", tu_slurp(tu_path("log")));
	(void)out;
}

/* Put the built echod back and upgrade: the daemon can still upgrade. */
static void
assert_upgrades_after(pid_t old)
{
	const char *out;
	int st;

	install_file(binary, tu_path("echod"));
	st = upgrade(&out);
	ck_assert_msg(st == 0, "status %d: %s", st, out);
	ck_assert_int_ne(holder(), old);
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	tu_track(holder());
	assert_serves();
	stop_daemon(holder());
}

START_TEST(a_new_binary_refused_by_the_library_keeps_the_old_one)
{
	const char *out;
	pid_t old = start_echod("30000", NULL);
	int st;

	install_script(tu_path("echod"), "exec '%s' \"$@\" --user "
	    "dctx-no-such-user\n", tu_path("real/echod"));
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	/* The new echod's own words, from its dctx_prepare(). */
	ck_assert_msg(strstr(out, "echod: upgrade failed: user "
	    "'dctx-no-such-user': no such user or group") != NULL, "%s", out);
	assert_rolled_back(old, out);
	assert_upgrades_after(old);
}
END_TEST

START_TEST(a_new_binary_refusing_an_option_keeps_the_old_one)
{
	const char *out;
	pid_t old = start_echod("30000", NULL);
	int st;

	/* It fails before the library is called: its stderr is the word. */
	install_script(tu_path("echod"), "exec '%s' \"$@\" --umask 9999\n",
	    tu_path("real/echod"));
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "exited with status 2 before it was ready: "
	    "echod: --umask 9999: not an octal mode from 0 to 0777") != NULL,
	    "%s", out);
	assert_rolled_back(old, out);
	assert_upgrades_after(old);
}
END_TEST

/* Whether the environment of pid holds the entry NAME=value. */
static int
env_has(pid_t pid, const char *entry)
{
	char path[64], buf[16384];
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
		buf[n] = '\0';
		if (strcmp(buf + i, entry) == 0)
			return 1;
	}
	return 0;
}

START_TEST(a_new_binary_that_hangs_is_stopped_at_the_deadline)
{
	struct tu_fd fds[32];
	const char *out, *status;
	pid_t old = start_echod("3000", NULL), req, new;
	char entry[64];
	long long t0;
	size_t n;
	int idle, st;

	/* A client of the old one, which the new process must not hold. */
	idle = dial();
	install_script(tu_path("echod"), "echo 'new echod: starting' >&2\n"
	    "exec sleep 600\n");
	t0 = now_ms();
	req = start_to(tu_path("req.out"), ECHOD_PATH, "--upgrade",
	    "--pidfile", tu_path("echod.pid"), (char *)NULL);
	await_file(tu_path("echod.pid.upgrade"), " starting ", 5000);
	status = tu_slurp(tu_path("echod.pid.upgrade"));
	new = (pid_t)atol(strstr(status, " starting ") + 10);
	ck_assert_int_gt(new, 0);
	await_file(tu_path("log"), "new echod: starting", 5000);
	/* The script has become sleep: the shell's own script fd is gone. */
	{
		char comm[32];
		int waited;

		snprintf(comm, sizeof(comm), "/proc/%ld/comm", (long)new);
		for (waited = 0; waited < 5000 &&
		    strcmp(tu_slurp(comm), "sleep\n") != 0; waited += 10)
			sleep_ms(10);
		ck_assert_str_eq(tu_slurp(comm), "sleep\n");
	}
	/*
	 * What it was handed, in socket activation's convention: the
	 * listening socket at 3, the pidfile, the report channel (a socket
	 * pair), its stderr;
	 * a pipe to the old daemon on 2; nothing else, the client's
	 * connection least of all.
	 */
	/*
	 * The kernel names the process "sleep" a moment before it closes the
	 * shell's close-on-exec descriptors (its script, at 255): a leak is
	 * what is still there after that moment.
	 */
	{
		int waited;

		for (waited = 0; (n = tu_fds(new, fds, 32)) != 7 &&
		    waited < 2000; waited += 10)
			sleep_ms(10);
	}
	{
		char all[2048] = "";
		size_t k, used = 0;

		for (k = 0; k < n && used < sizeof(all) - 300; k++)
			used += (size_t)snprintf(all + used, sizeof(all) - used,
			    " %d:%s", fds[k].fd, fds[k].target);
		ck_assert_msg(n == 7, "%zu fds:%s", n, all);
	}
	ck_assert_int_eq(fds[2].fd, 2);
	ck_assert(strncmp(fds[2].target, "pipe:", 5) == 0);
	ck_assert(strncmp(fds[3].target, "socket:", 7) == 0);
	/* The old one's very socket (the same inode). */
	{
		struct tu_fd ofds[32];
		size_t on = tu_fds(old, ofds, 32), k, same = 0;

		for (k = 0; k < on; k++)
			same += strcmp(ofds[k].target, fds[3].target) == 0;
		ck_assert_uint_eq(same, 1);
	}
	ck_assert_str_eq(fds[4].target, tu_path("echod.pid"));
	ck_assert(strncmp(fds[5].target, "socket:", 7) == 0);
	ck_assert_str_eq(fds[6].target, tu_path("log"));
	ck_assert_int_eq(fds[6].fd, 6);
	snprintf(entry, sizeof(entry), "LISTEN_PID=%ld", (long)new);
	ck_assert(env_has(new, entry));
	ck_assert(env_has(new, "LISTEN_FDS=1"));
	ck_assert(env_has(new, "LISTEN_FDNAMES=echod"));
	ck_assert(env_has(new, "DCTX_PIDFILE_FD=4"));
	ck_assert(env_has(new, "DCTX_UPGRADE_FD=5"));
	ck_assert(env_has(new, "DCTX_UPGRADE_STDERR=6"));
	/* The upgrade signal sent to the whole service does not kill it. */
	ck_assert_int_eq(kill(new, SIGUSR2), 0);
	sleep_ms(100);
	ck_assert(tu_alive(new));
	/* The old one serves on meanwhile. */
	assert_serves();
	st = finish(req);
	out = tu_slurp(tu_path("req.out"));
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "upgrade failed: the new process (pid ") !=
	    NULL && strstr(out, "was not ready within 3000 ms: stopped it") !=
	    NULL, "%s", out);
	/* The deadline, not some other end: about three seconds. */
	ck_assert_int_ge(now_ms() - t0, 2900);
	ck_assert_int_lt(now_ms() - t0, 20000);
	ck_assert(!tu_alive(new));
	close(idle);
	assert_rolled_back(old, out);
	assert_upgrades_after(old);
}
END_TEST

START_TEST(a_new_daemon_never_ready_leaves_the_pidfile_to_the_old_one)
{
	const char *out;
	pid_t old = start_echod("1000", NULL);
	int st;

	/*
	 * A libdctx daemon that takes the pidfile over, opens, and never
	 * reports: stopped at the deadline, it runs its shutdown and closes,
	 * and must not remove the file, which is still the old one's.
	 */
	install_script(tu_path("echod"), "exec '%s' --pidfile '%s' "
	    "--manual-ready never --stdout '%s'\n", HELPER_PATH,
	    tu_path("echod.pid"), tu_path("helper.out"));
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "was not ready within 1000 ms: stopped it")
	    != NULL, "%s", out);
	ck_assert(strstr(tu_slurp(tu_path("helper.out")), "open pid"));
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), 0);
	assert_rolled_back(old, out);
	assert_upgrades_after(old);
}
END_TEST

START_TEST(a_new_daemon_crashing_without_a_word_keeps_the_old_one)
{
	const char *out;
	pid_t old = start_echod("30000", NULL);
	int st;

	/* Opens (the pidfile taken over), then aborts: no word at all. */
	install_script(tu_path("echod"), "exec '%s' --pidfile '%s' "
	    "--manual-ready crash --stdout '%s'\n", HELPER_PATH,
	    tu_path("echod.pid"), tu_path("helper.out"));
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "was killed by signal 6 (Aborted) before it "
	    "was ready") != NULL, "%s", out);
	ck_assert(strstr(tu_slurp(tu_path("helper.out")), "open pid"));
	assert_rolled_back(old, out);
	assert_upgrades_after(old);
}
END_TEST

START_TEST(two_requests_at_once_make_one_upgrade)
{
	const char *out, *status;
	pid_t old = start_echod("30000", NULL), first, new;
	char b[32];
	int st;

	/* A new echod that takes a second to start: the window to hit. */
	install_script(tu_path("echod"), "sleep 1\nexec '%s' \"$@\"\n",
	    tu_path("real/echod"));
	first = start_to(tu_path("first.out"), ECHOD_PATH, "--upgrade",
	    "--pidfile", tu_path("echod.pid"), (char *)NULL);
	await_file(tu_path("echod.pid.upgrade"), " starting ", 5000);
	/* A second requester is refused, saying why. */
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "echod: upgrade refused: pid ") != NULL &&
	    strstr(out, "is upgrading already (its new process is pid ") !=
	    NULL, "%s", out);
	/* A bare signal meanwhile is refused by the daemon, which says so. */
	ck_assert_int_eq(kill(old, SIGUSR2), 0);
	await_file(tu_path("log"), "upgrade on signal 12 (User defined "
	    "signal 2) refused: upgrade: one is in progress (new process pid",
	    5000);
	/* The first goes through, and only one new process was started. */
	ck_assert_int_eq(finish(first), 0);
	status = tu_slurp(tu_path("echod.pid.upgrade"));
	ck_assert_ptr_nonnull(strstr(status, " ready "));
	new = holder();
	snprintf(b, sizeof(b), " ready %ld\n", (long)new);
	ck_assert_msg(strstr(status, b) != NULL, "%s", status);
	ck_assert_int_eq(count(tu_slurp(tu_path("log")), "upgrade: started "
	    "pid"), 1);
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	tu_track(new);
	assert_serves();
	stop_daemon(new);
}
END_TEST

START_TEST(a_daemon_stopped_during_an_upgrade_stops_the_new_one_too)
{
	const char *out;
	pid_t old = start_echod("30000", NULL), req;
	int st;

	install_script(tu_path("echod"), "sleep 3\nexec '%s' \"$@\"\n",
	    tu_path("real/echod"));
	req = start_to(tu_path("req.out"), ECHOD_PATH, "--upgrade",
	    "--pidfile", tu_path("echod.pid"), (char *)NULL);
	await_file(tu_path("echod.pid.upgrade"), " starting ", 5000);
	/* systemctl stop, mid-upgrade: the service stops, all of it. */
	tu_stop_cleanly(old);
	st = finish(req);
	out = tu_slurp(tu_path("req.out"));
	ck_assert_int_eq(st, 1);
	/* The record of the failure, or, when the stop removed it first,
	 * the daemon's end: either way the requester knows. */
	ck_assert_msg(strstr(out, "upgrade failed: the daemon was asked to "
	    "stop while pid ") != NULL || (strstr(out, "upgrade not done: "
	    "pid ") != NULL && strstr(out, "ended during the upgrade") !=
	    NULL), "%s", out);
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), -1);
	ck_assert_int_eq(access(tu_path("echod.pid.upgrade"), F_OK), -1);
	ck_assert(tu_no_children(5000));
	(void)out;
}
END_TEST

START_TEST(the_new_process_gets_the_sockets_and_pidfile_and_nothing_else)
{
	struct tu_fd fds[64];
	const char *out;
	pid_t old = start_echod("30000", NULL), new;
	size_t n, i, sockets = 0, pidfiles = 0;
	int idle, st;

	/* A client connected to the old one, idle through the upgrade. */
	idle = dial();
	st = upgrade(&out);
	ck_assert_msg(st == 0, "%s", out);
	new = holder();
	tu_track(new);
	n = tu_fds_settled(new, fds, 64);
	for (i = 0; i < n; i++) {
		if (strncmp(fds[i].target, "socket:", 7) == 0) {
			sockets++;
			/* The very listening socket of the old one, at 3. */
			ck_assert_int_eq(fds[i].fd, 3);
		}
		pidfiles += strcmp(fds[i].target, tu_path("echod.pid")) == 0;
		ck_assert_msg(fds[i].fd <= 2 || fds[i].fd == 3 ||
		    strcmp(fds[i].target, tu_path("echod.pid")) == 0 ||
		    strcmp(fds[i].target, tu_dir()) == 0 ||
		    tu_is_event_fd_of(fds, n, i), "fd %d: %s", fds[i].fd,
		    fds[i].target);
	}
	ck_assert_uint_eq(sockets, 1);
	ck_assert_uint_eq(pidfiles, 1);
	/* Its stderr is its log again, not the pipe to the old one. */
	ck_assert_str_eq(tu_proc_link(new, "fd/2"), tu_path("log"));
	/* The old one drains the idle client and ends. */
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	{
		char c;
		struct pollfd p = { idle, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ck_assert_int_eq(read(idle, &c, 1), 0);
	}
	close(idle);
	stop_daemon(new);
}
END_TEST

/* One datagram from the stand-in notify socket, and its sender's pid. */
static const char *
notified_any(int ns, pid_t *sender)
{
	static char buf[256];
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	struct pollfd p = { ns, POLLIN, 0 };
	ssize_t n;

	/*
	 * echod also gives the socket it bound to systemd's fd store
	 * (FDSTORE=1, the descriptor attached: it does not fit cbuf, so the
	 * kernel drops it): not what this test watches.
	 */
	do {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		*sender = 0;
		if (poll(&p, 1, 10000) != 1 || (n = recvmsg(ns, &mh, 0)) < 0)
			return "(nothing)";
		buf[n] = '\0';
	} while (strncmp(buf, "FDSTORE=1\n", 10) == 0);
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			*sender = ((struct ucred *)(void *)CMSG_DATA(c))->pid;
	return buf;
}

/*
 * The next datagram but echod's status lines (STATUS=, which it sends
 * as its connections come and go), its watchdog pings and what it gives
 * the fd store (FDSTORE=1, with the descriptor attached, which does not
 * fit our control buffer and is dropped); none of those skipped may come
 * from pid quiet (0: anyone).
 */
static const char *
notified(int ns, pid_t *sender, pid_t quiet)
{
	const char *msg;

	while (strncmp(msg = notified_any(ns, sender), "STATUS=", 7) == 0 ||
	    strcmp(msg, "WATCHDOG=1") == 0 ||
	    strncmp(msg, "FDSTORE=1\n", 10) == 0)
		ck_assert_msg(quiet == 0 || *sender != quiet, "pid %ld said "
		    "'%s' before it was the main process", (long)quiet, msg);
	return msg;
}

START_TEST(under_a_service_manager_the_old_one_names_the_new_main_pid)
{
	struct sockaddr_un sun;
	const char *out, *msg;
	char want[64];
	pid_t old, new, from;
	long long t0;
	int ns, one = 1, st, i;

	/* A stand-in for systemd's notify socket, which sees who sends. */
	ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tu_path("notify"));
	ck_assert_int_eq(bind(ns, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(setsockopt(ns, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	echod_binary(binary, sizeof(binary));
	install_file(binary, tu_path("echod"));
	pick_port();
	/* Type=notify: it stays our child, in front; WatchdogSec=60. */
	setenv("NOTIFY_SOCKET", tu_path("notify"), 1);
	setenv("WATCHDOG_USEC", "60000000", 1);
	old = start_to(tu_path("out"), tu_path("echod"), "--pidfile",
	    tu_path("echod.pid"), "--listen", listen_on, "--stderr",
	    tu_path("log"), (char *)NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	tu_track(old);
	snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)old);
	msg = notified(ns, &from, 0);
	ck_assert_str_eq(msg, want);
	ck_assert_int_eq(from, old);
	st = upgrade(&out);
	ck_assert_msg(st == 0, "%s; log: %s", out, tu_slurp(tu_path("log")));
	new = holder();
	tu_track(new);
	/*
	 * The main process names its successor, with a last watchdog ping
	 * for it; the successor says nothing at its start (systemd would
	 * refuse it: it is not the main pid), and pings in its place.
	 */
	snprintf(want, sizeof(want), "MAINPID=%ld\nWATCHDOG=1", (long)new);
	msg = notified(ns, &from, new);
	ck_assert_str_eq(msg, want);
	ck_assert_int_eq(from, old);
	ck_assert(env_has(new, "WATCHDOG_USEC=60000000"));
	snprintf(want, sizeof(want), "WATCHDOG_PID=%ld", (long)new);
	ck_assert(env_has(new, want));
	/* Not the old one's child, but the manager's (here, the subreaper). */
	snprintf(want, sizeof(want), "%ld", (long)getpid());
	ck_assert_str_eq(tu_status_field(new, "PPid:"), want);
	ck_assert_int_eq(finish(old), 0);
	/*
	 * More upgrades, each handed over at once: a quick new process's
	 * readiness read along with its pid was once left unheard until it
	 * gave up waiting for the answer (5 s), then taken.  4 s is many
	 * times what one takes here under load (tens of ms).
	 */
	for (i = 0; i < 3; i++) {
		old = new;
		t0 = now_ms();
		st = upgrade(&out);
		ck_assert_msg(st == 0, "%s", out);
		ck_assert_int_lt(now_ms() - t0, 4000);
		new = holder();
		tu_track(new);
		snprintf(want, sizeof(want), "MAINPID=%ld\nWATCHDOG=1",
		    (long)new);
		msg = notified(ns, &from, new);
		ck_assert_str_eq(msg, want);
		ck_assert_int_eq(from, old);
		ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	}
	/* The new main process speaks to the manager from now on. */
	ck_assert_int_eq(kill(new, SIGTERM), 0);
	msg = notified(ns, &from, 0);
	ck_assert_str_eq(msg, "STOPPING=1");
	ck_assert_int_eq(from, new);
	ck_assert_int_eq(tu_wait_gone(new, 10000), 0);
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), -1);
	close(ns);
}
END_TEST

START_TEST(requests_to_nobody_or_to_a_daemon_without_upgrades_are_refused)
{
	struct launch l;
	const char *out;
	pid_t pid;
	int st;

	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "no daemon holds it") != NULL, "%s", out);
	/* The helper maps no SIGUSR2: it must not be sent, or it dies. */
	tu_program = HELPER_PATH;
	tu_launch(&l, "--pidfile", tu_path("echod.pid"), "--stdout",
	    tu_path("helper.out"), NULL);
	ck_assert_int_eq(l.status, 0);
	pid = tu_read_pidfile(tu_path("echod.pid"));
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "does not catch signal 12") != NULL, "%s",
	    out);
	ck_assert(tu_alive(pid));
	tu_stop_cleanly(pid);
}
END_TEST

START_TEST(a_daemon_that_dropped_privileges_upgrades_and_is_heard)
{
	struct passwd *pw = getpwnam("nobody");
	const char *out;
	char lib[600], top[512], *slash;
	pid_t old, new;
	struct stat st;
	int fd, st2;

	/*
	 * The new process starts as nobody, like the old one runs: its
	 * library must be where nobody may read it (the sanitizer pass
	 * builds under a 0700 directory), and so must its log.
	 */
	ck_assert_ptr_nonnull(pw);
	install_echod();
	snprintf(top, sizeof(top), "%s", binary);
	*strrchr(top, '/') = '\0';
	if ((slash = strrchr(top, '/')) != NULL && strcmp(slash, "/.libs") == 0)
		*slash = '\0';
	snprintf(lib, sizeof(lib), "%s/../.libs/libdctx.so.0", top);
	ck_assert_int_eq(mkdir(tu_path("lib"), 0755), 0);
	install_file(lib, tu_path("lib/libdctx.so.0"));
	fd = open(tu_path("log"), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	ck_assert_int_eq(fchown(fd, pw->pw_uid, pw->pw_gid), 0);
	close(fd);
	/* LeakSanitizer cannot follow a process that changed its uid. */
	tu_asan_option("detect_leaks=0");
	setenv("LD_LIBRARY_PATH", tu_path("lib"), 1);
	/* Its pidfile in a directory only root may write, as /run. */
	old = launch_echod("30000", "--user=nobody");
	ck_assert_int_eq(stat(tu_path("echod.pid"), &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	install_file(binary, tu_path("echod"));
	st2 = upgrade(&out);
	ck_assert_msg(st2 == 0, "status %d: %s; log: %s", st2, out,
	    tu_slurp(tu_path("log")));
	new = holder();
	ck_assert_int_ne(new, old);
	tu_track(new);
	ck_assert_int_eq(tu_wait_gone(old, 20000), 0);
	/* The requester made the status file the daemon's, which wrote it. */
	ck_assert_int_eq(stat(tu_path("echod.pid.upgrade"), &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	/* A failure's own message reaches the requester the same way. */
	install_script(tu_path("echod"), "exec '%s' \"$@\" --umask 9999\n",
	    tu_path("real/echod"));
	st2 = upgrade(&out);
	ck_assert_int_eq(st2, 1);
	ck_assert_msg(strstr(out, "echod: --umask 9999: not an octal mode") !=
	    NULL, "%s", out);
	ck_assert_int_eq(holder(), new);
	tu_stop_cleanly(new);
	ck_assert(tu_no_children(5000));
}
END_TEST

/*
 * The daemon refuses to begin an upgrade: the requester hears why at
 * once, from the daemon's own record, instead of waiting 5 s for an
 * attempt that never comes and then guessing ("is the signal mapped?").
 * Before the daemon reported ready (its launcher still waits), and with
 * its binary gone from the path it was started as.
 */
START_TEST(a_refused_upgrade_says_why_at_once)
{
	const char *out;
	char want[700];
	pid_t launcher, old;
	long long t0;
	int st;

	install_echod();
	pick_port();
	launcher = start_to(tu_path("launcher.out"), tu_path("echod"),
	    "--pidfile", tu_path("echod.pid"), "--listen", listen_on,
	    "--stdout", tu_path("log"), "--stderr", tu_path("log"),
	    "--ready-delay", "4000", (char *)NULL);
	/* It serves, and holds the pidfile, but has not said ready. */
	await_file(tu_path("log"), "listening on", 10000);
	old = holder();
	tu_track(old);
	t0 = now_ms();
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	snprintf(want, sizeof(want), "echod: upgrade refused: pid %ld: the "
	    "daemon has not reported ready yet", (long)old);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_msg(now_ms() - t0 < 3000, "the refusal took %lld ms",
	    now_ms() - t0);
	ck_assert_int_eq(finish(launcher), 0);
	ck_assert_int_eq(holder(), old);

	/* The binary is gone from its path (a package half removed). */
	ck_assert_int_eq(unlink(tu_path("echod")), 0);
	t0 = now_ms();
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	snprintf(want, sizeof(want), "echod: upgrade refused: pid %ld: %s: "
	    "No such file or directory", (long)old, tu_path("echod"));
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_msg(now_ms() - t0 < 3000, "the refusal took %lld ms",
	    now_ms() - t0);
	ck_assert_int_eq(holder(), old);
	assert_serves();
	ck_assert_str_eq(children_of(old), "");
	assert_upgrades_after(old);
}
END_TEST

/*
 * In a chroot the new binary is out of reach: refused, and said so.  The
 * jail is the test's directory, so that the pidfile lies inside it and
 * its directory stays reachable: the refusal is recorded beside it.
 */
START_TEST(an_upgrade_in_a_chroot_is_refused_with_the_reason)
{
	const char *out;
	char jail[600], opt[620], want[900];
	pid_t old;
	int st;

	snprintf(jail, sizeof(jail), "%s", tu_path("echod.pid"));
	*strrchr(jail, '/') = '\0';
	snprintf(opt, sizeof(opt), "--chroot=%s", jail);
	/* LeakSanitizer needs /proc, which the jail lacks; without a
	 * sanitizer the variable is ignored. */
	tu_asan_option("detect_leaks=0");
	old = start_echod("30000", opt);
	st = upgrade(&out);
	ck_assert_int_eq(st, 1);
	snprintf(want, sizeof(want), "echod: upgrade refused: pid %ld: "
	    "upgrade in a chroot (%s): the new binary and its files are "
	    "outside it", (long)old, jail);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_int_eq(holder(), old);
	assert_serves();
	ck_assert_str_eq(children_of(old), "");
	stop_daemon(old);
}
END_TEST

/*
 * As pid 1 (a container's entry point) the new process could not take
 * its place: refused, and said so to the requester run inside the
 * container (nsenter), which is where its pidfile's pid means it.
 */
START_TEST(an_upgrade_of_pid_1_is_refused_with_the_reason)
{
	const char *out;
	char path[64];
	pid_t unshare, pid1 = 0;
	int st, waited;

	install_echod();
	pick_port();
	tu_program = "/usr/bin/unshare";
	unshare = tu_start_fg("--pid", "--fork", "--kill-child",
	    "--mount-proc", tu_path("echod"), "--pidfile", tu_path("echod.pid"),
	    "--listen", listen_on, "--stderr", tu_path("log"), NULL);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)unshare, (long)unshare);
	for (waited = 0; waited < 5000 && pid1 <= 0; waited += 10) {
		pid1 = (pid_t)strtol(tu_slurp(path), NULL, 10);
		if (pid1 <= 0)
			sleep_ms(10);
	}
	ck_assert_msg(pid1 > 0, "unshare started no child");
	tu_track(pid1);
	await_file(tu_path("log"), "as pid 1\n", 10000);
	snprintf(path, sizeof(path), "%ld", (long)pid1);
	st = run(&out, "/usr/bin/nsenter", "-t", path, "-p", "-m", ECHOD_PATH,
	    "--upgrade", "--pidfile", tu_path("echod.pid"), (char *)NULL);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "echod: upgrade refused: pid 1: upgrade of "
	    "pid 1: the new process could not be pid 1") != NULL, "%s", out);
	assert_serves();
	tu_stop_cleanly(pid1);
	ck_assert_int_eq(tu_wait_gone(unshare, 5000), 0);
	ck_assert_int_eq(access(tu_path("echod.pid"), F_OK), -1);
	ck_assert_int_eq(access(tu_path("echod.pid.upgrade"), F_OK), -1);
}
END_TEST

static Suite *
upgrade_suite(void)
{
	Suite *s = suite_create("upgrade");
	TCase *tc = tu_tcase("upgrade");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, twenty_upgrades_under_load_refuse_and_lose_nothing);
	tcase_add_test(tc, a_new_binary_refused_by_the_library_keeps_the_old_one);
	tcase_add_test(tc, a_new_binary_refusing_an_option_keeps_the_old_one);
	tcase_add_test(tc, a_new_binary_that_hangs_is_stopped_at_the_deadline);
	tcase_add_test(tc, a_new_daemon_never_ready_leaves_the_pidfile_to_the_old_one);
	tcase_add_test(tc, a_new_daemon_crashing_without_a_word_keeps_the_old_one);
	tcase_add_test(tc, two_requests_at_once_make_one_upgrade);
	tcase_add_test(tc, a_daemon_stopped_during_an_upgrade_stops_the_new_one_too);
	tcase_add_test(tc, the_new_process_gets_the_sockets_and_pidfile_and_nothing_else);
	tcase_add_test(tc, under_a_service_manager_the_old_one_names_the_new_main_pid);
	tcase_add_test(tc, requests_to_nobody_or_to_a_daemon_without_upgrades_are_refused);
	tcase_add_test(tc, a_refused_upgrade_says_why_at_once);
	if (geteuid() != 0) {
		printf("upgrade: an_upgrade_in_a_chroot_is_refused_with_the_"
		    "reason: skipped, it needs root\n");
		printf("upgrade: an_upgrade_of_pid_1_is_refused_with_the_"
		    "reason: skipped, it needs root\n");
	} else {
		tcase_add_test(tc,
		    an_upgrade_in_a_chroot_is_refused_with_the_reason);
		if (access("/usr/bin/unshare", X_OK) < 0 ||
		    access("/usr/bin/nsenter", X_OK) < 0)
			printf("upgrade: an_upgrade_of_pid_1_is_refused_with_"
			    "the_reason: skipped, no /usr/bin/unshare or "
			    "/usr/bin/nsenter\n");
		else
			tcase_add_test(tc,
			    an_upgrade_of_pid_1_is_refused_with_the_reason);
	}
	if (geteuid() != 0)
		printf("upgrade: a_daemon_that_dropped_privileges_upgrades_and_"
		    "is_heard: skipped, it needs root\n");
	else if (getpwnam("nobody") == NULL)
		printf("upgrade: a_daemon_that_dropped_privileges_upgrades_and_"
		    "is_heard: skipped, there is no user 'nobody'\n");
	else
		tcase_add_test(tc,
		    a_daemon_that_dropped_privileges_upgrades_and_is_heard);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(upgrade_suite)
