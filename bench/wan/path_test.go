package main

import (
	"testing"
	"time"
)

// The scenarios' path: half the round trip each way, loss as a fraction,
// a queue of one BDP, never under 100 full packets.
func TestBenchPath(t *testing.T) {
	c := benchPath(100e6, 100, 1)
	if c.Delay != 50*time.Millisecond || c.Loss != 0.01 || c.Rate != 100e6 || c.QueueBytes != 1_250_000 {
		t.Errorf("100 Mbit/s, 100 ms, 1 %%: %+v", c)
	}
	if c := benchPath(100e6, 1, 0); c.QueueBytes != 100*1500 {
		t.Errorf("1 ms: queue %d bytes, want the 100-packet floor", c.QueueBytes)
	}
}
