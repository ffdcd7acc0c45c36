/* Workload that lives about 300 ms: main -> short_lived_spin, then exits,
 * long before the agent's next drain. Its samples must still be
 * symbolized. */
#include "workload.h"

static volatile unsigned long sink;

NOINLINE void short_lived_spin(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 200000; i++)
			sink += i;
}

int main(void)
{
	short_lived_spin(seconds_now() + 0.3);
	return 0;
}
