package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udtgo/udt"
)

const perfHelp = `
usage: udt perf -s [ADDR]            serve perf tests (UDT, and TCP on the same port number)
       udt perf -c HOST:PORT [flags] run a test against a server
       udt perf --loopback [flags]   run both ends in this process, on 127.0.0.1
       udt perf [-s] --rendezvous LOCAL REMOTE [flags]
                                     connect by rendezvous instead (through NATs and
                                     firewalls that let in only replies): the server
                                     end adds -s and serves one test; connection k
                                     uses ports LOCAL+k and REMOTE+k

An iperf-like throughput test. The client sends for -t (or receives, with -R)
over -P parallel UDT connections, printing one line per interval from UDT's
own statistics: rate, RTT, congestion window, packet send period, loss,
retransmissions, ACKs and NAKs. As sender, a line's rate counts the bytes
UDT accepted into its send buffer; as receiver (-R), the bytes that arrived,
and the window and period columns, which belong to the sender, show "-".
The summary gives what the sender wrote and what the receiver got, each over
its own time: the receiver's figure is the goodput. --vs tcp runs the same
test over Go's TCP right after, and prints both and their ratio.

The server's options (buffers, MSS, ...) are its own flags: pass the same
ones to both ends.

examples:
  udt perf --loopback --vs tcp
  udt perf -s :9000
  udt perf -c 10.0.0.2:9000 -t 30 -P 4 --rcvbuf 64M --fc 50000
  udt perf -c 10.0.0.2:9000 -R --json > result.json
`

// perfMagic starts each connection of a test: "C" for the control
// connection, "D" for a data one.
const (
	perfCtl  = "udtperfC"
	perfData = "udtperfD"
)

type perfOpts struct {
	dur      time.Duration
	interval time.Duration
	streams  int
	reverse  bool
	block    int
	cfg      udt.Config
	jsonOut  bool
	once     bool // server: exit after one test
	timeout  time.Duration
	rdv      *rendezvousPorts // --rendezvous: connect by rendezvous, not by dial/listen
}

