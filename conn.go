package udt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Addr is the address of a UDT endpoint. Its Network is "udt".
type Addr struct {
	netip.AddrPort
}

// Network is "udt".
func (a *Addr) Network() string { return "udt" }

// String is the address as "host:port" ("[host]:port" for IPv6).
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	return a.AddrPort.String()
}

func newAddr(ap netip.AddrPort) *Addr {
	if !ap.IsValid() {
		return nil
	}
	ip := ap.Addr()
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return &Addr{netip.AddrPortFrom(ip, ap.Port())}
}

// netFD is what Conn and Listener share: one socket, its poll state, and
// the cleanup that closes it if the program forgets to.
type netFD struct {
	lib     Library
	pd      *pollDesc
	laddr   *Addr
	raddr   *Addr
	cleanup runtime.Cleanup
}

func newFD(p *poller, s Socket) (*netFD, error) {
	pd, err := p.open(s)
	if err != nil {
		return nil, err
	}
	fd := &netFD{lib: p.lib, pd: pd}
	if a, err := p.lib.SockName(s); err == nil {
		fd.laddr = newAddr(a)
	}
	return fd, nil
}

// closeSocket closes without waiting for unsent data: the listener's Close,
// and the cleanup of an object the program dropped. Out of the poller
// first, then UDT.
func closeSocket(pd *pollDesc) error {
	if !pd.close() {
		return net.ErrClosed
	}
	return releaseSocket(pd)
}

// releaseSocket closes in UDT a socket whose pollDesc is closed.
func releaseSocket(pd *pollDesc) error {
	pd.awaitGone()
	pd.stopIdle()
	pd.p.lib.watchConn(pd.s, false)
	err := pd.p.lib.Close(pd.s)
	pd.p.forget(pd)
	pd.port.release(pd, false)
	noteSocketClosed()
	// UDT deletes a socket on its own some time after the peer closed it;
	// closing it then is still this side's first and successful Close.
	if CodeOf(err) == ErrInvSock {
		return nil
	}
	return err
}

func (fd *netFD) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return err
	}
	var src, dst net.Addr
	switch {
	case fd.raddr != nil:
		dst = fd.raddr
		if fd.laddr != nil {
			src = fd.laddr
		}
	case fd.laddr != nil: // a listener: its own address, as Go's net reports it
		dst = fd.laddr
	}
	return &net.OpError{Op: op, Net: "udt", Source: src, Addr: dst, Err: err}
}

// errPeerLost is a Read's answer when UDT gave up on a peer that stopped
// answering (killed, unplugged), as opposed to one that closed.
var errPeerLost = &Error{Op: "recv", Code: ErrConnLost, Msg: "Connection was broken: the peer stopped answering."}

// Conn is a UDT connection. It implements net.Conn; in message mode
// (Config.Message) each Write sends one message and each Read returns one.
// Reads and writes never hold an OS thread while they wait.
type Conn struct {
	fd        *netFD
	msg       bool
	ttl       time.Duration
	unordered bool
	wmu       sync.Mutex // one Write at a time, so a stream write stays contiguous

	// msgBound is one more than the longest message UDT can hold for
	// ReadMsg (UDT_RCVBUF: a message is delivered whole from the receive
	// buffer), 0 until read.
	msgBound atomic.Int64
	nread    atomic.Int64 // bytes Read returned
	nwritten atomic.Int64 // bytes Write put in the send buffer
	stats    connStats
	// discard: the linger is 0 (Config.Linger < 0, SetLinger(0)), kept
	// here for a Close after UDT ended the socket, which then answers no
	// option.
	discard atomic.Bool
}

var _ net.Conn = (*Conn)(nil)
var _ io.WriterTo = (*Conn)(nil)

func newConn(fd *netFD, cfg *Config) *Conn {
	c := &Conn{fd: fd, msg: cfg.Message, ttl: cfg.MessageTTL, unordered: cfg.MessageUnordered}
	c.discard.Store(cfg.Linger < 0)
	if cfg.PeerIdleTimeout > 0 {
		fd.pd.setPeerIdle(cfg.PeerIdleTimeout)
	}
	c.stats.prevAt = time.Now()
	// Should UDT end the connection on its own and delete the socket
	// before Close, Close and Stats still learn what it had not delivered
	// and its last figures.
	fd.pd.p.lib.watchConn(fd.pd.s, true)
	// The cleanup must not reach c, or c could never be collected.
	fd.cleanup = runtime.AddCleanup(c, func(pd *pollDesc) { closeSocket(pd) }, fd.pd)
	return c
}

