#include "serve/http_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/utf8.h"

#define DEFAULT_SECONDS 30
#define DEFAULT_MAX_SECONDS 300
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_MAX_PROFILE_REQUESTS 16
#define DEFAULT_READ_TIMEOUT_MS 5000
/* A profile of a busy host is a few MB: a minute covers slow links (and
 * kubectl port-forward); a reader slower than that holds a thread. */
#define DEFAULT_REPLY_TIMEOUT_MS 60000
/* /metrics reads the profiler's counters under the lock the sampling loop
 * drains under: a stuck loop holds every /metrics request, so only this
 * many may wait at once. */
#define MAX_METRICS_REQUESTS 4
/* Connections max_connections must leave over for the requests that only
 * ever take a moment (/healthz, /, errors) on top of those two limits. */
#define RESERVED_CONNECTIONS 8
/* A connection we have closed keeps its slot and, for a moment, its
 * thread until microhttpd has cleaned it up; it no longer counts against
 * max_connections. Slots for that many of them. */
#define CLOSING_SLOTS(max) ((max) / 2 + 16)
/* Per connection: microhttpd's memory pool (request line, headers, reply
 * headers; bodies are not in it) and the thread's stack. Our handlers
 * use a few KiB of stack; GnuTLS handshakes some tens. */
#define CONNECTION_MEMORY (16u << 10)
#define THREAD_STACK (512u << 10)
/* Connections the kernel completes before we accept them. A burst of new
 * connections outruns accepting (a thread each): past the backlog the
 * kernel drops SYNs and clients, a probe among them, wait a second or
 * more for the retry; within it they wait their turn. Kernel memory, and
 * capped by net.core.somaxconn. */
#define LISTEN_BACKLOG 1024
/* A connection younger than this is evicted only after older ones: it
 * may be a client whose request is a moment away. */
#define EVICT_GRACE_MS 250
/* Bound on how much of a bad parameter value is echoed back. */
#define ECHO_MAX 32
/* A profile request's query string ("seconds=30&pid=1234") is tiny. */
#define QUERY_MAX 1024

#define PPROF_PATH "/debug/pprof/"
#define PROFILE_PATH "/debug/pprof/profile"
#define SYMBOL_PATH "/debug/pprof/symbol"
/* A symbol lookup names addresses only: more than this is not a client. */
#define SYMBOL_BODY_MAX (4u << 20)

/* Bearer tokens: a file of a few lines. Shorter tokens are guessable. */
#define TOKEN_FILE_MAX (64u << 10)
#define TOKENS_MAX 64
#define TOKEN_MIN_LEN 16
#define TOKEN_DIGEST_LEN 32 /* SHA-256 */
#define PEM_FILE_MAX (1u << 20)
/* TLS 1.2 and 1.3 only, the rest GnuTLS' NORMAL set */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Where a connection is, for the reaper and for eviction. */
enum conn_phase {
	PHASE_FREE = 0,
	PHASE_READING,   /* its request is not all in yet (or none started):
			  * the read deadline runs */
	PHASE_RUNNING,   /* a profile or /metrics callback holds it: never
			  * evicted, bounded by those requests' own limits */
	PHASE_REPLYING,  /* its reply is being sent: the reply deadline runs */
};

/* One open connection. Everything but the request fields is under
 * http_api.lock; those belong to the connection's thread. */
struct conn {
	enum conn_phase phase;
	uint64_t since_ms;          /* when the phase began (monotonic) */
	uint64_t order;             /* of phase starts, for oldest-first */
	int fd;
	bool closing;               /* shut down by us, waiting for cleanup */
	bool over_limit;            /* nothing could make room: 503 */
	enum http_close_reason over_reason; /* which limit, then */
	int peer_family;
	uint8_t peer[16];
	/* the request in progress */
	uint64_t body_bytes;
	bool has_query, query_too_long;
	size_t query_len;
	char query[QUERY_MAX];
};

/* The bearer token file, re-read when it changes. */
struct token_set {
	pthread_mutex_t lock;
	char *path;
	bool identity_known;
	struct stat identity;       /* of the file the digests come from */
	int failure;                /* why the last read failed, 0 if it did not */
	uint8_t (*digests)[TOKEN_DIGEST_LEN];
	size_t n;
	uint64_t reloads;
};

struct http_api {
	struct MHD_Daemon *daemon;
	uint16_t port;
	bool loopback;              /* bound to 127.0.0.0/8 or ::1 */
	bool tls;
	uint32_t default_seconds;
	uint32_t max_seconds;
	unsigned max_connections;
	unsigned max_profile_requests;
	unsigned per_ip_limit;      /* 0: none (loopback) */
	unsigned read_timeout_ms;
	unsigned reply_timeout_ms;
	http_profile_fn profile;
	http_metrics_fn metrics;
	http_health_fn health;
	void *ctx;

	/* PEM kept for microhttpd, which reads it at start */
	struct buf tls_cert, tls_key, tls_client_ca;
	bool client_certs;
	struct token_set *tokens;   /* NULL: no bearer tokens */

	pthread_mutex_t lock;       /* the connection table and closed[] */
	pthread_cond_t wake;        /* the reaper's */
	bool stopping;
	bool reaper_started;
	pthread_t reaper;
	struct conn *conns;
	size_t nslots;
	uint64_t phase_starts;      /* gives conn.order */
	uint64_t closed[HTTP_CLOSE__COUNT];

	atomic_uint profile_requests;
	atomic_uint metrics_requests;
	atomic_uint_fast64_t rejected[HTTP_REJECT__COUNT];
};

/* Which headers an error body carries: the pprof tool only shows the body
 * of a failed fetch when X-Go-Pprof is set. */
enum reply_style {
	REPLY_PLAIN,
	REPLY_PPROF,
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One line into err; returns -code for `return errf(...)`. */
static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
	}
	return -code;
}

/* --- addresses --- */

