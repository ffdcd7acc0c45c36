#include "symbolize/demangle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

bool demangle__is_mangled(const char *name)
{
	/* _Z: Itanium C++ and Rust legacy (GCC's clones append ".cold",
	 * ".isra.0"... which the demangler prints as [clone ...]);
	 * _R: Rust v0. Anything else (C, Go, "main") is left alone. */
	return name && name[0] == '_' && (name[1] == 'Z' || name[1] == 'R');
}

char *demangle__name(const char *name)
{
	char *out;

	if (!demangle__is_mangled(name)) {
		errno = EINVAL;
		return NULL;
	}
	/* No DMGL_VERBOSE: Rust names lose their hash as rustfilt and perf
	 * print them; DMGL_AUTO tries C++ first, then Rust (both schemes). */
	errno = 0;
	out = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (!out) {
		/* libiberty returns NULL both for names it cannot read and
		 * when malloc fails; only the latter sets errno */
		if (errno != ENOMEM)
			errno = EINVAL;
		return NULL;
	}
	if (strlen(out) > DEMANGLE_MAX_LEN)
		out[DEMANGLE_MAX_LEN] = '\0';
	return out;
}
