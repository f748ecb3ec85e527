package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// byteSize is a flag for a byte count with the binary suffixes K, M, G, T
// (KiB, MiB, ... also accepted).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	n, err := parseScaled(s, 1024, "B", "IB")
	if err != nil || n < 0 || n > math.MaxInt32 {
		return errors.New("want a byte count from 0 to 2G-1, such as 65536, 64K or 12M")
	}
	*b = byteSize(n)
	return nil
}

// bitRate is a flag for bits per second with the decimal suffixes k, M, G
// (as iperf takes them): 100M is 10^8 bit/s.
type bitRate int64

func (r *bitRate) String() string { return strconv.FormatInt(int64(*r), 10) }

func (r *bitRate) Set(s string) error {
	n, err := parseScaled(strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "bit"), 1000, "", "")
	if err != nil || n < 0 {
		return errors.New("want bits per second, such as 500M or 1G (0: no cap)")
	}
	*r = bitRate(n)
	return nil
}

// parseScaled reads a number with an optional K/M/G/T suffix in powers of
// base, after trimming either of two unit suffixes.
func parseScaled(s string, base int64, unit1, unit2 string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	for _, u := range []string{unit2, unit1} {
		if u != "" && strings.HasSuffix(t, u) && len(t) > len(u) {
			t = strings.TrimSuffix(t, u)
			break
		}
	}
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			for range i + 1 {
				mult *= base
			}
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	f := v * float64(mult)
	if f > math.MaxInt64/2 || f < -math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(f), nil
}

// duration is a flag that takes Go durations ("90s", "1m30s") or plain
// seconds ("10", "0.5").
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }

func (d *duration) Set(s string) error {
	bad := errors.New("want a duration from 1ms up, such as 10 (seconds), 500ms or 2m")
	var v time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f >= 0.001 && f <= 1e7) {
			return bad
		}
		v = time.Duration(f * float64(time.Second))
	} else if v, err = time.ParseDuration(s); err != nil {
		return bad
	}
	if v < time.Millisecond {
		return bad
	}
	*d = duration(v)
	return nil
}

// mib formats a byte count for people.
func mib(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
}

// mbits is a rate in Mbit/s.
func mbits(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * 8 / d.Seconds() / 1e6
}
