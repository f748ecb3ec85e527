/* A plain C face for the UDT4 C++ API, so cgo never sees C++.
 *
 * Every function mirrors one call of namespace UDT and reports failure in a
 * cudt_err filled inside the same call: UDT keeps its last error per OS
 * thread, and a goroutine may run on another thread by its next cgo call.
 * No C++ exception crosses this boundary. No pointer passed in is kept after
 * the call returns.
 */
#ifndef CUDT_SHIM_H
#define CUDT_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDT_ERRMSG 256

typedef struct {
	int code;               /* UDT error code, -1 for one the shim made up */
	char msg[CUDT_ERRMSG];  /* UDT's own text for it, NUL-terminated */
} cudt_err;

/* An IPv4 or IPv6 socket address without sockaddr's layout puzzles. */
typedef struct {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char ip[16];   /* 4 bytes used for AF_INET */
	unsigned short port;    /* host byte order */
	unsigned int scope;     /* IPv6 scope (interface index) */
} cudt_addr;

/* UDT::TRACEINFO (CPerfMon), field by field, so cgo needs no C++ header. */
typedef struct {
	int64_t msTimeStamp;
	int64_t pktSentTotal;
	int64_t pktRecvTotal;
	int pktSndLossTotal;
	int pktRcvLossTotal;
	int pktRetransTotal;
	int pktSentACKTotal;
	int pktRecvACKTotal;
	int pktSentNAKTotal;
	int pktRecvNAKTotal;
	int64_t usSndDurationTotal;

	int64_t pktSent;
	int64_t pktRecv;
	int pktSndLoss;
	int pktRcvLoss;
	int pktRetrans;
	int pktSentACK;
	int pktRecvACK;
	int pktSentNAK;
	int pktRecvNAK;
	double mbpsSendRate;
	double mbpsRecvRate;
	int64_t usSndDuration;

	double usPktSndPeriod;
	int pktFlowWindow;
	int pktCongestionWindow;
	int pktFlightSize;
	double msRTT;
	double mbpsBandwidth;
	int byteAvailSndBuf;
	int byteAvailRcvBuf;
} cudt_perf;

/* Congestion control classes the shim can install through UDT_CC. */
enum {
	CUDT_CC_NONE = 0,       /* no instance yet: UDT makes it at connect */
	CUDT_CC_NATIVE = 1,     /* UDT's own CUDTCC */
	CUDT_CC_FIXEDRATE = 2,  /* constant rate, window of the flow window */
	CUDT_CC_OTHER = 3,      /* a class the shim did not make */
	CUDT_CC_GO = 4          /* GoCC: every CCC virtual forwarded to Go */
};

/* CCC's protected members as a Go controller sees them during one callback
 * (see cudt/cc.go). The shim fills the inputs before the call and applies
 * the outputs after it, under the instance's lock. */
typedef struct {
	void* ccc;              /* the GoCC, for cudt_cc_* calls during this callback only */
	int sock;               /* the UDT socket this instance belongs to */
	int syn_interval;       /* m_iSYNInterval, microseconds */
	int mss;                /* m_iMSS, bytes */
	double max_cwnd;        /* m_dMaxCWndSize, packets (the flow window) */
	int bandwidth;          /* m_iBandwidth, packets per second */
	int32_t snd_curr_seq;   /* m_iSndCurrSeqNo */
	int rcv_rate;           /* m_iRcvRate, packets per second */
	int rtt;                /* m_iRTT, microseconds */
	/* read and written */
	double pkt_snd_period;  /* m_dPktSndPeriod, microseconds */
	double cwnd;            /* m_dCWndSize, packets */
	/* requests: a value >= 0 calls the setter after the callback */
	int ack_timer;          /* setACKTimer, milliseconds */
	int ack_interval;       /* setACKInterval, packets */
	int rto;                /* setRTO, microseconds */
} cudt_cc_state;

/* A CPacket as CCC's packet callbacks see it. */
typedef struct {
	int32_t seq;            /* data: sequence number */
	int32_t msgno;          /* data: message number field */
	int32_t timestamp;      /* microseconds since the connection started */
	int len;                /* payload bytes */
	int ctrl;               /* 1 for a control packet */
	int type;               /* control: packet type (0x7FFF user-defined) */
	int ext;                /* control: extended type */
	const char* data;       /* control: payload, host byte order words */
} cudt_cc_pkt;

/* A data packet received, as the batched hook records it. */
typedef struct {
	int32_t seq;
	int32_t msgno;
	int32_t timestamp;
	int32_t len;
	int64_t arrived;        /* CLOCK_MONOTONIC, nanoseconds */
} cudt_cc_rx;

/* Events of cudtGoCCEvent, one per CCC virtual, and the batch of
 * onPktReceived calls (CUDT_CC_HOOK_RECV_BATCH). */
enum {
	CUDT_CCE_INIT = 0, CUDT_CCE_CLOSE, CUDT_CCE_ACK, CUDT_CCE_LOSS, CUDT_CCE_TIMEOUT,
	CUDT_CCE_SENT, CUDT_CCE_RECV, CUDT_CCE_CUSTOM, CUDT_CCE_RECV_BATCH,
	CUDT_CCE_RECV_BATCH_CLOSING  /* the batch held when close comes */
};

/* Which per-packet callbacks a Go factory wants forwarded. RECV_BATCH
 * records received data packets in the shim and hands them over together:
 * at the first arrival CUDT_CC_RX_BATCH_NS or more after the batch's first,
 * when CUDT_CC_RX_BATCH are held, and before any other callback. */
enum { CUDT_CC_HOOK_SENT = 1, CUDT_CC_HOOK_RECV = 2, CUDT_CC_HOOK_RECV_BATCH = 4 };
enum { CUDT_CC_RX_BATCH = 64, CUDT_CC_RX_BATCH_NS = 1000000 };

