package heaptrim

import (
	"sync"
	"testing"
	"time"
)

// fakeHeap is a C heap whose free bytes the test sets, counting trims.
type fakeHeap struct {
	mu    sync.Mutex
	free  uint64 // and RSS, which grows with it here
	trims int
	quiet []bool // each trim's quiet flag
	infos int    // mallinfo2 calls
}

func (h *fakeHeap) resident() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.free
}

func (h *fakeHeap) info() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.infos++
	return h.free
}

func (h *fakeHeap) release(quiet bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trims++
	h.quiet = append(h.quiet, quiet)
	return true
}

func (h *fakeHeap) set(free uint64) {
	h.mu.Lock()
	h.free = free
	h.mu.Unlock()
}

func (h *fakeHeap) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.trims
}

func newTestTrim(h *fakeHeap) *Trimmer {
	return &Trimmer{every: 10 * time.Millisecond, quiet: 100 * time.Millisecond, heap: h.info, release: h.release, resident: h.resident}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (t *Trimmer) armed() bool { return t.Pending() }

// Trims follow what was freed: none while the free bytes stay put, one
// once they grew by trimMin, a last one for what the quiet period freed,
// and then the checks stop, leaving no timer.
func TestTrimFollowsFreedMemory(t *testing.T) {
	h := &fakeHeap{free: 100 << 20}
	tr := newTestTrim(h)
	if tr.armed() {
		t.Fatal("checks armed before any close")
	}
	// Closes that free nothing: checks run, but no trim, and they stop.
	for range 5 {
		tr.Closed(time.Now())
	}
	waitFor(t, "the checks to stop", func() bool { return !tr.armed() })
	if n := h.count(); n != 0 {
		t.Fatalf("%d trims with nothing freed", n)
	}
	// Churn: free memory grows by trimMin while closes go on.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				tr.Closed(time.Now())
			}
		}
	}()
	time.Sleep(30 * time.Millisecond)
	h.set(100<<20 + trimMin)
	// stats waits for the round that trims to end: the fake counts a trim
	// as it starts, before the trim reads the free bytes it starts from,
	// and a set in between would be read as already trimmed.
	waitFor(t, "a trim during the closes", func() bool { n, _ := tr.Stats(); return n == 1 })
	// Freed after the last close, less than trimMin: the quiet round's.
	h.set(100<<20 + trimMin + 2*trimQuietMin)
	close(stop)
	<-done
	waitFor(t, "the quiet trim", func() bool { return h.count() == 2 })
	waitFor(t, "the checks to stop", func() bool { return !tr.armed() })
	time.Sleep(50 * time.Millisecond)
	if n := h.count(); n != 2 {
		t.Fatalf("%d trims, want 2", n)
	}
	// The last, after the closes stopped, hands back what is kept for
	// the next connections too.
	h.mu.Lock()
	quiet := h.quiet
	h.mu.Unlock()
	if !quiet[1] {
		t.Fatalf("trims told quiet %v, want the last quiet", quiet)
	}
	trims, _ := tr.Stats()
	if trims != 2 {
		t.Fatalf("stats report %d trims, want 2", trims)
	}
}

// settle trims at once and cancels the pending checks, so nothing trims
// during the measurement that follows.
func TestSettleTrimCancelsChecks(t *testing.T) {
	h := &fakeHeap{free: 1 << 30}
	tr := newTestTrim(h)
	tr.Closed(time.Now())
	tr.Settle()
	if n := h.count(); n != 1 {
		t.Fatalf("settle did %d trims, want 1", n)
	}
	if tr.armed() {
		t.Fatal("settle left the checks armed")
	}
	h.set(2 << 30)
	time.Sleep(200 * time.Millisecond)
	if n := h.count(); n != 1 {
		t.Fatalf("%d trims after settle, want 1", n)
	}
}

// With trims off, closes arm no checks, and turning them off cancels the
// pending ones.
func TestTrimOff(t *testing.T) {
	h := &fakeHeap{free: 1 << 30}
	tr := newTestTrim(h)
	tr.Closed(time.Now())
	tr.SetOff(true)
	if tr.armed() {
		t.Fatal("turning trims off left the checks armed")
	}
	h.set(2 << 30)
	tr.Closed(time.Now())
	time.Sleep(200 * time.Millisecond)
	if tr.armed() || h.count() != 0 {
		t.Fatalf("trims off: armed %v, %d trims", tr.armed(), h.count())
	}
	tr.SetOff(false)
	tr.Closed(time.Now())
	if !tr.armed() {
		t.Fatal("trims back on, a close armed no check")
	}
	tr.Settle()
}

