/*
 * Worker threads that never see a signal, and joins that never block the
 * loop.  A thread starts with every asynchronous signal blocked, so the
 * kernel delivers them to the loop's thread, where libevent turns them into
 * events.  When its function returns, the thread wakes the loop with
 * event_active() (safe across threads once evthread_use_pthreads() is on),
 * and the loop joins it, which then takes no time.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "dctx-internal.h"

struct dctx_thread {
	struct dctx *ctx;
	pthread_t tid;
	void *(*start)(void *);
	void *arg;
	struct event *done_ev;
	struct dctx_shutdown *step;
	int exited;         /* its function returned; the loop was woken */
	int finished;       /* joined by the loop */
	int join_requested;
	int orphaned;       /* the context closed first: nobody waits */
	struct dctx_thread *next;
};

/*
 * Guards the hand-over between a finishing thread and a closing context.
 * One context is open per process, so one lock serves.
 */
static pthread_mutex_t hand_over = PTHREAD_MUTEX_INITIALIZER;

DCTX_EXPORT int
dctx_set_threads(struct dctx *ctx, int on)
{
	if (ctx->is_open)
		return dctx__fail(ctx, DCTX_EOPEN, "threads");
	ctx->threads = on != 0;
	return 0;
}

/*
 * dctx_open() needs a process of one thread.  fork() keeps only the calling
 * thread, and the locks the others held stay held in the child (glibc
 * resets only malloc's and stdio's): a daemon forked beside a logging
 * thread hangs on its first log call, after the launcher said it started.
 * In the foreground the descriptor step would close files under the other
 * threads.  The kernel lists a process's threads in /proc/self/task; where
 * /proc is not mounted they cannot be counted, and the check is skipped.
 */
int
dctx__threads_alone(struct dctx *ctx)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/task")) == NULL) {
		if (errno == ENOENT)
			return 0;
		return dctx__fail(ctx, -errno, "opendir(/proc/self/task)");
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	if (n > 1)
		return dctx__fail(ctx, DCTX_ETHREADS, "%d threads in the process",
		    n);
	return 0;
}

static void
unlink_thread(struct dctx_thread *t)
{
	struct dctx_thread **pp;

	for (pp = &t->ctx->thread_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
}

/* Joined and asked for: free the handle and finish the step. */
static void
complete(struct dctx_thread *t)
{
	struct dctx_shutdown *step = t->step;

	pthread_mutex_lock(&hand_over);
	unlink_thread(t);
	pthread_mutex_unlock(&hand_over);
	event_free(t->done_ev);
	free(t);
	dctx_shutdown_done(step);
}

static void
on_thread_done(evutil_socket_t fd, short what, void *arg)
{
	struct dctx_thread *t = arg;

	(void)fd;
	(void)what;
	pthread_join(t->tid, NULL);
	t->finished = 1;
	if (t->join_requested)
		complete(t);
}

static void *
run(void *arg)
{
	struct dctx_thread *t = arg;
	void *rv = t->start(t->arg);

	pthread_mutex_lock(&hand_over);
	if (t->orphaned) {
		pthread_mutex_unlock(&hand_over);
		free(t);
		return rv;
	}
	t->exited = 1;
	event_active(t->done_ev, EV_READ, 0);
	pthread_mutex_unlock(&hand_over);
	return rv;
}

/* The signals a fault raises must stay deliverable to the faulting thread. */
static void
worker_mask(sigset_t *set)
{
	dctx__signals_all_but_faults(set);
	/* abort() in a worker must end the process there, not wait. */
	sigdelset(set, SIGABRT);
}

DCTX_EXPORT int
dctx_thread_create(struct dctx *ctx, struct dctx_thread **out,
    void *(*start)(void *), void *arg)
{
	struct dctx_thread *t;
	sigset_t block, old;
	int rc;

	if (!ctx->is_open || !ctx->threads || start == NULL || out == NULL)
		return dctx__fail(ctx, -EINVAL,
		    "thread: needs dctx_set_threads() and an open context");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return dctx__fail(ctx, -ENOMEM, "thread");
	t->ctx = ctx;
	t->start = start;
	t->arg = arg;
	t->done_ev = event_new(ctx->base, -1, 0, on_thread_done, t);
	if (t->done_ev == NULL) {
		free(t);
		return dctx__fail(ctx, -ENOMEM, "thread: its event");
	}
	/* The new thread inherits the mask in force when it is created. */
	worker_mask(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	pthread_mutex_lock(&hand_over);
	rc = pthread_create(&t->tid, NULL, run, t);
	if (rc == 0) {
		t->next = ctx->thread_list;
		ctx->thread_list = t;
	}
	pthread_mutex_unlock(&hand_over);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		event_free(t->done_ev);
		free(t);
		return dctx__fail(ctx, -rc, "pthread_create");
	}
	*out = t;
	return 0;
}

DCTX_EXPORT int
dctx_thread_join(struct dctx_thread *t, struct dctx_shutdown *step)
{
	if (t->join_requested)
		return -EALREADY;
	t->join_requested = 1;
	t->step = step;
	if (t->finished)
		complete(t);
	return 0;
}

DCTX_EXPORT int
dctx_thread_join_now(struct dctx_thread *t)
{
	int rc;

	/*
	 * The loop may have joined it already.  If not, wait here; a join
	 * asked for earlier with dctx_thread_join() ends with this one.
	 */
	if (!t->finished && (rc = pthread_join(t->tid, NULL)) != 0)
		return -rc;
	t->finished = 1;
	complete(t);
	return 0;
}

/*
 * The context closes with threads still running (a forced stop): detach
 * them, and let each free its own handle when it returns.  In a forked
 * child the threads do not exist: only the handles are left to free.
 */
void
dctx__threads_orphan(struct dctx *ctx, int forked)
{
	struct dctx_thread *t, *next;

	if (forked) {
		/* No lock: a thread of the parent may have held it at fork. */
		for (t = ctx->thread_list; t != NULL; t = next) {
			next = t->next;
			event_free(t->done_ev);
			free(t);
		}
		ctx->thread_list = NULL;
		return;
	}
	pthread_mutex_lock(&hand_over);
	for (t = ctx->thread_list; t != NULL; t = next) {
		next = t->next;
		event_free(t->done_ev);
		t->done_ev = NULL;
		if (!t->finished)
			pthread_detach(t->tid);
		if (t->finished || t->exited)
			free(t);
		else
			t->orphaned = 1;
	}
	ctx->thread_list = NULL;
	pthread_mutex_unlock(&hand_over);
}
