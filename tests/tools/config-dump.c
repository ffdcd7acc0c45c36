/* Prints the settings table of agent/config.c, one setting a line, for
 * tests/unit/config-docs.py: KEY <tab> DEFAULT ("none": unset) <tab> FLAGS (space-separated,
 * "-" when file only) <tab> reload|restart. */
#include <stdio.h>

#include "agent/config.h"

int main(void)
{
	size_t n;
	const struct config_setting *s = config__settings(&n);

	for (size_t i = 0; i < n; i++) {
		const char *def = s[i].def_doc ? s[i].def_doc : s[i].def ? s[i].def : "none";
		int flags = 0;

		printf("%s\t%s\t", s[i].key, def);
		if (s[i].short_flag)
			flags += printf("-%c ", s[i].short_flag);
		if (s[i].flag)
			flags += printf("--%s ", s[i].flag);
		if (s[i].switch_flag)
			flags += printf("--%s ", s[i].switch_flag);
		printf("%s\t%s\n", flags ? "" : "-", s[i].reloadable ? "reload" : "restart");
	}
	return 0;
}