// A trim owed when the closes stop, but held back by the trims' share of
// the time, still runs: the checks go on until it has.
func TestQuietTrimWaitsForItsTurn(t *testing.T) {
	h := &fakeHeap{free: 100 << 20}
	tr := newTestTrim(h)
	tr.Closed(time.Now())
	time.Sleep(30 * time.Millisecond) // a check has seen the heap
	tr.run.Lock()
	tr.notUntil = time.Now().Add(300 * time.Millisecond)
	tr.run.Unlock()
	h.set(100<<20 + 2*trimQuietMin)
	waitFor(t, "the owed trim", func() bool { return h.count() == 1 })
	waitFor(t, "the checks to stop", func() bool { return !tr.armed() })
}

// While closes go on and RSS stays flat after a trim, the checks leave
// the heap's locks alone.
func TestTrimChecksSkipHeapWhileRSSFlat(t *testing.T) {
	h := &fakeHeap{free: 100 << 20}
	tr := newTestTrim(h)
	tr.Settle() // a trim: RSS recorded
	h.mu.Lock()
	infos := h.infos
	h.mu.Unlock()
	stop := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(stop) {
		tr.Closed(time.Now())
		time.Sleep(time.Millisecond)
	}
	h.mu.Lock()
	got := h.infos - infos
	h.mu.Unlock()
	if got != 0 {
		t.Errorf("%d heap counts while RSS stayed flat", got)
	}
	waitFor(t, "the checks to stop", func() bool { return !tr.armed() })
}

// Memory freed after the quiet trim (UDT's garbage collector, slowed by a
// loaded machine, still deleting closed sockets) is trimmed too: the
// checks stop only once one finds nothing more freed.
func TestQuietTrimsUntilNothingMoreFreed(t *testing.T) {
	h := &fakeHeap{free: 100 << 20}
	tr := newTestTrim(h)
	tr.Closed(time.Now())
	time.Sleep(30 * time.Millisecond) // a check has seen the heap
	h.set(100<<20 + 2*trimQuietMin)
	waitFor(t, "the quiet trim", func() bool { n, _ := tr.Stats(); return n == 1 })
	if !tr.armed() {
		t.Fatal("the checks stopped with the quiet trim, before seeing whether more was freed")
	}
	h.set(100<<20 + 4*trimQuietMin)
	waitFor(t, "a trim of what was freed after the quiet one", func() bool { n, _ := tr.Stats(); return n == 2 })
	waitFor(t, "the checks to stop", func() bool { return !tr.armed() })
	time.Sleep(50 * time.Millisecond)
	if n := h.count(); n != 2 {
		t.Fatalf("%d trims, want 2", n)
	}
	// The last, after the closes stopped, hands back what is kept for
	// the next connections too.
	h.mu.Lock()
	quiet := h.quiet
	h.mu.Unlock()
	if !quiet[1] {
		t.Fatalf("trims told quiet %v, want the last quiet", quiet)
	}
}

// A trim while closes go on leaves what is kept for the next connections;
// Settle's, a measurement's, hands it back.
func TestTrimKeepsWhatIsKeptWhileClosesGoOn(t *testing.T) {
	h := &fakeHeap{free: 100 << 20}
	tr := newTestTrim(h)
	tr.quiet = time.Hour // every check sees closes going on
	tr.Closed(time.Now())
	// The free bytes it starts from, counted before they grow.
	waitFor(t, "a first count", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.infos > 0 })
	h.set(100<<20 + trimMin)
	waitFor(t, "a trim during the closes", func() bool { n, _ := tr.Stats(); return n == 1 })
	tr.Settle()
	h.mu.Lock()
	quiet := h.quiet
	h.mu.Unlock()
	if len(quiet) != 2 || quiet[0] || !quiet[1] {
		t.Fatalf("trims told quiet %v, want [false true]", quiet)
	}
}
