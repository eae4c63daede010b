/*
 * The daemon as pid 1 (a container's entry point, `unshare --pid --fork`):
 * it inherits every orphan of its pid namespace, and must reap them, or
 * their zombies fill the process table; and the kernel gives it no signal
 * at its default action, so an unmapped SIGINT would do nothing at all.
 *
 * The reaper runs in the loop, on SIGCHLD (an entry of the signal map, see
 * signals.c), and reaps every zombie child of the loop's thread but the
 * ones the program claimed (dctx_claim_child()): the children it waits
 * for itself.  Why claims and not an order of callbacks: a pass of
 * waitpid(-1, WNOHANG) after the program's own SIGCHLD callback would
 * still take a child of the program that exits between the two, whose
 * status the program then never gets.  A claim is made before the loop
 * turns again, so no pass ever sees the child unclaimed.  Children forked
 * and waited for within one callback (system(), popen() with its pclose())
 * need no claim: the reaper runs only between callbacks.  Worker threads'
 * children are never touched: the reaper waits with __WNOTHREAD, for the
 * main thread's children alone, which is where the kernel puts orphans.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "dctx-internal.h"

DCTX_EXPORT int
dctx_set_reaper(struct dctx *ctx, enum dctx_reaper mode)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "reaper");
	if (mode != DCTX_REAPER_AUTO && mode != DCTX_REAPER_NO &&
	    mode != DCTX_REAPER_YES)
		return dctx__fail(ctx, -EINVAL, "reaper mode %d", (int)mode);
	ctx->reaper = mode;
	return 0;
}

static int
is_claimed(const struct dctx *ctx, pid_t pid)
{
	size_t i;

	for (i = 0; i < ctx->nclaims; i++)
		if (ctx->claims[i] == pid)
			return 1;
	return 0;
}

DCTX_EXPORT int
dctx_claim_child(struct dctx *ctx, pid_t pid)
{
	siginfo_t si;
	pid_t *grown;
	size_t cap;

	if (pid <= 0)
		return dctx__fail(ctx, -EINVAL, "claim child %ld", (long)pid);
	/* A peek, which reaps nothing: only a child of ours may be claimed. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return dctx__fail(ctx, -errno, "claim child %ld", (long)pid);
	/* Nobody reaps behind the program's back: nothing to remember. */
	if (ctx->closed || (ctx->is_open && !ctx->reaping) ||
	    is_claimed(ctx, pid))
		return 0;
	if (ctx->nclaims == ctx->claims_cap) {
		cap = ctx->claims_cap ? 2 * ctx->claims_cap : 8;
		if ((grown = realloc(ctx->claims, cap * sizeof(*grown))) == NULL)
			return dctx__fail(ctx, -ENOMEM, "claim child %ld",
			    (long)pid);
		ctx->claims = grown;
		ctx->claims_cap = cap;
	}
	ctx->claims[ctx->nclaims++] = pid;
	return 0;
}

/*
 * Forget the claims on children the program has reaped: the pid is no
 * child of ours any more, and may come back as an orphan's.  A pid that
 * came back, as a child of ours, before this pass would keep its claim
 * and its zombie: that takes the namespace's pids to wrap around between
 * the program's waitpid() and the next SIGCHLD.  A pidfd per claim
 * (Linux 5.3) would close even that; a claim made before dctx_open()
 * would then need its descriptor kept through the close step.
 */
static void
prune_claims(struct dctx *ctx)
{
	siginfo_t si;
	size_t i = 0;

	while (i < ctx->nclaims) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)ctx->claims[i], &si,
		    WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			ctx->claims[i] = ctx->claims[--ctx->nclaims];
		else
			i++;
	}
}

/* Reap pid if it is a zombie; a live child is left as it is. */
static void
reap_pid(pid_t pid, int own)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | own) < 0 &&
	    errno == EINTR)
		;
}

