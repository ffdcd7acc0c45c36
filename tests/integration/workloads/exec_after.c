/* Workload that spins argv[1] seconds in spin_before_exec, then execs the
 * program named in argv[2] (with the rest of the arguments) in the same
 * process: the agent must symbolize each part against its own image. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "workload.h"

static volatile unsigned long sink;

NOINLINE void spin_before_exec(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 200000; i++)
			sink += i;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: exec_after SECONDS PROGRAM [ARGS...]\n");
		return 2;
	}
	spin_before_exec(seconds_now() + strtod(argv[1], NULL));
	execv(argv[2], argv + 2);
	perror("execv");
	return 1;
}
