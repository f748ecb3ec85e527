package congestion_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/congestion"
	"github.com/udtgo/udt/internal/congestion/sim"
)

// calls runs request/response traffic over f from the simulation's
// present for d: a call writes k packets, and the next call follows its
// delivery by half of rtt (the response's way back). It returns, once the
// simulation has run, each call's time from its write to its last packet's
// arrival.
func calls(s *sim.Sim, f *sim.Flow, k int64, rtt, d time.Duration) *[]time.Duration {
	var lat []time.Duration
	end := s.Now() + d
	var call func()
	call = func() {
		if s.Now() >= end {
			return
		}
		at := s.Now()
		f.OnDelivered(f.Write(k), func() {
			lat = append(lat, s.Now()-at)
			s.At(s.Now()+rtt/2, call)
		})
	}
	s.At(s.Now(), call)
	return &lat
}

func pct(v []time.Duration, p float64) time.Duration {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[int(p*float64(len(v)-1))]
}

// A request/response connection sends a few packets at a time and waits:
// what it delivers measures the application, not the path. BBR takes no
// such sample as a lower bandwidth estimate, so a call's packets go at
// the pace of the link (or, before the link was ever measured, of
// Startup), not at the pace of the calls themselves: each call takes the
// path's one-way delay, as it would with no pacing at all.
func TestSimApplicationLimited(t *testing.T) {
	const rtt = 100 * time.Millisecond
	const k = 6 // a gRPC call: HEADERS, DATA, and HTTP/2's window and ping frames
	oneWay := rtt / 2
	for _, tc := range []struct {
		name   string
		bulk   int64 // packets sent in bulk first
		wakeup time.Duration
	}{
		{"from the start", 0, 0},
		{"from the start, wakeups", 0, 4 * time.Millisecond},
		{"after a bulk transfer", 50_000, 0},
		{"after a bulk transfer, wakeups", 50_000, 4 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Path{Mbps: 100, RTT: rtt, Wakeup: tc.wakeup}, 11)
			f := s.AddFlow(sim.FlowConfig{New: bbrIn(s), Limited: true})
			var lat *[]time.Duration
			var bwBefore float64
			start := func() {
				if f.Sender != nil {
					bwBefore = f.Sender.(*congestion.BBR).State().BtlBw
				}
				lat = calls(s, f, k, rtt, 20*time.Second)
			}
			if tc.bulk > 0 {
				f.OnDelivered(f.Write(tc.bulk), start)
			} else {
				start()
			}
			s.Run(40 * time.Second)
			st := f.Sender.(*congestion.BBR).State()
			p50, p99 := pct(*lat, 0.5), pct(*lat, 0.99)
			t.Logf("%d calls: p50 %v, p99 %v (one way %v); %v, BtlBw %.0f packets/s (%.0f before the calls), period %v",
				len(*lat), p50, p99, oneWay, st.Mode, st.BtlBw, bwBefore, f.Period())
			if len(*lat) < 150 {
				t.Errorf("%d calls in 20 s; want one every RTT", len(*lat))
			}
			// Six packets at the link's rate take 0.7 ms; a wake-up
			// may add one tick.
			if limit := oneWay + 2*time.Millisecond + tc.wakeup; p99 > limit {
				t.Errorf("calls took %v (p50), %v (p99); want at most %v, the one-way delay and a packet's pace", p50, p99, limit)
			}
			if tc.bulk > 0 && st.BtlBw < 0.9*bwBefore {
				t.Errorf("BtlBw %.0f packets/s after 20 s of calls, %.0f before: the calls' own rate lowered it", st.BtlBw, bwBefore)
			}
		})
	}
}

// A connection that carried calls and then has a bulk transfer to make
// still finds the link: what the calls measured neither ended Startup
// nor holds the transfer below the link.
func TestSimBulkAfterCalls(t *testing.T) {
	for _, rtt := range []time.Duration{time.Millisecond, 100 * time.Millisecond} {
		s := sim.New(sim.Path{Mbps: 100, RTT: rtt}, 12)
		f := s.AddFlow(sim.FlowConfig{New: bbrIn(s), Limited: true})
		const callsFor = 10 * time.Second
		calls(s, f, 6, rtt, callsFor)
		// The calls end by callsFor plus one call.
		bulkAt := callsFor + rtt + 10*time.Millisecond
		s.At(bulkAt, func() { f.Write(1 << 30) })
		s.Run(bulkAt + 10*time.Second)
		st := f.Sender.(*congestion.BBR).State()
		// As a flow that starts with the transfer: Startup's rounds.
		rounds := math.Log2(max(linkPkts*rtt.Seconds(), 16)/16) + 3
		limit := time.Duration((rounds+6)*float64(rtt)) + 400*time.Millisecond
		reached := time.Duration(-1)
		for at := bulkAt; at+100*time.Millisecond <= s.Now(); at += 10 * time.Millisecond {
			if f.Mbps(at, at+100*time.Millisecond) >= 90 {
				reached = at + 100*time.Millisecond - bulkAt
				break
			}
		}
		got := f.Mbps(bulkAt+5*time.Second, bulkAt+10*time.Second)
		t.Logf("RTT %v: the transfer reached 90 Mbit/s after %v, then %.1f Mbit/s; %v, BtlBw %.0f packets/s", rtt, reached, got, st.Mode, st.BtlBw)
		if reached < 0 || reached > limit {
			t.Errorf("RTT %v: the transfer after the calls reached 90 Mbit/s after %v; want within %v", rtt, reached, limit)
		}
		if got < 95 {
			t.Errorf("RTT %v: %.1f Mbit/s in the transfer's last 5 s; want the link, 100", rtt, got)
		}
	}
}
