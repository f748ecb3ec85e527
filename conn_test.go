package udt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

func TestConnStreamsBothWaysByteIdentical(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	const n = 64 << 20
	send := func(w io.Writer, seed uint64) [32]byte {
		h := sha256.New()
		io.Copy(io.MultiWriter(w, h), io.LimitReader(pattern(seed), n))
		return [32]byte(h.Sum(nil))
	}
	recv := func(r io.Reader) [32]byte {
		h := sha256.New()
		if _, err := io.CopyN(h, r, n); err != nil {
			t.Error(err)
		}
		return [32]byte(h.Sum(nil))
	}
	var wg sync.WaitGroup
	var up, down, gotUp, gotDown [32]byte
	wg.Go(func() { up = send(c, 1) })
	wg.Go(func() { down = send(s, 2) })
	wg.Go(func() { gotUp = recv(s) })
	wg.Go(func() { gotDown = recv(c) })
	wg.Wait()
	if up != gotUp || down != gotDown {
		t.Fatal("sha256 differs")
	}
	if c.LocalAddr().Network() != "udt" || c.RemoteAddr().String() != s.LocalAddr().String() {
		t.Fatalf("addresses: client %v -> %v, server %v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr())
	}
}

func TestConnDeadlines(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	buf := make([]byte, 16)
	pd := c.fd.pd
	var n int
	read := func() <-chan error {
		errc := make(chan error, 1)
		go func() {
			var err error
			n, err = c.Read(buf)
			errc <- err
		}()
		return errc
	}

	// A past deadline fails at once: nothing is ever sent, so a Read that
	// waited would wait for good.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if err := receives(t, read(), "Read past its deadline"); !testenv.IsTimeout(err) {
		t.Fatalf("Read past deadline: %v", err)
	}
	// Zero clears it: a read waits for data again.
	c.SetReadDeadline(time.Time{})
	errc := read()
	blocked(t, pd, EventIn, 1)
	s.Write([]byte("late"))
	if err := receives(t, errc, "Read after clearing the deadline"); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("Read after clearing the deadline: %q, %v", buf[:n], err)
	}

	// A deadline moved while a Read is blocked takes effect, and not
	// before it is due.
	errc = read()
	blocked(t, pd, EventIn, 1)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if err := receives(t, errc, "blocked Read after moving the deadline"); !testenv.IsTimeout(err) {
		t.Fatalf("blocked Read after moving the deadline: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("blocked Read returned after %v, before its deadline", d)
	}
	// And moved to the past, it ends a blocked Read at once.
	c.SetReadDeadline(time.Time{})
	errc = read()
	blocked(t, pd, EventIn, 1)
	c.SetDeadline(time.Now())
	if err := receives(t, errc, "blocked Read after the deadline was set to now"); !testenv.IsTimeout(err) {
		t.Fatalf("Read after deadline set to now: %v", err)
	}

	// Write deadlines: fill the peer's buffers until a write blocks.
	c.SetDeadline(time.Time{})
	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	big := make([]byte, 1<<20)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		_, err = c.Write(big)
	}
	if !testenv.IsTimeout(err) {
		t.Fatalf("Write with nobody reading: %v, want a timeout", err)
	}
}

