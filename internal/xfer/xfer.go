// Package xfer is the file-request format of UDT's upstream sendfile and
// recvfile example programs, with a backward-compatible extension for
// resume, digests and error messages. `udt serve` and `udt get` speak it.
//
// The upstream format, as the example programs put it on the wire:
//
//	client → server: name length (32-bit, host order), name (no terminator)
//	server → client: file size (64-bit, host order; -1 when it cannot open it)
//	server → client: the file, as stream data (UDT::sendfile)
//
// Host order is little-endian on every machine the examples are built for
// here (x86-64, arm64), and that is what this package writes and reads.
// The upstream server reads the name into a 1024-byte buffer and ends it
// with a NUL at the length, so a request longer than 1023 bytes overruns it:
// MaxRequest keeps every request this package writes within that.
//
// The extension rides inside the name field, after a NUL: the upstream
// server opens the name as a C string, so it stops at the NUL and never
// sees the extension; it answers with the whole file as always. A server
// that understands the extension answers the size and then an ExtReply that
// echoes the client's nonce, so a client tells the two kinds of server
// apart without any guesswork about file contents.
package xfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// MaxRequest is the longest name field (name plus extension) accepted or
// written: the upstream server's buffer holds 1023 bytes and a NUL.
const MaxRequest = 1023

// MaxName is the longest name an extended request carries.
const MaxName = MaxRequest - extLen

// NoFile is the size the upstream server answers when it cannot open the
// file (fstream's tellg on a failed stream).
const NoFile = -1

// extMagic marks the extension in a request and in the reply. The version
// is part of it, so an incompatible change gets a new magic.
const extMagic = "udtgo/1"

// Flags of an extended request.
const (
	FlagResume uint8 = 1 << iota // send from Offset, not from 0
	FlagDigest                   // send the sha256 of the whole file after it
)

// extLen is the extension's size in a request: NUL, magic, flags, offset,
// nonce.
const extLen = 1 + len(extMagic) + 1 + 8 + 8

// Request is what a client asks for.
type Request struct {
	Name string
	// Ext is false for a plain upstream request; the fields below are then
	// zero.
	Ext    bool
	Flags  uint8
	Offset int64
	Nonce  [8]byte
}

// Errors in a request; ReadRequest wraps them with the detail.
var (
	ErrBadLength = errors.New("bad name length")
	ErrBadName   = errors.New("bad file name")
)

// WriteRequest writes r in one Write, so that it usually arrives in one
// packet: the upstream server reads the name with a single recv.
func WriteRequest(w io.Writer, r Request) error {
	if err := checkName(r.Name); err != nil {
		return err
	}
	field := []byte(r.Name)
	if r.Ext {
		if r.Offset < 0 {
			return fmt.Errorf("xfer: offset %d is negative", r.Offset)
		}
		field = append(field, 0)
		field = append(field, extMagic...)
		field = append(field, r.Flags)
		field = binary.LittleEndian.AppendUint64(field, uint64(r.Offset))
		field = append(field, r.Nonce[:]...)
	}
	if len(field) > MaxRequest {
		max := MaxRequest
		if r.Ext {
			max = MaxName
		}
		return fmt.Errorf("xfer: %w: the name is %d bytes; at most %d fit in a request", ErrBadName, len(r.Name), max)
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(field)), uint32(len(field)))
	_, err := w.Write(append(buf, field...))
	return err
}

// ReadRequest reads one request. It never reads more than the name length
// announced, and refuses a length beyond MaxRequest before reading the name.
func ReadRequest(r io.Reader) (Request, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Request{}, fmt.Errorf("xfer: reading the name length: %w", err)
	}
	n := int32(binary.LittleEndian.Uint32(hdr[:]))
	if n <= 0 || n > MaxRequest {
		return Request{}, fmt.Errorf("xfer: %w: %d (want 1 to %d)", ErrBadLength, n, MaxRequest)
	}
	field := make([]byte, n)
	if _, err := io.ReadFull(r, field); err != nil {
		return Request{}, fmt.Errorf("xfer: reading the %d-byte name: %w", n, err)
	}
	return ParseRequest(field)
}

