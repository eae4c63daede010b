/*
 * echod under the real systemd (tests/sdbox): the unit types an operator
 * writes, driven with systemctl, judged by what systemctl shows.  Skipped,
 * with the reason, where the box cannot start (not root, no namespaces,
 * no systemd).
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(type_notify_starts_and_stops_with_success)
{
	char out[4096];
	long pid;

	tu_sdbox_unit("t-notify.service",
	    "[Service]\nType=notify\n"
	    "ExecStart=%s --listen 127.0.0.1:7201\n", ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-notify.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-notify.service", "ActiveState"),
	    "active");
	pid = strtol(tu_sdbox_show("t-notify.service", "MainPID"), NULL, 10);
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-notify.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-notify.service", "Result"),
	    "success");
	ck_assert_str_eq(tu_sdbox_show("t-notify.service", "ActiveState"),
	    "inactive");
}
END_TEST

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Whether echod answers on 127.0.0.1:port (the box shares our network)
 * within ms: a Type=simple start returns before echod has bound.
 */
static int
echoes(int port, int ms)
{
	struct sockaddr_in sin;
	struct pollfd p;
	char buf[8];
	int waited, s, ok = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((in_port_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (waited = 0; waited <= ms && !ok; waited += 50) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(s, 0);
		if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    write(s, "hi\n", 3) == 3) {
			p.fd = s;
			p.events = POLLIN;
			ok = poll(&p, 1, 3000) == 1 && read(s, buf, 3) == 3 &&
			    memcmp(buf, "hi\n", 3) == 0;
		}
		close(s);
		if (!ok)
			sleep_ms(50);
	}
	return ok;
}

/* The command name of a pid inside the box. */
static const char *
comm_of(long pid)
{
	static char buf[64];
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	snprintf(buf, sizeof(buf), "%s", tu_slurp(tu_sdbox_path(path)));
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/*
 * Type=simple: no NOTIFY_SOCKET, and echod without --foreground.  systemd
 * is pid 1 here, the parent of what it runs: libdctx stays in front.
 */
START_TEST(type_simple_stays_in_front_and_stops_with_success)
{
	char out[4096];
	long pid;

	tu_sdbox_unit("t-simple.service",
	    "[Service]\nType=simple\n"
	    "ExecStart=%s --listen 127.0.0.1:7250\n", ECHOD_PATH);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-simple.service"), 0);
	ck_assert_msg(echoes(7250, 5000), "no echo on 7250");
	ck_assert_str_eq(tu_sdbox_show("t-simple.service", "ActiveState"),
	    "active");
	pid = strtol(tu_sdbox_show("t-simple.service", "MainPID"), NULL, 10);
	ck_assert_int_gt(pid, 1);
	ck_assert_str_eq(comm_of(pid), "echod");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop t-simple.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("t-simple.service", "Result"),
	    "success");
}
END_TEST

/* systemctl for the user manager that t-usermgr.service runs. */
#define USER_CTL "XDG_RUNTIME_DIR=/run/t-user systemctl --user "

