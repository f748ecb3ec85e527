package udt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

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
	writeRandomFile(t, src, 1<<20, 5)
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

// raceRounds is how many rounds each close race runs: UDT_RACE_ROUNDS
// (300 by default, 1,000 in ./build.sh soak), spread over UDT_RACE_WORKERS
// goroutines (8 by default), each round on its own connection.
//
// The races are not parallel tests: four of them at once (32 connections
// churning with data, all dialed through the one shared UDP port) made
// dials time out and Close calls stall for over 5 s inside UDT.
func raceRounds() (rounds, workers int) {
	rounds, workers = 300, 8
	if v, err := strconv.Atoi(os.Getenv("UDT_RACE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("UDT_RACE_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	return rounds, workers
}

// runRounds runs the close race of a test: each worker gets its round
// function from setup, then runs rounds until all are done or the test
// failed.
func runRounds(t *testing.T, setup func(t *testing.T) func(i int, rng *rand.Rand)) {
	t.Helper()
	rounds, workers := raceRounds()
	seed := testenv.SeedFor(t)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		round := setup(t)
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for !t.Failed() {
				i := int(next.Add(1)) - 1
				if i >= rounds {
					return
				}
				round(i, rng)
			}
		})
	}
	wg.Wait()
	t.Logf("%d rounds on %d workers in %v", rounds, workers, time.Since(start).Round(time.Millisecond))
}

// returnsWithin reports whether wg is done within d: a call that does not
// return after Close is the failure these races look for.
func returnsWithin(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		t.Errorf("%s: a call did not return within %v", what, d)
		return false
	}
}

// Close racing Accept: a listener closed at a random moment while Accept
// waits and dials arrive. Accept returns net.ErrClosed or a conn, and
// every dial returns.
func TestCloseRacesAccept(t *testing.T) {
	var dials sync.WaitGroup
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		return func(i int, rng *rand.Rand) {
			var lc ListenConfig
			l, err := lc.listen(context.Background(), "udt", "127.0.0.1:0")
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					c, err := l.Accept()
					if err != nil {
						if !errors.Is(err, net.ErrClosed) {
							t.Errorf("round %d: Accept: %v", i, err)
						}
						return
					}
					c.Close()
				}
			})
			if i%2 == 0 {
				dials.Go(func() {
					d := Dialer{Timeout: time.Second}
					if c, err := d.Dial("udt", l.Addr().String()); err == nil {
						c.Close()
					}
				})
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			if err := l.Close(); err != nil {
				t.Errorf("round %d: Close: %v", i, err)
			}
			returnsWithin(t, &wg, timeoutUpperBound, "Accept after Close")
		}
	})
	returnsWithin(t, &dials, timeoutUpperBound, "dial to a closing listener")
}

