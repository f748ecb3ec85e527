package cudt

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// portReads is how many times each of UDT's ports read, per second, over d:
// the receiving thread's passes. Ports are counted by their threads (two
// each, beside the garbage collector's), before and after.
func portReads(d time.Duration) float64 {
	ports := (UDTThreads() - 1) / 2
	r0, _ := QuietCounts()
	start := time.Now()
	time.Sleep(d)
	r1, _ := QuietCounts()
	el := time.Since(start)
	if p := (UDTThreads() - 1) / 2; p > ports {
		ports = p
	}
	if ports < 1 {
		ports = 1
	}
	return float64(r1-r0) / float64(ports) / el.Seconds()
}

// waitQuiet waits until ports have begun waiting past UDT's own timeout.
func waitQuiet(t *testing.T, n uint64) {
	t.Helper()
	_, w0 := QuietCounts()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, w := QuietCounts(); w >= w0+n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no port waited past UDT's timeout in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A port with nothing to do makes a pass of UDT's loop a few times a
// second, where UDT makes one every 4 ms (its read timeout); what the
// passes do still happens: data sent after a quiet spell arrives whole,
// and a dial to a quiet listener connects.
func TestQuietPortsSleep(t *testing.T) {
	c, s := connected(t, SOCK_STREAM)
	waitQuiet(t, 2)
	quiet := portReads(time.Second)
	t.Logf("quiet: %.1f reads per port and second", quiet)
	// 10 deadlines a second, the keep-alives (one a second each way), and
	// other tests' ports going.
	if quiet > 40 {
		t.Errorf("idle ports read %.1f times a second each; want at most 40", quiet)
	}
	// The same ports with UDT's own timeout: the counter sees its passes.
	SetQuiet(false)
	loud := portReads(500 * time.Millisecond)
	SetQuiet(true)
	t.Logf("UDT's own timeout: %.1f reads per port and second", loud)
	if loud < 2*quiet || loud < 50 {
		t.Errorf("with UDT's own timeout ports read %.1f times a second each, quiet %.1f: the counter does not see UDT's passes", loud, quiet)
	}

	waitQuiet(t, 2)
	msg := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(msg)
	errc := make(chan error, 1)
	go func() {
		for b := msg; len(b) > 0; {
			n, err := Send(c, b, 0)
			if err != nil {
				errc <- err
				return
			}
			b = b[n:]
		}
		errc <- nil
	}()
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 64<<10)
	for len(got) < len(msg) {
		n, err := Recv(s, buf, 0)
		if err != nil {
			t.Fatalf("recv after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the data sent after a quiet spell arrived changed")
	}

	// A fresh pair: its listener's port waits before the dial comes.
	lo := Addr{Family: AF_INET, IP: [16]byte{127, 0, 0, 1}}
	l, err := Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	defer Close(l)
	must(t, Bind(l, &lo))
	must(t, Listen(l, 1))
	la, err := SockName(l)
	must(t, err)
	waitQuiet(t, 3)
	d, err := Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	defer Close(d)
	must(t, Connect(d, &la))
	a, _, err := Accept(l)
	must(t, err)
	defer Close(a)
	if _, err := Send(d, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := Recv(a, buf, 0); err != nil || n != 1 || buf[0] != 'x' {
		t.Fatalf("recv on a connection dialed to a quiet listener: %d bytes, %v", n, err)
	}
}
