/* Unit test of ship/remote over HTTPS, with certificates made for the run
 * by tests/tools/make-test-certs.sh, against tests/tools/receiver.py: the
 * CA file, a wrong CA, a wrong host name, insecure_skip_verify, an https://
 * URL on a plain server, a server that requires a client certificate, and
 * TLS files that are missing or unusable. Plain requests:
 * test-remote-send.c.
 */
#include <fcntl.h>

#include "remote_harness.h"

struct tls_files {
	char dir[PATH_MAX];
	char ca[PATH_MAX + 32], other_ca[PATH_MAX + 32], other_ca_key[PATH_MAX + 32];
	char server_crt[PATH_MAX + 32], server_key[PATH_MAX + 32];
	char wrong_host_crt[PATH_MAX + 32], wrong_host_key[PATH_MAX + 32];
	char client_crt[PATH_MAX + 32], client_key[PATH_MAX + 32], client_bundle[PATH_MAX + 32];
	char stderr_file[PATH_MAX + 32];
};

/* Fresh keys for this run, by tests/tools/make-test-certs.sh in a new directory. */
static void tls_files_make(struct tls_files *t)
{
	memset(t, 0, sizeof(*t));
	REQUIRE(have_program("openssl"));
	test_certs_make(t->dir, sizeof(t->dir), "brasa-tls");
#define TLS_PATH(field, name) snprintf(t->field, sizeof(t->field), "%s/" name, t->dir)
	TLS_PATH(ca, "ca.crt");
	TLS_PATH(other_ca, "other-ca.crt");
	TLS_PATH(other_ca_key, "other-ca.key");
	TLS_PATH(server_crt, "server.crt");
	TLS_PATH(server_key, "server.key");
	TLS_PATH(wrong_host_crt, "wrong-host.crt");
	TLS_PATH(wrong_host_key, "wrong-host.key");
	TLS_PATH(client_crt, "client.crt");
	TLS_PATH(client_key, "client.key");
	TLS_PATH(client_bundle, "client-bundle.pem");
	TLS_PATH(stderr_file, "stderr");
#undef TLS_PATH
	REQUIRE(access(t->client_bundle, R_OK) == 0);
}

static void tls_files_remove(struct tls_files *t)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", t->dir);
}

