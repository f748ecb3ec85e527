// The firewall in front of UDT 4.11: see firewall.h and docs/security.md.
//
// Every rule below names what UDT 4.11 does with the packet without it.
// The check runs on UDT's own receive thread, between the kernel and
// CRcvQueue::worker, so what it reads of a connection (its sequence
// numbers, windows, lists) is what the worker is about to act on, and the
// structures the worker alone writes (its hash of connections, the
// receive-side sequence numbers) are read without a race.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <new>
#include <map>
#include <set>

#include <udt/udt.h>
#include <udt/api.h>
#include <udt/buffer.h>
#include <udt/core.h>
#include <udt/list.h>
#include <udt/queue.h>

#include "dial.h"
#include "expose.h"
#include "firewall.h"
#include "shim.h"
#include "quiet.h"

extern "C" {
ssize_t __real_recvmsg(int fd, struct msghdr* mh, int flags);
int __real_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*fn)(void*), void* arg);
int __real_socket(int domain, int type, int protocol);
}

namespace {

typedef void* (*ThreadFn)(void*);
CUDT_TAG(Worker, ThreadFn);
CUDT_TAG(SndWorker, ThreadFn);
CUDT_TAG(Collector, ThreadFn);
CUDT_TAG(Listener, CUDT* CRcvQueue::*);
CUDT_TAG(Hash, CHash* CRcvQueue::*);
CUDT_TAG(Rendezvous, CRendezvousQueue* CRcvQueue::*);
CUDT_FIELD(Flight, int);
CUDT_FIELD(MSS, int);
CUDT_FIELD(SndCurr, volatile int32_t);
CUDT_FIELD(RcvLastAck, int32_t);
CUDT_FIELD(SndLoss, CSndLossList*);
CUDT_FIELD(RcvLoss, CRcvLossList*);
CUDT_FIELD(PeerAddr, sockaddr*);
CUDT_FIELD(IPVersion, int);
CUDT_TAG(SndLossSize, int CSndLossList::*);
CUDT_TAG(RcvLossSize, int CRcvLossList::*);
typedef std::map<int64_t, std::set<UDTSOCKET> > PeerRecMap;
CUDT_TAG(PeerRec, PeerRecMap CUDTUnited::*);
CUDT_TAG(UnitQueue, CUnitQueue CRcvQueue::*);
CUDT_TAG(UnitCount, int CUnitQueue::*);

template struct Expose<Worker, &CRcvQueue::worker>;
template struct Expose<SndWorker, &CSndQueue::worker>;
template struct Expose<Collector, &CUDTUnited::garbageCollect>;
template struct Expose<Listener, &CRcvQueue::m_pListener>;
template struct Expose<Hash, &CRcvQueue::m_pHash>;
template struct Expose<Rendezvous, &CRcvQueue::m_pRendezvousQueue>;
template struct Expose<Flight, &CUDT::m_iFlightFlagSize>;
template struct Expose<MSS, &CUDT::m_iMSS>;
template struct Expose<SndCurr, &CUDT::m_iSndCurrSeqNo>;
template struct Expose<RcvLastAck, &CUDT::m_iRcvLastAck>;
template struct Expose<SndLoss, &CUDT::m_pSndLossList>;
template struct Expose<RcvLoss, &CUDT::m_pRcvLossList>;
template struct Expose<PeerAddr, &CUDT::m_pPeerAddr>;
template struct Expose<IPVersion, &CUDT::m_iIPversion>;
template struct Expose<SndLossSize, &CSndLossList::m_iSize>;
template struct Expose<RcvLossSize, &CRcvLossList::m_iSize>;
template struct Expose<PeerRec, &CUDTUnited::m_PeerRec>;
template struct Expose<UnitQueue, &CRcvQueue::m_UnitQueue>;
template struct Expose<UnitCount, &CUnitQueue::m_iCount>;
#undef CUDT_FIELD
#undef CUDT_TAG

const char* const kRuleNames[CUDT_FW_RULES] = {
	"handshake-form",
	"handshake-isn",
	"handshake-window",
	"handshake-window-cut",
	"handshake-source",
	"control-type",
	"ack-form",
	"ack-seq",
	"ack-window-cut",
	"nak-form",
	"nak-seq",
	"drop-stream",
	"drop-range",
	"data-empty",
	"data-window",
	"handshake-clash",
};

std::atomic<uint64_t> g_count[CUDT_FW_RULES];
std::atomic<uint64_t> g_checked(0);
std::atomic<bool> g_off(false);

// The receive queue whose worker runs on this thread (set by serve_queue);
// null on every other thread, whose recvmsg calls pass untouched.
thread_local CRcvQueue* tl_queue = NULL;

// UDT's threads alive now: each UDP port's receiving and sending thread,
// and the garbage collector. A port UDT failed to tear down would show
// here, where the process's thread count also holds the threads Go keeps
// for its own use.
std::atomic<int> g_threads{0};

// The worker thread's own stack, where UDT puts the packet it reads only to
// discard it (see hold_no_unit).
thread_local uintptr_t tl_stack_lo = 0, tl_stack_hi = 0;
thread_local bool tl_held = false;  // the last read on this thread was held back
std::atomic<bool> g_hold{true};
std::atomic<uint64_t> g_held{0};
std::atomic<uint64_t> g_no_unit{0};  // reads UDT made to discard, held or not
// A test's request to miscount a queue's units on its worker (cudt_test_unit_drift).
std::atomic<CRcvQueue*> g_drift_queue{NULL};
std::atomic<int> g_drift{0};

void note_stack() {
	pthread_attr_t a;
	if (pthread_getattr_np(pthread_self(), &a) != 0) return;
	void* lo = NULL;
	size_t n = 0;
	if (pthread_attr_getstack(&a, &lo, &n) == 0) {
		tl_stack_lo = uintptr_t(lo);
		tl_stack_hi = uintptr_t(lo) + n;
	}
	pthread_attr_destroy(&a);
}

// UDT 4.11's receiving thread takes a unit of its port's queue for each
// packet before reading it, and reads the packet into a throwaway buffer on
// its stack, to discard it, when it finds none free. It finds none while its
// count of used units is below 90 % of the queue though every unit is used:
// the count is a plain int that the worker increments and the readers of
// each connection decrement without a common lock, so it drifts low, and
// only the search that fails counts the units again and grows the queue.
// Each such discard is a packet lost on a quiet path (the last of a reply:
// the sender's expiry timer, 0.3 s or more, resends it). The read into the
// stack is that discard: it is answered as a read that found nothing, so the
// packet stays in the kernel's buffer, and the next pass finds the queue
// grown. Only once in a row, so a queue that cannot grow (memory exhausted)
// discards as UDT would rather than spin.
bool hold_no_unit(const struct msghdr* mh) {
	if (mh->msg_iovlen != 2 || mh->msg_iov[0].iov_len != 16) return false;
	uintptr_t h = uintptr_t(mh->msg_iov[0].iov_base);
	bool discard = h >= tl_stack_lo && h < tl_stack_hi;
	if (discard) g_no_unit++;
	if (!discard || tl_held || !g_hold.load(std::memory_order_relaxed)) {
		tl_held = false;
		return false;
	}
	tl_held = true;
	g_held++;
	return true;
}

// A thread counts from its creation (so that a count read after the call
// that made it sees it) to its end.
void* serve_queue(void* q) {
	tl_queue = static_cast<CRcvQueue*>(q);
	note_stack();
	cudt_cc_bind_thread(0);
	cudt_quiet_start(tl_queue);
	void* r = member(Worker())(q);
	cudt_quiet_stop(tl_queue);
	g_threads--;
	return r;
}

struct Start {
	ThreadFn fn;
	void* arg;
};

void* counted(void* p) {
	Start s = *static_cast<Start*>(p);
	delete static_cast<Start*>(p);
	if (s.fn == member(SndWorker())) cudt_cc_bind_thread(1);
	void* r = s.fn(s.arg);
	g_threads--;
	return r;
}

// Listening sockets by their CUDT, for the accept queue the worker cannot
// reach from a CUDT (CRcvQueue::m_pListener): entered after UDT's listen,
// removed before UDT's close, which is before UDT can delete the socket.
std::map<const CUDT*, CUDTSocket*> g_listeners;
pthread_mutex_t g_listeners_mu = PTHREAD_MUTEX_INITIALIZER;

const int kPass = -1;

// The largest RTT (microseconds) and rates (packets a second) an ACK may
// carry: UDT averages them as (old * 7 + new) >> 3 in an int, which stays
// in range only while both are below 2^28.
const int32_t kMaxAckField = 1 << 28;

// The smallest MSS UDT 4.11 can carry data with: its 28-byte IP and UDP
// allowance and 16-byte header, and then 32 bytes of payload (below 44 its
// payload size is negative).
const int32_t kMinMSS = 76;

const int kHandshakeLen = 48;

// The most connections one source host may have in a listener's accept
// queue: half the backlog, and no more than this. A burst of dials from
// one host (a controller connecting its slice, clients behind one NAT)
// fills the queue faster than a busy process accepts; an idle queued
// connection holds about 32 KiB since its setup arrays are mapped
// untouched (prefault.h), so 512 cost what 64 cost before.
const unsigned kMaxSourceShare = 512;

inline int32_t word(const char* p, int i) {
	uint32_t v;
	memcpy(&v, p + 4 * i, 4);
	return (int32_t)ntohl(v);
}

inline void set_word(char* p, int i, int32_t v) {
	uint32_t n = htonl((uint32_t)v);
	memcpy(p + 4 * i, &n, 4);
}

bool same_host(const sockaddr* a, const sockaddr* b) {
	if (a == NULL || b == NULL || a->sa_family != b->sa_family) return false;
	if (a->sa_family == AF_INET)
		return ((const sockaddr_in*)a)->sin_addr.s_addr == ((const sockaddr_in*)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const sockaddr_in6*)a)->sin6_addr, &((const sockaddr_in6*)b)->sin6_addr, 16) == 0;
	return false;
}

