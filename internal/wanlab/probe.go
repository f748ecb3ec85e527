package wanlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// IPv4 and UDP headers: what a UDP payload costs on the emulated wire.
const udpOverhead = 28

// udpPair opens a UDP socket on each side, a connected to b.
func (l *Lab) udpPair() (a, b *net.UDPConn, err error) {
	err = l.Do(B, func() error {
		b, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.Addr[B], 0)))
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("wanlab: probe listen: %w", err)
	}
	err = l.Do(A, func() error {
		a, err = net.DialUDP("udp4", nil, b.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("wanlab: probe dial: %w", err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		c.SetReadBuffer(8 << 20)
		c.SetWriteBuffer(8 << 20)
	}
	return a, b, nil
}

// ProbeRTT sends n ping-like UDP probes of size bytes from A, echoed by B,
// one every gap, and returns the round trips of those that came back.
func (l *Lab) ProbeRTT(n, size int, gap time.Duration) ([]time.Duration, error) {
	if n <= 0 || size < 8 || size > 65000 {
		return nil, fmt.Errorf("wanlab: ProbeRTT needs n > 0 and 8 <= size <= 65000, not %d and %d", n, size)
	}
	a, b, err := l.udpPair()
	if err != nil {
		return nil, err
	}
	defer a.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the echo
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			k, from, err := b.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b.WriteToUDPAddrPort(buf[:k], from)
		}
	}()
	sent := make([]time.Time, n)
	var mu sync.Mutex
	var rtts []time.Duration
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			k, err := a.Read(buf)
			now := time.Now()
			if err != nil {
				return
			}
			if k < 8 {
				continue
			}
			i := binary.BigEndian.Uint64(buf)
			if i < uint64(n) {
				mu.Lock()
				rtts = append(rtts, now.Sub(sent[i]))
				mu.Unlock()
			}
		}
	}()
	p := make([]byte, size)
	start := time.Now()
	for i := range n {
		// Sends on a fixed schedule, so one late wakeup does not shift the rest.
		if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(p, uint64(i))
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if _, err := a.Write(p); err != nil {
			b.Close()
			a.Close()
			wg.Wait()
			return nil, fmt.Errorf("wanlab: probe send: %w", err)
		}
	}
	// The last probes need a round trip and some to spare.
	time.Sleep(max(time.Second, 4*l.rttSetting()))
	b.Close()
	a.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return rtts, nil
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
	a, b, err := l.udpPair()
	if err != nil {
		return LossResult{}, err
	}
	before, _ := l.Stats()
	got := make(chan int)
	go func() {
		buf := make([]byte, 65536)
		k := 0
		for {
			if _, err := b.Read(buf); err != nil {
				got <- k
				return
			}
			k++
		}
	}()
	err = blast(a, n, size, rate)
	time.Sleep(max(time.Second, 4*l.rttSetting()))
	b.Close()
	a.Close()
	res := LossResult{Sent: n, Received: <-got}
	after, _ := l.Stats()
	res.EmulatorLost = after.Lost - before.Lost
	res.EmulatorQueue = after.QueueDropped - before.QueueDropped
	return res, err
}

// blast sends n datagrams of size bytes paced to rate bits per second on
// the wire, in bursts of a millisecond.
func blast(c *net.UDPConn, n, size int, rate int64) error {
	p := make([]byte, size)
	perPkt := time.Duration(float64((size+udpOverhead)*8) / float64(rate) * float64(time.Second))
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * perPkt)); d > time.Millisecond {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(p, uint64(i))
		if _, err := c.Write(p); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// ENOBUFS and the like: the sender's own queue, not the path.
			continue
		}
	}
	return nil
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
	a, b, err := l.udpPair()
	if err != nil {
		return RateResult{}, err
	}
	before, _ := l.Stats()
	n := int(float64(offered) * (warmup + d).Seconds() / float64((size+udpOverhead)*8))
	type result struct {
		received    int
		first, last time.Time
		inWindow    int
	}
	got := make(chan result)
	go func() {
		buf := make([]byte, 65536)
		var r result
		var from time.Time
		for {
			_, err := b.Read(buf)
			now := time.Now()
			if err != nil {
				got <- r
				return
			}
			if r.received == 0 {
				from = now.Add(warmup)
			}
			r.received++
			if !now.Before(from) {
				if r.inWindow == 0 {
					r.first = now
				}
				r.inWindow++
				r.last = now
			}
		}
	}()
	err = blast(a, n, size, offered)
	time.Sleep(max(500*time.Millisecond, 4*l.rttSetting()))
	b.Close()
	a.Close()
	r := <-got
	after, _ := l.Stats()
	res := RateResult{Offered: offered, Sent: n, Received: r.received,
		EmulatorDropped: after.Lost - before.Lost + after.QueueDropped - before.QueueDropped}
	if r.inWindow > 1 {
		// Packets after the first one in the window, over the time they took.
		res.Measured = int64(float64((r.inWindow-1)*(size+udpOverhead)*8) / r.last.Sub(r.first).Seconds())
	}
	return res, err
}
