package systest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/netem"
	"github.com/udtgo/udt/internal/testenv"
)

func TestStream256MiBBothWays(t *testing.T) {
	t.Parallel()
	const n = 256 << 20
	c, s := pair(t, udt.Stream, loop4)
	type result struct {
		sum [32]byte
		err error
	}
	run := func(f func() ([32]byte, error)) chan result {
		ch := make(chan result, 1)
		go func() { sum, err := f(); ch <- result{sum, err} }()
		return ch
	}
	start := time.Now()
	up := run(func() ([32]byte, error) { return sendAll(c, testenv.Pattern(1), n) })
	down := run(func() ([32]byte, error) { return sendAll(s, testenv.Pattern(2), n) })
	gotUp := run(func() ([32]byte, error) { return recvAll(s, n) })
	gotDown := run(func() ([32]byte, error) { return recvAll(c, n) })
	for _, p := range []struct {
		name      string
		sent, got chan result
	}{{"client to server", up, gotUp}, {"server to client", down, gotDown}} {
		sent, got := <-p.sent, <-p.got
		if sent.err != nil || got.err != nil {
			t.Fatalf("%s: send %v, recv %v", p.name, sent.err, got.err)
		}
		if sent.sum != got.sum {
			t.Fatalf("%s: sha256 sent %x, received %x", p.name, sent.sum, got.sum)
		}
	}
	t.Logf("2 x 256 MiB at once in %v", time.Since(start).Round(time.Millisecond))
}

