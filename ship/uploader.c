/* uploader: one file (about 900 lines) because the thread, its queue and
 * the spool hand-offs are one state machine under one lock; see uploader.h. */
#include "ship/uploader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ship/spool.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"

#define DEFAULT_SPOOL_MAX_BYTES ((uint64_t)512 << 20)

/* What one pass over a batch's pending requests came to. */
enum pass_result {
	PASS_DONE,      /* nothing left to send (delivered or rejected) */
	PASS_RETRY,     /* stopped at a retryable failure */
	PASS_STOPPED,   /* cancelled: the uploader is stopping */
};

struct uploader {
	struct remote_encode_opts encode;
	struct remote *remote;
	uint32_t backoff_min_ms, backoff_max_ms;

	/* The spool. spool_lock guards these, and is held across every write
	 * so records go in in order; it is taken before lock, never after. */
	pthread_mutex_t spool_lock;
	struct spool *spool;            /* NULL: could not be opened */
	struct spool_opts spool_opts;   /* dir owned */
	int spool_err;                  /* 0: takes records; else -errno of the
					   last failure: no writes until reopened */
	uint64_t spool_retry_ms;        /* monotonic: when to reopen it */
	uint32_t spool_attempt;         /* failures since it last worked */
	uint32_t spool_retry_min_ms, spool_retry_max_ms;
	bool spool_streak;              /* a failure was logged, recovery not yet */
	bool spool_streak_put;          /* the streak's last failure was a put:
					   only a put ends it */
	uint64_t spool_streak_ms;       /* when the streak began */
	uint64_t spool_streak_lost;     /* dropped_spool_unavailable then */
	uint64_t spool_errors;
	struct spool_stats spool_closed; /* counters of instances closed since */
	uint64_t delivered_upto;        /* records up to this one were delivered
					   but could not be removed (a read-only
					   spool): skipped, removed once it works */
	bool remove_failing;            /* logged a failed removal */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* CLOCK_MONOTONIC */

	/* under lock */
	bool stopping;
	struct remote_batch *queue[UPLOADER_QUEUE_MAX];
	size_t queue_head, queue_len, queue_bytes;
	struct uploader_stats stats;
	uint64_t corrupt;               /* records remote__batch_parse refused */

	/* sender thread only */
	struct remote_batch *held;      /* failed while the spool could not
					   take it: retried from memory */
	struct remote_batch *current;   /* the spool's oldest record, parsed */
	uint64_t current_seq;
	bool current_dirty;             /* delivered parts the record lacks */
	uint32_t attempt;               /* failures in a row */
	uint64_t next_attempt_ms;       /* monotonic; 0: now */
	bool failing;                   /* logged the start of an outage */
};

static size_t batch_bytes(const struct remote_batch *b)
{
	size_t n = sizeof(*b);

	for (size_t i = 0; i < b->n; i++)
		n += b->requests[i].body.len + sizeof(b->requests[i]);
	return n;
}

/* ---- spool ---- */

/* Errors of spool__put that say this record cannot be stored (it alone
 * is larger than the spool's bound, memory): the spool itself works. */
static bool spool_fault(int err)
{
	return err != -EFBIG && err != -ENOMEM && err != -EINVAL && err != -EOVERFLOW;
}

static void add_closed_stats(struct uploader *u)
{
	struct spool_stats ss;

	spool__stats(u->spool, &ss);
	u->spool_closed.dropped += ss.dropped;
	u->spool_closed.dropped_bytes += ss.dropped_bytes;
	u->spool_closed.corrupt += ss.corrupt;
}

static uint64_t lost_so_far(struct uploader *u)
{
	uint64_t n;

	pthread_mutex_lock(&u->lock);
	n = u->stats.dropped_spool_unavailable;
	pthread_mutex_unlock(&u->lock);
	return n;
}

/* spool_lock held. After a failed open, probe or put: counted, logged at
 * the start of a streak (what is wrong, what is lost), retried later. */
