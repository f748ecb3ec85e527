// UDT's setup arrays, left untouched or faulted in bulk: see prefault.h.

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <udt/buffer.h>
#include <udt/list.h>

#include "expose.h"
#include "prefault.h"

// Under AddressSanitizer (./build.sh asan) the warm mappings are made
// visible to it: LeakSanitizer scans those UDT holds for pointers (UDT
// keeps objects of the C heap only there, such as a port's hash buckets),
// and those kept are poisoned, so that a use after UDT's delete[] is
// reported as one.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define CUDT_WARM_HANDED(p, n)                 \
	do {                                   \
		ASAN_UNPOISON_MEMORY_REGION(p, n); \
		__lsan_register_root_region(p, n); \
	} while (0)
#define CUDT_WARM_FREED(p, n)                    \
	do {                                     \
		__lsan_unregister_root_region(p, n); \
		ASAN_POISON_MEMORY_REGION(p, n);     \
	} while (0)
#define CUDT_WARM_UNMAP(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define CUDT_WARM_HANDED(p, n) ((void)0)
#define CUDT_WARM_FREED(p, n) ((void)0)
#define CUDT_WARM_UNMAP(p, n) ((void)0)
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14
#endif

extern "C" {
void* __real__Znam(size_t n);
void __real__ZdaPv(void* p);
void __real__ZdaPvm(void* p, size_t n);
void __real__ZN12CSndLossListC1Ei(void* self, int size);
void __real__ZN12CRcvLossListC1Ei(void* self, int size);
void __real__ZN10CRcvBufferC1EP10CUnitQueuei(void* self, CUnitQueue* q, int size);
void __real__ZN10CRcvBufferD1Ev(void* self);
}

