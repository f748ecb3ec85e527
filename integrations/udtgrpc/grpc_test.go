package udtgrpc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/integrations/grpcbench"
	"github.com/udtgo/udt/integrations/internal/testutil"
	"github.com/udtgo/udt/integrations/udtgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// TestUnary10000 makes 10,000 unary calls over one UDT connection, 16 at
// a time, in the clear and over TLS; each reply must echo its request.
func TestUnary10000(t *testing.T) {
	for _, sec := range securities(t) {
		t.Run(sec.name, func(t *testing.T) {
			srv := startServer(t, &grpcbench.Service{}, sec.server...)
			_, c := dial(t, srv.addr, sec.client)
			ctx := testContext(t)
			const calls, workers = 10000, 16
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Go(func() {
					body := make([]byte, 64)
					for {
						i := next.Add(1) - 1
						if i >= calls {
							return
						}
						binary.BigEndian.PutUint64(body, uint64(i))
						resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}})
						if err != nil {
							errs <- fmt.Errorf("call %d: %w", i, err)
							return
						}
						if !bytes.Equal(resp.GetPayload().GetBody(), body) {
							errs <- fmt.Errorf("call %d: the reply is not the request's payload", i)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := srv.lis.Accepted(); n != 1 {
				t.Errorf("the server accepted %d connections for one client, want 1", n)
			}
		})
	}
}

// TestServerStreaming256MiB streams 256 MiB from the server in 1 MiB
// messages; the sha256 of what arrived must be the one the server sent in
// its trailer, and the one of the pattern.
func TestServerStreaming256MiB(t *testing.T) {
	const total = 256 << 20
	srv := startServer(t, &grpcbench.Service{Hash: true})
	_, c := dial(t, srv.addr, insecureCreds)
	seed := uint64(time.Now().UnixNano())
	h := sha256.New()
	var n int64
	start := time.Now()
	tr, err := grpcbench.Stream(testContext(t), c, grpcbench.StreamRequest(seed, total, 1<<20), func(p []byte) bool {
		h.Write(p)
		n += int64(len(p))
		return true
	})
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	el := time.Since(start)
	if n != total {
		t.Fatalf("received %d bytes, want %d", n, total)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if sent := tr.Get(grpcbench.TrailerSHA256); len(sent) != 1 || sent[0] != got {
		t.Fatalf("sha256 of what arrived %s, the server sent %v", got, sent)
	}
	want := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < total; off += int64(len(buf)) {
		grpcbench.Pattern(seed, off, buf)
		want.Write(buf)
	}
	if w := hex.EncodeToString(want.Sum(nil)); w != got {
		t.Fatalf("sha256 of what arrived %s, of the pattern %s", got, w)
	}
	t.Logf("256 MiB in %v (%.0f Mbit/s; race detector %v, loaded machine: not a measure)", el.Round(time.Millisecond), float64(total)*8/el.Seconds()/1e6, raceEnabled)
}

// TestThousandConcurrentStreams holds 1,000 bidirectional streams open at
// once on one connection; each echoes its own messages in order.
func TestThousandConcurrentStreams(t *testing.T) {
	const streams, msgs = 1000, 3
	srv := startServer(t, &grpcbench.Service{})
	_, c := dial(t, srv.addr, insecureCreds)
	ctx := testContext(t)
	var opened sync.WaitGroup
	opened.Add(streams)
	allOpen := make(chan struct{})
	go func() { opened.Wait(); close(allOpen) }()
	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			once := sync.OnceFunc(opened.Done)
			defer once()
			st, err := c.FullDuplexCall(ctx)
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			for m := range msgs {
				body := []byte(fmt.Sprintf("stream %d message %d", i, m))
				if err := st.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: body}}); err != nil {
					errs <- fmt.Errorf("stream %d send %d: %w", i, m, err)
					return
				}
				resp, err := st.Recv()
				if err != nil {
					errs <- fmt.Errorf("stream %d recv %d: %w", i, m, err)
					return
				}
				if !bytes.Equal(resp.GetPayload().GetBody(), body) {
					errs <- fmt.Errorf("stream %d got %q, want %q", i, resp.GetPayload().GetBody(), body)
					return
				}
				if m == 0 {
					// Every stream has had a round trip; none ends
					// before all are open.
					once()
					select {
					case <-allOpen:
					case <-ctx.Done():
						errs <- fmt.Errorf("stream %d: not all streams opened: %w", i, ctx.Err())
						return
					}
				}
			}
			if err := st.CloseSend(); err != nil {
				errs <- err
				return
			}
			if _, err := st.Recv(); err != io.EOF {
				errs <- fmt.Errorf("stream %d: after CloseSend got %v, want io.EOF", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.lis.Accepted(); n != 1 {
		t.Errorf("the server accepted %d connections, want the one all streams share", n)
	}
}

// blockingService's calls wait in their handler until released or until
// their context ends, and tell the test when they entered and how they
// left.
type blockingService struct {
	grpcbench.Service
	entered chan struct{}
	exited  chan error    // the handler's context error when it left early
	release chan struct{} // closed: handlers answer
	reply   int           // bytes in each reply
}

func newBlocking(reply int) *blockingService {
	return &blockingService{entered: make(chan struct{}, 1000), exited: make(chan error, 1000), release: make(chan struct{}), reply: reply}
}

func (s *blockingService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		s.exited <- ctx.Err()
		return nil, ctx.Err()
	}
	body := make([]byte, s.reply)
	grpcbench.Pattern(binary.BigEndian.Uint64(req.GetPayload().GetBody()), 0, body)
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: body}}, nil
}

