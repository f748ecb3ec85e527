package congestion

import (
	"slices"
	"sort"
)

// holeSet is the sending end's record of the packets its peer reported
// lost and has not acknowledged since: ranges of sequence numbers, sorted
// and disjoint. UDT's window counts from the first unacknowledged packet,
// so every hole holds a place in it until its retransmission arrives and
// every earlier hole is filled; BBR's inflight leaves lost packets out
// (TCP's pipe, RFC 6675). With the window full of holes the sender sends
// nothing new, the receiving end then sees no arrival and so has no
// moment to report a lost retransmission again (UDT 4.11 never repeats a
// loss report, and a controller acts only when a packet arrives), and the
// flow stalls until UDT's retransmission timeout: 300 ms and more.
type holeSet struct {
	r []seqRange
	n int64 // packets in r
}

type seqRange struct{ from, to int32 } // inclusive

// maxHoleRanges bounds the record: a peer's reports cannot make it grow
// without end (each report is also bounded by what was sent, see add).
const maxHoleRanges = 4096

// add records a report of words (UDT's loss list: a word with the top
// bit set opens a range that the next word closes) for packets in
// [lo, hi]: the first unacknowledged and the newest sent.
func (h *holeSet) add(words []int32, lo, hi int32) {
	for i := 0; i < len(words); i++ {
		from, to := words[i], words[i]
		if from < 0 {
			from &= SeqMax
			if i+1 >= len(words) {
				return
			}
			i++
			to = words[i]
		}
		if to < 0 || SeqCmp(from, to) > 0 {
			continue
		}
		// Clip to what is outstanding: a report of anything else is stale
		// or a lie.
		if SeqCmp(from, lo) < 0 {
			from = lo
		}
		if SeqCmp(to, hi) > 0 {
			to = hi
		}
		if SeqCmp(from, to) > 0 {
			continue
		}
		h.insert(from, to)
	}
}

func (h *holeSet) insert(from, to int32) {
	// the first range that does not end before from-1
	i := sort.Search(len(h.r), func(i int) bool { return SeqCmp(h.r[i].to, from) >= -1 })
	j := i
	for j < len(h.r) && SeqCmp(h.r[j].from, to) <= 1 {
		from = minSeq(from, h.r[j].from)
		to = maxSeq(to, h.r[j].to)
		h.n -= int64(SeqLen(h.r[j].from, h.r[j].to)) + 1
		j++
	}
	if i == j && len(h.r) >= maxHoleRanges {
		return
	}
	h.r = slices.Replace(h.r, i, j, seqRange{from, to})
	h.n += int64(SeqLen(from, to)) + 1
}

// acked drops what lies before ack, the first unacknowledged packet.
func (h *holeSet) acked(ack int32) {
	k := 0
	for k < len(h.r) && SeqCmp(h.r[k].to, ack) < 0 {
		h.n -= int64(SeqLen(h.r[k].from, h.r[k].to)) + 1
		k++
	}
	h.r = h.r[k:]
	if len(h.r) > 0 && SeqCmp(h.r[0].from, ack) < 0 {
		h.n -= int64(SeqLen(h.r[0].from, ack))
		h.r[0].from = ack
	}
	if len(h.r) == 0 {
		h.r = nil // let go of the array the trims walked through
	}
}

func minSeq(a, b int32) int32 {
	if SeqCmp(a, b) < 0 {
		return a
	}
	return b
}

func maxSeq(a, b int32) int32 {
	if SeqCmp(a, b) > 0 {
		return a
	}
	return b
}
