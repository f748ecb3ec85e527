package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The slice report: each cell shows connected and gathered times, a
// failed run says so, the ratio is UDT's time over TCP's, and the plot
// is a PNG with a panel per output size.
func TestSliceReport(t *testing.T) {
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	rep := &SliceReport{RateBps: 100e6, RTTms: 100, Nodes: 200, Contenders: []string{"udt", "tcp-cubic"}}
	for _, size := range []int64{64 << 10, 4 << 20} {
		rep.Cells = append(rep.Cells, &SliceCell{LossPct: 1, Bytes: size, Results: map[string]*sliceResult{
			"udt":       {Nodes: 200, AllConnected: sec(0.4), AllDone: sec(2), DoneP50: sec(1), DoneP99: sec(1.9), PeakFDs: 12, PeakThreads: 9},
			"tcp-cubic": {Nodes: 200, AllConnected: sec(0.3), AllDone: sec(8), DoneP50: sec(4), DoneP99: sec(7.5), PeakFDs: 210, PeakThreads: 8},
		}})
	}
	rep.Cells[1].Results["tcp-cubic"] = &sliceResult{Err: "3 of 200 nodes failed"}
	table := sliceTable(rep)
	for _, want := range []string{
		"| 64 KiB | 1% | 0.40 / **2.00** s (1.00, 1.90); 12 fds, 9 threads | 0.30 / **8.00** s (4.00, 7.50); 210 fds, 8 threads | 0.25× |",
		"| 4 MiB | 1% | 0.40 / **2.00** s (1.00, 1.90); 12 fds, 9 threads | failed | – |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks the row\n%s\nin\n%s", want, table)
		}
	}
	png := filepath.Join(t.TempDir(), "s.png")
	if err := slicePlot(rep, png); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("s.png is not a PNG (%v)", err)
	}
}
