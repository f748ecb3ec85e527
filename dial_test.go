package udt

import (
	"testing"

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