static void spool_failed(struct uploader *u, const char *verb, int err, bool put)
{
	uint64_t delay = u->spool_retry_min_ms;
	char problem[768], why[512];

	for (uint32_t i = 0; i < u->spool_attempt && delay < u->spool_retry_max_ms; i++)
		delay *= 2;
	delay = MIN(delay, (uint64_t)u->spool_retry_max_ms);
	if (u->spool_attempt < 64)
		u->spool_attempt++;
	u->spool_retry_ms = clock__mono_ms() + delay;
	u->spool_err = err;
	u->spool_errors++;
	u->spool_streak_put = put;
	if (u->spool_streak) {
		log_debug("spool directory '%s' still unusable (%s): %s; next try in %" PRIu64 " ms",
			  u->spool_opts.dir, verb, strerror(-err), delay);
		return;
	}
	u->spool_streak = true;
	u->spool_streak_ms = clock__mono_ms();
	u->spool_streak_lost = lost_so_far(u);
	if (err == -EBUSY)
		snprintf(problem, sizeof(problem), "another process holds its lock (a second brasa "
			 "with the same remote.spool_dir?)");
	else if (!put && spool__check_dir(u->spool_opts.dir, why, sizeof(why)))
		/* says which path is wrong and why, as brasa check would */
		snprintf(problem, sizeof(problem), "%s", why);
	else if (err == -ENOENT)
		snprintf(problem, sizeof(problem), "%s (and it could not be created)",
			 strerror(-err));
	else if (err == -EACCES || err == -EPERM)
		snprintf(problem, sizeof(problem), "%s (brasa runs as uid %u)", strerror(-err),
			 (unsigned)geteuid());
	else
		snprintf(problem, sizeof(problem), "%s", strerror(-err));
	log_warn("failed to %s spool directory '%s': %s; uploads go on without it: windows "
		 "the backend cannot take now are kept in memory (up to %d) and dropped past "
		 "that (brasa_upload_dropped_total{reason=\"spool_unavailable\"}); trying the "
		 "spool again every %.3g s at most",
		 err == -EBUSY ? "lock" : verb, u->spool_opts.dir, problem, UPLOADER_QUEUE_MAX + 1,
		 u->spool_retry_max_ms / 1000.0);
}

/* spool_lock held: the end of a streak. */
static void spool_recovered(struct uploader *u)
{
	u->spool_attempt = 0;
	if (!u->spool_streak)
		return;
	u->spool_streak = false;
	log_info("spool directory '%s' works again after %" PRIu64 " s; %" PRIu64
		 " upload window(s) were lost meanwhile", u->spool_opts.dir,
		 (clock__mono_ms() - u->spool_streak_ms) / 1000, lost_so_far(u) - u->spool_streak_lost);
}

/* spool_lock held: records delivered while the spool could not remove
 * them go now that it is writable again. */
static void purge_delivered(struct uploader *u)
{
	uint64_t seq;

	while (u->delivered_upto && spool__oldest(u->spool, &seq) == 0 &&
	       seq <= u->delivered_upto) {
		if (spool__remove(u->spool, seq) != 0)
			return;
	}
	u->delivered_upto = 0;
	u->remove_failing = false;
}

/* spool_lock held. Opens the spool (again) and probes that it takes
 * records. A spool that opens but cannot be written stays open: the
 * records it holds can still be sent. */
static void spool_reopen(struct uploader *u)
{
	int err;

	if (u->spool) {
		add_closed_stats(u);
		spool__free(u->spool);
		u->spool = NULL;
	}
	err = spool__open(&u->spool_opts, &u->spool);
	if (err) {
		u->spool = NULL;
		spool_failed(u, "open", err, false);
		return;
	}
	err = spool__probe(u->spool);
	if (err) {
		spool_failed(u, "write to", err, false);
		return;
	}
	u->spool_err = 0;
	if (!u->spool_streak_put)
		spool_recovered(u);
	purge_delivered(u);
}

/* spool_lock held: puts b. 0; -EAGAIN: the spool cannot take records
 * (now or any more), nothing written; another -errno: b alone cannot be
 * stored. Logs and counts only the spool's own failure. */