// Read reads data, or in message mode one whole message. A message longer
// than b is cut to len(b) and the rest of it is lost, as with UDT's recvmsg
// and with net.UDPConn's Read; ReadMsg reports it. After the peer closed
// the connection, Read returns what is left and then io.EOF.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalidConn("read")
	}
	fd := c.fd
	if len(b) == 0 && !c.msg {
		if fd.pd.isClosed() {
			return 0, fd.opError("read", net.ErrClosed)
		}
		return 0, nil
	}
	return c.read(b, c.msg)
}

// ReadMsg reads one message into b on a message-mode connection (Config.Message)
// and reports whether it was longer than b: then n is len(b), truncated is
// true and the rest of the message is lost, which is what the MSG_TRUNC
// flag of net.UDPConn.ReadMsgUDP says for a datagram. UDT's recvmsg says
// nothing of it, so ReadMsg gives UDT one byte more than b holds when a
// message might not fit (b shorter than UDT_RCVBUF, the longest message a
// connection can deliver), and copies the message into b. An empty b waits
// for a message and discards it. Errors are those of Read; on a stream
// connection ReadMsg fails with ErrStreamIll.
func (c *Conn) ReadMsg(b []byte) (n int, truncated bool, err error) {
	if !c.ok() {
		return 0, false, errInvalidConn("read")
	}
	if !c.msg {
		return 0, false, c.fd.opError("read", &Error{Op: "recvmsg", Code: ErrStreamIll, Msg: "ReadMsg needs a message-mode connection (Config.Message)"})
	}
	bound := c.msgBound.Load()
	if bound == 0 {
		bound = math.MaxInt64 // unknown: always check
		if v, err := c.fd.lib.GetSockOpt(c.fd.pd.s, OptRcvBuf); err == nil {
			bound = int64(v.(int)) + 1
			c.msgBound.Store(bound)
		}
	}
	if int64(len(b)) >= bound {
		n, err = c.read(b, true)
		return n, false, err
	}
	buf := getMsgBuf(len(b) + 1)
	defer putMsgBuf(buf)
	n, err = c.read(*buf, true)
	if n > len(b) {
		n, truncated = len(b), true
		c.nread.Add(-1) // read counted the byte b had no room for
	}
	copy(b, (*buf)[:n])
	return n, truncated, err
}

// msgBufs holds ReadMsg's buffers of one byte more than the caller's.
var msgBufs sync.Pool

func getMsgBuf(n int) *[]byte {
	if p, ok := msgBufs.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n)
	return &b
}

// putMsgBuf keeps buffers up to 1 MiB: a larger one is a rare message's,
// not worth holding.
func putMsgBuf(p *[]byte) {
	if cap(*p) <= 1<<20 {
		msgBufs.Put(p)
	}
}

