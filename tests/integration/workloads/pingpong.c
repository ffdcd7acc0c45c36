/* Switch-heavy load for tests/bench/offcpu.py: pairs of threads passing a
 * byte back and forth through two pipes, so each blocks in read() at
 * every turn: two context switches per round trip and pair. Runs argv[1]
 * seconds (default 5) with argv[2] pairs (default 1), then prints the
 * round trips. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "workload.h"

static double until;

struct pair {
	int ping[2], pong[2];
	unsigned long trips;
};

static void *ponger(void *arg)
{
	struct pair *p = arg;
	char c;

	while (read(p->ping[0], &c, 1) == 1 && write(p->pong[1], &c, 1) == 1)
		;
	return NULL;
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	char c = 'x';

	while (seconds_now() < until) {
		for (int i = 0; i < 1000; i++) {
			if (write(p->ping[1], &c, 1) != 1 || read(p->pong[0], &c, 1) != 1)
				return NULL;
			p->trips++;
		}
	}
	close(p->ping[1]); /* the ponger's read ends */
	return NULL;
}

int main(int argc, char **argv)
{
	int npairs = argc > 2 ? atoi(argv[2]) : 1;
	struct pair *pairs = calloc((size_t)(npairs > 0 ? npairs : 1), sizeof(*pairs));
	pthread_t *threads = calloc((size_t)(npairs > 0 ? npairs : 1) * 2, sizeof(*threads));
	unsigned long trips = 0;

	if (!pairs || !threads || npairs < 1)
		return 1;
	until = seconds_now() + (argc > 1 ? strtod(argv[1], NULL) : 5);
	for (int i = 0; i < npairs; i++) {
		if (pipe(pairs[i].ping) || pipe(pairs[i].pong))
			return 1;
		if (pthread_create(&threads[2 * i], NULL, ponger, &pairs[i]) ||
		    pthread_create(&threads[2 * i + 1], NULL, pinger, &pairs[i]))
			return 1;
	}
	for (int i = 0; i < 2 * npairs; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < npairs; i++)
		trips += pairs[i].trips;
	printf("%lu\n", trips);
	return 0;
}
