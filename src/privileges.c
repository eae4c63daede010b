/*
 * Dropping privileges as CERT POS36-C and POS37-C require, in the order
 * OpenSSH's permanently_set_uid() uses: supplementary groups, then the gid,
 * then the uid, then proof that the old ids cannot be taken back.  Names are
 * resolved before any chroot, while /etc/passwd and NSS are reachable.
 *
 * Privilege is not only euid 0: a process of another uid may hold
 * CAP_SETUID and CAP_SETGID (systemd's AmbientCapabilities=, file
 * capabilities), and capabilities(7) clears nothing on a change between two
 * non-zero uids.  So the groups are set on every id change, whoever we are,
 * and a daemon whose final uid is not 0 sheds every capability and is
 * checked for it.  capget(2) and capset(2) are called directly: glibc has
 * no wrapper, and libcap would be a dependency for two system calls.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "dctx-internal.h"

/*
 * getpwnam_r and getgrnam_r want a buffer; grow it until it fits.  A NULL
 * name looks up uid instead.
 */
static int
lookup_user(const char *name, uid_t uid, struct passwd *pw, char **buf)
{
	struct passwd *res = NULL;
	size_t size = 1024;
	int rc;

	for (;;) {
		char *grown = realloc(*buf, size);
		if (grown == NULL)
			return -ENOMEM;
		*buf = grown;
		rc = name != NULL ?
		    getpwnam_r(name, pw, *buf, size, &res) :
		    getpwuid_r(uid, pw, *buf, size, &res);
		if (rc != ERANGE)
			break;
		size *= 2;
	}
	if (rc != 0)
		return -rc;
	return res != NULL ? 0 : DCTX_ENOUSER;
}

static int
lookup_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t size = 1024;
	char *buf = NULL;
	int rc;

	for (;;) {
		char *grown = realloc(buf, size);
		if (grown == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = grown;
		rc = getgrnam_r(name, &gr, buf, size, &res);
		if (rc != ERANGE)
			break;
		size *= 2;
	}
	if (rc == 0 && res != NULL)
		*gid = gr.gr_gid;
	free(buf);
	if (rc != 0)
		return -rc;
	return res != NULL ? 0 : DCTX_ENOUSER;
}

/*
 * A uid or user that resolves to uid 0 is refused, whoever we are.  From
 * root it is a drop that drops nothing: an alias of root ("toor") or a
 * --uid 0 taken from a template keeps every power while the configuration
 * reads as if it had been shed, and nothing would ever say so.  From
 * another uid it is not a drop at all but a rise, which fails without
 * CAP_SETUID and with it makes the daemon root: no daemon setting should
 * do that.  A program that means to stay root sets no uid.
 */
static int
refuse_uid0(struct dctx *ctx)
{
	const char *why = geteuid() == 0 ? "dropping to it drops nothing" :
	    "a daemon is never raised to root";

	if (ctx->uid == (uid_t)-1 && ctx->user != NULL)
		return dctx__fail(ctx, -EINVAL, "user '%s' is uid 0: %s",
		    ctx->user, why);
	return dctx__fail(ctx, -EINVAL, "uid 0: %s", why);
}

int
dctx__resolve_ids(struct dctx *ctx)
{
	struct passwd pw;
	char *buf = NULL;
	int rc = 0, n;

	/*
	 * Resolve afresh on every dctx_open(): a retry after a failed open
	 * may ask for other ids, and must not get the groups of the first.
	 */
	free(ctx->groups);
	ctx->groups = NULL;
	ctx->ngroups = 0;
	ctx->run_uid = ctx->uid;
	ctx->run_gid = ctx->gid;
	if (ctx->group != NULL &&
	    (rc = lookup_group(ctx->group, &ctx->run_gid)) < 0)
		return dctx__fail(ctx, rc, "group '%s'", ctx->group);
	if (ctx->user != NULL) {
		if ((rc = lookup_user(ctx->user, 0, &pw, &buf)) < 0) {
			free(buf);
			return dctx__fail(ctx, rc, "user '%s'", ctx->user);
		}
		if (ctx->uid == (uid_t)-1)
			ctx->run_uid = pw.pw_uid;
		if (ctx->run_gid == (gid_t)-1)
			ctx->run_gid = pw.pw_gid;
		/* The user's own groups, as login(1) would give them. */
		n = 16;
		for (;;) {
			gid_t *grown = realloc(ctx->groups, (size_t)n * sizeof(gid_t));
			int want = n;
			if (grown == NULL) {
				free(buf);
				return dctx__fail(ctx, -ENOMEM, "groups of '%s'",
				    ctx->user);
			}
			ctx->groups = grown;
			if (getgrouplist(pw.pw_name, ctx->run_gid, ctx->groups,
			    &want) >= 0) {
				ctx->ngroups = want;
				break;
			}
			n = want > n ? want : n * 2;
		}
		free(buf);
	}
	/*
	 * A bare uid must not keep the group it started with, root's most of
	 * the time (CERT POS36-C): take the user's primary group, and refuse
	 * a uid nobody knows unless a gid was given too.
	 */
	if (ctx->user == NULL && ctx->run_uid != (uid_t)-1 &&
	    ctx->run_gid == (gid_t)-1) {
		rc = lookup_user(NULL, ctx->run_uid, &pw, &buf);
		if (rc == 0)
			ctx->run_gid = pw.pw_gid;
		free(buf);
		if (rc < 0)
			return dctx__fail(ctx, rc, "uid %ld without a gid",
			    (long)ctx->run_uid);
	}
	if (ctx->run_uid == 0)
		return refuse_uid0(ctx);
	ctx->change_ids = ctx->run_uid != (uid_t)-1 || ctx->run_gid != (gid_t)-1;
	if (!ctx->change_ids)
		return 0;
	if (ctx->run_gid == (gid_t)-1)
		ctx->run_gid = getegid();
	if (ctx->groups == NULL) {
		/* A bare uid or gid: no supplementary groups but the gid. */
		if ((ctx->groups = malloc(sizeof(gid_t))) == NULL)
			return dctx__fail(ctx, -ENOMEM, "groups");
		ctx->groups[0] = ctx->run_gid;
		ctx->ngroups = 1;
	}
	return 0;
}

