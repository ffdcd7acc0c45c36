/* Workload of tests/integration/test_offcpu.py: threads that wait off the
 * CPU in known ways, each from its own call chain, for argv[1] seconds
 * (default 5):
 *
 *   sleeper   sleeper_outer -> sleeper_wait -> nanosleep(9 ms), then 1 ms
 *             of spinning: off the CPU ~90 % of the time
 *   piper     piper_outer -> piper_wait -> read() of a pipe that the
 *             feeder thread writes a byte to every 20 ms
 *   locker    locker_outer -> locker_wait -> pthread_mutex_lock() of a
 *             mutex the holder thread keeps for 15 ms at a time (a futex)
 *   holder    holder_outer -> holder_hold -> nanosleep(15 ms) holding it
 *   spinner   spinner_outer -> spin_loop, never blocking
 *
 * At the end each thread prints one line:
 *   NAME TID WAIT_NS RUN_DELAY_NS WALL_NS
 * WAIT_NS is the wall time spent inside its waiting calls, RUN_DELAY_NS
 * the time it waited for a CPU while runnable (schedstat's second field,
 * read at the start and the end), WALL_NS its running time. Built with
 * frame pointers and without inlining, like the other workloads. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

static double until;
static int pipefd[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t run_delay_ns(void)
{
	unsigned long long run = 0, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (f) {
		if (fscanf(f, "%llu %llu", &run, &delay) != 2)
			delay = 0;
		fclose(f);
	}
	return delay;
}

struct thread_report {
	const char *name;
	uint64_t start, delay0, wait;
};

static void report_start(struct thread_report *r, const char *name)
{
	pthread_setname_np(pthread_self(), name);
	r->name = name;
	r->start = now_ns();
	r->delay0 = run_delay_ns();
	r->wait = 0;
}

static void report_end(const struct thread_report *r)
{
	uint64_t delay = run_delay_ns() - r->delay0, wall = now_ns() - r->start;

	pthread_mutex_lock(&print_lock);
	printf("%s %ld %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", r->name, (long)syscall(SYS_gettid),
	       r->wait, delay, wall);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void spin_for(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
}

NOINLINE void sleeper_wait(struct thread_report *r)
{
	struct timespec t = { 0, 9000000 };
	uint64_t t0 = now_ns();

	nanosleep(&t, NULL);
	r->wait += now_ns() - t0;
}

NOINLINE void sleeper_outer(struct thread_report *r)
{
	while (seconds_now() < until) {
		sleeper_wait(r);
		spin_for(1000000);
	}
	sink++;
}

NOINLINE void piper_wait(struct thread_report *r)
{
	char c;
	uint64_t t0 = now_ns();

	if (read(pipefd[0], &c, 1) != 1)
		until = 0;
	r->wait += now_ns() - t0;
}

NOINLINE void piper_outer(struct thread_report *r)
{
	while (seconds_now() < until)
		piper_wait(r);
	sink++;
}

NOINLINE void locker_wait(struct thread_report *r)
{
	uint64_t t0 = now_ns();

	pthread_mutex_lock(&lock);
	r->wait += now_ns() - t0;
	pthread_mutex_unlock(&lock);
}

NOINLINE void locker_outer(struct thread_report *r)
{
	while (seconds_now() < until) {
		locker_wait(r);
		spin_for(200000); /* lets the holder take it again first */
	}
	sink++;
}

NOINLINE void holder_hold(struct thread_report *r)
{
	struct timespec t = { 0, 15000000 };
	uint64_t t0 = now_ns();

	pthread_mutex_lock(&lock);
	nanosleep(&t, NULL);
	pthread_mutex_unlock(&lock);
	r->wait += now_ns() - t0;
}

NOINLINE void holder_outer(struct thread_report *r)
{
	while (seconds_now() < until) {
		holder_hold(r);
		spin_for(100000);
	}
	sink++;
}

NOINLINE void spin_loop(void)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
}

NOINLINE void spinner_outer(struct thread_report *r)
{
	(void)r;
	spin_loop();
	sink++;
}

struct role {
	const char *name;
	void (*run)(struct thread_report *r);
};

static void *thread_main(void *arg)
{
	const struct role *role = arg;
	struct thread_report r;

	report_start(&r, role->name);
	role->run(&r);
	report_end(&r);
	return NULL;
}

/* The pipe's writer: one byte every 20 ms, and a last one at the end. */
static void *feeder(void *arg)
{
	struct timespec t = { 0, 20000000 };

	(void)arg;
	pthread_setname_np(pthread_self(), "feeder");
	while (seconds_now() < until) {
		nanosleep(&t, NULL);
		if (write(pipefd[1], "x", 1) != 1)
			break;
	}
	if (write(pipefd[1], "x", 1) != 1)
		return NULL;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct role roles[] = {
		{ "sleeper", sleeper_outer }, { "piper", piper_outer },
		{ "locker", locker_outer },   { "holder", holder_outer },
		{ "spinner", spinner_outer },
	};
	pthread_t threads[sizeof(roles) / sizeof(roles[0]) + 1];
	size_t n = 0;

	until = seconds_now() + (argc > 1 ? strtod(argv[1], NULL) : 5);
	if (pipe(pipefd))
		return 1;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (pthread_create(&threads[n++], NULL, thread_main, (void *)&roles[i]))
			return 1;
	if (pthread_create(&threads[n++], NULL, feeder, NULL))
		return 1;
	for (size_t i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
