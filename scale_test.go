package udt

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

// The seed's problem: descriptors and threads must stay flat as
// connections grow. n connections each way, each with a goroutine blocked
// in Read.
func TestManyConnsStayFlat(t *testing.T) {
	// Not parallel: it counts the process's descriptors and threads.
	n := 500
	if v, err := strconv.Atoi(os.Getenv("UDT_CONNS")); err == nil && v > 0 {
		n = v
	}
	var cfg Config
	if v, err := strconv.Atoi(os.Getenv("UDT_CONN_RCVBUF")); err == nil && v > 0 {
		cfg.RecvBuffer = v
	}
	if v, err := strconv.Atoi(os.Getenv("UDT_CONN_FC")); err == nil && v > 0 {
		cfg.FlowWindow = v
	}
	inherited0 := childSockets(t)
	fds0, socks0 := testenv.CountFDs(t)
	threads0 := testenv.CountThreads(t)
	// Freed memory of earlier tests' sockets, which the poller hands back
	// in its own time, must not count against these conns, nor may that
	// trim run mid-measurement (see settleTrim).
	settleTrim()
	rss0 := testenv.StatusKB(t, "VmRSS:")
	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Go(func() {
			_, err := c.Read(make([]byte, 1))
			// Closing one end first may show the other its peer's close.
			if !errors.Is(err, net.ErrClosed) && err != io.EOF {
				t.Errorf("blocked Read ended with %v", err)
			}
		})
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
		}
	}()
	d := Dialer{Config: cfg}
	for i := 0; i < n; i++ {
		c, err := d.Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		track(c)
	}
	for deadline := time.Now().Add(timeoutUpperBound); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(conns)
		mu.Unlock()
		if got == 2*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d conns up", got, 2*n)
		}
	}
	// Every reader blocked before anything is counted.
	mu.Lock()
	up := slices.Clone(conns)
	mu.Unlock()
	for _, c := range up {
		blocked(t, c.(*Conn).fd.pd, EventIn, 1)
	}
	fds1, socks1 := testenv.CountFDs(t)
	threads1 := testenv.CountThreads(t)
	rss1 := testenv.StatusKB(t, "VmRSS:")
	cpu0 := testenv.CPUTime(t)
	const idle = 2 * time.Second
	time.Sleep(idle)
	cpu := testenv.CPUTime(t) - cpu0
	t.Logf("%d conns each way (RecvBuffer %d, FlowWindow %d), a goroutine blocked in Read on each: fds %d -> %d, sockets %d -> %d, OS threads %d -> %d, RSS %d -> %d KiB (%.1f KiB per conn), idle CPU %.1f%% of a core",
		n, cfg.RecvBuffer, cfg.FlowWindow, fds0, fds1, socks0, socks1, threads0, threads1, rss0, rss1, float64(rss1-rss0)/float64(2*n), 100*cpu.Seconds()/idle.Seconds())
	// Two UDP ports (the listener's, the shared dial port) and their UDT
	// threads; some slack for the runtime's own threads.
	if socks1-socks0 > 4 {
		t.Errorf("%d connections opened %d sockets", 2*n, socks1-socks0)
	}
	if n := childSockets(t); n != inherited0 {
		t.Errorf("a child process inherits %d sockets with the conns up, %d before", n, inherited0)
	}
	if threads1-threads0 > 16 {
		t.Errorf("%d connections with blocked readers added %d OS threads", 2*n, threads1-threads0)
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
}