// The members a constructor of ours sets, as UDT 4.11's set them
// (list.cpp, buffer.cpp).
namespace {

// One tag and its instantiation per member (expose.h).
#define CUDT_EXPOSE(Tag, Class, T, Member) \
	CUDT_TAG(Tag, T Class::*);          \
	template struct Expose<Tag, &Class::Member>
CUDT_EXPOSE(SndData1, CSndLossList, int32_t*, m_piData1);
CUDT_EXPOSE(SndData2, CSndLossList, int32_t*, m_piData2);
CUDT_EXPOSE(SndNext, CSndLossList, int*, m_piNext);
CUDT_EXPOSE(SndHead, CSndLossList, int, m_iHead);
CUDT_EXPOSE(SndLength, CSndLossList, int, m_iLength);
CUDT_EXPOSE(SndSize, CSndLossList, int, m_iSize);
CUDT_EXPOSE(SndLastInsert, CSndLossList, int, m_iLastInsertPos);
CUDT_EXPOSE(SndLock, CSndLossList, pthread_mutex_t, m_ListLock);

CUDT_EXPOSE(RcvData1, CRcvLossList, int32_t*, m_piData1);
CUDT_EXPOSE(RcvData2, CRcvLossList, int32_t*, m_piData2);
CUDT_EXPOSE(RcvNext, CRcvLossList, int*, m_piNext);
CUDT_EXPOSE(RcvPrior, CRcvLossList, int*, m_piPrior);
CUDT_EXPOSE(RcvHead, CRcvLossList, int, m_iHead);
CUDT_EXPOSE(RcvTail, CRcvLossList, int, m_iTail);
CUDT_EXPOSE(RcvLength, CRcvLossList, int, m_iLength);
CUDT_EXPOSE(RcvSize, CRcvLossList, int, m_iSize);

CUDT_EXPOSE(BufUnits, CRcvBuffer, CUnit**, m_pUnit);
// A connection's lists (cudt_conn_mapped; its buffer is expose.h's
// RcvBuffer).
CUDT_EXPOSE(ConnRcvLoss, CUDT, CRcvLossList*, m_pRcvLossList);
CUDT_EXPOSE(ConnSndLoss, CUDT, CSndLossList*, m_pSndLossList);
CUDT_EXPOSE(BufSize, CRcvBuffer, int, m_iSize);
CUDT_EXPOSE(BufQueue, CRcvBuffer, CUnitQueue*, m_pUnitQueue);
CUDT_EXPOSE(BufStart, CRcvBuffer, int, m_iStartPos);
CUDT_EXPOSE(BufLastAck, CRcvBuffer, int, m_iLastAckPos);
CUDT_EXPOSE(BufMax, CRcvBuffer, int, m_iMaxPos);
CUDT_EXPOSE(BufNotch, CRcvBuffer, int, m_iNotch);

CUDT_EXPOSE(QueueCount, CUnitQueue, int, m_iCount);
#undef CUDT_EXPOSE

std::atomic<int> mode{CUDT_ARRAYS_UNTOUCHED};

size_t pageSize() {
	static size_t ps = size_t(sysconf(_SC_PAGESIZE));
	return ps;
}

size_t roundPages(size_t n) { return (n + pageSize() - 1) & ~(pageSize() - 1); }

// ---- Untouched arrays ----
//
// An array UDT fills with NULL is an anonymous private mapping: the kernel
// hands out zero pages as they are first touched. One it fills with -1 is
// a private mapping of a memory file of 0xff bytes: a page is read from
// the file when first read and copied when first written. Either way a
// page costs nothing until UDT touches it, and UDT touches a loss list's
// arrays only when packets are lost, a receive buffer's slots as packets
// land in them.

// What a mapping holds when handed out: zero pages, the 0xff file, or
// whatever the last array left (kWarm: new[]'s arrays, which UDT writes
// before it reads). kZeroHot is a zero mapping whose first page was kept
// resident, zeroed, when it was freed: for receive slots, whose first
// write lands there.
enum { kZero = 0, kOnes = 1, kWarm = 2, kZeroHot = 3 };

// A mapping of ours: its length and kind (kZero, kOnes or kWarm).
struct Mapping {
	size_t len;
	int kind;
};

std::mutex lazyMu; // guards what follows but the atomics
std::unordered_map<void*, Mapping>* live; // the arrays UDT holds now
int onesFd = -1;                          // the 0xff file, CUDT_LAZY_MAX bytes
bool onesFailed;                          // memfd_create refused: no -1 arrays
size_t liveCap;                           // untouched mappings allowed at once
std::atomic<uint64_t> lazyMapped{0}, lazyRefused{0}, lazyReused{0};

// Mappings UDT freed, handed back to the kernel's pages (MADV_DONTNEED:
// zero again, or the file's 0xff again) and kept for the next socket:
// a burst of dials would otherwise map and unmap five arrays a socket,
// a tenth of its profile. At most kMaxPooled (the arrays of 512 sockets:
// a burst of 200 connections within one process is 400), within liveCap
// with the untouched arrays live.
const size_t kMaxPooled = 4096;
std::unordered_map<size_t, std::vector<void*>>* pool; // by poolKey
size_t pooled;                                        // untouched ones kept

size_t poolKey(size_t len, int kind) { return len | size_t(kind); }

// Warm arrays (warmArray): those UDT holds and those kept, in number
// (at most an eighth of liveCap together, on top of it: some 500
// sockets' worth with the defaults; past it new[] takes the C heap) and
// in bytes (at most kWarmKeep kept, with the zeroed first pages of
// receive slots in hotKept; cudt_warm_release hands them back).
size_t warmN, warmPooledN;
uint64_t warmReused; // arrays handed out again
size_t warmLive, warmKept, hotKept;
const size_t kWarmKeep = 32 << 20;
const size_t kWarmMin = 4096, kWarmMax = 64 << 10;
std::atomic<bool> warmOn{true};

size_t pageSize();

// lazyLive is the number of untouched arrays UDT holds; lazyMu held.
size_t lazyLive() { return live->size() - warmN; }

// capFromMapCount keeps the mappings of ours to a quarter of the
// process's map count limit: the Go runtime, the C heap and thread stacks
// need the rest, and a refused mmap there is fatal.
size_t capFromMapCount() {
	long limit = 65530; // the kernel's default
	if (FILE* f = fopen("/proc/sys/vm/max_map_count", "re")) {
		long v;
		if (fscanf(f, "%ld", &v) == 1 && v > 0) {
			limit = v;
		}
		fclose(f);
	}
	return size_t(limit / 4);
}

// initLive makes the registry of mappings, with lazyMu held. It is never
// freed: a delete[] may come from UDT's threads until the process ends.
void initLive() {
	if (live == nullptr) {
		live = new std::unordered_map<void*, Mapping>();
		pool = new std::unordered_map<size_t, std::vector<void*>>();
		liveCap = capFromMapCount();
	}
}

// onesFile creates the 0xff file once, with lazyMu held.
int onesFile() {
	if (onesFd >= 0 || onesFailed) {
		return onesFd;
	}
	int fd = memfd_create("udt-loss-lists", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, CUDT_LAZY_MAX) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		onesFailed = true;
		return -1;
	}
	void* p = mmap(nullptr, CUDT_LAZY_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		onesFailed = true;
		return -1;
	}
	memset(p, 0xff, CUDT_LAZY_MAX);
	munmap(p, CUDT_LAZY_MAX);
	onesFd = fd;
	return fd;
}

// takePooled hands out a kept mapping of len bytes and the given kind, or
// null if none is kept; lazyMu held. It throws if the registry cannot
// grow.
void* takePooled(size_t len, int kind) {
	auto kept = pool->find(poolKey(len, kind));
	if (kept == pool->end() || kept->second.empty()) {
		return nullptr;
	}
	void* p = kept->second.back();
	live->emplace(p, Mapping{len, kind == kZeroHot ? kZero : kind});
	kept->second.pop_back();
	if (kind == kWarm) {
		warmPooledN--;
		warmN++;
		warmKept -= len;
		warmLive += len;
		warmReused++;
		CUDT_WARM_HANDED(p, len);
		return p;
	}
	pooled--;
	if (kind == kZeroHot) {
		hotKept -= pageSize();
	}
	lazyMapped.fetch_add(1, std::memory_order_relaxed);
	lazyReused.fetch_add(1, std::memory_order_relaxed);
	return p;
}

