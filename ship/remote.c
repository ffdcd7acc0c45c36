#include "ship/remote.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/http_client.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/utf8.h"
#include "core/pprof.h"
#include "ship/remote_proto.h"

/* responses are empty or carry an error message: keep the start only */
#define RESPONSE_KEEP (64u << 10)
#define DEFAULT_TIMEOUT_MS 30000

/* The one place a protocol is told from another: its ops. */
static const struct remote_proto *const protos[] = {
	[REMOTE_PYROSCOPE] = &remote_proto_pyroscope,
	[REMOTE_PYROSCOPE_INGEST] = &remote_proto_pyroscope_ingest,
	[REMOTE_PARCA] = &remote_proto_parca,
};

_Static_assert(ARRAY_SIZE(remote_protocol_names) == ARRAY_SIZE(protos) + 1,
	       "a name for every protocol");

static const struct remote_proto *proto_of(enum remote_protocol p)
{
	return (size_t)p < ARRAY_SIZE(protos) ? protos[p] : NULL;
}

static const char *const failure_names[] = {
	[REMOTE_FAIL_NONE] = "none",
	[REMOTE_FAIL_NETWORK] = "network",
	[REMOTE_FAIL_TIMEOUT] = "timeout",
	[REMOTE_FAIL_HTTP_4XX] = "http_4xx",
	[REMOTE_FAIL_HTTP_429] = "http_429",
	[REMOTE_FAIL_HTTP_5XX] = "http_5xx",
	[REMOTE_FAIL_GRPC] = "grpc",
	[REMOTE_FAIL_AUTH_FILE] = "auth_file",
	[REMOTE_FAIL_UNSENDABLE] = "unsendable",
	[REMOTE_FAIL_CANCELLED] = "cancelled",
};

int remote__parse_protocol(const char *s, enum remote_protocol *out)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(protos); i++) {
		if (strcmp(s, remote_protocol_names[i]) == 0) {
			*out = (enum remote_protocol)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *remote__protocol_name(enum remote_protocol p)
{
	return proto_of(p) ? remote_protocol_names[p] : "unknown";
}

const char *remote__failure_name(enum remote_failure f)
{
	return (size_t)f < ARRAY_SIZE(failure_names) ? failure_names[f] : "unknown";
}

/* ---- label mapping ---- */

bool remote__is_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* s as a Prometheus label name: '.' (OpenTelemetry style) and every other
 * byte outside [a-zA-Z0-9_] become '_', a leading digit gets a '_' before
 * it; cut to max bytes. NULL for an empty name. */
static char *clean_name(const char *s, size_t max, bool *cut)
{
	size_t n = strlen(s), prefix = s[0] >= '0' && s[0] <= '9', j = 0;
	char *out;

	if (!n) {
		errno = 0;
		return NULL;
	}
	out = malloc(MIN(n + prefix, max) + 1);
	if (!out)
		return NULL;
	if (prefix)
		out[j++] = '_';
	for (size_t i = 0; i < n && j < max; i++, j++)
		out[j] = remote__is_name_char(s[i], j == 0) ? s[i] : '_';
	*cut = n + prefix > max;
	out[j] = 0;
	return out;
}

/* What mapping left out over a window, for its one log line. */
struct label_cuts {
	size_t series;          /* series with anything cut */
	size_t over_limit;      /* labels past REMOTE_MAX_LABELS */
	size_t names_cut, values_cut, collisions;
	char example[96];       /* a dropped label's name */
};

static void note_dropped(struct label_cuts *cuts, const char *name)
{
	if (!cuts->example[0])
		snprintf(cuts->example, sizeof(cuts->example), "%s", name);
}

/* The labels a backend receives for a series, in *out (sorted, unique),
 * following the rules in the header: the protocol's own first, then the
 * series' others (not those the protocol set) with valid names, up to its
 * limit. */
static int map_labels(const struct remote_proto *proto, const struct remote_encode_opts *o,
		      const char *name, const struct labels *in, struct labels *out,
		      struct label_cuts *cuts)
{
	struct labels extra = {};
	bool any_cut = false, cut = false;
	int err;

	labels__clear(out);
	err = proto->fixed_labels(in, o, name, out, &cut);
	if (err)
		return err;
	if (cut)
		cuts->values_cut++, any_cut = true;

	for (size_t i = 0; in && i < in->n; i++) {
		const char *name = in->v[i].name, *value;
		_cleanup_free_ char *cname = NULL, *cvalue = NULL;
		bool name_cut = false, value_cut = false;

		/* set above: the backend's own meaning wins */
		if (labels__get(out, name))
			continue;
		cname = clean_name(name, REMOTE_MAX_LABEL_NAME, &name_cut);
		if (!cname) {
			err = -ENOMEM;
			if (errno == ENOMEM)
				goto fail;
			continue;
		}
		value = in->v[i].value ? in->v[i].value : "";
		cvalue = utf8_sanitized_dup(value, strlen(value), REMOTE_MAX_LABEL_VALUE,
					    &value_cut);
		err = -ENOMEM;
		if (!cvalue)
			goto fail;
		if (!cvalue[0])
			continue;
		if (labels__get(out, cname) || labels__get(&extra, cname)) {
			/* "a.b" next to "a_b": the backend rejects duplicates */
			cuts->collisions++, any_cut = true;
			note_dropped(cuts, name);
			continue;
		}
		if (name_cut)
			cuts->names_cut++, any_cut = true;
		if (value_cut)
			cuts->values_cut++, any_cut = true;
		err = labels__set(&extra, cname, cvalue);
		if (err)
			goto fail;
	}
	/* extra is sorted by name: the first ones fill what the limit leaves */
	for (size_t i = 0; i < extra.n; i++) {
		if (out->n >= proto->max_labels) {
			cuts->over_limit++, any_cut = true;
			note_dropped(cuts, extra.v[i].name);
			continue;
		}
		err = labels__set(out, extra.v[i].name, extra.v[i].value);
		if (err)
			goto fail;
	}
	labels__clear(&extra);
	if (any_cut)
		cuts->series++;
	return 0;
fail:
	labels__clear(&extra);
	return err;
}

/* ---- batches ---- */

static int uuid4(char out[REMOTE_UUID_LEN + 1])
{
	uint8_t b[16];
	ssize_t n = getrandom(b, sizeof(b), 0);

	if (n != (ssize_t)sizeof(b))
		return n < 0 ? -errno : -EIO;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, REMOTE_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
	return 0;
}

void remote__batch_free(struct remote_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->requests[i].path);
		buf_release(&b->requests[i].body);
	}
	free(b->requests);
	free(b);
}

