/* relabel: Prometheus relabel_configs (see relabel.h). Behaviour follows
 * Prometheus's model/relabel (Config.Validate and relabel()) and Go's
 * regexp.Expand for `$` templates; the regexes are prom_regex's (where
 * PCRE2 differs from Go's RE2 the difference is closed there). */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "labels/relabel.h"
#include "labels/prom_regex.h"
#include "common/buf.h"
#include "common/errbuf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/utf8.h"

static const char *const action_names[] = {
	[RELABEL_REPLACE] = "replace",     [RELABEL_KEEP] = "keep",
	[RELABEL_DROP] = "drop",           [RELABEL_KEEPEQUAL] = "keepequal",
	[RELABEL_DROPEQUAL] = "dropequal", [RELABEL_HASHMOD] = "hashmod",
	[RELABEL_LABELMAP] = "labelmap",   [RELABEL_LABELDROP] = "labeldrop",
	[RELABEL_LABELKEEP] = "labelkeep", [RELABEL_LOWERCASE] = "lowercase",
	[RELABEL_UPPERCASE] = "uppercase",
};

/* A $-template parsed once at compile time into literal runs and capture
 * references, so expanding it per process is concatenation only.
 * References that can never be set (unknown name, number past the
 * capture count) expand to "" in Go and are simply left out. */
struct tmpl_seg {
	int group;       /* capture group, or -1 for the literal below */
	size_t off, len; /* literal bytes in tmpl.text */
};

struct tmpl {
	struct buf text;
	struct tmpl_seg *segs;
	size_t nsegs;
};

struct relabel_rule {
	enum relabel_action action;
	char **source;
	size_t nsource;
	char *separator;
	char *target;
	uint64_t modulus;

	struct prom_regex *rx;
	const size_t *ov; /* offsets of the last match, into its subject */

	struct tmpl target_tmpl; /* replace */
	struct tmpl repl_tmpl;   /* replace, labelmap */
	EVP_MD *md5;             /* hashmod */
	locale_t utf8_locale;    /* lowercase/uppercase; 0: ASCII only */

	/* scratch, kept between applications to avoid per-process mallocs */
	struct buf value, name, out;
};