int http_api__parse_address(const char *address, struct sockaddr_storage *out,
			    socklen_t *out_len)
{
	char host[INET6_ADDRSTRLEN];
	const char *host_start, *host_end, *port_str;
	uint32_t port;
	size_t host_len;

	if (!address || !out || !out_len)
		return -EINVAL;

	if (address[0] == '[') {
		host_start = address + 1;
		host_end = strchr(host_start, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
		port_str = host_end + 2;
	} else {
		host_start = address;
		host_end = strrchr(address, ':');
		if (!host_end)
			return -EINVAL;
		port_str = host_end + 1;
	}

	host_len = (size_t)(host_end - host_start);
	/* an empty host would mean "every interface" to Go; we bind exactly
	 * what was written, so 0.0.0.0 or [::] must be spelled out */
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';

	if (parse_u32_range(port_str, 0, 65535, &port) < 0)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	if (address[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*out_len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		/* inet_pton rejects the shorthand forms inet_aton takes
		 * ("127.1"), so what binds is what was written */
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*out_len = sizeof(*sin);
	}
	return 0;
}

static bool in6_is_loopback(const struct in6_addr *a)
{
	/* ::ffff:127.x.x.x reaches the IPv4 loopback too */
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static bool sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return in6_is_loopback(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

int http_api__address_is_loopback(const char *address)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int err = http_api__parse_address(address, &ss, &len);

	return err ? err : sockaddr_is_loopback(&ss);
}

/* "localhost", 127.x.x.x or [::1] (and other spellings of IPv6 loopback),
 * optionally with ":PORT". The port is not compared with ours: kubectl
 * port-forward and ssh tunnels reach us through other local ports. */
bool http_api__host_is_loopback(const char *host, size_t len)
{
	char name[INET6_ADDRSTRLEN];
	const char *end = host + len, *port;
	size_t name_len;

	if (!host || len == 0 || memchr(host, 0, len))
		return false;
	if (host[0] == '[') {
		const char *close = memchr(host, ']', len);
		struct in6_addr a6;

		if (!close)
			return false;
		name_len = (size_t)(close - host - 1);
		if (name_len == 0 || name_len >= sizeof(name))
			return false;
		memcpy(name, host + 1, name_len);
		name[name_len] = 0;
		if (inet_pton(AF_INET6, name, &a6) != 1 || !in6_is_loopback(&a6))
			return false;
		port = close + 1;
	} else {
		const char *colon = memchr(host, ':', len);
		struct in_addr a4;

		name_len = (size_t)((colon ? colon : end) - host);
		if (name_len == 0 || name_len >= sizeof(name))
			return false;
		memcpy(name, host, name_len);
		name[name_len] = 0;
		if (strcasecmp(name, "localhost") != 0 &&
		    (inet_pton(AF_INET, name, &a4) != 1 || (ntohl(a4.s_addr) >> 24) != 127))
			return false;
		port = host + name_len;
	}
	if (port == end)
		return true;
	if (*port != ':' || end - port < 2 || end - port > 6)
		return false;
	{
		char digits[8];
		uint32_t v;

		memcpy(digits, port + 1, (size_t)(end - port - 1));
		digits[end - port - 1] = 0;
		return parse_u32_range(digits, 0, 65535, &v) == 0 &&
		       strspn(digits, "0123456789") == strlen(digits);
	}
}

/* Returns a listening socket or a negative errno. */
static int open_listener(const struct sockaddr_storage *addr, socklen_t len,
			 unsigned defer_s, uint16_t *bound_port)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int one = 1, defer = (int)defer_s;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* lets a restarted agent rebind while old connections sit in
	 * TIME_WAIT; Linux still refuses a second live listener */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	/* [::]:port must not silently take the IPv4 port as well */
	if (addr->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	/* the kernel hands us a connection once its client has sent
	 * something (or defer_s has passed): every client that sends its
	 * request at once (probes, scrapers, TLS hellos) arrives with it
	 * already waiting, which eviction spares, and idle ones wait in the
	 * kernel rather than in a thread */
	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)) < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)addr, len) < 0)
		return -errno;
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0)
		return -errno;
	if (bound.ss_family == AF_INET6)
		*bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return TAKE_FD(fd);
}

/* --- text that goes back to clients --- */

/* Appends s[0..n) to out (cap bytes, kept NUL-terminated, *len its
 * length): valid UTF-8 as it is; control characters (C0, DEL, C1) and
 * bytes that are not part of valid UTF-8 as \xNN; with quoted, '\' and
 * '"' as \\ and \" too. Error bodies stay one readable line of UTF-8
 * whatever a client or a process put in them. Stops before a piece that
 * does not fit. */
static void escape_text(char *out, size_t cap, size_t *len, const char *s, size_t n,
			bool quoted)
{
	const uint8_t *u = (const uint8_t *)s;

	for (size_t i = 0; i < n;) {
		char piece[16];
		size_t k = utf8_seq_len(u + i, n - i), plen = 0;

		if (k == 0 || u[i] < 0x20 || u[i] == 0x7f || (k == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)) {
			/* one byte at a time: a C1 character is two escapes */
			plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", u[i]);
			k = 1;
		} else if (quoted && (u[i] == '\\' || u[i] == '"')) {
			piece[0] = '\\';
			piece[1] = (char)u[i];
			plen = 2;
		} else {
			memcpy(piece, u + i, k);
			plen = k;
		}
		if (*len + plen + 1 > cap)
			break;
		memcpy(out + *len, piece, plen);
		*len += plen;
		out[*len] = 0;
		i += k;
	}
}

/* Length of the longest prefix of s[0..n) of at most max bytes that does
 * not cut a UTF-8 sequence in two. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq_len(u + i, n - i) ?: 1;

		if (i + k > max)
			break;
		i += k;
	}
	return i;
}

/* "VALUE..." for an error message: at most ECHO_MAX bytes of the value,
 * escaped, then "..." when there was more. value holds the first avail of
 * its total bytes. */
static void echo_value(char *out, size_t cap, const char *value, size_t avail, size_t total)
{
	size_t shown = utf8_prefix(value, avail, ECHO_MAX), len = 0;

	out[0] = 0;
	escape_text(out, cap, &len, value, shown, true);
	if (shown < total && len + 4 <= cap) {
		memcpy(out + len, "...", 4);
		len += 3;
	}
}

/* --- the profile query string --- */

/* The next byte of src[0..n) decoded as application/x-www-form-urlencoded,
 * as Go's url.ParseQuery does for net/http/pprof ('+' is a space, %XX a
 * byte), except that a '%' without two hex digits stays as it is (Go would
 * drop the whole parameter). Advances *i past what it decoded. */
static char form_next(const char *src, size_t n, size_t *i)
{
	char c = src[*i];
	int hi, lo;

	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c == '%' && n - *i >= 3 && (hi = parse_hex_digit(src[*i + 1])) >= 0 &&
	    (lo = parse_hex_digit(src[*i + 2])) >= 0) {
		*i += 3;
		return (char)(hi << 4 | lo);
	}
	(*i)++;
	return c;
}

/* A parameter's key or value, decoded: the first bytes, and what the
 * errors need to know about all of them. */
struct decoded {
	char head[64];
	size_t len;                 /* of the whole decoded text */
	size_t nul;                 /* offset of the first NUL, or len */
	bool digits;                /* only 0-9 (and not empty) */
};

static void decode(const char *src, size_t n, struct decoded *d)
{
	d->len = 0;
	d->nul = SIZE_MAX;
	d->digits = n > 0;
	for (size_t i = 0; i < n;) {
		char c = form_next(src, n, &i);

		if (d->len < sizeof(d->head))
			d->head[d->len] = c;
		if (c == 0 && d->nul == SIZE_MAX)
			d->nul = d->len;
		d->digits &= c >= '0' && c <= '9';
		d->len++;
	}
	if (d->nul == SIZE_MAX)
		d->nul = d->len;
}

static int query_fail(char *err, size_t errlen, const char *name, const struct decoded *v,
		      size_t upto, const char *why)
{
	char echo[4 * ECHO_MAX + 8];

	echo_value(echo, sizeof(echo), v->head, MIN(upto, sizeof(v->head)), upto);
	return errf(err, errlen, EINVAL, "bad %s: \"%s\": %s", name, echo, why);
}

