/* Workload that lives about 300 ms: main -> short_lived_spin, then exits,
 * long before the agent's next drain. Its samples must still be
 * symbolized. */
#include <time.h>

#define NOINLINE __attribute__((noinline))

static volatile unsigned long sink;

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

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
