/* shipper: chained upload windows, one chain per sample type, to the
 * uploader and the history (see shipper.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/profiler.h"
#include "history/history.h"
#include "ship/remote.h"
#include "ship/shipper.h"
#include "ship/uploader.h"
#include "common/log.h"
#include "common/macros.h"

/* The types shipped, in the order each interval's windows are submitted;
 * another type the profiler may record is not (the backends' names for
 * it: ship/remote.h). */
static const enum pprof_type shipped_types[] = { PPROF_TYPE_CPU, PPROF_TYPE_OFF_CPU };

struct shipper {
	struct shipper_opts o;
	/* each type's window in progress; NULL: the type is not recorded,
	 * or its chain ended (the profiler stopped) */
	struct window *chain[PPROF_TYPE_MAX];
	pthread_t thread;
	pthread_mutex_t lock; /* stats */
	struct shipper_stats stats;
};

/* The window into the history; 0 or -errno (logged: the history counts
 * its drops by reason, this says what happened to this window). */
static int store(struct shipper *sh, struct window *w, enum pprof_type type, size_t n)
{
	struct history_series *series = calloc(n ? n : 1, sizeof(*series));
	struct history_window hw = { .start_unix_ns = window__start_unix_ns(w),
				     .duration_ns = window__duration_ns(w), .type = type };
	int err = -ENOMEM;

	if (series) {
		for (size_t i = 0; i < n; i++)
			series[i].profile = window__series(w, i, &series[i].labels);
		hw.series = series;
		hw.n = n;
		err = history__put(sh->o.history, &hw);
	}
	free(series);
	if (err)
		log_error("the local history could not store a %s window (%zu series): %s",
			  pprof_type_names[type], n, strerror(-err));
	return err;
}

static void submit(struct shipper *sh, struct window *w, enum pprof_type type)
{
	size_t n = window__nseries(w);
	struct upload_series *series = NULL;
	struct upload_window uw = { 0 };
	int err = 0, herr = 0;

	if (sh->o.uploader) {
		series = calloc(n ? n : 1, sizeof(*series));
		err = -ENOMEM;
	}
	if (series) {
		for (size_t i = 0; i < n; i++)
			series[i].profile = window__series(w, i, &series[i].labels);
		uw.start_ns = window__start_unix_ns(w);
		uw.end_ns = uw.start_ns + window__duration_ns(w);
		uw.series = series;
		uw.n = n;
		uw.type = type;
		err = uploader__submit(sh->o.uploader, &uw);
	}
	free(series);
	if (sh->o.history)
		herr = store(sh, w, type, n);
	pthread_mutex_lock(&sh->lock);
	sh->stats.windows++;
	sh->stats.windows_of[type]++;
	sh->stats.submit_failures += err ? 1 : 0;
	sh->stats.history_failures += herr ? 1 : 0;
	pthread_mutex_unlock(&sh->lock);
	/* the uploader logs and counts its own failures; this is the window
	 * lost before it got there */
	if (err)
		log_error("failed to queue an upload window (%s, %zu series): %s",
			  pprof_type_names[type], n, strerror(-err));
}

static void *run(void *arg)
{
	struct shipper *sh = arg;
	bool any = true;

	/* its CPU time is the uploads' encoding and the history's writes
	 * (tests/bench/history.py reads it by this name) */
	pthread_setname_np(pthread_self(), "brasa-windows");
	/* a window without a successor is the last of its chain: the
	 * profiler stopped. The chains' windows end at the same drain, so
	 * waiting for one while the other's is done costs no delay worth
	 * a thread */
	while (any) {
		any = false;
		for (size_t i = 0; i < ARRAY_SIZE(shipped_types); i++) {
			enum pprof_type t = shipped_types[i];
			struct window *w = sh->chain[t];

			if (!w)
				continue;
			window__wait(w);
			sh->chain[t] = window__successor(w);
			submit(sh, w, t);
			window__close(w);
			any |= sh->chain[t] != NULL;
		}
	}
	return NULL;
}

static void close_chains(struct shipper *sh)
{
	for (size_t t = 0; t < PPROF_TYPE_MAX; t++) {
		window__close(sh->chain[t]);
		sh->chain[t] = NULL;
	}
}

int shipper__start(const struct shipper_opts *o, struct shipper **out)
{
	struct window_opts wo = { .seconds = o->interval_s, .pid = -1,
				  .by_series = true, .chain = true };
	struct shipper *sh;
	int err = 0;

	if (!o->profiler || (!o->uploader && !o->history) || !o->interval_s)
		return -EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->o = *o;
	pthread_mutex_init(&sh->lock, NULL);
	/* opened back to back, the chains start at the same drain */
	for (size_t i = 0; !err && i < ARRAY_SIZE(shipped_types); i++) {
		wo.type = shipped_types[i];
		if (profiler__records(o->profiler, wo.type))
			err = profiler__window_open(o->profiler, &wo, &sh->chain[wo.type]);
	}
	if (!err)
		err = -pthread_create(&sh->thread, NULL, run, sh);
	if (err) {
		close_chains(sh);
		goto fail;
	}
	*out = sh;
	return 0;
fail:
	pthread_mutex_destroy(&sh->lock);
	free(sh);
	return err;
}

void shipper__stop(struct shipper *sh)
{
	if (!sh)
		return;
	pthread_join(sh->thread, NULL);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

void shipper__stats(struct shipper *sh, struct shipper_stats *st)
{
	if (!sh) {
		*st = (struct shipper_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&sh->lock);
	*st = sh->stats;
	pthread_mutex_unlock(&sh->lock);
}
