/* go_rows: unwind rows for Go code from a Go binary's .gopclntab, merged
 * into the object's CFI rows (cfi_rows.h). A Go binary built with
 * `-ldflags='-s -w'` has no .debug_frame and no .eh_frame for its Go
 * code, but the runtime's own table keeps, for every function, the
 * stack-pointer delta at each pc (pcsp): on x86-64, bytes pushed below the
 * return address. So at pc with delta d:
 *
 *   CFA = rsp + d + 8, ra = *(CFA - 8)
 *   rbp = *(CFA - 16)  where the function's prologue has saved it there:
 *                      Go (1.16+ on amd64) opens a frame of d > 0 with
 *                      `SUBQ $d, SP; MOVQ BP, d-8(SP)` (or, in assembly
 *                      that does it by hand, `PUSHQ BP`); the prologue's
 *                      bytes are checked, and from the save on (d > 0)
 *                      the caller's rbp is in that slot
 *       = unchanged    before the save, where d == 0, and in functions
 *                      whose prologue does not save it
 *
 * A return address at a function's entry (runtime.systemstack_switch's,
 * which the scheduler saves as a goroutine's pc in cgo calls) is looked up
 * at pc - 1, in the padding before the function: that byte, where there
 * is padding, gets the function's first rule.
 *
 * Functions where the stack changes hands get rules of their own, over
 * their code (by name; ABI wrappers, which share the name, excluded by
 * their funcID in Go 1.18-1.19 tables):
 *   runtime.goexit, runtime.mstart, runtime.rt0_go, _rt0_amd64*,
 *   runtime.mcall, runtime.morestack       UNWIND_CFA_END: the outermost
 *        frame of a goroutine or of a thread's system stack, where Go's
 *        own traceback stops
 *   runtime.systemstack, runtime.asmcgocall
 *        a frame-pointer step written as a rule, CFA = rbp + 16, rbp =
 *        *(CFA - 16): after their CALL the sp delta describes the other
 *        stack, while rbp is still the frame pointer of their caller on
 *        the goroutine's stack; that caller's frame is skipped (its
 *        return address is where the walk goes on). Not UNWIND_CFA_NONE,
 *        whose frame-pointer step stops when rbp is below rsp, as a
 *        goroutine stack (Go's heap) usually is below a thread's stack.
 *
 *   go_rows__build(elf, cfi, limits, &rows)
 *        the rows of elf: cfi's (NULL: none) with the Go rows merged in,
 *        a new list (cfi stays the caller's). CFI wins where it covers
 *        (cgo's C code has .eh_frame, unstripped Go .debug_frame), Go rows
 *        fill its UNWIND_CFA_NONE gaps; except the stack switches above,
 *        which Go's .debug_frame does not describe, and rbp: where a CFI
 *        row says CFA = rsp + N with rbp unchanged (all of Go's
 *        .debug_frame) and the Go row has the same CFA, the Go row (with
 *        its rbp rule) is taken. 0, or
 *        -ENOENT    no .gopclntab, or not a table of a known version, or
 *                   none of its functions in an executable segment
 *        -ENOEXEC / -ENOTSUP  as cfi_rows__build
 *        -ETIMEDOUT past limits->deadline_ns
 *        -E2BIG     more rows than CFI_ROWS_MAX, or more memory than
 *                   limits->max_bytes with cfi's rows counted
 *        -ENOMEM
 *   go_rows__is_go(elf)     has a .gopclntab (for the content key)
 *   go_rows__build_object(elf, debug_elf, limits, &rows)
 *        every row of an object, as the agent builds its table: its CFI
 *        (cfi_rows__build) with the Go rows of a .gopclntab merged in;
 *        0 or cfi_rows__build's errors (-ENOENT: neither)
 *   go_rows__build_object_fd(fd, debug_fd, limits, &rows)   the same
 *        from file descriptors (debug_fd -1 for none; both the caller's)
 * The merged rows count the Go rows built in
 * rows_by_source[CFI_SOURCE_GOPCLNTAB].
 *
 * Bounded on any input: .gopclntab is read through gopclntab.h (no read
 * outside its copy; a pcsp walk ends within the table), the pcsp bytes
 * decoded for all functions together are at most GO_ROWS_WORK_FACTOR
 * times the table's size (functions of a real table have tables of their
 * own, which the table holds; a hostile one may point all of them at one
 * long table: -E2BIG), a function whose
 * entries are not ascending, whose pcsp table is cut, runs past its end
 * or has a delta below 0 or over GO_ROWS_DELTA_MAX gets no rows (frame
 * pointers there) and is counted in go_funcs_skipped.
 */
#ifndef BRASA_UNWIND_GO_ROWS_H
#define BRASA_UNWIND_GO_ROWS_H

#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "unwind/cfi_rows.h"

/* Largest stack-pointer delta taken: what fits the rule's s32 CFA offset
 * (the runtime's reflectcall trampolines go up to runtime.call1073741824,
 * a 1 GiB frame). */
#define GO_ROWS_WORK_FACTOR 4
#define GO_ROWS_DELTA_MAX (INT32_MAX - 8)

int go_rows__build(Elf *elf, const struct cfi_rows *cfi, const struct cfi_limits *limits,
		   struct cfi_rows **out);
bool go_rows__is_go(Elf *elf);
int go_rows__build_object(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
			  struct cfi_rows **out);
int go_rows__build_object_fd(int fd, int debug_fd, const struct cfi_limits *limits,
			     struct cfi_rows **out);

#endif
