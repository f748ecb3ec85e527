package udt

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
)

// UDT keeps buffer sizes in packets of MSS-28 payload bytes.
const payload = 1500 - 28

func TestOptionDefaults(t *testing.T) {
	t.Parallel()
	s, err := NewSocket(IPv4, Stream) // not newSock, which turns linger off
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[Option]any{
		OptMSS:        1500,
		OptSndSyn:     true,
		OptRcvSyn:     true,
		OptFC:         25600,
		OptSndBuf:     8192 * payload,
		OptRcvBuf:     8192 * payload,
		OptLinger:     Linger{On: true, Timeout: 180 * time.Second},
		OptUDPSndBuf:  65536,
		OptUDPRcvBuf:  12288000,
		OptRendezvous: false,
		OptSndTimeo:   -time.Millisecond,
		OptRcvTimeo:   -time.Millisecond,
		OptReuseAddr:  true,
		OptMaxBW:      int64(-1),
		OptState:      StatusInit,
		OptSndData:    0,
		OptRcvData:    0,
	}
	for o, w := range want {
		got, err := s.GetSockOpt(o)
		if err != nil || got != w {
			t.Errorf("%v = %v (%T), %v; want %v (%T)", o, got, got, err, w, w)
		}
	}
	// UDT_CC has no instance before bind: UDT answers EUNBOUNDSOCK.
	_, err = s.CongestionControl()
	wantCode(t, "UDT_CC before bind", err, ErrUnboundSock)
}

func TestOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    Option
		v    any
		want any // what UDT gives back, when it differs from v
	}{
		{OptMSS, 1400, nil},
		{OptSndSyn, false, nil},
		{OptRcvSyn, false, nil},
		{OptFC, 1000, nil},
		{OptFC, 5, 32}, // UDT's floor
		{OptSndBuf, 1000 * payload, nil},
		{OptSndBuf, 1000*payload + 7, 1000 * payload}, // whole packets
		{OptRcvBuf, 2000 * payload, nil},
		{OptRcvBuf, 10 * payload, 32 * payload}, // UDT's floor
		{OptLinger, Linger{On: true, Timeout: 7 * time.Second}, nil},
		{OptLinger, Linger{}, nil},
		{OptUDPSndBuf, 1 << 20, nil},
		{OptUDPRcvBuf, 1 << 20, nil},
		{OptRendezvous, true, nil},
		{OptSndTimeo, 250 * time.Millisecond, nil},
		{OptSndTimeo, 1500 * time.Microsecond, 2 * time.Millisecond}, // rounded up
		{OptRcvTimeo, 1500 * time.Millisecond, nil},
		{OptRcvTimeo, -time.Hour, -time.Millisecond}, // none
		{OptReuseAddr, false, nil},
		{OptMaxBW, int64(1_000_000), nil},
		{OptMaxBW, int64(-1), nil},
	} {
		s := newSock(t, IPv4, Stream)
		if err := s.SetSockOpt(tc.o, tc.v); err != nil {
			t.Errorf("SetSockOpt(%v, %v): %v", tc.o, tc.v, err)
			continue
		}
		want := tc.want
		if want == nil {
			want = tc.v
		}
		if got, err := s.GetSockOpt(tc.o); err != nil || got != want {
			t.Errorf("%v: set %v, got %v, %v; want %v", tc.o, tc.v, got, err, want)
		}
	}
}

