/* A process that lives argv[1] milliseconds (default 50), CPU-bound from
 * its first instruction of main: half in its own code (main ->
 * startup_own_spin), half in a shared library's (main ->
 * startup_lib_spin), in chunks of about a millisecond. Built without frame
 * pointers: only unwind tables give whole stacks. Started by the hundred
 * by tests/integration/test_startup.py. */
#include <stdlib.h>

#include "workload.h"

void startup_lib_spin(unsigned long n);

static volatile unsigned long sink;

NOINLINE void startup_own_spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i;
}

int main(int argc, char **argv)
{
	double until = seconds_now() + (argc > 1 ? atof(argv[1]) : 50) / 1000;

	/* the clock is read once a chunk: few samples land in the vdso */
	while (seconds_now() < until) {
		startup_own_spin(300000);
		startup_lib_spin(300000);
	}
	return 0;
}
