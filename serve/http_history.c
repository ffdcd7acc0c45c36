#include "serve/http_history.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/labels.h"
#include "common/macros.h"
#include "common/parse.h"
#include "core/pprof_flame.h"
#include "history/history.h"
#include "labels/matcher.h"
#include "serve/http_api.h"
#include "serve/http_query.h"

#define DEFAULT_SINCE_NS (3600ll * 1000000000ll)
#define DEFAULT_TOP 8
#define MAX_TOP 50
/* a range's end may be written as a future time: the timeline stops now */
#define MAX_AHEAD_S 86400

/* What both routes take: the range and the filters. */
struct history_request {
	struct profile_query q;   /* pid, match (seconds unused) */
	struct profile_range range;
	char label[128];          /* by= or name=, "" when absent */
	uint32_t top;
};

static void request_release(struct history_request *r)
{
	profile_query__release(&r->q);
}

/* Parses the query; 0, or -EINVAL with the 400 line in err. */
static int parse(const char *query, size_t len, const char *label_param,
		 struct history_request *r, char *err, size_t errlen)
{
	int64_t now = (int64_t)clock__ns(CLOCK_REALTIME);
	char top[16];
	int rc;

	r->top = DEFAULT_TOP;
	rc = http_query__parse_profile(query, len, 1, UINT32_MAX / 2, &r->q, err, errlen);
	if (!rc)
		rc = http_query__parse_range(query, len, now, MAX_AHEAD_S, &r->range, err, errlen);
	if (!rc)
		rc = http_query__history_type(&r->q, err, errlen);
	if (rc)
		return rc;
	if (!r->range.set)
		r->range = (struct profile_range){ .set = true, .start_ns = now - DEFAULT_SINCE_NS,
						   .end_ns = now };
	if (r->range.end_ns > now)
		r->range.end_ns = now;
	rc = http_query__param(query, len, label_param, r->label, sizeof(r->label), err, errlen);
	if (rc < 0)
		return rc;
	if (rc && !labels__valid_name(r->label))
		return snprintf(err, errlen, "bad %s: expected a label name "
				"([a-zA-Z_][a-zA-Z0-9_]*)", label_param), -EINVAL;
	rc = http_query__param(query, len, "top", top, sizeof(top), err, errlen);
	if (rc < 0)
		return rc;
	if (rc && parse_u32_range(top, 1, MAX_TOP, &r->top))
		return snprintf(err, errlen, "bad top: expected a whole number from 1 to %d",
				MAX_TOP), -EINVAL;
	return 0;
}

/* The history's filter for a parsed request: its pid, match and type. */
static struct history_filter filter_of(const struct history_request *r)
{
	return (struct history_filter){
		.type = http_api__pprof_type(r->q.type),
		.pid = r->q.pid,
		.match = r->q.match,
	};
}

static int reply_json(struct http_request *req, struct buf *out, int err)
{
	static const char *const headers[] = { "X-Content-Type-Options", "nosniff",
					       "Cache-Control", "no-store", NULL };

	if (err) {
		buf_release(out);
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "could not read the history: %s", strerror(-err));
	}
	return http_request__reply_buf(req, MHD_HTTP_OK, "application/json", out, headers);
}

/* The common part of both handlers: GET only, a history, a valid query.
 * true with r filled, or false with the answer queued in *ret. */
static bool begin(struct history *h, struct http_request *req, const char *label_param,
		  struct history_request *r, int *ret)
{
	char err[256];
	const char *query;
	size_t len;

	if (!http_request__get_query(req, &query, &len, ret))
		return false;
	if (!h) {
		*ret = http_request__error(req, MHD_HTTP_NOT_FOUND, NULL, NULL,
					   "this agent keeps no history (history.retention or "
					   "history.max_bytes is 0, or its store could not be "
					   "opened: see its log)");
		return false;
	}
	if (parse(query, len, label_param, r, err, sizeof(err))) {
		*ret = http_request__error(req, MHD_HTTP_BAD_REQUEST, NULL, NULL, "%s", err);
		return false;
	}
	return true;
}

static int write_range(struct buf *out, const struct history_request *r)
{
	return buf_printf(out, "\"type\":\"%s\",\"start_unix_ns\":%lld,\"end_unix_ns\":%lld",
			  profile_type_names[r->q.type], (long long)r->range.start_ns,
			  (long long)r->range.end_ns);
}