// New warm arrays are cut from slabs of kSlab bytes, one mmap for some
// sixteen sockets' worth: one each made a process's first burst of 200
// dials slower than with the C heap (1,600 mmap calls). A piece goes back
// to the kernel on its own (munmap of part of a mapping), a slab's unused
// tail once the next is mapped.
const size_t kSlab = 1 << 20;
char *slabCur, *slabEnd;

// slabPiece cuts len bytes (at most kSlab) from the current slab, mapping
// the next when it is used up; MAP_FAILED if the kernel refuses. lazyMu held.
void* slabPiece(size_t len) {
	if (slabCur == nullptr || size_t(slabEnd - slabCur) < len) {
		void* s = mmap(nullptr, kSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s == MAP_FAILED) {
			return MAP_FAILED;
		}
		if (slabCur != nullptr && slabCur < slabEnd) {
			munmap(slabCur, size_t(slabEnd - slabCur));
		}
		slabCur = static_cast<char*>(s);
		slabEnd = slabCur + kSlab;
	}
	void* p = slabCur;
	slabCur += len;
	return p;
}

// mapArray returns a mapping of n bytes of the given kind (kZero, kOnes
// or kWarm), a kept one if it can (for hot, a zero one with its first
// page resident first), or null when none can be had (the cap reached,
// the kernel refused).
void* mapArray(size_t n, int kind, bool hot = false) {
	size_t len = roundPages(n);
	bool warm = kind == kWarm;
	auto refuse = [warm]() -> void* {
		if (!warm) {
			lazyRefused.fetch_add(1, std::memory_order_relaxed);
		}
		return nullptr;
	};
	std::lock_guard<std::mutex> g(lazyMu);
	initLive();
	if (warm ? warmN >= liveCap / 8 : lazyLive() >= liveCap) {
		return refuse();
	}
	try {
		void* p = hot ? takePooled(len, kZeroHot) : nullptr;
		if (p == nullptr) {
			p = takePooled(len, kind);
		}
		if (p != nullptr) {
			return p;
		}
	} catch (...) {
		return refuse();
	}
	if (warm ? warmN + warmPooledN >= liveCap / 8 : lazyLive() + pooled >= liveCap) {
		return refuse();
	}
	void* p;
	if (kind == kOnes) {
		int fd = onesFile();
		if (fd < 0) {
			return refuse();
		}
		p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	} else if (warm) {
		p = slabPiece(len);
	} else {
		p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED) {
		return refuse();
	}
	try {
		live->emplace(p, Mapping{len, kind});
	} catch (...) {
		munmap(p, len);
		return refuse();
	}
	if (warm) {
		warmN++;
		warmLive += len;
		CUDT_WARM_HANDED(p, len);
	} else {
		lazyMapped.fetch_add(1, std::memory_order_relaxed);
	}
	return p;
}

// lazyArray returns an untouched array of n bytes, all 0xff when ones is
// set and zero otherwise, or null when such an array cannot be had here
// (too small to gain, too large for the file, the mapping cap reached,
// the kernel refused): the caller then builds UDT's own.
void* lazyArray(size_t n, bool ones) {
	if (n < CUDT_PREFAULT_MIN || n > CUDT_LAZY_MAX) {
		return nullptr;
	}
	return mapArray(n, ones ? kOnes : kZero);
}

bool untouched();

// warmArray serves a new[] of n bytes from a warm mapping, or returns
// null to leave it to the C heap. UDT allocates a connection's ACK
// history (4, 4 and 8 KiB) and send buffer (32 packets) with new[] and
// writes them as it goes: from the C heap, whose freed chunks glibc
// scatters over its arenas and malloc_trim hands back, each setup in a
// burst wrote fresh pages, a page fault each (a tenth of a burst's CPU,
// on the one receive thread that sets up a port's connections). A warm
// mapping keeps the pages of the last array it served, resident; new[]
// promises no contents.
void* warmArray(size_t n) {
	if (n < kWarmMin || n > kWarmMax || !warmOn.load(std::memory_order_relaxed) || !untouched()) {
		return nullptr;
	}
	return mapArray(n, kWarm);
}

// onPage reports whether p starts a page, as a mapping of ours does; new[]
// rarely returns such a pointer, so most deletes never take the lock.
bool onPage(void* p) { return (uintptr_t(p) & (pageSize() - 1)) == 0; }

// findLive returns p's entry in the registry, or null; lazyMu held.
Mapping* findLive(void* p) {
	if (live == nullptr) {
		return nullptr;
	}
	auto it = live->find(p);
	return it == live->end() ? nullptr : &it->second;
}