static int spool_put_locked(struct uploader *u, const struct remote_batch *b, uint64_t *seq)
{
	struct buf rec = {};
	uint64_t unused;
	int err;

	if (!u->spool || u->spool_err)
		return -EAGAIN;
	err = remote__batch_serialize(b, &rec);
	if (!err)
		err = spool__put(u->spool, rec.data, rec.len, seq ? seq : &unused);
	buf_release(&rec);
	if (!err) {
		if (u->spool_streak)
			spool_recovered(u);
		u->spool_attempt = 0;
	} else if (spool_fault(err)) {
		spool_failed(u, "write to", err, true);
		err = -EAGAIN;
	}
	return err;
}

/* A window lost because it could not be stored: counted and logged. */
static void lost_spool_write(struct uploader *u, const struct remote_batch *b, int err)
{
	log_error("failed to spool the upload window at %" PRId64 " s, dropping it: %s",
		  b->start_ns / 1000000000, strerror(-err));
	pthread_mutex_lock(&u->lock);
	u->stats.dropped_spool_write++;
	pthread_mutex_unlock(&u->lock);
}

/* A window lost for want of a usable spool: counted (the streak's warning
 * said what this means), logged at debug. */
static void lost_no_spool(struct uploader *u, const struct remote_batch *b)
{
	log_debug("no usable spool: dropping the upload window at %" PRId64 " s",
		  b->start_ns / 1000000000);
	pthread_mutex_lock(&u->lock);
	u->stats.dropped_spool_unavailable++;
	pthread_mutex_unlock(&u->lock);
}

/* Writes b to the spool; b stays the caller's. 0, -EAGAIN (no usable
 * spool: the caller keeps b or drops it), or another -errno when b alone
 * cannot be stored (it is lost: counted and logged here). */
static int spool_batch(struct uploader *u, const struct remote_batch *b, uint64_t *seq)
{
	int err;

	pthread_mutex_lock(&u->spool_lock);
	err = spool_put_locked(u, b, seq);
	pthread_mutex_unlock(&u->spool_lock);
	if (err && err != -EAGAIN)
		lost_spool_write(u, b, err);
	return err;
}

/* Moves queued batches to the spool, oldest first, while it takes them;
 * what it cannot take stays queued, in order. spool_lock is held
 * throughout so two movers cannot interleave. */
static void spool_queue(struct uploader *u)
{
	pthread_mutex_lock(&u->spool_lock);
	for (;;) {
		struct remote_batch *b;
		int err;

		pthread_mutex_lock(&u->lock);
		if (!u->queue_len || !u->spool || u->spool_err) {
			pthread_mutex_unlock(&u->lock);
			break;
		}
		b = u->queue[u->queue_head];
		u->queue_head = (u->queue_head + 1) % UPLOADER_QUEUE_MAX;
		u->queue_len--;
		u->queue_bytes -= MIN(u->queue_bytes, batch_bytes(b));
		u->stats.queued = u->queue_len;
		pthread_mutex_unlock(&u->lock);

		err = spool_put_locked(u, b, NULL);
		if (err == -EAGAIN) {
			/* back in front, unless the other thread filled the
			 * queue meanwhile */
			pthread_mutex_lock(&u->lock);
			if (u->queue_len < UPLOADER_QUEUE_MAX) {
				u->queue_head = (u->queue_head + UPLOADER_QUEUE_MAX - 1) % UPLOADER_QUEUE_MAX;
				u->queue[u->queue_head] = b;
				u->queue_len++;
				u->queue_bytes += batch_bytes(b);
				u->stats.queued = u->queue_len;
				b = NULL;
			}
			pthread_mutex_unlock(&u->lock);
			if (b)
				lost_no_spool(u, b);
			remote__batch_free(b);
			break;
		}
		if (err)
			lost_spool_write(u, b, err);
		remote__batch_free(b);
	}
	pthread_mutex_unlock(&u->spool_lock);
}

