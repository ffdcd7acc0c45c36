/* workq: jobs run off the owner's thread and complete on it, in order per
 * queue (or newest first); a stuck job gets a spare thread; a full queue
 * refuses; promote moves a job ahead; free completes what is queued and
 * does not hang on a job that never returns. */
#include "testing.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/workq.h"

struct test_job {
	struct workq_job base;
	int id;
	pthread_t ran_on;
	unsigned sleep_ms;
	atomic_bool *gate;     /* spins until set, if not NULL */
	int *order, *norder;   /* completion order */
	bool done, ran;
};

static void run(struct workq_job *b)
{
	struct test_job *j = (struct test_job *)b;

	j->ran = true;
	j->ran_on = pthread_self();
	if (j->sleep_ms)
		usleep(j->sleep_ms * 1000);
	while (j->gate && !atomic_load(j->gate))
		usleep(1000);
}

static void done(struct workq_job *b)
{
	struct test_job *j = (struct test_job *)b;

	j->done = true;
	if (j->order)
		j->order[(*j->norder)++] = j->id;
}

/* Completes jobs until n are done or timeout_ms passes. */
static size_t complete_until(struct workq *wq, struct test_job *jobs, size_t n, unsigned timeout_ms)
{
	uint64_t end = clock__mono_ms() + timeout_ms;
	size_t count;

	for (;;) {
		struct pollfd pfd = { .fd = workq__fd(wq), .events = POLLIN };

		count = 0;
		for (size_t i = 0; i < n; i++)
			count += jobs[i].done;
		if (count == n || clock__mono_ms() > end)
			return count;
		poll(&pfd, 1, 50);
		workq__complete(wq);
	}
}

static void init(struct test_job *j, int id, int *order, int *norder)
{
	*j = (struct test_job){ .base = { .run = run, .done = done, .what = "a test job" },
				.id = id, .order = order, .norder = norder };
}

static void test_order_and_threads(void)
{
	struct workq_opts o = { .lifo = { [WORKQ_BUILD] = true } };
	struct workq *wq = NULL;
	struct test_job fifo[8], lifo[4];
	atomic_bool gate = false;
	int order[16], n = 0;

	REQUIRE(workq__new(&o, &wq) == 0);
	/* the first job of each queue holds its worker until the rest is
	 * queued, so the order they run in is the queue's */
	for (int i = 0; i < 8; i++) {
		init(&fifo[i], i, order, &n);
		if (i == 0)
			fifo[i].gate = &gate;
	}
	for (int i = 0; i < 4; i++) {
		init(&lifo[i], 100 + i, order, &n);
		if (i == 0)
			lifo[i].gate = &gate;
	}
	CHECK_INT(workq__submit(wq, WORKQ_LOAD, &fifo[0].base), ==, 0);
	CHECK_INT(workq__submit(wq, WORKQ_BUILD, &lifo[0].base), ==, 0);
	usleep(100000); /* jobs 0 and 100 are running */
	for (int i = 1; i < 8; i++)
		CHECK_INT(workq__submit(wq, WORKQ_LOAD, &fifo[i].base), ==, 0);
	for (int i = 1; i < 4; i++)
		CHECK_INT(workq__submit(wq, WORKQ_BUILD, &lifo[i].base), ==, 0);
	atomic_store(&gate, true);
	CHECK_INT(complete_until(wq, fifo, 8, 5000), ==, 8);
	CHECK_INT(complete_until(wq, lifo, 4, 5000), ==, 4);
	/* within one queue, completion follows running: FIFO 0..7, LIFO
	 * 100 (already running), then 103, 102, 101 */
	int fifo_seen = 0, lifo_seen[4], nl = 0;
	for (int i = 0; i < n; i++) {
		if (order[i] < 100)
			CHECK_INT(order[i], ==, fifo_seen++);
		else
			lifo_seen[nl++] = order[i];
	}
	CHECK_INT(nl, ==, 4);
	CHECK_INT(lifo_seen[0], ==, 100);
	CHECK_INT(lifo_seen[1], ==, 103);
	CHECK_INT(lifo_seen[3], ==, 101);
	/* never on the owner's thread, and each queue on its own thread */
	for (int i = 0; i < 8; i++)
		CHECK(!pthread_equal(fifo[i].ran_on, pthread_self()));
	CHECK(!pthread_equal(fifo[1].ran_on, lifo[1].ran_on));
	workq__free(wq);
}

