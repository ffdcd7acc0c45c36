/* Spins for SECONDS in cfi_bomb (cfi_bomb.S), whose CFI takes an
 * unbounded unwind table builder more than ten minutes. */
#include <stdlib.h>

#include "workload.h"

void cfi_bomb(unsigned long n);

int main(int argc, char **argv)
{
	double until = seconds_now() + (argc > 1 ? atof(argv[1]) : 10);

	while (seconds_now() < until)
		cfi_bomb(50000000ul);
	return 0;
}
