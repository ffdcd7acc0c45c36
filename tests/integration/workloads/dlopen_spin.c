/* Workload that spins 1.5 s in before_dlopen, then dlopen()s the library
 * named in argv[1] and spins argv[2] seconds in its lib_outer ->
 * lib_inner. Prints "dlopened" on stdout (flushed) right after the dlopen,
 * so a test knows when the new code starts running. Built -O2
 * -fomit-frame-pointer like the library: only unwind tables of the newly
 * mapped library give complete stacks. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "workload.h"

static volatile unsigned long sink;

NOINLINE void before_dlopen(double until)
{
	while (seconds_now() < until)
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
	__asm__ volatile("" ::: "memory");
}

NOINLINE void run_library(void (*fn)(double), double secs)
{
	fn(seconds_now() + secs);
	__asm__ volatile("" ::: "memory");
	sink++;
}

int main(int argc, char **argv)
{
	void *lib;
	void (*fn)(double);

	if (argc < 3) {
		fprintf(stderr, "usage: dlopen_spin LIBRARY SECONDS\n");
		return 2;
	}
	before_dlopen(seconds_now() + 1.5);
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	fn = (void (*)(double))dlsym(lib, "lib_outer");
	if (!fn) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 1;
	}
	printf("dlopened %.6f\n", seconds_now());
	fflush(stdout);
	run_library(fn, strtod(argv[2], NULL));
	__asm__ volatile("" ::: "memory");
	return 0;
}
