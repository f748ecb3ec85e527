// Package testutil holds what the integration tests share: a throwaway
// TLS certificate and a listener that counts and watches its connections.
package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Cert is a self-signed certificate for 127.0.0.1, ::1 and localhost, made
// in memory, and a pool that trusts it.
type Cert struct {
	TLS  tls.Certificate
	Pool *x509.CertPool
}

// NewCert makes a Cert valid for an hour.
func NewCert() (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Cert{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Pool: pool}, nil
}

// Listener counts the connections it accepted and tells when it was
// closed; its connections tell when they were closed.
type Listener struct {
	net.Listener
	accepted  atomic.Int64
	closeOnce sync.Once
	closed    chan struct{}
	mu        sync.Mutex
	conns     []*Conn
}

// NewListener wraps l.
func NewListener(l net.Listener) *Listener {
	return &Listener{Listener: l, closed: make(chan struct{})}
}

// Accept counts each connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	wc := &Conn{Conn: c, Closed: make(chan struct{})}
	l.mu.Lock()
	l.conns = append(l.conns, wc)
	l.mu.Unlock()
	return wc, nil
}

// Close closes the listener and marks it closed.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	return err
}

// Accepted is how many connections it accepted.
func (l *Listener) Accepted() int64 { return l.accepted.Load() }

// Closed is closed once Close was called.
func (l *Listener) Closed() <-chan struct{} { return l.closed }

// Conns are the connections accepted so far.
func (l *Listener) Conns() []*Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Conn(nil), l.conns...)
}

// Conn is an accepted connection whose Closed channel closes once Close
// returned.
type Conn struct {
	net.Conn
	once   sync.Once
	Closed chan struct{}
	// CloseErr is what the first Close returned; read it after Closed.
	CloseErr error
}

// Close closes the connection and marks it closed.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.CloseErr = err
		close(c.Closed)
	})
	return err
}

// Wait polls cond every few milliseconds until it holds or d passes, and
// reports whether it held: the tests wait for conditions, not for time.
func Wait(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