int relabel__parse_action(const char *s, enum relabel_action *out)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(action_names); i++) {
		/* Prometheus lower-cases the YAML value before comparing */
		if (strcasecmp(s, action_names[i]) == 0) {
			*out = (enum relabel_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *relabel__action_name(enum relabel_action a)
{
	if ((unsigned)a >= ARRAY_SIZE(action_names))
		return NULL;
	return action_names[a];
}

bool relabel__can_drop(const struct relabel_rule *r)
{
	return r->action == RELABEL_KEEP || r->action == RELABEL_DROP ||
	       r->action == RELABEL_KEEPEQUAL || r->action == RELABEL_DROPEQUAL;
}

/* ---- names and templates ---- */

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static size_t word_run(const char *s)
{
	size_t n = 0;

	while (is_word(s[n]))
		n++;
	return n;
}

/* Prometheus's relabelTargetLegacy,
 * ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ : word characters and $name /
 * ${name} references, not starting with a digit. Written out by hand
 * because that nested pattern backtracks exponentially in PCRE2 on a
 * near miss such as a long name ending in '-'. */
static bool valid_target_template(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	while (*s) {
		size_t n;

		if (*s != '$') {
			if (!is_word(*s))
				return false;
			s++;
			continue;
		}
		s++;
		if (*s == '{') {
			n = word_run(s + 1);
			if (!n || s[1 + n] != '}')
				return false;
			s += n + 2;
		} else {
			n = word_run(s);
			if (!n)
				return false;
			s += n;
		}
	}
	return true;
}

/* Go's template names are runs of Unicode letters (L), decimal digits
 * (Nd) and '_'. PCRE2 knows the Unicode categories, so non-ASCII runes
 * are classified with a one-class pattern compiled on first need. */
struct name_classifier {
	pcre2_code *re;
	pcre2_match_data *md;
};

static void name_classifier_release(struct name_classifier *nc)
{
	pcre2_match_data_free(nc->md);
	pcre2_code_free(nc->re);
	*nc = (struct name_classifier){ 0 };
}

/* Length of the name rune at s (n bytes left), or 0 if it ends the name;
 * -ENOMEM. */
static int name_rune_len(struct name_classifier *nc, const char *s, size_t n)
{
	uint32_t cp;
	size_t len;
	int rc, errcode;
	PCRE2_SIZE erroff;

	if (!((unsigned char)*s & 0x80))
		return is_word(*s) ? 1 : 0;
	len = utf8_decode((const uint8_t *)s, n, &cp);
	if (!len)
		return 0; /* Go: RuneError is no letter */
	if (!nc->re) {
		nc->re = pcre2_compile((PCRE2_SPTR) "[\\p{L}\\p{Nd}]", PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_ANCHORED, &errcode, &erroff, NULL);
		if (!nc->re)
			return -ENOMEM; /* a fixed pattern: only allocation fails */
		nc->md = pcre2_match_data_create_from_pattern(nc->re, NULL);
		if (!nc->md)
			return -ENOMEM;
	}
	rc = pcre2_match(nc->re, (PCRE2_SPTR)s, len, 0, 0, nc->md, NULL);
	return rc >= 0 ? (int)len : 0;
}

static int tmpl_push(struct tmpl *t, int group, size_t off, size_t len)
{
	struct tmpl_seg *segs = realloc(t->segs, (t->nsegs + 1) * sizeof(*segs));

	if (!segs)
		return -ENOMEM;
	t->segs = segs;
	t->segs[t->nsegs++] = (struct tmpl_seg){ .group = group, .off = off, .len = len };
	return 0;
}

/* Ends the literal run that started at *lit_start, if it has bytes. */
static int tmpl_flush(struct tmpl *t, size_t *lit_start)
{
	int err = 0;

	if (t->text.len > *lit_start)
		err = tmpl_push(t, -1, *lit_start, t->text.len - *lit_start);
	*lit_start = t->text.len;
	return err;
}

/* Group number a $name / ${name} refers to, or -1 for "expands to
 * nothing". As in Go: all digits is a number (no leading zero, below
 * 1e8), anything else a group name. */
static int tmpl_resolve(const struct prom_regex *rx, const char *name, size_t len)
{
	uint32_t ngroups = prom_regex__ngroups(rx);
	uint64_t num = 0;
	bool numeric = true;
	char *copy;
	int group;

	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
			numeric = false;
			break;
		}
		num = num * 10 + (uint64_t)(name[i] - '0');
	}
	if (name[0] == '0' && len > 1)
		numeric = false;
	if (numeric)
		return num < ngroups ? (int)num : -1;
	copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	group = prom_regex__group(rx, copy);
	free(copy);
	/* unknown (or, with (?J), ambiguous) names expand to nothing */
	return group >= 0 && (uint32_t)group < ngroups ? group : -1;
}

/* Parses a Go regexp.Expand template: "$$" is "$", "$name" takes the
 * longest run of name characters ("$1x" is group "1x", not "$1" + "x"),
 * "${name}" is explicit, and a "$" starting neither stays literal. */
static int tmpl_parse(struct tmpl *t, const char *src, const struct prom_regex *rx,
		      struct name_classifier *nc)
{
	size_t n = strlen(src), i = 0, lit_start = 0;
	int err = buf_reserve(&t->text, n);

	if (err)
		return err;
	while (i < n) {
		const char *dollar = memchr(src + i, '$', n - i), *name;
		size_t j, name_len = 0, consumed;
		bool brace;
		int group;

		if (!dollar) {
			err = buf_append(&t->text, src + i, n - i);
			if (err)
				return err;
			break;
		}
		j = (size_t)(dollar - src);
		err = buf_append(&t->text, src + i, j - i);
		if (err)
			return err;
		i = j + 1;
		if (i < n && src[i] == '$') {
			err = buf_append(&t->text, "$", 1);
			if (err)
				return err;
			i++;
			continue;
		}
		brace = i < n && src[i] == '{';
		name = src + i + brace;
		for (;;) {
			int r = name_rune_len(nc, name + name_len, n - (size_t)(name - src) - name_len);

			if (r < 0)
				return r;
			if (r == 0)
				break;
			name_len += (size_t)r;
		}
		consumed = brace + name_len;
		if (name_len && brace) {
			if (name[name_len] == '}')
				consumed++;
			else
				name_len = 0; /* unclosed brace */
		}
		if (!name_len) {
			/* malformed: the "$" is text, scanning resumes after it */
			err = buf_append(&t->text, "$", 1);
			if (err)
				return err;
			continue;
		}
		group = tmpl_resolve(rx, name, name_len);
		if (group < -1)
			return group;
		if (group >= 0) {
			err = tmpl_flush(t, &lit_start);
			if (!err)
				err = tmpl_push(t, group, 0, 0);
			if (err)
				return err;
		}
		i += consumed;
	}
	return tmpl_flush(t, &lit_start);
}

static void tmpl_release(struct tmpl *t)
{
	buf_release(&t->text);
	free(t->segs);
	*t = (struct tmpl){ 0 };
}

/* Expands t against the last match of r on subject into out (NUL-
 * terminated, possibly empty). */
static int tmpl_expand(const struct relabel_rule *r, const struct tmpl *t,
		       const char *subject, struct buf *out)
{
	int err;

	buf_reset(out);
	err = buf_reserve(out, 0); /* data valid even for "" */
	for (size_t i = 0; !err && i < t->nsegs; i++) {
		const struct tmpl_seg *s = &t->segs[i];
		size_t start, end;

		if (s->group < 0) {
			err = buf_append(out, t->text.data + s->off, s->len);
			continue;
		}
		start = r->ov[2 * s->group];
		end = r->ov[2 * s->group + 1];
		if (start != PROM_REGEX_UNSET)
			err = buf_append(out, subject + start, end - start);
	}
	if (!err)
		out->data[out->len] = 0;
	return err;
}

/* ---- matching ---- */

/* 1 if r's regex matches s[0, len) (r->ov then holds the captures'
 * offsets into s), 0 if not, -ENOMEM. */
static int rule_match(struct relabel_rule *r, const char *s, size_t len)
{
	int rc = prom_regex__match(r->rx, s, len);

	if (rc == 1)
		r->ov = prom_regex__ovector(r->rx);
	return rc;
}

/* ---- compile ---- */

#define OOM(err, errlen) errbuf__printf(err, errlen, -ENOMEM, "out of memory")

static bool is_one_of(enum relabel_action a, unsigned mask)
{
	return mask & (1u << a);
}

#define ACT(x) (1u << RELABEL_##x)

/* Prometheus's Config.Validate, in its order and with its messages. */
static int validate(const struct relabel_spec *s, const char *sep, const char *target,
		    const char *repl, uint64_t modulus, char *err, size_t errlen)
{
	enum relabel_action a = s->action;
	const char *name = action_names[a];
	bool templated = strchr(target, '$') != NULL;

	for (size_t i = 0; i < s->nsource; i++) {
		/* Prometheus parses source_labels as label names */
		if (!labels__valid_name(s->source_labels[i]))
			return errbuf__printf(err, errlen, -EINVAL, "\"%s\" is not a valid label name in 'source_labels'",
				    s->source_labels[i] ? s->source_labels[i] : "(null)");
	}
	if (a == RELABEL_HASHMOD && modulus == 0)
		return errbuf__printf(err, errlen, -EINVAL,
			    "relabel configuration for hashmod requires non-zero modulus");
	if (is_one_of(a, ACT(REPLACE) | ACT(HASHMOD) | ACT(LOWERCASE) | ACT(UPPERCASE) |
			 ACT(KEEPEQUAL) | ACT(DROPEQUAL)) && !*target)
		return errbuf__printf(err, errlen, -EINVAL,
			    "relabel configuration for %s action requires 'target_label' value", name);
	if ((a == RELABEL_REPLACE &&
	     (templated ? !valid_target_template(target) : !labels__valid_name(target))) ||
	    (is_one_of(a, ACT(LOWERCASE) | ACT(UPPERCASE) | ACT(KEEPEQUAL) | ACT(DROPEQUAL) | ACT(HASHMOD)) &&
	     !labels__valid_name(target)))
		return errbuf__printf(err, errlen, -EINVAL, "\"%s\" is invalid 'target_label' for %s action",
			    target, name);
	if (is_one_of(a, ACT(LOWERCASE) | ACT(UPPERCASE) | ACT(KEEPEQUAL) | ACT(DROPEQUAL)) &&
	    strcmp(repl, "$1") != 0)
		return errbuf__printf(err, errlen, -EINVAL, "'replacement' can not be set for %s action", name);
	if (a == RELABEL_LABELMAP && !valid_target_template(repl))
		return errbuf__printf(err, errlen, -EINVAL, "\"%s\" is invalid 'replacement' for %s action",
			    repl, name);
	/* Prometheus compares the regex by identity with the default one, so
	 * any regex written at all counts as set */
	if (is_one_of(a, ACT(KEEPEQUAL) | ACT(DROPEQUAL)) &&
	    (s->regex || modulus || strcmp(sep, ";") || strcmp(repl, "$1")))
		return errbuf__printf(err, errlen, -EINVAL,
			    "%s action requires only 'source_labels' and `target_label`, and no other fields",
			    name);
	if (is_one_of(a, ACT(LABELDROP) | ACT(LABELKEEP)) &&
	    (s->nsource || *target || modulus || strcmp(sep, ";") || strcmp(repl, "$1")))
		return errbuf__printf(err, errlen, -EINVAL, "%s action requires only 'regex', and no other fields",
			    name);
	return 0;
}

void relabel__free(struct relabel_rule *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsource; i++)
		free(r->source[i]);
	free(r->source);
	free(r->separator);
	free(r->target);
	prom_regex__free(r->rx);
	tmpl_release(&r->target_tmpl);
	tmpl_release(&r->repl_tmpl);
	EVP_MD_free(r->md5);
	if (r->utf8_locale)
		freelocale(r->utf8_locale);
	buf_release(&r->value);
	buf_release(&r->name);
	buf_release(&r->out);
	free(r);
}

