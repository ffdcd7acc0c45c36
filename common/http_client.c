#include "common/http_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"

/* How often a request in flight looks at the cancel flag when nothing
 * happens; http_client__cancel wakes it at once anyway. */
#define POLL_MS 1000
/* a certificate bundle, however long its chain, is far below this */
#define TLS_FILE_MAX ((size_t)1 << 20)

/* A token or password file, re-read when it is replaced or rewritten. */
struct secret {
	char *path;
	bool token;                    /* a bearer token: one word */
	bool loaded;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *value;
};

struct http_client {
	char *base_url;                /* without a trailing '/' */
	char *ca_file, *cert_file, *key_file; /* for messages; NULL: unset */
	struct secret token, password;
	char *username;
	bool auth_optional;
	struct curl_slist *headers;    /* "Expect:" and the user's, fixed */
	size_t max_response_bytes;
	CURLM *multi;                  /* curl_multi_wakeup from any thread */
	CURL *easy;
	atomic_bool cancelled;

	/* per request */
	struct http_response *resp;
	bool too_large;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- credentials files ---- */

static void secret_release(struct secret *s)
{
	free(s->path);
	free(s->value);
	*s = (struct secret){};
}

/* What makes a credential unusable in a request: a line break, a control
 * character (a header injection, or garbage an editor left), and in a
 * bearer token a space, which would end the token early. NULL: fine. */
static const char *secret_flaw(const struct secret *s, const struct buf *b)
{
	if (memchr(b->data, '\n', b->len) || memchr(b->data, '\r', b->len))
		return "is not a single line";
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] < 0x20 || b->data[i] == 0x7f)
			return "holds control characters";
		if (s->token && b->data[i] == ' ')
			return "holds spaces (a bearer token is one word)";
	}
	return NULL;
}

/* Loads s again if its file changed since the last read. 0, or -errno with
 * why in msg: see http_response.auth_err. */
static int secret_refresh(struct secret *s, char *msg, size_t msglen)
{
	_cleanup_close_ int fd = -1;
	struct buf b = {};
	struct stat st;
	const char *flaw;
	int err;

	/* O_NONBLOCK: a FIFO put in the file's place must not hang the
	 * sender; it is refused below */
	fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
		goto fail;
	}
	if (s->loaded && st.st_dev == s->dev && st.st_ino == s->ino && st.st_size == s->size &&
	    st.st_mtim.tv_sec == s->mtime.tv_sec && st.st_mtim.tv_nsec == s->mtime.tv_nsec)
		return 0;
	err = buf_read_fd(fd, &b, HTTP_SECRET_MAX);
	if (err)
		goto fail;
	/* editors and echo leave a trailing newline */
	while (b.len && isspace(b.data[b.len - 1]))
		b.data[--b.len] = 0;
	if (!b.len) {
		snprintf(msg, msglen, "credentials file '%s' is empty", s->path);
		buf_release(&b);
		return -ENODATA;
	}
	flaw = secret_flaw(s, &b);
	if (flaw) {
		snprintf(msg, msglen, "credentials file '%s' %s", s->path, flaw);
		buf_release(&b);
		return -EBADMSG;
	}
	free(s->value);
	s->value = (char *)b.data;
	s->loaded = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	return 0;
fail:
	snprintf(msg, msglen, "failed to read credentials file '%s': %s", s->path,
		 strerror(-err));
	buf_release(&b);
	return err;
}

/* ---- headers ---- */

bool http_header__valid(const char *name, const char *value)
{
	/* libcurl's, or what the protocol code sets itself */
	static const char *const reserved[] = { "content-type", "content-length", "host",
						"transfer-encoding", "connection", "expect" };

	if (!name || !value || !name[0])
		return false;
	/* a token (RFC 9110 5.6.2) */
	for (const char *c = name; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *c))
			return false;
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return false;
	/* a tab is legal inside a value (RFC 9110 5.5), no other control */
	for (const unsigned char *c = (const unsigned char *)value; *c; c++)
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
			return false;
	return true;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	_cleanup_free_ char *line = NULL;
	struct curl_slist *l;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	l = curl_slist_append(*list, line);
	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

/* ---- TLS files ---- */

/* Checked once at start (check_tls_files), so a wrong path or a
 * certificate without its key is an error then, not a retry loop; libcurl
 * reads them again for every new connection. Logs what is wrong. */
