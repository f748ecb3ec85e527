package testenv

import (
	"errors"
	"net"
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

// IsTimeout reports whether err is a deadline's: os.ErrDeadlineExceeded, as
// a net.Error whose Timeout is true, as net.Conn's contract asks.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// TimesOut checks that call, given a timeout d, fails with a timeout no
// sooner than d and not much later. A late return on a loaded machine is
// retried with a longer timeout, up to TimeoutUpperBound, so that only a
// call that ignores its timeout fails.
func TimesOut(t *testing.T, what string, d time.Duration, call func(d time.Duration) error) {
	t.Helper()
	for {
		start := time.Now()
		err := call(d)
		took := time.Since(start)
		if !IsTimeout(err) {
			t.Fatalf("%s with a %v timeout: %v, want a timeout", what, d, err)
		}
		if took < d {
			t.Fatalf("%s with a %v timeout returned after %v, before its timeout", what, d, took)
		}
		if took <= LateBound(d) {
			return
		}
		if d >= TimeoutUpperBound {
			t.Fatalf("%s with a %v timeout returned after %v", what, d, took)
		}
		t.Logf("%s with a %v timeout returned after %v: trying a longer one", what, d, took)
		d = min(took*5/4, TimeoutUpperBound)
	}
}

// LateBound is how long a call with a timeout d may take on a loaded
// machine running -race before a test suspects it ignored the timeout.
func LateBound(d time.Duration) time.Duration { return 2*d + time.Second }
