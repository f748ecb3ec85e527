package cudt

// #include "dial.h"
import "C"

// DialResends counts the handshake requests UDT sent again after waiting
// 250 ms for an answer (dial.h), since the process started.
func DialResends() uint64 { return uint64(C.cudt_dial_resends()) }

// DialsHeld counts the listener answers the receive thread held until
// the connect call they answered had returned.
func DialsHeld() uint64 { return uint64(C.cudt_dial_held()) }

// AcceptedCount is how many sockets UDT lists as accepted by listener
// (its m_pAcceptSockets), -1 if listener is not listening.
func AcceptedCount(listener int32) int { return int(C.cudt_accepted_count(C.int(listener))) }

// SetDialRepairForTesting turns the repairs of dial.h off or on, for
// tests that show what they repair.
func SetDialRepairForTesting(on bool) {
	v := 0
	if on {
		v = 1
	}
	C.cudt_dial_repair(C.int(v))
}
