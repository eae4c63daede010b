/**
 * @file
 * libdctx: a Unix daemon context (PEP 3143) that hands the daemon a libevent
 * loop to serve from.
 *
 * A program calls dctx_new() first, describes its daemon with the PEP 3143
 * attributes, calls dctx_prepare() (the pidfile is taken), sets up what
 * it serves (binds its sockets), calls dctx_open(), then runs
 * event_base_dispatch(dctx_base(ctx)).  Errors are
 * negative numbers: -errno, or one of the DCTX_E* codes below; dctx_errmsg()
 * says in words what failed, dctx_strerror() what a code means.  The
 * libdctx(3) manual page is the overview; each function has a page of its
 * own, generated from the doc comments below.  Every public name here has
 * one: `make` fails otherwise.
 */
#ifndef DCTX_H
#define DCTX_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Marks the functions the library exports: while the library itself is
 * built (DCTX_BUILDING), the default visibility, everything else being
 * hidden; empty for the programs that use it.
 */
#if defined(DCTX_BUILDING) && defined(__GNUC__)
#define DCTX_EXPORT __attribute__((visibility("default")))
#else
#define DCTX_EXPORT
#endif

struct event_base;

/** A daemon context: the PEP 3143 DaemonContext.  Opaque. */
struct dctx;

/** A pidfile on its own: the PEP 3143 PidFile.  Opaque. */
struct dctx_pidfile;

/** One step of the shutdown chain, handed to its callback.  Opaque. */
struct dctx_shutdown;

/** A worker thread started with dctx_thread_create().  Opaque. */
struct dctx_thread;

/** One step of the reload chain, handed to its callback.  Opaque. */
struct dctx_reload;

/*
 * Error codes of our own, beside -errno.  They are far below any errno
 * value so that the two never meet.
 */
#define DCTX_EOPEN     (-30001) /**< the context is open (attributes are frozen), or another one is */
#define DCTX_ERUNNING  (-30002) /**< the pidfile is locked by a running daemon */
#define DCTX_ENOUSER   (-30003) /**< no such user or group */
#define DCTX_EPRIVS    (-30004) /**< dropped privileges could be regained */
#define DCTX_ESIGNAL   (-30005) /**< this signal cannot be mapped */
#define DCTX_EDAEMON   (-30006) /**< the daemon died before it reported */
#define DCTX_ETHREADS  (-30007) /**< other threads run: dctx_open() refuses */
#define DCTX_ECLOSED   (-30008) /**< the context was closed: no reopen */
#define DCTX_EPREPARED (-30009) /**< dctx_prepare() resolved this attribute */
#define DCTX_EUPGRADE  (-30010) /**< the new process of an upgrade failed; the old one serves on */

/*
 * The exit statuses dctx_exit_status() reports.  A clean stop is 0, which is
 * what systemd counts as success for a service stopped with SIGTERM (PEP
 * 3143's terminate exits 1, which systemd reports as a failure).
 */
#define DCTX_EXIT_CLEAN    0   /**< every shutdown step finished */
#define DCTX_EXIT_TIMEOUT  124 /**< the shutdown deadline passed */
#define DCTX_EXIT_FORCED   125 /**< a second SIGTERM or a SIGINT forced the stop */

/** The launcher's start timeout by default, in ms: systemd's 90 s. */
#define DCTX_START_TIMEOUT_DEFAULT 90000

/** How long an upgrade waits for the new process by default, in ms. */
#define DCTX_UPGRADE_TIMEOUT_DEFAULT 30000

/** detach_process: fork into the background, or not, or decide. */
enum dctx_detach {
	DCTX_DETACH_AUTO = -1, /**< decide at open (see dctx_set_detach_process) */
	DCTX_DETACH_NO = 0,    /**< stay in the foreground: no fork */
	DCTX_DETACH_YES = 1    /**< fork, setsid, fork */
};

/**
 * A signal_map callback.  It runs inside the event loop (it is a libevent
 * signal event), so it may do anything a libevent callback may.
 *
 * @param ctx the context whose map holds the signal
 * @param signo the signal that arrived (several deliveries may be merged)
 * @param arg the argument given to dctx_set_signal()
 */
typedef void (*dctx_signal_cb)(struct dctx *ctx, int signo, void *arg);

/**
 * A shutdown step (dctx_on_shutdown()).  Called in loop context, first with
 * late 0: start the work, and call dctx_shutdown_done(step) when it is
 * finished, now or later from another callback.  Called again with late 1
 * when the deadline passes or a second signal forces the stop (also for a
 * step not started yet): finish now, as far as can be done without waiting;
 * dctx_shutdown_done() is not needed then.  A step's resources must be
 * released on either path.
 *
 * @param ctx the context
 * @param step the step's handle
 * @param late 0 to start, 1 when time is up
 * @param arg the argument given to dctx_on_shutdown()
 */
typedef void (*dctx_shutdown_cb)(struct dctx *ctx, struct dctx_shutdown *step,
    int late, void *arg);

/**
 * A reload step (dctx_on_reload()).  Called in loop context when a reload
 * reaches it: do the work (read the configuration again, reopen a file),
 * and call dctx_reload_done(step) when it is finished, now or later from
 * another callback; the next step starts only then.
 *
 * @param ctx the context
 * @param step the step's handle
 * @param arg the argument given to dctx_on_reload()
 */
typedef void (*dctx_reload_cb)(struct dctx *ctx, struct dctx_reload *step,
    void *arg);

/**
 * Create a context with the PEP 3143 defaults: no chroot, working directory
 * "/", umask 0, no uid or gid change, prevent_core on, detach_process auto,
 * no preserved files, no pidfile, stdio to /dev/null, and the signal map
 * SIGTSTP, SIGTTIN, SIGTTOU and SIGPIPE ignored, SIGTERM terminates, and
 * SIGHUP reloads.
 * SIGHUP is our addition too: PEP 3143's map leaves it out, so its
 * default action ends the process, and `systemctl reload` or logrotate's
 * `kill -HUP` would kill the daemon.  It runs the reload chain instead
 * (dctx_reload(): stdout and stderr files given by path are reopened,
 * then the program's dctx_on_reload() steps run).  A program that maps
 * SIGHUP itself (dctx_set_signal()) replaces the reload, and may start it
 * by calling dctx_reload(); dctx_unset_signal(ctx, SIGHUP) gives it back
 * its default action, which kills.
 * SIGPIPE is our addition to PEP 3143's map: dctx_open() resets every
 * disposition, a program's own signal(SIGPIPE, SIG_IGN) included, and a
 * server would then die the first time a client went away in the middle
 * of a reply; ignored, the write fails with EPIPE instead.
 * dctx_unset_signal(ctx, SIGPIPE) gives it back its default action.
 *
 * Call it first in main(), before the program opens any file or socket:
 * it fills a closed descriptor 0, 1 or 2 with /dev/null (opened read and
 * write, kept across exec), as OpenSSH's sanitise_stdfd() does.  A
 * program started with stdin closed (`prog <&-`) would otherwise get fd 0
 * back from its first socket(), which would then pass for stdin (for an
 * inetd socket even, see dctx_set_detach_process()) and be replaced by
 * /dev/null in dctx_open()'s stdio step.  Where /dev/null cannot be
 * opened, the holes stay, and dctx_prepare() fails saying so.
 *
 * @return the context, or NULL when memory is short
 */
DCTX_EXPORT struct dctx *dctx_new(void);

/**
 * Free a context.  An open context is closed first (dctx_close()); a
 * prepared one that was never opened (dctx_prepare()) releases its
 * pidfile, which is removed.  The event base is freed too: free your own
 * events on it before.
 *
 * @param ctx the context; NULL is a no-op
 */
DCTX_EXPORT void dctx_free(struct dctx *ctx);

/**
 * chroot_directory: the directory that becomes the root.  The user, its
 * groups, /dev/null and the pidfile are all resolved before the chroot.  No
 * directory outside the jail stays open (it would be a way out), so a
 * pidfile outside the jail is emptied at exit rather than removed; one
 * given by an absolute path inside the jail is removed.
 *
 * @param ctx the context
 * @param path an absolute path, or NULL for no chroot
 * @return 0, -EINVAL for a relative path, -ENOMEM, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_chroot_directory(struct dctx *ctx, const char *path);

/**
 * working_directory: the directory to change to, "/" by default.  When a
 * chroot directory is set and the path does not start with it, it is
 * prefixed with it, as PEP 3143 says: with chroot "/srv/jail", "/data" means
 * "/srv/jail/data" seen from outside, "/data" seen from the daemon.
 *
 * @param ctx the context
 * @param path an absolute path
 * @return 0, -EINVAL for NULL or a relative path, -ENOMEM, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_working_directory(struct dctx *ctx, const char *path);

/**
 * The working directory as PEP 3143 defines the property: prefixed with the
 * chroot directory when it is set and the path does not start with it.
 *
 * @param ctx the context
 * @return the path; valid until the next setter call or dctx_free()
 */
DCTX_EXPORT const char *dctx_working_directory(const struct dctx *ctx);

/**
 * umask: the file mode creation mask of the daemon (0 by default).  A
 * value with other bits than the permission bits is refused, never cut
 * down to them.  A caller parsing a number typed by an operator must check
 * its range before the cast to mode_t (32 bits on Linux): 040000000000
 * arrives here as 0, and nothing can tell it from a 0 that was meant.
 *
 * @param ctx the context
 * @param mask permission bits only (at most 0777)
 * @return 0, -EINVAL for other bits ("umask 01777: not a mode from 0 to
 *         0777"), or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_umask(struct dctx *ctx, mode_t mask);

/**
 * uid: the user id the daemon runs as.  Supplementary groups are reduced to
 * the daemon's gid (or to the user's groups with dctx_set_user()).  Without
 * dctx_set_gid(), the gid is the user's primary group from the password
 * database, never the one the process started with; dctx_open() refuses a
 * uid the database does not know unless a gid is set too (DCTX_ENOUSER).
 *
 * The privilege rules, for any change of uid, gid, user or group, whether
 * the process starts as root or as another user holding CAP_SETUID and
 * CAP_SETGID (systemd's AmbientCapabilities=, file capabilities):
 *  - The supplementary groups are set on every id change.  A process not
 *    allowed to set them (no CAP_SETGID) passes only when they already
 *    are the ones wanted; otherwise dctx_open() fails with -EPERM.
 *  - When the daemon's final uid is not 0, every capability is dropped:
 *    the ambient, permitted, effective and inheritable sets are emptied
 *    (the kernel does it when root leaves uid 0, but not between two other
 *    uids).  The bounding set is left as it is.
 *  - When the final uid is not 0, the drop is verified, and any doubt fails
 *    with DCTX_EPRIVS: the ids and groups are the ones asked for,
 *    setuid(0), setresuid(0, 0, 0), the old euid and the old egid cannot
 *    be taken back, and no capability is left.
 * The ids and groups are resolved afresh by every dctx_open(), so a retry
 * after a failed open uses the settings of the moment.
 *
 * The ids are resolved by dctx_prepare() (or dctx_open()), so this
 * setter, dctx_set_gid(), dctx_set_user() and dctx_set_group() refuse a
 * change after dctx_prepare() with DCTX_EPREPARED.
 *
 * The uid 0 rule: a uid, or a user (dctx_set_user()), that resolves to
 * uid 0 is refused by dctx_open() at step 1, before anything changes, with
 * -EINVAL.  From root it is a drop that drops nothing ("user 'toor' is
 * uid 0: dropping to it drops nothing"): an alias of root, or a uid 0 left
 * in a template, would keep full root while the configuration reads as if
 * it had been shed.  From another uid it would be a rise, not a drop
 * ("uid 0: a daemon is never raised to root"): it fails without
 * CAP_SETUID and with it makes the daemon root.  A program that means to
 * stay root sets no uid.  The gid is not concerned: gid 0 grants no
 * power a uid does not.
 *
 * @param ctx the context
 * @param uid the user id; (uid_t)-1 means no change
 * @return 0, DCTX_EOPEN, or DCTX_EPREPARED
 */
DCTX_EXPORT int dctx_set_uid(struct dctx *ctx, uid_t uid);

/**
 * gid: the group id the daemon runs as.
 *
 * @param ctx the context
 * @param gid the group id; (gid_t)-1 means no change
 * @return 0, DCTX_EOPEN, or DCTX_EPREPARED
 */
DCTX_EXPORT int dctx_set_gid(struct dctx *ctx, gid_t gid);

/**
 * Run as a named user: its uid, its primary group (unless dctx_set_gid() or
 * dctx_set_group() chose one) and its supplementary groups.  The name is
 * resolved by dctx_prepare() or dctx_open() (step 1), before any chroot;
 * an unknown name fails there
 * with DCTX_ENOUSER and "user 'name': no such user or group", and a name
 * of uid 0 with -EINVAL (the uid 0 rule, under dctx_set_uid()).
 *
 * @param ctx the context
 * @param name a user name
 * @return 0, -EINVAL, -ENOMEM, DCTX_EOPEN, or DCTX_EPREPARED
 */
DCTX_EXPORT int dctx_set_user(struct dctx *ctx, const char *name);

