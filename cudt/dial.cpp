// Repairs to UDT 4.11's connection setup and teardown: see dial.h.

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <udt/udt.h>
#include <udt/api.h>
#include <udt/core.h>
#include <udt/queue.h>

#include "dial.h"
#include "expose.h"

extern "C" ssize_t __real_sendmsg(int fd, const struct msghdr* mh, int flags);

namespace {

std::mutex g_mu;
std::condition_variable g_done;
std::unordered_set<int> g_connecting;    // inside UDT::connect
std::atomic<int> g_nconnecting{0};       // its size, read without the lock
std::unordered_map<int, std::chrono::steady_clock::time_point> g_last_req;  // each dial's latest request
std::atomic<uint64_t> g_resends{0}, g_held{0};
std::atomic<bool> g_repair{true};

// The thread inside cudt_connect: what UDT sends on it is the first
// request; what its own threads send is the next one, or a resend.
thread_local bool tl_connecting = false;

// UDT's handshake request types (CHandShake::m_iReqType).
const int32_t kReqRegular = 1;  // the first request (the listener answers with a cookie)
const int32_t kReqAnswer = -1;  // the request carrying the cookie (or a rendezvous reply)

// UDT resends a request 250 ms after the last; a request sooner than this
// after the last is the next step of the handshake, not a wait.
const auto kResendGap = std::chrono::milliseconds(200);

// A forgotten socket's entry must not live forever if cudt_close never
// comes (the program exits without closing): the set is cleared past this.
const size_t kMaxTracked = 1 << 16;

// How long the receive thread waits for a connect call to return: the
// call has only to note the time; a thread descheduled longer than this
// costs the dial the 250 ms it cost before.
const auto kMaxHold = std::chrono::milliseconds(20);

uint32_t word(const char* p, int i) {
	uint32_t w;
	memcpy(&w, p + 4 * i, 4);
	return ntohl(w);
}

// What cudt_listener_release reaches beyond expose.h's: the queue's
// listener slot.
typedef void (CRcvQueue::*RemoveListenerFn)(const CUDT*);
CUDT_TAG(RemoveListener, RemoveListenerFn);

template struct Expose<RemoveListener, &CRcvQueue::removeListener>;

}  // namespace

void cudt_listener_release(int u) {
	try {
		CUDTSocket* s = (member(United())->*member(Locate()))(u);
		if (s == NULL || s->m_Status != LISTENING || s->m_pUDT == NULL) return;
		CUDT* c = s->m_pUDT;
		CRcvQueue* q = c->*member(RcvQueue());
		if (q != NULL) (q->*member(RemoveListener()))(c);
	} catch (...) {
	}
}

int cudt_accepted_by(int u) {
	try {
		CUDTSocket* s = (member(United())->*member(Locate()))(u);
		return s != NULL ? s->m_ListenSocket : 0;
	} catch (...) {
		return 0;
	}
}

namespace {

// with_accepted runs f on listener's list of accepted sockets, false if
// listener is not listening. UDT's garbage collector deletes sockets under
// m_ControlLock and takes a listener's m_AcceptLock inside it, as here.
template <typename F>
bool with_accepted(int listener, F f) {
	CUDTUnited* un = member(United());
	pthread_mutex_t* mu = &(un->*member(ControlLock()));
	pthread_mutex_lock(mu);
	SocketMap& live = un->*member(Sockets());
	SocketMap::iterator it = live.find(listener);
	bool found = it != live.end() && it->second->m_pAcceptSockets != NULL;
	if (found) {
		pthread_mutex_lock(&it->second->m_AcceptLock);
		f(*it->second->m_pAcceptSockets);
		pthread_mutex_unlock(&it->second->m_AcceptLock);
	}
	pthread_mutex_unlock(mu);
	return found;
}

}  // namespace

void cudt_accepted_release(int u, int listener) {
	if (listener == 0) return;
	with_accepted(listener, [u](std::set<UDTSOCKET>& s) { s.erase(u); });
}

int cudt_accepted_count(int listener) {
	int n = -1;
	with_accepted(listener, [&n](std::set<UDTSOCKET>& s) { n = int(s.size()); });
	return n;
}

void cudt_dial_begin(int u) {
	std::lock_guard<std::mutex> l(g_mu);
	g_connecting.insert(u);
	g_nconnecting.store(int(g_connecting.size()));
	tl_connecting = true;
}

void cudt_dial_end(int u) {
	{
		std::lock_guard<std::mutex> l(g_mu);
		g_connecting.erase(u);
		g_nconnecting.store(int(g_connecting.size()));
		tl_connecting = false;
	}
	g_done.notify_all();
}

void cudt_dial_forget(int u) {
	std::lock_guard<std::mutex> l(g_mu);
	g_last_req.erase(u);
}

void cudt_dial_hold(const char* h) {
	if (g_nconnecting.load(std::memory_order_relaxed) == 0 || !g_repair.load(std::memory_order_relaxed)) return;
	uint32_t w0 = word(h, 0);
	// A control packet (top bit) of type 0: a handshake.
	if (!(w0 & 0x80000000u) || ((w0 >> 16) & 0x7FFF) != 0) return;
	int dest = int(word(h, 3));
	if (dest <= 0) return;
	std::unique_lock<std::mutex> l(g_mu);
	if (g_connecting.count(dest) == 0) return;
	g_held++;
	g_done.wait_for(l, kMaxHold, [dest] { return g_connecting.count(dest) == 0; });
}

uint64_t cudt_dial_resends(void) { return g_resends.load(); }

uint64_t cudt_dial_held(void) { return g_held.load(); }

void cudt_dial_repair(int on) { g_repair.store(on != 0); }

// UDT's CChannel::sendto hands the kernel a 16-byte header and the payload,
// both in network order.
extern "C" ssize_t __wrap_sendmsg(int fd, const struct msghdr* mh, int flags) {
	if (mh != NULL && mh->msg_iovlen == 2 && mh->msg_iov[0].iov_len == 16 && mh->msg_iov[1].iov_len >= 28) {
		const char* h = (const char*)mh->msg_iov[0].iov_base;
		const char* body = (const char*)mh->msg_iov[1].iov_base;
		uint32_t w0 = word(h, 0);
		// A handshake request: control type 0 to socket 0.
		if ((w0 & 0x80000000u) && ((w0 >> 16) & 0x7FFF) == 0 && word(h, 3) == 0) {
			int32_t req = int32_t(word(body, 5));
			int id = int(word(body, 6));
			if (req == kReqRegular || req == kReqAnswer) {
				auto now = std::chrono::steady_clock::now();
				std::lock_guard<std::mutex> l(g_mu);
				// UDT's receive thread resends a connecting socket's
				// request when its time of the last one is 250 ms old,
				// and before connect has noted the first, that time is 0:
				// a copy of the request connect is about to send, which
				// the listener would answer twice.
				if (!tl_connecting && req == kReqRegular && g_connecting.count(id) != 0 && g_repair.load()) {
					size_t n = 0;
					for (size_t i = 0; i < mh->msg_iovlen; i++) n += mh->msg_iov[i].iov_len;
					return ssize_t(n);
				}
				if (g_last_req.size() >= kMaxTracked) g_last_req.clear();
				auto it = g_last_req.find(id);
				if (it != g_last_req.end() && now - it->second >= kResendGap) g_resends++;
				g_last_req[id] = now;
			}
		}
	}
	return __real_sendmsg(fd, mh, flags);
}