int http_api__parse_profile_query(const char *query, size_t len, uint32_t default_seconds,
				  uint32_t max_seconds, struct profile_query *out, char *err,
				  size_t errlen)
{
	const char *p = query, *end = query + len;
	bool have_seconds = false, have_pid = false;

	out->seconds = default_seconds;
	out->pid = -1;
	for (const char *next; p < end; p = next) {
		const char *amp = memchr(p, '&', (size_t)(end - p)) ?: end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		struct decoded key, value;
		bool is_seconds, is_pid;
		const char *name;
		uint64_t v;

		decode(p, (size_t)((eq ? eq : amp) - p), &key);
		is_seconds = key.len == 7 && memcmp(key.head, "seconds", 7) == 0;
		is_pid = key.len == 3 && memcmp(key.head, "pid", 3) == 0;
		next = amp < end ? amp + 1 : end;
		/* unknown parameters are ignored, as net/http/pprof does (pprof
		 * itself adds none, but proxies and scrapers sometimes do) */
		if (!is_seconds && !is_pid)
			continue;
		name = is_seconds ? "seconds" : "pid";
		if ((is_seconds && have_seconds) || (is_pid && have_pid))
			return errf(err, errlen, EINVAL, "bad %s: given more than once", name);
		if (!eq || eq + 1 == amp)
			return errf(err, errlen, EINVAL, "bad %s: missing value", name);

		decode(eq + 1, (size_t)(amp - eq - 1), &value);
		/* "%00" decodes to an embedded NUL that would cut the value
		 * short for a C parser and hide trailing garbage */
		if (value.nul < value.len)
			return query_fail(err, errlen, name, &value, value.nul, "contains a NUL byte");
		if (!value.digits)
			return query_fail(err, errlen, name, &value, value.len,
					  "not a positive integer");
		if (value.len >= sizeof(value.head))
			return query_fail(err, errlen, name, &value, value.len, "out of range");
		value.head[value.len] = 0;
		if (parse_u64(value.head, 10, &v) < 0 || v > (is_seconds ? UINT32_MAX : INT32_MAX))
			return query_fail(err, errlen, name, &value, value.len, "out of range");
		if (v == 0)
			return query_fail(err, errlen, name, &value, value.len, "must be at least 1");
		if (is_pid) {
			out->pid = (int32_t)v;
			have_pid = true;
		} else if (v > max_seconds) {
			/* net/http/pprof's wording, with the limit that applies */
			return errf(err, errlen, EINVAL,
				    "profile duration exceeds server's maximum of %u seconds",
				    max_seconds);
		} else {
			out->seconds = (uint32_t)v;
			have_seconds = true;
		}
	}
	return 0;
}

/* --- bearer tokens --- */

static bool token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* RFC 6750's b64token: token characters, then only '=' padding. */
static bool valid_token(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && token_char(s[i]))
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

static int token_digest(const char *s, size_t n, uint8_t out[TOKEN_DIGEST_LEN])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, s, n, out) < 0 ? -EIO : 0;
}

/* Reads and checks the token file: 0 with *digests (the caller's) and *n,
 * and the identity of the file read in *st; or -errno with one line in
 * err. Messages never quote a token. */
static int tokens_load(const char *path, struct stat *st, uint8_t (**digests)[TOKEN_DIGEST_LEN],
		       size_t *n, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO named as the token file must not hang a request */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	uint8_t (*d)[TOKEN_DIGEST_LEN] = NULL;
	struct buf b = { 0 };
	size_t count = 0;
	unsigned line = 0;
	int rc;

	if (fd < 0)
		return errf(err, errlen, errno, "failed to read bearer token file '%s': %s", path,
			    strerror(errno));
	if (fstat(fd, st) < 0)
		return errf(err, errlen, errno, "failed to read bearer token file '%s': %s", path,
			    strerror(errno));
	if (!S_ISREG(st->st_mode))
		return errf(err, errlen, EINVAL, "bearer token file '%s' is not a regular file",
			    path);
	rc = buf_read_fd(fd, &b, TOKEN_FILE_MAX);
	if (rc == -EFBIG)
		rc = errf(err, errlen, EFBIG, "bearer token file '%s' is larger than %u bytes", path,
			  TOKEN_FILE_MAX);
	else if (rc)
		rc = errf(err, errlen, -rc, "failed to read bearer token file '%s': %s", path,
			  strerror(-rc));
	else if (!(d = calloc(TOKENS_MAX, sizeof(*d))))
		rc = errf(err, errlen, ENOMEM, "out of memory");
	for (const char *p = (const char *)b.data, *end = p + b.len; !rc && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)) ?: end, *s = p, *e = eol;

		line++;
		p = eol < end ? eol + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (s == e || *s == '#')
			continue;
		if (!valid_token(s, (size_t)(e - s)))
			rc = errf(err, errlen, EINVAL, "bearer token file '%s', line %u: not a bearer "
				  "token (letters, digits and -._~+/, then = padding)", path, line);
		else if ((size_t)(e - s) < TOKEN_MIN_LEN)
			rc = errf(err, errlen, EINVAL, "bearer token file '%s', line %u: a token of "
				  "fewer than %d characters is too easy to guess", path, line,
				  TOKEN_MIN_LEN);
		else if (count == TOKENS_MAX)
			rc = errf(err, errlen, EINVAL, "bearer token file '%s' holds more than %d "
				  "tokens", path, TOKENS_MAX);
		else if (token_digest(s, (size_t)(e - s), d[count++]))
			rc = errf(err, errlen, EIO, "failed to hash a bearer token");
	}
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	if (!rc && !count)
		rc = errf(err, errlen, EINVAL, "bearer token file '%s' holds no token", path);
	if (rc) {
		free(d);
		return rc;
	}
	if (st->st_mode & S_IROTH)
		log_warn("bearer token file '%s' is readable by every user of this host", path);
	*digests = d;
	*n = count;
	return 0;
}

static void tokens_clear(struct token_set *t)
{
	if (t->digests)
		explicit_bzero(t->digests, t->n * sizeof(*t->digests));
	free(t->digests);
	t->digests = NULL;
	t->n = 0;
}

static void tokens_free(struct token_set *t)
{
	if (!t)
		return;
	tokens_clear(t);
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t);
}

