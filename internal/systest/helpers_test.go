package systest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The test binary re-executed in a suite's child role: benchChild never
	// returns (the parent kills it), hostileVictim exits when the parent
	// closes its standard input.
	if os.Getenv("UDT_TEST_FIREWALL_OFF") != "" {
		cudt.DisableFirewallForTesting() // a benchmark's baseline: what the check costs
	}
	if spec := os.Getenv("UDT_BENCH_CHILD"); spec != "" {
		benchChild(spec)
	}
	if os.Getenv("UDT_TEST_EXIT_CHILD") != "" {
		exitChild() // exits through C's exit
	}
	if os.Getenv("UDT_TEST_VICTIM") != "" {
		hostileVictim() // serves until its standard input closes
	}
	// One Startup for the whole run keeps the library's instance count above
	// zero, so a test's Cleanup can never tear down another test's sockets.
	if err := udt.Startup(); err != nil {
		panic(err)
	}
	// No Cleanup at the end: UDT's would wait out the linger of every socket
	// a test left with data in flight, and the process exit frees it all.
	code := m.Run()
	udt4.RemoveSharedPeers()
	if path := os.Getenv("UDT_TEST_FIREWALL_REPORT"); path != "" {
		// TestFirewallQuietOnLegitTraffic reads what the tests it ran did.
		b, _ := json.Marshal(udt.ReadFirewallStats())
		if err := os.WriteFile(path, b, 0o644); err != nil {
			panic(err)
		}
	}
	if code == 0 {
		// The package's poller stops once no socket is open, a moment after
		// the last Close, and abandoned dials wait on timers: a goroutine
		// still there after TimeoutUpperBound leaked.
		err := goleak.Find()
		for deadline := time.Now().Add(testenv.TimeoutUpperBound); err != nil && time.Now().Before(deadline); err = goleak.Find() {
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var loop4 = netip.MustParseAddrPort("127.0.0.1:0")

// listenT listens with cfg, the listener closed at the test's end.
func listenT(t testing.TB, network, addr string, cfg udt.Config) *udt.Listener {
	t.Helper()
	lc := udt.ListenConfig{Config: cfg}
	l, err := lc.ListenUDT(context.Background(), network, addr)
	if err != nil {
		t.Fatalf("Listen(%s, %s): %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connPair returns a dialed connection and the one accepted for it.
func connPair(t testing.TB, cfg udt.Config) (client, server *udt.Conn) {
	t.Helper()
	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	type res struct {
		c   *udt.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.AcceptUDT(); ch <- res{c, err} }()
	d := udt.Dialer{Config: cfg}
	c, err := d.DialUDT(context.Background(), "udt", l.Addr().String())
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

// newSock opens a raw socket, closed at the test's end.
func newSock(t testing.TB, f udt.Family, typ udt.SocketType) udt.Socket {
	t.Helper()
	s, err := udt.NewSocket(f, typ)
	if err != nil {
		t.Fatalf("NewSocket(%v, %v): %v", f, typ, err)
	}
	// No linger: a test's cleanup must not wait out unacknowledged data
	// (UDT's close can block for ~47 s when the peer went first). Tests that
	// need data delivered wait for it before they end.
	if err := s.SetLinger(udt.Linger{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listener returns a listening raw socket bound to addr and its address.
func listener(t testing.TB, typ udt.SocketType, addr netip.AddrPort, setup ...func(udt.Socket)) (udt.Socket, netip.AddrPort) {
	t.Helper()
	f := udt.IPv4
	if addr.Addr().Is6() {
		f = udt.IPv6
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

// pair returns a connected raw client and the server side accepted for it.
// setup runs on both the listener and the client before they bind.
func pair(t testing.TB, typ udt.SocketType, addr netip.AddrPort, setup ...func(udt.Socket)) (client, server udt.Socket) {
	t.Helper()
	l, la := listener(t, typ, addr, setup...)
	return dialAccept(t, l, la, typ, setup...)
}

func dialAccept(t testing.TB, l udt.Socket, to netip.AddrPort, typ udt.SocketType, setup ...func(udt.Socket)) (client, server udt.Socket) {
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

// sendAll writes n bytes from src with blocking Send and returns their
// digest.
func sendAll(s udt.Socket, src io.Reader, n int64) ([32]byte, error) {
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
func recvAll(s udt.Socket, n int64) ([32]byte, error) {
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
