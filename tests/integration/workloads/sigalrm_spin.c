/* Workload spinning inside a SIGALRM handler: main -> wait_for_signal
 * spins until the alarm (after argv[2] seconds, default 1) interrupts it;
 * the handler on_alarm calls in_handler, which spins argv[1] seconds
 * (default 4) before returning.
 * Built -O2 -fomit-frame-pointer: stacks from in_handler reach main only
 * through the signal frame (__restore_rt's CFI). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "workload.h"

static volatile unsigned long sink;
static volatile sig_atomic_t handled;
static double handler_secs = 4;

NOINLINE void in_handler(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
	__asm__ volatile("" ::: "memory");
}

NOINLINE void on_alarm(int sig)
{
	(void)sig;
	in_handler(seconds_now() + handler_secs);
	handled = 1;
}

NOINLINE void wait_for_signal(void)
{
	/* spin in user code (not in pause()), so the signal interrupts an
	 * arbitrary instruction of this function */
	while (!handled)
		for (unsigned long i = 0; i < 200000 && !handled; i++)
			sink += i;
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct itimerval it = { .it_value = { .tv_sec = 1 } };

	if (argc > 1)
		handler_secs = strtod(argv[1], NULL);
	if (argc > 2) {
		double delay = strtod(argv[2], NULL);

		it.it_value.tv_sec = (time_t)delay;
		it.it_value.tv_usec = (suseconds_t)((delay - (double)(time_t)delay) * 1e6);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL); /* SIGALRM once */
	wait_for_signal();
	__asm__ volatile("" ::: "memory");
	return (int)(sink & 0);
}