static int tokens_new(const char *path, struct token_set **out, char *err, size_t errlen)
{
	struct token_set *t = calloc(1, sizeof(*t));
	int rc;

	if (!t || !(t->path = strdup(path))) {
		free(t);
		return errf(err, errlen, ENOMEM, "out of memory");
	}
	pthread_mutex_init(&t->lock, NULL);
	rc = tokens_load(path, &t->identity, &t->digests, &t->n, err, errlen);
	if (rc) {
		tokens_free(t);
		return rc;
	}
	t->identity_known = true;
	*out = t;
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Reads the file again when it is not the one the tokens come from (a
 * rotation: Kubernetes swaps a Secret's files by renaming a directory, an
 * editor writes in place or renames). A file that cannot be used leaves
 * no token: failing closed, with one warning per change. Under t->lock. */
static void tokens_refresh(struct token_set *t)
{
	uint8_t (*d)[TOKEN_DIGEST_LEN] = NULL;
	char err[512];
	struct stat st;
	size_t n = 0;
	int rc;

	if (stat(t->path, &st) < 0) {
		rc = -errno;
		if (t->failure != rc || t->n)
			log_warn("failed to read bearer token file '%s': %s; requests that need a "
				 "token are refused until it is back", t->path, strerror(-rc));
		tokens_clear(t);
		t->failure = rc;
		t->identity_known = false;
		return;
	}
	if (t->identity_known && same_file(&st, &t->identity))
		return;
	rc = tokens_load(t->path, &st, &d, &n, err, sizeof(err));
	t->identity = st;
	t->identity_known = true;
	t->reloads++;
	tokens_clear(t);
	t->failure = rc;
	if (rc) {
		log_warn("%s; requests that need a token are refused until it is fixed", err);
		return;
	}
	t->digests = d;
	t->n = n;
	log_info("read bearer token file '%s' again: %zu token%s", t->path, n, n == 1 ? "" : "s");
}

/* Whether token[0..n) is one of the file's. Every stored digest is
 * compared in full whatever matches, so the time taken says nothing about
 * the tokens; comparing digests, it says nothing about their lengths
 * either. */
static bool tokens_match(struct token_set *t, const char *token, size_t n)
{
	uint8_t digest[TOKEN_DIGEST_LEN];
	unsigned match = 0;

	if (token_digest(token, n, digest))
		return false;
	pthread_mutex_lock(&t->lock);
	tokens_refresh(t);
	for (size_t i = 0; i < t->n; i++) {
		unsigned diff = 0;

		for (size_t j = 0; j < TOKEN_DIGEST_LEN; j++)
			diff |= digest[j] ^ t->digests[i][j];
		match |= (diff - 1) >> 8 & 1; /* 1 when diff == 0, without a branch */
	}
	pthread_mutex_unlock(&t->lock);
	return match;
}

/* The token of an "Authorization: Bearer TOKEN" value (scheme in any
 * case), or NULL. */
static const char *bearer_token(const char *value, size_t *n)
{
	const char *p;
	size_t len;

	if (!value || strncasecmp(value, "Bearer", 6) != 0 || value[6] != ' ')
		return NULL;
	p = value + 6;
	p += strspn(p, " ");
	len = strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (!valid_token(p, len))
		return NULL;
	*n = len;
	return p;
}

/* --- TLS --- */

static int read_pem(const char *path, const char *what, struct buf *out, char *err,
		    size_t errlen)
{
	int rc = buf_read_file(path, out, PEM_FILE_MAX);

	if (rc == -EFBIG)
		return errf(err, errlen, EINVAL, "%s file '%s' is larger than %u bytes", what, path,
			    PEM_FILE_MAX);
	if (rc)
		return errf(err, errlen, EINVAL, "failed to read %s file '%s': %s", what, path,
			    strerror(-rc));
	return 0;
}

static gnutls_datum_t datum(const struct buf *b)
{
	return (gnutls_datum_t){ .data = b->data, .size = (unsigned)b->len };
}

/* The file holds at least one PEM certificate (the first is the server's
 * own when is_server: its expiry is worth a warning at start). */
static int check_certs(const struct buf *pem, const char *what, const char *path,
		       bool is_server, char *err, size_t errlen)
{
	gnutls_datum_t d = datum(pem);
	gnutls_x509_crt_t *certs = NULL;
	unsigned n = 0;
	int rc = gnutls_x509_crt_list_import2(&certs, &n, &d, GNUTLS_X509_FMT_PEM, 0);

	if (rc < 0 || n == 0)
		return errf(err, errlen, EINVAL, "%s file '%s' holds no PEM certificate: %s", what,
			    path, rc < 0 ? gnutls_strerror(rc) : "empty");
	if (is_server) {
		time_t expires = gnutls_x509_crt_get_expiration_time(certs[0]);

		if (expires != (time_t)-1 && expires < time(NULL))
			log_warn("%s in '%s' has expired: clients will refuse it", what, path);
	}
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(certs[i]);
	gnutls_free(certs);
	return 0;
}

static int check_key(const struct buf *pem, const char *path, char *err, size_t errlen)
{
	gnutls_datum_t d = datum(pem);
	gnutls_x509_privkey_t key;
	int rc;

	if (gnutls_x509_privkey_init(&key) < 0)
		return errf(err, errlen, ENOMEM, "out of memory");
	rc = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(key);
	if (rc < 0)
		return errf(err, errlen, EINVAL, "TLS key file '%s' holds no usable PEM private key "
			    "(encrypted keys are not supported): %s", path, gnutls_strerror(rc));
	return 0;
}

static int check_pair(const struct buf *cert, const struct buf *key, const char *cert_path,
		      const char *key_path, char *err, size_t errlen)
{
	gnutls_datum_t c = datum(cert), k = datum(key);
	gnutls_certificate_credentials_t cred;
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return errf(err, errlen, ENOMEM, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return errf(err, errlen, EINVAL, "TLS key file '%s' does not match the certificate "
			    "in '%s'", key_path, cert_path);
	if (rc < 0)
		return errf(err, errlen, EINVAL, "TLS certificate '%s' with key '%s' cannot be used: %s",
			    cert_path, key_path, gnutls_strerror(rc));
	return 0;
}

static int load_tls(struct http_api *h, const struct http_api_opts *o, char *err, size_t errlen)
{
	int rc;

	if (!o->tls_cert_file != !o->tls_key_file)
		return errf(err, errlen, EINVAL, "a TLS certificate needs its key and a key its "
			    "certificate");
	if (o->tls_client_ca_file && !o->tls_cert_file)
		return errf(err, errlen, EINVAL, "client certificates need TLS: a server "
			    "certificate and key");
	if (!o->tls_cert_file)
		return 0;
	if ((rc = read_pem(o->tls_cert_file, "TLS certificate", &h->tls_cert, err, errlen)) ||
	    (rc = check_certs(&h->tls_cert, "TLS certificate", o->tls_cert_file, true, err,
			      errlen)) ||
	    (rc = read_pem(o->tls_key_file, "TLS key", &h->tls_key, err, errlen)) ||
	    (rc = check_key(&h->tls_key, o->tls_key_file, err, errlen)) ||
	    (rc = check_pair(&h->tls_cert, &h->tls_key, o->tls_cert_file, o->tls_key_file, err,
			     errlen)))
		return rc;
	if (o->tls_client_ca_file &&
	    ((rc = read_pem(o->tls_client_ca_file, "client CA", &h->tls_client_ca, err, errlen)) ||
	     (rc = check_certs(&h->tls_client_ca, "client CA", o->tls_client_ca_file, false, err,
			       errlen))))
		return rc;
	h->tls = true;
	h->client_certs = o->tls_client_ca_file != NULL;
	return 0;
}

/* 0 when the connection's client certificate chains to the client CA and
 * may authenticate a client; -ENOENT when it sent none; -EACCES with the
 * reason in why otherwise. microhttpd asks for a certificate without
 * requiring one (a liveness probe has none) and leaves the check to us. */
static int client_cert_check(struct MHD_Connection *conn, char *why, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	gnutls_session_t session;
	gnutls_datum_t text;
	unsigned status = 0, npeers = 0;
	int rc;

	if (!ci || !ci->tls_session)
		return -ENOENT;
	session = ci->tls_session;
	if (!gnutls_certificate_get_peers(session, &npeers) || npeers == 0)
		return -ENOENT;
	rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
	if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return -ENOENT;
	if (rc < 0) {
		snprintf(why, len, "%s", gnutls_strerror(rc));
		return -EACCES;
	}
	if (status == 0)
		return 0;
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
		snprintf(why, len, "%s", (const char *)text.data);
		gnutls_free(text.data);
	} else {
		snprintf(why, len, "not trusted");
	}
	return -EACCES;
}

/* --- replies --- */

static enum MHD_Result queue_response(struct MHD_Connection *conn,
				      unsigned status,
				      struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned status,
				  const char *content_type, const char *body)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				content_type);
	return queue_response(conn, status, resp);
}

/* A one-line text/plain error like Go's http.Error (and, for pprof paths,
 * like net/http/pprof's serveError). extra_name/extra_value: one more
 * header (Allow, Connection, WWW-Authenticate), or NULL. The message's
 * control characters and bytes that are not UTF-8 are escaped; values a
 * client sent must already be (echo_value), so none is escaped twice. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style,
				   const char *extra_name,
				   const char *extra_value, const char *fmt,
				   ...) __attribute__((format(printf, 6, 7)));

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style,
				   const char *extra_name,
				   const char *extra_value, const char *fmt, ...)
{
	char raw[512], msg[4 * sizeof(raw) + 2];
	struct MHD_Response *resp;
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	msg[0] = 0;
	escape_text(msg, sizeof(msg) - 1, &n, raw, strlen(raw), false);
	msg[n++] = '\n';
	msg[n] = '\0';

	resp = MHD_create_response_from_buffer(n, msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (style == REPLY_PPROF)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	if (extra_name)
		MHD_add_response_header(resp, extra_name, extra_value);
	return queue_response(conn, status, resp);
}

static void count_reject(struct http_api *h, enum http_reject_reason why)
{
	atomic_fetch_add(&h->rejected[why], 1);
}

/* --- the connection table --- */

