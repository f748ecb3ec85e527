package testenv

import (
	"crypto/x509"
	"testing"
)

func TestCertVerifiesForItsNames(t *testing.T) {
	cert, pool := Cert(t)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := Cert(t, "example.test")
	if _, err := other.Leaf.Verify(x509.VerifyOptions{DNSName: "example.test", Roots: pool}); err == nil {
		t.Error("another certificate verified against the first one's pool")
	}
}

func TestProcessCounters(t *testing.T) {
	if fds, _ := CountFDs(t); fds < 3 {
		t.Errorf("CountFDs = %d, want at least standard input, output and error", fds)
	}
	if n := CountThreads(t); n < 1 {
		t.Errorf("CountThreads = %d", n)
	}
	if kb := StatusKB(t, "VmRSS:"); kb <= 0 {
		t.Errorf(`StatusKB("VmRSS:") = %d`, kb)
	}
	if StatusKB(t, "NoSuchField:") != 0 {
		t.Error("a missing field is not 0")
	}
	if CPUTime(t) <= 0 {
		t.Error("CPUTime is not positive")
	}
}

func TestEnvInt(t *testing.T) {
	t.Setenv("UDT_TESTENV_N", "7")
	if n := EnvInt("UDT_TESTENV_N", 3); n != 7 {
		t.Errorf("EnvInt = %d, want 7", n)
	}
	for _, v := range []string{"", "0", "-2", "x"} {
		t.Setenv("UDT_TESTENV_N", v)
		if n := EnvInt("UDT_TESTENV_N", 3); n != 3 {
			t.Errorf("EnvInt with %q = %d, want the default 3", v, n)
		}
	}
}