DEFINE_CLEANUP(struct relabel_rule, relabel__free)

int relabel__compile(const struct relabel_spec *s, struct relabel_rule **out,
		     char *err, size_t errlen)
{
	_cleanup_(cleanup_relabel__free) struct relabel_rule *r = NULL;
	struct name_classifier nc = { 0 };
	const char *sep, *target, *repl;
	uint64_t modulus;
	int rc;

	if (err && errlen)
		err[0] = 0;
	if (!s || !out || (s->nsource && !s->source_labels))
		return errbuf__printf(err, errlen, -EINVAL, "invalid relabel spec");
	if (!relabel__action_name(s->action))
		return errbuf__printf(err, errlen, -EINVAL, "unknown relabel action %d", (int)s->action);
	sep = s->separator ? s->separator : ";";
	target = s->target_label ? s->target_label : "";
	repl = s->replacement ? s->replacement : "$1";
	modulus = s->has_modulus ? s->modulus : 0;

	r = calloc(1, sizeof(*r));
	if (!r)
		return OOM(err, errlen);
	r->action = s->action;
	r->modulus = modulus;
	r->separator = strdup(sep);
	r->target = strdup(target);
	if (!r->separator || !r->target)
		return OOM(err, errlen);
	/* Prometheus compiles the regex while parsing, before validating */
	rc = prom_regex__compile(s->regex ? s->regex : "(.*)", &r->rx, err, errlen);
	if (rc)
		return rc;
	rc = validate(s, sep, target, repl, modulus, err, errlen);
	if (rc)
		return rc;

	if (s->nsource) {
		r->source = calloc(s->nsource, sizeof(*r->source));
		if (!r->source)
			return OOM(err, errlen);
		for (; r->nsource < s->nsource; r->nsource++) {
			r->source[r->nsource] = strdup(s->source_labels[r->nsource]);
			if (!r->source[r->nsource])
				return OOM(err, errlen);
		}
	}

	switch (r->action) {
	case RELABEL_REPLACE:
		rc = tmpl_parse(&r->target_tmpl, target, r->rx, &nc);
		if (!rc)
			rc = tmpl_parse(&r->repl_tmpl, repl, r->rx, &nc);
		break;
	case RELABEL_LABELMAP:
		rc = tmpl_parse(&r->repl_tmpl, repl, r->rx, &nc);
		break;
	case RELABEL_HASHMOD:
		r->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
		if (!r->md5)
			rc = errbuf__printf(err, errlen, -EINVAL,
				  "hashmod needs MD5, which libcrypto does not provide here (FIPS mode?)");
		break;
	case RELABEL_LOWERCASE:
	case RELABEL_UPPERCASE:
		/* Go's strings.ToLower/ToUpper map all of Unicode; glibc's
		 * C.UTF-8 tables do the same independently of the process's
		 * locale */
		r->utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (!r->utf8_locale)
			log_debug("relabel: no C.UTF-8 locale, %s maps ASCII letters only",
				  action_names[r->action]);
		break;
	default:
		break;
	}
	name_classifier_release(&nc);
	if (rc == -ENOMEM)
		return OOM(err, errlen);
	if (rc)
		return rc;
	*out = TAKE_PTR(r);
	return 0;
}

