package udt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"time"

	"github.com/udtgo/udt"
)

// Message mode: each Write (or WriteMsg, with its own TTL and ordering)
// sends one message, each ReadMsg returns one and says whether it had to
// cut it to fit the buffer.
func ExampleConn_ReadMsg() {
	lc := udt.ListenConfig{Config: udt.Config{Message: true}}
	ln, err := lc.ListenUDT(context.Background(), "udt", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	go func() {
		c, err := ln.AcceptUDT()
		if err != nil {
			log.Print(err)
			return
		}
		defer c.Close() // waits until the peer has acknowledged both
		c.Write([]byte("hello"))
		// Dropped, unless delivered within a second.
		c.WriteMsg([]byte("a message longer than the reader's buffer"), time.Second, true)
	}()

	// Every Write of this side would carry MessageTTL.
	d := udt.Dialer{Config: udt.Config{Message: true, MessageTTL: time.Second}}
	c, err := d.DialUDT(context.Background(), "udt", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	buf := make([]byte, 16)
	for range 2 {
		n, truncated, err := c.ReadMsg(buf)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q truncated=%v\n", buf[:n], truncated)
	}
	// Output:
	// "hello" truncated=false
	// "a message longer" truncated=true
}

// Sampling a connection's statistics: each call to Stats reports the
// interval since the previous one (how it is going now) and the totals;
// after Close (or EOF) it keeps returning the last figures.
func ExampleConn_Stats() {
	ln, err := udt.ListenUDT("udt", &udt.Addr{AddrPort: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()

	c, err := udt.DialUDT("udt", nil, ln.Addr().(*udt.Addr))
	if err != nil {
		log.Fatal(err)
	}

	c.Write(make([]byte, 1<<20))
	c.Flush(context.Background()) // until the peer has it all
	st, _ := c.Stats()
	fmt.Println("interval:", st.Interval.BytesWritten, "bytes written")
	// A monitor would print these every second or so, e.g.
	// log.Printf("%v sent, rtt %v, %d lost", st.Interval.SendRate, st.RTT, st.Interval.SendLoss)

	st, _ = c.Stats()
	fmt.Println("next interval:", st.Interval.BytesWritten, "bytes written; total", st.Total.BytesWritten)

	c.Close()
	st, err = c.Stats()
	fmt.Println("after Close:", st.Ended, st.Total.BytesWritten, err)
	// Output:
	// interval: 1048576 bytes written
	// next interval: 0 bytes written; total 1048576
	// after Close: true 1048576 <nil>
}

// Rates are bits per second everywhere in the net layer, written as
// time.Duration is.
func ExampleBitRate() {
	cfg := udt.Config{MaxSendRate: 250 * udt.Mbps}
	fmt.Println(cfg.MaxSendRate)
	fmt.Println(udt.BitRate(1_250_000_000), udt.BitRate(94_300_000).BytesPerSecond())
	// Output:
	// 250 Mbit/s
	// 1.25 Gbit/s 1.17875e+07
}
