package udt

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/udtgo/udt/cudt"
)

// UDT 4.11's receiving thread discards a packet when every unit of its
// port's queue is in use while its count of used units, which its threads
// update without a common lock, has drifted low. The test lowers the count
// on a fresh port (the drift that lost updates leave), fills the queue with
// data the receiver has not read yet, and checks that the packet that finds
// no unit is held rather than discarded: nothing is lost or resent.
func TestNoPacketLostToAMiscountedUnitQueue(t *testing.T) {
	for _, hold := range []bool{false, true} {
		t.Run(fmt.Sprintf("hold=%v", hold), func(t *testing.T) {
			cudt.SetUnitHoldForTesting(hold)
			defer cudt.SetUnitHoldForTesting(true)
			l := listenT(t, "udt", "127.0.0.1:0", Config{})
			// A port of its own for the receiver: its queue starts at UDT's
			// 32 units and serves nothing else.
			d := Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}}
			c, err := d.Dial("udt", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rc := c.(*Conn)
			if !cudt.DriftUnitCountForTesting(int(rc.Socket().ID()), 64) {
				t.Fatal("the receiving thread did not take the drift")
			}
			none0, held0 := cudt.NoUnitReads(), cudt.UnitsHeld()

			// About 70 packets, unread until all have come: the queue's 31
			// usable units fill before it grows.
			data := make([]byte, 100<<10)
			for i := range data {
				data[i] = byte(rand.Uint32())
			}
			go s.Write(data)
			waitFor(t, "the data to arrive unread", func() bool {
				st, err := rc.Stats()
				return err == nil && st.Total.PacketsReceived >= 40
			})
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the data read differs from the data written")
			}
			st, err := rc.Stats()
			if err != nil {
				t.Fatal(err)
			}
			none, held := cudt.NoUnitReads()-none0, cudt.UnitsHeld()-held0
			t.Logf("reads that found no unit %d, held %d; receiver found %d packets missing", none, held, st.Total.RecvLoss)
			if none == 0 {
				t.Fatal("no read found the queue full: the test did not reach the case")
			}
			if hold {
				if held != none {
					t.Errorf("%d reads found no unit, %d held: the rest were discarded", none, held)
				}
				if st.Total.RecvLoss != 0 {
					t.Errorf("the receiver found %d packets missing", st.Total.RecvLoss)
				}
			} else if held != 0 {
				t.Errorf("%d packets held with the hold off", held)
			}
		})
	}
}
