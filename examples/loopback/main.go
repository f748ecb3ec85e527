// Command loopback demonstrates the raw one-to-one UDT API of
// github.com/udtgo/udt: it moves pseudo-random data from one UDT stream
// socket to another over loopback with blocking Send and Recv, checks the
// sha256 on both ends, and prints the throughput and UDT's statistics.
//
//	go run ./examples/loopback [-size 256M] [-mss 1500] [-v6]
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/udtgo/udt"
)

const chunk = 1 << 20 // data is generated, sent and received in 1 MiB chunks

// size is a byte count that accepts the suffixes K, M and G (powers of 1024).
type size int64

func (s *size) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *size) Set(v string) error {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(v), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMG", t[n-1]); i >= 0 {
			mult, t = int64(1)<<(10*(i+1)), t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return errors.New("want a positive byte count such as 1048576, 64M or 1G")
	}
	*s = size(n * mult)
	return nil
}

// result is what each end reports once all bytes went through.
type result struct {
	sum  [32]byte
	at   time.Time // sender: connected; receiver: last byte received
	sock udt.Socket
	err  error
}

func main() {
	n := size(256 << 20)
	flag.Var(&n, "size", "bytes to send; suffixes K, M, G are powers of 1024")
	mss := flag.Int("mss", 0, "UDT_MSS, the packet size in bytes (0: UDT's default, 1500)")
	v6 := flag.Bool("v6", false, "use IPv6 (::1) instead of 127.0.0.1")
	flag.Parse()
	if err := run(int64(n), *mss, *v6); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

func run(n int64, mss int, v6 bool) error {
	family, ip := udt.IPv4, netip.MustParseAddr("127.0.0.1")
	if v6 {
		family, ip = udt.IPv6, netip.IPv6Loopback()
	}
	fmt.Printf("loopback: the raw one-to-one UDT API (NewSocket, Bind, Listen, Accept, Connect, Send, Recv, Perfmon) moving %s over %s\n",
		mib(n), ip)

	if err := udt.Startup(); err != nil {
		return err
	}
	newSocket := func() (udt.Socket, error) {
		s, err := udt.NewSocket(family, udt.Stream)
		if err == nil && mss > 0 {
			err = s.SetMSS(mss) // before bind, and so before connect
		}
		return s, err
	}
	ln, err := newSocket()
	if err != nil {
		return err
	}
	if err := ln.Bind(netip.AddrPortFrom(ip, 0)); err != nil {
		return err
	}
	if err := ln.Listen(1); err != nil {
		return err
	}
	addr, err := ln.SockName()
	if err != nil {
		return err
	}
	cl, err := newSocket()
	if err != nil {
		return err
	}

	sent, got := make(chan result, 1), make(chan result, 1)
	go func() { sent <- send(cl, addr, n) }()
	go func() { got <- recv(ln, n) }()
	var s, r result
	for range 2 { // the first error ends the demo; exiting stops the other end
		select {
		case s = <-sent:
			err = s.err
		case r = <-got:
			err = r.err
		}
		if err != nil {
			return err
		}
	}
	elapsed := r.at.Sub(s.at)

	// The receiver has every byte, so the sender's buffer is (nearly) empty
	// and Close does not linger on unsent data. Read the stats first.
	sp, err := cl.Perfmon(false)
	if err != nil {
		return err
	}
	rp, err := r.sock.Perfmon(false)
	if err != nil {
		return err
	}
	for _, sock := range []udt.Socket{cl, r.sock, ln} {
		if err := sock.Close(); err != nil {
			return err
		}
	}
	if err := udt.Cleanup(); err != nil {
		return err
	}

	secs := elapsed.Seconds()
	fmt.Printf("bytes       %d (%s) to the listener on %v\n", n, mib(n), addr)
	fmt.Printf("elapsed     %v\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput  %.0f Mbit/s = %.1f MB/s\n", float64(n)*8/secs/1e6, float64(n)/secs/1e6)
	match := "match"
	if s.sum != r.sum {
		match = "MISMATCH"
	}
	fmt.Printf("sha256      sent %x, received %x: %s\n", s.sum[:8], r.sum[:8], match)

	fmt.Printf("%-26s %14s %14s\n", "UDT stats, Perfmon(false)", "sender", "receiver")
	mbps := func(v float64) string { return fmt.Sprintf("%.0f Mbit/s", v) }
	for _, row := range [][2]any{
		{"PktSentTotal", sp.PktSentTotal}, {"PktRetransTotal", sp.PktRetransTotal},
		{"PktSndLossTotal", sp.PktSndLossTotal}, {"PktRecvACKTotal", sp.PktRecvACKTotal},
		{"PktRecvNAKTotal", sp.PktRecvNAKTotal}, {"RTT", sp.RTT}, {"PktSndPeriod", sp.PktSndPeriod},
		{"PktCongestionWindow", sp.PktCongestionWindow}, {"PktFlowWindow", sp.PktFlowWindow},
		{"Bandwidth", mbps(sp.MbpsBandwidth)}, {"SendRate", mbps(sp.MbpsSendRate)},
	} {
		fmt.Printf("%-26s %14v\n", row[0], row[1])
	}
	for _, row := range [][2]any{
		{"PktRecvTotal", rp.PktRecvTotal}, {"PktRcvLossTotal", rp.PktRcvLossTotal},
		{"PktSentACKTotal", rp.PktSentACKTotal}, {"PktSentNAKTotal", rp.PktSentNAKTotal},
		{"RecvRate", mbps(rp.MbpsRecvRate)},
	} {
		fmt.Printf("%-26s %14s %14v\n", row[0], "", row[1])
	}
	if s.sum != r.sum {
		return errors.New("sha256 of the received data differs from the sent data")
	}
	return nil
}

// send connects s to addr and sends n pseudo-random bytes with blocking Send.
func send(s udt.Socket, addr netip.AddrPort, n int64) result {
	if err := s.Connect(addr); err != nil {
		return result{err: err}
	}
	res := result{at: time.Now(), sock: s}
	rng := rand.NewChaCha8([32]byte{'u', 'd', 't'}) // fixed seed: the same data every run
	h := sha256.New()
	buf := make([]byte, chunk)
	for left := n; left > 0; {
		m := min(left, chunk)
		b := buf[:m]
		rng.Read(b)
		h.Write(b)
		for len(b) > 0 { // a blocking Send may still send only part of b
			k, err := s.Send(b)
			if err != nil {
				return result{err: err}
			}
			b = b[k:]
		}
		left -= m
	}
	h.Sum(res.sum[:0])
	return res
}

// recv accepts one connection on ln and receives n bytes with blocking Recv.
func recv(ln udt.Socket, n int64) result {
	s, peer, err := ln.Accept()
	if err != nil {
		return result{err: err}
	}
	fmt.Printf("accepted    %v from %v\n", s, peer)
	h := sha256.New()
	buf := make([]byte, chunk)
	for left := n; left > 0; {
		k, err := s.Recv(buf[:min(left, chunk)])
		if err != nil {
			return result{err: err}
		}
		if k == 0 {
			return result{err: fmt.Errorf("recv returned 0 bytes with %d still to come", left)}
		}
		h.Write(buf[:k])
		left -= int64(k)
	}
	res := result{at: time.Now(), sock: s}
	h.Sum(res.sum[:0])
	return res
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB" }