static int check_tls_files(const struct http_client_opts *o)
{
	const struct {
		const char *path, *what;
	} files[] = { { o->ca_file, "CA file" },
		      { o->cert_file, "client certificate" },
		      { o->key_file, "client key" } };
	const char *name = o->name ? o->name : "HTTP";
	struct buf cert = {};
	int err;

	if (o->key_file && !o->cert_file) {
		log_error("%s TLS client key '%s' is set without a client certificate", name,
			  o->key_file);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_close_ int fd = -1;

		if (!files[i].path)
			continue;
		fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			log_error("failed to read %s TLS %s '%s': %s", name, files[i].what,
				  files[i].path, strerror(-err));
			return err;
		}
	}
	if (!o->cert_file || o->key_file)
		return 0;
	/* without key_file libcurl takes the key from the certificate's file */
	err = buf_read_file(o->cert_file, &cert, TLS_FILE_MAX);
	if (err) {
		buf_release(&cert);
		log_error("failed to read %s TLS client certificate '%s': %s", name, o->cert_file,
			  strerror(-err));
		return err;
	}
	if (!memmem(cert.data, cert.len, "PRIVATE KEY-----", 16)) {
		log_error("%s TLS client certificate '%s' holds no private key and no key file "
			  "is set", name, o->cert_file);
		err = -EINVAL;
	}
	buf_release(&cert);
	return err;
}

/* ---- callbacks ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_client *c = userdata;
	struct buf *body = &c->resp->body;
	size_t n = size * nmemb, room = c->max_response_bytes - MIN(body->len, c->max_response_bytes);

	if (n > room) {
		c->too_large = true;
		/* the start still says what the server meant */
		if (room)
			buf_append(body, data, room);
		return 0; /* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	return buf_append(body, data, n) ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_client *c = userdata;
	struct buf *headers = &c->resp->headers;
	size_t n = size * nmemb;

	/* a new status line (after "100 Continue") starts a new answer */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
		buf_reset(headers);
	if (headers->len + n <= HTTP_HEADERS_MAX)
		buf_append(headers, data, n);
	return n;
}

/* ---- the client ---- */

static bool base_url_ok(const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return false;
	for (const unsigned char *c = (const unsigned char *)url; *c; c++)
		if (*c <= ' ' || *c == 0x7f || *c == '?' || *c == '#')
			return false;
	return true;
}

static bool opts_valid(const struct http_client_opts *o)
{
	if (!o->base_url || !base_url_ok(o->base_url) || !o->max_response_bytes ||
	    (o->bearer_token_file && (o->basic_auth_username || o->basic_auth_password_file)) ||
	    !o->basic_auth_username != !o->basic_auth_password_file ||
	    (o->n_headers && !o->headers))
		return false;
	for (size_t i = 0; i < o->n_headers; i++)
		if (!http_header__valid(o->headers[i].name, o->headers[i].value))
			return false;
	return true;
}

static int strdup_opt(const char *s, char **out)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? -ENOMEM : 0;
}

static int setopt_str(CURL *c, CURLoption opt, const char *v)
{
	return v && curl_easy_setopt(c, opt, v) != CURLE_OK ? -EINVAL : 0;
}

static int setup_curl(struct http_client *c, const struct http_client_opts *o)
{
	CURL *e = c->easy;

	/* no SIGALRM for DNS timeouts: brasa is multi-threaded */
	if (curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "brasa/" BRASA_VERSION) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, c) != CURLE_OK ||
	    setopt_str(e, CURLOPT_CAINFO, o->ca_file) ||
	    setopt_str(e, CURLOPT_SSLCERT, o->cert_file) ||
	    setopt_str(e, CURLOPT_SSLKEY, o->key_file))
		return -EINVAL;
	if (o->http1_only &&
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK)
		return -EINVAL;
	/* "": every encoding libcurl decodes; the body bound applies decoded */
	if (o->accept_encoding && curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK)
		return -EINVAL;
	if (o->insecure_skip_verify &&
	    (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))
		return -EINVAL;
	return 0;
}

