/* web: the flame graph page served at / (serve/web/: index.html, app.js,
 * app.css), its bytes compiled into the binary by serve/web/embed.py. The
 * page fetches /api/flamegraph and /debug/pprof/profile from the same
 * origin; every answer carries a Content-Security-Policy that lets it
 * load nothing from anywhere else.
 *
 *   web__add_routes(s)     adds GET|HEAD /, /ui/app.js, /ui/app.css and
 *                          WEB_SAVED_PATH (web__write_page's file without
 *                          data) to s's route table (before
 *                          http_server__start): 0/-ENOMEM
 *   web__asset(path, &len)  the embedded bytes served at path, NULL for a
 *                          path that is not one of them (for tests)
 *   web__write_page(json, len, out)
 *                          appends the page as one self-contained file
 *                          showing json (a GET /api/flamegraph document):
 *                          its script and style inline, no request when
 *                          opened from a file:// URL (brasa capture
 *                          --format html); json NULL: the same file
 *                          without data, its data element WEB_EMPTY_DATA,
 *                          which the page's own "HTML" download and the
 *                          benchmark fill in; 0, -ENOMEM, -EINVAL if the
 *                          embedded page lacks a place this fills in
 */
#ifndef BRASA_SERVE_WEB_H
#define BRASA_SERVE_WEB_H

#include <stddef.h>

#include "common/buf.h"
#include "serve/http_server.h"

#define WEB_CSP                                                                  \
	"default-src 'none'; script-src 'self'; style-src 'self'; "              \
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; "            \
	"form-action 'none'; frame-ancestors 'none'"

#define WEB_SAVED_PATH "/ui/saved.html"
#define WEB_EMPTY_DATA "<script id=\"embedded-data\" type=\"application/json\"></script>"

int web__add_routes(struct http_server *s);
const unsigned char *web__asset(const char *path, size_t *len);
int web__write_page(const char *flame_json, size_t json_len, struct buf *out);

#endif