/* Newest first, but a job that has waited lifo_max_wait_ms is taken
 * every other time: a stream of new builds cannot hold an old one back
 * for ever (the agent's table builds on a busy host). */
static void test_lifo_ages(void)
{
	struct workq_opts o = { .lifo = { [WORKQ_BUILD] = true }, .lifo_max_wait_ms = 50 };
	struct workq *wq = NULL;
	struct test_job jobs[5];
	atomic_bool gate = false;
	int order[8], n = 0;

	REQUIRE(workq__new(&o, &wq) == 0);
	for (int i = 0; i < 5; i++)
		init(&jobs[i], i, order, &n);
	jobs[0].gate = &gate;
	CHECK_INT(workq__submit(wq, WORKQ_BUILD, &jobs[0].base), ==, 0);
	usleep(100000); /* 0 runs */
	CHECK_INT(workq__submit(wq, WORKQ_BUILD, &jobs[1].base), ==, 0);
	usleep(150000); /* 1 waits past 50 ms */
	for (int i = 2; i < 5; i++)
		CHECK_INT(workq__submit(wq, WORKQ_BUILD, &jobs[i].base), ==, 0);
	atomic_store(&gate, true);
	CHECK_INT(complete_until(wq, jobs, 5, 5000), ==, 5);
	/* the old one first, then the newest: 0, 1, 4, then 3 and 2 (in an
	 * order that depends on how long they took to start) */
	CHECK_INT(n, ==, 5);
	CHECK_INT(order[0], ==, 0);
	CHECK_INT(order[1], ==, 1);
	CHECK_INT(order[2], ==, 4);
	workq__free(wq);
}

static void test_promote_full_and_free(void)
{
	struct workq_opts o = { .max_queued = 4 };
	struct workq *wq = NULL;
	struct test_job jobs[6];
	struct workq_stats st;
	atomic_bool gate = false;
	int order[8], n = 0;

	REQUIRE(workq__new(&o, &wq) == 0);
	for (int i = 0; i < 6; i++)
		init(&jobs[i], i, order, &n);
	jobs[0].gate = &gate;
	CHECK_INT(workq__submit(wq, WORKQ_FAST, &jobs[0].base), ==, 0);
	usleep(100000);
	for (int i = 1; i < 5; i++)
		CHECK_INT(workq__submit(wq, WORKQ_FAST, &jobs[i].base), ==, 0);
	/* four queued: the fifth is refused, not taken */
	CHECK_INT(workq__submit(wq, WORKQ_FAST, &jobs[5].base), ==, -EAGAIN);
	workq__stats(wq, &st);
	CHECK_U64(st.rejected[WORKQ_FAST], ==, 1);
	CHECK_INT(st.queued[WORKQ_FAST], ==, 4);
	/* something waits for job 4: it runs before 1, 2, 3 */
	workq__promote(wq, &jobs[4].base);
	workq__promote(wq, &jobs[0].base); /* running: nothing to move */
	atomic_store(&gate, true);
	CHECK_INT(complete_until(wq, jobs, 5, 5000), ==, 5);
	CHECK_INT(order[0], ==, 0);
	CHECK_INT(order[1], ==, 4);
	CHECK_INT(order[2], ==, 1);

	/* free with jobs still queued: they complete as cancelled */
	gate = false;
	n = 0;
	for (int i = 0; i < 3; i++)
		init(&jobs[i], i, order, &n);
	jobs[0].gate = &gate;
	jobs[0].sleep_ms = 0;
	for (int i = 0; i < 3; i++)
		CHECK_INT(workq__submit(wq, WORKQ_FAST, &jobs[i].base), ==, 0);
	usleep(50000);
	atomic_store(&gate, true);
	workq__free(wq);
	CHECK(jobs[0].done && jobs[1].done && jobs[2].done);
	CHECK(jobs[0].ran);
	CHECK(jobs[2].base.cancelled || jobs[2].ran);
	workq__free(NULL);
}

