/* clock: nanosecond readings of the kernel's clocks, and deadlines on
 * CLOCK_MONOTONIC (never stepped by settimeofday or NTP, so a deadline
 * neither fires early nor never).
 *
 *   clock__ns(clk)            clk's current time in ns
 *   clock__mono_ns()          CLOCK_MONOTONIC in ns
 *   clock__mono_ms()          the same in ms
 *   clock__mono_s()           the same in seconds, as a double (for
 *                             measurements and logs)
 *   clock__past(deadline_ns)  true once CLOCK_MONOTONIC is past deadline_ns;
 *                             a deadline of 0 is none (never past)
 */
#ifndef BRASA_COMMON_CLOCK_H
#define BRASA_COMMON_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t clock__ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock__mono_ns(void)
{
	return clock__ns(CLOCK_MONOTONIC);
}

static inline uint64_t clock__mono_ms(void)
{
	return clock__mono_ns() / 1000000u;
}

static inline double clock__mono_s(void)
{
	return (double)clock__mono_ns() / 1e9;
}

static inline bool clock__past(uint64_t deadline_ns)
{
	return deadline_ns && clock__mono_ns() > deadline_ns;
}

#endif
