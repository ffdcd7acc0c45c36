/* Functions whose CFI is cheap to write and slow to read. Each row
 * remembers the whole register state 31 times, and the first rule names
 * register 255, so every state libdw copies is ~4 KB; libdw interprets
 * an FDE from its start for every row. One FDE of 3,000 such rows took
 * an unbounded builder more than ten minutes; cfi_rows now hides an FDE
 * whose own cost is over its limits (CFI_CALL_WORK_MAX, CFI_FDE_WORK_MAX),
 * so this file keeps every FDE just under them and has enough of them
 * that the whole build stays under CFI_WORK_MAX (1.9 G units) and
 * takes 2 to 7 s: what stops it is the deadline (1 s in the test). cfi_bomb
 * itself is a counting loop with ordinary CFI; the others are never
 * called. See tests/integration/test_hostile.py hostile_slow_cfi. */
	.macro	slow_fde name
	.globl	\name
	.type	\name, @function
\name:
	.cfi_startproc
	.cfi_offset 255, -16
	.rept 120
	nop
	.rept 31
	.cfi_remember_state
	.endr
	.endr
	ret
	.cfi_endproc
	.size	\name, .-\name
	.endm

	.text
	.globl	cfi_bomb
	.type	cfi_bomb, @function
cfi_bomb:
	.cfi_startproc
1:	dec	%rdi
	jnz	1b
	ret
	.cfi_endproc
	.size	cfi_bomb, .-cfi_bomb

	slow_fde cfi_slow_1
	slow_fde cfi_slow_2
	slow_fde cfi_slow_3
	slow_fde cfi_slow_4
	.section .note.GNU-stack,"",@progbits
