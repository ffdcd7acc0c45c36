/* A tight loop calling a tiny function of a shared library (plt_lib)
 * through the PLT: its stub, plt_tiny@plt, shows in the samples. Runs
 * for argv[1] seconds (default 5). */
#include <stdlib.h>

#include "workload.h"

int plt_tiny(int x);

static volatile int sink;

int main(int argc, char **argv)
{
	double until = seconds_now() + (argc > 1 ? strtod(argv[1], NULL) : 5);

	while (seconds_now() < until) {
		int x = 0;

		for (int i = 0; i < 1000000; i++)
			x = plt_tiny(x);
		sink += x;
	}
	return 0;
}