static int write_timeline(struct buf *out, const struct history_request *r, const char *by,
			  const struct history_timeline *tl)
{
	int err = buf_printf(out, "{\"version\":1,");

	if (!err)
		err = write_range(out, r);
	if (!err)
		err = buf_printf(out, ",\"by\":");
	if (!err)
		err = pprof_flame__json_string(out, by);
	if (!err)
		err = buf_printf(out, ",\"windows\":[");
	for (size_t i = 0; !err && i < tl->nwindows; i++)
		err = buf_printf(out, "%s{\"start_unix_ns\":%lld,\"duration_ns\":%lld,"
				 "\"samples\":%llu}", i ? "," : "",
				 (long long)tl->windows[i].start_ns,
				 (long long)tl->windows[i].duration_ns,
				 (unsigned long long)tl->windows[i].samples);
	if (!err)
		err = buf_printf(out, "],\"series\":[");
	for (size_t s = 0; !err && s < tl->nseries; s++) {
		const struct history_timeline_series *ts = &tl->series[s];

		err = buf_printf(out, "%s{\"value\":", s ? "," : "");
		if (!err)
			err = ts->value ? pprof_flame__json_string(out, ts->value)
					: buf_printf(out, "null,\"other\":true");
		if (!err)
			err = buf_printf(out, ",\"total\":%llu,\"counts\":[",
					 (unsigned long long)ts->total);
		for (size_t i = 0; !err && i < tl->nwindows; i++)
			err = buf_printf(out, "%s%llu", i ? "," : "",
					 (unsigned long long)ts->counts[i]);
		if (!err)
			err = buf_printf(out, "]}");
	}
	if (!err)
		err = buf_printf(out, "]}\n");
	return err;
}

static int serve_timeline(void *ctx, struct http_request *req)
{
	_cleanup_(request_release) struct history_request r = { 0 };
	struct history_timeline *tl = NULL;
	struct history_filter f;
	struct buf out = { 0 };
	const char *by;
	int ret, err;

	if (!begin(ctx, req, "by", &r, &ret))
		return ret;
	by = r.label[0] ? r.label : "comm";
	f = filter_of(&r);
	err = history__timeline(ctx, r.range.start_ns, r.range.end_ns, &f, by, r.top, &tl);
	if (!err)
		err = write_timeline(&out, &r, by, tl);
	history_timeline__free(tl);
	return reply_json(req, &out, err);
}

static int write_values(struct buf *out, const struct history_request *r,
			const struct history_values *v)
{
	int err = buf_printf(out, "{\"version\":1,");

	if (!err)
		err = write_range(out, r);
	if (!err && r->label[0]) {
		err = buf_printf(out, ",\"name\":");
		if (!err)
			err = pprof_flame__json_string(out, r->label);
	}
	if (!err)
		err = buf_printf(out, ",\"%s\":[", r->label[0] ? "values" : "names");
	for (size_t i = 0; !err && i < v->n; i++) {
		err = buf_printf(out, "%s{\"%s\":", i ? "," : "", r->label[0] ? "value" : "name");
		if (!err)
			err = pprof_flame__json_string(out, v->v[i].value);
		if (!err)
			err = buf_printf(out, ",\"samples\":%llu}", (unsigned long long)v->v[i].samples);
	}
	if (!err)
		err = buf_printf(out, "]}\n");
	return err;
}

static int serve_labels(void *ctx, struct http_request *req)
{
	_cleanup_(request_release) struct history_request r = { 0 };
	struct history_values *v = NULL;
	struct history_filter f;
	struct buf out = { 0 };
	int ret, err;

	if (!begin(ctx, req, "name", &r, &ret))
		return ret;
	f = filter_of(&r);
	err = r.label[0] ? history__label_values(ctx, r.range.start_ns, r.range.end_ns, &f,
						 r.label, &v)
			 : history__label_names(ctx, r.range.start_ns, r.range.end_ns, &f, &v);
	if (!err)
		err = write_values(&out, &r, v);
	history_values__free(v);
	return reply_json(req, &out, err);
}

int http_history__add_routes(struct http_server *s, struct history *h)
{
	const struct http_route routes[] = {
		{ "/api/timeline", HTTP_ANY_METHOD, 0, serve_timeline },
		{ "/api/labels", HTTP_ANY_METHOD, 0, serve_labels },
	};

	return http_server__add_routes(s, routes, ARRAY_SIZE(routes), h);
}
