/* A flame graph tree as a self-contained SVG (pprof_flame__write_svg):
 * drawn like flamegraph.pl's, root at the bottom, one <g> per frame with a
 * <title> (full name, where, samples, share) a <rect> and a <text> cut to
 * fit; frames narrower than a tenth of a pixel are left out (their parent
 * covers them). It reads in any browser without scripts; the small inline
 * script adds click-to-zoom (Esc or a click on the root resets). */
#include "core/pprof_flame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/utf8.h"
#include "core/pprof_tables.h"

#define SVG_WIDTH 1200
#define SVG_XPAD 10
#define SVG_FRAME_HEIGHT 16
#define SVG_FONT_SIZE 12
#define SVG_FONT_WIDTH 0.59 /* of the font size, an average Verdana glyph */
#define SVG_MIN_WIDTH 0.1   /* pixels */
#define SVG_TOP (SVG_FONT_SIZE * 4)
#define SVG_BOTTOM (SVG_FONT_SIZE * 2 + 10)

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char svg_script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"(function () {\n"
	"  var W = " STRINGIFY(SVG_WIDTH) ", P = " STRINGIFY(SVG_XPAD) ";\n"
	"  var C = " STRINGIFY(SVG_FONT_SIZE) " * " STRINGIFY(SVG_FONT_WIDTH) ";\n"
	"  var frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));\n"
	"  function label(g, w) {\n"
	"    var name = g.querySelector('title').textContent.split('\\n')[0];\n"
	"    var fit = Math.floor((w - 6) / C);\n"
	"    g.querySelector('text').textContent = fit < 3 ? '' :\n"
	"      name.length <= fit ? name : name.slice(0, fit - 2) + '..';\n"
	"  }\n"
	"  function zoom(z) {\n"
	"    var x0 = z ? +z.dataset.x : 0, w0 = z ? +z.dataset.w : 1;\n"
	"    var d0 = z ? +z.dataset.d : 0, e = 1e-12;\n"
	"    frames.forEach(function (g) {\n"
	"      var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;\n"
	"      var under = d >= d0 && x >= x0 - e && x + w <= x0 + w0 + e;\n"
	"      var above = d < d0 && x <= x0 + e && x + w >= x0 + w0 - e;\n"
	"      g.style.display = under || above ? '' : 'none';\n"
	"      if (!under && !above) return;\n"
	"      var nx = P + (above ? 0 : (x - x0) / w0) * (W - 2 * P);\n"
	"      var nw = (above ? 1 : w / w0) * (W - 2 * P);\n"
	"      var r = g.querySelector('rect');\n"
	"      r.setAttribute('x', nx); r.setAttribute('width', nw);\n"
	"      g.querySelector('text').setAttribute('x', nx + 3);\n"
	"      g.style.opacity = above && z ? 0.6 : 1;\n"
	"      label(g, nw);\n"
	"    });\n"
	"  }\n"
	"  document.addEventListener('click', function (ev) {\n"
	"    var g = ev.target.closest ? ev.target.closest('g.f') : null;\n"
	"    zoom(g && +g.dataset.d > 0 ? g : null);\n"
	"  });\n"
	"  document.addEventListener('keydown', function (ev) {\n"
	"    if (ev.key === 'Escape') zoom(null);\n"
	"  });\n"
	"})();\n"
	"]]></script>\n";

/* The characters of s: a byte that is not UTF-8 counts as one. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; chars++)
		i += MAX(utf8_seq_len((const uint8_t *)s + i, n - i), (size_t)1);
	return chars;
}

/* Appends s as XML text, markup characters as entities, control
 * characters (not allowed in XML 1.0) and bytes that are not UTF-8 as
 * '?'; past max characters, cut to max - 2 and "..". */
