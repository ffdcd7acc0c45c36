#include "serve/web.h"

#include <microhttpd.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"

/* serve/web/embed.py's output (web_assets.c) */
extern const unsigned char web_asset_index_html[], web_asset_app_js[], web_asset_app_css[];
extern const size_t web_asset_index_html_len, web_asset_app_js_len, web_asset_app_css_len;

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

static int serve_asset(void *ctx, struct http_request *req)
{
	/* no-cache: a browser revalidates, so a new agent's page is never
	 * run against a cached older script */
	static const char *const headers[] = {
		"Content-Security-Policy", WEB_CSP,
		"X-Content-Type-Options", "nosniff",
		"Cache-Control", "no-cache",
		"Referrer-Policy", "no-referrer",
		NULL,
	};
	const struct web_asset *a = find(http_request__path(req));
	struct buf body = { 0 };

	(void)ctx;
	if (!a) /* the route table only sends the paths above */
		return http_request__error(req, MHD_HTTP_NOT_FOUND, NULL, NULL,
					   "404 page not found");
	if (buf_append(&body, a->data, *a->len))
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "out of memory");
	return http_request__reply_buf(req, MHD_HTTP_OK, a->content_type, &body, headers);
}

int web__add_routes(struct http_server *s)
{
	struct http_route routes[ARRAY_SIZE(assets)];

	for (size_t i = 0; i < ARRAY_SIZE(assets); i++)
		routes[i] = (struct http_route){ assets[i].path, HTTP_GET | HTTP_HEAD, 0,
						 serve_asset };
	return http_server__add_routes(s, routes, ARRAY_SIZE(routes), NULL);
}
