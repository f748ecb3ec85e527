package udt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// BitRate is a data rate in bits per second, the net layer's one unit for
// rates: Config.MaxSendRate, Conn.SetMaxSendRate, the rates of Stats, and
// the command's --bw flag. Write it as time.Duration is written:
// 100 * udt.Mbps. The one-to-one layer keeps UDT's own units instead
// (Socket.SetMaxBandwidth in bytes per second, Perf in Mbit/s).
type BitRate int64

// Common rates, in decimal multiples as links are rated.
const (
	BitPerSecond BitRate = 1
	Kbps                 = 1000 * BitPerSecond
	Mbps                 = 1000 * Kbps
	Gbps                 = 1000 * Mbps
)

// String formats r with three significant digits and a decimal unit, as
// rates are read: "94.3 Mbit/s", "1.25 Gbit/s", "940 kbit/s".
func (r BitRate) String() string {
	v, unit := float64(r), "bit/s"
	for _, u := range []struct {
		size BitRate
		name string
	}{{Gbps, "Gbit/s"}, {Mbps, "Mbit/s"}, {Kbps, "kbit/s"}} {
		if r >= u.size || r <= -u.size {
			v, unit = float64(r)/float64(u.size), u.name
			break
		}
	}
	prec := 2
	switch a := math.Abs(v); {
	case unit == "bit/s" || a >= 100:
		prec = 0
	case a >= 10:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " " + unit
}

// BytesPerSecond is r in bytes per second, UDT_MAXBW's unit.
func (r BitRate) BytesPerSecond() float64 { return float64(r) / 8 }

// rateOf is the rate of moving bits in d.
func rateOf(bits float64, secs float64) BitRate {
	if secs <= 0 {
		return 0
	}
	return BitRate(math.Round(bits / secs))
}

// checkSendRate refuses what UDT_MAXBW cannot hold: it counts whole bytes
// per second, and takes 0 and below for no cap.
func checkSendRate(r BitRate) error {
	if r < 0 || (r > 0 && r < 8) {
		return fmt.Errorf("MaxSendRate must be 0 (no cap) or at least 8 bit/s (UDT_MAXBW counts bytes per second), not %d bit/s", int64(r))
	}
	return nil
}

// maxBW is UDT_MAXBW's value for r: bytes per second, -1 for no cap.
func maxBW(r BitRate) int64 {
	if r == 0 {
		return -1
	}
	return int64(r / 8)
}