static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Closes c for why, under h->lock. shutdown(), not close(): the fd stays
 * microhttpd's to close, which it does only after its NOTIFY_CLOSED (which
 * waits for h->lock), so the number cannot be reused under us; the
 * connection's thread sees the end of its stream and cleans up. */
static void conn_close(struct http_api *h, struct conn *c, enum http_close_reason why)
{
	shutdown(c->fd, SHUT_RDWR);
	c->closing = true;
	h->closed[why]++;
}

static bool same_peer(const struct conn *a, const struct conn *b)
{
	return a->peer_family == b->peer_family && memcmp(a->peer, b->peer, sizeof(a->peer)) == 0;
}

/* How readily c is closed to make room, under h->lock: lowest first, -1
 * never; the oldest first within a rank. Requests that have not come in
 * whole EVICT_GRACE_MS after their connection opened go first (held idle
 * or trickling: what someone holding connections has), then replies that
 * have taken that long (a client that reads slowly), then younger
 * requests, then replies just queued. Within the young ones the newest
 * lasts longest: a burst of new connections reaches a probe only once
 * every connection older than the probe is gone, and as many newer ones
 * have come in as the limit, before the probe was served. Nothing else
 * tells a probe from an attacker's connection while its request is being
 * read: both have sent bytes, neither is complete. Never a profile or
 * /metrics callback: they have limits of their own, so there is always
 * another. */
static int eviction_rank(const struct conn *c, uint64_t now)
{
	bool young = now - c->since_ms < EVICT_GRACE_MS;

	if (c->closing)
		return -1;
	switch (c->phase) {
	case PHASE_READING:
		return young ? 2 : 0;
	case PHASE_REPLYING:
		return young ? 3 : 1;
	default:
		return -1;
	}
}

/* The connection to close to make room for skip, under h->lock: the
 * lowest rank, the oldest of it; only among those of like's address when
 * like is not NULL. NULL when there is none. */
static struct conn *pick_victim(struct http_api *h, const struct conn *skip, const struct conn *like)
{
	uint64_t now = now_ms();
	struct conn *best = NULL;
	int best_rank = INT_MAX;

	for (size_t i = 0; i < h->nslots; i++) {
		struct conn *c = &h->conns[i];
		int rank;

		if (c == skip || c->phase == PHASE_FREE || (like && !same_peer(c, like)))
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

static void set_phase(struct http_api *h, struct conn *c, enum conn_phase phase)
{
	pthread_mutex_lock(&h->lock);
	if (c->phase != PHASE_FREE) {
		c->phase = phase;
		c->since_ms = now_ms();
		c->order = ++h->phase_starts;
	}
	pthread_mutex_unlock(&h->lock);
}

/* A new connection (called from microhttpd's listening thread, before the
 * connection's own thread starts): a slot, and room made for it. */
static void connection_started(struct http_api *h, struct MHD_Connection *conn, void **ctx)
{
	const union MHD_ConnectionInfo *fdi =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *addr =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct conn *c = NULL, *victim;
	unsigned open = 0, from_peer = 0;

	if (!fdi)
		return;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nslots && !c; i++)
		if (h->conns[i].phase == PHASE_FREE)
			c = &h->conns[i];
	if (!c) {
		/* microhttpd admits at most nslots connections: cannot happen */
		pthread_mutex_unlock(&h->lock);
		shutdown(fdi->connect_fd, SHUT_RDWR);
		return;
	}
	memset(c, 0, offsetof(struct conn, query));
	c->phase = PHASE_READING;
	c->since_ms = now_ms();
	c->order = ++h->phase_starts;
	c->fd = fdi->connect_fd;
	if (addr && addr->client_addr) {
		c->peer_family = addr->client_addr->sa_family;
		if (c->peer_family == AF_INET)
			memcpy(c->peer, &((const struct sockaddr_in *)addr->client_addr)->sin_addr, 4);
		else if (c->peer_family == AF_INET6)
			memcpy(c->peer, &((const struct sockaddr_in6 *)addr->client_addr)->sin6_addr, 16);
	}
	*ctx = c;
	for (size_t i = 0; i < h->nslots; i++) {
		const struct conn *o = &h->conns[i];

		if (o->phase == PHASE_FREE || o->closing)
			continue;
		open++;
		from_peer += same_peer(o, c);
	}
	if (h->per_ip_limit && from_peer > h->per_ip_limit) {
		if ((victim = pick_victim(h, c, c)))
			conn_close(h, victim, HTTP_CLOSE_PER_IP);
		else
			c->over_limit = true, c->over_reason = HTTP_CLOSE_PER_IP;
	} else if (open > h->max_connections) {
		if ((victim = pick_victim(h, c, NULL)))
			conn_close(h, victim, HTTP_CLOSE_EVICTED);
		else
			c->over_limit = true, c->over_reason = HTTP_CLOSE_OVER_LIMIT;
	}
	pthread_mutex_unlock(&h->lock);
}

static void notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_api *h = cls;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		connection_started(h, conn, socket_context);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
		pthread_mutex_lock(&h->lock);
		c->phase = PHASE_FREE;
		pthread_mutex_unlock(&h->lock);
		*socket_context = NULL;
	}
}

/* Called once per request, in the connection's thread, with the request
 * target as sent: the profile route parses its query string itself (see
 * http_api__parse_profile_query), so it is kept. The return value would be
 * the request's first *req_cls. */
static void *request_target(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	const char *q;

	(void)cls;
	if (!c)
		return NULL;
	q = strchr(uri, '?');
	c->has_query = q != NULL;
	c->query_too_long = false;
	c->query_len = 0;
	c->body_bytes = 0;
	if (q) {
		size_t n = strlen(q + 1);

		if (n > QUERY_MAX) {
			c->query_too_long = true;
		} else {
			memcpy(c->query, q + 1, n);
			c->query_len = n;
		}
	}
	return NULL;
}

/* The reply went out (or the request ended otherwise): on a kept-alive
 * connection the next request's deadline starts now. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct conn *c = conn_of(conn);

	(void)req_cls;
	(void)code;
	if (c)
		set_phase(cls, c, PHASE_READING);
}

/* Keeps the deadlines: closes every connection whose request is not all
 * in within read_timeout_ms of the start of its wait, however slowly it
 * trickles in (microhttpd's own timeout would restart with every byte),
 * and every reply not sent within reply_timeout_ms. Wakes at the earliest
 * deadline, or every quarter read timeout for new ones. */
