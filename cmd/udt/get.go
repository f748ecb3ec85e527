package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/xfer"
)

const getHelp = `
usage: udt get [flags] HOST:PORT REMOTE [LOCAL]

Downloads REMOTE from 'udt serve' or from UDT's upstream sendfile example
program, into LOCAL (default: REMOTE's base name in the current directory;
a directory: into it). With -c an interrupted download resumes from the
local file's length (when the server is 'udt serve'; upstream sendfile
always sends the whole file, which then replaces the local one).
--verify asks 'udt serve' for the file's sha256 and compares it with what
arrived; --sha256 compares with a digest you know.

With 'udt serve --tls CERT KEY', the transfer runs over TLS: --tls-ca FILE
checks the server's certificate against the certificates in FILE (its own
certificate, when self-signed, or its CA), --tls against the system's, and
--tls-insecure not at all. The name checked is the one in HOST:PORT, or
--tls-name.

Progress goes to stderr: a bar when stderr is a terminal, a line every few
seconds otherwise (-q: none).

examples:
  udt get 10.0.0.2:9000 big.iso
  udt get -c --verify 10.0.0.2:9000 images/disk.img /tmp/disk.img
  udt get --sha256 9f86d08…  host:9000 release.tar.gz
  udt get --tls-ca server.pem files.example.org:9000 big.iso
`

func runGet(ctx context.Context, args []string) error {
	fs := newFlags("get", getHelp)
	resume := fs.Bool("c", false, "continue: resume from the local file's length")
	verify := fs.Bool("verify", false, "ask the server for the file's sha256 and check it")
	want := fs.String("sha256", "", "check the file against this sha256 (`hex`)")
	quiet := fs.Bool("q", false, "no progress")
	useTLS := fs.Bool("tls", false, "TLS, checking the server's certificate against the system's roots")
	tlsCA := fs.String("tls-ca", "", "TLS, checking the server's certificate against the PEM certificates in `FILE`")
	tlsInsecure := fs.Bool("tls-insecure", false, "TLS without checking the server's certificate (anyone on the path can read and change the data)")
	tlsName := fs.String("tls-name", "", "TLS: the `NAME` the server's certificate must carry (default: HOST)")
	timeout := duration(dialTimeout)
	fs.Var(&timeout, "timeout", "give up connecting after this `duration`")
	stall := duration(30 * time.Second)
	fs.Var(&stall, "stall", "give up when nothing arrives for this `duration` (UDT itself waits about 45 s)")
	var mss, fc int
	var rcvbuf, udpRcv byteSize
	fs.IntVar(&mss, "mss", 0, "UDT_MSS: packet size in `bytes` (0: 1500)")
	fs.IntVar(&fc, "fc", 0, "UDT_FC: flow window in `packets` (0: the receive buffer's)")
	fs.Var(&rcvbuf, "rcvbuf", "UDT_RCVBUF in `bytes` (0: UDT's default)")
	fs.Var(&udpRcv, "udp-rcvbuf", "UDP_RCVBUF in `bytes` (0: UDT's default)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usagef("want HOST:PORT, REMOTE and an optional LOCAL, not %d arguments", len(pos))
	}
	var wantSum []byte
	if *want != "" {
		if wantSum, err = hex.DecodeString(*want); err != nil || len(wantSum) != sha256.Size {
			return usagef("--sha256 %q: want 64 hex digits", *want)
		}
	}
	remote := pos[1]
	if remote == "" || strings.IndexByte(remote, 0) >= 0 {
		return usagef("bad REMOTE name %q", remote)
	}
	if max := xfer.MaxName; len(remote) > max {
		return usagef("REMOTE is %d bytes; the request format holds at most %d", len(remote), max)
	}
	if err := checkMSS(mss); err != nil {
		return err
	}
	local := path.Base(remote)
	if len(pos) == 3 {
		local = pos[2]
	}
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		local = filepath.Join(local, path.Base(remote))
	}
	tlsCfg, err := clientTLS(*useTLS, *tlsCA, *tlsName, *tlsInsecure, pos[0])
	if err != nil {
		return err
	}
	g := &getter{addr: pos[0], remote: remote, local: local, resume: *resume, verify: *verify, wantSum: wantSum, tls: tlsCfg,
		cfg: udt.Config{MSS: mss, FlowWindow: fc, RecvBuffer: int(rcvbuf), UDPRecvBuffer: int(udpRcv)}, timeout: time.Duration(timeout), stall: time.Duration(stall)}
	if !*quiet {
		g.prog = newProgress(os.Stderr, path.Base(remote))
	}
	return g.run(ctx)
}

