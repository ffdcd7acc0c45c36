/* http_address: the endpoint's listen address and the Host a request
 * names, parsed; whether either is a loopback one. Pure, no I/O: the
 * configuration checks http.address with it before anything starts, and
 * the Host check runs on what any client sends (fuzzed by
 * tests/fuzz/fuzz-http-query.c).
 *
 *   http_address__parse(str, &ss, &len)   "a.b.c.d:port", "[v6]:port",
 *                           ":port" (every IPv4 interface, Go's form),
 *                           "localhost:port" (127.0.0.1); the port may be
 *                           left out ("0.0.0.0", "[::1]"):
 *                           HTTP_ADDRESS_DEFAULT_PORT. Numeric otherwise:
 *                           no other names, no zone ids; the port decimal
 *                           0-65535 -> sockaddr; 0 or -EINVAL
 *   http_address__is_loopback(str)   1 for 127.0.0.0/8, [::1] and
 *                           [::ffff:127.x.x.x], 0 for any other address,
 *                           -EINVAL if unparsable
 *   http_address__host_is_loopback(host, len)   whether a Host header value
 *                           (len bytes, not NUL-terminated) names a
 *                           loopback host: "localhost", 127.x.x.x or
 *                           [::1] (any spelling), any port or none
 */
#ifndef BRASA_SERVE_HTTP_ADDRESS_H
#define BRASA_SERVE_HTTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_ADDRESS_DEFAULT_PORT 7071
/* What an unparsable address is told (the configuration's and the
 * server's error) */
#define HTTP_ADDRESS_EXPECTED \
	"expected IPv4:PORT, [IPv6]:PORT, :PORT (every IPv4 interface) or localhost:PORT " \
	"(the port 7071 when left out)"

int http_address__parse(const char *address, struct sockaddr_storage *out,
			socklen_t *out_len);
int http_address__is_loopback(const char *address);
bool http_address__host_is_loopback(const char *host, size_t len);

#endif