static void *reaper_main(void *arg)
{
	struct http_api *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		uint64_t now = now_ms(), next = now + MAX(h->read_timeout_ms / 4, 50u);
		struct timespec ts;

		for (size_t i = 0; i < h->nslots; i++) {
			struct conn *c = &h->conns[i];
			bool reading = c->phase == PHASE_READING;
			uint64_t deadline = c->since_ms + (reading ? h->read_timeout_ms
								   : h->reply_timeout_ms);

			if ((!reading && c->phase != PHASE_REPLYING) || c->closing)
				continue;
			if (now >= deadline)
				conn_close(h, c, reading ? HTTP_CLOSE_READ_TIMEOUT
							 : HTTP_CLOSE_REPLY_TIMEOUT);
			else
				next = MIN(next, deadline);
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&h->wake, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* --- /debug/pprof/profile --- */

static unsigned status_for_error(int err)
{
	switch (err) {
	case -EINVAL:
	case -ESRCH:
		return MHD_HTTP_BAD_REQUEST;
	case -EBUSY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result serve_profile(struct http_api *h, struct conn *c,
				     struct MHD_Connection *conn)
{
	struct profile_query q;
	struct MHD_Response *resp;
	struct buf out = {};
	char errmsg[256] = "";
	int err;

	if (c->query_too_long) {
		count_reject(h, HTTP_REJECT_TOO_LARGE);
		return reply_error(conn, MHD_HTTP_URI_TOO_LONG, REPLY_PPROF, NULL, NULL,
				   "query string longer than %d bytes", QUERY_MAX);
	}
	if (http_api__parse_profile_query(c->query, c->has_query ? c->query_len : 0,
					  h->default_seconds, h->max_seconds, &q, errmsg,
					  sizeof(errmsg)))
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, REPLY_PPROF, NULL, NULL, "%s",
				   errmsg);
	if (!h->profile)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   REPLY_PPROF, NULL, NULL,
				   "CPU profiling is not enabled on this agent");
	if (atomic_fetch_add(&h->profile_requests, 1) >= h->max_profile_requests) {
		atomic_fetch_sub(&h->profile_requests, 1);
		count_reject(h, HTTP_REJECT_PROFILE_LIMIT);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PPROF, NULL, NULL,
				   "too many profile requests in progress (limit %u), retry later",
				   h->max_profile_requests);
	}

	/* Blocks this connection's thread for the profile window; other
	 * requests have threads of their own. No deadline runs meanwhile. */
	set_phase(h, c, PHASE_RUNNING);
	err = h->profile(h->ctx, &q, &out, errmsg, sizeof(errmsg));
	set_phase(h, c, PHASE_REPLYING);
	atomic_fetch_sub(&h->profile_requests, 1);
	if (err != 0) {
		buf_release(&out);
		errmsg[sizeof(errmsg) - 1] = '\0';
		if (err > 0)
			err = -EIO; /* contract breach: treat as internal */
		log_debug("profile request (seconds=%u pid=%d) failed: %s",
			  q.seconds, q.pid, errmsg[0] ? errmsg : strerror(-err));
		return reply_error(conn, status_for_error(err), REPLY_PPROF,
				   NULL, NULL, "%s",
				   errmsg[0] ? errmsg : strerror(-err));
	}

	if (out.len == 0) {
		buf_release(&out);
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(out.len, out.data,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			out = (struct buf){}; /* MHD frees the data now */
		else
			buf_release(&out);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/octet-stream");
	MHD_add_response_header(resp, "Content-Disposition",
				"attachment; filename=\"profile\"");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	return queue_response(conn, MHD_HTTP_OK, resp);
}

/* --- the other routes --- */

static enum MHD_Result serve_root_index(struct MHD_Connection *conn)
{
	return reply_body(conn, MHD_HTTP_OK, "text/plain; charset=utf-8",
			  "brasa " BRASA_VERSION " continuous profiling agent\n"
			  "\n"
			  "/debug/pprof/profile?seconds=N[&pid=P]  CPU profile "
			  "(gzipped pprof, for go tool pprof)\n"
			  "/debug/pprof/                           pprof index\n"
			  "/debug/pprof/symbol                     symbol lookups (for go tool pprof)\n"
			  "/metrics                                Prometheus metrics\n"
			  "/healthz                                liveness check\n");
}

static enum MHD_Result serve_pprof_index(struct http_api *h,
					 struct MHD_Connection *conn)
{
	char page[1024];

	snprintf(page, sizeof(page),
		 "<html>\n<head><title>/debug/pprof/</title></head>\n<body>\n"
		 "/debug/pprof/<br>\n<br>\n"
		 "Types of profiles available:\n"
		 "<table>\n<thead><td>Profile</td><td>Description</td></thead>\n"
		 "<tr><td><a href=\"profile?seconds=%u\">profile</a></td>"
		 "<td>On-CPU stacks of every process (or of one with "
		 "<code>pid=P</code>), sampled for <code>seconds</code> "
		 "(default %u, at most %u). Fetch it with "
		 "<code>go tool pprof</code>.</td></tr>\n"
		 "</table>\n</body>\n</html>\n",
		 h->default_seconds, h->default_seconds, h->max_seconds);
	return reply_body(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page);
}

static enum MHD_Result serve_metrics(struct http_api *h, struct conn *c,
				     struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	struct buf out = { 0 };
	int err;

	if (!h->metrics)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PLAIN, NULL, NULL,
				   "404 page not found");
	if (atomic_fetch_add(&h->metrics_requests, 1) >= MAX_METRICS_REQUESTS) {
		atomic_fetch_sub(&h->metrics_requests, 1);
		count_reject(h, HTTP_REJECT_METRICS_LIMIT);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PLAIN, NULL, NULL,
				   "too many /metrics requests in progress (limit %d), retry later",
				   MAX_METRICS_REQUESTS);
	}
	set_phase(h, c, PHASE_RUNNING);
	err = h->metrics(h->ctx, &out);
	set_phase(h, c, PHASE_REPLYING);
	atomic_fetch_sub(&h->metrics_requests, 1);
	if (err) {
		buf_release(&out);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, REPLY_PLAIN, NULL, NULL,
				   "could not collect metrics: %s", strerror(-err));
	}
	/* MHD takes the buffer and frees it with free() */
	resp = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		buf_release(&out);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	return queue_response(conn, MHD_HTTP_OK, resp);
}

/* go tool pprof POSTs here, for addresses of mappings whose functions the
 * profile does not fully name, and gives up on the whole profile if the
 * endpoint is missing. Every address brasa could name is already named in
 * the profile (symbolized on this host, with the process's own files), so
 * the honest answer is net/http/pprof's header with no further symbols. */
static enum MHD_Result serve_symbol(struct MHD_Connection *conn)
{
	return reply_body(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", "num_symbols: 1\n");
}

static enum MHD_Result symbol_too_large(struct http_api *h, struct MHD_Connection *conn)
{
	count_reject(h, HTTP_REJECT_TOO_LARGE);
	/* the rest of the body is never read: the connection cannot carry
	 * another request */
	return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, REPLY_PPROF, "Connection", "close",
			   "symbol request larger than %u bytes", SYMBOL_BODY_MAX);
}

/* Marks, through MHD's per-request pointer, a POST body to drop. */
static const char symbol_body;

/* Marks, through MHD's per-request pointer, a request already answered. */
static const char request_answered;

/* POST /debug/pprof/symbol after its headers: reads and drops the body,
 * counting it whether it is sized or chunked. microhttpd 0.9.75 cannot
 * queue a reply halfway through a body, so one past the bound is drained
 * (within read_timeout, like any request) and then answered 413. */
static enum MHD_Result symbol_upload(struct http_api *h, struct conn *c,
				     struct MHD_Connection *conn, size_t *upload_data_size,
				     void **req_cls)
{
	if (*upload_data_size) {
		c->body_bytes += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	*req_cls = (void *)&request_answered;
	set_phase(h, c, PHASE_REPLYING);
	if (c->body_bytes > SYMBOL_BODY_MAX)
		return symbol_too_large(h, conn);
	return serve_symbol(conn);
}

static bool method_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0;
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* DNS rebinding: a web page on a name that resolves to 127.0.0.1 gets the
 * browser to send our endpoint requests with its own name as Host. On a
 * loopback address, only loopback names are answered; a request without
 * Host (HTTP/1.0) does not come from a browser. true: go on; false: the
 * 403 is queued in *ret. */
static bool host_allowed(struct http_api *h, struct MHD_Connection *conn,
			 enum reply_style style, enum MHD_Result *ret)
{
	const char *host;
	unsigned nhost = 0;
	char echo[4 * ECHO_MAX + 8];
	size_t n;

	if (!h->loopback)
		return true;
	host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!host)
		return true;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_host, &nhost);
	n = strlen(host);
	if (nhost == 1 && http_api__host_is_loopback(host, n))
		return true;
	count_reject(h, HTTP_REJECT_HOST);
	if (nhost > 1) {
		*ret = reply_error(conn, MHD_HTTP_FORBIDDEN, style, NULL, NULL,
				   "more than one Host header");
		return false;
	}
	echo_value(echo, sizeof(echo), host, n, n);
	*ret = reply_error(conn, MHD_HTTP_FORBIDDEN, style, NULL, NULL,
			   "Host \"%s\" is not a loopback name: this endpoint listens on a "
			   "loopback address and only answers requests for 127.0.0.1, [::1] or "
			   "localhost", echo);
	return false;
}