func TestTenThousandMessagesKeepBoundaries(t *testing.T) {
	t.Parallel()
	const count = 10000
	c, s := pair(t, udt.Datagram, loop4)
	sizes := make([]int, count)
	for i := range sizes {
		sizes[i] = 8 + (i*7919)%9000 // 8 bytes to several packets
	}
	errc := make(chan error, 1)
	go func() {
		for i, size := range sizes {
			if n, err := c.SendMsg(testenv.Message(i, size), 0, true); err != nil || n != size {
				errc <- errors.New("sendmsg " + strconv.Itoa(i) + ": " + errString(err))
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 16384)
	for want := 0; want < count; want++ {
		n, err := s.RecvMsg(buf)
		if err != nil {
			t.Fatalf("RecvMsg %d: %v", want, err)
		}
		i, err := testenv.CheckMessage(buf[:n])
		if err != nil {
			t.Fatalf("message %d: %v", want, err)
		}
		if i != want {
			t.Fatalf("in-order message %d arrived as number %d", want, i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "short"
	}
	return err.Error()
}

func TestRecvMsgTruncatesToBuffer(t *testing.T) {
	t.Parallel()
	c, s := pair(t, udt.Datagram, loop4)
	long := testenv.Message(1, 3000)
	c.SendMsg(long, 0, true)
	c.SendMsg(testenv.Message(2, 100), 0, true)
	small := make([]byte, 1000)
	n, err := s.RecvMsg(small)
	if err != nil || n != len(small) || !bytes.Equal(small, long[:1000]) {
		t.Fatalf("short buffer: %d, %v", n, err)
	}
	// The rest of the long message is gone; the next read is the next message.
	buf := make([]byte, 4096)
	n, err = s.RecvMsg(buf)
	if err != nil {
		t.Fatal(err)
	}
	if i, err := testenv.CheckMessage(buf[:n]); err != nil || i != 2 {
		t.Fatalf("after a truncated message got message %d (%v)", i, err)
	}
}

// Messages with a TTL are dropped when loss delays them past it; others are
// retransmitted until they arrive. Loopback loses nothing, so a relay drops
// a tenth of the data packets.
func TestMessageTTLUnderLoss(t *testing.T) {
	t.Parallel()
	// UDT's own congestion control reads random loss as congestion and slows
	// to a crawl; a fixed rate keeps the test about loss recovery alone.
	fixed := func(s udt.Socket) {
		if err := s.SetCongestionControl(udt.CongestionControl{Kind: udt.CCFixedRate, Mbps: 50}); err != nil {
			t.Fatal(err)
		}
	}
	l, la := listener(t, udt.Datagram, loop4, fixed)
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"no ttl", 0}, {"ttl 1ms", time.Millisecond}} {
		// 10 % of the data packets lost each way; control packets pass.
		lossy := netem.Config{Loss: 0.1, Lossy: netem.UDTData, Seed: 1}
		relay, err := netem.NewUDPRelay(la, lossy, lossy)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(relay.Close)
		c, s := dialAccept(t, l, relay.Addr(), udt.Datagram, fixed)
		const count = 1000
		// The sender is done when its buffer is empty: every packet
		// acknowledged. With TTL drops UDT 4.11 may never get there (the
		// receiver's ACK can stall at a message dropped before any packet of
		// it arrived), so the wait is bounded.
		// Bounded, so a stall in UDT cannot hang the test.
		c.SetSendTimeout(testenv.TimeoutUpperBound)
		giveUp := time.Now().Add(time.Minute)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for i := 0; i < count; i++ {
				c.SendMsg(testenv.Message(i, 1000), tc.ttl, false)
			}
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if n, err := c.SendData(); err != nil || n == 0 {
					return
				}
			}
		}()
		// The receiver polls without blocking: UDT 4.11's blocking recvmsg
		// can miss the wake-up for messages completed by a TTL drop, and
		// with UDT_RCVTIMEO it waits for one more arrival before each read.
		// Out of order, because in order its receiver waits forever for a
		// message the sender dropped before any of its packets arrived.
		if err := s.SetRecvBlocking(false); err != nil {
			t.Fatal(err)
		}
		got := map[int]bool{}
		buf := make([]byte, 2048)
		var quietSince time.Time
		for len(got) < count {
			if time.Now().After(giveUp) {
				t.Fatalf("%s: %d messages after a minute", tc.name, len(got))
			}
			n, err := s.RecvMsg(buf)
			if udt.CodeOf(err) == udt.ErrAsyncRcv {
				select {
				case <-sent:
					if quietSince.IsZero() {
						quietSince = time.Now()
					}
				default:
				}
				// Without a TTL every message comes, however slow the
				// machine: only with one can quiet mean the end.
				if tc.ttl > 0 && !quietSince.IsZero() && time.Since(quietSince) > 200*time.Millisecond {
					break
				}
				time.Sleep(time.Millisecond)
				continue
			}
			quietSince = time.Time{}
			if err != nil {
				t.Fatalf("%s: RecvMsg after %d messages: %v", tc.name, len(got), err)
			}
			i, err := testenv.CheckMessage(buf[:n])
			if err != nil {
				t.Fatalf("%s: message %d: %v", tc.name, i, err)
			}
			if got[i] {
				t.Fatalf("%s: message %d delivered twice", tc.name, i)
			}
			got[i] = true
		}
		<-sent
		up, down := relay.Stats()
		dropped := up.Lost + down.Lost
		t.Logf("%s: %d of %d messages delivered; relay dropped %d data packets", tc.name, len(got), count, dropped)
		if dropped == 0 {
			t.Fatalf("%s: the relay dropped nothing", tc.name)
		}
		if tc.ttl == 0 && len(got) != count {
			t.Fatalf("no ttl: %d of %d messages delivered", len(got), count)
		}
		if tc.ttl > 0 && len(got) >= count {
			t.Fatalf("ttl: all %d messages delivered although %d packets were lost", count, dropped)
		}
	}
}

func TestSendFileRecvFile64MiBAtOffset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const size = 64 << 20
	const srcOff, dstOff = 12345, 777
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(f, testenv.Pattern(9), srcOff+size+1000)
	f.Close()

	c, s := pair(t, udt.Stream, loop4)
	type res struct {
		n   int64
		err error
	}
	sent := make(chan res, 1)
	go func() { n, err := c.SendFile(src, srcOff, size, 0); sent <- res{n, err} }()
	dst := filepath.Join(dir, "dst")
	n, err := s.RecvFile(dst, dstOff, size, 0)
	if err != nil || n != size {
		t.Fatalf("RecvFile = %d, %v", n, err)
	}
	if r := <-sent; r.err != nil || r.n != size {
		t.Fatalf("SendFile = %d, %v", r.n, r.err)
	}
	want := sha256.New()
	sf, _ := os.Open(src)
	defer sf.Close()
	io.Copy(want, io.NewSectionReader(sf, srcOff, size))
	got := sha256.New()
	df, _ := os.Open(dst)
	defer df.Close()
	st, _ := df.Stat()
	if st.Size() != dstOff+size {
		t.Fatalf("received file is %d bytes, want %d", st.Size(), dstOff+size)
	}
	io.Copy(got, io.NewSectionReader(df, dstOff, size))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("sha256 of the range: sent %x, received %x", want.Sum(nil), got.Sum(nil))
	}
}
