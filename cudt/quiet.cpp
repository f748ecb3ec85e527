// Quiet ports: see quiet.h.

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <udt/udt.h>
#include <udt/api.h>
#include <udt/channel.h>
#include <udt/common.h>
#include <udt/core.h>
#include <udt/queue.h>

#include "expose.h"
#include "quiet.h"

extern "C" {
void __real__ZN9CRcvQueue11setNewEntryEP4CUDT(CRcvQueue* q, CUDT* u);
void __real__ZN9CRcvQueue17registerConnectorERKiP4CUDTiPK8sockaddrm(CRcvQueue* q, const int* id, CUDT* u, int ipv,
                                                                    const sockaddr* addr, uint64_t ttl);
void __real__ZN9CRcvQueueD1Ev(CRcvQueue* q);
void __real__ZNK8CChannel5closeEv(const CChannel* c);
}

namespace {

CUDT_TAG(RcvUList, CRcvUList* CRcvQueue::*);
CUDT_TAG(QueueTimer, CTimer* CRcvQueue::*);
CUDT_TAG(QueueChannel, CChannel* CRcvQueue::*);
CUDT_TAG(QueueClosing, volatile bool CRcvQueue::*);
CUDT_TAG(NewEntry, std::vector<CUDT*> CRcvQueue::*);
CUDT_TAG(NewEntryLock, pthread_mutex_t CRcvQueue::*);
CUDT_TAG(Connectors, CRendezvousQueue* CRcvQueue::*);
CUDT_TAG(ConnectorsLock, pthread_mutex_t CRendezvousQueue::*);
CUDT_TAG(SchedTime, uint64_t CTimer::*);
CUDT_TAG(TickCond, pthread_cond_t CTimer::*);
CUDT_TAG(TickLock, pthread_mutex_t CTimer::*);
template struct Expose<RcvUList, &CRcvQueue::m_pRcvUList>;
template struct Expose<QueueTimer, &CRcvQueue::m_pTimer>;
template struct Expose<QueueChannel, &CRcvQueue::m_pChannel>;
template struct Expose<QueueClosing, &CRcvQueue::m_bClosing>;
template struct Expose<NewEntry, &CRcvQueue::m_vNewEntry>;
template struct Expose<NewEntryLock, &CRcvQueue::m_IDLock>;
template struct Expose<Connectors, &CRcvQueue::m_pRendezvousQueue>;
template struct Expose<ConnectorsLock, &CRendezvousQueue::m_RIDVectorLock>;
template struct Expose<SchedTime, &CTimer::m_ullSchedTime>;
template struct Expose<TickCond, &CTimer::m_TickCond>;
template struct Expose<TickLock, &CTimer::m_TickLock>;

// The list of dialing sockets holds a private type, which a tag cannot
// spell; an auto template parameter names it without spelling it.
struct ConnectorList {
	friend auto member(ConnectorList);
};
template <auto M>
struct ExposeAuto {
	friend auto member(ConnectorList) { return M; }
};
template struct ExposeAuto<&CRendezvousQueue::m_lRendezvousID>;

// A sender with less than this left to wait relies on the receiving
// thread's passes (UDT's own pacing); with more, it wakes itself. Passes
// come every 4 ms on a quiet port, so no sender wakes more often than
// before.
const uint64_t kSelfTimedUs = 4000;

// A pass acts on a connection that has heard nothing for this long
// (CRcvQueue::worker's TIMER_CHECK).
const uint64_t kIdleCheckUs = 100000;

// The longest wait without a pass, also for a port with no connection: a
// wake-up this code failed to send costs no more than this.
const uint64_t kMaxWaitUs = 100000;

// The longest cudt_pass_barrier waits for a pass to end: a pass that takes
// longer is stuck on something a close cannot help.
const long kBarrierNs = 20 * 1000 * 1000;

// UDT's sender waits in slices of this long (CTimer::sleepto).
const uint64_t kSliceUs = 10000;

struct Port {
	CRcvQueue* q;
	CTimer* timer;
	CChannel* channel;
	int efd;
	std::atomic<bool> waiting{false};  // in ppoll, past UDT's own timeout
	std::atomic<bool> closing{false};
	std::atomic<uint64_t> reads{0};     // reads begun
	std::atomic<bool> reading{false};   // between a pass and the next
};

std::mutex g_mu;  // a leaf: nothing else is locked while it is held
std::unordered_map<CRcvQueue*, Port*> g_by_queue;
std::unordered_map<const CTimer*, Port*> g_by_timer;

std::atomic<bool> g_on{true};
std::atomic<uint64_t> g_waits{0};

// The receiving thread's port, and whether its last read found nothing.
thread_local Port* tl_port = NULL;
thread_local bool tl_quiet = false;

// The sending thread's port, found once: the sending thread ends (UDT
// deletes the send queue) before the receiving thread, which frees it.
thread_local const CTimer* tl_timer = NULL;
thread_local Port* tl_sender = NULL;

void wake(Port* p) {
	uint64_t one = 1;
	ssize_t r = write(p->efd, &one, sizeof one);
	(void)r;  // full (2^64 - 2 wakes unread) or closed: nothing to wake
}

// Wakes q's receiving thread unless this is that thread.
void poke(CRcvQueue* q) {
	if (tl_port != NULL && tl_port->q == q) return;
	std::lock_guard<std::mutex> l(g_mu);
	std::unordered_map<CRcvQueue*, Port*>::iterator it = g_by_queue.find(q);
	if (it != g_by_queue.end()) wake(it->second);
}

// Work a pass must do soon: connections to enter, dials in progress.
bool pending(CRcvQueue* q) {
	pthread_mutex_t* l = &(q->*member(NewEntryLock()));
	pthread_mutex_lock(l);
	bool busy = !(q->*member(NewEntry())).empty();
	pthread_mutex_unlock(l);
	if (busy) return true;
	CRendezvousQueue* rq = q->*member(Connectors());
	if (rq == NULL) return false;
	l = &(rq->*member(ConnectorsLock()));
	pthread_mutex_lock(l);
	busy = !(rq->*member(ConnectorList())).empty();
	pthread_mutex_unlock(l);
	return busy;
}

uint64_t now_tsc() {
	uint64_t t;
	CTimer::rdtsc(t);
	return t;
}

uint64_t freq() {
	uint64_t f = CTimer::getCPUFrequency();
	return f == 0 ? 1 : f;
}

Port* sender_port(const CTimer* t) {
	if (tl_timer == t) return tl_sender;
	std::lock_guard<std::mutex> l(g_mu);
	std::unordered_map<const CTimer*, Port*>::iterator it = g_by_timer.find(t);
	if (it == g_by_timer.end()) return NULL;
	tl_timer = t;
	tl_sender = it->second;
	return tl_sender;
}

}  // namespace

