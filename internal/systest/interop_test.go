package systest

import (
	"bufio"
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
)

// Interop with the reference peers: Debian's upstream example programs,
// compiled by udt4 at test time.

func peers(t testing.TB) *udt4.Peers {
	t.Helper()
	p, err := udt4.SharedPeers()
	if err != nil {
		t.Fatalf("building the reference peers: %v", err)
	}
	return p
}

// peerProc is a running reference peer whose output lines are collected.
type peerProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  chan struct{} // pinged on every line
	done  chan struct{}
}

func startPeer(t testing.TB, dir string, bin string, args ...string) *peerProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	p := collectLines(t, cmd, true)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		cmd.Wait()
	})
	return p
}

// collectLines starts cmd and collects its output's lines (stderr's too
// if withStderr, else stderr goes to the test's).
func collectLines(t testing.TB, cmd *exec.Cmd, withStderr bool) *peerProc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if withStderr {
		cmd.Stderr = cmd.Stdout
	} else {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peerProc{cmd: cmd, seen: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

func (p *peerProc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// waitLine waits until some output line contains s.
func (p *peerProc) waitLine(t testing.TB, s string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, l := range p.output() {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-p.seen:
		case <-p.done:
			t.Fatalf("peer exited without printing %q; output:\n%s", s, strings.Join(p.output(), "\n"))
		case <-deadline:
			t.Fatalf("peer did not print %q within %v; output:\n%s", s, within, strings.Join(p.output(), "\n"))
		}
	}
}

// startServerPeer starts a reference server (appserver or sendfile) in dir
// and returns it once it holds its port. The programs take the port on
// their command line, so it is one found free a moment earlier, which
// another program may take first: the server then prints "bind: ..." and
// exits, and it is started again on another port.
func startServerPeer(t testing.TB, dir, bin string) (*peerProc, int) {
	t.Helper()
	const attempts = 10
	for i := 1; ; i++ {
		port, err := udt4.FreeUDPPort()
		if err != nil {
			t.Fatal(err)
		}
		p := startPeer(t, dir, bin, strconv.Itoa(port))
		if p.waitLineOrExit(t, "server is ready at port: "+strconv.Itoa(port), testenv.TimeoutUpperBound) {
			return p, port
		}
		out := p.output()
		if i == attempts || !slices.ContainsFunc(out, func(l string) bool { return strings.HasPrefix(l, "bind:") }) {
			t.Fatalf("%s on port %d exited without getting ready (attempt %d); output:\n%s", filepath.Base(bin), port, i, strings.Join(out, "\n"))
		}
		t.Logf("%s could not bind port %d, taken meanwhile (%s): another port", filepath.Base(bin), port, strings.Join(out, "; "))
	}
}

// waitLineOrExit waits until some output line contains s, and reports
// false if the peer exits first.
func (p *peerProc) waitLineOrExit(t testing.TB, s string, within time.Duration) bool {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, l := range p.output() {
			if strings.Contains(l, s) {
				return true
			}
		}
		select {
		case <-p.seen:
		case <-p.done:
			// Every line is in by now: look once more.
			for _, l := range p.output() {
				if strings.Contains(l, s) {
					return true
				}
			}
			return false
		case <-deadline:
			t.Fatalf("peer did not print %q within %v; output:\n%s", s, within, strings.Join(p.output(), "\n"))
		}
	}
}

func TestInteropGoClientToAppServer(t *testing.T) {
	t.Parallel()
	pp := peers(t)
	srv, port := startServerPeer(t, pp.Dir, pp.AppServer)

	c := newSock(t, udt.IPv4, udt.Stream)
	if err := c.Connect(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
		t.Fatalf("connect to the C++ appserver: %v", err)
	}
	me, _ := c.SockName()
	srv.waitLine(t, "new connection: 127.0.0.1:"+strconv.Itoa(int(me.Port())), testenv.TimeoutUpperBound)
	const n = 64 << 20
	if _, err := sendAll(c, testenv.Pattern(5), n); err != nil {
		t.Fatalf("sending to appserver: %v", err)
	}
	// Everything sent must be acknowledged by the C++ receiver.
	for deadline := time.Now().Add(testenv.TimeoutUpperBound); ; time.Sleep(5 * time.Millisecond) {
		if k, _ := c.SendData(); k == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("appserver did not acknowledge all data")
		}
	}
	p, _ := c.Perfmon(false)
	mss, _ := c.MSS()
	if min := int64(n / (mss - 44)); p.PktSentTotal < min || p.PktRecvACKTotal == 0 {
		t.Fatalf("sent %d packets (%d ACKs) for %d bytes", p.PktSentTotal, p.PktRecvACKTotal, n)
	}
}