/* ---- apply ---- */

static int join_sources(struct relabel_rule *r, const struct labels *ls)
{
	int err;

	buf_reset(&r->value);
	err = buf_reserve(&r->value, 0);
	for (size_t i = 0; !err && i < r->nsource; i++) {
		const char *v = labels__get(ls, r->source[i]);

		if (i)
			err = buf_append(&r->value, r->separator, strlen(r->separator));
		if (!err && v) /* a missing label joins as "" */
			err = buf_append(&r->value, v, strlen(v));
	}
	if (!err)
		r->value.data[r->value.len] = 0;
	return err;
}

static uint32_t ascii_case(uint32_t c, bool upper)
{
	if (upper && c >= 'a' && c <= 'z')
		return c - 32;
	if (!upper && c >= 'A' && c <= 'Z')
		return c + 32;
	return c;
}

/* Go's strings.ToUpper/ToLower: simple Unicode case mapping per rune,
 * invalid bytes become U+FFFD. */
static int map_case(struct relabel_rule *r, const char *s, size_t len, bool upper)
{
	size_t i = 0;
	int err;

	buf_reset(&r->out);
	err = buf_reserve(&r->out, len);
	while (!err && i < len) {
		uint32_t cp;
		size_t n = utf8_decode((const uint8_t *)s + i, len - i, &cp);
		char enc[4];

		if (!n) {
			cp = UTF8_RUNE_ERROR;
			n = 1;
		} else if (cp >= 0x80 && r->utf8_locale) {
			cp = upper ? (uint32_t)towupper_l((wint_t)cp, r->utf8_locale)
				   : (uint32_t)towlower_l((wint_t)cp, r->utf8_locale);
		} else {
			cp = ascii_case(cp, upper);
		}
		err = buf_append(&r->out, enc, utf8_encode(cp, enc));
		i += n;
	}
	if (!err)
		r->out.data[r->out.len] = 0; /* also for "" */
	return err;
}

