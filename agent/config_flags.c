/* config_flags: the settings' flags (see config.h): getopt_long over a
 * table built from the settings table, and the option lines of --help. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/config_internal.h"
#include "common/macros.h"

/* A flag's NAME=VALUE or 'Name: value'. */
static int add_flag_entry(struct config *c, const struct config_setting *s, const char *arg,
			  char *err, size_t errlen)
{
	char sep = s->type == CONFIG_LABELS ? '=' : ':';
	const char *at = strchr(arg, sep), *value;
	_cleanup_free_ char *name = NULL;
	size_t vlen;

	if (!at) {
		char expect[256];

		config_expectation(s, expect, sizeof(expect));
		return config_errf(err, errlen, "%s", expect);
	}
	name = strndup(arg, (size_t)(at - arg));
	if (!name)
		return config_errf(err, errlen, "out of memory"), -ENOMEM;
	value = at + 1;
	if (s->type == CONFIG_HEADERS) {
		_cleanup_free_ char *trimmed = NULL;

		/* "Name: value": the space is not part of the value */
		value += strspn(value, " \t");
		vlen = strlen(value);
		while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			vlen--;
		trimmed = strndup(value, vlen);
		if (!trimmed)
			return config_errf(err, errlen, "out of memory"), -ENOMEM;
		return config_add_entry(c, s, name, trimmed, err, errlen);
	}
	return config_add_entry(c, s, name, value, err, errlen);
}

enum {
	OPT_HELP = 256,
	OPT_CONFIG,
	OPT_SETTING, /* + 2 * index, + 1 for the switch flag */
};

/* The getopt_long table: --config, --help and every setting's flags. */
static void build_options(struct option *opts, char *shortopts)
{
	size_t n = 0, nsettings;
	const struct config_setting *settings = config__settings(&nsettings);
	char *sp = shortopts;

	/* ':' first: getopt reports a missing value as ':' and prints nothing */
	*sp++ = ':';
	*sp++ = 'h';
	opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	for (size_t i = 0; i < nsettings; i++) {
		const struct config_setting *s = &settings[i];

		if (s->flag)
			opts[n++] = (struct option){ s->flag, required_argument, NULL,
						     OPT_SETTING + 2 * (int)i };
		if (s->switch_flag)
			opts[n++] = (struct option){ s->switch_flag, no_argument, NULL,
						     OPT_SETTING + 2 * (int)i + 1 };
		if (s->short_flag) {
			*sp++ = s->short_flag;
			*sp++ = ':';
		}
	}
	*sp = 0;
	opts[n] = (struct option){ 0 };
}

static const struct config_setting *short_setting(int opt)
{
	size_t n;
	const struct config_setting *settings = config__settings(&n);

	for (size_t i = 0; i < n; i++)
		if (settings[i].short_flag && settings[i].short_flag == opt)
			return &settings[i];
	return NULL;
}

/* The option as the user wrote it, without "=value". */
static void option_text(char **argv, char *out, size_t len)
{
	const char *arg = argv[optind - 1];

	snprintf(out, len, "%.*s", (int)strcspn(arg, "="), arg);
}

