// Package udtgrpc runs gRPC over UDT. A gRPC server serves a UDT listener
// as it would a TCP one (grpc.Server.Serve takes any net.Listener); a
// client dials UDT through grpc.WithContextDialer. Everything above the
// connection, HTTP/2, TLS, keepalive, deadlines and GracefulStop, is
// gRPC's own and unchanged.
//
//	lis, _ := udtgrpc.Listen("127.0.0.1:9000", nil)
//	srv := grpc.NewServer()
//	healthpb.RegisterHealthServer(srv, health.NewServer())
//	go srv.Serve(lis)
//
//	cc, _ := grpc.NewClient("passthrough:///127.0.0.1:9000",
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		udtgrpc.WithDialer(nil))
//
// What differs from TCP is in docs/services.md of the repository: Close
// waits for the peer to acknowledge what was written (so a response
// written before GracefulStop or Stop closes the connection arrives), a
// killed peer is noticed by UDT only after about 45 s (gRPC keepalive
// notices sooner), all connections of a listener, and all that a process
// dials, share one UDP port, and the congestion controller is chosen by
// udt.Config on both ends.
package udtgrpc

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/udtgo/udt"
	"google.golang.org/grpc"
)

// Network is the network the helpers dial and listen on: either address
// family, as the address says.
const Network = "udt"

// ContextDialer returns the function grpc.WithContextDialer wants, dialing
// UDT with d (nil: a zero udt.Dialer, UDT's defaults). gRPC passes the
// address its resolver produced; gRPC's connect deadline bounds the dial
// (a udt.Dialer's own Timeout, when set, too), so a dial to a server that
// is down keeps asking until the server is back or the deadline passes.
func ContextDialer(d *udt.Dialer) func(ctx context.Context, addr string) (net.Conn, error) {
	if d == nil {
		d = &udt.Dialer{}
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if d.Config.Message {
			return nil, errMessageMode
		}
		return d.DialContext(ctx, Network, addr)
	}
}

// errMessageMode refuses a message-mode dialer: HTTP/2 needs a byte stream,
// and a message-mode Read cuts a frame longer than its buffer.
var errMessageMode = errors.New("udtgrpc: gRPC needs a stream connection, not udt.Config.Message")

// WithDialer is grpc.WithContextDialer(ContextDialer(d)): the client's
// connections are UDT connections made by d (nil: UDT's defaults).
func WithDialer(d *udt.Dialer) grpc.DialOption {
	return grpc.WithContextDialer(ContextDialer(d))
}

// DefaultPeerIdleTimeout is the udt.Config.PeerIdleTimeout of a Listen
// without a ListenConfig: long enough for any path UDT serves, short
// enough that a server soon lets go of a client that vanished.
const DefaultPeerIdleTimeout = 30 * time.Second

// Listen listens for UDT connections on address ("host:port"; port 0
// picks one, read it back from Addr) with lc's options (nil: UDT's
// defaults, but for a PeerIdleTimeout of DefaultPeerIdleTimeout, so that
// a vanished client is let go within seconds rather than UDT's 45 to 53),
// for grpc.Server.Serve.
func Listen(address string, lc *udt.ListenConfig) (net.Listener, error) {
	if lc == nil {
		lc = &udt.ListenConfig{Config: udt.Config{PeerIdleTimeout: DefaultPeerIdleTimeout}}
	}
	if lc.Config.Message {
		return nil, errMessageMode
	}
	return lc.Listen(context.Background(), Network, address)
}
