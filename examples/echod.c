/*
 * echod: a small daemon built on libdctx.  Every PEP 3143 attribute is a
 * long option; see --help.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: echod [options]\n"
	    "  --pidfile PATH      create and lock PATH, holding the pid\n"
	    "  --user NAME         run as NAME (its uid, gid and groups)\n"
	    "  --group NAME        run with NAME as primary group\n"
	    "  --chroot DIR        change the root directory to DIR\n"
	    "  --workdir DIR       working directory (default /)\n"
	    "  --umask MODE        file mode creation mask, octal (default 0)\n"
	    "  --foreground        do not detach\n"
	    "  --detach            always detach (systemd Type=forking)\n"
	    "  --stdout PATH       append stdout to PATH (default /dev/null)\n"
	    "  --stderr PATH       append stderr to PATH (default /dev/null)\n"
	    "  --preserve-fd N     keep descriptor N open\n"
	    "  --allow-core        do not set RLIMIT_CORE to 0\n"
	    "  --help              this text\n");
}

/* Open a log file for stdout or stderr before the context takes over. */
static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0)
		fprintf(stderr, "echod: %s: %s\n", path, strerror(errno));
	return fd;
}

static int
configure(struct dctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pidfile", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "umask", required_argument, NULL, 'm' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "stdout", required_argument, NULL, 'o' },
		{ "stderr", required_argument, NULL, 'e' },
		{ "preserve-fd", required_argument, NULL, 'k' },
		{ "allow-core", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int c, rc = 0, fd;
	long n;

	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': rc = dctx_set_pidfile(ctx, optarg); break;
		case 'u': rc = dctx_set_user(ctx, optarg); break;
		case 'g': rc = dctx_set_group(ctx, optarg); break;
		case 'r': rc = dctx_set_chroot_directory(ctx, optarg); break;
		case 'w': rc = dctx_set_working_directory(ctx, optarg); break;
		case 'f': rc = dctx_set_detach_process(ctx, DCTX_DETACH_NO); break;
		case 'd': rc = dctx_set_detach_process(ctx, DCTX_DETACH_YES); break;
		case 'c': rc = dctx_set_prevent_core(ctx, 0); break;
		case 'm':
			n = strtol(optarg, &end, 8);
			if (*end != '\0' || end == optarg) {
				fprintf(stderr, "echod: --umask %s: not an octal mode\n", optarg);
				return 2;
			}
			rc = dctx_set_umask(ctx, (mode_t)n);
			break;
		case 'o':
		case 'e':
			if ((fd = open_log(optarg)) < 0)
				return 2;
			rc = c == 'o' ? dctx_set_stdout(ctx, fd) : dctx_set_stderr(ctx, fd);
			break;
		case 'k':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg || n < 0 || n > 1 << 30) {
				fprintf(stderr, "echod: --preserve-fd %s: not a descriptor\n", optarg);
				return 2;
			}
			rc = dctx_preserve_fd(ctx, (int)n);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "echod: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "echod: %s\n", dctx_errmsg(ctx));
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct dctx *ctx = dctx_new();
	int rc;

	if (ctx == NULL) {
		fprintf(stderr, "echod: out of memory\n");
		return 1;
	}
	if ((rc = configure(ctx, argc, argv)) != 0) {
		dctx_free(ctx);
		return rc;
	}
	if (dctx_ignore_signal(ctx, SIGPIPE) < 0 || dctx_open(ctx) < 0) {
		fprintf(stderr, "echod: %s\n", dctx_errmsg(ctx));
		dctx_free(ctx);
		return 1;
	}
	printf("echod: running as pid %ld\n", (long)getpid());
	fflush(stdout);
	event_base_dispatch(dctx_base(ctx));
	printf("echod: stopped\n");
	rc = dctx_exit_status(ctx);
	dctx_free(ctx);
	return rc;
}
