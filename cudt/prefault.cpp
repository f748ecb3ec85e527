// Setup's page faults, taken in bulk: see prefault.h.

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <new>

#include "prefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14
#endif

class CUnitQueue;

extern "C" {
void* __real__Znam(size_t n);
void __real__ZN12CSndLossListC1Ei(void* self, int size);
void __real__ZN12CRcvLossListC1Ei(void* self, int size);
void __real__ZN10CRcvBufferC1EP10CUnitQueuei(void* self, CUnitQueue* q, int size);
}

namespace {

// How many of this thread's next operator new[] calls to prefault: set
// by a wrapped constructor for the arrays it writes whole, which it
// allocates first (UDT 4.11, list.cpp and buffer.cpp):
// CSndLossList: m_piData1, m_piData2 (then m_piNext, written as losses
// come); CRcvLossList: m_piData1, m_piData2 (then m_piNext, m_piPrior);
// CRcvBuffer: m_pUnit.
thread_local int pending;

std::atomic<bool> unsupported{false}; // the kernel refused MADV_POPULATE_WRITE
std::atomic<uint64_t> arrays{0}, bytes{0};
std::atomic<bool> disabled{false}; // cudt_prefault_set_enabled(0)

// Armed sets pending for the length of a constructor, and clears it
// however the constructor ends (a bad_alloc goes through).
struct Armed {
	explicit Armed(int n) { pending = disabled.load(std::memory_order_relaxed) ? 0 : n; }
	~Armed() { pending = 0; }
};

size_t pageSize() {
	static size_t ps = size_t(sysconf(_SC_PAGESIZE));
	return ps;
}

// populate faults in the whole pages of [p, p+n) in one system call. The
// contents stay as they are; a kernel without MADV_POPULATE_WRITE turns
// it off for good, and the constructor then faults page by page as before.
void populate(void* p, size_t n) {
	if (unsupported.load(std::memory_order_relaxed)) {
		return;
	}
	uintptr_t ps = pageSize();
	uintptr_t a = (uintptr_t(p) + ps - 1) & ~(ps - 1);
	uintptr_t e = (uintptr_t(p) + n) & ~(ps - 1);
	if (e <= a) {
		return;
	}
	if (madvise(reinterpret_cast<void*>(a), e - a, MADV_POPULATE_WRITE) != 0) {
		// EINVAL: no such advice here. ENOMEM/EFAULT: the pages will fault
		// one by one when written, as without us; nothing is lost.
		if (errno == EINVAL) {
			unsupported.store(true, std::memory_order_relaxed);
		}
		return;
	}
	arrays.fetch_add(1, std::memory_order_relaxed);
	bytes.fetch_add(e - a, std::memory_order_relaxed);
}

} // namespace

extern "C" {

void* __wrap__Znam(size_t n) {
	void* p = __real__Znam(n); // throws bad_alloc as ever
	if (pending > 0) {
		pending--;
		if (n >= CUDT_PREFAULT_MIN) {
			populate(p, n);
		}
	}
	return p;
}

void __wrap__ZN12CSndLossListC1Ei(void* self, int size) {
	Armed a(2);
	__real__ZN12CSndLossListC1Ei(self, size);
}

void __wrap__ZN12CRcvLossListC1Ei(void* self, int size) {
	Armed a(2);
	__real__ZN12CRcvLossListC1Ei(self, size);
}

void __wrap__ZN10CRcvBufferC1EP10CUnitQueuei(void* self, CUnitQueue* q, int size) {
	Armed a(1);
	__real__ZN10CRcvBufferC1EP10CUnitQueuei(self, q, size);
}

void cudt_prefault_counts(uint64_t* n, uint64_t* b, int* supported) {
	*n = arrays.load(std::memory_order_relaxed);
	*b = bytes.load(std::memory_order_relaxed);
	*supported = !unsupported.load(std::memory_order_relaxed);
}

void cudt_prefault_set_enabled(int on) { disabled.store(!on, std::memory_order_relaxed); }

} // extern "C"