// The connection the worker will hand a packet for id to: the same lookup
// and address check as CRcvQueue::worker, and only once UDT set it up.
CUDT* connection(CRcvQueue* q, const sockaddr* from, int32_t id) {
	if (id <= 0) return NULL;
	CUDT* u = (q->*member(Hash()))->lookup(id);
	if (u == NULL || !(u->*member(Connected()))) return NULL;
	const sockaddr* peer = u->*member(PeerAddr());
	if (peer == NULL || !CIPAddress::ipcmp(from, peer, u->*member(IPVersion()))) return NULL;
	return u;
}

// Whether the host from already has its share of ls's accept queue.
bool over_share(CRcvQueue* q, CUDTSocket* ls, const sockaddr* from) {
	unsigned share = ls->m_uiBackLog / 2;
	if (share < 1) share = 1;
	if (share > kMaxSourceShare) share = kMaxSourceShare;
	CHash* hash = q->*member(Hash());
	unsigned n = 0;
	pthread_mutex_lock(&ls->m_AcceptLock);
	for (std::set<UDTSOCKET>::const_iterator it = ls->m_pQueuedSockets->begin();
	     it != ls->m_pQueuedSockets->end() && n < share; ++it) {
		CUDT* c = hash->lookup(*it);
		if (c != NULL && same_host(c->*member(PeerAddr()), from)) n++;
	}
	pthread_mutex_unlock(&ls->m_AcceptLock);
	return n >= share;
}

