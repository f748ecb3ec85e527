package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/xfer"
)

const serveHelp = `
usage: udt serve [flags] DIR [ADDR]

Serves the regular files under DIR to 'udt get' and to UDT's upstream
recvfile example program, many clients at once. ADDR is [HOST]:PORT or a
bare port (default :9000, UDT's examples' port). Names that leave DIR (an
absolute path, a ".." element, a symbolic link pointing outside) are
refused, with the reason sent to a 'udt get' client; the upstream recvfile
only learns that there is no such file.

With --tls CERT KEY (PEM files: the certificate, with its chain, and its
private key), every transfer runs over TLS, and plain clients are refused
with a reason; 'udt get --tls-ca CERT' or --tls-insecure are the clients.
Without --tls, a TLS client's handshake fails at once.

examples:
  udt serve ./files
  udt serve /srv/iso 127.0.0.1:9000
  udt serve -q . 9100
  udt serve --tls server.pem server.key ./files :9000
`

func runServe(ctx context.Context, args []string) error {
	fs := newFlags("serve", serveHelp)
	quiet := fs.Bool("q", false, "do not log each request")
	maxClients := fs.Int("max-clients", 64, "serve at most this many clients at once; more are refused")
	stall := duration(time.Minute)
	fs.Var(&stall, "stall", "drop a client that takes nothing for this `duration`")
	peerIdle := duration(30 * time.Second)
	fs.Var(&peerIdle, "peer-idle", "drop a client not heard from for this `duration` (0: UDT's own 45-53 s; at least 2s)")
	var mss, fc int
	var sndbuf, udpSnd byteSize
	var bw bitRate
	fs.Var(&bw, "bw", "UDT_MAXBW: cap each client at `bits/s` (k, M, G suffixes; 0: none)")
	fs.IntVar(&mss, "mss", 0, "UDT_MSS: packet size in `bytes` (0: 1500)")
	fs.IntVar(&fc, "fc", 0, "UDT_FC: flow window in `packets` (0: the receive buffer's)")
	fs.Var(&sndbuf, "sndbuf", "UDT_SNDBUF in `bytes` (0: UDT's default)")
	fs.Var(&udpSnd, "udp-sndbuf", "UDP_SNDBUF in `bytes` (0: UDT's default)")
	var tlsFiles filePair
	fs.Var(&tlsFiles, "tls", "serve over TLS with the certificate and private key in `CERT KEY` (PEM files)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("want DIR and an optional ADDR, not %d arguments", len(pos))
	}
	switch {
	case *maxClients < 1:
		return usagef("--max-clients %d: want at least 1", *maxClients)
	case bw > 0 && bw < 8:
		return usagef("--bw %d: at least 8 bit/s (UDT_MAXBW counts bytes)", bw)
	}
	if err := checkMSS(mss); err != nil {
		return err
	}
	addr := ":9000"
	if len(pos) == 2 {
		if addr, err = listenAddr(pos[1]); err != nil {
			return err
		}
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", pos[0])
	}
	tlsCfg, err := serverTLS(&tlsFiles)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	cfg := udt.Config{MSS: mss, FlowWindow: fc, SendBuffer: int(sndbuf), UDPSendBuffer: int(udpSnd), MaxSendRate: udt.BitRate(bw),
		PeerIdleTimeout: time.Duration(peerIdle)}
	lc := udt.ListenConfig{Config: cfg}
	ln, err := lc.Listen(ctx, "udt", addr)
	if err != nil {
		return err
	}
	logw := io.Writer(os.Stderr)
	if *quiet {
		logw = io.Discard
	}
	if tlsCfg != nil {
		fmt.Fprintf(os.Stderr, "serve: %s on UDT %s, TLS only\n", pos[0], ln.Addr())
	} else {
		fmt.Fprintf(os.Stderr, "serve: %s on UDT %s\n", pos[0], ln.Addr())
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, *maxClients)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				// Ctrl-C or SIGTERM is how a server is meant to stop.
				fmt.Fprintln(os.Stderr, "serve: stopped")
				reportFirewall(os.Stderr, "serve", false)
				return nil
			}
			return err
		}
		raw := c.(*udt.Conn)
		s := &session{raw: raw, c: raw, tls: tlsCfg, root: root, log: logw, stall: time.Duration(stall)}
		select {
		case slots <- struct{}{}:
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.refuseBusy(*maxClients)
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			// Stopping drops what clients have not acknowledged.
			stopc := context.AfterFunc(ctx, func() { c.(*udt.Conn).SetLinger(0); c.Close() })
			s.run()
			stopc()
		}()
	}
}

