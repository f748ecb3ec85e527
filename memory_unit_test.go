package udt

import (
	"errors"
	"net"
	"testing"
)

// The default UDT_FC is the receive buffer's packets: the window each side
// offers the other (the smaller of the two) is what it was with UDT's
// 25,600, only the receive loss list is smaller.
func TestDefaultFlowWindowIsReceiveBuffer(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		fc     int // this side's UDT_FC
		window int // the flow window the peer granted
	}{
		{Config{}, 8192, 8192},
		{Config{RecvBuffer: 1 << 20}, (1 << 20) / 1472, (1 << 20) / 1472},
		{Config{RecvBuffer: 1 << 20, MSS: 9000}, (1 << 20) / 8972, (1 << 20) / 8972},
		{Config{RecvBuffer: 1000}, 32, 32},           // UDT's floor
		{Config{RecvBuffer: 64 << 20}, 25600, 25600}, // UDT_FC's default caps it, as before
		{Config{FlowWindow: 4096}, 4096, 4096},       // the buffer is capped at 4,096
		{Config{FlowWindow: 20000, RecvBuffer: 0}, 20000, 8192},
	} {
		if got := tc.cfg.flowWindow(); got != tc.fc {
			t.Errorf("%+v: flowWindow %d, want %d", tc.cfg, got, tc.fc)
		}
		c, s := connPair(t, tc.cfg)
		for _, end := range []*Conn{c, s} {
			fc, err := end.fd.pd.s.FlowWindow()
			if err != nil || fc != tc.fc {
				t.Errorf("%+v: UDT_FC %d (%v), want %d", tc.cfg, fc, err, tc.fc)
			}
			p, err := end.Stats()
			if err != nil || p.FlowWindow != tc.window {
				t.Errorf("%+v: flow window %d (%v), want %d", tc.cfg, p.FlowWindow, err, tc.window)
			}
		}
		c.Close()
		s.Close()
	}
}

// Conn.Memory reads the connection's own sizes: the default's receive
// loss list and slots, and a trimmed connection's.
func TestConnMemory(t *testing.T) {
	for _, tc := range []struct {
		cfg            Config
		rcv, fc, alloc int
	}{
		{Config{}, 8192, 8192, 8*8192 + 16*8192 + 24*8192 + 32*1456 + 16384 + 2560},
		{Config{RecvBuffer: 46080, FlowWindow: 32}, 32, 32, 8*32 + 16*32 + 24*32 + 32*1456 + 16384 + 2560},
	} {
		c, s := connPair(t, tc.cfg)
		m, err := c.Memory()
		if err != nil {
			t.Fatal(err)
		}
		if m.RecvBufferPackets != tc.rcv || m.FlowWindow != tc.fc || m.PeerWindow != tc.rcv || m.Allocated != int64(tc.alloc) {
			t.Errorf("%+v: %+v, want %d slots, UDT_FC %d, peer window %d, %d bytes", tc.cfg, m, tc.rcv, tc.fc, tc.rcv, tc.alloc)
		}
		c.Close()
		s.Close()
		if _, err := c.Memory(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Memory after Close: %v, want net.ErrClosed", err)
		}
	}
}
