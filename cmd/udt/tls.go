package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// TLS for serve and get: crypto/tls over the UDT connection, the file
// protocol unchanged inside it. The upstream example programs speak no
// TLS, so a TLS server refuses them as it refuses a plain `udt get`, with
// a reason the latter prints.

// serverTLS loads the server's certificate and key.
func serverTLS(files *filePair) (*tls.Config, error) {
	if files.set == 0 {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(files.first, files.second)
	if err != nil {
		return nil, fmt.Errorf("--tls %s %s: %w", files.first, files.second, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// clientTLS is the client's TLS configuration, or nil for plain UDT: on
// asks for TLS verified against the system's roots, ca for one verified
// against the certificates in that PEM file, insecure for no verification.
// The name checked is name, else addr's host.
func clientTLS(on bool, ca, name string, insecure bool, addr string) (*tls.Config, error) {
	if !on && ca == "" && !insecure && name == "" {
		return nil, nil
	}
	if insecure && ca != "" {
		return nil, usagef("--tls-insecure checks nothing, --tls-ca checks against a file: pick one")
	}
	cfg := &tls.Config{ServerName: name, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if name == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = host
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", ca)
		}
	}
	return cfg, nil
}

// handshakeError explains a client's failed handshake: a server that does
// not speak TLS, or a certificate that does not check out.
func handshakeError(err error, addr string) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		remote   *net.OpError // an alert from the peer
		header   tls.RecordHeaderError
	)
	hint := ""
	switch {
	case errors.As(err, &hostname):
		hint = "the certificate is for another name: connect by that name, or give it with --tls-name"
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &verify):
		hint = "the server's certificate is not one this client trusts: --tls-ca FILE trusts a certificate or CA, --tls-insecure checks nothing"
	case errors.As(err, &remote) && remote.Op == "remote error", errors.As(err, &header),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		hint = "the server does not seem to speak TLS: is it 'udt serve --tls CERT KEY'? Without the --tls flags, get speaks plain UDT"
	}
	if hint == "" {
		return fmt.Errorf("%s: TLS handshake: %w", addr, err)
	}
	return fmt.Errorf("%s: TLS handshake: %w\nhint: %s", addr, err, hint)
}

// looksLikeTLS tells a TLS handshake record from a file request by its
// first three bytes: a request starts with its name's length, little-endian
// and at most 1023, so its third byte is 0; a TLS record starts with 22
// (handshake) and a version 3.x whose minor is never 0 in a ClientHello's
// record (TLS 1.0 or later).
func looksLikeTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == 22 && b[1] == 3 && b[2] != 0
}

// handshakeFailureAlert is a fatal TLS alert record (handshake_failure),
// what a plain server sends a TLS client so that its handshake fails at
// once with "remote error".
var handshakeFailureAlert = []byte{21, 3, 3, 0, 2, 2, 40}

// prefixConn reads the bytes taken to look at a connection before the
// rest of it.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }
