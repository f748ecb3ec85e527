package main

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/wanlab"
)

func TestJain(t *testing.T) {
	for _, c := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{50, 50}, 1},
		{[]float64{100, 0}, 0.5},
		{[]float64{60, 40}, 100 * 100 / (2 * (3600 + 1600.0))},
		{[]float64{30, 30, 30, 0}, 0.75},
		{[]float64{0, 0}, 1},
	} {
		if got := jain(c.x); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("jain(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestConvergence(t *testing.T) {
	a := []float64{90, 90, 90, 80, 70, 60, 55, 50, 52, 48, 50, 50}
	b := []float64{0, 0, 0, 10, 20, 30, 40, 48, 50, 50, 49, 51}
	// Smoothed over one bin: within 20 % from bin 6 (55 vs 40 is 27 % apart;
	// bin 7: 50 vs 48).
	if k, ok := convergence([][]float64{a, b}, 3, 1, 0.2); !ok || k != 7 {
		t.Errorf("smooth 1: got bin %d, %v; want 7", k, ok)
	}
	// Over three bins the means catch up later.
	if k, ok := convergence([][]float64{a, b}, 3, 3, 0.2); !ok || k != 8 {
		t.Errorf("smooth 3: got bin %d, %v; want 8", k, ok)
	}
	// One bin apart at the very end: not converged.
	b2 := append([]float64(nil), b...)
	b2[len(b2)-1] = 10
	if k, ok := convergence([][]float64{a, b2}, 3, 1, 0.2); ok {
		t.Errorf("a late split: converged at %d", k)
	}
	// Nothing flowing is not convergence.
	if _, ok := convergence([][]float64{{0, 0}, {0, 0}}, 0, 1, 0.2); ok {
		t.Error("no traffic converged")
	}
}

func TestWithinShare(t *testing.T) {
	a := []float64{50, 50, 50, 30, 50, 50, 50, 50}
	b := []float64{50, 50, 50, 50, 50, 50, 50, 50}
	// Smoothed over one bin, of bins 2 to 7 only bin 3 is apart (30
	// against 50).
	if got := withinShare([][]float64{a, b}, 2, 1, 0.2); math.Abs(got-5.0/6) > 1e-12 {
		t.Errorf("withinShare = %v, want 5/6", got)
	}
	if got := withinShare([][]float64{a, b}, 8, 1, 0.2); got != 0 {
		t.Errorf("past the end: %v", got)
	}
}

func TestParseScenarios(t *testing.T) {
	got, err := parseScenarios("udt-bbr/udt-bbr, tcp-bbr/tcp-cubic")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"udt-bbr", "udt-bbr"}, {"tcp-bbr", "tcp-cubic"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parseScenarios(defaultScenarios); err != nil {
		t.Errorf("the default scenarios: %v", err)
	}
	for _, bad := range []string{"udt-bbr", "udt-bbr/quic", "", "udt-bbr/"} {
		if _, err := parseScenarios(bad); err == nil {
			t.Errorf("parseScenarios(%q) accepted it", bad)
		}
	}
}

func TestFlowMeterBinsEachFlow(t *testing.T) {
	m := newFlowMeter(time.Hour, []int{testPort, testPort + 1}, []bool{false, true})
	// Data goes to the receiver's port.
	udt := func(seq uint32, control bool) []byte {
		p := udtPacket(seq, 1000, control)
		binary.BigEndian.PutUint16(p[20:], 9999)
		binary.BigEndian.PutUint16(p[22:], testPort)
		return p
	}
	m.see(wanlab.B, udt(5, false)) // before start: not counted
	m.start(time.Now())
	for seq := uint32(4090); seq < 4100; seq++ { // across a bitmap block
		m.see(wanlab.B, udt(seq, false))
	}
	m.see(wanlab.B, udt(4095, false))           // a repeat
	m.see(wanlab.B, udt(9, true))               // control
	m.see(wanlab.A, udt(7, false))              // the other way
	m.see(wanlab.B, udtPacket(11, 1000, false)) // from the port, not to it
	seg := tcpSegment(100, 500)
	binary.BigEndian.PutUint16(seg[22:], testPort+1)
	m.see(wanlab.B, seg)
	m.see(wanlab.B, seg) // a retransmission
	s := m.series(1)
	bits := func(bytes float64) float64 { return bytes * 8 / 3600 / 1e6 }
	if s[0][0] != bits(10_000) || s[1][0] != bits(500) {
		t.Errorf("got %v Mbit/s, want %v and %v", s, bits(10_000), bits(500))
	}
}

func TestFairGoals(t *testing.T) {
	run := func(sc string, share0, jain, conv float64) *FairRun {
		return &FairRun{Scenario: sc, Flows: strings.Split(sc, "/"), Share: []float64{share0, 1 - share0},
			MeanMbps: []float64{share0 * 90, (1 - share0) * 90}, Jain: jain, ConvergeS: conv, Series: [][]float64{{1}, {1}}, StartS: []float64{0, 5}}
	}
	rep := &FairReport{RateBps: 100e6, Runs: []*FairRun{
		run("udt-bbr/udt-bbr", 0.5, 0.99, 12), run("udt-bbr/udt-bbr", 0.52, 0.98, 40), run("udt-bbr/udt-bbr", 0.49, 0.99, 20),
		run("udt-bbr/tcp-cubic", 0.7, 0.8, -1), run("tcp-bbr/tcp-cubic", 0.9, 0.6, -1),
		run("tcp-cubic/udt-bbr", 0.3, 0.8, -1), run("tcp-cubic/tcp-bbr", 0.5, 1, 3),
	}}
	md := fairMarkdown(rep)
	for _, want := range []string{
		"Goal (a), two UDT flows with BBR: Jain 0.990 (≥ 0.95), 3 of 3 runs converged (stayed within 20 % to the end), median after 20 s (≤ 30 s); within 20 % 0 % of the time from 30 s on: met",
		"Goal (b), udt-bbr/tcp-cubic against tcp-bbr/tcp-cubic: UDT with BBR takes 70 % beside CUBIC, TCP BBR 90 % (no more than BBR): met",
		// Second in the start order: the UDT flow's share is flow 2's.
		"Goal (b), tcp-cubic/udt-bbr against tcp-cubic/tcp-bbr: UDT with BBR takes 70 % beside CUBIC, TCP BBR 50 % (no more than BBR): NOT met",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}
