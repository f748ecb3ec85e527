package systest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/netem"
	"github.com/udtgo/udt/internal/testenv"
)

// transferSize picks a stream transfer's size: now and then nothing or the
// largest, otherwise log-uniform up to max, so that small and large sizes
// are both common.
func transferSize(rng *rand.Rand, max int64) int64 {
	switch p := rng.IntN(100); {
	case p < 5:
		return 0
	case p < 8:
		return max
	}
	return int64(math.Exp(rng.Float64() * math.Log(float64(max))))
}

// digestReply is the receiver's account of a transfer: what it counted
// and the sha256 of what it got.
type digestReply struct {
	count  int64
	digest [32]byte
}

func (d digestReply) bytes() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(d.count))
	return append(b, d.digest[:]...)
}

func parseReply(b []byte) (digestReply, error) {
	if len(b) != 40 {
		return digestReply{}, fmt.Errorf("reply of %d bytes, want 40", len(b))
	}
	return digestReply{int64(binary.BigEndian.Uint64(b)), [32]byte(b[8:])}, nil
}

// Nothing lost under loss: transfers of random sizes (stream) and random
// message batches (message mode), each on its own connection through a
// relay that drops, delays and reorders packets. Each arrives
// byte-identical, and the sender learns the receiver's count and sha256
// and checks them against its own. UDT_LOSSY_TRANSFERS transfers (20 by
// default, 500 in ./build.sh soak) of up to UDT_LOSSY_MAX bytes (4 MiB;
// 64 MiB in the soak), on UDT_LOSSY_WORKERS connections at once (4).
func TestLossyTransfersArriveIntact(t *testing.T) {
	t.Parallel()
	transfers := testenv.EnvInt("UDT_LOSSY_TRANSFERS", 20)
	maxSize := int64(testenv.EnvInt("UDT_LOSSY_MAX", 4<<20))
	workers := testenv.EnvInt("UDT_LOSSY_WORKERS", 4)
	seed := testenv.SeedFor(t)

	stream := listenT(t, "udt", "127.0.0.1:0", udt.Config{})
	msgs := listenT(t, "udt", "127.0.0.1:0", udt.Config{Message: true})
	streamPath, msgPath := testenv.Relay(t, stream.Addr().(*udt.Addr).AddrPort, seed), testenv.Relay(t, msgs.Addr().(*udt.Addr).AddrPort, seed+2)
	var servers sync.WaitGroup
	defer servers.Wait()
	serve := func(l *udt.Listener, handle func(c *udt.Conn) error) {
		servers.Go(func() {
			var conns sync.WaitGroup
			defer conns.Wait()
			for {
				c, err := l.AcceptUDT()
				if err != nil {
					return
				}
				conns.Go(func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Minute))
					if err := handle(c); err != nil {
						t.Errorf("receiver: %v", err)
					}
				})
			}
		})
	}
	defer stream.Close()
	defer msgs.Close()
	serve(stream, receiveStream)
	serve(msgs, receiveMessages)

	var next, streams, batches, bytes, messages atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for !t.Failed() {
				i := next.Add(1) - 1
				if i >= int64(transfers) {
					return
				}
				var err error
				if rng.IntN(4) > 0 {
					size := transferSize(rng, maxSize)
					err = sendStream(streamPath.Addr().String(), size, rng.Uint64())
					streams.Add(1)
					bytes.Add(size)
				} else {
					sizes := make([]int, 1+rng.IntN(200))
					for j := range sizes {
						sizes[j] = 8 + int(transferSize(rng, 256<<10))
					}
					err = sendMessages(msgPath.Addr().String(), sizes)
					batches.Add(1)
					messages.Add(int64(len(sizes)))
				}
				if err != nil {
					t.Errorf("transfer %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	su, sd := streamPath.Stats()
	mu, md := msgPath.Stats()
	t.Logf("%d transfers in %v: %d streams (%d MiB), %d message batches (%d messages); the relays lost %d and reordered %d of %d packets",
		transfers, time.Since(start).Round(time.Millisecond), streams.Load(), bytes.Load()>>20, batches.Load(), messages.Load(),
		su.Lost+sd.Lost+mu.Lost+md.Lost, su.Reordered+sd.Reordered+mu.Reordered+md.Reordered, su.PacketsIn+sd.PacketsIn+mu.PacketsIn+md.PacketsIn)
}

// dialLossy dials through a lossy relay: handshakes can be lost, so it
// allows UDT more than its one 3 s round of connection requests.
func dialLossy(addr string, cfg udt.Config) (*udt.Conn, error) {
	var err error
	for range 5 {
		d := udt.Dialer{Config: cfg, Timeout: 3 * time.Second}
		var c *udt.Conn
		if c, err = d.DialUDT(context.Background(), "udt", addr); err == nil {
			return c, nil
		}
		if !testenv.IsTimeout(err) {
			break
		}
	}
	return nil, err
}

// sendStream sends an 8-byte size and size bytes from testenv.Pattern(seed), then
// reads the receiver's count and digest and checks them against its own.
func sendStream(addr string, size int64, seed uint64) error {
	c, err := dialLossy(addr, udt.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	if _, err := c.Write(binary.BigEndian.AppendUint64(nil, uint64(size))); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(c, h), io.LimitReader(testenv.Pattern(seed), size))
	if err != nil {
		return fmt.Errorf("after %d of %d bytes: %w", n, size, err)
	}
	b := make([]byte, 40)
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("reading the receiver's digest of %d bytes: %w", size, err)
	}
	got, _ := parseReply(b)
	if want := (digestReply{size, [32]byte(h.Sum(nil))}); got != want {
		return fmt.Errorf("the receiver counted %d bytes with sha256 %x, the sender %d with %x", got.count, got.digest, want.count, want.digest)
	}
	return nil
}

func receiveStream(c *udt.Conn) error {
	b := make([]byte, 8)
	if _, err := io.ReadFull(c, b); err == io.EOF {
		return nil // an abandoned dial attempt's connection (see docs/udt4-behaviour.md)
	} else if err != nil {
		return fmt.Errorf("reading the size: %w", err)
	}
	size := int64(binary.BigEndian.Uint64(b))
	h := sha256.New()
	n, err := io.CopyN(h, c, size)
	if err != nil {
		return fmt.Errorf("after %d of %d bytes: %w", n, size, err)
	}
	// Close right after the reply: UDT delivers it in the background.
	_, err = c.Write(digestReply{n, [32]byte(h.Sum(nil))}.bytes())
	return err
}

// sendMessages sends a count, then len(sizes) messages built by testenv.Message(),
// then checks the receiver's count and digest.
func sendMessages(addr string, sizes []int) error {
	c, err := dialLossy(addr, udt.Config{Message: true})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	if _, err := c.Write(binary.BigEndian.AppendUint64(nil, uint64(len(sizes)))); err != nil {
		return err
	}
	h := sha256.New()
	for i, size := range sizes {
		m := testenv.Message(i, size)
		h.Write(m)
		if n, err := c.Write(m); err != nil || n != size {
			return fmt.Errorf("message %d of %d bytes: wrote %d, %v", i, size, n, err)
		}
	}
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		return fmt.Errorf("reading the receiver's digest of %d messages: %w", len(sizes), err)
	}
	got, err := parseReply(b[:n])
	if err != nil {
		return err
	}
	if want := (digestReply{int64(len(sizes)), [32]byte(h.Sum(nil))}); got != want {
		return fmt.Errorf("the receiver counted %d messages with sha256 %x, the sender %d with %x", got.count, got.digest, want.count, want.digest)
	}
	return nil
}

