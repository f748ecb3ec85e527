package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/udtgo/udt"
)

// perfServer answers perf tests on a UDT listener and a TCP listener of the
// same port number.
type perfServer struct {
	o       perfOpts
	log     io.Writer
	udtAddr string
	tcpAddr string
	lns     []net.Listener
	ctx     context.Context // ends every test: Ctrl-C, or close
	cancel  context.CancelFunc
	mu      sync.Mutex
	tests   map[string]*perfTest
	conns   map[net.Conn]struct{} // every connection, for close
	done    chan struct{}         // closed after the first test, with -1
	once    sync.Once
	wg      sync.WaitGroup
}

// perfTest is one test on the server, while its data connections arrive.
type perfTest struct {
	h     hello
	p     proto
	conns []net.Conn
	n     int
	ready chan struct{}
}

// anyTCPPort lets TCP take any free port instead of the UDT port's number,
// for --loopback, where nobody needs to guess it.
func startPerfServer(ctx context.Context, addr string, o perfOpts, log io.Writer, anyTCPPort bool) (*perfServer, error) {
	var ul net.Listener = newRendezvousListener(o.rdv, o.cfg, o.timeout)
	if o.rdv == nil {
		lc := udt.ListenConfig{Config: o.cfg}
		var err error
		if ul, err = lc.Listen(ctx, "udt", addr); err != nil {
			return nil, err
		}
	}
	s := &perfServer{o: o, log: log, tests: map[string]*perfTest{}, done: make(chan struct{}), udtAddr: ul.Addr().String(),
		conns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.lns = append(s.lns, ul)
	s.serve(ul, udtProto(o.cfg, o.timeout, o.rdv))

	// TCP on the same port number, for --vs tcp; a test can go on without.
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(s.udtAddr)
	if anyTCPPort {
		port = "0"
	}
	tl, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "perf: no TCP listener, --vs tcp will fail against this server: %v\n", err)
	} else {
		s.tcpAddr = tl.Addr().String()
		s.lns = append(s.lns, tl)
		s.serve(tl, tcpProto(o.timeout))
	}
	return s, nil
}

func perfServe(ctx context.Context, addr string, o perfOpts) error {
	s, err := startPerfServer(ctx, addr, o, os.Stdout, false)
	if err != nil {
		return err
	}
	defer s.close()
	if s.tcpAddr != "" {
		fmt.Fprintf(os.Stderr, "perf: serving on UDT %s and TCP %s\n", s.udtAddr, s.tcpAddr)
	} else {
		fmt.Fprintf(os.Stderr, "perf: serving on UDT %s\n", s.udtAddr)
	}
	select {
	case <-ctx.Done():
		// Ctrl-C or SIGTERM is how a server is meant to stop.
		fmt.Fprintln(os.Stderr, "perf: stopped")
	case <-s.done:
	}
	// The server is the end a hostile peer reaches: say what its
	// firewall did (on stdout with --json, as the client's document).
	if o.jsonOut {
		reportFirewall(os.Stdout, "perf", true)
	} else {
		reportFirewall(os.Stderr, "perf", false)
	}
	return nil
}

// close stops the server and every test it runs. Running tests stop
// sending at once and get a moment to tell their clients so; then their
// connections are closed.
func (s *perfServer) close() {
	s.cancel()
	for _, l := range s.lns {
		l.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(3 * time.Second):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
}

// track keeps c for close; the returned func forgets it.
func (s *perfServer) track(c net.Conn) (untrack func()) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
}

func (s *perfServer) serve(l net.Listener, p proto) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					fmt.Fprintf(s.log, "perf: accept: %v\n", err)
				}
				return
			}
			untrack := s.track(c)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer untrack()
				s.handle(c, p)
			}()
		}
	}()
}

// handle reads which kind of connection c is and hands it on.
func (s *perfServer) handle(c net.Conn, p proto) {
	// A stranger that sends nothing is dropped rather than held for ever.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var magic [8]byte
	if _, err := io.ReadFull(c, magic[:]); err != nil {
		c.Close()
		return
	}
	switch string(magic[:]) {
	case perfCtl:
		s.control(c, p)
	case perfData:
		if err := s.attach(c); err != nil {
			fmt.Fprintf(s.log, "perf: %s: %v\n", c.RemoteAddr(), err)
			c.Close()
		}
	default:
		fmt.Fprintf(s.log, "perf: %s: not a perf client (it sent %q)\n", c.RemoteAddr(), magic[:])
		c.Close()
	}
}