int http_client__new(const struct http_client_opts *o, struct http_client **out)
{
	struct http_client *c;
	int err;

	if (!o || !out || !opts_valid(o))
		return -EINVAL;
	if (o->check_tls_files) {
		err = check_tls_files(o);
		if (err)
			return err;
	}
	/* reference-counted by libcurl; paired in http_client__free */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	c->auth_optional = o->auth_optional;
	c->max_response_bytes = o->max_response_bytes;
	c->token.token = true;
	err = -ENOMEM;
	if (strdup_opt(o->base_url, &c->base_url) ||
	    strdup_opt(o->ca_file, &c->ca_file) || strdup_opt(o->cert_file, &c->cert_file) ||
	    strdup_opt(o->key_file, &c->key_file) ||
	    strdup_opt(o->bearer_token_file, &c->token.path) ||
	    strdup_opt(o->basic_auth_username, &c->username) ||
	    strdup_opt(o->basic_auth_password_file, &c->password.path))
		goto fail;
	while (strlen(c->base_url) > 8 && c->base_url[strlen(c->base_url) - 1] == '/')
		c->base_url[strlen(c->base_url) - 1] = 0;
	/* libcurl's own "Expect: 100-continue" would hold every large body
	 * back for a second waiting for a reply servers here never send */
	c->headers = curl_slist_append(NULL, "Expect:");
	if (!c->headers)
		goto fail;
	for (size_t i = 0; i < o->n_headers; i++)
		if (add_header(&c->headers, o->headers[i].name, o->headers[i].value))
			goto fail;
	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (!c->multi || !c->easy)
		goto fail;
	err = setup_curl(c, o);
	if (err)
		goto fail;
	*out = c;
	return 0;
fail:
	http_client__free(c);
	return err;
}

void http_client__free(struct http_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->headers);
	secret_release(&c->token);
	secret_release(&c->password);
	free(c->username);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->base_url);
	free(c);
	curl_global_cleanup();
}

const char *http_client__base_url(const struct http_client *c)
{
	return c ? c->base_url : NULL;
}

void http_client__cancel(struct http_client *c)
{
	if (!c)
		return;
	atomic_store(&c->cancelled, true);
	/* cuts short a curl_multi_poll in a request in flight */
	curl_multi_wakeup(c->multi);
}

void http_response__release(struct http_response *resp)
{
	if (!resp)
		return;
	buf_release(&resp->body);
	buf_release(&resp->headers);
}

/* A TLS peer's alert, as OpenSSL words it in libcurl's message, and what it
 * tells the user; a server that wants a client certificate says so only
 * after the handshake in TLS 1.3, on the first read. */
static const struct {
	const char *alert, *meaning;
} tls_alerts[] = {
	{ "alert certificate required", "the server requires a client certificate" },
	{ "alert unknown ca", "the server does not trust the client certificate's CA" },
	{ "alert bad certificate", "the server rejected the client certificate" },
	{ "alert certificate unknown", "the server rejected the client certificate" },
	{ "alert certificate expired", "the server says the client certificate expired" },
	{ "alert handshake failure", "the server refused the TLS handshake" },
};

/* The message for a failed transfer: libcurl's words, after what kind of
 * TLS problem it is, so "certificate not trusted" cannot be mistaken for
 * "nothing listens there". */
static void transfer_failure(const struct http_client *c, CURLcode rc, char *out, size_t outlen)
{
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (c->ca_file)
			snprintf(out, outlen, "TLS: the server's certificate failed verification "
				 "against the CA file '%s': %s", c->ca_file, why);
		else
			snprintf(out, outlen, "TLS: the server's certificate failed verification "
				 "against the system's CAs: %s", why);
		return;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, outlen, "TLS: unusable CA file '%s': %s",
			 c->ca_file ? c->ca_file : "(system)", why);
		return;
	case CURLE_SSL_CERTPROBLEM:
		snprintf(out, outlen, "TLS: unusable client certificate '%s' or key '%s': %s",
			 c->cert_file ? c->cert_file : "",
			 c->key_file ? c->key_file : c->cert_file ? c->cert_file : "", why);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(out, outlen, "%s", why);
		return;
	default:
		break;
	}
	for (size_t i = 0; i < ARRAY_SIZE(tls_alerts); i++) {
		if (strstr(why, tls_alerts[i].alert)) {
			snprintf(out, outlen, "TLS: %s: %s", tls_alerts[i].meaning, why);
			return;
		}
	}
	if (rc == CURLE_SSL_CONNECT_ERROR)
		snprintf(out, outlen, "TLS: handshake failed: %s", why);
	else
		snprintf(out, outlen, "%s", why);
}

/* Whether s goes with this request: 1 yes, 0 no (auth_optional: resp's
 * auth_err and message say why), -1 the request must not go either. */
static int secret_use(const struct http_client *c, struct secret *s, struct http_response *resp)
{
	int err = secret_refresh(s, resp->message, sizeof(resp->message));

	if (err && !c->auth_optional)
		return -1;
	resp->auth_err = err;
	return !err;
}

