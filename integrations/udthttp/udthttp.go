// Package udthttp runs net/http over UDT: HTTP/1.1, HTTP/2 over TLS (ALPN
// "h2") and unencrypted HTTP/2 (h2c), with the standard library's client
// and server. A server serves a UDT listener with http.Server.Serve or
// ServeTLS; a client is an http.Transport whose DialContext dials UDT.
//
//	lis, _ := udthttp.Listen("127.0.0.1:8080", nil)
//	go http.Serve(lis, handler)
//
//	client := &http.Client{Transport: udthttp.NewTransport(nil)}
//	resp, _ := client.Get("http://127.0.0.1:8080/")
//
// The scheme stays http or https: only the transport under it changes. A
// Transport from NewTransport dials only UDT, so use it for UDT servers
// alone. h2c needs no package beyond net/http (http.Protocols, Go 1.24).
package udthttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/udtgo/udt"
)

// Network is the network the helpers dial and listen on: either address
// family, as the address says.
const Network = "udt"

var errMessageMode = errors.New("udthttp: HTTP needs a stream connection, not udt.Config.Message")

// DialContext returns a function for http.Transport.DialContext that
// dials UDT with d (nil: UDT's defaults), whatever network net/http asks
// for ("tcp").
func DialContext(d *udt.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &udt.Dialer{}
	}
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		if d.Config.Message {
			return nil, errMessageMode
		}
		return d.DialContext(ctx, Network, addr)
	}
}

// NewTransport returns an http.Transport with http.DefaultTransport's
// settings whose connections are UDT connections made by d (nil: UDT's
// defaults). It speaks HTTP/1.1, and HTTP/2 to https servers that offer
// it by ALPN (ForceAttemptHTTP2, which a custom DialContext otherwise
// turns off). Its proxy setting is cleared: a proxy from the environment
// would be dialed over UDT too.
func NewTransport(d *udt.Dialer) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = DialContext(d)
	t.ForceAttemptHTTP2 = true
	return t
}

// DefaultPeerIdleTimeout is the udt.Config.PeerIdleTimeout of a Listen
// without a ListenConfig: long enough for any path UDT serves, short
// enough that a server soon lets go of a client that vanished.
const DefaultPeerIdleTimeout = 30 * time.Second

// Listen listens for UDT connections on address ("host:port"; port 0
// picks one, read it back from Addr) with lc's options (nil: UDT's
// defaults, but for a PeerIdleTimeout of DefaultPeerIdleTimeout, so that
// a vanished client is let go within seconds rather than UDT's 45 to 53),
// for http.Server.Serve or ServeTLS.
func Listen(address string, lc *udt.ListenConfig) (net.Listener, error) {
	if lc == nil {
		lc = &udt.ListenConfig{Config: udt.Config{PeerIdleTimeout: DefaultPeerIdleTimeout}}
	}
	if lc.Config.Message {
		return nil, errMessageMode
	}
	return lc.Listen(context.Background(), Network, address)
}
