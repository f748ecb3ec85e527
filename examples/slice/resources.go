package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

type resources struct{ fds, threads int }

// current reads this process's open descriptors and OS threads.
func current() resources {
	var r resources
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		r.fds = len(ents)
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if i := bytes.Index(b, []byte("\nThreads:")); i >= 0 {
			line := b[i+len("\nThreads:"):]
			if j := bytes.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			r.threads, _ = strconv.Atoi(string(bytes.TrimSpace(line)))
		}
	}
	return r
}

// watchResources samples current every 5 ms until the returned function
// is called, which returns the peaks.
func watchResources() func() resources {
	var mu sync.Mutex
	peak := current()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r := current()
				mu.Lock()
				peak.fds, peak.threads = max(peak.fds, r.fds), max(peak.threads, r.threads)
				mu.Unlock()
			}
		}
	}()
	return func() resources {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
