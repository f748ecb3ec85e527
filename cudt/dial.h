/* Repairs to UDT 4.11's connection setup (docs/udt4-behaviour.md,
 * "Dials that wait 250 ms"), and to what its teardown leaves behind.
 *
 * UDT::connect, without UDT_SNDSYN, sends its first handshake request and
 * only then notes the time it sent it. The listener's answer can arrive,
 * and UDT's receive thread act on it (noting "send the next request at
 * once"), in between: the late note then holds the next request for UDT's
 * 250 ms resend timer. cudt_connect marks the socket as connecting for the
 * length of the call, and the receive thread, through the firewall, holds
 * a handshake for a socket so marked until the call has returned.
 *
 * UDT's receive thread can also send a copy of that first request, while
 * connect is sending it (its time of the last request is still 0); the
 * copy is not sent. Both through the link's --wrap of sendmsg, which also
 * counts every request sent again after UDT's 250 ms timer: a wait a dial
 * paid. */
#ifndef CUDT_DIAL_H
#define CUDT_DIAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Requests UDT sent again after waiting 250 ms for an answer, since the
 * process started. */
uint64_t cudt_dial_resends(void);

/* Handshakes the receive thread held for a connect call still returning. */
uint64_t cudt_dial_held(void);


/* How many sockets UDT lists as accepted by listener (-1 if it is not
 * listening). */
int cudt_accepted_count(int listener);

/* Turns the repairs off (0) or on: only for tests that show what they
 * repair. The counters count either way. */
void cudt_dial_repair(int on);

#ifdef __cplusplus
}

/* Called by cudt_connect around UDT::connect. */
void cudt_dial_begin(int u);
void cudt_dial_end(int u);

/* Called by cudt_close: u will send no more requests. */
void cudt_dial_forget(int u);

/* Called by cudt_close before UDT::close: if u listens, its UDP port stops
 * handing it handshakes now. UDT 4.11 frees a closed listener's place on
 * its port only when its garbage collector deletes the socket, seconds
 * later; until then a Listen on the same port failed with "another socket
 * is already listening" (EDUPLISTEN), though none did. */
void cudt_listener_release(int u);

/* Called by cudt_close: the listener that accepted u (0 if none) before
 * UDT::close, and then the release of u from that listener's list of
 * accepted sockets. UDT 4.11 takes a socket off that list only when it
 * breaks: every connection a listener accepted and the program closed
 * stayed there, 40 bytes each, for the listener's life (4 MB a hundred
 * thousand connections, and the nodes, scattered among freed buffers,
 * kept whole pages from the trims). */
int cudt_accepted_by(int u);
void cudt_accepted_release(int u, int listener);

/* Called on a UDT receive thread with each packet's header (16 bytes,
 * network order) that the firewall passed: waits, briefly, while the
 * packet is a handshake for a socket inside UDT::connect. */
void cudt_dial_hold(const char* header);
#endif

#endif
