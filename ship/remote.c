#include "remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/pprof.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/utf8.h"
#include "proto/profilestore.pb-c.h"
#include "proto/push.pb-c.h"

#define PUSH_PATH "/push.v1.PusherService/Push"
#define WRITERAW_PATH "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"
#define UUID_LEN 36
/* auth files hold a token or a password, never more */
#define AUTH_FILE_MAX 16384
/* responses are empty or carry an error message: keep the start only */
#define RESPONSE_KEEP (64u << 10)
#define DEFAULT_TIMEOUT_MS 30000
/* a certificate bundle, however long its chain, is far below this */
#define TLS_FILE_MAX ((size_t)1 << 20)

static const char *const protocol_names[] = {
	[REMOTE_PYROSCOPE] = "pyroscope",
	[REMOTE_PYROSCOPE_INGEST] = "pyroscope-ingest",
	[REMOTE_PARCA] = "parca",
};

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
	for (size_t i = 0; s && i < ARRAY_SIZE(protocol_names); i++) {
		if (strcmp(s, protocol_names[i]) == 0) {
			*out = (enum remote_protocol)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *remote__protocol_name(enum remote_protocol p)
{
	return (size_t)p < ARRAY_SIZE(protocol_names) ? protocol_names[p] : "unknown";
}

const char *remote__failure_name(enum remote_failure f)
{
	return (size_t)f < ARRAY_SIZE(failure_names) ? failure_names[f] : "unknown";
}

/* ---- label mapping ---- */

/* A copy of s as valid UTF-8 ('?' for each bad byte), cut to at most max
 * bytes on a character boundary; *cut says whether it was. */
static char *clean_value(const char *s, size_t max, bool *cut)
{
	size_t n = strlen(s), j = 0;
	char *out = malloc(MIN(n, max) + 1);

	if (!out)
		return NULL;
	*cut = false;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len((const uint8_t *)s + i, n - i);

		if (j + MAX(len, (size_t)1) > max) {
			*cut = true;
			break;
		}
		if (!len) {
			out[j++] = '?';
			i++;
			continue;
		}
		memcpy(out + j, s + i, len);
		i += len;
		j += len;
	}
	out[j] = 0;
	return out;
}

static bool is_name_char(char c, bool first)
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
		out[j] = is_name_char(s[i], j == 0) ? s[i] : '_';
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

static int hostname(char *out, size_t len)
{
	if (gethostname(out, len - 1) < 0)
		return -errno;
	out[len - 1] = 0;
	return 0;
}

/* The labels a backend receives for a series, in *out (sorted, unique),
 * following the rules in the header. */
static int map_labels(enum remote_protocol proto, const struct labels *in, const char *node,
		      struct labels *out, struct label_cuts *cuts)
{
	struct labels extra = {};
	const char *svc = in ? labels__get(in, "service_name") : NULL;
	size_t limit = proto == REMOTE_PARCA ? SIZE_MAX : REMOTE_MAX_LABELS;
	bool any_cut = false;
	int err;

	labels__clear(out);
	if (proto == REMOTE_PARCA) {
		char host[256];
		const char *n = in ? labels__get(in, "node") : NULL;

		err = labels__set(out, "__name__", "parca_agent_cpu");
		if (err)
			return err;
		/* the series' own node goes through the loop below */
		if (!n) {
			if (!node) {
				err = hostname(host, sizeof(host));
				if (err)
					return err;
				node = host;
			}
			err = labels__set(out, "node", node);
			if (err)
				return err;
		}
	} else {
		_cleanup_free_ char *clean = NULL;
		bool cut;

		clean = clean_value(svc ? svc : "unknown_service", REMOTE_MAX_LABEL_VALUE, &cut);
		if (!clean)
			return -ENOMEM;
		if (cut)
			cuts->values_cut++, any_cut = true;
		err = labels__set(out, "__name__", "process_cpu");
		if (!err)
			err = labels__set(out, "service_name", clean[0] ? clean : "unknown_service");
		if (!err)
			err = labels__set(out, "__delta__", "false");
		if (err)
			return err;
	}

	for (size_t i = 0; in && i < in->n; i++) {
		const char *name = in->v[i].name;
		_cleanup_free_ char *cname = NULL, *cvalue = NULL;
		bool name_cut = false, value_cut = false;

		/* set above: the backend's own meaning wins */
		if (strcmp(name, "__name__") == 0 ||
		    (proto != REMOTE_PARCA &&
		     (strcmp(name, "service_name") == 0 || strcmp(name, "__delta__") == 0)))
			continue;
		cname = clean_name(name, REMOTE_MAX_LABEL_NAME, &name_cut);
		if (!cname) {
			if (errno == ENOMEM)
				goto nomem;
			continue;
		}
		cvalue = clean_value(in->v[i].value ? in->v[i].value : "", REMOTE_MAX_LABEL_VALUE,
				     &value_cut);
		if (!cvalue)
			goto nomem;
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
		if (out->n >= limit) {
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
nomem:
	err = -ENOMEM;
fail:
	labels__clear(&extra);
	return err;
}

/* ---- ingest's name parameter ---- */

static bool is_app_char(char c)
{
	return is_name_char(c, false) || c == '.' || c == '-';
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

/* ---- batches ---- */

static int uuid4(char out[UUID_LEN + 1])
{
	uint8_t b[16];
	ssize_t n = getrandom(b, sizeof(b), 0);

	if (n != (ssize_t)sizeof(b))
		return n < 0 ? -errno : -EIO;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, UUID_LEN + 1,
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
static struct remote_request *batch_add(struct remote_batch *b)
{
	struct remote_request *r = realloc(b->requests, (b->n + 1) * sizeof(*r));

	if (!r)
		return NULL;
	b->requests = r;
	r = &b->requests[b->n++];
	*r = (struct remote_request){};
	return r;
}

/* Profile parts waiting to be packed into one push or WriteRaw request. */
struct pending_part {
	struct buf gz;
	char id[UUID_LEN + 1];
};

struct pending_series {
	struct labels labels;
	struct pending_part *parts;
	size_t n;
};

struct pending {
	struct pending_series *series;
	size_t n;
	size_t bytes, parts;
};

static void pending_reset(struct pending *pd)
{
	for (size_t i = 0; i < pd->n; i++) {
		for (size_t j = 0; j < pd->series[i].n; j++)
			buf_release(&pd->series[i].parts[j].gz);
		free(pd->series[i].parts);
		labels__clear(&pd->series[i].labels);
	}
	free(pd->series);
	*pd = (struct pending){};
}

static int pack_push(const struct pending *pd, struct buf *body)
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
		const struct pending_series *ps = &pd->series[i];
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

static int pack_writeraw(const struct pending *pd, struct buf *body)
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
		const struct pending_series *ps = &pd->series[i];
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

/* Packs what is pending into a new request of b and empties pd. */
static int pending_flush(struct pending *pd, struct remote_batch *b)
{
	struct remote_request *r;
	int err;

	if (!pd->n)
		return 0;
	r = batch_add(b);
	if (!r)
		return -ENOMEM;
	r->path = strdup(b->protocol == REMOTE_PARCA ? WRITERAW_PATH : PUSH_PATH);
	if (!r->path)
		return -ENOMEM;
	r->profiles = (uint32_t)pd->parts;
	err = b->protocol == REMOTE_PARCA ? pack_writeraw(pd, &r->body) : pack_push(pd, &r->body);
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

struct encoder {
	const struct remote_encode_opts *o;
	const struct upload_window *w;
	struct remote_batch *b;
	struct pending pd;
	size_t max_body;
};

/* Takes one part (gz is moved from) of the series with mapped labels. */
static int add_part(struct encoder *e, const struct labels *mapped, struct buf *gz)
{
	struct pending *pd = &e->pd;
	struct pending_series *ps;
	struct pending_part *parts;
	size_t extra;
	int err;

	e->b->profiles++;
	if (e->o->protocol == REMOTE_PYROSCOPE_INGEST) {
		struct remote_request *r = batch_add(e->b);

		if (!r)
			return -ENOMEM;
		r->profiles = 1;
		r->body = *gz;
		*gz = (struct buf){};
		return ingest_path(mapped, e->w, e->o->frequency_hz, &r->path);
	}

	ps = pd->n ? &pd->series[pd->n - 1] : NULL;
	/* the same series goes on in the last entry, unless a flush began a
	 * new request */
	if (ps && !labels__equal(&ps->labels, mapped))
		ps = NULL;
	extra = gz->len + 64 + (ps ? 0 : labels_wire_size(mapped));
	if (pd->n && pd->bytes + extra > e->max_body) {
		err = pending_flush(pd, e->b);
		if (err)
			return err;
		ps = NULL;
		extra = gz->len + 64 + labels_wire_size(mapped);
	}
	if (!ps) {
		struct pending_series *s = realloc(pd->series, (pd->n + 1) * sizeof(*s));

		if (!s)
			return -ENOMEM;
		pd->series = s;
		ps = &pd->series[pd->n];
		*ps = (struct pending_series){};
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
 * add_part. A part over the size bound is halved (or cut to the ratio the
 * size suggests) until it fits; one sample alone over it is left out. */
static int encode_series(struct encoder *e, const struct upload_series *s, const struct labels *mapped)
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
		err = add_part(e, mapped, &gz);
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
	struct encoder e = { .o = o, .w = w };
	struct label_cuts cuts = {};
	struct labels mapped = {};
	int err = 0;

	if (!o || !w || !out || (w->n && !w->series) || (size_t)o->protocol >= ARRAY_SIZE(protocol_names))
		return -EINVAL;
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
		err = map_labels(o->protocol, s->labels, o->node, &mapped, &cuts);
		if (err)
			break;
		e.b->series++;
		err = encode_series(&e, s, &mapped);
		if (err)
			break;
	}
	if (!err)
		err = pending_flush(&e.pd, e.b);
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
	    proto >= ARRAY_SIZE(protocol_names) || !get_le(&rd, 8, &start) ||
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

/* A token or password file, re-read when it is replaced or rewritten. */
struct auth_file {
	char *path;
	bool loaded;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *content;
};

struct remote {
	enum remote_protocol protocol;
	char *url;                     /* without a trailing '/' */
	CURL *curl;
	struct curl_slist *headers;    /* tenant and extra headers, fixed */
	struct auth_file bearer, password;
	char *username;
	char *ca_file, *cert_file, *key_file; /* for messages; NULL: unset */
	atomic_bool cancelled;

	/* per response */
	struct buf response;
	bool response_truncated;
	int grpc_status;               /* from the headers; -1: none */
	char grpc_message[256];
	char errbuf[CURL_ERROR_SIZE];
};

static void auth_file_release(struct auth_file *f)
{
	free(f->path);
	free(f->content);
	*f = (struct auth_file){};
}

/* Loads f again if it changed since the last read. 0, or -errno with why
 * in msg. */
static int auth_file_refresh(struct auth_file *f, char *msg, size_t msglen)
{
	_cleanup_close_ int fd = -1;
	struct buf b = {};
	struct stat st;
	int err;

	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		snprintf(msg, msglen, "failed to read credentials file '%s': %s", f->path,
			 strerror(-err));
		return err;
	}
	if (f->loaded && st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
	    st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
		return 0;
	err = buf_read_fd(fd, &b, AUTH_FILE_MAX);
	if (err) {
		snprintf(msg, msglen, "failed to read credentials file '%s': %s", f->path,
			 strerror(-err));
		buf_release(&b);
		return err;
	}
	/* editors and echo leave a trailing newline */
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' ||
			 b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
		b.data[--b.len] = 0;
	if (!b.len || memchr(b.data, '\n', b.len) || memchr(b.data, '\r', b.len) ||
	    memchr(b.data, 0, b.len)) {
		snprintf(msg, msglen, "credentials file '%s' is %s", f->path,
			 b.len ? "not a single line" : "empty");
		buf_release(&b);
		return -EINVAL;
	}
	free(f->content);
	f->content = (char *)b.data;
	f->loaded = true;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct remote *r = userdata;
	size_t n = size * nmemb, keep = RESPONSE_KEEP - MIN(r->response.len, RESPONSE_KEEP);

	if (n > keep)
		r->response_truncated = true;
	if (MIN(n, keep) && buf_append(&r->response, data, MIN(n, keep)))
		r->response_truncated = true;
	return n;
}

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

/* Parses "grpc-status"/"grpc-message" from one header line. */
static void grpc_header(const char *line, size_t len, int *status, char *msg, size_t msglen)
{
	const char *v;
	size_t vlen;

	if (header_is(line, len, "grpc-status", &v, &vlen)) {
		char num[16];

		if (vlen && vlen < sizeof(num)) {
			memcpy(num, v, vlen);
			num[vlen] = 0;
			*status = (int)strtol(num, NULL, 10);
		}
	} else if (header_is(line, len, "grpc-message", &v, &vlen)) {
		percent_decode(v, vlen, msg, msglen);
	}
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct remote *r = userdata;
	size_t n = size * nmemb;

	/* a new status line (after "100 Continue") starts a new response */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->grpc_status = -1;
		r->grpc_message[0] = 0;
		return n;
	}
	grpc_header(data, n, &r->grpc_status, r->grpc_message, sizeof(r->grpc_message));
	return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct remote *r = userdata;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&r->cancelled) ? 1 : 0;
}

static bool header_name_ok(const char *name)
{
	static const char *const reserved[] = { "content-type", "content-length", "host",
						"transfer-encoding", "connection", "expect" };

	if (!name[0])
		return false;
	for (const char *c = name; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *c))
			return false;
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return false;
	return true;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	_cleanup_free_ char *line = NULL;
	struct curl_slist *l;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	l = curl_slist_append(*list, line);
	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

static int setopt_str(CURL *c, CURLoption opt, const char *v)
{
	return v && curl_easy_setopt(c, opt, v) != CURLE_OK ? -EINVAL : 0;
}

/* The TLS files are checked once here, so a wrong path or a certificate
 * without its key is an error at start, not a retry loop; curl reads them
 * again for every new connection (so rotated files are picked up). Logs
 * what is wrong, naming the file. */
static int check_tls_files(const struct remote_opts *o)
{
	const struct {
		const char *path, *what;
	} files[] = { { o->ca_file, "CA file" },
		      { o->cert_file, "client certificate" },
		      { o->key_file, "client key" } };
	struct buf cert = {};
	int err;

	if (o->key_file && !o->cert_file) {
		log_error("remote TLS client key '%s' is set without a client certificate",
			  o->key_file);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_close_ int fd = -1;

		if (!files[i].path)
			continue;
		fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			log_error("failed to read remote TLS %s '%s': %s", files[i].what,
				  files[i].path, strerror(-err));
			return err;
		}
	}
	if (!o->cert_file || o->key_file)
		return 0;
	/* without key_file curl takes the key from the certificate's file */
	err = buf_read_file(o->cert_file, &cert, TLS_FILE_MAX);
	if (err) {
		buf_release(&cert);
		log_error("failed to read remote TLS client certificate '%s': %s", o->cert_file,
			  strerror(-err));
		return err;
	}
	if (!memmem(cert.data, cert.len, "PRIVATE KEY-----", 16)) {
		log_error("remote TLS client certificate '%s' holds no private key and no key file "
			  "is set", o->cert_file);
		err = -EINVAL;
	}
	buf_release(&cert);
	return err;
}

static int strdup_opt(const char *s, char **out)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? -ENOMEM : 0;
}

int remote__new(const struct remote_opts *o, struct remote **out)
{
	struct remote *r;
	int err = -EINVAL;

	if (!o || !out || !o->url || (size_t)o->protocol >= ARRAY_SIZE(protocol_names) ||
	    (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) ||
	    strpbrk(o->url, " \r\n?#") ||
	    (o->bearer_token_file && (o->basic_auth_username || o->basic_auth_password_file)) ||
	    (!o->basic_auth_username != !o->basic_auth_password_file) ||
	    (o->tenant_id && (!o->tenant_id[0] || strpbrk(o->tenant_id, "\r\n"))))
		return -EINVAL;
	for (size_t i = 0; o->headers && i < o->headers->n; i++)
		if (!header_name_ok(o->headers->v[i].name) ||
		    strpbrk(o->headers->v[i].value, "\r\n"))
			return -EINVAL;
	err = check_tls_files(o);
	if (err)
		return err;
	err = -EINVAL; /* what a curl option refused below returns */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	r->protocol = o->protocol;
	r->grpc_status = -1;
	r->url = strdup(o->url);
	if (!r->url)
		goto nomem;
	while (strlen(r->url) > 8 && r->url[strlen(r->url) - 1] == '/')
		r->url[strlen(r->url) - 1] = 0;
	if (o->bearer_token_file && !(r->bearer.path = strdup(o->bearer_token_file)))
		goto nomem;
	if (o->basic_auth_username &&
	    (!(r->username = strdup(o->basic_auth_username)) ||
	     !(r->password.path = strdup(o->basic_auth_password_file))))
		goto nomem;
	if (strdup_opt(o->ca_file, &r->ca_file) || strdup_opt(o->cert_file, &r->cert_file) ||
	    strdup_opt(o->key_file, &r->key_file))
		goto nomem;
	/* curl's own "Expect: 100-continue" would hold every large body back
	 * for a second waiting for a reply servers here never send */
	r->headers = curl_slist_append(NULL, "Expect:");
	if (!r->headers)
		goto nomem;
	if (o->tenant_id && add_header(&r->headers, "X-Scope-OrgID", o->tenant_id))
		goto nomem;
	for (size_t i = 0; o->headers && i < o->headers->n; i++)
		if (add_header(&r->headers, o->headers->v[i].name, o->headers->v[i].value))
			goto nomem;

	r->curl = curl_easy_init();
	if (!r->curl)
		goto nomem;
	/* no SIGALRM for DNS timeouts: brasa is multi-threaded */
	if (curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS,
			     (long)(o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS)) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "brasa/" BRASA_VERSION) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    /* gRPC-web is specified over HTTP/1.1; one version keeps the
	     * framing and trailers the same for every backend */
	    curl_easy_setopt(r->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, r) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_POST, 1L) != CURLE_OK ||
	    setopt_str(r->curl, CURLOPT_CAINFO, o->ca_file) ||
	    setopt_str(r->curl, CURLOPT_SSLCERT, o->cert_file) ||
	    setopt_str(r->curl, CURLOPT_SSLKEY, o->key_file))
		goto fail;
	if (o->insecure_skip_verify &&
	    (curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	     curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))
		goto fail;
	*out = r;
	return 0;
nomem:
	err = -ENOMEM;
fail:
	remote__free(r);
	return err;
}

