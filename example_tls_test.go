package udt_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/big"
	"strings"
	"time"

	"github.com/udtgo/udt"
)

// TLS over UDT: crypto/tls runs on a UDT connection as on a TCP one.
// tls.Server and tls.Client wrap the accepted and the dialed connection.
// The certificate here is a self-signed one made on the spot, which the
// client trusts explicitly; a real server loads its own with
// tls.LoadX509KeyPair.
//
// Closing: tls.Conn.Close sends TLS's close_notify and closes the UDT
// connection, whose Close waits until the peer has acknowledged what was
// written, so the peer reads everything and then io.EOF. UDT has no
// half-close, but TLS has one: CloseWrite sends close_notify alone, the
// peer reads io.EOF and can still answer. The side that closes second may
// get an error from Close (its close_notify finds the connection gone);
// its connection is closed all the same.
func Example_tls() {
	cert, roots := selfSigned("localhost")

	ln, err := udt.Listen("udt", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(tc, strings.ToUpper(line))
		io.Copy(io.Discard, tc) // until the client's close_notify
	}()

	c, err := udt.Dial("udt", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc, "hello over TLS\n"); err != nil { // the handshake runs here
		log.Fatal(err)
	}
	reply, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	st := tc.ConnectionState()
	fmt.Print(reply)
	fmt.Println(tls.VersionName(st.Version), "with", st.PeerCertificates[0].DNSNames[0])
	if err := tc.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// HELLO OVER TLS
	// TLS 1.3 with localhost
}

// selfSigned makes an ECDSA certificate for host, signed by its own key,
// and a pool that trusts it.
func selfSigned(host string) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}