/**
 * Run with a named group as the primary group, resolved by dctx_prepare()
 * or dctx_open() (step 1).
 *
 * @param ctx the context
 * @param name a group name
 * @return 0, -EINVAL, -ENOMEM, DCTX_EOPEN, or DCTX_EPREPARED
 */
DCTX_EXPORT int dctx_set_group(struct dctx *ctx, const char *name);

/**
 * prevent_core: when true (the default) RLIMIT_CORE is set to 0.
 *
 * @param ctx the context
 * @param on true or false
 * @return 0 or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_prevent_core(struct dctx *ctx, int on);

/**
 * detach_process.  DCTX_DETACH_AUTO (the default) forks unless the process
 * was started by init or inetd, as PEP 3143 asks, decided at dctx_open():
 * it does not fork when it is pid 1, when its parent is pid 1, when
 * NOTIFY_SOCKET names a socket it can reach (a systemd Type=notify service,
 * which must not fork; a stale variable naming a socket nobody listens on
 * means nobody waits, and the daemon detaches as from any shell, see
 * dctx_open()), when an s6 notification fd is set (dctx_set_notification_fd()), or when
 * stdin is an Internet socket (inetd).  A socketpair or a Unix
 * socket on stdin does not count, and a closed stdin is fine.  A service
 * with systemd's Type=forking must choose DCTX_DETACH_YES.
 *
 * It does not fork either as a systemd service without NOTIFY_SOCKET
 * (Type=simple, Type=exec), where systemd watches the process it started
 * and takes one that forks away for dead: the unit stops and what is left
 * is killed.  The parent test misses it when the manager is not pid 1 (a
 * user manager, systemd inside a container).  The rule: INVOCATION_ID is
 * set (systemd sets it for every process of a unit), and SYSTEMD_EXEC_PID
 * (systemd 248 and later: the pid it ran) is our own pid or unset.  A
 * daemon started by a script that systemd ran (the ExecStart= of a
 * Type=forking unit, an init script under systemd-sysv-generator) has
 * another pid than SYSTEMD_EXEC_PID, and forks as from any shell, so that
 * the script ends.
 *
 * Other supervisors that watch the process they started (runit's runsv,
 * daemontools' supervise, supervisord, s6 without a notification fd,
 * start-stop-daemon --background) set no such mark, and their parent is
 * not pid 1: AUTO forks there, and the supervisor takes the launcher's
 * exit for the service's end.  Their services must choose DCTX_DETACH_NO
 * (a --foreground option).  A container's entry point is pid 1, which
 * AUTO recognises (see dctx_set_reaper() for what pid 1 owes its
 * namespace).
 *
 * A later call replaces an earlier one, as with every setter: the library
 * sees one mode at a time and cannot tell a contradiction from a change of
 * mind.  A program whose command line has both a "foreground" and a
 * "detach" option must refuse the pair itself, as echod does.
 *
 * @param ctx the context
 * @param mode DCTX_DETACH_AUTO, DCTX_DETACH_NO or DCTX_DETACH_YES
 * @return 0, -EINVAL, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_detach_process(struct dctx *ctx, enum dctx_detach mode);

/** The reaper: whether the daemon reaps the orphans that come to it. */
enum dctx_reaper {
	DCTX_REAPER_AUTO = -1, /**< reap when the daemon is pid 1 (the default) */
	DCTX_REAPER_NO = 0,    /**< never: the program reaps, or nobody */
	DCTX_REAPER_YES = 1    /**< always (a child subreaper elsewhere than pid 1) */
};

/**
 * Reap orphans.  A process whose parent dies is given to pid 1 of its pid
 * namespace (or to the nearest child subreaper above it), which must reap
 * it when it exits, or its zombie stays in the process table for good.
 * Where the daemon is pid 1 (a container's entry point, `unshare --pid
 * --fork`), that is the daemon's job: with DCTX_REAPER_AUTO (the default)
 * it is done when getpid() is 1 after the detach step; DCTX_REAPER_YES
 * does it anywhere, making the daemon a child subreaper
 * (PR_SET_CHILD_SUBREAPER) at dctx_open() step 8 unless it is pid 1, so
 * that the orphans of its descendants come to it rather than to init.
 *
 * The rule, which is the program's part:
 *  - The reaper runs in the loop, on SIGCHLD (after the program's own
 *    SIGCHLD callback, when the map has one, see dctx_set_signal()), and
 *    once at the loop's first turn.  It reaps every zombie child of the
 *    loop's thread, with waitid(WNOHANG), except the claimed ones.
 *  - A child that the program waits for itself (waitpid(pid, ...),
 *    blocking or not, at any later time) must be claimed with
 *    dctx_claim_child() right after fork(), before the callback that
 *    forked it returns to the loop (or before event_base_dispatch()).
 *    Its zombie is then left for the program's waitpid(), which gets its
 *    true status.  Unclaimed, the reaper may take it first, and the
 *    program's waitpid() fails with ECHILD.
 *  - A child forked and waited for within one callback needs no claim:
 *    the reaper runs only between callbacks.  system() is such a call,
 *    and so are popen() and its pclose() in the same callback; a popen()
 *    whose pclose() comes in a later callback hides its pid and cannot
 *    be claimed: turn the reaper off (DCTX_REAPER_NO) for such a program.
 *  - Children of worker threads are never touched, when the loop runs in
 *    the main thread (the one that started the process, where the
 *    kernel puts orphans): the reaper waits with __WNOTHREAD.
 *  - A SIGCHLD the map ignores (dctx_ignore_signal()) makes the kernel
 *    reap every child at once (no zombies, and no status for anyone);
 *    the reaper then has nothing to do.
 * A claimed zombie the program has not reaped yet hides the others from
 * waitid(); the reaper then reads the main thread's list of children in
 * /proc (Linux 3.5, CONFIG_PROC_CHILDREN), and without it (no /proc of
 * the daemon's namespace, a chroot) the rest wait for the next SIGCHLD
 * after the program reaped its own.
 *
 * Pid 1 gets no signal at its default action, from inside its namespace
 * or outside (pid_namespaces(7)): an unmapped SIGINT (Ctrl-C on `docker
 * run -it`) would do nothing.  So as pid 1, whatever the reaper mode,
 * dctx_open() maps SIGINT to terminate when the program left it unmapped:
 * SIGTERM and SIGINT run the same shutdown chain (dctx_terminate()).
 *
 * @param ctx the context
 * @param mode DCTX_REAPER_AUTO, DCTX_REAPER_NO or DCTX_REAPER_YES
 * @return 0, -EINVAL, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_reaper(struct dctx *ctx, enum dctx_reaper mode);

/**
 * Claim a child: the program waits for it itself, and the reaper
 * (dctx_set_reaper()) leaves it alone.  Call it right after fork() (or
 * posix_spawn()), in the parent, in the thread that runs the loop, before
 * the callback returns to the loop.  The claim ends when the program has
 * reaped the child; nothing is to undo.  Once dctx_open() has found that
 * the daemon does not reap (not pid 1 with DCTX_REAPER_AUTO, or
 * DCTX_REAPER_NO), it checks pid and remembers nothing, and the claims
 * made before are dropped.
 *
 * @param ctx the context
 * @param pid a child of this process, running or a zombie
 * @return 0, -EINVAL for a pid below 1, -ECHILD when pid is no child of
 *         this process, or -ENOMEM
 */
DCTX_EXPORT int dctx_claim_child(struct dctx *ctx, pid_t pid);

/**
 * files_preserve: keep this descriptor open across dctx_open(), at the same
 * number.  Every other descriptor above 2 is closed.  Allowed after
 * dctx_prepare(): that is where a server preserves the socket it bound
 * once the pidfile was its own.  dctx_open() checks again that every
 * preserved descriptor is still open.
 *
 * @param ctx the context
 * @param fd an open descriptor above 2
 * @return 0, -EBADF when fd is not open or is 0-2, -ENOMEM, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_preserve_fd(struct dctx *ctx, int fd);

/**
 * pidfile: a path to create, lock and write the daemon's pid into.  See
 * dctx_pidfile_acquire() for what that means; dctx_prepare() (or
 * dctx_open()) locks it before the fork, so that its errors reach the
 * shell, and refuses to change it afterwards (DCTX_EPREPARED).  A path of
 * PATH_MAX bytes or more (4096 on Linux) is refused here: the file could
 * be made, through its directory, but no reader could open it by its name.
 *
 * Where the daemon drops privileges (a user, uid or gid), its pidfile
 * should lie in a directory the dropped ids may write: a daemon cannot
 * remove a file from a directory it cannot write (root's /run), nor from a
 * sticky one (/tmp) it does not own, so at exit it empties the file
 * instead, and an empty file is left behind (start-stop-daemon --status
 * then answers 4, "unable to determine").  dctx_prepare() sees this
 * before the drop and warns once on stderr ("warning: pidfile PATH: user
 * NAME (uid N) cannot remove files from DIR, ..."); the start goes on.
 * The remedy is a directory of the daemon's own, with the pidfile inside
 * it: `install -d -o NAME /run/NAME` in the init script, or as systemd's
 * ExecStartPre=+.  systemd's RuntimeDirectory= makes the directory for the
 * unit's User=, root by default: it fits a unit that systemd starts as the
 * daemon's user, not a daemon that drops privileges itself.
 *
 * @param ctx the context
 * @param path a path, or NULL for none
 * @return 0, -EINVAL for "", -ENAMETOOLONG for a path longer than
 *         PATH_MAX - 1 (dctx_errmsg() names it, shortened in the middle,
 *         and says its length), -ENOMEM, DCTX_EOPEN, or DCTX_EPREPARED
 */
DCTX_EXPORT int dctx_set_pidfile(struct dctx *ctx, const char *path);

/**
 * stdin: the descriptor that becomes the daemon's fd 0; -1 (the default)
 * means /dev/null, and 0 keeps the current stdin as it is.  Any other
 * descriptor is duplicated onto 0 and, unless it is also preserved
 * (dctx_preserve_fd()), closed at its own number.
 *
 * @param ctx the context
 * @param fd an open descriptor, 0 to keep the current stdin, or -1 for
 *        /dev/null
 * @return 0, -EBADF when fd is not open, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stdin(struct dctx *ctx, int fd);

/**
 * stdout: the descriptor that becomes the daemon's fd 1; -1 (the default)
 * means /dev/null.  Passing 1 keeps the current stdout: nothing is closed
 * or replaced, and the daemon writes where its starter pointed fd 1 (a
 * file, a pipe, the journal).  Any other descriptor is duplicated onto 1
 * and, unless it is also preserved, closed at its own number.  It replaces
 * a path given with dctx_set_stdout_path(): a descriptor is never
 * reopened by a reload.
 *
 * @param ctx the context
 * @param fd an open descriptor, 1 to keep the current stdout, or -1 for
 *        /dev/null
 * @return 0, -EBADF when fd is not open, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stdout(struct dctx *ctx, int fd);

/**
 * stderr: the descriptor that becomes the daemon's fd 2, its log; -1 (the
 * default) means /dev/null.  Passing 2 keeps the current stderr (a
 * foreground daemon logging to the journal under systemd).  Any other
 * descriptor is duplicated onto 2 and, unless it is also preserved, closed
 * at its own number.  It replaces a path given with
 * dctx_set_stderr_path(): a descriptor is never reopened by a reload.
 *
 * @param ctx the context
 * @param fd an open descriptor, 2 to keep the current stderr, or -1 for
 *        /dev/null
 * @return 0, -EBADF when fd is not open, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stderr(struct dctx *ctx, int fd);

/**
 * stdout by path: the file that becomes the daemon's fd 1, opened by
 * dctx_open() and reopened by every reload (dctx_reload()), so that
 * logrotate's `postrotate kill -HUP` (or `systemctl reload`) moves the
 * daemon's output to the new file while the old one keeps what was
 * written before.  It replaces a descriptor given with dctx_set_stdout(),
 * and a later dctx_set_stdout() replaces it; NULL goes back to /dev/null.
 *
 * The file is opened for appending, created with mode 0640 less the
 * umask in force, never through a symbolic link (O_NOFOLLOW), with
 * O_NOCTTY, and never left open across exec.  dctx_open() opens it in the
 * calling process, before the fork, the chroot and the privilege drop,
 * while the path is reachable and as whoever started the daemon; a
 * failure fails dctx_open() with the path named ("stdout
 * /var/log/d.log: Permission denied"), before anything changed.  A path
 * that names a FIFO nobody reads fails with -ENXIO instead of blocking.
 *
 * A reload reopens the same path, as the daemon: with its dropped ids
 * (the directory, or the file logrotate created with `create MODE USER
 * GROUP`, must be writable by them) and its umask, and inside its chroot
 * (a path under the chroot directory is reopened by the part that
 * follows it: with chroot /srv/jail, /srv/jail/log/d.log is reopened as
 * /log/d.log; a path outside the jail cannot be reopened).  A reopen that
 * fails keeps the old file on fd 1, says so with dctx_log() at
 * LOG_WARNING ("reload: stdout PATH: reopen: REASON; still writing to the
 * old file": "PROGRAM: " first on a stderr file, in syslog where the
 * daemon has none) and in dctx_errmsg(), and does not fail the reload: the program's steps run,
 * and systemd hears READY=1 all the same.  stdout is flushed (fflush())
 * before the switch, so that lines written before the reload land in
 * the old file.
 *
 * @param ctx the context
 * @param path an absolute path, or NULL for none
 * @return 0, -EINVAL for "" or a relative path (a reload after the chdir
 *         of dctx_open() would resolve it elsewhere), -ENOMEM, or
 *         DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stdout_path(struct dctx *ctx, const char *path);

/**
 * stderr by path, the daemon's log: as dctx_set_stdout_path(), for fd 2.
 * It replaces a descriptor given with dctx_set_stderr(), and a later
 * dctx_set_stderr() replaces it.  Where a reopen fails, the message goes
 * to the stderr in place, the old file (dctx_log()).
 *
 * @param ctx the context
 * @param path an absolute path, or NULL for none
 * @return 0, -EINVAL for "" or a relative path, -ENOMEM, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stderr_path(struct dctx *ctx, const char *path);

/**
 * signal_map: call cb, inside the event loop, when signo arrives.  Before
 * dctx_open() this only records the wish; after it, the change takes effect
 * at once, and never passes through the default action.
 *
 * Every signal can be mapped but SIGKILL and SIGSTOP, which cannot be
 * caught, the two glibc keeps for its threads (32 and 33), and the fault
 * signals SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and SIGSYS: a faulting
 * instruction raises them, and a handler that returns sends the thread
 * back to it, to fault again for ever at full CPU while the loop, where
 * the callback would run, never turns again.  They keep their default
 * action (a core, or death).  The same holds for dctx_ignore_signal(),
 * dctx_terminate_on_signal() and dctx_unset_signal().
 *
 * After dctx_close() a signal that was mapped is caught and dropped until
 * the process exits (see dctx_close()).
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see above)
 * @param cb the callback, not NULL
 * @param arg passed to cb
 * @return 0, DCTX_ESIGNAL for a signal that cannot be mapped or does not
 *         exist (dctx_errmsg() names it and says why), -EINVAL for a NULL
 *         cb, -ENOMEM
 */