func runPerf(ctx context.Context, args []string) error {
	fs := newFlags("perf", perfHelp)
	var (
		o                              perfOpts
		serve, loopback                bool
		connect, vs                    string
		dur                            = duration(10 * time.Second)
		interval                       = duration(time.Second)
		sndbuf, rcvbuf, udpSnd, udpRcv byteSize
		block                          = byteSize(128 << 10)
		bw                             bitRate
		mss, fc                        int
		ccName                         string
	)
	fs.BoolVar(&serve, "s", false, "serve tests on ADDR (default :9000)")
	fs.StringVar(&connect, "c", "", "run a test against the server at `HOST:PORT`")
	fs.BoolVar(&loopback, "loopback", false, "run server and client in this process on 127.0.0.1")
	rendezvous := fs.Bool("rendezvous", false, "connect by rendezvous from LOCAL to REMOTE (both ends; the server adds -s)")
	fs.Var(&dur, "t", "test `duration` (seconds, or 500ms, 2m, ...)")
	fs.Var(&interval, "i", "report `interval`")
	fs.IntVar(&o.streams, "P", 1, "parallel connections")
	fs.BoolVar(&o.reverse, "R", false, "reverse: the server sends, the client receives")
	fs.Var(&block, "len", "write size in bytes (K, M suffixes)")
	fs.StringVar(&vs, "vs", "", "also run the test over `tcp` and print the ratio")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON document instead of text")
	fs.BoolVar(&o.once, "1", false, "server: exit after one test")
	timeout := duration(dialTimeout)
	fs.Var(&timeout, "timeout", "give up connecting after this `duration`")
	fs.IntVar(&mss, "mss", 0, "UDT_MSS: packet size in `bytes`, IP and UDP headers included (0: 1500)")
	fs.IntVar(&fc, "fc", 0, "UDT_FC: flow window in `packets` (0: the receive buffer's)")
	fs.Var(&sndbuf, "sndbuf", "UDT_SNDBUF in `bytes` (K, M suffixes; 0: UDT's default)")
	fs.Var(&rcvbuf, "rcvbuf", "UDT_RCVBUF in `bytes` (0: UDT's default)")
	fs.Var(&udpSnd, "udp-sndbuf", "UDP_SNDBUF in `bytes` (0: UDT's default)")
	fs.Var(&udpRcv, "udp-rcvbuf", "UDP_RCVBUF in `bytes` (0: UDT's default)")
	fs.Var(&bw, "bw", "UDT_MAXBW: cap in `bits/s` (k, M, G suffixes; 0: none)")
	fs.StringVar(&ccName, "cc", "native", "congestion control `NAME`: "+strings.Join(udt.Controllers, ", ")+" (set it on both ends)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	o.dur, o.interval, o.block, o.timeout = time.Duration(dur), time.Duration(interval), int(block), time.Duration(timeout)
	o.cfg = udt.Config{MSS: mss, FlowWindow: fc, SendBuffer: int(sndbuf), RecvBuffer: int(rcvbuf),
		UDPSendBuffer: int(udpSnd), UDPRecvBuffer: int(udpRcv), MaxSendRate: udt.BitRate(bw)}
	if o.cfg.CongestionControl, err = udt.ParseCongestionControl(ccName); err != nil {
		return usagef("--cc: %v", err)
	}

	if *rendezvous {
		if len(pos) != 2 || connect != "" || loopback {
			return usagef("--rendezvous wants LOCAL REMOTE (and -s on the server end), without -c or --loopback")
		}
		if o.rdv, err = parseRendezvous(pos[0], pos[1]); err != nil {
			return err
		}
		if serve {
			o.once = true
			return perfServe(ctx, pos[0], o)
		}
		return perfClient(ctx, pos[1], "", false, o)
	}
	modes := 0
	for _, on := range []bool{serve, connect != "", loopback} {
		if on {
			modes++
		}
	}
	switch {
	case modes != 1:
		return usagef("pick one of -s, -c HOST:PORT and --loopback")
	case o.streams < 1 || o.streams > 128:
		return usagef("-P %d: want 1 to 128 parallel connections", o.streams)
	case o.block < 1 || o.block > maxBlock:
		return usagef("-len %d: want 1 byte to 64M", o.block)
	case o.dur > maxDuration:
		return usagef("-t %v: at most %v", o.dur, maxDuration)
	case o.interval < 10*time.Millisecond:
		return usagef("-i %v: at least 10ms", o.interval)
	case vs != "" && vs != "tcp":
		return usagef("--vs %q: the only other protocol is tcp", vs)
	case bw > 0 && bw < 8:
		return usagef("--bw %d: at least 8 bit/s (UDT_MAXBW counts bytes)", bw)
	}
	if err := checkMSS(mss); err != nil {
		return err
	}
	o.interval = min(o.interval, o.dur)
	if serve {
		addr := ":9000"
		if len(pos) > 1 {
			return usagef("-s takes one address, not %q", pos)
		}
		if len(pos) == 1 {
			if addr, err = listenAddr(pos[0]); err != nil {
				return err
			}
		}
		return perfServe(ctx, addr, o)
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	udtTarget, tcpTarget := connect, connect
	if loopback {
		srv, err := startPerfServer(ctx, "127.0.0.1:0", o, io.Discard, true)
		if err != nil {
			return err
		}
		defer srv.close()
		udtTarget, tcpTarget = srv.udtAddr, srv.tcpAddr
	}
	return perfClient(ctx, udtTarget, tcpTarget, vs == "tcp", o)
}

// Limits of a test, checked by both ends.
const (
	maxBlock    = 64 << 20
	maxDuration = 24 * time.Hour
)

// listenAddr lets a bare port number stand for ":port".
func listenAddr(s string) (string, error) {
	if strings.Trim(s, "0123456789") == "" {
		if _, err := strconv.ParseUint(s, 10, 16); err != nil {
			return "", usagef("port %s: want 0 to 65535", s)
		}
		return ":" + s, nil
	}
	return s, nil
}

// checkMSS refuses packet sizes UDP cannot carry: UDT_MSS counts the IP
// and UDP headers, and UDT needs its own 16 bytes and some payload.
func checkMSS(mss int) error {
	if mss != 0 && (mss < 76 || mss > 65535) {
		return usagef("--mss %d: want 76 to 65535 bytes (0: UDT's default)", mss)
	}
	return nil
}

// hello is the client's first message on the control connection.
type hello struct {
	Version  int    `json:"v"`
	ID       string `json:"id"`
	Streams  int    `json:"streams"`
	Reverse  bool   `json:"reverse"`
	Duration int64  `json:"duration_ns"`
	Block    int    `json:"block"`
}

// endMsg is what each side tells the other when its part is over: the
// sender its bytes written, the receiver its bytes read, with its
// connections' statistics.
type endMsg struct {
	Bytes   []int64    `json:"bytes"`
	Elapsed int64      `json:"elapsed_ns"`
	Stats   []sumStats `json:"stats"`
	Error   string     `json:"error,omitempty"`
}

// sumStats are a connection's totals at the end.
type sumStats struct {
	Retrans int64   `json:"retrans"`
	Loss    int64   `json:"loss"`
	ACK     int64   `json:"ack"`
	NAK     int64   `json:"nak"`
	RTTms   float64 `json:"rtt_ms"`
	// LinkMbps is the sender's estimate of the link's capacity.
	LinkMbps float64 `json:"link_estimate_mbps,omitempty"`
}

// ctl is a control connection: JSON lines both ways.
type ctl struct {
	c net.Conn
	r *bufio.Reader
}

func (c *ctl) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.c.Write(append(b, '\n'))
	return err
}

func (c *ctl) recv(v any, deadline time.Time) error {
	c.c.SetReadDeadline(deadline)
	defer c.c.SetReadDeadline(time.Time{})
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return errors.New("control message too long")
		}
		return err
	}
	return json.Unmarshal(line, v)
}

