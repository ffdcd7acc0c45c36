/* A function whose CFI is cheap to write and ruinous to read: 3,000 rows
 * in one FDE, each remembering the whole register state and a rule for
 * register 3000. libdw interprets an FDE from its start for every row,
 * copying every remembered state: building this object's unwind table
 * without bounds takes more than ten minutes. The code itself is a
 * counting loop. See tests/hostile.py hostile_slow_cfi. */
	.text
	.globl	cfi_bomb
	.type	cfi_bomb, @function
cfi_bomb:
	.cfi_startproc
	.rept 3000
	nop
	.cfi_remember_state
	.cfi_offset 3000, -16
	.endr
1:	dec	%rdi
	jnz	1b
	ret
	.cfi_endproc
	.size	cfi_bomb, .-cfi_bomb
	.section .note.GNU-stack,"",@progbits