func TestInteropAppClientToGoServer(t *testing.T) {
	t.Parallel()
	pp := peers(t)
	l, la := listener(t, udt.Stream, loop4)
	cli := startPeer(t, pp.Dir, pp.AppClient, "127.0.0.1", strconv.Itoa(int(la.Port())))
	s, peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !peer.Addr().IsLoopback() {
		t.Fatalf("appclient came from %v", peer)
	}
	// appclient sends 100000-byte zero blocks until it is killed. The
	// receive timeout only tells a stalled transfer from a slow machine.
	if err := s.SetRecvTimeout(testenv.TimeoutUpperBound); err != nil {
		t.Fatal(err)
	}
	const want = 16 << 20
	buf := make([]byte, 1<<20)
	var total int64
	start := time.Now()
	for total < want {
		n, err := s.Recv(buf)
		if err != nil {
			t.Fatalf("Recv from appclient after %d bytes: %v", total, err)
		}
		for _, b := range buf[:n] {
			if b != 0 {
				t.Fatalf("appclient's data has a non-zero byte after %d bytes", total)
			}
		}
		total += int64(n)
	}
	t.Logf("received %d MiB from the C++ appclient in %v", total>>20, time.Since(start).Round(time.Millisecond))
	// Its monitor thread reports the send rate once a second.
	cli.waitLine(t, "SendRate", testenv.TimeoutUpperBound)
}

// The request format of the upstream sendfile/recvfile examples: the
// client sends the name's length as a native 32-bit int and the name; the
// server answers the file's size as a native 64-bit int (-1: no such file)
// and then the file through UDT's sendfile.

func TestInteropGoGetFromCppSendFile(t *testing.T) {
	t.Parallel()
	pp := peers(t)
	dir := t.TempDir()
	const size = 48<<20 + 12345
	testenv.WriteRandomFile(t, filepath.Join(dir, "served.bin"), size, 11)
	_, port := startServerPeer(t, dir, pp.SendFile)

	c := newSock(t, udt.IPv4, udt.Stream)
	if err := c.Connect(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
		t.Fatal(err)
	}
	name := "served.bin"
	req := binary.NativeEndian.AppendUint32(nil, uint32(len(name)))
	req = append(req, name...)
	for off := 0; off < len(req); {
		n, err := c.Send(req[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	var szb [8]byte
	for off := 0; off < 8; {
		n, err := c.Recv(szb[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	got := int64(binary.NativeEndian.Uint64(szb[:]))
	if got != size {
		t.Fatalf("C++ sendfile announced %d bytes, the file has %d", got, size)
	}
	local := filepath.Join(t.TempDir(), "got.bin")
	if n, err := c.RecvFile(local, 0, got, 0); err != nil || n != size {
		t.Fatalf("RecvFile = %d, %v", n, err)
	}
	if testenv.SHA256File(t, local) != testenv.SHA256File(t, filepath.Join(dir, "served.bin")) {
		t.Fatal("sha256 of the received file differs")
	}
}

// serveOneFile answers one request of the upstream format from dir.
func serveOneFile(l udt.Socket, dir string) error {
	s, _, err := l.Accept()
	if err != nil {
		return err
	}
	defer s.Close()
	// Close only once the peer has everything: the test sockets do not
	// linger.
	defer func() {
		for deadline := time.Now().Add(testenv.TimeoutUpperBound); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n, err := s.SendData(); err != nil || n == 0 {
				return
			}
		}
	}()
	readFull := func(b []byte) error {
		for off := 0; off < len(b); {
			n, err := s.Recv(b[off:])
			if err != nil {
				return err
			}
			off += n
		}
		return nil
	}
	var lb [4]byte
	if err := readFull(lb[:]); err != nil {
		return err
	}
	name := make([]byte, binary.NativeEndian.Uint32(lb[:]))
	if err := readFull(name); err != nil {
		return err
	}
	path := filepath.Join(dir, filepath.Base(string(name)))
	size := int64(-1)
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	sz := binary.NativeEndian.AppendUint64(nil, uint64(size))
	for off := 0; off < len(sz); {
		n, err := s.Send(sz[off:])
		if err != nil {
			return err
		}
		off += n
	}
	if size < 0 {
		return nil
	}
	_, err = s.SendFile(path, 0, size, 0)
	return err
}

func TestInteropCppRecvFileFromGoServer(t *testing.T) {
	t.Parallel()
	pp := peers(t)
	dir := t.TempDir()
	const size = 40<<20 + 777
	testenv.WriteRandomFile(t, filepath.Join(dir, "offer.bin"), size, 12)
	l, la := listener(t, udt.Stream, loop4)
	served := make(chan error, 1)
	go func() { served <- serveOneFile(l, dir) }()

	out := filepath.Join(t.TempDir(), "fetched.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pp.RecvFile, "127.0.0.1", strconv.Itoa(int(la.Port())), "offer.bin", out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("C++ recvfile: %v\n%s", err, msg)
	}
	if err := <-served; err != nil {
		t.Fatalf("Go server: %v", err)
	}
	if testenv.SHA256File(t, out) != testenv.SHA256File(t, filepath.Join(dir, "offer.bin")) {
		t.Fatalf("sha256 of the file C++ recvfile wrote differs; it said:\n%s", msg)
	}

	// A missing file is answered the way the C++ server does, and the C++
	// client understands it.
	go func() { served <- serveOneFile(l, dir) }()
	msg, _ = exec.CommandContext(ctx, pp.RecvFile, "127.0.0.1", strconv.Itoa(int(la.Port())), "missing.bin", out+".2").CombinedOutput()
	if err := <-served; err != nil {
		t.Fatalf("Go server, missing file: %v", err)
	}
	if !strings.Contains(string(msg), "no such file") {
		t.Fatalf("C++ recvfile on a missing file said:\n%s", msg)
	}
}