/* Sender thread: reopens an unusable spool when it is time, and then at
 * once moves a held batch into it, before any other writer can put a
 * newer one ahead of it. Says whether the spool has records, whether it
 * takes new ones, and when it is next tried (0: not needed). */
static void spool_poll(struct uploader *u, bool *spooled, bool *writable, uint64_t *retry_ms)
{
	uint64_t seq;

	pthread_mutex_lock(&u->spool_lock);
	if (u->spool_err && clock__mono_ms() >= u->spool_retry_ms)
		spool_reopen(u);
	if (u->held && u->spool && !u->spool_err) {
		int err = spool_put_locked(u, u->held, NULL);

		if (err != -EAGAIN) {
			if (err)
				lost_spool_write(u, u->held, err);
			remote__batch_free(u->held);
			u->held = NULL;
		}
	}
	*spooled = u->spool && spool__next(u->spool, u->delivered_upto, &seq) == 0;
	*writable = u->spool && !u->spool_err;
	*retry_ms = u->spool_err ? u->spool_retry_ms : 0;
	pthread_mutex_unlock(&u->spool_lock);
}

static bool spool_usable(struct uploader *u)
{
	bool usable;

	pthread_mutex_lock(&u->spool_lock);
	usable = u->spool && !u->spool_err;
	pthread_mutex_unlock(&u->spool_lock);
	return usable;
}

/* spool__next, __get and __remove under spool_lock: a reopen may swap
 * the spool meanwhile. The oldest record not yet delivered. */
static int spool_oldest(struct uploader *u, uint64_t *seq)
{
	int err = -ENOENT;

	pthread_mutex_lock(&u->spool_lock);
	if (u->spool)
		err = spool__next(u->spool, u->delivered_upto, seq);
	pthread_mutex_unlock(&u->spool_lock);
	return err;
}

static int spool_get(struct uploader *u, uint64_t seq, struct buf *out)
{
	int err = -ENOENT;

	pthread_mutex_lock(&u->spool_lock);
	if (u->spool)
		err = spool__get(u->spool, seq, out);
	pthread_mutex_unlock(&u->spool_lock);
	return err;
}

static int spool_remove(struct uploader *u, uint64_t seq)
{
	int err = -ENOENT;

	pthread_mutex_lock(&u->spool_lock);
	if (u->spool)
		err = spool__remove(u->spool, seq);
	pthread_mutex_unlock(&u->spool_lock);
	return err;
}

/* ---- sending ---- */

static void count_failure(struct uploader *u, const struct remote_status *st)
{
	if (st->reason == REMOTE_FAIL_CANCELLED)
		return;
	pthread_mutex_lock(&u->lock);
	u->stats.failures[st->reason]++;
	pthread_mutex_unlock(&u->lock);
}

/* Sends b's pending requests in order; stops at the first retryable
 * failure. Rejected requests are dropped (marked done) so the rest of the
 * window still goes. */
