package udt

import (
	"testing"
)

// The zero EpollEvents waits for every kind of event instead of nothing.
func TestZeroEpollEventsWaitsForAll(t *testing.T) {
	t.Parallel()
	c, _ := pair(t, Stream, loop4)
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Release()
	if err := ep.AddUsock(c.ID(), EventOut); err != nil {
		t.Fatal(err)
	}
	defer ep.RemoveUsock(c.ID())
	var ev EpollEvents
	n, err := ep.Wait(&ev, timeoutUpperBound)
	if err != nil || n != 1 || len(ev.Write) != 1 || ev.Write[0] != c.ID() {
		t.Fatalf("Wait(zero EpollEvents) = %d, %v, %+v; want the writable socket", n, err, ev)
	}
	if cap(ev.Read) != DefaultEpollEvents || cap(ev.SysWrite) != DefaultEpollEvents {
		t.Fatalf("capacities %d, %d; want DefaultEpollEvents", cap(ev.Read), cap(ev.SysWrite))
	}
}
