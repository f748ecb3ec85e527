//go:build udt_leakcheck

package cudt

import "testing"

// TestDeliberateLeak passes as a Go test; LeakSanitizer must then fail the
// binary at exit, which is what ./build.sh asan checks.
func TestDeliberateLeak(t *testing.T) {
	LeakForCheck(16)
}
