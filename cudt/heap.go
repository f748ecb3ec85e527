package cudt

// The C heap UDT allocates from (glibc's malloc): what it holds, and the
// process-wide knobs a program may opt into. None of this is a UDT call.

/*
#include <malloc.h>

typedef struct {
	size_t arena, inuse, free, mmapped;
} cudt_heap_info;

// mallinfo2 locks each arena in turn while it counts its free chunks: a
// short stall of that arena's allocations, nothing like a trim's walk.
static void cudt_heap_info_get(cudt_heap_info* h) {
	struct mallinfo2 m = mallinfo2();
	h->arena = m.arena;
	h->inuse = m.uordblks;
	h->free = m.fordblks;
	h->mmapped = m.hblkhd;
}

static int cudt_mallopt(int param, int value) { return mallopt(param, value); }
*/
import "C"

// HeapInfo is what glibc's mallinfo2 reports for the whole process, with
// the arrays the shim serves for UDT's new[] outside it (WarmCounts):
// those UDT holds count as mapped, those kept for later as free.
type HeapInfo struct {
	Arena   uint64 // bytes the arenas took from the system (sbrk and heaps)
	InUse   uint64 // bytes in allocated chunks of the arenas
	Free    uint64 // bytes in free chunks: freed but kept (resident or not), and the shim's kept pages
	Mmapped uint64 // bytes in chunks mapped on their own, and the shim's warm arrays in use
}

// Heap reads the C heap's figures.
func Heap() HeapInfo {
	var h C.cudt_heap_info
	C.cudt_heap_info_get(&h)
	live, kept := WarmCounts()
	return HeapInfo{uint64(h.arena), uint64(h.inuse), uint64(h.free) + kept, uint64(h.mmapped) + live}
}

// mallopt parameters (malloc.h).
const (
	M_TRIM_THRESHOLD = C.M_TRIM_THRESHOLD
	M_MMAP_THRESHOLD = C.M_MMAP_THRESHOLD
	M_ARENA_MAX      = C.M_ARENA_MAX
)

// Mallopt is glibc's mallopt: it changes the allocator of the whole
// process, and reports whether glibc accepted the value.
func Mallopt(param, value int) bool {
	return C.cudt_mallopt(C.int(param), C.int(value)) == 1
}