static enum pass_result send_pending(struct uploader *u, struct remote_batch *b, bool *progress)
{
	for (size_t i = 0; i < b->n; i++) {
		struct remote_status st;

		if (b->requests[i].done)
			continue;
		switch (remote__send(u->remote, b, i, &st)) {
		case REMOTE_OK:
			*progress = true;
			pthread_mutex_lock(&u->lock);
			u->stats.requests_sent++;
			u->stats.bytes_sent += st.bytes_sent;
			pthread_mutex_unlock(&u->lock);
			continue;
		case REMOTE_RETRY:
			count_failure(u, &st);
			if (st.reason == REMOTE_FAIL_CANCELLED)
				return PASS_STOPPED;
			if (!u->failing)
				log_warn("failed to upload the window at %" PRId64 " s to %s (%s), "
					 "%s: %s",
					 b->start_ns / 1000000000, remote__protocol_name(b->protocol),
					 remote__failure_name(st.reason),
					 spool_usable(u) ? "spooling and retrying"
							 : "retrying (no usable spool: kept in memory)",
					 st.message);
			else
				log_debug("upload retry failed (%s): %s", remote__failure_name(st.reason),
					  st.message);
			u->failing = true;
			return PASS_RETRY;
		case REMOTE_DROP:
			count_failure(u, &st);
			if (st.reason == REMOTE_FAIL_UNSENDABLE) {
				log_error("dropping the spooled upload window at %" PRId64 " s: %s",
					  b->start_ns / 1000000000, st.message);
				pthread_mutex_lock(&u->lock);
				u->stats.dropped_unsendable++;
				pthread_mutex_unlock(&u->lock);
				return PASS_DONE;
			}
			log_error("%s rejected part %zu of %zu of the upload window at %" PRId64
				  " s, dropping it: %s",
				  remote__protocol_name(b->protocol), i + 1, b->n,
				  b->start_ns / 1000000000, st.message);
			b->requests[i].done = true;
			*progress = true;
			pthread_mutex_lock(&u->lock);
			u->stats.dropped_rejected++;
			pthread_mutex_unlock(&u->lock);
			continue;
		}
	}
	pthread_mutex_lock(&u->lock);
	u->stats.windows_sent++;
	pthread_mutex_unlock(&u->lock);
	if (u->failing) {
		log_info("upload to %s works again", remote__protocol_name(b->protocol));
		u->failing = false;
	}
	return PASS_DONE;
}

static uint32_t random_u32(void)
{
	uint32_t v;

	/* jitter needs no strength: a failing getrandom only loses spread */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)clock__mono_ms() * 2654435761u;
	return v;
}

/* After a failure: the next try waits uniformly between the minimum and a
 * cap doubling from it, so agents that lost the same backend spread out. */
static void schedule_retry(struct uploader *u)
{
	uint64_t cap = u->backoff_min_ms, delay;

	for (uint32_t i = 0; i < u->attempt && cap < u->backoff_max_ms; i++)
		cap *= 2;
	cap = MIN(cap, (uint64_t)u->backoff_max_ms);
	delay = u->backoff_min_ms + (cap > u->backoff_min_ms ? random_u32() % (cap - u->backoff_min_ms + 1) : 0);
	if (u->attempt < 64)
		u->attempt++;
	u->next_attempt_ms = clock__mono_ms() + delay;
	log_debug("next upload attempt in %" PRIu64 " ms", delay);
}

static void forget_current(struct uploader *u)
{
	remote__batch_free(u->current);
	u->current = NULL;
	u->current_dirty = false;
}

/* Retries the spool's oldest record. */
static enum pass_result replay_oldest(struct uploader *u)
{
	struct buf rec = {};
	enum pass_result res;
	bool progress = false;
	uint64_t seq;
	int err;

	err = spool_oldest(u, &seq);
	if (err)
		return PASS_DONE;
	if (u->current && u->current_seq != seq)
		forget_current(u); /* dropped for room meanwhile */
	if (!u->current) {
		err = spool_get(u, seq, &rec);
		if (!err) {
			err = remote__batch_parse(rec.data, rec.len, &u->current);
			if (err == -EBADMSG) {
				log_error("spooled upload record %" PRIu64 " is not a batch, removing it", seq);
				pthread_mutex_lock(&u->lock);
				u->corrupt++;
				pthread_mutex_unlock(&u->lock);
			}
		}
		buf_release(&rec);
		if (err == -EBADMSG || err == -EFBIG || err == -ENOENT) {
			/* spool__get logged and counted a corrupt one */
			if (err != -ENOENT)
				spool_remove(u, seq);
			if (err == -EFBIG) {
				pthread_mutex_lock(&u->lock);
				u->corrupt++;
				pthread_mutex_unlock(&u->lock);
			}
			return PASS_DONE;
		}
		if (err) {
			log_error("failed to read spooled upload record %" PRIu64 ": %s", seq,
				  strerror(-err));
			return PASS_RETRY;
		}
		u->current_seq = seq;
	}
	pthread_mutex_lock(&u->lock);
	u->stats.retries++;
	pthread_mutex_unlock(&u->lock);
	res = send_pending(u, u->current, &progress);
	if (progress)
		u->current_dirty = true;
	if (res == PASS_DONE) {
		err = spool_remove(u, seq);
		forget_current(u);
		if (err && err != -ENOENT) {
			/* skipped rather than retried: the next records, and new
			 * windows, must not wait on a read-only directory */
			pthread_mutex_lock(&u->spool_lock);
			u->delivered_upto = seq;
			if (!u->remove_failing)
				log_error("failed to remove delivered upload record %" PRIu64
					  " from spool directory '%s': %s; skipping it (it is "
					  "sent again if brasa restarts before it can be removed)",
					  seq, u->spool_opts.dir, strerror(-err));
			u->remove_failing = true;
			pthread_mutex_unlock(&u->spool_lock);
		}
	}
	return res;
}