/*
 * Whether /proc is the one of our pid namespace: the children file names
 * pids as its mount's namespace numbers them, and `unshare --pid --fork`
 * without --mount-proc leaves the parent's /proc in place.  A pid of
 * another numbering handed to waitid() could name another child.
 */
static int
proc_is_ours(void)
{
	char buf[32], want[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	snprintf(want, sizeof(want), "%ld", (long)getpid());
	return strcmp(buf, want) == 0;
}

/*
 * The zombie waitid() peeks at first is a claimed one, and hides the rest
 * of the main thread's children: look past it, in the kernel's list of
 * them (Linux 3.5, CONFIG_PROC_CHILDREN).  Without it (no /proc, a chroot)
 * the ones behind wait for the next SIGCHLD after the program reaped its
 * own.
 */
static void
reap_past_claims(struct dctx *ctx, int own)
{
	char path[64], buf[4096];
	long pid = 0;
	int fd, digits = 0;
	ssize_t n, i;

	if (!proc_is_ours())
		return;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	/* Space-separated pids; one may straddle two reads. */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
				digits++;
				continue;
			}
			if (digits > 0 && digits < 10 &&
			    !is_claimed(ctx, (pid_t)pid))
				reap_pid((pid_t)pid, own);
			pid = 0;
			digits = 0;
		}
	}
	if (digits > 0 && digits < 10 && !is_claimed(ctx, (pid_t)pid))
		reap_pid((pid_t)pid, own);
	close(fd);
}

void
dctx__reap(struct dctx *ctx)
{
	/*
	 * Orphans come to the thread group's leader.  Where the loop runs
	 * there (the main thread), __WNOTHREAD keeps the reaper off the
	 * children of worker threads.
	 */
	int own = gettid() == getpid() ? __WNOTHREAD : 0;
	siginfo_t si;

	if (!ctx->reaping || !ctx->is_open ||
	    ctx->sigmap[SIGCHLD].kind == DCTX__SIG_IGNORE)
		return;
	prune_claims(ctx);
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | own) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (si.si_pid == 0)
			return;
		if (is_claimed(ctx, si.si_pid))
			break;
		reap_pid(si.si_pid, own);
	}
	reap_past_claims(ctx, own);
}

/*
 * Zombies made before the map was live (their SIGCHLD came while it was
 * at its default, and was lost): one pass at the loop's first turn.
 */
static void
first_pass(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dctx__reap(arg);
}

/*
 * dctx_open(), in the daemon, before the signal map is installed: decide
 * whether to reap, and give pid 1 its SIGINT.
 */
int
dctx__reaper_open(struct dctx *ctx)
{
	int pid1 = getpid() == 1;

	/*
	 * The kernel drops every signal at its default action that reaches
	 * a namespace's init, from inside or outside it: Ctrl-C on `docker
	 * run -it` would do nothing.  Mapped, it runs the shutdown chain as
	 * SIGTERM does.
	 */
	if (pid1 && ctx->sigmap[SIGINT].kind == DCTX__SIG_UNSET)
		ctx->sigmap[SIGINT].kind = DCTX__SIG_TERMINATE;
	ctx->reaping = ctx->reaper == DCTX_REAPER_YES ||
	    (ctx->reaper == DCTX_REAPER_AUTO && pid1);
	if (!ctx->reaping) {
		dctx__reaper_free(ctx);
		return 0;
	}
	/* Elsewhere than pid 1, the orphans of our descendants come to us. */
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return dctx__fail(ctx, -errno, "prctl(PR_SET_CHILD_SUBREAPER)");
	if (event_base_once(ctx->base, -1, EV_TIMEOUT, first_pass, ctx,
	    NULL) < 0)
		return dctx__fail(ctx, -ENOMEM, "reaper: event_base_once");
	return 0;
}

void
dctx__reaper_free(struct dctx *ctx)
{
	free(ctx->claims);
	ctx->claims = NULL;
	ctx->nclaims = ctx->claims_cap = 0;
}
