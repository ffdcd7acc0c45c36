/* TLS and authentication of the HTTP endpoint (http_tls, http_tokens and
 * the server's checks) over real sockets (tests/unit/http_harness.h),
 * with certificates made for the run by tests/tools/make-test-certs.sh:
 * start errors naming the file at fault, a liveness probe without
 * credentials, bearer tokens (wrong ones, rotation, a file gone and
 * back), client certificates from the trusted CA or another. */
#include "serve/http_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http_harness.h"
#include "testing.h"

struct tls_files {
	char dir[PATH_MAX];
	char ca[PATH_MAX + 32], other_ca[PATH_MAX + 32];
	char server_crt[PATH_MAX + 32], server_key[PATH_MAX + 32];
	char wrong_key[PATH_MAX + 32];
	char client_crt[PATH_MAX + 32], client_key[PATH_MAX + 32];
	char tokens[PATH_MAX + 32], tokens_new[PATH_MAX + 32];
	char garbage[PATH_MAX + 32];
};

static bool have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f);
	REQUIRE(fputs(text, f) >= 0);
	REQUIRE(fclose(f) == 0);
	REQUIRE(chmod(path, mode) == 0);
}

static void tls_files_make(struct tls_files *t)
{
	memset(t, 0, sizeof(*t));
	test_certs_make(t->dir, sizeof(t->dir), "brasa-http-tls");
#define TLS_PATH(field, name) snprintf(t->field, sizeof(t->field), "%s/" name, t->dir)
	TLS_PATH(ca, "ca.crt");
	TLS_PATH(other_ca, "other-ca.crt");
	TLS_PATH(server_crt, "server.crt");
	TLS_PATH(server_key, "server.key");
	TLS_PATH(wrong_key, "wrong-host.key");
	TLS_PATH(client_crt, "client.crt");
	TLS_PATH(client_key, "client.key");
	TLS_PATH(tokens, "tokens");
	TLS_PATH(tokens_new, "tokens.new");
	TLS_PATH(garbage, "garbage.pem");
#undef TLS_PATH
	write_file(t->tokens, "# scrapers\nfirst-token-0123456789abcdef\n\n"
			      "  second-token-0123456789abcdef  \r\n", 0600);
	write_file(t->garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
			       "-----END CERTIFICATE-----\n", 0600);
}

static void tls_files_remove(struct tls_files *t)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	CHECK(system(cmd) == 0);
}

/* Start errors name the file at fault, in one line. */
static void test_tls_start_errors(const struct tls_files *t)
{
	static const char short_tokens[] = "0123456789\n";
	struct http_api_opts o;
	char err[512], path[PATH_MAX + 32];

	struct {
		const char *cert, *key, *ca, *tokens, *want;
	} cases[] = {
		{ "/nonexistent/server.crt", t->server_key, NULL, NULL,
		  "failed to read TLS certificate file '/nonexistent/server.crt': No such file or "
		  "directory" },
		{ t->server_crt, NULL, NULL, NULL,
		  "a TLS certificate needs its key and a key its certificate" },
		{ NULL, NULL, t->ca, NULL,
		  "client certificates need TLS: a server certificate and key" },
		{ t->garbage, t->server_key, NULL, NULL, "holds no PEM certificate" },
		{ t->server_crt, t->garbage, NULL, NULL, "holds no usable PEM private key" },
		{ t->server_crt, t->wrong_key, NULL, NULL, "does not match the certificate in" },
		{ t->server_crt, t->server_key, t->garbage, NULL, "client CA file" },
		{ NULL, NULL, NULL, "/nonexistent/tokens",
		  "failed to read bearer token file '/nonexistent/tokens': No such file or "
		  "directory" },
		{ NULL, NULL, NULL, t->garbage, "line 1: not a bearer token" },
		{ NULL, NULL, NULL, path, "line 1: a token of fewer than 16 characters" },
		{ NULL, NULL, NULL, t->dir, "is not a regular file" },
	};

	snprintf(path, sizeof(path), "%s/short-tokens", t->dir);
	write_file(path, short_tokens, 0600);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct http_api *h;

		base_opts(&o, "127.0.0.1:0");
		o.tls_cert_file = cases[i].cert;
		o.tls_key_file = cases[i].key;
		o.tls_client_ca_file = cases[i].ca;
		o.bearer_token_file = cases[i].tokens;
		err[0] = 0;
		errno = 0;
		h = api_start(&o, err, sizeof(err));
		CHECK(h == NULL);
		CHECK_INT(errno, ==, EINVAL);
		if (!strstr(err, cases[i].want))
			fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].want);
		CHECK(strstr(err, cases[i].want) != NULL);
		CHECK(strchr(err, '\n') == NULL);
		http_api__stop(h);
	}
	/* the mismatch names both files */
	base_opts(&o, "127.0.0.1:0");
	o.tls_cert_file = t->server_crt;
	o.tls_key_file = t->wrong_key;
	CHECK(api_start(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, t->wrong_key) && strstr(err, t->server_crt));
}

