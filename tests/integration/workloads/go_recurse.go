// A Go workload for the symbolizer's .gopclntab tests: goroutines in deep
// recursion burning CPU, built stripped (-ldflags='-s -w') and not.
// Standard library only (the tests build it without network).
//
//	go_recurse [seconds]   runs that long (default 5), then exits
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var sink uint64

//go:noinline
func leafSpin(n int) uint64 {
	var s uint64
	for i := 0; i < n; i++ {
		s = s*6364136223846793005 + uint64(i)
	}
	return s
}

//go:noinline
func recurseDeep(depth int, deadline time.Time) uint64 {
	if depth == 0 {
		var s uint64
		for time.Now().Before(deadline) {
			s += leafSpin(100000)
			s += hashSpin()
		}
		return s
	}
	return recurseDeep(depth-1, deadline) + 1
}

//go:noinline
func hashSpin() uint64 {
	buf := make([]byte, 4096)
	sum := sha256.Sum256(buf)
	return uint64(sum[0])
}

func main() {
	seconds := 5.0
	if len(os.Args) > 1 {
		v, err := strconv.ParseFloat(os.Args[1], 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: go_recurse [seconds]")
			os.Exit(2)
		}
		seconds = v
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(depth int) {
			defer wg.Done()
			v := recurseDeep(depth, deadline)
			mu.Lock()
			sink += v
			mu.Unlock()
		}(40 + g*10)
	}
	wg.Wait()
	fmt.Println("go_recurse done", sink != 0)
}
