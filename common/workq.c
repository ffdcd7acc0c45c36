#include "common/workq.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"

/* How long workq__free waits for running jobs before it abandons them. */
#define STOP_TIMEOUT_MS 3000

struct worker {
	struct workq *wq;
	pthread_t tid;
	enum workq_class cls;
	struct workq_job *current;
	uint64_t started_ns;
	bool stuck;   /* its current job was counted as stuck */
	bool exited;  /* the thread returned (joinable) */
	struct worker *next;
};

struct job_list {
	struct workq_job *head, *tail;
	size_t len;
};

struct workq {
	struct workq_opts opts;
	pthread_mutex_t lock;
	pthread_cond_t cond[WORKQ_CLASSES];
	pthread_cond_t exited;
	struct job_list queue[WORKQ_CLASSES];
	bool took_oldest[WORKQ_CLASSES]; /* a lifo class's last pick aged out */
	struct job_list completed;
	struct worker *workers;
	unsigned live[WORKQ_CLASSES]; /* threads not retiring */
	bool stopping;
	int efd;
	struct workq_stats stats;
};

static void list_push(struct job_list *l, struct workq_job *job)
{
	job->next = NULL;
	if (l->tail)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	l->len++;
}

static void list_push_front(struct job_list *l, struct workq_job *job)
{
	job->next = l->head;
	l->head = job;
	if (!l->tail)
		l->tail = job;
	l->len++;
}

static struct workq_job *list_pop(struct job_list *l)
{
	struct workq_job *job = l->head;

	if (!job)
		return NULL;
	l->head = job->next;
	if (!l->head)
		l->tail = NULL;
	l->len--;
	job->next = NULL;
	return job;
}

/* The last job of l, walking to the one before it (only for a job that
 * has waited long, at most every other pick). */
static struct workq_job *list_pop_tail(struct job_list *l)
{
	struct workq_job *job = l->tail, *prev = NULL;

	if (!job || l->head == job)
		return list_pop(l);
	for (prev = l->head; prev->next != job; prev = prev->next)
		;
	prev->next = NULL;
	l->tail = prev;
	l->len--;
	return job;
}

/* The next job of class cls: the head (the newest, for a lifo class),
 * except that a lifo class takes its oldest job every other time once it
 * has waited lifo_max_wait_ms. Called with the lock held. */
static struct workq_job *take(struct workq *wq, int cls)
{
	struct job_list *l = &wq->queue[cls];

	if (wq->opts.lifo[cls] && l->tail && l->tail != l->head && !wq->took_oldest[cls] &&
	    clock__mono_ns() - l->tail->queued_ns > (uint64_t)wq->opts.lifo_max_wait_ms * 1000000ull) {
		wq->took_oldest[cls] = true;
		return list_pop_tail(l);
	}
	wq->took_oldest[cls] = false;
	return list_pop(l);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workq *wq = w->wq;
	sigset_t all;

	/* signals belong to the owner's signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&wq->lock);
	for (;;) {
		struct workq_job *job;
		uint64_t t0, ran;
		uint64_t one = 1;

		if (wq->stopping)
			break;
		job = take(wq, w->cls);
		if (!job) {
			pthread_cond_wait(&wq->cond[w->cls], &wq->lock);
			continue;
		}
		t0 = clock__mono_ns();
		w->current = job;
		w->started_ns = t0;
		wq->stats.running[w->cls]++;
		pthread_mutex_unlock(&wq->lock);

		job->run(job);

		pthread_mutex_lock(&wq->lock);
		ran = clock__mono_ns() - t0;
		wq->stats.running[w->cls]--;
		wq->stats.run_ns[w->cls] += ran;
		wq->stats.completed[w->cls]++;
		w->current = NULL;
		list_push(&wq->completed, job);
		if (write(wq->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("failed to signal a completed job: %s", strerror(errno));
		if (w->stuck) {
			w->stuck = false;
			/* a spare took over while this one was stuck: retire
			 * whichever returns first beyond the configured count */
			if (wq->live[w->cls] > wq->opts.threads[w->cls]) {
				wq->live[w->cls]--;
				break;
			}
		}
	}
	w->exited = true;
	pthread_cond_broadcast(&wq->exited);
	pthread_mutex_unlock(&wq->lock);
	return NULL;
}