func TestCloseUnblocksEverything(t *testing.T) {
	t.Parallel()
	// Small buffers fill at once; the peer reads nothing.
	c, _ := connPair(t, Config{SendBuffer: 1 << 20, RecvBuffer: 1 << 20})
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	errs := make(chan error, 3)
	go func() { _, err := c.Read(make([]byte, 8)); errs <- err }()
	go func() {
		var err error
		for err == nil {
			_, err = c.Write(make([]byte, 1<<20))
		}
		errs <- err
	}()
	go func() { _, err := l.Accept(); errs <- err }()
	blocked(t, c.fd.pd, EventIn, 1)
	blocked(t, l.fd.pd, EventIn, 1)
	// Once the send buffer stops draining, the peer's buffer is full and,
	// as nothing reads it, stays full: what c wrote is never all
	// acknowledged. Close waits for it (a second here), but its waiters
	// end at once.
	for last, deadline := -1, time.Now().Add(timeoutUpperBound); ; {
		n, err := c.Socket().SendData()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && n == last && readingAndWriting(c.fd.pd) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the send buffer never stopped draining (%d packets)", n)
		}
		last = n
		time.Sleep(100 * time.Millisecond)
	}
	c.SetLinger(1)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	l.Close()
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked call after Close: %v, want net.ErrClosed", err)
			}
		case err := <-closed:
			t.Fatalf("Close returned (%v) before unblocking the calls blocked on the conn", err)
		case <-time.After(timeoutUpperBound):
			t.Fatal("a blocked call did not return after Close")
		}
	}
	err := receives(t, closed, "Close with a linger of 1 s")
	if !testenv.IsTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("Close with unacknowledged data past its linger: %v, want a timeout naming what was left", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestPeerCloseGivesRestThenEOF(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	msg := bytes.Repeat([]byte("tail"), 1000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Close returns once the data arrived (acknowledged). Then time
	// passes unread: UDT's GC may delete the socket while the data waits.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	// The deadline only tells a hang from an EOF that came.
	s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadAll after peer close: %d bytes, %v", len(got), err)
	}
	// A reader already blocked when the peer closes sees EOF too.
	c2, s2 := connPair(t, Config{})
	errc := make(chan error, 1)
	go func() { _, err := s2.Read(make([]byte, 8)); errc <- err }()
	blocked(t, s2.fd.pd, EventIn, 1)
	c2.Close()
	if err := receives(t, errc, "a blocked Read after the peer's close"); err != io.EOF {
		t.Fatalf("blocked Read after peer close: %v", err)
	}
}

// Write a large buffer and Close at once: the peer always gets every byte,
// which UDT sends after Close. UDT_CLOSE_ROUNDS rounds (50 by default, 200
// in ./build.sh soak) of 1 to 16 MiB in one Write (UDT's send buffer holds
// 11.5 MiB, so the larger ones block first), on 4 connections at once.
func TestDataWrittenBeforeCloseArrives(t *testing.T) {
	t.Parallel()
	rounds := testenv.EnvInt("UDT_CLOSE_ROUNDS", 50)
	seed := testenv.SeedFor(t)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 4 {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		l := listenT(t, "udt", "127.0.0.1:0", Config{})
		wg.Go(func() {
			for !t.Failed() {
				i := next.Add(1) - 1
				if i >= int64(rounds) {
					return
				}
				writeAndClose(t, l, int(i), 1+rng.IntN(16<<20), rng.Uint64())
			}
		})
	}
	wg.Wait()
	t.Logf("%d rounds in %v", rounds, time.Since(start).Round(time.Millisecond))
}

func writeAndClose(t *testing.T, l *Listener, round, size int, seed uint64) {
	c, err := Dial("udt", l.Addr().String())
	if err != nil {
		t.Errorf("round %d: %v", round, err)
		return
	}
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		// The conn that starts with this round's number: a dial that took
		// two attempts can leave the listener an extra connection, which
		// closes without data (see docs/udt4-behaviour.md).
		for {
			l.SetDeadline(time.Now().Add(30 * time.Second))
			s, err := l.AcceptUDT()
			if err != nil {
				got <- result{err: err}
				return
			}
			s.SetReadDeadline(time.Now().Add(2 * time.Minute))
			var tag [8]byte
			if _, err := io.ReadFull(s, tag[:]); err != nil || binary.BigEndian.Uint64(tag[:]) != uint64(round) {
				s.Close()
				continue
			}
			h := sha256.New()
			n, err := io.Copy(h, s)
			s.Close()
			got <- result{n, [32]byte(h.Sum(nil)), err}
			return
		}
	}()
	buf := make([]byte, 8+size)
	binary.BigEndian.PutUint64(buf, uint64(round))
	io.ReadFull(pattern(seed), buf[8:])
	if n, err := c.Write(buf); err != nil || n != len(buf) {
		t.Errorf("round %d: Write of %d bytes: %d, %v", round, len(buf), n, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("round %d: Close: %v", round, err)
	}
	r := <-got
	want := sha256.Sum256(buf[8:])
	if r.err != nil || r.n != int64(size) || r.sum != want {
		t.Errorf("round %d: the peer got %d of %d bytes (%v), sha256 equal: %v", round, r.n, size, r.err, r.sum == want)
	}
}

func TestDialFailures(t *testing.T) {
	t.Parallel()
	// Nobody listens: the dial fails at its timeout, not UDT's.
	testenv.TimesOut(t, "dial to nobody", 300*time.Millisecond, func(d time.Duration) error {
		_, err := (&Dialer{Timeout: d}).Dial("udt", "127.0.0.1:9")
		return err
	})
	// Cancellation ends a dial that is under way.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := (&Dialer{Timeout: timeoutUpperBound}).DialContext(ctx, "udt", "127.0.0.1:9")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", err)
	}
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", "127.0.0.1:1", "unknown network"},
		{"udt", "127.0.0.1", "missing port"},
		{"udt", "127.0.0.1:99999", "invalid port"},
		{"udt4", "[::1]:80", "not IPv4"},
		{"udt6", "127.0.0.1:80", "not IPv6"},
		{"udt", "no-such-host.invalid:80", "no such host"},
	} {
		_, err := Dial(tc.network, tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial(%q, %q) = %v, want an error containing %q", tc.network, tc.addr, err, tc.want)
		}
	}
	if _, err := (&Dialer{Config: Config{MSS: 10}}).Dial("udt", "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "Config.MSS") {
		t.Errorf("bad Config: %v", err)
	}
}

func TestMessageMode(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{Message: true})
	for i, size := range []int{1, 100, 1500, 9000, 30000} {
		if n, err := c.Write(testenv.Message(i, max(size, 8))); err != nil || n != max(size, 8) {
			t.Fatalf("Write message %d: %d, %v", i, n, err)
		}
	}
	buf := make([]byte, 65536)
	for i, size := range []int{1, 100, 1500, 9000, 30000} {
		n, err := s.Read(buf)
		if err != nil || n != max(size, 8) {
			t.Fatalf("Read message %d: %d bytes, %v", i, n, err)
		}
		if j, err := testenv.CheckMessage(buf[:n]); err != nil || j != i {
			t.Fatalf("message %d: %v (%d)", i, err, j)
		}
	}
	if _, err := c.WriteMsg([]byte("ttl"), time.Second, false); err != nil {
		t.Fatal(err)
	}
	stream, _ := connPair(t, Config{})
	if _, err := stream.WriteMsg([]byte("x"), 0, true); CodeOf(err) != ErrStreamIll {
		t.Fatalf("WriteMsg on a stream conn: %v", err)
	}
}

func TestDialedConnsShareOnePort(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	var ports = map[uint16]bool{}
	for range 20 {
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ports[c.LocalAddr().(*Addr).Port()] = true
	}
	if len(ports) != 1 {
		t.Fatalf("20 dialed conns used %d local ports, want 1", len(ports))
	}
	for p := range ports {
		if fds := udpFDs(t, int(p)); len(fds) != 1 || !cloexec(t, fds[0]) {
			t.Fatalf("shared port %d: %d UDP fds, want 1 with close-on-exec", p, len(fds))
		}
	}
	// A LocalAddr gets its own port.
	d := Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	c, err := d.Dial("udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ports[c.LocalAddr().(*Addr).Port()] {
		t.Fatal("a dial with LocalAddr joined the shared port")
	}
}