/* Installs GoCC on u: factory names a Go constructor (cudt/cc.go's table),
 * hooks is a CUDT_CC_HOOK_* mask. */
int cudt_setsockopt_cc_go(int u, uint64_t factory, int hooks, cudt_err* e);
/* The Go instance id of u's GoCC (0 if u runs another class), after
 * running the controller's Init if it was still owed (cudt_cc_start). */
int cudt_getsockopt_cc_go(int u, uint64_t* inst, cudt_err* e);
/* Runs the constructor and Init of u's Go controller now, on the calling
 * thread, if UDT's init left them owed (GoCC::init in shim.cpp says why),
 * and makes u's connection take up the window and pace Init set. Does
 * nothing for another controller, or one already started. */
void cudt_cc_start(int u);
/* CCC::sendCustomMsg and getPerfInfo; only during a callback of ccc. */
int cudt_cc_send(void* ccc, int type, int ext, const int32_t* data, int n);
int cudt_cc_perf(void* ccc, cudt_perf* p);

/* Implemented in Go (cudt/cc.go, //export). */
extern uint64_t cudtGoCCNew(uint64_t factory, int sock);
extern int cudtGoCCEvent(uint64_t inst, int ev, cudt_cc_state* st, int32_t* loss, int n, cudt_cc_pkt* pkt,
                         cudt_cc_rx* rx, int64_t now);
extern void cudtGoCCFactoryRef(uint64_t factory, int delta);
extern void cudtGoBindThread(void);

/* Called by the firewall on each of UDT's receiving threads (sending 0) and
 * sending threads (1) as it starts: while a socket is set to a Go
 * controller, the thread binds itself to the Go runtime now (shim.cpp says
 * why), if it is one the controllers' callbacks will come on. */
void cudt_cc_bind_thread(int sending);
/* How many threads cudt_cc_bind_thread bound, since the process started. */
uint64_t cudt_cc_bound_threads(void);

int cudt_startup(cudt_err* e);
/* The C library's exit(code), as Go's race runtime ends a process. */
void cudt_exit(int code);
/* Makes exit end the process before C++ destructors run (shim.cpp). */
void cudt_exit_guard(void);
/* Turns that off (1) or on, for a test to show what it prevents. */
void cudt_exit_guard_off(int off);
int cudt_cleanup(cudt_err* e);

int cudt_socket(int af, int type, int protocol, cudt_err* e);
int cudt_bind(int u, const cudt_addr* a, cudt_err* e);
int cudt_bind2(int u, int udpfd, cudt_err* e);
int cudt_listen(int u, int backlog, cudt_err* e);
int cudt_accept(int u, cudt_addr* peer, cudt_err* e);
int cudt_connect(int u, const cudt_addr* a, cudt_err* e);
int cudt_close(int u, cudt_err* e);
int cudt_getpeername(int u, cudt_addr* a, cudt_err* e);
int cudt_getsockname(int u, cudt_addr* a, cudt_err* e);

int cudt_getsockopt(int u, int opt, void* val, int* len, cudt_err* e);
int cudt_setsockopt(int u, int opt, const void* val, int len, cudt_err* e);
/* UDT_CC carries C++ objects (a factory to set, a CCC* to get), so the shim
 * builds and recognises them itself. param is the rate in Mbit/s for
 * CUDT_CC_FIXEDRATE. */
int cudt_setsockopt_cc(int u, int kind, double param, cudt_err* e);
int cudt_getsockopt_cc(int u, int* kind, double* param, cudt_err* e);

int cudt_send(int u, const char* buf, int len, int flags, cudt_err* e);
int cudt_recv(int u, char* buf, int len, int flags, cudt_err* e);
int cudt_sendmsg(int u, const char* buf, int len, int ttl, int inorder, cudt_err* e);
int cudt_recvmsg(int u, char* buf, int len, cudt_err* e);
/* UDT's text for error code (major*1000+minor), as its exception gives it,
 * into buf; what the shim says when it answers a non-blocking call that
 * would fail without making it (cudt_would_block). */
int cudt_error_text(int code, char* buf, int n);
int64_t cudt_sendfile2(int u, const char* path, int64_t* offset, int64_t size, int block, cudt_err* e);
int64_t cudt_recvfile2(int u, const char* path, int64_t* offset, int64_t size, int block, cudt_err* e);

int cudt_epoll_create(cudt_err* e);
int cudt_epoll_add_usock(int eid, int u, int events, cudt_err* e);
int cudt_epoll_add_ssock(int eid, int s, int events, cudt_err* e);
int cudt_epoll_remove_usock(int eid, int u, cudt_err* e);
int cudt_epoll_remove_ssock(int eid, int s, cudt_err* e);
/* The counts are in/out: capacity of the array going in, entries filled
 * coming out. A NULL array asks for nothing of that kind. */
int cudt_epoll_wait2(int eid, int* rd, int* rn, int* wr, int* wn, int64_t ms,
                     int* lrd, int* lrn, int* lwr, int* lwn, cudt_err* e);
int cudt_epoll_release(int eid, cudt_err* e);

int cudt_perfmon(int u, cudt_perf* p, int clear, cudt_err* e);
int cudt_getsockstate(int u);

/* Hands the C heap's free memory back to the system (glibc malloc_trim);
 * returns 1 if any was released. Not a UDT call: see cudt.TrimHeap. */
int cudt_malloc_trim(int kept);

/* The calling thread's last error, for completeness of the mirror; every
 * other function already returns its own error. */
int cudt_getlasterror_code(void);
void cudt_getlasterror_desc(char* buf, int len);

#ifdef __cplusplus
}
#endif

#endif
