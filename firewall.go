package udt

import "github.com/udtgo/udt/cudt"

// FirewallStats counts what the firewall between the network and UDT did
// since the process started (docs/security.md has the threat model and
// every rule). UDT 4.11 acts on every packet it receives without checking
// it; every UDT packet its receive threads read is checked first. One that
// would crash, hang or bloat the process is dropped; those counts are the
// fields whose names do not end in Cut, and Dropped adds them up. The
// fields ending in Cut count packets passed on with a field UDT would take
// past this side's configuration lowered to it. A run with well-behaved
// peers drops nothing.
//
// Packets UDT itself discards unread (for an unknown socket, or from an
// address that is not the connection's peer) pass uncounted but for
// Checked, and datagrams shorter than UDT's 16-byte header are not counted
// at all. The JSON names are the rules' names in docs/security.md; udt perf
// --json prints them, and udt perf -s and udt serve when they stop.
type FirewallStats struct {
	Checked uint64 `json:"checked"` // packets checked

	HandshakeForm      uint64 `json:"handshake-form"`       // handshake shorter than 48 bytes, or an MSS UDT cannot use
	HandshakeISN       uint64 `json:"handshake-isn"`        // handshake with a sequence number past 31 bits
	HandshakeWindow    uint64 `json:"handshake-window"`     // handshake asking for a flow window below 1
	HandshakeWindowCut uint64 `json:"handshake-window-cut"` // handshake window lowered to this side's flow window (Config.FlowWindow); not a drop
	HandshakeSource    uint64 `json:"handshake-source"`     // new connection from a host that has its share of the accept queue
	ControlType        uint64 `json:"control-type"`         // control packet of a type UDT 4.11 never sends
	ACKForm            uint64 `json:"ack-form"`             // ACK of a wrong length, or with RTT or rate fields UDT overflows on
	ACKSeq             uint64 `json:"ack-seq"`              // ACK of packets never sent
	ACKWindowCut       uint64 `json:"ack-window-cut"`       // ACK's window lowered to the handshake's; not a drop
	NAKForm            uint64 `json:"nak-form"`             // malformed loss report
	NAKSeq             uint64 `json:"nak-seq"`              // loss report naming packets never sent
	DropStream         uint64 `json:"drop-stream"`          // message-drop request on a stream connection
	DropRange          uint64 `json:"drop-range"`           // message-drop request malformed or beyond the receive window
	DataEmpty          uint64 `json:"data-empty"`           // data packet without payload
	DataWindow         uint64 `json:"data-window"`          // data packet beyond what the receive loss list holds
	HandshakeClash     uint64 `json:"handshake-clash"`      // handshake UDT would take for another connection from the same address (see docs/security.md)
}

// ReadFirewallStats returns the firewall's counters.
func ReadFirewallStats() FirewallStats {
	c, checked := cudt.FirewallCounts()
	return FirewallStats{
		Checked:            checked,
		HandshakeForm:      c[0],
		HandshakeISN:       c[1],
		HandshakeWindow:    c[2],
		HandshakeWindowCut: c[3],
		HandshakeSource:    c[4],
		ControlType:        c[5],
		ACKForm:            c[6],
		ACKSeq:             c[7],
		ACKWindowCut:       c[8],
		NAKForm:            c[9],
		NAKSeq:             c[10],
		DropStream:         c[11],
		DropRange:          c[12],
		DataEmpty:          c[13],
		DataWindow:         c[14],
		HandshakeClash:     c[15],
	}
}

// Dropped is the number of packets the firewall kept from UDT.
func (s FirewallStats) Dropped() uint64 {
	return s.HandshakeForm + s.HandshakeISN + s.HandshakeWindow + s.HandshakeSource + s.ControlType +
		s.ACKForm + s.ACKSeq + s.NAKForm + s.NAKSeq + s.DropStream + s.DropRange + s.DataEmpty + s.DataWindow + s.HandshakeClash
}