// lazyFree takes p back if it is one of ours: into the pool, its pages
// handed back (a warm array's kept, within kWarmKeep; a zero mapping's
// first page kept, zeroed, when firstResident says UDT wrote it), or
// unmapped.
bool lazyFree(void* p, bool firstResident = false) {
	if (!onPage(p)) {
		return false;
	}
	Mapping m;
	bool keep;
	{
		std::lock_guard<std::mutex> g(lazyMu);
		Mapping* found = findLive(p);
		if (found == nullptr) {
			return false;
		}
		m = *found;
		live->erase(p);
		// Counted as kept from now on, so that two frees cannot both
		// take the last place.
		if (m.kind == kWarm) {
			CUDT_WARM_FREED(p, m.len);
			warmN--;
			warmLive -= m.len;
			keep = warmKept + m.len <= kWarmKeep;
			if (keep) {
				warmPooledN++;
				warmKept += m.len;
			}
		} else {
			keep = pooled < kMaxPooled;
			if (keep) {
				pooled++;
			}
		}
	}
	int kind = m.kind;
	bool ok = true;
	if (keep && kind != kWarm) {
		size_t ps = pageSize();
		if (kind == kZero && firstResident && m.len > ps && warmOn.load(std::memory_order_relaxed)) {
			memset(p, 0, ps);
			ok = madvise(static_cast<char*>(p) + ps, m.len - ps, MADV_DONTNEED) == 0;
			kind = kZeroHot;
		} else {
			ok = madvise(p, m.len, MADV_DONTNEED) == 0;
		}
	}
	if (keep) {
		std::lock_guard<std::mutex> g(lazyMu);
		if (ok) {
			try {
				(*pool)[poolKey(m.len, kind)].push_back(p);
				if (kind == kZeroHot) {
					hotKept += pageSize();
				}
				return true;
			} catch (...) {
			}
		}
		if (m.kind == kWarm) {
			warmPooledN--;
			warmKept -= m.len;
		} else {
			pooled--;
		}
	}
	if (m.kind == kWarm) {
		CUDT_WARM_UNMAP(p, m.len);
	}
	munmap(p, m.len);
	return true;
}

// lazyLen reports whether p is a mapping of ours, and its length.
bool lazyLen(void* p, size_t* len) {
	if (!onPage(p)) {
		return false;
	}
	std::lock_guard<std::mutex> g(lazyMu);
	Mapping* found = findLive(p);
	if (found == nullptr) {
		return false;
	}
	*len = found->len;
	return true;
}

std::atomic<uint64_t> pagesSkipped{0};

// ~CRcvBuffer frees the units its slots hold, and reads every slot to
// find them: for slots mapped untouched, a page fault per page never
// used, taken by UDT's garbage collector with the lock every UDT call
// waits for (16 pages a socket by default). A page the process never
// touched is not resident and holds only NULL: mincore finds the pages
// to read in one call. Only without swap: a page swapped out is not
// resident either, and its units would never be freed.
void rcvBufferDestroy(CRcvBuffer* b) {
	CUnit** units = b->*member(BufUnits());
	size_t len;
	struct sysinfo si;
	if (!lazyLen(units, &len) || sysinfo(&si) != 0 || si.totalswap != 0) {
		__real__ZN10CRcvBufferD1Ev(b);
		return;
	}
	size_t ps = pageSize();
	unsigned char vec[CUDT_LAZY_MAX / 4096];
	size_t pages = len / ps;
	if (pages > sizeof(vec) || mincore(units, len, vec) != 0) {
		__real__ZN10CRcvBufferD1Ev(b);
		return;
	}
	int size = b->*member(BufSize());
	CUnitQueue* q = b->*member(BufQueue());
	size_t perPage = ps / sizeof(CUnit*);
	uint64_t skipped = 0;
	for (size_t pg = 0; pg < pages; pg++) {
		if ((vec[pg] & 1) == 0) {
			skipped++;
			continue;
		}
		size_t end = std::min((pg + 1) * perPage, size_t(size));
		for (size_t i = pg * perPage; i < end; i++) {
			if (units[i] != nullptr) {
				units[i]->m_iFlag = 0;
				--(q->*member(QueueCount()));
			}
		}
	}
	pagesSkipped.fetch_add(skipped, std::memory_order_relaxed);
	lazyFree(units, (vec[0] & 1) != 0);
}

// ---- Arrays faulted in bulk ----

// How many of this thread's next operator new[] calls to prefault: set
// by a wrapped constructor for the arrays it writes whole, which it
// allocates first (UDT 4.11, list.cpp and buffer.cpp):
// CSndLossList: m_piData1, m_piData2 (then m_piNext, written as losses
// come); CRcvLossList: m_piData1, m_piData2 (then m_piNext, m_piPrior);
// CRcvBuffer: m_pUnit.
thread_local int pending;

std::atomic<bool> unsupported{false}; // the kernel refused MADV_POPULATE_WRITE
std::atomic<uint64_t> arrays{0}, bytes{0};

// Armed sets pending for the length of a constructor, and clears it
// however the constructor ends (a bad_alloc goes through).
struct Armed {
	explicit Armed(int n) { pending = mode.load(std::memory_order_relaxed) == CUDT_ARRAYS_FAULTS ? 0 : n; }
	~Armed() { pending = 0; }
};

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

bool untouched() { return mode.load(std::memory_order_relaxed) == CUDT_ARRAYS_UNTOUCHED; }

