package congestion

import "testing"

func TestHoleSet(t *testing.T) {
	var h holeSet
	// 10..14 as a range, 20 alone, 12..21 overlapping both: one range.
	h.add([]int32{10 | -0x80000000, 14, 20}, 0, 100)
	if h.n != 6 || len(h.r) != 2 {
		t.Fatalf("after 10-14 and 20: %d packets in %v; want 6 in two ranges", h.n, h.r)
	}
	h.add([]int32{12 | -0x80000000, 21}, 0, 100)
	if h.n != 12 || len(h.r) != 1 || h.r[0] != (seqRange{10, 21}) {
		t.Fatalf("after 12-21: %d packets in %v; want 10-21", h.n, h.r)
	}
	h.acked(15)
	if h.n != 7 || h.r[0].from != 15 {
		t.Fatalf("after the ACK of 15: %d packets in %v; want 15-21", h.n, h.r)
	}
	h.acked(22)
	if h.n != 0 || len(h.r) != 0 {
		t.Fatalf("after the ACK of 22: %d packets in %v; want none", h.n, h.r)
	}
	// Across the wrap of the sequence numbers.
	h.add([]int32{(SeqMax - 1) | -0x80000000, 2}, SeqMax-5, 10)
	if h.n != 5 {
		t.Fatalf("across the wrap: %d packets in %v; want 5", h.n, h.r)
	}
	h.acked(1)
	if h.n != 2 {
		t.Fatalf("across the wrap, after the ACK of 1: %d packets in %v; want 2", h.n, h.r)
	}
}

// A peer's loss reports are not trusted: what lies outside what is
// outstanding, reversed ranges, a range cut short, and reports without end
// leave a bounded record of outstanding packets.
func TestHoleSetHostileReports(t *testing.T) {
	var h holeSet
	h.add([]int32{500 | -0x80000000, 2500}, 1000, 2000) // beyond both ends
	if h.n != 1001 {
		t.Fatalf("a report beyond both ends: %d packets; want the 1001 outstanding", h.n)
	}
	h = holeSet{}
	h.add([]int32{50 | -0x80000000, 40, 5000, -1, 7 | -0x80000000}, 0, 100)
	if h.n != 0 {
		t.Fatalf("reversed, outside, negative, unterminated: %d packets in %v; want none", h.n, h.r)
	}
	h = holeSet{}
	for i := int32(0); i < 3*maxHoleRanges; i++ {
		h.add([]int32{2 * i}, 0, SeqMax/4)
	}
	if len(h.r) > maxHoleRanges || h.n != maxHoleRanges {
		t.Fatalf("%d single holes reported: %d ranges, %d packets; want at most %d", 3*maxHoleRanges, len(h.r), h.n, maxHoleRanges)
	}
}
