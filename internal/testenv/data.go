package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// Pattern is a deterministic byte source, so that a sender and a receiver
// (often in different processes) agree on content without sharing memory.
func Pattern(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return rand.NewChaCha8(key)
}

// WriteRandomFile writes size bytes of Pattern(seed) to path.
func WriteRandomFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, Pattern(seed), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// SHA256File is the digest of the file at path.
func SHA256File(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// Message is the i-th test message of size bytes (at least 8): its index
// and size, then content from a pattern of its own, so that a receiver can
// tell a lost boundary (a merged or split message) from a lost message.
func Message(i int, size int) []byte {
	m := make([]byte, size)
	binary.BigEndian.PutUint32(m, uint32(i))
	binary.BigEndian.PutUint32(m[4:], uint32(size))
	io.ReadFull(Pattern(uint64(i)+1000), m[8:])
	return m
}

// CheckMessage returns the index of a message made by Message, or an error
// if its boundary or content is not what Message made.
func CheckMessage(m []byte) (int, error) {
	if len(m) < 8 {
		return -1, errors.New("short message")
	}
	i := int(binary.BigEndian.Uint32(m))
	if size := int(binary.BigEndian.Uint32(m[4:])); size != len(m) {
		return i, errors.New("message boundary lost: header says " + strconv.Itoa(size) + " bytes, got " + strconv.Itoa(len(m)))
	}
	if !bytes.Equal(m, Message(i, len(m))) {
		return i, errors.New("message content differs")
	}
	return i, nil
}
