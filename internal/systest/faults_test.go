package systest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/testenv"
)

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
			var lc udt.ListenConfig
			l, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
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
					d := udt.Dialer{Timeout: time.Second}
					if c, err := d.Dial("udt", l.Addr().String()); err == nil {
						c.Close()
					}
				})
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			if err := l.Close(); err != nil {
				t.Errorf("round %d: Close: %v", i, err)
			}
			returnsWithin(t, &wg, testenv.TimeoutUpperBound, "Accept after Close")
		}
	})
	returnsWithin(t, &dials, testenv.TimeoutUpperBound, "dial to a closing listener")
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
		returnsWithin(t, &listeners, testenv.TimeoutUpperBound, "accept loops")
	}()
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		newListener := func() *udt.Listener {
			var lc udt.ListenConfig
			l, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
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
				d := udt.Dialer{Timeout: testenv.TimeoutUpperBound}
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
			if !returnsWithin(t, &wg, testenv.TimeoutUpperBound, "Dial racing Close") {
				return
			}
			switch {
			case err == nil:
				ok.Add(1)
				// The conn works: one byte there and back, unless its
				// listener went away under it.
				c.SetDeadline(time.Now().Add(testenv.TimeoutUpperBound))
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
	testenv.WriteRandomFile(t, src, size, 7)
	var complete atomic.Int64
	worker := 0
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		worker++
		dst := filepath.Join(dir, "dst"+strconv.Itoa(worker))
		return func(i int, rng *rand.Rand) {
			// A listener per round: a dial that took two attempts may
			// leave a listener an extra connection (docs/udt4-behaviour.md), which
			// must not be taken for the next round's.
			var lc udt.ListenConfig
			l, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			defer l.Close()
			c, err := udt.Dial("udt", l.Addr().String())
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			l.SetDeadline(time.Now().Add(testenv.TimeoutUpperBound))
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
			wg.Go(func() { sent, serr = c.(*udt.Conn).SendFile(src, 0, size) })
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
			if !returnsWithin(t, &wg, testenv.TimeoutUpperBound, "SendFile racing Close") {
				return
			}
			okErr := func(err error) bool {
				return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, udt.ErrConnLost) || errors.Is(err, io.ErrUnexpectedEOF)
			}
			if !okErr(serr) || !okErr(rerr) {
				t.Errorf("round %d: SendFile %d, %v; RecvFile %d, %v", i, sent, serr, got, rerr)
			}
			if serr == nil && sent != size || rerr == nil && got != size || got > sent {
				t.Errorf("round %d: sent %d (%v), received %d (%v) of %d", i, sent, serr, got, rerr, size)
			}
			if rerr == nil {
				complete.Add(1)
				if testenv.SHA256File(t, dst) != testenv.SHA256File(t, src) {
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
	l := listenT(t, "udt", "127.0.0.1:0", udt.Config{})
	var closedAt atomic.Int64
	payload := make([]byte, 64<<10)
	io.ReadFull(testenv.Pattern(99), payload)
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
			c, err := udt.Dial("udt", l.Addr().String())
			// A hang detector: the dial's own timeout is DefaultDialTimeout.
			if d := time.Since(start); d > udt.DefaultDialTimeout+testenv.TimeoutUpperBound {
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
			case err == io.EOF || errors.Is(err, udt.ErrConnLost):
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

// TestCloseAfterPeerEndedReportsUndelivered: the peer closes (its shutdown
// packet) without acknowledging what this side wrote. However late Close
// comes, while UDT still keeps the socket closed or after it deleted it,
// Close names what was not delivered, and Stats gives the last figures,
// marked as final.
func TestCloseAfterPeerEndedReportsUndelivered(t *testing.T) {
	t.Parallel()
	ln, err := udt.ListenUDT("udt4", &udt.Addr{AddrPort: loop4})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, wait := range []udt.Status{udt.StatusClosed, udt.StatusNonexist} {
		p, err := rawDial(t, netip.MustParseAddr("127.0.0.1"), ln.Addr().(*udt.Addr).AddrPort, defaultHandshake(1))
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.AcceptUDT()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
		p.waitData(1)
		p.ctrl(ctrlShutdown, 0) // and never an ACK
		for deadline := time.Now().Add(testenv.TimeoutUpperBound); ; time.Sleep(20 * time.Millisecond) {
			st := c.Socket().SockState()
			if st == wait || (wait == udt.StatusClosed && st == udt.StatusNonexist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("UDT left the socket %v, waiting for %v", st, wait)
			}
		}
		s, err := c.Stats()
		if err != nil || !s.Ended || s.Total.PacketsSent == 0 {
			t.Errorf("after UDT ended it (%v): Stats %+v, %v; want the last figures, Ended", wait, s.Total, err)
		}
		if err := c.Flush(context.Background()); udt.CodeOf(err) != udt.ErrConnLost {
			t.Errorf("Flush after UDT ended the connection (%v): %v; want ECONNLOST", wait, err)
		}
		err = c.Close()
		if udt.CodeOf(err) != udt.ErrConnLost || !strings.Contains(err.Error(), "not acknowledged") {
			t.Errorf("Close after UDT ended the connection (%v): %v; want ECONNLOST naming what was not acknowledged", wait, err)
		}
		t.Logf("%v: %v", wait, err)
	}
}

// TestPeerIdleTimeout: a peer that falls silent (here one that never sends
// after its handshake, as a killed one) breaks the connection after
// Config.PeerIdleTimeout: a blocked Read, a Write and Close all say so, as
// a timeout. An idle but live peer (UDT's keep-alives) does not.
func TestPeerIdleTimeout(t *testing.T) {
	t.Parallel()
	lc := udt.ListenConfig{Config: udt.Config{PeerIdleTimeout: udt.MinPeerIdleTimeout}}
	ln, err := lc.ListenUDT(context.Background(), "udt4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	la := ln.Addr().(*udt.Addr).AddrPort

	// A live peer, idle for longer than the timeout, keeps its connection.
	live, err := udt.DialUDT("udt4", nil, &udt.Addr{AddrPort: la})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveSrv, err := ln.AcceptUDT()
	if err != nil {
		t.Fatal(err)
	}
	defer liveSrv.Close()

	// A silent one.
	if _, err := rawDial(t, netip.MustParseAddr("127.0.0.1"), la, defaultHandshake(1)); err != nil {
		t.Fatal(err)
	}
	c, err := ln.AcceptUDT()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Write(make([]byte, 64<<10)); err != nil {
		t.Fatalf("Write before the timeout: %v", err)
	}
	_, err = c.Read(make([]byte, 10)) // blocks: the peer sends nothing
	took := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, syscall.ETIMEDOUT) || udt.CodeOf(err) != udt.ErrConnLost ||
		!strings.Contains(err.Error(), "peer idle timeout") {
		t.Fatalf("blocked Read on a silent peer: %v; want a timeout naming the peer idle timeout", err)
	}
	t.Logf("a silent peer broke the connection after %v (PeerIdleTimeout %v)", took.Round(time.Millisecond), udt.MinPeerIdleTimeout)
	if took < udt.MinPeerIdleTimeout {
		t.Errorf("broken after %v, before the timeout of %v", took, udt.MinPeerIdleTimeout)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("Write after the peer idle timeout: %v", err)
	}
	if st, err := c.Stats(); err != nil || !st.Ended {
		t.Errorf("Stats after the peer idle timeout: Ended %v, %v; want Ended", st.Ended, err)
	}
	if err := c.Close(); udt.CodeOf(err) != udt.ErrConnLost || !strings.Contains(err.Error(), "not acknowledged") || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("Close after the peer idle timeout: %v; want what was not acknowledged", err)
	}
	if st := udt.ReadPollerStats(); st.PeersIdle == 0 {
		t.Error("PollerStats.PeersIdle is 0")
	}

	// A Close that starts before the timeout, waiting for the peer to
	// acknowledge, ends with it.
	if _, err := rawDial(t, netip.MustParseAddr("127.0.0.1"), la, defaultHandshake(1)); err != nil {
		t.Fatal(err)
	}
	c2, err := ln.AcceptUDT()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c2.Close() }()
	select {
	case err := <-closed:
		if !errors.Is(err, syscall.ETIMEDOUT) || !strings.Contains(err.Error(), "not acknowledged") {
			t.Errorf("Close waiting on a silent peer: %v; want the peer idle timeout naming what was not acknowledged", err)
		}
	case <-time.After(testenv.TimeoutUpperBound):
		t.Fatal("Close waiting on a silent peer outlasted its peer idle timeout")
	}

	// The live pair, idle all this time, still works both ways.
	live.SetDeadline(time.Now().Add(testenv.TimeoutUpperBound))
	liveSrv.SetDeadline(time.Now().Add(testenv.TimeoutUpperBound))
	if _, err := live.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(liveSrv, make([]byte, 4)); err != nil {
		t.Fatalf("an idle live peer's connection after %v: %v", time.Since(start), err)
	}

	if err := c.SetPeerIdleTimeout(time.Second); err == nil {
		t.Error("SetPeerIdleTimeout on a closed Conn: nil")
	}
	if err := liveSrv.SetPeerIdleTimeout(time.Second); err == nil || !strings.Contains(err.Error(), "MinPeerIdleTimeout") {
		t.Errorf("SetPeerIdleTimeout(1s): %v; want an error naming MinPeerIdleTimeout", err)
	}
	if _, err := (&udt.ListenConfig{Config: udt.Config{PeerIdleTimeout: -time.Second}}).Listen(context.Background(), "udt", "127.0.0.1:0"); err == nil {
		t.Error("Config.PeerIdleTimeout -1s: nil")
	}
}

// Close racing Read and Write: a reader, a writer and a closer on one
// connection, UDT_RACE_ROUNDS times (see runRounds); every call returns,
// nothing races.
func TestReadWriteCloseRace(t *testing.T) {
	// The server sides may outlive their clients by UDT's linger: close
	// them at the end rather than leave their goroutines behind.
	var echoes sync.WaitGroup
	var mu sync.Mutex
	var accepted []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range accepted {
			c.Close()
		}
		mu.Unlock()
		echoes.Wait()
	})
	runRounds(t, func(t *testing.T) func(int, *rand.Rand) {
		l := listenT(t, "udt", "127.0.0.1:0", udt.Config{})
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				accepted = append(accepted, c)
				mu.Unlock()
				// 256 KiB for the client's Read, then drain: an echo
				// would keep sending to clients that closed but linger
				// with data in flight, and with 8 workers that flood
				// saturates the one receive thread of the shared dial
				// port (see docs/udt4-behaviour.md).
				echoes.Go(func() {
					c.Write(make([]byte, 256<<10))
					io.Copy(io.Discard, c)
					c.Close()
				})
			}
		}()
		return func(i int, rng *rand.Rand) {
			c, err := udt.Dial("udt", l.Addr().String())
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				return
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						if !errors.Is(err, net.ErrClosed) && err != io.EOF {
							t.Errorf("Read: %v", err)
						}
						return
					}
				}
			})
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Write(buf); err != nil {
						if !errors.Is(err, net.ErrClosed) {
							t.Errorf("Write: %v", err)
						}
						return
					}
				}
			})
			wait := time.Duration(rng.IntN(7000)) * time.Microsecond
			wg.Go(func() {
				time.Sleep(wait)
				c.Close()
			})
			returnsWithin(t, &wg, testenv.TimeoutUpperBound, "Read and Write racing Close") // Close delivers what Write buffered
		}
	})
}