DCTX_EXPORT int dctx_set_signal(struct dctx *ctx, int signo, dctx_signal_cb cb,
    void *arg);

/**
 * signal_map: ignore signo (SIG_IGN).
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see dctx_set_signal())
 * @return 0 or DCTX_ESIGNAL
 */
DCTX_EXPORT int dctx_ignore_signal(struct dctx *ctx, int signo);

/**
 * signal_map: signo starts the graceful shutdown (dctx_terminate()).
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see dctx_set_signal())
 * @return 0, DCTX_ESIGNAL, or -ENOMEM
 */
DCTX_EXPORT int dctx_terminate_on_signal(struct dctx *ctx, int signo);

/**
 * Remove signo from the signal map: it gets its default disposition.
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see dctx_set_signal())
 * @return 0 or DCTX_ESIGNAL
 */
DCTX_EXPORT int dctx_unset_signal(struct dctx *ctx, int signo);

/**
 * signal_map: signo starts the reload chain (dctx_reload()), as SIGHUP
 * does by default; for example SIGUSR1 for a program that keeps SIGHUP
 * for something else, or SIGHUP again after dctx_set_signal() changed it.
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see dctx_set_signal())
 * @return 0, DCTX_ESIGNAL, or -ENOMEM
 */
DCTX_EXPORT int dctx_reload_on_signal(struct dctx *ctx, int signo);

/**
 * Choose libevent's backend for the base dctx_open() creates ("epoll",
 * "poll", "select"); NULL, the default, lets libevent choose.
 *
 * @param ctx the context
 * @param method a method name that event_get_supported_methods() lists
 * @return 0, -ENOTSUP for a method this libevent lacks, -ENOMEM, DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_event_method(struct dctx *ctx, const char *method);

/**
 * s6 readiness: when the daemon is ready, write a newline to fd and close
 * it (s6's notification-fd).  The descriptor is kept open until then.  With
 * DCTX_DETACH_AUTO, a daemon with a notification fd stays in the
 * foreground: s6-supervise watches the process it started.
 *
 * @param ctx the context
 * @param fd an open descriptor above 2, or -1 for none (the default)
 * @return 0, -EBADF, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_notification_fd(struct dctx *ctx, int fd);

/**
 * Report readiness yourself with dctx_notify_ready(), instead of at the end
 * of dctx_open().  The launcher then waits until the daemon says it is ready
 * (or failed, or died).
 *
 * @param ctx the context
 * @param on true or false
 * @return 0 or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_manual_ready(struct dctx *ctx, int on);

/**
 * Bound the launcher's wait for a detached daemon (dctx_open(), step 4).
 * When the daemon has neither reported ready nor failed within ms, the
 * launcher stops it as systemd stops a unit whose start timed out: SIGTERM,
 * then SIGKILL if it is still there 5 s later (through a pidfd, so that a
 * reused pid is never hit); it removes the pidfile left behind, prints
 * "the daemon (pid N) was not ready within MS ms: stopped it", tells
 * systemd (STATUS= and ERRNO=ETIMEDOUT) when $NOTIFY_SOCKET was set, and
 * exits 1.  Without it, a daemon that never becomes ready would hold its
 * launcher, and every script above it, for ever.  A daemon that does not
 * detach has no launcher: its supervisor keeps its own timeout.
 *
 * What the launcher says is what happened:
 *  - when the timeout passes while the daemon is still being made (its
 *    pid not told yet), the signals go to the process group of the middle
 *    process, which the daemon joins at its birth, and the message is
 *    "the daemon was not ready within MS ms, still starting (its pid not
 *    known yet): stopped it";
 *  - a daemon that closed its end of the launcher's pipe before it was
 *    ready (a program closing the descriptors it does not know) is not
 *    taken for dead: the launcher watches it until it exits ("the daemon
 *    exited before it was ready") or the timeout passes, and then stops
 *    it with "the daemon (pid N) closed its report pipe before it was
 *    ready, and still ran after MS ms: stopped it" (with ms 0 it waits
 *    for the exit, for ever);
 *  - a daemon that SIGKILL does not end within 5 s (stuck in the kernel)
 *    ends the message with "SIGKILL did not end it" instead.
 * The launcher's wait for the middle process is bounded too: one that
 * has not exited 5 s after the daemon's word is killed.
 *
 * @param ctx the context
 * @param ms milliseconds from the fork; 0 waits for ever; the default is
 *        DCTX_START_TIMEOUT_DEFAULT (90000, systemd's TimeoutStartSec)
 * @return 0, -EINVAL for a negative value, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_start_timeout(struct dctx *ctx, int ms);

/**
 * Take the pidfile, and do what else must come before the program's own
 * set-up: dctx_open()'s steps 1 and 2, now, in the calling process (the
 * checks, the thread rule, the user and groups resolved, /dev/null and
 * the $NOTIFY_SOCKET opened, the socket activation variables read
 * (dctx_listen_fds()), the pidfile locked, the warning about a pidfile
 * the dropped user cannot remove).  A server calls it before it
 * binds its sockets, so that a second instance started with the same
 * command line says "pidfile PATH: already running (pid N)", not "Address
 * already in use"; it then binds, preserves the socket
 * (dctx_preserve_fd()) and calls dctx_open(), which carries on from step
 * 3, after checking again the thread rule and the preserved descriptors.
 * A program that does not call it gets the same steps from dctx_open().
 *
 * Until dctx_open(), the pidfile is locked and empty: dctx_pidfile_holder()
 * answers DCTX_ERUNNING with no pid.  Attributes resolved here (the user,
 * group, uid, gid and pidfile) can no longer change: their setters fail
 * with DCTX_EPREPARED.  The others (files_preserve, stdio, umask, chroot,
 * the signal map, ...) can.  dctx_free() of a context that was prepared
 * and never opened removes the pidfile; a failed dctx_open() after it
 * releases everything, as any failed open does, and may be retried (it
 * then prepares again).
 *
 * A failure leaves nothing behind, and is reported as a failed dctx_open()
 * reports one before the fork: the pidfile is not taken (or released),
 * systemd gets "STATUS=" and "ERRNO=" when $NOTIFY_SOCKET is set, and the
 * code returns with dctx_errmsg() set.
 *
 * Between dctx_prepare() and dctx_open() the program runs its own code,
 * with its own signal dispositions: signals are held only from
 * dctx_open()'s step 5.  A process killed in that gap (a SIGTERM at its
 * default action) leaves the pidfile empty and unlocked; the next start
 * takes it over, and until then start-stop-daemon --status answers 4
 * ("unable to determine").  The pidfile belongs to the process that
 * prepared: dctx_open() in a child forked after dctx_prepare() fails with
 * -EPERM, since the parent removes the file when it frees its context.
 *
 * @param ctx the context
 * @return 0 (also when already prepared or open), or a negative code with
 *         dctx_errmsg() set: those of dctx_open()'s steps 1 and 2, such as
 *         DCTX_ERUNNING, DCTX_ENOUSER, DCTX_ETHREADS, DCTX_ECLOSED
 */
DCTX_EXPORT int dctx_prepare(struct dctx *ctx);

/**
 * Become a daemon.  In this order (steps 1 and 2 are skipped when
 * dctx_prepare() ran them, but for the checks that must hold at the fork:
 * the thread rule, an open context in the process, and the preserved
 * descriptors; and in a child forked after dctx_prepare() it fails with
 * -EPERM, since the pidfile is the parent's):
 *  1. An open context returns 0 at once; a closed one fails with
 *     DCTX_ECLOSED (see below).  A process with threads other than the
 *     caller fails with DCTX_ETHREADS (see below).  The configuration is
 *     checked and the user and groups are resolved, before any chroot;
 *     /dev/null is opened while it is still reachable; the socket
 *     activation variables are read, if no call read them yet
 *     (dctx_listen_fds()).
 *  2. The pidfile is opened and locked (dctx_pidfile_acquire()).  Errors up
 *     to here return in the calling process: nothing has forked.
 *  3. The stdout and stderr files given by path are opened
 *     (dctx_set_stdout_path()); their errors return in the calling
 *     process too.  A pipe to the launcher is made, and stdio buffers
 *     are flushed.
 *  4. Detach (dctx_set_detach_process()): fork, setsid, fork.  The original
 *     process, the launcher, waits on the pipe and watches the daemon's
 *     pid (a pidfd), and never returns from dctx_open(): it exits 0 once
 *     the daemon reports ready; it writes the daemon's error message to
 *     its stderr and exits with status 1 (or dctx_notify_failure()'s) when
 *     the daemon reports a failure; it says "the daemon exited before it
 *     was ready" and exits 1 when the daemon dies without a word, even
 *     while a child the daemon forked still holds the pipe (the end of the
 *     pipe alone is not taken for the daemon's death: see
 *     dctx_set_start_timeout()); it then removes the pidfile, or, where
 *     that child still holds its lock, empties it if it names the dead
 *     daemon, so that no tool signals a dead pid (see
 *     dctx_pidfile_acquire()); and it stops the daemon and exits 1 when
 *     the start timeout passes (dctx_set_start_timeout()).
 *  5. Every signal disposition is reset to its default (daemon(7)), and
 *     every signal but the fault signals is held (blocked) from then
 *     until step 10, so that one sent meanwhile waits, then is served as
 *     the map says: a SIGTERM stops the daemon cleanly, a SIGHUP runs
 *     the reload chain (or the callback it is mapped to), a SIGTSTP is
 *     ignored; an unmapped signal
 *     takes its default action then.  dctx_log() takes over libevent's
 *     messages, and connects its syslog socket when the daemon has no
 *     stderr file (before the chroot hides /dev/log).  The privileged
 *     hook runs (dctx_set_privileged_hook()).  RLIMIT_CORE is set to 0
 *     (prevent_core); chroot and chdir("/"); umask; chdir to the working
 *     directory.
 *  6. Every descriptor above 2 is closed but the preserved ones, those
 *     passed by socket activation (dctx_listen_fds()) and the library's
 *     own; 0-2 become the configured stdio or /dev/null.
 *  7. Privileges are dropped: groups, gid, then uid, then capabilities, and
 *     it is verified that they cannot be regained (CERT POS36-C, POS37-C;
 *     the rules are under dctx_set_uid()).
 *  8. The event base is created (see dctx_base()), with systemd's
 *     watchdog timer when it asks for one (dctx_watchdog_usec()), and the
 *     signal map installed as libevent signal events; as pid 1 an unmapped
 *     SIGINT terminates too, and the reaper is set up (dctx_set_reaper()).
 *  9. The daemon's pid is written into the locked pidfile, only now: who
 *     reads it may signal it at once, and finds the map live.
 *  10. The context is marked open, dctx_close() is registered to run at
 *     exit in this process only, the signal mask is emptied (daemon(7))
 *     and the held signals delivered, and readiness is reported (unless
 *     dctx_set_manual_ready()): to the launcher, to systemd when
 *     $NOTIFY_SOCKET is set ("READY=1" and "MAINPID=", on a socket
 *     connected in step 1, before any chroot; the variable is removed
 *     from the environment only now that the open succeeded, so that
 *     programs the daemon runs do not take it for theirs; the shutdown
 *     chain later sends "STOPPING=1"), and to s6
 *     (dctx_set_notification_fd()).
 *
 * $NOTIFY_SOCKET: a path or "@abstract" name (at least one byte after the
 * "@"; either fitting sun_path, 107 bytes for a path, 108 with the "@"
 * for a name; anything else is an address that cannot be reached).  One
 * that cannot be reached
 * (a stale variable inherited from a service's shell) or a "vsock:"
 * address (not supported) is not an error, as with sd_notify(3): one
 * warning "NOTIFY_SOCKET ADDR: REASON; no service manager will be told"
 * goes to stderr, and the daemon goes on as if the variable were unset.
 * A failed dctx_open() (or dctx_prepare()) leaves the environment as it
 * found it, the variable included, and closes the socket: a retry
 * connects again and tells systemd "READY=1" when it succeeds.  The
 * warning is said once per context: a retry that still cannot reach the
 * address says nothing more.  The variable is removed when dctx_open()
 * succeeds (step 10), reachable or not.
 *
 * What a failed start reports, and where.  First the pidfile is removed,
 * then the failure is told, so that whoever hears it and starts the daemon
 * again finds the pidfile free:
 *  - the launcher (detached daemon): it prints "PROGRAM: MESSAGE" on its
 *    stderr and exits 1;
 *  - the caller (foreground): dctx_open() returns the code with
 *    dctx_errmsg() set; a failure after step 6 first puts the caller's
 *    stderr back on fd 2 (a copy kept above 2 until the start succeeded,
 *    never left open in the daemon), so that the message the caller prints
 *    reaches the operator, as under systemd's Type=simple;
 *  - systemd, when $NOTIFY_SOCKET was set (foreground or not, and for a
 *    step before the socket is normally connected too): one datagram
 *    "STATUS=MESSAGE\nERRNO=N", N the errno of the code (DCTX_ERUNNING
 *    is EEXIST, DCTX_ENOUSER ENOENT, DCTX_EPRIVS EPERM); systemd then
 *    reports the failed start with the reason, and start-stop-daemon
 *    --notify-await fails at once instead of waiting out its timeout.
 * A failure after the fork ends the daemon process with _exit(1).  In the
 * foreground a failure returns its code here, with the mapped signals back
 * at their default and the mask emptied; after step 5 the process is
 * already changed and should exit.
 *
 * The thread rule: call dctx_open() while the process has one thread.
 * fork() keeps only the calling thread, and locks the others held stay
 * held in the daemon, which then hangs at its first use of one (a logging
 * library's, say) after the launcher has reported success; in the
 * foreground, step 6 would close descriptors under the other threads.  So
 * other threads, counted in /proc/self/task, make dctx_open() fail with
 * DCTX_ETHREADS and "N threads in the process", in the foreground too.
 * Start threads after dctx_open() (dctx_thread_create()).  Where /proc is
 * not mounted the threads cannot be counted, and the check is skipped: the
 * rule still holds.
 *
 * The reopen rule: a context opens once.  dctx_open() after dctx_close()
 * fails with DCTX_ECLOSED ("dctx_open after dctx_close"): the process is a
 * daemon already, and its shutdown chain has run.  A failed dctx_open() may
 * be retried, with the same or other settings.
 *
 * @param ctx the context
 * @return 0 in the daemon, or a negative code with dctx_errmsg() set
 */