func TestForgottenConnsAreClosed(t *testing.T) {
	// Not parallel: it forces collections and counts sockets.
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	// The accepted side stays reachable and open, so nothing but the
	// dialed conns' own cleanups can close them (a peer's close would make
	// UDT close them too).
	var mu sync.Mutex
	var kept []*Conn
	go func() {
		for {
			c, err := l.AcceptUDT()
			if err != nil {
				return
			}
			mu.Lock()
			kept = append(kept, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range kept {
			c.Close()
		}
	}()
	var dialed []Socket
	for range 1000 {
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		dialed = append(dialed, c.(*Conn).Socket())
	}
	deadline := time.Now().Add(timeoutUpperBound)
	for {
		runtime.GC()
		open := 0
		for _, s := range dialed {
			if st := s.SockState(); st != StatusClosed && st != StatusNonexist && st != StatusClosing {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dropped conns still open", open, len(dialed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConnErrorsWrapUDT(t *testing.T) {
	t.Parallel()
	c, _ := connPair(t, Config{})
	c.Close()
	_, err := c.Read(make([]byte, 1))
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "udt" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %#v", err)
	}
	_, err = Listen("udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A port another process-level socket holds.
	u, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer u.Close()
	_, err = Listen("udt", u.LocalAddr().String())
	if err == nil || CodeOf(err) != ErrSockFail || !errors.Is(err, ErrSockFail) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on a taken port: %v", err)
	}
}

func TestConnSendFileRecvFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := dir + "/src"
	testenv.WriteRandomFile(t, src, 20<<20+3, 21)
	c, s := connPair(t, Config{})
	errc := make(chan error, 1)
	go func() {
		n, err := c.SendFile(src, 0, 20<<20+3)
		if err == nil && n != 20<<20+3 {
			err = errors.New("short SendFile")
		}
		errc <- err
	}()
	dst := dir + "/dst"
	if n, err := s.RecvFile(dst, 0, 20<<20+3); err != nil || n != 20<<20+3 {
		t.Fatalf("RecvFile = %d, %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if testenv.SHA256File(t, src) != testenv.SHA256File(t, dst) {
		t.Fatal("file differs")
	}
	// Resume: the rest of a file lands after what is there, untruncated.
	part := dir + "/part"
	head := make([]byte, 1000)
	f, _ := os.Open(src)
	f.Read(head)
	f.Close()
	os.WriteFile(part, head, 0o600)
	go func() { _, err := c.SendFile(src, 1000, 20<<20+3-1000); errc <- err }()
	if _, err := s.RecvFile(part, 1000, 20<<20+3-1000); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if testenv.SHA256File(t, part) != testenv.SHA256File(t, src) {
		t.Fatal("resumed file differs")
	}
	// A file shorter than asked: refused before any of it is sent.
	if _, err := c.SendFile(src, 20<<20, 1000); !errors.Is(err, io.ErrUnexpectedEOF) || CodeOf(err) != ErrInvRdOff {
		t.Fatalf("SendFile past the end: %v", err)
	}
	// A blocked RecvFile ends when the connection is closed.
	go func() { _, err := s.RecvFile(dst, 0, 1<<20); errc <- err }()
	blocked(t, s.fd.pd, EventIn, 1)
	s.Close()
	if err := receives(t, errc, "a blocked RecvFile after Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("RecvFile after Close: %v", err)
	}
	m, _ := connPair(t, Config{Message: true})
	if _, err := m.SendFile(src, 0, 1); CodeOf(err) != ErrDgramIll {
		t.Fatalf("SendFile in message mode: %v", err)
	}
}

// startChild re-executes the test binary as a peer of l (env names
// childWriter or childReader) and returns the connection accepted from it.
func startChild(t *testing.T, l *Listener, env string) (*exec.Cmd, *Conn) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), env+"="+l.Addr().String())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	l.SetDeadline(time.Now().Add(timeoutUpperBound))
	c, err := l.AcceptUDT()
	if err != nil {
		t.Fatalf("accepting the child: %v", err)
	}
	// Discard: Close would wait out its linger for data a killed child
	// never acknowledges.
	t.Cleanup(func() { c.SetLinger(0); c.Close() })
	return child, c
}

// A peer process killed mid-transfer, in both directions: the survivor,
// blocked in Read or in a Write that has filled the window, returns at its
// deadline instead of hanging. Without a deadline UDT gives up after about
// 45 s and the call fails with a lost connection, not io.EOF
// (UDT_KILLED_PEER_WAIT=1, as in ./build.sh soak, which logs how long
// detection took).
func TestKilledPeer(t *testing.T) {
	t.Parallel()
	wait := os.Getenv("UDT_KILLED_PEER_WAIT") != ""
	wantLost := func(t *testing.T, what string, err error, start time.Time) {
		t.Logf("without a deadline, %s returned %v after %v", what, err, time.Since(start).Round(100*time.Millisecond))
		if err == io.EOF || !errors.Is(err, ErrConnLost) || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s with a killed peer: %v, want a lost connection, not EOF", what, err)
		}
	}
	t.Run("writer killed", func(t *testing.T) {
		t.Parallel()
		l := listenT(t, "udt", "127.0.0.1:0", Config{})
		child, c := startChild(t, l, "UDT_TEST_CHILD_WRITER")
		if _, err := io.CopyN(io.Discard, c, 4<<20); err != nil {
			t.Fatalf("reading from the child: %v", err)
		}
		child.Process.Kill()
		child.Wait()
		// Drain what was already in flight, then block on a dead peer.
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		io.Copy(io.Discard, c)
		// Data of the child's that UDT delivers late, on a loaded machine,
		// is read on the way: the deadline must end the reading all the
		// same.
		testenv.TimesOut(t, "Read from a killed peer", time.Second, func(d time.Duration) error {
			c.SetReadDeadline(time.Now().Add(d))
			for {
				if _, err := c.Read(make([]byte, 1024)); err != nil {
					return err
				}
			}
		})
		if !wait {
			return
		}
		c.SetReadDeadline(time.Time{})
		start := time.Now()
		_, err := c.Read(make([]byte, 1024))
		wantLost(t, "Read", err, start)
	})
	t.Run("reader killed", func(t *testing.T) {
		t.Parallel()
		l := listenT(t, "udt", "127.0.0.1:0", Config{})
		child, c := startChild(t, l, "UDT_TEST_CHILD_READER")
		// The child reads 1 MiB, then nothing: write until the window is
		// full and a Write blocks past its deadline.
		buf := make([]byte, 256<<10)
		var sent int64
		for {
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Write(buf)
			sent += int64(n)
			if testenv.IsTimeout(err) {
				break
			}
			if err != nil {
				t.Fatalf("writing to the child after %d bytes: %v", sent, err)
			}
			if sent > 1<<30 {
				t.Fatal("1 GiB written to a child that stopped reading: no back pressure")
			}
		}
		child.Process.Kill()
		child.Wait()
		// Room that acknowledgements sent before the kill still free is
		// filled on the way: the deadline must end the writing all the
		// same.
		testenv.TimesOut(t, "Write to a killed peer", time.Second, func(d time.Duration) error {
			c.SetWriteDeadline(time.Now().Add(d))
			for {
				if _, err := c.Write(buf); err != nil {
					return err
				}
			}
		})
		t.Logf("the window filled after %d MiB", sent>>20)
		if !wait {
			return
		}
		c.SetWriteDeadline(time.Time{})
		start := time.Now()
		_, err := c.Write(buf)
		wantLost(t, "Write", err, start)
	})
}

