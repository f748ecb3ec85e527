package systest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/testenv"
)

// resources is what a leak would grow.
type resources struct {
	fds, threads, udtThreads, goroutines, rssKiB int
	heap                                         cudt.HeapInfo // what RSS holds of the C heap
	trims                                        int64
}

func measure(t testing.TB) resources {
	fds, _ := testenv.CountFDs(t)
	return resources{fds, testenv.CountThreads(t), cudt.UDTThreads(), runtime.NumGoroutine(), testenv.StatusKB(t, "VmRSS:"),
		cudt.Heap(), udt.ReadHeapStats().Trims}
}

// Churn: UDT_CHURN open/connect/transfer/close cycles (2,000 by default,
// 100,000 in ./build.sh soak) on UDT_CHURN_WORKERS connections at once
// (8): each dials, sends 1 to 4 KiB, reads the echo and closes while the
// accepted side closes too. Descriptors, OS threads, goroutines and RSS
// are flat at the end, measured against the same figures after a warm-up
// of a tenth of the cycles, once UDT has deleted the closed sockets; and
// the process is idle again (a socket left in UDT's epoll result set
// would make the poller spin).
func TestChurn(t *testing.T) {
	// Not parallel: it counts the process's descriptors, threads,
	// goroutines, memory and CPU.
	cycles := testenv.EnvInt("UDT_CHURN", 2000)
	workers := testenv.EnvInt("UDT_CHURN_WORKERS", 8)
	seed := testenv.SeedFor(t)
	l := listenT(t, "udt", "127.0.0.1:0", udt.Config{})
	var handlers sync.WaitGroup
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := l.AcceptUDT()
			if err != nil {
				return
			}
			handlers.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				buf := make([]byte, 4096)
				if _, err := io.ReadFull(c, buf[:2]); err != nil {
					// A dial that took two attempts can leave an extra
					// connection that closes without data (see the
					// docs/udt4-behaviour.md); the client checks its echo itself.
					if err != io.EOF {
						t.Errorf("server Read: %v", err)
					}
					return
				}
				n := int(binary.BigEndian.Uint16(buf))
				if _, err := io.ReadFull(c, buf[:n]); err != nil {
					t.Errorf("server Read: %v", err)
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					t.Errorf("server Write: %v", err)
				}
			})
		}
	}()
	var next atomic.Int64
	run := func(upTo int64) {
		var wg sync.WaitGroup
		for w := range workers {
			rng := rand.New(rand.NewPCG(seed+uint64(upTo), uint64(w)))
			wg.Go(func() {
				for !t.Failed() {
					i := next.Add(1) - 1
					if i >= upTo {
						return
					}
					churnCycle(t, l.Addr().String(), i, rng)
				}
			})
		}
		wg.Wait()
		handlers.Wait()
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r := measure(t)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				t.Logf("%d cycles: fds %d, OS threads %d, goroutines %d, RSS %d KiB (Go %d KiB)", next.Load(), r.fds, r.threads, r.goroutines, r.rssKiB, ms.Sys>>10)
			}
		}
	}()
	warm := int64(max(cycles/10, 100))
	run(warm)
	before := settled(t, resources{})
	start := time.Now()
	run(warm + int64(cycles))
	took := time.Since(start)
	close(stop)
	<-sampled
	after := settled(t, before)
	cpu0 := testenv.CPUTime(t)
	const idle = time.Second
	time.Sleep(idle)
	cpu := testenv.CPUTime(t) - cpu0
	t.Logf("%d cycles in %v (%.0f a second) on %d workers, after a warm-up of %d", cycles, took.Round(time.Millisecond), float64(cycles)/took.Seconds(), workers, warm)
	t.Logf("before: fds %d, OS threads %d (UDT's %d), goroutines %d, RSS %d KiB", before.fds, before.threads, before.udtThreads, before.goroutines, before.rssKiB)
	t.Logf("after:  fds %d, OS threads %d (UDT's %d), goroutines %d, RSS %d KiB; idle CPU %.1f%% of a core", after.fds, after.threads, after.udtThreads, after.goroutines, after.rssKiB, 100*cpu.Seconds()/idle.Seconds())
	t.Logf("C heap: %d KiB in use and %d KiB free before, %d and %d KiB after; %d trims", before.heap.InUse>>10, before.heap.Free>>10, after.heap.InUse>>10, after.heap.Free>>10, after.trims)
	if after.fds > before.fds {
		t.Errorf("descriptors grew from %d to %d", before.fds, after.fds)
	}
	// UDT's own threads, per UDP port, are back where they were: a port
	// left behind would show here.
	if after.udtThreads > before.udtThreads {
		t.Errorf("UDT's threads grew from %d to %d", before.udtThreads, after.udtThreads)
	}
	// Go keeps an OS thread for each cgo call it ever had blocked at once
	// (a worker's, a handler's, a Close's), and never gives them back: the
	// count follows the busiest moment of the run, which a loaded machine
	// makes busier (14 to 37 once), not the number of cycles. The bound
	// only catches a leak per cycle.
	if after.threads > before.threads+4*workers+16 {
		t.Errorf("OS threads grew from %d to %d", before.threads, after.threads)
	}
	if after.goroutines > before.goroutines {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
	}
	// Under ASan freed memory sits in its quarantine (256 MiB by
	// default), so RSS measures ASan, not a leak: LeakSanitizer checks
	// leaks there, and TestChurnPeakRSS bounds the peak without it.
	if grew := after.rssKiB - before.rssKiB; grew > testenv.RSSSlackKiB && !testenv.ASan {
		// Whether one more trim gives it back tells a trim that came too
		// early from memory malloc_trim cannot reach (the top chunks of
		// glibc's per-thread arenas).
		cudt.TrimHeap()
		t.Errorf("RSS grew by %d KiB (%d KiB after one more trim)", grew, testenv.StatusKB(t, "VmRSS:")-before.rssKiB)
	}
	if cpu > idle/2 {
		t.Errorf("the process used %v of CPU in %v idle after the churn", cpu, idle)
	}
	l.Close()
	<-accepting
}