/* Both passes: c NULL only checks the syntax and collects cmdline. */
static int parse_args(struct config *c, struct config_cmdline *cmdline, int argc, char **argv,
		      char *err, size_t errlen)
{
	size_t nsettings;
	const struct config_setting *settings = config__settings(&nsettings);
	struct option opts[2 * CONFIG_MAX_SETTINGS + 3];
	char shortopts[2 * CONFIG_MAX_SETTINGS + 4], text[128], msg[512];
	int opt, saved_opterr = opterr, rc = 0;

	build_options(opts, shortopts);
	opterr = 0;
	/* 0, not 1: glibc then forgets its state from an earlier scan */
	optind = 0;
	while (!rc && (opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		const struct config_setting *s = NULL;
		bool is_switch = false;

		if (opt == '?') {
			option_text(argv, text, sizeof(text));
			if (optopt >= OPT_HELP)
				rc = config_errf(err, errlen, "option '%s' takes no value", text);
			else if (optopt)
				rc = config_errf(err, errlen, "invalid option '-%c'", optopt);
			else
				rc = config_errf(err, errlen, "unrecognized option '%s'", text);
			break;
		}
		if (opt == ':') {
			option_text(argv, text, sizeof(text));
			rc = config_errf(err, errlen, "option '%s' needs a value", text);
			break;
		}
		if (opt == 'h' || opt == OPT_HELP) {
			if (cmdline)
				cmdline->help = true;
			continue;
		}
		if (opt == OPT_CONFIG) {
			if (cmdline)
				cmdline->config_path = optarg;
			continue;
		}
		if (opt >= OPT_SETTING) {
			s = &settings[(opt - OPT_SETTING) / 2];
			is_switch = (opt - OPT_SETTING) % 2;
		} else {
			s = short_setting(opt);
		}
		if (!s || !c)
			continue;
		if (is_switch) {
			rc = config_set_scalar(c, s, s->switch_value, msg, sizeof(msg));
		} else if (s->type == CONFIG_LABELS || s->type == CONFIG_HEADERS) {
			rc = add_flag_entry(c, s, optarg, msg, sizeof(msg));
		} else {
			rc = config_set_scalar(c, s, optarg, msg, sizeof(msg));
		}
		if (rc == -EINVAL)
			config_errf(err, errlen, "invalid --%s '%.*s': %s", s->flag,
				    CONFIG_QUOTE_MAX, optarg, msg);
		else if (rc)
			config_errf(err, errlen, "%s", msg);
		else
			c->origin[config_setting_index(s)] = CONFIG_FROM_FLAG;
	}
	if (!rc && optind < argc)
		rc = config_errf(err, errlen, "unexpected argument '%.*s'", CONFIG_QUOTE_MAX,
				 argv[optind]);
	opterr = saved_opterr;
	return rc;
}

int config__scan_args(int argc, char **argv, struct config_cmdline *out, char *err,
		      size_t errlen)
{
	*out = (struct config_cmdline){ 0 };
	return parse_args(NULL, out, argc, argv, err, errlen);
}

int config__apply_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	return parse_args(c, NULL, argc, argv, err, errlen);
}

#define HELP_COLUMN 29
#define HELP_WIDTH 79

static void help_line(FILE *f, const char *left, const char *text)
{
	int col = fprintf(f, "%s", left);
	const char *p = text;

	if (col >= HELP_COLUMN - 1) {
		fputc('\n', f);
		col = 0;
	}
	fprintf(f, "%*s", HELP_COLUMN - col, "");
	col = HELP_COLUMN;
	/* word-wrap the text into the right-hand column */
	while (*p) {
		size_t word = strcspn(p, " ");

		if (col > HELP_COLUMN && col + 1 + (int)word > HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_COLUMN, "");
			col = HELP_COLUMN;
		} else if (col > HELP_COLUMN) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)word, p);
		col += (int)word;
		p += word;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

void config__help(FILE *f)
{
	size_t n;
	const struct config_setting *settings = config__settings(&n);
	char left[128], text[512];

	help_line(f, "      --config FILE", "read settings from this YAML file; flags win over "
					     "it (see docs/configuration.md)");
	for (size_t i = 0; i < n; i++) {
		const struct config_setting *s = &settings[i];

		if (s->flag) {
			if (s->short_flag)
				snprintf(left, sizeof(left), "  -%c, --%s %s", s->short_flag, s->flag,
					 s->metavar);
			else
				snprintf(left, sizeof(left), "      --%s %s", s->flag, s->metavar);
			if (s->def)
				snprintf(text, sizeof(text), "%s (default %s)", s->help, s->def);
			else
				snprintf(text, sizeof(text), "%s", s->help);
			help_line(f, left, text);
		}
		if (s->switch_flag) {
			snprintf(left, sizeof(left), "      --%s", s->switch_flag);
			help_line(f, left, s->switch_help ? s->switch_help : s->help);
		}
	}
	help_line(f, "  -h, --help", "show this help");
}
