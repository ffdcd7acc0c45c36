/* matcher: Prometheus label selectors (see matcher.h). The syntax is
 * PromQL's vector selector without a metric name; strings are unquoted
 * as PromQL's lexer and Go's strconv.Unquote do. */
#include "labels/matcher.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/utf8.h"
#include "labels/prom_regex.h"

enum matcher_op { OP_EQ, OP_NE, OP_RE, OP_NRE };

struct label_matcher {
	enum matcher_op op;
	char *name;
	char *value;
	struct prom_regex *rx; /* OP_RE, OP_NRE */
};

struct matcher {
	struct label_matcher *v;
	size_t n;
};

struct matcher_set {
	struct matcher *v[MATCHER_MAX_SELECTORS];
	size_t n;
};

/* The text being parsed, and where the error message goes. */
struct cursor {
	const char *s;
	size_t len, i;
	char *err;
	size_t errlen;
};

static int fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void skip_space(struct cursor *c)
{
	while (c->i < c->len && c->s[c->i] && strchr(" \t\n\r", c->s[c->i]))
		c->i++;
}

static bool is_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ch >= '0' && ch <= '9');
}

/* What is at the cursor, for messages: "end of selector" or the
 * character (escaped when it is not printable ASCII). */
static const char *what_here(const struct cursor *c, char buf[16])
{
	unsigned char ch;

	if (c->i >= c->len)
		return "end of selector";
	ch = (unsigned char)c->s[c->i];
	if (ch > 0x20 && ch < 0x7f && ch != '\'')
		snprintf(buf, 16, "'%c'", ch);
	else
		snprintf(buf, 16, "byte 0x%02x", ch);
	return buf;
}

