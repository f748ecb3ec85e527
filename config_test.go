package udt

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzConfig: validate never panics, names the field it refuses, and
// agrees with UDT: a Config it accepts applies to a fresh socket without
// error.
func FuzzConfig(f *testing.F) {
	f.Add(false, int64(0), false, 0, 0, 0, 0, 0, 0, int64(0), int64(0), 0, 0.0)
	f.Add(true, int64(time.Second), true, 1500, 25600, 12058624, 12058624, 65536, 12288000, int64(1e9), int64(180*time.Second), int(CCFixedRate), 100.0)
	f.Add(false, int64(0), false, 76, 1, 48, 1, 1, 1, int64(1), int64(time.Second), int(CCNative), 0.0)
	f.Add(false, int64(0), false, 65535, 32, 65507, 1<<31-1, 1<<31-1, 1<<31-1, int64(math.MaxInt64), int64(-1), int(CCFixedRate), MinFixedRate)
	f.Add(false, int64(-1), true, -1, -1, 100, -1, -1, -1, int64(-1), int64(1500*time.Millisecond), 9, math.NaN())
	f.Add(true, int64(0), false, 9000, 0, 8971, 0, 0, 0, int64(0), int64(1<<31)*int64(time.Second), int(CCFixedRate), 1e7)
	f.Fuzz(func(t *testing.T, msg bool, ttl int64, unordered bool, mss, fc, sndbuf, rcvbuf, udpsnd, udprcv int, maxbw, linger int64, cc int, mbps float64) {
		cfg := Config{
			Message: msg, MessageTTL: time.Duration(ttl), MessageUnordered: unordered,
			MSS: mss, FlowWindow: fc, SendBuffer: sndbuf, RecvBuffer: rcvbuf,
			UDPSendBuffer: udpsnd, UDPRecvBuffer: udprcv, MaxSendRate: BitRate(maxbw),
			Linger: time.Duration(linger), CongestionControl: CongestionControl{Kind: CCKind(cc), Mbps: mbps},
		}
		if err := cfg.validate(); err != nil {
			if !strings.Contains(err.Error(), "Config.") && !strings.Contains(err.Error(), "ListenConfig.") {
				t.Fatalf("validate(%+v): %v names no field", cfg, err)
			}
			return
		}
		s, err := NewSocket(IPv4, cfg.socketType())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := cfg.apply(Native, s); err != nil {
			t.Fatalf("validate accepted %+v, but UDT refused it: %v", cfg, err)
		}
	})
}