static void test_stuck(void)
{
	struct workq_opts o = { .stuck_ms = 200, .max_spare = 1 };
	struct workq *wq = NULL;
	struct test_job stuck, later;
	struct workq_stats st;
	atomic_bool gate = false;
	uint64_t t0;

	REQUIRE(workq__new(&o, &wq) == 0);
	init(&stuck, 1, NULL, NULL);
	stuck.gate = &gate;
	init(&later, 2, NULL, NULL);
	CHECK_INT(workq__submit(wq, WORKQ_LOAD, &stuck.base), ==, 0);
	usleep(50000);
	CHECK_INT(workq__submit(wq, WORKQ_LOAD, &later.base), ==, 0);
	/* past stuck_ms a spare thread takes the queue: the later job runs
	 * while the first is still stuck */
	t0 = clock__mono_ms();
	CHECK_INT(complete_until(wq, &later, 1, 5000), ==, 1);
	CHECK(!stuck.done);
	CHECK_INT(clock__mono_ms() - t0, <, 4000);
	workq__stats(wq, &st);
	CHECK_U64(st.stuck, ==, 1);
	CHECK_INT(st.threads[WORKQ_LOAD], ==, 2);
	atomic_store(&gate, true);
	CHECK_INT(complete_until(wq, &stuck, 1, 5000), ==, 1);
	/* the returned thread retires: back to the configured count */
	usleep(100000);
	workq__complete(wq);
	workq__stats(wq, &st);
	CHECK_INT(st.threads[WORKQ_LOAD], ==, 1);

	/* a job with a cap of its own (job->stuck_ms) is not stuck at the
	 * queue's stuck_ms: no spare, the later job waits */
	gate = false;
	init(&stuck, 3, NULL, NULL);
	stuck.gate = &gate;
	stuck.base.stuck_ms = 60000;
	init(&later, 4, NULL, NULL);
	CHECK_INT(workq__submit(wq, WORKQ_LOAD, &stuck.base), ==, 0);
	usleep(50000);
	CHECK_INT(workq__submit(wq, WORKQ_LOAD, &later.base), ==, 0);
	usleep(500000);
	workq__complete(wq);
	workq__stats(wq, &st);
	CHECK_U64(st.stuck, ==, 1); /* the first case's only */
	CHECK_INT(st.threads[WORKQ_LOAD], ==, 1);
	CHECK(!later.done);
	atomic_store(&gate, true);
	CHECK_INT(complete_until(wq, &later, 1, 5000), ==, 1);
	CHECK(stuck.done);
	workq__free(wq);
}

/* A job that never returns (a hung file system) must not keep the owner
 * from stopping: free gives up on it after a few seconds. */
static void test_free_abandons(void)
{
	struct workq *wq = NULL;
	static struct test_job forever;
	static atomic_bool never = false;
	uint64_t t0;

	REQUIRE(workq__new(NULL, &wq) == 0);
	init(&forever, 1, NULL, NULL);
	forever.gate = &never;
	CHECK_INT(workq__submit(wq, WORKQ_BUILD, &forever.base), ==, 0);
	usleep(50000);
	t0 = clock__mono_ms();
	workq__free(wq);
	CHECK_INT(clock__mono_ms() - t0, <, 6000);
	CHECK(!forever.done);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(order_and_threads),
	  TEST_CASE(lifo_ages),
	  TEST_CASE(promote_full_and_free),
	  TEST_CASE(stuck),
	  TEST_CASE(free_abandons))
