package udthttp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt/integrations/grpcbench"
	"github.com/udtgo/udt/integrations/internal/testutil"
	"github.com/udtgo/udt/integrations/udthttp"
)

// long bounds the waits of a test that would otherwise hang on a bug;
// generous, as the machine is loaded and -race slows everything: never a
// measure of speed.
const long = 2 * time.Minute

// The ways a client and a server speak HTTP over UDT here.
const (
	h1  = "http1"  // HTTP/1.1 in the clear
	h2  = "h2-tls" // HTTP/2 over TLS, chosen by ALPN
	h2c = "h2c"    // HTTP/2 in the clear, with prior knowledge
)

var modes = []string{h1, h2, h2c}

// site is an http.Server on a UDT listener and a client of it.
type site struct {
	srv    *http.Server
	lis    *testutil.Listener
	url    string
	client *http.Client
	tr     *http.Transport
	served chan error
	conns  atomic.Int64 // connections the server saw begin (ConnState)
}

// pattern serves GET /bytes?n=N&seed=S (N bytes of grpcbench.Pattern) and
// PUT /sha256 (the sha256 of the body, hex).
func pattern() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&patternReader{seed: seed}, n))
	})
	mux.HandleFunc("PUT /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	})
	return mux
}

// patternReader reads grpcbench.Pattern's stream for seed.
type patternReader struct {
	seed uint64
	off  int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	grpcbench.Pattern(p.seed, p.off, b)
	p.off += int64(len(b))
	return len(b), nil
}

func patternSHA(seed uint64, n int64) string {
	h := sha256.New()
	io.Copy(h, io.LimitReader(&patternReader{seed: seed}, n))
	return hex.EncodeToString(h.Sum(nil))
}

func startSite(t *testing.T, mode string, h http.Handler) *site {
	t.Helper()
	l, err := udthttp.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{lis: testutil.NewListener(l), served: make(chan error, 1), tr: udthttp.NewTransport(nil)}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: long}
	s.srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.client = &http.Client{Transport: s.tr}
	switch mode {
	case h1:
		s.url = "http://" + l.Addr().String()
		go func() { s.served <- s.srv.Serve(s.lis) }()
	case h2c:
		s.url = "http://" + l.Addr().String()
		s.srv.Protocols = new(http.Protocols)
		s.srv.Protocols.SetUnencryptedHTTP2(true)
		s.tr.Protocols = new(http.Protocols)
		s.tr.Protocols.SetUnencryptedHTTP2(true)
		go func() { s.served <- s.srv.Serve(s.lis) }()
	case h2:
		cert, err := testutil.NewCert()
		if err != nil {
			t.Fatal(err)
		}
		s.url = "https://" + l.Addr().String()
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
		s.tr.TLSClientConfig = &tls.Config{RootCAs: cert.Pool}
		go func() { s.served <- s.srv.ServeTLS(s.lis, "", "") }()
	}
	t.Cleanup(func() {
		s.tr.CloseIdleConnections()
		s.srv.Close()
	})
	return s
}

func (s *site) get(t *testing.T, ctx context.Context, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body after %d bytes: %v", path, len(b), err)
	}
	return resp, b
}

func wantProto(t *testing.T, mode string, resp *http.Response) {
	t.Helper()
	want := map[string]int{h1: 1, h2: 2, h2c: 2}[mode]
	if resp.ProtoMajor != want {
		t.Fatalf("response over %s, want HTTP/%d", resp.Proto, want)
	}
}

// TestKeepAliveReuse: 100 requests share one UDT connection; HTTP/1.1
// one after another (each reusing the idle connection), HTTP/2 all at
// once (streams of one connection).
func TestKeepAliveReuse(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startSite(t, mode, pattern())
			ctx, cancel := context.WithTimeout(context.Background(), long)
			defer cancel()
			const requests, size = 100, 4096
			var reused atomic.Int64
			trace := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused.Add(1)
				}
			}})
			one := func(i int) {
				resp, b := s.get(t, trace, fmt.Sprintf("/bytes?n=%d&seed=%d", size, i))
				wantProto(t, mode, resp)
				want := make([]byte, size)
				grpcbench.Pattern(uint64(i), 0, want)
				if !bytes.Equal(b, want) {
					t.Errorf("request %d: the body is not what was sent", i)
				}
			}
			if mode == h1 {
				for i := range requests {
					one(i)
				}
				if r := reused.Load(); r != requests-1 {
					t.Errorf("%d of %d requests reused a connection, want all but the first", r, requests)
				}
			} else {
				one(0) // the connection, before the streams share it
				var wg sync.WaitGroup
				for i := 1; i < requests; i++ {
					wg.Go(func() { one(i) })
				}
				wg.Wait()
			}
			if n := s.lis.Accepted(); n != 1 {
				t.Errorf("the server accepted %d connections for %d requests, want 1", n, requests)
			}
			if n := s.conns.Load(); n != 1 {
				t.Errorf("the server saw %d connections begin, want 1", n)
			}
		})
	}
}

