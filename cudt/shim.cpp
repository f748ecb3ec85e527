// The C++ half of the shim: extern "C" functions over namespace UDT.
//
// Each function catches every C++ exception (UDT reports its own errors by
// return value, but the standard library underneath may still throw, e.g.
// std::bad_alloc) and copies UDT's thread-local last error into the caller's
// cudt_err before returning, while still on the same OS thread: guard and
// checked below, so that each entry point says only what it calls.

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <exception>
#include <set>
#include <string>

#include <udt/udt.h>
#include <udt/ccc.h>

#include "dial.h"
#include "firewall.h"
#include "prefault.h"
#include "shim.h"
#include "watch.h"

namespace {

void copy_msg(cudt_err* e, const char* msg) {
	snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "");
}

// Called only after UDT returned its ERROR value: the last error is not
// cleared by later successes, so reading it at any other time would report
// a stale failure.
void fail(cudt_err* e) {
	if (e == NULL) return;
	e->code = UDT::getlasterror_code();
	copy_msg(e, UDT::getlasterror_desc());
}

void fail_exception(cudt_err* e, const char* what) {
	if (e == NULL) return;
	e->code = -1;
	snprintf(e->msg, sizeof e->msg, "C++ exception in the UDT shim: %s", what ? what : "unknown");
}

void fail_with(cudt_err* e, int code, const char* msg) {
	if (e == NULL) return;
	e->code = code;
	copy_msg(e, msg);
}

const int kInvParam = 5003;  // CUDTException::EINVPARAM

// reject refuses a call the shim can tell is invalid before UDT sees it,
// with the code UDT gives an invalid argument.
int reject(cudt_err* e, const char* why) {
	fail_with(e, kInvParam, why);
	return -1;
}

// guard runs an entry point's body so that no exception reaches Go, where
// it would abort the process: one that escapes becomes failval and a
// shim error (code -1).
template <typename Body>
auto guard(cudt_err* e, Body body, int failval = -1) -> decltype(body()) {
	try {
		return body();
	} catch (const std::exception& x) {
		fail_exception(e, x.what());
		return failval;
	} catch (...) {
		fail_exception(e, "non-standard exception");
		return failval;
	}
}

// checked passes on r, what a UDT call returned, and when r is that call's
// failure value copies UDT's last error into e at once, before anything
// else on this thread can replace it.
template <typename T>
T checked(cudt_err* e, T r, int bad = UDT::ERROR) {
	if (r == bad) fail(e);
	return r;
}

// call is the whole of an entry point that is one UDT call.
template <typename Call>
auto call(cudt_err* e, Call c, int bad = UDT::ERROR) -> decltype(c()) {
	return guard(e, [&] { return checked(e, c(), bad); });
}

// to_sockaddr turns a cudt_addr into the form UDT wants; false when the
// family is neither IPv4 nor IPv6.
bool to_sockaddr(const cudt_addr* a, sockaddr_storage* ss, int* len) {
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		sockaddr_in* s4 = reinterpret_cast<sockaddr_in*>(ss);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		*len = sizeof *s4;
		return true;
	}
	if (a->family == AF_INET6) {
		sockaddr_in6* s6 = reinterpret_cast<sockaddr_in6*>(ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
		s6->sin6_scope_id = a->scope;
		*len = sizeof *s6;
		return true;
	}
	return false;
}

void from_sockaddr(const sockaddr_storage* ss, cudt_addr* a) {
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET) {
		const sockaddr_in* s4 = reinterpret_cast<const sockaddr_in*>(ss);
		a->family = AF_INET;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const sockaddr_in6* s6 = reinterpret_cast<const sockaddr_in6*>(ss);
		a->family = AF_INET6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
		a->scope = s6->sin6_scope_id;
	}
}

// A congestion control that sends at one configured rate whatever the
// network says: useful on dedicated links and for tests that need a known
// pace. The window is left at the flow window so only the rate governs.
class FixedRateCC : public CCC {
public:
	explicit FixedRateCC(double mbps) : mbps_(mbps) {}
	double mbps() const { return mbps_; }

	virtual void init() {
		m_dCWndSize = m_dMaxCWndSize;
		// m_iMSS bytes every period microseconds gives mbps_ Mbit/s.
		m_dPktSndPeriod = (m_iMSS * 8.0) / mbps_;
	}

private:
	double mbps_;
};

