//go:build udt_leakcheck

package cudt

// A deliberate leak, built only with the udt_leakcheck tag: `./build.sh
// asan` runs it first to prove that LeakSanitizer is really watching (a
// sanitizer that never fires proves nothing), then runs the suite without it.

/*
#include <stdlib.h>
#include <string.h>

static void cudt_leak_for_check(int n) {
	for (int i = 0; i < n; i++) {
		char* p = (char*)malloc(4096);
		memset(p, i, 4096);
		// Keep the compiler from dropping the allocation; the pointer is
		// then lost, which is the leak.
		__asm__ volatile("" : : "r"(p) : "memory");
	}
}
*/
import "C"

// LeakForCheck allocates n blocks of C memory and loses them.
func LeakForCheck(n int) { C.cudt_leak_for_check(C.int(n)) }
