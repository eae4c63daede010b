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
 * Create a context with the PEP 3143 defaults: no chroot, working directory
 * "/", umask 0, no uid or gid change, prevent_core on, detach_process auto,
 * no preserved files, no pidfile, stdio to /dev/null, and the signal map
 * SIGTSTP, SIGTTIN, SIGTTOU and SIGPIPE ignored, SIGTERM terminates.
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
 * and, unless it is also preserved, closed at its own number.
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
 * at its own number.
 *
 * @param ctx the context
 * @param fd an open descriptor, 2 to keep the current stderr, or -1 for
 *        /dev/null
 * @return 0, -EBADF when fd is not open, or DCTX_EOPEN
 */
DCTX_EXPORT int dctx_set_stderr(struct dctx *ctx, int fd);

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
 *  3. A pipe to the launcher is made, and stdio buffers are flushed.
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
 *     the map says: a SIGTERM stops the daemon cleanly, a SIGHUP mapped
 *     to a callback runs it, a SIGTSTP is ignored; an unmapped signal
 *     takes its default action then.  RLIMIT_CORE is set to 0
 *     (prevent_core); chroot and chdir("/"); umask; chdir to the working
 *     directory.
 *  6. Every descriptor above 2 is closed but the preserved ones, those
 *     passed by socket activation (dctx_listen_fds()) and the library's
 *     own; 0-2 become the configured stdio or /dev/null.
 *  7. Privileges are dropped: groups, gid, then uid, then capabilities, and
 *     it is verified that they cannot be regained (CERT POS36-C, POS37-C;
 *     the rules are under dctx_set_uid()).
 *  8. The event base is created (see dctx_base()) and the signal map
 *     installed as libevent signal events.
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
 * this.  The message "terminating on signal N (name)" goes to stderr, which
 * is the daemon's log.  Once the chain runs, further terminate signals
 * within 100 ms count as the same request (a burst of kills, or one to the
 * process and one to its group; the window opens once the steps that
 * finish at once have run); a later one, or a SIGINT, forces the stop
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
 * events and the shutdown timer, and mark the context closed.  Calling it
 * again is a no-op.  Worker threads not joined yet are detached.  A closed
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
 * @param out receives the pidfile; untouched on failure
 * @param path the file's path
 * @return 0, DCTX_ERUNNING when another process holds the lock (see
 *         dctx_pidfile_holder(); the message of dctx_open() says "already
 *         running (pid N)", or "already running (locked, no live pid in
 *         it)" where no live pid is written), -EINVAL for NULL or "", -ENAMETOOLONG
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
 * already, with their names, as long as they are open.  Before
 * dctx_open() this also preserves fd (dctx_preserve_fd()).  Marking a
 * descriptor again changes its name; a NULL name unmarks it, which a
 * program must do before it closes one, since the number may then be
 * reused for anything (a marked descriptor found closed at an upgrade
 * fails it with -EBADF).
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
 * @return 0, -EBADF when fd is not open or is 0-2, -EINVAL for a bad
 *         name, -ENOMEM
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
 * one, and logs "PROGRAM: upgrade on signal N (NAME) refused: REASON" on
 * stderr when it cannot.  Call it before dctx_prepare(): the library then
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
 *    (DCTX_PIDFILE_FD), a report pipe to the old daemon, stdin and stdout
 *    as the old daemon's, and as stderr a pipe to the old daemon, which
 *    copies what comes to its own stderr; nothing else (the old daemon's
 *    connections stay in the old daemon).  Under systemd it gets
 *    NOTIFY_SOCKET too, and WATCHDOG_USEC with WATCHDOG_PID its own pid.
 *  - Its dctx_prepare() or dctx_open() sees it was started by an upgrade:
 *    it does not detach (it is a daemon already, in the old one's session
 *    and process group; when the old one exits it is reparented to init,
 *    or to the nearest subreaper), it takes the pidfile through the
 *    inherited descriptor when the pidfile it is given is the same file
 *    (another path is opened as usual), and it reports ready or its
 *    failure to the old daemon, not to systemd.  Its stderr is the
 *    configured one once dctx_open() succeeded.
 *  - Meanwhile the old daemon serves on.  When the new process is ready,
 *    the old one writes the new pid into the pidfile (the lock is never
 *    released: both processes share it), lets go of the pidfile without
 *    removing it (the new one removes it when it stops), tells systemd
 *    "MAINPID=NEW" (as its main process: NotifyAccess=main suffices; the
 *    new process says nothing at its start), logs "upgrade: pid NEW is
 *    ready; pid OLD stops", and runs its shutdown chain (dctx_terminate(),
 *    with no STOPPING=1): the program's step closes its listeners (their
 *    sockets stay open in the new process, so no connection is refused)
 *    and drains its connections; the old daemon then exits with
 *    dctx_exit_status(), 0.
 *  - When the new process reports a failure, dies before it is ready, or
 *    is not ready within the upgrade timeout (dctx_set_upgrade_timeout()),
 *    it is stopped (SIGTERM, then SIGKILL 5 s later) and reaped, the old
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
 * removed with the pidfile), through the pidfile's directory: a daemon
 * whose user cannot write there (see dctx_set_pidfile()) keeps none and
 * says so once on stderr.
 *
 * Only one upgrade runs at a time.  An upgrade needs a daemon the service
 * manager can follow to its new pid: a detached daemon found through its
 * pidfile, or a systemd Type=notify service (MAINPID=).  A supervisor
 * that watches the very process it started (s6, runit, systemd
 * Type=simple) takes the old one's exit for the service's end.
 *
 * @param ctx an open context, in the daemon process
 * @return 0 once the new process runs, or a negative code with
 *         dctx_errmsg() set: -EINVAL when the context is not open here,
 *         -EALREADY while an upgrade is in progress ("upgrade: one is in
 *         progress (new process pid N)") or after a hand-over,
 *         -ECANCELED once the shutdown chain has started, -ENOTSUP in a
 *         chroot or as pid 1, -errno when the binary cannot be executed
 *         (checked before the fork: "upgrade: PATH: No such file or
 *         directory") or a pipe or the fork fails
 */
DCTX_EXPORT int dctx_upgrade(struct dctx *ctx);

/**
 * Ask the daemon holding pidfile for an upgrade, and wait for its
 * outcome: what a command such as `echod --upgrade --pidfile P` runs.
 * The daemon is found through the pidfile's lock (dctx_pidfile_holder())
 * and sent signo through a pidfd (a reused pid is never signalled), only
 * if it catches signo (/proc/PID/status): a daemon that does not map it
 * could die of it.  The outcome is read from PIDFILE.upgrade (see
 * dctx_upgrade()).  The wait is as long as the daemon's upgrade timeout
 * and its grace, plus 5 s for the daemon to start the upgrade at all.
 *
 * @param pidfile the daemon's pidfile
 * @param signo the signal its program maps with dctx_upgrade_on_signal()
 * @param new_pid receives the new daemon's pid, or 0 (may be NULL)
 * @param msg receives a message (may be NULL): "pid OLD handed over to
 *        pid NEW", or why it failed; for DCTX_EUPGRADE the new process's
 *        own message (see dctx_upgrade())
 * @param len the size of msg
 * @return 0 when the new process is the daemon; DCTX_EUPGRADE when it
 *         failed and the old one serves on; -EALREADY when an upgrade of
 *         that daemon is in progress already (this one is refused);
 *         -ESRCH when no daemon holds the pidfile, DCTX_ERUNNING when
 *         the lock is held but no live pid is written, -EAGAIN when the
 *         holder changed while it was read; -ENOTSUP when the daemon
 *         does not catch signo (nothing is sent); -ETIMEDOUT when it
 *         began no upgrade within 5 s (signo is not mapped to one, or the
 *         daemon cannot write the status file); DCTX_EDAEMON when the old
 *         daemon ended with no outcome written; -EINVAL, -ENAMETOOLONG,
 *         or -errno
 */
DCTX_EXPORT int dctx_upgrade_request(const char *pidfile, int signo,
    pid_t *new_pid, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DCTX_H */
