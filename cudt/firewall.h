/* The firewall in front of UDT 4.11 (docs/security.md).
 *
 * UDT trusts every packet it receives. The binding links the library with
 * the linker's --wrap for recvmsg (cudt/link.go), so every datagram UDT's
 * receive threads read passes through cudt's check first: a packet that
 * would drive UDT into a crash, a hang or unbounded work is dropped (UDT
 * sees a receive timeout, as if nothing had arrived), and a field UDT
 * would take past what this side's configuration allows is lowered to it.
 * Each rule counts what it did.
 *
 * The same link also wraps pthread_create, to learn which receive queue a
 * UDT receive thread serves, and socket and epoll_create, so that the
 * descriptors UDT opens itself are close-on-exec.
 */
#ifndef CUDT_FIREWALL_H
#define CUDT_FIREWALL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The rules, in the order of cudt_fw_counts. Names: cudt_fw_rule_name. */
enum {
	CUDT_FW_HS_FORM,       /* handshake: shorter than 48 bytes, or an MSS UDT cannot use */
	CUDT_FW_HS_ISN,        /* handshake: initial sequence number past 31 bits */
	CUDT_FW_HS_WINDOW,     /* handshake: flow window below 1 */
	CUDT_FW_HS_WINDOW_CUT, /* handshake: flow window lowered to this side's UDT_FC (not a drop) */
	CUDT_FW_HS_SOURCE,     /* handshake: its source already has its share of the accept queue */
	CUDT_FW_CTRL_TYPE,     /* control packet of a type UDT 4.11 never sends (delay warning, unknown) */
	CUDT_FW_ACK_FORM,      /* ACK: length, or RTT/rate fields UDT's arithmetic overflows on */
	CUDT_FW_ACK_SEQ,       /* ACK: acknowledges packets never sent */
	CUDT_FW_ACK_WINDOW_CUT,/* ACK: flow window lowered to the handshake's (not a drop) */
	CUDT_FW_NAK_FORM,      /* loss report: malformed list (empty, odd, dangling range, reversed range) */
	CUDT_FW_NAK_SEQ,       /* loss report: names packets never sent */
	CUDT_FW_DROP_STREAM,   /* message-drop request on a stream connection */
	CUDT_FW_DROP_RANGE,    /* message-drop request: malformed, or beyond the receive window */
	CUDT_FW_DATA_EMPTY,    /* data packet with no payload */
	CUDT_FW_DATA_WINDOW,   /* data packet beyond what the receive loss list can hold */
	CUDT_FW_HS_CLASH,      /* handshake UDT would take for another connection from the same address */
	CUDT_FW_RULES
};

/* Copies up to n counters (CUDT_FW_RULES of them) into out. */
void cudt_fw_counts(uint64_t* out, int n);

/* The rule's short name, or NULL past the last one. */
const char* cudt_fw_rule_name(int rule);

/* The per-source share of a listener's accept queue: called by cudt_listen
 * after UDT's listen succeeded, and by cudt_close before UDT's close. */
void cudt_fw_listening(int u);
void cudt_fw_closing(int u);

/* Turns the packet checks off for the rest of the process: only for tests
 * that show what they stop. */
void cudt_fw_disable(void);

/* Packets checked so far (passed, dropped or changed). */
uint64_t cudt_fw_checked(void);

/* Packets UDT's receiving threads would have discarded for want of a free
 * unit in their queue, which UDT 4.11 miscounts, and which were left in the
 * kernel until the next pass (firewall.cpp, hold_no_unit); enable 0 turns
 * that off, for tests that show what it saves. */
uint64_t cudt_unit_held(void);
/* How often UDT's receiving threads found no free unit, held or not. */
uint64_t cudt_unit_none(void);
void cudt_unit_hold_enable(int on);
/* For tests: has the worker of u's port lower its count of used units by k,
 * the drift that makes it discard a packet once its units are all in use;
 * -1 if u is not open. _pending says whether the worker has yet to do so. */
int cudt_test_unit_drift(int u, int k);
int cudt_test_unit_drift_pending(void);
/* UDT's own threads alive now (each UDP port's two, the garbage
 * collector), counted by the pthread_create wrap. */
int cudt_udt_threads(void);

#ifdef __cplusplus
}
#endif

#endif
