/* uploader: ships every upload window to the backend, in order, surviving
 * outages and restarts through the on-disk spool.
 *
 * The caller's thread encodes a window (remote__encode: the profiles are
 * not kept) and queues the batch; one sender thread delivers batches with
 * remote__send:
 *   - with the spool empty, a new batch goes out at once;
 *   - a batch that fails with a retryable error is written to the spool
 *     (which parts were delivered included) and the sender backs off,
 *     exponentially from backoff_min_ms to backoff_max_ms with jitter (each
 *     wait uniformly random between backoff_min_ms and the current cap);
 *   - while the spool holds anything, new batches are spooled behind it and
 *     the oldest record is retried after each wait: delivered or dropped, it
 *     is removed and the next one goes at once; only an empty spool lets
 *     new batches go straight out again, so windows arrive in order;
 *   - a request the backend rejects (4xx, non-retryable gRPC status) is
 *     dropped with the server's message logged, the rest of its batch still
 *     goes; a spool record that is corrupt is removed and counted;
 *   - parts of a batch already delivered are not sent again on a retry, and
 *     a retry carries the same profile IDs.
 * At start the sender first replays what the spool holds from a previous
 * run. A full in-memory queue (UPLOADER_QUEUE_MAX windows or
 * UPLOADER_QUEUE_MAX_BYTES) is moved to the spool by the submitting thread.
 *
 * An unusable spool never stops uploads (nor the caller): when the
 * directory cannot be opened (missing and not creatable, not a directory,
 * no permission, locked by another agent) or written (a read-only or full
 * file system, permissions changed, the directory removed), the failure is
 * logged once per streak and counted (spool_errors), and the uploader runs
 * on without it: new windows still go straight to the backend; one that
 * fails is held in memory and retried with the usual backoff, the queue
 * waits behind it, and past UPLOADER_QUEUE_MAX windows the oldest queued
 * one is dropped (dropped_spool_unavailable). The spool is opened and
 * probed again after spool_retry_min_ms, doubling to spool_retry_max_ms,
 * and used as soon as that works; records it already holds are still
 * replayed while only its writes fail.
 *
 *   uploader__new(opts, &u)    0 or -errno (EINVAL: no spool_dir, bad remote
 *                              options (see remote__new), backoff_min_ms >
 *                              backoff_max_ms; ENOMEM); a spool that cannot
 *                              be used is not an error (see above);
 *                              *u owned by the caller
 *   uploader__free(u)          NULL-safe; stops the sender (an in-flight
 *                              request is cancelled within about a second)
 *                              and spools everything still queued, so a
 *                              clean stop loses nothing (but what an
 *                              unusable spool cannot take: counted, logged)
 *   uploader__submit(u, w)     encodes w now and queues it; 0 or -errno
 *                              (EINVAL, ENOMEM, EIO from gzip); a window with
 *                              no samples is counted and not sent
 *   uploader__stats(u, &st)    a consistent snapshot (zeros for NULL u)
 *
 * Progress within a spooled batch (requests already delivered) lives in
 * memory while the agent runs; a clean stop writes it back, which moves
 * that one record to the end of the spool; after a crash the delivered
 * parts are sent again (with the same IDs, which Pyroscope recognises).
 *
 * Thread-safe: submit and stats from any thread.
 */
#ifndef BRASA_SHIP_UPLOADER_H
#define BRASA_SHIP_UPLOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "ship/remote.h"

#define UPLOADER_QUEUE_MAX 8
#define UPLOADER_QUEUE_MAX_BYTES ((size_t)64 << 20)
#define UPLOADER_BACKOFF_MIN_MS 1000
#define UPLOADER_BACKOFF_MAX_MS (5 * 60 * 1000)
#define UPLOADER_SPOOL_RETRY_MIN_MS 1000
#define UPLOADER_SPOOL_RETRY_MAX_MS (30 * 1000)

struct uploader_opts {
	struct remote_opts remote;
	const char *spool_dir;          /* required */
	uint64_t spool_max_bytes;       /* 0: 512 MiB */
	uint32_t frequency_hz;          /* ingest's sampleRate */
	const char *node;               /* parca's node label for series without
					   one; NULL: the host name */
	uint32_t backoff_min_ms, backoff_max_ms; /* 0: 1 s and 5 min */
	uint32_t spool_retry_min_ms, spool_retry_max_ms; /* an unusable spool is
					   opened again after these; 0: 1 s, 30 s */
};

/* Counters since uploader__new; windows are upload windows (batches). */
struct uploader_stats {
	uint64_t windows_submitted;     /* uploader__submit calls that encoded */
	uint64_t windows_empty;         /* of those, with nothing to send */
	uint64_t windows_sent;          /* every request delivered or rejected */
	uint64_t requests_sent, bytes_sent;
	uint64_t failures[REMOTE_FAIL__COUNT]; /* failed sends by reason
					   (remote__failure_name); cancelled
					   sends at stop are not counted */
	uint64_t retries;               /* sends of spooled batches */
	uint64_t dropped_rejected;      /* requests the backend rejected (4xx,
					   non-retryable gRPC status) */
	uint64_t dropped_unsendable;    /* spooled windows no longer sendable
					   (protocol changed, unreadable) */
	uint64_t dropped_spool_write;   /* windows the spool could not take
					   (larger than the spool's bound, out of
					   memory) */
	uint64_t dropped_spool_unavailable; /* windows lost for want of a usable
					   spool: not sent, and no room left
					   in memory (or the agent stopped) */
	uint64_t samples_dropped;       /* samples alone over the size limit */
	uint64_t queued;                /* windows in memory now */
	bool backing_off;               /* waiting before the next retry */
	/* from spool__stats */
	uint64_t spool_records, spool_bytes;
	uint64_t spool_max_bytes;       /* the spool's bound */
	uint64_t spool_dropped, spool_dropped_bytes; /* oldest dropped for room */
	uint64_t spool_corrupt;         /* corrupt records skipped */
	uint64_t spool_errors;          /* failed attempts to open or write the
					   spool */
	bool spool_usable;              /* the spool is open and takes records */
};

struct uploader;

int uploader__new(const struct uploader_opts *o, struct uploader **out);
void uploader__free(struct uploader *u);
int uploader__submit(struct uploader *u, const struct upload_window *w);
void uploader__stats(struct uploader *u, struct uploader_stats *st);

#endif
