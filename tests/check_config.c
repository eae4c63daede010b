/*
 * The context's attributes, checked in this process (nothing here
 * daemonizes), and the setters' refusal once open, through the helper.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dctx.h"
#include "testutil.h"

START_TEST(defaults_follow_pep_3143)
{
	struct dctx *ctx = dctx_new();

	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(dctx_working_directory(ctx), "/");
	ck_assert_int_eq(dctx_is_open(ctx), 0);
	ck_assert_ptr_null(dctx_base(ctx));
	ck_assert_str_eq(dctx_errmsg(ctx), "");
	dctx_free(ctx);
	dctx_free(NULL);
}
END_TEST

START_TEST(working_directory_is_prefixed_with_the_chroot)
{
	struct dctx *ctx = dctx_new();

	ck_assert_int_eq(dctx_set_chroot_directory(ctx, "/srv/jail"), 0);
	ck_assert_str_eq(dctx_working_directory(ctx), "/srv/jail");
	ck_assert_int_eq(dctx_set_working_directory(ctx, "/data"), 0);
	ck_assert_str_eq(dctx_working_directory(ctx), "/srv/jail/data");
	/* Already inside the chroot: left as it is. */
	ck_assert_int_eq(dctx_set_working_directory(ctx, "/srv/jail/www"), 0);
	ck_assert_str_eq(dctx_working_directory(ctx), "/srv/jail/www");
	/* A path that merely starts with the same letters is not inside. */
	ck_assert_int_eq(dctx_set_working_directory(ctx, "/srv/jailbreak"), 0);
	ck_assert_str_eq(dctx_working_directory(ctx), "/srv/jail/srv/jailbreak");
	ck_assert_int_eq(dctx_set_chroot_directory(ctx, NULL), 0);
	ck_assert_str_eq(dctx_working_directory(ctx), "/srv/jailbreak");
	dctx_free(ctx);
}
END_TEST

static void
on_any_signal(struct dctx *ctx, int signo, void *arg)
{
	(void)ctx;
	(void)signo;
	(void)arg;
}