static void https_get(uint16_t to_port, const char *path, const char *token, const char *ca,
		      const char *cert, const char *key, struct reply *r)
{
	struct request q = { .scheme = "https", .port = to_port, .path = path, .token = token,
			     .ca = ca, .cert = cert, .key = key };

	perform(&q, r);
}

/* https_get's status, the reply released: for checks of the status alone. */
static long https_status(uint16_t to_port, const char *path, const char *token, const char *ca,
			 const char *cert, const char *key)
{
	struct reply r;
	long status;

	https_get(to_port, path, token, ca, cert, key, &r);
	status = r.status;
	reply_release(&r);
	return status;
}

/* A server on a free loopback port: with the run's certificate when tls,
 * accepting client certificates of client_ca and the tokens in the file
 * tokens (each NULL: none). */
static struct http_api *start_auth(const struct tls_files *t, bool tls, const char *client_ca,
				   const char *tokens)
{
	struct http_api_opts o;
	struct http_api *h;

	base_opts(&o, "127.0.0.1:0");
	if (tls) {
		o.tls_cert_file = t->server_crt;
		o.tls_key_file = t->server_key;
	}
	o.tls_client_ca_file = client_ca;
	o.bearer_token_file = tokens;
	h = start_opts(&o);
	REQUIRE(h);
	return h;
}

