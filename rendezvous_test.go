package udt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/internal/wanlab"
)

// rendezvousPair connects a and b to each other by a rendezvous from
// their ports, both sides at once.
func rendezvousPair(t *testing.T, a, b func(context.Context) (*Conn, error)) (ca, cb *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeoutUpperBound)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	chA, chB := make(chan res, 1), make(chan res, 1)
	go func() { c, err := a(ctx); chA <- res{c, err} }()
	go func() { c, err := b(ctx); chB <- res{c, err} }()
	ra, rb := <-chA, <-chB
	if ra.err != nil || rb.err != nil {
		if ra.c != nil {
			ra.c.Close()
		}
		if rb.c != nil {
			rb.c.Close()
		}
		t.Fatalf("rendezvous: %v; %v", ra.err, rb.err)
	}
	t.Cleanup(func() { ra.c.SetLinger(0); ra.c.Close(); rb.c.SetLinger(0); rb.c.Close() })
	return ra.c, rb.c
}

func TestRendezvousLoopback(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, {Message: true}} {
		ta, err := NewTransport("udt", "127.0.0.1:0", &cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ta.Close()
		tb, err := NewTransport("udt", "127.0.0.1:0", &cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		a, b := rendezvousPair(t,
			func(ctx context.Context) (*Conn, error) {
				return ta.Rendezvous(ctx, "udt", tb.LocalAddr().String())
			},
			func(ctx context.Context) (*Conn, error) {
				// One side starts later: the first keeps asking.
				time.Sleep(300 * time.Millisecond)
				return tb.Rendezvous(ctx, "udt", ta.LocalAddr().String())
			})
		if got, want := a.RemoteAddr().String(), tb.LocalAddr().String(); got != want {
			t.Errorf("RemoteAddr %s, want the peer transport's %s", got, want)
		}
		if got, want := a.LocalAddr().(*Addr).Port(), ta.LocalAddr().(*Addr).Port(); got != want {
			t.Errorf("rendezvous connection on port %d, its transport on %d", got, want)
		}
		if cfg.Message {
			for i, m := range []string{"first", "second message"} {
				if _, err := a.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				n, err := b.Read(buf)
				if err != nil || string(buf[:n]) != m {
					t.Fatalf("message %d: %q, %v; want %q", i, buf[:n], err, m)
				}
			}
			continue
		}
		testenv.Exchange(t, "rendezvous", a, b, 8<<20)
		// After the handshake the port can take a listener.
		l, err := ta.ListenUDT()
		if err != nil {
			t.Fatalf("listener on a port with a rendezvous connection: %v", err)
		}
		l.Close()
	}
}

// TestRendezvousDialerAndPackage joins a Transport's port by number with
// Dialer.Rendezvous and the package-level Rendezvous: ports that the tests
// need not pick in advance.
func TestRendezvousDialerAndPackage(t *testing.T) {
	t.Parallel()
	ta, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	a, b := rendezvousPair(t,
		func(ctx context.Context) (*Conn, error) {
			d := Dialer{LocalAddr: ta.LocalAddr()}
			return d.Rendezvous(ctx, "udt", tb.LocalAddr().String())
		},
		func(ctx context.Context) (*Conn, error) {
			return Rendezvous(ctx, "udt4", tb.LocalAddr().String(), ta.LocalAddr().String())
		})
	testenv.Exchange(t, "rendezvous by Dialer and package", a, b, 1<<20)
}

func TestRendezvousTimesOut(t *testing.T) {
	t.Parallel()
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tr, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = tr.Rendezvous(ctx, "udt", silent.LocalAddr().String())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("rendezvous with a silent peer: %v, want a timeout", err)
	}
	// Meanwhile a listener may open on the port again.
	l, err := tr.ListenUDT()
	if err != nil {
		t.Fatalf("listener after a rendezvous gave up: %v", err)
	}
	l.Close()
}

