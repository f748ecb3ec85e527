// Package heaptrim hands back to the system the C heap that UDT frees:
// glibc keeps what is freed, so without a trim a process's RSS stays at
// its peak. The udt package drives it (a close of each UDT socket) and
// gives it the heap to count and trim (cudt); it knows nothing of UDT.
package heaptrim

import (
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The heap trim hands back to the system the memory of sockets UDT has
// deleted. UDT frees a socket's buffers when its garbage collector deletes
// it, 1 to 2.2 s after the close (see docs/memory.md); glibc keeps what is
// freed, so without a trim RSS stays at its peak.
//
// It is driven by what was freed, not by a clock: from the first close, a
// check every trimCheckEvery reads how many bytes glibc holds in free
// chunks (mallinfo2, which locks each arena to count them; only once RSS
// has grown by trimMin since the last trim, or the closes have stopped),
// and trims once that grew by trimMin since the lowest it was since the
// last trim. The
// checks stop once no socket was closed for trimQuiet and a check then
// found less than trimQuietMin freed since the last trim (a quiet check
// trims anything over that, once its turn comes, and looks again): nothing
// runs, and no goroutine or timer is left, while nothing closes.
//
// malloc_trim walks every arena of the process under its lock, stalling
// the C allocations of the host program as well as UDT's, so trims, and
// the counts, are spaced to take at most 1/trimDuty of the time, and
// SetHeapPolicy can turn them off.
const (
	trimCheckEvery = time.Second // UDT's garbage collector's own period
	trimQuiet      = 4 * time.Second
	trimMin        = 32 << 20
	trimQuietMin   = 1 << 20
	trimDuty       = 20
)

type Trimmer struct {
	// What it uses, replaced by tests.
	every, quiet time.Duration
	heap         func() uint64 // free bytes in the heap
	release      func(quiet bool) bool
	resident     func() uint64 // RSS, bytes

	run sync.Mutex // one check or trim at a time

	mu        sync.Mutex
	gen       int // bumped when the checks are cancelled
	timer     *time.Timer
	lastClose time.Time
	closes    int64
	off       bool // SetHeapPolicy's NoTrim

	// Held by run.
	seen      bool      // minFree was set
	minFree   uint64    // the fewest free bytes since the last trim
	rssAtTrim uint64    // RSS after the last trim
	notUntil  time.Time // the next trim's earliest time
	trims     int64
	trimmed   time.Duration // spent in trims
}

// New returns a Trimmer of the heap whose free bytes heapFree counts and
// release trims (malloc_trim: it reports whether anything was handed
// back). Release is told whether the closes have stopped: memory kept
// for the next connections (cudt's warm arrays) goes back only then.
func New(heapFree func() uint64, release func(quiet bool) bool) *Trimmer {
	return &Trimmer{every: trimCheckEvery, quiet: trimQuiet, heap: heapFree, release: release, resident: residentBytes}
}

// residentBytes reads the process's RSS without touching the C heap; when
// it cannot, it reports the most, which lets the check look at the heap.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return math.MaxUint64
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return math.MaxUint64
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	return pages * uint64(os.Getpagesize())
}

// Closed is called once for each socket closed in UDT, at now.
func (t *Trimmer) Closed(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closes++
	t.lastClose = now
	if t.timer == nil && !t.off {
		gen := t.gen
		t.timer = time.AfterFunc(t.every, func() { t.check(gen) })
	}
}

// SetOff turns the trims off or back on; off cancels the checks pending.
func (t *Trimmer) SetOff(off bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.off = off
	if off && t.timer != nil {
		t.gen++
		t.timer.Stop()
		t.timer = nil
	}
}

// check is one round of the checks begun by a close; gen tells a round
// that Settle cancelled.
func (t *Trimmer) check(gen int) {
	t.run.Lock()
	defer t.run.Unlock()
	t.mu.Lock()
	if t.gen != gen {
		t.mu.Unlock()
		return
	}
	quiet := time.Since(t.lastClose) >= t.quiet
	t.mu.Unlock()

	// While closes go on, RSS that has not grown by trimMin since the last
	// trim means the freed memory is being reused: no need to count the
	// heap, whose arenas mallinfo2 locks in turn.
	if !quiet && t.resident() < t.rssAtTrim+trimMin {
		t.rearm(gen, t.every, false, false)
		return
	}
	start := time.Now()
	free := t.heap()
	// Counting a large fragmented heap takes long too (up to 224 ms for
	// 3 GB on a loaded machine): the checks keep to their share as well.
	counted := time.Since(start)
	if !t.seen {
		t.seen, t.minFree = true, free
	}
	t.minFree = min(t.minFree, free)
	freed := free - t.minFree
	due := freed >= trimMin || quiet && freed >= trimQuietMin
	next := max(t.every, trimDuty*counted)
	if due {
		if wait := time.Until(t.notUntil); wait > 0 {
			// A trim now would run over its share of the time.
			next = max(next, wait)
		} else {
			t.trim(quiet)
			// After a quiet trim, UDT may still be freeing: its garbage
			// collector deletes the closed sockets pass by pass, which a
			// loaded machine stretches past the quiet time, and what it
			// frees then would stay resident for good (400 MB once, after
			// 100,000 cycles). The checks go on until one finds nothing
			// more freed.
			due = quiet
		}
	}

	t.rearm(gen, next, quiet, due)
}

// rearm schedules the next check, or stops the checks once they are quiet
// and no trim is owed.
func (t *Trimmer) rearm(gen int, next time.Duration, quiet, due bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen != gen {
		return
	}
	if quiet && !due && time.Since(t.lastClose) >= t.quiet {
		t.timer = nil
		return
	}
	t.timer.Reset(next)
}

// trim trims now; called with t.run held.
func (t *Trimmer) trim(quiet bool) {
	start := time.Now()
	t.release(quiet)
	took := time.Since(start)
	t.trims++
	t.trimmed += took
	t.notUntil = time.Now().Add(trimDuty * took)
	t.seen, t.minFree = true, t.heap()
	t.rssAtTrim = t.resident()
}

// Settle trims now and cancels the checks the closes so far began, so
// that a measurement that closes nothing sees no trim: a trim makes every
// C call that allocates wait on the heap's locks, and Go starts threads
// for goroutines stuck in such calls.
func (t *Trimmer) Settle() {
	t.run.Lock()
	defer t.run.Unlock()
	t.mu.Lock()
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
	t.trim(true)
}

// Pending reports whether checks are armed (a close began them and they
// have not gone quiet).
func (t *Trimmer) Pending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timer != nil
}

// Quiet is how long after the last close the checks stop, with a last
// trim of what is left.
const Quiet = trimQuiet

// Stats reports the trims so far and the time they took.
func (t *Trimmer) Stats() (trims int64, took time.Duration) {
	t.run.Lock()
	defer t.run.Unlock()
	return t.trims, t.trimmed
}
