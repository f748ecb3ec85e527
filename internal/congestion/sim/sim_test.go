package sim

import (
	"math"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/congestion"
)

// fixed paces at a constant rate with an open window, as UDT's
// fixed-rate control does.
type fixed struct{ mbps float64 }

func (f fixed) Init(c congestion.Conn) {
	c.SetCWnd(c.MaxCWnd())
	c.SetPktSndPeriod(float64(MSS*8) / f.mbps)
}
func (fixed) OnACK(congestion.Conn, int32)                           {}
func (fixed) OnLoss(congestion.Conn, []int32)                        {}
func (fixed) OnCustomMsg(congestion.Conn, int, int, []byte)          {}
func (fixed) OnPktReceived(congestion.Conn, int32, int32, time.Time) {}

// A flow under the link's rate gets what it sends, through an empty
// queue; UDT's RTT, measured from ACK to ACK2, comes to the path's.
func TestUnderTheLink(t *testing.T) {
	s := New(Path{Mbps: 100, RTT: 40 * time.Millisecond}, 1)
	f := s.AddFlow(FlowConfig{New: func() Controller { return fixed{50} }})
	s.Run(10 * time.Second)
	// Every 16th packet goes right after the one before: 16 packets
	// take 15 periods.
	want := 50.0 * 16 / 15
	if got := f.Mbps(time.Second, 10*time.Second); math.Abs(got-want) > 0.5 {
		t.Errorf("%.2f Mbit/s delivered; want %.2f", got, want)
	}
	if s.Drops() != 0 || f.Resent() != 0 {
		t.Errorf("%d drops, %d resent under the link's rate", s.Drops(), f.Resent())
	}
	if d := f.SenderRTT() - 40*time.Millisecond; d < 0 || d > time.Millisecond {
		t.Errorf("sender's RTT %v on a 40 ms path", f.SenderRTT())
	}
}

// Over the link's rate the queue fills to its buffer and drops the rest,
// and no second delivers more than the link carries.
func TestOverTheLink(t *testing.T) {
	s := New(Path{Mbps: 100, RTT: 20 * time.Millisecond, Buffer: 100}, 1)
	f := s.AddFlow(FlowConfig{New: func() Controller { return fixed{150} }})
	var maxQ time.Duration
	s.Every(time.Millisecond, func() { maxQ = max(maxQ, s.Queue()) })
	s.Run(5 * time.Second)
	for at := time.Duration(0); at < 5*time.Second; at += time.Second {
		if got := f.Mbps(at, at+time.Second); got > 100.01 {
			t.Errorf("%.2f Mbit/s delivered over a 100 Mbit/s link", got)
		}
	}
	if tx := 120 * time.Microsecond; maxQ < 99*tx || maxQ > 101*tx {
		t.Errorf("longest queue %v; want the buffer's 100 packets, %v", maxQ, 100*tx)
	}
	if s.Drops() == 0 {
		t.Error("no drops at 1.5 times the link's rate")
	}
}

// Random loss takes the share asked for, and the sender's loss list and
// timeout repair it all, across the sequence numbers' wrap.
func TestRandomLossRepaired(t *testing.T) {
	s := New(Path{Mbps: 100, RTT: 10 * time.Millisecond, Loss: 0.02}, 9)
	f := s.AddFlow(FlowConfig{New: func() Controller { return fixed{40} }, Packets: 30000, ISN: congestion.SeqMax - 10000})
	s.Run(30 * time.Second)
	if f.Delivered() != 30000 {
		t.Fatalf("%d of 30000 delivered", f.Delivered())
	}
	if r := float64(s.RandomLosses()) / float64(f.Sent()); math.Abs(r-0.02) > 0.004 {
		t.Errorf("%.3f of packets lost; want 0.02", r)
	}
	if f.Resent() < s.RandomLosses() {
		t.Errorf("%d resent for %d lost", f.Resent(), s.RandomLosses())
	}
}