// settled waits until UDT has deleted the closed sockets (1 to 2 s after
// the close), the poller has trimmed the C heap (3 s after the last close,
// at most every 5 s), and the figures are back to want's (RSS within
// testenv.RSSSlackKiB), or 30 s; it returns the figures then.
func settled(t *testing.T, want resources) resources {
	time.Sleep(8 * time.Second)
	var r resources
	for deadline := time.Now().Add(22 * time.Second); ; time.Sleep(time.Second) {
		runtime.GC()
		r = measure(t)
		if want.fds == 0 || time.Now().After(deadline) ||
			r.fds <= want.fds && r.goroutines <= want.goroutines && r.rssKiB <= want.rssKiB+testenv.RSSSlackKiB {
			return r
		}
	}
}

func churnCycle(t *testing.T, addr string, i int64, rng *rand.Rand) {
	start := time.Now()
	nc, err := udt.Dial("udt", addr)
	if err != nil {
		t.Errorf("cycle %d: %v", i, err)
		return
	}
	c := nc.(*udt.Conn)
	dialed := time.Since(start)
	// A failure says when each step happened, what UDT knew of the
	// connection, and what the poller and the firewall had done.
	explain := func() string {
		st, serr := c.Stats()
		return fmt.Sprintf("dialed after %v, failed after %v; %v, UDT state %v, stats %+v (%v); poller %+v; firewall %+v",
			dialed, time.Since(start), c, c.Socket().SockState(), st.Total, serr, udt.ReadPollerStats(), udt.ReadFirewallStats())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	msg := make([]byte, 1024+rng.IntN(3072))
	for j := range msg {
		msg[j] = byte(rng.Uint32())
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
		t.Errorf("cycle %d: Write: %v; %s", i, err, explain())
		return
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("cycle %d: echo: %v; %s", i, err, explain())
	}
}