static int apply_hashmod(struct relabel_rule *r, struct labels *ls)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	uint64_t h = 0;
	char num[24];

	/* EVP_Digest fails only when it cannot allocate its context */
	if (!EVP_Digest(r->value.data, r->value.len, digest, &dlen, r->md5, NULL) || dlen != 16)
		return -ENOMEM;
	/* Prometheus: binary.BigEndian.Uint64(md5sum[8:]) % modulus */
	for (int k = 8; k < 16; k++)
		h = h << 8 | digest[k];
	snprintf(num, sizeof(num), "%" PRIu64, h % r->modulus);
	return labels__set(ls, r->target, num);
}

static int apply_replace(struct relabel_rule *r, struct labels *ls)
{
	const char *subject = (const char *)r->value.data;
	int err = rule_match(r, subject, r->value.len);

	if (err <= 0)
		return err; /* no match: no replacement */
	err = tmpl_expand(r, &r->target_tmpl, subject, &r->name);
	if (err)
		return err;
	if (!labels__valid_name((const char *)r->name.data))
		return 0; /* Prometheus skips an invalid expanded target */
	err = tmpl_expand(r, &r->repl_tmpl, subject, &r->out);
	if (err)
		return err;
	/* an empty result removes the target, as labels__set does */
	return labels__set(ls, (const char *)r->name.data, (const char *)r->out.data);
}

