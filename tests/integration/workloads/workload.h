/* Shared by the test workloads: a monotonic clock in seconds, and a
 * noinline marker so each named function really is a frame. */
#ifndef BRASA_TESTS_WORKLOAD_H
#define BRASA_TESTS_WORKLOAD_H

#include <time.h>

#define NOINLINE __attribute__((noinline))

static inline double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
