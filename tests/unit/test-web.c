/* web: the page's files as the agent serves them through http_api: the
 * bytes equal the sources in serve/web/ (embedded at build time, never
 * read at run time), with their types and the headers that keep the page
 * to its own origin. */
#include "serve/web.h"

#include <curl/curl.h>
#include <string.h>

#include "serve/http_api.h"

#include "http_harness.h"
#include "testing.h"

static const char *web_dir;

/* brasa capture --format html: the page with its script, style and the
 * capture inline, nothing fetched, and nothing in the data that could end
 * its <script> element. */
static void test_write_page(void)
{
	const char json[] = "{\"strings\":[\"</script><b>\"]}";
	struct buf out = { 0 };
	char *s;

	REQUIRE(web__write_page(json, strlen(json), &out) == 0);
	REQUIRE(buf_append(&out, "", 1) == 0);
	s = (char *)out.data;
	CHECK(strstr(s, "<style id=\"inline-css\">") != NULL);
	CHECK(strstr(s, "<script id=\"inline-app\">") != NULL);
	CHECK(strstr(s, "src=\"/ui/app.js\"") == NULL);
	CHECK(strstr(s, "href=\"/ui/app.css\"") == NULL);
	CHECK(strstr(s, "{\"data\":{\"strings\":[\"\\u003c/script>\\u003cb>\"]},\"base\":null}") != NULL);
	/* one </script> for each of the page's scripts: none from the data */
	size_t n = 0;
	for (char *p = s; (p = strstr(p, "</script>")); p++)
		n++;
	CHECK_INT(n, ==, 3);
	buf_release(&out);
}

/* /ui/saved.html: the same file without data, its data element empty
 * (what the page's own "HTML" download fills in), served with the page's
 * headers. */
static void test_saved_page(void)
{
	struct http_api *h = start_server("127.0.0.1:0");
	struct buf want = { 0 };
	struct reply r;

	REQUIRE(h);
	port = http_api__port(h);
	REQUIRE(web__write_page(NULL, 0, &want) == 0);
	get(WEB_SAVED_PATH, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK(r.body.len == want.len && memcmp(r.body.data, want.data, want.len) == 0);
	CHECK_HEADER(&r, "Content-Type", "text/html; charset=utf-8");
	CHECK_HEADER(&r, "Content-Security-Policy", WEB_CSP);
	REQUIRE(buf_append(&r.body, "", 1) == 0);
	const char *s = (const char *)r.body.data;
	const char *data = strstr(s, WEB_EMPTY_DATA), *app = strstr(s, "<script id=\"inline-app\">");
	CHECK(data != NULL);
	CHECK(app != NULL && data && app > data); /* the data before the script that reads it */
	CHECK(strstr(s, "<style id=\"inline-css\">") != NULL);
	CHECK(strstr(s, "src=\"/ui/app.js\"") == NULL);
	CHECK(strstr(s, "src=\"/ui/timeline.js\"") == NULL);
	CHECK(strstr(s, "window.BrasaTimeline") != NULL);
	reply_release(&r);
	buf_release(&want);
	http_api__stop(h);
}

static void setup(void)
{
	TEST_ARGS("WEB_DIR", &web_dir);
	http_test_setup();
}

static void check_asset(const char *path, const char *file, const char *type)
{
	char fpath[4096];
	struct buf want = { 0 };
	struct reply r;
	const unsigned char *data;
	size_t len = 0;

	snprintf(fpath, sizeof(fpath), "%s/%s", web_dir, file);
	REQUIRE(buf_read_file(fpath, &want, 1u << 24) == 0);
	data = web__asset(path, &len);
	REQUIRE(data);
	CHECK_INT(len, ==, want.len);
	CHECK(len == want.len && memcmp(data, want.data, len) == 0);

	get(path, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_INT(r.body.len, ==, want.len);
	CHECK(r.body.len == want.len && memcmp(r.body.data, want.data, want.len) == 0);
	CHECK_HEADER(&r, "Content-Type", type);
	CHECK_HEADER(&r, "Content-Security-Policy", WEB_CSP);
	CHECK_HEADER(&r, "X-Content-Type-Options", "nosniff");
	CHECK_HEADER(&r, "Cache-Control", "no-cache");
	reply_release(&r);

	http_request("127.0.0.1", port, "HEAD", path, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_INT(r.body.len, ==, 0);
	CHECK_HEADER(&r, "Content-Security-Policy", WEB_CSP);
	reply_release(&r);
	buf_release(&want);
}

static void test_assets(void)
{
	struct http_api *h = start_server("127.0.0.1:0");
	struct reply r;

	REQUIRE(h);
	port = http_api__port(h);
	check_asset("/", "index.html", "text/html; charset=utf-8");
	check_asset("/ui/app.js", "app.js", "text/javascript; charset=utf-8");
	check_asset("/ui/app.css", "app.css", "text/css; charset=utf-8");
	check_asset("/ui/timeline.js", "timeline.js", "text/javascript; charset=utf-8");
	CHECK(web__asset("/ui/nope.js", &(size_t){ 0 }) == NULL);

	get("/ui/nope.js", &r);
	CHECK_INT(r.status, ==, 404);
	reply_release(&r);
	http_request("127.0.0.1", port, "POST", "/", &r);
	CHECK_INT(r.status, ==, 405);
	CHECK_HEADER(&r, "Allow", "GET, HEAD");
	reply_release(&r);
	http_api__stop(h);
}

/* The page loads nothing from another origin: no absolute URL in a src or
 * href, no inline script or style (the CSP would block them anyway). */
static void test_self_contained(void)
{
	size_t len;
	const char *html = (const char *)web__asset("/", &len);

	REQUIRE(html);
	CHECK(!strstr(html, "src=\"http"));
	CHECK(!strstr(html, "href=\"http"));
	CHECK(!strstr(html, "//cdn"));
	CHECK(strstr(html, "<script src=\"/ui/app.js\""));
	CHECK(strstr(html, "href=\"/ui/app.css\""));
	CHECK(!strstr(html, " style=\""));
}

TEST_MAIN(setup, http_test_teardown,
	  TEST_CASE(assets),
	  TEST_CASE(self_contained),
	  TEST_CASE(write_page),
	  TEST_CASE(saved_page))
