/* cli_output: the profile file a command writes (brasa capture, brasa
 * history export): its format — a core/pprof_format.h one, or html (the
 * flame graph page with the profile in it, serve/web.h) — and where.
 *
 *   cli_output__init(o, title)        pprof to the default path
 *   cli_output__format(o, name)       --format NAME; 0 or -EINVAL (logged)
 *   cli_output__ready(o)              picks the default path (stdout for
 *                                     folded, profile.pb.gz, profile.svg,
 *                                     ...), refuses binary pprof on a
 *                                     terminal: EXIT_OK or EXIT_USAGE
 *                                     (logged)
 *   cli_output__write(o, p)           encodes p and writes it (atomically
 *                                     for a file): EXIT_OK or
 *                                     EXIT_FAILURE_RUNTIME (logged)
 */
#ifndef BRASA_AGENT_CLI_OUTPUT_H
#define BRASA_AGENT_CLI_OUTPUT_H

#include <stdbool.h>

#include "core/pprof.h"
#include "core/pprof_format.h"

struct cli_output {
	struct pprof_output how;
	bool html;
	const char *path; /* -o; NULL: the format's default */
};

void cli_output__init(struct cli_output *o, const char *title);
int cli_output__format(struct cli_output *o, const char *name);
int cli_output__ready(struct cli_output *o);
int cli_output__write(const struct cli_output *o, struct pprof *p);

#endif
