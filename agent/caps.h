/* caps: the privileges brasa uses beyond loading its sampler (CAP_BPF and
 * CAP_PERFMON, checked by cli_have_bpf_privileges), what each is for and
 * what profiles lose without it, checked against this process's effective
 * capabilities. `brasa check` prints a line for each; `brasa run` logs the
 * missing ones once at start. What each entry says was verified by
 * dropping the capability (capsh --drop) on Linux 6.18; see
 * docs/troubleshooting.md.
 *
 *   caps__effective(cap)         true if cap (CAP_*) is in the effective set
 *   caps__kallsyms_visible()     /proc/kallsyms shows real addresses to us
 *   caps__check(out, max)        fills out[] with every entry below, held or
 *                                not; returns the number of entries
 *   caps__log_missing(kallsyms)  one warning per missing entry (CAP_SYSLOG
 *                                only if kallsyms is true: the profiler says
 *                                so itself when it loads kernel symbols);
 *                                returns how many
 *
 * An entry is held when one of its capabilities is effective, or when
 * nothing depends on it here (CAP_SYSLOG while kallsyms shows addresses
 * anyway). Strings are static.
 */
#ifndef BRASA_AGENT_CAPS_H
#define BRASA_AGENT_CAPS_H

#include <stdbool.h>
#include <stddef.h>

#define CAPS_MAX 8

struct caps_entry {
	const char *name;      /* "CAP_SYS_PTRACE", "CAP_SETUID, CAP_SETGID" */
	const char *instead;   /* what also does, "CAP_DAC_OVERRIDE", or NULL */
	const char *used_for;  /* one phrase */
	const char *lost;      /* what profiles lose without it */
	bool held;
};

bool caps__effective(int cap);
bool caps__kallsyms_visible(void);
size_t caps__check(struct caps_entry *out, size_t max);
int caps__log_missing(bool kallsyms);

#endif
