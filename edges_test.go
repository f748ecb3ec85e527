package udt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The connection edges a TCP user takes for granted, each once reproduced
// against this package: data lost at Close, a mismatched handshake that
// "connected", a dial failing because the server closed at once, a late
// EOF, and timeouts that matched nothing.

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

// Case 2: a handshake the listener rejects fails the dial with ECONNREJ,
// in both directions of the stream/message mismatch, and the listener
// accepts nothing.
func TestDialModeMismatchIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		listen, dial Config
	}{
		{"message to stream", Config{}, Config{Message: true}},
		{"stream to message", Config{Message: true}, Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := listenT(t, "udt", "127.0.0.1:0", tc.listen)
			d := Dialer{Config: tc.dial, Timeout: timeoutUpperBound}
			c, err := d.Dial("udt", l.Addr().String())
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !errors.Is(err, ErrConnRej) || !errors.Is(err, syscall.ECONNREFUSED) || CodeOf(err) != ErrConnRej {
				t.Fatalf("dial: %v (code %v), want ECONNREJ matching ECONNREFUSED", err, CodeOf(err))
			}
			var ne net.Error
			if !errors.As(err, &ne) || ne.Timeout() {
				t.Fatalf("a refusal is not a timeout: %v", err)
			}
			l.SetDeadline(time.Now().Add(100 * time.Millisecond))
			if a, err := l.Accept(); err == nil {
				a.Close()
				t.Fatal("the listener accepted the mismatched dial")
			}
		})
	}
}

// Case 3: a server that accepts and closes at once, or writes a line and
// closes, makes every dial succeed; the first Read returns what was
// written, then io.EOF.
func TestDialToServerThatClosesAtOnce(t *testing.T) {
	t.Parallel()
	for _, greeting := range []string{"", "bye\n"} {
		t.Run(fmt.Sprintf("%q", greeting), func(t *testing.T) {
			t.Parallel()
			l := listenT(t, "udt", "127.0.0.1:0", Config{})
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Write([]byte(greeting))
					c.Close()
				}
			}()
			for i := range 20 {
				d := Dialer{Timeout: timeoutUpperBound}
				c, err := d.Dial("udt", l.Addr().String())
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				c.SetReadDeadline(time.Now().Add(timeoutUpperBound))
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || string(got) != greeting {
					t.Fatalf("dial %d: read %q, %v; want %q then io.EOF", i, got, err, greeting)
				}
			}
		})
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

// Case 5: a dial that times out says so every way Go code asks.
func TestDialTimeoutMatchesEverything(t *testing.T) {
	t.Parallel()
	// A UDP port that answers nothing.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d := Dialer{Timeout: 300 * time.Millisecond}
	_, err = d.Dial("udt", pc.LocalAddr().String())
	checkDialTimeout(t, err)
}

func checkDialTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	switch {
	case err == nil:
		t.Fatal("dial to a silent port succeeded")
	case !errors.As(err, &ne) || !ne.Timeout():
		t.Fatalf("%v: not a net.Error with Timeout", err)
	case !errors.Is(err, os.ErrDeadlineExceeded), !errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("%v: does not match os.ErrDeadlineExceeded and context.DeadlineExceeded", err)
	case !errors.Is(err, ErrNoServer), CodeOf(err) != ErrNoServer, !errors.Is(err, syscall.ETIMEDOUT):
		t.Fatalf("%v: does not match ErrNoServer (code %v) and ETIMEDOUT", err, CodeOf(err))
	}
}

// Dialer.Timeout 0 means the context's deadline when there is one: a dial
// given 10 s asks for 10 s, not UDT's 3.
func TestDialZeroTimeoutTakesContextDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var d Dialer
	_, err = d.DialContext(ctx, "udt", pc.LocalAddr().String())
	took := time.Since(start)
	checkDialTimeout(t, err)
	if took < 9*time.Second {
		t.Fatalf("the dial gave up after %v, before its context's 10 s", took)
	}
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
