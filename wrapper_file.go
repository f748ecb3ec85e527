package udt

import (
	"math"
	"os"
	"strconv"

	"github.com/udtgo/udt/cudt"
)

// UDT's sendfile and recvfile, mirrored one to one as wrapper.go mirrors
// the other socket calls, with checks of the file first: UDT opens it
// itself, and answers every problem with it alike.

// Default block sizes of UDT::sendfile and UDT::recvfile.
const (
	DefaultSendFileBlock = 364000
	DefaultRecvFileBlock = 7280000
)

func checkFileArgs(op, path string, offset, size int64, block int) error {
	switch {
	case path == "":
		return invalid(op, "file path is empty")
	case offset < 0:
		return invalid(op, "offset must not be negative, got "+strconv.FormatInt(offset, 10))
	case size < 0:
		return invalid(op, "size must not be negative, got "+strconv.FormatInt(size, 10))
	case block < 0 || block > 1<<31-1:
		return invalid(op, "block must be between 0 (the default) and 2^31-1, got "+strconv.Itoa(block))
	}
	if offset > math.MaxInt64-size {
		return invalid(op, "offset "+strconv.FormatInt(offset, 10)+" + size "+strconv.FormatInt(size, 10)+" overflows int64")
	}
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return invalid(op, "file path contains a NUL byte")
		}
	}
	return nil
}

// fileError is a file problem found before UDT sees the path: UDT answers
// every one of them (missing, a directory, a range past the end) with
// EWRPERM "failure in write: .", even when it was reading.
func fileError(op string, code ErrorCode, msg string, err error) error {
	return &Error{Op: op, Code: code, Msg: msg, err: err}
}

// checkSendFile makes sure path is a regular file that holds
// [offset, offset+size).
func checkSendFile(path string, offset, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fileError("sendfile", ErrRdPerm, err.Error(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileError("sendfile", ErrFile, err.Error(), err)
	}
	if !fi.Mode().IsRegular() {
		return fileError("sendfile", ErrFile, path+" is not a regular file ("+fi.Mode().Type().String()+")", nil)
	}
	if offset+size > fi.Size() {
		return fileError("sendfile", ErrInvRdOff, "offset "+strconv.FormatInt(offset, 10)+" + size "+strconv.FormatInt(size, 10)+" is past the end of "+path+" ("+strconv.FormatInt(fi.Size(), 10)+" bytes)", nil)
	}
	return nil
}

// checkRecvFile makes sure path can be opened for writing, as UDT will (it
// creates the file).
func checkRecvFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fileError("recvfile", ErrWrPerm, err.Error(), err)
	}
	return f.Close()
}

// SendFile sends size bytes of the file at path, from offset, on a stream
// socket (UDT::sendfile2), in blocks of block bytes (0: UDT's default). UDT
// opens the file itself. It returns the bytes sent.
func (s Socket) SendFile(path string, offset, size int64, block int) (int64, error) {
	if err := checkFileArgs("sendfile", path, offset, size, block); err != nil {
		return 0, err
	}
	if err := checkSendFile(path, offset, size); err != nil {
		return 0, err
	}
	if block == 0 {
		block = DefaultSendFileBlock
	}
	n, err := cudt.SendFile(int(s.id), path, &offset, size, block)
	if err != nil {
		return n, s.withState(wrap("sendfile", err))
	}
	return n, nil
}

// RecvFile receives size bytes on a stream socket into the file at path,
// written from offset (UDT::recvfile2), in blocks of block bytes (0: UDT's
// default). UDT opens the file itself and truncates it first, so bytes
// before offset read back as zeros. It returns the bytes received.
func (s Socket) RecvFile(path string, offset, size int64, block int) (int64, error) {
	if err := checkFileArgs("recvfile", path, offset, size, block); err != nil {
		return 0, err
	}
	if err := checkRecvFile(path); err != nil {
		return 0, err
	}
	if block == 0 {
		block = DefaultRecvFileBlock
	}
	n, err := cudt.RecvFile(int(s.id), path, &offset, size, block)
	if err != nil {
		return n, s.withState(wrap("recvfile", err))
	}
	return n, nil
}
