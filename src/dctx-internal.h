/*
 * The layout of a context, and the functions the src/ files share.  Never
 * installed: the public header only declares struct dctx.
 */
#ifndef DCTX_INTERNAL_H
#define DCTX_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <syslog.h>
#include <sys/types.h>

#include "dctx.h"

struct event;

/* What the signal map says of one signal. */
enum dctx__sigkind {
	DCTX__SIG_UNSET = 0, /* not in the map: default disposition */
	DCTX__SIG_IGNORE,
	DCTX__SIG_TERMINATE,
	DCTX__SIG_CALLBACK,
	DCTX__SIG_RELOAD    /* runs the reload chain (reload.c) */
};

struct dctx__sig {
	enum dctx__sigkind kind;
	dctx_signal_cb cb;
	void *arg;
	struct event *ev; /* the libevent signal event, once open */
};

/* Which open file a descriptor was (activation.c). */
struct dctx__file_id {
	dev_t dev;
	ino_t ino;
};

struct dctx {
	/* The PEP 3143 attributes. */
	char *chroot_dir;
	char *workdir;      /* as given */
	char *workdir_full; /* prefixed with chroot_dir where PEP 3143 says so */
	mode_t umask;
	uid_t uid;
	gid_t gid;
	char *user;
	char *group;
	int prevent_core;
	enum dctx_detach detach;
	int *preserve;
	size_t npreserve;
	char *pidfile_path;
	int stdio[3]; /* -1: /dev/null */
	struct dctx__sig sigmap[NSIG];

	/* Our own attributes. */
	char *event_method;
	int manual_ready;
	int s6_fd;          /* s6 notification fd, or -1 */
	int notify_fd;      /* connected to $NOTIFY_SOCKET, or -1 */
	int notify_warned;  /* said once that $NOTIFY_SOCKET is unreachable */
	int threads;
	int shutdown_ms;
	int start_ms;       /* the launcher's start timeout, 0: none */

	/* systemd's watchdog (watchdog.c). */
	uint64_t watchdog_usec; /* asked of us by $WATCHDOG_USEC, or 0 */
	struct event *watchdog_ev; /* the ping timer, while it runs */

	/* The shutdown chain (shutdown.c). */
	struct dctx_shutdown **steps;
	size_t nsteps;
	size_t cursor;      /* steps[cursor - 1] is the one running */
	int chain;          /* DCTX__CHAIN_* */
	int advancing;      /* inside advance(): no recursion */
	long long chain_started_ms;
	struct event *deadline_ev;
	struct event *sigint_ev;

	/* Socket activation (activation.c), read once per context. */
	int listen_read;      /* the variables were read (and removed) */
	int listen_rc;        /* 0, or why they were refused */
	int nlisten;          /* passed descriptors: 3 .. 3 + nlisten - 1 */
	char **listen_names;  /* their names, one block */
	struct dctx__file_id *listen_ids; /* what each was, for upgrade.c */
	char listen_err[256]; /* the refusal, said again at every use */

	/* The reload chain (reload.c). */
	struct dctx_reload **rsteps;
	size_t nrsteps;
	size_t rcursor;      /* rsteps[rcursor] is the next or running one */
	int reloading;       /* a reload runs */
	int reload_again;    /* one more was asked for meanwhile */
	int reload_told;     /* this one was framed for systemd */
	int reload_advancing;

	/* stdout and stderr given by path (stdpath.c); [0] unused. */
	char *stdio_path[3];
	int stdio_path_fd[3]; /* opened by dctx_open(), until the stdio step */

	/* The logger (log.c). */
	int log_fd;         /* the syslog socket, or -1: stderr */
	int log_level;      /* the least urgent priority written */
	int log_facility;
	pid_t log_pid;      /* the process that made the syslog socket */

	/* The privileged hook (hook.c). */
	dctx_privileged_cb priv_cb;
	void *priv_arg;
	int priv_ran;          /* it ran in the open under way */
	size_t priv_npreserve; /* files_preserve before it ran */

	/* Worker threads not joined yet (threads.c). */
	struct dctx_thread *thread_list;

