package udt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/golang/mock/gomock"
	"github.com/udtgo/udt"
	"github.com/udtgo/udt/udtmock"
)

var _ udt.Library = udt.Native
var _ udt.Library = (*udtmock.MockLibrary)(nil)

// sendAll is the kind of code a user writes against the seam.
func sendAll(lib udt.Library, s udt.Socket, b []byte) error {
	for len(b) > 0 {
		n, err := lib.Send(s, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func TestMockLibraryDrivesUserCode(t *testing.T) {
	ctrl := gomock.NewController(t)
	lib := udtmock.NewMockLibrary(ctrl)
	s := udt.SocketFromID(7, udt.IPv4)
	gomock.InOrder(
		lib.EXPECT().Send(s, []byte("hello")).Return(2, nil),
		lib.EXPECT().Send(s, []byte("llo")).Return(0, &udt.Error{Op: "send", Code: udt.ErrConnLost, Msg: "Connection was broken."}),
	)
	err := sendAll(lib, s, []byte("hello"))
	if !errors.Is(err, udt.ErrConnLost) || udt.CodeOf(err) != udt.ErrConnLost {
		t.Fatalf("sendAll = %v, want the mocked ErrConnLost", err)
	}
	if errors.Is(err, net.ErrClosed) {
		t.Fatal("a lost connection is not a closed socket")
	}
}

// Every method of the seam, through udt.Native, on real sockets.
func TestNativeLibraryIsTheRealOne(t *testing.T) {
	lib := udt.Native
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lib.Startup())
	defer lib.Cleanup()
	l, err := lib.Socket(udt.IPv4, udt.Stream)
	must(err)
	defer lib.Close(l)
	if st := lib.SockState(l); st != udt.StatusInit {
		t.Fatalf("state %v", st)
	}
	must(lib.SetSockOpt(l, udt.OptRcvSyn, true))
	must(lib.Bind(l, netip.MustParseAddrPort("127.0.0.1:0")))
	must(lib.Listen(l, 4))
	la, err := lib.SockName(l)
	must(err)

	c, err := lib.Socket(udt.IPv4, udt.Stream)
	must(err)
	defer lib.Close(c)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	must(err)
	must(syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(lib.Bind2(c, fd))
	errc := make(chan error, 1)
	go func() { errc <- lib.Connect(c, la) }()
	s, peer, err := lib.Accept(l)
	must(err)
	defer lib.Close(s)
	must(<-errc)
	if cp, _ := lib.PeerName(s); cp != peer {
		t.Fatalf("PeerName %v, Accept said %v", cp, peer)
	}

	ep, err := lib.EpollCreate()
	must(err)
	must(lib.EpollAddUsock(ep, s.ID(), udt.EventIn))
	if _, err := lib.Send(c, []byte("via the seam")); err != nil {
		t.Fatal(err)
	}
	ev := udt.EpollEvents{Read: make([]udt.SocketID, 0, 2)}
	if _, err := lib.EpollWait(ep, &ev, time.Second); err != nil || len(ev.Read) != 1 || ev.Read[0] != s.ID() {
		t.Fatalf("EpollWait: %v %+v", err, ev)
	}
	buf := make([]byte, 32)
	n, err := lib.Recv(s, buf)
	if err != nil || string(buf[:n]) != "via the seam" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
	must(lib.EpollRemoveUsock(ep, s.ID()))
	must(lib.EpollAddSsock(ep, fd, udt.EventIn))
	must(lib.EpollRemoveSsock(ep, fd))
	must(lib.EpollRelease(ep))
	if v, err := lib.GetSockOpt(s, udt.OptState); err != nil || v != udt.StatusConnected {
		t.Fatalf("UDT_STATE = %v, %v", v, err)
	}
	if p, err := lib.Perfmon(c, false); err != nil || p.PktSentTotal == 0 {
		t.Fatalf("Perfmon = %+v, %v", p, err)
	}

	// Files and messages go through the seam too.
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	must(os.WriteFile(src, []byte("file body"), 0o600))
	go func() { _, err := lib.SendFile(c, src, 0, 9, 0); errc <- err }()
	if n, err := lib.RecvFile(s, filepath.Join(dir, "dst"), 0, 9, 0); err != nil || n != 9 {
		t.Fatalf("RecvFile = %d, %v", n, err)
	}
	must(<-errc)
	if got, _ := os.ReadFile(filepath.Join(dir, "dst")); string(got) != "file body" {
		t.Fatalf("file arrived as %q", got)
	}
	if _, err := lib.SendMsg(c, []byte("m"), 0, true); udt.CodeOf(err) != udt.ErrStreamIll {
		t.Fatalf("SendMsg on a stream: %v", err)
	}
	if _, err := lib.RecvMsg(s, buf); udt.CodeOf(err) != udt.ErrStreamIll {
		t.Fatalf("RecvMsg on a stream: %v", err)
	}
	must(lib.Close(c))
	if err := lib.Close(c); udt.CodeOf(err) != udt.ErrInvSock {
		t.Fatalf("second close: %v", err)
	}
}

// fetch is user code written against the public interfaces.
func fetch(ctx context.Context, d udt.ContextDialer, addr string) ([]byte, error) {
	c, err := d.DialContext(ctx, "udt", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET")); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

func TestMockDialerAndConnection(t *testing.T) {
	ctrl := gomock.NewController(t)
	d := udtmock.NewMockContextDialer(ctrl)
	c := udtmock.NewMockConnection(ctrl)
	d.EXPECT().DialContext(gomock.Any(), "udt", "example:9000").Return(c, nil)
	c.EXPECT().Write([]byte("GET")).Return(3, nil)
	gomock.InOrder(
		c.EXPECT().Read(gomock.Any()).DoAndReturn(func(b []byte) (int, error) { return copy(b, "reply"), nil }),
		c.EXPECT().Read(gomock.Any()).Return(0, io.EOF),
	)
	c.EXPECT().Close().Return(nil)
	got, err := fetch(context.Background(), d, "example:9000")
	if err != nil || string(got) != "reply" {
		t.Fatalf("fetch = %q, %v", got, err)
	}
	var _ net.Listener = udtmock.NewMockListener(ctrl)
	var _ net.Conn = udtmock.NewMockConn(ctrl)
}