DCTX_EXPORT int dctx_open(struct dctx *ctx);

/**
 * is_open: whether dctx_open() succeeded and dctx_close() has not run.
 *
 * @param ctx the context
 * @return 1 or 0
 */
DCTX_EXPORT int dctx_is_open(const struct dctx *ctx);

/**
 * The event base dctx_open() created, after the descriptors were closed (a
 * base made before would lose its own descriptors to that step).
 *
 * @param ctx the context
 * @return the base, or NULL before dctx_open()
 */
DCTX_EXPORT struct event_base *dctx_base(struct dctx *ctx);

/**
 * Socket activation: how many descriptors a service manager passed
 * (systemd's sd_listen_fds(3) convention; systemd's .socket units,
 * systemd-socket-activate, or an old self handing over its sockets).
 * The program serves on them instead of binding its own: systemd holds
 * the listening socket while the daemon is not running, so that the
 * first client starts it, and no connection is refused while it starts
 * or restarts.
 *
 * The rules, for this call and dctx_listen_fd(), dctx_listen_fd_name()
 * and dctx_listen_fd_named():
 *  - $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES are read once per
 *    context, at the first of these four calls, dctx_prepare() and
 *    dctx_open() (step 1, before any fork), and the result is kept:
 *    later calls, a retried dctx_open() and the daemon after the fork
 *    see the same descriptors.
 *  - They are meant for this process only when $LISTEN_PID is its pid
 *    at that moment.  Without $LISTEN_PID, or with the pid of another
 *    process (variables an ancestor left behind), none are passed (0),
 *    whatever the other two say; without $LISTEN_FDS, none either.
 *  - The three variables are then removed from the environment, in every
 *    case (ours, another's, or refused), as sd_listen_fds(1) does: a
 *    program the daemon runs must not see them, and a stale $LISTEN_PID
 *    could name a later process when pids are reused.  A second context
 *    made later in the same process therefore finds none.
 *  - The passed descriptors are 3 to 3 + N - 1, and are marked
 *    close-on-exec (as sd_listen_fds() does).  dctx_open() keeps them
 *    open, at their numbers, through its close step (step 6), as if each
 *    were given to dctx_preserve_fd(), and never takes them for stdio.
 *    They are left as they came: a socket systemd passes is blocking, so
 *    a program on libevent's evconnlistener makes it non-blocking
 *    (evutil_make_socket_nonblocking()).  They belong to the program:
 *    dctx_close() and dctx_free() do not close them, and a program may
 *    close the ones it does not serve.
 *  - Values a service manager would never write are refused rather than
 *    guessed at: $LISTEN_PID or $LISTEN_FDS that is not a plain decimal
 *    number (digits only) or out of range, a passed descriptor that is not
 *    open, or $LISTEN_FDNAMES without exactly one name per descriptor, or
 *    with a name that systemd's FileDescriptorName= would refuse (empty,
 *    longer than 255 bytes, not printable ASCII).  The refusal is a
 *    failure of every call that meets it, dctx_prepare() and dctx_open()
 *    included (reported as any failure of step 1: to the caller and to
 *    systemd), with a message naming the variable and the reason, such as
 *    "LISTEN_FDS=abc: not a decimal number", "LISTEN_FDS=2: fd 4: not
 *    open" or "LISTEN_FDNAMES: 1 name for LISTEN_FDS=2: one name per
 *    descriptor is needed".  A $LISTEN_PID of another process is never
 *    refused: it is simply not for us.
 *
 * @param ctx the context
 * @return the number of passed descriptors (0 when none), or -EINVAL
 *         (-EBADF for a descriptor that is not open) with dctx_errmsg()
 *         set when the variables are refused
 */
DCTX_EXPORT int dctx_listen_fds(struct dctx *ctx);

/**
 * The index-th descriptor passed by socket activation (see
 * dctx_listen_fds() for the rules).
 *
 * @param ctx the context
 * @param index from 0 to dctx_listen_fds() - 1
 * @return the descriptor, 3 + index; -ENOENT when index is out of range
 *         (none passed, negative, or not below the count); or the code
 *         of a refusal of the variables (dctx_listen_fds())
 */
DCTX_EXPORT int dctx_listen_fd(struct dctx *ctx, int index);

/**
 * The name of the index-th descriptor passed by socket activation, from
 * $LISTEN_FDNAMES (systemd's FileDescriptorName=, or the socket unit's
 * name by default; systemd-socket-activate's --fdname=).  When the
 * variable is not set every descriptor is "unknown", as
 * sd_listen_fds_with_names(3) says.
 *
 * @param ctx the context
 * @param index from 0 to dctx_listen_fds() - 1
 * @return the name, valid until dctx_free(); NULL when index is out of
 *         range or the variables were refused (dctx_errmsg() says which)
 */
DCTX_EXPORT const char *dctx_listen_fd_name(struct dctx *ctx, int index);

/**
 * The first descriptor passed by socket activation under a name: a
 * program whose unit passes several sockets (Sockets=, or several
 * ListenStream= with FileDescriptorName=) tells them apart by name, not
 * by an order it would have to keep in step with the unit file.
 *
 * @param ctx the context
 * @param name the name to look for
 * @return the descriptor; -ENOENT when no passed descriptor has that
 *         name; -EINVAL for a NULL name; or the code of a refusal of the
 *         variables (dctx_listen_fds())
 */
DCTX_EXPORT int dctx_listen_fd_named(struct dctx *ctx, const char *name);

/**
 * Tell the launcher, systemd and s6 that the daemon is ready, with
 * dctx_set_manual_ready() (see dctx_open(), step 10).  The launcher exits
 * 0.  A second call tells systemd again and nobody else.  Until then the
 * launcher's start timeout runs (dctx_set_start_timeout()).
 *
 * @param ctx the context
 * @return 0, or -errno when the report could not be written
 */
DCTX_EXPORT int dctx_notify_ready(struct dctx *ctx);

/**
 * Report that the daemon failed to come up, with dctx_set_manual_ready().
 * The daemon is failing, so the pidfile is released first (removed); then
 * the failure is told as a failed dctx_open() tells it: the launcher, if
 * one waits, prints "PROGRAM: msg" and exits with status; systemd, when
 * $NOTIFY_SOCKET was set, gets "STATUS=msg" and "ERRNO=5" (EIO: msg says
 * what failed, the call names no errno), in the foreground too.  Nothing
 * is written to stderr: a foreground daemon logs msg itself.  The daemon
 * carries on; it should close and exit.  In a process forked from the
 * daemon this does nothing and returns 0.
 *
 * A msg of 512 bytes or more is shortened in the middle to 511, for the
 * launcher and for STATUS= alike: its head and its tail stay, with "..."
 * between, and the tail keeps at least what follows the last ": " (the
 * reason, as in "listen on NAME: Address already in use") when that
 * takes less than three quarters of the room.
 *
 * @param ctx the context
 * @param status the launcher's exit status, 1 to 255
 * @param msg what failed
 * @return 0, -EINVAL, -EALREADY when the context is not open or readiness
 *         or a failure was reported already, or -errno from the launcher
 *         pipe
 */
DCTX_EXPORT int dctx_notify_failure(struct dctx *ctx, int status, const char *msg);

/**
 * Give a descriptor to systemd's file descriptor store: "FDSTORE=1" and
 * "FDNAME=name", with the descriptor attached (SCM_RIGHTS), on the
 * socket $NOTIFY_SOCKET named at dctx_open().  systemd keeps its copy
 * open while the service restarts, and passes it to the next process as
 * a socket-activated descriptor named name (dctx_listen_fd_named()).
 * Meant for a listening socket the daemon bound itself: through a
 * restart it stays open and keeps queueing connections, so none is
 * refused while the old process drains and the new one starts.  The
 * caller's descriptor stays open and its own.
 *
 * What systemd does with it is not answered, so this call cannot tell:
 *  - The unit must give the store room: FileDescriptorStoreMax= above 0
 *    (the default is 0: systemd closes the descriptor).
 *  - systemd takes it from the main process only (NotifyAccess=main, the
 *    default of Type=notify); others' are closed.
 *  - A descriptor already stored (the same open file, as one received
 *    back through socket activation) is not stored twice: a daemon may
 *    store its socket at every start.
 *  - The new process of an upgrade (dctx_upgrade()) is not the main
 *    process until it is ready and the old one handed over: a copy of
 *    the descriptor is held and sent then (1 is returned now); if the
 *    upgrade fails, it is closed with the new process.
 *  - The store lives as long as the unit is neither stopped nor failed
 *    for good: it is kept through "systemctl restart" (a job is pending
 *    while the unit is down) and through an automatic restart
 *    (Restart=), and emptied by "systemctl stop" or a failure with no
 *    restart to come (systemd 252, Debian 12, as tested in tests/sdbox;
 *    systemd 254's FileDescriptorStorePreserve=yes keeps it past a stop).
 *    So a daemon that binds another address after a restart must first
 *    take the old socket out (dctx_fdstore_remove()), or be stopped and
 *    started.
 *
 * @param ctx an open context
 * @param fd the descriptor
 * @param name 1 to 255 bytes of printable ASCII but ':' (systemd's rule
 *        for names in $LISTEN_FDNAMES)
 * @return 1 when the descriptor was sent; 0 when nobody listens: no
 *         reachable $NOTIFY_SOCKET at dctx_open(), or a process forked
 *         from the daemon; -EINVAL when the context is not open or for a
 *         bad name, -EBADF when fd is not open, or -errno from sendmsg()
 */
DCTX_EXPORT int dctx_fdstore(struct dctx *ctx, int fd, const char *name);

/**
 * Take the descriptors stored under name out of systemd's file
 * descriptor store ("FDSTOREREMOVE=1" and "FDNAME=name", see
 * dctx_fdstore()): systemd closes its copies, and the next process of the
 * service does not get them.
 *
 * @param ctx an open context
 * @param name the name they were stored under
 * @return 1 when the request was sent, 0 when nobody listens (as for
 *         dctx_fdstore()), -EINVAL when the context is not open or for a
 *         bad name, or -errno from send()
 */
DCTX_EXPORT int dctx_fdstore_remove(struct dctx *ctx, const char *name);

