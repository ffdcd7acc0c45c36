/* A process that keeps running after its exit event, two ways
 * (tests/integration/test_stacks.py, t_exit_tail):
 *
 *   exit_tail tail PORT SECONDS MIB
 *     spins SECONDS in tail_spin holding a memfd of MIB MiB and a TCP
 *     socket to 127.0.0.1:PORT (a listener that never reads) full of
 *     unsent data and set to linger 2 s; then exits. do_exit closes both
 *     after the process's exit tracepoint and runs their last close as
 *     task work, the socket's first (later fd, LIFO): it waits out its
 *     linger, then the memfd's frees its pages on the CPU, seconds after
 *     the exit event.
 *
 *   exit_tail leader SECONDS
 *     the main thread starts a thread that spins SECONDS in leader_spin,
 *     then leaves by pthread_exit: the process lives on without it.
 *
 * Prints "ready" once the spinning starts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workload.h"

static volatile unsigned long sink;

static NOINLINE void spin_for(double seconds)
{
	double end = seconds_now() + seconds;

	while (seconds_now() < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

static NOINLINE void tail_spin(double seconds)
{
	spin_for(seconds);
}

static NOINLINE void *leader_spin(void *arg)
{
	spin_for(*(double *)arg);
	return NULL;
}

static int die(const char *what)
{
	fprintf(stderr, "exit_tail: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A socket to the listener whose close must wait: its send queue holds
 * data the peer's full receive window never lets out. */
static int lingering_socket(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct linger lg = { .l_onoff = 1, .l_linger = 2 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	static char buf[65536];

	if (fd < 0)
		die("socket");
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("SO_LINGER");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* the peer's receive buffer fills, then ours */
	for (int stalls = 0; stalls < 20;) {
		if (send(fd, buf, sizeof(buf), 0) > 0)
			continue;
		if (errno != EAGAIN)
			die("send");
		stalls++;
		usleep(10000);
	}
	return fd;
}

static void tail(int port, double seconds, long mib)
{
	int memfd = memfd_create("exit_tail", 0);

	if (memfd < 0)
		die("memfd_create");
	if ((errno = posix_fallocate(memfd, 0, (off_t)mib << 20)))
		die("posix_fallocate");
	lingering_socket(port); /* after the memfd: its close runs first */
	printf("ready\n");
	fflush(stdout);
	tail_spin(seconds);
	exit(0);
}

static void leader(double seconds)
{
	static double arg;
	pthread_t t;

	arg = seconds;
	if ((errno = pthread_create(&t, NULL, leader_spin, &arg)))
		die("pthread_create");
	printf("ready\n");
	fflush(stdout);
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "tail"))
		tail(atoi(argv[2]), atof(argv[3]), atol(argv[4]));
	else if (argc == 3 && !strcmp(argv[1], "leader"))
		leader(atof(argv[2]));
	fprintf(stderr, "usage: exit_tail tail PORT SECONDS MIB | exit_tail leader SECONDS\n");
	return 2;
}