// A past deadline fails a call at once even when it could go ahead.
func TestPastDeadlineBeatsReadiness(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	s.Write([]byte("data"))
	waitUntil(t, "the data arriving", func() bool { n, _ := c.Socket().RecvData(); return n > 0 })
	c.SetReadDeadline(time.Now())
	if n, err := c.Read(make([]byte, 8)); !testenv.IsTimeout(err) || n != 0 {
		t.Fatalf("Read with data pending and a past deadline = %d, %v", n, err)
	}
	c.SetReadDeadline(time.Time{})
	if n, err := c.Read(make([]byte, 8)); err != nil || n != 4 {
		t.Fatalf("the data is still there afterwards: %d, %v", n, err)
	}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := c.Write([]byte("x")); !testenv.IsTimeout(err) || n != 0 {
		t.Fatalf("Write with room and a past deadline = %d, %v", n, err)
	}
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	d, err := Dial("udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// UDT queues the connection for Accept right after it sends its answer
	// to the handshake, in the same call on its receive thread, while the
	// answer still has to reach the dialer and wake Dial: it is pending.
	l.SetDeadline(time.Now())
	_, err = l.Accept()
	if !testenv.IsTimeout(err) {
		t.Fatalf("Accept with a connection pending and a past deadline: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "accept" || oe.Addr == nil || oe.Addr.String() != l.Addr().String() {
		t.Fatalf("listener error %#v does not name the listener's address", err)
	}
	// The timed-out Accept left it there.
	l.SetDeadline(time.Now().Add(timeoutUpperBound))
	a, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after the timed-out one: %v", err)
	}
	a.Close()
	if a.RemoteAddr().String() != d.LocalAddr().String() {
		t.Fatalf("Accept after the timed-out one: a conn from %v, want the one from %v", a.RemoteAddr(), d.LocalAddr())
	}
	// A negative dial timeout fails at once, as with net.Dialer: it never
	// gets to the listener, which would let a dial that went ahead succeed.
	if _, err := (&Dialer{Timeout: -time.Second}).Dial("udt", l.Addr().String()); !testenv.IsTimeout(err) {
		t.Fatalf("dial with a negative timeout: %v", err)
	}
}

// UDT deletes a socket itself a while after its peer closed; the first
// Close is still a success.
func TestCloseAfterUDTDeletedTheSocket(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	c.Close()
	for deadline := time.Now().Add(timeoutUpperBound); s.Socket().SockState() != StatusNonexist; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("UDT kept the socket: %v", s.Socket().SockState())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close after UDT deleted the socket: %v", err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// A clean close after a long silence is still io.EOF, not a lost peer:
// UDT records which of the two ended the connection.
func TestPeerCloseAfterSilenceIsEOF(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	errc := make(chan error, 1)
	go func() { _, err := s.Read(make([]byte, 8)); errc <- err }()
	blocked(t, s.fd.pd, EventIn, 1)
	time.Sleep(6 * time.Second) // the silence: longer than UDT's shortest give-up on a silent peer
	start := time.Now()
	c.Close()
	if err := receives(t, errc, "a Read after the silent peer closed"); err != io.EOF {
		t.Fatalf("Read after a silent peer closed: %v, want io.EOF", err)
	}
	t.Logf("EOF %v after the close", time.Since(start).Round(time.Millisecond))
}

// Flush returns once the peer acknowledged everything, waits while it
// does not read, and honours its context and Close.
func TestConnFlush(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{SendBuffer: bigSend})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing written: %v", err)
	}

	// The reader is not reading: what fits in its buffer is acknowledged,
	// but not more, so Flush must wait.
	data := make([]byte, 64<<20)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		wrote <- err
	}()
	waitSendData(t, c, overBigSend)
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if err := c.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the peer does not read: %v, want context.DeadlineExceeded", err)
	}
	if n, _ := c.Socket().SendData(); n == 0 {
		t.Fatal("UDT_SNDDATA is 0 with 64 MiB written to a peer that does not read")
	}

	got := make(chan int64, 1)
	go func() {
		n, _ := io.CopyN(io.Discard, s, int64(len(data)))
		got <- n
	}()
	// Flush covers what was written before it: wait for the Write to
	// hand over its last bytes first.
	if err := <-wrote; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush while the peer reads: %v", err)
	}
	if n, err := c.Socket().SendData(); n != 0 || err != nil {
		t.Fatalf("after Flush, UDT_SNDDATA = %d, %v", n, err)
	}
	if n := <-got; n != int64(len(data)) {
		t.Fatalf("the peer read %d bytes", n)
	}
	c.Close()
	if err := c.Flush(ctx); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
}