void remote__free(struct remote *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	auth_file_release(&r->bearer);
	auth_file_release(&r->password);
	free(r->username);
	free(r->ca_file);
	free(r->cert_file);
	free(r->key_file);
	free(r->url);
	buf_release(&r->response);
	free(r);
	curl_global_cleanup();
}

void remote__cancel(struct remote *r)
{
	if (r)
		atomic_store(&r->cancelled, true);
}

static void set_status(struct remote_status *st, enum remote_result res, enum remote_failure why,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_status(struct remote_status *st, enum remote_result res, enum remote_failure why,
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
			const char *p = (const char *)body->data + off, *end = p + len;

			while (p < end) {
				const char *eol = memchr(p, '\n', (size_t)(end - p));
				size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

				grpc_header(p, n, status, msg, msglen);
				p += n + (eol ? 1 : 0);
			}
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

/* A TLS peer's alert, as OpenSSL words it in curl's message, and what it
 * tells the user; a server that wants a client certificate says so only
 * after the handshake in TLS 1.3, on the first read. */
static const struct {
	const char *alert, *meaning;
} tls_alerts[] = {
	{ "alert certificate required", "the server requires a client certificate" },
	{ "alert unknown ca", "the server does not trust the client certificate's CA" },
	{ "alert bad certificate", "the server rejected the client certificate" },
	{ "alert certificate unknown", "the server rejected the client certificate" },
	{ "alert certificate expired", "the server says the client certificate expired" },
	{ "alert handshake failure", "the server refused the TLS handshake" },
};

/* The message for a failed transfer: curl's words, after what kind of TLS
 * problem it is, so "certificate not trusted" cannot be mistaken for
 * "nothing listens there". */
static void transfer_failure(const struct remote *r, CURLcode rc, const char *why, char *out,
			     size_t outlen)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (r->ca_file)
			snprintf(out, outlen, "TLS: the server's certificate failed verification "
				 "against the CA file '%s': %s", r->ca_file, why);
		else
			snprintf(out, outlen, "TLS: the server's certificate failed verification "
				 "against the system's CAs: %s", why);
		return;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, outlen, "TLS: unusable CA file '%s': %s",
			 r->ca_file ? r->ca_file : "(system)", why);
		return;
	case CURLE_SSL_CERTPROBLEM:
		snprintf(out, outlen, "TLS: unusable client certificate '%s' or key '%s': %s",
			 r->cert_file ? r->cert_file : "",
			 r->key_file ? r->key_file : r->cert_file ? r->cert_file : "", why);
		return;
	default:
		break;
	}
	for (size_t i = 0; i < ARRAY_SIZE(tls_alerts); i++) {
		if (strstr(why, tls_alerts[i].alert)) {
			snprintf(out, outlen, "TLS: %s: %s", tls_alerts[i].meaning, why);
			return;
		}
	}
	if (rc == CURLE_SSL_CONNECT_ERROR)
		snprintf(out, outlen, "TLS: handshake failed: %s", why);
	else
		snprintf(out, outlen, "%s", why);
}