// A sender that wakes only at the kernel's ticks and on packets from its
// peer still sends at its rate, but in bursts: what it owed since the
// last wake goes back to back, and the bottleneck's queue swings by it.
func TestWakeupsBurst(t *testing.T) {
	for _, wake := range []time.Duration{0, 4 * time.Millisecond} {
		s := New(Path{Mbps: 100, RTT: 40 * time.Millisecond, Wakeup: wake}, 1)
		f := s.AddFlow(FlowConfig{New: func() Controller { return fixed{50} }})
		var maxQ time.Duration
		s.Every(100*time.Microsecond, func() { maxQ = max(maxQ, s.Queue()) })
		s.Run(10 * time.Second)
		want := 50.0 * 16 / 15
		if got := f.Mbps(time.Second, 10*time.Second); math.Abs(got-want) > 0.5 {
			t.Errorf("wake-ups every %v: %.2f Mbit/s delivered; want %.2f", wake, got, want)
		}
		// At half the link's rate, a burst of d of sending queues d/2
		// at the bottleneck, and a probe pair or two more.
		t.Logf("wake-ups every %v: longest queue %v", wake, maxQ)
		if wake == 0 && maxQ > 2*120*time.Microsecond {
			t.Errorf("paced on time: longest queue %v; want at most two packets", maxQ)
		}
		if wake > 0 && (maxQ < wake/4 || maxQ > wake/2+4*120*time.Microsecond) {
			t.Errorf("wake-ups every %v: longest queue %v; want between %v and %v", wake, maxQ, wake/4, wake/2)
		}
	}
}

// burst sends one window of 16 packets at once and records when ACKs
// come back; its receiving end sets UDT's ACK interval to every.
type burst struct {
	every int
	acks  *[]time.Duration
	s     *Sim
	first int32
}

func (b burst) Init(c congestion.Conn) {
	c.SetCWnd(16)
	c.SetPktSndPeriod(10)
	if b.every > 0 {
		c.SetACKInterval(b.every)
	}
}
func (b burst) OnACK(c congestion.Conn, ack int32) {
	if congestion.SeqLen(b.first, ack) >= 16 {
		*b.acks = append(*b.acks, b.s.Now())
	}
}
func (burst) OnLoss(congestion.Conn, []int32)                        {}
func (burst) OnCustomMsg(congestion.Conn, int, int, []byte)          {}
func (burst) OnPktReceived(congestion.Conn, int32, int32, time.Time) {}

// UDT's receiver checks its ACK timer only when a packet arrives or on its
// 100 ms sweep (Path.ACKSweep): a burst that arrives before the timer is
// due is acknowledged at the sweep, unless the ACK interval acknowledges
// it as it ends.
func TestACKSweep(t *testing.T) {
	for _, tc := range []struct {
		sweep    bool
		every    int
		from, to time.Duration // when the whole burst is acknowledged
	}{
		{false, 0, 100 * time.Millisecond, 111 * time.Millisecond}, // the next 10 ms tick
		{true, 0, 190 * time.Millisecond, 211 * time.Millisecond},  // the sweep, 100 ms after the first packet's check
		{true, 5, 100 * time.Millisecond, 103 * time.Millisecond},  // 1 (the timer), 6, 11, 16: as the last arrives
		{true, 8, 190 * time.Millisecond, 211 * time.Millisecond},  // 1, 9: the last 7 wait for the sweep
	} {
		var acks []time.Duration
		s := New(Path{Mbps: 100, RTT: 100 * time.Millisecond, ACKSweep: tc.sweep}, 1)
		s.AddFlow(FlowConfig{New: func() Controller { return burst{every: tc.every, acks: &acks, s: s, first: 0} }})
		s.Run(400 * time.Millisecond)
		if len(acks) == 0 || acks[0] < tc.from || acks[0] > tc.to {
			t.Errorf("sweep %v, ACK interval %d: the 16 packets acknowledged at %v; want between %v and %v", tc.sweep, tc.every, acks, tc.from, tc.to)
		}
	}
}
