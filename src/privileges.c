/*
 * Dropping privileges as CERT POS36-C and POS37-C require, in the order
 * OpenSSH's permanently_set_uid() uses: supplementary groups, then the gid,
 * then the uid, then proof that the old ids cannot be taken back.  Names are
 * resolved before any chroot, while /etc/passwd and NSS are reachable.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int
dctx__resolve_ids(struct dctx *ctx)
{
	struct passwd pw;
	char *buf = NULL;
	int rc = 0, n;

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

int
dctx__drop_privileges(struct dctx *ctx)
{
	uid_t old_euid = geteuid(), ru, eu, su;
	gid_t old_egid = getegid(), rg, eg, sg;
	uid_t uid = ctx->run_uid;
	gid_t gid = ctx->run_gid;

	if (!ctx->change_ids)
		return 0;
	/* Only root may set groups; anyone else keeps what they have. */
	if (old_euid == 0 && setgroups((size_t)ctx->ngroups, ctx->groups) < 0)
		return dctx__fail(ctx, -errno, "setgroups(%d groups of gid %ld)",
		    ctx->ngroups, (long)gid);
	if (setresgid(gid, gid, gid) < 0)
		return dctx__fail(ctx, -errno, "setresgid(%ld)", (long)gid);
	if (uid != (uid_t)-1 && setresuid(uid, uid, uid) < 0)
		return dctx__fail(ctx, -errno, "setresuid(%ld)", (long)uid);

	/* Verify (POS37-C): the ids are all set, and the old ones are gone. */
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
		return dctx__fail(ctx, DCTX_EPRIVS, "gid %ld", (long)gid);
	if (uid != (uid_t)-1) {
		if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid ||
		    su != uid)
			return dctx__fail(ctx, DCTX_EPRIVS, "uid %ld", (long)uid);
		if (uid != 0 && old_euid == 0 && setuid(0) == 0)
			return dctx__fail(ctx, DCTX_EPRIVS, "setuid(0) after dropping to uid %ld",
			    (long)uid);
		if (uid != 0 && old_egid != gid && setegid(old_egid) == 0)
			return dctx__fail(ctx, DCTX_EPRIVS,
			    "setegid(%ld) after dropping to gid %ld",
			    (long)old_egid, (long)gid);
	}
	return 0;
}