static const char *
user_show(const char *unit, const char *prop)
{
	static char buf[512];

	tu_sdbox_run(buf, sizeof(buf), USER_CTL "show -P %s %s", prop, unit);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/*
 * A manager that is not pid 1 (systemd --user, as run for every user):
 * the parent test does not see it, INVOCATION_ID and SYSTEMD_EXEC_PID
 * do.  A daemon that forked here would leave the unit inactive and be
 * killed with it.
 */
START_TEST(type_simple_under_a_user_manager_stays_in_front)
{
	char out[4096];
	FILE *f;
	long pid;

	tu_sdbox_unit("t-usermgr.service",
	    "[Service]\nType=notify\nRuntimeDirectory=t-user\n"
	    "Environment=XDG_RUNTIME_DIR=/run/t-user\n"
	    "ExecStart=/lib/systemd/systemd --user\n");
	ck_assert_msg(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-usermgr.service") == 0, "%s", out);
	tu_sdbox_run(NULL, 0, "mkdir -p /run/systemd/user");
	f = fopen(tu_sdbox_path("/run/systemd/user/t-usimple.service"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[Service]\nType=simple\n"
	    "ExecStart=%s --listen 127.0.0.1:7251\n", ECHOD_PATH);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(tu_sdbox_run(out, sizeof(out), USER_CTL "daemon-reload "
	    "&& " USER_CTL "start t-usimple.service") == 0, "%s", out);
	ck_assert_msg(echoes(7251, 5000), "no echo on 7251");
	ck_assert_str_eq(user_show("t-usimple.service", "ActiveState"),
	    "active");
	pid = strtol(user_show("t-usimple.service", "MainPID"), NULL, 10);
	ck_assert_int_gt(pid, 1);
	ck_assert_str_eq(comm_of(pid), "echod");
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    USER_CTL "stop t-usimple.service"), 0);
	ck_assert_str_eq(user_show("t-usimple.service", "Result"), "success");
	tu_sdbox_run(NULL, 0, "systemctl stop t-usermgr.service");
}
END_TEST

static int status_shows(const char *unit, const char *needle, char *out,
    size_t len);

/* examples/systemd/echod-forking.service, with our echod and port. */
START_TEST(type_forking_with_a_pidfile_starts_and_stops_with_success)
{
	char out[4096];
	long pid;

	ck_assert_msg(tu_sdbox_run(out, sizeof(out), "sed -e "
	    "s,/usr/local/bin/echod,%s, -e s,127.0.0.1:7777,127.0.0.1:7252, "
	    "%s/examples/systemd/echod-forking.service "
	    ">/run/systemd/system/echod-forking.service && "
	    "systemctl daemon-reload", ECHOD_PATH,
	    getenv("abs_top_srcdir")) == 0, "%s", out);
	ck_assert_msg(tu_sdbox_run(out, sizeof(out),
	    "systemctl start echod-forking.service") == 0, "%s", out);
	ck_assert_str_eq(tu_sdbox_show("echod-forking.service",
	    "ActiveState"), "active");
	pid = strtol(tu_sdbox_show("echod-forking.service", "MainPID"), NULL,
	    10);
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(tu_read_pidfile(tu_sdbox_path("/run/echod.pid")),
	    pid);
	ck_assert_str_eq(comm_of(pid), "echod");
	ck_assert_msg(echoes(7252, 3000), "no echo on 7252");
	/* Its ExecReload=: the signal reaches echod, which logs the reload. */
	ck_assert_msg(tu_sdbox_run(out, sizeof(out),
	    "systemctl reload echod-forking.service") == 0, "%s", out);
	ck_assert_msg(status_shows("echod-forking.service", "]: reloaded, ",
	    out, sizeof(out)), "%s", out);
	ck_assert_int_eq(strtol(tu_sdbox_show("echod-forking.service",
	    "MainPID"), NULL, 10), pid);
	ck_assert_int_eq(tu_sdbox_run(out, sizeof(out),
	    "systemctl stop echod-forking.service"), 0);
	ck_assert_str_eq(tu_sdbox_show("echod-forking.service", "Result"),
	    "success");
	ck_assert_int_eq(access(tu_sdbox_path("/run/echod.pid"), F_OK), -1);
}
END_TEST

/* `systemctl status` of unit, until it shows needle (the journal lags). */
static int
status_shows(const char *unit, const char *needle, char *out, size_t len)
{
	int waited;

	for (waited = 0; waited <= 5000; waited += 100) {
		tu_sdbox_run(out, len, "systemctl status --no-pager --lines 20 "
		    "%s", unit);
		if (strstr(out, needle) != NULL)
			return 1;
		sleep_ms(100);
	}
	return 0;
}

/* A start that fails in dctx_prepare(): STATUS= and the journal. */
START_TEST(a_failed_notify_start_shows_the_daemons_message)
{
	char out[4096];

	tu_sdbox_unit("t-nouser.service",
	    "[Service]\nType=notify\n"
	    "ExecStart=%s --listen 127.0.0.1:7253 --user no-such-user\n",
	    ECHOD_PATH);
	ck_assert_int_ne(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-nouser.service"), 0);
	ck_assert_str_ne(tu_sdbox_show("t-nouser.service", "Result"),
	    "success");
	ck_assert_str_eq(tu_sdbox_show("t-nouser.service", "StatusText"),
	    "user 'no-such-user': no such user or group");
	ck_assert_msg(status_shows("t-nouser.service",
	    "]: user 'no-such-user': no such user or group", out,
	    sizeof(out)), "%s", out);
}
END_TEST

/* A start that fails after dctx_prepare(), binding its port: the journal. */
START_TEST(a_failed_notify_start_on_a_taken_port_shows_the_message)
{
	struct sockaddr_in sin;
	char out[4096];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(7254);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	tu_sdbox_unit("t-taken.service",
	    "[Service]\nType=notify\n"
	    "ExecStart=%s --listen 127.0.0.1:7254\n", ECHOD_PATH);
	ck_assert_int_ne(tu_sdbox_run(out, sizeof(out),
	    "systemctl start t-taken.service"), 0);
	ck_assert_str_ne(tu_sdbox_show("t-taken.service", "Result"),
	    "success");
	ck_assert_msg(status_shows("t-taken.service",
	    "]: --listen 127.0.0.1:7254: Address already in use", out,
	    sizeof(out)), "%s", out);
	close(s);
}
END_TEST

/*
 * `systemctl enable` in the box, as the README's `systemctl enable --now
 * echod.socket`: the link is made in the box's /etc/systemd/system, and
 * the host's stays as it was.
 */
START_TEST(enabling_a_unit_in_the_box_leaves_the_hosts_etc_alone)
{
	const char *link = "/etc/systemd/system/multi-user.target.wants/"
	    "t-enable.service";
	struct stat st;
	char out[4096];

	/* lstat(): the link points into the box's /run, dangling here. */
	ck_assert_int_ne(lstat(link, &st), 0);
	tu_sdbox_unit("t-enable.service",
	    "[Service]\nExecStart=/bin/true\n"
	    "[Install]\nWantedBy=multi-user.target\n");
	ck_assert_msg(tu_sdbox_run(out, sizeof(out),
	    "systemctl enable t-enable.service") == 0, "%s", out);
	ck_assert_msg(tu_sdbox_run(out, sizeof(out),
	    "systemctl is-enabled t-enable.service") == 0, "%s", out);
	ck_assert_msg(lstat(tu_sdbox_path(link), &st) == 0, "no %s in the "
	    "box", link);
	ck_assert_msg(lstat(link, &st) != 0, "systemctl enable in the box "
	    "made the host's %s", link);
}
END_TEST

static Suite *
systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tu_tcase("systemd");
	char why[256];

	if (tu_sdbox_start(why, sizeof(why)) < 0) {
		printf("systemd: skipped, %s\n", why);
		return s;
	}
	tcase_add_test(tc, type_notify_starts_and_stops_with_success);
	tcase_add_test(tc, type_simple_stays_in_front_and_stops_with_success);
	tcase_add_test(tc, type_simple_under_a_user_manager_stays_in_front);
	tcase_add_test(tc, type_forking_with_a_pidfile_starts_and_stops_with_success);
	tcase_add_test(tc, a_failed_notify_start_shows_the_daemons_message);
	tcase_add_test(tc, a_failed_notify_start_on_a_taken_port_shows_the_message);
	tcase_add_test(tc, enabling_a_unit_in_the_box_leaves_the_hosts_etc_alone);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(systemd_suite)