func TestConnFlushPeerGone(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{RecvBuffer: smallRecv})
	go c.Write(make([]byte, 32<<20))
	// s never reads: some stays unacknowledged.
	waitSendData(t, c, overSmallRcv)
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Flush(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || CodeOf(err) != ErrConnLost {
		t.Fatalf("Flush after the peer closed with data unacknowledged: %v", err)
	}
	c.Close()
}

// A peer that never reads acknowledges what fits in its receive buffer.
// With a send buffer no larger than that, a writer slow to refill could
// see all it had written so far acknowledged; these configurations leave
// more than the peer can take, and waitSendData waits for it.
const (
	smallRecv = 256 << 10 // about 180 packets: more than 1,000 in flight leaves 800
	// bigSend holds twice the default receive buffer (8,192 packets): more
	// than 9,200 in flight leaves 1,000.
	bigSend      = 2 * 12058624
	overBigSend  = 9200
	overSmallRcv = 1000
)

// waitSendData waits until c has more than min packets unacknowledged:
// on a loaded machine a Write started in a goroutine may not have run yet.
func waitSendData(t *testing.T, c *Conn, min int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, err := c.Socket().SendData(); err == nil && n > min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never more than %d packets unacknowledged in 30 s", min)
		}
	}
}

// maxWriter hashes what it is given and notes its longest Write; the first
// Write waits, so that data gathers in UDT's buffer behind it.
type maxWriter struct {
	h       hash.Hash
	max     int
	writes  int
	stalled bool
}

func (w *maxWriter) Write(b []byte) (int, error) {
	if !w.stalled {
		w.stalled = true
		time.Sleep(50 * time.Millisecond)
	}
	w.writes++
	w.max = max(w.max, len(b))
	return w.h.Write(b)
}

// io.Copy from a Conn goes through WriteTo: pieces longer than io.Copy's
// own 32 KiB, every byte once, and nil at the peer's close.
func TestConnWriteTo(t *testing.T) {
	client, server := connPair(t, Config{})
	const size = 8 << 20
	sent := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		_, err := io.Copy(client, io.TeeReader(io.LimitReader(pattern(7), size), h))
		if err != nil {
			t.Error(err)
		}
		client.Close()
		sent <- [32]byte(h.Sum(nil))
	}()
	w := &maxWriter{h: sha256.New()}
	n, err := io.Copy(w, server)
	if err != nil || n != size {
		t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, size)
	}
	if got, want := [32]byte(w.h.Sum(nil)), <-sent; got != want {
		t.Fatalf("sha256 %x, sent %x", got, want)
	}
	if w.max <= 32<<10 {
		t.Errorf("longest piece %d bytes in %d writes; want more than io.Copy's 32 KiB (WriteTo not used?)", w.max, w.writes)
	}
}