/* A client certificate chaining to the client CA, or a bearer token from
 * the token file: either will do. true: go on; false: the 401 (403 when
 * only certificates are accepted: there is no WWW-Authenticate scheme for
 * them) is queued in *ret. */
static bool authorized(struct http_api *h, struct MHD_Connection *conn, enum reply_style style,
		       enum MHD_Result *ret)
{
	const char *header, *token;
	char why[256] = "";
	int cert = -ENOENT;
	size_t n;

	if (!h->tokens && !h->client_certs)
		return true;
	if (h->client_certs && (cert = client_cert_check(conn, why, sizeof(why))) == 0)
		return true;
	header = h->tokens ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_AUTHORIZATION)
			   : NULL;
	token = bearer_token(header, &n);
	if (token && tokens_match(h->tokens, token, n))
		return true;
	count_reject(h, HTTP_REJECT_UNAUTHORIZED);
	if (!h->tokens) {
		*ret = reply_error(conn, MHD_HTTP_FORBIDDEN, style, NULL, NULL, "%s%s",
				   cert == -EACCES ? "client certificate not accepted: "
						   : "a client certificate is required",
				   cert == -EACCES ? why : "");
		return false;
	}
	if (header)
		*ret = reply_error(conn, MHD_HTTP_UNAUTHORIZED, style, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				   "Bearer realm=\"brasa\", error=\"invalid_token\"", "%s",
				   token ? "invalid bearer token" :
				   "the Authorization header is not \"Bearer TOKEN\"");
	else if (cert == -EACCES)
		*ret = reply_error(conn, MHD_HTTP_UNAUTHORIZED, style, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				   "Bearer realm=\"brasa\"", "client certificate not accepted: %s",
				   why);
	else
		*ret = reply_error(conn, MHD_HTTP_UNAUTHORIZED, style, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				   "Bearer realm=\"brasa\"",
				   "authentication required: send \"Authorization: Bearer TOKEN\"%s",
				   h->client_certs ? " or a client certificate" : "");
	return false;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **req_cls)
{
	struct http_api *h = cls;
	struct conn *c = conn_of(conn);
	bool get = method_is(method, MHD_HTTP_METHOD_GET);
	bool head = method_is(method, MHD_HTTP_METHOD_HEAD);
	bool symbol_post = strcmp(url, SYMBOL_PATH) == 0 && method_is(method, MHD_HTTP_METHOD_POST);
	enum reply_style style = strncmp(url, PPROF_PATH, strlen(PPROF_PATH)) == 0 ? REPLY_PPROF
										: REPLY_PLAIN;
	enum MHD_Result ret = MHD_NO;
	enum http_close_reason over_reason;
	bool closing, over;

	(void)version;
	(void)upload_data;

	/* MHD 0.9.75 calls a handler again for a request whose socket was
	 * shut down (by http_api__stop) while the handler ran; that must not
	 * run a second profile window, so a repeat call just drops it. */
	if (!c || *req_cls == &request_answered)
		return MHD_NO;
	if (*req_cls == &symbol_body)
		return symbol_upload(h, c, conn, upload_data_size, req_cls);
	*req_cls = (void *)&request_answered;

	pthread_mutex_lock(&h->lock);
	closing = c->closing;
	over = c->over_limit;
	over_reason = c->over_reason;
	if (over && !closing)
		h->closed[over_reason]++;
	pthread_mutex_unlock(&h->lock);
	/* closed (timed out, evicted) just as its request came in */
	if (closing)
		return MHD_NO;
	/* Every route but the symbol POST answers on this first call,
	 * before any request body: none of them takes one, and MHD then
	 * closes rather than reads it. */
	if (!symbol_post)
		set_phase(h, c, PHASE_REPLYING);
	if (over && over_reason == HTTP_CLOSE_PER_IP)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PLAIN, "Connection",
				   "close", "too many connections from this address (limit %u), "
				   "retry later", h->per_ip_limit);
	if (over)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PLAIN, "Connection",
				   "close", "too many connections (limit %u), retry later",
				   h->max_connections);
	if (!host_allowed(h, conn, style, &ret))
		return ret;
	/* /healthz says "ok" or why not, nothing else: a liveness probe can
	 * present neither a token nor a certificate */
	if (strcmp(url, "/healthz") != 0 && !authorized(h, conn, style, &ret))
		return ret;

	if (symbol_post) {
		const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							      MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;

		if (len && (parse_u64(len, 10, &n) || n > SYMBOL_BODY_MAX)) {
			set_phase(h, c, PHASE_REPLYING);
			return symbol_too_large(h, conn);
		}
		*req_cls = (void *)&symbol_body;
		return MHD_YES;
	}

	if (strcmp(url, PROFILE_PATH) == 0) {
		/* HEAD would burn a whole profile window for no body */
		if (!get)
			return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					   REPLY_PPROF, MHD_HTTP_HEADER_ALLOW,
					   "GET", "method not allowed");
		return serve_profile(h, c, conn);
	}

	if (strcmp(url, "/") == 0 || strcmp(url, "/healthz") == 0 ||
	    strcmp(url, PPROF_PATH) == 0 || strcmp(url, "/metrics") == 0 ||
	    strcmp(url, SYMBOL_PATH) == 0) {
		if (!get && !head)
			return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					   REPLY_PLAIN, MHD_HTTP_HEADER_ALLOW,
					   strcmp(url, SYMBOL_PATH) ? "GET, HEAD" : "GET, HEAD, POST",
					   "method not allowed");
		if (strcmp(url, "/") == 0)
			return serve_root_index(conn);
		if (strcmp(url, "/healthz") == 0) {
			char msg[256] = "";

			if (h->health && h->health(h->ctx, msg, sizeof(msg)))
				return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
						   REPLY_PLAIN, NULL, NULL, "%s",
						   msg[0] ? msg : "unhealthy");
			return reply_body(conn, MHD_HTTP_OK,
					  "text/plain; charset=utf-8", "ok\n");
		}
		if (strcmp(url, "/metrics") == 0)
			return serve_metrics(h, c, conn);
		if (strcmp(url, SYMBOL_PATH) == 0)
			return serve_symbol(conn);
		return serve_pprof_index(h, conn);
	}

	/* Go's ServeMux redirects the bare subtree name to its slash form */
	if (strcmp(url, "/debug/pprof") == 0) {
		struct MHD_Response *resp;

		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
					PPROF_PATH);
		return queue_response(conn, MHD_HTTP_MOVED_PERMANENTLY, resp);
	}

	if (style == REPLY_PPROF) {
		const char *name = url + strlen(PPROF_PATH);
		char echo[4 * ECHO_MAX + 8];

		echo_value(echo, sizeof(echo), name, strlen(name), strlen(name));
		return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PPROF, NULL,
				   NULL, "Unknown profile: %s", echo);
	}

	return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PLAIN, NULL, NULL,
			   "404 page not found");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* MHD reports per-connection trouble (client resets, timeouts) that
	 * is routine for a server; only worth seeing when debugging */
	log_debug("microhttpd: %s", line);
}