// copyBufSize is the piece WriteTo reads. Each Read is a call into UDT
// and, once UDT's buffer is drained, a wait on the poller: io.Copy's own
// 32 KiB (8 KiB into io.Discard) cost a receiver at loopback rates a fifth
// more CPU per byte than UDT's example server, which reads 100,000 bytes.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// WriteTo writes what the connection delivers to w until the peer closes
// it, and implements io.WriterTo, which io.Copy(w, c) uses: it reads in
// pieces of up to 256 KiB. It returns nil at the peer's close (io.EOF is
// the end, not an error, as with io.Copy), or the first error of a read or
// of w. In message mode each message is one Write to w. A message longer
// than 256 KiB is lost, as with a Read buffer shorter than the message,
// but not silently: WriteTo stops there with an error that matches
// io.ErrShortBuffer, and none of that message reaches w. Connections whose
// messages can be longer are read with ReadMsg and a buffer as long as the
// longest.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, errInvalidConn("read")
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		var n int
		var err error
		if c.msg {
			var cut bool
			n, cut, err = c.ReadMsg(buf)
			if cut {
				return total, c.fd.opError("read", fmt.Errorf("%w: a message longer than WriteTo's %d bytes was lost (read such messages with ReadMsg and a buffer as long as the longest)", io.ErrShortBuffer, len(buf)))
			}
		} else {
			n, err = c.read(buf, false)
		}
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m != n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// read is Read after its checks: recv, or recvmsg when msg, until data,
// the end, or an error.
func (c *Conn) read(b []byte, msg bool) (int, error) {
	fd := c.fd
	for {
		if fd.pd.isClosed() {
			return 0, fd.opError("read", net.ErrClosed)
		}
		if fd.pd.expired(EventIn) {
			return 0, fd.opError("read", errDeadline)
		}
		if fd.pd.idleExpired() {
			return 0, fd.opError("read", errPeerIdle)
		}
		var n int
		var err error
		gen := fd.pd.gen(EventIn)
		if msg {
			n, err = fd.lib.RecvMsg(fd.pd.s, b)
		} else {
			n, err = fd.lib.Recv(fd.pd.s, b)
		}
		switch CodeOf(err) {
		case Success:
			if n > 0 || msg {
				c.nread.Add(int64(n))
				return n, nil
			}
		case ErrAsyncRcv:
		case ErrConnLost, ErrInvSock, ErrNoConn:
			if fd.pd.isClosed() {
				return 0, fd.opError("read", net.ErrClosed)
			}
			c.endStats()
			if fd.pd.peerState() == peerLost {
				return 0, fd.opError("read", errPeerLost)
			}
			// The peer closed and nothing is left to read (or UDT has
			// deleted the socket, more than a second after the end).
			return 0, io.EOF
		default:
			return 0, fd.opError("read", err)
		}
		if err := fd.pd.wait(EventIn, gen); err != nil {
			return 0, fd.opError("read", err)
		}
	}
}

// Write writes b, or in message mode sends b as one message, with the TTL
// and ordering of the Config. It returns when all of b is in UDT's send
// buffer; UDT delivers it in the background, and Close waits until it has
// (see Close).
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalidConn("write")
	}
	if c.msg {
		return c.WriteMsg(b, c.ttl, !c.unordered)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fd := c.fd
	off := 0
	for {
		if fd.pd.isClosed() {
			return off, fd.opError("write", net.ErrClosed)
		}
		if off == len(b) {
			return off, nil
		}
		if fd.pd.idleExpired() {
			return off, fd.opError("write", errPeerIdle)
		}
		if fd.pd.expired(EventOut) {
			return off, fd.opError("write", errDeadline)
		}
		gen := fd.pd.gen(EventOut)
		n, err := fd.lib.Send(fd.pd.s, b[off:])
		off += n
		c.nwritten.Add(int64(n))
		switch CodeOf(err) {
		case Success:
			continue
		case ErrAsyncSnd:
		default:
			return off, fd.opError("write", c.closedOr(err))
		}
		if err := fd.pd.wait(EventOut, gen); err != nil {
			return off, fd.opError("write", err)
		}
	}
}

// closedOr maps UDT's answer for a socket this side closed to net.ErrClosed,
// and for one UDT deleted after the peer closed it to a broken connection:
// UDT answers 5004 (ErrInvSock, which errors.Is takes for net.ErrClosed)
// once its garbage collector has deleted the socket, about 2 s after the
// peer's close, but the program did not close it.
func (c *Conn) closedOr(err error) error {
	if err == nil {
		return nil
	}
	if c.fd.pd.isClosed() {
		return net.ErrClosed
	}
	var e *Error
	if errors.As(err, &e) && e.Code == ErrInvSock {
		return &Error{Op: e.Op, Code: ErrConnLost, Msg: "Connection was broken: the peer closed it (UDT has deleted the socket)."}
	}
	return err
}

