package udt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

// acceptAsync accepts one connection on l in the background.
func acceptAsync(l *Listener) <-chan *Conn {
	ch := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptUDT()
		if err != nil {
			c = nil
		}
		ch <- c
	}()
	return ch
}

func TestDialUDTListenUDT(t *testing.T) {
	t.Parallel()
	l, err := ListenUDT("udt", &Addr{netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := acceptAsync(l)
	c, err := DialUDT("udt4", nil, l.Addr().(*Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-acc
	if s == nil {
		t.Fatal("Accept failed")
	}
	defer s.Close()
	testenv.Exchange(t, "DialUDT", c, s, 1<<20)
	if err := c.Flush(context.Background()); err != nil {
		t.Errorf("Flush: %v", err)
	}

	// From a local address of its own.
	acc = acceptAsync(l)
	c2, err := DialUDT("udt", &Addr{netip.MustParseAddrPort("127.0.0.1:0")}, l.Addr().(*Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if s2 := <-acc; s2 == nil {
		t.Fatal("Accept failed")
	} else {
		defer s2.Close()
		if c2.LocalAddr().(*Addr).Port() == c.LocalAddr().(*Addr).Port() {
			t.Errorf("DialUDT with laddr shared the implicit port %v", c.LocalAddr())
		}
		if got, want := s2.RemoteAddr().String(), c2.LocalAddr().String(); got != want {
			t.Errorf("accepted connection's peer %s, dialer's local address %s", got, want)
		}
	}
}

func TestTypedConstructorsOnConfigs(t *testing.T) {
	t.Parallel()
	lc := ListenConfig{Config: Config{Message: true}}
	l, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := acceptAsync(l)
	d := Dialer{Config: Config{Message: true}}
	c, err := d.DialUDT(context.Background(), "udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-acc
	if s == nil {
		t.Fatal("Accept failed")
	}
	defer s.Close()
	if _, err := c.WriteMsg([]byte("one message"), 0, true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "one message" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

func TestTypedConstructorsBadInput(t *testing.T) {
	t.Parallel()
	v4 := &Addr{netip.MustParseAddrPort("127.0.0.1:9")}
	v6 := &Addr{netip.MustParseAddrPort("[::1]:9")}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"DialUDT nil raddr", second(DialUDT("udt", nil, nil)), "missing address"},
		{"DialUDT udt6 to v4", second(DialUDT("udt6", nil, v4)), "address is not IPv6"},
		{"DialUDT family mix", second(DialUDT("udt", v6, v4)), "families differ"},
		{"DialUDT bad network", second(DialUDT("tcp", nil, v4)), "unknown network tcp"},
		{"ListenUDT udt4 on v6", second(ListenUDT("udt4", v6)), "address is not IPv4"},
		{"ListenUDT bad network", second(ListenUDT("udp", nil)), "unknown network udp"},
		{"Rendezvous port 0", second(Rendezvous(context.Background(), "udt", "127.0.0.1:0", "127.0.0.1:9")), "not port 0"},
		{"Dialer.Rendezvous unbound", second((&Dialer{}).Rendezvous(context.Background(), "udt", "127.0.0.1:9")), "needs a local address"},
		{"NewTransport bad config", second(NewTransport("udt", "127.0.0.1:0", &Config{MSS: 10})), "Config.MSS"},
		{"NewTransport bad network", second(NewTransport("tcp", "127.0.0.1:0", nil)), "unknown network"},
		{"nil Transport dial", second((*Transport)(nil).DialUDT(context.Background(), "udt", "127.0.0.1:9")), "not a transport"},
		{"nil Transport close", (*Transport)(nil).Close(), "not a transport"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
	// A nil laddr listens on every address, on a port of its own.
	l, err := ListenUDT("udt", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a := l.Addr().(*Addr); !a.Addr().IsUnspecified() || !a.Addr().Is4() || a.Port() == 0 {
		t.Errorf("ListenUDT(udt, nil) listens on %v, want 0.0.0.0 and a port", a)
	}
}

func second[T any](_ T, err error) error { return err }

func TestTransportSharesOnePort(t *testing.T) {
	t.Parallel()
	tr, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	port := tr.LocalAddr().(*Addr).Port()
	if port == 0 {
		t.Fatal("Transport on port 0")
	}
	before := udpSocketsOnPort(t, port)
	if before != 1 {
		t.Fatalf("%d UDP sockets of this process on the transport's port, want 1", before)
	}
	l, err := tr.ListenUDT()
	if err != nil {
		t.Fatal(err)
	}
	// Kept open (and reachable: a dropped Listener's cleanup closes it).
	defer l.Close()
	if got := l.Addr().(*Addr).Port(); got != port {
		t.Fatalf("listener on port %d, transport on %d", got, port)
	}
	// A second listener on the port is UDT's to refuse.
	if l2, err := tr.ListenUDT(); err == nil {
		l2.Close()
		t.Error("a second listener on the transport worked")
	}
	// A connection dialed from the transport to a listener elsewhere, and
	// one dialed from elsewhere to the transport's listener.
	other, err := ListenUDT("udt", &Addr{netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	acc := acceptAsync(other)
	out, err := tr.DialUDT(context.Background(), "udt", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	outPeer := <-acc
	if outPeer == nil {
		t.Fatal("Accept failed")
	}
	defer outPeer.Close()
	if got := out.LocalAddr().(*Addr).Port(); got != port {
		t.Errorf("dialed connection on port %d, transport on %d", got, port)
	}
	if got := outPeer.RemoteAddr().(*Addr).Port(); got != port {
		t.Errorf("the peer sees the dial from port %d, transport on %d", got, port)
	}
	acc = acceptAsync(l)
	in, err := DialUDT("udt", nil, tr.LocalAddr().(*Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	inPeer := <-acc
	if inPeer == nil {
		t.Fatal("Accept failed")
	}
	defer inPeer.Close()
	testenv.Exchange(t, "dialed from the transport", out, outPeer, 1<<20)
	testenv.Exchange(t, "accepted by the transport", in, inPeer, 1<<20)
	if n := udpSocketsOnPort(t, port); n != 1 {
		t.Errorf("%d UDP sockets of this process on the transport's port with a listener and two connections, want 1", n)
	}
	// Rendezvous and a listener cannot share a port in UDT 4.11.
	if _, err := tr.Rendezvous(context.Background(), "udt", other.Addr().String()); !errors.Is(err, errBusyListener) {
		t.Errorf("Rendezvous with a listener open: %v, want errBusyListener", err)
	}
	// The family is the transport's.
	if _, err := tr.DialUDT(context.Background(), "udt6", "[::1]:9"); err == nil || !strings.Contains(err.Error(), "transport's port is IPv4") {
		t.Errorf("IPv6 dial from an IPv4 transport: %v", err)
	}
}

// TestTransportClose checks what Close does to what is open on the port:
// the listener and every connection close at once, blocked calls return
// net.ErrClosed, peers read EOF, and the UDP port is free afterwards.
func TestTransportClose(t *testing.T) {
	t.Parallel()
	tr, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	port := tr.LocalAddr().(*Addr).Port()
	l, err := tr.ListenUDT()
	if err != nil {
		t.Fatal(err)
	}
	acc := acceptAsync(l)
	in, err := DialUDT("udt", nil, tr.LocalAddr().(*Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	accepted := <-acc
	if accepted == nil {
		t.Fatal("Accept failed")
	}
	other, err := ListenUDT("udt", &Addr{netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	acc = acceptAsync(other)
	out, err := tr.DialUDT(context.Background(), "udt", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	outPeer := <-acc
	if outPeer == nil {
		t.Fatal("Accept failed")
	}
	defer outPeer.Close()

	blocked := make(chan error, 3)
	go func() { _, err := out.Read(make([]byte, 10)); blocked <- err }()
	go func() { _, err := accepted.Read(make([]byte, 10)); blocked <- err }()
	go func() { _, err := l.Accept(); blocked <- err }()
	time.Sleep(50 * time.Millisecond) // let them block (they pass either way)

	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 3 {
		if err := <-blocked; !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked call after Transport.Close: %v, want net.ErrClosed", err)
		}
	}
	if _, err := out.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Transport.Close: %v, want net.ErrClosed", err)
	}
	if err := out.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Conn.Close after Transport.Close: %v, want net.ErrClosed", err)
	}
	for _, peer := range []*Conn{in, outPeer} {
		peer.SetReadDeadline(time.Now().Add(timeoutUpperBound))
		if _, err := peer.Read(make([]byte, 10)); err != io.EOF {
			t.Errorf("peer's Read after Transport.Close: %v, want io.EOF", err)
		}
	}
	if _, err := tr.DialUDT(context.Background(), "udt", other.Addr().String()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("DialUDT after Close: %v, want net.ErrClosed", err)
	}
	if _, err := tr.ListenUDT(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ListenUDT after Close: %v, want net.ErrClosed", err)
	}
	if err := tr.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	waitPortFree(t, port)
}

func TestTransportCloseEndsDial(t *testing.T) {
	t.Parallel()
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tr, err := NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := tr.DialUDT(ctx, "udt", silent.LocalAddr().String())
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	tr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("dial ended by Transport.Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(timeoutUpperBound):
		t.Fatal("Transport.Close did not end a dial in progress")
	}
}

// TestSharedPortReleased checks that the implicit port dialed connections
// share is given back after the last of them closes, and that the next dial
// opens a new one.
func TestSharedPortReleased(t *testing.T) {
	t.Parallel()
	l, d := privatePorts(t, 3<<20+12345)
	var conns []*Conn
	var port uint16
	for i := range 3 {
		acc := acceptAsync(l)
		c, err := d.DialUDT(context.Background(), "udt", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := <-acc
		if s == nil {
			t.Fatal("Accept failed")
		}
		conns = append(conns, c, s)
		p := c.LocalAddr().(*Addr).Port()
		if i == 0 {
			port = p
		} else if p != port {
			t.Fatalf("dial %d on port %d, the first on %d: not shared", i, p, port)
		}
	}
	if n := udpSocketsOnPort(t, port); n != 1 {
		t.Fatalf("%d UDP sockets of this process on the shared port, want 1", n)
	}
	for _, c := range conns[:4] {
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if n := udpSocketsOnPort(t, port); n != 1 {
		t.Fatalf("%d UDP sockets on the shared port with one connection open, want 1", n)
	}
	conns[4].Close()
	conns[5].Close()
	waitPortFree(t, port)
	// The next dial opens a new port.
	acc := acceptAsync(l)
	c, err := d.DialUDT(context.Background(), "udt", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s := <-acc; s != nil {
		defer s.Close()
	}
	if p := c.LocalAddr().(*Addr).Port(); p == 0 {
		t.Fatalf("dial after the shared port closed: port %d", p)
	}
}

// Dialed connections spread over a few shared ports: a new port opens
// once every port carries sharedPorts.share connections, up to
// sharedPorts.max, and a dial then takes the port with the fewest.
// Lowered here to 2 and 3 (not parallel: the limits are the package's).
func TestSharedPortsSpreadDials(t *testing.T) {
	sharedPorts.mu.Lock()
	share, most := sharedPorts.share, sharedPorts.max
	sharedPorts.share, sharedPorts.max = 2, 3
	sharedPorts.mu.Unlock()
	defer func() {
		sharedPorts.mu.Lock()
		sharedPorts.share, sharedPorts.max = share, most
		sharedPorts.mu.Unlock()
	}()
	l, d := privatePorts(t, 3<<20+54321)
	perPort := map[uint16]int{}
	var order []uint16
	for i := range 7 {
		acc := acceptAsync(l)
		c, err := d.DialUDT(context.Background(), "udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i+1, err)
		}
		defer c.Close()
		if s := <-acc; s != nil {
			defer s.Close()
		}
		p := c.LocalAddr().(*Addr).Port()
		if perPort[p] == 0 {
			order = append(order, p)
		}
		perPort[p]++
		if n := udpSocketsOnPort(t, p); n != 1 {
			t.Fatalf("dial %d: %d UDP sockets of this process on port %d, want 1", i+1, n, p)
		}
	}
	// 2 on the first port, 2 on a second, 2 on a third, and the seventh on
	// one of them, the maximum reached.
	var counts []int
	for _, p := range order {
		counts = append(counts, perPort[p])
	}
	slices.Sort(counts)
	if !slices.Equal(counts, []int{2, 2, 3}) {
		t.Fatalf("7 dials over ports %v: %v connections each, want 2, 2 and 3", order, perPort)
	}
}

// privatePorts returns a listener, and a dialer whose connections share
// dial ports with no other test's: ports are shared per MSS and UDP buffer
// sizes, and udpRecvBuffer is a size only the caller uses.
func privatePorts(t *testing.T, udpRecvBuffer int) (*Listener, Dialer) {
	t.Helper()
	lc := ListenConfig{Config: Config{UDPRecvBuffer: udpRecvBuffer}}
	l, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, Dialer{Config: lc.Config}
}

// waitPortFree waits until this process holds no UDP socket on port: UDT
// closes a port's descriptor when it deletes the last socket on it, a
// second or two after that socket's close.
func waitPortFree(t *testing.T, port uint16) {
	t.Helper()
	deadline := time.Now().Add(timeoutUpperBound)
	for udpSocketsOnPort(t, port) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the process still holds a UDP socket on port %d after %v", port, timeoutUpperBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpSocketsOnPort counts the UDP sockets on port that this process holds:
// the sockets of /proc/thread-self/net/udp{,6} with that local port whose inode is
// among /proc/self/fd's.
func udpSocketsOnPort(t *testing.T, port uint16) int {
	t.Helper()
	// The thread's own view: /proc/net is the main thread's namespace's,
	// and a test that made a namespace may have left the main thread in it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	inodes := map[string]bool{}
	for _, name := range []string{"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if ok && err == nil && uint16(p) == port {
				inodes[fields[9]] = true
			}
		}
		f.Close()
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			n++
		}
	}
	return n
}
