package udt

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/udtgo/udt/internal/testenv"
)

// A Listener on every address reports 0.0.0.0:port (or [::]:port); as with
// Go's net package, dialing that address reaches the local system, by
// every way of dialing.
func TestDialUnspecifiedAddress(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"udt4", "udt6"} {
		l, err := ListenUDT(network, nil)
		if err != nil {
			if network == "udt6" {
				t.Logf("no IPv6 listener: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer l.Close()
		la := l.Addr().(*Addr)
		if !la.Addr().IsUnspecified() {
			t.Fatalf("ListenUDT(%q, nil).Addr() = %v, want an unspecified address", network, la)
		}
		port := strconv.Itoa(int(la.Port()))
		tr, err := NewTransport(network, ":0", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		dials := []struct {
			name string
			dial func() (net.Conn, error)
		}{
			{"Dial", func() (net.Conn, error) { return Dial(network, la.String()) }},
			{"Dial empty host", func() (net.Conn, error) { return Dial(network, ":"+port) }},
			{"DialUDT", func() (net.Conn, error) { return DialUDT(network, nil, la) }},
			{"Dialer", func() (net.Conn, error) {
				var d Dialer
				return d.DialContext(context.Background(), network, la.String())
			}},
			{"Transport", func() (net.Conn, error) { return tr.Dial(network, la.String()) }},
		}
		for _, d := range dials {
			acc := acceptAsync(l)
			c, err := d.dial()
			if err != nil {
				t.Fatalf("%s %s to %v: %v", network, d.name, la, err)
			}
			s := <-acc
			if s == nil {
				c.Close()
				t.Fatalf("%s %s: Accept failed", network, d.name)
			}
			if ra := c.RemoteAddr().(*Addr).Addr(); !ra.IsLoopback() {
				t.Errorf("%s %s: RemoteAddr %v, want a loopback address", network, d.name, ra)
			}
			testenv.Exchange(t, network+" "+d.name, c, s, 64<<10)
			c.Close()
			s.Close()
		}
	}
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
