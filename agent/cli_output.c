#include "agent/cli_output.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/cli.h"
#include "common/buf.h"
#include "common/log.h"
#include "core/output.h"
#include "serve/web.h"

static const char *const default_path[PPROF_FORMATS] = {
	[PPROF_FORMAT_PPROF] = "profile.pb.gz",
	[PPROF_FORMAT_FOLDED] = "-",
	[PPROF_FORMAT_JSON] = "profile.json",
	[PPROF_FORMAT_SVG] = "profile.svg",
	[PPROF_FORMAT_SPEEDSCOPE] = "profile.speedscope.json",
};

void cli_output__init(struct cli_output *o, const char *title)
{
	/* every node: a file is read at leisure; the SVG leaves out what is
	 * too narrow to draw */
	*o = (struct cli_output){ .how = { .format = PPROF_FORMAT_PPROF, .title = title } };
}

int cli_output__format(struct cli_output *o, const char *name)
{
	/* html: the page (serve/web) around the json document */
	o->html = !strcmp(name, "html");
	if (o->html) {
		o->how.format = PPROF_FORMAT_JSON;
		return 0;
	}
	if (pprof_format__from_name(name, &o->how.format)) {
		log_error("invalid --format '%s': expected pprof, folded, svg, speedscope, json "
			  "or html", name);
		return -EINVAL;
	}
	return 0;
}

int cli_output__ready(struct cli_output *o)
{
	if (!o->path)
		o->path = o->html ? "profile.html" : default_path[o->how.format] ?: "-";
	if (o->how.format == PPROF_FORMAT_PPROF && !strcmp(o->path, "-") && isatty(STDOUT_FILENO)) {
		log_error("refusing to write a binary profile to a terminal: use -o FILE or "
			  "redirect stdout");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int cli_output__write(const struct cli_output *o, struct pprof *p)
{
	struct buf out = { 0 }, json = { 0 };
	int err = p ? pprof__write_as(p, &o->how, o->html ? &json : &out) : -ENOMEM;

	if (!err && o->html)
		err = web__write_page((const char *)json.data, json.len, &out);
	if (err)
		log_error("failed to encode the profile: %s", strerror(-err));
	else if ((err = output__write(o->path, out.data, out.len)))
		log_error("failed to write '%s': %s", o->path, strerror(-err));
	else if (strcmp(o->path, "-"))
		log_info("wrote %zu distinct stacks to '%s'", pprof__sample_count(p), o->path);
	buf_release(&out);
	buf_release(&json);
	return err ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}