// Rendezvous with the peer's port given as 0.0.0.0:port meets the peer
// on this machine.
func TestRendezvousUnspecifiedRemote(t *testing.T) {
	t.Parallel()
	ta, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	unspec := netip.AddrPortFrom(netip.IPv4Unspecified(), tb.LocalAddr().(*Addr).Port())
	a, b := rendezvousPair(t,
		func(ctx context.Context) (*Conn, error) { return ta.Rendezvous(ctx, "udt", unspec.String()) },
		func(ctx context.Context) (*Conn, error) { return tb.Rendezvous(ctx, "udt", ta.LocalAddr().String()) })
	testenv.Exchange(t, "rendezvous to 0.0.0.0", a, b, 64<<10)
}

// TestRendezvousThroughStatefulFilter crosses two network namespaces
// (the WAN lab's, joined by its user-space emulator) whose emulator lets
// into each side only replies to flows that side opened, as a NAT or a
// stateful firewall does. A plain dial from one side to a listener on the
// other is dropped; a rendezvous, where both sides send first, gets
// through, and data crosses it intact both ways. It needs root, TUN and
// iproute2's ip, and skips without them.
func TestRendezvousThroughStatefulFilter(t *testing.T) {
	if err := wanlab.CanRun(); err != nil {
		t.Skip(err)
	}
	lab, err := wanlab.New(wanlab.Options{Prefix: "udtrdv", Subnet: netip.MustParsePrefix("10.214.0.0/30")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
		for _, ns := range lab.NS {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				t.Errorf("namespace %s is still there after the lab closed", ns)
			}
		}
	})
	filter := wanlab.NewStatefulFilter(wanlab.A, wanlab.B)
	lab.Filter(filter.Pass)

	// Sockets are opened on a thread inside their namespace (Lab.Do), so
	// every call that binds one runs there.
	transport := func(s wanlab.Side) *Transport {
		var tr *Transport
		err := lab.Do(s, func() (err error) {
			tr, err = NewTransport("udt4", netip.AddrPortFrom(lab.Addr[s], 0).String(), nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}

	// A plain dial from A to a listener in B: B's side drops it.
	dialer, server := transport(wanlab.A), transport(wanlab.B)
	l, err := server.ListenUDT()
	if err != nil {
		t.Fatal(err)
	}
	err = lab.Do(wanlab.A, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		c, err := dialer.DialUDT(ctx, "udt", server.LocalAddr().String())
		if err == nil {
			c.Close()
			return errors.New("a plain dial crossed the stateful filter")
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.New("plain dial: " + err.Error() + "; want a timeout")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if filter.Dropped(wanlab.B) == 0 {
		t.Fatal("the filter dropped nothing on its way to B, yet the dial failed")
	}
	l.Close()
	t.Logf("plain dial A -> B: timed out, %d datagrams dropped before B", filter.Dropped(wanlab.B))

	// A rendezvous between two other ports gets through.
	ta, tb := transport(wanlab.A), transport(wanlab.B)
	droppedA, droppedB := filter.Dropped(wanlab.A), filter.Dropped(wanlab.B)
	on := func(s wanlab.Side, tr, peer *Transport) func(context.Context) (*Conn, error) {
		return func(ctx context.Context) (c *Conn, err error) {
			err = lab.Do(s, func() (err error) {
				c, err = tr.Rendezvous(ctx, "udt", peer.LocalAddr().String())
				return err
			})
			return c, err
		}
	}
	a, b := rendezvousPair(t, on(wanlab.A, ta, tb), on(wanlab.B, tb, ta))
	testenv.Exchange(t, "rendezvous through the filter", a, b, 4<<20)
	t.Logf("rendezvous %v <-> %v: 4 MiB each way intact; the filter dropped %d datagrams to A and %d to B meanwhile",
		a.LocalAddr(), b.LocalAddr(), filter.Dropped(wanlab.A)-droppedA, filter.Dropped(wanlab.B)-droppedB)
}

// The exported default is spelled out for go doc; the dial follows UDT's
// own limit, which the two must not drift apart from.
func TestRendezvousTTLIsTheDefault(t *testing.T) {
	if DefaultRendezvousTimeout != rendezvousTTL {
		t.Fatalf("DefaultRendezvousTimeout %v, but a rendezvous dial gives up after %v", DefaultRendezvousTimeout, rendezvousTTL)
	}
}
