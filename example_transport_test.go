package udt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"

	"github.com/udtgo/udt"
)

// ListenUDT and DialUDT take and return the concrete types, as
// net.ListenTCP and net.DialTCP do: no type assertion is needed for
// WriteMsg, Flush, Stats or SendFile.
func ExampleDialUDT() {
	l, err := udt.ListenUDT("udt", &udt.Addr{AddrPort: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptUDT()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()

	// laddr nil: the connection joins the UDP port dialed connections share.
	c, err := udt.DialUDT("udt", nil, l.Addr().(*udt.Addr))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	if err := c.Flush(context.Background()); err != nil { // acknowledged by the peer
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	fmt.Printf("%s\n", buf)
	// Output: hello
}

// A nil address listens on every address, on a port the system picks.
func ExampleListenUDT() {
	l, err := udt.ListenUDT("udt4", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	a := l.Addr().(*udt.Addr)
	fmt.Println(a.Addr(), a.Port() != 0)
	// Output: 0.0.0.0 true
}

// A Transport owns one UDP port: its listener, the connections it accepts
// and those it dials all share it, and its Close closes them all.
func ExampleTransport() {
	tr, err := udt.NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	l, err := tr.ListenUDT()
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := l.AcceptUDT()
			if err != nil {
				return // the Transport closed
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	// A second transport dials the first: the connection leaves from its
	// port, and arrives at the first one's.
	tr2, err := udt.NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tr2.Close()
	c, err := tr2.DialUDT(context.Background(), "udt", tr.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same port as its transport:", c.LocalAddr().String() == tr2.LocalAddr().String())
	fmt.Println("listener on the transport's port:", l.Addr().String() == tr.LocalAddr().String())
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	io.ReadFull(c, buf)
	fmt.Printf("%s\n", buf)
	// Output:
	// same port as its transport: true
	// listener on the transport's port: true
	// ping
}

// In a rendezvous both peers connect to each other at the same time from
// ports the other knows: the way through NATs and firewalls that let in
// only replies. Here both run in one process, over loopback; in real use
// each learns the other's public address out of band.
func Example_rendezvous() {
	a, err := udt.NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := udt.NewTransport("udt", "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx := context.Background()
	done := make(chan *udt.Conn)
	go func() {
		c, err := b.Rendezvous(ctx, "udt", a.LocalAddr().String())
		if err != nil {
			log.Fatal(err)
		}
		done <- c
	}()
	ca, err := a.Rendezvous(ctx, "udt", b.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	cb := <-done
	ca.Write([]byte("through"))
	buf := make([]byte, 7)
	io.ReadFull(cb, buf)
	fmt.Printf("%s\n", buf)
	// Output: through
}