// TestConnectionClose: each response says Connection: close, so the
// server writes it and closes at once; every 1 MiB body arrives whole,
// on a connection of its own. UDT has no half-close: the server's Close
// itself must deliver the response.
func TestConnectionClose(t *testing.T) {
	const requests, size = 20, 1 << 20
	h := pattern()
	s := startSite(t, h1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		h.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	for i := range requests {
		resp, b := s.get(t, ctx, fmt.Sprintf("/bytes?n=%d&seed=%d", size, i))
		if !resp.Close {
			t.Fatalf("request %d: the response does not close the connection", i)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != patternSHA(uint64(i), size) {
			t.Fatalf("request %d: %d bytes whose sha256 is not the one sent", i, len(b))
		}
	}
	if n := s.lis.Accepted(); n != requests {
		t.Errorf("the server accepted %d connections for %d Connection: close responses", n, requests)
	}
}

// TestUpload64MiBDownload64MiB sends 64 MiB up and 64 MiB down; the
// sha256 on the far side must match.
func TestUpload64MiBDownload64MiB(t *testing.T) {
	const size = 64 << 20
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startSite(t, mode, pattern())
			ctx, cancel := context.WithTimeout(context.Background(), long)
			defer cancel()
			seed := uint64(time.Now().UnixNano())
			want := patternSHA(seed, size)

			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, "PUT", s.url+"/sha256", io.LimitReader(&patternReader{seed: seed}, size))
			req.ContentLength = size
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("upload: %v %s %q", err, resp.Status, b)
			}
			wantProto(t, mode, resp)
			if got, exp := string(b), fmt.Sprintf("%d %s", size, want); got != exp {
				t.Fatalf("upload: the server read %q, want %q", got, exp)
			}
			up := time.Since(start)

			start = time.Now()
			req, _ = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/bytes?n=%d&seed=%d", s.url, size, seed), nil)
			resp, err = s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil || n != size {
				t.Fatalf("download: %d bytes, %v", n, err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != want {
				t.Fatalf("download: sha256 %s, want %s", got, want)
			}
			t.Logf("64 MiB up in %v, down in %v (race detector %v, loaded machine: not a measure)", up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), raceEnabled)
		})
	}
}

// TestShutdownWithRequestsInFlight starts Shutdown while 20 requests wait
// in their handler: it closes the listener, waits for them, and each gets
// its whole 256 KiB response; then Shutdown returns nil.
func TestShutdownWithRequestsInFlight(t *testing.T) {
	const requests, size = 20, 256 << 10
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			entered := make(chan struct{}, requests)
			release := make(chan struct{})
			h := pattern()
			var mu sync.Mutex
			s := startSite(t, mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				rel := release
				mu.Unlock()
				entered <- struct{}{}
				<-rel
				h.ServeHTTP(w, r)
			}))
			ctx, cancel := context.WithTimeout(context.Background(), long)
			defer cancel()
			if mode != h1 {
				// One HTTP/2 connection, up before the requests share it.
				// Without this the first requests dial in parallel and
				// the transport keeps a spare connection, which net/http
				// may serve as HTTP/2 only after Shutdown sent its GOAWAYs:
				// Shutdown then waits for it to its deadline (TCP or UDT).
				close(release)
				s.get(t, ctx, "/bytes?n=1")
				<-entered
				mu.Lock()
				release = make(chan struct{})
				mu.Unlock()
			}
			errs := make(chan error, requests)
			var wg sync.WaitGroup
			for i := range requests {
				wg.Go(func() {
					req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/bytes?n=%d&seed=%d", s.url, size, i), nil)
					resp, err := s.client.Do(req)
					if err != nil {
						errs <- fmt.Errorf("request %d: %w", i, err)
						return
					}
					defer resp.Body.Close()
					hh := sha256.New()
					n, err := io.Copy(hh, resp.Body)
					if err != nil || n != size || hex.EncodeToString(hh.Sum(nil)) != patternSHA(uint64(i), size) {
						errs <- fmt.Errorf("request %d: %d bytes (%v), or not the ones sent", i, n, err)
					}
				})
			}
			for i := range requests {
				select {
				case <-entered:
				case <-ctx.Done():
					t.Fatalf("%d of %d requests reached the handler", i, requests)
				}
			}
			shut := make(chan error, 1)
			go func() { shut <- s.srv.Shutdown(ctx) }()
			select {
			case <-s.lis.Closed():
			case <-ctx.Done():
				t.Fatal("Shutdown did not close the listener")
			}
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned (%v) with requests in flight", err)
			default:
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-s.served; err != http.ErrServerClosed {
				t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
			}
			// A new connection finds nobody listening.
			s.tr.CloseIdleConnections()
			nctx, ncancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer ncancel()
			req, _ := http.NewRequestWithContext(nctx, "GET", s.url+"/bytes?n=1", nil)
			if resp, err := s.client.Do(req); err == nil {
				resp.Body.Close()
				t.Fatal("a request after Shutdown succeeded")
			}
		})
	}
}