class FixedRateFactory : public CCCVirtualFactory {
public:
	explicit FixedRateFactory(double mbps) : mbps_(mbps) {}
	virtual CCC* create() { return new FixedRateCC(mbps_); }
	virtual CCCVirtualFactory* clone() { return new FixedRateFactory(mbps_); }

private:
	double mbps_;
};


// CCC keeps its socket in a private member that only CUDT, a friend, reads.
// A controller needs it (a panicking Go controller closes its connection),
// and an explicit instantiation is the one place C++ lets a pointer to a
// private member be named; it changes nothing in the class.
template <typename Tag, typename Tag::type M>
struct PrivateMember {
	friend typename Tag::type get(Tag) { return M; }
};
struct CCCSocketTag {
	typedef UDTSOCKET CCC::*type;
	friend type get(CCCSocketTag);
};
template struct PrivateMember<CCCSocketTag, &CCC::m_UDT>;

// GoFactory and GoCC take their pthread mutex around every crossing into Go:
// UDT calls a CCC from its receiving thread (ACK, loss, timeout, custom
// messages, packets received), its sending thread (packets sent) and the
// closing one, and CCC itself has no lock. The Go side holds its own lock
// too, which the race detector can see.
// mono_ns is CLOCK_MONOTONIC in nanoseconds, the clock of cudt_cc_rx.
int64_t mono_ns() {
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

class GoCC : public CCC {
public:
	GoCC(uint64_t factory, int hooks) : factory_(factory), hooks_(hooks), inst_(0), owed_(false), dead_(false), nrx_(0) {
		pthread_mutex_init(&mu_, NULL);
	}
	virtual ~GoCC() {
		// UDT deletes a CCC whose connection never closed cleanly (broken,
		// or torn down by its garbage collector); Go still owes the
		// controller its close.
		close();
		pthread_mutex_destroy(&mu_);
	}
	uint64_t inst() const { return inst_.load(); }

	// UDT calls init on the receiving thread of the connection's port, in
	// the middle of a handshake (the listener's answer, or the dialer's
	// taking up of it), and a crossing into Go there waits for a thread
	// and a P: the first on each of UDT's threads took 40 to 190 ms in a
	// burst of 200 dials, and every handshake queued behind it on that port
	// waited too, up to UDT's 250 ms resend. So Go's constructor and Init
	// are owed instead, and run first thing at the connection's first
	// event, or before that on a Go thread (start: when Dial or Accept hands
	// the connection over), whichever comes first. Until then UDT runs on
	// CCC's initial window and pace, and it sends nothing before the
	// program writes (through the net layer; a Socket connected without
	// blocking may send first, on CCC's initial window of 16 packets, until
	// the first ACK starts the controller: starting it from onPktSent would
	// cross into Go with the port's send list locked, on a thread that may
	// not be bound yet).
	virtual void init() {
		pthread_mutex_lock(&mu_);
		owed_.store(true);
		pthread_mutex_unlock(&mu_);
	}
	// start runs the constructor and Init if still owed, and reports
	// whether it did. Unless owed it takes no lock: a controller's own
	// callback may ask for its instance (Socket.Controller).
	bool start() {
		if (!owed_.load() || tl_beginning == this) return false;
		pthread_mutex_lock(&mu_);
		bool ran = owed_.load();
		if (ran) begin();
		pthread_mutex_unlock(&mu_);
		return ran;
	}
	virtual void close() {
		// A connection that ends before its controller started makes none:
		// close runs under UDT's locks (its garbage collector's, or a
		// closing call's), where New, user code, has never run.
		pthread_mutex_lock(&mu_);
		if (owed_.load()) {
			owed_.store(false);
			dead_ = true;
			nrx_ = 0;
		}
		pthread_mutex_unlock(&mu_);
		call(CUDT_CCE_CLOSE, NULL, 0, NULL);
		pthread_mutex_lock(&mu_);
		dead_ = true;  // no callback after close
		pthread_mutex_unlock(&mu_);
	}
	virtual void onACK(int32_t ack) { call(CUDT_CCE_ACK, &ack, 1, NULL); }
	virtual void onLoss(const int32_t* loss, int n) { call(CUDT_CCE_LOSS, loss, n, NULL); }
	virtual void onTimeout() { call(CUDT_CCE_TIMEOUT, NULL, 0, NULL); }
	virtual void onPktSent(const CPacket* p) {
		if (hooks_ & CUDT_CC_HOOK_SENT) call(CUDT_CCE_SENT, NULL, 0, p);
	}
	virtual void onPktReceived(const CPacket* p) {
		if (hooks_ & CUDT_CC_HOOK_RECV_BATCH) {
			// One crossing into Go per batch instead of per packet: on
			// loopback the per-packet callback alone cost 14 % of a Go
			// controller's throughput.
			int64_t now = mono_ns();
			pthread_mutex_lock(&mu_);
			if (dead_) {
				pthread_mutex_unlock(&mu_);
				return;
			}
			cudt_cc_rx& r = rx_[nrx_++];
			r.seq = p->m_iSeqNo;
			r.msgno = p->m_iMsgNo;
			r.timestamp = p->m_iTimeStamp;
			r.len = p->getLength();
			r.arrived = now;
			bool full = nrx_ == CUDT_CC_RX_BATCH || now - rx_[0].arrived >= CUDT_CC_RX_BATCH_NS;
			pthread_mutex_unlock(&mu_);
			if (full) call(CUDT_CCE_RECV_BATCH, NULL, 0, NULL);
		} else if (hooks_ & CUDT_CC_HOOK_RECV) {
			call(CUDT_CCE_RECV, NULL, 0, p);
		}
	}
	virtual void processCustomMsg(const CPacket* p) { call(CUDT_CCE_CUSTOM, NULL, 0, p); }

	// The protected members a Go controller reaches through its handle.
	int send(int type, int ext, const int32_t* data, int n) const {
		CPacket pkt;
		int32_t x = ext & 0xFFFF;
		// pack keeps the pointer for the send below and never writes it
		// (the channel swaps a copy's byte order in place and back).
		pkt.pack(type, &x, const_cast<int32_t*>(data), n * 4);
		sendCustomMsg(pkt);
		return 0;
	}
	const CPerfMon* perf() { return getPerfInfo(); }

private:
	void call(int ev, const int32_t* loss, int n, const CPacket* p) {
		pthread_mutex_lock(&mu_);
		if (owed_.load()) begin();
		// Packets held for a batch come before anything after them. Before
		// close they come as close does, without sendCustomMsg or
		// getPerfInfo: UDT's garbage collector deletes a connection (and
		// its CCC) holding the lock that both take, and a tick sent from
		// there hung the process.
		if (nrx_ > 0 && !dead_)
			deliver(ev == CUDT_CCE_CLOSE ? CUDT_CCE_RECV_BATCH_CLOSING : CUDT_CCE_RECV_BATCH, NULL, 0, NULL);
		if (ev != CUDT_CCE_RECV_BATCH && !dead_) deliver(ev, loss, n, p);
		nrx_ = 0;
		pthread_mutex_unlock(&mu_);
	}

	// begin makes the Go controller and runs its Init; mu_ is held.
	// owed_ clears only when Init has returned: a start() meanwhile, on
	// another thread, waits for it on mu_. One from inside the constructor
	// or Init (Socket.Controller) must not, and finds tl_beginning.
	void begin() {
		const GoCC* outer = tl_beginning;
		tl_beginning = this;
		inst_.store(cudtGoCCNew(factory_, this->*get(CCCSocketTag())));
		if (inst_.load() == 0)
			dead_ = true;
		else
			deliver(CUDT_CCE_INIT, NULL, 0, NULL);
		tl_beginning = outer;
		owed_.store(false);
	}
	static thread_local const GoCC* tl_beginning;

	// deliver makes one callback into Go; mu_ is held.
	void deliver(int ev, const int32_t* loss, int n, const CPacket* p) {
		cudt_cc_state s;
		s.ccc = this;
		s.sock = this->*get(CCCSocketTag());
		s.syn_interval = m_iSYNInterval;
		s.mss = m_iMSS;
		s.max_cwnd = m_dMaxCWndSize;
		s.bandwidth = m_iBandwidth;
		s.snd_curr_seq = m_iSndCurrSeqNo;
		s.rcv_rate = m_iRcvRate;
		s.rtt = m_iRTT;
		s.pkt_snd_period = m_dPktSndPeriod;
		s.cwnd = m_dCWndSize;
		s.ack_timer = -1;
		s.ack_interval = -1;
		s.rto = -1;
		cudt_cc_pkt pk;
		cudt_cc_pkt* pp = NULL;
		if (p != NULL) {
			memset(&pk, 0, sizeof pk);
			pk.len = p->getLength();
			pk.timestamp = p->m_iTimeStamp;
			if (p->getFlag()) {
				pk.ctrl = 1;
				pk.type = p->getType();
				pk.ext = p->getExtendedType();
				pk.data = p->m_pcData;
			} else {
				pk.seq = p->m_iSeqNo;
				pk.msgno = p->m_iMsgNo;
			}
			pp = &pk;
		}
		int64_t now = 0;
		bool batch = ev == CUDT_CCE_RECV_BATCH || ev == CUDT_CCE_RECV_BATCH_CLOSING;
		if (batch) {
			n = nrx_;
			nrx_ = 0;
			now = mono_ns();
		}
		int r = cudtGoCCEvent(inst_.load(), ev, &s, const_cast<int32_t*>(loss), n, pp,
		                      batch ? rx_ : NULL, now);
		m_dPktSndPeriod = s.pkt_snd_period;
		m_dCWndSize = s.cwnd;
		if (s.ack_timer >= 0) setACKTimer(s.ack_timer);
		if (s.ack_interval >= 0) setACKInterval(s.ack_interval);
		if (s.rto >= 0) setRTO(s.rto);
		if (r != 0) dead_ = true;  // closed, or the controller panicked
	}

	uint64_t factory_;
	int hooks_;
	std::atomic<uint64_t> inst_;
	std::atomic<bool> owed_;  // init came, the Go side's Init has not run yet; set under mu_
	bool dead_;
	pthread_mutex_t mu_;
	cudt_cc_rx rx_[CUDT_CC_RX_BATCH];  // packets received, not yet handed to Go
	int nrx_;
};

thread_local const GoCC* GoCC::tl_beginning = NULL;

// start_go_cc runs the Init u's controller cc still owes, if it is a Go
// one, and makes u take up what Init set; it returns cc as a GoCC, or NULL.
GoCC* start_go_cc(int u, CCC* cc) {
	GoCC* g = dynamic_cast<GoCC*>(cc);
	if (g != NULL && g->start()) cudt_cc_take_up(u, g);
	return g;
}

// GoFactory holds a reference on the Go constructor it names, so the Go
// table entry lives exactly as long as some socket may still create from it.
// g_go_factories counts the GoFactory objects alive (each socket set to a
// Go controller holds one), g_go_sent those that forward OnPktSent: while
// there are any, UDT's new threads bind to Go as they start
// (cudt_cc_bind_thread).
std::atomic<int> g_go_factories{0}, g_go_sent{0};

class GoFactory : public CCCVirtualFactory {
public:
	GoFactory(uint64_t id, int hooks) : id_(id), hooks_(hooks) {
		cudtGoCCFactoryRef(id_, 1);
		g_go_factories++;
		if (hooks_ & CUDT_CC_HOOK_SENT) g_go_sent++;
	}
	virtual ~GoFactory() {
		if (hooks_ & CUDT_CC_HOOK_SENT) g_go_sent--;
		g_go_factories--;
		cudtGoCCFactoryRef(id_, -1);
	}
	virtual CCC* create() { return new GoCC(id_, hooks_); }
	virtual CCCVirtualFactory* clone() { return new GoFactory(id_, hooks_); }

private:
	uint64_t id_;
	int hooks_;
};

// addr_in makes a UDT call that takes a socket address (bind, connect).
int addr_in(int (*op)(UDTSOCKET, const sockaddr*, int), int u, const cudt_addr* a, cudt_err* e) {
	return guard(e, [&] {
		sockaddr_storage ss;
		int len;
		if (!to_sockaddr(a, &ss, &len)) return reject(e, "address family is neither AF_INET nor AF_INET6");
		return checked(e, op(u, reinterpret_cast<sockaddr*>(&ss), len));
	});
}

// addr_out makes a UDT call that fills in a socket address (accept,
// getpeername, getsockname), whose failure value is bad; a NULL a asks for
// no address.
int addr_out(int (*op)(UDTSOCKET, sockaddr*, int*), int bad, int u, cudt_addr* a, cudt_err* e) {
	return guard(e, [&] {
		sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		int len = sizeof ss;
		int r = checked(e, op(u, reinterpret_cast<sockaddr*>(&ss), &len), bad);
		if (r != bad && a != NULL) from_sockaddr(&ss, a);
		return r;
	});
}

// set_cc installs a congestion control factory on u. UDT clones the
// factory it is given, so the caller's may live only for the call.
template <typename Factory>
int set_cc(int u, Factory& f, cudt_err* e) {
	return checked(e, UDT::setsockopt(u, 0, UDT_CC, &f, sizeof f));
}

// get_cc reads u's congestion control instance, NULL until UDT makes it at
// connect.
int get_cc(int u, CCC** cc, cudt_err* e) {
	*cc = NULL;
	int len = sizeof *cc;
	return checked(e, UDT::getsockopt(u, 0, UDT_CC, cc, &len));
}

// UDT's text for an error code, as its exception for it gives it (made,
// not thrown).
std::string udt_text(int code) {
	CUDTException x(code / 1000, code % 1000, 0);
	return x.getErrorMessage();
}

// answered_would_block reports whether the call op on u would fail at once
// for want of buffer space (6001) or data (6002), and if so fills e as UDT
// would, with its text built once, so that the call need not be made.
bool answered_would_block(int u, int op, int len, cudt_err* e) {
	if (!cudt_would_block(u, op, len)) return false;
	static const std::string no_buffer = udt_text(6001), no_data = udt_text(6002);
	bool send = op == CUDT_OP_SEND || op == CUDT_OP_SENDMSG;
	fail_with(e, send ? 6001 : 6002, send ? no_buffer.c_str() : no_data.c_str());
	return true;
}

}  // namespace

