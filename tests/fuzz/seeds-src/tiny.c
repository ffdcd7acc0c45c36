/* Source of the small ELF seeds of the elf and unwind fuzz corpora
 * (tests/fuzz/make-elf-seeds.sh): an inlined function, a call chain and
 * an entry point without libc, so each object is a few KiB. */
static inline __attribute__((always_inline)) int tiny_inlined(int x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) int tiny_leaf(int x)
{
	return tiny_inlined(x) ^ 5;
}

__attribute__((noinline)) int tiny_middle(int x)
{
	return tiny_leaf(x + 1) + 2;
}

void _start(void)
{
	volatile int r = tiny_middle(3);
	(void)r;
	for (;;)
		;
}
