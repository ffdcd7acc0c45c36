/* remote: turns one upload window (a label set and a pprof profile per
 * process) into the HTTP requests that deliver it to a backend, and sends
 * them one at a time, saying whether a failure is worth retrying. Wire
 * facts: shared/docs/protocols.md; operator's view: docs/backends.md.
 *
 * Protocols:
 *   pyroscope         POST {url}/push.v1.PusherService/Push, a PushRequest
 *                     (Connect unary, Content-Type: application/proto); one
 *                     RawProfileSeries per series, one RawSample (a gzipped
 *                     pprof and a UUIDv4 ID) per profile part
 *   pyroscope-ingest  POST {url}/ingest?name=<service>{k=v,...}&from=&until=
 *                     &format=pprof&spyName=brasa&sampleRate=<hz>, one
 *                     request per profile part, the gzipped pprof as body
 *   parca             POST {url}/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw
 *                     as gRPC-web over HTTP/1.1 (a 0x00 flag, a big-endian
 *                     length, then WriteRawRequest)
 *
 * A profile over REMOTE_MAX_PROFILE_SAMPLES samples or REMOTE_MAX_PROFILE_BYTES
 * uncompressed is split into parts (pprof__encode_samples) that each stay
 * under both, halving until a part fits; a single sample that cannot fit is
 * left out. Parts are packed into requests of at most about
 * REMOTE_MAX_BODY_BYTES. Each part gets its own UUIDv4 at encode time, kept
 * in the batch, so a retry carries the same IDs.
 *
 * Labels (the series' labels are never modified):
 *   pyroscope: __name__ by the window's sample type ("process_cpu" for cpu,
 *     "off_cpu" for off_cpu: the names Pyroscope gives the OpenTelemetry
 *     eBPF profiler's profiles, docs/off-cpu.md), service_name (else
 *     "unknown_service"),
 *     __delta__="false", then the series' own labels with names made valid
 *     ('.' and other bytes outside [a-zA-Z0-9_] become '_'); at most
 *     REMOTE_MAX_LABELS, keeping __name__, service_name, __delta__, then
 *     alphabetical; names cut to 1024 bytes and values to 2048 (at a UTF-8
 *     boundary); a name that collides after this is dropped
 *   pyroscope-ingest: the same set; service_name becomes the app name
 *     (bytes outside [a-zA-Z0-9_.-] become '_'), the others except the
 *     reserved __name__ and __delta__ become tags, with ',', '{', '}' and
 *     control bytes in values made '_' (the ingest key parser splits on them)
 *   parca: __name__ by the window's sample type ("parca_agent_cpu",
 *     "parca_agent_off_cpu"), node (else opts.node, else the host name),
 *     then the series' labels with names made valid
 * Values that are not UTF-8 get '?' for each bad byte; empty values are
 * absent labels. What was cut is logged in one line per window.
 *
 *   remote__parse_protocol(s, &p)   "pyroscope", "pyroscope-ingest", "parca";
 *                                   0 or -EINVAL
 *   remote__protocol_name(p)        the name above; "unknown" out of range
 *   remote_protocol_names[p]        the same, NULL after the last (for
 *                                   configuration's choices)
 *   remote__failure_name(f)         "network", "timeout", "http_4xx", ...
 *   remote__encode(opts, w, &b)     0 or -errno (EINVAL: bad opts or window,
 *                                   a sample type the protocol has no name for,
 *                                   ENOMEM, EIO from gzip); *b owned by the
 *                                   caller (remote__batch_free); a window with
 *                                   nothing to send gives a batch with n == 0
 *   remote__batch_free(b)           NULL-safe
 *   remote__batch_serialize(b, out) appends a self-contained record (done
 *                                   flags included) for the spool; 0/-ENOMEM
 *   remote__batch_parse(p, len, &b) 0, -EBADMSG (not a batch record or
 *                                   damaged), -ENOMEM
 *   remote__batch_pending(b)        requests not yet done
 *   remote__new(opts, &r)           0 or -errno (EINVAL: bad URL, protocol,
 *                                   header, both bearer and basic auth, basic
 *                                   auth without a password file, key_file
 *                                   without cert_file, cert_file without
 *                                   key_file that holds no private key;
 *                                   -errno of open(), e.g. ENOENT, for a
 *                                   ca_file, cert_file or key_file that
 *                                   cannot be read, logged with its name;
 *                                   ENOMEM); strings are copied; auth files
 *                                   are read at send time, TLS files (by
 *                                   curl) for every new connection
 *   remote__free(r)                 NULL-safe
 *   remote__send(r, b, i, &st)      sends request i of b; returns st->result:
 *                                   REMOTE_OK, REMOTE_RETRY or REMOTE_DROP
 *                                   (st->reason, st->message say why);
 *                                   marks the request done on OK
 *   remote__cancel(r)               from any thread: an in-flight send ends
 *                                   at once, and every later one returns
 *                                   RETRY/cancelled at once
 *
 * Classification of a send: curl errors (refused, reset, DNS, TLS) are
 * RETRY/network, timeouts RETRY/timeout; a TLS failure's message starts
 * with "TLS: " and says which kind (the server's certificate failed
 * verification against the CA file, an unusable CA file or client
 * certificate/key, the server requires or rejected the client
 * certificate, the handshake failed), then curl's words. HTTP 429 is
 * RETRY/http_429, 5xx RETRY/http_5xx, other non-2xx DROP/http_4xx with the
 * server's message (Pyroscope's JSON "message", else the body's start);
 * for parca a 2xx needs grpc-status 0, read from the HTTP headers
 * (trailers-only response) or from the trailer frame (flag 0x80) in the
 * body: UNAVAILABLE,
 * RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, INTERNAL are RETRY/grpc,
 * other codes DROP/grpc with grpc-message; no status at all is RETRY/grpc.
 * A bearer token or password file that cannot be read, is empty or is not
 * a usable credential (common/http_client.h: one line, no control
 * characters, no space in a token) is RETRY/auth_file; the files are
 * re-read whenever their inode, size or mtime change. Only the first 64 KiB
 * of an answer are read. A batch of another protocol than r's (a spool
 * from before a configuration change) is DROP/unsendable.
 *
 * A remote is used from one thread at a time (but remote__cancel); it keeps
 * one HTTP client (common/http_client), so connections are reused
 * (keep-alive). Encoding needs no remote and may run on any thread.
 *
 * What differs between protocols is in one file each, behind the ops of
 * ship/remote_proto.h: ship/pyroscope.c (pyroscope, pyroscope-ingest) and
 * ship/parca.c; this module's own files are the batch, label mapping,
 * packing and sending common to all.
 */
