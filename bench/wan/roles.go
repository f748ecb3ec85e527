package main

// The contenders' two ends. Each runs as its own process inside one of the
// lab's namespaces (the orchestrator re-executes this binary with
// "role ..."), so each side has the CPU and the stack of a real host.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/udtgo/udt"
)

// result is what a receiver prints as its last line: the goodput it saw.
type result struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Mbps    float64 `json:"mbps"`
	Extra   string  `json:"extra,omitempty"`
}

// window counts the bytes read during [first byte + warmup, + d].
type window struct {
	warmup, d   time.Duration
	first, from time.Time
	bytes       int64
}

// add records n bytes read now and reports whether the window is over.
func (w *window) add(n int) bool {
	now := time.Now()
	if w.first.IsZero() {
		w.first = now
		w.from = now.Add(w.warmup)
	}
	if now.Before(w.from) {
		return false
	}
	if now.After(w.from.Add(w.d)) {
		return true
	}
	w.bytes += int64(n)
	return false
}

func (w *window) result() result {
	s := w.d.Seconds()
	return result{Bytes: w.bytes, Seconds: s, Mbps: float64(w.bytes) * 8 / s / 1e6}
}

// receive reads r until the window closes and prints the result.
func receive(r io.Reader, w *window, extra func() string) error {
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		if n > 0 && w.add(n) {
			break
		}
		if err != nil {
			return fmt.Errorf("read after %d bytes in the window: %w", w.bytes, err)
		}
	}
	res := w.result()
	if extra != nil {
		res.Extra = extra()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// send writes blocks to w until it fails (the receiver left) or the process
// is killed.
func send(w io.Writer) error {
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
}

func ready(addr net.Addr) { fmt.Printf("listening %s\n", addr) }

// acceptOne says where ln listens, takes one connection and closes ln: a
// receiver serves exactly one sender.
func acceptOne(ln net.Listener, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	ready(ln.Addr())
	return ln.Accept()
}

func roleMain(args []string) error {
	if len(args) < 1 {
		return errors.New("role: which one?")
	}
	fs := flag.NewFlagSet("role "+args[0], flag.ContinueOnError)
	addr := fs.String("addr", "", "listen on (receivers) or connect to (senders)")
	warmup := fs.Duration("warmup", 3*time.Second, "receivers: time after the first byte before counting")
	dur := fs.Duration("d", 10*time.Second, "receivers: how long to count")
	cc := fs.String("cc", "", "tcp-send: TCP congestion control (empty: the namespace's default)")
	fixed := fs.Float64("fixed", 0, "udt-send: send at this many Mbit/s with CCFixedRate instead of UDT's native control")
	ucc := fs.String("ucc", "", "udt-send, udt-recv: UDT congestion control by name ("+strings.Join(udt.Controllers, ", ")+"; empty: native)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	w := &window{warmup: *warmup, d: *dur}
	var ucfg udt.Config
	if *ucc != "" {
		cc, err := udt.ParseCongestionControl(*ucc)
		if err != nil {
			return err
		}
		ucfg.CongestionControl = cc
	}
	switch args[0] {
	case "tcp-recv":
		c, err := acceptOne(net.Listen("tcp4", *addr))
		if err != nil {
			return err
		}
		defer c.Close()
		return receive(c, w, nil)
	case "tcp-send":
		d := net.Dialer{}
		if *cc != "" {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, *cc)
				})
				if serr != nil {
					return fmt.Errorf("TCP congestion control %q: %w", *cc, serr)
				}
				return err
			}
		}
		c, err := d.Dial("tcp4", *addr)
		if err != nil {
			return err
		}
		return send(c)
	case "udt-recv":
		lc := udt.ListenConfig{Config: ucfg}
		c, err := acceptOne(lc.Listen(context.Background(), "udt4", *addr))
		if err != nil {
			return err
		}
		defer c.Close()
		uc := c.(*udt.Conn)
		return receive(c, w, func() string {
			p, err := uc.Stats()
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("rtt %.1f ms, recv loss %d, NAKs %d, bandwidth estimate %.0f Mbit/s", p.RTT.Seconds()*1e3, p.Total.RecvLoss, p.Total.NAKsSent, float64(p.Bandwidth)/1e6)
		})
	case "udt-send":
		d := udt.Dialer{Config: ucfg}
		if *fixed > 0 {
			d.Config.CongestionControl = udt.CongestionControl{Kind: udt.CCFixedRate, Mbps: *fixed}
		}
		c, err := d.Dial("udt4", *addr)
		if err != nil {
			return err
		}
		return send(c)
	case "quic-recv":
		ln, err := quic.ListenAddr(*addr, serverTLS(), quicConfig())
		if err != nil {
			return err
		}
		ready(ln.Addr())
		c, err := ln.Accept(context.Background())
		if err != nil {
			return err
		}
		s, err := c.AcceptStream(context.Background())
		if err != nil {
			return err
		}
		defer c.CloseWithError(0, "")
		return receive(s, w, nil)
	case "quic-send":
		c, err := quic.DialAddr(context.Background(), *addr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, quicConfig())
		if err != nil {
			return err
		}
		s, err := c.OpenStream()
		if err != nil {
			return err
		}
		return send(s)
	}
	return fmt.Errorf("role: unknown role %q", args[0])
}

const alpn = "udt-bench-wan"

// quicConfig lets flow control open past the largest bandwidth-delay
// product of the matrix, as the sysctls do for TCP.
func quicConfig() *quic.Config {
	return &quic.Config{
		MaxStreamReceiveWindow:     64 << 20,
		MaxConnectionReceiveWindow: 96 << 20,
		MaxIdleTimeout:             30 * time.Second,
	}
}

// serverTLS makes a throwaway self-signed certificate in memory.
func serverTLS() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"wanlab"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{alpn}}
}
