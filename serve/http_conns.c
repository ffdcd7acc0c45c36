#include "serve/http_conns.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/macros.h"

/* A connection we have closed keeps its slot and, for a moment, its
 * thread until microhttpd has cleaned it up; it no longer counts against
 * max_connections. Slots for that many of them. */
#define CLOSING_SLOTS(max) ((max) / 2 + 16)
/* A connection younger than this is evicted only after older ones: it
 * may be a client whose request is a moment away. */
#define EVICT_GRACE_MS 250

struct http_conns {
	unsigned max_connections;
	unsigned per_ip_limit;
	unsigned read_timeout_ms;
	unsigned reply_timeout_ms;

	pthread_mutex_t lock;       /* the slots and closed[] */
	pthread_cond_t wake;        /* the reaper's */
	bool stopping;
	bool reaper_started;
	pthread_t reaper;
	struct http_conn *slots;
	size_t nslots;
	uint64_t phase_starts;      /* gives http_conn.order */
	uint64_t closed[HTTP_CLOSE__COUNT];
};

/* Closes c for why, under t->lock. shutdown(), not close(): the fd stays
 * microhttpd's to close, which it does only after its NOTIFY_CLOSED (which
 * waits for t->lock), so the number cannot be reused under us; the
 * connection's thread sees the end of its stream and cleans up. */
static void conn_close(struct http_conns *t, struct http_conn *c, enum http_close_reason why)
{
	shutdown(c->fd, SHUT_RDWR);
	c->closing = true;
	t->closed[why]++;
}

static bool same_peer(const struct http_conn *a, const struct http_conn *b)
{
	return a->peer_family == b->peer_family && memcmp(a->peer, b->peer, sizeof(a->peer)) == 0;
}

/* How readily c is closed to make room, under t->lock: lowest first, -1
 * never; the oldest first within a rank. Requests that have not come in
 * whole EVICT_GRACE_MS after their connection opened go first (held idle
 * or trickling: what someone holding connections has), then replies that
 * have taken that long (a client that reads slowly), then younger
 * requests, then replies just queued. Within the young ones the newest
 * lasts longest: a burst of new connections reaches a probe only once
 * every connection older than the probe is gone, and as many newer ones
 * have come in as the limit, before the probe was served. Nothing else
 * tells a probe from an attacker's connection while its request is being
 * read: both have sent bytes, neither is complete. Never one a callback
 * holds: those have limits of their own, so there is always another. */
static int eviction_rank(const struct http_conn *c, uint64_t now)
{
	bool young = now - c->since_ms < EVICT_GRACE_MS;

	if (c->closing)
		return -1;
	switch (c->phase) {
	case HTTP_CONN_READING:
		return young ? 2 : 0;
	case HTTP_CONN_REPLYING:
		return young ? 3 : 1;
	default:
		return -1;
	}
}

/* The connection to close to make room for skip, under t->lock: the
 * lowest rank, the oldest of it; only among those of like's address when
 * like is not NULL. NULL when there is none. */
