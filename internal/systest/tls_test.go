package systest

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
)

// tlsPair runs a TLS handshake over a fresh UDT connection pair and returns
// both ends, the server's certificate verified by the client.
func tlsPair(t testing.TB) (client, server *tls.Conn, cert tls.Certificate) {
	t.Helper()
	c, s := connPair(t, udt.Config{})
	cert, pool := testenv.Cert(t)
	server = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	client = tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	deadline := time.Now().Add(testenv.TimeoutUpperBound)
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	c.SetDeadline(time.Time{})
	s.SetDeadline(time.Time{})
	return client, server, cert
}

// crypto/tls runs over a *Conn as over a TCP connection: the handshake
// verifies the server's certificate, and 64 MiB each way at once arrive
// intact.
func TestTLSOverUDT(t *testing.T) {
	t.Parallel()
	client, server, cert := tlsPair(t)
	cs := client.ConnectionState()
	if !cs.HandshakeComplete || cs.Version != tls.VersionTLS13 || len(cs.PeerCertificates) != 1 || !cs.PeerCertificates[0].Equal(cert.Leaf) {
		t.Fatalf("client's view: complete %v, version %x, peer certificates %d", cs.HandshakeComplete, cs.Version, len(cs.PeerCertificates))
	}
	if _, ok := client.NetConn().(*udt.Conn); !ok {
		t.Fatalf("tls.Conn over %T, not *udt.Conn", client.NetConn())
	}
	n := int64(64 << 20)
	if testing.Short() {
		n = 8 << 20
	}
	send := func(w io.Writer, seed uint64) (sum [32]byte) {
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(w, h), testenv.Pattern(seed), n); err != nil {
			t.Error(err)
		}
		return [32]byte(h.Sum(nil))
	}
	recv := func(r io.Reader) (sum [32]byte) {
		h := sha256.New()
		if _, err := io.CopyN(h, r, n); err != nil {
			t.Error(err)
		}
		return [32]byte(h.Sum(nil))
	}
	var wg sync.WaitGroup
	var up, down, gotUp, gotDown [32]byte
	wg.Go(func() { up = send(client, 1) })
	wg.Go(func() { down = send(server, 2) })
	wg.Go(func() { gotUp = recv(server) })
	wg.Go(func() { gotDown = recv(client) })
	wg.Wait()
	if up != gotUp || down != gotDown {
		t.Fatalf("sha256 differs: client → server %x → %x, server → client %x → %x", up, gotUp, down, gotDown)
	}
}

// tls.Conn.Close sends close_notify and closes the *Conn, whose Close
// waits until the peer has acknowledged what was written: the peer reads
// everything, then io.EOF (not an error: TLS saw the close_notify).
func TestTLSCloseDeliversAll(t *testing.T) {
	t.Parallel()
	client, server, _ := tlsPair(t)
	const n = 16 << 20
	sent := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(server, h), testenv.Pattern(3), n); err != nil {
			t.Error(err)
		}
		sent <- [32]byte(h.Sum(nil))
		if err := server.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	}()
	client.SetReadDeadline(time.Now().Add(testenv.TimeoutUpperBound))
	h := sha256.New()
	got, err := io.Copy(h, client)
	if err != nil || got != n {
		t.Fatalf("client read %d of %d bytes, then %v", got, n, err)
	}
	// io.Copy ends at io.EOF; one more Read says it again.
	if k, err := client.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		t.Fatalf("Read after the end: %d, %v; want io.EOF", k, err)
	}
	if want := <-sent; [32]byte(h.Sum(nil)) != want {
		t.Fatal("sha256 differs")
	}
	// Our own Close after the peer's: the close_notify may find the
	// connection gone, which tls reports, but the *Conn is closed either
	// way.
	err = client.Close()
	t.Logf("client Close after the peer's: %v", err)
	if _, rerr := client.NetConn().Read(make([]byte, 1)); !errors.Is(rerr, net.ErrClosed) {
		t.Fatalf("after tls Close (%v), the *Conn reads %v, want net.ErrClosed", err, rerr)
	}
}

// UDT has no half-close, but TLS has one: CloseWrite sends close_notify,
// after which the peer reads io.EOF and can still answer.
func TestTLSCloseWriteIsHalfClose(t *testing.T) {
	t.Parallel()
	client, server, _ := tlsPair(t)
	deadline := time.Now().Add(testenv.TimeoutUpperBound)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		req, err := io.ReadAll(server) // until the client's close_notify
		if err == nil {
			_, err = server.Write(append([]byte("got: "), req...))
		}
		if err == nil {
			err = server.Close()
		}
		done <- err
	}()
	if _, err := client.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	answer, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(answer, []byte("got: question")) {
		t.Fatalf("answer %q, %v", answer, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	client.Close()
}

// A TLS client that meets a peer speaking something else fails its
// handshake with an error, within its deadline, rather than hanging.
func TestTLSHandshakeWithPlainPeer(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, udt.Config{})
	go func() {
		// Not TLS: it takes the client's first bytes for a request,
		// answers a line of text, and closes.
		s.Read(make([]byte, 64))
		s.Write([]byte("HELLO, this is not TLS\n"))
		s.Close()
	}()
	_, pool := testenv.Cert(t)
	client := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	c.SetDeadline(time.Now().Add(testenv.TimeoutUpperBound))
	err := client.Handshake()
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		t.Fatalf("handshake with a plain peer: %v, want a tls.RecordHeaderError", err)
	}
}