extern "C" {

void cudt_exit(int code) { exit(code); }

// Go ends a process with the exit_group system call, and no C++ destructor
// runs; but a -race build ends through __tsan_fini and the C library's
// exit, which runs the destructors of UDT's globals (its socket table, the
// lists its garbage collector walks) while UDT's threads still use them: a
// child that had just closed sockets crashed on its way out (SIGSEGV, or
// "double free or corruption"). Exit handlers run in the reverse order of
// their registration, so one registered after those globals were built
// (from Go's init, after every C++ constructor) runs first, and ends the
// process there, as Go does in every other build.
static std::atomic<bool> exit_guard_off(false);

// A global like UDT's, for a test to see whether exit destroyed it.
struct ExitWitness {
	~ExitWitness() {
		if (getenv("UDT_TEST_EXIT_WITNESS") == NULL) return;
		const char m[] = "cudt: destructors ran\n";
		ssize_t r = write(2, m, sizeof m - 1);
		(void)r;
	}
};
static ExitWitness exit_witness;

static void end_before_destructors(int status, void*) {
	if (exit_guard_off.load()) return;
	fflush(NULL);
	_exit(status);
}

void cudt_exit_guard(void) { on_exit(end_before_destructors, NULL); }

void cudt_exit_guard_off(int off) { exit_guard_off.store(off != 0); }

int cudt_startup(cudt_err* e) {
	return call(e, [] { return UDT::startup(); });
}

int cudt_cleanup(cudt_err* e) {
	return call(e, [] { return UDT::cleanup(); });
}

int cudt_socket(int af, int type, int protocol, cudt_err* e) {
	return call(e, [&] { return UDT::socket(af, type, protocol); }, UDT::INVALID_SOCK);
}

int cudt_bind(int u, const cudt_addr* a, cudt_err* e) {
	return addr_in(UDT::bind, u, a, e);
}

int cudt_bind2(int u, int udpfd, cudt_err* e) {
	return call(e, [&] { return UDT::bind2(u, udpfd); });
}

int cudt_listen(int u, int backlog, cudt_err* e) {
	return guard(e, [&] {
		int r = checked(e, UDT::listen(u, backlog));
		if (r != UDT::ERROR) cudt_fw_listening(u);
		return r;
	});
}

int cudt_accept(int u, cudt_addr* peer, cudt_err* e) {
	return addr_out(UDT::accept, UDT::INVALID_SOCK, u, peer, e);
}

// connect_marked is UDT::connect with the socket marked as connecting for
// the length of the call (dial.h). A blocking connect reads the listener's
// answers itself, inside the call (UDT_RCVSYN decides, as in UDT): it is
// not marked, or its answers would wait for the call they are to end.
static int connect_marked(UDTSOCKET u, const sockaddr* a, int len) {
	bool blocking = true;
	int n = sizeof blocking;
	if (UDT::getsockopt(u, 0, UDT_RCVSYN, &blocking, &n) == UDT::ERROR || blocking) return UDT::connect(u, a, len);
	struct Mark {
		int u;
		explicit Mark(int u) : u(u) { cudt_dial_begin(u); }
		~Mark() { cudt_dial_end(u); }
	} mark(u);
	return UDT::connect(u, a, len);
}

int cudt_connect(int u, const cudt_addr* a, cudt_err* e) {
	return addr_in(connect_marked, u, a, e);
}

int cudt_close(int u, cudt_err* e) {
	return guard(e, [&] {
		cudt_fw_closing(u);
		cudt_dial_forget(u);
		cudt_listener_release(u);
		int listener = cudt_accepted_by(u);
		int r = checked(e, UDT::close(u));
		cudt_accepted_release(u, listener);
		return r;
	});
}

int cudt_getpeername(int u, cudt_addr* a, cudt_err* e) {
	return addr_out(UDT::getpeername, UDT::ERROR, u, a, e);
}

int cudt_getsockname(int u, cudt_addr* a, cudt_err* e) {
	return addr_out(UDT::getsockname, UDT::ERROR, u, a, e);
}

int cudt_getsockopt(int u, int opt, void* val, int* len, cudt_err* e) {
	if (opt == UDT_CC) return reject(e, "UDT_CC holds a C++ object: use cudt_getsockopt_cc");
	return call(e, [&] { return UDT::getsockopt(u, 0, static_cast<UDTOpt>(opt), val, len); });
}

int cudt_setsockopt(int u, int opt, const void* val, int len, cudt_err* e) {
	if (opt == UDT_CC) return reject(e, "UDT_CC holds a C++ object: use cudt_setsockopt_cc");
	return call(e, [&] { return UDT::setsockopt(u, 0, static_cast<UDTOpt>(opt), val, len); });
}

int cudt_setsockopt_cc(int u, int kind, double param, cudt_err* e) {
	return guard(e, [&] {
		if (kind == CUDT_CC_NATIVE) {
			CCCFactory<CUDTCC> f;
			return set_cc(u, f, e);
		}
		if (kind == CUDT_CC_FIXEDRATE) {
			if (!(param > 0)) return reject(e, "fixed-rate congestion control needs a rate above 0 Mbit/s");
			FixedRateFactory f(param);
			return set_cc(u, f, e);
		}
		return reject(e, "unknown congestion control kind");
	});
}

int cudt_getsockopt_cc(int u, int* kind, double* param, cudt_err* e) {
	return guard(e, [&] {
		CCC* cc;
		int r = get_cc(u, &cc, e);
		if (r == UDT::ERROR) return r;
		*param = 0;
		if (cc == NULL) {
			*kind = CUDT_CC_NONE;
		} else if (FixedRateCC* f = dynamic_cast<FixedRateCC*>(cc)) {
			*kind = CUDT_CC_FIXEDRATE;
			*param = f->mbps();
		} else if (dynamic_cast<GoCC*>(cc) != NULL) {
			*kind = CUDT_CC_GO;
		} else if (dynamic_cast<CUDTCC*>(cc) != NULL) {
			*kind = CUDT_CC_NATIVE;
		} else {
			*kind = CUDT_CC_OTHER;
		}
		return r;
	});
}

int cudt_setsockopt_cc_go(int u, uint64_t factory, int hooks, cudt_err* e) {
	return guard(e, [&] {
		GoFactory f(factory, hooks);
		return set_cc(u, f, e);
	});
}

int cudt_getsockopt_cc_go(int u, uint64_t* inst, cudt_err* e) {
	return guard(e, [&] {
		CCC* cc;
		int r = get_cc(u, &cc, e);
		if (r == UDT::ERROR) return r;
		GoCC* g = start_go_cc(u, cc);
		*inst = g != NULL ? g->inst() : 0;
		return r;
	});
}

// A C thread's first call into Go takes an M from the runtime's list of
// spares, which holds one: when a burst of new threads calls at once, each
// waits, in a loop of one-microsecond sleeps, for the thread before it to
// get a P and make the next spare. 200 listeners' first controller calls,
// in a slice's handshakes, took 40 to 190 ms each that way, on threads that
// had handshakes to answer. A thread keeps its M until it ends, so UDT's
// threads take theirs as they start, one at a time (the lock makes the
// others sleep, not spin), before any packet waits on them.
pthread_mutex_t g_bind_mu = PTHREAD_MUTEX_INITIALIZER;
std::atomic<uint64_t> g_bound{0};

void cudt_cc_bind_thread(int sending) {
	if (g_go_factories.load() == 0) return;
	if (sending && g_go_sent.load() == 0) return;
	pthread_mutex_lock(&g_bind_mu);
	cudtGoBindThread();
	pthread_mutex_unlock(&g_bind_mu);
	g_bound++;
}

uint64_t cudt_cc_bound_threads(void) { return g_bound.load(); }

void cudt_cc_start(int u) {
	guard(NULL, [&] {
		CCC* cc;
		if (get_cc(u, &cc, NULL) != UDT::ERROR) start_go_cc(u, cc);
		return 0;
	});
}

int cudt_error_text(int code, char* buf, int n) {
	return guard(NULL, [&] {
		snprintf(buf, size_t(n), "%s", udt_text(code).c_str());
		return 0;
	});
}

int cudt_send(int u, const char* buf, int len, int flags, cudt_err* e) {
	if (answered_would_block(u, CUDT_OP_SEND, len, e)) return -1;
	return call(e, [&] { return UDT::send(u, buf, len, flags); });
}

int cudt_recv(int u, char* buf, int len, int flags, cudt_err* e) {
	if (answered_would_block(u, CUDT_OP_RECV, len, e)) return -1;
	return call(e, [&] { return UDT::recv(u, buf, len, flags); });
}

int cudt_sendmsg(int u, const char* buf, int len, int ttl, int inorder, cudt_err* e) {
	if (answered_would_block(u, CUDT_OP_SENDMSG, len, e)) return -1;
	return call(e, [&] { return UDT::sendmsg(u, buf, len, ttl, inorder != 0); });
}

int cudt_recvmsg(int u, char* buf, int len, cudt_err* e) {
	if (answered_would_block(u, CUDT_OP_RECVMSG, len, e)) return -1;
	return call(e, [&] { return UDT::recvmsg(u, buf, len); });
}

int64_t cudt_sendfile2(int u, const char* path, int64_t* offset, int64_t size, int block, cudt_err* e) {
	return call(e, [&] { return UDT::sendfile2(u, path, offset, size, block); });
}

int64_t cudt_recvfile2(int u, const char* path, int64_t* offset, int64_t size, int block, cudt_err* e) {
	return call(e, [&] { return UDT::recvfile2(u, path, offset, size, block); });
}

int cudt_epoll_create(cudt_err* e) {
	return call(e, [] { return UDT::epoll_create(); });
}

int cudt_epoll_add_usock(int eid, int u, int events, cudt_err* e) {
	return call(e, [&] { return UDT::epoll_add_usock(eid, u, &events); });
}

int cudt_epoll_add_ssock(int eid, int s, int events, cudt_err* e) {
	return call(e, [&] { return UDT::epoll_add_ssock(eid, s, &events); });
}

int cudt_epoll_remove_usock(int eid, int u, cudt_err* e) {
	return call(e, [&] { return UDT::epoll_remove_usock(eid, u); });
}

int cudt_epoll_remove_ssock(int eid, int s, cudt_err* e) {
	return call(e, [&] { return UDT::epoll_remove_ssock(eid, s); });
}

namespace {

// copy_set writes up to *n entries of s into out and sets *n to how many
// it wrote. A NULL out asks for nothing.
void copy_set(const std::set<int>& s, int* out, int* n) {
	if (out == NULL || n == NULL) return;
	int i = 0;
	for (std::set<int>::const_iterator it = s.begin(); it != s.end() && i < *n; ++it) out[i++] = *it;
	*n = i;
}

}  // namespace

// Built on UDT::epoll_wait rather than epoll_wait2 so that every count is
// set exactly, an empty kind included; the contract is epoll_wait2's.
int cudt_epoll_wait2(int eid, int* rd, int* rn, int* wr, int* wn, int64_t ms,
                     int* lrd, int* lrn, int* lwr, int* lwn, cudt_err* e) {
	return guard(e, [&] {
		std::set<UDTSOCKET> r, w;
		std::set<SYSSOCKET> lr, lw;
		int ret = checked(e, UDT::epoll_wait(eid, rd != NULL ? &r : NULL, wr != NULL ? &w : NULL, ms,
		                                     lrd != NULL ? &lr : NULL, lwr != NULL ? &lw : NULL));
		if (ret == UDT::ERROR) return ret;
		copy_set(r, rd, rn);
		copy_set(w, wr, wn);
		copy_set(lr, lrd, lrn);
		copy_set(lw, lwr, lwn);
		return ret;
	});
}

int cudt_epoll_release(int eid, cudt_err* e) {
	return call(e, [&] { return UDT::epoll_release(eid); });
}

namespace {

void copy_perf(const CPerfMon& t, cudt_perf* p) {
	p->msTimeStamp = t.msTimeStamp;
	p->pktSentTotal = t.pktSentTotal;
	p->pktRecvTotal = t.pktRecvTotal;
	p->pktSndLossTotal = t.pktSndLossTotal;
	p->pktRcvLossTotal = t.pktRcvLossTotal;
	p->pktRetransTotal = t.pktRetransTotal;
	p->pktSentACKTotal = t.pktSentACKTotal;
	p->pktRecvACKTotal = t.pktRecvACKTotal;
	p->pktSentNAKTotal = t.pktSentNAKTotal;
	p->pktRecvNAKTotal = t.pktRecvNAKTotal;
	p->usSndDurationTotal = t.usSndDurationTotal;
	p->pktSent = t.pktSent;
	p->pktRecv = t.pktRecv;
	p->pktSndLoss = t.pktSndLoss;
	p->pktRcvLoss = t.pktRcvLoss;
	p->pktRetrans = t.pktRetrans;
	p->pktSentACK = t.pktSentACK;
	p->pktRecvACK = t.pktRecvACK;
	p->pktSentNAK = t.pktSentNAK;
	p->pktRecvNAK = t.pktRecvNAK;
	p->mbpsSendRate = t.mbpsSendRate;
	p->mbpsRecvRate = t.mbpsRecvRate;
	p->usSndDuration = t.usSndDuration;
	p->usPktSndPeriod = t.usPktSndPeriod;
	p->pktFlowWindow = t.pktFlowWindow;
	p->pktCongestionWindow = t.pktCongestionWindow;
	p->pktFlightSize = t.pktFlightSize;
	p->msRTT = t.msRTT;
	p->mbpsBandwidth = t.mbpsBandwidth;
	p->byteAvailSndBuf = t.byteAvailSndBuf;
	p->byteAvailRcvBuf = t.byteAvailRcvBuf;
}

}  // namespace

int cudt_perfmon(int u, cudt_perf* p, int clear, cudt_err* e) {
	return guard(e, [&] {
		UDT::TRACEINFO t;
		memset(&t, 0, sizeof t);
		int r = checked(e, UDT::perfmon(u, &t, clear != 0));
		if (r == UDT::ERROR) return r;
		copy_perf(t, p);
		return r;
	});
}

int cudt_getsockstate(int u) {
	return guard(NULL, [&]() -> int { return UDT::getsockstate(u); }, NONEXIST);
}

int cudt_malloc_trim(int kept) {
	// The shim's kept pages too when asked: memory of deleted sockets
	// kept outside glibc's heap for the next ones (prefault.cpp).
	size_t released = kept ? cudt_warm_release() : 0;
	return malloc_trim(0) != 0 || released != 0;
}

int cudt_getlasterror_code(void) {
	return guard(NULL, [] { return UDT::getlasterror_code(); });
}

void cudt_getlasterror_desc(char* buf, int len) {
	if (buf == NULL || len <= 0) return;
	try {
		snprintf(buf, len, "%s", UDT::getlasterror_desc());
	} catch (...) {
		buf[0] = '\0';
	}
}

int cudt_cc_send(void* ccc, int type, int ext, const int32_t* data, int n) {
	return guard(NULL, [&] { return static_cast<GoCC*>(ccc)->send(type, ext, data, n); });
}

int cudt_cc_perf(void* ccc, cudt_perf* p) {
	return guard(NULL, [&] {
		const CPerfMon* t = static_cast<GoCC*>(ccc)->perf();
		if (t == NULL) return -1;
		copy_perf(*t, p);
		return 0;
	});
}

}  // extern "C"
