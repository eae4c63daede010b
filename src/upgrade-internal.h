/*
 * The upgrade's state, shared by its three files: upgrade.c (the old
 * daemon starts the new binary and waits for its word), upgrade-new.c (the
 * new process takes what it was handed) and upgrade-request.c (a command
 * asks for an upgrade and waits for its outcome).  Never installed.
 */
#ifndef DCTX_UPGRADE_INTERNAL_H
#define DCTX_UPGRADE_INTERNAL_H

#include <sys/types.h>

struct event;

/*
 * The variables the new process finds beside LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES.  Each names a descriptor it inherited; all of them are
 * meant for the process whose pid DCTX_UPGRADE_PID says, as LISTEN_PID.
 */
#define DCTX__UP_ENV_PID     "DCTX_UPGRADE_PID"
#define DCTX__UP_ENV_REPORT  "DCTX_UPGRADE_FD"
#define DCTX__UP_ENV_STDERR  "DCTX_UPGRADE_STDERR"
#define DCTX__UP_ENV_PIDFILE "DCTX_PIDFILE_FD"

/*
 * The report channel (a socket pair) carries detach.c's messages ('F', a
 * status byte, the message and a NUL), with 'R' (ready, and the pidfile
 * was taken over) or 'r' (ready, with no pidfile of the old one's) for
 * readiness, 'E' with the errno of a failed execve (4 bytes, host order),
 * which only the forked child writes, and "P<pid>\n" first when an
 * intermediate process forked the new one (under systemd).  The old
 * daemon answers a readiness with one byte once it handed over: 'A', or
 * 'L' when a reload of its own was under way, which the new process
 * then runs in its place.
 */
#define DCTX__UP_READY_ADOPTED 'R'
#define DCTX__UP_READY_OWN     'r'
#define DCTX__UP_EXEC_FAILED   'E'
#define DCTX__UP_ANSWER        'A'
#define DCTX__UP_ANSWER_RELOAD 'L'

/* The status file beside the pidfile: PIDFILE plus this. */
#define DCTX__UP_STATUS_SUFFIX ".upgrade"

/* What an upgrade gives a new process that does not end, after SIGTERM. */
#define DCTX__UP_GRACE_MS 5000

/* How long a ready new process waits for the old one's answer at most. */
#define DCTX__UP_ANSWER_MS 5000

/* The states of the status file, and of an attempt. */
enum {
	DCTX__UP_IDLE = 0,
	DCTX__UP_STARTING,  /* the new process runs, its word not heard yet */
	DCTX__UP_STOPPING,  /* it failed: waiting for it to be gone */
	DCTX__UP_READY,     /* handed over (status file) */
	DCTX__UP_FAILED,    /* rolled back (status file) */
	DCTX__UP_HANDED     /* handed over; we drain (attempt) */
};

/* One record of the status file. */
struct dctx__upgrade_status {
	pid_t old_pid;       /* the daemon that wrote it */
	unsigned long long start; /* its start time, to tell a reused pid */
	unsigned long seq;   /* its attempt, counted from 1 */
	int state;           /* DCTX__UP_STARTING, _READY or _FAILED */
	pid_t new_pid;
	char msg[512];       /* why it failed */
};

/* A descriptor marked to pass, with its name (dctx_upgrade_fd()). */
struct dctx__upgrade_mark {
	int fd;
	char *name;
};

/*
 * A message for systemd that the new process sent before it was ready
 * (its status line, a descriptor for the fd store), with the descriptor
 * (a copy of ours) or -1.
 */
struct dctx__upgrade_held {
	char *msg;
	int fd;
};

struct dctx__upgrade {
	/* The settings. */
	struct dctx__upgrade_mark *marks;
	size_t nmarks;
	char *exec_path;    /* dctx_set_upgrade_exec(), or NULL: our own */
	char **exec_argv;   /* the same, or NULL: our own arguments */
	char *start_dir;    /* the working directory at dctx_prepare() */
	char *start_exe;    /* the path we were started as, made absolute */
	int timeout_ms;
	int signo;          /* dctx_upgrade_on_signal()'s, or 0 */
	int step_added;     /* the shutdown step that stops a new process */

	/* The attempt, in the old daemon. */
	int state;
	unsigned long seq;
	pid_t child;
	int own_child;      /* ours to reap (not under systemd) */
	int pidfd;          /* the child's pidfd, or -1 (then polled) */
	int report_rd;      /* our end of the report channel */
	int capture_rd;     /* the read end of the child's stderr */
	struct event *report_ev, *capture_ev, *exit_ev, *timer_ev;
	int term_sent;      /* SIGTERM sent (deadline, abort) */
	int kill_sent;      /* SIGKILL sent */
	int got_word;       /* 'F' or 'E' read: the message is its own */
	int said_ready;     /* it ended after its readiness was read */
	int report_eof, capture_eof;
	int status_warned;  /* said once that the status file cannot be made */
	unsigned long long start; /* our start time, for the status file */
	char *path;         /* what the child runs */
	char rbuf[8 + 512];
	size_t rgot;
	char cap[4096];     /* the last of what it said on stderr */
	size_t capgot;
	char msg[512];      /* why the attempt failed */

	/* The new process's side, until it is open (upgrade-new.c). */
	int stderr_fd;      /* the daemon's stderr, back on 2 once open */
	int pidfile_fd;     /* the inherited pidfile, until taken */
	dev_t capture_dev;  /* what fd 2 was at the start: the pipe */
	ino_t capture_ino;
	struct dctx__upgrade_held *held; /* for systemd, once we are ready */
	size_t nheld;
	int answer_fd;      /* ready, the old daemon's answer not heard yet */
	struct event *answer_ev;
	pid_t old_pid;      /* the old daemon, gone silent: watched */
	int old_pidfd;
	struct event *old_ev;
};

struct dctx__upgrade *dctx__upgrade_get(struct dctx *ctx);
int dctx__upgrade_parse_status(const char *buf, size_t len,
    struct dctx__upgrade_status *st);
unsigned long long dctx__upgrade_start_time(pid_t pid);
void dctx__upgrade_answer_close(struct dctx *ctx);

#endif /* DCTX_UPGRADE_INTERNAL_H */