/* remote__new's log goes to stderr: these catch it for a check. */
static int capture_stderr(const struct tls_files *t)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(t->stderr_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(saved >= 0 && fd >= 0);
	fflush(stderr);
	REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(const struct tls_files *t, int saved, struct buf *out)
{
	fflush(stderr);
	REQUIRE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	buf_reset(out);
	REQUIRE(buf_read_file(t->stderr_file, out, 1 << 20) == 0);
	fprintf(stderr, "--- captured log ---\n%s--- end ---\n", (char *)out->data);
}

/* remote__new with stderr captured into log. */
static int new_logged(const struct tls_files *t, const struct remote_opts *o, struct remote **r,
		      struct buf *log)
{
	int saved = capture_stderr(t), err;

	err = remote__new(o, r);
	restore_stderr(t, saved, log);
	return err;
}

/* The TLS keys of the run: the tls fixture at the end makes them. */
static const struct tls_files *t;

/* Waits up to 3 s for the receiver to have seen n failed handshakes (it
 * notes one just after the alert went out); true if the last one
 * contains reason. */
static bool tls_error_seen(struct receiver *rc, size_t n, const char *reason)
{
	double deadline = clock__mono_s() + 3;

	for (;;) {
		json_object *errs = receiver_tls_errors(rc);
		size_t len = json_object_array_length(errs);
		bool found = len >= n &&
			     strstr(json_object_get_string(json_object_array_get_idx(errs, len - 1)),
				    reason) != NULL;

		if (len >= n || clock__mono_s() > deadline) {
			if (!found)
				fprintf(stderr, "receiver's TLS errors: %s (wanted %zu, the last with %s)\n",
					json_object_to_json_string(errs), n, reason);
			json_object_put(errs);
			return found;
		}
		json_object_put(errs);
		sleep_ms(20);
	}
}

/* Delivers the fixture window through a new remote with o, and checks the
 * receiver decoded it: the alpha series, its labels and its profile. */
static void check_delivered(struct receiver *rc, const struct remote_opts *o)
{
	struct window_fixture f;
	struct remote_encode_opts eo = { .protocol = o->protocol };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *s, *rec = NULL;

	fixture_init(&f);
	receiver_clear(rc);
	REQUIRE(remote__new(o, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	REQUIRE(b->n >= 1);
	send_all(r, b);
	records = receiver_records(rc);
	/* pyroscope-ingest sends one request per series */
	CHECK_U64(json_object_array_length(records), ==, b->n);
	s = find_series(records, o->protocol == REMOTE_PYROSCOPE_INGEST ? "__app__" : "service_name",
			"alpha", &rec);
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(jstr(rec, "error"), "");
		CHECK_STR(jstr(jget(s, "labels"), "k8s_namespace"), "prod");
		check_profile(s, alpha_funcs, 3, f.total[0]);
	}
	json_object_put(records);
	fixture_release(&f);
}

/* One send through a new remote with o that must fail before any request
 * reaches the receiver: RETRY/network, no HTTP status; the message in st. */
static void check_refused(struct receiver *rc, const struct remote_opts *o, struct remote_status *st)
{
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	size_t before = receiver_count(rc);

	REQUIRE(remote__new(o, &r) == 0);
	CHECK_INT(send_one(rc, r, o->protocol, "{\"modes\":[\"ok\"]}", st), ==, REMOTE_RETRY);
	CHECK_INT(st->reason, ==, REMOTE_FAIL_NETWORK);
	CHECK_INT(st->http_status, ==, 0);
	CHECK_U64(receiver_count(rc), ==, before);
	fprintf(stderr, "refused as expected: %s\n", st->message);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The server's certificate: trusted through ca_file, not through another
 * CA or the system's, not under a host name it was not made for; a
 * refused connection says something else; insecure_skip_verify sends
 * anyway. */
static void test_tls_server(void)
{
	struct receiver rc;
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .timeout_ms = 10000 };
	struct remote_status st;
	char localhost_url[64], want[PATH_MAX + 128];
	size_t tls_errors = 0;

	receiver_start_tls(&rc, "ok", t->server_crt, t->server_key, NULL);
	REQUIRE(starts_with(rc.url, "https://127.0.0.1:"));
	o.url = rc.url;

	/* the CA that signed it: delivered and decoded; also as "localhost"
	 * (the certificate's DNS name) */
	o.ca_file = t->ca;
	check_delivered(&rc, &o);
	snprintf(localhost_url, sizeof(localhost_url), "https://localhost:%d", rc.port);
	o.url = localhost_url;
	check_delivered(&rc, &o);
	o.url = rc.url;

	/* another CA: not delivered, a retryable network failure that says
	 * it is the certificate; the receiver saw our "unknown ca" alert */
	o.ca_file = t->other_ca;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want),
		 "TLS: the server's certificate failed verification against the CA file '%s': ",
		 t->other_ca);
	CHECK(starts_with(st.message, want));
	CHECK(strstr(st.message, "SSL certificate problem: unable to get local issuer certificate"));
	CHECK(tls_error_seen(&rc, ++tls_errors, "UNKNOWN_CA"));

	/* no ca_file: the system's CAs do not know this one either */
	o.ca_file = NULL;
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message,
			  "TLS: the server's certificate failed verification against the system's CAs: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "UNKNOWN_CA"));

	/* nothing listening there: a network failure that is not TLS's */
	o.ca_file = t->ca;
	{
		_cleanup_(cleanup_remote__free) struct remote *r = NULL;

		REQUIRE(remote__new(&o, &r) == 0);
		CHECK_INT(send_one(&rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"refuse\"]}", &st), ==,
			  REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_NETWORK);
		CHECK(!starts_with(st.message, "TLS"));
		CHECK(strstr(st.message, "onnect") != NULL);
		fprintf(stderr, "refused connection: %s\n", st.message);
		receiver_mode(&rc, "{\"modes\":[\"ok\"]}");
	}

	/* a CA file that holds no certificate */
	o.ca_file = t->server_key;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want), "TLS: unusable CA file '%s': ", t->server_key);
	CHECK(starts_with(st.message, want));

	/* insecure_skip_verify: the wrong CA does not matter */
	o.ca_file = t->other_ca;
	o.insecure_skip_verify = true;
	check_delivered(&rc, &o);
	o.ca_file = NULL;
	check_delivered(&rc, &o);
	receiver_stop(&rc);

	/* a certificate from the right CA for another host name: refused,
	 * so host name verification is on; insecure_skip_verify sends */
	receiver_start_tls(&rc, "ok", t->wrong_host_crt, t->wrong_host_key, NULL);
	o.url = rc.url;
	o.ca_file = t->ca;
	o.insecure_skip_verify = false;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want),
		 "TLS: the server's certificate failed verification against the CA file '%s': ",
		 t->ca);
	CHECK(starts_with(st.message, want));
	CHECK(strstr(st.message, "'127.0.0.1'") != NULL);
	o.insecure_skip_verify = true;
	check_delivered(&rc, &o);
	receiver_stop(&rc);
}

/* An https:// URL on a plain HTTP server: a handshake failure. */
static void test_tls_to_plain(void)
{
	char url[64];
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .url = url, .ca_file = t->ca,
				 .timeout_ms = 10000 };
	struct remote_status st;

	REQUIRE(starts_with(rc->url, "http://"));
	snprintf(url, sizeof(url), "https://%s", rc->url + strlen("http://"));
	check_refused(rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: handshake failed: "));
}