void cudt_quiet_start(CRcvQueue* q) {
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) return;  // the port runs as UDT runs it
	Port* p = new (std::nothrow) Port;
	if (p == NULL) {
		close(efd);
		return;
	}
	p->q = q;
	p->timer = q->*member(QueueTimer());
	p->channel = q->*member(QueueChannel());
	p->efd = efd;
	std::lock_guard<std::mutex> l(g_mu);
	g_by_queue[q] = p;
	g_by_timer[p->timer] = p;
	tl_port = p;
}

void cudt_quiet_stop(CRcvQueue* q) {
	Port* p = tl_port;
	tl_port = NULL;
	if (p == NULL) return;
	{
		std::lock_guard<std::mutex> l(g_mu);
		g_by_queue.erase(q);
		std::unordered_map<const CTimer*, Port*>::iterator it = g_by_timer.find(p->timer);
		if (it != g_by_timer.end() && it->second == p) g_by_timer.erase(it);
	}
	close(p->efd);
	delete p;
}

bool cudt_quiet_wait(int fd) {
	Port* p = tl_port;
	if (p != NULL) {
		p->reads.fetch_add(1);
		p->reading.store(true);
	}
	// Only after a read that found nothing: a busy port reads as UDT does.
	if (p == NULL || !tl_quiet || !g_on.load(std::memory_order_relaxed)) return true;
	CRcvQueue* q = p->q;
	if (p->closing.load() || q->*member(QueueClosing()) || pending(q)) return true;
	uint64_t f = freq();
	uint64_t now = now_tsc();
	uint64_t deadline = now + kMaxWaitUs * f;
	CRNode* head = (q->*member(RcvUList()))->m_pUList;
	if (head != NULL && head->m_llTimeStamp + kIdleCheckUs * f < deadline) deadline = head->m_llTimeStamp + kIdleCheckUs * f;
	// Announce the wait before reading the sender's time, which the sender
	// writes before reading the announcement: one of the two sees the other.
	p->waiting.store(true);
	uint64_t sched = __atomic_load_n(&(p->timer->*member(SchedTime())), __ATOMIC_SEQ_CST);
	bool sender_needs_passes = sched > now && sched - now < kSelfTimedUs * f;
	// Within UDT's own timeout, its read is as good.
	if (sender_needs_passes || deadline <= now + kSelfTimedUs * f) {
		p->waiting.store(false);
		return true;
	}
	uint64_t us = (deadline - now) / f;
	timespec ts;
	ts.tv_sec = time_t(us / 1000000);
	ts.tv_nsec = long(us % 1000000) * 1000;
	pollfd fds[2];
	fds[0].fd = fd;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	fds[1].fd = p->efd;
	fds[1].events = POLLIN;
	fds[1].revents = 0;
	g_waits.fetch_add(1, std::memory_order_relaxed);
	int r = ppoll(fds, 2, &ts, NULL);
	p->waiting.store(false);
	if (r > 0 && (fds[1].revents & POLLIN)) {
		uint64_t v;
		ssize_t n = read(p->efd, &v, sizeof v);
		(void)n;
	}
	// A packet, or an error the read reports; otherwise a pass with
	// nothing read, as after UDT's own timeout.
	return r > 0 && fds[0].revents != 0;
}

