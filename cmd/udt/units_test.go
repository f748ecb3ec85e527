package main

import (
	"testing"
	"time"
)

func TestByteSizeAndRates(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1, "64K": 64 << 10, "12M": 12 << 20, "1.5m": 3 << 19, "2MiB": 2 << 20, "1g": 1 << 30, "100B": 100} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("byteSize(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "2G", "1T", "NaN", "Inf", "1e30"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("byteSize(%q) = %d, want an error", in, b)
		}
	}
	for in, want := range map[string]int64{"0": 0, "500M": 500e6, "1G": 1e9, "10k": 10e3, "2.5Mbit/s": 2.5e6} {
		var r bitRate
		if err := r.Set(in); err != nil || int64(r) != want {
			t.Errorf("bitRate(%q) = %d, %v; want %d", in, r, err, want)
		}
	}
	for _, in := range []string{"-5M", "fast", "1e300"} {
		var r bitRate
		if err := r.Set(in); err == nil {
			t.Errorf("bitRate(%q) = %d, want an error", in, r)
		}
	}
}

func TestDurationFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"10": 10 * time.Second, "0.5": 500 * time.Millisecond, "2m": 2 * time.Minute, "1ms": time.Millisecond, "0.001": time.Millisecond} {
		var d duration
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("duration(%q) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"0", "-3", "1e-10", "999us", "1ns", "soon", "NaN", "1e300"} {
		var d duration
		if err := d.Set(in); err == nil {
			t.Errorf("duration(%q) = %v, want an error", in, time.Duration(d))
		}
	}
}

func TestProgressLine(t *testing.T) {
	var w lockedBuffer
	p := &progress{w: &w, name: "f", every: time.Hour}
	p.begin(25, 100)
	p.start = p.start.Add(-2 * time.Second) // 25 bytes in 2 s so far
	p.done = 25
	p.draw(p.start.Add(2 * time.Second))
	// 50 of 100 bytes; 25 more took 2 s, so 50 left take 4 s.
	if got, want := w.String(), "get: f: 50 B of 100 B (50%) at 0.0 Mbit/s, ETA 4s\n"; got != want {
		t.Fatalf("progress line %q, want %q", got, want)
	}
}