START_TEST(bad_input_is_refused_with_a_message)
{
	struct dctx *ctx = dctx_new();

	ck_assert_int_eq(dctx_set_working_directory(ctx, "relative"), -EINVAL);
	ck_assert_str_eq(dctx_errmsg(ctx),
	    "working_directory 'relative': not an absolute path: Invalid argument");
	ck_assert_str_eq(dctx_working_directory(ctx), "/");
	ck_assert_int_eq(dctx_set_chroot_directory(ctx, "jail"), -EINVAL);
	ck_assert_int_eq(dctx_set_umask(ctx, 01777), -EINVAL);
	ck_assert_int_eq(dctx_preserve_fd(ctx, 1000), -EBADF);
	ck_assert_str_eq(dctx_errmsg(ctx), "files_preserve fd 1000: Bad file descriptor");
	ck_assert_int_eq(dctx_preserve_fd(ctx, 2), -EBADF);
	ck_assert_int_eq(dctx_set_stdout(ctx, 1000), -EBADF);
	ck_assert_int_eq(dctx_set_detach_process(ctx, (enum dctx_detach)7), -EINVAL);
	ck_assert_int_eq(dctx_set_signal(ctx, SIGUSR1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(dctx_set_signal(ctx, SIGKILL, on_any_signal, NULL),
	    DCTX_ESIGNAL);
	ck_assert_str_eq(dctx_errmsg(ctx),
	    "signal 9 (Killed): signal cannot be mapped");
	ck_assert_int_eq(dctx_ignore_signal(ctx, SIGSTOP), DCTX_ESIGNAL);
	ck_assert_int_eq(dctx_ignore_signal(ctx, 0), DCTX_ESIGNAL);
	ck_assert_int_eq(dctx_ignore_signal(ctx, 999), DCTX_ESIGNAL);
	ck_assert_str_eq(dctx_errmsg(ctx), "signal 999: signal cannot be mapped");
	ck_assert_int_eq(dctx_set_event_method(ctx, "kqueue-on-linux"), -ENOTSUP);
	ck_assert_int_eq(dctx_set_event_method(ctx, "poll"), 0);
	ck_assert_int_eq(dctx_set_user(ctx, ""), -EINVAL);
	dctx_free(ctx);
}
END_TEST

START_TEST(error_codes_have_words)
{
	ck_assert_str_eq(dctx_strerror(DCTX_ERUNNING), "already running");
	ck_assert_str_eq(dctx_strerror(DCTX_EOPEN),
	    "the daemon context is already open");
	ck_assert_str_eq(dctx_strerror(-ENOENT), "No such file or directory");
	ck_assert_str_eq(dctx_strerror(12345678), "unknown error");
}
END_TEST

START_TEST(setters_after_open_are_refused)
{
	struct launch l;
	char want[128];

	tu_launch(&l, "--pidfile", tu_path("d.pid"), "--stdout", tu_path("out"),
	    "--set-after-open", NULL);
	ck_assert_int_eq(l.status, 0);
	snprintf(want, sizeof(want),
	    "set_umask after open: %d umask: the daemon context is already open",
	    DCTX_EOPEN);
	ck_assert(tu_wait_file_contains(tu_path("out"), want, 3000));
	/* And the umask really did not change. */
	ck_assert_str_eq(tu_status_field(tu_read_pidfile(tu_path("d.pid")),
	    "Umask:"), "0000");
}
END_TEST

START_TEST(a_long_input_keeps_the_reason)
{
	const char *tail = "File name too long\n";
	char name[301], path[1024], rel[700];
	struct dctx *ctx = dctx_new();
	struct launch l;
	const char *msg;
	size_t n;

	/* Refused by a setter: the message keeps its head and its reason. */
	memset(rel, 'r', sizeof(rel) - 1);
	rel[sizeof(rel) - 1] = '\0';
	ck_assert_int_eq(dctx_set_working_directory(ctx, rel), -EINVAL);
	msg = dctx_errmsg(ctx);
	ck_assert_uint_eq(strlen(msg), 511);
	ck_assert_msg(strncmp(msg, "working_directory 'rrr", 22) == 0, "%s", msg);
	ck_assert_msg(strstr(msg, "r...r") != NULL, "%s", msg);
	n = strlen(msg);
	ck_assert_str_eq(msg + n - strlen("rrr': not an absolute path: "
	    "Invalid argument"), "rrr': not an absolute path: Invalid argument");
	dctx_free(ctx);
	/* Failed in the daemon: the launcher prints the reason at the end. */
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/%s/%s", tu_dir(), name, name);
	tu_launch(&l, "--workdir", path, NULL);
	ck_assert_int_eq(l.status, 1);
	n = strlen(l.err);
	ck_assert_msg(n > strlen(tail) && strcmp(l.err + n - strlen(tail),
	    tail) == 0, "stderr: %s", l.err);
	ck_assert_msg(strstr(l.err, "x...x") != NULL, "stderr: %s", l.err);
	ck_assert(tu_no_children(2000));
}
END_TEST

/*
 * A pidfile path of PATH_MAX bytes or more whose directory (the test's,
 * spelled with many "./") opens: the setter and dctx_pidfile_acquire()
 * refuse it, and no file is made where the name would have led.
 */
START_TEST(a_pidfile_path_too_long_is_refused)
{
	struct dctx_pidfile *pf = NULL;
	struct dctx *ctx = dctx_new();
	const char *path = tu_long_path(), *msg;
	char want[128], name[201];
	ck_assert_int_eq(dctx_set_pidfile(ctx, path), -ENAMETOOLONG);
	msg = dctx_errmsg(ctx);
	snprintf(want, sizeof(want), "ppp: %zu bytes, more than PATH_MAX - 1 "
	    "(4095): File name too long", strlen(path));
	ck_assert_msg(strncmp(msg, "pidfile /tmp/", 13) == 0 &&
	    strstr(msg, "/./...") != NULL && strlen(msg) > strlen(want) &&
	    strcmp(msg + strlen(msg) - strlen(want), want) == 0, "%s", msg);
	ck_assert_int_eq(dctx_set_umask(ctx, 01777), -EINVAL);
	ck_assert_str_eq(dctx_errmsg(ctx),
	    "umask 01777: not a mode from 0 to 0777: Invalid argument");
	dctx_free(ctx);
	ck_assert_int_eq(dctx_pidfile_acquire(&pf, path), -ENAMETOOLONG);
	ck_assert_ptr_null(pf);
	/* The name it would have led to: 200 p's in the test's directory. */
	memset(name, 'p', 200);
	name[200] = '\0';
	ck_assert_int_ne(access(tu_path(name), F_OK), 0);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tu_tcase("config");

	tcase_add_test(tc, defaults_follow_pep_3143);
	tcase_add_test(tc, working_directory_is_prefixed_with_the_chroot);
	tcase_add_test(tc, bad_input_is_refused_with_a_message);
	tcase_add_test(tc, error_codes_have_words);
	tcase_add_test(tc, setters_after_open_are_refused);
	tcase_add_test(tc, a_long_input_keeps_the_reason);
	tcase_add_test(tc, a_pidfile_path_too_long_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(config_suite)
