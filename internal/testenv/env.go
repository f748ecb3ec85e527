package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TimeoutUpperBound bounds how long something that should be prompt may
// take before a test calls it hung: generous, as the suite runs under
// -race on a loaded 2-core machine. Tests assert behaviour, not speed.
const TimeoutUpperBound = 20 * time.Second

// EnvInt reads a positive integer from the environment, or def: the soak
// and bench runs scale a test up through it (./build.sh soak), a plain run
// keeps the default.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// SeedFor returns a fresh seed for a test's random choices, or UDT_SEED's,
// and logs it, so that a failure seen once can be replayed.
func SeedFor(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("UDT_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (rerun with UDT_SEED=%d)", seed, seed)
	return seed
}