size_t remote__batch_pending(const struct remote_batch *b)
{
	size_t n = 0;

	for (size_t i = 0; b && i < b->n; i++)
		n += !b->requests[i].done;
	return n;
}

/* Appends an empty request; returns it or NULL (ENOMEM). */
struct remote_request *remote__batch_add(struct remote_batch *b)
{
	struct remote_request *r = realloc(b->requests, (b->n + 1) * sizeof(*r));

	if (!r)
		return NULL;
	b->requests = r;
	r = &b->requests[b->n++];
	*r = (struct remote_request){};
	return r;
}

static void pending_reset(struct remote_pending *pd)
{
	for (size_t i = 0; i < pd->n; i++) {
		for (size_t j = 0; j < pd->series[i].n; j++)
			buf_release(&pd->series[i].parts[j].gz);
		free(pd->series[i].parts);
		labels__clear(&pd->series[i].labels);
	}
	free(pd->series);
	*pd = (struct remote_pending){};
}

/* Packs what is pending into a new request of b and empties pd. */
static int pending_flush(const struct remote_proto *proto, struct remote_pending *pd,
			 struct remote_batch *b)
{
	struct remote_request *r;
	int err;

	if (!pd->n)
		return 0;
	r = remote__batch_add(b);
	if (!r)
		return -ENOMEM;
	r->path = strdup(proto->path);
	if (!r->path)
		return -ENOMEM;
	r->profiles = (uint32_t)pd->parts;
	err = proto->pack(pd, &r->body);
	if (err)
		return err;
	pending_reset(pd);
	return 0;
}

/* Rough protobuf size of the labels: enough to keep a request near its
 * body bound. */
static size_t labels_wire_size(const struct labels *ls)
{
	size_t n = 8;

	for (size_t i = 0; i < ls->n; i++)
		n += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 12;
	return n;
}

