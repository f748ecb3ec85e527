package cudt

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// portReads is how many times the ports of sockets us read, per port and
// second, over d: their receiving threads' passes.
func portReads(t *testing.T, d time.Duration, us ...int) []float64 {
	t.Helper()
	r0 := make([]int64, len(us))
	for i, u := range us {
		if r0[i] = PortReads(u); r0[i] < 0 {
			t.Fatalf("socket %d: its port's reads are not counted", u)
		}
	}
	start := time.Now()
	time.Sleep(d)
	el := time.Since(start).Seconds()
	rates := make([]float64, len(us))
	for i, u := range us {
		rates[i] = float64(PortReads(u)-r0[i]) / el
	}
	return rates
}

// waitQuiet waits until ports have begun waiting past UDT's own timeout.
func waitQuiet(t *testing.T, n uint64) {
	t.Helper()
	w0 := QuietWaits()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if QuietWaits() >= w0+n {
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
	// The dialing end's port, and the listener's (which the accepted end
	// shares).
	quiet := portReads(t, time.Second, c, s)
	t.Logf("quiet: %.1f and %.1f reads a second", quiet[0], quiet[1])
	// 10 deadlines a second and the keep-alives (one a second each way).
	for i, r := range quiet {
		if r > 30 {
			t.Errorf("idle port %d read %.1f times a second; want at most 30", i, r)
		}
	}
	// The same ports with UDT's own timeout: the counter sees its passes.
	SetQuiet(false)
	loud := portReads(t, 500*time.Millisecond, c, s)
	SetQuiet(true)
	t.Logf("UDT's own timeout: %.1f and %.1f reads a second", loud[0], loud[1])
	for i, r := range loud {
		if r < 50 || r < 2*quiet[i] {
			t.Errorf("with UDT's own timeout port %d read %.1f times a second, quiet %.1f: the counter does not see UDT's passes", i, r, quiet[i])
		}
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