// exitCode is what exitChild exits with: any other status, or a signal,
// is a crash on the way out.
const exitCode = 7

// exitWitness is what the shim writes to standard error, with
// UDT_TEST_EXIT_WITNESS set, when exit runs its C++ globals' destructors.
const exitWitness = "cudt: destructors ran"

// runExitChild runs exitChild with env and returns its output, failing
// unless it exited with exitCode.
func runExitChild(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "UDT_TEST_EXIT_CHILD=1", "UDT_TEST_EXIT_WITNESS=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * testenv.TimeoutUpperBound):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the child did not exit within %v:\n%s", 2*testenv.TimeoutUpperBound, out.Bytes())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCode {
		t.Fatalf("the child %v ended with %v, want exit status %d:\n%s", env, err, exitCode, out.Bytes())
	}
	return out.String()
}

// Ending a process through the C library's exit, as every -race build
// ends, runs no destructor of the C++ globals (UDT's socket table among
// them): UDT's threads still use them. A child without the guard, and
// without a socket (UDT's threads would crash it), shows that the witness
// would tell.
func TestExitRunsNoDestructors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; -short skips it")
	}
	if out := runExitChild(t, "UDT_TEST_EXIT_UNGUARDED=1", "UDT_EXIT_IDLE=1"); !strings.Contains(out, exitWitness) {
		t.Fatalf("without the guard, exit ran no destructor the witness saw: the test proves nothing\n%s", out)
	}
	if out := runExitChild(t, "UDT_EXIT_HELD=0", "UDT_EXIT_CLOSES=0"); strings.Contains(out, exitWitness) {
		t.Fatalf("exit ran the C++ globals' destructors:\n%s", out)
	}
}

