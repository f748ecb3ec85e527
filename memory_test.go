package udt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
)

// The memory tests measure peak RSS in a child process (this test binary
// run again with udtMemChild set), so that the suite's other tests, run
// before them in the same process, neither raise the peak nor leave
// sockets for UDT to delete mid-measurement.
const udtMemChild = "UDT_MEM_CHILD"

// churnFigures is what a churn child reports.
type churnFigures struct {
	Cycles    int     `json:"cycles"`
	Workers   int     `json:"workers"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	PeakKiB   int     `json:"peak_rss_kib"` // VmHWM over the whole child
	StartKiB  int     `json:"start_rss_kib"`
	EndKiB    int     `json:"end_rss_kib"` // once UDT deleted the sockets and the trims ran
	HeapInUse uint64  `json:"heap_in_use_peak"`
	InfoMaxUs float64 `json:"mallinfo2_max_us"` // the longest mallinfo2 call seen
	HeapFree  uint64  `json:"heap_free_peak"`
	Trims     int64   `json:"trims"`
	TrimMs    float64 `json:"trim_ms"`
	Failures  int64   `json:"failures"`
	PerSocket int64   `json:"per_socket"` // Conn.Memory's Allocated
	// How long UDT kept closed sockets before deleting them, and the most
	// it held at once (UDT_MEMCHURN_TRACK=1 only: it polls every socket).
	LifetimeMs  []float64 `json:"lifetime_ms_p50_p90_max,omitempty"`
	MostClosing int       `json:"most_closing,omitempty"`
}

// closeTracker polls closed sockets until UDT deletes them.
type closeTracker struct {
	mu      sync.Mutex
	pending map[Socket]time.Time
	lives   []time.Duration
	most    int
}

func (k *closeTracker) closed(c *Conn) {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.pending[c.fd.pd.s] = time.Now()
	k.most = max(k.most, len(k.pending))
	k.mu.Unlock()
}

func (k *closeTracker) poll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	for s, at := range k.pending {
		if Native.SockState(s) == StatusNonexist {
			k.lives = append(k.lives, now.Sub(at))
			delete(k.pending, s)
		}
	}
}

func (k *closeTracker) figures() []float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	slices.Sort(k.lives)
	if len(k.lives) == 0 {
		return nil
	}
	at := func(q float64) float64 {
		return float64(k.lives[int(q*float64(len(k.lives)-1))].Microseconds()) / 1000
	}
	return []float64{at(0.5), at(0.9), at(1)}
}

// runChild runs test name of this binary in a child process with env
// added, and decodes the JSON line it prints after marker.
func runChild(t *testing.T, name string, env []string, out any) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), udtMemChild+"=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	t.Logf("child %s %v", name, env)
	sc := bufio.NewScanner(bytes.NewReader(b))
	found := false
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "udt-mem: "); ok {
			if jerr := json.Unmarshal([]byte(v), out); jerr != nil {
				t.Fatalf("child's figures %q: %v", v, jerr)
			}
			found = true
		}
	}
	if err != nil || !found {
		t.Fatalf("child %s: %v\n%s%s", name, err, b, stderr.Bytes())
	}
}

// asanRSS scales an RSS bound under AddressSanitizer, whose quarantine
// holds freed memory back (256 MiB by default) and whose shadow and
// redzones add to every allocation.
func asanRSS(kib int) int {
	if testenv.ASan {
		return 4*kib + 512<<10
	}
	return kib
}

// The bounded churn: UDT_MEMCHURN cycles (6,000: seconds) on 8 workers,
// in a child process. A closed socket keeps its buffers until UDT deletes
// it, 1 to 2.2 s after the close (docs/memory.md), so the peak is the
// memory of the sockets of the last 2.5 s at the rate the child reached,
// each as Conn.Memory reports it: a leak, or freed memory piling up
// rather than being reused, exceeds that. Afterwards the trims must have
// brought RSS back near where it started. The buffers are UDT's smallest
// (32 packets) to keep the peak small on CI machines; UDT_MEMCHURN_DEFAULTS=1
// (./build.sh soak) runs it with the default sizes.
func TestChurnPeakRSS(t *testing.T) {
	if os.Getenv(udtMemChild) != "" {
		churnChild(t)
		return
	}
	if testing.Short() {
		t.Skip("a few seconds of churn in a child process")
	}
	env := []string{"UDT_MEMCHURN=" + os.Getenv("UDT_MEMCHURN")}
	if os.Getenv("UDT_MEMCHURN_DEFAULTS") == "" {
		env = append(env, "UDT_MEMCHURN_RCVBUF=46080", "UDT_MEMCHURN_FC=32")
	}
	var f churnFigures
	runChild(t, "TestChurnPeakRSS", env, &f)
	inflight := f.PerSecond*2*2.5 + float64(4*f.Workers)
	bound := f.StartKiB + int(1.25*inflight*float64(f.PerSocket)/1024) + 64<<10
	t.Logf("%d cycles on %d workers in %.1fs (%.0f a second), %d bytes of UDT's per socket: peak RSS %d KiB, bound %d KiB (%.0f sockets); start %d KiB, end %d KiB; C heap at most %d MiB in use, %d MiB free; %d trims taking %.1f ms; mallinfo2 took at most %.0f µs",
		f.Cycles, f.Workers, f.Seconds, f.PerSecond, f.PerSocket, f.PeakKiB, bound, inflight, f.StartKiB, f.EndKiB, f.HeapInUse>>20, f.HeapFree>>20, f.Trims, f.TrimMs, f.InfoMaxUs)
	if f.Failures > 0 {
		t.Errorf("%d cycles failed", f.Failures)
	}
	if f.PerSocket == 0 {
		t.Fatal("the child reported no per-socket memory")
	}
	if bound := asanRSS(bound); f.PeakKiB > bound {
		t.Errorf("peak RSS %d KiB is over %d KiB, what the sockets of the last 2.5 s hold", f.PeakKiB, bound)
	}
	if !testenv.ASan && f.EndKiB > f.StartKiB+testenv.RSSSlackKiB {
		t.Errorf("RSS %d KiB after the churn, %d before: the trims did not give the memory back", f.EndKiB, f.StartKiB)
	}
}

// churnChild runs the churn and prints its figures.
func churnChild(t *testing.T) {
	cycles := testenv.EnvInt("UDT_MEMCHURN", 6000)
	workers := testenv.EnvInt("UDT_MEMCHURN_WORKERS", 8)
	cfg := Config{RecvBuffer: testenv.EnvInt("UDT_MEMCHURN_RCVBUF", 0), FlowWindow: testenv.EnvInt("UDT_MEMCHURN_FC", 0)}
	seed := testenv.SeedFor(t)
	var track *closeTracker
	if os.Getenv("UDT_MEMCHURN_TRACK") != "" {
		track = &closeTracker{pending: map[Socket]time.Time{}}
	}
	start := testenv.StatusKB(t, "VmRSS:")
	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	var handlers sync.WaitGroup
	var failures atomic.Int64
	go func() {
		for {
			c, err := l.AcceptUDT()
			if err != nil {
				return
			}
			handlers.Go(func() {
				defer func() {
					c.Close()
					track.closed(c)
				}()
				c.SetDeadline(time.Now().Add(time.Minute))
				buf := make([]byte, 4096)
				if _, err := io.ReadFull(c, buf[:2]); err != nil {
					return // see TestChurn
				}
				n := int(binary.BigEndian.Uint16(buf))
				if _, err := io.ReadFull(c, buf[:n]); err != nil {
					failures.Add(1)
					return
				}
				c.Write(buf[:n])
			})
		}
	}()
	var peakInUse, peakFree atomic.Uint64
	var infoMax time.Duration
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if track != nil {
					track.poll()
				}
				t0 := time.Now()
				h := theTrim.heap()
				infoMax = max(infoMax, time.Since(t0))
				if h.InUse+h.Mmapped > peakInUse.Load() {
					peakInUse.Store(h.InUse + h.Mmapped)
				}
				if h.Free > peakFree.Load() {
					peakFree.Store(h.Free)
				}
			}
		}
	}()
	d := Dialer{Config: cfg}
	var next atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range workers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cycles) {
					return
				}
				if !memChurnCycle(&d, l.Addr().String(), rng, track) {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	handlers.Wait()
	// The shared dial port closes sharedPortIdle after the last
	// connection, UDT deletes it and the sockets within 3 s; the last
	// trim follows.
	time.Sleep(sharedPortIdle + trimQuiet + 3*time.Second)
	close(stop)
	<-sampled
	trims, trimmed := trimStats()
	f := churnFigures{
		Cycles: cycles, Workers: workers, Seconds: took.Seconds(), PerSecond: float64(cycles) / took.Seconds(),
		PeakKiB: testenv.StatusKB(t, "VmHWM:"), StartKiB: start, EndKiB: testenv.StatusKB(t, "VmRSS:"),
		HeapInUse: peakInUse.Load(), HeapFree: peakFree.Load(),
		Trims: trims, TrimMs: float64(trimmed.Microseconds()) / 1000, Failures: failures.Load(),
		PerSocket: perSocket.Load(), InfoMaxUs: float64(infoMax.Microseconds()),
	}
	if track != nil {
		f.LifetimeMs, f.MostClosing = track.figures(), track.most
	}
	printFigures(f)
}

// printFigures prints a child's figures for runChild.
func printFigures(f any) {
	b, _ := json.Marshal(f)
	os.Stdout.Write(append(append([]byte("udt-mem: "), b...), '\n'))
}

// perSocket is Conn.Memory's Allocated for the churn's connections.
var perSocket atomic.Int64

func memChurnCycle(d *Dialer, addr string, rng *rand.Rand, track *closeTracker) bool {
	c, err := d.Dial("udt", addr)
	if err != nil {
		return false
	}
	if perSocket.Load() == 0 {
		if m, err := c.(*Conn).Memory(); err == nil {
			perSocket.Store(m.Allocated)
		}
	}
	defer func() {
		c.Close()
		track.closed(c.(*Conn))
	}()
	c.SetDeadline(time.Now().Add(time.Minute))
	msg := make([]byte, 1024+rng.IntN(3072))
	for j := range msg {
		msg[j] = byte(rng.Uint32())
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
		return false
	}
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	return err == nil && bytes.Equal(got, msg)
}
