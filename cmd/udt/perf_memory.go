package main

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/udtgo/udt"
)

// connMemory is what UDT holds for each of the test's connections (the
// first one's figures: they share their options), for --json.
type connMemory struct {
	RecvBufferPackets int   `json:"rcvbuf_pkts"`
	FlowWindow        int   `json:"fc_pkts"`
	PeerWindow        int   `json:"peer_window_pkts"`
	Allocated         int64 `json:"udt_alloc_bytes"`
	Written           int64 `json:"udt_written_bytes"`
	Mapped            int64 `json:"udt_mapped_bytes"`
}

func connMemoryOf(conns []net.Conn) *connMemory {
	if len(conns) == 0 {
		return nil
	}
	c, ok := conns[0].(*udt.Conn)
	if !ok {
		return nil
	}
	m, err := c.Memory()
	if err != nil {
		return nil
	}
	return &connMemory{m.RecvBufferPackets, m.FlowWindow, m.PeerWindow, m.Allocated, m.Written, m.Mapped}
}

// processMemory is this process's memory at the end of the tests: the
// peak RSS, and the C heap where UDT's buffers live.
func processMemory() map[string]any {
	h := udt.ReadHeapStats()
	m := map[string]any{
		"c_heap_in_use_bytes": h.InUse,
		"c_heap_free_bytes":   h.Free,
		"heap_trims":          h.Trims,
		"heap_trim_ms":        float64(h.TrimTime.Microseconds()) / 1000,
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
					m["rss_peak_kib"] = n
				}
			}
		}
	}
	return m
}