// The constructors of ours do what UDT's do, member by member, with the
// arrays UDT fills whole mapped untouched instead. The lists' link arrays,
// which UDT leaves unset, are mapped too where they can be (zero pages:
// UDT writes a link before it reads it), else come from new[] as before:
// they are most of what a connection would take from the C heap, which
// grows for them page by page in a burst of setups. UDT's destructors'
// delete[] frees every array (lazyFree takes the mapped ones back). When
// a filled array cannot be mapped, UDT's own constructor runs.

// linkArray returns an array of size ints, mapped or from new[].
int* linkArray(int size) {
	if (void* p = lazyArray(size_t(size) * sizeof(int), false)) {
		return static_cast<int*>(p);
	}
	return new int[size];
}

// dataArrays maps a list's two data arrays of -1: both, or neither.
bool dataArrays(int size, int32_t** d1, int32_t** d2) {
	size_t n = size_t(size) * sizeof(int32_t);
	void* a = lazyArray(n, true);
	if (a == nullptr) {
		return false;
	}
	void* b = lazyArray(n, true);
	if (b == nullptr) {
		lazyFree(a);
		return false;
	}
	*d1 = static_cast<int32_t*>(a);
	*d2 = static_cast<int32_t*>(b);
	return true;
}

bool sndLossList(CSndLossList* l, int size) {
	int32_t *d1, *d2;
	if (!dataArrays(size, &d1, &d2)) {
		return false;
	}
	int* next;
	try {
		next = linkArray(size);
	} catch (...) {
		lazyFree(d1);
		lazyFree(d2);
		throw;
	}
	l->*member(SndData1()) = d1;
	l->*member(SndData2()) = d2;
	l->*member(SndNext()) = next;
	l->*member(SndHead()) = -1;
	l->*member(SndLength()) = 0;
	l->*member(SndSize()) = size;
	l->*member(SndLastInsert()) = -1;
	pthread_mutex_init(&(l->*member(SndLock())), nullptr);
	return true;
}

bool rcvLossList(CRcvLossList* l, int size) {
	int32_t *d1, *d2;
	if (!dataArrays(size, &d1, &d2)) {
		return false;
	}
	int* next = nullptr;
	int* prior = nullptr;
	try {
		next = linkArray(size);
		prior = linkArray(size);
	} catch (...) {
		delete[] next;
		lazyFree(d1);
		lazyFree(d2);
		throw;
	}
	l->*member(RcvData1()) = d1;
	l->*member(RcvData2()) = d2;
	l->*member(RcvNext()) = next;
	l->*member(RcvPrior()) = prior;
	l->*member(RcvHead()) = -1;
	l->*member(RcvTail()) = -1;
	l->*member(RcvLength()) = 0;
	l->*member(RcvSize()) = size;
	return true;
}

bool rcvBuffer(CRcvBuffer* b, CUnitQueue* q, int size) {
	size_t n = size_t(size) * sizeof(CUnit*);
	void* units = n >= CUDT_PREFAULT_MIN && n <= CUDT_LAZY_MAX ? mapArray(n, kZero, true) : nullptr;
	if (units == nullptr) {
		return false;
	}
	b->*member(BufUnits()) = static_cast<CUnit**>(units);
	b->*member(BufSize()) = size;
	b->*member(BufQueue()) = q;
	b->*member(BufStart()) = 0;
	b->*member(BufLastAck()) = 0;
	b->*member(BufMax()) = 0;
	b->*member(BufNotch()) = 0;
	return true;
}

} // namespace

