/* Library for dlopen_spin, built -O2 -fomit-frame-pointer and loaded only
 * after the program has run a while: lib_outer -> lib_inner, which spins
 * until the given time. */
#include "workload.h"

static volatile unsigned long sink;

NOINLINE void lib_inner(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
}

NOINLINE void lib_outer(double until)
{
	volatile char pad[40];

	pad[0] = 1;
	lib_inner(until);
	__asm__ volatile("" ::: "memory");
	sink += pad[0];
}