func TestTypedOptionAccessors(t *testing.T) {
	t.Parallel()
	s := newSock(t, IPv4, Stream)
	steps := []struct {
		name string
		set  func() error
		get  func() (any, error)
		want any
	}{
		{"MSS", func() error { return s.SetMSS(1300) }, func() (any, error) { return s.MSS() }, 1300},
		{"SendBlocking", func() error { return s.SetSendBlocking(false) }, func() (any, error) { return s.SendBlocking() }, false},
		{"RecvBlocking", func() error { return s.SetRecvBlocking(false) }, func() (any, error) { return s.RecvBlocking() }, false},
		{"FlowWindow", func() error { return s.SetFlowWindow(4096) }, func() (any, error) { return s.FlowWindow() }, 4096},
		{"SendBuffer", func() error { return s.SetSendBuffer(100 * 1272) }, func() (any, error) { return s.SendBuffer() }, 100 * 1272},
		{"RecvBuffer", func() error { return s.SetRecvBuffer(100 * 1272) }, func() (any, error) { return s.RecvBuffer() }, 100 * 1272},
		{"Linger", func() error { return s.SetLinger(Linger{On: true, Timeout: time.Second}) }, func() (any, error) { return s.Linger() }, Linger{On: true, Timeout: time.Second}},
		{"UDPSendBuffer", func() error { return s.SetUDPSendBuffer(300000) }, func() (any, error) { return s.UDPSendBuffer() }, 300000},
		{"UDPRecvBuffer", func() error { return s.SetUDPRecvBuffer(400000) }, func() (any, error) { return s.UDPRecvBuffer() }, 400000},
		{"Rendezvous", func() error { return s.SetRendezvous(true) }, func() (any, error) { return s.Rendezvous() }, true},
		{"SendTimeout", func() error { return s.SetSendTimeout(time.Second) }, func() (any, error) { return s.SendTimeout() }, time.Second},
		{"RecvTimeout", func() error { return s.SetRecvTimeout(2 * time.Second) }, func() (any, error) { return s.RecvTimeout() }, 2 * time.Second},
		{"ReuseAddr", func() error { return s.SetReuseAddr(false) }, func() (any, error) { return s.ReuseAddr() }, false},
		{"MaxBandwidth", func() error { return s.SetMaxBandwidth(5 << 20) }, func() (any, error) { return s.MaxBandwidth() }, int64(5 << 20)},
	}
	for _, st := range steps {
		if err := st.set(); err != nil {
			t.Fatalf("Set%s: %v", st.name, err)
		}
		if got, err := st.get(); err != nil || got != st.want {
			t.Fatalf("%s = %v, %v; want %v", st.name, got, err, st.want)
		}
	}
	if ev, err := s.Events(); err != nil || ev != 0 {
		t.Fatalf("Events of an unconnected socket = %v, %v", ev, err)
	}
	if n, err := s.SendData(); err != nil || n != 0 {
		t.Fatalf("SendData = %d, %v", n, err)
	}
	if n, err := s.RecvData(); err != nil || n != 0 {
		t.Fatalf("RecvData = %d, %v", n, err)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	s := newSock(t, IPv4, Stream)

	// Not implemented by UDT 4.11: the library's own answer comes through.
	for _, o := range []Option{OptMaxMsg, OptMsgTTL} {
		_, err := s.GetSockOpt(o)
		wantCode(t, "get "+o.String(), err, ErrInvOp)
		wantCode(t, "set "+o.String(), s.SetSockOpt(o, 1), ErrInvOp)
	}
	_, err := s.MaxMsg()
	wantCode(t, "MaxMsg", err, ErrInvOp)
	wantCode(t, "SetMsgTTL", s.SetMsgTTL(5), ErrInvOp)

	// Read-only options reach UDT, which refuses them.
	for o, v := range map[Option]any{OptState: StatusOpened, OptEvent: EventIn, OptSndData: 1, OptRcvData: 1} {
		wantCode(t, "set read-only "+o.String(), s.SetSockOpt(o, v), ErrInvOp)
	}

	// Values UDT refuses.
	wantCode(t, "tiny MSS", s.SetMSS(10), ErrInvParam)
	wantCode(t, "zero FC", s.SetFlowWindow(0), ErrInvParam)
	wantCode(t, "zero SNDBUF", s.SetSendBuffer(0), ErrInvParam)

	// Values the binding refuses before UDT sees them, each naming the problem.
	for _, tc := range []struct {
		err  error
		want string
	}{
		{s.SetSockOpt(OptMSS, "1500"), "must be int, not string"},
		{s.SetSockOpt(OptSndSyn, 1), "must be bool, not int"},
		{s.SetSockOpt(OptMaxBW, 5), "must be int64, not int"},
		{s.SetSockOpt(OptRcvTimeo, 5), "must be time.Duration"},
		{s.SetSockOpt(OptLinger, 5), "must be udt.Linger"},
		{s.SetSockOpt(OptCC, "fast"), "must be udt.CongestionControl"},
		{s.SetSockOpt(Option(99), 1), "unknown option"},
		{s.SetMSS(1 << 40), "does not fit in a C int"},
		{s.SetLinger(Linger{On: true, Timeout: 1500 * time.Millisecond}), "whole number of seconds"},
		{s.SetLinger(Linger{On: true, Timeout: -time.Second}), "whole number of seconds"},
		{s.SetRecvTimeout(time.Duration(math.MaxInt64)), "longer than a C int"},
		{s.SetCongestionControl(CongestionControl{Kind: CCOther}), "must be CCNative, CCFixedRate or CCGo"},
		{s.SetCongestionControl(CongestionControl{Kind: CCFixedRate}), "needs Mbps from"},
		{s.SetCongestionControl(CongestionControl{Kind: CCFixedRate, Mbps: math.Inf(1)}), "needs Mbps from"},
		{s.SetCongestionControl(CongestionControl{Kind: CCFixedRate, Mbps: 1e-300}), "needs Mbps from"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", tc.err, tc.want)
		}
		wantCode(t, tc.want, tc.err, ErrInvParam)
	}
	if _, err := s.GetSockOpt(Option(-1)); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Errorf("GetSockOpt(-1) = %v", err)
	}
	if Option(99).String() != "Option(99)" || OptUDPRcvBuf.String() != "UDP_RCVBUF" {
		t.Errorf("Option.String: %q %q", Option(99).String(), OptUDPRcvBuf.String())
	}

	// Options UDT fixes at bind and at connect.
	if err := s.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	for o, v := range map[Option]any{OptMSS: 1400, OptSndBuf: 100 * payload, OptRcvBuf: 100 * payload, OptUDPSndBuf: 1 << 20, OptUDPRcvBuf: 1 << 20, OptReuseAddr: false} {
		wantCode(t, "after bind "+o.String(), s.SetSockOpt(o, v), ErrBoundSock)
	}
	c, _ := pair(t, Stream, loop4)
	wantCode(t, "after connect UDT_FC", c.SetFlowWindow(100), ErrConnSock)
	// UDT answers EBOUNDSOCK for these, not ECONNSOCK.
	wantCode(t, "after connect UDT_RENDEZVOUS", c.SetRendezvous(true), ErrBoundSock)
	wantCode(t, "after connect UDT_CC", c.SetCongestionControl(CongestionControl{Kind: CCNative}), ErrBoundSock)
	// And the ones that may change any time.
	for o, v := range map[Option]any{OptSndSyn: false, OptRcvSyn: false, OptLinger: Linger{On: true, Timeout: 2 * time.Second}, OptSndTimeo: time.Second, OptRcvTimeo: time.Second, OptMaxBW: int64(1 << 30)} {
		if err := c.SetSockOpt(o, v); err != nil {
			t.Errorf("after connect %v: %v", o, err)
		}
	}
}