func (s *blockingService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	s.entered <- struct{}{}
	<-stream.Context().Done()
	s.exited <- stream.Context().Err()
	return stream.Context().Err()
}

func waitN(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	timeout := time.After(long)
	for i := range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%s: %d of %d after %v", what, i, n, long)
		}
	}
}

// TestDeadlineAndCancelPropagate: a client's deadline and its cancellation
// reach the server's handler over UDT, which then returns.
func TestDeadlineAndCancelPropagate(t *testing.T) {
	svc := newBlocking(0)
	srv := startServer(t, svc)
	_, c := dial(t, srv.addr, insecureCreds)

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 8)}})
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		waitN(t, svc.entered, 1, "handler entered")
		select {
		case err := <-svc.exited:
			if err == nil {
				t.Fatal("the handler's context ended without an error")
			}
		case <-time.After(long):
			t.Fatal("the server's handler never saw the deadline")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 8)}})
			done <- err
		}()
		waitN(t, svc.entered, 1, "handler entered")
		cancel()
		if err := <-done; status.Code(err) != codes.Canceled {
			t.Fatalf("got %v, want Canceled", err)
		}
		select {
		case err := <-svc.exited:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the handler's context ended with %v, want context.Canceled", err)
			}
		case <-time.After(long):
			t.Fatal("the server's handler never saw the cancellation")
		}
	})
	t.Run("cancel-stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := c.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitN(t, svc.entered, 1, "stream handler entered")
		cancel()
		if _, err := st.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("Recv after cancel: %v, want Canceled", err)
		}
		select {
		case err := <-svc.exited:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the stream handler's context ended with %v, want context.Canceled", err)
			}
		case <-time.After(long):
			t.Fatal("the server's stream handler never saw the cancellation")
		}
	})
}

