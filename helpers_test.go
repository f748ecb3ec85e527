package udt

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("UDT_TEST_CHILD_WRITER"); addr != "" {
		childWriter(addr) // never returns: the parent kills it
	}
	if addr := os.Getenv("UDT_TEST_CHILD_READER"); addr != "" {
		childReader(addr) // never returns: the parent kills it
	}
	if addr := os.Getenv("UDT_TEST_CHILD_WRITE_CLOSE"); addr != "" {
		childWriteClose(addr) // exits as soon as Close returns
	}
	// Names resolve from /etc/hosts only: bad-input and fuzz tests feed
	// arbitrary host names, and tests send nothing beyond loopback.
	resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no such host (tests resolve from /etc/hosts only)")
	}}
	// One Startup for the whole run keeps the library's instance count above
	// zero, so a test's Cleanup can never tear down another test's sockets.
	if err := Startup(); err != nil {
		panic(err)
	}
	// No Cleanup at the end: UDT's would wait out the linger of every socket
	// a test left with data in flight, and the process exit frees it all.
	code := m.Run()
	if code == 0 {
		// The poller stops once no socket is open, as in a user's test
		// that checks with goleak after closing everything; abandoned dials
		// wait on timers, not on it.
		for deadline := time.Now().Add(timeoutUpperBound); pollerRunning(thePoller) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func pollerRunning(p *poller) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// timeoutUpperBound is testenv's, under the name the package's tests (and
// other engineers' files among them) already use.
const timeoutUpperBound = testenv.TimeoutUpperBound

var loop4 = netip.MustParseAddrPort("127.0.0.1:0")
var loop6 = netip.MustParseAddrPort("[::1]:0")

func newSock(t testing.TB, f Family, typ SocketType) Socket {
	t.Helper()
	s, err := NewSocket(f, typ)
	if err != nil {
		t.Fatalf("NewSocket(%v, %v): %v", f, typ, err)
	}
	// No linger: a test's cleanup must not wait out unacknowledged data
	// (UDT's close can block for ~47 s when the peer went first). Tests that
	// need data delivered wait for it before they end.
	if err := s.SetLinger(Linger{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listener returns a listening socket bound to addr and its address.
func listener(t testing.TB, typ SocketType, addr netip.AddrPort, setup ...func(Socket)) (Socket, netip.AddrPort) {
	t.Helper()
	f := IPv4
	if addr.Addr().Is6() {
		f = IPv6
	}
	l := newSock(t, f, typ)
	for _, fn := range setup {
		fn(l)
	}
	if err := l.Bind(addr); err != nil {
		t.Fatalf("Bind(%v): %v", addr, err)
	}
	if err := l.Listen(16); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	a, err := l.SockName()
	if err != nil {
		t.Fatalf("SockName: %v", err)
	}
	return l, a
}

// pair returns a connected client and the server side accepted for it.
// setup runs on both the listener and the client before they bind.
func pair(t testing.TB, typ SocketType, addr netip.AddrPort, setup ...func(Socket)) (client, server Socket) {
	t.Helper()
	l, la := listener(t, typ, addr, setup...)
	return dialAccept(t, l, la, typ, setup...)
}

func dialAccept(t testing.TB, l Socket, to netip.AddrPort, typ SocketType, setup ...func(Socket)) (client, server Socket) {
	t.Helper()
	c := newSock(t, l.Family(), typ)
	for _, fn := range setup {
		fn(c)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Connect(to) }()
	s, _, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := <-errc; err != nil {
		t.Fatalf("Connect(%v): %v", to, err)
	}
	return c, s
}

// wantCode fails unless err is a *Error with code c.
func wantCode(t testing.TB, what string, err error, c ErrorCode) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v (%T), want *udt.Error with %v", what, err, err, c)
	}
	if e.Code != c {
		t.Fatalf("%s: got code %v (%q), want %v", what, e.Code, err, c)
	}
	if !errors.Is(err, c) {
		t.Fatalf("%s: errors.Is(err, %v) is false", what, c)
	}
}

// pattern is testenv.Pattern under the name the package's tests use.
func pattern(seed uint64) io.Reader { return testenv.Pattern(seed) }

// sendAll writes n bytes from src with blocking Send and returns their
// digest.
func sendAll(s Socket, src io.Reader, n int64) ([32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		io.ReadFull(src, chunk)
		h.Write(chunk)
		for off := 0; off < len(chunk); {
			k, err := s.Send(chunk[off:])
			if err != nil {
				return [32]byte{}, err
			}
			off += k
		}
		n -= int64(len(chunk))
	}
	return [32]byte(h.Sum(nil)), nil
}

// recvAll reads exactly n bytes with blocking Recv and returns their digest.
func recvAll(s Socket, n int64) ([32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for n > 0 {
		k, err := s.Recv(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return [32]byte{}, err
		}
		h.Write(buf[:k])
		n -= int64(k)
	}
	return [32]byte(h.Sum(nil)), nil
}

// lockThread keeps the test on one OS thread, for reading UDT's
// thread-local last error.
func lockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// childWriter is the test binary re-executed as a peer that a test can
// kill: it dials addr and writes until it dies.
func childWriter(addr string) {
	c, err := Dial("udt", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(4)
		}
	}
}

// childReader is the test binary re-executed as a peer that a test can
// kill: it dials addr, reads the first MiB, then stops reading, so that the
// parent's writes fill the window and block, and waits to be killed.
func childReader(addr string) {
	c, err := Dial("udt", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	if _, err := io.CopyN(io.Discard, c, 1<<20); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(4)
	}
	select {}
}

// serveEach listens on loopback and runs handle on each accepted
// connection, in a goroutine of its own, until the listener closes (at the
// test's end).
func serveEach(t testing.TB, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := Listen("udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln
}

// loopTransport opens a Transport on a loopback port of its own, closed at
// the test's end.
func loopTransport(t testing.TB) *Transport {
	t.Helper()
	tr, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// badCase is one call with bad input and what its error must say: the
// class (errors.Is targets, and the UDT code where there is one) and the
// words that name what was wrong.
type badCase struct {
	name string
	call func() error
	is   []error   // each must match with errors.Is
	code ErrorCode // 0: no UDT code asserted
	says []string  // each must be in err.Error()
}

// runBad runs each case, turning a panic into that case's failure.
func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, tc := range cases {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = nil
					t.Errorf("%s: panicked: %v", tc.name, r)
				}
			}()
			return tc.call()
		}()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, target := range tc.is {
			if !errors.Is(err, target) {
				t.Errorf("%s: %v: errors.Is(err, %v) is false", tc.name, err, target)
			}
		}
		if tc.code != 0 && CodeOf(err) != tc.code {
			t.Errorf("%s: %v: code %v, want %v", tc.name, err, CodeOf(err), tc.code)
		}
		for _, w := range tc.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
}

func errOnly[T any](_ T, err error) error { return err }

func errOnly2[T, U any](_ T, _ U, err error) error { return err }

// listenT listens with cfg, the listener closed at the test's end.
func listenT(t testing.TB, network, addr string, cfg Config) *Listener {
	t.Helper()
	lc := ListenConfig{Config: cfg}
	l, err := lc.listen(context.Background(), network, addr)
	if err != nil {
		t.Fatalf("Listen(%s, %s): %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connPair returns a dialed connection and the one accepted for it.
func connPair(t testing.TB, cfg Config) (client, server *Conn) {
	t.Helper()
	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.AcceptUDT(); ch <- res{c, err} }()
	d := Dialer{Config: cfg}
	c, err := d.dial(context.Background(), "udt", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	// The cleanup discards: a test that needs data delivered waits for it
	// (or closes) itself, and one that left its peer stuck must not wait
	// out the linger time here.
	t.Cleanup(func() { c.SetLinger(0); c.Close(); r.c.SetLinger(0); r.c.Close() })
	return c, r.c
}

// waitUntil polls cond until it holds; after timeoutUpperBound it calls the
// test hung. Tests wait for a state this way, never for a fixed time.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeoutUpperBound); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeoutUpperBound)
		}
	}
}

// blocked waits until n goroutines are parked in pd waiting for ev
// (EventIn: Read or Accept; EventOut: Write or the connect): what a test
// needs before it changes a deadline or closes under a blocked call.
func blocked(t testing.TB, pd *pollDesc, ev Events, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d goroutines blocked for %v", n, ev), func() bool {
		pd.mu.Lock()
		defer pd.mu.Unlock()
		if ev == EventIn {
			return pd.readers == n
		}
		return pd.writers == n
	})
}

// receives waits for a result on ch; after timeoutUpperBound the call that
// should have sent it is taken for hung.
func receives[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeoutUpperBound):
		t.Fatalf("%s: no result within %v", what, timeoutUpperBound)
		panic("unreachable")
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
