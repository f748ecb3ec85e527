package udt

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/udtgo/udt/cudt"
)

// heapTrim hands the memory of sockets UDT has deleted back to the system.
// UDT allocates about 430 KiB per socket with the default FlowWindow
// (mostly its loss lists) and frees it when its garbage collector deletes
// the socket, 1 to 2 s after the close; but glibc keeps freed memory in
// the arena of the thread that allocated it, so without a trim RSS stays
// at its peak: 2.6 GB after churning connections at 600 a second, though
// UDT itself held almost none of it by then.
type heapTrim struct {
	mu           sync.Mutex // the poller's round, and settleTrim from tests
	closesAtLast int64      // p.closes at the last trim
	last         time.Time  // when that was
	quietFor     int64      // p.closes when the current quiet period began
	quietTrims   int        // trims done in it
	running      atomic.Bool
}

// A trim walks the whole C heap, so it runs at most every trimEvery, on its
// own goroutine: during churn once trimBatch more sockets were closed, and
// after the last close once UDT has deleted most of the sockets, then again
// once it has deleted the slow ones (a socket lingers while its last data
// is unacknowledged).
const (
	trimEvery = 5 * time.Second
	trimBatch = 1024
)

var trimQuiet = [...]time.Duration{3 * time.Second, 15 * time.Second}

var trimHeap = cudt.TrimHeap

// maybeTrim runs on the poller's goroutine, once a round.
func (p *poller) maybeTrim(now time.Time) {
	t := &p.trim
	t.mu.Lock()
	defer t.mu.Unlock()
	closes := p.closes.Load()
	if closes != t.quietFor {
		t.quietFor, t.quietTrims = closes, 0
	}
	if closes == 0 || now.Sub(t.last) < trimEvery || t.running.Load() {
		return
	}
	quiet := now.Sub(time.Unix(0, p.lastClose.Load()))
	switch {
	case closes-t.closesAtLast >= trimBatch:
	case t.quietTrims < len(trimQuiet) && quiet >= trimQuiet[t.quietTrims]:
		t.quietTrims++
	default:
		return
	}
	t.closesAtLast, t.last = closes, now
	t.running.Store(true)
	go func() {
		defer t.running.Store(false)
		trimHeap()
	}()
}

// settleTrim trims now and cancels the trims the closes so far would still
// bring, so that a measurement that closes nothing sees none: a trim makes
// every C call that allocates wait on the heap's locks, and Go starts
// threads for goroutines stuck in such calls.
func (p *poller) settleTrim() {
	t := &p.trim
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.running.Load() {
		time.Sleep(time.Millisecond)
	}
	closes := p.closes.Load()
	t.closesAtLast, t.quietFor, t.quietTrims, t.last = closes, closes, len(trimQuiet), time.Now()
	trimHeap()
}
