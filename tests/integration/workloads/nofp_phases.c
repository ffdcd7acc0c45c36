/* Workload without frame pointers in two phases: main -> first_phase ->
 * spin_one for argv[1] seconds, then main -> second_phase -> spin_two for
 * argv[2] seconds. The second phase runs code the first never touched, so
 * it is unwound from the tables, not from rules cached during the first. */
#include <stdlib.h>

#include "workload.h"

static volatile unsigned long sink;

#define BARRIER() __asm__ volatile("" ::: "memory")

NOINLINE void spin_one(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * 3;
}

NOINLINE void spin_two(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * 5;
}

NOINLINE void first_phase(double until)
{
	spin_one(until);
	BARRIER();
	sink++;
}

NOINLINE void second_phase(double until)
{
	spin_two(until);
	BARRIER();
	sink++;
}

int main(int argc, char **argv)
{
	double one = argc > 1 ? strtod(argv[1], NULL) : 3;
	double two = argc > 2 ? strtod(argv[2], NULL) : 3;

	first_phase(seconds_now() + one);
	BARRIER();
	second_phase(seconds_now() + two);
	BARRIER();
	return (int)(sink & 1) * 0;
}
