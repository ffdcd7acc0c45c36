#include "serve/metrics_process.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/macros.h"
#include "serve/metrics.h"

struct self_stat {
	double cpu_seconds, start_seconds;
	double virtual_bytes, resident_bytes;
};

/* System boot in seconds since the epoch ("btime" of /proc/stat): a
 * process's start time is in clock ticks after it. */
static int boot_time(double *out)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	char line[256];
	unsigned long long btime;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %llu", &btime) == 1) {
			*out = (double)btime;
			return 0;
		}
	return -ENOENT;
}

/* /proc/self/stat (proc(5)): the fields after the command name, which
 * may itself hold spaces and parentheses, so parsing starts after the
 * last ')'. */
static int read_self_stat(struct self_stat *s)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/stat", "re");
	char buf[1024], *p;
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long rss, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	double boot = 0;
	size_t n;
	int err;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
			 "%*d %*d %*d %*d %*d %*d %llu %lu %ld", &utime, &stime, &start,
			 &vsize, &rss) != 5 || ticks <= 0 || page <= 0)
		return -EBADMSG;
	err = boot_time(&boot);
	if (err)
		return err;
	s->cpu_seconds = (double)(utime + stime) / (double)ticks;
	s->start_seconds = boot + (double)start / (double)ticks;
	s->virtual_bytes = (double)vsize;
	s->resident_bytes = (double)rss * (double)page;
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* not the directory's own */
}

static int write_build_info(struct buf *out, const char *revision)
{
	struct buf l = {};
	int err = buf_printf(&l, "version=\"%s\",revision=\"", BRASA_VERSION);

	if (!err)
		err = metrics__escape(&l, revision ? revision : "unknown");
	if (!err)
		err = buf_printf(&l, "\",compiler=\"%s\",libbpf=\"v%u.%u\"",
#ifdef __clang__
				 "clang " __clang_version__,
#else
				 "gcc " __VERSION__,
#endif
				 libbpf_major_version(), libbpf_minor_version());
	if (!err)
		err = buf_append(&l, "", 1);
	if (!err)
		err = metrics__family(out, "brasa_build_info", "gauge",
				      "Always 1: the version, source revision, compiler and libbpf "
				      "of this agent.");
	if (!err)
		err = metrics__sample(out, "brasa_build_info", (const char *)l.data, 1);
	buf_release(&l);
	return err;
}

/* One gauge or counter without labels. */
static int write_one(struct buf *out, const char *name, const char *type, const char *help,
		     double value)
{
	int err = metrics__family(out, name, type, help);

	return err ? err : metrics__sample(out, name, NULL, value);
}

int metrics__write_process(struct buf *out, const char *revision)
{
	struct self_stat s = { 0 };
	struct rlimit nofile;
	int fds = count_fds(), err = 0;

	if (!read_self_stat(&s)) {
		err = write_one(out, "process_cpu_seconds_total", "counter",
				"Total user and system CPU time spent in seconds.", s.cpu_seconds);
		if (!err)
			err = write_one(out, "process_resident_memory_bytes", "gauge",
					"Resident memory size in bytes.", s.resident_bytes);
		if (!err)
			err = write_one(out, "process_virtual_memory_bytes", "gauge",
					"Virtual memory size in bytes.", s.virtual_bytes);
		if (!err)
			err = write_one(out, "process_start_time_seconds", "gauge",
					"Start time of the process since unix epoch in seconds.",
					s.start_seconds);
	}
	if (!err && fds >= 0)
		err = write_one(out, "process_open_fds", "gauge", "Number of open file descriptors.",
				fds);
	if (!err && !getrlimit(RLIMIT_NOFILE, &nofile))
		err = write_one(out, "process_max_fds", "gauge",
				"Maximum number of open file descriptors.",
				nofile.rlim_cur == RLIM_INFINITY ? 0x1p64 : (double)nofile.rlim_cur);
	return err ? err : write_build_info(out, revision);
}