// proto is UDT or TCP, as the test needs to dial, listen and read
// statistics.
type proto struct {
	name   string
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	sample func(c net.Conn) (sample, bool)
}

func udtProto(cfg udt.Config, timeout time.Duration, rdv *rendezvousPorts) proto {
	d := &udt.Dialer{Config: cfg, Timeout: timeout}
	return proto{
		name: "udt",
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			if rdv != nil {
				return rdv.dial(ctx, cfg, timeout)
			}
			return d.DialContext(ctx, "udt", addr)
		},
		sample: udtSample,
	}
}

func tcpProto(timeout time.Duration) proto {
	return proto{
		name: "tcp",
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, "tcp", addr)
		},
		sample: tcpSample,
	}
}

// sample is a connection's statistics at one instant: totals to take
// deltas of, and the current state.
type sample struct {
	RTT     time.Duration
	Cwnd    int
	Period  time.Duration
	Retrans int64
	SndLoss int64
	RcvLoss int64
	ACKSent int64
	ACKRecv int64
	NAKSent int64
	NAKRecv int64
	// Bandwidth is the sender's packet-pair estimate of the link, from the
	// receiver's ACKs (UDT's mbpsBandwidth); 0 on a receiver, where UDT
	// leaves it unset.
	Bandwidth udt.BitRate
}

func udtSample(c net.Conn) (sample, bool) {
	uc, ok := c.(*udt.Conn)
	if !ok {
		return sample{}, false
	}
	p, err := uc.Stats()
	if err != nil {
		return sample{}, false
	}
	return sample{
		RTT: p.RTT, Cwnd: p.CongestionWindow, Period: p.SendPeriod,
		Retrans: p.Total.PacketsRetransmitted, SndLoss: p.Total.SendLoss,
		RcvLoss: p.Total.RecvLoss, ACKSent: p.Total.ACKsSent, ACKRecv: p.Total.ACKsReceived,
		NAKSent: p.Total.NAKsSent, NAKRecv: p.Total.NAKsReceived, Bandwidth: p.Bandwidth,
	}, true
}

