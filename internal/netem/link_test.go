package netem

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder collects what a Link delivers, with the arrival time.
type recorder struct {
	mu    sync.Mutex
	pkts  [][]byte
	times []time.Time
	got   chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1)} }

func (r *recorder) deliver(p []byte) {
	now := time.Now()
	r.mu.Lock()
	r.pkts = append(r.pkts, slices.Clone(p))
	r.times = append(r.times, now)
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// waitFor waits until n packets arrived, or fails after d.
func (r *recorder) waitFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for r.count() < n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d packets delivered after %v, want %d", r.count(), d, n)
		}
	}
}

func seqPacket(i, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint64(p, uint64(i))
	for j := 8; j < size; j++ {
		p[j] = byte(i + j)
	}
	return p
}

func seqOf(p []byte) int { return int(binary.BigEndian.Uint64(p)) }

func TestValidateNamesTheField(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		name string
	}{
		{Config{Delay: -1}, "Delay"},
		{Config{Jitter: -1}, "Jitter"},
		{Config{Delay: time.Millisecond, Jitter: 2 * time.Millisecond}, "Jitter"},
		{Config{Loss: 1.5}, "Loss"},
		{Config{Loss: math.NaN()}, "Loss"},
		{Config{Reorder: 0.6}, "Reorder"},
		{Config{Reorder: -0.1}, "Reorder"},
		{Config{Rate: -8}, "Rate"},
		{Config{QueueBytes: -1}, "QueueBytes"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+c.name) {
			t.Errorf("Validate(%+v) = %v, want an error naming Config.%s", c.cfg, err, c.name)
		}
	}
	if err := (Config{Delay: time.Second, Jitter: time.Second, Loss: 1, Reorder: 0.5, Rate: 1, QueueBytes: 1}).Validate(); err != nil {
		t.Errorf("Validate of the extremes: %v", err)
	}
	l := NewLink(Config{}, func([]byte) {})
	defer l.Close()
	if err := l.SetConfig(Config{Loss: 2}); err == nil {
		t.Error("SetConfig took Loss 2")
	}
}

func TestLossRate(t *testing.T) {
	const n, loss = 20000, 0.05
	r := newRecorder()
	l := NewLink(Config{Loss: loss, Seed: 7}, r.deliver)
	defer l.Close()
	for i := range n {
		l.Send(seqPacket(i, 64))
	}
	r.waitFor(t, n-int(l.Stats().Lost), 10*time.Second)
	st := l.Stats()
	// Binomial: sigma = sqrt(n p (1-p)) ~ 31 packets; 5 sigma.
	want := n * loss
	if math.Abs(float64(st.Lost)-want) > 5*math.Sqrt(want*(1-loss)) {
		t.Errorf("lost %d of %d, want %.0f (loss %v)", st.Lost, n, want, loss)
	}
	if st.PacketsIn != n || st.Delivered+st.Lost != n || st.QueueDropped != 0 {
		t.Errorf("stats %+v do not add up to %d packets", st, n)
	}
	// Without reordering or jitter every survivor comes out in order, intact.
	r.mu.Lock()
	defer r.mu.Unlock()
	last := -1
	for _, p := range r.pkts {
		i := seqOf(p)
		if i <= last || !slices.Equal(p, seqPacket(i, 64)) {
			t.Fatalf("packet %d after %d, or changed", i, last)
		}
		last = i
	}
}

func TestLossIsRepeatableWithSeed(t *testing.T) {
	run := func() []int {
		r := newRecorder()
		l := NewLink(Config{Loss: 0.3, Seed: 42}, r.deliver)
		for i := range 1000 {
			l.Send(seqPacket(i, 16))
		}
		r.waitFor(t, int(1000-l.Stats().Lost), 10*time.Second)
		l.Close()
		var got []int
		for _, p := range r.pkts {
			got = append(got, seqOf(p))
		}
		return got
	}
	if a, b := run(), run(); !slices.Equal(a, b) {
		t.Errorf("the same seed lost different packets: %d and %d survivors", len(a), len(b))
	}
}

func TestLossyFilterSparesOtherPackets(t *testing.T) {
	r := newRecorder()
	l := NewLink(Config{Loss: 1, Lossy: UDTData}, r.deliver)
	defer l.Close()
	ctrl := []byte{0x80, 2, 3, 4}
	for range 100 {
		l.Send([]byte{0x00, 1, 2, 3}) // data: always lost
		l.Send(ctrl)
	}
	r.waitFor(t, 100, 5*time.Second)
	if st := l.Stats(); st.Lost != 100 || st.Delivered != 100 {
		t.Errorf("stats %+v, want 100 lost and 100 delivered", st)
	}
	for _, p := range r.pkts {
		if !slices.Equal(p, ctrl) {
			t.Fatalf("delivered %x, want only the control packet", p)
		}
	}
}

