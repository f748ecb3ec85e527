//go:build asan || race

package udt

// AddressSanitizer keeps freed memory in quarantine and the race detector
// never returns its shadow memory: under either, RSS says nothing.
const underSanitizer = true
