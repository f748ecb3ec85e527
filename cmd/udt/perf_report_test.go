package main

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStreams are a test's streams whose counts the test moves itself.
func fakeStreams(t *testing.T, n int) *streams {
	conns := make([]net.Conn, n)
	for i := range conns {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		conns[i] = a
	}
	return newStreams(conns)
}

var noStats = proto{name: "fake", sample: func(net.Conn) (sample, bool) { return sample{}, false }}

// checkIntervals checks a run's interval lines: each stream's lines add up
// to its own count, the sum lines to the total, and no line is a sliver.
// A sender's last line starts before the planned end: none begins at the
// tick due at the end. (Ticks carry their scheduled time, so lines start
// on the ticker's grid however late the reporter runs.)
func checkIntervals(t *testing.T, ivs []interval, want []int64, every, planned time.Duration, sender bool) {
	t.Helper()
	got := make([]int64, len(want))
	var sums int64
	var last float64
	for _, iv := range ivs {
		if d := iv.End - iv.Start; d <= (every / 20).Seconds() {
			t.Errorf("stream %d: a sliver of an interval, %.4f-%.4f s (every %v)", iv.Stream, iv.Start, iv.End, every)
		}
		if sender && iv.Start > (planned-every/20).Seconds() {
			t.Errorf("stream %d: a line from %.4f to %.4f s, after the tick due at the end (%v)", iv.Stream, iv.Start, iv.End, planned)
		}
		if iv.Stream == 0 {
			sums += iv.Bytes
			continue
		}
		got[iv.Stream-1] += iv.Bytes
		last = max(last, iv.End)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stream %d: its lines add up to %d bytes, it moved %d (all streams: lines %v, moved %v)", i+1, got[i], want[i], got, want)
		}
	}
	if len(want) > 1 && sums != sum(want) {
		t.Errorf("the sum lines add up to %d, the streams moved %d", sums, sum(want))
	}
	if last < planned.Seconds() {
		t.Errorf("the last interval ends at %.3f s, before the test's %v", last, planned)
	}
}

// A test's writes end with their deadline, a moment after the interval
// tick due at the same time: the reporter must close the last interval
// once, not print a near-empty line after it ("2.00-2.00 s 128 KiB", seen
// in `udt perf --loopback -t 2`). Each stream's lines carry that stream's
// own bytes.
func TestReporterLastInterval(t *testing.T) {
	const every, planned = 20 * time.Millisecond, 100 * time.Millisecond
	for round := range 5 {
		st := fakeStreams(t, 3)
		var out bytes.Buffer
		r := &reporter{st: st, p: noStats, sender: true, every: every, planned: planned, out: &out}
		r.start()
		// Writers that stop with the deadline, as perf's do, at rates
		// 1:2:3, so that streams with the same figures would be a bug.
		end := r.t0.Add(planned)
		var wg sync.WaitGroup
		for i := range st.counts {
			wg.Go(func() {
				for time.Now().Before(end) {
					st.counts[i].Add(int64(1000 * (i + 1)))
					time.Sleep(100 * time.Microsecond)
				}
				// The write under way at the deadline lands after it.
				st.counts[i].Add(int64(7 * (i + 1)))
			})
		}
		wg.Wait()
		// stop comes after the writers, past the tick due at the end.
		time.Sleep(time.Duration(round) * time.Millisecond)
		r.stop()
		checkIntervals(t, r.intervals, st.bytes(), every, planned, true)
		if c := st.bytes(); c[0] == c[1] || c[1] == c[2] {
			t.Fatalf("the fake writers moved %v: the test needs different counts", c)
		}
		if t.Failed() {
			t.Fatalf("round %d:\n%s", round, out.String())
		}
	}
}

// A receiver's data keeps arriving after the planned end (what was in
// flight): its lines go on, and when the last bytes land just after a
// tick, they join the line before instead of making a sliver of their own
// (seen with -R under load: "1.25-1.26 s"). Each stream's lines carry
// its own bytes.
func TestReporterDrainAfterEnd(t *testing.T) {
	const every, planned = 100 * time.Millisecond, 200 * time.Millisecond
	for _, after := range []time.Duration{500 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 20 * time.Millisecond} {
		st := fakeStreams(t, 2)
		var out bytes.Buffer
		r := &reporter{st: st, p: noStats, sender: false, every: every, planned: planned, out: &out}
		r.start()
		// Two intervals of drain, ending just after a tick.
		for end := r.t0.Add(planned + 2*every + after); time.Now().Before(end); time.Sleep(200 * time.Microsecond) {
			st.counts[0].Add(10)
			st.counts[1].Add(1)
		}
		st.counts[0].Add(3)
		r.stop()
		checkIntervals(t, r.intervals, st.bytes(), every, planned, false)
		// Receivers show no window or period: those are the sender's.
		if !strings.Contains(out.String(), " - ") {
			t.Errorf("a receiver's lines show a window or period")
		}
		if t.Failed() {
			t.Fatalf("last bytes %v after a tick:\n%s", after, out.String())
		}
	}
}
