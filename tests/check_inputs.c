/*
 * Bad input, one row each: what the operator types to echod or the test
 * helper, the exit status and the message that must come back, and proof
 * that nothing was left behind (no pidfile, no process, no file in the
 * test's directory).  The rows run as one Check loop test.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

enum prog { HELPER, ECHOD, HTTPD };

/*
 * Placeholders in args: "@PID" the test's pidfile (given before the row's
 * own arguments, so a row's --pidfile replaces it), "@LONG" a pidfile path
 * of more than PATH_MAX - 1 bytes whose directory can be opened, "@LISTEN"
 * a free port on 127.0.0.1, "@ALIAS" a name of uid 0 other than root (where
 * the machine has none, "toor" is added to a copy of /etc/passwd that is
 * bind-mounted over the real one in a mount namespace of the program's
 * own: see alias_wrap()).
 */
struct row {
	enum prog prog;
	int root_only;
	const char *args[8];
	int status;
	const char *message;
};

static const struct row rows[] = {
	/* echod's values: refused by its parser, quoting the text. */
	{ ECHOD, 0, { "--umask", "40000000000" }, 2,
	    "echod: --umask 40000000000: not an octal mode from 0 to 0777\n" },
	{ ECHOD, 0, { "--umask", "-1" }, 2,
	    "echod: --umask -1: not an octal mode from 0 to 0777\n" },
	{ ECHOD, 0, { "--umask", "8" }, 2, "echod: --umask 8: not an octal" },
	{ ECHOD, 0, { "--umask", "0778" }, 2, "echod: --umask 0778: not an octal" },
	{ ECHOD, 0, { "--umask", "abc" }, 2, "echod: --umask abc: not an octal" },
	{ ECHOD, 0, { "--umask", "" }, 2, "echod: --umask : not an octal" },
	{ ECHOD, 0, { "--umask", " 22" }, 2, "echod: --umask  22: not an octal" },
	{ ECHOD, 0, { "--foreground", "--detach" }, 2,
	    "echod: --foreground and --detach contradict each other" },
	{ ECHOD, 0, { "--pidfile", "@LONG" }, 2,
	    "bytes, more than PATH_MAX - 1 (4095): File name too long\n" },
	{ ECHOD, 0, { "--listen", "127.0.0.1" }, 2,
	    "echod: --listen 127.0.0.1: not an ADDRESS:PORT\n" },
	{ ECHOD, 0, { "--listen", "127.0.0.1:0" }, 2,
	    "the port is not a number from 1 to 65535" },
	{ ECHOD, 0, { "--listen", "127.0.0.1:65536" }, 2,
	    "the port is not a number from 1 to 65535" },
	{ ECHOD, 0, { "--listen", "localhost:7777" }, 2,
	    "echod: --listen localhost:7777: not an IPv4 or [IPv6] address" },
	{ ECHOD, 0, { "--listen", "[::1]" }, 2,
	    "echod: --listen [::1]: not an ADDRESS:PORT" },
	{ ECHOD, 0, { "--preserve-fd", "-1" }, 2,
	    "echod: --preserve-fd -1: not a descriptor number" },
	{ ECHOD, 0, { "--preserve-fd", "4294967299" }, 2,
	    "echod: --preserve-fd 4294967299: not a descriptor number" },
	{ ECHOD, 0, { "--preserve-fd", "2" }, 2,
	    "echod: files_preserve fd 2: 0, 1 and 2 are stdio (see "
	    "dctx_set_stdin()): Bad file descriptor" },
	{ ECHOD, 0, { "--shutdown-timeout", "-5" }, 2,
	    "echod: --shutdown-timeout -5: not a number of ms" },
	{ ECHOD, 0, { "--shutdown-timeout", "1e3" }, 2,
	    "echod: --shutdown-timeout 1e3: not a number of ms" },
	{ ECHOD, 0, { "--chroot", "jail" }, 2,
	    "echod: chroot_directory 'jail': not an absolute path" },
	{ ECHOD, 0, { "--workdir", "srv" }, 2,
	    "echod: working_directory 'srv': not an absolute path" },
	/* Refused by the library at dctx_open(), after echod bound. */
	{ ECHOD, 0, { "--listen", "@LISTEN", "--user", "no-such-user-dctx" }, 1,
	    "echod: user 'no-such-user-dctx': no such user or group" },
	{ ECHOD, 1, { "--listen", "@LISTEN", "--user", "root" }, 1,
	    "echod: user 'root' is uid 0: dropping to it drops nothing" },
	{ ECHOD, 1, { "--listen", "@LISTEN", "--user", "@ALIAS" }, 1,
	    "is uid 0: dropping to it drops nothing" },
	/* A log file is opened before the fork, and its path named. */
	{ ECHOD, 0, { "--listen", "@LISTEN", "--stdout", "/nonexistent-dctx/out" },
	    1, "echod: stdout /nonexistent-dctx/out: No such file or directory\n" },

	/* httpd's values: echod's parsers, the same refusals. */
	{ HTTPD, 0, { "--root", "/", "--listen", "127.0.0.1" }, 2,
	    "httpd: --listen 127.0.0.1: not an ADDRESS:PORT\n" },
	{ HTTPD, 0, { "--root", "/", "--listen", "127.0.0.1:0" }, 2,
	    "httpd: --listen 127.0.0.1:0: the port is not a number from 1 to 65535" },
	{ HTTPD, 0, { "--root", "/", "--listen", "localhost:7777" }, 2,
	    "httpd: --listen localhost:7777: not an IPv4 or [IPv6] address" },
	{ HTTPD, 0, { "--root", "/", "--shutdown-timeout", " +5" }, 2,
	    "httpd: --shutdown-timeout  +5: not a number of ms" },
	{ HTTPD, 0, { "--root", "/", "--shutdown-timeout", "-5" }, 2,
	    "httpd: --shutdown-timeout -5: not a number of ms" },
	{ HTTPD, 0, { "--root", "/", "--shutdown-timeout", "99999999999" }, 2,
	    "httpd: --shutdown-timeout 99999999999: not a number of ms" },
	{ HTTPD, 0, { "--root", "/", "--foreground", "--detach" }, 2,
	    "httpd: --foreground and --detach contradict each other" },

	/* The helper: its parser keeps values whole, the library judges. */
	{ HELPER, 0, { "--umask", "40000000000" }, 2,
	    "dctx-helper: --umask 40000000000: not an octal number" },
	{ HELPER, 0, { "--umask", "-1" }, 2, "dctx-helper: --umask -1: not an octal" },
	{ HELPER, 0, { "--umask", "8" }, 2, "dctx-helper: --umask 8: not an octal" },
	{ HELPER, 0, { "--umask", "0778" }, 2, "dctx-helper: --umask 0778: not an" },
	{ HELPER, 0, { "--umask", "abc" }, 2, "dctx-helper: --umask abc: not an" },
	{ HELPER, 0, { "--umask", "" }, 2, "dctx-helper: --umask : not an octal" },
	{ HELPER, 0, { "--umask", "1777" }, 2,
	    "dctx-helper: umask 01777: not a mode from 0 to 0777: Invalid argument" },
	{ HELPER, 0, { "--umask", "37777777777" }, 2,
	    "dctx-helper: umask 037777777777: not a mode from 0 to 0777" },
	{ HELPER, 0, { "--foreground", "--detach" }, 2,
	    "dctx-helper: --foreground and --detach contradict each other" },
	{ HELPER, 0, { "--detach", "--foreground" }, 2,
	    "dctx-helper: --foreground and --detach contradict each other" },
	{ HELPER, 0, { "--pidfile", "@LONG" }, 2,
	    "bytes, more than PATH_MAX - 1 (4095): File name too long\n" },
	/* A device given by mistake: refused, and never opened. */
	{ HELPER, 0, { "--pidfile", "/dev/null" }, 1,
	    "dctx-helper: pidfile /dev/null: not a regular file\n" },
	{ HELPER, 0, { "--preserve-fd", "2" }, 2,
	    "dctx-helper: files_preserve fd 2: 0, 1 and 2 are stdio (see "
	    "dctx_set_stdin()): Bad file descriptor" },
	{ HELPER, 0, { "--preserve-fd", "9999" }, 2,
	    "dctx-helper: files_preserve fd 9999: Bad file descriptor" },
	{ HELPER, 0, { "--preserve-fd", "3x" }, 2,
	    "dctx-helper: --preserve-fd 3x: not a number" },
	{ HELPER, 0, { "--shutdown-timeout", "-5" }, 2,
	    "dctx-helper: shutdown timeout -5 ms: Invalid argument" },
	{ HELPER, 0, { "--shutdown-timeout", "99999999999" }, 2,
	    "dctx-helper: --shutdown-timeout 99999999999: not a number" },
	{ HELPER, 0, { "--start-timeout", "-1" }, 2,
	    "dctx-helper: start timeout -1 ms: Invalid argument" },
	{ HELPER, 0, { "--uid", "-1" }, 2, "dctx-helper: --uid -1: not a number" },
	{ HELPER, 0, { "--uid", "4294967296" }, 2,
	    "dctx-helper: --uid 4294967296: not a number" },
	{ HELPER, 0, { "--user", "no-such-user-dctx" }, 1,
	    "dctx-helper: user 'no-such-user-dctx': no such user or group" },
	{ HELPER, 0, { "--chroot", "jail" }, 2,
	    "dctx-helper: chroot_directory 'jail': not an absolute path" },
	/* Relative, a reload after the chdir would open another file. */
	{ HELPER, 0, { "--stdout-path", "out.log" }, 2,
	    "dctx-helper: stdout path 'out.log': not an absolute path" },
	{ HELPER, 0, { "--stderr-path", "/nonexistent-dctx/err" }, 1,
	    "dctx-helper: stderr /nonexistent-dctx/err: No such file or directory\n" },
	{ HELPER, 1, { "--user", "root" }, 1,
	    "dctx-helper: user 'root' is uid 0: dropping to it drops nothing" },
	{ HELPER, 1, { "--user", "@ALIAS" }, 1,
	    "is uid 0: dropping to it drops nothing" },
	{ HELPER, 1, { "--uid", "0" }, 1,
	    "dctx-helper: uid 0: dropping to it drops nothing" },
	{ HELPER, 1, { "--uid", "0", "--gid", "65534" }, 1,
	    "dctx-helper: uid 0: dropping to it drops nothing" },
	/* A user other than root: not a drop but a rise, refused too. */
	{ HELPER, 1, { "--become", "65534:65534:65534", "--uid", "0" }, 1,
	    "dctx-helper: uid 0: a daemon is never raised to root" },
	{ HELPER, 1, { "--become", "65534:65534:65534:caps", "--user", "root" }, 1,
	    "dctx-helper: user 'root' is uid 0: a daemon is never raised to root" },
};

