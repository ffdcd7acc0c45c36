#include "serve/http_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/parse.h"

/* "localhost" binds what it means here, the IPv4 loopback (no resolver:
 * /etc/hosts may say anything). */
static const char *host_alias(const char *host)
{
	return strcasecmp(host, "localhost") ? host : "127.0.0.1";
}

int http_address__parse(const char *address, struct sockaddr_storage *out,
			socklen_t *out_len)
{
	char host[INET6_ADDRSTRLEN];
	const char *host_start, *host_end, *port_str = NULL;
	uint32_t port = HTTP_ADDRESS_DEFAULT_PORT;
	bool v6;
	size_t host_len;

	if (!address || !out || !out_len || !*address)
		return -EINVAL;

	if (address[0] == '[') {
		host_start = address + 1;
		host_end = strchr(host_start, ']');
		if (!host_end || (host_end[1] && host_end[1] != ':'))
			return -EINVAL;
		if (host_end[1])
			port_str = host_end + 2;
		v6 = true;
	} else {
		/* an IPv6 address needs its brackets: "::1:7071" is one address
		 * to inet_pton, not ::1 and a port */
		host_start = address;
		host_end = strrchr(address, ':');
		if (host_end && memchr(address, ':', (size_t)(host_end - address)))
			return -EINVAL;
		if (host_end)
			port_str = host_end + 1;
		else
			host_end = address + strlen(address);
		v6 = false;
	}

	host_len = (size_t)(host_end - host_start);
	if (host_len >= sizeof(host) || (v6 && host_len == 0))
		return -EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	/* ":7071", Go's and parca-agent's form: every IPv4 interface (what
	 * binds is still checked: not loopback needs TLS or allow_insecure) */
	if (!v6 && host_len == 0)
		strcpy(host, "0.0.0.0");

	if (port_str && parse_u32_range(port_str, 0, 65535, &port) < 0)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	if (v6) {
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
		if (inet_pton(AF_INET, host_alias(host), &sin->sin_addr) != 1)
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

int http_address__is_loopback(const char *address)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int err = http_address__parse(address, &ss, &len);

	return err ? err : sockaddr_is_loopback(&ss);
}

/* "localhost", 127.x.x.x or [::1] (and other spellings of IPv6 loopback),
 * optionally with ":PORT". The port is not compared with ours: kubectl
 * port-forward and ssh tunnels reach us through other local ports. */
bool http_address__host_is_loopback(const char *host, size_t len)
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