/* A new batch, the spool being empty: sent at once, spooled on failure,
 * held in memory when the spool cannot take it. */
static enum pass_result send_new(struct uploader *u, struct remote_batch *b)
{
	bool progress = false;
	enum pass_result res = send_pending(u, b, &progress);

	if (res != PASS_DONE) {
		uint64_t seq;
		int err;

		/* with its delivered parts marked, so they are not sent twice */
		err = spool_batch(u, b, &seq);
		if (!err) {
			forget_current(u);
			u->current = b;
			u->current_seq = seq;
			return res;
		}
		if (err == -EAGAIN) {
			u->held = b;
			return res;
		}
	}
	remote__batch_free(b);
	return res;
}

/* The held batch again, straight to the backend (the spool still cannot
 * take it). */
static enum pass_result resend_held(struct uploader *u)
{
	bool progress = false;
	enum pass_result res;

	pthread_mutex_lock(&u->lock);
	u->stats.retries++;
	pthread_mutex_unlock(&u->lock);
	res = send_pending(u, u->held, &progress);
	if (res == PASS_DONE) {
		remote__batch_free(u->held);
		u->held = NULL;
	}
	return res;
}

/* On a clean stop: the spooled copy of a batch in progress learns which
 * parts were delivered. Rewriting it moves it behind newer records; sending
 * parts twice would duplicate data in backends without profile IDs. */
static void persist_progress(struct uploader *u)
{
	uint64_t seq;

	if (!u->current || !u->current_dirty)
		return;
	if (remote__batch_pending(u->current) && spool_batch(u, u->current, &seq) == 0)
		spool_remove(u, u->current_seq);
	forget_current(u);
}

/* Waits on cond until wake_ms (monotonic; 0: no deadline). Lock held. */
static void wait_until(struct uploader *u, uint64_t wake_ms)
{
	struct timespec ts = { (time_t)(wake_ms / 1000), (long)(wake_ms % 1000) * 1000000L };

	if (wake_ms)
		pthread_cond_timedwait(&u->cond, &u->lock, &ts);
	else
		pthread_cond_wait(&u->cond, &u->lock);
}

