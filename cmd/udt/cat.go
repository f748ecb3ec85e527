package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/udtgo/udt"
)

const catHelp = `
usage: udt cat [flags] HOST:PORT       connect
       udt cat -l [flags] [ADDR]       listen (default :9000) and take one connection
       udt cat --rendezvous [flags] LOCAL REMOTE
                                       rendezvous: both ends run it, each naming its
                                       own [IP]:PORT and the other's IP:PORT; gets
                                       through NATs and firewalls that let in only
                                       replies (the two start within 30 s)

netcat over UDT: what comes on stdin goes to the peer, what the peer sends
goes to stdout. At EOF on stdin, cat waits until the peer has acknowledged
everything, closes and exits; when the peer closes, cat exits once its
output is written. Both ends exit 0 on a clean end.

UDT has no half-close, so an end with nothing to send must not read stdin:
-d says so, and a stdin that is /dev/null counts as -d. Such an end only
receives, until the peer closes. For the same reason, when both ends send,
the first to reach EOF closes the connection and the other's data still on
the way is lost: -q SECS keeps receiving for up to SECS after EOF on stdin
(-q -1: until the peer closes), as netcat's -q does.

examples:
  udt cat -l :7000 > received.tar          # on the receiver
  tar c dir | udt cat host:7000            # on the sender
  echo hello | udt cat 127.0.0.1:7000
`

func runCat(ctx context.Context, args []string) error {
	fs := newFlags("cat", catHelp)
	listen := fs.Bool("l", false, "listen for one connection instead of connecting")
	noStdin := fs.Bool("d", false, "do not read stdin: only receive")
	rendezvous := fs.Bool("rendezvous", false, "connect by rendezvous from LOCAL to REMOTE (both ends do)")
	linger := fs.Float64("q", 0, "after EOF on stdin, keep receiving for up to `SECS` (-1: until the peer closes)")
	var mss int
	timeout := duration(dialTimeout)
	fs.Var(&timeout, "timeout", "give up connecting after this `duration`")
	fs.IntVar(&mss, "mss", 0, "UDT_MSS: packet size in `bytes` (0: 1500)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfg := udt.Config{MSS: mss}
	var c *udt.Conn
	if *listen {
		addr := ":9000"
		switch len(pos) {
		case 0:
		case 1:
			if addr, err = listenAddr(pos[0]); err != nil {
				return err
			}
		default:
			return usagef("-l takes one address, not %d", len(pos))
		}
		lc := udt.ListenConfig{Config: cfg}
		ln, err := lc.Listen(ctx, "udt", addr)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cat: listening on %s\n", ln.Addr())
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		nc, err := ln.(*udt.Listener).AcceptUDT()
		stop()
		ln.Close()
		if err != nil {
			return err
		}
		c = nc
	} else if *rendezvous {
		if len(pos) != 2 {
			return usagef("--rendezvous wants LOCAL REMOTE, not %q", pos)
		}
		r, err := parseRendezvous(pos[0], pos[1])
		if err != nil {
			return err
		}
		if c, err = r.dial(ctx, cfg, time.Duration(timeout)); err != nil {
			return err
		}
	} else {
		if len(pos) != 1 {
			return usagef("want HOST:PORT (or -l to listen)")
		}
		d := udt.Dialer{Config: cfg, Timeout: time.Duration(timeout)}
		nc, err := d.DialContext(ctx, "udt", pos[0])
		if err != nil {
			return noServer(err, pos[0], "udt cat -l")
		}
		c = nc.(*udt.Conn)
	}
	defer c.Close()
	var in io.Reader = os.Stdin
	if *noStdin || isDevNull(os.Stdin) {
		in = nil
	}
	wait := time.Duration(*linger * float64(time.Second))
	if *linger < 0 {
		wait = -1
	}
	return pump(ctx, c, in, os.Stdout, wait)
}

func isDevNull(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(st, null)
}

// pump copies in → c and c → out until either direction ends; with a nil
// in, until the peer closes. After EOF on in, it keeps receiving for up to
// linger (negative: until the peer closes).
func pump(ctx context.Context, c *udt.Conn, in io.Reader, out io.Writer, linger time.Duration) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sent := make(chan error, 1)
	received := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, c)
		if err != nil {
			err = fmt.Errorf("receiving: %w", err)
		}
		received <- err
	}()
	if in != nil {
		go func() {
			if _, err := io.Copy(c, in); err != nil {
				sent <- fmt.Errorf("sending: %w", err)
				return
			}
			// EOF on stdin: everything we sent must reach the peer before
			// the process ends.
			if err := c.Flush(ctx); err != nil {
				sent <- fmt.Errorf("sending: %w", err)
				return
			}
			sent <- nil
		}()
	}
	var err error
	select {
	case err = <-received:
		// The peer closed (or failed): what it sent is out; ours may not
		// all be, which the error from a failed send would say, but a
		// clean close by the peer is its decision that it is done.
	case err = <-sent:
		if err == nil && linger != 0 {
			var timeout <-chan time.Time
			if linger > 0 {
				timeout = time.After(linger)
			}
			select {
			case err = <-received:
			case <-timeout:
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cerr := c.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}
