package cudt

import (
	"runtime"
	"sync/atomic"
	"time"
)

// nextYield is when a goroutine back from a call that may block in UDT
// (recv, send, recvmsg, sendmsg) next yields its P: once a millisecond
// across the process.
//
// A goroutine that calls into UDT back to back, as a receiver's loop on a
// blocking socket does, never goes through Go's scheduler. After 10 ms of
// that, Go's sysmon takes the P away while the goroutine is in C, starts
// another thread to poll the network, preempts the goroutine when it comes
// back, and checks every 20 µs for the next millisecond: 7 % of such a
// receiver's CPU at loopback rates (perf, against UDT's appserver). A
// yield each millisecond shows the scheduler the goroutine is not stuck,
// for a Gosched (about 1 µs) per millisecond; one per call cost 5 %.
var nextYield atomic.Int64

func yieldSometimes() {
	now := time.Now().UnixNano()
	if now < nextYield.Load() {
		return
	}
	nextYield.Store(now + int64(time.Millisecond))
	runtime.Gosched()
}