/* Called with the lock held. */
static int spawn(struct workq *wq, enum workq_class cls)
{
	struct worker *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->wq = wq;
	w->cls = cls;
	err = -pthread_create(&w->tid, NULL, worker_main, w);
	if (err) {
		free(w);
		return err;
	}
	w->next = wq->workers;
	wq->workers = w;
	wq->live[cls]++;
	return 0;
}

int workq__new(const struct workq_opts *opts, struct workq **out)
{
	struct workq *wq = calloc(1, sizeof(*wq));
	int err = 0;

	if (!wq)
		return -ENOMEM;
	if (opts)
		wq->opts = *opts;
	for (int c = 0; c < WORKQ_CLASSES; c++)
		if (!wq->opts.threads[c])
			wq->opts.threads[c] = 1;
	if (!wq->opts.max_queued)
		wq->opts.max_queued = 4096;
	if (!wq->opts.stuck_ms)
		wq->opts.stuck_ms = 10000;
	if (!wq->opts.lifo_max_wait_ms)
		wq->opts.lifo_max_wait_ms = 10000;
	if (!opts || !opts->max_spare)
		wq->opts.max_spare = 2;
	pthread_mutex_init(&wq->lock, NULL);
	for (int c = 0; c < WORKQ_CLASSES; c++)
		pthread_cond_init(&wq->cond[c], NULL);
	pthread_cond_init(&wq->exited, NULL);
	wq->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wq->efd < 0) {
		err = -errno;
		goto fail;
	}
	pthread_mutex_lock(&wq->lock);
	for (int c = 0; c < WORKQ_CLASSES && !err; c++)
		for (unsigned i = 0; i < wq->opts.threads[c] && !err; i++)
			err = spawn(wq, (enum workq_class)c);
	pthread_mutex_unlock(&wq->lock);
	if (err)
		goto fail;
	*out = wq;
	return 0;
fail:
	workq__free(wq);
	return err;
}

static void complete_list(struct job_list *l)
{
	struct workq_job *job;

	while ((job = list_pop(l)))
		job->done(job);
}

void workq__free(struct workq *wq)
{
	struct job_list cancelled = { 0 }, completed;
	struct timespec until;
	bool abandoned = false;

	if (!wq)
		return;
	pthread_mutex_lock(&wq->lock);
	wq->stopping = true;
	for (int c = 0; c < WORKQ_CLASSES; c++) {
		struct workq_job *job;

		pthread_cond_broadcast(&wq->cond[c]);
		while ((job = list_pop(&wq->queue[c]))) {
			job->cancelled = true;
			list_push(&cancelled, job);
		}
	}
	/* A job blocked for good (a hung file system) must not keep the
	 * agent from stopping: wait a while, then leave it behind. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_TIMEOUT_MS / 1000;
	for (;;) {
		bool running = false;

		for (struct worker *w = wq->workers; w; w = w->next)
			running |= !w->exited;
		if (!running)
			break;
		if (pthread_cond_timedwait(&wq->exited, &wq->lock, &until) == ETIMEDOUT) {
			abandoned = true;
			break;
		}
	}
	completed = wq->completed;
	wq->completed = (struct job_list){ 0 };
	pthread_mutex_unlock(&wq->lock);

	complete_list(&completed);
	complete_list(&cancelled);
	if (abandoned) {
		/* the stuck threads still reference wq and their jobs: both are
		 * left allocated, the process is on its way out */
		for (struct worker *w = wq->workers; w; w = w->next)
			if (!w->exited && w->current)
				log_warn("worker still busy with %s after %d ms, leaving it behind",
					 w->current->what ? w->current->what : "a job", STOP_TIMEOUT_MS);
		return;
	}
	while (wq->workers) {
		struct worker *w = wq->workers;

		wq->workers = w->next;
		pthread_join(w->tid, NULL);
		free(w);
	}
	if (wq->efd >= 0)
		close(wq->efd);
	for (int c = 0; c < WORKQ_CLASSES; c++)
		pthread_cond_destroy(&wq->cond[c]);
	pthread_cond_destroy(&wq->exited);
	pthread_mutex_destroy(&wq->lock);
	free(wq);
}

