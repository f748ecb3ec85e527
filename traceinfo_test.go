package udt

import (
	"io"
	"testing"
	"time"
)

// The Perf mirror's SndDuration is never the garbage UDT 4.11 computes (it
// mixes a wall-clock start with CPU timestamps): no more than the time
// since the start, while sending and when idle.
func TestPerfSndDurationIsSane(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	go io.Copy(io.Discard, s)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(writerOnly{c}, pattern(7), 32<<20)
		done <- err
	}()
	check := func(what string) {
		t.Helper()
		p, err := c.Socket().Perfmon(false)
		if err != nil {
			t.Fatalf("%s: Perfmon: %v", what, err)
		}
		if p.SndDuration < 0 || p.SndDuration > p.TimeStamp+time.Millisecond || p.SndDurationTotal < 0 || p.SndDurationTotal > p.TimeStamp+time.Millisecond {
			t.Fatalf("%s: Perf SndDuration %v, SndDurationTotal %v, %v since the start", what, p.SndDuration, p.SndDurationTotal, p.TimeStamp)
		}
	}
	for sending := true; sending; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			sending = false
		case <-time.After(20 * time.Millisecond):
		}
		check("while sending")
	}
	check("idle")
}
