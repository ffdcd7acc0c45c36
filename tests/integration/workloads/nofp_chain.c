/* Workload without frame pointers (built -O2 -fomit-frame-pointer) and a
 * known chain: main -> alpha -> beta -> recurse (40 levels) -> gamma,
 * which spins. Only the unwind tables can walk it. Runs for argv[1]
 * seconds (default 5). */
#include <stdlib.h>

#include "workload.h"

/* gamma is also a libm builtin; this one is ours (GCC only warns) */
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wbuiltin-declaration-mismatch"
#endif

#define DEPTH 40

static volatile unsigned long sink;

/* Keeps the compiler from merging or eliding the frames: each function
 * does work after its call, so no call is a tail call. */
#define BARRIER() __asm__ volatile("" ::: "memory")

NOINLINE void gamma(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
}

NOINLINE void recurse(int level, double until)
{
	/* a frame of its own size, so the CFA offset is not a constant
	 * shared with the callers' */
	volatile char pad[24];

	pad[0] = (char)level;
	if (level > 1)
		recurse(level - 1, until);
	else
		gamma(until);
	BARRIER();
	sink += pad[0];
}

NOINLINE void beta(double until)
{
	recurse(DEPTH, until);
	BARRIER();
	sink++;
}

NOINLINE void alpha(double until)
{
	beta(until);
	BARRIER();
	sink++;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 5;

	alpha(seconds_now() + secs);
	BARRIER();
	return (int)(sink & 1) * 0;
}