static struct http_conn *pick_victim(struct http_conns *t, const struct http_conn *skip,
				     const struct http_conn *like)
{
	uint64_t now = clock__mono_ms();
	struct http_conn *best = NULL;
	int best_rank = INT_MAX;

	for (size_t i = 0; i < t->nslots; i++) {
		struct http_conn *c = &t->slots[i];
		int rank;

		if (c == skip || c->phase == HTTP_CONN_FREE || (like && !same_peer(c, like)))
			continue;
		rank = eviction_rank(c, now);
		if (rank < 0)
			continue;
		if (rank < best_rank || (rank == best_rank && c->order < best->order)) {
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

void http_conns__set_phase(struct http_conns *t, struct http_conn *c, enum http_conn_phase phase)
{
	pthread_mutex_lock(&t->lock);
	if (c->phase != HTTP_CONN_FREE) {
		c->phase = phase;
		c->since_ms = clock__mono_ms();
		c->order = ++t->phase_starts;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Called from microhttpd's listening thread, before the connection's own
 * thread starts. */
struct http_conn *http_conns__open(struct http_conns *t, int fd, const struct sockaddr *peer)
{
	struct http_conn *c = NULL, *victim;
	unsigned open = 0, from_peer = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nslots && !c; i++)
		if (t->slots[i].phase == HTTP_CONN_FREE)
			c = &t->slots[i];
	if (!c) {
		/* microhttpd admits at most nslots connections: cannot happen */
		pthread_mutex_unlock(&t->lock);
		shutdown(fd, SHUT_RDWR);
		return NULL;
	}
	memset(c, 0, offsetof(struct http_conn, query));
	c->phase = HTTP_CONN_READING;
	c->since_ms = clock__mono_ms();
	c->order = ++t->phase_starts;
	c->fd = fd;
	if (peer) {
		c->peer_family = peer->sa_family;
		if (c->peer_family == AF_INET)
			memcpy(c->peer, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		else if (c->peer_family == AF_INET6)
			memcpy(c->peer, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
	}
	for (size_t i = 0; i < t->nslots; i++) {
		const struct http_conn *o = &t->slots[i];

		if (o->phase == HTTP_CONN_FREE || o->closing)
			continue;
		open++;
		from_peer += same_peer(o, c);
	}
	if (t->per_ip_limit && from_peer > t->per_ip_limit) {
		if ((victim = pick_victim(t, c, c)))
			conn_close(t, victim, HTTP_CLOSE_PER_IP);
		else
			c->over_limit = true, c->over_reason = HTTP_CLOSE_PER_IP;
	} else if (open > t->max_connections) {
		if ((victim = pick_victim(t, c, NULL)))
			conn_close(t, victim, HTTP_CLOSE_EVICTED);
		else
			c->over_limit = true, c->over_reason = HTTP_CLOSE_OVER_LIMIT;
	}
	pthread_mutex_unlock(&t->lock);
	return c;
}

void http_conns__close(struct http_conns *t, struct http_conn *c)
{
	pthread_mutex_lock(&t->lock);
	c->phase = HTTP_CONN_FREE;
	pthread_mutex_unlock(&t->lock);
}

int http_conns__admit(struct http_conns *t, struct http_conn *c, enum http_close_reason *why)
{
	bool closing, over;

	pthread_mutex_lock(&t->lock);
	closing = c->closing;
	over = c->over_limit;
	*why = c->over_reason;
	if (over && !closing)
		t->closed[*why]++;
	pthread_mutex_unlock(&t->lock);
	return closing ? -ECONNABORTED : over ? -EMFILE : 0;
}

/* Keeps the deadlines: closes every connection whose request is not all
 * in within read_timeout_ms of the start of its wait, however slowly it
 * trickles in (microhttpd's own timeout would restart with every byte),
 * and every reply not sent within reply_timeout_ms. Wakes at the earliest
 * deadline, or every quarter read timeout for new ones. */
static void *reaper_main(void *arg)
{
	struct http_conns *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		uint64_t now = clock__mono_ms(), next = now + MAX(t->read_timeout_ms / 4, 50u);
		struct timespec ts;

		for (size_t i = 0; i < t->nslots; i++) {
			struct http_conn *c = &t->slots[i];
			bool reading = c->phase == HTTP_CONN_READING;
			uint64_t deadline = c->since_ms + (reading ? t->read_timeout_ms
								   : t->reply_timeout_ms);

			if ((!reading && c->phase != HTTP_CONN_REPLYING) || c->closing)
				continue;
			if (now >= deadline)
				conn_close(t, c, reading ? HTTP_CLOSE_READ_TIMEOUT
							 : HTTP_CLOSE_REPLY_TIMEOUT);
			else
				next = MIN(next, deadline);
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&t->wake, &t->lock, &ts);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

void http_conns__free(struct http_conns *t)
{
	if (!t)
		return;
	if (t->reaper_started) {
		pthread_mutex_lock(&t->lock);
		t->stopping = true;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->reaper, NULL);
	}
	free(t->slots);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int http_conns__new(const struct http_conns_opts *opts, struct http_conns **out)
{
	struct http_conns *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	int rc;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
	t->max_connections = opts->max_connections;
	t->per_ip_limit = opts->per_ip_limit;
	t->read_timeout_ms = opts->read_timeout_ms;
	t->reply_timeout_ms = opts->reply_timeout_ms;
	t->nslots = t->max_connections + CLOSING_SLOTS(t->max_connections);
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	if (!t->slots) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&t->reaper, NULL, reaper_main, t);
	if (rc)
		goto fail;
	t->reaper_started = true;
	*out = t;
	return 0;
fail:
	http_conns__free(t);
	return rc;
}

size_t http_conns__slots(const struct http_conns *t)
{
	return t->nslots;
}

void http_conns__stats(struct http_conns *t, uint32_t *open, uint64_t closed[HTTP_CLOSE__COUNT])
{
	*open = 0;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nslots; i++)
		*open += t->slots[i].phase != HTTP_CONN_FREE && !t->slots[i].closing;
	memcpy(closed, t->closed, sizeof(t->closed));
	pthread_mutex_unlock(&t->lock);
}
