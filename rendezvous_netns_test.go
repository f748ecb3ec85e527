package udt

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/internal/wanlab"
)

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