// In message mode WriteTo writes each message whole, and stops with an
// error at a message longer than its buffer rather than cut it.
func TestConnWriteToMessages(t *testing.T) {
	client, server := connPair(t, Config{Message: true})
	msgs := [][]byte{bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 70000), bytes.Repeat([]byte("c"), copyBufSize+1), []byte("d")}
	for _, m := range msgs {
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	n, err := server.WriteTo(writerFunc(func(b []byte) (int, error) {
		got = append(got, bytes.Clone(b))
		return len(b), nil
	}))
	if !errors.Is(err, io.ErrShortBuffer) || !strings.Contains(err.Error(), "ReadMsg") {
		t.Fatalf("WriteTo ended with %v; want an error matching io.ErrShortBuffer that names ReadMsg", err)
	}
	if n != 71000 || len(got) != 2 || !bytes.Equal(got[0], msgs[0]) || !bytes.Equal(got[1], msgs[1]) {
		t.Fatalf("WriteTo wrote %d bytes in %d writes; want the two short messages, one write each", n, len(got))
	}
	// The long message is gone, as the doc says; the next one is there.
	b := make([]byte, 2*copyBufSize)
	if n, _, err := server.ReadMsg(b); err != nil || string(b[:n]) != "d" {
		t.Fatalf("ReadMsg after WriteTo stopped: %q, %v; want the message after the lost one", b[:min(n, 16)], err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestWriteThenCloseEOF: a server writes 4 bytes and closes; the client
// reads them, then io.EOF. Rounds of dial, read, EOF and close, one after
// another, as a remote-shell client runs commands. UDT_EOF_ROUNDS rounds
// (./build.sh soak: 2,000) must have at most one in a thousand whose EOF
// came more than 50 ms after the data; each late one is logged
// with the poller's counters over it. The default run makes 100 rounds and
// checks only that each ends in io.EOF.
func TestWriteThenCloseEOF(t *testing.T) {
	rounds := testenv.EnvInt("UDT_EOF_ROUNDS", 100)
	ln := serveEach(t, func(c net.Conn) {
		c.Write([]byte("abcd"))
		c.Close()
	})
	bound := 50 * time.Millisecond
	late := 0
	for i := range rounds {
		c, err := Dial("udt", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(timeoutUpperBound))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		before := ReadPollerStats()
		start := time.Now()
		if _, err := c.Read(buf); err != io.EOF {
			t.Fatalf("round %d: after the data: %v, want io.EOF", i, err)
		}
		if took := time.Since(start); took > bound {
			late++
			after := ReadPollerStats()
			t.Logf("round %d: EOF %v after the data; poller: %d waits, %d UDT signals, %d scans, %d backstop scans (%d found)", i, took,
				after.Waits-before.Waits, after.UDTSignals-before.UDTSignals, after.Scans-before.Scans,
				after.BackstopScans-before.BackstopScans, after.BackstopFinds-before.BackstopFinds)
		}
		c.Close()
	}
	t.Logf("%d rounds, %d with EOF later than %v", rounds, late, bound)
	if rounds >= 1000 && late > rounds/1000 {
		t.Errorf("%d of %d rounds had EOF later than %v, want at most %d", late, rounds, bound, rounds/1000)
	}
}

// TestCloseAfterPeerKilled: the peer process is killed; this side writes
// 100 KiB (Write succeeds: it lands in UDT's buffer), waits until UDT has
// given up on the peer (45 to 53 s) and deleted the socket, then closes:
// Close names what was never acknowledged. Also with a 5 s peer idle
// timeout, which a blocked Read, a Write and Close each notice. Only with
// UDT_KILLED_PEER_WAIT=1 (./build.sh soak): it waits out UDT's timeout.
func TestCloseAfterPeerKilled(t *testing.T) {
	if os.Getenv("UDT_KILLED_PEER_WAIT") == "" {
		t.Skip("waits out UDT's 45-53 s; set UDT_KILLED_PEER_WAIT=1 (./build.sh soak)")
	}
	t.Parallel()
	for _, idle := range []time.Duration{0, 5 * time.Second} {
		l := listenT(t, "udt", "127.0.0.1:0", Config{PeerIdleTimeout: idle})
		child, c := startChild(t, l, "UDT_TEST_CHILD_READER")
		if _, err := c.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		c.Flush(context.Background()) // the child read it all
		child.Process.Kill()
		child.Wait()
		killed := time.Now()
		if _, err := c.Write(make([]byte, 100<<10)); err != nil {
			t.Fatalf("Write after the kill: %v", err)
		}
		if idle > 0 {
			c.SetReadDeadline(time.Now().Add(timeoutUpperBound))
			_, rerr := c.Read(make([]byte, 1))
			noticed := time.Since(killed)
			_, werr := c.Write([]byte("x"))
			cerr := c.Close()
			t.Logf("peer idle timeout %v: Read noticed the kill after %v: %v; then Write: %v; Close: %v", idle, noticed.Round(time.Millisecond), rerr, werr, cerr)
			if !errors.Is(rerr, syscall.ETIMEDOUT) || !errors.Is(werr, syscall.ETIMEDOUT) || CodeOf(cerr) != ErrConnLost || !strings.Contains(cerr.Error(), "not acknowledged") {
				t.Errorf("with a peer idle timeout: Read %v, Write %v, Close %v", rerr, werr, cerr)
			}
			continue
		}
		for deadline := time.Now().Add(2 * time.Minute); c.Socket().SockState() != StatusNonexist; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("UDT kept the socket of a killed peer: %v", c.Socket().SockState())
			}
		}
		err := c.Close()
		t.Logf("UDT gave up on the killed peer and deleted the socket after %v; Close: %v", time.Since(killed).Round(time.Second), err)
		if CodeOf(err) != ErrConnLost || !strings.Contains(err.Error(), "not acknowledged") {
			t.Errorf("Close after UDT gave up on the killed peer: %v; want what was not acknowledged", err)
		}
	}
}

// waitNonexist waits until UDT's garbage collector has deleted s.
func waitNonexist(t testing.TB, s Socket) {
	t.Helper()
	for deadline := time.Now().Add(timeoutUpperBound); s.SockState() != StatusNonexist; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("UDT kept socket %v: %v", s, s.SockState())
		}
	}
}

// A peer's clean close makes UDT delete our socket about 2 s later, under
// the Go object: from then on UDT answers 5004 for it. Every method must
// give the answer for a connection the peer closed (EOF to a reader, a
// broken connection to a writer), never net.ErrClosed, which means this
// side closed it, and never a hang.
func TestCallsAfterUDTDeletedTheSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	testenv.WriteRandomFile(t, src, 1<<20, 5)
	c, s := connPair(t, Config{})
	c.Close()
	waitNonexist(t, s.Socket())

	wantBroken := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrConnLost) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s on a conn whose peer closed: %v, want a broken connection", what, err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("Read: %d, %v, want io.EOF", n, err)
		}
		_, err := s.Write([]byte("x"))
		wantBroken("Write", err)
		_, err = s.SendFile(src, 0, 1<<20)
		wantBroken("SendFile", err)
		if _, err := s.RecvFile(filepath.Join(dir, "dst"), 0, 10); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("RecvFile: %v, want io.ErrUnexpectedEOF", err)
		}
		// The last figures UDT had, marked as final.
		if st, err := s.Stats(); err != nil || !st.Ended || st.Total.Duration == 0 {
			t.Errorf("Stats on a conn whose peer closed: %+v, %v; want its last figures, Ended", st.Total, err)
		}
		if err := s.SetDeadline(time.Now().Add(time.Second)); err != nil {
			t.Errorf("SetDeadline: %v", err)
		}
		if s.LocalAddr() == nil || s.RemoteAddr() == nil {
			t.Errorf("addresses lost: %v %v", s.LocalAddr(), s.RemoteAddr())
		}
		if err := s.Close(); err != nil {
			t.Errorf("first Close: %v", err)
		}
		if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after our Close: %v", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after our Close: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(timeoutUpperBound):
		t.Fatal("a call on a socket UDT deleted did not return")
	}

	// The same in message mode.
	mc, ms := connPair(t, Config{Message: true})
	mc.Close()
	waitNonexist(t, ms.Socket())
	if _, err := ms.Read(make([]byte, 8)); err != io.EOF {
		t.Errorf("message Read: %v, want io.EOF", err)
	}
	_, err := ms.Write([]byte("x"))
	wantBroken("message Write", err)
}

