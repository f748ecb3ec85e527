/* Quiet ports: UDT's threads sleep while a port has nothing to do.
 *
 * UDT 4.11 runs each UDP port with a receiving and a sending thread. The
 * receiving thread reads with a 100 µs timeout (SO_RCVTIMEO, which the
 * kernel rounds up to a jiffy, 4 ms at HZ=250) and makes a pass of its loop
 * after each packet or timeout: it checks connections that have heard
 * nothing for 100 ms, moves new connections into its tables, resends
 * handshake requests, and wakes the sending thread, which waits for a
 * packet's time in 10 ms slices that only those passes cut short. An idle
 * port therefore costs 250 wake-ups a second, and 200 of them a core.
 *
 * With the shim the receiving thread of a port with nothing to do waits in
 * ppoll until a packet comes, until the oldest of its connections has
 * heard nothing for 100 ms (the next moment a pass acts), or until another
 * thread needs a pass: a connection entered, a dial registered, the port
 * closing, or a sender with less than 4 ms to wait (an eventfd per port,
 * close-on-exec). The sending thread, for waits of 4 ms or more, wakes at
 * its packet's time on its own. Everything else is UDT's: the same passes
 * run the same code, only the passes that would find nothing to do are
 * skipped.
 *
 * Through the link's --wrap of CTimer::sleepto, CRcvQueue::setNewEntry,
 * CRcvQueue::registerConnector, CRcvQueue::~CRcvQueue and
 * CChannel::close; firewall.cpp calls the rest. */
#ifndef CUDT_QUIET_H
#define CUDT_QUIET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads of UDT's receiving threads, since the process started, that waited
 * for a packet or a deadline past UDT's own timeout. */
uint64_t cudt_quiet_waits(void);

/* Off (0) makes the receiving threads read with UDT's own timeout again
 * from their next pass, and the sending threads wait in 10 ms slices:
 * for tests and benchmarks that compare. */
void cudt_quiet_enable(int on);

/* Reads begun by the receiving thread of open socket u's port (-1: u is
 * not open, or its port runs as UDT runs it). */
int64_t cudt_quiet_port_reads(int u);

/* Waits until the receiving thread of u's port has finished the pass it is
 * in, if it is in one (20 ms at most). UDT makes received data readable,
 * and tells the program so, before it sends the ACK for it; a program that
 * reads and closes at once can have UDT's shutdown sent ahead of that ACK,
 * and the peer then never learns that its data arrived. Called before
 * closing a connection. */
void cudt_pass_barrier(int u);

#ifdef __cplusplus
}

#include <sys/types.h>

class CRcvQueue;

/* Called by firewall.cpp on a receiving thread: before it runs UDT's loop,
 * and after the loop has ended. */
void cudt_quiet_start(CRcvQueue* q);
void cudt_quiet_stop(CRcvQueue* q);

/* Called by firewall.cpp before each read of a receiving thread from fd:
 * false if the thread waited and nothing came (the read would time out). */
bool cudt_quiet_wait(int fd);

/* Called after each such read, with its result. */
void cudt_quiet_read(ssize_t n, int err);
#endif

#endif
