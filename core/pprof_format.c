/* A finished profile in the form asked for, by name (core/pprof_format.h). */
#include "core/pprof_format.h"

#include <errno.h>
#include <string.h>

#include "common/macros.h"
#include "core/pprof_flame.h"

const char *const pprof_format_names[PPROF_FORMATS] = {
	[PPROF_FORMAT_PPROF] = "pprof",
	[PPROF_FORMAT_FOLDED] = "folded",
	[PPROF_FORMAT_JSON] = "json",
	[PPROF_FORMAT_SVG] = "svg",
	[PPROF_FORMAT_SPEEDSCOPE] = "speedscope",
};

int pprof_format__from_name(const char *name, enum pprof_format *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(pprof_format_names); i++) {
		if (!strcmp(name, pprof_format_names[i])) {
			*f = (enum pprof_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

int pprof__write_as(struct pprof *p, const struct pprof_output *how, struct buf *out)
{
	struct pprof_flame *f = NULL;
	int err;

	switch (how->format) {
	case PPROF_FORMAT_PPROF:
		return pprof__encode(p, out);
	case PPROF_FORMAT_FOLDED:
		return pprof__write_folded(p, out);
	case PPROF_FORMAT_JSON:
	case PPROF_FORMAT_SVG:
	case PPROF_FORMAT_SPEEDSCOPE:
		break;
	default:
		return -EINVAL;
	}
	err = pprof_flame__new(p, &(struct pprof_flame_opts){ .max_nodes = how->max_nodes }, &f);
	if (err)
		return err;
	if (how->format == PPROF_FORMAT_JSON)
		err = pprof_flame__write_json(f, out);
	else if (how->format == PPROF_FORMAT_SVG)
		err = pprof_flame__write_svg(f, how->title, out);
	else
		err = pprof_flame__write_speedscope(f, how->title, out);
	pprof_flame__free(f);
	return err;
}
