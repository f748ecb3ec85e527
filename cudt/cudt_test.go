package cudt

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/udt4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestLinkFlagsMatchPin(t *testing.T) {
	src, err := os.ReadFile("link.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#cgo LDFLAGS: (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("link.go has no #cgo LDFLAGS line")
	}
	if got := strings.TrimSpace(string(m[1])); got != udt4.LDFlags {
		t.Fatalf("cgo LDFLAGS %q differ from udt4.LDFlags %q", got, udt4.LDFlags)
	}
}

func TestOwnBinaryNeedsNoLibudt(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	needs, err := udt4.NeedsLibudt(exe)
	if err != nil {
		t.Fatal(err)
	}
	if needs {
		t.Fatalf("%s links libudt dynamically; it must be static", exe)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The shared would-block and timeout errors carry UDT's own text: compare
// them with what the library says on the same OS thread.
func TestSharedErrorsMatchLibraryText(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	c, _ := connected(t, SOCK_STREAM)

	// byShim: the shim answered without calling UDT (cudt_would_block),
	// with UDT's text for the code.
	check := func(what string, got error, want *Error, byShim bool) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %v, want the shared %d", what, got, want.Code)
		}
		code, desc := LastErrorCode(), LastErrorDesc()
		if byShim {
			code, desc = want.Code, ErrorText(want.Code)
		}
		if code != want.Code || desc != want.Msg {
			t.Fatalf("%s: library says %d %q, shared error says %d %q", what, code, desc, want.Code, want.Msg)
		}
	}

	rcvsyn := []byte{0}
	must(t, SetSockOpt(c, 2, rcvsyn))
	_, err := Recv(c, make([]byte, 4), 0)
	check("non-blocking recv", err, errAsyncRcv, true)

	must(t, SetSockOpt(c, 1, rcvsyn)) // UDT_SNDSYN
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if _, err = Send(c, buf, 0); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("non-blocking send never filled the buffer")
		}
	}
	check("non-blocking send", err, errAsyncSnd, true)

	eid, err := EpollCreate()
	must(t, err)
	defer EpollRelease(eid)
	_, _, _, _, err = EpollWait(eid, make([]int32, 1), nil, nil, nil, 1)
	check("epoll timeout", err, errTimeout, false)
}

func TestOptionBuffersAreChecked(t *testing.T) {
	u, err := Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	defer Close(u)
	for _, tc := range []struct {
		opt int
		buf []byte
	}{
		{0, nil}, {0, make([]byte, 3)}, {16, make([]byte, 4)}, {7, make([]byte, 7)}, {3, make([]byte, 8)}, {21, make([]byte, 8)}, {-1, make([]byte, 8)},
	} {
		if _, err := GetSockOpt(u, tc.opt, tc.buf); err != errOptSize {
			t.Errorf("GetSockOpt(%d, %d bytes) = %v", tc.opt, len(tc.buf), err)
		}
		if err := SetSockOpt(u, tc.opt, tc.buf); err != errOptSize {
			t.Errorf("SetSockOpt(%d, %d bytes) = %v", tc.opt, len(tc.buf), err)
		}
	}
	// Larger buffers are fine for reading, exact ones for writing.
	if n, err := GetSockOpt(u, 0, make([]byte, 8)); err != nil || n != 4 {
		t.Fatalf("GetSockOpt(MSS) = %d, %v", n, err)
	}
	must(t, SetSockOpt(u, 1, []byte{0}))
}

// A build without cgo fails with an error that names the remedy, not only
// "build constraints exclude all Go files".
func TestBuildWithoutCgoNamesTheRemedy(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	cmd := exec.Command(gobin, "build", ".")
	var out []byte
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err = cmd.CombinedOutput()
	if err == nil {
		t.Fatal("CGO_ENABLED=0 go build succeeded")
	}
	for _, want := range []string{"needs_cgo", "CGO_ENABLED_1", "libudt_dev"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("CGO_ENABLED=0 go build says %q, without %q", out, want)
		}
	}
}

// connected returns a connected pair of type typ on loopback; each opt
// runs on the listener and the client before they bind.
func connected(t *testing.T, typ int, opts ...func(u int)) (c, s int) {
	t.Helper()
	lo := Addr{Family: AF_INET, IP: [16]byte{127, 0, 0, 1}}
	l, err := Socket(AF_INET, typ, 0)
	must(t, err)
	t.Cleanup(func() { Close(l) })
	for _, o := range opts {
		o(l)
	}
	must(t, Bind(l, &lo))
	must(t, Listen(l, 1))
	la, err := SockName(l)
	must(t, err)
	c, err = Socket(AF_INET, typ, 0)
	must(t, err)
	t.Cleanup(func() { Close(c) })
	for _, o := range opts {
		o(c)
	}
	must(t, Connect(c, &la))
	s, _, err = Accept(l)
	must(t, err)
	t.Cleanup(func() { Close(s) })
	return c, s
}

func codeOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}

// The shim answers a non-blocking call that would fail for want of data
// without calling UDT; every other case still gets UDT's own answer.
func TestWouldBlockLeavesOtherAnswersToUDT(t *testing.T) {
	const optSndSyn, optRcvSyn, optRcvTimeo = 1, 2, 14
	off := []byte{0}
	c, s := connected(t, SOCK_STREAM)

	// Blocking: the call waits, here until UDT_RCVTIMEO.
	must(t, SetSockOpt(c, optRcvTimeo, []byte{100, 0, 0, 0}))
	start := time.Now()
	if _, err := Recv(c, make([]byte, 4), 0); codeOf(err) != 6003 || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("blocking recv with nothing to read: %v after %v; want UDT's timeout (6003) after 100 ms", err, time.Since(start))
	}

	// Non-blocking, with data: the data.
	must(t, SetSockOpt(c, optRcvSyn, off))
	if _, err := Send(s, []byte("abcd"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	for deadline := time.Now().Add(5 * time.Second); ; {
		n, err := Recv(c, buf, 0)
		if err == nil && n == 4 && string(buf) == "abcd" {
			break
		}
		if codeOf(err) != 6002 || time.Now().After(deadline) {
			t.Fatalf("non-blocking recv of sent data: %d, %v", n, err)
		}
		time.Sleep(time.Millisecond)
	}

	// A stream socket's recvmsg is UDT's error 5009, not "no data".
	if _, err := RecvMsg(c, buf); codeOf(err) != 5009 {
		t.Fatalf("recvmsg on a stream socket: %v; want 5009", err)
	}

	// The peer closed and nothing is left: connection lost, not "no data".
	must(t, Close(s))
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := Recv(c, buf, 0)
		if codeOf(err) == 2001 {
			break
		}
		if codeOf(err) != 6002 || time.Now().After(deadline) {
			t.Fatalf("non-blocking recv after the peer closed: %v; want 2001 (6002 until UDT sees the close)", err)
		}
		time.Sleep(time.Millisecond)
	}

	// Datagram sockets: recvmsg with nothing is "no data"; send is 5010.
	dc, _ := connected(t, SOCK_DGRAM)
	must(t, SetSockOpt(dc, optRcvSyn, off))
	must(t, SetSockOpt(dc, optSndSyn, off))
	if _, err := RecvMsg(dc, buf); err != errAsyncRcv {
		t.Fatalf("non-blocking recvmsg with nothing to read: %v; want 6002", err)
	}
	if _, err := Send(dc, buf, 0); codeOf(err) != 5010 {
		t.Fatalf("send on a datagram socket: %v; want 5010", err)
	}
}

// UDTThreads counts a UDP port's two threads while UDT runs the port, and
// stops counting them once UDT has torn the port down.
func TestUDTThreadsCountsAPortsThreads(t *testing.T) {
	// The garbage collector's thread starts with the library.
	if err := Startup(); err != nil {
		t.Fatal(err)
	}
	defer Cleanup()
	// Earlier tests' ports go with UDT's garbage collector, a second or
	// two after their sockets closed: count from when they are gone.
	base := UDTThreads()
	for stable, limit := time.Now(), time.Now().Add(20*time.Second); time.Since(stable) < 2500*time.Millisecond && time.Now().Before(limit); time.Sleep(50 * time.Millisecond) {
		if n := UDTThreads(); n != base {
			base, stable = n, time.Now()
		}
	}
	u, err := Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := UDTThreads()
	if err := Bind(u, &Addr{Family: syscall.AF_INET, IP: [16]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if n := UDTThreads(); n != before+2 {
		t.Errorf("%d UDT threads with a port bound, %d before; want 2 more", n, before)
	}
	if err := Close(u); err != nil {
		t.Fatal(err)
	}
	// UDT's garbage collector tears the port down 1 to 2 s after the close.
	deadline := time.Now().Add(15 * time.Second)
	for UDTThreads() > base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := UDTThreads(); n > base {
		t.Errorf("%d UDT threads after the port's socket closed; want %d again (or fewer, as other ports go)", n, base)
	}
}
