package udt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/golang/mock/gomock"
	"github.com/udtgo/udt"
	"github.com/udtgo/udt/udtmock"
)

// An echo server and its client over loopback, with the net layer: Listen
// and Dial give a net.Listener and a net.Conn, as package net does.
func Example_echo() {
	ln, err := udt.Listen("udt", "127.0.0.1:0") // "udt", "udt4" or "udt6"; port 0: any free one
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept() // a *udt.Conn, as a net.Conn
		if err != nil {
			return
		}
		io.Copy(c, c) // echo until the peer closes
		c.Close()
	}()

	c, err := udt.Dial("udt", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second)) // deadlines as net.Conn documents
	c.Write([]byte("hello, UDT"))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf[:n])
	// Close returns once the peer has acknowledged everything written, so
	// nothing is lost when the program exits right after; its error names
	// what was not delivered.
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	<-served
	// Output: hello, UDT
}

// A Read that outlives its deadline fails with an error that matches
// os.ErrDeadlineExceeded and is a net.Error whose Timeout is true, as with
// package net. The connection stays usable: move the deadline and read
// again.
func ExampleConn_SetReadDeadline() {
	ln, err := udt.Listen("udt", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := udt.Dial("udt", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted
	if peer == nil {
		log.Fatal("no connection accepted")
	}
	defer peer.Close()

	// The peer sends nothing yet: the Read waits until the deadline.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 16))
	var ne net.Error
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout())

	// Zero clears the deadline.
	c.SetReadDeadline(time.Time{})
	peer.Write([]byte("late"))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	fmt.Printf("%q %v\n", buf[:n], err)
	// Output:
	// true true
	// "late" <nil>
}

// A file sent with SendFile and received with RecvFile: what UDT's sendfile
// and recvfile put on the wire, so either end may be the C++ library's. The
// receiver must know the size; udt serve and udt get send it first.
func ExampleConn_SendFile() {
	dir, err := os.MkdirTemp("", "udt-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "src.bin"), filepath.Join(dir, "dst.bin")
	data := bytes.Repeat([]byte("UDT "), 1<<18) // 1 MiB
	if err := os.WriteFile(src, data, 0o644); err != nil {
		log.Fatal(err)
	}
	size := int64(len(data))

	// ListenUDT and DialUDT return the concrete types, whose methods go
	// beyond net.Conn's.
	ctx := context.Background()
	ln, err := new(udt.ListenConfig).ListenUDT(ctx, "udt", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	received := make(chan error, 1)
	go func() {
		c, err := ln.AcceptUDT()
		if err != nil {
			received <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		// The file is created if need be and not truncated: an offset
		// resumes an earlier transfer.
		_, err = c.RecvFile(dst, 0, size)
		if err == nil {
			// Stay open until the sender's Close has seen everything
			// acknowledged: UDT's shutdown acknowledges nothing, so a
			// receiver that closed first could leave the sender's Close
			// reporting data unacknowledged. Its close reads as io.EOF.
			if _, rerr := c.Read(make([]byte, 1)); rerr != io.EOF {
				err = fmt.Errorf("after the file: %v, want io.EOF", rerr)
			}
		}
		received <- err
	}()

	c, err := new(udt.Dialer).DialUDT(ctx, "udt", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	n, err := c.SendFile(src, 0, size)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Close(); err != nil { // waits until the peer has acknowledged it all
		log.Fatal(err)
	}
	if err := <-received; err != nil {
		log.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent", n, "bytes; sha256 equal:", sha256.Sum256(got) == sha256.Sum256(data))
	// Output: sent 1048576 bytes; sha256 equal: true
}

// greeting is code under test: it takes a udt.ContextDialer rather than
// calling udt.Dial, so a test can hand it a mock. In production it gets a
// &udt.Dialer{}.
func greeting(ctx context.Context, d udt.ContextDialer, addr string) (string, error) {
	c, err := d.DialContext(ctx, "udt", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

// A test of code written with the net layer, without a network: the mocks of
// package udtmock (gomock) stand in for the dialer and the connection. In a
// test, pass the *testing.T to gomock.NewController; the example prints what
// a test would report.
func ExampleContextDialer() {
	ctrl := gomock.NewController(printReporter{})
	defer ctrl.Finish() // fails unless every expected call was made

	conn := udtmock.NewMockConn(ctrl)
	conn.EXPECT().Read(gomock.Any()).DoAndReturn(func(b []byte) (int, error) {
		return copy(b, "hello from a mock"), io.EOF
	})
	conn.EXPECT().Close().Return(nil)
	dialer := udtmock.NewMockContextDialer(ctrl)
	dialer.EXPECT().DialContext(gomock.Any(), "udt", "203.0.113.1:9000").Return(conn, nil)

	s, err := greeting(context.Background(), dialer, "203.0.113.1:9000")
	fmt.Printf("%q %v\n", s, err)

	// A dial nobody answered, as the real Dialer reports it.
	dialer.EXPECT().DialContext(gomock.Any(), "udt", "203.0.113.1:9000").
		Return(nil, &net.OpError{Op: "dial", Net: "udt", Err: &udt.Error{Op: "connect", Code: udt.ErrNoServer, Msg: "Connection setup failure: connection time out."}})
	_, err = greeting(context.Background(), dialer, "203.0.113.1:9000")
	fmt.Println(errors.Is(err, udt.ErrNoServer), udt.CodeOf(err).String())
	// Output:
	// "hello from a mock" <nil>
	// true ENOSERVER
}

// sendFull is code under test written on the one-to-one layer: it takes a
// udt.Library (udt.Native in production) and loops, as a blocking UDT send
// may be partial.
func sendFull(lib udt.Library, s udt.Socket, b []byte) (int, error) {
	sent := 0
	for sent < len(b) {
		n, err := lib.Send(s, b[sent:])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// A test of code written on the one-to-one layer: udtmock.MockLibrary stands
// in for udt.Native, so a test can make UDT answer what it needs, here a
// partial send and then a broken connection.
func ExampleLibrary() {
	ctrl := gomock.NewController(printReporter{})
	defer ctrl.Finish()

	lib := udtmock.NewMockLibrary(ctrl)
	s := udt.SocketFromID(7, udt.IPv4) // any handle: the mock never asks UDT
	gomock.InOrder(
		lib.EXPECT().Send(s, []byte("hello")).Return(3, nil),
		lib.EXPECT().Send(s, []byte("lo")).
			Return(0, &udt.Error{Op: "send", Code: udt.ErrConnLost, Msg: "Connection was broken."}),
	)

	n, err := sendFull(lib, s, []byte("hello"))
	fmt.Println(n, err)
	fmt.Println(errors.Is(err, udt.ErrConnLost))
	// Output:
	// 3 udt send: Connection was broken. (ECONNLOST 2001)
	// true
}

// printReporter is gomock's TestReporter for an example, which has no
// *testing.T: a failure shows in the output, which the example checks.
type printReporter struct{}

func (printReporter) Errorf(format string, args ...any) { fmt.Printf("mock: "+format+"\n", args...) }
func (printReporter) Fatalf(format string, args ...any) { log.Fatalf("mock: "+format, args...) }

// ReadFirewallStats tells a service what the firewall in front of UDT kept
// from it: with well-behaved peers, nothing.
func ExampleReadFirewallStats() {
	st := udt.ReadFirewallStats()
	if d := st.Dropped(); d > 0 {
		log.Printf("udt firewall: %d hostile packets dropped (%+v)", d, st)
	}
}
