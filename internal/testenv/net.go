package testenv

import (
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/netem"
)

// Exchange sends size bytes each way over a and b at once and fails the
// test unless both arrive intact: a connection that survived whatever the
// test did to it must still carry data, both ways.
func Exchange(t *testing.T, what string, a, b net.Conn, size int64) {
	t.Helper()
	deadline := time.Now().Add(TimeoutUpperBound)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	var wg sync.WaitGroup
	sums := make([][32]byte, 4)
	errs := make([]error, 4)
	for i, c := range []net.Conn{a, b} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			h := sha256.New()
			_, errs[2*i] = io.CopyN(io.MultiWriter(c, h), Pattern(uint64(i+100)), size)
			sums[2*i] = [32]byte(h.Sum(nil))
		}()
		go func() {
			defer wg.Done()
			h := sha256.New()
			_, errs[2*i+1] = io.CopyN(h, c, size)
			sums[2*i+1] = [32]byte(h.Sum(nil))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: stream %d: %v", what, i, err)
		}
	}
	if sums[0] != sums[3] || sums[2] != sums[1] {
		t.Fatalf("%s: data differs", what)
	}
}

// LossyPath is the emulated path of the loss tests, both ways: a little
// delay and jitter, 1 % loss of any packet (handshakes, ACKs and
// shutdowns too), 1 % reordering.
func LossyPath(seed uint64) netem.Config {
	return netem.Config{Delay: time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.01, Reorder: 0.01, Seed: seed}
}

// Relay starts a LossyPath each way in front of the UDP port at to, closed
// at the test's end; dial the relay's address instead of to.
func Relay(t testing.TB, to netip.AddrPort, seed uint64) *netem.UDPRelay {
	t.Helper()
	r, err := netem.NewUDPRelay(to, LossyPath(seed), LossyPath(seed+1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}