// WriteMsg sends b as one message on a message-mode connection; inOrder
// delivers it after the messages sent before it.
//
// ttl (rounded up to whole milliseconds; ttl <= 0: never) does not bound
// delivery as a whole: UDT 4.11 checks it only when a packet of the
// message is about to be sent again because the peer reported it lost.
// If by then the message has been in the send buffer longer than ttl
// (counted from WriteMsg), the whole message is dropped and the peer told
// to skip it. The first transmission is never checked, so on a path
// without loss no message expires, however late it arrives.
func (c *Conn) WriteMsg(b []byte, ttl time.Duration, inOrder bool) (int, error) {
	if !c.ok() {
		return 0, errInvalidConn("write")
	}
	fd := c.fd
	if !c.msg {
		return 0, fd.opError("write", &Error{Op: "sendmsg", Code: ErrStreamIll, Msg: "WriteMsg needs a message-mode connection (Config.Message)"})
	}
	for {
		if fd.pd.isClosed() {
			return 0, fd.opError("write", net.ErrClosed)
		}
		if fd.pd.idleExpired() {
			return 0, fd.opError("write", errPeerIdle)
		}
		if fd.pd.expired(EventOut) {
			return 0, fd.opError("write", errDeadline)
		}
		gen := fd.pd.gen(EventOut)
		n, err := fd.lib.SendMsg(fd.pd.s, b, ttl, inOrder)
		switch CodeOf(err) {
		case Success:
			c.nwritten.Add(int64(n))
			return n, nil
		case ErrAsyncSnd:
		default:
			return 0, fd.opError("write", c.closedOr(err))
		}
		if err := fd.pd.wait(EventOut, gen); err != nil {
			return 0, fd.opError("write", err)
		}
	}
}

// Close closes the connection, after the peer has acknowledged everything
// written to it: with linger on (the default), when Close returns nil,
// every byte written before it was delivered. Blocked Reads and Writes
// return net.ErrClosed at once; Close itself returns as soon as the last
// acknowledgement arrives. It gives up, discards what is left and returns
// an error saying how much, when the peer is gone (ErrConnLost) or the
// linger time passes (a timeout: Config.Linger, SetLinger; UDT's default
// is 180 s). Close never says delivered without proof: if the connection
// broke, or the peer closed it, with written data unacknowledged, Close
// (and Flush) name what was not acknowledged however long after the break
// they are called. With SetLinger(0) it discards at once and returns nil;
// the peer then reads io.EOF after what had arrived, as UDT has no reset.
// A second Close returns an error wrapping net.ErrClosed.
//
// A Conn that the program drops without closing is closed by a cleanup
// once the garbage collector finds it: UDT then keeps sending in the
// background for the linger time, which ends with the process.
func (c *Conn) Close() error {
	if !c.ok() {
		return errInvalidConn("close")
	}
	fd := c.fd
	fd.cleanup.Stop()
	pd := fd.pd
	if !pd.close() {
		return fd.opError("close", net.ErrClosed)
	}
	var err error
	// A socket UDT ended on its own answers no option; what it left
	// undelivered is still known (drain), unless the program discards.
	l := Linger{On: !c.discard.Load(), Timeout: 180 * time.Second}
	if v, lerr := fd.lib.GetSockOpt(pd.s, OptLinger); lerr == nil {
		l = v.(Linger)
	}
	if l.On && l.Timeout > 0 {
		left, derr := pd.p.drain(pd, nil, time.Now().Add(l.Timeout))
		if derr != nil {
			pollStats.closesFailed.Add(1)
			err = c.undelivered(left, derr, l.Timeout)
			// What is left would otherwise go on for the linger time.
			fd.lib.SetSockOpt(pd.s, OptLinger, Linger{})
		} else {
			pollStats.closesDrained.Add(1)
		}
	}
	c.endStats()
	// What this end read, UDT acknowledges after telling us it was
	// readable: let that ACK leave ahead of UDT's shutdown, or the peer's
	// Close reports its last packets lost.
	if !noPassBarrier.Load() {
		pd.p.lib.passBarrier(pd.s)
	}
	if cerr := releaseSocket(pd); err == nil {
		err = cerr
	}
	return fd.opError("close", err)
}

// noPassBarrier leaves the pass barrier out of Close, for the test that
// shows what it prevents.
var noPassBarrier atomic.Bool

