/* Parca's profilestore (ship/remote.h says what goes on the wire):
 * WriteRaw as gRPC-web over HTTP/1.1, many profile parts a request; the
 * answer's gRPC status comes in the headers (trailers-only) or in the
 * trailer frame at the end of the body. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/macros.h"
#include "proto/profilestore.pb-c.h"
#include "ship/remote_proto.h"

/* __name__, and node (else opts.node, else the host name) unless the
 * series has its own, which goes through with the other labels */
static int parca_fixed_labels(const struct labels *in, const struct remote_encode_opts *o,
			      const char *name, struct labels *out, bool *value_cut)
{
	const char *node = o->node;
	char host[256];
	int err;

	(void)value_cut;
	err = labels__set(out, "__name__", name);
	if (err || (in && labels__get(in, "node")))
		return err;
	if (!node) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			return -errno;
		host[sizeof(host) - 1] = 0;
		node = host;
	}
	return labels__set(out, "node", node);
}

static int pack_writeraw(const struct remote_pending *pd, struct buf *body)
{
	Parca__Profilestore__V1alpha1__WriteRawRequest req =
		PARCA__PROFILESTORE__V1ALPHA1__WRITE_RAW_REQUEST__INIT;
	_cleanup_free_ Parca__Profilestore__V1alpha1__RawProfileSeries *series =
		calloc(pd->n + 1, sizeof(*series));
	_cleanup_free_ Parca__Profilestore__V1alpha1__RawProfileSeries **series_ptrs =
		calloc(pd->n + 1, sizeof(*series_ptrs));
	_cleanup_free_ Parca__Profilestore__V1alpha1__LabelSet *sets = calloc(pd->n + 1, sizeof(*sets));
	_cleanup_free_ Parca__Profilestore__V1alpha1__Label *labels = NULL;
	_cleanup_free_ Parca__Profilestore__V1alpha1__Label **label_ptrs = NULL;
	_cleanup_free_ Parca__Profilestore__V1alpha1__RawSample *samples =
		calloc(pd->parts + 1, sizeof(*samples));
	_cleanup_free_ Parca__Profilestore__V1alpha1__RawSample **sample_ptrs =
		calloc(pd->parts + 1, sizeof(*sample_ptrs));
	size_t nlabels = 0, li = 0, si = 0, size;
	int err;

	for (size_t i = 0; i < pd->n; i++)
		nlabels += pd->series[i].labels.n;
	labels = calloc(nlabels + 1, sizeof(*labels));
	label_ptrs = calloc(nlabels + 1, sizeof(*label_ptrs));
	if (!series || !series_ptrs || !sets || !labels || !label_ptrs || !samples || !sample_ptrs)
		return -ENOMEM;
	for (size_t i = 0; i < pd->n; i++) {
		const struct remote_pending_series *ps = &pd->series[i];
		Parca__Profilestore__V1alpha1__RawProfileSeries *s = &series[i];

		parca__profilestore__v1alpha1__raw_profile_series__init(s);
		parca__profilestore__v1alpha1__label_set__init(&sets[i]);
		sets[i].labels = label_ptrs + li;
		sets[i].n_labels = ps->labels.n;
		for (size_t j = 0; j < ps->labels.n; j++, li++) {
			parca__profilestore__v1alpha1__label__init(&labels[li]);
			labels[li].name = ps->labels.v[j].name;
			labels[li].value = ps->labels.v[j].value;
			label_ptrs[li] = &labels[li];
		}
		s->labels = &sets[i];
		s->samples = sample_ptrs + si;
		s->n_samples = ps->n;
		for (size_t j = 0; j < ps->n; j++, si++) {
			parca__profilestore__v1alpha1__raw_sample__init(&samples[si]);
			samples[si].raw_profile.data = ps->parts[j].gz.data;
			samples[si].raw_profile.len = ps->parts[j].gz.len;
			sample_ptrs[si] = &samples[si];
		}
		series_ptrs[i] = s;
	}
	req.series = series_ptrs;
	req.n_series = pd->n;
	size = parca__profilestore__v1alpha1__write_raw_request__get_packed_size(&req);
	if (size > UINT32_MAX)
		return -E2BIG;
	/* gRPC-web frame: flag 0 (data, uncompressed), big-endian length */
	err = buf_reserve(body, 5 + size + 1);
	if (err)
		return err;
	body->data[0] = 0;
	body->data[1] = (uint8_t)(size >> 24);
	body->data[2] = (uint8_t)(size >> 16);
	body->data[3] = (uint8_t)(size >> 8);
	body->data[4] = (uint8_t)size;
	body->len = 5 + parca__profilestore__v1alpha1__write_raw_request__pack(&req, body->data + 5);
	body->data[body->len] = 0;
	return 0;
}

