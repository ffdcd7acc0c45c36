/* caps: what brasa's optional privileges are for (see caps.h). */
#include "agent/caps.h"

#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

bool caps__effective(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (cap < 0 || cap >= 64 || syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

bool caps__kallsyms_visible(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/kallsyms", "re");
	char line[256];

	if (!f)
		return false;
	/* hidden addresses read as zeros, all of them */
	for (int i = 0; i < 64 && fgets(line, sizeof(line), f); i++)
		if (strncmp(line, "0000000000000000", 16) != 0)
			return true;
	return false;
}

/* The table. Each claim was checked by dropping the capability while
 * profiling processes of another user: see docs/troubleshooting.md. */
static const struct {
	int cap, also, instead; /* also: needed too; instead: does the same; -1 none */
	struct caps_entry e;
} entries[] = {
	{ CAP_SYS_PTRACE, -1, -1, {
	  .name = "CAP_SYS_PTRACE",
	  .used_for = "other users' processes: their files through /proc/PID/root",
	  .lost = "processes of other users, and processes holding capabilities brasa "
		  "lacks, keep raw addresses: their binaries, libraries and perf maps "
		  "cannot be opened, so their frames are not symbolized and no DWARF "
		  "unwind tables are built for them (code without frame pointers gives "
		  "leaf-only stacks)" } },
	{ CAP_DAC_READ_SEARCH, -1, CAP_DAC_OVERRIDE, {
	  .name = "CAP_DAC_READ_SEARCH",
	  .instead = "CAP_DAC_OVERRIDE",
	  .used_for = "read binaries and perf maps whatever their permissions",
	  .lost = "files brasa's user may not read (a binary in a private home "
		  "directory, a library of mode 0700) stay unread: their frames keep raw "
		  "addresses and get no DWARF unwind tables" } },
	{ CAP_CHECKPOINT_RESTORE, -1, CAP_SYS_ADMIN, {
	  .name = "CAP_CHECKPOINT_RESTORE",
	  .instead = "CAP_SYS_ADMIN",
	  .used_for = "/proc/PID/map_files: deleted binaries, memfd code",
	  .lost = "frames in binaries deleted or replaced since their process started "
		  "(an upgrade), and in memfd code, keep raw addresses" } },
	{ CAP_SYSLOG, -1, -1, {
	  .name = "CAP_SYSLOG",
	  .used_for = "real addresses in /proc/kallsyms",
	  .lost = "kernel frames stay unsymbolized: /proc/kallsyms shows brasa zero "
		  "addresses (kernel.kptr_restrict, kernel.perf_event_paranoid)" } },
	{ CAP_SETUID, CAP_SETGID, -1, {
	  .name = "CAP_SETUID, CAP_SETGID",
	  .used_for = "open a process's perf maps and debug links as its user",
	  .lost = "the perf maps and debug links a process names are not opened as its "
		  "user: brasa decides from their owner and permission bits instead, which "
		  "ignores ACLs and supplementary groups, so files the process may read "
		  "only through those are skipped" } },
};

_Static_assert(ARRAY_SIZE(entries) <= CAPS_MAX, "raise CAPS_MAX");

size_t caps__check(struct caps_entry *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(entries) && n < max; i++, n++) {
		bool held = caps__effective(entries[i].cap) &&
			    (entries[i].also < 0 || caps__effective(entries[i].also));

		if (entries[i].instead >= 0 && caps__effective(entries[i].instead))
			held = true;
		/* only kptr_restrict makes CAP_SYSLOG matter */
		if (entries[i].cap == CAP_SYSLOG && !held)
			held = caps__kallsyms_visible();
		out[n] = entries[i].e;
		out[n].held = held;
	}
	return n;
}

int caps__log_missing(bool kallsyms)
{
	struct caps_entry e[CAPS_MAX];
	size_t n = caps__check(e, CAPS_MAX);
	int missing = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].held || (!kallsyms && !strcmp(e[i].name, "CAP_SYSLOG")))
			continue;
		log_warn("running without %s%s%s: %s; 'brasa check' lists what each capability "
			 "is for", e[i].name,
			 e[i].instead ? " or " : "", e[i].instead ? e[i].instead : "", e[i].lost);
		missing++;
	}
	return missing;
}