static int xml_text(struct buf *out, const char *s, size_t max)
{
	size_t n = strlen(s), keep = SIZE_MAX;
	int err = 0;

	if (max != SIZE_MAX && utf8_chars(s, n) > max)
		keep = max > 2 ? max - 2 : 0;
	for (size_t i = 0, chars = 0; !err && i < n && chars < keep; chars++) {
		const uint8_t *c = (const uint8_t *)s + i;
		size_t len = utf8_seq_len(c, n - i);

		if (!len || (len == 1 && (*c < 0x20 || *c == 0x7f))) {
			err = LIT(out, "?");
			i += len ? len : 1;
			continue;
		}
		switch (*c) {
		case '&': err = LIT(out, "&amp;"); break;
		case '<': err = LIT(out, "&lt;"); break;
		case '>': err = LIT(out, "&gt;"); break;
		case '"': err = LIT(out, "&quot;"); break;
		case '\'': err = LIT(out, "&#39;"); break;
		default: err = buf_append(out, c, len);
		}
		i += len;
	}
	if (!err && keep != SIZE_MAX)
		err = LIT(out, "..");
	return err;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* flamegraph.pl's palettes by kind, varied by the name so that
 * neighbours differ and a function keeps its color. */
static void frame_color(const struct pprof_flame *f, size_t i, unsigned rgb[3])
{
	uint32_t h = name_hash(f->strings[f->name[i]]);
	unsigned a = h % 256, b = (h >> 8) % 256, c = (h >> 16) % 256;

	switch (f->kind[i]) {
	case PPROF_FLAME_ROOT:
		rgb[0] = rgb[1] = rgb[2] = 200;
		break;
	case PPROF_FLAME_PROCESS:
		rgb[0] = 100 + a % 40, rgb[1] = 150 + b % 40, rgb[2] = 210 + c % 40;
		break;
	case PPROF_FLAME_KERNEL:
		rgb[0] = 230 + a % 25, rgb[1] = 130 + b % 50, rgb[2] = 30 + c % 30;
		break;
	case PPROF_FLAME_JIT:
		rgb[0] = 50 + a % 60, rgb[1] = 180 + b % 55, rgb[2] = 50 + c % 60;
		break;
	case PPROF_FLAME_UNSYMBOLIZED:
		rgb[0] = rgb[1] = rgb[2] = 170 + a % 40;
		break;
	default:
		rgb[0] = 205 + a % 50, rgb[1] = b % 230, rgb[2] = c % 55;
	}
}

static int frame_title(struct buf *out, const struct pprof_flame *f, size_t i, int64_t period)
{
	const int64_t total = f->total[0] ? f->total[0] : 1;
	int err;

	err = xml_text(out, f->strings[f->name[i]], SIZE_MAX);
	if (!err && f->lib[i]) {
		err = LIT(out, " [");
		if (!err)
			err = xml_text(out, f->strings[f->lib[i]], SIZE_MAX);
		if (!err)
			err = LIT(out, "]");
	}
	if (!err && f->file[i]) {
		err = LIT(out, "\n");
		if (!err)
			err = xml_text(out, f->strings[f->file[i]], SIZE_MAX);
		if (!err && f->line[i] > 0)
			err = buf_printf(out, ":%" PRId64, f->line[i]);
	}
	if (!err)
		err = buf_printf(out, "\n%" PRId64 " samples, %.2f ms, %.2f%%", f->total[i] / period,
				 (double)f->total[i] / 1e6, 100.0 * (double)f->total[i] / (double)total);
	return err;
}

static int write_frames(const struct pprof_flame *f, const double *x, const uint32_t *depth,
			uint32_t max_depth, struct buf *out)
{
	const double scale = (double)(SVG_WIDTH - 2 * SVG_XPAD) / (double)(f->total[0] ? f->total[0] : 1);
	const int64_t period = f->samples && f->total[0] / f->samples ? f->total[0] / f->samples : 1;
	int err = 0;

	for (size_t i = 0; !err && i < f->n; i++) {
		double w = (double)f->total[i] * scale, px = SVG_XPAD + x[i] * scale;
		double y = SVG_TOP + (double)(max_depth - depth[i]) * SVG_FRAME_HEIGHT;
		unsigned rgb[3];

		if (w < SVG_MIN_WIDTH && i)
			continue;
		frame_color(f, i, rgb);
		err = buf_printf(out, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%u\">"
				 "<title>", f->total[0] ? x[i] / (double)f->total[0] : 0,
				 f->total[0] ? (double)f->total[i] / (double)f->total[0] : 1, depth[i]);
		if (!err)
			err = frame_title(out, f, i, period);
		if (!err)
			err = buf_printf(out, "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
					 "height=\"%d\" fill=\"rgb(%u,%u,%u)\" rx=\"2\" ry=\"2\"/>"
					 "<text x=\"%.2f\" y=\"%.1f\">", px, y, w, SVG_FRAME_HEIGHT - 1,
					 rgb[0], rgb[1], rgb[2], px + 3, y + SVG_FRAME_HEIGHT - 4.5);
		if (!err) {
			double fit = (w - 6) / (SVG_FONT_SIZE * SVG_FONT_WIDTH);

			if (fit >= 3)
				err = xml_text(out, f->strings[f->name[i]], (size_t)fit);
		}
		if (!err)
			err = LIT(out, "</text></g>\n");
	}
	return err;
}

int pprof_flame__write_svg(const struct pprof_flame *f, const char *title, struct buf *out)
{
	_cleanup_free_ double *x = calloc(f->n + 1, sizeof(*x));
	_cleanup_free_ double *next = calloc(f->n + 1, sizeof(*next));
	_cleanup_free_ uint32_t *depth = calloc(f->n + 1, sizeof(*depth));
	const double min_total = (double)f->total[0] * SVG_MIN_WIDTH / (SVG_WIDTH - 2 * SVG_XPAD);
	size_t start = out->len;
	uint32_t max_depth = 0;
	int height, err;

	if (!x || !next || !depth)
		return -ENOMEM;
	/* preorder: a parent is placed before its children, which line up
	 * from its left edge */
	for (size_t i = 1; i < f->n; i++) {
		int32_t parent = f->parent[i];

		x[i] = next[parent];
		next[parent] += (double)f->total[i];
		next[i] = x[i];
		depth[i] = depth[parent] + 1;
		if ((double)f->total[i] >= min_total)
			max_depth = MAX(max_depth, depth[i]);
	}
	height = SVG_TOP + (int)(max_depth + 1) * SVG_FRAME_HEIGHT + SVG_BOTTOM;

	err = buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
			 "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
			 "xmlns=\"http://www.w3.org/2000/svg\">\n"
			 "<style>text { font-family: Verdana, sans-serif; font-size: %dpx; "
			 "fill: #000; pointer-events: none; } g.f { cursor: pointer; } "
			 "g.f:hover rect { stroke: #000; stroke-width: 0.5; } "
			 "text.h { font-size: %dpx; }</style>\n"
			 "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f8\"/>\n"
			 "<text class=\"h\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
			 SVG_WIDTH, height, SVG_WIDTH, height, SVG_FONT_SIZE, SVG_FONT_SIZE + 5,
			 SVG_WIDTH / 2, SVG_FONT_SIZE * 2);
	if (!err)
		err = xml_text(out, title ? title : "Flame Graph", SIZE_MAX);
	if (!err)
		err = buf_printf(out, "</text>\n<text x=\"%d\" y=\"%d\">%" PRId64 " samples, "
				 "%.3f s on CPU%s. Click a frame to zoom, Esc to reset.</text>\n",
				 SVG_XPAD, height - SVG_FONT_SIZE, f->samples,
				 (double)f->total[0] / 1e9,
				 f->truncated ? " (the narrowest frames merged into their parent)"
					      : "");
	if (!err)
		err = write_frames(f, x, depth, max_depth, out);
	if (!err)
		err = buf_append(out, svg_script, strlen(svg_script));
	if (!err)
		err = LIT(out, "</svg>\n");
	if (err)
		out->len = start;
	return err;
}
