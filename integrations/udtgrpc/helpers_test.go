package udtgrpc_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/udtgo/udt/integrations/internal/testutil"
	"github.com/udtgo/udt/integrations/udtgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// security is how a test's client and server talk: in the clear or over
// TLS with a certificate made for the test.
type security struct {
	name   string
	server []grpc.ServerOption
	client grpc.DialOption
}

func securities(t *testing.T) []security {
	t.Helper()
	cert, err := testutil.NewCert()
	if err != nil {
		t.Fatal(err)
	}
	return []security{
		{"insecure", nil, grpc.WithTransportCredentials(insecure.NewCredentials())},
		{"tls", []grpc.ServerOption{grpc.Creds(credentials.NewServerTLSFromCert(&cert.TLS))},
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"}))},
	}
}

var insecureCreds = grpc.WithTransportCredentials(insecure.NewCredentials())

// server is a gRPC server on a UDT listener of 127.0.0.1.
type server struct {
	*grpc.Server
	lis  *testutil.Listener
	addr string
	done chan error // Serve's return
}

// startServer serves svc on a new UDT listener (port 0) until the test ends.
func startServer(t *testing.T, svc testpb.TestServiceServer, opts ...grpc.ServerOption) *server {
	t.Helper()
	l, err := udtgrpc.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, l, svc, opts...)
}

func serveOn(t *testing.T, l net.Listener, svc testpb.TestServiceServer, opts ...grpc.ServerOption) *server {
	t.Helper()
	s := &server{Server: grpc.NewServer(opts...), lis: testutil.NewListener(l), addr: l.Addr().String(), done: make(chan error, 1)}
	testpb.RegisterTestServiceServer(s.Server, svc)
	go func() { s.done <- s.Serve(s.lis) }()
	t.Cleanup(s.Stop)
	return s
}

// dial makes a client of addr over UDT with the given options, closed
// when the test ends.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) (*grpc.ClientConn, testpb.TestServiceClient) {
	t.Helper()
	return dialWith(t, udtgrpc.ContextDialer(nil), addr, opts...)
}

func dialWith(t *testing.T, dialer func(context.Context, string) (net.Conn, error), addr string, opts ...grpc.DialOption) (*grpc.ClientConn, testpb.TestServiceClient) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithContextDialer(dialer)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc, testpb.NewTestServiceClient(cc)
}

// long bounds the waits of a test that would otherwise hang on a bug; on
// a loaded machine under -race things take their time, so it is generous
// and never a measure of speed.
const long = 2 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), long)
	t.Cleanup(cancel)
	return ctx
}