#ifndef BRASA_SHIP_REMOTE_H
#define BRASA_SHIP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/labels.h"
#include "core/pprof.h"

/* Grafana Pyroscope's ingestion limits (protocols.md), applied to every
 * protocol: Parca has no documented ones, and smaller requests cost little. */
#define REMOTE_MAX_PROFILE_BYTES ((size_t)4 << 20)  /* uncompressed pprof */
#define REMOTE_MAX_PROFILE_SAMPLES ((size_t)16000)
#define REMOTE_MAX_BODY_BYTES ((size_t)4 << 20)     /* a request's body, about */
#define REMOTE_MAX_LABELS 30
#define REMOTE_MAX_LABEL_NAME 1024
#define REMOTE_MAX_LABEL_VALUE 2048

enum remote_protocol {
	REMOTE_PYROSCOPE = 0,
	REMOTE_PYROSCOPE_INGEST,
	REMOTE_PARCA,
};
/* The values of remote.protocol, indexed by enum remote_protocol (in the
 * header so configuration has them without linking the remote). */
static const char *const remote_protocol_names[] = {
	[REMOTE_PYROSCOPE] = "pyroscope",
	[REMOTE_PYROSCOPE_INGEST] = "pyroscope-ingest",
	[REMOTE_PARCA] = "parca",
	NULL,
};