static void *sender_main(void *arg)
{
	struct uploader *u = arg;

	pthread_mutex_lock(&u->lock);
	while (!u->stopping) {
		bool spooled, writable;
		uint64_t retry_ms;
		enum pass_result res;

		pthread_mutex_unlock(&u->lock);
		spool_poll(u, &spooled, &writable, &retry_ms);
		pthread_mutex_lock(&u->lock);
		if (u->stopping)
			break;
		if (spooled || u->held) {
			uint64_t now = clock__mono_ms();

			/* order: nothing new goes out before what waits */
			if (spooled && writable && u->queue_len) {
				pthread_mutex_unlock(&u->lock);
				spool_queue(u);
				pthread_mutex_lock(&u->lock);
				continue;
			}
			if (now < u->next_attempt_ms) {
				u->stats.backing_off = true;
				/* an unusable spool is tried again meanwhile */
				wait_until(u, retry_ms ? MIN(retry_ms, u->next_attempt_ms) : u->next_attempt_ms);
				continue;
			}
			u->stats.backing_off = false;
			pthread_mutex_unlock(&u->lock);
			/* what is on disk is older than what is held */
			res = spooled ? replay_oldest(u) : resend_held(u);
		} else if (u->queue_len) {
			struct remote_batch *b = u->queue[u->queue_head];

			u->queue_head = (u->queue_head + 1) % UPLOADER_QUEUE_MAX;
			u->queue_len--;
			u->queue_bytes -= MIN(u->queue_bytes, batch_bytes(b));
			u->stats.queued = u->queue_len;
			pthread_mutex_unlock(&u->lock);
			res = send_new(u, b);
		} else {
			u->stats.backing_off = false;
			wait_until(u, retry_ms);
			continue;
		}
		if (res == PASS_RETRY)
			schedule_retry(u);
		else if (res == PASS_DONE)
			u->attempt = 0, u->next_attempt_ms = 0;
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	persist_progress(u);
	return NULL;
}

/* ---- API ---- */

int uploader__new(const struct uploader_opts *o, struct uploader **out)
{
	pthread_condattr_t attr;
	struct uploader *u;
	int err;

	if (!o || !out || !o->spool_dir || !o->spool_dir[0])
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->spool_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &attr);
	pthread_condattr_destroy(&attr);
	u->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : UPLOADER_BACKOFF_MIN_MS;
	u->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : UPLOADER_BACKOFF_MAX_MS;
	u->spool_retry_min_ms = o->spool_retry_min_ms ? o->spool_retry_min_ms
						      : UPLOADER_SPOOL_RETRY_MIN_MS;
	u->spool_retry_max_ms = o->spool_retry_max_ms ? o->spool_retry_max_ms
						      : UPLOADER_SPOOL_RETRY_MAX_MS;
	if (u->backoff_min_ms > u->backoff_max_ms || u->spool_retry_min_ms > u->spool_retry_max_ms) {
		err = -EINVAL;
		goto fail;
	}
	u->encode = (struct remote_encode_opts){
		.protocol = o->remote.protocol,
		.frequency_hz = o->frequency_hz,
	};
	u->spool_opts = (struct spool_opts){
		.dir = strdup(o->spool_dir),
		.max_bytes = o->spool_max_bytes ? o->spool_max_bytes : DEFAULT_SPOOL_MAX_BYTES,
	};
	if ((o->node && !(u->encode.node = strdup(o->node))) || !u->spool_opts.dir) {
		err = -ENOMEM;
		goto fail;
	}
	err = remote__new(&o->remote, &u->remote);
	if (err)
		goto fail;
	/* a spool that does not work is logged and retried, not fatal:
	 * uploads, and the agent, go on without it */
	pthread_mutex_lock(&u->spool_lock);
	spool_reopen(u);
	pthread_mutex_unlock(&u->spool_lock);
	err = -pthread_create(&u->thread, NULL, sender_main, u);
	if (err)
		goto fail;
	u->thread_started = true;
	*out = u;
	return 0;
fail:
	uploader__free(u);
	return err;
}

/* At stop: what is still in memory goes to the spool if it can be had
 * (one more try), else it is lost: counted and logged once. */
static void spool_at_stop(struct uploader *u)
{
	uint64_t lost = 0;

	if (!u->spool_opts.dir)
		return;
	pthread_mutex_lock(&u->spool_lock);
	if (u->spool_err && (u->held || u->queue_len))
		spool_reopen(u);
	if (u->held) {
		int err = spool_put_locked(u, u->held, NULL);

		if (err == -EAGAIN) {
			lost_no_spool(u, u->held);
			lost++;
		} else if (err) {
			lost_spool_write(u, u->held, err);
		}
		remote__batch_free(u->held);
		u->held = NULL;
	}
	pthread_mutex_unlock(&u->spool_lock);
	spool_queue(u);
	for (; u->queue_len; u->queue_len--) {
		struct remote_batch *b = u->queue[u->queue_head];

		u->queue_head = (u->queue_head + 1) % UPLOADER_QUEUE_MAX;
		lost_no_spool(u, b);
		lost++;
		remote__batch_free(b);
	}
	u->queue_bytes = 0;
	u->stats.queued = 0;
	if (lost)
		log_warn("stopping without a usable spool directory '%s': %" PRIu64
			 " upload window(s) not yet delivered are lost", u->spool_opts.dir, lost);
}