#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))

/* A name of uid 0 other than root, or NULL. */
static const char *
uid0_alias(void)
{
	static char name[64];
	struct passwd *pw;
	const char *found = NULL;

	setpwent();
	while (found == NULL && (pw = getpwent()) != NULL)
		if (pw->pw_uid == 0 && strcmp(pw->pw_name, "root") != 0) {
			snprintf(name, sizeof(name), "%s", pw->pw_name);
			found = name;
		}
	endpwent();
	return found;
}

/*
 * Where the machine has no alias of root, one is made for the row alone:
 * /etc/passwd plus "toor", uid 0, in a directory of its own, which
 * util-linux unshare and mount put over /etc/passwd in a private mount
 * namespace, for the program only (as root).  Nothing on the machine
 * changes.  The directory's path goes to *dir, for removal.
 */
static const char *
alias_passwd(char *dir, size_t len)
{
	static char path[128];
	FILE *in, *out;
	int c;

	snprintf(dir, len, "/tmp/dctx-alias.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(path, sizeof(path), "%s/passwd", dir);
	ck_assert_ptr_nonnull(in = fopen("/etc/passwd", "re"));
	ck_assert_ptr_nonnull(out = fopen(path, "we"));
	while ((c = getc(in)) != EOF)
		putc(c, out);
	fputs("toor:x:0:0:root alias:/root:/bin/sh\n", out);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	return path;
}

/* A port below 32768, away from the ones the other tests pick, free now. */
static const char *
free_listen(int attempt)
{
	static char spec[32];
	struct sockaddr_in sin;
	int i, fd, ok;

	for (i = attempt * 50; i < attempt * 50 + 50; i++) {
		in_port_t port = (in_port_t)(30000 + (getpid() + i * 61) % 2700);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			continue;
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok) {
			snprintf(spec, sizeof(spec), "127.0.0.1:%u", (unsigned)port);
			return spec;
		}
	}
	return "127.0.0.1:30000";
}

