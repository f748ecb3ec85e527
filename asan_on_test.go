//go:build asan

package udt

// AddressSanitizer keeps freed memory in quarantine: RSS says nothing.
const underASan = true