	/* The reaper (reaper.c). */
	enum dctx_reaper reaper;
	int reaping;        /* decided by dctx_open(): reap on SIGCHLD */
	pid_t *claims;      /* children the program waits for itself */
	size_t nclaims;
	size_t claims_cap;

	/* Resolved by dctx_open() before anything changes. */
	int change_ids;
	uid_t run_uid;
	gid_t run_gid;
	gid_t *groups;
	int ngroups;
	int devnull;
	int prepared;       /* steps 1-2 done (dctx_prepare()), not open yet */
	pid_t prepared_pid; /* the process that ran them, and holds the lock */

	/* The open daemon. */
	int is_open;
	int closed;         /* dctx_close() ended it: no reopen */
	pid_t pid;          /* the process that opened it */
	int detached;
	int report_fd;      /* write end of the launcher pipe, or -1 */
	int start_told;     /* readiness or a failure was reported */
	int ready_told;     /* readiness itself was (reload.c) */
	int saved_stderr;   /* the caller's stderr, while a foreground
			     * start can still fail, or -1 */
	pid_t report_pid;   /* the process that may write to it */
	pid_t base_pid;     /* the process whose kernel objects the base uses */
	struct dctx_pidfile *pidfile;
	struct event_base *base;
	int exit_status;

	/* Upgrades (upgrade.c, upgrade-new.c). */
	struct dctx__upgrade *upgrade; /* settings and the attempt, or NULL */
	int up_child;       /* started by an upgrade, and not ready yet */

	char errmsg[512];
};

enum { DCTX__CHAIN_IDLE = 0, DCTX__CHAIN_RUNNING, DCTX__CHAIN_FINISHED };

/* The first signal glibc reserves for itself, and the first it gives back. */
#define DCTX__SIG_RESERVED_FIRST 32

