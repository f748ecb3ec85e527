package udt

import (
	"context"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
)

// dialSeq dials l n times one after another, closing each connection, and
// returns how many handshake requests UDT sent again after its 250 ms
// timer meanwhile.
func dialSeq(t *testing.T, l *Listener, n int) uint64 {
	t.Helper()
	before := ReadPollerStats().DialResendWaits
	for i := range n {
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.Close()
	}
	return ReadPollerStats().DialResendWaits - before
}

func acceptAll(l *Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// No dial on loopback waits for UDT's 250 ms resend. UDT 4.11 notes when
// it sent a connect's first request only after sending it; an answer the
// receive thread handled in between left the next request to the resend
// timer, 3 to 20 % of dials. A run on a machine so loaded that the
// listener itself took 250 ms to answer is retried once.
func TestDialsWaitForNoResend(t *testing.T) {
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	go acceptAll(l)
	n := 1000
	if testing.Short() {
		n = 200
	}
	waits := dialSeq(t, l, n)
	if waits > 0 {
		t.Logf("%d resends in %d dials; once more", waits, n)
		waits = dialSeq(t, l, n)
	}
	if waits > 0 {
		t.Errorf("%d of %d dials waited for UDT's 250 ms resend", waits, n)
	}
}

// Without the repair, UDT's race shows in the counter: the counter counts.
func TestDialResendCounterCounts(t *testing.T) {
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	go acceptAll(l)
	cudt.SetDialRepairForTesting(false)
	defer cudt.SetDialRepairForTesting(true)
	var waits uint64
	for round := 0; round < 20 && waits == 0; round++ {
		waits += dialSeq(t, l, 100)
	}
	t.Logf("without the repair: %d resend waits", waits)
	if waits == 0 {
		t.Error("2,000 dials without the repair and no resend counted")
	}
}

// A closed listener's port takes a new listener at once, and that one
// gets the next dial. UDT 4.11 keeps a closed listener on its port until
// its garbage collector deletes it, 4 to 5 s later, and refused a Listen
// meanwhile with EDUPLISTEN.
func TestListenAgainOnClosedPort(t *testing.T) {
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	addr := l.Addr().String()
	go acceptAll(l)
	c, err := Dial("udt", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	l.Close()
	start := time.Now()
	var l2 *Listener
	for {
		if l2, err = (&ListenConfig{}).ListenUDT(context.Background(), "udt", addr); err == nil {
			break
		}
		if time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("Listen on the closed listener's port still failed %v later: %v", time.Since(start), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer l2.Close()
	t.Logf("listening again after %v", time.Since(start))
	accepted := make(chan error, 1)
	go func() {
		a, err := l2.Accept()
		if err == nil {
			a.Close()
		}
		accepted <- err
	}()
	c, err = (&Dialer{Timeout: 5 * time.Second}).Dial("udt", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("the new listener's Accept: %v", err)
	}
}
