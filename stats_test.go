package udt

import (
	"io"
	"testing"
	"time"
)

// Stats' interval covers the time since the previous call: after an idle
// spell it counts nothing sent, while the totals keep everything; and the
// totals stay readable after EOF and after Close.
func TestStatsIntervalsTotalsAndEnd(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	const size = 4 << 20
	drained := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, s, size)
		drained <- err
	}()
	st0, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(writerOnly{c}, pattern(3), size); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	st1, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	mss := 1500 - udpIPHeaders - udtHeader
	if st1.Interval.BytesWritten != size || st1.Total.BytesWritten != size {
		t.Fatalf("bytes written: interval %d, total %d; want %d", st1.Interval.BytesWritten, st1.Total.BytesWritten, size)
	}
	if st1.Interval.PacketsSent < size/int64(mss) || st1.Interval.PacketsSent != st1.Total.PacketsSent-st0.Total.PacketsSent {
		t.Fatalf("packets sent: interval %d, totals %d then %d", st1.Interval.PacketsSent, st0.Total.PacketsSent, st1.Total.PacketsSent)
	}
	if st1.Interval.SendRate <= 0 || st1.Interval.WriteRate <= 0 || st1.Interval.Duration <= 0 || st1.Elapsed <= 0 || st1.RTT <= 0 {
		t.Fatalf("implausible stats: %+v", st1)
	}
	st2, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st2.Interval.PacketsSent != 0 || st2.Interval.BytesWritten != 0 || st2.Interval.SendRate != 0 || st2.Total.PacketsSent < st1.Total.PacketsSent {
		t.Fatalf("after an idle spell: interval %+v, total sent %d (was %d); want an empty interval", st2.Interval, st2.Total.PacketsSent, st1.Total.PacketsSent)
	}
	if st2.Total.SendRate >= st1.Interval.SendRate*2 {
		t.Fatalf("the average since the start (%v) should not exceed the busy interval's rate (%v)", st2.Total.SendRate, st1.Interval.SendRate)
	}

	// The receiver, after the peer's Close: EOF, and the figures stay.
	// Flush means the peer's UDT has every byte, not that the reader took
	// them all: wait for it, or the read below may get the last of them.
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("the reader: %v", err)
		}
	case <-time.After(timeoutUpperBound):
		t.Fatalf("the reader has not taken the %d bytes %v after Flush", size, timeoutUpperBound)
	}
	sent := st2.Total.PacketsSent
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Stats()
	if err != nil || !cs.Ended || cs.Total.PacketsSent < sent || cs.Total.BytesWritten != size {
		t.Fatalf("Stats after Close = %+v, %v; want the final figures", cs, err)
	}
	s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after the peer's Close: %v, want EOF", err)
	}
	rs, err := s.Stats()
	if err != nil || !rs.Ended || rs.Total.BytesRead != size || rs.Total.PacketsReceived < size/int64(mss) {
		t.Fatalf("Stats after EOF = %+v, %v; want the final figures", rs, err)
	}
	// UDT deletes the socket a few seconds after the end: the figures stay.
	time.Sleep(10 * time.Millisecond)
	if again, err := s.Stats(); err != nil || again != rs {
		t.Fatalf("Stats again after EOF = %+v, %v; want the same final figures", again, err)
	}
	s.Close()
	if again, err := s.Stats(); err != nil || again != rs {
		t.Fatalf("Stats after EOF and Close = %+v, %v; want the same final figures", again, err)
	}
}

// Stats on a connection the peer closed, before Read reaches EOF: UDT's
// perfmon answers ECONNLOST then; Stats reads the totals anyway.
func TestStatsAfterPeerCloseBeforeEOF(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	if _, err := c.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the peer's close to reach UDT", func() bool {
		_, err := s.fd.lib.Perfmon(s.fd.pd.s, false)
		return err != nil
	})
	st, err := s.Stats()
	if err != nil || !st.Ended || st.Total.PacketsReceived == 0 {
		t.Fatalf("Stats after the peer closed = %+v, %v", st, err)
	}
	b := make([]byte, 16)
	n, err := s.Read(b)
	if err != nil || string(b[:n]) != "unread" {
		t.Fatalf("Read = %q, %v", b[:n], err)
	}
	if st, err := s.Stats(); err != nil || st.Total.BytesRead != 6 {
		t.Fatalf("Stats after the last Read = %+v, %v; want 6 bytes read", st, err)
	}
}