// summary reduces a final sample to what the other side reports.
func (s sample) summary(sender bool) sumStats {
	if sender {
		return sumStats{Retrans: s.Retrans, Loss: s.SndLoss, ACK: s.ACKRecv, NAK: s.NAKRecv, RTTms: ms(s.RTT), LinkMbps: float64(s.Bandwidth) / float64(udt.Mbps)}
	}
	return sumStats{Retrans: s.Retrans, Loss: s.RcvLoss, ACK: s.ACKSent, NAK: s.NAKSent, RTTms: ms(s.RTT)}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// streams moves data over a test's data connections in one direction and
// counts it, for the interval reports and the end messages.
type streams struct {
	conns   []net.Conn
	counts  []atomic.Int64
	lastIO  []atomic.Int64 // receiver: unix nanos of each stream's last read
	start   time.Time
	errOnce sync.Once
	err     error
	wg      sync.WaitGroup
}

func newStreams(conns []net.Conn) *streams {
	return &streams{conns: conns, counts: make([]atomic.Int64, len(conns)), lastIO: make([]atomic.Int64, len(conns))}
}

func (s *streams) fail(err error) { s.errOnce.Do(func() { s.err = err }) }

func (s *streams) bytes() []int64 {
	out := make([]int64, len(s.counts))
	for i := range s.counts {
		out[i] = s.counts[i].Load()
	}
	return out
}

// send writes to every stream until dur has passed or ctx ends, and
// returns how long the writes took. The data left in the send buffers is
// the receiver's to wait for.
func (s *streams) send(ctx context.Context, dur time.Duration, block int) time.Duration {
	buf := make([]byte, block)
	rand.Read(buf) // not all zeros: nothing on the path gets to compress it
	s.start = time.Now()
	end := s.start.Add(dur)
	for i, c := range s.conns {
		c.SetWriteDeadline(end)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				n, err := c.Write(buf)
				s.counts[i].Add(int64(n))
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						s.fail(fmt.Errorf("stream %d: %w", i+1, err))
					}
					return
				}
			}
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range s.conns {
			c.SetWriteDeadline(time.Now())
		}
	})
	s.wg.Wait()
	stop()
	elapsed := time.Since(s.start)
	for _, c := range s.conns {
		c.SetWriteDeadline(time.Time{})
	}
	return elapsed
}

// recv reads every stream in the background until its connection ends.
func (s *streams) recv() {
	s.start = time.Now()
	for i, c := range s.conns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 256<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					s.counts[i].Add(int64(n))
					s.lastIO[i].Store(time.Now().UnixNano())
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// awaitBytes waits until every stream has read want[i] bytes, and returns
// the time from the start to the last byte. It gives up at deadline or
// when a reader stopped short.
func (s *streams) awaitBytes(want []int64, deadline time.Time) (time.Duration, error) {
	if len(want) != len(s.conns) {
		return 0, fmt.Errorf("the sender reported %d streams, not %d", len(want), len(s.conns))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	for {
		short := -1
		for i := range want {
			if s.counts[i].Load() < want[i] {
				short = i
				break
			}
		}
		if short < 0 {
			var last int64
			for i := range s.lastIO {
				last = max(last, s.lastIO[i].Load())
			}
			return max(time.Unix(0, last).Sub(s.start), 0), nil
		}
		select {
		case <-done:
			// The readers ended: one more look, as the last read may have
			// landed just before.
			if s.counts[short].Load() < want[short] {
				return 0, fmt.Errorf("stream %d ended after %d of the %d bytes sent", short+1, s.counts[short].Load(), want[short])
			}
			continue
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("stream %d: %d of the %d bytes sent arrived in time", short+1, s.counts[short].Load(), want[short])
		}
	}
}

func (s *streams) finalStats(p proto, sender bool) []sumStats {
	out := make([]sumStats, len(s.conns))
	for i, c := range s.conns {
		if smp, ok := p.sample(c); ok {
			out[i] = smp.summary(sender)
		}
	}
	return out
}

func (s *streams) close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}

// drainDeadline bounds the wait for data still in flight after the sender
// stopped: generous, as a long fat path holds a lot of it.
func drainDeadline(dur time.Duration) time.Time { return time.Now().Add(30*time.Second + dur) }

// newID is a test's name on the server.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errFromPeer is an error the other end reported.
type errFromPeer string

func (e errFromPeer) Error() string { return "the server: " + string(e) }