static void classify(struct remote *r, const struct remote_batch *b, CURLcode rc,
		     struct remote_status *st)
{
	char text[400];
	long code = 0;

	if (rc != CURLE_OK) {
		const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

		if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&r->cancelled)) {
			set_status(st, REMOTE_RETRY, REMOTE_FAIL_CANCELLED, "cancelled (stopping)");
		} else if (rc == CURLE_OPERATION_TIMEDOUT) {
			set_status(st, REMOTE_RETRY, REMOTE_FAIL_TIMEOUT, "%s", why);
		} else {
			set_status(st, REMOTE_RETRY, REMOTE_FAIL_NETWORK, "%s", "");
			transfer_failure(r, rc, why, st->message, sizeof(st->message));
		}
		return;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	st->http_status = code;
	if (code < 200 || code > 299) {
		error_text(&r->response, text, sizeof(text));
		if (code == 429)
			set_status(st, REMOTE_RETRY, REMOTE_FAIL_HTTP_429, "HTTP 429: %s", text);
		else if (code >= 500)
			set_status(st, REMOTE_RETRY, REMOTE_FAIL_HTTP_5XX, "HTTP %ld: %s", code, text);
		else
			set_status(st, REMOTE_DROP, REMOTE_FAIL_HTTP_4XX, "HTTP %ld: %s", code, text);
		return;
	}
	if (b->protocol == REMOTE_PARCA) {
		int status = r->grpc_status;
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", r->grpc_message);
		/* trailers-only responses carry the status as HTTP headers */
		if (status < 0) {
			int err = grpc_web_trailer(&r->response, &status, msg, sizeof(msg));

			if (err) {
				set_status(st, REMOTE_RETRY, REMOTE_FAIL_GRPC,
					   "HTTP %ld without grpc-status (%s): is this a Parca server?",
					   code, err == -ENOENT ? "no trailer" : "bad gRPC-web framing");
				return;
			}
		}
		st->grpc_status = status;
		if (status != 0) {
			set_status(st, grpc_retryable(status) ? REMOTE_RETRY : REMOTE_DROP,
				   REMOTE_FAIL_GRPC, "grpc-status %d: %s", status, msg);
			return;
		}
	}
	set_status(st, REMOTE_OK, REMOTE_FAIL_NONE, "%s", "");
}