// clashes reports whether UDT's listener would take a new connection's
// handshake (peer socket peer_id, initial sequence number isn, from from)
// for an existing connection's repeat. CUDTUnited::locate(peer, id, isn)
// finds connections by (id << 30) + isn computed in 32 bits, where only id
// mod 4 survives, and compares the address alone: two dials from one port
// (a shared dial port) whose ISNs are equal (UDT seeds rand() with the
// microsecond before each connect) and whose IDs are equal mod 4 meet, and
// UDT answers the second with the first's server socket. That connection
// hears nothing back and breaks 45 s later. Dropped, the dialer's next
// attempt comes from a new socket with a new ISN. UDT's own lock is taken as
// newConnection takes it next, but only briefly: false if it is busy.
bool clashes(const sockaddr* from, int32_t peer_id, int32_t isn) {
	CUDTUnited* un = member(United());
	pthread_mutex_t* mu = &(un->*member(ControlLock()));
	bool locked = false;
	for (int i = 0; i < 50 && !(locked = pthread_mutex_trylock(mu) == 0); i++) {
		timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	if (!locked) return false;
	bool clash = false;
	int64_t key = int32_t(uint32_t(peer_id) << 30) + isn;  // as UDT's int arithmetic wraps
	PeerRecMap& rec = un->*member(PeerRec());
	SocketMap& socks = un->*member(Sockets());
	PeerRecMap::const_iterator r = rec.find(key);
	if (r != rec.end()) {
		for (std::set<UDTSOCKET>::const_iterator j = r->second.begin(); j != r->second.end() && !clash; ++j) {
			SocketMap::const_iterator k = socks.find(*j);
			if (k == socks.end() || k->second->m_pPeerAddr == NULL) continue;
			clash = CIPAddress::ipcmp(from, k->second->m_pPeerAddr, k->second->m_iIPversion) &&
			        k->second->m_PeerID != peer_id;
		}
	}
	pthread_mutex_unlock(mu);
	return clash;
}

int handshake(CRcvQueue* q, const sockaddr* from, int32_t id, char* data, int len) {
	// CUDT::connect(const CPacket&) ignores a short handshake's failed
	// deserialize and sets the connection up from a zeroed answer: MSS 0,
	// window 0, and a send buffer of negative size, whose new[] throws out
	// of a function declared not to (std::terminate).
	if (len < kHandshakeLen) return CUDT_FW_HS_FORM;
	CUDT* u = NULL;
	bool listener = false;
	if (id == 0) {
		u = q->*member(Listener());
		listener = u != NULL;
	} else if (connection(q, from, id) != NULL) {
		// A connected socket only answers with its own handshake.
		return kPass;
	}
	if (u == NULL) {
		UDTSOCKET rid = id;
		u = (q->*member(Rendezvous()))->retrieve(from, rid);
	}
	if (u == NULL) return kPass;  // nobody will read it

	// Sequence numbers are 31 bits: UDT's loss lists index by the
	// difference of two, and a 32-bit one sends CSndLossList::getLostSeq
	// reading outside its arrays.
	if (word(data, 2) < 0) return CUDT_FW_HS_ISN;
	// A dialing socket takes the listener's MSS unchecked (the listener
	// answers with the smaller of the two): below kMinMSS its buffers get a
	// negative size, above its own its receive units truncate every packet.
	int32_t mss = word(data, 3);
	if (mss < kMinMSS || (!listener && mss > u->*member(MSS()))) return CUDT_FW_HS_FORM;
	// The window sizes the new connection's send loss list (twice it): 0
	// makes CSndLossList divide by zero (SIGFPE), and a large one costs 24
	// bytes a packet up front. Above this side's UDT_FC it is lowered to it.
	int32_t fw = word(data, 4);
	if (fw < 1) return CUDT_FW_HS_WINDOW;
	int32_t cap = u->*member(Flight());
	if (listener && word(data, 5) != 1) {
		// A conclusion handshake: UDT queues a new connection for accept.
		CUDTSocket* ls = NULL;
		pthread_mutex_lock(&g_listeners_mu);
		std::map<const CUDT*, CUDTSocket*>::const_iterator it = g_listeners.find(u);
		if (it != g_listeners.end()) ls = it->second;
		pthread_mutex_unlock(&g_listeners_mu);
		if (ls != NULL && over_share(q, ls, from)) return CUDT_FW_HS_SOURCE;
		if (clashes(from, word(data, 6), word(data, 2))) return CUDT_FW_HS_CLASH;
	}
	if (cap >= 1 && fw > cap) {
		set_word(data, 4, cap);
		g_count[CUDT_FW_HS_WINDOW_CUT]++;
	}
	return kPass;
}

int ack(CUDT* u, char* data, int len) {
	// A full ACK is 16 bytes (4.10) or 24; UDT reads words past a shorter
	// one's end from whatever the buffer held before.
	if (len != 4 && len != 16 && len != 24) return CUDT_FW_ACK_FORM;
	int32_t seq = word(data, 0);
	// UDT breaks the connection over a full ACK past what it sent, and
	// takes a light one as it comes, moving its window past what it sent.
	if (seq < 0 || CSeqNo::seqcmp(seq, CSeqNo::incseq(u->*member(SndCurr()))) > 0)
		return CUDT_FW_ACK_SEQ;
	if (len == 4) return kPass;
	int32_t rtt = word(data, 1);
	if (rtt < 0 || rtt >= kMaxAckField) return CUDT_FW_ACK_FORM;
	if (len == 24 && (word(data, 4) >= kMaxAckField || word(data, 5) >= kMaxAckField))
		return CUDT_FW_ACK_FORM;
	// The window becomes the sender's flow window: packets in flight, whose
	// losses go to a send loss list sized by the handshake's window (twice
	// it). A larger one lets a few NAKs overfill that list, and
	// CSndLossList::insert then loops for ever holding its lock: the port's
	// receive thread stops.
	CSndLossList* sl = u->*member(SndLoss());
	if (sl != NULL) {
		int32_t cap = (sl->*member(SndLossSize())) / 2;
		if (word(data, 3) > cap) {
			set_word(data, 3, cap);
			g_count[CUDT_FW_ACK_WINDOW_CUT]++;
		}
	}
	return kPass;
}

int nak(CUDT* u, const char* data, int len) {
	// UDT reads the word after a range start even when the list ends there,
	// and hands the list to the congestion controller before checking it.
	if (len <= 0 || len % 4 != 0) return CUDT_FW_NAK_FORM;
	int n = len / 4;
	int32_t curr = u->*member(SndCurr());
	for (int i = 0; i < n; i++) {
		int32_t a = word(data, i);
		if (a < 0) {
			if (i + 1 >= n) return CUDT_FW_NAK_FORM;
			int32_t b = word(data, ++i);
			a &= 0x7FFFFFFF;
			if (b < 0 || CSeqNo::seqcmp(a, b) > 0) return CUDT_FW_NAK_FORM;
			a = b;
		}
		// UDT breaks the connection over a loss it never sent.
		if (CSeqNo::seqcmp(a, curr) > 0) return CUDT_FW_NAK_SEQ;
	}
	return kPass;
}

int drop_request(CUDT* u, const char* data, int len) {
	// On a stream UDT moves its receive position to the range's end, then
	// acknowledges and reads the packets it never got: CRcvBuffer::readBuffer
	// dereferences their empty slots (SIGSEGV). A stream never expires data,
	// so its peer has nothing to drop.
	if (u->*member(SockType()) == UDT_STREAM) return CUDT_FW_DROP_STREAM;
	if (len < 8) return CUDT_FW_DROP_RANGE;
	int32_t first = word(data, 0), last = word(data, 1);
	if (first < 0 || last < 0 || CSeqNo::seqcmp(first, last) > 0) return CUDT_FW_DROP_RANGE;
	// CRcvLossList::remove walks the range one sequence number at a time,
	// and the receive position may move to its end: both stay within what
	// the peer may have in flight, as a data packet must (processData).
	CRcvBuffer* rb = u->*member(RcvBuffer());
	CRcvLossList* rl = u->*member(RcvLoss());
	if (rb == NULL || rl == NULL) return kPass;
	if (CSeqNo::seqoff(u->*member(RcvLastAck()), last) >= rb->getAvailBufSize()) return CUDT_FW_DROP_RANGE;
	if (CSeqNo::seqlen(first, last) > rl->*member(RcvLossSize())) return CUDT_FW_DROP_RANGE;
	return kPass;
}

int judge(CRcvQueue* q, const sockaddr* from, const char* hdr, char* data, int len) {
	int32_t w0 = word(hdr, 0);
	int32_t id = word(hdr, 3);
	if (w0 >= 0) {
		// Data. An empty packet becomes an empty unit that a stream read
		// returns as 0 bytes, which a reader takes for the end of stream.
		if (len == 0) return CUDT_FW_DATA_EMPTY;
		CUDT* u = connection(q, from, id);
		if (u == NULL) return kPass;
		// A gap goes into the receive loss list, sized by this side's
		// UDT_FC; past it (when UDT_RCVBUF is larger) the list overflows.
		CRcvLossList* rl = u->*member(RcvLoss());
		if (rl != NULL && CSeqNo::seqoff(u->*member(RcvLastAck()), w0) >= rl->*member(RcvLossSize()))
			return CUDT_FW_DATA_WINDOW;
		return kPass;
	}
	int type = (w0 >> 16) & 0x7FFF;
	switch (type) {
	case 0:
		return handshake(q, from, id, data, len);
	case 5:       // shutdown
	case 1:       // keep-alive
	case 6:       // ACK of ACK
	case 8:       // the peer's error (a failed recvfile)
	case 0x7FFF:  // a congestion controller's own message
		return kPass;
	case 2:
	case 3:
	case 7:
		break;
	default:
		// 4, the delay warning, is commented out of UDT 4.11's sender; each
		// one it receives stretches the sending interval by an eighth.
		return CUDT_FW_CTRL_TYPE;
	}
	CUDT* u = connection(q, from, id);
	if (u == NULL) return kPass;
	switch (type) {
	case 2:
		return ack(u, data, len);
	case 3:
		return nak(u, data, len);
	default:
		return drop_request(u, data, len);
	}
}

}  // namespace

