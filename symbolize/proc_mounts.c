#include "symbolize/proc_mounts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "symbolize/procfs.h"

/* mountinfo of a busy host is a few hundred lines: anything larger is not
 * worth holding. */
#define MOUNTINFO_MAX_BYTES (4u << 20)
#define MOUNTS_MAX 65536

void proc_mounts__free(struct proc_mounts *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].mount_point);
	free(m->v);
	free(m);
}

DEFINE_CLEANUP(struct proc_mounts, proc_mounts__free);

int proc_mounts__dup(const struct proc_mounts *src, struct proc_mounts **out)
{
	_cleanup_(cleanup_proc_mounts__free) struct proc_mounts *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->v = calloc(src->n ? src->n : 1, sizeof(*m->v));
	if (!m->v)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		m->v[i] = src->v[i];
		m->v[i].mount_point = strdup(src->v[i].mount_point);
		if (!m->v[i].mount_point)
			return -ENOMEM;
		m->n++;
	}
	*out = TAKE_PTR(m);
	return 0;
}

/* The kernel escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && n - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*o++ = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static bool fuse_type(const char *s, size_t n)
{
	return (n == 4 && memcmp(s, "fuse", 4) == 0) ||
	       (n == 7 && memcmp(s, "fuseblk", 7) == 0) ||
	       (n > 5 && memcmp(s, "fuse.", 5) == 0);
}

/* Splits [p, end) at single spaces into at most max fields. */
static size_t split(const char *p, const char *end, const char **f, size_t *fl, size_t max)
{
	size_t n = 0;

	while (p < end && n < max) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		if (!sp)
			sp = end;
		f[n] = p;
		fl[n++] = (size_t)(sp - p);
		p = sp + 1;
	}
	return n;
}

static int parse_mount_line(const char *p, const char *end, struct proc_mount *m)
{
	const char *f[32];
	size_t fl[32], n = split(p, end, f, fl, ARRAY_SIZE(f)), sep;
	unsigned long maj, min;
	char dev[32], *colon, *e1, *e2;

	/* id parent major:minor root mount-point options [optional...] - type source super */
	if (n < 7)
		return -EINVAL;
	for (sep = 6; sep < n && !(fl[sep] == 1 && f[sep][0] == '-'); sep++)
		;
	if (sep + 1 >= n || fl[2] >= sizeof(dev))
		return -EINVAL;
	memcpy(dev, f[2], fl[2]);
	dev[fl[2]] = 0;
	colon = strchr(dev, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	errno = 0;
	maj = strtoul(dev, &e1, 10);
	min = strtoul(colon + 1, &e2, 10);
	if (errno || e1 == dev || *e1 || e2 == colon + 1 || *e2 || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;
	m->major = (uint32_t)maj;
	m->minor = (uint32_t)min;
	m->unsafe = fuse_type(f[sep + 1], fl[sep + 1]);
	m->mount_point = unescape(f[4], fl[4]);
	return m->mount_point ? 0 : -ENOMEM;
}

int proc_mounts__parse(const char *text, size_t len, struct proc_mounts **out)
{
	_cleanup_(cleanup_proc_mounts__free) struct proc_mounts *m = calloc(1, sizeof(*m));
	const char *p = text, *end = text + len;
	size_t cap = 0;

	if (!m)
		return -ENOMEM;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		int err;

		if (!eol)
			eol = end;
		if (eol == p) {
			p = eol + 1;
			continue;
		}
		if (m->n == MOUNTS_MAX)
			return -E2BIG;
		if (m->n == cap) {
			size_t ncap = cap ? 2 * cap : 32;
			void *nv = reallocarray(m->v, ncap, sizeof(*m->v));

			if (!nv)
				return -ENOMEM;
			m->v = nv;
			cap = ncap;
		}
		memset(&m->v[m->n], 0, sizeof(m->v[m->n]));
		err = parse_mount_line(p, eol, &m->v[m->n]);
		if (err)
			return err;
		m->n++;
		p = eol + 1;
	}
	*out = TAKE_PTR(m);
	return 0;
}

int proc_mounts__read(const char *proc_root, int pid, struct proc_mounts **out)
{
	struct buf b = { 0 };
	int err;

	err = procfs__read_file(proc_root, pid, "mountinfo", MOUNTINFO_MAX_BYTES, &b);
	if (!err)
		err = proc_mounts__parse((const char *)b.data, b.len, out);
	buf_release(&b);
	return err;
}

bool proc_mounts__unsafe_dev(const struct proc_mounts *m, uint32_t major, uint32_t minor)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (m->v[i].unsafe && m->v[i].major == major && m->v[i].minor == minor)
			return true;
	return false;
}

bool proc_mounts__unsafe_path(const struct proc_mounts *m, const char *path)
{
	const struct proc_mount *best = NULL;
	size_t best_len = 0;

	if (!path || path[0] != '/')
		return true;
	for (size_t i = 0; m && i < m->n; i++) {
		const char *mp = m->v[i].mount_point;
		size_t n = strlen(mp);

		while (n > 1 && mp[n - 1] == '/')
			n--;
		if (n == 1 && mp[0] == '/')
			n = 0; /* the root matches every path */
		else if (strncmp(path, mp, n) != 0 || (path[n] != '/' && path[n] != 0))
			continue;
		/* later lines are mounted on top of earlier ones */
		if (!best || n >= best_len) {
			best = &m->v[i];
			best_len = n;
		}
	}
	return best && best->unsafe;
}
