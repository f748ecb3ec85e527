// What UDT 4.11 knows and does not report: see watch.h.

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <set>

#include <udt/udt.h>
#include <udt/core.h>
#include <udt/api.h>
#include <udt/epoll.h>

#include "expose.h"
#include "watch.h"

namespace {

// Two facts the poller needs live only in CUDT's private members:
//   - m_ConnRes: in non-blocking mode UDT 4.11 completes a connect whose
//     handshake the listener rejected (a stream/message mismatch, ...): it
//     checks the answer's m_iReqType == 1002 only in the blocking connect,
//     so the socket reads CONNECTED with no peer behind it.
//   - m_bShutdown: set only when the peer's shutdown packet arrived, which
//     tells a clean close from a peer UDT gave up on; both read BROKEN.
// They are reached as expose.h explains.

CUDT_FIELD(ConnRes, CHandShake);
CUDT_FIELD(Shutdown, volatile bool);
CUDT_FIELD(Connecting, volatile bool);
typedef void (CRcvQueue::*RemoveConnectorFn)(const UDTSOCKET&);
CUDT_TAG(RemoveConnector, RemoveConnectorFn);

template struct Expose<ConnRes, &CUDT::m_ConnRes>;
template struct Expose<Connecting, &CUDT::m_bConnecting>;
template struct Expose<RemoveConnector, &CRcvQueue::removeConnector>;
template struct Expose<Shutdown, &CUDT::m_bShutdown>;

// A connection UDT ended on its own (a lost peer, a peer's shutdown) is
// marked CLOSED by UDT's garbage collector (in m_ClosedSockets, which
// getUDTHandle no longer searches) and deleted a second later: what it
// had not delivered, and its counters, would go with it. ~CUDT's first act
// is pthread_mutex_destroy(&m_SendBlockLock), which the link routes through
// cudt (--wrap): for a watched connection, the figures are kept there.
CUDT_FIELD(SendBlockLock, pthread_mutex_t);
CUDT_FIELD(LastRspTime, volatile uint64_t);
CUDT_FIELD(EXPCount, int);
CUDT_FIELD(RTTVar, int);
CUDT_FIELD(MinExpInt, uint64_t);
CUDT_FIELD(CC, CCC*);
CUDT_TAG(UserRTO, bool CCC::*);
CUDT_TAG(RTO, int CCC::*);
template struct Expose<LastRspTime, &CUDT::m_ullLastRspTime>;
template struct Expose<EXPCount, &CUDT::m_iEXPCount>;
template struct Expose<RTTVar, &CUDT::m_iRTTVar>;
template struct Expose<MinExpInt, &CUDT::m_ullMinExpInt>;
template struct Expose<CC, &CUDT::m_pCC>;
template struct Expose<UserRTO, &CCC::m_bUserDefinedRTO>;
template struct Expose<RTO, &CCC::m_iRTO>;
// What UDT does after each event it hands its controller
// (cudt_cc_take_up).
typedef void (CUDT::*CCUpdateFn)();
CUDT_TAG(CCUpdate, CCUpdateFn);
template struct Expose<CCUpdate, &CUDT::CCUpdate>;
CUDT_FIELD(SocketID, UDTSOCKET);
CUDT_TAG(ClosedSockets, SocketMap CUDTUnited::*);
template struct Expose<SendBlockLock, &CUDT::m_SendBlockLock>;
template struct Expose<SocketID, &CUDT::m_SocketID>;
template struct Expose<ClosedSockets, &CUDTUnited::m_ClosedSockets>;

// The counters of CUDT::sample, which UDT::perfmon refuses to read once a
// connection is closing or broken though UDT keeps them until it deletes
// the socket. One tag per member, as above.
CUDT_FIELD(StartTime, uint64_t);
CUDT_FIELD(SentTotal, int64_t);
CUDT_FIELD(RecvTotal, int64_t);
CUDT_FIELD(SndLossTotal, int);
CUDT_FIELD(RcvLossTotal, int);
CUDT_FIELD(RetransTotal, int);
CUDT_FIELD(SentACKTotal, int);
CUDT_FIELD(RecvACKTotal, int);
CUDT_FIELD(SentNAKTotal, int);
CUDT_FIELD(RecvNAKTotal, int);
CUDT_FIELD(SndDurationTotal, int64_t);
CUDT_FIELD(RTT, int);
CUDT_FIELD(Bandwidth, int);
CUDT_FIELD(PayloadSize, int);
CUDT_FIELD(FlowWindow, volatile int);
CUDT_FIELD(CongestionWindow, volatile double);

template struct Expose<StartTime, &CUDT::m_StartTime>;
template struct Expose<SentTotal, &CUDT::m_llSentTotal>;
template struct Expose<RecvTotal, &CUDT::m_llRecvTotal>;
template struct Expose<SndLossTotal, &CUDT::m_iSndLossTotal>;
template struct Expose<RcvLossTotal, &CUDT::m_iRcvLossTotal>;
template struct Expose<RetransTotal, &CUDT::m_iRetransTotal>;
template struct Expose<SentACKTotal, &CUDT::m_iSentACKTotal>;
template struct Expose<RecvACKTotal, &CUDT::m_iRecvACKTotal>;
template struct Expose<SentNAKTotal, &CUDT::m_iSentNAKTotal>;
template struct Expose<RecvNAKTotal, &CUDT::m_iRecvNAKTotal>;
template struct Expose<SndDurationTotal, &CUDT::m_llSndDurationTotal>;
template struct Expose<RTT, &CUDT::m_iRTT>;
template struct Expose<Bandwidth, &CUDT::m_iBandwidth>;
template struct Expose<PayloadSize, &CUDT::m_iPayloadSize>;
template struct Expose<FlowWindow, &CUDT::m_iFlowWindowSize>;
template struct Expose<CongestionWindow, &CUDT::m_dCongestionWindow>;

// What decides, in UDT 4.11's CUDT::recv, recvmsg, send and sendmsg,
// whether a non-blocking call fails with "no data" or "no buffer"
// (cudt_would_block), with SockType and RcvBuffer from expose.h.
CUDT_FIELD(SynSending, bool);
CUDT_FIELD(SynRecving, bool);
CUDT_FIELD(SndBufSize, int);
CUDT_FIELD(Closing, volatile bool);
CUDT_FIELD(Broken, volatile bool);
CUDT_FIELD(SndBuffer, CSndBuffer*);
template struct Expose<SynSending, &CUDT::m_bSynSending>;
template struct Expose<SynRecving, &CUDT::m_bSynRecving>;
template struct Expose<SndBufSize, &CUDT::m_iSndBufSize>;
template struct Expose<Closing, &CUDT::m_bClosing>;
template struct Expose<Broken, &CUDT::m_bBroken>;
template struct Expose<SndBuffer, &CUDT::m_pSndBuffer>;

// UDT's epoll sets, which cudt_poll_wait looks at before asking
// UDT::epoll_wait: asked with nothing ready, UDT's wait throws its timeout
// exception (CUDTException 6003) inside the library, and the poller asks
// after every ACK of every connection (UDT's event).
CUDT_TAG(EPollOf, CEPoll CUDTUnited::*);
typedef std::map<int, CEPollDesc> PollMap;
CUDT_TAG(Polls, PollMap CEPoll::*);
CUDT_TAG(PollLock, pthread_mutex_t CEPoll::*);
#undef CUDT_FIELD
#undef CUDT_TAG
template struct Expose<EPollOf, &CUDTUnited::m_EPoll>;
template struct Expose<Polls, &CEPoll::m_mPolls>;
template struct Expose<PollLock, &CEPoll::m_EPollLock>;

// UDT's own epoll looks at its sets every 10 ms (CTimer::waitForEvent).
const uint64_t kTick = 10000;  // microseconds

void copy_set(const std::set<int>& s, int* out, int* n) {
	if (out == NULL) return;
	int cap = *n, i = 0;
	for (std::set<int>::const_iterator it = s.begin(); it != s.end() && i < cap; ++it) out[i++] = *it;
	*n = i;
}

// UDT's event (CTimer::triggerEvent) is a pthread_cond_signal without a
// predicate: a signal sent while nobody waits is lost, and the poller,
// which also runs Go code between its waits, would miss many. The link
// routes UDT's calls of it through the shim (--wrap, below), which counts
// them; the poller waits on a condition of ours, with the counts as its
// predicate. UDT's epoll changes a ready set without its event, and after
// it (CUDT::sendCtrl acknowledges, then readies): the shim also counts
// every CEPoll::update_events that readied a watched socket, the moment it
// is done, so a reader waits for the data and no longer.
//
// Only what the sleeper waits for wakes it. UDT raises its event on every
// ACK both ways (CSndBuffer::ackData, CRcvBuffer::ackData) and readies a
// socket for writing on every ACK it receives, whether or not anyone
// watches for that: a 64-byte echo woke the poller's thread four times a
// round trip for the one readiness it waited for.
std::atomic<unsigned long> g_events(0);  // UDT events seen
std::atomic<unsigned long> g_ready(0);   // update_events that readied a watched socket
std::atomic<int> g_wake(0);              // set by cudt_poll_signal
std::atomic<uint32_t> g_futex(0);        // bumped by every notify; the poller sleeps on it
std::atomic<int> g_sleeping(0);          // waits about to sleep, or asleep (the poller's, one)
std::atomic<int> g_sleeping_sig(0);      // those of them that UDT's event ends
unsigned long g_seen = 0;                // g_events at the poller's last return
std::atomic<uint64_t> g_idle_wakes(0);   // wakes that found nothing to report

// notify wakes the poller if it sleeps (sleepers: g_sleeping, or for UDT's
// event g_sleeping_sig). The counts change before it, and the poller sets
// its sleeper counts before it reads g_futex (all sequentially
// consistent): either this sees it sleeping and wakes it, or the poller
// reads the new g_futex, and its counts, and does not sleep. A futex of
// our own rather than a condition variable: the waker takes no lock the
// woken thread then waits for, and a poller that is awake costs UDT's
// threads one atomic load.
void notify(const std::atomic<int>& sleepers = g_sleeping) {
	g_futex.fetch_add(1);
	if (sleepers.load() == 0) return;
	syscall(SYS_futex, &g_futex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

// The last figures of a connection, read from its CUDT while UDT still has it.
struct Ended {
	int snd_pkts;
	int shutdown;
	cudt_perf perf;
};

void read_perf(CUDT* c, cudt_perf* p) {
	memset(p, 0, sizeof *p);
	p->msTimeStamp = (CTimer::getTime() - c->*member(StartTime())) / 1000;
	p->pktSentTotal = c->*member(SentTotal());
	p->pktRecvTotal = c->*member(RecvTotal());
	p->pktSndLossTotal = c->*member(SndLossTotal());
	p->pktRcvLossTotal = c->*member(RcvLossTotal());
	p->pktRetransTotal = c->*member(RetransTotal());
	p->pktSentACKTotal = c->*member(SentACKTotal());
	p->pktRecvACKTotal = c->*member(RecvACKTotal());
	p->pktSentNAKTotal = c->*member(SentNAKTotal());
	p->pktRecvNAKTotal = c->*member(RecvNAKTotal());
	p->usSndDurationTotal = c->*member(SndDurationTotal());
	p->msRTT = c->*member(RTT()) / 1000.0;
	p->mbpsBandwidth = double(c->*member(Bandwidth())) * (c->*member(PayloadSize())) * 8.0 / 1e6;
	p->pktFlowWindow = c->*member(FlowWindow());
	p->pktCongestionWindow = (int)(c->*member(CongestionWindow()));
}

void read_ended(CUDT* c, Ended* e) {
	CSndBuffer* b = c->*member(SndBuffer());
	e->snd_pkts = b != NULL ? b->getCurrBufSize() : 0;
	e->shutdown = c->*member(Shutdown());
	read_perf(c, &e->perf);
}

// Connections whose end the Go side wants to know, by the address of
// their CUDT's m_SendBlockLock; and what was kept of those UDT deleted.
struct Watched {
	UDTSOCKET u;
	CUDT* c;
};
std::map<const pthread_mutex_t*, Watched> g_watched;
std::map<UDTSOCKET, const pthread_mutex_t*> g_watch_key;
std::map<UDTSOCKET, Ended> g_ended;
pthread_mutex_t g_ended_mu = PTHREAD_MUTEX_INITIALIZER;

// closed_find runs f on the CUDT of u while UDT keeps it in its closed
// sockets (marked CLOSED, not yet deleted); find_in (expose.h) says how.
template <typename F>
bool closed_find(int u, F f) {
	return find_in(member(ClosedSockets()), u, f);
}

// ended_find copies what was kept of u, if UDT deleted it while watched.
bool ended_find(int u, Ended* e) {
	pthread_mutex_lock(&g_ended_mu);
	std::map<UDTSOCKET, Ended>::const_iterator it = g_ended.find(u);
	bool found = it != g_ended.end();
	if (found) *e = it->second;
	pthread_mutex_unlock(&g_ended_mu);
	return found;
}

// gone fills c for a socket getUDTHandle no longer finds: from its CUDT
// while UDT keeps it closed, else from what was kept when UDT deleted it.
void gone(int u, cudt_conninfo* c) {
	Ended e;
	bool found = closed_find(u, [&](CUDT* cu) { read_ended(cu, &e); });
	if (!found) found = ended_find(u, &e);
	if (!found) return;
	c->ended = 1;
	c->connected = 1;
	c->shutdown = e.shutdown;
	c->snd_pkts = e.snd_pkts;
}

}  // namespace

extern "C" int __real_pthread_mutex_destroy(pthread_mutex_t* m);

extern "C" int __wrap_pthread_mutex_destroy(pthread_mutex_t* m) {
	pthread_mutex_lock(&g_ended_mu);
	std::map<const pthread_mutex_t*, Watched>::iterator it = g_watched.find(m);
	if (it != g_watched.end()) {
		// ~CUDT, before it deletes the buffers: m is the first member it
		// destroys. The ID check guards against a CUDT freed and another
		// allocated at the same address between watch and here.
		CUDT* c = it->second.c;
		UDTSOCKET u = it->second.u;
		g_watched.erase(it);
		g_watch_key.erase(u);
		if (c->*member(SocketID()) == u) {
			try {
				read_ended(c, &g_ended[u]);
			} catch (...) {
			}
		}
	}
	pthread_mutex_unlock(&g_ended_mu);
	return __real_pthread_mutex_destroy(m);
}

int64_t cudt_heard_ago(int u) {
	try {
		// As in cudt_conninfo_get: a socket getUDTHandle finds is not
		// deleted for at least a second.
		CUDT* c = CUDT::getUDTHandle(u);
		if (c == NULL) return -1;
		// UDT stamps m_ullLastRspTime and sets m_iEXPCount to 1 with every
		// packet from the peer (data, ACKs, keep-alives: a live peer sends
		// one a second when idle). Each of its retransmission timeouts
		// (CUDT::checkTimers) since then raised the count by one and moved
		// the stamp to its own time, i intervals of RTT + 4 RTTVar plus the
		// SYN interval (at least i x the minimum) after the one before, or
		// of the controller's RTO: so the last packet from the peer came
		// those intervals before the stamp. Ticks are CTimer::rdtsc's.
		uint64_t f = CTimer::getCPUFrequency();
		if (f == 0) f = 1;
		uint64_t last = c->*member(LastRspTime()), now;
		int exps = c->*member(EXPCount()) - 1;
		CCC* cc = c->*member(CC());
		for (int i = 1; i <= exps && i <= 64; i++) {
			uint64_t in;
			if (cc != NULL && cc->*member(UserRTO()))
				in = uint64_t(cc->*member(RTO())) * f;
			else {
				in = uint64_t(i * (c->*member(RTT()) + 4 * c->*member(RTTVar())) + 10000) * f;
				uint64_t floor = uint64_t(i) * (c->*member(MinExpInt()));
				if (in < floor) in = floor;
			}
			last = last > in ? last - in : 0;
		}
		CTimer::rdtsc(now);
		return now > last ? int64_t((now - last) / f) : 0;
	} catch (...) {
		return -1;
	}
}

void cudt_cc_take_up(int u, const CCC* cc) {
	// Only while u is open: cc is then still alive.
	open_find(u, [&](CUDT* c) {
		if (c->*member(CC()) == cc) (c->*member(CCUpdate()))();
	});
}

void cudt_conn_watch(int u) {
	try {
		CUDT* c = CUDT::getUDTHandle(u);
		if (c == NULL) return;
		pthread_mutex_lock(&g_ended_mu);
		Watched w = {u, c};
		const pthread_mutex_t* key = &(c->*member(SendBlockLock()));
		g_watched[key] = w;
		g_watch_key[u] = key;
		pthread_mutex_unlock(&g_ended_mu);
	} catch (...) {
	}
}

void cudt_conn_unwatch(int u) {
	pthread_mutex_lock(&g_ended_mu);
	std::map<UDTSOCKET, const pthread_mutex_t*>::iterator k = g_watch_key.find(u);
	if (k != g_watch_key.end()) {
		g_watched.erase(k->second);
		g_watch_key.erase(k);
	}
	g_ended.erase(u);
	pthread_mutex_unlock(&g_ended_mu);
}

void cudt_conninfo_get(const int* ids, int n, int full, cudt_conninfo* ci) {
	for (int i = 0; i < n; i++) {
		cudt_conninfo* c = &ci[i];
		memset(c, 0, sizeof *c);
		try {
			c->status = UDT::getsockstate(ids[i]);
			if (!full && c->status >= INIT && c->status <= CONNECTED) {
				// Nothing has ended: the state is all a scan needs.
				c->exists = 1;
				c->connected = c->status == CONNECTED;
				continue;
			}
			// getUDTHandle finds only sockets UDT has not yet marked CLOSED.
			// UDT deletes a socket no sooner than a second after that mark
			// (CUDTUnited::checkBrokenSockets), so the reads below, made
			// right after the lookup, never reach freed memory.
			CUDT* u = CUDT::getUDTHandle(ids[i]);
			if (u == NULL) {
				gone(ids[i], c);
				continue;
			}
			c->exists = 1;
			// m_bConnected goes true a moment before the handshake's last
			// step (connect_complete), which a close must not precede:
			// connected means that step ran, seen in the status it sets,
			// or in a break, which comes later on the same UDT thread.
			c->connected = c->status == CONNECTED || (c->status == BROKEN && u->*member(Connected()));
			c->rejected = c->connected && (u->*member(ConnRes())).m_iReqType == 1002;
			c->shutdown = u->*member(Shutdown());
			int32_t v = 0;
			int len = sizeof v;
			if (UDT::getsockopt(ids[i], 0, UDT_SNDDATA, &v, &len) == 0) c->snd_pkts = v;
		} catch (...) {
			c->exists = 0;
		}
	}
}

int cudt_connect_settled(int u) {
	try {
		// connect_complete, the last step of a completed handshake, has run.
		int st = UDT::getsockstate(u);
		if (st == CONNECTED) return 1;
		CUDT* c = CUDT::getUDTHandle(u);
		if (c == NULL) return 1;
		// Completed, then broken: a break comes after connect_complete on
		// the same UDT thread. Completing (connected, status not yet):
		// wait for connect_complete.
		if (c->*member(Connected())) return st == BROKEN;
		// Still asking: an answer may be in processing on UDT's receive
		// thread, which a close would make throw out of a function declared
		// not to (std::terminate).
		if (c->*member(Connecting())) return 0;
		// UDT gave up (its 3 s) on that same receive thread: no answer for
		// the socket is in processing, and a later one is ignored. But the
		// socket stays in the receive queue's list of connectors, which
		// close no longer empties and which UDT's receive thread reads on
		// every pass, after the socket is deleted too: take it out here.
		CRcvQueue* q = c->*member(RcvQueue());
		if (q != NULL) (q->*member(RemoveConnector()))(u);
		return 1;
	} catch (...) {
		return 1;
	}
}

// maybe_ready is false when UDT::epoll_wait(eid) with these sets and no
// timeout would certainly find nothing: the sets it reads from are empty
// (CEPoll::wait reports exceptions in both the read and the write set). A
// system socket to watch, or an unknown eid, takes the call.
static bool maybe_ready(int eid, bool r, bool w, bool lr) {
	if (lr) return true;
	CEPoll& ep = member(United())->*member(EPollOf());
	pthread_mutex_t* mu = &(ep.*member(PollLock()));
	PollMap& polls = ep.*member(Polls());
	bool ready = true;
	pthread_mutex_lock(mu);
	PollMap::const_iterator p = polls.find(eid);
	if (p != polls.end()) {
		const CEPollDesc& d = p->second;
		bool ex = !d.m_sUDTExcepts.empty();
		ready = (r && (ex || !d.m_sUDTReads.empty())) || (w && (ex || !d.m_sUDTWrites.empty()));
	}
	pthread_mutex_unlock(mu);
	return ready;
}

// consume takes the sockets just reported out of eid's ready sets: the
// poller wants each readiness once (an edge), and UDT readies a socket
// again when it has more (update_events), so a waiter that keeps its
// interest between waits does not make every wait return at once.
static void consume(int eid, const int* rd, int rn, const int* wr, int wn) {
	CEPoll& ep = member(United())->*member(EPollOf());
	pthread_mutex_t* mu = &(ep.*member(PollLock()));
	PollMap& polls = ep.*member(Polls());
	pthread_mutex_lock(mu);
	PollMap::iterator p = polls.find(eid);
	if (p != polls.end()) {
		CEPollDesc& d = p->second;
		for (int i = 0; rd != NULL && i < rn; i++) {
			d.m_sUDTReads.erase(rd[i]);
			d.m_sUDTExcepts.erase(rd[i]);
		}
		for (int i = 0; wr != NULL && i < wn; i++) {
			d.m_sUDTWrites.erase(wr[i]);
			d.m_sUDTExcepts.erase(wr[i]);
		}
	}
	pthread_mutex_unlock(mu);
}

int cudt_poll_wait(int eid, int* rd, int* rn, int* wr, int* wn, int* lrd, int* lrn,
                   int64_t us, int signals, int* signalled, cudt_err* e) {
	*signalled = 0;
	try {
		uint64_t start = CTimer::getTime();
		bool woken = false;  // by a notify, since the last look
		for (;;) {
			std::set<UDTSOCKET> r, w;
			std::set<SYSSOCKET> lr;
			int ret = 0;
			// An event or a readying from here on may have set what the
			// check below missed.
			unsigned long ev_before = g_events.load();
			unsigned long ready_before = g_ready.load();
			if (maybe_ready(eid, rd != NULL, wr != NULL, lrd != NULL))
				ret = UDT::epoll_wait(eid, rd ? &r : NULL, wr ? &w : NULL, 0, lrd ? &lr : NULL, NULL);
			if (ret > 0) {
				copy_set(r, rd, rn);
				copy_set(w, wr, wn);
				copy_set(lr, lrd, lrn);
				consume(eid, rd, rd ? *rn : 0, wr, wr ? *wn : 0);
				return ret;
			}
			if (ret == UDT::ERROR && UDT::getlasterror_code() != CUDTException::ETIMEOUT) {
				e->code = UDT::getlasterror_code();
				snprintf(e->msg, sizeof e->msg, "%s", UDT::getlasterror_desc());
				return -1;
			}
			if (g_wake.exchange(0) != 0) *signalled = 2;
			unsigned long ev = g_events.load();
			if (signals && ev != g_seen) {
				g_seen = ev;
				*signalled = 1;
			}
			uint64_t now = CTimer::getTime();
			if (*signalled || (us >= 0 && now - start >= uint64_t(us))) {
				if (rn) *rn = 0;
				if (wn) *wn = 0;
				if (lrn) *lrn = 0;
				return 0;
			}
			if (woken) g_idle_wakes.fetch_add(1, std::memory_order_relaxed);
			// UDT's epoll sets change without its event now and then: look
			// again within its own 10 ms.
			uint64_t wait = kTick;
			if (us >= 0 && uint64_t(us) - (now - start) < wait) wait = uint64_t(us) - (now - start);
			timespec rel;
			rel.tv_sec = time_t(wait / 1000000);
			rel.tv_nsec = long(wait % 1000000) * 1000;
			// UDT's event changes no ready set (readyings count in
			// g_ready): it matters only to a wait that asked for it.
			g_sleeping.fetch_add(1);
			if (signals) g_sleeping_sig.fetch_add(1);
			uint32_t f = g_futex.load();
			woken = true;
			if (g_wake.load() == 0 && g_ready.load() == ready_before &&
			    (!signals || (g_events.load() == ev_before && g_events.load() == g_seen)))
				woken = syscall(SYS_futex, &g_futex, FUTEX_WAIT_PRIVATE, f, &rel, NULL, 0) == 0 || errno == EAGAIN;
			if (signals) g_sleeping_sig.fetch_sub(1);
			g_sleeping.fetch_sub(1);
		}
	} catch (const std::exception& x) {
		e->code = -1;
		snprintf(e->msg, sizeof e->msg, "C++ exception in the UDT shim: %s", x.what());
		return -1;
	} catch (...) {
		e->code = -1;
		snprintf(e->msg, sizeof e->msg, "C++ exception in the UDT shim: non-standard exception");
		return -1;
	}
}

// The link routes UDT's own calls of these two through here (cudt.go:
// -Wl,--wrap). UDT's callers are in other objects of libudt.a than the
// definitions, which is what --wrap needs.
extern "C" void __real__ZN6CTimer12triggerEventEv(void);
extern "C" int __real__ZN6CEPoll13update_eventsERKiRSt3setIiSt4lessIiESaIiEEib(CEPoll* ep, const UDTSOCKET* u,
                                                                               std::set<int>* eids, int events,
                                                                               bool enable);

// CTimer::triggerEvent: UDT's own waits (its blocking epoll_wait and
// select) still get the signal.
extern "C" void __wrap__ZN6CTimer12triggerEventEv(void) {
	__real__ZN6CTimer12triggerEventEv();
	g_events.fetch_add(1);
	notify(g_sleeping_sig);
}

// readied reports whether uid is in a ready set, for one of events, of an
// epoll in eids: whether update_events(uid, eids, events, true) readied
// something (UDT readies only for the events an epoll watches), or left
// it readied. Under UDT's epoll lock, as UDT reads eids.
static bool readied(CEPoll* ep, UDTSOCKET u, const std::set<int>* eids, int events) {
	pthread_mutex_t* mu = &(ep->*member(PollLock()));
	PollMap& polls = ep->*member(Polls());
	bool found = false;
	pthread_mutex_lock(mu);
	for (std::set<int>::const_iterator i = eids->begin(); !found && i != eids->end(); ++i) {
		PollMap::const_iterator p = polls.find(*i);
		if (p == polls.end()) continue;
		const CEPollDesc& d = p->second;
		found = ((events & UDT_EPOLL_IN) && d.m_sUDTReads.count(u)) ||
		        ((events & UDT_EPOLL_OUT) && d.m_sUDTWrites.count(u)) ||
		        ((events & UDT_EPOLL_ERR) && d.m_sUDTExcepts.count(u));
	}
	pthread_mutex_unlock(mu);
	return found;
}

// CEPoll::update_events(uid, eids, events, enable). A socket in no epoll
// (eids empty, as for every socket nobody waits on) readies nothing; one
// in ours readies only what the epoll watches it for.
extern "C" int __wrap__ZN6CEPoll13update_eventsERKiRSt3setIiSt4lessIiESaIiEEib(CEPoll* ep, const UDTSOCKET* u,
                                                                               std::set<int>* eids, int events,
                                                                               bool enable) {
	bool watched = !eids->empty();
	int ret = __real__ZN6CEPoll13update_eventsERKiRSt3setIiSt4lessIiESaIiEEib(ep, u, eids, events, enable);
	if (enable && watched && readied(ep, *u, eids, events)) {
		g_ready.fetch_add(1);
		notify();
	}
	return ret;
}

void cudt_poll_signal(void) {
	g_wake.store(1);
	notify();
}

uint64_t cudt_poll_idle_wakes(void) { return g_idle_wakes.load(); }

int cudt_perf_ended(int u, cudt_perf* p) {
	memset(p, 0, sizeof *p);
	try {
		// As in cudt_conninfo_get: a socket getUDTHandle finds is not
		// deleted for at least a second, so these reads stay in its memory.
		CUDT* c = CUDT::getUDTHandle(u);
		if (c != NULL) {
			read_perf(c, p);
			return 1;
		}
		if (closed_find(u, [&](CUDT* cu) { read_perf(cu, p); })) return 1;
		Ended e;
		if (!ended_find(u, &e)) return 0;
		*p = e.perf;
		return 1;
	} catch (...) {
		return 0;
	}
}

int cudt_would_block(int u, int op, int len) {
	try {
		// As in cudt_conninfo_get: a socket getUDTHandle finds is not
		// deleted for a second at least, and the caller owns it.
		CUDT* c = CUDT::getUDTHandle(u);
		if (c == NULL) return 0;
		// The order of UDT's own checks: a call that would fail for any
		// other reason goes to UDT, for UDT's error.
		if (!(c->*member(Connected())) || c->*member(Broken()) || c->*member(Closing())) return 0;
		bool stream = c->*member(SockType()) == UDT_STREAM;
		switch (op) {
		case CUDT_OP_RECV:
		case CUDT_OP_RECVMSG: {
			if (c->*member(SynRecving()) || stream != (op == CUDT_OP_RECV)) return 0;
			CRcvBuffer* b = c->*member(RcvBuffer());
			return b != NULL && b->getRcvDataSize() == 0;
		}
		case CUDT_OP_SEND:
		case CUDT_OP_SENDMSG: {
			if (c->*member(SynSending()) || stream != (op == CUDT_OP_SEND) || len <= 0) return 0;
			CSndBuffer* b = c->*member(SndBuffer());
			if (b == NULL) return 0;
			int size = c->*member(SndBufSize());
			int free = size - b->getCurrBufSize();
			if (op == CUDT_OP_SEND) return free <= 0;
			int payload = c->*member(PayloadSize());
			// A message longer than the whole buffer is UDT's error 5012.
			return (int64_t)len <= (int64_t)size * payload && (int64_t)free * payload < len;
		}
		}
		return 0;
	} catch (...) {
		return 0;
	}
}