// Calls blocked when the peer closes, and still blocked while UDT deletes
// the socket, return: a Read with io.EOF, a Write (the peer's window full)
// with a broken connection; Close then names what was not delivered.
func TestBlockedCallsWhenUDTDeletesTheSocket(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	werr, rerr := make(chan error, 1), make(chan error, 1)
	go func() {
		big := make([]byte, 1<<20)
		for {
			if _, err := s.Write(big); err != nil {
				werr <- err
				return
			}
		}
	}()
	go func() {
		_, err := s.Read(make([]byte, 8))
		rerr <- err
	}()
	// The Write blocks once c's window is full.
	blocked(t, s.fd.pd, EventIn, 1)
	blocked(t, s.fd.pd, EventOut, 1)
	c.Close()
	for range 2 {
		select {
		case err := <-werr:
			if !errors.Is(err, ErrConnLost) || errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked Write after the peer closed: %v, want a broken connection", err)
			}
		case err := <-rerr:
			if err != io.EOF {
				t.Errorf("blocked Read after the peer closed: %v, want io.EOF", err)
			}
		case <-time.After(timeoutUpperBound):
			t.Fatal("a blocked call did not return after the peer closed")
		}
	}
	waitNonexist(t, s.Socket())
	// What the peer never acknowledged is named, however late Close comes.
	if err := s.Close(); !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("Close: %v; want ECONNLOST naming what the peer did not acknowledge", err)
	}
}

// The connection edges a TCP user takes for granted, each once reproduced
// against this package: data lost at Close, a late EOF, a Close that does
// not wait for the peer (the dial edges are in dial_test.go).

// childWriteClose is the test binary re-executed as a program that writes
// UDT_TEST_CHILD_WRITE_CLOSE_BYTES bytes of pattern(1) to addr, closes, and
// returns from main at once.
func childWriteClose(addr string) {
	n, _ := strconv.ParseInt(os.Getenv("UDT_TEST_CHILD_WRITE_CLOSE_BYTES"), 10, 64)
	d := Dialer{Config: Config{MaxSendRate: 8 * 5 << 20}}
	c, err := d.Dial("udt", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	if _, err := io.CopyN(writerOnly{c}, pattern(1), n); err != nil {
		fmt.Fprintln(os.Stderr, "child: write:", err)
		os.Exit(4)
	}
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child: close:", err)
		os.Exit(5)
	}
	os.Exit(0) // as main returning: UDT's threads die with the process
}

// Case 1: a program writes 10 MiB at 5 MiB/s, closes and exits: with TCP
// every byte arrives, and so it must here.
func TestWriteCloseExitDelivers(t *testing.T) {
	t.Parallel()
	size := int64(10 << 20)
	if testing.Short() {
		size = 2 << 20
	}
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), "UDT_TEST_CHILD_WRITE_CLOSE="+l.Addr().String(),
		"UDT_TEST_CHILD_WRITE_CLOSE_BYTES="+strconv.FormatInt(size, 10))
	var stderr bytes.Buffer
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	l.SetDeadline(time.Now().Add(timeoutUpperBound))
	c, err := l.AcceptUDT()
	if err != nil {
		t.Fatalf("accepting the child: %v", err)
	}
	defer c.Close()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("reading what the child wrote: %v after %d bytes", err, n)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	want := sha256.New()
	io.CopyN(want, pattern(1), size)
	if n != size || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes (sha256 %x), want %d (sha256 %x)", n, h.Sum(nil), size, want.Sum(nil))
	}
}

// Case 4: after write-then-close, the client reads the reply and then EOF
// promptly. The default suite checks it ends; UDT_EOF_ROUNDS=1000 prints
// the latency distribution (./build.sh bench).
func TestEOFAfterWriteThenClose(t *testing.T) {
	t.Parallel()
	rounds := 20
	if v, _ := strconv.Atoi(os.Getenv("UDT_EOF_ROUNDS")); v > 0 {
		rounds = v
	}
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	closed := make(chan time.Time, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("bye\n"))
			c.Close()
			closed <- time.Now()
		}
	}()
	var lat []time.Duration
	for i := range rounds {
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("round %d: dial: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(timeoutUpperBound))
		buf := make([]byte, 16)
		n, err := io.ReadFull(c, buf[:4])
		if err != nil || string(buf[:n]) != "bye\n" {
			t.Fatalf("round %d: read %q, %v", i, buf[:n], err)
		}
		if _, err := c.Read(buf); err != io.EOF {
			t.Fatalf("round %d: Read after the reply: %v, want io.EOF", i, err)
		}
		eof := time.Now()
		lat = append(lat, eof.Sub(<-closed))
		c.Close()
	}
	slices.Sort(lat)
	t.Logf("EOF after the peer's Close returned, %d rounds: p50 %v, p90 %v, p99 %v, max %v", rounds,
		lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])
}

// Close returns once everything written is acknowledged: what was
// written is all there, and nothing is left in the send buffer.
func TestCloseWaitsForAcknowledgement(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{MaxSendRate: 8 * 20 << 20})
	size := int64(8 << 20)
	got := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, s)
		got <- [32]byte(h.Sum(nil))
	}()
	if _, err := io.CopyN(writerOnly{c}, pattern(2), size); err != nil {
		t.Fatal(err)
	}
	sock := c.Socket()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := sock.SockState(); st != StatusClosed && st != StatusNonexist {
		t.Fatalf("socket after Close: %v", st)
	}
	want := sha256.New()
	io.CopyN(want, pattern(2), size)
	select {
	case g := <-got:
		if g != [32]byte(want.Sum(nil)) {
			t.Fatal("the peer got other bytes than were written")
		}
	case <-time.After(timeoutUpperBound):
		t.Fatal("the peer saw no EOF after Close")
	}
}