func TestCongestionControl(t *testing.T) {
	t.Parallel()
	c, _ := pair(t, Stream, loop4)
	if cc, err := c.CongestionControl(); err != nil || cc.Kind != CCNative {
		t.Fatalf("default congestion control = %+v, %v; want native", cc, err)
	}
	b := newSock(t, IPv4, Stream)
	b.Bind(loop4)
	if cc, err := b.CongestionControl(); err != nil || cc.Kind != CCNone {
		t.Fatalf("bound, unconnected = %+v, %v; want none yet", cc, err)
	}

	const mbps = 100
	fixed := func(s Socket) {
		if err := s.SetCongestionControl(CongestionControl{Kind: CCFixedRate, Mbps: mbps}); err != nil {
			t.Fatal(err)
		}
	}
	fc, fs := pair(t, Stream, loop4, fixed)
	cc, err := fc.GetSockOpt(OptCC)
	if err != nil || cc != (CongestionControl{Kind: CCFixedRate, Mbps: mbps}) {
		t.Fatalf("installed fixed rate, got %+v, %v", cc, err)
	}
	got := make(chan error, 1)
	go func() { _, err := recvAll(fs, 1<<20); got <- err }()
	if _, err := sendAll(fc, pattern(3), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	p, err := fc.Perfmon(false)
	if err != nil {
		t.Fatal(err)
	}
	// 1500-byte packets at 100 Mbit/s leave 120 µs apart.
	if want := 1500 * 8 * time.Microsecond / mbps; p.PktSndPeriod < want-time.Microsecond || p.PktSndPeriod > want+time.Microsecond {
		t.Fatalf("packet period %v under fixed rate, want %v", p.PktSndPeriod, want)
	}
	if CCFixedRate.String() != "fixed-rate" || CCKind(9).String() != "CCKind(9)" {
		t.Fatal("CCKind.String")
	}
}

// FuzzSockOpt sets every option from fuzzed values, through the typed API
// and through raw bytes of any length at the cgo boundary: errors, never a
// crash, and what was set reads back where UDT keeps it exactly.
func FuzzSockOpt(f *testing.F) {
	f.Add(0, int64(1500), true, []byte{0xdc, 0x05, 0, 0})
	f.Add(3, int64(0), false, []byte{})
	f.Add(7, int64(-1), true, []byte{1, 0, 0, 0, 5, 0, 0, 0})
	f.Add(13, int64(math.MaxInt64), false, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(16, int64(math.MinInt64), true, bytes.Repeat([]byte{0xff}, 8))
	f.Add(21, int64(1), true, []byte{1})
	f.Add(-1, int64(1), false, make([]byte, 64))
	f.Fuzz(func(t *testing.T, opt int, v int64, on bool, raw []byte) {
		s, err := NewSocket(IPv4, Stream)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		o := Option(opt)
		var val any
		switch {
		case !o.valid():
			val = int(v)
		case options[o].kind == kindBool:
			val = on
		case options[o].kind == kindInt64:
			val = v
		case options[o].kind == kindLinger:
			val = Linger{On: on, Timeout: time.Duration(v)}
		case options[o].kind == kindCC:
			val = CongestionControl{Kind: CCKind(v & 7), Mbps: float64(v) / 1e3}
		case options[o].kind == kindTimeout:
			val = time.Duration(v)
		default:
			val = int(v)
		}
		err = s.SetSockOpt(o, val)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), "setsockopt") {
				t.Fatalf("SetSockOpt(%v, %v): %v (%T) is not a setsockopt *Error", o, val, err, err)
			}
		} else if o != OptCC {
			got, err := s.GetSockOpt(o)
			if err != nil {
				t.Fatalf("GetSockOpt(%v) after setting %v: %v", o, val, err)
			}
			want := val
			switch w := val.(type) {
			case time.Duration:
				if w < 0 {
					want = -time.Millisecond
				} else {
					want = (w + time.Millisecond - 1) / time.Millisecond * time.Millisecond
				}
			case Linger:
				want = Linger{On: w.On, Timeout: w.Timeout}
			case int:
				want = nil // UDT rounds and clamps buffer sizes
			}
			if want != nil && got != want {
				t.Fatalf("set %v to %v, read back %v (want %v)", o, val, got, want)
			}
		}

		// The raw layer must refuse a buffer of the wrong size for the
		// option before UDT, which trusts the length, reads or writes it.
		u := int(s.ID())
		if err := cudt.SetSockOpt(u, opt, raw); err != nil && err.(*cudt.Error).Code == 0 {
			t.Fatalf("cudt.SetSockOpt(%d, %x): error without a code: %v", opt, raw, err)
		}
		buf := make([]byte, len(raw))
		n, err := cudt.GetSockOpt(u, opt, buf)
		if err == nil && (n < 0 || n > len(buf)) {
			t.Fatalf("cudt.GetSockOpt(%d, %d bytes) wrote %d", opt, len(buf), n)
		}
	})
}