// TestExitWhileConnsChurn ends processes through exit while connections
// open, carry data and close on every side. Without the guard, UDT's
// threads met its destroyed globals: one child in 12 to 24 crashed
// (SIGSEGV, or glibc's "double free or corruption", as a -race test child
// once did after its tests had passed). ./build.sh soak runs 30 rounds.
func TestExitWhileConnsChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; -short skips it")
	}
	for i := range testenv.EnvInt("UDT_EXIT_ROUNDS", 3) {
		if out := runExitChild(t); strings.Contains(out, exitWitness) {
			t.Fatalf("round %d: exit ran the C++ globals' destructors:\n%s", i, out)
		}
	}
}

// exitChild holds UDT_EXIT_HELD connections (8) with data in flight,
// churns more on 8 workers, and exits through C's exit once
// UDT_EXIT_CLOSES (100) have closed.
func exitChild() {
	if os.Getenv("UDT_TEST_EXIT_UNGUARDED") != "" {
		cudt.SetExitGuardForTesting(false)
	}
	if os.Getenv("UDT_EXIT_IDLE") != "" {
		cudt.ExitForTesting(exitCode) // UDT not started
	}
	ln, err := udt.Listen("udt", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	var closed atomic.Int64
	payload := make([]byte, 32<<10)
	for range testenv.EnvInt("UDT_EXIT_HELD", 8) {
		c, err := udt.Dial("udt", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		go func() {
			for {
				if _, err := c.Write(payload); err != nil {
					return
				}
			}
		}()
		go io.Copy(io.Discard, c)
	}
	for range 8 {
		go func() {
			buf := make([]byte, 1024)
			for {
				c, err := udt.Dial("udt", ln.Addr().String())
				if err != nil {
					continue
				}
				if _, err := c.Write(buf); err == nil {
					io.ReadFull(c, buf)
				}
				c.Close()
				closed.Add(1)
			}
		}()
	}
	for closed.Load() < int64(testenv.EnvInt("UDT_EXIT_CLOSES", 100)) {
		time.Sleep(time.Millisecond)
	}
	cudt.ExitForTesting(exitCode)
}