enum remote_result remote__send(struct remote *r, struct remote_batch *b, size_t i,
				struct remote_status *st)
{
	struct remote_request *req;
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL, *auth = NULL;
	const char *ctype;
	CURLcode rc;
	int err;

	*st = (struct remote_status){ .grpc_status = -1 };
	if (!r || !b || i >= b->n) {
		set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE, "no such request");
		return st->result;
	}
	req = &b->requests[i];
	if (b->protocol != r->protocol) {
		set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE,
			   "a %s batch cannot go to a %s backend (spooled before a configuration change)",
			   remote__protocol_name(b->protocol), remote__protocol_name(r->protocol));
		return st->result;
	}
	if (atomic_load(&r->cancelled)) {
		set_status(st, REMOTE_RETRY, REMOTE_FAIL_CANCELLED, "cancelled (stopping)");
		return st->result;
	}
	if (r->bearer.path) {
		if (auth_file_refresh(&r->bearer, st->message, sizeof(st->message))) {
			st->result = REMOTE_RETRY;
			st->reason = REMOTE_FAIL_AUTH_FILE;
			return st->result;
		}
		if (asprintf(&auth, "Bearer %s", r->bearer.content) < 0)
			goto nomem;
	}
	if (r->password.path) {
		if (auth_file_refresh(&r->password, st->message, sizeof(st->message))) {
			st->result = REMOTE_RETRY;
			st->reason = REMOTE_FAIL_AUTH_FILE;
			return st->result;
		}
		if (curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK ||
		    curl_easy_setopt(r->curl, CURLOPT_USERNAME, r->username) != CURLE_OK ||
		    curl_easy_setopt(r->curl, CURLOPT_PASSWORD, r->password.content) != CURLE_OK)
			goto nomem;
	}
	switch (b->protocol) {
	case REMOTE_PARCA:
		ctype = "application/grpc-web+proto";
		break;
	case REMOTE_PYROSCOPE:
		ctype = "application/proto";
		break;
	default:
		ctype = "application/octet-stream";
		break;
	}
	if (asprintf(&url, "%s%s", r->url, req->path) < 0)
		goto nomem;
	for (struct curl_slist *h = r->headers; h; h = h->next) {
		struct curl_slist *l = curl_slist_append(headers, h->data);

		if (!l)
			goto nomem;
		headers = l;
	}
	err = add_header(&headers, "Content-Type", ctype);
	if (!err && auth)
		err = add_header(&headers, "Authorization", auth);
	if (!err && b->protocol == REMOTE_PARCA)
		err = add_header(&headers, "X-Grpc-Web", "1");
	/* Connect unary; servers may insist on the version header */
	if (!err && b->protocol == REMOTE_PYROSCOPE)
		err = add_header(&headers, "Connect-Protocol-Version", "1");
	if (err)
		goto nomem;

	buf_reset(&r->response);
	r->response_truncated = false;
	r->grpc_status = -1;
	r->grpc_message[0] = 0;
	r->errbuf[0] = 0;
	if (curl_easy_setopt(r->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, req->body.len ? (char *)req->body.data : "") != CURLE_OK ||
	    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len) != CURLE_OK) {
		curl_slist_free_all(headers);
		set_status(st, REMOTE_DROP, REMOTE_FAIL_UNSENDABLE, "curl refused the request's options");
		return st->result;
	}
	rc = curl_easy_perform(r->curl);
	/* the handle keeps pointers to both until the next request */
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(headers);
	classify(r, b, rc, st);
	if (st->result == REMOTE_OK) {
		req->done = true;
		st->bytes_sent = req->body.len;
	}
	return st->result;
nomem:
	curl_slist_free_all(headers);
	set_status(st, REMOTE_RETRY, REMOTE_FAIL_NETWORK, "out of memory");
	return st->result;
}
