package udt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/heaptrim"
	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
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
	// At the end, what RSS holds: the C heap's chunks in use and free
	// (free pages the trims released count here but not in RSS), and the
	// Go runtime's memory minus what it returned to the system.
	StartC cudt.HeapInfo `json:"start_c_heap"`
	EndC   cudt.HeapInfo `json:"end_c_heap"`
	EndGoK uint64        `json:"end_go_kib"`
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
// (./build.sh soak) runs it with the default sizes. UDT_MEMCHURN_SMAPS=path
// has the child write its /proc/self/smaps there at the end: which
// mappings hold the RSS left.
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
	t.Logf("at the start: C heap %d KiB in use; at the end: C heap %d KiB in use, %d KiB free, %d KiB mmapped; Go runtime %d KiB",
		f.StartC.InUse>>10, f.EndC.InUse>>10, f.EndC.Free>>10, f.EndC.Mmapped>>10, f.EndGoK)
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
	// What UDT and the binding keep for good (the listener, its port, the
	// threads' caches) measured 160 to 190 KiB at 6,000 and 100,000
	// cycles: growth with the cycles is a leak, and its nodes, scattered
	// among the freed buffers, also keep pages from the trims (UDT's list
	// of accepted sockets held 5 MB and 85 MB of RSS at 100,000).
	if grown := int64(f.EndC.InUse) - int64(f.StartC.InUse); !testenv.ASan && grown > 512<<10+int64(f.Cycles) {
		t.Errorf("the C heap holds %d KiB more after %d cycles than before", grown>>10, f.Cycles)
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
	startC := cudt.Heap()
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
				h := cudt.Heap()
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
	time.Sleep(sharedPortIdle + heaptrim.Quiet + 3*time.Second)
	close(stop)
	<-sampled
	trims, trimmed := trimStats()
	f := churnFigures{
		Cycles: cycles, Workers: workers, Seconds: took.Seconds(), PerSecond: float64(cycles) / took.Seconds(),
		PeakKiB: testenv.StatusKB(t, "VmHWM:"), StartKiB: start, EndKiB: testenv.StatusKB(t, "VmRSS:"),
		HeapInUse: peakInUse.Load(), HeapFree: peakFree.Load(),
		Trims: trims, TrimMs: float64(trimmed.Microseconds()) / 1000, Failures: failures.Load(),
		PerSocket: perSocket.Load(), InfoMaxUs: float64(infoMax.Microseconds()),
		StartC: startC, EndC: cudt.Heap(),
	}
	if p := os.Getenv("UDT_MEMCHURN_SMAPS"); p != "" {
		b, _ := os.ReadFile("/proc/self/smaps")
		os.WriteFile(p, b, 0o644)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.EndGoK = (ms.Sys - ms.HeapReleased) >> 10
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

// Conn.Memory reads the connection's own sizes: the default's receive
// loss list and slots, and a trimmed connection's; and what the shim
// mapped, which past its cap on mappings is nothing.
func TestConnMemory(t *testing.T) {
	for _, tc := range []struct {
		cfg             Config
		noMaps          bool
		rcv, fc, alloc  int
		written, mapped int
	}{
		// The receive slots and both lists' arrays: mapped.
		{Config{}, false, 8192, 8192, 8*8192 + 16*8192 + 24*8192 + 32*1456 + 16384 + 2560, 0, 8*8192 + 16*8192 + 24*8192},
		// All too small to map: written.
		{Config{RecvBuffer: 46080, FlowWindow: 32}, false, 32, 32, 8*32 + 16*32 + 24*32 + 32*1456 + 16384 + 2560, 8*32 + 8*32 + 16*32, 0},
		// The defaults with the cap reached: UDT built and wrote them.
		{Config{}, true, 8192, 8192, 8*8192 + 16*8192 + 24*8192 + 32*1456 + 16384 + 2560, 8*8192 + 8*8192 + 16*8192, 0},
	} {
		if tc.noMaps {
			old := cudt.SetLazyCap(0)
			defer cudt.SetLazyCap(old)
		} else {
			// The sockets of tests run before this one may hold the
			// mappings up to the cap until UDT deletes them (about a
			// second after their close): room for this pair's first.
			for deadline := time.Now().Add(timeoutUpperBound); int(cudt.LazyCounts().MappedNow)+16 > cudt.SetLazyCap(-1); {
				if time.Now().After(deadline) {
					t.Fatalf("the setup arrays of earlier connections still hold %d of the %d mappings", cudt.LazyCounts().MappedNow, cudt.SetLazyCap(-1))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		c, s := connPair(t, tc.cfg)
		m, err := c.Memory()
		if err != nil {
			t.Fatal(err)
		}
		if m.RecvBufferPackets != tc.rcv || m.FlowWindow != tc.fc || m.PeerWindow != tc.rcv || m.Allocated != int64(tc.alloc) ||
			m.Written != int64(tc.written) || m.Mapped != int64(tc.mapped) {
			t.Errorf("%+v: %+v, want %d slots, UDT_FC %d, peer window %d, %d bytes, %d written, %d mapped", tc.cfg, m, tc.rcv, tc.fc, tc.rcv, tc.alloc, tc.written, tc.mapped)
		}
		c.Close()
		s.Close()
		if _, err := c.Memory(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Memory after Close: %v, want net.ErrClosed", err)
		}
	}
}

// idleFigures is what an idle-connections child reports, Go or C++.
type idleFigures struct {
	Conns       int     `json:"conns"` // each way: 2*Conns sockets in the process
	RSSBeforeK  int     `json:"rss_before_kib"`
	RSSAfterK   int     `json:"rss_after_kib"`
	HeapInUse   uint64  `json:"heap_in_use"` // C heap in use with the conns up, less before
	UpSeconds   float64 `json:"up_seconds"`  // to open them all
	IdleCPU     float64 `json:"idle_cpu"`    // cores busy while they idle
	IdleSeconds float64 `json:"idle_seconds"`
	Estimate    int64   `json:"estimate"` // Conn.Memory's Allocated less Mapped, mean of all conns (Go only)
	Mapped      int64   `json:"mapped"`   // Conn.Memory's Mapped, mean
}

func (f idleFigures) perConnKiB() float64 {
	return float64(f.RSSAfterK-f.RSSBeforeK) / float64(2*f.Conns)
}

// UDT_IDLE_CONNS connections each way (500; 10,000 and 100,000 in
// ./build.sh bench) held idle, each with a goroutine blocked in Read, in a
// child process: RSS per connection and idle CPU, next to a C++ program
// doing the same on the blocking API (compiled here from idlepairSource),
// so that what the binding adds is told apart from what UDT itself costs.
// UDT_IDLE_RCVBUF and UDT_IDLE_FC set RecvBuffer and FlowWindow.
func TestIdleConnsMemory(t *testing.T) {
	if os.Getenv(udtMemChild) != "" {
		idleChild(t)
		return
	}
	if testing.Short() {
		t.Skip("opens and holds connections in child processes")
	}
	n := testenv.EnvInt("UDT_IDLE_CONNS", 500)
	rcvbuf, fc := testenv.EnvInt("UDT_IDLE_RCVBUF", 0), testenv.EnvInt("UDT_IDLE_FC", 0)
	env := []string{fmt.Sprintf("UDT_IDLE_CONNS=%d", n), fmt.Sprintf("UDT_IDLE_RCVBUF=%d", rcvbuf), fmt.Sprintf("UDT_IDLE_FC=%d", fc)}
	var g idleFigures
	runChild(t, "TestIdleConnsMemory", env, &g)
	// The C++ program gets the UDT_FC this package would set, so that the
	// difference is the binding's own.
	c, err := runIdlePair(t, n, rcvbuf, (&Config{RecvBuffer: rcvbuf, FlowWindow: fc}).flowWindow())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		who string
		f   idleFigures
	}{{"Go", g}, {"C++", c}} {
		t.Logf("%s: %d conns each way (RecvBuffer %d, FlowWindow %d) up in %.1fs: RSS %d -> %d KiB, %.1f KiB per conn; C heap %.1f KiB per conn; idle CPU %.1f%% of a core",
			r.who, r.f.Conns, rcvbuf, fc, r.f.UpSeconds, r.f.RSSBeforeK, r.f.RSSAfterK, r.f.perConnKiB(), float64(r.f.HeapInUse)/1024/float64(2*r.f.Conns), 100*r.f.IdleCPU)
	}
	// ASan's allocator replaces glibc's: no mallinfo2 counts, and its own
	// redzones and quarantine.
	if testenv.ASan {
		return
	}
	// Conn.Memory's arithmetic matches what glibc counted: what it
	// allocated, less what the binding mapped outside the heap.
	measured := float64(g.HeapInUse) / float64(2*n)
	t.Logf("Conn.Memory estimates %d bytes per conn in the C heap (%d more mapped), glibc counted %.0f", g.Estimate, g.Mapped, measured)
	if e := float64(g.Estimate); e < 0.9*measured || e > 1.1*measured {
		t.Errorf("Conn.Memory estimates %.0f bytes per connection in the C heap, glibc counted %.0f", e, measured)
	}
	// The binding's own share: a pollDesc, a Conn and a parked reader per
	// connection, a few KiB next to UDT's buffers.
	// Measured: 9 KiB, 42 under -race.
	bound := 24.0
	if testenv.Race {
		bound = 96
	}
	if extra := g.perConnKiB() - c.perConnKiB(); extra > bound {
		t.Errorf("the binding adds %.1f KiB per connection to the C++ library's %.1f", extra, c.perConnKiB())
	}
}

func idleChild(t *testing.T) {
	n := testenv.EnvInt("UDT_IDLE_CONNS", 1000)
	cfg := Config{RecvBuffer: testenv.EnvInt("UDT_IDLE_RCVBUF", 0), FlowWindow: testenv.EnvInt("UDT_IDLE_FC", 0)}
	settleTrim()
	var f idleFigures
	f.Conns = n
	h0 := cudt.Heap()
	f.RSSBeforeK = testenv.StatusKB(t, "VmRSS:")
	lc := ListenConfig{Config: cfg, Backlog: 4096}
	l, err := lc.Listen(t.Context(), "udt", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	hold := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		readers.Go(func() {
			_, err := c.Read(make([]byte, 1))
			if !errors.Is(err, net.ErrClosed) && err != io.EOF {
				t.Errorf("blocked Read ended with %v", err)
			}
		})
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for i := 0; i < n; i++ {
			c, err := l.Accept()
			if err != nil {
				return // a dial failed and closed the listener
			}
			hold(c)
		}
	}()
	// Progress, for the long runs (the child's log shows with -test.v).
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	up := make(chan struct{})
	go func() {
		cpu0, t0 := testenv.CPUTime(t), time.Now()
		for {
			select {
			case <-up:
				return
			case <-progress.C:
				mu.Lock()
				got := len(conns)
				mu.Unlock()
				cpu1, t1 := testenv.CPUTime(t), time.Now()
				t.Logf("%d of %d conns up, RSS %d KiB, %.0f%% of a core", got, 2*n, testenv.StatusKB(t, "VmRSS:"), 100*(cpu1-cpu0).Seconds()/t1.Sub(t0).Seconds())
				cpu0, t0 = cpu1, t1
			}
		}
	}()
	start := time.Now()
	// A loaded machine delays handshakes: UDT's receive thread also runs
	// every connected socket's timers.
	d := Dialer{Config: cfg, Timeout: 30 * time.Second}
	var dialers sync.WaitGroup
	const workers = 8
	for w := range workers {
		dialers.Go(func() {
			for i := w; i < n; i += workers {
				c, err := d.Dial("udt", l.Addr().String())
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					l.Close() // the accepts would wait for it forever
					return
				}
				hold(c)
			}
		})
	}
	dialers.Wait()
	<-accepted
	close(up)
	f.UpSeconds = time.Since(start).Seconds()
	if t.Failed() {
		t.FailNow()
	}
	time.Sleep(time.Second) // every reader parked
	f.RSSAfterK = testenv.StatusKB(t, "VmRSS:")
	h1 := cudt.Heap()
	// Each connection's own: past the shim's cap on mappings (some 2,000
	// connections with the defaults) UDT builds the arrays in the C heap.
	var heap, mapped int64
	mu.Lock()
	for _, c := range conns {
		m, err := c.(*Conn).Memory()
		if err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
		heap += m.Allocated - m.Mapped
		mapped += m.Mapped
	}
	k := int64(len(conns))
	mu.Unlock()
	f.Estimate, f.Mapped = heap/k, mapped/k
	f.HeapInUse = h1.InUse + h1.Mmapped - h0.InUse - h0.Mmapped
	const idle = 5 * time.Second
	cpu0, t0 := testenv.CPUTime(t), time.Now()
	time.Sleep(idle)
	f.IdleSeconds = time.Since(t0).Seconds()
	f.IdleCPU = (testenv.CPUTime(t) - cpu0).Seconds() / f.IdleSeconds
	printFigures(f)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	l.Close()
	readers.Wait()
}

// runIdlePair compiles idlepairSource and runs it for n connections.
func runIdlePair(t *testing.T, n, rcvbuf, fc int) (idleFigures, error) {
	var f idleFigures
	dir := t.TempDir()
	src := filepath.Join(dir, "idlepair.cpp")
	if err := os.WriteFile(src, []byte(idlepairSource), 0o644); err != nil {
		return f, err
	}
	bin := filepath.Join(dir, "idlepair")
	args := append([]string{"-O2", "-Wall", "-I" + udt4.IncludeDir, "-o", bin, src}, strings.Fields(udt4.LDFlags)...)
	if out, err := exec.Command("g++", args...).CombinedOutput(); err != nil {
		return f, fmt.Errorf("compiling idlepair: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, fmt.Sprint(n), fmt.Sprint(rcvbuf), fmt.Sprint(fc), "5").Output()
	if err != nil {
		return f, fmt.Errorf("idlepair: %v\n%s", err, out)
	}
	_, err = fmt.Sscanf(string(out), "%d %d %d %f %f %f", &f.RSSBeforeK, &f.RSSAfterK, &f.HeapInUse, &f.UpSeconds, &f.IdleCPU, &f.IdleSeconds)
	f.Conns = n
	return f, err
}

// idlepairSource holds n connections each way idle on UDT's blocking API,
// a listener and one shared dial port as the binding has, and prints RSS
// before and after in KiB, the C heap bytes they added, the seconds to
// open them, and the cores busy over the idle seconds.
const idlepairSource = `
#include <udt.h>
#include <arpa/inet.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <thread>
#include <vector>
#include <atomic>
#include <unistd.h>

static long rss_kib() {
	FILE* f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
	fclose(f);
	return v;
}

static double now() {
	timeval tv;
	gettimeofday(&tv, 0);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static double cpu() {
	rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void opts(UDTSOCKET s, int rcvbuf, int fc) {
	if (fc > 0) UDT::setsockopt(s, 0, UDT_FC, &fc, sizeof fc);
	if (rcvbuf > 0) UDT::setsockopt(s, 0, UDT_RCVBUF, &rcvbuf, sizeof rcvbuf);
}

static void die(const char* what) {
	fprintf(stderr, "%s: %s\n", what, UDT::getlasterror().getErrorMessage());
	exit(1);
}

int main(int argc, char** argv) {
	int n = atoi(argv[1]), rcvbuf = atoi(argv[2]), fc = atoi(argv[3]);
	double idle = atof(argv[4]);
	UDT::startup();
	sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	UDTSOCKET l = UDT::socket(AF_INET, SOCK_STREAM, 0);
	opts(l, rcvbuf, fc);
	if (UDT::bind(l, (sockaddr*)&a, sizeof a) == UDT::ERROR) die("bind");
	if (UDT::listen(l, 4096) == UDT::ERROR) die("listen");
	sockaddr_in la;
	int len = sizeof la;
	UDT::getsockname(l, (sockaddr*)&la, &len);
	// The first client's port is every client's.
	UDTSOCKET first = UDT::socket(AF_INET, SOCK_STREAM, 0);
	opts(first, rcvbuf, fc);
	if (UDT::bind(first, (sockaddr*)&a, sizeof a) == UDT::ERROR) die("bind client");
	sockaddr_in ca;
	len = sizeof ca;
	UDT::getsockname(first, (sockaddr*)&ca, &len);
	malloc_trim(0);
	long rss0 = rss_kib();
	struct mallinfo2 m0 = mallinfo2();
	double t0 = now();
	std::vector<UDTSOCKET> conns(2 * n);
	std::thread acceptor([&] {
		for (int i = 0; i < n; i++) {
			UDTSOCKET s = UDT::accept(l, 0, 0);
			if (s == UDT::INVALID_SOCK) die("accept");
			conns[n + i] = s;
		}
	});
	std::vector<std::thread> dialers;
	const int workers = 8;
	for (int w = 0; w < workers; w++) {
		dialers.emplace_back([&, w] {
			for (int i = w; i < n; i += workers) {
				UDTSOCKET s = i == 0 ? first : UDT::socket(AF_INET, SOCK_STREAM, 0);
				if (i != 0) {
					opts(s, rcvbuf, fc);
					if (UDT::bind(s, (sockaddr*)&ca, sizeof ca) == UDT::ERROR) die("bind shared");
				}
				if (UDT::connect(s, (sockaddr*)&la, sizeof la) == UDT::ERROR) die("connect");
				conns[i] = s;
			}
		});
	}
	for (auto& d : dialers) d.join();
	acceptor.join();
	double up = now() - t0;
	sleep(1);
	long rss1 = rss_kib();
	struct mallinfo2 m1 = mallinfo2();
	double c0 = cpu(), i0 = now();
	usleep((useconds_t)(idle * 1e6));
	double busy = cpu() - c0, idled = now() - i0;
	printf("%ld %ld %lld %.3f %.4f %.3f\n", rss0, rss1,
		(long long)(m1.uordblks + m1.hblkhd) - (long long)(m0.uordblks + m0.hblkhd), up, busy / idled, idled);
	fflush(stdout);
	_exit(0); // closing 2n sockets with linger is not what is measured
}
`

// The default UDT_FC is the receive buffer's packets: the window each side
// offers the other (the smaller of the two) is what it was with UDT's
// 25,600, only the receive loss list is smaller.
func TestDefaultFlowWindowIsReceiveBuffer(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		fc     int // this side's UDT_FC
		window int // the flow window the peer granted
	}{
		{Config{}, 8192, 8192},
		{Config{RecvBuffer: 1 << 20}, (1 << 20) / 1472, (1 << 20) / 1472},
		{Config{RecvBuffer: 1 << 20, MSS: 9000}, (1 << 20) / 8972, (1 << 20) / 8972},
		{Config{RecvBuffer: 1000}, 32, 32},           // UDT's floor
		{Config{RecvBuffer: 64 << 20}, 25600, 25600}, // UDT_FC's default caps it, as before
		{Config{FlowWindow: 4096}, 4096, 4096},       // the buffer is capped at 4,096
		{Config{FlowWindow: 20000, RecvBuffer: 0}, 20000, 8192},
	} {
		if got := tc.cfg.flowWindow(); got != tc.fc {
			t.Errorf("%+v: flowWindow %d, want %d", tc.cfg, got, tc.fc)
		}
		c, s := connPair(t, tc.cfg)
		for _, end := range []*Conn{c, s} {
			fc, err := end.fd.pd.s.FlowWindow()
			if err != nil || fc != tc.fc {
				t.Errorf("%+v: UDT_FC %d (%v), want %d", tc.cfg, fc, err, tc.fc)
			}
			p, err := end.Stats()
			if err != nil || p.FlowWindow != tc.window {
				t.Errorf("%+v: flow window %d (%v), want %d", tc.cfg, p.FlowWindow, err, tc.window)
			}
		}
		c.Close()
		s.Close()
	}
}

// The heap trim runs on timers only: once every socket is closed and the
// quiet period passed, no goroutine of it is left.
func TestTrimLeavesNoGoroutine(t *testing.T) {
	c, s := connPair(t, Config{})
	c.Close()
	s.Close()
	waitFor(t, "the checks to stop", func() bool { return !theTrim.Pending() })
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "heaptrim.(*Trimmer)") {
		t.Errorf("a trim goroutine is left:\n%s", stacks)
	}
}

func TestSetHeapPolicyRefusesBadValues(t *testing.T) {
	for _, p := range []HeapPolicy{{ArenaMax: -1}, {MmapThreshold: -1}, {MmapThreshold: 64 << 20}} {
		if err := SetHeapPolicy(p); err == nil || !strings.Contains(err.Error(), "HeapPolicy.") {
			t.Errorf("SetHeapPolicy(%+v): %v, want an error naming the field", p, err)
		}
	}
}

// The memory file behind the setup arrays of -1 (cudt/prefault.h) is
// close-on-exec: a child process inherits it no more than a socket.
func TestChildInheritsNoMemoryFile(t *testing.T) {
	t.Parallel()
	c, s := connPair(t, Config{}) // default sizes: its loss lists map the file
	defer c.Close()
	defer s.Close()
	own, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, e := range own {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(l, "udt-loss-lists") {
			mine++
		}
	}
	if mine != 1 {
		t.Fatalf("this process has %d descriptors of the memory file, want 1", mine)
	}
	out, err := exec.Command("sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; true`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "udt-loss-lists") {
		t.Fatalf("a child inherited the memory file:\n%s", out)
	}
}
