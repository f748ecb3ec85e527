package wanlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udtgo/udt/internal/netem"
	"golang.org/x/sys/unix"
)

// IPv4 and UDP headers: what a UDP payload costs on the emulated wire.
const udpOverhead = 28

// probeSock is a plain blocking UDP socket, read and written from threads
// of the emulator's kind (netem.LockThread): the probes must measure the
// path, not how late Go's scheduler runs a goroutine on a busy machine.
type probeSock struct {
	fd   int
	addr netip.AddrPort
}

// openProbe opens a UDP socket inside side s's namespace, bound to its
// address, with a short receive timeout so readers can notice a stop.
func (l *Lab) openProbe(s Side) (*probeSock, error) {
	var p *probeSock
	err := l.Do(s, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		a := l.Addr[s].As4()
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a}); err != nil {
			unix.Close(fd)
			return err
		}
		// Root may pass the host's limit; the loss check needs the room.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20)
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		sa, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return err
		}
		p = &probeSock{fd: fd, addr: netip.AddrPortFrom(l.Addr[s], uint16(sa.(*unix.SockaddrInet4).Port))}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("wanlab: probe socket in %s: %w", l.NS[s], err)
	}
	return p, nil
}

func (p *probeSock) close() { unix.Close(p.fd) }

func sockaddr(a netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
}

// reader calls fn with each datagram p receives and the time it came,
// on its own tuned thread, until stop is set; wait blocks until it ended.
func (p *probeSock) reader(stop *atomic.Bool, fn func(b []byte, from unix.Sockaddr, at time.Time)) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		release := netem.LockThread()
		defer release()
		buf := make([]byte, 65536)
		for !stop.Load() {
			n, from, err := unix.Recvfrom(p.fd, buf, 0)
			if err != nil {
				continue // the timeout, to look at stop
			}
			fn(buf[:n], from, time.Now())
		}
	}()
	return wg.Wait
}

// ProbeRTT sends n ping-like UDP probes of size bytes from A, echoed by B,
// one every gap, and returns the round trips of those that came back.
func (l *Lab) ProbeRTT(n, size int, gap time.Duration) ([]time.Duration, error) {
	if n <= 0 || size < 8 || size > 65000 {
		return nil, fmt.Errorf("wanlab: ProbeRTT needs n > 0 and 8 <= size <= 65000, not %d and %d", n, size)
	}
	a, err := l.openProbe(A)
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := l.openProbe(B)
	if err != nil {
		return nil, err
	}
	defer b.close()
	var stop atomic.Bool
	echoDone := b.reader(&stop, func(p []byte, from unix.Sockaddr, _ time.Time) {
		unix.Sendto(b.fd, p, 0, from)
	})
	sent := make([]time.Time, n)
	var mu sync.Mutex
	var rtts []time.Duration
	readDone := a.reader(&stop, func(p []byte, _ unix.Sockaddr, at time.Time) {
		if len(p) < 8 {
			return
		}
		if i := binary.BigEndian.Uint64(p); i < uint64(n) {
			mu.Lock()
			rtts = append(rtts, at.Sub(sent[i]))
			mu.Unlock()
		}
	})
	sendErr := paced(n, gap, func(i int, p []byte) error {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		return unix.Sendto(a.fd, p, 0, sockaddr(b.addr))
	}, size)
	// The last probes need a round trip and some to spare.
	time.Sleep(max(time.Second, 4*l.rttSetting()))
	stop.Store(true)
	echoDone()
	readDone()
	if sendErr != nil {
		return nil, fmt.Errorf("wanlab: probe send: %w", sendErr)
	}
	mu.Lock()
	defer mu.Unlock()
	return rtts, nil
}

// paced calls send n times with a probe of size bytes numbered i, one
// every gap on a fixed schedule (a late wakeup does not shift the rest;
// gaps under a millisecond go out in bursts of a millisecond), from a
// tuned thread.
func paced(n int, gap time.Duration, send func(i int, p []byte) error, size int) error {
	errc := make(chan error, 1)
	go func() {
		release := netem.LockThread()
		defer release()
		p := make([]byte, size)
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 && (gap >= time.Millisecond || d > time.Millisecond) {
				ts := unix.NsecToTimespec(int64(d))
				for unix.Nanosleep(&ts, &ts) == unix.EINTR {
				}
			}
			binary.BigEndian.PutUint64(p, uint64(i))
			for {
				err := send(i, p)
				if err == unix.ENOBUFS || err == unix.EAGAIN {
					// The sender's own queue is full: wait for it, as an
					// application would, rather than count it as loss.
					time.Sleep(50 * time.Microsecond)
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				break
			}
		}
		errc <- nil
	}()
	return <-errc
}

