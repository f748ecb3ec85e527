package testenv

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RSSSlackKiB is what RSS may differ by without a leak: the Go heap and
// the C heap's fragments vary a little from run to run.
const RSSSlackKiB = 64 << 10

// CountFDs counts the process's open descriptors, and among them the
// sockets: UDT opens a UDP socket per port, so sockets growing with
// connections means ports are not shared.
func CountFDs(t testing.TB) (fds, sockets int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return len(ents), sockets
}

// CountThreads is the process's number of OS threads: UDT starts threads
// of its own per socket and per port, which the Go runtime does not see.
func CountThreads(t testing.TB) int {
	t.Helper()
	return StatusKB(t, "Threads:")
}

// StatusKB reads a numeric field of /proc/self/status, such as "VmRSS:" or
// "VmHWM:" (in KiB), or 0 if it is missing.
func StatusKB(t testing.TB, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// CPUTime is the CPU the process used so far, user and system, UDT's
// threads included (they are the process's, unlike in Go's profiles).
func CPUTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