func receiveMessages(c *udt.Conn) error {
	buf := make([]byte, 512<<10)
	n, err := c.Read(buf)
	if err == io.EOF {
		return nil // an abandoned dial attempt's connection (see docs/udt4-behaviour.md)
	}
	if err != nil || n != 8 {
		return fmt.Errorf("reading the count: %d bytes, %v", n, err)
	}
	count := int64(binary.BigEndian.Uint64(buf))
	h := sha256.New()
	var got int64
	for ; got < count; got++ {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("message %d of %d: %w", got, count, err)
		}
		i, err := testenv.CheckMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("message %d of %d: %w", got, count, err)
		}
		if int64(i) != got {
			return fmt.Errorf("message %d arrived as number %d", got, i)
		}
		h.Write(buf[:n])
	}
	_, err = c.Write(digestReply{got, [32]byte(h.Sum(nil))}.bytes())
	return err
}

// A dial longer than UDT's own 3 s connect limit, through a path that
// loses every packet: its attempts are cut before UDT gives up (see
// dyingSocket), and it fails at its own deadline, not UDT's.
func TestLongDialOutlivesUDTConnectLimit(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", udt.Config{})
	blackhole := netem.Config{Loss: 1}
	r, err := netem.NewUDPRelay(l.Addr().(*udt.Addr).AddrPort, blackhole, blackhole)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Not before its own deadline (UDT's would end it at 3 s), and not
	// long after it: retried with a longer timeout if the machine is slow.
	testenv.TimesOut(t, "dial through a dead path", 5*time.Second, func(d time.Duration) error {
		_, err := (&udt.Dialer{Timeout: d}).Dial("udt", r.Addr().String())
		return err
	})
}