// session answers one request.
type session struct {
	raw   *udt.Conn
	c     net.Conn    // what the protocol runs over: raw, or TLS over it
	tls   *tls.Config // nil: plain UDT
	root  *os.Root
	log   io.Writer
	stall time.Duration
}

// refuseBusy answers a request with "busy" when every slot is taken.
func (s *session) refuseBusy(limit int) {
	defer s.raw.Close()
	req, err := s.request(10 * time.Second)
	if err != nil {
		if errors.As(err, new(refusedError)) {
			s.logf("refused %s: %v", requestName(req), err)
		}
		return
	}
	s.logf("refused %q: %d clients already", req.Name, limit)
	s.refuse(req, fmt.Errorf("busy: %d clients already; try again later", limit))
}

// refuse answers -1 and, to a client that understands it, why.
func (s *session) refuse(req xfer.Request, why error) {
	var ext *xfer.ExtReply
	if req.Ext {
		ext = &xfer.ExtReply{Nonce: req.Nonce, Status: xfer.StatusError, Msg: why.Error()}
	}
	if xfer.WriteReply(s.c, xfer.NoFile, ext) == nil {
		// The upstream recvfile never closes after a refusal: a short
		// wait for the client to go is enough.
		s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, s.c)
	}
}

func (s *session) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "serve: %s: %s\n", s.raw.RemoteAddr(), fmt.Sprintf(format, a...))
}

// requestName is how the log names a request: its file, or "a client"
// when the request was never read.
func requestName(req xfer.Request) string {
	if req.Name == "" {
		return "a client"
	}
	return strconv.Quote(req.Name)
}

// handshakeFailed is a TLS client's failed handshake.
type handshakeFailed struct{ err error }

func (e handshakeFailed) Error() string {
	msg := "TLS handshake failed: " + e.err.Error()
	if strings.Contains(msg, "remote error") {
		msg += " (the client does not accept this server's certificate)"
	}
	return msg
}

func (e handshakeFailed) Unwrap() error { return e.err }

// refusedError is a request refused, the client told why.
type refusedError struct{ error }

// request reads the client's request within d, after a TLS handshake when
// the client starts one and the server has --tls. A client of the other
// kind is answered what to do and gets a refusedError.
func (s *session) request(d time.Duration) (xfer.Request, error) {
	s.raw.SetReadDeadline(time.Now().Add(d))
	defer s.raw.SetReadDeadline(time.Time{})
	var first [3]byte
	if _, err := io.ReadFull(s.raw, first[:]); err != nil {
		return xfer.Request{}, err
	}
	pc := &prefixConn{Conn: s.raw, r: io.MultiReader(bytes.NewReader(first[:]), s.raw)}
	s.c = pc
	switch isTLS := looksLikeTLS(first[:]); {
	case isTLS && s.tls == nil:
		s.raw.Write(handshakeFailureAlert)
		return xfer.Request{}, refusedError{errors.New("a TLS client, and this server has no --tls")}
	case isTLS:
		tc := tls.Server(pc, s.tls)
		if err := tc.Handshake(); err != nil {
			return xfer.Request{}, handshakeFailed{err}
		}
		s.c = tc
	case s.tls != nil:
		req, err := xfer.ReadRequest(pc)
		if err != nil {
			return req, err
		}
		why := errors.New("this server speaks TLS only: run udt get with --tls-ca FILE (the server's certificate or its CA) or --tls-insecure")
		s.refuse(req, why)
		return req, refusedError{why}
	}
	return xfer.ReadRequest(s.c)
}