void cudt_quiet_read(ssize_t n, int err) {
	tl_quiet = n < 0 && (err == EAGAIN || err == EWOULDBLOCK);
	if (tl_port != NULL) tl_port->reading.store(false);
}

namespace {

// The port of open socket u, or NULL. It outlives the caller's use while u
// stays open: UDT keeps a port's queues while a socket uses it.
Port* port_of(int u) {
	try {
		CUDTSocket* s = (member(United())->*member(Locate()))(u);
		if (s == NULL || s->m_pUDT == NULL) return NULL;
		CRcvQueue* q = s->m_pUDT->*member(RcvQueue());
		std::lock_guard<std::mutex> l(g_mu);
		std::unordered_map<CRcvQueue*, Port*>::iterator it = g_by_queue.find(q);
		return it != g_by_queue.end() ? it->second : NULL;
	} catch (...) {
		return NULL;
	}
}

}  // namespace

int64_t cudt_quiet_port_reads(int u) {
	Port* p = port_of(u);
	return p != NULL ? int64_t(p->reads.load()) : -1;
}

void cudt_pass_barrier(int u) {
	Port* p = port_of(u);
	if (p == NULL || p->reading.load()) return;
	uint64_t r0 = p->reads.load();
	timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (p->reading.load() || p->reads.load() != r0) return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) > kBarrierNs) return;
		sched_yield();
	}
}

uint64_t cudt_quiet_waits(void) { return g_waits.load(); }

void cudt_quiet_enable(int on) { g_on.store(on != 0); }

// CTimer::sleepto as UDT 4.11 builds it with NO_BUSY_WAITING, except that
// a wait of 4 ms or more ends at its time rather than at the next 10 ms
// slice or pass, and a shorter one wakes a receiving thread that waits
// without passes.
extern "C" void __wrap__ZN6CTimer7sleeptoEm(CTimer* t, uint64_t nexttime) {
	uint64_t* sched = &(t->*member(SchedTime()));
	__atomic_store_n(sched, nexttime, __ATOMIC_SEQ_CST);
	Port* p = g_on.load(std::memory_order_relaxed) ? sender_port(t) : NULL;
	uint64_t f = freq();
	pthread_mutex_t* lock = &(t->*member(TickLock()));
	pthread_cond_t* cond = &(t->*member(TickCond()));
	uint64_t now = now_tsc();
	for (;;) {
		uint64_t due = __atomic_load_n(sched, __ATOMIC_SEQ_CST);
		if (now >= due) break;
		uint64_t wait_us = kSliceUs;
		if (p != NULL) {
			uint64_t left = (due - now) / f;
			if (left >= kSelfTimedUs)
				wait_us = left < kSliceUs ? left : kSliceUs;
			else if (p->waiting.load())
				wake(p);
		}
		timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += long(wait_us) * 1000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_mutex_lock(lock);
		pthread_cond_timedwait(cond, lock, &ts);
		pthread_mutex_unlock(lock);
		now = now_tsc();
	}
}

extern "C" void __wrap__ZN9CRcvQueue11setNewEntryEP4CUDT(CRcvQueue* q, CUDT* u) {
	__real__ZN9CRcvQueue11setNewEntryEP4CUDT(q, u);
	poke(q);
}

extern "C" void __wrap__ZN9CRcvQueue17registerConnectorERKiP4CUDTiPK8sockaddrm(CRcvQueue* q, const int* id, CUDT* u,
                                                                              int ipv, const sockaddr* addr,
                                                                              uint64_t ttl) {
	__real__ZN9CRcvQueue17registerConnectorERKiP4CUDTiPK8sockaddrm(q, id, u, ipv, addr, ttl);
	poke(q);
}

// UDT closes a port's UDP socket before it deletes the port's queues, and
// a thread in ppoll does not notice a descriptor closed under it: the
// receiving thread stops waiting first.
extern "C" void __wrap__ZNK8CChannel5closeEv(const CChannel* c) {
	{
		std::lock_guard<std::mutex> l(g_mu);
		for (std::unordered_map<CRcvQueue*, Port*>::iterator it = g_by_queue.begin(); it != g_by_queue.end(); ++it) {
			if (it->second->channel == c) {
				it->second->closing.store(true);
				wake(it->second);
			}
		}
	}
	__real__ZNK8CChannel5closeEv(c);
}

// The destructor joins the receiving thread (under UDT's m_ControlLock).
extern "C" void __wrap__ZN9CRcvQueueD1Ev(CRcvQueue* q) {
	{
		std::lock_guard<std::mutex> l(g_mu);
		std::unordered_map<CRcvQueue*, Port*>::iterator it = g_by_queue.find(q);
		if (it != g_by_queue.end()) {
			it->second->closing.store(true);
			wake(it->second);
		}
	}
	__real__ZN9CRcvQueueD1Ev(q);
}
