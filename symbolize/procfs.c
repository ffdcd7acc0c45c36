#include "symbolize/procfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

/* /proc/PID/status is a few KiB: anything larger is not worth holding. */
#define STATUS_MAX_BYTES (64u << 10)

/* The line "<name>:\t..." of a status file, as [start, end) after the
 * colon; NULL when absent. */
static const char *status_field(const char *text, size_t len, const char *name,
				const char **end)
{
	size_t n = strlen(name);
	const char *p = text, *stop = text + len;

	while (p < stop) {
		const char *eol = memchr(p, '\n', (size_t)(stop - p));

		if (!eol)
			eol = stop;
		if ((size_t)(eol - p) > n && memcmp(p, name, n) == 0 && p[n] == ':') {
			*end = eol;
			return p + n + 1;
		}
		p = eol + 1;
	}
	return NULL;
}

/* Next decimal number in [*p, end) after blanks: 0 and advances, -ENOENT
 * at the end, -EINVAL on anything else. */
static int next_u32(const char **p, const char *end, uint32_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return -ENOENT;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > UINT32_MAX)
			return -EINVAL;
	}
	if (s < end && *s != ' ' && *s != '\t')
		return -EINVAL;
	*p = s;
	*v = (uint32_t)x;
	return 0;
}

/* The 4th of the "real effective saved fs" ids. */
static int fs_id(const char *text, size_t len, const char *name, uint32_t *out)
{
	const char *end, *p = status_field(text, len, name, &end);
	uint32_t v = 0;

	if (!p)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (next_u32(&p, end, &v))
			return -EINVAL;
	*out = v;
	return 0;
}

int procfs__status_parse(const char *text, size_t len, struct proc_status *st)
{
	const char *p, *end;
	uint32_t v;
	int err;

	memset(st, 0, sizeof(*st));
	if (fs_id(text, len, "Uid", &st->fsuid) || fs_id(text, len, "Gid", &st->fsgid))
		return -EINVAL;
	p = status_field(text, len, "Groups", &end);
	while (p && (err = next_u32(&p, end, &v)) != -ENOENT) {
		if (err)
			return -EINVAL;
		if (st->ngroups == PROC_STATUS_MAX_GROUPS) {
			st->groups_truncated = true;
			break;
		}
		st->groups[st->ngroups++] = v;
	}
	/* kernels before 4.1 have no NSpid: no nesting to undo */
	st->nspid = 0;
	p = status_field(text, len, "NSpid", &end);
	while (p && (err = next_u32(&p, end, &v)) != -ENOENT) {
		if (err || v == 0 || v > INT32_MAX)
			return -EINVAL;
		st->nspid = (int)v;
	}
	return 0;
}

int procfs__read_file(const char *proc_root, int pid, const char *name, size_t max,
		      struct buf *out)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%d/%s", proc_root ? proc_root : "/proc", pid,
			     name) >= sizeof(path))
		return -ENAMETOOLONG;
	return buf_read_file(path, out, max);
}

int procfs__status_read(const char *proc_root, int pid, struct proc_status *st)
{
	struct buf b = { 0 };
	int err;

	err = procfs__read_file(proc_root, pid, "status", STATUS_MAX_BYTES, &b);
	if (!err)
		err = procfs__status_parse((const char *)b.data, b.len, st);
	if (!err && !st->nspid)
		st->nspid = pid;
	buf_release(&b);
	return err;
}

int procfs__stat_start_stack(const char *text, size_t len, uint64_t *addr)
{
	const char *p = NULL, *end = text + len;
	int field = 2;

	/* the command name (field 2) may hold spaces and parentheses: the
	 * fields resume after its last ')' */
	for (const char *s = text; s < end; s++)
		if (*s == ')')
			p = s + 1;
	if (!p)
		return -EINVAL;
	while (p < end) {
		uint64_t v = 0;
		bool digits = false;

		while (p < end && *p == ' ')
			p++;
		if (p == end || *p == '\n')
			break;
		field++;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			/* only field 28 must fit; others may be anything */
			if (field == 28 && v > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (uint64_t)(*p - '0');
			digits = true;
		}
		if (field == 28) {
			if (!digits || (p < end && *p != ' ' && *p != '\n'))
				return -EINVAL;
			*addr = v;
			return 0;
		}
		/* fields before 28 may be negative or words (the state) */
		while (p < end && *p != ' ' && *p != '\n')
			p++;
	}
	return -EINVAL;
}