/**
 * Add a step to the graceful shutdown chain.  On dctx_terminate() the steps
 * run one after the other in the reverse order of registration (the last
 * thing set up is the first torn down), each starting when the one before
 * it is done; when all are done the loop exits (event_base_loopexit()).
 *
 * @param ctx the context
 * @param cb the step
 * @param arg passed to cb
 * @return 0, -EINVAL for a NULL cb, -EALREADY once the chain has started,
 *         -ENOMEM
 */
DCTX_EXPORT int dctx_on_shutdown(struct dctx *ctx, dctx_shutdown_cb cb, void *arg);

/**
 * Say that a step's work is finished; the next step starts.  Calling it
 * inside the step's own callback is fine.  A second call, or a call after
 * the step was told it is late, does nothing.
 *
 * @param step the handle the step's callback received
 */
DCTX_EXPORT void dctx_shutdown_done(struct dctx_shutdown *step);

/**
 * Bound the shutdown chain.  When the deadline passes, every step not yet
 * done is called with late 1, the loop breaks at once and the exit status
 * is DCTX_EXIT_TIMEOUT.
 *
 * @param ctx the context
 * @param ms milliseconds from dctx_terminate(); 0 for no deadline; the
 *        default is 30000
 * @return 0, or -EINVAL for a negative value
 */
DCTX_EXPORT int dctx_set_shutdown_timeout(struct dctx *ctx, int ms);

/**
 * terminate: start the graceful shutdown chain (dctx_on_shutdown()); a
 * signal mapped with dctx_terminate_on_signal() (SIGTERM by default) does
 * this.  The message "terminating on signal N (name)" is logged with
 * dctx_log() at LOG_INFO (stderr, the journal or syslog).  Once the chain
 * runs, further terminate signals within 100 ms count as the same
 * request (a burst of kills, or one to the process and one to its group;
 * the window opens once the steps that finish at once have run); a later
 * one, or a SIGINT, forces the stop
 * as the deadline would, with DCTX_EXIT_FORCED.  A SIGINT nobody mapped
 * is caught and dropped once the chain has ended, like the mapped signals
 * after dctx_close().  When the loop returns, main calls dctx_close() and
 * exits with dctx_exit_status().
 *
 * @param ctx the context
 * @param signo the signal that asked for it, or 0
 * @return 0, or -EINVAL when the context is not open
 */
DCTX_EXPORT int dctx_terminate(struct dctx *ctx, int signo);

/**
 * The exit status the daemon should end with: DCTX_EXIT_CLEAN (0),
 * DCTX_EXIT_TIMEOUT or DCTX_EXIT_FORCED.
 *
 * @param ctx the context
 * @return an exit status
 */
DCTX_EXPORT int dctx_exit_status(const struct dctx *ctx);

/**
 * Add a step to the reload chain.  A reload (dctx_reload(), SIGHUP by
 * default) first reopens the stdout and stderr files given by path
 * (dctx_set_stdout_path()), then runs the steps one after the other in
 * the order of registration (a reload redoes the set-up, in the order it
 * was done; the shutdown chain undoes it, in reverse), each starting when
 * the one before it called dctx_reload_done().  Steps may be added at any
 * time, before dctx_open() or after, even while a reload runs: a step
 * added then runs in that reload when its turn comes.
 *
 * @param ctx the context
 * @param cb the step
 * @param arg passed to cb
 * @return 0, -EINVAL for a NULL cb, -ENOMEM
 */
DCTX_EXPORT int dctx_on_reload(struct dctx *ctx, dctx_reload_cb cb, void *arg);

/**
 * Say that a reload step's work is finished; the next step starts, and
 * after the last the reload ends (see dctx_reload()).  Calling it inside
 * the step's own callback is fine.  Call it once per call of the step: a
 * second call, or one for a step that is not running, does nothing.
 * Once the shutdown chain has started, it does nothing either.
 *
 * @param step the handle the step's callback received
 */
DCTX_EXPORT void dctx_reload_done(struct dctx_reload *step);

/**
 * Reload: run the reload chain in the loop, as a signal mapped with
 * dctx_reload_on_signal() (SIGHUP by default) does.  A reload is told to
 * systemd (when $NOTIFY_SOCKET was set): one datagram
 * "RELOADING=1
MONOTONIC_USEC=N" when it starts, N being CLOCK_MONOTONIC
 * in microseconds at that moment, then the library's own step (the
 * stdout and stderr files given by path reopened), then the steps of
 * dctx_on_reload(), and "READY=1" once the last one is done, however long
 * that takes.  With the unit file of examples/systemd/echod.service,
 * `systemctl reload` returns only then.
 *
 * The rules:
 *  - A reload requested while one runs (a second SIGHUP: logrotate's
 *    postrotate right after `systemctl reload`) is not ignored, since the
 *    running one may have reopened its files or read its configuration
 *    before the change that prompted the new request: one more reload runs
 *    after the current one, with its own RELOADING=1 and READY=1, however
 *    many requests came meanwhile.
 *  - A reload requested once the shutdown chain has started
 *    (dctx_terminate()) is ignored, and -ECANCELED returned; a reload that
 *    runs when the shutdown starts is abandoned: the step running may
 *    finish, no other starts, and no READY=1 follows the STOPPING=1.
 *  - A reload requested before the daemon reported ready (a SIGHUP held
 *    during the start, then served by the loop before a manual
 *    dctx_notify_ready()) runs its steps without telling systemd: a
 *    READY=1 at its end would pass for the end of the start.  So does
 *    one requested after dctx_notify_failure(), while the failing
 *    daemon's loop still runs.
 *  - A program that maps SIGHUP itself (dctx_set_signal()) replaces the
 *    reload: its callback runs, and no reload unless it calls this.
 *
 * @param ctx the context
 * @return 0 (the reload started, or will run after the current one),
 *         -EINVAL when the context is not open, -ECANCELED once the
 *         shutdown chain has started
 */
DCTX_EXPORT int dctx_reload(struct dctx *ctx);

/**
 * Make the event base safe for worker threads: libevent's pthreads locking
 * (evthread_use_pthreads()) is turned on before dctx_open() creates the
 * base.  Needed by dctx_thread_create().
 *
 * @param ctx the context
 * @param on true or false
 * @return 0, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_threads(struct dctx *ctx, int on);

/**
 * Start a worker thread with every signal blocked but the ones a fault
 * raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT), so that
 * signals reach the daemon only through its loop.
 *
 * @param ctx an open context with dctx_set_threads()
 * @param out receives the thread; untouched on failure
 * @param start the thread's function
 * @param arg passed to start
 * @return 0, -EINVAL without dctx_set_threads() or before dctx_open(),
 *         -ENOMEM, or -errno from pthread_create()
 */
DCTX_EXPORT int dctx_thread_create(struct dctx *ctx, struct dctx_thread **out,
    void *(*start)(void *), void *arg);

/**
 * Join a worker thread without blocking the loop: when its function
 * returns, the loop joins it, frees t and calls dctx_shutdown_done(step).
 * Telling the thread to stop is the caller's part.
 *
 * @param t the thread
 * @param step the shutdown step to finish when the thread is joined, or NULL
 * @return 0, or -EALREADY when a join was already asked for
 */
DCTX_EXPORT int dctx_thread_join(struct dctx_thread *t, struct dctx_shutdown *step);

/**
 * Join a worker thread now, blocking: for a shutdown step told it is late,
 * once the thread has been told to stop and will return promptly.  Frees t.
 * It may follow dctx_thread_join() that has not completed yet (the step
 * that asked for it being late).
 *
 * @param t the thread
 * @return 0, or -errno from pthread_join()
 */
DCTX_EXPORT int dctx_thread_join_now(struct dctx_thread *t);

/**
 * close: release the pidfile (in the process that acquired it only: a
 * forked child never removes its parent's pidfile); then, if the daemon
 * never reported ready nor failed (dctx_set_manual_ready()), report the
 * failure as dctx_notify_failure() does, with status 1 and dctx_errmsg()
 * or "the daemon closed before it was ready"; then remove the signal
 * events, the shutdown timer and the watchdog timer, and mark the context
 * closed.  Calling it again is a no-op.  Worker threads not joined yet are
 * detached.  A closed
 * context cannot be opened again (see dctx_open()); dctx_free() it.
 *
 * The pidfile goes first, and every signal that was mapped (terminate,
 * callback or ignore) is then caught by a handler that does nothing, until
 * the process exits: a SIGTERM sent again and again until the daemon is
 * gone (start-stop-daemon --retry) never kills it on its way out, with its
 * pidfile left; nor does a SIGTSTP stop it or a SIGPIPE end it.  A program
 * it execs still starts with their defaults, since exec resets caught
 * signals.  A forked child that closes its copy of the context gets the
 * defaults back at once: it may live on.
 *
 * @param ctx the context
 * @return 0, or -errno from removing the pidfile
 */
DCTX_EXPORT int dctx_close(struct dctx *ctx);

/**
 * What failed last, in words, naming the input: for example
 * "chdir(/srv/missing): No such file or directory".  Every call that takes
 * a context (struct dctx) and fails sets it, whatever the failure (a
 * refused value, memory short, a system call), so a caller may check a
 * series of calls and print this once.  A successful call leaves it as it
 * was, except dctx_open(), which empties it first.  The message has room
 * for 511 bytes; a longer input loses its middle to "..." (its head and
 * its tail stay), and the reason after the last ": " is always whole.
 *
 * @param ctx the context
 * @return a message; "" when nothing failed
 */
DCTX_EXPORT const char *dctx_errmsg(const struct dctx *ctx);

/**
 * What an error code means.
 *
 * @param code a negative code returned by this library
 * @return a static string
 */
DCTX_EXPORT const char *dctx_strerror(int code);

/**
 * PidFile.acquire: create path (mode 0644 whatever the umask, never through
 * a symbolic link), take an exclusive lock on it, then write the pid.  The
 * lock lives as long as the descriptor, which is kept, and survives fork; a
 * file left by a dead daemon carries no lock and is taken over, emptied at
 * once and keeping its mode.  A file found at the path is taken over only
 * if it is a regular file with one link (a hard link to another file would
 * have that file overwritten), owned by the effective user and writable by
 * nobody else (mode & 022 clear: another user, or a group, could rewrite
 * the pid that tools signal); otherwise it is refused and left exactly as
 * it was, and the message says why ("pidfile PATH: writable by group or
 * others (mode 0666)").  It is judged by lstat() before it is opened, so
 * that what is not a regular file ("not a regular file": a FIFO, or a
 * device given by mistake, such as a watchdog whose opening has effects)
 * is never opened; what is then opened must be the very inode judged.
 *
 * A process forked from the holder shares the lock, since flock() belongs
 * to the open file description: it keeps the pidfile locked as long as it
 * lives, even after the holder died.  That is what dctx_pidfile_write()
 * builds on, and how the daemon of dctx_open() keeps the lock its
 * launcher took; so the library does not drop the lock in children on its
 * own (that would take closing the descriptor in every child, these
 * included).  A child that is not to be the daemon should let it go:
 * exec does (the descriptor is O_CLOEXEC); one that does not exec calls
 * dctx_pidfile_close() (on the pidfile of this API) or dctx_close() (on
 * its copy of a daemon context), which close without removing the file.
 * One that keeps it holds the lock under a dead pid once the daemon is
 * gone: a new start is refused with "already running (locked, no live
 * pid in it)", and dctx_pidfile_holder() reports no pid.
 *
 * The lock is taken without waiting for a daemon that holds it (a few
 * tries over 20 ms), but a status check's shared lock (dctx_pidfile_holder(),
 * dctx_pidfile_status()) is waited out: when the exclusive lock is
 * refused, a shared lock granted tells that no daemon holds it, and the
 * exclusive one is tried again, for up to a second.  A probe never makes
 * a start say "already running".
 *
 * @param out receives the pidfile; untouched on failure
 * @param path the file's path
 * @return 0, DCTX_ERUNNING when another process holds the lock (see
 *         dctx_pidfile_holder(); the message of dctx_open() says "already
 *         running (pid N)", or "already running (locked, no live pid in
 *         it)" where no live pid is written), -EAGAIN when only
 *         shared locks (status checks, see dctx_pidfile_status()) held it
 *         for over a second, -EINVAL for NULL or "", -ENAMETOOLONG
 *         for a path longer than PATH_MAX - 1 (see dctx_set_pidfile()),
 *         -ELOOP for a symbolic link, -EISDIR or
 *         -EINVAL for something that is not a regular file, -EMLINK for a
 *         file with more than one hard link, -EPERM for a file owned by
 *         another user or writable by its group or others, -errno
 *         otherwise
 */
DCTX_EXPORT int dctx_pidfile_acquire(struct dctx_pidfile **out, const char *path);

/**
 * PidFile.release: remove the file and free pf.  Only the process that
 * acquired it (or last called dctx_pidfile_write()) removes the file; in
 * another (a forked child) this only closes.  Where the directory is not
 * writable any more (a daemon that dropped privileges, see
 * dctx_set_pidfile()), the file is emptied instead, and stays.
 *
 * @param pf the pidfile; NULL is a no-op
 * @return 0 or -errno
 */
DCTX_EXPORT int dctx_pidfile_release(struct dctx_pidfile *pf);

