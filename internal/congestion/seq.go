package congestion

// SeqMax is the largest of UDT's sequence numbers, which are 31 bits
// and wrap.
const SeqMax = 0x7FFFFFFF

// SeqInc is the sequence number after s.
func SeqInc(s int32) int32 {
	if s == SeqMax {
		return 0
	}
	return s + 1
}

// SeqCmp orders a and b on the wrapping sequence space.
func SeqCmp(a, b int32) int32 {
	if d := a - b; d < 0x3FFFFFFF && d > -0x3FFFFFFF {
		return d
	}
	return b - a
}

// SeqLen counts from a to b, inclusive of a, exclusive of b.
func SeqLen(a, b int32) int32 {
	if a <= b {
		return b - a
	}
	return b - a + SeqMax + 1
}
