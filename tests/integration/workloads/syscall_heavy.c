/* Workload that spends most of its time in the kernel: main ->
 * syscall_heavy, which reads /dev/zero in 1 MiB chunks with a raw syscall
 * instruction (so the user leaf is syscall_heavy itself, not a libc
 * wrapper without frame pointer). Runs for argv[1] seconds (default 5). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "workload.h"

static char buffer[1 << 20];

NOINLINE long syscall_heavy(int fd, double until)
{
	long total = 0;

	while (seconds_now() < until) {
		long ret;

		__asm__ volatile("syscall"
				 : "=a"(ret)
				 : "0"((long)SYS_read), "D"((long)fd), "S"(buffer),
				   "d"((long)sizeof(buffer))
				 : "rcx", "r11", "memory");
		if (ret <= 0)
			return -1;
		total += ret;
	}
	return total;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 5;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 1;
	return syscall_heavy(fd, seconds_now() + secs) < 0;
}