extern "C" ssize_t __wrap_recvmsg(int fd, struct msghdr* mh, int flags) {
	CRcvQueue* q = tl_queue;
	if (q != NULL && g_drift_queue.load(std::memory_order_acquire) == q) {
		(q->*member(UnitQueue())).*member(UnitCount()) -= g_drift.load();
		g_drift_queue.store(NULL);
	}
	if (q != NULL && hold_no_unit(mh)) {
		errno = EAGAIN;
		return -1;
	}
	if (q != NULL && !cudt_quiet_wait(fd)) {
		cudt_quiet_read(-1, EAGAIN);
		errno = EAGAIN;
		return -1;
	}
	ssize_t n = __real_recvmsg(fd, mh, flags);
	if (q != NULL) cudt_quiet_read(n, errno);
	// CChannel::recvfrom reads the 16-byte header and the payload into two
	// buffers; anything else is not UDT's receive path.
	if (q == NULL || n < 16 || g_off.load(std::memory_order_relaxed) || mh->msg_iovlen != 2 || mh->msg_iov[0].iov_len != 16) return n;
	g_checked++;
	int v;
	try {
		v = judge(q, (const sockaddr*)mh->msg_name, (const char*)mh->msg_iov[0].iov_base,
		          (char*)mh->msg_iov[1].iov_base, int(n - 16));
	} catch (...) {
		v = CUDT_FW_HS_FORM;  // nothing above throws; if it did, UDT must not see the packet
	}
	if (v == kPass) {
		cudt_dial_hold((const char*)mh->msg_iov[0].iov_base);
		return n;
	}
	g_count[v]++;
	// What UDT sees when its receive timeout passes with nothing read.
	errno = EAGAIN;
	return -1;
}