/* A server that requires a client certificate signed by its CA. */
static void test_tls_client_cert(void)
{
	struct receiver rc;
	struct remote_opts o = { .protocol = REMOTE_PARCA, .timeout_ms = 10000 };
	struct remote_status st;
	char key_copy[PATH_MAX + 32], want[3 * PATH_MAX];
	size_t tls_errors = 0;

	receiver_start_tls(&rc, "ok", t->server_crt, t->server_key, t->ca);
	o.url = rc.url;
	o.ca_file = t->ca;

	/* none: the server ends the handshake, and the message says why */
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: the server requires a client certificate: ") ||
	      /* TLS 1.2 only has the generic alert */
	      starts_with(st.message, "TLS: the server refused the TLS handshake: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "PEER_DID_NOT_RETURN_A_CERTIFICATE"));

	/* cert_file and key_file: delivered (parca, to check another
	 * protocol's framing over TLS) */
	o.cert_file = t->client_crt;
	o.key_file = t->client_key;
	check_delivered(&rc, &o);
	/* certificate and key in one file, no key_file */
	o.cert_file = t->client_bundle;
	o.key_file = NULL;
	o.protocol = REMOTE_PYROSCOPE_INGEST;
	check_delivered(&rc, &o);
	o.protocol = REMOTE_PARCA;

	/* a certificate the server's CA did not sign */
	o.cert_file = t->other_ca;
	o.key_file = t->other_ca_key;
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: the server does not trust the client certificate's CA: ") ||
	      starts_with(st.message, "TLS: the server rejected the client certificate: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "CERTIFICATE_VERIFY_FAILED"));

	/* a key that is not the certificate's: curl refuses before sending */
	o.cert_file = t->client_crt;
	o.key_file = t->server_key;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want), "TLS: unusable client certificate '%s' or key '%s': ",
		 t->client_crt, t->server_key);
	CHECK(starts_with(st.message, want));

	/* the key gone between remote__new and the send (a botched rotation) */
	snprintf(key_copy, sizeof(key_copy), "%s/rotated.key", t->dir);
	{
		struct buf key = {};
		_cleanup_(cleanup_remote__free) struct remote *r = NULL;
		size_t before = receiver_count(&rc);

		REQUIRE(buf_read_file(t->client_key, &key, 1 << 20) == 0);
		write_file(key_copy, (const char *)key.data);
		buf_release(&key);
		o.key_file = key_copy;
		REQUIRE(remote__new(&o, &r) == 0);
		REQUIRE(unlink(key_copy) == 0);
		CHECK_INT(send_one(&rc, r, REMOTE_PARCA, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_NETWORK);
		snprintf(want, sizeof(want), "TLS: unusable client certificate '%s' or key '%s': ",
			 t->client_crt, key_copy);
		CHECK(starts_with(st.message, want));
		CHECK_U64(receiver_count(&rc), ==, before);
		fprintf(stderr, "key gone: %s\n", st.message);
	}
	receiver_stop(&rc);
}

/* TLS files remote__new refuses, each with a log line naming the file. */
static void test_tls_new_validation(void)
{
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .url = "https://127.0.0.1:1" };
	struct remote *r = NULL;
	struct buf log = {};
	char missing[PATH_MAX + 32], want[2 * PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/no-such.key", t->dir);

	/* cert_file with a key_file that cannot be read */
	o.cert_file = t->client_crt;
	o.key_file = missing;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -ENOENT);
	CHECK(r == NULL);
	snprintf(want, sizeof(want),
		 "failed to read remote TLS client key '%s': No such file or directory", missing);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* cert_file alone, but the file holds no key */
	o.key_file = NULL;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -EINVAL);
	snprintf(want, sizeof(want),
		 "remote TLS client certificate '%s' holds no private key and no key file is set",
		 t->client_crt);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* key_file alone */
	o.cert_file = NULL;
	o.key_file = t->client_key;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -EINVAL);
	CHECK(strstr((const char *)log.data, "is set without a client certificate") != NULL);

	/* a missing CA file */
	o.key_file = NULL;
	o.ca_file = missing;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -ENOENT);
	snprintf(want, sizeof(want), "failed to read remote TLS CA file '%s'", missing);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* what works: both files, or a bundle; nothing logged */
	o.ca_file = t->ca;
	o.cert_file = t->client_crt;
	o.key_file = t->client_key;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, 0);
	CHECK_U64(log.len, ==, 0);
	remote__free(TAKE_PTR(r));
	o.cert_file = t->client_bundle;
	o.key_file = NULL;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, 0);
	CHECK_U64(log.len, ==, 0);
	remote__free(TAKE_PTR(r));
	buf_release(&log);
}

static struct tls_files tls_keys;


static void tls_keys_make(void)
{
	tls_files_make(&tls_keys);
	t = &tls_keys;
}

/* kept for a look when a case failed */
static void tls_keys_remove(void)
{
	if (!test_failures)
		tls_files_remove(&tls_keys);
	t = NULL;
}


static struct test_fixture tls = { tls_keys_make, tls_keys_remove };


TEST_MAIN(NULL, NULL,
	  TEST_CASE(tls_to_plain, &tls, &receiver_fixture),
	  TEST_CASE(tls_new_validation, &tls),
	  TEST_CASE(tls_server, &tls),
	  TEST_CASE(tls_client_cert, &tls))
