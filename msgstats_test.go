package udt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// ReadMsg returns whole messages, byte for byte, and says which ones did
// not fit: every message is checked by its sha256, the truncated ones by
// their prefix.
func TestReadMsgReportsTruncation(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{Message: true})
	rng := rand.New(rand.NewPCG(13, 1))
	sizes := []int{1, 1000, 1472, 1473, 9000, 70000, 300000, 5, 64 << 10, 64<<10 + 1}
	msgs := make([][]byte, len(sizes))
	for i, n := range sizes {
		msgs[i] = make([]byte, n)
		for j := range msgs[i] {
			msgs[i][j] = byte(rng.Uint32())
		}
	}
	go func() {
		for _, m := range msgs {
			if _, err := c.Write(m); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for i, m := range msgs {
		s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
		n, trunc, err := s.ReadMsg(buf)
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(m), err)
		}
		if want := len(m) > len(buf); trunc != want {
			t.Errorf("message %d of %d bytes into %d: truncated %v, want %v", i, len(m), len(buf), trunc, want)
		}
		if trunc {
			if n != len(buf) || !bytes.Equal(buf[:n], m[:n]) {
				t.Errorf("truncated message %d: %d bytes, or not its prefix", i, n)
			}
			continue
		}
		if n != len(m) || sha256.Sum256(buf[:n]) != sha256.Sum256(m) {
			t.Errorf("message %d: %d bytes, want %d, or its sha256 differs", i, n, len(m))
		}
	}
}

// A buffer at least UDT_RCVBUF long is read into directly (no message can
// be longer), a one-byte one truncates everything longer, an empty one
// takes a message and discards it.
func TestReadMsgBufferSizes(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{Message: true, RecvBuffer: 1 << 20})
	for _, m := range []string{"ab", "c", "discarded", "whole"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
	one := make([]byte, 1)
	if n, trunc, err := s.ReadMsg(one); err != nil || n != 1 || !trunc || one[0] != 'a' {
		t.Fatalf("ReadMsg(1 byte) of \"ab\" = %d %q, %v, %v; want 1 \"a\" truncated", n, one[:n], trunc, err)
	}
	if n, trunc, err := s.ReadMsg(one); err != nil || n != 1 || trunc || one[0] != 'c' {
		t.Fatalf("ReadMsg(1 byte) of \"c\" = %d %q, %v, %v; want 1 \"c\" whole", n, one[:n], trunc, err)
	}
	if n, trunc, err := s.ReadMsg(nil); err != nil || n != 0 || !trunc {
		t.Fatalf("ReadMsg(nil) = %d, %v, %v; want 0, truncated", n, trunc, err)
	}
	big := make([]byte, 2<<20)
	if n, trunc, err := s.ReadMsg(big); err != nil || trunc || string(big[:n]) != "whole" {
		t.Fatalf("ReadMsg(2 MiB) = %q, %v, %v", big[:n], trunc, err)
	}
	if s.msgBound.Load() <= 1 || s.msgBound.Load() > int64(len(big)) {
		t.Fatalf("message bound %d: want UDT_RCVBUF+1, at most %d", s.msgBound.Load(), len(big))
	}
	if got := s.nread.Load(); got != int64(len("a")+len("c")+len("whole")) {
		t.Fatalf("bytes read counted %d, want what the caller got (7)", got)
	}
	stream, _ := connPair(t, Config{})
	if _, _, err := stream.ReadMsg(buf8()); CodeOf(err) != ErrStreamIll {
		t.Fatalf("ReadMsg on a stream connection: %v, want ErrStreamIll", err)
	}
}

func buf8() []byte { return make([]byte, 8) }

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

func TestSetMaxSendRate(t *testing.T) {
	t.Parallel()
	c, _ := connPair(t, Config{MaxSendRate: 80 * Mbps})
	if v, err := c.Socket().MaxBandwidth(); err != nil || v != 10_000_000 {
		t.Fatalf("UDT_MAXBW after Config.MaxSendRate 80 Mbit/s = %d, %v; want 10000000 bytes/s", v, err)
	}
	if err := c.SetMaxSendRate(0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Socket().MaxBandwidth(); err != nil || v != -1 {
		t.Fatalf("UDT_MAXBW after SetMaxSendRate(0) = %d, %v; want -1 (no cap)", v, err)
	}
	if err := c.SetMaxSendRate(-5); CodeOf(err) != ErrInvParam {
		t.Fatalf("SetMaxSendRate(-5) = %v, want ErrInvParam", err)
	}
	c.Close()
	if err := c.SetMaxSendRate(Mbps); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetMaxSendRate after Close = %v, want net.ErrClosed", err)
	}
}

func TestBitRateString(t *testing.T) {
	for r, want := range map[BitRate]string{
		0: "0 bit/s", 999: "999 bit/s", 1500: "1.5 kbit/s", 94_300_000: "94.3 Mbit/s",
		100 * Mbps: "100 Mbit/s", 1_250_000_000: "1.25 Gbit/s", 12_345 * Gbps: "12345 Gbit/s", -2 * Mbps: "-2 Mbit/s",
	} {
		if got := r.String(); got != want {
			t.Errorf("BitRate(%d) = %q, want %q", int64(r), got, want)
		}
	}
}