extern "C" int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*fn)(void*), void* arg) {
	if (fn == member(Worker())) {
		g_threads++;
		int r = __real_pthread_create(t, a, serve_queue, arg);
		if (r != 0) g_threads--;
		return r;
	}
	if (fn == member(SndWorker()) || fn == member(Collector())) {
		Start* s = new (std::nothrow) Start{fn, arg};
		if (s == NULL) return EAGAIN;
		g_threads++;
		int r = __real_pthread_create(t, a, counted, s);
		if (r != 0) {
			g_threads--;
			delete s;
		}
		return r;
	}
	return __real_pthread_create(t, a, fn, arg);
}

int cudt_udt_threads(void) { return g_threads.load(); }

// UDT opens a UDP socket itself when a socket is connected or bound without
// one of ours, and one epoll instance per UDT::epoll_create: both without
// close-on-exec, so a child process would inherit them.
extern "C" int __wrap_socket(int domain, int type, int protocol) {
	return __real_socket(domain, type | SOCK_CLOEXEC, protocol);
}

extern "C" int __wrap_epoll_create(int size) {
	if (size <= 0) {
		errno = EINVAL;
		return -1;
	}
	return epoll_create1(EPOLL_CLOEXEC);
}

void cudt_fw_counts(uint64_t* out, int n) {
	for (int i = 0; i < n && i < CUDT_FW_RULES; i++) out[i] = g_count[i].load();
}