// attach reads a data connection's header and gives it to its test.
func (s *perfServer) attach(c net.Conn) error {
	var hdr [16 + 2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("reading a data connection's header: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	id, idx := string(hdr[:16]), int(binary.BigEndian.Uint16(hdr[16:]))
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tests[id]
	switch {
	case t == nil:
		return fmt.Errorf("a data connection for unknown test %q", id)
	case idx >= len(t.conns) || t.conns[idx] != nil:
		return fmt.Errorf("test %s: bad or repeated stream number %d", id, idx)
	}
	t.conns[idx] = c
	if t.n++; t.n == len(t.conns) {
		close(t.ready)
	}
	return nil
}

// control runs one test from its control connection.
func (s *perfServer) control(c net.Conn, p proto) {
	defer c.Close()
	cc := &ctl{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	var h hello
	if err := cc.recv(&h, time.Now().Add(10*time.Second)); err != nil {
		fmt.Fprintf(s.log, "perf: %s: bad hello: %v\n", c.RemoteAddr(), err)
		return
	}
	reject := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(s.log, "perf: %s: %s\n", c.RemoteAddr(), msg)
		cc.send(map[string]string{"error": msg})
		flushClose(c)
	}
	switch {
	case h.Version != 1:
		reject("protocol version %d (this server speaks 1)", h.Version)
		return
	case len(h.ID) != 16 || h.Streams < 1 || h.Streams > 128:
		reject("bad test id %q or stream count %d (1 to 128)", h.ID, h.Streams)
		return
	case h.Duration <= 0 || h.Duration > int64(maxDuration) || h.Block < 1 || h.Block > maxBlock:
		reject("bad duration %v or write size %d (at most %v and 64M)", time.Duration(h.Duration), h.Block, maxDuration)
		return
	}
	t := &perfTest{h: h, p: p, conns: make([]net.Conn, h.Streams), ready: make(chan struct{})}
	s.mu.Lock()
	if s.tests[h.ID] != nil {
		s.mu.Unlock()
		reject("test %s exists", h.ID)
		return
	}
	s.tests[h.ID] = t
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tests, h.ID)
		s.mu.Unlock()
		for _, dc := range t.conns {
			if dc != nil {
				dc.Close()
			}
		}
	}()
	if err := cc.send(map[string]bool{"ok": true}); err != nil {
		return
	}
	select {
	case <-t.ready:
	case <-s.ctx.Done():
		return
	case <-time.After(15 * time.Second):
		s.mu.Lock()
		n := t.n
		s.mu.Unlock()
		fmt.Fprintf(s.log, "perf: %s: %d of %d data connections arrived\n", c.RemoteAddr(), n, h.Streams)
		return
	}

	st := newStreams(t.conns)
	dur := time.Duration(h.Duration)
	var res string
	if h.Reverse {
		elapsed := st.send(s.ctx, dur, h.Block)
		sent := st.bytes()
		end := endMsg{Bytes: sent, Elapsed: int64(elapsed), Stats: st.finalStats(p, true)}
		switch {
		case st.err != nil:
			end.Error = st.err.Error()
		case s.ctx.Err() != nil:
			end.Error = "the server was stopped during the test"
		}
		if err := cc.send(end); err != nil {
			fmt.Fprintf(s.log, "perf: %s: %v\n", c.RemoteAddr(), err)
			return
		}
		var got endMsg
		if err := cc.recv(&got, drainDeadline(dur)); err != nil {
			fmt.Fprintf(s.log, "perf: %s: no result from the client: %v\n", c.RemoteAddr(), err)
			return
		}
		res = fmt.Sprintf("sent %s in %.2f s = %.1f Mbit/s", mib(sum(sent)), elapsed.Seconds(), mbits(sum(sent), elapsed))
	} else {
		st.recv()
		var got endMsg
		if err := cc.recv(&got, time.Now().Add(dur+60*time.Second)); err != nil {
			fmt.Fprintf(s.log, "perf: %s: no end from the client: %v\n", c.RemoteAddr(), err)
			return
		}
		elapsed, err := st.awaitBytes(got.Bytes, drainDeadline(0))
		end := endMsg{Bytes: st.bytes(), Elapsed: int64(elapsed), Stats: st.finalStats(p, false)}
		if err != nil {
			end.Error = err.Error()
		}
		cc.send(end)
		// The client closes first, once it has the result; waiting for
		// that keeps the result from dying in our send buffer.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		got2 := st.bytes()
		res = fmt.Sprintf("received %s in %.2f s = %.1f Mbit/s", mib(sum(got2)), elapsed.Seconds(), mbits(sum(got2), elapsed))
		if err != nil {
			res += " (" + err.Error() + ")"
		}
	}
	st.close()
	dir := "client → server"
	if h.Reverse {
		dir = "server → client"
	}
	fmt.Fprintf(s.log, "perf: %s %s, %d stream(s), %s: %s\n", c.RemoteAddr(), p.name, h.Streams, dir, res)
	if s.o.once {
		s.once.Do(func() { close(s.done) })
	}
}

// flushClose closes c once the peer has everything written to it: a UDT
// Close alone leaves unsent data to threads that die with the process.
func flushClose(c net.Conn) {
	if uc, ok := c.(*udt.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		uc.Flush(ctx)
		cancel()
	}
	c.Close()
}

func sum(v []int64) int64 {
	var t int64
	for _, x := range v {
		t += x
	}
	return t
}

func streamHeader(id string, idx int) []byte {
	b := append([]byte(perfData), id...)
	return binary.BigEndian.AppendUint16(b, uint16(idx))
}
