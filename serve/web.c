#include "serve/web.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/macros.h"

/* serve/web/embed.py's output (web_assets.c) */
extern const unsigned char web_asset_index_html[], web_asset_app_js[], web_asset_app_css[],
	web_asset_timeline_js[];
extern const size_t web_asset_index_html_len, web_asset_app_js_len, web_asset_app_css_len,
	web_asset_timeline_js_len;

static const struct web_asset {
	const char *path;
	const char *content_type;
	const unsigned char *data;
	const size_t *len;
} assets[] = {
	{ "/", "text/html; charset=utf-8", web_asset_index_html, &web_asset_index_html_len },
	{ "/ui/app.js", "text/javascript; charset=utf-8", web_asset_app_js,
	  &web_asset_app_js_len },
	{ "/ui/app.css", "text/css; charset=utf-8", web_asset_app_css, &web_asset_app_css_len },
	{ "/ui/timeline.js", "text/javascript; charset=utf-8", web_asset_timeline_js,
	  &web_asset_timeline_js_len },
};

/* The page's scripts in the order index.html loads them: the
 * self-contained file inlines them in that order. */
static const struct {
	const char *tag;
	const unsigned char *data;
	const size_t *len;
} scripts[] = {
	{ "<script src=\"/ui/timeline.js\" defer></script>", web_asset_timeline_js,
	  &web_asset_timeline_js_len },
	{ "<script src=\"/ui/app.js\" defer></script>", web_asset_app_js, &web_asset_app_js_len },
};

static const struct web_asset *find(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(assets); i++)
		if (!strcmp(assets[i].path, path))
			return &assets[i];
	return NULL;
}

const unsigned char *web__asset(const char *path, size_t *len)
{
	const struct web_asset *a = path ? find(path) : NULL;

	if (!a)
		return NULL;
	*len = *a->len;
	return a->data;
}

/* no-cache: a browser revalidates, so a new agent's page is never run
 * against a cached older script */
static const char *const asset_headers[] = {
	"Content-Security-Policy", WEB_CSP,
	"X-Content-Type-Options", "nosniff",
	"Cache-Control", "no-cache",
	"Referrer-Policy", "no-referrer",
	NULL,
};

static int serve_asset(void *ctx, struct http_request *req)
{
	const struct web_asset *a = find(http_request__path(req));
	struct buf body = { 0 };

	(void)ctx;
	if (!a) /* the route table only sends the paths above */
		return http_request__error(req, MHD_HTTP_NOT_FOUND, NULL, NULL,
					   "404 page not found");
	if (buf_append(&body, a->data, *a->len))
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "out of memory");
	return http_request__reply_buf(req, MHD_HTTP_OK, a->content_type, &body, asset_headers);
}

/* The self-contained page without data: what the page's "HTML" download
 * fills with the graph it shows, so that the file is composed here only. */
static int serve_saved(void *ctx, struct http_request *req)
{
	struct buf body = { 0 };

	(void)ctx;
	if (web__write_page(NULL, 0, &body))
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "could not compose the page");
	return http_request__reply_buf(req, MHD_HTTP_OK, "text/html; charset=utf-8", &body,
				       asset_headers);
}

int web__add_routes(struct http_server *s)
{
	struct http_route routes[ARRAY_SIZE(assets) + 1];

	for (size_t i = 0; i < ARRAY_SIZE(assets); i++)
		routes[i] = (struct http_route){ assets[i].path, HTTP_GET | HTTP_HEAD, 0,
						 serve_asset };
	routes[ARRAY_SIZE(assets)] =
		(struct http_route){ WEB_SAVED_PATH, HTTP_GET | HTTP_HEAD, 0, serve_saved };
	return http_server__add_routes(s, routes, ARRAY_SIZE(routes), NULL);
}

/* Appends n bytes of s to out so that they cannot end the <script>
 * element holding them: in JSON every '<' as \u003c (the same string),
 * in JavaScript "</script" as "<\/script", as the page's own HTML download
 * does (the only place app.js may write it is inside a string). */
static int append_script_safe(struct buf *out, const char *s, size_t n, bool json)
{
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		if (json && s[i] == '<')
			err = buf_append(out, "\\u003c", 6);
		else if (!json && s[i] == '<' && n - i >= 8 && !strncasecmp(s + i, "</script", 8))
			err = buf_append(out, "<\\/", 3), i++;
		else
			err = buf_append(out, s + i, 1);
	}
	return err;
}

/* Appends what page holds up to needle, then replacement; *at moves past
 * needle. -EINVAL when page no longer holds needle (the page and this
 * function must change together: tests/unit/test-web.c checks both). */
static int replace_next(struct buf *out, const char *page, size_t len, size_t *at,
			const char *needle)
{
	const char *hit = memmem(page + *at, len - *at, needle, strlen(needle));

	if (!hit)
		return -EINVAL;
	if (buf_append(out, page + *at, (size_t)(hit - (page + *at))))
		return -ENOMEM;
	*at = (size_t)(hit - page) + strlen(needle);
	return 0;
}

int web__write_page(const char *flame_json, size_t json_len, struct buf *out)
{
	static const char data_open[] = "<script id=\"embedded-data\" type=\"application/json\">";
	const char *page = (const char *)web_asset_index_html;
	size_t len = web_asset_index_html_len, at = 0, start = out->len;
	int err;

	/* the page's "HTML" download fills the empty data element of the
	 * flame_json == NULL form (/ui/saved.html) the same way */
	err = replace_next(out, page, len, &at, "<link rel=\"stylesheet\" href=\"/ui/app.css\">");
	if (!err)
		err = buf_printf(out, "<style id=\"inline-css\">%.*s</style>",
				 (int)web_asset_app_css_len, (const char *)web_asset_app_css);
	for (size_t i = 0; i < ARRAY_SIZE(scripts) && !err; i++)
		err = replace_next(out, page, len, &at, scripts[i].tag);
	if (!err)
		err = replace_next(out, page, len, &at, WEB_EMPTY_DATA);
	if (!err && flame_json) {
		err = buf_printf(out, "%s{\"data\":", data_open);
		if (!err)
			err = append_script_safe(out, flame_json, json_len, true);
		if (!err)
			err = buf_printf(out, ",\"base\":null}</script>");
	} else if (!err) {
		err = buf_printf(out, "%s", WEB_EMPTY_DATA);
	}
	/* the data before the scripts that read it; app.js last, with its
	 * id (the page's tests look for it) */
	for (size_t i = 0; i < ARRAY_SIZE(scripts) && !err; i++) {
		err = buf_printf(out, "\n<script%s>", i + 1 == ARRAY_SIZE(scripts)
							   ? " id=\"inline-app\"" : "");
		if (!err)
			err = append_script_safe(out, (const char *)scripts[i].data, *scripts[i].len,
						 false);
		if (!err)
			err = buf_printf(out, "</script>");
	}
	if (!err)
		err = buf_append(out, page + at, len - at);
	if (err)
		out->len = start;
	return err;
}
