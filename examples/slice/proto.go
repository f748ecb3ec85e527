package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The wire format: the controller sends one frame holding the command;
// the agent answers with output frames as the command writes, then one
// exit frame holding the exit status, and closes.
const (
	frameCommand = 'c'
	frameOutput  = 'o'
	frameExit    = 'x'
)

// maxFrame bounds what a peer may make the other end allocate.
const maxFrame = 1 << 20

func writeFrame(w io.Writer, typ byte, data []byte) error {
	hdr := make([]byte, 5, 5+len(data))
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(data)))
	_, err := w.Write(append(hdr, data...))
	return err
}

// readFrame reads one frame into buf (grown as needed) and returns its type
// and data.
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes: more than %d", n, maxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// frameWriter turns a command's stdout and stderr, which exec copies from
// two goroutines, into output frames, one at a time.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), maxFrame)
		if f.err = writeFrame(f.w, frameOutput, rest[:n]); f.err != nil {
			return len(p) - len(rest), f.err
		}
		rest = rest[n:]
	}
	return len(p), nil
}
