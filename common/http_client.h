/* http_client: brasa's one HTTP(S) client, for the shipping backends
 * (ship/remote) and the Kubernetes API client (labels/k8s), so both follow
 * the same rules:
 *   - http:// and https:// only (for redirects too, though none is
 *     followed: a 3xx is an answer like any other);
 *   - https verified against the system's CAs or a CA file, optionally with
 *     a client certificate and key, which libcurl reads again for every new
 *     connection (renewed files are picked up without a restart);
 *   - a whole-request timeout, no signals (brasa is multi-threaded), TCP
 *     keep-alive and one connection kept for the next request;
 *   - a bound on the response body: past it the transfer ends, so a server
 *     cannot make brasa read or hold more (HTTP_TOO_LARGE);
 *   - credentials only from files: a bearer token, or a basic-auth
 *     password. A file is read (a regular file, at most HTTP_SECRET_MAX
 *     bytes, never blocking on a FIFO) whenever its inode, size or mtime
 *     changed, with trailing whitespace trimmed; it must then be a single
 *     line without control characters (a token: without spaces either,
 *     RFC 6750's b64token being one word). Otherwise the request is not
 *     sent (HTTP_AUTH_FILE), or with auth_optional goes without
 *     Authorization (resp->auth_err says why);
 *   - the user's headers: names are HTTP tokens other than the ones libcurl
 *     or the protocol set (Content-Type, Content-Length, Host,
 *     Transfer-Encoding, Connection, Expect), values hold no control
 *     character but tab (http_header__valid).
 *
 *   http_client__new(opts, &c)     0, -EINVAL (base URL, header, auth or
 *                                  size options against the rules above, or
 *                                  one libcurl refuses; with check_tls_files,
 *                                  a certificate without its key), -errno of
 *                                  open() for a TLS file that cannot be read
 *                                  (check_tls_files; both logged, naming the
 *                                  file), -ENOMEM; strings are copied
 *   http_client__free(c)           NULL-safe
 *   http_client__base_url(c)       the base URL without trailing '/'
 *   http_client__perform(c, req, resp)   one request: 0 with resp->result
 *                                  set (a failed transfer too), -ENOMEM,
 *                                  -EINVAL (libcurl refused an option)
 *   http_client__cancel(c)         from any thread: a request in flight ends
 *                                  at once, every later one is HTTP_CANCELLED
 *   http_response__release(resp)   frees what the response holds
 *   http_header__valid(name, value)   the rule for the user's headers
 *
 * A client is used from one thread at a time (but http_client__cancel).
 */
#ifndef BRASA_COMMON_HTTP_CLIENT_H
#define BRASA_COMMON_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* a token or a password, never more */
#define HTTP_SECRET_MAX 16384
/* the header lines of a response kept for the caller */
#define HTTP_HEADERS_MAX (64u << 10)
#define HTTP_MESSAGE_MAX 768

struct http_header {
	const char *name, *value;
};

struct http_client_opts {
	const char *base_url;           /* http:// or https://, no query,
					   fragment, space or control byte;
					   request paths are appended */
	const char *ca_file, *cert_file, *key_file; /* NULL: the system's CAs,
						       no client certificate
						       (cert_file alone: its
						       file holds the key) */
	bool insecure_skip_verify;
	/* check the TLS files at once, logging what is wrong as "<name> TLS
	 * ..." (e.g. "failed to read remote TLS CA file '...': ..."), so a
	 * wrong path is an error at start rather than at every connection */
	bool check_tls_files;
	const char *name;
	const char *bearer_token_file;
	const char *basic_auth_username, *basic_auth_password_file; /* both or
								       neither,
								       not with
								       a token */
	bool auth_optional;             /* see above */
	const struct http_header *headers; /* the user's, on every request */
	size_t n_headers;
	uint32_t timeout_ms;            /* whole request, connect included;
					   0: none */
	size_t max_response_bytes;      /* body kept (decoded); > 0 */
	bool http1_only;                /* else libcurl's choice (HTTP/2 over TLS) */
	bool accept_encoding;           /* ask for compressed bodies */
};

struct http_request {
	const char *path;               /* after the base URL: "/a/b?c=d" */
	bool post;                      /* POST body (which may be empty); else GET */
	const void *body;
	size_t body_len;
	const struct http_header *headers; /* the caller's own (Content-Type...),
					      not checked */
	size_t n_headers;
};

enum http_result {
	HTTP_OK = 0,        /* an answer, whatever its status */
	HTTP_NETWORK,       /* no answer: refused, reset, DNS, TLS... (message) */
	HTTP_TIMEOUT,       /* none within timeout_ms (message) */
	HTTP_TOO_LARGE,     /* an answer whose body went past max_response_bytes:
			       status, headers and the body's start are kept */
	HTTP_AUTH_FILE,     /* the credentials file cannot be used; nothing was
			       sent (message) */
	HTTP_CANCELLED,
};

/* Reused from request to request; zero-initialized is valid. */
struct http_response {
	enum http_result result;
	long status;                    /* HTTP_OK, HTTP_TOO_LARGE; else 0 */
	struct buf body;                /* NUL-terminated */
	struct buf headers;             /* the answer's header lines as sent,
					   first HTTP_HEADERS_MAX bytes */
	int auth_err;                   /* auth_optional: 0, or why no
					   credentials went: -ENOENT (no file),
					   -ENODATA (empty), -EBADMSG (not one
					   line, control characters, a space in
					   a token), -errno of reading */
	/* why, for HTTP_NETWORK (a TLS failure starts "TLS: " and says which
	 * kind, then libcurl's words), HTTP_TIMEOUT, HTTP_AUTH_FILE and a
	 * non-zero auth_err */
	char message[HTTP_MESSAGE_MAX];
};

struct http_client;

int http_client__new(const struct http_client_opts *opts, struct http_client **out);
void http_client__free(struct http_client *c);
const char *http_client__base_url(const struct http_client *c);
int http_client__perform(struct http_client *c, const struct http_request *req,
			 struct http_response *resp);
void http_client__cancel(struct http_client *c);
void http_response__release(struct http_response *resp);
bool http_header__valid(const char *name, const char *value);

#endif
