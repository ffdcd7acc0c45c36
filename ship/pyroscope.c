/* Grafana Pyroscope's two ways in (ship/remote.h says what goes on the
 * wire): push.v1 (Connect unary, a PushRequest of RawProfileSeries, many
 * profile parts a request) and /ingest (one gzipped pprof a request, the
 * labels in the query). Both give a series the same labels. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/utf8.h"
#include "proto/push.pb-c.h"
#include "ship/remote_proto.h"

/* __name__, service_name (else "unknown_service"), __delta__ */
static int pyroscope_fixed_labels(const struct labels *in, const struct remote_encode_opts *o,
				  const char *name, struct labels *out, bool *value_cut)
{
	const char *svc = in ? labels__get(in, "service_name") : NULL;
	_cleanup_free_ char *clean = NULL;
	int err;

	(void)o;
	if (!svc)
		svc = "unknown_service";
	clean = utf8_sanitized_dup(svc, strlen(svc), REMOTE_MAX_LABEL_VALUE, value_cut);
	if (!clean)
		return -ENOMEM;
	err = labels__set(out, "__name__", name);
	if (!err)
		err = labels__set(out, "service_name", clean[0] ? clean : "unknown_service");
	if (!err)
		err = labels__set(out, "__delta__", "false");
	return err;
}

/* ---- push.v1 ---- */

static int pack_push(const struct remote_pending *pd, struct buf *body)
{
	Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
	_cleanup_free_ Push__V1__RawProfileSeries *series = calloc(pd->n + 1, sizeof(*series));
	_cleanup_free_ Push__V1__RawProfileSeries **series_ptrs = calloc(pd->n + 1, sizeof(*series_ptrs));
	_cleanup_free_ Types__V1__LabelPair *pairs = NULL;
	_cleanup_free_ Types__V1__LabelPair **pair_ptrs = NULL;
	_cleanup_free_ Push__V1__RawSample *samples = calloc(pd->parts + 1, sizeof(*samples));
	_cleanup_free_ Push__V1__RawSample **sample_ptrs = calloc(pd->parts + 1, sizeof(*sample_ptrs));
	size_t nlabels = 0, li = 0, si = 0, size;
	int err;

	for (size_t i = 0; i < pd->n; i++)
		nlabels += pd->series[i].labels.n;
	pairs = calloc(nlabels + 1, sizeof(*pairs));
	pair_ptrs = calloc(nlabels + 1, sizeof(*pair_ptrs));
	if (!series || !series_ptrs || !pairs || !pair_ptrs || !samples || !sample_ptrs)
		return -ENOMEM;
	for (size_t i = 0; i < pd->n; i++) {
		const struct remote_pending_series *ps = &pd->series[i];
		Push__V1__RawProfileSeries *s = &series[i];

		push__v1__raw_profile_series__init(s);
		s->labels = pair_ptrs + li;
		s->n_labels = ps->labels.n;
		for (size_t j = 0; j < ps->labels.n; j++, li++) {
			types__v1__label_pair__init(&pairs[li]);
			pairs[li].name = ps->labels.v[j].name;
			pairs[li].value = ps->labels.v[j].value;
			pair_ptrs[li] = &pairs[li];
		}
		s->samples = sample_ptrs + si;
		s->n_samples = ps->n;
		for (size_t j = 0; j < ps->n; j++, si++) {
			push__v1__raw_sample__init(&samples[si]);
			samples[si].raw_profile.data = ps->parts[j].gz.data;
			samples[si].raw_profile.len = ps->parts[j].gz.len;
			/* const only on our side: packing never writes */
			samples[si].id = (char *)ps->parts[j].id;
			sample_ptrs[si] = &samples[si];
		}
		series_ptrs[i] = s;
	}
	req.series = series_ptrs;
	req.n_series = pd->n;
	size = push__v1__push_request__get_packed_size(&req);
	err = buf_reserve(body, size + 1);
	if (err)
		return err;
	body->len = push__v1__push_request__pack(&req, body->data);
	body->data[body->len] = 0;
	return 0;
}

