package udt

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// waitNonexist waits until UDT's garbage collector has deleted s.
func waitNonexist(t testing.TB, s Socket) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.SockState() != StatusNonexist; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("UDT kept socket %v: %v", s, s.SockState())
		}
	}
}

// A peer's clean close makes UDT delete our socket about 2 s later, under
// the Go object: from then on UDT answers 5004 for it. Every method must
// give the answer for a connection the peer closed (EOF to a reader, a
// broken connection to a writer), never net.ErrClosed, which means this
// side closed it, and never a hang.
func TestCallsAfterUDTDeletedTheSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeRandomFile(t, src, 1<<20, 5)
	c, s := connPair(t, Config{})
	c.Close()
	waitNonexist(t, s.Socket())

	wantBroken := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrConnLost) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s on a conn whose peer closed: %v, want a broken connection", what, err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("Read: %d, %v, want io.EOF", n, err)
		}
		_, err := s.Write([]byte("x"))
		wantBroken("Write", err)
		_, err = s.SendFile(src, 0, 1<<20)
		wantBroken("SendFile", err)
		if _, err := s.RecvFile(filepath.Join(dir, "dst"), 0, 10); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("RecvFile: %v, want io.ErrUnexpectedEOF", err)
		}
		_, err = s.Stats()
		wantBroken("Stats", err)
		if err := s.SetDeadline(time.Now().Add(time.Second)); err != nil {
			t.Errorf("SetDeadline: %v", err)
		}
		if s.LocalAddr() == nil || s.RemoteAddr() == nil {
			t.Errorf("addresses lost: %v %v", s.LocalAddr(), s.RemoteAddr())
		}
		if err := s.Close(); err != nil {
			t.Errorf("first Close: %v", err)
		}
		if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after our Close: %v", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after our Close: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a call on a socket UDT deleted did not return")
	}

	// The same in message mode.
	mc, ms := connPair(t, Config{Message: true})
	mc.Close()
	waitNonexist(t, ms.Socket())
	if _, err := ms.Read(make([]byte, 8)); err != io.EOF {
		t.Errorf("message Read: %v, want io.EOF", err)
	}
	_, err := ms.Write([]byte("x"))
	wantBroken("message Write", err)
}

// Calls blocked when the peer closes, and still blocked while UDT deletes
// the socket, return: a Read with io.EOF, a Write (the peer's window full)
// with a broken connection.
func TestBlockedCallsWhenUDTDeletesTheSocket(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{})
	werr, rerr := make(chan error, 1), make(chan error, 1)
	go func() {
		big := make([]byte, 1<<20)
		for {
			if _, err := s.Write(big); err != nil {
				werr <- err
				return
			}
		}
	}()
	go func() {
		_, err := s.Read(make([]byte, 8))
		rerr <- err
	}()
	time.Sleep(500 * time.Millisecond)
	c.Close()
	for range 2 {
		select {
		case err := <-werr:
			if !errors.Is(err, ErrConnLost) || errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked Write after the peer closed: %v, want a broken connection", err)
			}
		case err := <-rerr:
			if err != io.EOF {
				t.Errorf("blocked Read after the peer closed: %v, want io.EOF", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a blocked call did not return after the peer closed")
		}
	}
	waitNonexist(t, s.Socket())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
