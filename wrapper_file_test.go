package udt

import (
	"crypto/sha256"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzFileRange sends a fuzzed range of a small file, through the raw
// SendFile and through Conn.SendFile, and receives one with RecvFile at a
// fuzzed offset: a range inside the file arrives byte-identical, one past
// its end is refused before anything is sent (the stream stays in step),
// and negative values are refused with an error naming them.
func FuzzFileRange(f *testing.F) {
	f.Add(int64(0), int64(100), int64(0), 0, false)
	f.Add(int64(4000), int64(96), int64(10), 1, true)
	f.Add(int64(4096), int64(1), int64(0), 0, false)
	f.Add(int64(-1), int64(5), int64(0), 0, true)
	f.Add(int64(3), int64(-5), int64(-2), -1, false)
	f.Add(int64(math.MaxInt64), int64(1), int64(0), 0, true)
	f.Add(int64(1), int64(4095), int64(1<<20), 7, false)
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	content := make([]byte, 4096)
	if _, err := pattern(7).Read(content); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(src, content, 0o644); err != nil {
		f.Fatal(err)
	}
	c, s := pair(f, Stream, loop4)
	for _, x := range []Socket{c, s} {
		if err := x.SetSendTimeout(10 * time.Second); err != nil {
			f.Fatal(err)
		}
		if err := x.SetRecvTimeout(10 * time.Second); err != nil {
			f.Fatal(err)
		}
	}
	ln, err := Listen("udt", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	nc, err := Dial("udt", ln.Addr().String())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { nc.Close() })
	conn := nc.(*Conn)
	peer, err := ln.Accept()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { peer.Close() })

	f.Fuzz(func(t *testing.T, off, size, recvOff int64, block int, viaConn bool) {
		size %= 1 << 13 // up to twice the file
		recvOff %= 1 << 20
		inside := off >= 0 && size >= 0 && off <= int64(len(content))-size
		var n int64
		var err error
		if viaConn {
			n, err = conn.SendFile(src, off, size)
		} else {
			n, err = c.SendFile(src, off, size, block)
		}
		validBlock := viaConn || (block >= 0 && block <= 1<<31-1)
		if !inside || !validBlock {
			if err == nil {
				t.Fatalf("SendFile(%d, %d, block %d) of a %d-byte file succeeded", off, size, block, len(content))
			}
			want := ErrInvRdOff
			switch {
			case off < 0, size < 0, off > math.MaxInt64-size, !validBlock:
				want = ErrInvParam
			}
			if CodeOf(err) != want || n != 0 {
				t.Fatalf("SendFile(%d, %d, block %d): %d, %v, want %v", off, size, block, n, err, want)
			}
			return
		}
		if err != nil || n != size {
			t.Fatalf("SendFile(%d, %d, block %d) = %d, %v", off, size, block, n, err)
		}
		want := sha256.Sum256(content[off : off+size])
		if viaConn {
			peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, size)
			if _, err := ioReadFull(peer, got); err != nil || sha256.Sum256(got) != want {
				t.Fatalf("Conn.SendFile(%d, %d): received %v, digest differs", off, size, err)
			}
			return
		}
		// The raw pair receives with RecvFile at recvOff, when it is valid.
		dst := filepath.Join(t.TempDir(), "dst")
		if recvOff < 0 {
			if _, err := s.RecvFile(dst, recvOff, size, 0); CodeOf(err) != ErrInvParam {
				t.Fatalf("RecvFile at %d: %v", recvOff, err)
			}
			recvOff = 0
		}
		got, err := s.RecvFile(dst, recvOff, size, 0)
		if err != nil || got != size {
			t.Fatalf("RecvFile(%d, %d) = %d, %v", recvOff, size, got, err)
		}
		data, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := recvOff + size
		if size == 0 {
			wantLen = 0 // UDT truncates, then writes nothing past the offset
		}
		if int64(len(data)) != wantLen || sha256.Sum256(data[min(recvOff, wantLen):]) != want {
			t.Fatalf("RecvFile at %d: file of %d bytes, digest differs", recvOff, len(data))
		}
	})
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