struct remote_opts {
	enum remote_protocol protocol;
	const char *url;                 /* base URL, http:// or https:// */
	const char *ca_file, *cert_file, *key_file; /* NULL: system defaults */
	bool insecure_skip_verify;
	const char *bearer_token_file;   /* re-read when it changes */
	const char *basic_auth_username, *basic_auth_password_file;
	const char *tenant_id;           /* X-Scope-OrgID; NULL: none */
	const struct labels *headers;    /* extra headers: name -> value */
	uint32_t timeout_ms;             /* whole request; 0: 30 s */
};

/* One series of a window: labels + the profile builder. */
struct upload_series {
	const struct labels *labels;
	struct pprof *profile;
};

struct upload_window {
	int64_t start_ns, end_ns;        /* Unix ns */
	const struct upload_series *series;
	size_t n;
	enum pprof_type type;            /* every series' profile's; default cpu */
};

struct remote_encode_opts {
	enum remote_protocol protocol;
	uint32_t frequency_hz;           /* ingest's sampleRate; 0: left out */
	const char *node;                /* parca's node label for series without
					    one; NULL: the host name */
	/* 0: the REMOTE_MAX_* defaults; smaller values are for tests */
	size_t max_profile_bytes, max_profile_samples, max_body_bytes;
};

struct remote_request {
	char *path;                      /* path and query after the base URL */
	struct buf body;
	uint32_t profiles;               /* profile parts it carries */
	bool done;                       /* delivered: a retry skips it */
};

/* A window encoded for one protocol, with its IDs already inside. */
struct remote_batch {
	enum remote_protocol protocol;
	int64_t start_ns, end_ns;
	struct remote_request *requests;
	size_t n;
	/* from encoding, not serialized: what it carries and what it left out */
	size_t series, profiles, samples_dropped;
};

enum remote_result {
	REMOTE_OK = 0,
	REMOTE_RETRY,
	REMOTE_DROP,
};

enum remote_failure {
	REMOTE_FAIL_NONE = 0,
	REMOTE_FAIL_NETWORK,
	REMOTE_FAIL_TIMEOUT,
	REMOTE_FAIL_HTTP_4XX,
	REMOTE_FAIL_HTTP_429,
	REMOTE_FAIL_HTTP_5XX,
	REMOTE_FAIL_GRPC,
	REMOTE_FAIL_AUTH_FILE,
	REMOTE_FAIL_UNSENDABLE,
	REMOTE_FAIL_CANCELLED,
	REMOTE_FAIL__COUNT,
};

struct remote_status {
	enum remote_result result;
	enum remote_failure reason;
	long http_status;                /* 0: no response */
	int grpc_status;                 /* -1: none */
	size_t bytes_sent;               /* body bytes of a delivered request */
	char message[512];               /* why, for the log; "" on OK */
};

struct remote;

int remote__parse_protocol(const char *s, enum remote_protocol *out);
const char *remote__protocol_name(enum remote_protocol p);
const char *remote__failure_name(enum remote_failure f);

int remote__encode(const struct remote_encode_opts *o, const struct upload_window *w,
		   struct remote_batch **out);
void remote__batch_free(struct remote_batch *b);
int remote__batch_serialize(const struct remote_batch *b, struct buf *out);
int remote__batch_parse(const void *data, size_t len, struct remote_batch **out);
size_t remote__batch_pending(const struct remote_batch *b);

int remote__new(const struct remote_opts *o, struct remote **out);
void remote__free(struct remote *r);
enum remote_result remote__send(struct remote *r, struct remote_batch *b, size_t i,
				struct remote_status *st);
void remote__cancel(struct remote *r);

#endif