func (l *Lab) rttSetting() time.Duration {
	return l.links[A].Config().Delay + l.links[B].Config().Delay
}

// LossResult is what ProbeLoss saw, with the emulator's own count.
type LossResult struct {
	Sent, Received int
	EmulatorLost   int64 // what the A→B link dropped at random during the probe
	EmulatorQueue  int64 // what it dropped for a full queue
}

// ProbeLoss sends n datagrams of size bytes from A to B at rate bits per
// second (on the wire) and counts what arrives.
func (l *Lab) ProbeLoss(n, size int, rate int64) (LossResult, error) {
	if n <= 0 || size < 8 || size > 65000 || rate <= 0 {
		return LossResult{}, fmt.Errorf("wanlab: ProbeLoss needs n > 0, 8 <= size <= 65000 and rate > 0, not %d, %d, %d", n, size, rate)
	}
	a, err := l.openProbe(A)
	if err != nil {
		return LossResult{}, err
	}
	defer a.close()
	b, err := l.openProbe(B)
	if err != nil {
		return LossResult{}, err
	}
	defer b.close()
	before, _ := l.Stats()
	var stop atomic.Bool
	var got atomic.Int64
	done := b.reader(&stop, func([]byte, unix.Sockaddr, time.Time) { got.Add(1) })
	err = paced(n, wireTime(size, rate), func(_ int, p []byte) error {
		return unix.Sendto(a.fd, p, 0, sockaddr(b.addr))
	}, size)
	time.Sleep(max(time.Second, 4*l.rttSetting()))
	stop.Store(true)
	done()
	res := LossResult{Sent: n, Received: int(got.Load())}
	after, _ := l.Stats()
	res.EmulatorLost = after.Lost - before.Lost
	res.EmulatorQueue = after.QueueDropped - before.QueueDropped
	return res, err
}

// wireTime is how long size bytes of UDP payload take at rate.
func wireTime(size int, rate int64) time.Duration {
	return time.Duration(float64((size+udpOverhead)*8) / float64(rate) * float64(time.Second))
}

// RateResult is what ProbeRate measured at B.
type RateResult struct {
	Offered, Measured int64 // bits per second on the wire (IP packets)
	Sent, Received    int   // datagrams over the whole probe
	EmulatorDropped   int64 // random loss and queue drops during the probe
}

// ProbeRate offers offered bits per second from A to B for warmup+d and
// measures the rate that arrives during the last d, in IP bytes.
func (l *Lab) ProbeRate(offered int64, size int, warmup, d time.Duration) (RateResult, error) {
	if offered <= 0 || size < 8 || size > 65000 || d <= 0 || warmup < 0 {
		return RateResult{}, fmt.Errorf("wanlab: ProbeRate needs offered > 0, 8 <= size <= 65000 and d > 0, not %d, %d, %v", offered, size, d)
	}
	a, err := l.openProbe(A)
	if err != nil {
		return RateResult{}, err
	}
	defer a.close()
	b, err := l.openProbe(B)
	if err != nil {
		return RateResult{}, err
	}
	defer b.close()
	before, _ := l.Stats()
	n := int(float64(offered) * (warmup + d).Seconds() / float64((size+udpOverhead)*8))
	var (
		stop               atomic.Bool
		received, inWindow int
		from, first, last  time.Time
	)
	done := b.reader(&stop, func(_ []byte, _ unix.Sockaddr, now time.Time) {
		// Only this reader's thread touches these until done returns.
		if received == 0 {
			from = now.Add(warmup)
		}
		received++
		if !now.Before(from) {
			if inWindow == 0 {
				first = now
			}
			inWindow++
			last = now
		}
	})
	err = paced(n, wireTime(size, offered), func(_ int, p []byte) error {
		return unix.Sendto(a.fd, p, 0, sockaddr(b.addr))
	}, size)
	time.Sleep(max(500*time.Millisecond, 4*l.rttSetting()))
	stop.Store(true)
	done()
	after, _ := l.Stats()
	res := RateResult{Offered: offered, Sent: n, Received: received,
		EmulatorDropped: after.Lost - before.Lost + after.QueueDropped - before.QueueDropped}
	if inWindow > 1 {
		// Packets after the first one in the window, over the time they took.
		res.Measured = int64(float64((inWindow-1)*(size+udpOverhead)*8) / last.Sub(first).Seconds())
	}
	return res, err
}