/* Takes one part (gz is moved from) of the series with mapped labels into
 * the pending request, which goes into the batch first if the part would
 * take it past max_body. */
int remote__pend(struct remote_encoder *e, const struct labels *mapped, struct buf *gz)
{
	struct remote_pending *pd = &e->pd;
	struct remote_pending_series *ps;
	struct remote_part *parts;
	size_t extra;
	int err;

	ps = pd->n ? &pd->series[pd->n - 1] : NULL;
	/* the same series goes on in the last entry, unless a flush began a
	 * new request */
	if (ps && !labels__equal(&ps->labels, mapped))
		ps = NULL;
	extra = gz->len + 64 + (ps ? 0 : labels_wire_size(mapped));
	if (pd->n && pd->bytes + extra > e->max_body) {
		err = pending_flush(e->proto, pd, e->b);
		if (err)
			return err;
		ps = NULL;
		extra = gz->len + 64 + labels_wire_size(mapped);
	}
	if (!ps) {
		struct remote_pending_series *s = realloc(pd->series, (pd->n + 1) * sizeof(*s));

		if (!s)
			return -ENOMEM;
		pd->series = s;
		ps = &pd->series[pd->n];
		*ps = (struct remote_pending_series){};
		err = labels__copy(&ps->labels, mapped);
		if (err)
			return err;
		pd->n++;
	}
	parts = realloc(ps->parts, (ps->n + 1) * sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	ps->parts = parts;
	err = uuid4(parts[ps->n].id);
	if (err)
		return err;
	parts[ps->n].gz = *gz;
	*gz = (struct buf){};
	ps->n++;
	pd->parts++;
	pd->bytes += extra;
	return 0;
}

/* Splits a series' profile into parts under both limits and hands each to
 * the protocol. A part over the size bound is halved (or cut to the ratio the
 * size suggests) until it fits; one sample alone over it is left out. */
static int encode_series(struct remote_encoder *e, const struct upload_series *s, const struct labels *mapped)
{
	size_t max_bytes = e->o->max_profile_bytes ? e->o->max_profile_bytes : REMOTE_MAX_PROFILE_BYTES;
	size_t max_samples = e->o->max_profile_samples ? e->o->max_profile_samples
						       : REMOTE_MAX_PROFILE_SAMPLES;
	size_t n = pprof__sample_count(s->profile), first = 0;
	struct buf gz = {};
	int err = 0;

	while (first < n) {
		size_t count = MIN(n - first, max_samples), size = 0;

		buf_reset(&gz);
		err = pprof__encode_samples(s->profile, first, count, max_bytes, &gz, &size);
		if (err == -EFBIG) {
			if (count == 1) {
				e->b->samples_dropped++;
				first++;
				err = 0;
				continue;
			}
			/* aim a little under the bound: the tables do not shrink
			 * in proportion */
			max_samples = MAX((size_t)1, MIN(count / 2, (size_t)((double)count * max_bytes / size * 0.9)));
			err = 0;
			continue;
		}
		if (err)
			break;
		e->b->profiles++;
		err = e->proto->add_part(e, mapped, &gz);
		if (err)
			break;
		first += count;
	}
	buf_release(&gz);
	return err;
}

static void log_cuts(const struct remote_encode_opts *o, const struct upload_window *w,
		     const struct label_cuts *cuts, const struct remote_batch *b)
{
	struct buf line = {};

	if (!cuts->series && !b->samples_dropped)
		return;
	if (buf_printf(&line, "%s upload of the window at %" PRId64 " s: ",
		       remote__protocol_name(o->protocol), w->start_ns / 1000000000))
		goto out;
	if (cuts->series &&
	    buf_printf(&line, "labels cut in %zu of %zu series (%zu past the %d-label limit, "
			      "%zu names over %d bytes, %zu values truncated to %d bytes, "
			      "%zu names colliding once made valid; first dropped: '%s')",
		       cuts->series, w->n, cuts->over_limit, REMOTE_MAX_LABELS, cuts->names_cut,
		       REMOTE_MAX_LABEL_NAME, cuts->values_cut, REMOTE_MAX_LABEL_VALUE,
		       cuts->collisions, cuts->example))
		goto out;
	if (b->samples_dropped &&
	    buf_printf(&line, "%s%zu samples left out, each alone over the profile size limit",
		       cuts->series ? "; " : "", b->samples_dropped))
		goto out;
	log_warn("%s", (const char *)line.data);
out:
	buf_release(&line);
}
int remote__encode(const struct remote_encode_opts *o, const struct upload_window *w,
		   struct remote_batch **out)
{
	struct remote_encoder e = { .o = o, .w = w };
	struct label_cuts cuts = {};
	struct labels mapped = {};
	int err = 0;

	if (!o || !w || !out || (w->n && !w->series) || !proto_of(o->protocol) ||
	    (unsigned)w->type >= PPROF_TYPE_MAX || !proto_of(o->protocol)->names[w->type])
		return -EINVAL;
	e.proto = proto_of(o->protocol);
	e.b = calloc(1, sizeof(*e.b));
	if (!e.b)
		return -ENOMEM;
	e.b->protocol = o->protocol;
	e.b->start_ns = w->start_ns;
	e.b->end_ns = w->end_ns;
	e.max_body = o->max_body_bytes ? o->max_body_bytes : REMOTE_MAX_BODY_BYTES;

	for (size_t i = 0; i < w->n; i++) {
		const struct upload_series *s = &w->series[i];

		/* a process with no samples in the window has nothing to say */
		if (!s->profile || !pprof__sample_count(s->profile))
			continue;
		err = map_labels(e.proto, o, e.proto->names[w->type], s->labels, &mapped, &cuts);
		if (err)
			break;
		e.b->series++;
		err = encode_series(&e, s, &mapped);
		if (err)
			break;
	}
	if (!err)
		err = pending_flush(e.proto, &e.pd, e.b);
	pending_reset(&e.pd);
	labels__clear(&mapped);
	if (err) {
		remote__batch_free(e.b);
		return err;
	}
	log_cuts(o, w, &cuts, e.b);
	*out = e.b;
	return 0;
}

/* ---- batch records for the spool ----
 *
 * Little-endian: "BRUB", u16 version, u16 protocol, i64 start_ns, i64 end_ns,
 * u32 requests; per request: u8 done, u32 profiles, u32 path length, path,
 * u64 body length, body. The spool checksums and compresses records; the
 * parser still checks every length against what is left. */

#define BATCH_MAGIC "BRUB"
#define BATCH_VERSION 1

static int put_le(struct buf *out, uint64_t v, size_t bytes)
{
	uint8_t b[8];

	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return buf_append(out, b, bytes);
}

int remote__batch_serialize(const struct remote_batch *b, struct buf *out)
{
	size_t start;
	int err;

	if (!b || !out)
		return -EINVAL;
	start = out->len;
	err = buf_append(out, BATCH_MAGIC, 4);
	if (!err)
		err = put_le(out, BATCH_VERSION, 2);
	if (!err)
		err = put_le(out, (uint64_t)b->protocol, 2);
	if (!err)
		err = put_le(out, (uint64_t)b->start_ns, 8);
	if (!err)
		err = put_le(out, (uint64_t)b->end_ns, 8);
	if (!err)
		err = put_le(out, b->n, 4);
	for (size_t i = 0; !err && i < b->n; i++) {
		const struct remote_request *r = &b->requests[i];
		size_t plen = strlen(r->path);

		err = put_le(out, r->done, 1);
		if (!err)
			err = put_le(out, r->profiles, 4);
		if (!err)
			err = put_le(out, plen, 4);
		if (!err)
			err = buf_append(out, r->path, plen);
		if (!err)
			err = put_le(out, r->body.len, 8);
		if (!err && r->body.len)
			err = buf_append(out, r->body.data, r->body.len);
	}
	if (err) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	return err;
}

struct reader {
	const uint8_t *p, *end;
};

static bool get_le(struct reader *rd, size_t bytes, uint64_t *v)
{
	if ((size_t)(rd->end - rd->p) < bytes)
		return false;
	*v = 0;
	for (size_t i = 0; i < bytes; i++)
		*v |= (uint64_t)rd->p[i] << (8 * i);
	rd->p += bytes;
	return true;
}

int remote__batch_parse(const void *data, size_t len, struct remote_batch **out)
{
	struct reader rd = { data, (const uint8_t *)data + len };
	struct remote_batch *b;
	uint64_t version, proto, start, end, n;
	int err = -EBADMSG;

	if (!out || (len && !data))
		return -EINVAL;
	if (len < 4 || memcmp(data, BATCH_MAGIC, 4) != 0)
		return -EBADMSG;
	rd.p += 4;
	if (!get_le(&rd, 2, &version) || version != BATCH_VERSION || !get_le(&rd, 2, &proto) ||
	    proto >= ARRAY_SIZE(protos) || !get_le(&rd, 8, &start) ||
	    !get_le(&rd, 8, &end) || !get_le(&rd, 4, &n))
		return -EBADMSG;
	/* every request takes at least 17 bytes: a lying count fails here
	 * rather than in a huge allocation */
	if (n > (size_t)(rd.end - rd.p) / 17)
		return -EBADMSG;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->protocol = (enum remote_protocol)proto;
	b->start_ns = (int64_t)start;
	b->end_ns = (int64_t)end;
	b->requests = calloc(n + 1, sizeof(*b->requests));
	if (!b->requests) {
		err = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct remote_request *r = &b->requests[i];
		uint64_t done, profiles, plen, blen;

		if (!get_le(&rd, 1, &done) || done > 1 || !get_le(&rd, 4, &profiles) ||
		    !get_le(&rd, 4, &plen) || plen > (size_t)(rd.end - rd.p) || plen == 0 ||
		    memchr(rd.p, 0, plen) || rd.p[0] != '/')
			goto fail;
		r->path = strndup((const char *)rd.p, plen);
		if (!r->path) {
			err = -ENOMEM;
			goto fail;
		}
		b->n = i + 1;
		rd.p += plen;
		if (!get_le(&rd, 8, &blen) || blen > (size_t)(rd.end - rd.p))
			goto fail;
		if (blen && buf_append(&r->body, rd.p, blen)) {
			err = -ENOMEM;
			goto fail;
		}
		rd.p += blen;
		r->done = done;
		r->profiles = (uint32_t)profiles;
		b->profiles += profiles;
	}
	if (rd.p != rd.end)
		goto fail;
	*out = b;
	return 0;
fail:
	remote__batch_free(b);
	return err;
}

/* ---- sending ---- */

struct remote {
	enum remote_protocol protocol;
	const struct remote_proto *proto;
	struct http_client *http;
	struct http_response response; /* of the last send */
};

int remote__new(const struct remote_opts *o, struct remote **out)
{
	_cleanup_free_ struct http_header *headers = NULL;
	struct http_client_opts ho;
	struct remote *r;
	size_t nh = 0;
	int err;

	if (!o || !out || !o->url || !proto_of(o->protocol) || (o->tenant_id && !o->tenant_id[0]))
		return -EINVAL;
	headers = calloc((o->headers ? o->headers->n : 0) + 1, sizeof(*headers));
	if (!headers)
		return -ENOMEM;
	if (o->tenant_id)
		headers[nh++] = (struct http_header){ "X-Scope-OrgID", o->tenant_id };
	for (size_t i = 0; o->headers && i < o->headers->n; i++)
		headers[nh++] = (struct http_header){ o->headers->v[i].name, o->headers->v[i].value };
	ho = (struct http_client_opts){
		.base_url = o->url,
		.ca_file = o->ca_file,
		.cert_file = o->cert_file,
		.key_file = o->key_file,
		.insecure_skip_verify = o->insecure_skip_verify,
		.check_tls_files = true,
		.name = "remote",
		.bearer_token_file = o->bearer_token_file,
		.basic_auth_username = o->basic_auth_username,
		.basic_auth_password_file = o->basic_auth_password_file,
		.headers = headers,
		.n_headers = nh,
		.timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS,
		.max_response_bytes = RESPONSE_KEEP,
		/* gRPC-web is specified over HTTP/1.1; one version keeps the
		 * framing and trailers the same for every backend */
		.http1_only = true,
	};
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->protocol = o->protocol;
	r->proto = proto_of(o->protocol);
	err = http_client__new(&ho, &r->http);
	if (err) {
		remote__free(r);
		return err;
	}
	*out = r;
	return 0;
}

void remote__free(struct remote *r)
{
	if (!r)
		return;
	http_client__free(r->http);
	http_response__release(&r->response);
	free(r);
}

void remote__cancel(struct remote *r)
{
	if (r)
		http_client__cancel(r->http);
}

void remote__set_status(struct remote_status *st, enum remote_result res, enum remote_failure why,
			const char *fmt, ...)
{
	va_list ap;

	st->result = res;
	st->reason = why;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

/* The server's words from an error body: Pyroscope (Connect) sends JSON
 * {"code", "message"}; anything else is shown as text, cut and with
 * control bytes blanked. */
static void error_text(const struct buf *body, char *out, size_t outlen)
{
	size_t j = 0;

	out[0] = 0;
	if (body->len && body->data[0] == '{') {
		json_object *obj = json_tokener_parse((const char *)body->data), *msg;

		if (obj && json_object_object_get_ex(obj, "message", &msg) &&
		    json_object_is_type(msg, json_type_string)) {
			snprintf(out, outlen, "%s", json_object_get_string(msg));
			json_object_put(obj);
			return;
		}
		json_object_put(obj);
	}
	for (size_t i = 0; i < body->len && j + 1 < outlen && j < 300; i++) {
		uint8_t c = body->data[i];

		out[j++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (j && out[j - 1] == ' ')
		j--;
	out[j] = 0;
}

static void classify(const struct remote *r, struct remote_status *st)
{
	const struct http_response *resp = &r->response;
	char text[400];
	long code = resp->status;

	switch (resp->result) {
	case HTTP_CANCELLED:
		remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_CANCELLED, "cancelled (stopping)");
		return;
	case HTTP_AUTH_FILE:
		remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_AUTH_FILE, "%s", resp->message);
		return;
	case HTTP_TIMEOUT:
		remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_TIMEOUT, "%s", resp->message);
		return;
	case HTTP_NETWORK:
		remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_NETWORK, "%s", resp->message);
		return;
	case HTTP_OK:
	case HTTP_TOO_LARGE: /* an answer all the same; its start says enough */
		break;
	}
	st->http_status = code;
	if (code < 200 || code > 299) {
		error_text(&resp->body, text, sizeof(text));
		if (code == 429)
			remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_HTTP_429, "HTTP 429: %s", text);
		else if (code >= 500)
			remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_HTTP_5XX, "HTTP %ld: %s", code,
					   text);
		else
			remote__set_status(st, REMOTE_DROP, REMOTE_FAIL_HTTP_4XX, "HTTP %ld: %s", code,
					   text);
		return;
	}
	if (r->proto->check_2xx && !r->proto->check_2xx(resp, st))
		return;
	remote__set_status(st, REMOTE_OK, REMOTE_FAIL_NONE, "%s", "");
}