// Close racing Dial: dials cancelled at a random moment while the conn of
// the round before, which shares the dial's UDP port, closes; every 50th
// round the listener closes under the dial too. Every dial returns: a
// working conn, or an error.
func TestCloseRacesDial(t *testing.T) {
	var ok, cancelled, failed atomic.Int64
	var listeners sync.WaitGroup
	var mu sync.Mutex
	var last []func()
	defer func() {
		mu.Lock()
		for _, f := range last {
			f()
		}
		mu.Unlock()
		returnsWithin(t, &listeners, timeoutUpperBound, "accept loops")
	}()
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		newListener := func() *Listener {
			var lc ListenConfig
			l, err := lc.listen(context.Background(), "udt", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners.Go(func() {
				var echoes sync.WaitGroup
				defer echoes.Wait()
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					// The echo ends when the client closes, or its
					// Read fails after UDT gives up on it.
					echoes.Go(func() { io.Copy(c, c); c.Close() })
				}
			})
			return l
		}
		l := newListener()
		var prev net.Conn
		mu.Lock()
		last = append(last, func() {
			l.Close()
			if prev != nil {
				prev.Close()
			}
		})
		mu.Unlock()
		return func(i int, rng *rand.Rand) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			var c net.Conn
			var err error
			closing := i%50 == 49
			wg.Go(func() {
				// The cancel below always comes: a timeout of the
				// dial's own would only be a loaded machine.
				d := Dialer{Timeout: timeoutUpperBound}
				c, err = d.DialContext(ctx, "udt", l.Addr().String())
			})
			wg.Go(func() {
				time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
				cancel()
			})
			if p := prev; p != nil {
				wg.Go(func() { p.Close() })
			}
			if closing {
				old := l
				wg.Go(func() { old.Close() })
			}
			if !returnsWithin(t, &wg, timeoutUpperBound, "Dial racing Close") {
				return
			}
			switch {
			case err == nil:
				ok.Add(1)
				// The conn works: one byte there and back, unless its
				// listener went away under it.
				c.SetDeadline(time.Now().Add(timeoutUpperBound))
				b := []byte{byte(i)}
				if _, err := c.Write(b); err != nil && !closing {
					t.Errorf("round %d: Write on a dialed conn: %v", i, err)
				} else if _, err := io.ReadFull(c, b); (err != nil || b[0] != byte(i)) && !closing {
					t.Errorf("round %d: echo on a dialed conn: %v", i, err)
				}
			case errors.Is(err, context.Canceled):
				cancelled.Add(1)
			case closing:
				failed.Add(1) // the listener closed under the dial
			default:
				t.Errorf("round %d: Dial: %v", i, err)
			}
			prev = c
			if closing {
				l = newListener()
			}
		}
	})
	t.Logf("dials: %d connected, %d cancelled, %d failed as their listener closed", ok.Load(), cancelled.Load(), failed.Load())
}

// Close racing SendFile and RecvFile: either side closes at a random moment
// during a file transfer. Each call returns, with the whole file or an
// error that says who closed.
func TestCloseRacesSendFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	const size = 1 << 20
	writeRandomFile(t, src, size, 7)
	var complete atomic.Int64
	worker := 0
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		worker++
		dst := filepath.Join(dir, "dst"+strconv.Itoa(worker))
		return func(i int, rng *rand.Rand) {
			// A listener per round: a dial that took two attempts may
			// leave a listener an extra connection (docs/udt4-behaviour.md), which
			// must not be taken for the next round's.
			var lc ListenConfig
			l, err := lc.listen(context.Background(), "udt", "127.0.0.1:0")
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			defer l.Close()
			c, err := Dial("udt", l.Addr().String())
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			l.SetDeadline(time.Now().Add(timeoutUpperBound))
			s, err := l.AcceptUDT()
			if err != nil {
				c.Close()
				t.Errorf("round %d: Accept: %v", i, err)
				return
			}
			defer c.Close()
			defer s.Close()
			var wg sync.WaitGroup
			var sent, got int64
			var serr, rerr error
			wg.Go(func() { sent, serr = c.(*Conn).SendFile(src, 0, size) })
			wg.Go(func() { got, rerr = s.RecvFile(dst, 0, size) })
			wait := time.Duration(rng.IntN(15000)) * time.Microsecond
			receiverCloses := rng.IntN(2) == 0
			wg.Go(func() {
				time.Sleep(wait)
				if receiverCloses {
					s.Close()
				} else {
					c.Close()
				}
			})
			if !returnsWithin(t, &wg, timeoutUpperBound, "SendFile racing Close") {
				return
			}
			okErr := func(err error) bool {
				return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, ErrConnLost) || errors.Is(err, io.ErrUnexpectedEOF)
			}
			if !okErr(serr) || !okErr(rerr) {
				t.Errorf("round %d: SendFile %d, %v; RecvFile %d, %v", i, sent, serr, got, rerr)
			}
			if serr == nil && sent != size || rerr == nil && got != size || got > sent {
				t.Errorf("round %d: sent %d (%v), received %d (%v) of %d", i, sent, serr, got, rerr, size)
			}
			if rerr == nil {
				complete.Add(1)
				if sha256File(t, dst) != sha256File(t, src) {
					t.Errorf("round %d: the received file differs", i)
				}
			}
		}
	})
	t.Logf("%d rounds with the whole file received", complete.Load())
}