/* config.c */
int dctx__fail(struct dctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dctx__shorten(char *buf, size_t len, const char *msg);
void dctx__errfmt(char *buf, size_t len, const char *reason,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* pidfile.c */
int dctx__parse_pid(const char *buf, size_t len, int at_end, pid_t *pid);
int dctx__pidfile_check_path(const char *path, char *err, size_t errlen);
int dctx__pidfile_open(struct dctx_pidfile **out, const char *path,
    char *err, size_t errlen);
int dctx__pidfile_write(struct dctx_pidfile *pf, char *err, size_t errlen);
void dctx__pidfile_adopt(struct dctx_pidfile *pf);
int dctx__pidfile_write_pid(struct dctx_pidfile *pf, pid_t pid, char *err,
    size_t errlen);
int dctx__pidfile_inherit(struct dctx_pidfile **out, const char *path,
    int fd, char *err, size_t errlen);
int dctx__pidfile_inherited(const struct dctx_pidfile *pf);
const char *dctx__pidfile_name(const struct dctx_pidfile *pf);
const char *dctx__pidfile_path(const struct dctx_pidfile *pf);
void dctx__pidfile_enter_chroot(struct dctx_pidfile *pf, const char *root);
int dctx__pidfile_fd(const struct dctx_pidfile *pf);
int dctx__pidfile_dirfd(const struct dctx_pidfile *pf);
void dctx__pidfile_forget(struct dctx_pidfile *pf);
int dctx__pid_is_live(pid_t pid);
void dctx__pidfile_remove_stale(const char *path, pid_t daemon);
pid_t dctx__pidfile_pid(int fd, int wait);
void dctx__pidfile_check_removable(const struct dctx_pidfile *pf,
    const struct dctx *ctx);

/* detach.c */
int dctx__should_detach(const struct dctx *ctx);
int dctx__detach(struct dctx *ctx);
int dctx__report(struct dctx *ctx, int status, const char *msg);
int dctx__write_nosigpipe(int fd, const void *buf, size_t len);
int dctx__pidfd_open(pid_t pid);
/* control.c: the daemon holding a pidfile's lock, for upgrade-request.c */
int dctx__pidfile_find(const char *path, pid_t *pid, int *pidfd);

/* readiness.c */
struct sockaddr_un;
int dctx__notify_address(const char *addr, struct sockaddr_un *sun,
    socklen_t *len);
int dctx__notify_open(struct dctx *ctx);
void dctx__notify_opened(void);
int dctx__notify(struct dctx *ctx, const char *msg);
int dctx__ready(struct dctx *ctx);
void dctx__notify_failed(struct dctx *ctx, int code, const char *msg);
int dctx__start_failed(struct dctx *ctx, int status, int code,
    const char *msg);

/* watchdog.c */
void dctx__watchdog_read(struct dctx *ctx);
void dctx__watchdog_opened(void);
int dctx__watchdog_start(struct dctx *ctx);
void dctx__watchdog_stop(struct dctx *ctx);

/* process.c */
int dctx__setup_process(struct dctx *ctx);

/* fds.c */
int dctx__fill_stdio(void);
int dctx__close_fds(const int *keep, size_t nkeep);
int dctx__setup_fds(struct dctx *ctx);

/* privileges.c */
int dctx__resolve_ids(struct dctx *ctx);
int dctx__drop_privileges(struct dctx *ctx);

/* signals.c */
int dctx__signal_valid(int signo);
void dctx__signals_all_but_faults(sigset_t *set);
void dctx__signals_reset(void);
void dctx__signals_release(void);
void dctx__signal_catch(int signo);
int dctx__signals_install(struct dctx *ctx);
void dctx__signals_undo(struct dctx *ctx);
void dctx__signals_remove(struct dctx *ctx);
void dctx__signals_default_map(struct dctx *ctx);

/* shutdown.c */
long long dctx__now_ms(void);
void dctx__shutdown_close(struct dctx *ctx);
void dctx__shutdown_free(struct dctx *ctx);

/* reload.c */
void dctx__reload_free(struct dctx *ctx);

/* stdpath.c */
int dctx__stdpath_open(struct dctx *ctx);
void dctx__stdpath_close(struct dctx *ctx);
int dctx__stdpath_source(const struct dctx *ctx, int which);
void dctx__stdpath_reopen(struct dctx *ctx);
void dctx__stdpath_free(struct dctx *ctx);

/* threads.c */
int dctx__threads_alone(struct dctx *ctx);
void dctx__threads_orphan(struct dctx *ctx, int forked);

/* activation.c */
int dctx__listen_parse(const char *pid, const char *fds, const char *names,
    pid_t self, int *count, char *err, size_t errlen);
char **dctx__listen_names(const char *names, int count);
int dctx__listen_read(struct dctx *ctx);
int dctx__listen_has(const struct dctx *ctx, int fd);
int dctx__listen_still(const struct dctx *ctx, int index);
void dctx__listen_free(struct dctx *ctx);

/* reaper.c */
int dctx__reaper_open(struct dctx *ctx);
void dctx__reap(struct dctx *ctx);
void dctx__reaper_free(struct dctx *ctx);

/* open.c */
void dctx__base_own(struct dctx *ctx);

/* log.c */
void dctx__log_init(struct dctx *ctx);
void dctx__log_open(struct dctx *ctx);
void dctx__log_close(struct dctx *ctx);
void dctx__log(const struct dctx *ctx, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* hook.c */
int dctx__run_privileged_hook(struct dctx *ctx);
void dctx__privileged_hook_undo(struct dctx *ctx);

/* upgrade.c: the old daemon's side */
int dctx__upgrade_prepare(struct dctx *ctx);
void dctx__upgrade_started(struct dctx *ctx);
void dctx__upgrade_close(struct dctx *ctx);
void dctx__upgrade_free(struct dctx *ctx);

/* upgrade-new.c: the new process's side */
int dctx__upgrade_inherit(struct dctx *ctx);
int dctx__upgrade_pidfile(struct dctx *ctx);
int dctx__upgrade_keep_fd(const struct dctx *ctx);
void dctx__upgrade_opened(struct dctx *ctx);
int dctx__upgrade_ready(struct dctx *ctx);
int dctx__upgrade_hold(struct dctx *ctx, const char *msg, int fd);

/* fdstore.c */
int dctx__notify_with_fd(struct dctx *ctx, const char *msg, int fd);

#endif /* DCTX_INTERNAL_H */
