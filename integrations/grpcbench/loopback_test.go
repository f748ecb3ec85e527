package grpcbench_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/integrations/grpcbench"
	"github.com/udtgo/udt/integrations/udtgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// transports the loopback figures compare.
var transports = []string{"udt", "tcp"}

func listen(t testing.TB, kind string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	if kind == "udt" {
		l, err = udtgrpc.Listen("127.0.0.1:0", nil)
	} else {
		l, err = net.Listen("tcp4", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// grpcPair serves grpcbench.Service over kind on loopback and returns a
// client of it.
func grpcPair(t testing.TB, kind string) testpb.TestServiceClient {
	t.Helper()
	l := listen(t, kind)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &grpcbench.Service{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if kind == "udt" {
		opts = append(opts, udtgrpc.WithDialer(nil))
	}
	cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

// rawGoodput streams 1 MiB writes over one kind connection and returns
// what the receiver read in d after a warm-up, in Mbit/s.
func rawGoodput(t testing.TB, kind string, warmup, d time.Duration) float64 {
	t.Helper()
	l := listen(t, kind)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if uc, ok := c.(*udt.Conn); ok {
			// The receiver leaves when it has its figure: what is
			// still unsent is of no use.
			uc.SetLinger(0)
		}
		buf := make([]byte, 1<<20)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	var c net.Conn
	var err error
	if kind == "udt" {
		c, err = udt.Dial("udt", l.Addr().String())
	} else {
		c, err = net.Dial("tcp4", l.Addr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return measure(warmup, d, func(b []byte) (int, error) { return c.Read(b) })
}

// rawEcho times 64-byte round trips over one kind connection (a server
// that echoes) for d and returns their p50 and p99 in µs.
func rawEcho(t testing.TB, kind string, d time.Duration) (p50, p99 float64) {
	t.Helper()
	l := listen(t, kind)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	var err error
	if kind == "udt" {
		c, err = udt.Dial("udt", l.Addr().String())
	} else {
		c, err = net.Dial("tcp4", l.Addr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	var lat grpcbench.Latencies
	for end := time.Now().Add(d); time.Now().Before(end); {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	return float64(lat.Quantile(0.5)) / 1e3, float64(lat.Quantile(0.99)) / 1e3
}

// measure reads with read until warmup+d passed and returns the Mbit/s
// read during d.
func measure(warmup, d time.Duration, read func([]byte) (int, error)) float64 {
	buf := make([]byte, 1<<20)
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+d)
	var n int64
	for {
		k, err := read(buf)
		now := time.Now()
		if now.After(to) {
			break
		}
		if now.After(from) {
			n += int64(k)
		}
		if err != nil {
			if err != io.EOF {
				panic(err)
			}
			break
		}
	}
	return float64(n) * 8 / d.Seconds() / 1e6
}

// streamGoodput streams StreamingOutputCall messages of 1 MiB and returns
// the payload Mbit/s the client read in d after a warm-up.
func streamGoodput(t testing.TB, c testpb.TestServiceClient, warmup, d time.Duration) float64 {
	t.Helper()
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+d)
	var n int64
	_, err := grpcbench.Stream(context.Background(), c, grpcbench.StreamRequest(1, 0, 0), func(p []byte) bool {
		now := time.Now()
		if now.After(from) {
			n += int64(len(p))
		}
		return !now.After(to)
	})
	if err != nil {
		t.Fatal(err)
	}
	return float64(n) * 8 / d.Seconds() / 1e6
}

// TestLoopbackFigures prints gRPC over UDT against gRPC over TCP on
// loopback, beside raw UDT against raw TCP measured in the same run:
// unary round trips (p50, p99) and streaming goodput, in rounds that
// alternate the transports, taking the median. It runs only with
// UDT_SERVICES_BENCH=1 (./build.sh bench-services); UDT_SERVICES_SECONDS
// sets the measuring time of each goodput figure (default 3) and
// UDT_SERVICES_ROUNDS the rounds (default 3).
func TestLoopbackFigures(t *testing.T) {
	if os.Getenv("UDT_SERVICES_BENCH") == "" {
		t.Skip("a measurement: UDT_SERVICES_BENCH=1 (./build.sh bench-services)")
	}
	secs, _ := strconv.ParseFloat(os.Getenv("UDT_SERVICES_SECONDS"), 64)
	if secs <= 0 {
		secs = 3
	}
	rounds, _ := strconv.Atoi(os.Getenv("UDT_SERVICES_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	d := time.Duration(secs * float64(time.Second))
	warmup := time.Second
	type fig struct{ p50, p99, stream, raw, echo50, echo99 []float64 }
	figs := map[string]*fig{"udt": {}, "tcp": {}}
	for r := range rounds {
		for _, kind := range transports {
			f := figs[kind]
			c := grpcPair(t, kind)
			// Warm the connection, then time sequential calls of 64 bytes.
			if _, err := grpcbench.Unary(context.Background(), c, 200, 0, 64); err != nil {
				t.Fatal(err)
			}
			lat, err := grpcbench.Unary(context.Background(), c, 0, d, 64)
			if err != nil {
				t.Fatal(err)
			}
			f.p50 = append(f.p50, float64(lat.Quantile(0.5))/1e3)
			f.p99 = append(f.p99, float64(lat.Quantile(0.99))/1e3)
			f.stream = append(f.stream, streamGoodput(t, grpcPair(t, kind), warmup, d))
			f.raw = append(f.raw, rawGoodput(t, kind, warmup, d))
			e50, e99 := rawEcho(t, kind, d)
			f.echo50, f.echo99 = append(f.echo50, e50), append(f.echo99, e99)
			t.Logf("round %d %s: unary p50 %.0f µs p99 %.0f µs over %d calls; raw echo p50 %.0f µs p99 %.0f µs; gRPC stream %.0f Mbit/s; raw %.0f Mbit/s",
				r+1, kind, f.p50[r], f.p99[r], len(lat), e50, e99, f.stream[r], f.raw[r])
		}
	}
	med := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	u, c := figs["udt"], figs["tcp"]
	var b strings.Builder
	fmt.Fprintf(&b, "loopback, medians of %d rounds, %v per figure (UDT and TCP alternate)\n", rounds, d)
	fmt.Fprintf(&b, "| | gRPC over UDT | gRPC over TCP | UDT / TCP |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| unary p50 (64 B echo) | %.0f µs | %.0f µs | %.2f× |\n", med(u.p50), med(c.p50), med(u.p50)/med(c.p50))
	fmt.Fprintf(&b, "| unary p99 | %.0f µs | %.0f µs | %.2f× |\n", med(u.p99), med(c.p99), med(u.p99)/med(c.p99))
	fmt.Fprintf(&b, "| raw echo p50 (64 B, no gRPC) | %.0f µs | %.0f µs | %.2f× |\n", med(u.echo50), med(c.echo50), med(u.echo50)/med(c.echo50))
	fmt.Fprintf(&b, "| raw echo p99 | %.0f µs | %.0f µs | %.2f× |\n", med(u.echo99), med(c.echo99), med(u.echo99)/med(c.echo99))
	fmt.Fprintf(&b, "| what gRPC adds to the p50 | %.0f µs | %.0f µs | |\n", med(u.p50)-med(u.echo50), med(c.p50)-med(c.echo50))
	fmt.Fprintf(&b, "| server streaming, 1 MiB messages | %.0f Mbit/s | %.0f Mbit/s | %.2f |\n", med(u.stream), med(c.stream), med(u.stream)/med(c.stream))
	fmt.Fprintf(&b, "| raw stream (no gRPC) | %.0f Mbit/s | %.0f Mbit/s | %.2f |\n", med(u.raw), med(c.raw), med(u.raw)/med(c.raw))
	fmt.Fprintf(&b, "| gRPC's share of raw | %.0f %% | %.0f %% | |\n", med(u.stream)/med(u.raw)*100, med(c.stream)/med(c.raw)*100)
	fmt.Print(b.String())
}

// BenchmarkUnary is one 64-byte unary call over loopback, UDT and TCP.
func BenchmarkUnary(b *testing.B) {
	for _, kind := range transports {
		b.Run(kind, func(b *testing.B) {
			c := grpcPair(b, kind)
			req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 64)}}
			for b.Loop() {
				if _, err := c.UnaryCall(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream is server streaming of 1 MiB messages over loopback,
// UDT and TCP; its MB/s is the goodput.
func BenchmarkStream(b *testing.B) {
	for _, kind := range transports {
		b.Run(kind, func(b *testing.B) {
			c := grpcPair(b, kind)
			b.SetBytes(grpcbench.DefaultChunk)
			n := 0
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := grpcbench.Stream(ctx, c, grpcbench.StreamRequest(1, 0, 0), func([]byte) bool {
				n++
				return n < b.N
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
