package udt

import (
	"sync"
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
//
// A trim walks the whole C heap, so it runs at most every trimEvery: during
// churn once trimBatch more sockets were closed, and after the last close
// once UDT has deleted most of the sockets, then again once it has deleted
// the slow ones (a socket lingers while its last data is unacknowledged).
// It runs on a timer's goroutine: nothing waits while no socket closes.
var heapTrim struct {
	mu           sync.Mutex
	closes       int64
	closesAtLast int64     // closes at the last trim
	last         time.Time // when that was
	quiet        *time.Timer
	quietTrims   int // trims since the last close
	running      bool
}

const (
	trimEvery = 5 * time.Second
	trimBatch = 1024
)

var trimQuiet = [...]time.Duration{3 * time.Second, 15 * time.Second}

var trimHeap = cudt.TrimHeap

// noteSocketClosed is called once for every socket closed in UDT.
func noteSocketClosed() {
	t := &heapTrim
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closes++
	t.quietTrims = 0
	if t.quiet == nil {
		t.quiet = time.AfterFunc(trimQuiet[0], quietTrim)
	} else {
		t.quiet.Reset(trimQuiet[0])
	}
	if t.closes-t.closesAtLast >= trimBatch && time.Since(t.last) >= trimEvery {
		startTrimLocked()
	}
}

func quietTrim() {
	t := &heapTrim
	t.mu.Lock()
	defer t.mu.Unlock()
	startTrimLocked()
	t.quietTrims++
	if t.quietTrims < len(trimQuiet) {
		t.quiet.Reset(trimQuiet[t.quietTrims] - trimQuiet[t.quietTrims-1])
	}
}

func startTrimLocked() {
	t := &heapTrim
	if t.running {
		return
	}
	t.running = true
	t.closesAtLast, t.last = t.closes, time.Now()
	go func() {
		trimHeap()
		t.mu.Lock()
		t.running = false
		t.mu.Unlock()
	}()
}

// settleTrim trims now and cancels the trims the closes so far would still
// bring, so that a measurement that closes nothing sees none: a trim makes
// every C call that allocates wait on the heap's locks, and Go starts
// threads for goroutines stuck in such calls.
func settleTrim() {
	t := &heapTrim
	for {
		t.mu.Lock()
		if !t.running {
			break
		}
		t.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	defer t.mu.Unlock()
	if t.quiet != nil {
		t.quiet.Stop()
	}
	t.closesAtLast, t.quietTrims, t.last = t.closes, len(trimQuiet), time.Now()
	trimHeap()
}