/* --- start and stop --- */

static void http_api_free(struct http_api *h)
{
	if (!h)
		return;
	if (h->reaper_started) {
		pthread_mutex_lock(&h->lock);
		h->stopping = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->reaper, NULL);
	}
	/* closes the listen socket, shuts down every connection socket and
	 * joins the connection threads; one still inside the profile
	 * callback is joined when the callback returns */
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	tokens_free(h->tokens);
	if (h->tls_key.data)
		explicit_bzero(h->tls_key.data, h->tls_key.len);
	buf_release(&h->tls_key);
	buf_release(&h->tls_cert);
	buf_release(&h->tls_client_ca);
	free(h->conns);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

DEFINE_CLEANUP(struct http_api, http_api_free)

static int check_opts(struct http_api *h, const struct http_api_opts *opts, char *err,
		      size_t errlen)
{
	unsigned least;

	h->default_seconds = opts->default_seconds ?: DEFAULT_SECONDS;
	h->max_seconds = opts->max_seconds ?: DEFAULT_MAX_SECONDS;
	h->max_connections = opts->max_connections ?: DEFAULT_MAX_CONNECTIONS;
	h->max_profile_requests = opts->max_profile_requests ?: DEFAULT_MAX_PROFILE_REQUESTS;
	h->read_timeout_ms = opts->read_timeout_ms ?: DEFAULT_READ_TIMEOUT_MS;
	h->reply_timeout_ms = opts->reply_timeout_ms ?: DEFAULT_REPLY_TIMEOUT_MS;
	if (h->default_seconds > h->max_seconds || h->max_seconds > UINT32_MAX / 2)
		return errf(err, errlen, EINVAL, "the default profile length %u s exceeds the "
			    "longest, %u s", h->default_seconds, h->max_seconds);
	if (h->max_profile_requests > 4096 || h->read_timeout_ms > 3600 * 1000 ||
	    h->reply_timeout_ms > 3600 * 1000)
		return errf(err, errlen, EINVAL, "limits out of range");
	/* every connection a callback may hold, plus room for the rest */
	least = h->max_profile_requests + MAX_METRICS_REQUESTS + RESERVED_CONNECTIONS;
	if (h->max_connections < least || h->max_connections > 100000)
		return errf(err, errlen, EINVAL, "max_connections %u is out of range: at least %u "
			    "(%u profile requests, %d /metrics requests and %d more)",
			    h->max_connections, least, h->max_profile_requests,
			    MAX_METRICS_REQUESTS, RESERVED_CONNECTIONS);
	return 0;
}

struct http_api *http_api__start(const struct http_api_opts *opts, char *err, size_t errlen)
{
	_cleanup_(cleanup_http_api_free) struct http_api *h = NULL;
	struct MHD_OptionItem mo[20];
	struct sockaddr_storage addr;
	pthread_condattr_t ca;
	socklen_t addr_len;
	unsigned flags, n = 0;
	int fd, rc;

	if (err && errlen)
		err[0] = 0;
	if (!opts) {
		errno = EINVAL;
		return NULL;
	}
	if (http_api__parse_address(opts->address, &addr, &addr_len) < 0) {
		errno = -errf(err, errlen, EINVAL, "invalid address '%s': expected IPv4:PORT or "
			      "[IPv6]:PORT", opts->address ? opts->address : "");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = check_opts(h, opts, err, errlen);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	h->profile = opts->profile;
	h->metrics = opts->metrics;
	h->health = opts->health;
	h->ctx = opts->ctx;
	h->loopback = sockaddr_is_loopback(&addr);
	/* behind one address (a pod, a host) at most a quarter of the slots;
	 * on loopback every local client shares 127.0.0.1 */
	h->per_ip_limit = h->loopback ? 0 : h->max_connections / 4;
	h->nslots = h->max_connections + CLOSING_SLOTS(h->max_connections);
	h->conns = calloc(h->nslots, sizeof(*h->conns));
	if (!h->conns)
		return NULL;
	if ((rc = load_tls(h, opts, err, errlen)) ||
	    (opts->bearer_token_file &&
	     (rc = tokens_new(opts->bearer_token_file, &h->tokens, err, errlen)))) {
		errno = rc == -ENOMEM ? ENOMEM : EINVAL;
		return NULL;
	}

	fd = open_listener(&addr, addr_len, (h->read_timeout_ms + 999) / 1000, &h->port);
	if (fd < 0) {
		errno = -errf(err, errlen, -fd, "failed to listen on '%s': %s", opts->address,
			      strerror(-fd));
		return NULL;
	}

#define OPT(o, v, p) (mo[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) })
	/* first, or microhttpd prints what comes before to stderr itself */
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL);
	OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, h->nslots, NULL);
	/* none: the reaper keeps the deadlines. microhttpd 0.9.75 counts its
	 * own in whole seconds and, in the second before one expires, its
	 * connection thread polls without sleeping: 100 idle connections
	 * timing out cost the agent 0.75 s of CPU, a flood of them a CPU. */
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, 0, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL);
	OPT(MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, request_completed, h);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, request_target, h);
	if (h->tls) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert.data);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key.data);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
		/* makes microhttpd ask for (not require) a client certificate */
		if (h->client_certs)
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_client_ca.data);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT

	/* poll, not select: the agent holds many perf fds and select breaks
	 * on any fd >= FD_SETSIZE */
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (h->tls)
		flags |= MHD_USE_TLS;
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, h,
				     MHD_OPTION_ARRAY, mo, MHD_OPTION_END);
	if (!h->daemon) {
		/* MHD leaves a listen socket it was handed open on failure */
		close(fd);
		errno = -errf(err, errlen, EIO, "failed to start the HTTP server on '%s'%s",
			      opts->address, h->tls ? " (with TLS)" : "");
		return NULL;
	}
	rc = pthread_create(&h->reaper, NULL, reaper_main, h);
	if (rc) {
		errno = -errf(err, errlen, rc, "failed to start a thread: %s", strerror(rc));
		return NULL;
	}
	h->reaper_started = true;
	return TAKE_PTR(h);
}

uint16_t http_api__port(const struct http_api *h)
{
	return h ? h->port : 0;
}

void http_api__stats(struct http_api *h, struct http_api_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nslots; i++)
		st->connections += h->conns[i].phase != PHASE_FREE && !h->conns[i].closing;
	memcpy(st->closed, h->closed, sizeof(st->closed));
	pthread_mutex_unlock(&h->lock);
	st->max_connections = h->max_connections;
	st->profile_requests = MIN(atomic_load(&h->profile_requests), h->max_profile_requests);
	st->max_profile_requests = h->max_profile_requests;
	st->metrics_requests = MIN(atomic_load(&h->metrics_requests), MAX_METRICS_REQUESTS);
	st->max_metrics_requests = MAX_METRICS_REQUESTS;
	for (int i = 0; i < HTTP_REJECT__COUNT; i++)
		st->rejected[i] = atomic_load(&h->rejected[i]);
	if (h->tokens) {
		st->token_file = true;
		pthread_mutex_lock(&h->tokens->lock);
		st->bearer_tokens = (uint32_t)h->tokens->n;
		st->token_reloads = h->tokens->reloads;
		pthread_mutex_unlock(&h->tokens->lock);
	}
}

void http_api__stop(struct http_api *h)
{
	http_api_free(h);
}
