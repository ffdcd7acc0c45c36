/* shipper: the daemon's window loop. One thread keeps a chain of windows
 * open on the profiler (by_series, every process, interval long, each
 * starting at the drain that ended the one before, so no sample falls
 * between two), and hands each finished window — one profile per process
 * label set — to the uploader, which delivers or spools it, and to the
 * local history, which stores it (the thread is the history's one
 * writer: a slow disk delays the store, never the sampling, as the next
 * window is already open).
 *
 *   shipper__start(opts, &sh)  0 or -errno (EINVAL: no profiler, neither
 *                              uploader nor history, interval 0; -errno
 *                              from pthread_create or
 *                              profiler__window_open)
 *   shipper__stop(sh)          NULL-safe. Call after profiler__cancel_windows:
 *                              the window in progress then ends at once and
 *                              is submitted with what it holds, so a clean
 *                              stop loses nothing; joins the thread.
 *   shipper__stats(sh, &st)    windows submitted and failed to submit
 */
#ifndef BRASA_SHIP_SHIPPER_H
#define BRASA_SHIP_SHIPPER_H

#include <stdint.h>

struct history;
struct profiler;
struct uploader;

struct shipper_opts {
	struct profiler *profiler;
	struct uploader *uploader; /* NULL: no uploads */
	struct history *history;   /* NULL: no local history */
	uint32_t interval_s;
};

struct shipper_stats {
	uint64_t windows, submit_failures;
	uint64_t history_failures; /* windows the history could not store */
};

struct shipper;

int shipper__start(const struct shipper_opts *o, struct shipper **out);
void shipper__stop(struct shipper *sh);
void shipper__stats(struct shipper *sh, struct shipper_stats *st);

#endif
