// Package udt is a Go binding of UDT4, the reference C++ library of the
// UDP-based Data Transfer protocol (UDT 4.11, linked statically from Debian's
// libudt-dev): reliable, congestion-controlled streams and messages over UDP,
// made for fast paths with a long round trip and loss, where TCP's window
// collapses.
//
// The package has two layers; most programs need only the first.
//
//   - The net layer: [Listen] and [Dial] (net.Listener, net.Conn), [ListenUDT]
//     and [DialUDT] (the concrete types), [Dialer] and [ListenConfig] (with a
//     context and a [Config] of options) give a [*Listener] and [*Conn] with
//     deadlines, message mode ([Config].Message, [Conn.WriteMsg]), file
//     transfer ([Conn.SendFile], [Conn.RecvFile]), [Conn.Flush] and
//     [Conn.Stats]. A [Transport] shares one UDP port between a listener and
//     dialed connections; [Rendezvous] connects two peers that dial each
//     other, through NATs.
//   - The one-to-one layer: [Socket] and [Epoll] mirror UDT's C++ API call
//     for call ([NewSocket], [Socket.Bind], [Socket.Connect], [Socket.Send],
//     [Epoll.Wait], a typed getter and setter per option, [Socket.Perfmon]),
//     blocking exactly as UDT does. [Library] is that API as an interface:
//     [Native] is the real one and udtmock.MockLibrary stands in for it in
//     tests. [Conn.Socket] reaches the socket under a connection.
//
// A client, as with package net:
//
//	c, err := udt.Dial("udt", "192.0.2.7:9000") // "udt", "udt4" or "udt6"
//	if err != nil {
//		return err
//	}
//	c.SetDeadline(time.Now().Add(5 * time.Second))
//	if _, err := c.Write(request); err != nil {
//		return err
//	}
//	n, err := c.Read(reply)
//	...
//	return c.Close() // nil: the peer has acknowledged every byte written
//
// Building needs cgo, a C++ compiler and the library's headers and archive
// (apt-get install libudt-dev g++); programs built with it need no libudt at
// run time. The package's examples (echo, deadlines, files, mocks) run as
// tests; docs/ in the repository holds the rest of the manual (options,
// errors, the API table, measurements).
//
// # Lifecycle
//
// [Listen] binds a UDP port and starts accepting: UDT completes handshakes
// in the background and [Listener.Accept] hands out the connections, each a
// [*Conn] ([Listener.AcceptUDT] returns the type itself). [Dial] binds a
// local port, or shares one (see Threads and descriptors), and fails exactly
// when the handshake does: [ErrConnRej] when the listener refuses it (a
// stream dialer to a message-mode listener, or the reverse), and a timeout
// when nobody answers, after [Dialer].Timeout, the context's deadline or
// [DefaultDialTimeout] (3 s). Write returns once its data is in UDT's send
// buffer, and UDT delivers it in the background. Read returns what has
// arrived; after the peer closes, what is left and then io.EOF. Deadlines
// behave as net.Conn documents them, and [Listener.SetDeadline] bounds
// Accept.
//
// # Close
//
// A connection's unsent data lives in this process, not in the kernel, and
// dies with it. So [Conn.Close] delivers: it wakes every blocked call of the
// connection at once (they return net.ErrClosed), then waits until the peer
// has acknowledged every byte written before it, and returns nil only then.
// It gives up when the peer is gone ([ErrConnLost]) or the linger time
// passes (180 s unless [Config].Linger or [Conn.SetLinger] say otherwise),
// discards the rest and returns an error saying how many packets were not
// acknowledged. SetLinger(0) discards at once instead. [Conn.Flush] waits the
// same way without closing. UDT has no half-close and no reset: after a
// close that discarded data, too, the peer reads what arrived and then
// io.EOF.
// [Listener.Close] stops accepting; connections already accepted keep
// working. A Conn or Listener the program drops unclosed is closed by a
// cleanup after the garbage collector finds it.
//
// # Errors
//
// The net layer returns *net.OpError (Op, Net "udt", the addresses) around
// an [*Error], which carries the UDT call, UDT's code and its text; errors.Is
// and errors.As look through both:
//
//   - errors.Is(err, net.ErrClosed): the Conn or Listener was closed.
//   - errors.Is(err, os.ErrDeadlineExceeded), and net.Error's Timeout: a
//     deadline passed ([ErrTimeout], UDT's 6003, also syscall.ETIMEDOUT),
//     or a dial timed out (also [ErrNoServer], context.DeadlineExceeded
//     and syscall.ETIMEDOUT).
//   - io.EOF from Read: the peer closed the connection.
//   - [ErrConnLost] (also syscall.ECONNRESET): UDT gave up on a silent peer.
//   - Every UDT code is an [ErrorCode] constant that errors.Is matches, and
//     [CodeOf] returns the code of any error; errors.Is also matches the
//     system errno of the same meaning ([ErrorCode.Errno]).
//
// Bad input (a bad address, a negative size, an option out of range, a
// call on a nil Conn) gets an error naming what was wrong, never a panic.
//
// # Threads and descriptors
//
// UDT runs its protocol on threads of its own, outside Go's scheduler: one
// garbage collector for the library, which deletes closed sockets and frees
// their buffers 1 to 2 s after the close, and a sending and a receiving
// thread for each UDP port, which sleep while the port has nothing to do
// (the binding adds an eventfd per port to wake them). A listener's
// accepted connections share its port; dialed connections share a few
// ports per address family (and MSS and UDP buffer sizes; one per 32
// connections, 8 at most), each released 3 s after the last of its
// connections closes (a dial meanwhile takes it up again), unless
// [Dialer].LocalAddr gives one its own; a [Transport] is a port the
// program opens and closes itself. A thousand connections therefore cost a
// few descriptors and threads, not thousands.
//
// The net layer runs every socket in UDT's non-blocking mode. A Read, Write
// or Accept that must wait parks its goroutine on the poller, which waits
// in one UDT epoll for all sockets: one thread waits in UDT, however many
// calls wait. While no other call needs the poller, that thread is the
// waiting call's own, so UDT wakes it directly, as it wakes a thread in its
// own blocking recv; the poller's goroutine runs only while a socket is
// open. [ReadPollerStats] counts what it does.
//
// Every UDP socket under UDT is opened by this package with close-on-exec
// and handed to UDT already bound ([Socket.Bind]), and the descriptors UDT
// opens itself (its epoll instances) are made close-on-exec at link time,
// as is the one memory file the binding opens for the whole process (it
// maps UDT's setup arrays untouched: see [ConnMemory]), so a child process
// inherits none.
//
// # Hostile peers
//
// UDT 4.11 trusts every packet, and a bug a packet drives it into would kill
// the whole process. Every packet UDT's threads read passes a firewall
// first, which drops or trims what UDT does not handle safely: no packet
// from any peer may crash, freeze or bloat the process, and no source may
// fill a listener's accept queue. [ReadFirewallStats] counts what it did;
// docs/security.md has the threat model and the rules. UDT has no
// authentication: use TLS over UDT (docs/tls.md) for integrity. A Go congestion
// controller ([Controller]) is called on UDT's threads and must not block.
//
// # What UDT 4.11 does differently from TCP
//
//   - The protocol runs in user space, a system call per packet: on loopback
//     TCP is more than ten times faster. UDT pays off on long, lossy paths.
//   - A vanished peer (killed, unplugged) is noticed after 45 to 53 s of
//     silence; until then a Read without a deadline waits. A clean close is
//     seen within about 10 ms on loopback, but the shutdown packet is sent
//     once: on a lossy path the reader may get [ErrConnLost] instead of
//     io.EOF, with all the data delivered.
//   - UDT's native congestion control reads random loss as congestion (at
//     0.1 % loss on a 100 ms path it fills about a third of the link);
//     [CCFixedRate] keeps a set rate and [BBR] models the path instead.
//   - Message mode keeps message boundaries, with a TTL and out-of-order
//     delivery per message ([Conn.WriteMsg]); a Read buffer shorter than the
//     message gets its start, and the rest of the message is lost
//     ([Conn.ReadMsg] reports it; io.Copy through [Conn.WriteTo] stops with
//     an error at a message longer than 256 KiB).
//   - The MSS counts the whole IP packet (1500 fits an MTU of 1500), and the
//     buffers are sized in packets when the connection opens, never shrunk:
//     450 KiB per connection with the defaults, of which an idle connection
//     touches about 32 KiB ([Conn.Memory]).
//   - Two peers can connect by both dialing each other from known ports
//     (rendezvous, through NATs and stateful firewalls): [Rendezvous].
//   - UDT 4.11 made about one dial in twenty wait 250 ms for its resend of
//     the connection request; the binding removes that race, and a dial
//     waits that long now only when a handshake packet is lost or the
//     listener is too busy to answer ([PollerStats].DialResendWaits).
//
// docs/udt4-behaviour.md in the repository lists every measured detail, and
// what this binding does about each.
package udt