// undelivered is Close's error when it gave up on left packets.
func (c *Conn) undelivered(left int, why error, linger time.Duration) error {
	what := strconv.Itoa(left) + " packets written before Close were not acknowledged"
	if v, err := c.fd.lib.GetSockOpt(c.fd.pd.s, OptMSS); err == nil && left > 0 {
		what += " (up to " + strconv.Itoa(left*(v.(int)-udpIPHeaders-udtHeader)) + " bytes)"
	}
	switch {
	case why == errPeerIdle:
		return &Error{Op: "close", Code: ErrConnLost, Msg: what + ": nothing was heard from the peer within the peer idle timeout; discarded", err: syscall.ETIMEDOUT}
	case why == errDeadline:
		return &Error{Op: "close", Code: ErrTimeout, Msg: what + " within the linger time of " + linger.String() + "; discarded", err: os.ErrDeadlineExceeded}
	case c.fd.pd.peerState() == peerClosed:
		// UDT's shutdown carries no acknowledgement: a peer that read
		// everything and closed before its ACK left (a peer without this
		// binding's pass barrier, or a lost ACK) ends here too.
		return &Error{Op: "close", Code: ErrConnLost, Msg: what + ": the peer closed the connection first (it may have read them: UDT's shutdown acknowledges nothing)"}
	}
	return &Error{Op: "close", Code: ErrConnLost, Msg: what + ": the connection broke first (the peer stopped answering)"}
}

// udtHeader is the header UDT puts on each data packet, inside the MSS.
const udtHeader = 16

// SetLinger sets how long Close waits for the peer to acknowledge what was
// written (UDT_LINGER): sec > 0 waits at most sec seconds; sec == 0
// discards it at once; sec < 0 restores UDT's default, up to 180 s. Unlike
// TCP, where the kernel finishes sending after close, a UDT connection's
// data lives in this process and dies with it: so Close waits by default,
// and the linger is what bounds it, not a time spent in the background
// (except after the cleanup of a Conn the program dropped).
func (c *Conn) SetLinger(sec int) error {
	if !c.ok() {
		return errInvalidConn("set linger")
	}
	if c.fd.pd.isClosed() {
		return c.fd.opError("set linger", net.ErrClosed)
	}
	l := Linger{On: true, Timeout: 180 * time.Second}
	if sec >= 0 {
		l = Linger{On: sec > 0, Timeout: time.Duration(sec) * time.Second}
	}
	err := c.fd.lib.SetSockOpt(c.fd.pd.s, OptLinger, l)
	if err == nil {
		c.discard.Store(!l.On)
	}
	return c.fd.opError("set linger", err)
}

// SetPeerIdleTimeout sets the peer idle timeout (Config.PeerIdleTimeout)
// from now on: the connection breaks when nothing has been heard from the
// peer for d, at least MinPeerIdleTimeout; 0 turns it off (UDT's own 45 to
// 53 s remain).
func (c *Conn) SetPeerIdleTimeout(d time.Duration) error {
	if !c.ok() {
		return errInvalidConn("set peer idle timeout")
	}
	if c.fd.pd.isClosed() {
		return c.fd.opError("set peer idle timeout", net.ErrClosed)
	}
	if err := checkPeerIdle(d); err != nil {
		return c.fd.opError("set peer idle timeout", invalid("set peer idle timeout", err.Error()))
	}
	c.fd.pd.setPeerIdle(d)
	return nil
}

// SetMaxSendRate caps how fast this side sends from now on (UDT_MAXBW),
// in bits per second; 0 removes the cap. Config.MaxSendRate sets it from
// the start.
func (c *Conn) SetMaxSendRate(r BitRate) error {
	if !c.ok() {
		return errInvalidConn("set max send rate")
	}
	if c.fd.pd.isClosed() {
		return c.fd.opError("set max send rate", net.ErrClosed)
	}
	if err := checkSendRate(r); err != nil {
		return c.fd.opError("set max send rate", invalid("setsockopt UDT_MAXBW", err.Error()))
	}
	return c.fd.opError("set max send rate", c.closedOr(c.fd.lib.SetSockOpt(c.fd.pd.s, OptMaxBW, maxBW(r))))
}

