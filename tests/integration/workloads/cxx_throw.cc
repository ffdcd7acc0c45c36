// C++ workload for demangled names: a class template in a namespace spins
// (ns::Worker<int>::spin(int)), and every so often an exception is thrown
// through a few frames and caught, unwinding through libstdc++ and libgcc.
// Runs for argv[1] seconds (default 5).
#include <cstdlib>
#include <stdexcept>

#include "workload.h"

static volatile unsigned long sink;

namespace ns {
template <typename T> struct Worker {
	NOINLINE T spin(T rounds)
	{
		T acc = 0;
		for (T i = 0; i < rounds; i++)
			acc += i * i;
		sink += (unsigned long)acc;
		return acc;
	}
};

NOINLINE void thrower(int depth)
{
	if (depth == 0)
		throw std::runtime_error("bottom");
	thrower(depth - 1);
	sink++; // no tail call
}
} // namespace ns

int main(int argc, char **argv)
{
	double until = seconds_now() + (argc > 1 ? strtod(argv[1], NULL) : 5);
	ns::Worker<int> w;

	while (seconds_now() < until) {
		w.spin(2000000);
		try {
			ns::thrower(4);
		} catch (const std::exception &e) {
			sink += (unsigned long)e.what()[0];
		}
	}
	return 0;
}
