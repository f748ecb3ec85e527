package systest

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
)

// written is a controller as a user writes one: the window open, the pace
// unbounded, every other callback left to ControllerBase.
type written struct{ udt.ControllerBase }

func (written) Init(cc *udt.CC) {
	cc.SetCWnd(cc.MaxCWnd())
	cc.SetPktSndPeriod(1)
}

// interopControllers is every controller shipped, and one written in the
// test, for the Go end of an interop transfer.
func interopControllers() map[string]udt.CongestionControl {
	m := map[string]udt.CongestionControl{
		"written": {Kind: udt.CCGo, Go: &udt.GoController{Name: "written", New: func() udt.Controller { return written{} }}},
	}
	for _, name := range []string{"native", "fixed:400", "bbr"} {
		cc, err := udt.ParseCongestionControl(name)
		if err != nil {
			panic(err)
		}
		m[name] = cc
	}
	return m
}

// Each controller on the Go end interoperates with the C++ reference
// peers both ways, the data intact: the Go end sending (C++ recvfile from
// a Go server) and receiving (Go from C++ sendfile), where BBR's receiving
// half sends the C++ sender its repeated loss reports and rate reports.
func TestInteropWithEveryController(t *testing.T) {
	t.Parallel()
	pp := peers(t)
	for name, cc := range interopControllers() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			const size = 16<<20 + 99
			testenv.WriteRandomFile(t, filepath.Join(dir, "offer.bin"), size, 21)
			want := testenv.SHA256File(t, filepath.Join(dir, "offer.bin"))
			setCC := func(s udt.Socket) {
				if err := s.SetCongestionControl(cc); err != nil {
					t.Fatal(err)
				}
			}

			// Go sends.
			l, la := listener(t, udt.Stream, loop4, setCC)
			served := make(chan error, 1)
			go func() { served <- serveOneFile(l, dir) }()
			out := filepath.Join(t.TempDir(), "fetched.bin")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			msg, err := exec.CommandContext(ctx, pp.RecvFile, "127.0.0.1", strconv.Itoa(int(la.Port())), "offer.bin", out).CombinedOutput()
			if err != nil {
				t.Fatalf("C++ recvfile: %v\n%s", err, msg)
			}
			if err := <-served; err != nil {
				t.Fatalf("Go server: %v", err)
			}
			if testenv.SHA256File(t, out) != want {
				t.Fatal("sha256 of what C++ recvfile got from Go differs")
			}

			// Go receives.
			_, port := startServerPeer(t, dir, pp.SendFile)
			c := newSock(t, udt.IPv4, udt.Stream)
			setCC(c)
			if err := c.Connect(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
				t.Fatal(err)
			}
			if k, err := c.CongestionControl(); err != nil || k.Kind != cc.Kind {
				t.Errorf("the connection runs %v (%v), want %v", k.Kind, err, cc.Kind)
			}
			req := binary.NativeEndian.AppendUint32(nil, uint32(len("offer.bin")))
			req = append(req, "offer.bin"...)
			if _, err := sendAll(c, bytes.NewReader(req), int64(len(req))); err != nil {
				t.Fatal(err)
			}
			var szb [8]byte
			for off := 0; off < 8; {
				n, err := c.Recv(szb[off:])
				if err != nil {
					t.Fatal(err)
				}
				off += n
			}
			if got := int64(binary.NativeEndian.Uint64(szb[:])); got != size {
				t.Fatalf("C++ sendfile announced %d bytes, want %d", got, size)
			}
			local := filepath.Join(t.TempDir(), "got.bin")
			if n, err := c.RecvFile(local, 0, size, 0); err != nil || n != size {
				t.Fatalf("RecvFile = %d, %v", n, err)
			}
			if testenv.SHA256File(t, local) != want {
				t.Fatal("sha256 of what Go got from C++ sendfile differs")
			}
		})
	}
}
