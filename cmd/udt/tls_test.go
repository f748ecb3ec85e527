package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udtgo/udt/internal/testenv"
)

// writeCert writes a self-signed certificate for names (DNS names or IP
// addresses) and its key as PEM files in dir: the command reads files, not
// an in-memory tls.Certificate.
func writeCert(t *testing.T, dir, base string, names ...string) (certFile, keyFile string) {
	t.Helper()
	cert, _ := testenv.Cert(t, names...)
	kder, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// `udt serve --tls CERT KEY` and `udt get --tls-ca`/`--tls-insecure`: the
// file arrives intact over TLS, and every mismatch (plain against TLS
// either way, an untrusted certificate, another name) fails at once with
// a reason and a hint rather than hanging.
func TestServeGetTLS(t *testing.T) {
	root := t.TempDir()
	sum := writeRandom(t, filepath.Join(root, "f.bin"), 8<<20+13, 16)
	certs := t.TempDir()
	cert, key := writeCert(t, certs, "server", "127.0.0.1", "localhost")
	other, _ := writeCert(t, certs, "other", "127.0.0.1")
	addr, srv := serve(t, root, "--tls", cert, key)
	if !strings.Contains(srv.stderr.String(), "TLS only") {
		t.Errorf("the server does not say it serves TLS:\n%s", srv.stderr.String())
	}

	dl := t.TempDir()
	for _, flags := range [][]string{{"--tls-ca", cert}, {"--tls-insecure"}, {"--tls-ca", cert, "--tls-name", "localhost"}} {
		os.Remove(filepath.Join(dl, "f.bin"))
		args := append(append([]string{"get", "--verify"}, flags...), addr, "f.bin")
		r := udtRun(t, dl, nil, args...)
		if r.code != 0 || !strings.Contains(r.stderr, hex.EncodeToString(sum)+" ok") {
			t.Fatalf("udt %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		if got := fileSum(t, filepath.Join(dl, "f.bin")); !bytes.Equal(got, sum) {
			t.Fatalf("udt %s: sha256 %x, want %x", strings.Join(args, " "), got, sum)
		}
	}

	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{"the server refused", "speaks TLS only", "--tls-ca"}},
		{[]string{"--tls-ca", other}, []string{"TLS handshake", "certificate", "hint: the server's certificate is not one this client trusts"}},
		{[]string{"--tls"}, []string{"TLS handshake", "hint: the server's certificate is not one this client trusts"}},
		{[]string{"--tls-ca", cert, "--tls-name", "files.example.org"}, []string{"TLS handshake", "files.example.org", "hint: the certificate is for another name"}},
	} {
		args := append(append([]string{"get"}, tc.flags...), addr, "f.bin", "refused")
		r := udtRun(t, dl, nil, args...)
		for _, want := range tc.want {
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("udt %s: exit %d, stderr:\n%s\nwant exit 1 and %q", strings.Join(args, " "), r.code, r.stderr, want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dl, "refused")); err == nil {
		t.Error("a refused get created its local file")
	}
	srv.waitLine(t, `refused "f.bin": this server speaks TLS only`)
	srv.waitLine(t, `TLS handshake failed: remote error: .*\(the client does not accept this server's certificate\)`)

	// A TLS client of a plain server.
	plain, psrv := serve(t, root)
	r := udtRun(t, dl, nil, "get", "--tls-insecure", plain, "f.bin", "refused")
	if r.code != 1 || !strings.Contains(r.stderr, "TLS handshake") || !strings.Contains(r.stderr, "is it 'udt serve --tls CERT KEY'?") {
		t.Errorf("TLS get from a plain server: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	psrv.waitLine(t, `refused a client: a TLS client, and this server has no --tls`)
}

func TestTLSFlags(t *testing.T) {
	certs := t.TempDir()
	cert, key := writeCert(t, certs, "server", "127.0.0.1")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--tls", cert}, 2, "-tls wants CERT KEY"},
		{[]string{"serve", "--tls", cert, filepath.Join(certs, "none.key"), "."}, 1, "none.key"},
		{[]string{"serve", "--tls", key, cert, "."}, 1, "--tls " + key},
		{[]string{"get", "--tls-ca", filepath.Join(certs, "none.pem"), "127.0.0.1:9", "f"}, 1, "none.pem"},
		{[]string{"get", "--tls-ca", key, "127.0.0.1:9", "f"}, 1, "no PEM certificate"},
		{[]string{"get", "--tls-ca", cert, "--tls-insecure", "127.0.0.1:9", "f"}, 2, "pick one"},
	} {
		r := udtRun(t, t.TempDir(), nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("udt %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
	// The flags may come before or after the positional arguments.
	p := udtStart(t, t.TempDir(), nil, "serve", ".", "127.0.0.1:0", "--tls", cert, key, "-q")
	p.waitLine(t, `on UDT 127\.0\.0\.1:\d+, TLS only`)
}