/**
 * Write the calling process's pid into the pidfile again, as FreeBSD's
 * pidfile_write() does, and make the caller its owner: the one whose
 * dctx_pidfile_release() removes it.  For a program that acquires the
 * pidfile, then forks and lets the parent exit: the lock is shared with
 * the child (flock() belongs to the open file description), but the file
 * still names the parent, a dead pid, until the child calls this.  The
 * parent should leave with dctx_pidfile_close(), which leaves the file.
 * The caller is the owner from then on even if the write fails (it holds
 * the lock, and what the file says is its to mend or remove).
 *
 * @param pf the pidfile
 * @return 0, -EINVAL for NULL, or -errno from the write
 */
DCTX_EXPORT int dctx_pidfile_write(struct dctx_pidfile *pf);

/**
 * Close the pidfile and free pf without removing the file, as FreeBSD's
 * pidfile_close(): the file keeps what it says.  The lock goes with the
 * last descriptor of its open file description: a process forked from the
 * caller that still has it (and calls dctx_pidfile_write()) keeps holding
 * it; otherwise the lock is released and the file left is stale, which
 * the next dctx_pidfile_acquire() takes over.
 *
 * @param pf the pidfile; NULL is a no-op
 * @return 0, or -errno from close()
 */
DCTX_EXPORT int dctx_pidfile_close(struct dctx_pidfile *pf);

/**
 * Who holds the lock on a pidfile: the way a "status" or "stop" command
 * finds a running daemon.  The pid comes apart from the error, so that a
 * caller who signals *pid never signals an error code (kill(-1, ...) is
 * every process).  A pid is read only if the file holds a decimal number
 * below the kernel's pid_max, ended by a newline or the end of the file,
 * within its first 32 bytes; anything else (a number padded with zeros
 * beyond them too) counts as no pid.
 *
 * The pid must also name a live process (kill(pid, 0) does not fail with
 * ESRCH, and it is no zombie): a process the daemon forked shares its
 * lock (see dctx_pidfile_acquire()) and may hold it after the daemon died,
 * under the dead daemon's pid, which is not reported.
 *
 * @param path the pidfile's path
 * @param pid receives the holder's pid, or 0; never negative
 * @return 0 with *pid the holder, or with *pid 0 when nobody holds the
 *         lock or there is no file; DCTX_ERUNNING (*pid 0) when the lock
 *         is held but no valid pid is written yet, or the pid written
 *         names no live process; -errno (*pid 0) when the
 *         file cannot be opened (-ELOOP for a symbolic link), -EINVAL when
 *         path or pid is NULL
 */
DCTX_EXPORT int dctx_pidfile_holder(const char *path, pid_t *pid);

/**
 * The LSB status of the daemon behind a pidfile, as an init script's
 * "status" action exits with it (LSB 3.1 Core, "Init Script Actions").
 * dctx_pidfile_status() returns one of the first three, or a negative
 * code where it cannot tell, which a caller exits with as
 * DCTX_PIDFILE_UNKNOWN.  LSB's 2 ("dead and a lock file left") has no
 * place here: the pidfile is the lock.
 */
enum dctx_pidfile_state {
	DCTX_PIDFILE_RUNNING = 0,     /**< the pidfile is locked: a daemon runs */
	DCTX_PIDFILE_DEAD = 1,        /**< a pidfile naming a pid is left, and nobody holds its lock */
	DCTX_PIDFILE_NOT_RUNNING = 3, /**< no pidfile, or an empty one nobody holds */
	DCTX_PIDFILE_UNKNOWN = 4      /**< what a negative code means to an init script: cannot tell */
};

/** What dctx_pidfile_stop() did. */
enum dctx_stop_result {
	DCTX_STOP_NOT_RUNNING = 0, /**< no daemon (no pidfile, or an empty one): nothing signaled */
	DCTX_STOP_STALE = 1,       /**< a pidfile nobody holds was left: nothing signaled, file kept */
	DCTX_STOP_TERMINATED = 2,  /**< the daemon released the lock after SIGTERM, within the timeout */
	DCTX_STOP_KILLED = 3       /**< it did not, and released it after SIGKILL */
};

/**
 * Whether a daemon runs, from its pidfile's lock: the "status" of an init
 * script or of a command line such as `echod --status`.  Nothing is
 * created, changed or signaled; the file is opened read-only, and only if
 * lstat() finds a regular file there (never through a symbolic link).
 *
 * The lock decides, never kill(pid, 0), which a reused pid fools: a file
 * nobody holds is a dead daemon's whatever process its pid names now.
 * The lock is probed with a shared flock() that is dropped at once (see
 * src/control.c for why not /proc/locks, which hides the lock of a
 * libdctx daemon in any pid namespace but the first); a daemon starting
 * at that moment waits the probe out and never takes it for a running
 * daemon (dctx_pidfile_acquire()).
 *
 * The pid reported is read from the locked file (a holder that has locked
 * but not written yet is waited for, half a second at most) and must name
 * a live process that holds the lock itself: one of its descriptors is
 * the pidfile, with the flock() on it (/proc/PID/fd and fdinfo).  Where
 * /proc is not mounted, a live pid is enough.  Where /proc hides that
 * process's descriptors from the caller (another user's process, one
 * that is not dumpable, as a daemon is once it changed its ids, seen
 * without CAP_SYS_PTRACE, or one a sandbox protects even from root), it
 * is not taken: *pid is 0, and dctx_pidfile_kill() and
 * dctx_pidfile_stop() refuse with -EPERM.  That is what a host sees of a
 * daemon running in a container (another pid namespace) whose pidfile
 * it shares: the pid in the file is the container's (1, for its pid 1),
 * and names another process here; a daemon is controlled from its own
 * pid namespace.  A lock held by
 * a process the dead daemon forked (see dctx_pidfile_acquire()), whose
 * file names the dead daemon or, by now, an unrelated process, is
 * DCTX_PIDFILE_RUNNING with *pid 0: a start would be refused, and there
 * is nobody to signal.
 *
 * @param path the pidfile's path
 * @param pid receives the daemon's pid with DCTX_PIDFILE_RUNNING (0 when
 *        no live holder is named), 0 otherwise; may be NULL
 * @return DCTX_PIDFILE_RUNNING (the file is locked),
 *         DCTX_PIDFILE_DEAD (an unlocked file holding a pid),
 *         DCTX_PIDFILE_NOT_RUNNING (no file, or an unlocked empty one:
 *         what a daemon that could not remove its pidfile leaves at a
 *         clean stop, see dctx_set_pidfile()); or a negative code, which
 *         an init script reports as DCTX_PIDFILE_UNKNOWN: -EINVAL for a
 *         NULL or empty path or a file that is not a regular file, -EISDIR,
 *         -ELOOP for a symbolic link, -errno from lstat(), open() or
 *         flock() (-EACCES, -ENOTDIR, ...)
 */
DCTX_EXPORT int dctx_pidfile_status(const char *path, pid_t *pid);

/**
 * Send a signal to the daemon behind a pidfile, only if it holds the
 * lock: the pid is the one dctx_pidfile_status() reports, read from the
 * locked file, never from a file nobody holds.  It goes through a pidfd
 * (pidfd_open(), pidfd_send_signal(): Linux 5.3), opened before the
 * holder is checked a second time, so that a daemon that dies meanwhile
 * and whose pid is reused is never confused with the new process.  On a
 * kernel without pidfds (ENOSYS), kill() follows the second check, and
 * only a pid reused within the microseconds between them would be hit.
 *
 * @param path the pidfile's path
 * @param signo the signal, 0 to 64 (0 checks that it could be sent)
 * @param pid receives the pid signaled, or 0; may be NULL
 * @return 0 when the signal was sent; DCTX_PIDFILE_DEAD or
 *         DCTX_PIDFILE_NOT_RUNNING (both above 0) when nobody holds the
 *         lock, and nothing was sent; -ESRCH when the lock is held but no live holder is
 *         named; -EINVAL for a bad signal or path; -EPERM when the daemon
 *         may not be signaled by the caller, or when the pid in the file
 *         hides its descriptors from the caller, so that its holding the
 *         lock cannot be checked (see dctx_pidfile_status()); -errno as
 *         for dctx_pidfile_status()
 */
DCTX_EXPORT int dctx_pidfile_kill(const char *path, int signo, pid_t *pid);

/**
 * Stop the daemon behind a pidfile, escalating: SIGTERM, then up to
 * timeout_ms for the lock to be released (the lock, not the pid: the
 * daemon is stopped when a new one may start), then SIGKILL and up to 5 s
 * more for the lock.  The daemon is found, and signaled, as by
 * dctx_pidfile_kill(): a pidfile nobody holds names nobody to signal,
 * whatever process its pid names now.  No SIGCONT follows the SIGTERM: a
 * stopped (SIGSTOP) daemon is taken for a hung one and killed when the
 * time is up, as start-stop-daemon --retry does.  The call returns as
 * soon as the lock is released (it watches the pidfd, so a daemon that
 * exits wakes it at once).
 *
 * A daemon stopped by SIGTERM removes its pidfile itself.  One that had
 * to be killed cannot: its file stays, unlocked, dctx_pidfile_status()
 * then says DCTX_PIDFILE_DEAD, and the next start takes the file over.
 * Nothing here removes it: taking the lock to remove it safely would be
 * a moment in which a starting daemon is refused.
 *
 * @param path the pidfile's path
 * @param timeout_ms how long SIGTERM is given, in ms (0: SIGKILL at once
 *        unless the lock is already gone)
 * @param pid receives the daemon's pid once it is found, also when the
 *        stop then fails, else 0; may be NULL
 * @return DCTX_STOP_TERMINATED, DCTX_STOP_KILLED, DCTX_STOP_NOT_RUNNING
 *         or DCTX_STOP_STALE (nothing signaled, in both); -ETIMEDOUT when
 *         the lock was still held 5 s after SIGKILL (a process the daemon
 *         forked keeps it, or the daemon is stuck in the kernel);
 *         -ESRCH when the lock is held but no live holder is named;
 *         -EINVAL for a negative timeout or a bad path; -EPERM as for
 *         dctx_pidfile_kill(), nothing signaled when the holder could
 *         not be checked; -errno as for dctx_pidfile_status()
 */
DCTX_EXPORT int dctx_pidfile_stop(const char *path, int timeout_ms, pid_t *pid);

/**
 * Checks the format of a printf-like call of the library (GCC and clang):
 * the format is argument fmt, the values start at argument args (0 for a
 * va_list).  Empty for other compilers.
 */
#if defined(__GNUC__)
#define DCTX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DCTX_PRINTF(fmt, args)
#endif

/**
 * Log a message where the daemon's messages are read, with a syslog(3)
 * priority.  The destination is chosen for each message:
 *  - syslog, when the context is open (from dctx_open()'s step 5 on) and
 *    the program gave it no stderr file (neither dctx_set_stderr() nor
 *    dctx_set_stderr_path(), so that fd 2 is /dev/null), detached or not: one datagram per line to
 *    /dev/log, as syslog(3) sends it ("<PRI>Mmm dd hh:mm:ss NAME[PID]:
 *    text"), with the facility of dctx_set_log_facility() (LOG_DAEMON by
 *    default), NAME the program's name (program_invocation_short_name,
 *    as in the launcher's messages) and PID the caller's (a forked
 *    child's own; a child's lines carry no timestamp, the syslog daemon
 *    adds it: localtime_r() takes a lock of glibc's that a thread of the
 *    parent may have held at the fork).  The socket is the library's own,
 *    connected before the chroot and kept through the close step (the
 *    descriptors dctx_open() keeps), so a daemon in a jail still reaches
 *    /dev/log.  A syslog that
 *    cannot be reached then (none running yet) or later (restarted) is
 *    connected again at the next message, which works only outside a
 *    chroot, or inside one that has a /dev/log of its own; until it can
 *    be reached, messages are lost, as they would be on /dev/null;
 *  - the journal, when fd 2 is the stream systemd connected to it (the
 *    device and inode JOURNAL_STREAM names match fd 2's; the variable
 *    alone proves nothing, it is inherited): each line is written as
 *    "<N>text", sd-daemon(3)'s prefix, N the priority, so that
 *    `journalctl -p err` filters on it (journald adds the program's name);
 *  - otherwise stderr, each line as "NAME: text": before dctx_open(), in
 *    the launcher, after a failed dctx_open() (the caller's stderr is
 *    back), with a NULL ctx, and in a daemon with a stderr file.
 *
 * Lines: a message is split at its newlines, and each line is a record
 * of its own with the same priority and prefix; newlines at the end are
 * dropped, so "text\n" and "text" are the same line.  Length: nothing is
 * cut; a message longer than 1 KiB is formatted again in memory of its
 * own size (where memory is short, it is cut to 1 KiB, ending with
 * "...").  Only a syslog line over the socket's limit (about 200 KiB on
 * Linux) is sent cut to its first 4 KiB, ending with "...".
 *
 * Threads: it may be called from any thread, worker threads
 * (dctx_thread_create()) included, and in a forked child.  Each line is
 * written with one system call (writev() on fd 2, one datagram to
 * syslog), so the lines of messages logged at once never mix: on a
 * regular file opened with O_APPEND whatever their length, on a pipe or
 * a socket (the journal's stream) lines up to PIPE_BUF (4096) bytes.  The
 * lines of one multi-line message may have another thread's between
 * them.  No lock is taken.  It must not run in one thread while another
 * runs dctx_free() on the same context.
 * Writes block as write(2) does: a stuck journald or syslog holds the
 * caller, as with syslog(3).
 *
 * libevent's own messages come here too, from dctx_open() (step 5) until
 * dctx_free() or a failed dctx_open(): event_set_log_callback() is set,
 * and its severities become LOG_DEBUG, LOG_INFO, LOG_WARNING and LOG_ERR,
 * the text prefixed with "libevent: ".  Its debug messages, which it
 * makes only after event_enable_debug_logging(), pass only with
 * dctx_set_log_level(ctx, LOG_DEBUG).  Afterwards libevent's callback is
 * the default again (libevent cannot say which one was set before: a
 * program that wants its own sets it after dctx_open()).
 *
 * errno is left as it was, so that `dctx_log(ctx, LOG_ERR, "open %s: %m",
 * path)` works (glibc's %m).
 *
 * @param ctx the context, or NULL (stderr, at the default level)
 * @param prio LOG_EMERG to LOG_DEBUG, from <syslog.h>, without a facility
 * @param fmt a printf format
 * @return 0 when the message was written or dropped by the level (a
 *         failed write is not reported: there is nowhere to report it),
 *         -EINVAL for another priority or a NULL fmt, or -errno when the
 *         format cannot be expanded (with dctx_errmsg() set when ctx is
 *         not NULL)
 */
