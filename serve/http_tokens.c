#include "serve/http_tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"
#include "serve/http_text.h"

/* A file of a few lines. Shorter tokens are guessable. */
#define TOKEN_FILE_MAX (64u << 10)
#define TOKENS_MAX 64
#define TOKEN_MIN_LEN 16
#define TOKEN_DIGEST_LEN 32 /* SHA-256 */

struct http_tokens {
	pthread_mutex_t lock;
	char *path;
	bool identity_known;
	struct stat identity;       /* of the file the digests come from */
	int failure;                /* why the last read failed, 0 if it did not */
	uint8_t (*digests)[TOKEN_DIGEST_LEN];
	size_t n;
	uint64_t reloads;
};

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
		return http_text__errf(err, errlen, errno, "failed to read bearer token file "
				       "'%s': %s", path, strerror(errno));
	if (fstat(fd, st) < 0)
		return http_text__errf(err, errlen, errno, "failed to read bearer token file "
				       "'%s': %s", path, strerror(errno));
	if (!S_ISREG(st->st_mode))
		return http_text__errf(err, errlen, EINVAL, "bearer token file '%s' is not a "
				       "regular file", path);
	rc = buf_read_fd(fd, &b, TOKEN_FILE_MAX);
	if (rc == -EFBIG)
		rc = http_text__errf(err, errlen, EFBIG, "bearer token file '%s' is larger than "
				     "%u bytes", path, TOKEN_FILE_MAX);
	else if (rc)
		rc = http_text__errf(err, errlen, -rc, "failed to read bearer token file '%s': %s",
				     path, strerror(-rc));
	else if (!(d = calloc(TOKENS_MAX, sizeof(*d))))
		rc = http_text__errf(err, errlen, ENOMEM, "out of memory");
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
			rc = http_text__errf(err, errlen, EINVAL, "bearer token file '%s', line %u: "
					     "not a bearer token (letters, digits and -._~+/, then "
					     "= padding)", path, line);
		else if ((size_t)(e - s) < TOKEN_MIN_LEN)
			rc = http_text__errf(err, errlen, EINVAL, "bearer token file '%s', line %u: "
					     "a token of fewer than %d characters is too easy to "
					     "guess", path, line, TOKEN_MIN_LEN);
		else if (count == TOKENS_MAX)
			rc = http_text__errf(err, errlen, EINVAL, "bearer token file '%s' holds more "
					     "than %d tokens", path, TOKENS_MAX);
		else if (token_digest(s, (size_t)(e - s), d[count++]))
			rc = http_text__errf(err, errlen, EIO, "failed to hash a bearer token");
	}
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	if (!rc && !count)
		rc = http_text__errf(err, errlen, EINVAL, "bearer token file '%s' holds no token",
				     path);
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

static void tokens_clear(struct http_tokens *t)
{
	if (t->digests)
		explicit_bzero(t->digests, t->n * sizeof(*t->digests));
	free(t->digests);
	t->digests = NULL;
	t->n = 0;
}

void http_tokens__free(struct http_tokens *t)
{
	if (!t)
		return;
	tokens_clear(t);
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t);
}

int http_tokens__open(const char *path, struct http_tokens **out, char *err, size_t errlen)
{
	struct http_tokens *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return http_text__errf(err, errlen, ENOMEM, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	if (!(t->path = strdup(path))) {
		rc = http_text__errf(err, errlen, ENOMEM, "out of memory");
		goto fail;
	}
	rc = tokens_load(path, &t->identity, &t->digests, &t->n, err, errlen);
	if (rc)
		goto fail;
	t->identity_known = true;
	*out = t;
	return 0;
fail:
	http_tokens__free(t);
	return rc;
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
static void tokens_refresh(struct http_tokens *t)
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

/* Every stored digest is compared in full whatever matches, so the time
 * taken says nothing about the tokens; comparing digests, it says nothing
 * about their lengths either. */
bool http_tokens__match(struct http_tokens *t, const char *token, size_t n)
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

void http_tokens__stats(struct http_tokens *t, uint32_t *count, uint64_t *reloads)
{
	pthread_mutex_lock(&t->lock);
	*count = (uint32_t)t->n;
	*reloads = t->reloads;
	pthread_mutex_unlock(&t->lock);
}

const char *http_tokens__bearer(const char *value, size_t *n)
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