extern "C" {

void* __wrap__Znam(size_t n) {
	if (pending == 0) {
		if (void* w = warmArray(n)) {
			return w;
		}
	}
	void* p = __real__Znam(n); // throws bad_alloc as ever
	if (pending > 0) {
		pending--;
		if (n >= CUDT_PREFAULT_MIN) {
			populate(p, n);
		}
	}
	return p;
}

void __wrap__ZdaPv(void* p) {
	if (p != nullptr && lazyFree(p)) {
		return;
	}
	__real__ZdaPv(p);
}

// The sized delete[], which UDT's queue.cpp calls for its arrays of units
// (a type with a destructor: the size is in a cookie before them).
void __wrap__ZdaPvm(void* p, size_t n) {
	if (p != nullptr && lazyFree(p)) {
		return;
	}
	__real__ZdaPvm(p, n);
}

void __wrap__ZN12CSndLossListC1Ei(void* self, int size) {
	if (size > 0 && untouched() && sndLossList(static_cast<CSndLossList*>(self), size)) {
		return;
	}
	Armed a(2);
	__real__ZN12CSndLossListC1Ei(self, size);
}

void __wrap__ZN12CRcvLossListC1Ei(void* self, int size) {
	if (size > 0 && untouched() && rcvLossList(static_cast<CRcvLossList*>(self), size)) {
		return;
	}
	Armed a(2);
	__real__ZN12CRcvLossListC1Ei(self, size);
}

void __wrap__ZN10CRcvBufferC1EP10CUnitQueuei(void* self, CUnitQueue* q, int size) {
	if (size > 0 && untouched() && rcvBuffer(static_cast<CRcvBuffer*>(self), q, size)) {
		return;
	}
	Armed a(1);
	__real__ZN10CRcvBufferC1EP10CUnitQueuei(self, q, size);
}

void __wrap__ZN10CRcvBufferD1Ev(void* self) { rcvBufferDestroy(static_cast<CRcvBuffer*>(self)); }

void cudt_prefault_counts(uint64_t* n, uint64_t* b, int* supported) {
	*n = arrays.load(std::memory_order_relaxed);
	*b = bytes.load(std::memory_order_relaxed);
	*supported = !unsupported.load(std::memory_order_relaxed);
}

void cudt_lazy_counts(uint64_t* mapped, uint64_t* mappedNow, uint64_t* refused, uint64_t* skipped, uint64_t* reused) {
	*reused = lazyReused.load(std::memory_order_relaxed);
	*mapped = lazyMapped.load(std::memory_order_relaxed);
	*skipped = pagesSkipped.load(std::memory_order_relaxed);
	*refused = lazyRefused.load(std::memory_order_relaxed);
	std::lock_guard<std::mutex> g(lazyMu);
	*mappedNow = live == nullptr ? 0 : lazyLive();
}

void cudt_setup_arrays(int m) { mode.store(m, std::memory_order_relaxed); }

void cudt_warm_arrays(int on) { warmOn.store(on != 0, std::memory_order_relaxed); }

void cudt_warm_counts(uint64_t* live, uint64_t* kept, uint64_t* reused) {
	std::lock_guard<std::mutex> g(lazyMu);
	*live = warmLive;
	*kept = warmKept + hotKept;
	*reused = warmReused;
}

size_t cudt_warm_release(void) {
	std::vector<std::pair<void*, size_t>> drop;
	{
		std::lock_guard<std::mutex> g(lazyMu);
		if (pool == nullptr) {
			return 0;
		}
		try {
			for (auto& e : *pool) {
				int kind = int(e.first & 3);
				if (kind == kWarm || kind == kZeroHot) {
					for (void* p : e.second) {
						drop.emplace_back(p, e.first & ~size_t(3));
					}
				}
			}
		} catch (...) {
			return 0; // nothing taken out: kept for the next call
		}
		for (auto& e : *pool) {
			int kind = int(e.first & 3);
			if (kind == kWarm) {
				warmPooledN -= e.second.size();
				e.second.clear();
			} else if (kind == kZeroHot) {
				pooled -= e.second.size();
				e.second.clear();
			}
		}
		warmKept = 0;
		hotKept = 0;
	}
	size_t bytes = 0;
	for (auto& d : drop) {
		CUDT_WARM_UNMAP(d.first, d.second);
		munmap(d.first, d.second);
		bytes += d.second;
	}
	return bytes;
}

int cudt_conn_mapped(int u) {
	// Only while u is open: its buffer and lists are alive. UDT's lock,
	// then lazyMu, the order of a delete[] under that lock.
	int mask = -1;
	open_find(u, [&](CUDT* c) {
		std::lock_guard<std::mutex> g(lazyMu);
		mask = 0;
		auto in = [&](const void* p, int bit) {
			if (p != NULL && live != NULL && live->count(const_cast<void*>(p)) != 0) mask |= 1 << bit;
		};
		if (CRcvBuffer* b = c->*member(RcvBuffer())) in(b->*member(BufUnits()), CUDT_MAPPED_UNITS);
		if (CRcvLossList* l = c->*member(ConnRcvLoss())) {
			in(l->*member(RcvData1()), CUDT_MAPPED_RCV_DATA1);
			in(l->*member(RcvData2()), CUDT_MAPPED_RCV_DATA2);
			in(l->*member(RcvNext()), CUDT_MAPPED_RCV_NEXT);
			in(l->*member(RcvPrior()), CUDT_MAPPED_RCV_PRIOR);
		}
		if (CSndLossList* l = c->*member(ConnSndLoss())) {
			in(l->*member(SndData1()), CUDT_MAPPED_SND_DATA1);
			in(l->*member(SndData2()), CUDT_MAPPED_SND_DATA2);
			in(l->*member(SndNext()), CUDT_MAPPED_SND_NEXT);
		}
	});
	return mask;
}

int cudt_warm_check(char* why, int whylen) {
	// A size UDT does not allocate (three pages), so that the pool's last
	// one freed is the check's; and room in it.
	const size_t n = 3 * pageSize();
	cudt_warm_release();
	void* a = __wrap__Znam(n);
	size_t len;
	if (!lazyLen(a, &len) || len != n) {
		snprintf(why, size_t(whylen), "new[] of %zu bytes was not served from a warm mapping", n);
		__wrap__ZdaPv(a);
		return 1;
	}
	memset(a, 0x5a, n);
	__wrap__ZdaPv(a);
#if defined(__SANITIZE_ADDRESS__)
	if (!__asan_address_is_poisoned(a) || !__asan_address_is_poisoned(static_cast<char*>(a) + n - 1)) {
		snprintf(why, size_t(whylen), "a warm array kept after delete[] is not poisoned");
		return 1;
	}
#endif
	void* b = __wrap__Znam(n);
	int rc = 0;
	if (b != a) {
		snprintf(why, size_t(whylen), "the next new[] of its size got %p, not the kept %p", b, a);
		rc = 1;
	} else if (static_cast<unsigned char*>(b)[0] != 0x5a || static_cast<unsigned char*>(b)[n - 1] != 0x5a) {
		snprintf(why, size_t(whylen), "the kept array's pages were not kept");
		rc = 1;
	}
	__wrap__ZdaPvm(b, n);
	return rc;
}

long cudt_lazy_cap(long n) {
	std::lock_guard<std::mutex> g(lazyMu);
	initLive();
	long old = long(liveCap);
	if (n >= 0) {
		liveCap = size_t(n);
	}
	return old;
}

} // extern "C"

