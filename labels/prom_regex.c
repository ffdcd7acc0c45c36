/* prom_regex: Prometheus regexes on PCRE2 (see prom_regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "labels/prom_regex.h"

#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errbuf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/utf8.h"

/* "^(?s:" ... ")$": Prometheus 3's anchoring, `.` also matching "\n" */
#define ANCHOR_PREFIX "^(?s:"
#define ANCHOR_SUFFIX ")$"

_Static_assert(PROM_REGEX_UNSET == PCRE2_UNSET, "PCRE2_UNSET is SIZE_MAX");

struct prom_regex {
	char *text; /* as the user wrote it, for messages */
	pcre2_code *re;
	pcre2_match_data *md;
	uint32_t ngroups;      /* ovector pairs: captures + 1 */
	const PCRE2_SIZE *ov;  /* offsets of the last match, into its subject */
	PCRE2_SIZE *ov_mapped; /* ngroups pairs, for the invalid-UTF-8 path */
	struct buf sanitized;  /* scratch, kept between matches */
};

void prom_regex__free(struct prom_regex *rx)
{
	if (!rx)
		return;
	free(rx->text);
	pcre2_match_data_free(rx->md);
	pcre2_code_free(rx->re);
	free(rx->ov_mapped);
	buf_release(&rx->sanitized);
	free(rx);
}

DEFINE_CLEANUP(struct prom_regex, prom_regex__free)

int prom_regex__compile(const char *text, struct prom_regex **out, char *err, size_t errlen)
{
	_cleanup_(cleanup_prom_regex__free) struct prom_regex *rx = NULL;
	_cleanup_free_ char *pattern = NULL;
	PCRE2_SIZE erroff;
	uint32_t captures, backrefs;
	int errcode;

	rx = calloc(1, sizeof(*rx));
	if (!rx || !(rx->text = strdup(text)))
		return errbuf__printf(err, errlen, -ENOMEM, "out of memory");
	if (asprintf(&pattern, ANCHOR_PREFIX "%s" ANCHOR_SUFFIX, text) < 0) {
		pattern = NULL;
		return errbuf__printf(err, errlen, -ENOMEM, "out of memory");
	}
	/* DOLLAR_ENDONLY: in Go `$` is end of text, PCRE2's would also match
	 * before a final "\n". NEVER_BACKSLASH_C: RE2 has no \C. */
	rx->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C,
			       &errcode, &erroff, NULL);
	if (!rx->re) {
		PCRE2_UCHAR msg[160];
		size_t user_len = strlen(text);
		size_t off = erroff > strlen(ANCHOR_PREFIX) ? erroff - strlen(ANCHOR_PREFIX) : 0;

		if (errcode == PCRE2_ERROR_NOMEMORY)
			return errbuf__printf(err, errlen, -ENOMEM, "out of memory");
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return errbuf__printf(err, errlen, -EINVAL, "bad regex \"%s\": %s at offset %zu", text,
			    (const char *)msg, MIN(off, user_len));
	}
	/* RE2 has no backreferences; refusing them keeps configs portable
	 * to Prometheus (lookarounds are not detected) */
	if (pcre2_pattern_info(rx->re, PCRE2_INFO_BACKREFMAX, &backrefs) == 0 && backrefs)
		return errbuf__printf(err, errlen, -EINVAL,
			    "bad regex \"%s\": backreferences are not supported (RE2 syntax)", text);
	pcre2_pattern_info(rx->re, PCRE2_INFO_CAPTURECOUNT, &captures);
	rx->ngroups = captures + 1;
	/* optional: the interpreter is used when the JIT is unavailable */
	pcre2_jit_compile(rx->re, PCRE2_JIT_COMPLETE);
	rx->md = pcre2_match_data_create_from_pattern(rx->re, NULL);
	rx->ov_mapped = calloc(2 * rx->ngroups, sizeof(*rx->ov_mapped));
	if (!rx->md || !rx->ov_mapped)
		return errbuf__printf(err, errlen, -ENOMEM, "out of memory");
	*out = TAKE_PTR(rx);
	return 0;
}

static int match_raw(struct prom_regex *rx, const char *s, size_t len)
{
	int rc = pcre2_match(rx->re, (PCRE2_SPTR)s, len, 0, 0, rx->md, NULL);

	/* the JIT's default 32 KiB stack can be too small where the
	 * interpreter, which uses the heap, still succeeds */
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(rx->re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, rx->md, NULL);
	return rc;
}

static bool utf8_error(int rc)
{
	return rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21;
}

/* Go's regexp reads each invalid byte as U+FFFD; PCRE2 refuses such
 * subjects. Builds rx->sanitized, a copy with those bytes replaced, and
 * orig[k], the offset in s of the rune that sanitized byte k belongs to
 * (orig[sanitized.len] == len), so match offsets map back and captures
 * copy the original bytes, as Go's do. 0 or -ENOMEM. */
static int sanitize(struct prom_regex *rx, const char *s, size_t len, size_t **orig)
{
	size_t i = 0;
	int err;

	buf_reset(&rx->sanitized);
	err = buf_reserve(&rx->sanitized, len * 3);
	if (err)
		return err;
	*orig = malloc((len * 3 + 1) * sizeof(**orig));
	if (!*orig)
		return -ENOMEM;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode((const uint8_t *)s + i, len - i, &cp);
		size_t at = rx->sanitized.len;

		/* cannot fail: reserved above */
		if (n)
			buf_append(&rx->sanitized, s + i, n);
		else
			buf_append(&rx->sanitized, "\xef\xbf\xbd", 3);
		for (size_t k = at; k < rx->sanitized.len; k++)
			(*orig)[k] = i;
		i += n ? n : 1;
	}
	(*orig)[rx->sanitized.len] = len;
	return 0;
}

int prom_regex__match(struct prom_regex *rx, const char *s, size_t len)
{
	_cleanup_free_ size_t *orig = NULL;
	int rc = match_raw(rx, s, len);

	if (rc >= 0) {
		rx->ov = pcre2_get_ovector_pointer(rx->md);
		return 1;
	}
	if (utf8_error(rc)) {
		if (sanitize(rx, s, len, &orig))
			return -ENOMEM;
		rc = match_raw(rx, (const char *)rx->sanitized.data, rx->sanitized.len);
		if (rc >= 0) {
			const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rx->md);

			for (uint32_t k = 0; k < 2 * rx->ngroups; k++)
				rx->ov_mapped[k] = ov[k] == PCRE2_UNSET ? PCRE2_UNSET : orig[ov[k]];
			rx->ov = rx->ov_mapped;
			return 1;
		}
	}
	if (rc != PCRE2_ERROR_NOMATCH) {
		PCRE2_UCHAR msg[120];

		/* e.g. PCRE2's match limit on a pathological pattern: RE2
		 * would have answered, we can only call it no match */
		pcre2_get_error_message(rc, msg, sizeof(msg));
		log_debug("regex \"%s\" on a %zu-byte value: %s, taken as no match", rx->text, len,
			  (const char *)msg);
	}
	return 0;
}

const size_t *prom_regex__ovector(const struct prom_regex *rx)
{
	return rx->ov;
}

uint32_t prom_regex__ngroups(const struct prom_regex *rx)
{
	return rx->ngroups;
}

int prom_regex__group(const struct prom_regex *rx, const char *name)
{
	int group = pcre2_substring_number_from_name(rx->re, (PCRE2_SPTR)name);

	return group >= 0 ? group : -1;
}

const char *prom_regex__text(const struct prom_regex *rx)
{
	return rx->text;
}