/* ---- the answer's gRPC status ---- */

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	*value = line;
	*vlen = len;
	return true;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
static void percent_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < outlen; i++) {
		unsigned int c;

		if (in[i] == '%' && i + 2 < len && sscanf(in + i + 1, "%2x", &c) == 1) {
			out[j++] = (char)c;
			i += 2;
		} else {
			out[j++] = in[i];
		}
	}
	out[j] = 0;
}

/* grpc-status and grpc-message from the header lines in [p, end) */
static void grpc_headers(const char *p, const char *end, int *status, char *msg, size_t msglen)
{
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *v;
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p), vlen;

		if (header_is(p, n, "grpc-status", &v, &vlen)) {
			char num[16];

			if (vlen && vlen < sizeof(num)) {
				memcpy(num, v, vlen);
				num[vlen] = 0;
				*status = (int)strtol(num, NULL, 10);
			}
		} else if (header_is(p, n, "grpc-message", &v, &vlen)) {
			percent_decode(v, vlen, msg, msglen);
		}
		p += n + (eol ? 1 : 0);
	}
}

/* grpc-status and grpc-message from the trailer frame of a gRPC-web body.
 * 0 when found, -ENOENT without a trailer frame, -EBADMSG on bad framing. */
static int grpc_web_trailer(const struct buf *body, int *status, char *msg, size_t msglen)
{
	size_t off = 0;

	while (off < body->len) {
		uint32_t len;
		uint8_t flag;

		if (body->len - off < 5)
			return -EBADMSG;
		flag = body->data[off];
		len = (uint32_t)body->data[off + 1] << 24 | (uint32_t)body->data[off + 2] << 16 |
		      (uint32_t)body->data[off + 3] << 8 | body->data[off + 4];
		off += 5;
		if (len > body->len - off)
			return -EBADMSG;
		if (flag & 0x80) {
			const char *p = (const char *)body->data + off;

			grpc_headers(p, p + len, status, msg, msglen);
			return *status >= 0 ? 0 : -EBADMSG;
		}
		off += len;
	}
	return -ENOENT;
}

static bool grpc_retryable(int code)
{
	/* UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, INTERNAL */
	return code == 14 || code == 8 || code == 4 || code == 10 || code == 13;
}

/* A 2xx is delivered only with grpc-status 0. */
static bool parca_check_2xx(const struct http_response *resp, struct remote_status *st)
{
	const char *h = (const char *)resp->headers.data;
	int status = -1;
	char msg[256] = "";

	/* trailers-only responses carry the status as HTTP headers */
	if (h)
		grpc_headers(h, h + resp->headers.len, &status, msg, sizeof(msg));
	if (status < 0) {
		int err = grpc_web_trailer(&resp->body, &status, msg, sizeof(msg));

		if (err) {
			remote__set_status(st, REMOTE_RETRY, REMOTE_FAIL_GRPC,
					   "HTTP %ld without grpc-status (%s): is this a Parca server?",
					   resp->status,
					   err == -ENOENT ? "no trailer" : "bad gRPC-web framing");
			return false;
		}
	}
	st->grpc_status = status;
	if (status != 0) {
		remote__set_status(st, grpc_retryable(status) ? REMOTE_RETRY : REMOTE_DROP,
				   REMOTE_FAIL_GRPC, "grpc-status %d: %s", status, msg);
		return false;
	}
	return true;
}

const struct remote_proto remote_proto_parca = {
	.max_labels = SIZE_MAX,
	/* the names of the parca-agent before its OpenTelemetry rewrite
	 * (parca_agent_cpu), off-CPU after them: today's agent names both
	 * parca_agent and tells them by sample type (docs/off-cpu.md) */
	.names = { [PPROF_TYPE_CPU] = "parca_agent_cpu",
		   [PPROF_TYPE_OFF_CPU] = "parca_agent_off_cpu" },
	.fixed_labels = parca_fixed_labels,
	.add_part = remote__pend,
	.path = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw",
	.pack = pack_writeraw,
	.content_type = "application/grpc-web+proto",
	.header = { "X-Grpc-Web", "1" },
	.check_2xx = parca_check_2xx,
};
