package udt

import (
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/heaptrim"
)

// theTrim hands back the C heap of the sockets UDT has deleted
// (internal/heaptrim says when; SetHeapPolicy can turn it off); what the
// shim keeps warm for the next connections, once the closes stop.
var theTrim = heaptrim.New(func() uint64 { return cudt.Heap().Free }, func(quiet bool) bool {
	if quiet {
		return cudt.TrimHeap()
	}
	return cudt.TrimHeapKeepWarm()
})

// noteSocketClosed is called once for each socket closed in UDT.
func noteSocketClosed() { theTrim.Closed(time.Now()) }

// settleTrim trims now and cancels the checks pending (heaptrim's Settle):
// for measurements.
func settleTrim() { theTrim.Settle() }

// trimStats reports the trims so far and the time they took.
func trimStats() (trims int64, took time.Duration) { return theTrim.Stats() }