// TestGracefulStopCompletesInFlight starts GracefulStop with 50 unary
// calls waiting in their handler and a 64 MiB stream under way: all of
// them complete, every reply whole, and new calls are refused. UDT's Close
// delivering what was written before it is what keeps the last replies.
func TestGracefulStopCompletesInFlight(t *testing.T) {
	for _, sec := range securities(t) {
		t.Run(sec.name, func(t *testing.T) {
			const calls, reply, streamed = 50, 256 << 10, 64 << 20
			svc := newBlocking(reply)
			svc.Hash = true
			srv := startServer(t, svc, sec.server...)
			_, c := dial(t, srv.addr, sec.client)
			ctx := testContext(t)

			errs := make(chan error, calls+1)
			var wg sync.WaitGroup
			for i := range calls {
				wg.Go(func() {
					seed := uint64(i + 1)
					resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: binary.BigEndian.AppendUint64(nil, seed)}})
					if err != nil {
						errs <- fmt.Errorf("call %d: %w", i, err)
						return
					}
					want := make([]byte, reply)
					grpcbench.Pattern(seed, 0, want)
					if !bytes.Equal(resp.GetPayload().GetBody(), want) {
						errs <- fmt.Errorf("call %d: reply of %d bytes differs from what the server sent", i, len(resp.GetPayload().GetBody()))
					}
				})
			}
			// The stream is under way when GracefulStop starts: its
			// first message has arrived.
			firstMsg := make(chan struct{})
			wg.Go(func() {
				h := sha256.New()
				var n int64
				tr, err := grpcbench.Stream(ctx, c, grpcbench.StreamRequest(7, streamed, 1<<20), func(p []byte) bool {
					if n == 0 {
						close(firstMsg)
					}
					h.Write(p)
					n += int64(len(p))
					return true
				})
				switch {
				case err != nil:
					errs <- fmt.Errorf("stream after %d bytes: %w", n, err)
				case n != streamed:
					errs <- fmt.Errorf("stream: %d bytes, want %d", n, streamed)
				case len(tr.Get(grpcbench.TrailerSHA256)) != 1 || tr.Get(grpcbench.TrailerSHA256)[0] != hex.EncodeToString(h.Sum(nil)):
					errs <- errors.New("stream: the sha256 of what arrived is not the one sent")
				}
			})
			waitN(t, svc.entered, calls, "calls in their handler")
			<-firstMsg

			stopped := make(chan struct{})
			go func() { srv.GracefulStop(); close(stopped) }()
			select {
			case <-srv.lis.Closed():
			case <-time.After(long):
				t.Fatal("GracefulStop did not close the listener")
			}
			// A call on a new connection now finds no server.
			nctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			_, c2 := dial(t, srv.addr, sec.client)
			if _, err := c2.EmptyCall(nctx, &testpb.Empty{}); err == nil {
				t.Error("a new client's call succeeded after GracefulStop began")
			}
			cancel()
			select {
			case <-stopped:
				t.Fatal("GracefulStop returned with calls still in their handler")
			default:
			}
			close(svc.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			select {
			case <-stopped:
			case <-time.After(long):
				t.Fatal("GracefulStop did not return after the calls completed")
			}
			// Close's own answer is not checked: a client that read
			// everything may close first, and UDT's shutdown acknowledges
			// nothing, so Close can report a peer that closed first.
			// What arrived, above, is what counts.
		})
	}
}

// frameCounter is a client connection that counts the HTTP/2 PING frames
// the server sends (it reads the server's frames as they pass; in the
// clear only) and can stop reading, as a client that hangs would.
type frameCounter struct {
	net.Conn
	pings  atomic.Int64
	hdr    []byte // a frame header split across reads
	skip   int    // payload bytes of the current frame still to pass
	stall  chan struct{}
	stalls atomic.Bool
	once   sync.Once
}

func (f *frameCounter) Read(b []byte) (int, error) {
	if f.stalls.Load() {
		<-f.stall
		return 0, net.ErrClosed
	}
	n, err := f.Conn.Read(b)
	f.scan(b[:n])
	return n, err
}

func (f *frameCounter) scan(b []byte) {
	for len(b) > 0 {
		if f.skip > 0 {
			k := min(f.skip, len(b))
			f.skip -= k
			b = b[k:]
			continue
		}
		k := min(9-len(f.hdr), len(b))
		f.hdr = append(f.hdr, b[:k]...)
		b = b[k:]
		if len(f.hdr) == 9 {
			length := int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
			if f.hdr[3] == 0x6 && f.hdr[4]&0x1 == 0 { // PING, not an ACK
				f.pings.Add(1)
			}
			f.skip = length
			f.hdr = f.hdr[:0]
		}
	}
}

