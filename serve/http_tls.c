#include "serve/http_tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "serve/http_text.h"

#define PEM_FILE_MAX (1u << 20)

static int read_pem(const char *path, const char *what, struct buf *out, char *err,
		    size_t errlen)
{
	int rc = buf_read_file(path, out, PEM_FILE_MAX);

	if (rc == -EFBIG)
		return http_text__errf(err, errlen, EINVAL, "%s file '%s' is larger than %u bytes",
				       what, path, PEM_FILE_MAX);
	if (rc)
		return http_text__errf(err, errlen, EINVAL, "failed to read %s file '%s': %s", what,
				       path, strerror(-rc));
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
		return http_text__errf(err, errlen, EINVAL, "%s file '%s' holds no PEM certificate: "
				       "%s", what, path, rc < 0 ? gnutls_strerror(rc) : "empty");
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
		return http_text__errf(err, errlen, ENOMEM, "out of memory");
	rc = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(key);
	if (rc < 0)
		return http_text__errf(err, errlen, EINVAL, "TLS key file '%s' holds no usable PEM "
				       "private key (encrypted keys are not supported): %s", path,
				       gnutls_strerror(rc));
	return 0;
}

static int check_pair(const struct buf *cert, const struct buf *key, const char *cert_path,
		      const char *key_path, char *err, size_t errlen)
{
	gnutls_datum_t c = datum(cert), k = datum(key);
	gnutls_certificate_credentials_t cred;
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return http_text__errf(err, errlen, ENOMEM, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return http_text__errf(err, errlen, EINVAL, "TLS key file '%s' does not match the "
				       "certificate in '%s'", key_path, cert_path);
	if (rc < 0)
		return http_text__errf(err, errlen, EINVAL, "TLS certificate '%s' with key '%s' "
				       "cannot be used: %s", cert_path, key_path,
				       gnutls_strerror(rc));
	return 0;
}

void http_tls__free(struct http_tls *tls)
{
	if (!tls)
		return;
	if (tls->key.data)
		explicit_bzero(tls->key.data, tls->key.len);
	buf_release(&tls->key);
	buf_release(&tls->cert);
	buf_release(&tls->client_ca);
	free(tls);
}

int http_tls__open(const struct http_tls_opts *o, struct http_tls **out, char *err,
		   size_t errlen)
{
	struct http_tls *tls;
	int rc;

	if (!o->cert_file != !o->key_file)
		return http_text__errf(err, errlen, EINVAL, "a TLS certificate needs its key and a "
				       "key its certificate");
	if (o->client_ca_file && !o->cert_file)
		return http_text__errf(err, errlen, EINVAL, "client certificates need TLS: a "
				       "server certificate and key");
	if (!o->cert_file) {
		*out = NULL;
		return 0;
	}
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		return http_text__errf(err, errlen, ENOMEM, "out of memory");
	if ((rc = read_pem(o->cert_file, "TLS certificate", &tls->cert, err, errlen)) ||
	    (rc = check_certs(&tls->cert, "TLS certificate", o->cert_file, true, err, errlen)) ||
	    (rc = read_pem(o->key_file, "TLS key", &tls->key, err, errlen)) ||
	    (rc = check_key(&tls->key, o->key_file, err, errlen)) ||
	    (rc = check_pair(&tls->cert, &tls->key, o->cert_file, o->key_file, err, errlen)))
		goto fail;
	if (o->client_ca_file &&
	    ((rc = read_pem(o->client_ca_file, "client CA", &tls->client_ca, err, errlen)) ||
	     (rc = check_certs(&tls->client_ca, "client CA", o->client_ca_file, false, err,
			       errlen))))
		goto fail;
	tls->client_certs = o->client_ca_file != NULL;
	*out = tls;
	return 0;
fail:
	http_tls__free(tls);
	return rc;
}

/* microhttpd asks for a certificate without requiring one (a liveness
 * probe has none) and leaves the check to us. */
int http_tls__check_client(struct MHD_Connection *conn, char *why, size_t len)
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