// latencies sends n packets every gap and returns how long each took.
func latencies(t *testing.T, cfg Config, n int, gap time.Duration) ([]time.Duration, *recorder) {
	t.Helper()
	r := newRecorder()
	l := NewLink(cfg, r.deliver)
	defer l.Close()
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		l.Send(seqPacket(i, 100))
		time.Sleep(gap)
	}
	r.waitFor(t, n, 10*time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := make([]time.Duration, n)
	for k, p := range r.pkts {
		lat[seqOf(p)] = r.times[k].Sub(sent[seqOf(p)])
	}
	return lat, r
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// timeoutUpperBound bounds how long something that should be prompt may
// take before a test calls it hung: generous, as the suite runs under
// -race on a loaded 2-core machine.
const timeoutUpperBound = 20 * time.Second

// scaledDelays are the delays a fidelity check tries in turn, as Go's
// net/timeout_test.go retries with a longer timeout: the scheduler of a
// loaded machine adds a few milliseconds to a wakeup, which is more than
// 10% of a short delay but not of a long one. A check fails only if it
// fails at every one.
func scaledDelays(d time.Duration) []time.Duration { return []time.Duration{d, 4 * d, 16 * d} }

func TestDelay(t *testing.T) {
	for _, delay := range scaledDelays(20 * time.Millisecond) {
		lat, _ := latencies(t, Config{Delay: delay}, 200, time.Millisecond)
		for i, d := range lat {
			if d < delay-earlyBy {
				t.Fatalf("packet %d took %v, less than the delay %v", i, d, delay)
			}
		}
		// The scheduler on a shared machine adds to the median, never takes away.
		m := median(lat)
		if m <= delay+delay/10 {
			return
		}
		t.Logf("median latency %v, want within 10%% of %v: trying a longer delay", m, delay)
	}
	t.Errorf("the median latency was more than 10%% above the delay at every delay tried")
}

func TestJitterSpreadsDelayWithoutReordering(t *testing.T) {
	const delay, jitter = 30 * time.Millisecond, 10 * time.Millisecond
	lat, r := latencies(t, Config{Delay: delay, Jitter: jitter, Seed: 3}, 300, 200*time.Microsecond)
	lo, hi := slices.Min(lat), slices.Max(lat)
	if lo < delay-jitter-earlyBy {
		t.Errorf("fastest packet %v, below delay-jitter %v", lo, delay-jitter)
	}
	if hi < delay+jitter/2 {
		t.Errorf("slowest packet %v: jitter %v does not spread the delay %v", hi, jitter, delay)
	}
	for k, p := range r.pkts {
		if seqOf(p) != k {
			t.Fatalf("delivery %d is packet %d: jitter reordered", k, seqOf(p))
		}
	}
}

func TestRateCap(t *testing.T) {
	// The lateness allowed grows with the burst, and a loaded machine's
	// pauses do not: a longer burst is tried before the check fails.
	var late time.Duration
	for _, n := range []int{400, 1600, 6400} {
		if late = rateCap(t, n); late == 0 {
			return
		}
		t.Logf("a burst of %d packets ended %v after its slot, more than 5%%: trying a longer one", n, late)
	}
	t.Errorf("the last packet came %v after its slot, more than 5%% of the burst, at every burst length tried", late)
}

// rateCap sends a burst of n packets through a rate-capped link, fails the
// test if a packet leaves before its slot, and returns how late the last
// one was if that is more than 5% of the burst's time (0 otherwise).
func rateCap(t *testing.T, n int) time.Duration {
	const rate = 8_000_000 // 1 MB/s
	const size = 1000
	const perPkt = time.Duration(size * 8 * int64(time.Second) / rate) // 1 ms
	r := newRecorder()
	l := NewLink(Config{Rate: rate, QueueBytes: n * size}, r.deliver)
	defer l.Close()
	// The link's schedule, from when each Send was made: a sender that the
	// machine pauses lets the link go idle, which is no fault of the link.
	sched := make([]time.Time, n)
	var finish time.Time
	for i := range n {
		now := time.Now()
		l.Send(seqPacket(i, size))
		if finish.Before(now) {
			finish = now
		}
		finish = finish.Add(perPkt)
		sched[i] = finish
	}
	r.waitFor(t, n, time.Duration(n)*perPkt+timeoutUpperBound)
	r.mu.Lock()
	times := slices.Clone(r.times)
	r.mu.Unlock()
	// Never faster than the rate: no packet leaves before its slot.
	for k := range n {
		if early := sched[k].Sub(times[k]); early > earlyBy {
			t.Fatalf("packet %d came %v before its slot at %d bit/s", k, early, rate)
		}
	}
	if st := l.Stats(); st.QueueDropped != 0 || st.Delivered != int64(n) {
		t.Errorf("stats %+v, want all %d delivered", st, n)
	}
	// And not slower: the last one leaves when the schedule says.
	if late := times[n-1].Sub(finish); late > time.Duration(n)*perPkt/20 {
		return late
	}
	return 0
}

func TestQueueTailDrop(t *testing.T) {
	const size, queue = 1000, 10 * 1000
	r := newRecorder()
	l := NewLink(Config{Rate: 8_000, QueueBytes: queue}, r.deliver) // 1 kB/s: nothing drains in the burst
	defer l.Close()
	for i := range 100 {
		l.Send(seqPacket(i, size))
	}
	st := l.Stats()
	// The queue holds queue bytes; the first packet may already be on the
	// wire, leaving room for one more.
	if st.QueueDropped < 100-queue/size-1 || st.QueueDropped > 100-queue/size {
		t.Errorf("queue of %d bytes dropped %d of 100 packets of %d bytes, want %d", queue, st.QueueDropped, size, 100-queue/size)
	}
	// Tail drop: the survivors are the first ones sent.
	r.waitFor(t, 1, 5*time.Second)
	if i := seqOf(r.pkts[0]); i != 0 {
		t.Errorf("first delivered packet is %d, want 0", i)
	}
}

func TestReorder(t *testing.T) {
	const n, reorder = 10000, 0.1
	r := newRecorder()
	// The delay gives each held packet a successor to wait for.
	l := NewLink(Config{Delay: 20 * time.Millisecond, Reorder: reorder, Seed: 11}, r.deliver)
	defer l.Close()
	for i := range n {
		l.Send(seqPacket(i, 32))
	}
	r.waitFor(t, n, 10*time.Second)
	st := l.Stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	// A packet is out of order when a later one came out before it.
	late, maxSeen := 0, -1
	seen := make([]bool, n)
	for _, p := range r.pkts {
		i := seqOf(p)
		if seen[i] {
			t.Fatalf("packet %d delivered twice", i)
		}
		seen[i] = true
		if i < maxSeen {
			late++
		}
		maxSeen = max(maxSeen, i)
	}
	if int64(late) != st.Reordered {
		t.Errorf("%d packets came out of order, stats say %d", late, st.Reordered)
	}
	want := n * reorder
	if math.Abs(float64(late)-want) > 5*math.Sqrt(want) {
		t.Errorf("%d of %d packets reordered, want about %.0f", late, n, want)
	}
}

func TestHeldPacketGoesOutWhenNothingFollows(t *testing.T) {
	r := newRecorder()
	l := NewLink(Config{Delay: 5 * time.Millisecond, Reorder: 0.5, Seed: 1}, r.deliver)
	defer l.Close()
	for i := range 50 {
		l.Send(seqPacket(i, 8))
		r.waitFor(t, i+1, 5*time.Second) // one at a time: nothing can overtake
	}
	if st := l.Stats(); st.Reordered != 0 {
		t.Errorf("%d packets reordered with nothing to overtake them", st.Reordered)
	}
}

func TestCloseStopsDelivery(t *testing.T) {
	// The packets must still be queued when Close comes; on a loaded
	// machine the test may be paused past their delay, and then it tries
	// a longer one.
	for _, delay := range scaledDelays(50 * time.Millisecond) {
		r := newRecorder()
		l := NewLink(Config{Delay: delay}, r.deliver)
		start := time.Now()
		for i := range 10 {
			l.Send(seqPacket(i, 8))
		}
		l.Close()
		if time.Since(start) >= delay-earlyBy {
			t.Logf("Close came %v after the first send, past the %v delay: trying a longer one", time.Since(start), delay)
			continue
		}
		l.Close()
		l.Send(seqPacket(99, 8)) // ignored, no panic
		// Past the time the packets were due: none may come.
		time.Sleep(time.Until(start.Add(2 * delay)))
		if n := r.count(); n != 0 {
			t.Errorf("%d packets delivered after Close", n)
		}
		return
	}
	t.Fatal("Close never came before the packets were due")
}

func TestSendCopies(t *testing.T) {
	r := newRecorder()
	l := NewLink(Config{Delay: 10 * time.Millisecond}, r.deliver)
	defer l.Close()
	p := []byte("abcdef")
	l.Send(p)
	copy(p, "XXXXXX")
	r.waitFor(t, 1, 5*time.Second)
	if string(r.pkts[0]) != "abcdef" {
		t.Errorf("delivered %q, want the bytes as sent", r.pkts[0])
	}
}

func TestBacklogIsTheQueueInTime(t *testing.T) {
	// 1 Mbit/s: a 1250-byte packet takes 10 ms on the wire.
	l := NewLink(Config{Rate: 1e6, QueueBytes: 1 << 20}, func([]byte) {})
	defer l.Close()
	if b := l.Backlog(); b != 0 {
		t.Fatalf("an idle link has a backlog of %v", b)
	}
	start := time.Now()
	for range 10 {
		l.Send(make([]byte, 1250))
	}
	// 100 ms of packets, less what left since the first went in.
	b := l.Backlog()
	if late := time.Since(start); b > 100*time.Millisecond || b < 100*time.Millisecond-late {
		t.Errorf("backlog %v after 10 packets of 10 ms (%v later)", b, late)
	}
	if b := backlogWithoutRate(t); b != 0 {
		t.Errorf("a link without a rate cap has a backlog of %v", b)
	}
}

func backlogWithoutRate(t *testing.T) time.Duration {
	l := NewLink(Config{Delay: time.Second}, func([]byte) {})
	defer l.Close()
	l.Send(make([]byte, 1500))
	return l.Backlog()
}