/* The request's headers: the fixed ones, the caller's, then the
 * credentials. 1: a credentials file cannot be used and the request must
 * not go (resp says why); 0; -ENOMEM. */
static int request_headers(struct http_client *c, const struct http_request *req,
			   struct http_response *resp, struct curl_slist **out)
{
	_cleanup_free_ char *auth = NULL;
	int use;

	for (struct curl_slist *h = c->headers; h; h = h->next) {
		struct curl_slist *l = curl_slist_append(*out, h->data);

		if (!l)
			return -ENOMEM;
		*out = l;
	}
	for (size_t i = 0; i < req->n_headers; i++)
		if (add_header(out, req->headers[i].name, req->headers[i].value))
			return -ENOMEM;
	if (c->token.path) {
		use = secret_use(c, &c->token, resp);
		if (use < 0)
			return 1;
		if (use && (asprintf(&auth, "Bearer %s", c->token.value) < 0 ||
			    add_header(out, "Authorization", auth)))
			return -ENOMEM;
	}
	if (c->password.path) {
		use = secret_use(c, &c->password, resp);
		if (use < 0)
			return 1;
		/* without the password, no basic auth at all */
		if (curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH,
				     (long)(use ? CURLAUTH_BASIC : CURLAUTH_NONE)) != CURLE_OK ||
		    curl_easy_setopt(c->easy, CURLOPT_USERNAME, use ? c->username : NULL) != CURLE_OK ||
		    curl_easy_setopt(c->easy, CURLOPT_PASSWORD,
				     use ? c->password.value : NULL) != CURLE_OK)
			return -ENOMEM;
	}
	return 0;
}

/* Runs the transfer set up on c->easy to its end, a cancel, or a failure
 * of libcurl's own. */
static enum http_result transfer(struct http_client *c, struct http_response *resp)
{
	CURLcode cc = CURLE_RECV_ERROR;
	bool cancelled = false;
	int running = 1, left;
	CURLMsg *msg;

	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
		snprintf(resp->message, sizeof(resp->message), "curl_multi_add_handle failed");
		return HTTP_NETWORK;
	}
	while (running) {
		if (curl_multi_perform(c->multi, &running) != CURLM_OK || !running)
			break;
		if (atomic_load(&c->cancelled)) {
			cancelled = true;
			break;
		}
		if (curl_multi_poll(c->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK)
			break;
	}
	while (!cancelled && (msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
			cc = msg->data.result;
	curl_multi_remove_handle(c->multi, c->easy);
	if (cancelled)
		return HTTP_CANCELLED;
	if (cc == CURLE_OK || c->too_large) {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
		return c->too_large ? HTTP_TOO_LARGE : HTTP_OK;
	}
	transfer_failure(c, cc, resp->message, sizeof(resp->message));
	return cc == CURLE_OPERATION_TIMEDOUT ? HTTP_TIMEOUT : HTTP_NETWORK;
}

int http_client__perform(struct http_client *c, const struct http_request *req,
			 struct http_response *resp)
{
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL;
	int err;

	if (!c || !req || !req->path || !resp)
		return -EINVAL;
	buf_reset(&resp->body);
	buf_reset(&resp->headers);
	resp->result = HTTP_OK;
	resp->status = 0;
	resp->auth_err = 0;
	resp->message[0] = 0;
	if (atomic_load(&c->cancelled)) {
		resp->result = HTTP_CANCELLED;
		return 0;
	}
	err = request_headers(c, req, resp, &headers);
	if (err) {
		curl_slist_free_all(headers);
		if (err < 0)
			return err;
		resp->result = HTTP_AUTH_FILE;
		return 0;
	}
	if (asprintf(&url, "%s%s", c->base_url, req->path) < 0) {
		curl_slist_free_all(headers);
		return -ENOMEM;
	}
	c->resp = resp;
	c->too_large = false;
	c->errbuf[0] = 0;
	err = -EINVAL;
	if (curl_easy_setopt(c->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
		goto out;
	if (req->post) {
		if (curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
				     req->body_len ? (const char *)req->body : "") != CURLE_OK ||
		    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				     (curl_off_t)req->body_len) != CURLE_OK)
			goto out;
	} else if (curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
		goto out;
	}
	resp->result = transfer(c, resp);
	err = 0;
out:
	/* the handle keeps pointers to both until the next request (and a
	 * POSTFIELDS, even NULL, makes it a POST: only after one) */
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	if (req->post)
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(headers);
	c->resp = NULL;
	return err;
}