type getter struct {
	addr, remote, local string
	resume, verify      bool
	wantSum             []byte
	cfg                 udt.Config
	timeout, stall      time.Duration
	tls                 *tls.Config // nil: plain UDT
	prog                *progress
}

func (g *getter) run(ctx context.Context) error {
	// What is already here, for -c.
	var have int64
	if g.resume {
		if st, err := os.Stat(g.local); err == nil {
			if !st.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", g.local)
			}
			have = st.Size()
		}
	}
	req := xfer.Request{Name: g.remote, Ext: true}
	rand.Read(req.Nonce[:])
	if have > 0 {
		req.Flags |= xfer.FlagResume
		req.Offset = have
	}
	if g.verify {
		req.Flags |= xfer.FlagDigest
	}

	d := udt.Dialer{Config: g.cfg, Timeout: g.timeout}
	nc, err := d.DialContext(ctx, "udt", g.addr)
	if err != nil {
		return noServer(err, g.addr, "udt serve")
	}
	raw := nc.(*udt.Conn)
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	// c is what the file protocol runs over: raw, or TLS over raw.
	var c net.Conn = raw
	if g.tls != nil {
		tc := tls.Client(raw, g.tls)
		raw.SetDeadline(time.Now().Add(g.stall))
		if err := tc.HandshakeContext(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return handshakeError(err, g.addr)
		}
		raw.SetDeadline(time.Time{})
		c = tc
	}
	if err := xfer.WriteRequest(c, req); err != nil {
		return err
	}
	// A peer that accepts and never answers (not a file server, or a
	// stuck one) must not hold get for ever: the stall limit covers the
	// reply too.
	c.SetReadDeadline(time.Now().Add(g.stall))
	size, err := xfer.ReadSize(c)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%s: no reply in %v: not a file server?", g.addr, g.stall)
		}
		return fmt.Errorf("%s: no reply: %w", g.addr, err)
	}

	// Our server answers with an extended reply that echoes the nonce; the
	// upstream sendfile goes straight to the data, or sends nothing more
	// after -1 (and keeps the connection open), hence the shorter deadline
	// when fewer bytes may follow.
	if size < int64(xfer.ExtReplyPrefix) {
		c.SetReadDeadline(time.Now().Add(min(5*time.Second, g.stall)))
	}
	prefix := make([]byte, xfer.ExtReplyPrefix)
	n, perr := io.ReadFull(c, prefix)
	prefix = prefix[:n]
	ext := n == xfer.ExtReplyPrefix && xfer.IsExtReply(prefix, req.Nonce)
	offset := int64(0)
	var early []byte // file data read while looking for the reply
	switch {
	case ext:
		rep, err := xfer.ReadExtReplyRest(c, req.Nonce)
		if err != nil {
			return err
		}
		if rep.Status != xfer.StatusOK {
			return fmt.Errorf("the server refused %q: %s", g.remote, rep.Msg)
		}
		if size < 0 {
			return fmt.Errorf("the server sent a size of %d for %q", size, g.remote)
		}
		if have > size {
			return fmt.Errorf("%s has %d bytes, more than the remote file's %d: not resuming (remove it, or drop -c)", g.local, have, size)
		}
		if rep.Offset != req.Offset {
			return fmt.Errorf("the server resumed at %d, not at %d", rep.Offset, req.Offset)
		}
		offset = rep.Offset
	case size == xfer.NoFile:
		return fmt.Errorf("the server has no file %q (or may not send it)", g.remote)
	case size < 0:
		return fmt.Errorf("the server sent a size of %d for %q", size, g.remote)
	default:
		// Upstream sendfile: the whole file, from 0.
		if perr != nil && int64(n) < min(size, int64(xfer.ExtReplyPrefix)) {
			return fmt.Errorf("%s: the server stopped before sending the file: %w", g.addr, perr)
		}
		if g.verify {
			return errors.New("--verify: the server is not 'udt serve' and sends no digest (use --sha256)")
		}
		if have > 0 {
			fmt.Fprintf(os.Stderr, "get: the server (upstream sendfile?) does not resume: fetching all of %q again\n", g.remote)
		}
		early = prefix
	}

	c.SetReadDeadline(time.Time{})
	flags := os.O_RDWR | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(g.local, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	var h hash.Hash
	if g.verify || g.wantSum != nil {
		h = sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, offset)); err != nil {
			return fmt.Errorf("reading the %d bytes already in %s: %w", offset, g.local, err)
		}
	}

	start := time.Now()
	g.prog.begin(offset, size)
	w := io.Writer(io.NewOffsetWriter(f, offset))
	if h != nil {
		w = io.MultiWriter(w, h)
	}
	if len(early) > 0 {
		if _, err := w.Write(early); err != nil {
			return err
		}
		g.prog.add(int64(len(early)))
	}
	left := size - offset - int64(len(early))
	got, err := io.CopyBuffer(w, io.LimitReader(&stallReader{c: c, stall: g.stall, p: g.prog}, left), make([]byte, 1<<20))
	g.prog.end()
	if err == nil && got < left {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		received := offset + int64(len(early)) + got
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = errors.New("the server closed the connection early")
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("nothing arrived for %v", g.stall)
		}
		return g.lost(ctx, fmt.Sprintf("stopped after %s of %s", mib(received), mib(size)), err)
	}
	if err := f.Close(); err != nil {
		return err
	}

	var sumMsg string
	if h != nil {
		local := h.Sum(nil)
		if g.verify {
			remote := make([]byte, sha256.Size)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.ReadFull(c, remote); err != nil {
				return fmt.Errorf("reading the server's sha256: %w", err)
			}
			if !bytes.Equal(local, remote) {
				return fmt.Errorf("sha256 mismatch: %s has %x, the server's file %x", g.local, local, remote)
			}
		}
		if g.wantSum != nil && !bytes.Equal(local, g.wantSum) {
			return fmt.Errorf("sha256 mismatch: %s has %x, not the %x given", g.local, local, g.wantSum)
		}
		sumMsg = fmt.Sprintf(", sha256 %x ok", local)
	}
	c.Close()
	el := time.Since(start)
	n64 := size - offset
	from := ""
	if offset > 0 {
		from = fmt.Sprintf(" (resumed at %s)", mib(offset))
	}
	fmt.Fprintf(os.Stderr, "get: %s: %s in %.2f s = %.1f Mbit/s%s%s\n", g.local, mib(n64), el.Seconds(), mbits(n64, el), from, sumMsg)
	return nil
}

// lost describes a transfer that ended early, with the way to resume.
func (g *getter) lost(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s: %s: %w (run again with -c to resume)", g.addr, what, err)
}

// stallReader reads from c with a deadline that moves on as data comes,
// so a vanished server is noticed after stall rather than UDT's 45 s.
type stallReader struct {
	c     net.Conn
	stall time.Duration
	set   time.Time
	p     *progress
}

func (r *stallReader) Read(b []byte) (int, error) {
	// Moving the deadline on every read would cost a timer update per
	// read; a quarter of stall's slack is plenty.
	if now := time.Now(); now.Sub(r.set) > r.stall/4 {
		r.c.SetReadDeadline(now.Add(r.stall))
		r.set = now
	}
	n, err := r.c.Read(b)
	r.p.add(int64(n))
	return n, err
}