int workq__submit(struct workq *wq, enum workq_class cls, struct workq_job *job)
{
	int err = 0;

	job->cancelled = false;
	job->cls = cls;
	job->queued_ns = clock__mono_ns();
	pthread_mutex_lock(&wq->lock);
	if (wq->stopping) {
		err = -ESHUTDOWN;
	} else if (wq->queue[cls].len >= wq->opts.max_queued) {
		wq->stats.rejected[cls]++;
		err = -EAGAIN;
	} else {
		if (wq->opts.lifo[cls] || job->urgent)
			list_push_front(&wq->queue[cls], job);
		else
			list_push(&wq->queue[cls], job);
		wq->stats.submitted[cls]++;
		pthread_cond_signal(&wq->cond[cls]);
	}
	pthread_mutex_unlock(&wq->lock);
	return err;
}

void workq__promote(struct workq *wq, struct workq_job *job)
{
	struct job_list *l = &wq->queue[job->cls];

	pthread_mutex_lock(&wq->lock);
	/* linear, but only the queue's length, and only when something
	 * waits: a profile for a process whose read is still queued */
	for (struct workq_job **pp = &l->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != job)
			continue;
		if (pp == &l->head)
			break;
		*pp = job->next;
		if (l->tail == job)
			l->tail = prev;
		job->next = l->head;
		l->head = job;
		break;
	}
	pthread_mutex_unlock(&wq->lock);
}

int workq__fd(const struct workq *wq)
{
	return wq->efd;
}

/* Called with the lock held: joins retired threads, counts stuck jobs and
 * lets a spare take over a class whose threads are all stuck. */
static void check_workers(struct workq *wq)
{
	uint64_t now = clock__mono_ns();
	unsigned busy_stuck[WORKQ_CLASSES] = { 0 };

	for (struct worker **pp = &wq->workers; *pp;) {
		struct worker *w = *pp;

		if (w->exited) {
			*pp = w->next;
			pthread_join(w->tid, NULL);
			free(w);
			continue;
		}
		unsigned stuck_ms = w->current && w->current->stuck_ms ? w->current->stuck_ms
								       : wq->opts.stuck_ms;

		if (w->current && now - w->started_ns > (uint64_t)stuck_ms * 1000000ull) {
			if (!w->stuck) {
				w->stuck = true;
				wq->stats.stuck++;
				log_warn("a worker has been busy with %s for %u ms: another "
					 "thread takes over its queue",
					 w->current->what ? w->current->what : "a job", stuck_ms);
			}
			busy_stuck[w->cls]++;
		}
		pp = &w->next;
	}
	for (int c = 0; c < WORKQ_CLASSES; c++) {
		/* every thread of the class stuck: one more, within max_spare */
		if (busy_stuck[c] && busy_stuck[c] >= wq->live[c] &&
		    wq->live[c] < wq->opts.threads[c] + wq->opts.max_spare &&
		    spawn(wq, (enum workq_class)c) == 0)
			pthread_cond_signal(&wq->cond[c]);
	}
}

size_t workq__complete(struct workq *wq)
{
	struct job_list done;
	uint64_t junk;
	size_t n;

	if (read(wq->efd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
		log_debug("failed to read the completion eventfd: %s", strerror(errno));
	pthread_mutex_lock(&wq->lock);
	done = wq->completed;
	wq->completed = (struct job_list){ 0 };
	check_workers(wq);
	pthread_mutex_unlock(&wq->lock);
	n = done.len;
	complete_list(&done);
	return n;
}

void workq__stats(struct workq *wq, struct workq_stats *st)
{
	pthread_mutex_lock(&wq->lock);
	*st = wq->stats;
	for (int c = 0; c < WORKQ_CLASSES; c++) {
		st->queued[c] = wq->queue[c].len;
		st->threads[c] = wq->live[c];
	}
	pthread_mutex_unlock(&wq->lock);
}