// SetLinger(0) discards: Close returns at once with data unacknowledged.
// A peer that goes away while data waits makes Close fail, naming it.
func TestCloseLingerAndPeerGone(t *testing.T) {
	t.Parallel()
	fill := func(c *Conn) {
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			if _, err := c.Write(make([]byte, 1<<20)); err != nil {
				break
			}
		}
		c.SetWriteDeadline(time.Time{})
	}
	t.Run("discard", func(t *testing.T) {
		t.Parallel()
		c, _ := connPair(t, Config{})
		fill(c)
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close with linger 0: %v", err)
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		t.Parallel()
		c, s := connPair(t, Config{})
		fill(c)
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		s.SetLinger(0)
		s.Close()
		select {
		case err := <-closed:
			if !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "not acknowledged") {
				t.Fatalf("Close after the peer went: %v, want ECONNLOST naming what was left", err)
			}
		case <-time.After(timeoutUpperBound):
			t.Fatal("Close did not return after its peer closed")
		}
	})
}

// http.Server.Shutdown over UDT loses no response: each handler's reply,
// written before the server closes the connection, arrives whole.
func TestHTTPShutdownLosesNoResponse(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	started := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Write(body)
	})}
	go srv.Serve(l)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d Dialer
			return d.DialContext(ctx, "udt", addr)
		},
	}}
	defer client.CloseIdleConnections()
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get("http://" + l.Addr().String() + "/")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err == nil && !bytes.Equal(got, body) {
				err = fmt.Errorf("got %d bytes, want %d", len(got), len(body))
			}
			errs <- err
		}()
	}
	for range n {
		<-started
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("request in flight during Shutdown: %v", err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

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

// Every exported method of a nil *Conn, a nil *Listener, a zero Conn and
// Listener, and the zero Socket returns (an error where it has one)
// instead of panicking, and a *Conn's and *Listener's error is EINVAL. The
// methods are found by reflection, so a method added later is covered.
func TestNilAndZeroValuesDoNotPanic(t *testing.T) {
	t.Parallel()
	for _, v := range []any{(*Conn)(nil), &Conn{}, (*Listener)(nil), &Listener{}, Socket{}} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumMethod() {
			m := rv.Type().Method(i)
			name := fmt.Sprintf("%T.%s", v, m.Name)
			if v, ok := v.(*Listener); ok && v == nil && m.Name == "String" {
				continue // checked below
			}
			args := zeroArgs(rv.Method(i).Type())
			var out []reflect.Value
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panicked: %v", name, r)
					}
				}()
				done := make(chan struct{})
				timer := time.AfterFunc(timeoutUpperBound, func() {
					select {
					case <-done:
					default:
						t.Errorf("%s has not returned after %v", name, timeoutUpperBound)
					}
				})
				defer timer.Stop()
				out = rv.Method(i).Call(args)
				close(done)
			}()
			if len(out) == 0 {
				continue
			}
			last := out[len(out)-1]
			if last.Type() != reflect.TypeFor[error]() {
				continue
			}
			if _, isSocket := v.(Socket); isSocket {
				continue // UDT answers for a socket it does not know; not panicking is the point
			}
			if err, _ := last.Interface().(error); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("%s = %v, want EINVAL", name, err)
			}
		}
	}
	if s := fmt.Sprint((*Listener)(nil)); s != "udt listener <nil>" {
		t.Errorf("fmt.Sprint(nil *Listener) = %q", s)
	}
}

// zeroArgs makes zero arguments for a method of type ft, with a live
// context where one is wanted (none for a variadic tail).
func zeroArgs(ft reflect.Type) []reflect.Value {
	n := ft.NumIn()
	if ft.IsVariadic() {
		n--
	}
	args := make([]reflect.Value, n)
	for j := range args {
		if in := ft.In(j); in == reflect.TypeFor[context.Context]() {
			args[j] = reflect.ValueOf(context.Background())
		} else {
			args[j] = reflect.Zero(in)
		}
	}
	return args
}

// fmt shows a Listener and a Conn by their addresses, not their insides.
func TestListenerAndConnString(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	if got, want := fmt.Sprint(l), "udt listener on "+l.Addr().String(); got != want {
		t.Fatalf("fmt.Sprint(listener) = %q, want %q", got, want)
	}
	c, _ := connPair(t, Config{})
	if got, want := fmt.Sprint(c), "udt "+c.LocalAddr().String()+"->"+c.RemoteAddr().String(); got != want {
		t.Fatalf("fmt.Sprint(conn) = %q, want %q", got, want)
	}
	l.Close()
	c.SetLinger(0)
	c.Close()
	if !strings.HasSuffix(fmt.Sprint(l), "(closed)") || !strings.HasSuffix(fmt.Sprint(c), "(closed)") {
		t.Fatalf("closed: %v, %v", l, c)
	}
}

// A program's Startup and Cleanup leave the net layer's connections open,
// even when its Startup came first: the net layer holds its own. A
// Cleanup beyond the program's Startups is refused. Not parallel: it
// takes back TestMain's Startup for a moment.
func TestCleanupLeavesNetLayerConnections(t *testing.T) {
	c, s := connPair(t, Config{})
	if err := Startup(); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	// TestMain's Startup, matched now: without the net layer's own
	// Startup, UDT's count would reach zero here.
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	err := Cleanup()
	if startErr := Startup(); startErr != nil { // TestMain's, back
		t.Fatal(startErr)
	}
	if CodeOf(err) != ErrInvOp || !strings.Contains(err.Error(), "matching Startup") {
		t.Fatalf("Cleanup beyond the program's Startups = %v, want ErrInvOp", err)
	}
	if _, err := c.Write([]byte("still open")); err != nil {
		t.Fatalf("Write after Startup and Cleanup: %v", err)
	}
	s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
	b := make([]byte, 10)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "still open" {
		t.Fatalf("Read after Startup and Cleanup = %q, %v", b, err)
	}
}