DCTX_EXPORT int dctx_log(struct dctx *ctx, int prio, const char *fmt, ...)
    DCTX_PRINTF(3, 4);

/**
 * dctx_log() with a va_list, for a program's own logging function.
 *
 * @param ctx the context, or NULL
 * @param prio LOG_EMERG to LOG_DEBUG
 * @param fmt a printf format
 * @param ap its arguments
 * @return as dctx_log()
 */
DCTX_EXPORT int dctx_vlog(struct dctx *ctx, int prio, const char *fmt,
    va_list ap) DCTX_PRINTF(3, 0);

/**
 * The least urgent priority dctx_log() writes; messages of a higher
 * number (less urgent) are dropped.  LOG_INFO by default, so LOG_DEBUG
 * messages, libevent's among them, pass only when asked for.  It may be
 * changed at any time, best before threads are started.  It does not
 * silence the launcher (dctx_open(), step 4), whose report of a failed
 * start is printed at any level: it is the operator's only word of it.
 *
 * @param ctx the context
 * @param prio LOG_EMERG to LOG_DEBUG
 * @return 0, or -EINVAL for another value
 */
DCTX_EXPORT int dctx_set_log_level(struct dctx *ctx, int prio);

/**
 * The syslog facility of dctx_log()'s messages when they go to syslog:
 * LOG_DAEMON by default.
 *
 * @param ctx the context
 * @param facility LOG_USER to LOG_LOCAL7 (LOG_KERN is the kernel's)
 * @return 0, or -EINVAL for another value
 */
DCTX_EXPORT int dctx_set_log_facility(struct dctx *ctx, int facility);

/**
 * A privileged hook (dctx_set_privileged_hook()).
 *
 * @param ctx the context being opened
 * @param arg the argument given to dctx_set_privileged_hook()
 * @return 0, or a negative code (-errno or a DCTX_E* code) to fail the
 *         start, with the message set by dctx_set_errmsg()
 */
typedef int (*dctx_privileged_cb)(struct dctx *ctx, void *arg);

/**
 * Run cb in the daemon while it still has its privileges: to open a key
 * file only root may read, or to bind a port below 1024 that the program
 * binds late, and keep them once the daemon runs as its user.
 *
 * Where: dctx_open()'s step 5, in the daemon process (after the fork, so
 * what it opens is the daemon's; in the foreground, in the caller), with
 * signals held (a SIGTERM sent meanwhile is served once the map is live),
 * RLIMIT_CORE already 0 unless dctx_set_prevent_core(ctx, 0) (a crash
 * with a key in memory leaves no core), and still before the chroot, the
 * umask, the working directory, the close step, the stdio step and the
 * privilege drop: it sees the whole file system from the caller's working
 * directory, as root if the program was started as root.  The syslog
 * socket (dctx_log()) is already connected.
 *
 * What it may do: open files and sockets, and keep those the daemon needs
 * with dctx_preserve_fd(ctx, fd) (the close step closes every other
 * descriptor above 2); log with dctx_log(); set the message of its
 * failure with dctx_set_errmsg().  What it must not do: start threads
 * (they would run under the close step and the drop), fork a child that
 * outlives it, call dctx_open(), dctx_close() or dctx_free(), or use
 * dctx_base() (the base is made at step 8).
 *
 * Its failure (a negative return) fails the start like any other step:
 * the pidfile is released, the launcher prints "PROGRAM: MESSAGE" and
 * exits 1 (in the foreground dctx_open() returns the code), and systemd,
 * under $NOTIFY_SOCKET, gets "STATUS=MESSAGE" and "ERRNO=". MESSAGE is
 * the one the hook set with dctx_set_errmsg() (or the one a failed call
 * of the library set), else "privileged hook: " and the code's words.  A
 * positive return is taken for a mistake: the start fails with -EINVAL.
 * What the hook opened is the program's to close after a failure in the
 * foreground (a detached daemon exits); the descriptors it preserved are
 * forgotten by then, so that a retried dctx_open() runs the hook afresh.
 *
 * @param ctx the context
 * @param cb the hook, or NULL for none (the default)
 * @param arg passed to cb
 * @return 0, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_privileged_hook(struct dctx *ctx,
    dctx_privileged_cb cb, void *arg);

/**
 * Set the message dctx_errmsg() returns, in the program's own words, and
 * return code: for a privileged hook that fails
 * (`return dctx_set_errmsg(ctx, -errno, "key %s: %s", path,
 * strerror(errno));`), whose message the launcher and systemd then
 * report, or before dctx_close() of a daemon that never became ready.
 * The message is taken whole, as formatted; one of 512 bytes or more is
 * shortened in the middle, as dctx_errmsg() says.  errno is left as it
 * was.
 *
 * @param ctx the context
 * @param code returned as it is
 * @param fmt a printf format
 * @return code
 */
DCTX_EXPORT int dctx_set_errmsg(struct dctx *ctx, int code, const char *fmt,
    ...) DCTX_PRINTF(3, 4);

/**
 * Tell the service manager what the daemon is doing, in one line of text:
 * systemd shows it as "Status:" in `systemctl status` and as the
 * StatusText property (`systemctl show -P StatusText UNIT`), until the
 * next one or the unit's next start.  It is "STATUS=" of sd_notify(3),
 * sent on the $NOTIFY_SOCKET connected at dctx_prepare() or dctx_open()
 * (see there), without libsystemd.  For example "listening on
 * 127.0.0.1:7777, 3 connections", or "draining 12 connections".
 *
 * The text is formatted as by printf.  A newline in it becomes a space:
 * each would begin another assignment of the protocol.  A text longer
 * than 1023 bytes is cut there, back to the start of a UTF-8 character;
 * the text should be UTF-8, since systemd ignores a status that is not.
 * An empty text ("%s", "") clears the status.
 *
 * Who speaks: after dctx_open() the daemon process, until dctx_close();
 * after dctx_prepare() and before dctx_open(), the process that prepared
 * (a status during a slow start).  Elsewhere nothing is sent and 0 is
 * returned: in a process forked from the daemon, after dctx_close(), and
 * wherever there is no service manager ($NOTIFY_SOCKET unset, or naming
 * a socket nobody listens on, as dctx_open() says), so a program calls it
 * without asking where it runs.  A call before dctx_prepare() or
 * dctx_open() while $NOTIFY_SOCKET is set fails with -ENOTCONN rather
 * than lose the text: the socket is not connected yet.  The new process
 * of an upgrade (dctx_upgrade()) is not systemd's main process until it
 * is ready and the old one handed over: its last text until then is
 * held, and sent at that moment.
 *
 * Each call is one datagram that systemd, pid 1, reads and stores: say
 * what changed when it changed, or at most a few times a second, not once
 * per request.
 *
 * @param ctx the context
 * @param fmt a printf format, not NULL
 * @return 0 (also when nobody listens), -EINVAL for a NULL fmt or one
 *         vsnprintf() refuses, -ENOTCONN (see above), or -errno from
 *         send()
 */
DCTX_EXPORT int dctx_status(struct dctx *ctx, const char *fmt, ...)
    DCTX_PRINTF(2, 3);

/**
 * Ask the service manager for more time: "EXTEND_TIMEOUT_USEC=" of
 * sd_notify(3) (systemd 236 and later).  systemd's timeout for the state
 * the service is in, its start (TimeoutStartSec=, until readiness), its
 * stop (TimeoutStopSec=, from `systemctl stop` or the chain's
 * "STOPPING=1") or its run (RuntimeMaxSec=), then falls no sooner than
 * usec from the moment systemd reads the datagram.  It only extends: a
 * timeout that falls later anyway stays, and the unit's own limit is
 * never shortened.  An extension runs out like any timeout: a task that
 * takes long sends it again before it does (every half of usec, say), as
 * long as it makes progress, so that a task that is stuck stops asking
 * and is still stopped.
 *
 * The unit is the microsecond, systemd's (and dctx_watchdog_usec()'s),
 * while the library's own timeouts are in ms: 60 s is 60000000.
 *
 * A slow start: call it before the work, from dctx_prepare() on or after
 * dctx_open() with dctx_set_manual_ready(), and again while the work
 * goes on; then dctx_notify_ready().  A detached daemon's launcher has a
 * start timeout of its own, which this does not change
 * (dctx_set_start_timeout()).
 *
 * A slow stop: systemd does not tell the daemon its TimeoutStopSec=
 * (90 s by default), and the library does not extend it on its own: the
 * operator's limit stands, and a shutdown deadline
 * (dctx_set_shutdown_timeout()) longer than it is cut short by systemd's
 * SIGKILL (Result=timeout).  A shutdown step whose drain may outlast the
 * manager's limit by design calls this when it starts, and again while
 * connections still close.
 *
 * Who speaks, and what is returned where nobody listens, as for
 * dctx_status().
 *
 * @param ctx the context
 * @param usec microseconds from now, more than 0 and less than
 *        UINT64_MAX (systemd's infinity, which it ignores)
 * @return 0 (also when nobody listens), -EINVAL for 0 or UINT64_MAX,
 *         -ENOTCONN (see dctx_status()), or -errno from send()
 */
DCTX_EXPORT int dctx_extend_timeout(struct dctx *ctx, uint64_t usec);

/**
 * systemd's watchdog (WatchdogSec=), served by the library: the interval
 * in microseconds while the daemon pings, 0 otherwise.
 *
 * When $WATCHDOG_USEC is set and $WATCHDOG_PID is unset or names the
 * process that calls dctx_open() (read there, before the detach: systemd
 * names the process it started, and a daemon that detaches pings under
 * its new pid, which a Type=forking unit takes for its main process),
 * and $NOTIFY_SOCKET can be reached, dctx_open() adds a timer to the
 * daemon's loop (dctx_base(), step 8) that sends "WATCHDOG=1" every half
 * interval.  The pings come from the loop on purpose: a loop that stops
 * turning (a callback blocked or spinning, a deadlock, SIGSTOP) stops
 * them, and systemd then kills the service (Result=watchdog) and
 * restarts it as Restart= says.  So no callback may take half the
 * interval; a worker thread's progress is the program's to watch, and
 * this tells it the interval.  A value that does not parse, or 0, means
 * no watchdog.  dctx_open() removes both variables from the environment
 * when it succeeds, whether they named us or not, so that programs the
 * daemon runs do not take them for theirs.
 *
 * The timer is an event like the program's: a loop that would end by
 * running out of events does not while it is there.  It goes when the
 * shutdown chain ends (systemd stopped watching at "STOPPING=1", and the
 * chain's end exits the loop anyway) and at dctx_close().  A process
 * forked from the daemon that runs the loop sends no pings.
 *
 * @param ctx the context
 * @return the interval in microseconds (WatchdogSec=1 is 1000000) while
 *         the library pings for this process; 0 when there is no
 *         watchdog, before dctx_open(), once the chain has ended or the
 *         context is closed, and in a forked child
 */
DCTX_EXPORT uint64_t dctx_watchdog_usec(const struct dctx *ctx);

/*
 * Zero-downtime upgrade.  The running daemon (the old one) starts a new
 * binary with its listening sockets and its pidfile, keeps serving until
 * the new one is ready, then hands over and drains; if the new one fails,
 * it stays the daemon.
 */