/* The value of the n hex digits at s, or -1. */
static int64_t hex_n(const char *s, size_t n)
{
	int64_t v = 0;

	for (size_t k = 0; k < n; k++) {
		int d = parse_hex_digit(s[k]);

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* One escape after a '\' at c->i (which points past it) in a string
 * quoted with q, appended to out. */
static int unescape(struct cursor *c, char q, struct buf *out)
{
	static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\";
	size_t at = c->i - 1, need = 0;
	char ch, one;
	int64_t v;

	if (c->i >= c->len)
		return fail(c, "unterminated string at offset %zu", at);
	ch = c->s[c->i];
	for (size_t k = 0; simple[k]; k += 2) {
		if (simple[k] == ch) {
			c->i++;
			one = simple[k + 1];
			return buf_append(out, &one, 1);
		}
	}
	if (ch == q) {
		c->i++;
		return buf_append(out, &q, 1);
	}
	if (ch >= '0' && ch <= '7') {
		v = 0;
		for (size_t k = 0; k < 3; k++) {
			if (c->i + k >= c->len || c->s[c->i + k] < '0' || c->s[c->i + k] > '7')
				return fail(c, "bad octal escape at offset %zu", at);
			v = v * 8 + (c->s[c->i + k] - '0');
		}
		if (v > 255)
			return fail(c, "bad octal escape at offset %zu", at);
		c->i += 3;
		one = (char)v;
		return buf_append(out, &one, 1);
	}
	need = ch == 'x' ? 2 : ch == 'u' ? 4 : ch == 'U' ? 8 : 0;
	if (!need) {
		char here[16];

		return fail(c, "unknown escape %s at offset %zu", what_here(c, here), at);
	}
	if (c->len - c->i - 1 < need || (v = hex_n(c->s + c->i + 1, need)) < 0)
		return fail(c, "bad \\%c escape at offset %zu", ch, at);
	c->i += 1 + need;
	if (ch == 'x') {
		one = (char)v;
		return buf_append(out, &one, 1);
	}
	if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
		return fail(c, "escape \\%c of an invalid code point at offset %zu", ch, at);
	{
		char rune[4];

		return buf_append(out, rune, utf8_encode((uint32_t)v, rune));
	}
}

/* A quoted string at the cursor into out (NUL-terminated). */
static int parse_string(struct cursor *c, struct buf *out)
{
	size_t at = c->i;
	char q;
	int err;

	buf_reset(out);
	if (c->i >= c->len || !c->s[c->i] || !strchr("\"'`", c->s[c->i])) {
		char here[16];

		return fail(c, "expected a quoted string at offset %zu, found %s", c->i,
			    what_here(c, here));
	}
	q = c->s[c->i++];
	for (;;) {
		char ch;

		if (c->i >= c->len)
			return fail(c, "unterminated string at offset %zu", at);
		ch = c->s[c->i];
		if (ch == q) {
			c->i++;
			break;
		}
		if (ch == '\n' && q != '`')
			return fail(c, "newline in string at offset %zu", c->i);
		if (ch == '\\' && q != '`') {
			c->i++;
			err = unescape(c, q, out);
		} else {
			c->i++;
			err = buf_append(out, &ch, 1);
		}
		if (err)
			return err;
	}
	if (out->len && memchr(out->data, 0, out->len))
		return fail(c, "NUL byte in string at offset %zu", at);
	err = buf_reserve(out, 1);
	if (err)
		return err;
	out->data[out->len] = 0;
	return 0;
}

static void label_matcher_release(struct label_matcher *lm)
{
	free(lm->name);
	free(lm->value);
	prom_regex__free(lm->rx);
}

void matcher__free(struct matcher *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		label_matcher_release(&m->v[i]);
	free(m->v);
	free(m);
}

DEFINE_CLEANUP(struct matcher, matcher__free)

/* name OP "value" at the cursor, into lm. */
static int parse_one(struct cursor *c, struct label_matcher *lm, struct buf *str)
{
	static const struct {
		const char *text;
		enum matcher_op op;
	} ops[] = { { "!=", OP_NE }, { "=~", OP_RE }, { "!~", OP_NRE }, { "=", OP_EQ } };
	size_t start = c->i, k;
	char here[16];
	int err;

	while (c->i < c->len && is_name_char(c->s[c->i], c->i == start))
		c->i++;
	if (c->i == start)
		return fail(c, "expected a label name at offset %zu, found %s", start,
			    what_here(c, here));
	lm->name = strndup(c->s + start, c->i - start);
	if (!lm->name)
		return -ENOMEM;
	skip_space(c);
	for (k = 0; k < ARRAY_SIZE(ops); k++) {
		size_t n = strlen(ops[k].text);

		if (c->len - c->i >= n && !memcmp(c->s + c->i, ops[k].text, n)) {
			lm->op = ops[k].op;
			c->i += n;
			break;
		}
	}
	if (k == ARRAY_SIZE(ops))
		return fail(c, "expected =, !=, =~ or !~ after label %s at offset %zu, found %s",
			    lm->name, c->i, what_here(c, here));
	skip_space(c);
	err = parse_string(c, str);
	if (err)
		return err;
	lm->value = strdup((const char *)str->data);
	if (!lm->value)
		return -ENOMEM;
	if (lm->op == OP_RE || lm->op == OP_NRE)
		return prom_regex__compile(lm->value, &lm->rx, c->err, c->errlen);
	return 0;
}

int matcher__parse(const char *s, size_t len, struct matcher **out, char *err, size_t errlen)
{
	_cleanup_(cleanup_matcher__free) struct matcher *m = NULL;
	struct cursor c = { .s = s, .len = len, .err = err, .errlen = errlen };
	struct buf str = { 0 };
	char here[16];
	int rc = 0;

	if (err && errlen)
		err[0] = 0;
	if (len > MATCHER_MAX_BYTES)
		return fail(&c, "selector longer than %d bytes", MATCHER_MAX_BYTES);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	skip_space(&c);
	if (c.i >= len || s[c.i] != '{')
		return fail(&c, "expected '{' at offset %zu, found %s", c.i, what_here(&c, here));
	c.i++;
	for (;;) {
		skip_space(&c);
		if (c.i < len && s[c.i] == '}')
			break;
		if (m->n == MATCHER_MAX_MATCHERS) {
			rc = fail(&c, "more than %d label matchers in a selector",
				  MATCHER_MAX_MATCHERS);
			goto out;
		}
		if (!m->v && !(m->v = calloc(MATCHER_MAX_MATCHERS, sizeof(*m->v)))) {
			rc = -ENOMEM;
			goto out;
		}
		/* counted before parsing: a half-parsed one is released too */
		rc = parse_one(&c, &m->v[m->n++], &str);
		if (rc)
			goto out;
		skip_space(&c);
		if (c.i < len && s[c.i] == ',') {
			c.i++;
			continue;
		}
		if (c.i < len && s[c.i] == '}')
			break;
		rc = fail(&c, "expected ',' or '}' at offset %zu, found %s", c.i,
			  what_here(&c, here));
		goto out;
	}
	c.i++;
	skip_space(&c);
	if (c.i < len)
		rc = fail(&c, "unexpected %s after '}' at offset %zu", what_here(&c, here), c.i);
out:
	buf_release(&str);
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	if (rc)
		return rc;
	*out = TAKE_PTR(m);
	return 0;
}

static bool holds(struct label_matcher *lm, const struct labels *ls)
{
	const char *v = ls ? labels__get(ls, lm->name) : NULL;
	int rc;

	if (!v)
		v = ""; /* as in Prometheus: an absent label is empty */
	switch (lm->op) {
	case OP_EQ:
		return !strcmp(v, lm->value);
	case OP_NE:
		return strcmp(v, lm->value) != 0;
	case OP_RE:
	case OP_NRE:
		rc = prom_regex__match(lm->rx, v, strlen(v));
		if (rc < 0)
			return false;
		return (rc == 1) == (lm->op == OP_RE);
	}
	return false;
}

bool matcher__matches(struct matcher *m, const struct labels *ls)
{
	for (size_t i = 0; i < m->n; i++)
		if (!holds(&m->v[i], ls))
			return false;
	return true;
}

int matcher_set__add(struct matcher_set **set, const char *s, size_t len, char *err,
		     size_t errlen)
{
	struct matcher *m;
	int rc;

	if (*set && (*set)->n == MATCHER_MAX_SELECTORS) {
		if (err && errlen)
			snprintf(err, errlen, "more than %d selectors", MATCHER_MAX_SELECTORS);
		return -EINVAL;
	}
	rc = matcher__parse(s, len, &m, err, errlen);
	if (rc)
		return rc;
	if (!*set && !(*set = calloc(1, sizeof(**set)))) {
		matcher__free(m);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	(*set)->v[(*set)->n++] = m;
	return 0;
}

bool matcher_set__matches(struct matcher_set *set, const struct labels *ls)
{
	if (!set)
		return true;
	for (size_t i = 0; i < set->n; i++)
		if (matcher__matches(set->v[i], ls))
			return true;
	return false;
}

size_t matcher_set__count(const struct matcher_set *set)
{
	return set ? set->n : 0;
}

void matcher_set__free(struct matcher_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		matcher__free(set->v[i]);
	free(set);
}