// A listener closed with 100 connections in flight: the conns it accepted
// keep working (an echo both ways, sha256-checked), and every other dial
// ends cleanly: it fails, or its conn, which UDT had queued for an Accept
// that never came, gets the peer's close (UDT closes a closed listener's
// queue), never a hang.
func TestListenerClosedWithConnsInFlight(t *testing.T) {
	t.Parallel()
	const dials, accepts = 100, 50
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	var closedAt atomic.Int64
	payload := make([]byte, 64<<10)
	io.ReadFull(pattern(99), payload)
	var servers sync.WaitGroup
	defer servers.Wait()
	go func() {
		for range accepts {
			c, err := l.AcceptUDT()
			if err != nil {
				t.Errorf("Accept: %v", err)
				return
			}
			servers.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				b := make([]byte, len(payload))
				if _, err := io.ReadFull(c, b); err != nil {
					t.Errorf("accepted conn: Read: %v", err)
					return
				}
				if _, err := c.Write(b); err != nil {
					t.Errorf("accepted conn: Write: %v", err)
				}
				// Wait for the client's close, which follows the echo.
				c.Read(b)
			})
		}
		closedAt.Store(time.Now().UnixNano())
		if err := l.Close(); err != nil {
			t.Errorf("listener Close: %v", err)
		}
	}()
	var echoed, closedByPeer, failed, lastDial, lastEOF atomic.Int64
	var clients sync.WaitGroup
	for i := range dials {
		clients.Go(func() {
			// Spread over 200 ms, so that some dials are mid-handshake
			// when the listener closes, and some come after.
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			start := time.Now()
			c, err := Dial("udt", l.Addr().String())
			// A hang detector: the dial's own timeout is DefaultDialTimeout.
			if d := time.Since(start); d > DefaultDialTimeout+timeoutUpperBound {
				t.Errorf("a dial took %v", d)
			}
			if err != nil {
				var oe *net.OpError
				if !errors.As(err, &oe) || oe.Op != "dial" {
					t.Errorf("failed dial: %#v", err)
				}
				failed.Add(1)
				return
			}
			defer c.Close()
			lastDial.Store(max(lastDial.Load(), time.Now().UnixNano()))
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(payload); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			b := make([]byte, len(payload))
			_, err = io.ReadFull(c, b)
			switch {
			case err == nil:
				if !bytes.Equal(b, payload) {
					t.Error("the echo differs")
				}
				echoed.Add(1)
			case err == io.EOF || errors.Is(err, ErrConnLost):
				closedByPeer.Add(1)
				lastEOF.Store(max(lastEOF.Load(), time.Now().UnixNano()))
			default:
				t.Errorf("a conn the listener never accepted: %v, want its close", err)
			}
		})
	}
	if !returnsWithin(t, &clients, time.Minute, "dials and conns around a listener close") {
		return
	}
	t.Logf("%d dials: %d accepted and echoed, %d connected but closed with the listener, %d failed", dials, echoed.Load(), closedByPeer.Load(), failed.Load())
	if closedByPeer.Load() > 0 {
		since := func(ns int64) time.Duration { return time.Duration(ns - closedAt.Load()).Round(time.Millisecond) }
		t.Logf("after the listener's Close, dials still connected for %v; the last of their conns got its close %v after it", since(lastDial.Load()), since(lastEOF.Load()))
	}
	if echoed.Load() != accepts {
		t.Errorf("%d conns echoed, want the %d accepted", echoed.Load(), accepts)
	}
	if echoed.Load()+closedByPeer.Load()+failed.Load() != dials {
		t.Errorf("outcomes do not add up to %d dials", dials)
	}
}