// Flush waits until the peer has acknowledged every byte written so far,
// or ctx ends, or the connection fails. Close does the same before it
// closes; Flush is for a connection that stays open. When ctx's deadline
// passes the error is a timeout, UDT's ETIMEOUT (6003), matching
// context.DeadlineExceeded and os.ErrDeadlineExceeded.
func (c *Conn) Flush(ctx context.Context) error {
	if !c.ok() {
		return errInvalidConn("flush")
	}
	fd := c.fd
	if fd.pd.isClosed() {
		return fd.opError("flush", net.ErrClosed)
	}
	// ctx's own end, not a timer of ours at its deadline: the error is
	// then ctx.Err(), as callers check.
	left, err := fd.pd.p.drain(fd.pd, ctx.Done(), time.Time{})
	switch err {
	case nil:
		return nil
	case errCanceled:
		if cerr := ctx.Err(); errors.Is(cerr, context.DeadlineExceeded) {
			// ctx's deadline: a timeout as Read's and Write's are, which
			// still matches context.DeadlineExceeded.
			return fd.opError("flush", &Error{Op: "flush", Code: ErrTimeout, Msg: "i/o timeout: " + strconv.Itoa(left) + " packets not yet acknowledged", err: cerr})
		}
		return fd.opError("flush", ctx.Err())
	}
	if err == errPeerIdle {
		return fd.opError("flush", &Error{Op: "flush", Code: ErrConnLost, err: syscall.ETIMEDOUT,
			Msg: "nothing was heard from the peer within the peer idle timeout, with " + strconv.Itoa(left) + " packets unacknowledged"})
	}
	return fd.opError("flush", &Error{Op: "flush", Code: ErrConnLost,
		Msg: "the connection broke with " + strconv.Itoa(left) + " packets unacknowledged"})
}

// LocalAddr is the local address, an *Addr.
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.fd.laddr
}

// RemoteAddr is the peer's address, an *Addr.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.fd.raddr
}

// SetDeadline sets the read and write deadlines, as net.Conn documents.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, EventIn|EventOut) }

// SetReadDeadline sets the read deadline, as net.Conn documents.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, EventIn) }

// SetWriteDeadline sets the write deadline, as net.Conn documents.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, EventOut) }

func (c *Conn) setDeadline(t time.Time, ev Events) error {
	if !c.ok() {
		return errInvalidConn("set deadline")
	}
	if c.fd.pd.isClosed() {
		return c.fd.opError("set deadline", net.ErrClosed)
	}
	c.fd.pd.setDeadline(t, ev)
	return nil
}

// Socket is the UDT socket under the connection, for the one-to-one API.
// It stays owned by c.
// A nil or zero Conn has the zero Socket, which UDT knows as no socket.
func (c *Conn) Socket() Socket {
	if !c.ok() {
		return Socket{}
	}
	return c.fd.pd.s
}

// SendFile sends size bytes of the file at path, from offset, as stream
// data: what UDT's sendfile puts on the wire, so a peer's recvfile takes it.
// It goes through the poller, so deadlines apply and no OS thread waits.
// A file shorter than offset+size is io.ErrUnexpectedEOF (an *Error with
// ErrInvRdOff, and nothing sent, when it is short already at the start).
func (c *Conn) SendFile(path string, offset, size int64) (int64, error) {
	if err := c.fileCheck("sendfile", offset, size); err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, c.fd.opError("sendfile", err)
	}
	defer f.Close()
	// Refuse a range past the end before any of it goes out: the peer
	// would otherwise get a prefix and wait for the rest.
	if fi, err := f.Stat(); err != nil {
		return 0, c.fd.opError("sendfile", err)
	} else if offset+size > fi.Size() {
		return 0, c.fd.opError("sendfile", &Error{Op: "sendfile", Code: ErrInvRdOff, Msg: "offset " + strconv.FormatInt(offset, 10) + " + size " + strconv.FormatInt(size, 10) + " is past the end of " + path + " (" + strconv.FormatInt(fi.Size(), 10) + " bytes)", err: io.ErrUnexpectedEOF})
	}
	n, err := io.CopyBuffer(writerOnly{c}, io.NewSectionReader(f, offset, size), make([]byte, 1<<20))
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	return n, c.fd.opError("sendfile", unwrapOp(err))
}