namespace {

// checkListData compares the two data arrays of loss lists x (built by
// UDT) and y (by us), n slots, then dirties y's, destroys both, builds y
// again with ctor (which may reuse the dirtied mappings) and checks that
// its data is -1 all through. The first difference goes to why, if not
// null.
template <typename List, typename Data1, typename Data2>
int checkListData(List* x, List* y, int n, void (*ctor)(void*, int), const char* name, char* why, int whylen) {
	int32_t* List::*d1 = member(Data1());
	int32_t* List::*d2 = member(Data2());
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		if ((x->*d1)[i] != (y->*d1)[i] || (x->*d2)[i] != (y->*d2)[i]) {
			if (why != nullptr) snprintf(why, size_t(whylen), "%s: slot %d differs", name, i);
			rc = 1;
		}
	}
	for (int i = 0; i < n; i++) {
		(y->*d1)[i] = 0x55555555;
		(y->*d2)[i] = 0x55555555;
	}
	x->~List();
	y->~List();
	ctor(y, n);
	for (int i = 0; rc == 0 && i < n; i++) {
		if ((y->*d1)[i] != -1 || (y->*d2)[i] != -1) {
			if (why != nullptr) snprintf(why, size_t(whylen), "%s built after a dirtied one: slot %d is not -1", name, i);
			rc = 1;
		}
	}
	y->~List();
	return rc;
}

} // namespace

