package udt

import (
	"errors"
	"net"
	"testing"
)

func TestSetMaxSendRate(t *testing.T) {
	t.Parallel()
	c, _ := connPair(t, Config{MaxSendRate: 80 * Mbps})
	if v, err := c.Socket().MaxBandwidth(); err != nil || v != 10_000_000 {
		t.Fatalf("UDT_MAXBW after Config.MaxSendRate 80 Mbit/s = %d, %v; want 10000000 bytes/s", v, err)
	}
	if err := c.SetMaxSendRate(0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Socket().MaxBandwidth(); err != nil || v != -1 {
		t.Fatalf("UDT_MAXBW after SetMaxSendRate(0) = %d, %v; want -1 (no cap)", v, err)
	}
	if err := c.SetMaxSendRate(-5); CodeOf(err) != ErrInvParam {
		t.Fatalf("SetMaxSendRate(-5) = %v, want ErrInvParam", err)
	}
	c.Close()
	if err := c.SetMaxSendRate(Mbps); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetMaxSendRate after Close = %v, want net.ErrClosed", err)
	}
}

func TestBitRateString(t *testing.T) {
	for r, want := range map[BitRate]string{
		0: "0 bit/s", 999: "999 bit/s", 1500: "1.5 kbit/s", 94_300_000: "94.3 Mbit/s",
		100 * Mbps: "100 Mbit/s", 1_250_000_000: "1.25 Gbit/s", 12_345 * Gbps: "12345 Gbit/s", -2 * Mbps: "-2 Mbit/s",
	} {
		if got := r.String(); got != want {
			t.Errorf("BitRate(%d) = %q, want %q", int64(r), got, want)
		}
	}
}