func (f *frameCounter) Close() error {
	f.once.Do(func() { close(f.stall) })
	return f.Conn.Close()
}

// TestKeepalive: the server's keepalive pings cross UDT and the client
// answers them, so an idle connection stays up and serves the next call;
// a client that stops answering is dropped by the server after the
// keepalive timeout, long before UDT's own ~45 s notice of a dead peer.
func TestKeepalive(t *testing.T) {
	kp := grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Second, Timeout: 2 * time.Second})
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "unanswered"}[stall], func(t *testing.T) {
			srv := startServer(t, &grpcbench.Service{}, kp)
			fc := make(chan *frameCounter, 1)
			dialer := func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := udtgrpc.ContextDialer(nil)(ctx, addr)
				if err != nil {
					return nil, err
				}
				f := &frameCounter{Conn: c, stall: make(chan struct{})}
				select {
				case fc <- f:
				default:
				}
				return f, nil
			}
			_, c := dialWith(t, dialer, srv.addr, insecureCreds)
			ctx := testContext(t)
			if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
				t.Fatal(err)
			}
			f := <-fc
			if !stall {
				if !testutil.Wait(long, func() bool { return f.pings.Load() >= 3 }) {
					t.Fatalf("%d keepalive pings arrived in %v, want 3", f.pings.Load(), long)
				}
				if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
					t.Fatalf("a call after the idle time: %v", err)
				}
				if n := srv.lis.Accepted(); n != 1 {
					t.Fatalf("the server accepted %d connections, want 1: the idle one was not kept", n)
				}
				return
			}
			f.stalls.Store(true)
			conns := srv.lis.Conns()
			if len(conns) != 1 {
				t.Fatalf("%d server connections, want 1", len(conns))
			}
			select {
			case <-conns[0].Closed:
			case <-time.After(long):
				t.Fatal("the server kept a connection whose client stopped answering its pings")
			}
		})
	}
}

// TestServerRestartClientsReconnect stops the server while four clients
// call it, starts a new one on the same UDT port, and each client's
// channel reconnects over UDT and reaches the new server.
func TestServerRestartClientsReconnect(t *testing.T) {
	first := startServer(t, &grpcbench.Service{ID: "first"})
	port := first.lis.Addr().(*udt.Addr).Port()
	const clients = 4
	var seen [clients]struct {
		mu     sync.Mutex
		byID   map[string]int
		failed int
	}
	count := func(i int, id string) int {
		seen[i].mu.Lock()
		defer seen[i].mu.Unlock()
		return seen[i].byID[id]
	}
	ctx := testContext(t)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		seen[i].byID = map[string]int{}
		_, c := dial(t, first.addr, insecureCreds, grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
		wg.Go(func() {
			for count(i, "second") < 3 {
				if ctx.Err() != nil {
					errs <- fmt.Errorf("client %d: the new server never answered: %v", i, ctx.Err())
					return
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				resp, err := c.UnaryCall(cctx, &testpb.SimpleRequest{FillServerId: true}, grpc.WaitForReady(true))
				cancel()
				seen[i].mu.Lock()
				if err != nil {
					seen[i].failed++
				} else {
					seen[i].byID[resp.GetServerId()]++
				}
				seen[i].mu.Unlock()
			}
		})
	}
	if !testutil.Wait(long, func() bool {
		for i := range clients {
			if count(i, "first") == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not every client reached the first server")
	}
	first.Stop()
	<-first.done
	// The port is free once UDT has released the closed sockets on it
	// (its garbage collector, about a second); another program may take
	// it meanwhile, so keep trying.
	var l net.Listener
	if !testutil.Wait(long, func() bool {
		var err error
		l, err = udtgrpc.Listen("127.0.0.1:"+strconv.Itoa(int(port)), nil)
		return err == nil
	}) {
		t.Fatalf("could not listen on port %d again", port)
	}
	serveOn(t, l, &grpcbench.Service{ID: "second"})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range clients {
		t.Logf("client %d: %v, %d calls failed around the restart", i, seen[i].byID, seen[i].failed)
	}
}
