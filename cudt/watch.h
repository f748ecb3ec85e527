/* What the poller needs from UDT 4.11 beyond namespace UDT's calls.
 *
 * UDT 4.11 records some facts about a connection that no call of its API
 * reports, and signals some changes only on a condition variable of its own
 * (CTimer's event, raised on every ACK, peer shutdown, broken connection and
 * new connection). These functions read them through the library's installed
 * headers (/usr/include/udt/core.h, common.h), which describe the pinned
 * build (see udt4), instead of guessing from timing.
 */
#ifndef CUDT_WATCH_H
#define CUDT_WATCH_H

#include <stdint.h>
#include "shim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One connection's state as UDT itself records it. */
typedef struct {
	int status;     /* UDT::getsockstate */
	int exists;     /* UDT still has the socket open (not CLOSED, not deleted) */
	int connected;  /* the handshake completed (CUDT::m_bConnected) */
	int rejected;   /* the listener answered the handshake with a rejection (1002) */
	int shutdown;   /* the peer closed the connection (it sent UDT's shutdown) */
	int snd_pkts;   /* packets in the send buffer: sent or not, unacknowledged */
	int ended;      /* UDT ended it (closed or deleted it): connected, shutdown and snd_pkts are its last */
} cudt_conninfo;

/* Fills ci[i] for each of the n sockets in ids, in one call. Unless full,
 * a socket that has not ended (INIT to CONNECTED) gets only its status,
 * exists and connected: one lookup instead of three. */
void cudt_conninfo_get(const int* ids, int n, int full, cudt_conninfo* ci);

/* Reports whether a socket whose connect was started may be closed now
 * without hazard: its handshake completed, or UDT gave up on it (after 3 s).
 * In the second case it also takes the socket out of UDT's list of
 * connecting sockets, which UDT's close leaves it in. 0: ask again later. */
int cudt_connect_settled(int u);

/* Like cudt_epoll_wait2, with the timeout in microseconds, for UDT sockets and system sockets to read, but it
 * also returns early with no socket reported: with *signalled = 2 after
 * cudt_poll_signal, and, when signals is non-zero, with *signalled = 1 when
 * UDT raised its event (an ACK, a peer's shutdown, a broken connection, a new
 * connection), none of which its epoll reports. Timeout is not an error
 * here: it returns 0 with *signalled clear. */
int cudt_poll_wait(int eid, int* rd, int* rn, int* wr, int* wn, int* lrd, int* lrn,
                   int64_t us, int signals, int* signalled, cudt_err* e);

/* Fills p with the totals UDT keeps for a connection that is closing or
 * broken, which UDT::perfmon no longer reads (interval counters and buffer
 * space stay zero); for a watched connection UDT ended and deleted, its
 * last totals. Returns 0 when nothing is known of the socket. */
int cudt_perf_ended(int u, cudt_perf* p);

/* Reports whether UDT's recv, recvmsg, send or sendmsg (of len bytes) on u,
 * a non-blocking socket, would fail at once for want of data or buffer
 * space (UDT's 6002 or 6001): 1 then, 0 when only the call can tell. UDT
 * reports that failure with a C++ exception, thrown and caught inside the
 * library, which costs more than the call; the poller's sockets meet it
 * every time they drain their data or fill their buffer. */
enum { CUDT_OP_RECV, CUDT_OP_RECVMSG, CUDT_OP_SEND, CUDT_OP_SENDMSG };
int cudt_would_block(int u, int op, int len);

/* Watches connection u until cudt_conn_unwatch: if UDT ends it on its own
 * (a lost peer, the peer's shutdown) and deletes it, what it had not
 * delivered and its counters are kept for cudt_conninfo_get (ended) and
 * cudt_perf_ended, however late they are asked. */
void cudt_conn_watch(int u);

/* Microseconds since UDT last heard from u's peer (any packet), or -1 when
 * UDT no longer has the socket. */
int64_t cudt_heard_ago(int u);
void cudt_conn_unwatch(int u);

/* Makes a cudt_poll_wait in progress, or the next one, return at once. */
void cudt_poll_signal(void);

/* The times a cudt_poll_wait was woken, or found it had been notified before
 * it slept, and went back to sleep with nothing to report. */
uint64_t cudt_poll_idle_wakes(void);

#ifdef __cplusplus
}

class CCC;
/* Makes u's connection take up the window and pace cc holds now, as UDT
 * does after every event it hands its controller (CUDT::CCUpdate), if cc is
 * still u's controller. */
void cudt_cc_take_up(int u, const CCC* cc);
#endif

#endif