enum remote_result remote__send(struct remote *r, struct remote_batch *b, size_t i,
				struct remote_status *st)
{
	struct remote_request *req;
	struct http_header headers[2];
	struct http_request hreq;
	size_t nh = 0;
	int err;

	*st = (struct remote_status){ .grpc_status = -1 };
	if (!r || !b || i >= b->n) {
		remote__set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE, "no such request");
		return st->result;
	}
	req = &b->requests[i];
	if (b->protocol != r->protocol) {
		remote__set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE,
				   "a %s batch cannot go to a %s backend (spooled before a configuration change)",
				   remote__protocol_name(b->protocol), remote__protocol_name(r->protocol));
		return st->result;
	}
	headers[nh++] = (struct http_header){ "Content-Type", r->proto->content_type };
	if (r->proto->header.name)
		headers[nh++] = r->proto->header;
	hreq = (struct http_request){
		.path = req->path,
		.post = true,
		.body = req->body.data,
		.body_len = req->body.len,
		.headers = headers,
		.n_headers = nh,
	};
	err = http_client__perform(r->http, &hreq, &r->response);
	if (err == -EINVAL) {
		remote__set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE,
				   "curl refused the request's options");
		return st->result;
	}
	if (err) {
		remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_NETWORK, "out of memory");
		return st->result;
	}
	classify(r, st);
	if (st->result == REMOTE_OK) {
		req->done = true;
		st->bytes_sent = req->body.len;
	}
	return st->result;
}
