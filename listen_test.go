package udt

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/testenv"
)

func TestListenerDeadline(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	l.SetDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err := l.Accept()
	if !testenv.IsTimeout(err) {
		t.Fatalf("Accept past its deadline: %v", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("Accept timed out after %v, before its deadline", d)
	}
	// Cleared, it accepts again.
	l.SetDeadline(time.Time{})
	dialed := make(chan net.Conn, 1)
	go func() {
		d, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Error(err)
		}
		dialed <- d
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Closed, not left to the garbage collector: an open Conn keeps the
	// poller running, which TestMain's leak check would see when this test
	// runs alone.
	if d := <-dialed; d != nil {
		d.Close()
	}
	l.Close()
	if err := l.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetDeadline after Close: %v", err)
	}
}

// Accepted conns and listeners dropped without Close are released too.
func TestForgottenListenerAndAcceptedConns(t *testing.T) {
	// Not parallel: it forces collections.
	var socks []Socket
	var dialed []net.Conn // kept open: only the cleanups may close the rest
	defer func() {
		for _, c := range dialed {
			c.Close()
		}
	}()
	func() {
		var lc ListenConfig
		l, err := lc.listen(context.Background(), "udt", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, l.fd.pd.s)
		for range 20 {
			c, err := Dial("udt", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			dialed = append(dialed, c)
			a, err := l.AcceptUDT()
			if err != nil {
				t.Fatal(err)
			}
			socks = append(socks, a.Socket())
		}
	}()
	for deadline := time.Now().Add(timeoutUpperBound); ; time.Sleep(20 * time.Millisecond) {
		runtime.GC()
		open := 0
		for _, s := range socks {
			if st := s.SockState(); st != StatusClosed && st != StatusNonexist && st != StatusClosing {
				open++
			}
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dropped listener and accepted sockets still open", open, len(socks))
		}
	}
}

// A closed listener's port takes a new listener at once, and that one
// gets the next dial. UDT 4.11 keeps a closed listener on its port until
// its garbage collector deletes it, 4 to 5 s later, and refused a Listen
// meanwhile with EDUPLISTEN.
// UDT 4.11 keeps each connection a listener accepted on a list until the
// connection breaks; one the program closed first stayed there for the
// listener's life, 40 bytes each (cudt/dial.h).
func TestClosedConnsLeaveListener(t *testing.T) {
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	id := int32(l.fd.pd.s.ID())
	const n = 50
	for range n {
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		// The accepted end closes first, while healthy: UDT's own
		// cleanup of the list runs only for a connection that broke.
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if got := cudt.AcceptedCount(id); got != 0 {
		t.Fatalf("UDT lists %d connections as accepted by the listener after all %d closed", got, n)
	}
	// The count reads the listener's list: a connection not yet closed
	// is on it.
	c, err := Dial("udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := cudt.AcceptedCount(id); got != 1 {
		t.Fatalf("UDT lists %d connections as accepted by the listener with one open", got)
	}
}

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
