/* A JIT in miniature: copies a small loop into anonymous executable
 * memory and runs it for SECONDS, so its samples have their leaf in
 * JIT code and the agent looks for /tmp/perf-PID.map. Prints the code's
 * address and size ("jit 0x... 16") on stdout once it runs, then waits
 * for a line on stdin before it starts, so a test can put whatever it
 * likes at the perf map's path first.
 *
 *   jit_spin SECONDS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "workload.h"

/* rax = 0; loop: inc rax; cmp rax, rdi; jne loop; ret */
static const unsigned char code[] = {
	0x48, 0x31, 0xc0,       /* xor rax, rax */
	0x48, 0xff, 0xc0,       /* inc rax */
	0x48, 0x39, 0xf8,       /* cmp rax, rdi */
	0x75, 0xf8,             /* jne -8 (to inc) */
	0xc3,                   /* ret */
};

NOINLINE static void run_jit(unsigned long (*fn)(unsigned long), double until)
{
	while (seconds_now() < until)
		fn(20000000);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	unsigned char *mem;
	char line[16];

	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memcpy(mem, code, sizeof(code));
	printf("jit 0x%lx %zu\n", (unsigned long)(uintptr_t)mem, sizeof(code));
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	run_jit((unsigned long (*)(unsigned long))(void *)mem, seconds_now() + seconds);
	return 0;
}