const char* cudt_fw_rule_name(int rule) {
	if (rule < 0 || rule >= CUDT_FW_RULES) return NULL;
	return kRuleNames[rule];
}

uint64_t cudt_fw_checked(void) { return g_checked.load(); }

void cudt_fw_disable(void) { g_off.store(true); }

void cudt_fw_listening(int u) {
	try {
		CUDTSocket* ls = (member(United())->*member(Locate()))(u);
	if (ls == NULL || ls->m_pUDT == NULL || ls->m_pQueuedSockets == NULL) return;
		pthread_mutex_lock(&g_listeners_mu);
		g_listeners[ls->m_pUDT] = ls;
		pthread_mutex_unlock(&g_listeners_mu);
	} catch (...) {
	}
}

void cudt_fw_closing(int u) {
	pthread_mutex_lock(&g_listeners_mu);
	for (std::map<const CUDT*, CUDTSocket*>::iterator it = g_listeners.begin(); it != g_listeners.end(); ++it) {
		if (it->second->m_SocketID == u) {
			g_listeners.erase(it);
			break;
		}
	}
	pthread_mutex_unlock(&g_listeners_mu);
}

void cudt_unit_hold_enable(int on) { g_hold.store(on != 0); }

uint64_t cudt_unit_held(void) { return g_held.load(); }

uint64_t cudt_unit_none(void) { return g_no_unit.load(); }

int cudt_test_unit_drift(int u, int k) {
	CRcvQueue* q = NULL;
	if (!open_find(u, [&](CUDT* c) { q = c->*member(RcvQueue()); }) || q == NULL) return -1;
	g_drift.store(k);
	g_drift_queue.store(q);
	return 0;
}

int cudt_test_unit_drift_pending(void) { return g_drift_queue.load() != NULL; }