void uploader__free(struct uploader *u)
{
	if (!u)
		return;
	if (u->thread_started) {
		pthread_mutex_lock(&u->lock);
		u->stopping = true;
		pthread_cond_broadcast(&u->cond);
		pthread_mutex_unlock(&u->lock);
		/* an in-flight request ends within about a second */
		remote__cancel(u->remote);
		pthread_join(u->thread, NULL);
	}
	spool_at_stop(u);
	forget_current(u);
	spool__free(u->spool);
	remote__free(u->remote);
	free((char *)u->encode.node);
	free((char *)u->spool_opts.dir);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->spool_lock);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int uploader__submit(struct uploader *u, const struct upload_window *w)
{
	struct remote_batch *b = NULL;
	size_t bytes;
	int err;

	if (!u || !w)
		return -EINVAL;
	err = remote__encode(&u->encode, w, &b);
	if (err)
		return err;
	bytes = batch_bytes(b);
	pthread_mutex_lock(&u->lock);
	u->stats.windows_submitted++;
	u->stats.samples_dropped += b->samples_dropped;
	if (!b->n) {
		u->stats.windows_empty++;
		pthread_mutex_unlock(&u->lock);
		remote__batch_free(b);
		return 0;
	}
	if (u->queue_len == UPLOADER_QUEUE_MAX ||
	    (u->queue_len && u->queue_bytes + bytes > UPLOADER_QUEUE_MAX_BYTES)) {
		/* the sender is stuck in a slow request or the backend is
		 * down: memory stays bounded, the spool keeps the order */
		pthread_mutex_unlock(&u->lock);
		spool_queue(u);
		pthread_mutex_lock(&u->lock);
		/* what an unusable spool could not take: the oldest go */
		while (u->queue_len == UPLOADER_QUEUE_MAX ||
		       (u->queue_len && u->queue_bytes + bytes > UPLOADER_QUEUE_MAX_BYTES)) {
			struct remote_batch *old = u->queue[u->queue_head];

			u->queue_head = (u->queue_head + 1) % UPLOADER_QUEUE_MAX;
			u->queue_len--;
			u->queue_bytes -= MIN(u->queue_bytes, batch_bytes(old));
			pthread_mutex_unlock(&u->lock);
			lost_no_spool(u, old);
			remote__batch_free(old);
			pthread_mutex_lock(&u->lock);
		}
	}
	u->queue[(u->queue_head + u->queue_len) % UPLOADER_QUEUE_MAX] = b;
	u->queue_len++;
	u->queue_bytes += bytes;
	u->stats.queued = u->queue_len;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

void uploader__stats(struct uploader *u, struct uploader_stats *st)
{
	struct spool_stats ss;

	*st = (struct uploader_stats){};
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	*st = u->stats;
	st->spool_corrupt = u->corrupt;
	pthread_mutex_unlock(&u->lock);
	pthread_mutex_lock(&u->spool_lock);
	spool__stats(u->spool, &ss);
	st->spool_records = ss.records;
	st->spool_bytes = ss.bytes;
	st->spool_max_bytes = u->spool_opts.max_bytes;
	/* a reopened spool counts from zero: add what the closed ones had */
	st->spool_dropped = ss.dropped + u->spool_closed.dropped;
	st->spool_dropped_bytes = ss.dropped_bytes + u->spool_closed.dropped_bytes;
	st->spool_corrupt += ss.corrupt + u->spool_closed.corrupt;
	st->spool_errors = u->spool_errors;
	st->spool_usable = u->spool && !u->spool_err;
	pthread_mutex_unlock(&u->spool_lock);
}