static void test_tls_and_auth(void)
{
	struct tls_files t;
	struct http_api_stats st;
	struct http_api *h;
	struct reply r;
	char www[256];
	uint16_t p;

	if (!have_openssl()) {
		fprintf(stderr, "no openssl to make test certificates: TLS tests skipped\n");
		return;
	}
	tls_files_make(&t);
	test_tls_start_errors(&t);

	h = start_auth(&t, true, t.ca, t.tokens);
	p = http_api__port(h);

	/* a liveness probe has neither token nor certificate */
	https_get(p, "/healthz", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.curl_err, ==, CURLE_OK);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "ok\n");
	reply_release(&r);
	/* plain HTTP to the TLS port is not answered */
	http_request("127.0.0.1", p, "GET", "/healthz", &r);
	CHECK(r.status != 200);
	reply_release(&r);

	/* no credentials */
	https_get(p, "/metrics", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	CHECK_HEADER(&r, "WWW-Authenticate", "Bearer realm=\"brasa\"");
	CHECK_STR((char *)r.body.data, "authentication required: send \"Authorization: Bearer "
		  "TOKEN\" or a client certificate\n");
	reply_release(&r);
	rec_reset();
	https_get(p, "/debug/pprof/profile?seconds=1", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	CHECK_HEADER(&r, "X-Go-Pprof", "1");
	CHECK_INT(rec_get(&rec.calls), ==, 0);
	reply_release(&r);
	/* the right tokens */
	CHECK_INT(https_status(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL), ==,
		  200);
	https_get(p, "/debug/pprof/profile?seconds=1", "second-token-0123456789abcdef", t.ca,
		  NULL, NULL, &r);
	check_profile_ok(&r);
	reply_release(&r);
	/* wrong ones: another token, a prefix, a longer one */
	static const char *const wrong[] = {
		"third-token-0123456789abcdef", "first-token-0123456789abcde",
		"first-token-0123456789abcdefX",
	};
	for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
		https_get(p, "/metrics", wrong[i], t.ca, NULL, NULL, &r);
		CHECK_INT(r.status, ==, 401);
		CHECK_STR((char *)r.body.data, "invalid bearer token\n");
		CHECK(header(&r, "WWW-Authenticate", www, sizeof(www)) &&
		      strstr(www, "error=\"invalid_token\""));
		reply_release(&r);
	}
	/* rotation: a new file renamed over the old one, as a Secret update
	 * or an atomic editor would */
	write_file(t.tokens_new, "rotated-token-0123456789abcdef\n", 0600);
	REQUIRE(rename(t.tokens_new, t.tokens) == 0);
	CHECK_INT(https_status(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL), ==,
		  401);
	CHECK_INT(https_status(p, "/metrics", "rotated-token-0123456789abcdef", t.ca, NULL, NULL),
		  ==, 200);
	/* and rewritten in place */
	write_file(t.tokens, "in-place-token-0123456789abcdef\n", 0600);
	CHECK_INT(https_status(p, "/metrics", "in-place-token-0123456789abcdef", t.ca, NULL, NULL),
		  ==, 200);
	/* gone: no token works, and the metric says so */
	REQUIRE(unlink(t.tokens) == 0);
	CHECK_INT(https_status(p, "/metrics", "in-place-token-0123456789abcdef", t.ca, NULL, NULL),
		  ==, 401);
	http_api__stats(h, &st);
	CHECK(st.token_file);
	CHECK_INT(st.bearer_tokens, ==, 0);
	CHECK_U64(st.token_reloads, >=, 2);
	write_file(t.tokens, "back-again-token-0123456789abcdef\n", 0600);
	CHECK_INT(https_status(p, "/metrics", "back-again-token-0123456789abcdef", t.ca, NULL, NULL),
		  ==, 200);
	http_api__stats(h, &st);
	CHECK_INT(st.bearer_tokens, ==, 1);

	/* a client certificate from the trusted CA, without a token */
	https_get(p, "/metrics", NULL, t.ca, t.client_crt, t.client_key, &r);
	CHECK_INT(r.curl_err, ==, CURLE_OK);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	http_api__stats(h, &st);
	/* no credentials twice, three wrong tokens, a rotated-out one, one
	 * while the file was gone */
	CHECK_U64(st.rejected[HTTP_REJECT_UNAUTHORIZED], ==, 7);
	http_api__stop(h);

	/* certificates only, trusting another CA: ours is refused; none is
	 * refused too; the probe still gets in */
	h = start_auth(&t, true, t.other_ca, NULL);
	p = http_api__port(h);
	https_get(p, "/metrics", NULL, t.ca, t.client_crt, t.client_key, &r);
	CHECK_INT(r.status, ==, 403);
	CHECK(strncmp((char *)r.body.data, "client certificate not accepted: ", 33) == 0);
	fprintf(stderr, "certificate from another CA: %s", (char *)r.body.data);
	reply_release(&r);
	https_get(p, "/metrics", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 403);
	CHECK_STR((char *)r.body.data, "a client certificate is required\n");
	reply_release(&r);
	CHECK_INT(https_status(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL), ==,
		  403);
	CHECK_INT(https_status(p, "/healthz", NULL, t.ca, NULL, NULL), ==, 200);
	http_api__stop(h);

	/* tokens without TLS (fine on loopback) */
	h = start_auth(&t, false, NULL, t.tokens);
	{
		struct request q = { .port = http_api__port(h), .path = "/metrics",
				     .token = "back-again-token-0123456789abcdef" };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 200);
		reply_release(&r);
		q.token = NULL;
		q.headers[0] = "Authorization: Basic dXNlcjpwYXNz";
		perform(&q, &r);
		CHECK_INT(r.status, ==, 401);
		CHECK_STR((char *)r.body.data,
			  "the Authorization header is not \"Bearer TOKEN\"\n");
		reply_release(&r);
	}
	http_api__stop(h);
	tls_files_remove(&t);
}

TEST_MAIN(http_test_setup, http_test_teardown,
	  TEST_CASE(tls_and_auth))
