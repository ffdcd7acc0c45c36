/* Workload with a known call chain main -> outer -> middle -> leaf; leaf
 * spins. Built with frame pointers. Runs for argv[1] seconds (default 5). */
#include <stdlib.h>

#include "workload.h"

static volatile unsigned long sink;

NOINLINE void leaf(double until)
{
	/* Check the clock rarely so nearly every sample lands in leaf itself. */
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
}

NOINLINE void middle(double until)
{
	leaf(until);
	sink++; /* no tail call */
}

NOINLINE void outer(double until)
{
	middle(until);
	sink++;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 5;

	outer(seconds_now() + secs);
	return 0;
}