// ParseRequest reads a request's name field.
func ParseRequest(field []byte) (Request, error) {
	name, ext, hasExt := bytes.Cut(field, []byte{0})
	req := Request{Name: string(name)}
	if hasExt {
		// A NUL with anything but our extension after it is refused, not
		// cut off as the upstream server would: a name is never meant to
		// end early.
		if len(ext) != extLen-1 || string(ext[:len(extMagic)]) != extMagic {
			return Request{}, fmt.Errorf("xfer: %w: %q has a NUL byte", ErrBadName, field)
		}
		ext = ext[len(extMagic):]
		req.Ext = true
		req.Flags = ext[0]
		off := binary.LittleEndian.Uint64(ext[1:9])
		copy(req.Nonce[:], ext[9:17])
		if off > 1<<63-1 {
			return Request{}, fmt.Errorf("xfer: offset %d out of range", off)
		}
		req.Offset = int64(off)
		if req.Flags&^(FlagResume|FlagDigest) != 0 {
			return Request{}, fmt.Errorf("xfer: unknown request flags %#x", req.Flags)
		}
		if req.Flags&FlagResume == 0 && req.Offset != 0 {
			return Request{}, fmt.Errorf("xfer: offset %d without the resume flag", req.Offset)
		}
	}
	if err := checkName(req.Name); err != nil {
		return Request{}, err
	}
	return req, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("xfer: %w: empty", ErrBadName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("xfer: %w: %q has a NUL byte", ErrBadName, name)
	}
	return nil
}

// ErrOutside is why a name that leaves the served directory is refused.
var ErrOutside = errors.New("path leaves the served directory")

// LocalName checks a requested name and returns it as a path relative to
// the served directory, for os.Root: no absolute paths, no "..", no empty
// or "." result. Symbolic links that leave the directory are os.Root's to
// refuse when the file is opened.
func LocalName(name string) (string, error) {
	if strings.ContainsRune(name, '\\') {
		return "", fmt.Errorf("%w: %q has a backslash", ErrOutside, name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: %q is an absolute path", ErrOutside, name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrOutside, name)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", fmt.Errorf("%w: %q names the directory itself", ErrBadName, name)
	}
	return clean, nil
}

// Status of an ExtReply.
const (
	StatusOK    uint8 = 0
	StatusError uint8 = 1
)

// ExtReply follows the size when the request had the extension.
type ExtReply struct {
	Nonce  [8]byte
	Status uint8
	Offset int64  // where the data starts
	Msg    string // why the request failed (StatusError)
}

// ExtReplyPrefix is how many bytes identify an ExtReply: its magic and the
// nonce. A client reads that many bytes after the size and compares.
const ExtReplyPrefix = len(extMagic) + 8

// maxMsg bounds an error message, so a reader never allocates much.
const maxMsg = 512

// WriteReply writes the size and, for an extended request, the ExtReply.
func WriteReply(w io.Writer, size int64, ext *ExtReply) error {
	buf := binary.LittleEndian.AppendUint64(nil, uint64(size))
	if ext != nil {
		msg := ext.Msg
		if len(msg) > maxMsg {
			msg = msg[:maxMsg]
		}
		buf = append(buf, extMagic...)
		buf = append(buf, ext.Nonce[:]...)
		buf = append(buf, ext.Status)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(ext.Offset))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(msg)))
		buf = append(buf, msg...)
	}
	_, err := w.Write(buf)
	return err
}

// ReadSize reads the size that starts every reply.
func ReadSize(r io.Reader) (int64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("xfer: reading the file size: %w", err)
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

// IsExtReply reports whether prefix, the first ExtReplyPrefix bytes after
// the size, starts an ExtReply to the request with this nonce.
func IsExtReply(prefix []byte, nonce [8]byte) bool {
	return len(prefix) == ExtReplyPrefix && string(prefix[:len(extMagic)]) == extMagic &&
		bytes.Equal(prefix[len(extMagic):], nonce[:])
}

// ReadExtReplyRest reads the rest of an ExtReply once IsExtReply matched.
func ReadExtReplyRest(r io.Reader, nonce [8]byte) (ExtReply, error) {
	var b [1 + 8 + 2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return ExtReply{}, fmt.Errorf("xfer: reading the reply: %w", err)
	}
	rep := ExtReply{Nonce: nonce, Status: b[0], Offset: int64(binary.LittleEndian.Uint64(b[1:9]))}
	n := int(binary.LittleEndian.Uint16(b[9:]))
	if n > maxMsg {
		return ExtReply{}, fmt.Errorf("xfer: reply message of %d bytes (at most %d)", n, maxMsg)
	}
	if rep.Status != StatusOK && rep.Status != StatusError {
		return ExtReply{}, fmt.Errorf("xfer: unknown reply status %d", rep.Status)
	}
	if rep.Offset < 0 {
		return ExtReply{}, fmt.Errorf("xfer: reply offset %d is negative", rep.Offset)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return ExtReply{}, fmt.Errorf("xfer: reading the reply message: %w", err)
	}
	rep.Msg = string(msg)
	return rep, nil
}