const struct remote_proto remote_proto_pyroscope = {
	.max_labels = REMOTE_MAX_LABELS,
	/* Pyroscope's own names: process_cpu for CPU profiles (its eBPF
	 * collector's), off_cpu for what its OTLP ingestion makes of the
	 * OpenTelemetry eBPF profiler's off-CPU profiles (docs/off-cpu.md) */
	.names = { [PPROF_TYPE_CPU] = "process_cpu", [PPROF_TYPE_OFF_CPU] = "off_cpu" },
	.fixed_labels = pyroscope_fixed_labels,
	.add_part = remote__pend,
	.path = "/push.v1.PusherService/Push",
	.pack = pack_push,
	.content_type = "application/proto",
	/* Connect unary; servers may insist on the version header */
	.header = { "Connect-Protocol-Version", "1" },
};

/* ---- /ingest ---- */

static bool is_app_char(char c)
{
	return remote__is_name_char(c, false) || c == '.' || c == '-';
}

/* "<app>{k=v,...}" from mapped labels: the app name is service_name, tags
 * are the rest but the reserved __name__ and __delta__. Pyroscope's key
 * parser ends a value at ',' or '}' and allows only [a-zA-Z0-9_.-] in app
 * names and [a-zA-Z0-9_] in tag names (mapped names already are). */
static int ingest_name(const struct labels *mapped, struct buf *out)
{
	const char *svc = labels__get(mapped, "service_name");
	bool first = true;
	int err;

	for (const char *c = svc; *c; c++) {
		char ch = is_app_char(*c) ? *c : '_';

		err = buf_append(out, &ch, 1);
		if (err)
			return err;
	}
	err = buf_append(out, "{", 1);
	for (size_t i = 0; !err && i < mapped->n; i++) {
		const char *name = mapped->v[i].name;

		if (strcmp(name, "__name__") == 0 || strcmp(name, "__delta__") == 0 ||
		    strcmp(name, "service_name") == 0)
			continue;
		err = buf_printf(out, "%s%s=", first ? "" : ",", name);
		first = false;
		for (const uint8_t *v = (const uint8_t *)mapped->v[i].value; !err && *v; v++) {
			char ch = (*v == ',' || *v == '{' || *v == '}' || *v < 0x20 || *v == 0x7f)
					  ? '_' : (char)*v;

			err = buf_append(out, &ch, 1);
		}
	}
	return err ? err : buf_append(out, "}", 1);
}

static int ingest_path(const struct labels *mapped, const struct upload_window *w,
		       uint32_t hz, char **path)
{
	struct buf name = {}, q = {};
	char *escaped;
	int64_t from = w->start_ns / 1000000000, until = (w->end_ns + 999999999) / 1000000000;
	int err;

	err = ingest_name(mapped, &name);
	if (err)
		goto out;
	escaped = curl_easy_escape(NULL, (const char *)name.data, (int)name.len);
	if (!escaped) {
		err = -ENOMEM;
		goto out;
	}
	if (until <= from)
		until = from + 1;
	err = buf_printf(&q, "/ingest?name=%s&from=%" PRId64 "&until=%" PRId64
			 "&format=pprof&spyName=brasa", escaped, from, until);
	curl_free(escaped);
	if (!err && hz)
		err = buf_printf(&q, "&sampleRate=%" PRIu32, hz);
	if (!err) {
		*path = (char *)TAKE_PTR(q.data);
		q.len = q.cap = 0;
	}
out:
	buf_release(&name);
	buf_release(&q);
	return err;
}

/* A request of its own for each part, the gzipped pprof as its body. */
static int ingest_add_part(struct remote_encoder *e, const struct labels *mapped,
			   struct buf *gz)
{
	struct remote_request *r = remote__batch_add(e->b);

	if (!r)
		return -ENOMEM;
	r->profiles = 1;
	r->body = *gz;
	*gz = (struct buf){};
	return ingest_path(mapped, e->w, e->o->frequency_hz, &r->path);
}

const struct remote_proto remote_proto_pyroscope_ingest = {
	.max_labels = REMOTE_MAX_LABELS,
	.names = { [PPROF_TYPE_CPU] = "process_cpu", [PPROF_TYPE_OFF_CPU] = "off_cpu" },
	.fixed_labels = pyroscope_fixed_labels,
	.add_part = ingest_add_part,
	.content_type = "application/octet-stream",
};