/* Prometheus walks a snapshot of the set, so labels written by this
 * rule are not themselves mapped again. */
static int apply_labelmap(struct relabel_rule *r, struct labels *ls)
{
	struct labels snap = { 0 };
	int err = labels__copy(&snap, ls);

	for (size_t i = 0; !err && i < snap.n; i++) {
		const char *name = snap.v[i].name;

		err = rule_match(r, name, strlen(name));
		if (err <= 0)
			continue;
		err = tmpl_expand(r, &r->repl_tmpl, name, &r->name);
		if (err)
			break;
		/* Prometheus would set it and then reject the whole target
		 * as invalid; brasa keeps the process and skips the name */
		if (!labels__valid_name((const char *)r->name.data)) {
			log_debug("relabel: labelmap made invalid label name '%s' from '%s', ignoring",
				  (const char *)r->name.data, name);
			continue;
		}
		err = labels__set(ls, (const char *)r->name.data, snap.v[i].value);
	}
	labels__clear(&snap);
	return err;
}

/* Removes ls->v[i] in place: the order stays sorted, nothing is
 * allocated, so removal cannot fail halfway through a set. */
static void remove_at(struct labels *ls, size_t i)
{
	free(ls->v[i].name);
	free(ls->v[i].value);
	memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(ls->v[0]));
	ls->n--;
}

static int apply_labeldrop(struct relabel_rule *r, struct labels *ls, bool drop_matching)
{
	size_t i = 0;

	while (i < ls->n) {
		const char *name = ls->v[i].name;
		int m = rule_match(r, name, strlen(name));

		if (m < 0)
			return m;
		if ((m == 1) == drop_matching)
			remove_at(ls, i);
		else
			i++;
	}
	return 0;
}

/* 1 keep, 0 drop, -ENOMEM. */
static int apply_rule(struct relabel_rule *r, struct labels *ls)
{
	const char *value, *cur;
	int err = join_sources(r, ls), m;

	if (err)
		return err;
	value = (const char *)r->value.data;
	switch (r->action) {
	case RELABEL_KEEP:
	case RELABEL_DROP:
		m = rule_match(r, value, r->value.len);
		if (m < 0)
			return m;
		return r->action == RELABEL_KEEP ? m : !m;
	case RELABEL_KEEPEQUAL:
	case RELABEL_DROPEQUAL:
		cur = labels__get(ls, r->target);
		m = strcmp(cur ? cur : "", value) == 0;
		return r->action == RELABEL_KEEPEQUAL ? m : !m;
	case RELABEL_REPLACE:
		err = apply_replace(r, ls);
		break;
	case RELABEL_LOWERCASE:
	case RELABEL_UPPERCASE:
		err = map_case(r, value, r->value.len, r->action == RELABEL_UPPERCASE);
		if (!err)
			err = labels__set(ls, r->target, (const char *)r->out.data);
		break;
	case RELABEL_HASHMOD:
		err = apply_hashmod(r, ls);
		break;
	case RELABEL_LABELMAP:
		err = apply_labelmap(r, ls);
		break;
	case RELABEL_LABELDROP:
	case RELABEL_LABELKEEP:
		err = apply_labeldrop(r, ls, r->action == RELABEL_LABELDROP);
		break;
	}
	return err < 0 ? err : 1;
}

int relabel__apply(struct relabel_rule *const *rules, size_t n, struct labels *ls)
{
	for (size_t i = 0; i < n; i++) {
		int rc = apply_rule(rules[i], ls);

		if (rc <= 0)
			return rc;
	}
	return 1;
}

static bool in_list(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

void relabel__drop_internal(struct labels *ls, const char *const *keep)
{
	size_t i = 0;

	while (i < ls->n) {
		const char *name = ls->v[i].name;

		if (strncmp(name, "__", 2) == 0 && !in_list(keep, name))
			remove_at(ls, i);
		else
			i++;
	}
}
