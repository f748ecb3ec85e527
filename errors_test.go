package udt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// checkDeadlineErr asks of a deadline's error what docs/errors.md
// promises: UDT's ETIMEOUT (6003) reachable by CodeOf and errors.As, the
// system's and Go's timeouts, inside a *net.OpError as net's are.
func checkDeadlineErr(t *testing.T, what string, err error, also ...error) {
	t.Helper()
	var oe *net.OpError
	var ue *Error
	var ne net.Error
	switch {
	case err == nil:
		t.Fatalf("%s: no error", what)
	case CodeOf(err) != ErrTimeout:
		t.Errorf("%s: CodeOf(%v) = %v, want ETIMEOUT", what, err, CodeOf(err))
	case !errors.As(err, &ue) || ue.Code != ErrTimeout:
		t.Errorf("%s: %v: errors.As(*Error) gives no ETIMEOUT", what, err)
	case !errors.As(err, &oe):
		t.Errorf("%s: %v (%T) is not a *net.OpError", what, err, err)
	case !errors.As(err, &ne) || !ne.Timeout():
		t.Errorf("%s: %v: Timeout() is not true", what, err)
	}
	for _, target := range append([]error{os.ErrDeadlineExceeded, ErrTimeout, syscall.ETIMEDOUT}, also...) {
		if !errors.Is(err, target) {
			t.Errorf("%s: %v does not match %v", what, err, target)
		}
	}
}

func TestDeadlineErrorsCarryETIMEOUT(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{SendBuffer: bigSend})
	past := time.Now().Add(-time.Second)

	c.SetReadDeadline(past)
	_, err := c.Read(make([]byte, 1))
	checkDeadlineErr(t, "Read", err)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	checkDeadlineErr(t, "Read that waited", err)

	c.SetWriteDeadline(past)
	_, err = c.Write([]byte("x"))
	checkDeadlineErr(t, "Write", err)
	c.SetWriteDeadline(time.Time{})

	// Flush with ctx's deadline, while the peer does not read.
	go c.Write(make([]byte, 64<<20))
	waitSendData(t, c, overBigSend)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	checkDeadlineErr(t, "Flush", c.Flush(ctx), context.DeadlineExceeded)
	s.Close()

	l, err := ListenUDT("udt", &Addr{netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetDeadline(past)
	_, err = l.Accept()
	checkDeadlineErr(t, "Accept", err)
}