/**
 * Mark a descriptor to pass to the new process at an upgrade
 * (dctx_upgrade()), under a name: a listening socket the program bound
 * itself.  Socket-activated descriptors (dctx_listen_fds()) are marked
 * already, with their names, as long as they are open (and still the
 * files they were when passed: a number the program closed, and that
 * names another file since, is not passed on).  Before
 * dctx_open() this also preserves fd (dctx_preserve_fd()).  Marking a
 * descriptor again changes its name; a NULL name unmarks it, which a
 * program must do when it closes one (before, or after: a closed
 * descriptor is unmarked too), since the number may then be reused for
 * anything (a marked descriptor found closed at an upgrade fails it
 * with -EBADF).
 *
 * The new process receives, in systemd's socket-activation convention
 * (sd_listen_fds(3)), the socket-activated descriptors first, in their
 * order, then the marked ones in the order they were marked, at 3, 4,
 * ..., with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set: its ordinary
 * start-up finds them with dctx_listen_fds() and dctx_listen_fd_named(),
 * as it would under systemd.  They are the same sockets (the same open
 * file descriptions): connections waiting in their accept queues are
 * served by whichever process accepts them.
 *
 * @param ctx the context
 * @param fd an open descriptor above 2
 * @param name 1 to 255 printable ASCII characters without ':' (systemd's
 *        rule for FileDescriptorName=), or NULL to unmark
 * @return 0 (always, to unmark), -EBADF when fd is not open or is 0-2,
 *         -EINVAL for a bad name, -ENOMEM
 */
DCTX_EXPORT int dctx_upgrade_fd(struct dctx *ctx, int fd, const char *name);

/**
 * The binary an upgrade starts, and its arguments.  By default it is the
 * program's own executable by the path it was started as (the one the
 * kernel was given, AT_EXECFN, made absolute at dctx_prepare()), read
 * again from disk: a binary replaced at that path, by a package or
 * install(1), is the new version; a symbolic link there is followed
 * anew.  Where no path was noted (upgrades asked for only after
 * dctx_open(), see dctx_upgrade_on_signal()), it is /proc/self/exe's path.
 * The arguments are the program's own, as /proc/self/cmdline shows them
 * at the upgrade (a program that rewrites its argv gives them here).
 *
 * @param ctx the context
 * @param path an absolute path, or NULL for the program's own executable
 * @param argv the arguments, argv[0] first, NULL-terminated (copied), or
 *        NULL for the program's own
 * @return 0, -EINVAL for a relative path or an empty argv, -ENOMEM
 */
DCTX_EXPORT int dctx_set_upgrade_exec(struct dctx *ctx, const char *path,
    char *const argv[]);

/**
 * How long an upgrade waits for the new process to report ready.  When it
 * passes, the new process is stopped (SIGTERM, SIGKILL 5 s later) and the
 * upgrade fails: "the new process (pid N) was not ready within MS ms:
 * stopped it".
 *
 * @param ctx the context
 * @param ms milliseconds from the start of the new process; 0 waits for
 *        ever; the default is DCTX_UPGRADE_TIMEOUT_DEFAULT (30000)
 * @return 0, -EINVAL for a negative value, -ENOMEM
 */
DCTX_EXPORT int dctx_set_upgrade_timeout(struct dctx *ctx, int ms);

/**
 * Map signo to an upgrade (dctx_upgrade()), as nginx maps SIGUSR2: the
 * signal map's entry becomes a callback (dctx_set_signal()) that starts
 * one, and logs "upgrade on signal N (NAME) refused: REASON" (dctx_log())
 * when it cannot.  Call it before dctx_prepare(): the library then
 * notes the path the program was started as and its working directory
 * (see dctx_set_upgrade_exec() and dctx_upgrade()).  The new process of
 * an upgrade starts with signo ignored, until its own dctx_open() maps
 * it: the same signal sent to every process of the service (systemd's
 * `systemctl kill -s USR2` without --kill-whom=main) while it starts
 * does not kill it; the old daemon refuses it (one upgrade at a time).
 *
 * @param ctx the context
 * @param signo a signal that can be mapped (see dctx_set_signal())
 * @return 0, DCTX_ESIGNAL, or -ENOMEM
 */
DCTX_EXPORT int dctx_upgrade_on_signal(struct dctx *ctx, int signo);

/**
 * Upgrade: start the new binary (dctx_set_upgrade_exec()) and hand it the
 * daemon's place.  It returns once the new process runs; the rest happens
 * in the loop:
 *  - The new process starts in the working directory the program had at
 *    dctx_prepare() (relative paths among the arguments name the same
 *    files), with the program's environment, the marked descriptors
 *    (dctx_upgrade_fd()) as LISTEN_FDS, the pidfile's locked descriptor
 *    (DCTX_PIDFILE_FD), a report channel to the old daemon (a socket
 *    pair), stdin and stdout as the old daemon's, and as stderr a pipe
 *    to the old daemon, which
 *    copies what comes to its own stderr; nothing else (the old daemon's
 *    connections stay in the old daemon).  No signal is blocked; the
 *    upgrade signal (dctx_upgrade_on_signal()) and those the old daemon
 *    ignores (the default map's SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU) are
 *    ignored, the others at their default action, until its dctx_open()
 *    resets them; its umask and resource limits are the old daemon's.  Under systemd it gets
 *    NOTIFY_SOCKET too, and, when systemd's watchdog pinged the old one
 *    (WatchdogSec=), WATCHDOG_USEC with WATCHDOG_PID its own pid.  It
 *    runs with the old daemon's ids: one that dropped privileges starts
 *    its new version without them (its sockets come from the old one,
 *    but a privileged hook or a root-only file at its start fails).
 *  - Its dctx_prepare() or dctx_open() sees it was started by an upgrade:
 *    it does not detach (it is a daemon already, in the old one's
 *    session, in a process group of its own; when the old one exits it
 *    is reparented to init, or to the nearest subreaper), it takes the
 *    pidfile through the inherited descriptor when the pidfile it is
 *    given is the same file (another path is opened as usual), and it
 *    reports ready or its
 *    failure to the old daemon, not to systemd, and says nothing to
 *    systemd before it is ready.  Its readiness (dctx_notify_ready(), or
 *    the end of dctx_open()) waits for the old daemon's answer, which
 *    comes once the hand-over is done (5 s at most), so that what it
 *    tells systemd next comes from the main process; its last status
 *    line (dctx_status()) and its fd store requests (dctx_fdstore(),
 *    dctx_fdstore_remove()) of before are held and sent then.  An old
 *    daemon that ends without answering (killed), then or later, leaves
 *    it the pidfile: it writes its own pid there, and logs "upgrade: the
 *    old daemon (pid OLD) ended before it handed over: pid NEW takes its
 *    pidfile".  Its stderr is the configured one once dctx_open()
 *    succeeded.
 *  - Meanwhile the old daemon serves on.  When the new process is ready,
 *    the old one writes the new pid into the pidfile (the lock is never
 *    released: both processes share it), lets go of the pidfile without
 *    removing it (the new one removes it when it stops), tells systemd
 *    "MAINPID=NEW" (as its main process: NotifyAccess=main suffices; the
 *    new process says nothing at its start), with a last "WATCHDOG=1"
 *    when it pinged the watchdog, logs "upgrade: pid NEW is
 *    ready; pid OLD stops", and runs its shutdown chain (dctx_terminate(),
 *    with no STOPPING=1): the program's step closes its listeners (their
 *    sockets stay open in the new process, so no connection is refused)
 *    and drains its connections; the old daemon then exits with
 *    dctx_exit_status(), 0.  A reload it had under way (dctx_reload(),
 *    a step still working) is not finished there: the new process runs
 *    one in its place, once it is the main process, so that systemd,
 *    told RELOADING=1, hears READY=1.
 *  - When the new process reports a failure, dies before it is ready (or
 *    before the old daemon read its readiness: "... right after it said
 *    it was ready"), or
 *    is not ready within the upgrade timeout (dctx_set_upgrade_timeout()),
 *    it is stopped (SIGTERM, then SIGKILL 5 s later) and reaped, what it
 *    left in its process group (processes it started, which hold the
 *    sockets and the pidfile's lock) is killed, the old
 *    daemon logs "upgrade to pid NEW failed: MESSAGE; pid OLD serves on",
 *    and nothing else changes: the pidfile still names the old daemon,
 *    its sockets still accept.  MESSAGE is the new process's own: its
 *    dctx_open() or dctx_notify_failure() message, or what it wrote on
 *    stderr before it ended ("the new process (pid N) exited with status
 *    2 before it was ready: echod: --umask 9: ..."), or how it ended.
 *  - A daemon asked to stop (dctx_terminate()) while a new process starts
 *    stops that process too, and waits for it in dctx_close().
 *  - Under systemd ($NOTIFY_SOCKET was reachable at dctx_open()), the new
 *    process is forked by an intermediate process that exits at once, so
 *    that it is systemd's own child when MAINPID= names it: systemd
 *    follows a main process that is not its child only through cgroup
 *    events, and where those are unreliable (the legacy cgroup hierarchy
 *    in a container) it does not wait for it at stop, but kills it.  The
 *    old daemon then watches the new process without being its parent,
 *    and a failure message says how it ended only as "ended".
 * Each step is written, for dctx_upgrade_request(), to the status file
 * PIDFILE.upgrade beside the pidfile (replaced whole at each step;
 * removed with the pidfile), through the pidfile's directory.  A daemon
 * whose user cannot write there (see dctx_set_pidfile()) writes the file
 * in place when it is a regular file of its own, which
 * dctx_upgrade_request() makes for it when it may (as root); it is then
 * left behind at the stop, like the pidfile.  Where neither is possible
 * the daemon keeps none and says so once in its log.  A call that begins
 * no attempt (the errors below but -EALREADY and -EINVAL) writes a failed
 * record too, with no new process (0) and dctx_errmsg() as its message,
 * so that dctx_upgrade_request() hears the reason at once; not from a
 * chroot whose pidfile lies outside it (its directory is out of reach).
 *
 * Only one upgrade runs at a time.  An upgrade needs a daemon the service
 * manager can follow to its new pid: a detached daemon found through its
 * pidfile, a systemd Type=notify service (MAINPID=), or a Type=forking
 * one with PIDFile= (systemd reads it again when its main process
 * exits, and the old daemon wrote the new pid there).  A supervisor
 * that watches the very process it started (s6, runit, systemd
 * Type=simple) takes the old one's exit for the service's end.
 *
 * @param ctx an open context, in the daemon process
 * @return 0 once the new process runs, or a negative code with
 *         dctx_errmsg() set: -EINVAL when the context is not open here,
 *         -EALREADY while an upgrade is in progress ("upgrade: one is in
 *         progress (new process pid N)") or after a hand-over,
 *         -ECANCELED once the shutdown chain has started, -EAGAIN before
 *         the daemon reported ready, -ENOTSUP in a chroot or as pid 1, -errno when the binary cannot be executed
 *         (checked before the fork: "upgrade: PATH: No such file or
 *         directory") or a pipe or the fork fails
 */
DCTX_EXPORT int dctx_upgrade(struct dctx *ctx);

/**
 * Ask the daemon holding pidfile for an upgrade, and wait for its
 * outcome: what a command such as `echod --upgrade --pidfile P` runs.
 * The daemon is found as dctx_pidfile_kill() finds it (the pid the
 * locked pidfile names must hold the lock itself: a file anyone locked,
 * naming any process, is not enough) and sent signo through a pidfd (a
 * reused pid is never signalled), only if it catches signo
 * (/proc/PID/status): a daemon that does not map it could die of it.  The outcome is read from PIDFILE.upgrade (see
 * dctx_upgrade()), believed only from a regular file of the daemon's
 * user or of root (a pidfile in a directory others may write, as /tmp,
 * must not be answered by them).  It first makes that file the daemon's
 * own when it is missing and the daemon runs as another user that
 * cannot create it (a daemon that dropped privileges, beside a pidfile
 * in root's /run): only in a directory that its owner alone may write,
 * not the daemon's user, and that holds the pidfile the daemon locked.
 * The wait is as long as the daemon's upgrade timeout and its grace,
 * plus 5 s for the daemon to start the upgrade at all.
 *
 * @param pidfile the daemon's pidfile
 * @param signo the signal its program maps with dctx_upgrade_on_signal()
 * @param new_pid receives the new daemon's pid, or 0 (may be NULL)
 * @param msg receives a message (may be NULL): "pid OLD handed over to
 *        pid NEW", or why it failed; for DCTX_EUPGRADE the new process's
 *        own message (see dctx_upgrade())
 * @param len the size of msg
 * @return 0 when the new process is the daemon; DCTX_EUPGRADE when it
 *         failed and the old one serves on; -ECANCELED when the daemon
 *         refused to begin one (msg: "pid N: " and its reason: not ready
 *         yet, its binary gone, a chroot, pid 1, stopping; see the errors
 *         of dctx_upgrade()); -EALREADY when an upgrade of
 *         that daemon is in progress already (this one is refused);
 *         -ESRCH when no daemon holds the pidfile, DCTX_ERUNNING when
 *         the lock is held but the pid written is no live process that
 *         holds it, -EPERM when /proc hides that process's descriptors
 *         from us, -EAGAIN when the holder changed while it was read,
 *         or when the daemon is
 *         stopped (SIGSTOP, a debugger: nothing is sent, it would
 *         upgrade only once continued); -ENOTSUP when the daemon
 *         does not catch signo (nothing is sent); -ETIMEDOUT when it
 *         wrote no record within 5 s (signo is not mapped to an upgrade,
 *         or the daemon cannot write the status file: its log says why);
 *         DCTX_EDAEMON when the old
 *         daemon ended with no outcome written; -EINVAL, -ENAMETOOLONG,
 *         or -errno
 */
DCTX_EXPORT int dctx_upgrade_request(const char *pidfile, int signo,
    pid_t *new_pid, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DCTX_H */
