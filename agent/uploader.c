#include "uploader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent/spool.h"
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
	struct spool *spool;
	uint32_t backoff_min_ms, backoff_max_ms;

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
	struct remote_batch *current;   /* the spool's oldest record, parsed */
	uint64_t current_seq;
	bool current_dirty;             /* delivered parts the record lacks */
	uint32_t attempt;               /* failures in a row */
	uint64_t next_attempt_ms;       /* monotonic; 0: now */
	bool failing;                   /* logged the start of an outage */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t batch_bytes(const struct remote_batch *b)
{
	size_t n = sizeof(*b);

	for (size_t i = 0; i < b->n; i++)
		n += b->requests[i].body.len + sizeof(b->requests[i]);
	return n;
}

/* ---- spool ---- */

/* Writes b to the spool; b stays the caller's. A window the spool cannot
 * take is lost: counted and logged here. */
static int spool_batch(struct uploader *u, const struct remote_batch *b, uint64_t *seq)
{
	struct buf rec = {};
	uint64_t unused;
	int err;

	err = remote__batch_serialize(b, &rec);
	if (!err)
		err = spool__put(u->spool, rec.data, rec.len, seq ? seq : &unused);
	buf_release(&rec);
	if (err) {
		log_error("failed to spool the upload window at %" PRId64 " s (%zu bytes), dropping it: %s",
			  b->start_ns / 1000000000, rec.len, strerror(-err));
		pthread_mutex_lock(&u->lock);
		u->stats.dropped_spool_write++;
		pthread_mutex_unlock(&u->lock);
	}
	return err;
}

/* Moves every queued batch to the spool, oldest first, plus extra (may be
 * NULL) after them. Takes and releases the lock. */
static void spool_queue(struct uploader *u, struct remote_batch *extra)
{
	struct remote_batch *batches[UPLOADER_QUEUE_MAX + 1];
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (u->queue_len) {
		batches[n++] = u->queue[u->queue_head];
		u->queue_head = (u->queue_head + 1) % UPLOADER_QUEUE_MAX;
		u->queue_len--;
	}
	u->queue_bytes = 0;
	u->stats.queued = 0;
	pthread_mutex_unlock(&u->lock);
	if (extra)
		batches[n++] = extra;
	for (size_t i = 0; i < n; i++) {
		spool_batch(u, batches[i], NULL);
		remote__batch_free(batches[i]);
	}
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
					 "spooling and retrying: %s",
					 b->start_ns / 1000000000, remote__protocol_name(b->protocol),
					 remote__failure_name(st.reason), st.message);
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
		v = (uint32_t)now_ms() * 2654435761u;
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
	u->next_attempt_ms = now_ms() + delay;
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

	err = spool__oldest(u->spool, &seq);
	if (err)
		return PASS_DONE;
	if (u->current && u->current_seq != seq)
		forget_current(u); /* dropped for room meanwhile */
	if (!u->current) {
		err = spool__get(u->spool, seq, &rec);
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
				spool__remove(u->spool, seq);
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
		err = spool__remove(u->spool, seq);
		if (err && err != -ENOENT) {
			/* kept in memory as done: waits, rather than a busy loop */
			log_error("failed to remove spooled upload record %" PRIu64 ": %s", seq,
				  strerror(-err));
			return PASS_RETRY;
		}
		forget_current(u);
	}
	return res;
}

/* A new batch, the spool being empty: sent at once, spooled on failure. */
static enum pass_result send_new(struct uploader *u, struct remote_batch *b)
{
	bool progress = false;
	enum pass_result res = send_pending(u, b, &progress);

	if (res != PASS_DONE) {
		uint64_t seq;

		/* with its delivered parts marked, so they are not sent twice */
		if (spool_batch(u, b, &seq) == 0) {
			forget_current(u);
			u->current = b;
			u->current_seq = seq;
			return res;
		}
	}
	remote__batch_free(b);
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
		spool__remove(u->spool, u->current_seq);
	forget_current(u);
}

static void *sender_main(void *arg)
{
	struct uploader *u = arg;

	pthread_mutex_lock(&u->lock);
	while (!u->stopping) {
		uint64_t seq;
		bool spooled = spool__oldest(u->spool, &seq) == 0;
		enum pass_result res;

		if (spooled) {
			uint64_t now = now_ms();

			/* order: nothing new goes out before what waits on disk */
			if (u->queue_len) {
				pthread_mutex_unlock(&u->lock);
				spool_queue(u, NULL);
				pthread_mutex_lock(&u->lock);
				continue;
			}
			if (now < u->next_attempt_ms) {
				uint64_t wake = u->next_attempt_ms;
				struct timespec ts = { (time_t)(wake / 1000), (long)(wake % 1000) * 1000000L };

				u->stats.backing_off = true;
				pthread_cond_timedwait(&u->cond, &u->lock, &ts);
				continue;
			}
			u->stats.backing_off = false;
			pthread_mutex_unlock(&u->lock);
			res = replay_oldest(u);
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
			pthread_cond_wait(&u->cond, &u->lock);
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
	struct spool_opts so;
	pthread_condattr_t attr;
	struct uploader *u;
	int err;

	if (!o || !out || !o->spool_dir || !o->spool_dir[0])
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : UPLOADER_BACKOFF_MIN_MS;
	u->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : UPLOADER_BACKOFF_MAX_MS;
	if (u->backoff_min_ms > u->backoff_max_ms) {
		free(u);
		return -EINVAL;
	}
	u->encode = (struct remote_encode_opts){
		.protocol = o->remote.protocol,
		.frequency_hz = o->frequency_hz,
	};
	if (o->node) {
		u->encode.node = strdup(o->node);
		if (!u->encode.node) {
			free(u);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &attr);
	pthread_condattr_destroy(&attr);

	err = remote__new(&o->remote, &u->remote);
	if (err)
		goto fail;
	so = (struct spool_opts){
		.dir = o->spool_dir,
		.max_bytes = o->spool_max_bytes ? o->spool_max_bytes : DEFAULT_SPOOL_MAX_BYTES,
	};
	err = spool__open(&so, &u->spool);
	if (err)
		goto fail;
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
	if (u->spool)
		spool_queue(u, NULL);
	forget_current(u);
	for (size_t i = 0; i < u->queue_len; i++)
		remote__batch_free(u->queue[(u->queue_head + i) % UPLOADER_QUEUE_MAX]);
	spool__free(u->spool);
	remote__free(u->remote);
	free((char *)u->encode.node);
	pthread_cond_destroy(&u->cond);
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
		/* the sender is stuck in a slow request: memory stays bounded,
		 * the spool keeps the order */
		pthread_mutex_unlock(&u->lock);
		spool_queue(u, b);
		pthread_mutex_lock(&u->lock);
	} else {
		u->queue[(u->queue_head + u->queue_len) % UPLOADER_QUEUE_MAX] = b;
		u->queue_len++;
		u->queue_bytes += bytes;
		u->stats.queued = u->queue_len;
	}
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
	spool__stats(u->spool, &ss);
	st->spool_records = ss.records;
	st->spool_bytes = ss.bytes;
	st->spool_dropped = ss.dropped;
	st->spool_dropped_bytes = ss.dropped_bytes;
	st->spool_corrupt += ss.corrupt;
}
