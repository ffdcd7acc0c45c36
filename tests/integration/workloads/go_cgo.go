// A Go workload for unwinding Go code without DWARF (test_go.py): four
// kinds of goroutines burning CPU, each behind a recursion of known depth,
// so a whole stack is recognisable by its frames:
//
//	main.goRecurse*30 -> main.leafSpin / main.hashSpin (SHA-256 in assembly)
//	main.cRecurse*10 -> C c_spin (Go -> C)
//	main.cbRecurse*5 -> C c_calls_go -> main.goCallback -> main.cbDeep*10 ->
//	    main.leafSpin (Go -> C -> Go)
//	main.statsRecurse*4 -> main.leafSpin, and now and then
//	    runtime.ReadMemStats -> runtime.systemstack -> the runtime on the
//	    thread's system stack (a stack switch in Go)
//
// Built with cgo (gcc), stripped (-ldflags='-s -w') and not, by the test.
//
//	go_cgo [seconds]   runs that long (default 5), then exits
package main

/*
#include <stdint.h>

extern void goCallback(int);

// static: the preamble is compiled twice with //export in the file
static uint64_t c_spin(uint64_t n)
{
	volatile uint64_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s = s * 6364136223846793005ull + i;
	return s;
}

static void c_calls_go(int depth)
{
	goCallback(depth);
}
*/
import "C"

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var sink uint64

// not on the stack: 6 KiB, past the 8 KiB of stack perf copies with the
// frames above it
var ms runtime.MemStats

//go:noinline
func leafSpin(n int) uint64 {
	var s uint64
	for i := 0; i < n; i++ {
		s = s*6364136223846793005 + uint64(i)
	}
	return s
}

//go:noinline
func hashSpin() uint64 {
	buf := make([]byte, 4096)
	sum := sha256.Sum256(buf)
	return uint64(sum[0])
}

//go:noinline
func goRecurse(depth int, deadline time.Time) uint64 {
	if depth == 0 {
		var s uint64
		for time.Now().Before(deadline) {
			s += leafSpin(100000)
			s += hashSpin()
		}
		return s
	}
	return goRecurse(depth-1, deadline) + 1
}

//go:noinline
func cRecurse(depth int, deadline time.Time) uint64 {
	if depth == 0 {
		var s uint64
		for time.Now().Before(deadline) {
			s += uint64(C.c_spin(200000))
		}
		return s
	}
	return cRecurse(depth-1, deadline) + 1
}

//go:noinline
func cbDeep(depth int) uint64 {
	if depth == 0 {
		return leafSpin(200000)
	}
	return cbDeep(depth-1) + 1
}

//export goCallback
func goCallback(depth C.int) {
	sink += cbDeep(int(depth))
}

//go:noinline
func cbRecurse(depth int, deadline time.Time) uint64 {
	if depth == 0 {
		for time.Now().Before(deadline) {
			C.c_calls_go(10)
		}
		return 0
	}
	return cbRecurse(depth-1, deadline) + 1
}

//go:noinline
func statsRecurse(depth int, deadline time.Time) uint64 {
	if depth == 0 {
		var s uint64
		// now and then: each stops the world, which moves the others
		for time.Now().Before(deadline) {
			s += leafSpin(1000000)
			runtime.ReadMemStats(&ms)
			s += ms.Mallocs
		}
		return s
	}
	return statsRecurse(depth-1, deadline) + 1
}

func main() {
	seconds := 5.0
	if len(os.Args) > 1 {
		v, err := strconv.ParseFloat(os.Args[1], 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: go_cgo [seconds]")
			os.Exit(2)
		}
		seconds = v
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, f := range []func() uint64{
		func() uint64 { return goRecurse(30, deadline) },
		func() uint64 { return cRecurse(10, deadline) },
		func() uint64 { return cbRecurse(5, deadline) },
		func() uint64 { return statsRecurse(3, deadline) },
	} {
		wg.Add(1)
		go func(f func() uint64) {
			defer wg.Done()
			s := f()
			mu.Lock()
			sink += s
			mu.Unlock()
		}(f)
	}
	wg.Wait()
	fmt.Println(sink)
}
