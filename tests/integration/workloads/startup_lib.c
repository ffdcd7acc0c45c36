/* The shared library startup_spin spends half its life in: its frames are
 * named and unwound only if the library's mapping (which ld.so makes
 * after the exec) reaches the agent before the process exits. */
static volatile unsigned long lib_sink;

__attribute__((noinline)) void startup_lib_spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		lib_sink += i ^ (i >> 3);
}