// RecvFile receives size bytes of stream data into the file at path,
// written from offset; the file is created if need be and not truncated,
// so a transfer can resume where an earlier one stopped. Deadlines apply. A
// peer that closes early is io.ErrUnexpectedEOF.
//
// Unlike UDT's recvfile, it does not depend on the socket blocking: UDT
// 4.11's recvfile on a non-blocking socket waits for a wake-up that never
// comes once it has caught up with the data.
func (c *Conn) RecvFile(path string, offset, size int64) (int64, error) {
	if err := c.fileCheck("recvfile", offset, size); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return 0, c.fd.opError("recvfile", err)
	}
	n, err := io.CopyBuffer(io.NewOffsetWriter(f, offset), io.LimitReader(c, size), make([]byte, 1<<20))
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, c.fd.opError("recvfile", unwrapOp(err))
}

// unwrapOp takes the cause out of the *net.OpError of a Read or Write
// inside SendFile or RecvFile, which wrap it again under their own name.
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}

func (c *Conn) fileCheck(op string, offset, size int64) error {
	if !c.ok() {
		return errInvalidConn(op)
	}
	var err error
	switch {
	case c.msg:
		err = &Error{Op: op, Code: ErrDgramIll, Msg: "file transfer needs a stream connection"}
	case offset < 0:
		err = invalid(op, "offset must not be negative, got "+strconv.FormatInt(offset, 10))
	case size < 0:
		err = invalid(op, "size must not be negative, got "+strconv.FormatInt(size, 10))
	case offset > math.MaxInt64-size:
		err = invalid(op, "offset "+strconv.FormatInt(offset, 10)+" + size "+strconv.FormatInt(size, 10)+" overflows int64")
	}
	return c.fd.opError(op, err)
}

// String describes the connection for fmt, "udt 127.0.0.1:41000->127.0.0.1:9000",
// with "(closed)" once closed, instead of its internals.
func (c *Conn) String() string {
	if !c.ok() {
		return "udt conn <nil>"
	}
	s := "udt " + c.fd.laddr.String() + "->" + c.fd.raddr.String()
	if c.fd.pd.isClosed() {
		s += " (closed)"
	}
	return s
}

// ok reports whether c is a Conn this package made: methods on a nil or
// zero Conn fail with EINVAL, as Go's net does, instead of panicking.
func (c *Conn) ok() bool { return c != nil && c.fd != nil }

func errInvalidConn(op string) error {
	return &net.OpError{Op: op, Net: "udt", Err: fmt.Errorf("%w: not a connection made by Dial or Accept (nil or zero udt.Conn)", syscall.EINVAL)}
}

// writerOnly hides Conn's other methods from io.Copy.
type writerOnly struct{ io.Writer }

// errAttemptExpired ends a connect attempt that UDT is about to give up.
var errAttemptExpired = errors.New("udt: connect attempt expired")

// connect starts a non-blocking connect and waits until the handshake ends,
// ctx ends, or limit passes. UDT's epoll reports a completed handshake, but
// not a failed one; UDT 4.11 also completes, in non-blocking mode, a
// handshake the listener rejected, which only its own record of the answer
// tells (connInfo.rejected).
func (fd *netFD) connect(ctx context.Context, to netip.AddrPort, limit time.Time) error {
	if err := fd.lib.Connect(fd.pd.s, to); err != nil {
		return err
	}
	p := fd.pd.p
	p.ndialing.Add(1)
	p.dials.Add(1)
	defer p.ndialing.Add(-1)
	for {
		gen := fd.pd.gen(EventOut)
		var ci [1]connInfo
		p.lib.connInfos([]SocketID{fd.pd.s.ID()}, ci[:], true)
		switch {
		case ci[0].rejected:
			pollStats.dialsRejected.Add(1)
			return &Error{Op: "connect", Code: ErrConnRej, Msg: "Connection setup failure: connection rejected by the peer (a listener of the other mode, stream or message?)"}
		case ci[0].connected, ci[0].status == StatusClosed, ci[0].status == StatusNonexist:
			// Also when the peer has closed since: the first Read is EOF,
			// after whatever the peer sent first. UDT closes a socket on
			// its own only after a break, and only a connection breaks:
			// one found closed (we have not) had completed its handshake.
			return nil
		case ci[0].status != StatusConnecting:
			return &Error{Op: "connect", Code: ErrConnFail, Msg: "connection setup failed (socket " + ci[0].status.String() + ")"}
		}
		switch err := fd.pd.waitFor(EventOut, gen, ctx.Done(), limit); err {
		case nil:
		case errCanceled:
			return ctx.Err()
		default:
			return err
		}
	}
}
