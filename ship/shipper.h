/* shipper: the daemon's window loop. One thread keeps a chain of windows
 * open on the profiler for each sample type it ships (by_series, every
 * process, interval long, each starting at the drain that ended the one
 * before, so no sample falls between two): cpu always, off_cpu when the
 * profiler records it. It hands each finished window — one profile per
 * process label set, of one type — to the uploader, which delivers or
 * spools it, and to the local history, which stores it (the thread is
 * the history's one writer: a slow disk delays the store, never the
 * sampling, as the next window is already open). The chains have the
 * same interval and start together, so their windows end at the same
 * drain; each interval's windows are submitted in type order (cpu, then
 * off_cpu).
 *
 *   shipper__start(opts, &sh)  0 or -errno (EINVAL: no profiler, neither
 *                              uploader nor history, interval 0; -errno
 *                              from pthread_create or
 *                              profiler__window_open, for any chain)
 *   shipper__stop(sh)          NULL-safe. Call after profiler__cancel_windows:
 *                              the window in progress of every chain then
 *                              ends at once and is submitted with what it
 *                              holds, so a clean stop loses nothing; joins
 *                              the thread.
 *   shipper__stats(sh, &st)    windows submitted and failed to submit, in
 *                              all and by type
 */
#ifndef BRASA_SHIP_SHIPPER_H
#define BRASA_SHIP_SHIPPER_H

#include <stdint.h>

#include "core/pprof.h"

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
	uint64_t windows_of[PPROF_TYPE_MAX]; /* windows by sample type */
};

struct shipper;

int shipper__start(const struct shipper_opts *o, struct shipper **out);
void shipper__stop(struct shipper *sh);
void shipper__stats(struct shipper *sh, struct shipper_stats *st);

#endif
