/* http_tls: the endpoint's TLS credentials, read and checked at start
 * (each error names the file at fault) and kept, PEM, for microhttpd: a
 * certificate chain and its key, both or neither, and optionally CAs whose
 * client certificates authenticate a client. And the check of a
 * connection's client certificate against those CAs.
 *
 *   http_tls__open(opts, &tls, err, errlen)   0 (*tls NULL when opts name
 *                           no certificate: plain HTTP), -EINVAL with one
 *                           line in err, or -ENOMEM; warns when the
 *                           server certificate has expired
 *   http_tls__check_client(conn, why, len)   0 when the connection's
 *                           client certificate chains to the client CAs
 *                           and may authenticate a client; -ENOENT when it
 *                           sent none; -EACCES with the reason in why
 *   http_tls__free(tls)     NULL-safe; wipes the key
 */
#ifndef BRASA_SERVE_HTTP_TLS_H
#define BRASA_SERVE_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct MHD_Connection;

struct http_tls_opts {
	const char *cert_file;      /* certificate chain, the server's first */
	const char *key_file;       /* its key, not encrypted */
	const char *client_ca_file; /* NULL: no client certificates */
};

struct http_tls {
	/* NUL-terminated PEM, as microhttpd takes it */
	struct buf cert, key, client_ca;
	bool client_certs;          /* client_ca is set */
};

int http_tls__open(const struct http_tls_opts *opts, struct http_tls **out, char *err,
		   size_t errlen);
int http_tls__check_client(struct MHD_Connection *conn, char *why, size_t len);
void http_tls__free(struct http_tls *tls);

#endif