/* Whether the supplementary groups are exactly the set want[0..n). */
static int
groups_are(const gid_t *want, int n)
{
	gid_t *cur;
	int ncur, i, j, found, same = 1;

	if ((ncur = getgroups(0, NULL)) < 0)
		return 0;
	if ((cur = malloc(((size_t)ncur + 1) * sizeof(gid_t))) == NULL)
		return 0;
	if ((ncur = getgroups(ncur, cur)) < 0) {
		free(cur);
		return 0;
	}
	/* Compared as sets: the database may list a group twice. */
	for (i = 0; same && i < ncur; i++) {
		for (j = 0, found = 0; !found && j < n; j++)
			found = cur[i] == want[j];
		same = found;
	}
	for (j = 0; same && j < n; j++) {
		for (i = 0, found = 0; !found && i < ncur; i++)
			found = cur[i] == want[j];
		same = found;
	}
	free(cur);
	return same;
}

/*
 * Empty the ambient, permitted, effective and inheritable sets.  Kernels
 * before 4.3 have no ambient set and say EINVAL: nothing to clear there.
 */
static int
drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

/* Whether any capability is left in any set but the bounding one. */
static int
capabilities_left(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int i, cap, rc;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return 1;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0)
			return 1;
	/* Ask for each ambient capability until the kernel knows no more. */
	for (cap = 0; cap < 64; cap++) {
		rc = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
		if (rc < 0)
			break;
		if (rc != 0)
			return 1;
	}
	return 0;
}

int
dctx__drop_privileges(struct dctx *ctx)
{
	uid_t old_euid = geteuid(), ru, eu, su;
	gid_t old_egid = getegid(), rg, eg, sg;
	uid_t uid = ctx->run_uid;
	gid_t gid = ctx->run_gid;
	int rc;

	if (!ctx->change_ids)
		return 0;
	/*
	 * The groups go with every id change, not only root's: a process
	 * holding CAP_SETGID can set them too, and one that cannot keeps
	 * groups it was not asked for.  Without the right to set them, EPERM
	 * is accepted only when they are already the ones wanted.
	 */
	if (setgroups((size_t)ctx->ngroups, ctx->groups) < 0) {
		rc = -errno;
		if (rc != -EPERM || !groups_are(ctx->groups, ctx->ngroups))
			return dctx__fail(ctx, rc,
			    "setgroups(%d groups of gid %ld)", ctx->ngroups,
			    (long)gid);
	}
	if (setresgid(gid, gid, gid) < 0)
		return dctx__fail(ctx, -errno, "setresgid(%ld)", (long)gid);
	if (uid != (uid_t)-1 && setresuid(uid, uid, uid) < 0)
		return dctx__fail(ctx, -errno, "setresuid(%ld)", (long)uid);
	/*
	 * A daemon that does not end as root keeps no capability: the kernel
	 * clears them when the last id leaves 0, but not between two other
	 * uids (capabilities(7)).
	 */
	if (uid == (uid_t)-1)
		uid = geteuid();
	if (uid != 0 && (rc = drop_capabilities()) < 0)
		return dctx__fail(ctx, rc, "capset(no capabilities)");

	/* Verify (POS37-C): the ids are all set, and the old ones are gone. */
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
		return dctx__fail(ctx, DCTX_EPRIVS, "gid %ld", (long)gid);
	if (!groups_are(ctx->groups, ctx->ngroups))
		return dctx__fail(ctx, DCTX_EPRIVS, "supplementary groups of gid %ld",
		    (long)gid);
	if (ctx->run_uid != (uid_t)-1 && (getresuid(&ru, &eu, &su) < 0 ||
	    ru != uid || eu != uid || su != uid))
		return dctx__fail(ctx, DCTX_EPRIVS, "uid %ld", (long)uid);
	if (uid == 0)
		return 0;
	if (setuid(0) == 0 || setresuid(0, 0, 0) == 0)
		return dctx__fail(ctx, DCTX_EPRIVS,
		    "setuid(0) after dropping to uid %ld", (long)uid);
	if (old_euid != uid && seteuid(old_euid) == 0)
		return dctx__fail(ctx, DCTX_EPRIVS,
		    "seteuid(%ld) after dropping to uid %ld", (long)old_euid,
		    (long)uid);
	if (old_egid != gid && setegid(old_egid) == 0)
		return dctx__fail(ctx, DCTX_EPRIVS,
		    "setegid(%ld) after dropping to gid %ld",
		    (long)old_egid, (long)gid);
	if (capabilities_left())
		return dctx__fail(ctx, DCTX_EPRIVS,
		    "capabilities left after dropping to uid %ld", (long)uid);
	return 0;
}
