package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progress shows a transfer on stderr: a bar redrawn in place on a
// terminal, a plain line now and then otherwise (logs, pipes). A nil
// *progress shows nothing.
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	every time.Duration

	mu          sync.Mutex
	base, total int64 // bytes there before this run, and in all
	done        int64 // bytes this run
	start, last time.Time
}

func newProgress(w *os.File, name string) *progress {
	p := &progress{w: w, name: name, every: 5 * time.Second}
	if _, err := unix.IoctlGetTermios(int(w.Fd()), unix.TCGETS); err == nil && os.Getenv("TERM") != "dumb" {
		p.tty, p.every = true, 200*time.Millisecond
	}
	return p
}

func (p *progress) begin(base, total int64) {
	if p == nil {
		return
	}
	p.base, p.total, p.start, p.last = base, total, time.Now(), time.Now()
}

func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) end() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.draw(time.Now())
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(now time.Time) {
	el := now.Sub(p.start)
	have := p.base + p.done
	rate := mbits(p.done, el)
	pct := 100.0
	if p.total > 0 {
		pct = float64(have) * 100 / float64(p.total)
	}
	eta := "--"
	if p.done > 0 && have < p.total {
		eta = (time.Duration(float64(p.total-have) / float64(p.done) * float64(el))).Round(time.Second).String()
	} else if have >= p.total {
		eta = "0s"
	}
	if !p.tty {
		fmt.Fprintf(p.w, "get: %s: %s of %s (%.0f%%) at %.1f Mbit/s, ETA %s\n", p.name, mib(have), mib(p.total), pct, rate, eta)
		return
	}
	const width = 30
	fill := int(pct * width / 100)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill > 0 && fill < width {
		bar = bar[:fill-1] + ">" + bar[fill:]
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s/%s %.1f Mbit/s ETA %s\x1b[K", p.name, bar, pct, mib(have), mib(p.total), rate, eta)
}