/* The names in the test's directory, "" when it is empty. */
static const char *
left_in_dir(void)
{
	static char names[1024];
	struct dirent *de;
	DIR *d = opendir(tu_dir());

	names[0] = '\0';
	if (d == NULL)
		return "(cannot list)";
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		strncat(names, de->d_name, sizeof(names) - strlen(names) - 2);
		strcat(names, " ");
	}
	closedir(d);
	return names;
}

START_TEST(bad_input_is_refused_and_leaves_nothing)
{
	const struct row *r = &rows[_i];
	const char *argv[24] = { NULL }, *alias = NULL, *pf = tu_path("d.pid");
	const char *passwd = NULL, *prog;
	char alias_dir[64] = "";
	struct launch l;
	int i, n, attempt;

	/* Rows that need root are not registered without it (see below). */
	for (i = 0; i < 8 && r->args[i] != NULL; i++)
		if (strcmp(r->args[i], "@ALIAS") == 0 &&
		    (alias = uid0_alias()) == NULL) {
			passwd = alias_passwd(alias_dir, sizeof(alias_dir));
			alias = "toor";
		}
	prog = r->prog == ECHOD ? ECHOD_PATH : r->prog == HTTPD ? HTTPD_PATH :
	    HELPER_PATH;
	tu_program = passwd != NULL ? "/usr/bin/unshare" : prog;
	for (attempt = 0; attempt < 5; attempt++) {
		n = 0;
		if (passwd != NULL) {
			argv[n++] = "--mount";
			argv[n++] = "--propagation";
			argv[n++] = "private";
			argv[n++] = "/bin/sh";
			argv[n++] = "-c";
			argv[n++] = "mount --bind \"$0\" /etc/passwd && exec \"$@\"";
			argv[n++] = passwd;
			argv[n++] = prog;
		}
		argv[n++] = "--pidfile";
		argv[n++] = pf;
		for (i = 0; i < 8 && r->args[i] != NULL; i++) {
			const char *a = r->args[i];
			if (strcmp(a, "@LONG") == 0)
				a = tu_long_path();
			else if (strcmp(a, "@LISTEN") == 0)
				a = free_listen(attempt);
			else if (strcmp(a, "@ALIAS") == 0)
				a = alias;
			argv[n++] = a;
		}
		tu_launch(&l, argv[0], argv[1], argv[2], argv[3], argv[4],
		    argv[5], argv[6], argv[7], argv[8], argv[9], argv[10],
		    argv[11], argv[12], argv[13], argv[14], argv[15], argv[16],
		    argv[17], argv[18], argv[19], NULL);
		/* Another test took the port between the probe and the bind. */
		if (strstr(l.err, "Address already in use") == NULL)
			break;
	}
	tu_program = HELPER_PATH;
	if (alias_dir[0] != '\0') {
		unlink(passwd);
		rmdir(alias_dir);
	}
	ck_assert_msg(l.status == r->status && strstr(l.err, r->message) != NULL,
	    "row %d (%s %s %s): status %d, stderr: %s", _i,
	    r->prog == ECHOD ? "echod" : r->prog == HTTPD ? "httpd" : "helper",
	    r->args[0],
	    r->args[1] ? r->args[1] : "", l.status, l.err);
	/* One message, not a usage text or a second complaint. */
	ck_assert_msg(strchr(l.err, '\n') == l.err + strlen(l.err) - 1,
	    "row %d: stderr: %s", _i, l.err);
	/* Nothing left behind: no pidfile, no process, no file at all. */
	ck_assert_int_ne(access(pf, F_OK), 0);
	ck_assert_msg(tu_no_children(2000), "row %d: a process is left", _i);
	ck_assert_msg(left_in_dir()[0] == '\0', "row %d: left in %s: %s", _i,
	    tu_dir(), left_in_dir());
}
END_TEST

static Suite *
inputs_suite(void)
{
	Suite *s = suite_create("inputs");
	TCase *tc = tu_tcase("inputs");
	int i;

	/* A row that needs root is not run without it, and not counted. */
	for (i = 0; i < NROWS; i++)
		if (rows[i].root_only && geteuid() != 0)
			fprintf(stderr, "row %d: SKIP: needs root\n", i);
		else
			tcase_add_loop_test(tc,
			    bad_input_is_refused_and_leaves_nothing, i, i + 1);
	suite_add_tcase(s, tc);
	return s;
}

TU_MAIN(inputs_suite)