func (s *session) run() {
	delivered := false
	defer func() {
		if !delivered { // a failed session does not wait for its client
			s.raw.SetLinger(0)
		}
		s.raw.Close()
	}()
	// A client that never sends its request is not held for ever.
	req, err := s.request(30 * time.Second)
	if err != nil {
		if errors.As(err, new(refusedError)) {
			s.logf("refused %s: %v", requestName(req), err)
			s.raw.SetLinger(10)
			delivered = true
			return
		}
		if errors.As(err, new(handshakeFailed)) {
			s.logf("%v", err)
		} else {
			s.logf("bad request: %v", err)
		}
		return
	}
	f, size, err := s.open(req.Name)
	if err != nil {
		s.logf("refused %q: %v", req.Name, err)
		s.refuse(req, err)
		// The reason is worth a short wait, not the default linger.
		s.raw.SetLinger(10)
		delivered = true
		return
	}
	defer f.Close()

	offset := int64(0)
	var ext *xfer.ExtReply
	if req.Ext {
		if req.Flags&xfer.FlagResume != 0 {
			offset = min(req.Offset, size)
		}
		ext = &xfer.ExtReply{Nonce: req.Nonce, Offset: offset}
	}
	if err := xfer.WriteReply(s.c, size, ext); err != nil {
		s.logf("%q: %v", req.Name, err)
		return
	}
	h := sha256.New()
	wantDigest := req.Ext && req.Flags&xfer.FlagDigest != 0
	if wantDigest {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, offset)); err != nil {
			s.logf("%q: %v", req.Name, err)
			return
		}
	}
	start := time.Now()
	var w io.Writer = &stallWriter{c: s.c, stall: s.stall}
	if wantDigest {
		w = io.MultiWriter(w, h)
	}
	n, err := io.CopyBuffer(w, io.NewSectionReader(f, offset, size-offset), make([]byte, 256<<10))
	if err == nil && n < size-offset {
		err = fmt.Errorf("the file shrank to %d bytes while being sent", offset+n)
	}
	if err == nil && wantDigest {
		_, err = s.c.Write(h.Sum(nil))
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("the client took nothing for %v", s.stall)
		}
		s.logf("%q: stopped after %s: %v", req.Name, mib(n), err)
		return
	}
	if !s.finish() {
		s.logf("%q: sent %s, but the client did not confirm it", req.Name, mib(n))
		return
	}
	delivered = true
	d := time.Since(start)
	s.logf("sent %q (%s from offset %d) in %.2f s = %.1f Mbit/s", req.Name, mib(n), offset, d.Seconds(), mbits(n, d))
}

// finish waits for the client to close, as both clients do once they
// have everything, so a clean close is the confirmation: closing first
// could leave the tail of the file to UDT's linger. (Flush would not do:
// the client may close before UDT sees its last ACK.)
func (s *session) finish() bool {
	// The client may still be taking what sits in UDT's send buffer:
	// that is progress, and only stall without it ends the wait.
	left := -1
	for {
		s.c.SetReadDeadline(time.Now().Add(s.stall))
		_, err := io.Copy(io.Discard, s.c)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err == nil
		}
		n, serr := s.raw.Socket().SendData()
		if serr != nil || n == 0 || (left >= 0 && n >= left) {
			return false
		}
		left = n
	}
}

// stallWriter writes to c with a deadline that moves on as data goes, so a
// client that stops taking data is dropped after stall.
type stallWriter struct {
	c     net.Conn
	stall time.Duration
	set   time.Time
}

func (w *stallWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(w.set) > w.stall/4 {
		w.c.SetWriteDeadline(now.Add(w.stall))
		w.set = now
	}
	return w.c.Write(b)
}

// open opens a requested file under the root, refusing anything outside it
// and anything but a regular file.
func (s *session) open(name string) (*os.File, int64, error) {
	local, err := xfer.LocalName(name)
	if err != nil {
		return nil, 0, err
	}
	// O_NONBLOCK: opening a FIFO would otherwise wait for a writer, and
	// the check for a regular file comes after the open.
	f, err := s.root.OpenFile(local, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, 0, fmt.Errorf("no such file: %s", local)
		case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
			return nil, 0, fmt.Errorf("%w: %s", xfer.ErrOutside, local)
		case errors.Is(err, fs.ErrPermission):
			return nil, 0, fmt.Errorf("permission denied: %s", local)
		}
		return nil, 0, fmt.Errorf("cannot open %s", local)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("not a regular file: %s", local)
	}
	return f, st.Size(), nil
}
