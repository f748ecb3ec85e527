package udt

import (
	"io"
	"testing"
	"time"
)

// SendBusy, in Stats and in the Perf mirror, is never the garbage UDT 4.11
// computes (it mixes a wall-clock start with CPU timestamps): within
// each interval, no more than the interval or the time since the start,
// and the totals never go down, while sending, when idle, and after Close.
func TestStatsSendBusyIsSane(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	go io.Copy(io.Discard, s)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(writerOnly{c}, pattern(7), 32<<20)
		done <- err
	}()
	var prev Stats
	check := func(what string) {
		t.Helper()
		st, err := c.Stats()
		if err != nil {
			t.Fatalf("%s: Stats: %v", what, err)
		}
		iv, tot := st.Interval.SendBusy, st.Total.SendBusy
		if iv < 0 || iv > st.Interval.Duration || tot < 0 || tot > st.Elapsed+time.Millisecond || tot < prev.Total.SendBusy {
			t.Fatalf("%s: SendBusy interval %v of %v, total %v (was %v) of %v elapsed", what, iv, st.Interval.Duration, tot, prev.Total.SendBusy, st.Elapsed)
		}
		prev = st
		if st.Ended {
			return
		}
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
	c.Close()
	check("after Close")
}
