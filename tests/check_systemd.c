/*
 * echod under the real systemd (tests/sdbox): the unit types an operator
 * writes, driven with systemctl, judged by what systemctl shows.  Skipped,
 * with the reason, where the box cannot start (not root, no namespaces,
 * no systemd).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(systemd_suite)