extern "C" {

// cudt_setup_arrays_check builds each of the three with UDT's constructor
// and with ours, n slots, and compares them member by member and slot by
// slot; it returns 0 when they agree and otherwise names the first
// difference in why. The objects are freed by UDT's destructors, which
// must hand the mapped arrays back.
int cudt_setup_arrays_check(int n, char* why, int whylen) {
	int saved = mode.exchange(CUDT_ARRAYS_UNTOUCHED);
	uint64_t before = lazyMapped.load();
	uint64_t reusedBefore = lazyReused.load();
	int rc = 0;
#define DIFFER(...)                                   \
	do {                                          \
		snprintf(why, size_t(whylen), __VA_ARGS__); \
		rc = 1;                               \
	} while (0)
	{
		alignas(CSndLossList) unsigned char a[sizeof(CSndLossList)], b[sizeof(CSndLossList)];
		__real__ZN12CSndLossListC1Ei(a, n);
		__wrap__ZN12CSndLossListC1Ei(b, n);
		auto* x = reinterpret_cast<CSndLossList*>(a);
		auto* y = reinterpret_cast<CSndLossList*>(b);
		if (x->*member(SndHead()) != y->*member(SndHead()) || x->*member(SndLength()) != y->*member(SndLength()) ||
		    x->*member(SndSize()) != y->*member(SndSize()) || x->*member(SndLastInsert()) != y->*member(SndLastInsert())) {
			DIFFER("CSndLossList: head, length, size or last insert differ");
		}
		if (checkListData<CSndLossList, SndData1, SndData2>(x, y, n, __wrap__ZN12CSndLossListC1Ei, "CSndLossList", rc == 0 ? why : nullptr, whylen) != 0) {
			rc = 1;
		}
	}
	{
		alignas(CRcvLossList) unsigned char a[sizeof(CRcvLossList)], b[sizeof(CRcvLossList)];
		__real__ZN12CRcvLossListC1Ei(a, n);
		__wrap__ZN12CRcvLossListC1Ei(b, n);
		auto* x = reinterpret_cast<CRcvLossList*>(a);
		auto* y = reinterpret_cast<CRcvLossList*>(b);
		if (rc == 0 && (x->*member(RcvHead()) != y->*member(RcvHead()) || x->*member(RcvTail()) != y->*member(RcvTail()) ||
				x->*member(RcvLength()) != y->*member(RcvLength()) || x->*member(RcvSize()) != y->*member(RcvSize()))) {
			DIFFER("CRcvLossList: head, tail, length or size differ");
		}
		if (checkListData<CRcvLossList, RcvData1, RcvData2>(x, y, n, __wrap__ZN12CRcvLossListC1Ei, "CRcvLossList", rc == 0 ? why : nullptr, whylen) != 0) {
			rc = 1;
		}
	}
	{
		alignas(CRcvBuffer) unsigned char a[sizeof(CRcvBuffer)], b[sizeof(CRcvBuffer)];
		CUnitQueue* q = reinterpret_cast<CUnitQueue*>(&rc); // stored, never followed while the slots are empty
		__real__ZN10CRcvBufferC1EP10CUnitQueuei(a, q, n);
		__wrap__ZN10CRcvBufferC1EP10CUnitQueuei(b, q, n);
		auto* x = reinterpret_cast<CRcvBuffer*>(a);
		auto* y = reinterpret_cast<CRcvBuffer*>(b);
		if (rc == 0 && (x->*member(BufSize()) != y->*member(BufSize()) || x->*member(BufQueue()) != y->*member(BufQueue()) ||
				x->*member(BufStart()) != y->*member(BufStart()) || x->*member(BufLastAck()) != y->*member(BufLastAck()) ||
				x->*member(BufMax()) != y->*member(BufMax()) || x->*member(BufNotch()) != y->*member(BufNotch()))) {
			DIFFER("CRcvBuffer: size, queue or positions differ");
		}
		for (int i = 0; rc == 0 && i < n; i++) {
			if ((x->*member(BufUnits()))[i] != (y->*member(BufUnits()))[i]) {
				DIFFER("CRcvBuffer: slot %d differs", i);
			}
		}
		x->~CRcvBuffer();
		y->~CRcvBuffer();
	}
#undef DIFFER
	auto fits = [](size_t b) { return b >= CUDT_PREFAULT_MIN && b <= CUDT_LAZY_MAX; };
	// Each list built twice by us, the second time on the first's
	// mappings (the pool hands out the last array freed first): its two
	// data arrays, and its one or two link arrays.
	uint64_t want = (fits(size_t(n) * 4) ? 14 : 0) + (fits(size_t(n) * 8) ? 1 : 0);
	uint64_t wantReused = fits(size_t(n) * 4) ? 4 : 0;
	if (rc == 0 && (lazyMapped.load() - before != want || lazyReused.load() - reusedBefore < wantReused)) {
		snprintf(why, size_t(whylen), "%llu arrays mapped untouched, %llu reused; want %llu and at least %llu",
			 (unsigned long long)(lazyMapped.load() - before), (unsigned long long)(lazyReused.load() - reusedBefore),
			 (unsigned long long)want, (unsigned long long)wantReused);
		rc = 1;
	}
	mode.store(saved);
	return rc;
}

// cudt_rcvbuffer_destroy_check fills three slots far apart of a receive
// buffer of the shim's (8,192 slots, mapped untouched) with units, as UDT's
// addData does, destroys it, and checks that each unit was freed and the
// queue's count came back to 0. It returns 0 when so, with the pages the
// destructor skipped in *skipped, and 1 with the difference in why.
int cudt_rcvbuffer_destroy_check(uint64_t* skipped, char* why, int whylen) {
	int saved = mode.exchange(CUDT_ARRAYS_UNTOUCHED);
	CUnitQueue q;
	CUnit units[3];
	const int slots[3] = {0, 5000, 8191};
	alignas(CRcvBuffer) unsigned char raw[sizeof(CRcvBuffer)];
	__wrap__ZN10CRcvBufferC1EP10CUnitQueuei(raw, &q, 8192);
	auto* b = reinterpret_cast<CRcvBuffer*>(raw);
	int rc = 0;
	size_t len;
	if (!lazyLen(b->*member(BufUnits()), &len)) {
		snprintf(why, size_t(whylen), "the slots were not mapped");
		rc = 1;
	}
	for (int k = 0; k < 3; k++) {
		units[k].m_iFlag = 1;
		(b->*member(BufUnits()))[slots[k]] = &units[k];
		++(q.*member(QueueCount()));
	}
	uint64_t before = pagesSkipped.load();
	__wrap__ZN10CRcvBufferD1Ev(b);
	*skipped = pagesSkipped.load() - before;
	for (int k = 0; rc == 0 && k < 3; k++) {
		if (units[k].m_iFlag != 0) {
			snprintf(why, size_t(whylen), "the unit in slot %d was not freed", slots[k]);
			rc = 1;
		}
	}
	if (rc == 0 && q.*member(QueueCount()) != 0) {
		snprintf(why, size_t(whylen), "the queue counts %d units, want 0", q.*member(QueueCount()));
		rc = 1;
	}
	// The next buffer of the size may reuse the slots' mapping: NULL all
	// through again.
	__wrap__ZN10CRcvBufferC1EP10CUnitQueuei(raw, &q, 8192);
	for (int i = 0; rc == 0 && i < 8192; i++) {
		if ((b->*member(BufUnits()))[i] != nullptr) {
			snprintf(why, size_t(whylen), "a buffer built after one that held units: slot %d is not NULL", i);
			rc = 1;
		}
	}
	__real__ZN10CRcvBufferD1Ev(b);
	mode.store(saved);
	return rc;
}

} // extern "C"
