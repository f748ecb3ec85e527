package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
	"go.uber.org/goleak"
)

// bin is the udt binary under test, built once by TestMain, with the race
// detector or AddressSanitizer when the tests have it.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "udt-cli-*")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "udt")
	args := []string{"build", "-o", bin}
	if testenv.Race {
		args = append(args, "-race")
	}
	if testenv.ASan {
		args = append(args, "-asan")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building udt: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	udt4.RemoveSharedPeers()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// result is a finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// udtRun runs the binary to the end, within a minute.
func udtRun(t testing.TB, dir string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("udt %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("udt %s did not finish in a minute; stderr:\n%s", strings.Join(args, " "), r.stderr)
	}
	checkNoPanic(t, r.stderr)
	return r
}

func checkNoPanic(t testing.TB, stderr string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "WARNING: DATA RACE", "fatal error"} {
		if strings.Contains(stderr, bad) {
			t.Fatalf("stderr has %q:\n%s", bad, stderr)
		}
	}
}

// bg is a udt process left running, e.g. a server.
type bg struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	lines  chan string
	done   chan struct{}
	code   int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// udtStart starts the binary; stderr lines arrive on lines, and the test's
// end kills it if it is still running.
func udtStart(t testing.TB, dir string, stdout io.Writer, args ...string) *bg {
	t.Helper()
	return udtStartIn(t, dir, nil, stdout, args...)
}

// udtStartIn is udtStart with stdin.
func udtStartIn(t testing.TB, dir string, stdin io.Reader, stdout io.Writer, args ...string) *bg {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	pr, pw := io.Pipe()
	p := &bg{cmd: cmd, stderr: &lockedBuffer{}, lines: make(chan string, 1000), done: make(chan struct{})}
	// The buffer first: a test that has seen a line on lines may look for
	// it in stderr at once.
	cmd.Stderr = io.MultiWriter(p.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		checkNoPanic(t, p.stderr.String())
	})
	return p
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (p *bg) waitLine(t testing.TB, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-p.done:
			t.Fatalf("udt exited (%d) before printing /%s/; stderr:\n%s", p.code, re, p.stderr.String())
		case <-deadline:
			t.Fatalf("no line /%s/ in 30 s; stderr:\n%s", re, p.stderr.String())
		}
	}
}

func (p *bg) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(time.Minute):
		t.Fatalf("udt did not exit in a minute; stderr:\n%s", p.stderr.String())
		return -1
	}
}

// serve starts `udt serve dir` on a free loopback port and returns the
// address.
func serve(t testing.TB, dir string, flags ...string) (string, *bg) {
	t.Helper()
	p := udtStart(t, dir, io.Discard, append(append([]string{"serve"}, flags...), ".", "127.0.0.1:0")...)
	m := p.waitLine(t, `on UDT (127\.0\.0\.1:\d+)`)
	return m[1], p
}

func writeRandom(t testing.TB, path string, size int64, seed uint64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func fileSum(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func TestHelpAndUsage(t *testing.T) {
	dir := t.TempDir()
	r := udtRun(t, dir, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "perf") || !strings.Contains(r.stdout, "serve") || !strings.Contains(r.stdout, "examples") {
		t.Fatalf("udt --help: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, sub := range []string{"perf", "serve", "get", "cat"} {
		r := udtRun(t, dir, nil, sub, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "usage: udt "+sub) || !strings.Contains(r.stdout, "examples:") || !strings.Contains(r.stdout, "flags:") {
			t.Errorf("udt %s --help: exit %d\n%s%s", sub, r.code, r.stdout, r.stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: udt <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"get"}, 2, "want HOST:PORT, REMOTE"},
		{[]string{"get", "--bogus", "a:1", "f"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"get", "--sha256", "xyz", "a:1", "f"}, 2, "want 64 hex digits"},
		{[]string{"perf"}, 2, "pick one of -s"},
		{[]string{"perf", "-c", "a:1", "-P", "0"}, 2, "-P 0"},
		{[]string{"perf", "--loopback", "-t", "-3"}, 2, "duration from 1ms"},
		{[]string{"perf", "--loopback", "-i", "1e-10"}, 2, "duration from 1ms"},
		{[]string{"perf", "--loopback", "-i", "1ms"}, 2, "at least 10ms"},
		{[]string{"perf", "--loopback", "--len", "100M"}, 2, "want 1 byte to 64M"},
		{[]string{"perf", "--loopback", "--mss", "100000"}, 2, "want 76 to 65535"},
		{[]string{"perf", "--loopback", "--bw", "1"}, 2, "at least 8 bit/s"},
		{[]string{"serve", ".", "99999"}, 2, "port 99999"},
		{[]string{"get", "a:1", strings.Repeat("n", 1000)}, 2, "the request format holds at most"},
		{[]string{"perf", "--loopback", "--vs", "sctp"}, 2, "only other protocol is tcp"},
		{[]string{"perf", "--loopback", "--sndbuf", "lots"}, 2, "byte count"},
		{[]string{"serve"}, 2, "want DIR"},
		{[]string{"serve", "/nonexistent/dir"}, 1, "no such file or directory"},
		{[]string{"serve", "/etc/hostname"}, 1, "not a directory"},
		{[]string{"cat"}, 2, "want HOST:PORT"},
		{[]string{"get", "no-port-here", "f"}, 1, "missing port in address"},
		{[]string{"get", "127.0.0.1:99999", "f"}, 1, "invalid port"},
		{[]string{"cat", "host.invalid:9000"}, 1, "host.invalid"},
	} {
		r := udtRun(t, dir, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("udt %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
		// Errors go to stderr alone: stdout may be a --json consumer.
		if r.stdout != "" {
			t.Errorf("udt %s: an error wrote to stdout:\n%s", strings.Join(tc.args, " "), r.stdout)
		}
	}
}

// A dial that nobody answers names the address, says that no UDT server
// answered and what to check, after the default timeout of UDT's own
// connect. The "server" is a UDP socket of the test's that never answers,
// so no other program can take its port meanwhile.
func TestDialNothingFailsCleanly(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		args   []string
		server string
	}{
		{[]string{"get", addr, "f"}, "udt serve"},
		{[]string{"cat", "--timeout", "1s", addr}, "udt cat -l"},
		{[]string{"perf", "--timeout", "1s", "-c", addr, "-t", "1"}, "udt perf -s"},
	} {
		r := udtRun(t, t.TempDir(), nil, tc.args...)
		for _, want := range []string{
			"no UDT server answered at " + addr,
			"ENOSERVER",
			"hint: is '" + tc.server + "' running there? Does UDP get through to port " + port,
		} {
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("udt %s: exit %d, stderr:\n%s\nwant exit 1 and %q", strings.Join(tc.args, " "), r.code, r.stderr, want)
			}
		}
	}
	// The default wait is UDT's own connect timeout, not 10 s.
	for _, sub := range []string{"get", "cat", "perf"} {
		r := udtRun(t, t.TempDir(), nil, sub, "--help")
		if want := fmt.Sprintf("(default %v)", dialTimeout); !regexp.MustCompile(`-timeout duration\n.*\Q` + want + `\E`).MatchString(r.stdout) {
			t.Errorf("udt %s --help: no --timeout %s:\n%s", sub, want, r.stdout)
		}
	}
}

func TestPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	for _, args := range [][]string{{"serve", ".", addr}, {"perf", "-s", addr}, {"cat", "-l", addr}} {
		r := udtRun(t, t.TempDir(), nil, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "address already in use") {
			t.Errorf("udt %s on a taken port: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

func TestPerfLoopbackJSON(t *testing.T) {
	r := udtRun(t, t.TempDir(), nil, "perf", "--loopback", "-t", "1.5", "-i", "0.5", "-P", "2", "--vs", "tcp", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var doc struct {
		Runs     []perfResult   `json:"runs"`
		UDTvsTCP float64        `json:"udt_vs_tcp"`
		Memory   map[string]any `json:"process_memory"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	// UDT's memory per connection, with the default sizes, and the
	// process's: the figures a user sizes buffers by.
	if m := doc.Runs[0].Memory; m == nil || m.RecvBufferPackets != 8192 || m.FlowWindow != 8192 || m.Allocated < 400<<10 || m.Written > m.Allocated {
		t.Errorf("udt run's conn_memory: %+v", doc.Runs[0].Memory)
	}
	if doc.Runs[1].Memory != nil {
		t.Errorf("tcp run has UDT's conn_memory: %+v", doc.Runs[1].Memory)
	}
	// The sender's packet-pair estimate of the link: UDT's alone.
	if doc.Runs[0].Sender.LinkMbps <= 0 || doc.Runs[1].Sender.LinkMbps != 0 {
		t.Errorf("link estimates: udt %v, tcp %v Mbit/s", doc.Runs[0].Sender.LinkMbps, doc.Runs[1].Sender.LinkMbps)
	}
	if v, ok := doc.Memory["rss_peak_kib"].(float64); !ok || v <= 0 || doc.Memory["c_heap_in_use_bytes"] == nil {
		t.Errorf("process_memory: %v", doc.Memory)
	}
	if len(doc.Runs) != 2 || doc.Runs[0].Protocol != "udt" || doc.Runs[1].Protocol != "tcp" {
		t.Fatalf("runs: %+v", doc.Runs)
	}
	for _, run := range doc.Runs {
		if run.Sender.Bytes == 0 || run.Receiver.Bytes != run.Sender.Bytes {
			t.Errorf("%s: sender wrote %d bytes, receiver read %d", run.Protocol, run.Sender.Bytes, run.Receiver.Bytes)
		}
		if run.Receiver.Mbps <= 0 || run.Streams != 2 {
			t.Errorf("%s: %+v", run.Protocol, run)
		}
		// Intervals: per stream and a sum, adding up to what was sent.
		var perStream, sums int64
		streams := map[int]bool{}
		for _, iv := range run.Intervals {
			streams[iv.Stream] = true
			if iv.Stream == 0 {
				sums += iv.Bytes
			} else {
				perStream += iv.Bytes
			}
		}
		if !streams[0] || !streams[1] || !streams[2] || perStream != sums || perStream != run.Sender.Bytes {
			t.Errorf("%s: intervals of streams %v add up to %d (sums %d), sender wrote %d", run.Protocol, streams, perStream, sums, run.Sender.Bytes)
		}
		checkIntervals(t, run.Intervals, run.Sender.StreamBytes, 500*time.Millisecond, 1500*time.Millisecond, true)
	}
	if doc.UDTvsTCP <= 0 {
		t.Errorf("udt_vs_tcp = %v", doc.UDTvsTCP)
	}
	var udtStats bool
	for _, iv := range doc.Runs[0].Intervals {
		if iv.RTTms > 0 && iv.Cwnd > 0 && iv.PeriodUs > 0 && iv.ACK > 0 {
			udtStats = true
		}
	}
	if !udtStats {
		t.Errorf("no UDT interval has RTT, window, period and ACKs: %+v", doc.Runs[0].Intervals)
	}
}

// With -R the client's lines count what each stream received: each
// stream's own bytes, adding up to its total, with no sliver at the end.
// (Two UDT streams do move in step, byte for byte in most intervals: see
// sharedPortNote. The text output says so.)
func TestPerfReverseStreams(t *testing.T) {
	r := udtRun(t, t.TempDir(), nil, "perf", "--loopback", "-R", "-P", "2", "-t", "1", "-i", "0.25", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var doc struct{ Runs []perfResult }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("output: %v\n%s", err, r.stdout)
	}
	run := doc.Runs[0]
	if len(run.Receiver.StreamBytes) != 2 || !slices.Equal(run.Receiver.StreamBytes, run.Sender.StreamBytes) {
		t.Fatalf("per stream: sender %v, receiver %v", run.Sender.StreamBytes, run.Receiver.StreamBytes)
	}
	// The far end sent: its estimate comes in its end message.
	if run.Sender.LinkMbps <= 0 {
		t.Errorf("reverse run: the sender's link estimate is %v Mbit/s", run.Sender.LinkMbps)
	}
	checkIntervals(t, run.Intervals, run.Receiver.StreamBytes, 250*time.Millisecond, time.Second, false)
	r = udtRun(t, t.TempDir(), nil, "perf", "--loopback", "-P", "2", "-t", "0.3", "-i", "0.1")
	if r.code != 0 || !strings.Contains(r.stdout, sharedPortNote) {
		t.Fatalf("udt perf -P 2: exit %d, no note on the shared port:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPerfServerReverse(t *testing.T) {
	var out lockedBuffer
	srv := udtStart(t, t.TempDir(), &out, "perf", "-s", "127.0.0.1:0", "-1")
	addr := srv.waitLine(t, `serving on UDT (127\.0\.0\.1:\d+) and TCP`)[1]
	r := udtRun(t, t.TempDir(), nil, "perf", "-c", addr, "-R", "-t", "1", "--json")
	if r.code != 0 {
		t.Fatalf("client: exit %d\n%s", r.code, r.stderr)
	}
	var doc struct{ Runs []perfResult }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("client output: %v\n%s", err, r.stdout)
	}
	run := doc.Runs[0]
	if !run.Reverse || run.Sender.Bytes == 0 || run.Sender.Bytes != run.Receiver.Bytes {
		t.Fatalf("reverse run: %+v", run)
	}
	if code := srv.wait(t); code != 0 {
		t.Fatalf("server with -1: exit %d\n%s", code, srv.stderr.String())
	}
	want := fmt.Sprintf("sent %s", mib(run.Sender.Bytes))
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "server → client") {
		t.Fatalf("server summary %q lacks %q", out.String(), want)
	}
}

func TestPerfInterrupted(t *testing.T) {
	var out lockedBuffer
	p := udtStart(t, t.TempDir(), &out, "perf", "--loopback", "-t", "60", "-i", "0.2")
	// Wait for a few interval lines, so there is something to sum up.
	for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Mbit/s") < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no interval lines in 30 s:\n%s\n%s", out.String(), p.stderr.String())
		}
	}
	p.cmd.Process.Signal(os.Interrupt)
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d after Ctrl-C, want %d\n%s", code, exitInterrupted, p.stderr.String())
	}
	if !strings.Contains(out.String(), "udt  sender") || !strings.Contains(out.String(), "(interrupted)") {
		t.Fatalf("no summary after Ctrl-C:\n%s", out.String())
	}
	if !strings.Contains(p.stderr.String(), "udt perf: interrupted") {
		t.Fatalf("stderr: %s", p.stderr.String())
	}
}

// Servers stop on SIGINT or SIGTERM with exit 0: that is how they end.
func TestServersStopCleanly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		sig  os.Signal
		line string
	}{
		{[]string{"serve", ".", "127.0.0.1:0"}, os.Interrupt, "on UDT"},
		{[]string{"serve", ".", "127.0.0.1:0"}, syscall.SIGTERM, "on UDT"},
		{[]string{"perf", "-s", "127.0.0.1:0"}, os.Interrupt, "serving on"},
	} {
		p := udtStart(t, t.TempDir(), io.Discard, tc.args...)
		p.waitLine(t, tc.line)
		p.cmd.Process.Signal(tc.sig)
		if code := p.wait(t); code != 0 || !strings.Contains(p.stderr.String(), "stopped") {
			t.Errorf("udt %s after %v: exit %d\n%s", strings.Join(tc.args, " "), tc.sig, code, p.stderr.String())
		}
	}
}

func TestServeGet(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "sub"), 0o755)
	sums := map[string][]byte{
		"big.bin":      writeRandom(t, filepath.Join(root, "big.bin"), 24<<20+13, 1),
		"empty":        writeRandom(t, filepath.Join(root, "empty"), 0, 2),
		"sub/odd.bin":  writeRandom(t, filepath.Join(root, "sub", "odd.bin"), 7, 3),
		"sub/one.bin":  writeRandom(t, filepath.Join(root, "sub", "one.bin"), 1<<20, 4),
		"with space.b": writeRandom(t, filepath.Join(root, "with space.b"), 1000, 5),
	}
	// A FIFO would block the server's open until someone writes to it.
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	writeRandom(t, filepath.Join(outside, "secret"), 100, 6)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "escape"))
	os.Symlink("sub/odd.bin", filepath.Join(root, "inside-link"))
	addr, srv := serve(t, root)

	dl := t.TempDir()
	for name, sum := range sums {
		r := udtRun(t, dl, nil, "get", "--verify", addr, name, "out-"+filepath.Base(name))
		if r.code != 0 || !strings.Contains(r.stderr, hex.EncodeToString(sum)+" ok") {
			t.Fatalf("get %s: exit %d\n%s", name, r.code, r.stderr)
		}
		if got := fileSum(t, filepath.Join(dl, "out-"+filepath.Base(name))); !bytes.Equal(got, sum) {
			t.Fatalf("%s arrived with sha256 %x, want %x", name, got, sum)
		}
	}
	// A symbolic link that stays inside is followed; --sha256 checks a
	// known digest.
	r := udtRun(t, dl, nil, "get", "--sha256", hex.EncodeToString(sums["sub/odd.bin"]), addr, "inside-link")
	if r.code != 0 {
		t.Fatalf("get inside-link: %d\n%s", r.code, r.stderr)
	}
	r = udtRun(t, dl, nil, "get", "--sha256", hex.EncodeToString(sums["empty"]), addr, "sub/odd.bin", "wrong")
	if r.code != 1 || !strings.Contains(r.stderr, "sha256 mismatch") {
		t.Fatalf("get with a wrong --sha256: exit %d\n%s", r.code, r.stderr)
	}

	for name, why := range map[string]string{
		"../etc/passwd":           `".." element`,
		"sub/../../etc/passwd":    `".." element`,
		"/etc/passwd":             "absolute path",
		"escape":                  "path leaves the served directory",
		"missing.bin":             "no such file",
		"sub":                     "not a regular file",
		"pipe":                    "not a regular file",
		"sub\\..\\..\\etc\\hosts": "backslash",
	} {
		r := udtRun(t, dl, nil, "get", addr, name, "refused")
		if r.code != 1 || !strings.Contains(r.stderr, "the server refused") || !strings.Contains(r.stderr, why) {
			t.Errorf("get %q: exit %d, stderr:\n%s\nwant a refusal naming %q", name, r.code, r.stderr, why)
		}
	}
	if _, err := os.Stat(filepath.Join(dl, "refused")); err == nil {
		t.Errorf("a refused get created its local file")
	}
	if s := srv.stderr.String(); !strings.Contains(s, `refused "escape"`) {
		t.Errorf("the server did not log the refusal:\n%s", s)
	}
}

func TestServeManyClients(t *testing.T) {
	root := t.TempDir()
	sum := writeRandom(t, filepath.Join(root, "f.bin"), 6<<20+1, 7)
	addr, _ := serve(t, root)
	dl := t.TempDir()
	const clients = 8
	var wg sync.WaitGroup
	results := make([]result, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = udtRun(t, dl, nil, "get", "-q", addr, "f.bin", fmt.Sprintf("copy%d", i))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("client %d: exit %d\n%s", i, r.code, r.stderr)
		}
		if got := fileSum(t, filepath.Join(dl, fmt.Sprintf("copy%d", i))); !bytes.Equal(got, sum) {
			t.Fatalf("client %d got sha256 %x", i, got)
		}
	}
}

// A download cut short by Ctrl-C leaves a partial file that -c completes,
// and -c on a partial file fetches only the rest.
func TestGetResume(t *testing.T) {
	root := t.TempDir()
	const size = 96 << 20
	sum := writeRandom(t, filepath.Join(root, "f.bin"), size, 8)
	// 80 Mbit/s: about 10 s for the file, so Ctrl-C lands mid-transfer.
	addr, _ := serve(t, root, "--bw", "80M")
	dl := t.TempDir()
	local := filepath.Join(dl, "f.bin")

	p := udtStart(t, dl, io.Discard, "get", addr, "f.bin")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st, err := os.Stat(local); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data arrived in 30 s:\n%s", p.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.cmd.Process.Signal(os.Interrupt)
	code := p.wait(t)
	st, err := os.Stat(local)
	if err != nil {
		t.Fatal(err)
	}
	if code != exitInterrupted || !strings.Contains(p.stderr.String(), "interrupted") {
		t.Fatalf("get after Ctrl-C: exit %d\n%s", code, p.stderr.String())
	}
	if st.Size() >= size {
		t.Fatalf("interrupted, but the file has %d bytes", st.Size())
	}
	// The rest at full speed, from a second server on the same directory.
	addr, srv := serve(t, root)
	r := udtRun(t, dl, nil, "get", "-c", "--verify", addr, "f.bin")
	if r.code != 0 || !strings.Contains(r.stderr, "resumed at") {
		t.Fatalf("get -c: exit %d\n%s", r.code, r.stderr)
	}
	if got := fileSum(t, local); !bytes.Equal(got, sum) {
		t.Fatalf("resumed file has sha256 %x, want %x", got, sum)
	}
	want := fmt.Sprintf("from offset %d", st.Size())
	if !strings.Contains(srv.stderr.String(), want) {
		t.Fatalf("the server did not send %s:\n%s", want, srv.stderr.String())
	}
	// Resuming a whole file fetches nothing and still verifies.
	r = udtRun(t, dl, nil, "get", "-c", "--verify", addr, "f.bin")
	if r.code != 0 || !strings.Contains(r.stderr, "0 B in") {
		t.Fatalf("get -c of a complete file: exit %d\n%s", r.code, r.stderr)
	}
	// A local file longer than the remote one is not "resumed".
	f, _ := os.OpenFile(local, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("extra"))
	f.Close()
	r = udtRun(t, dl, nil, "get", "-c", addr, "f.bin")
	if r.code != 1 || !strings.Contains(r.stderr, "more than the remote file") {
		t.Fatalf("get -c of a longer file: exit %d\n%s", r.code, r.stderr)
	}
}

// A server that dies mid-transfer: get fails with the way to resume.
func TestGetServerGone(t *testing.T) {
	root := t.TempDir()
	writeRandom(t, filepath.Join(root, "f.bin"), 128<<20, 9)
	// 80 Mbit/s: the download would take 13 s, so it is mid-way at the kill.
	addr, srv := serve(t, root, "--bw", "80M")
	dl := t.TempDir()
	p := udtStart(t, dl, io.Discard, "get", "--stall", "2s", addr, "f.bin")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st, err := os.Stat(filepath.Join(dl, "f.bin")); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no data in 30 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	code := p.wait(t)
	if code != 1 || !strings.Contains(p.stderr.String(), "nothing arrived for 2s (run again with -c to resume)") {
		t.Fatalf("get from a killed server: exit %d\n%s", code, p.stderr.String())
	}
}

// startSendfile runs the upstream sendfile in dir on a UDP port the kernel
// picks, and returns its loopback address once it is ready.
//
// sendfile takes the port on its command line and refuses "0" (it checks
// the argument with atoi), but glibc's getaddrinfo takes a numeric service
// modulo 2^16, so "65536" binds port 0; the port is then read back from
// /proc. A port found free beforehand could be taken by another program
// before sendfile binds it.
func startSendfile(t testing.TB, dir, prog string) string {
	t.Helper()
	cmd := exec.Command(prog, "65536")
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sendfile said:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "server is ready"); time.Sleep(5 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("sendfile 65536 exited without getting ready:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendfile not ready in 30 s:\n%s", out.String())
		}
	}
	port, err := udpPortOf(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("sendfile's port: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// udpPortOf finds the local port of the one UDP socket process pid holds,
// from its descriptors and /proc/PID/net/udp{,6}.
func udpPortOf(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return 0, err
		}
		// "sl local_address rem_address st ... uid timeout inode ...",
		// the local address as HEXADDR:HEXPORT.
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/net/%s: %q: %v", pid, table, line, err)
			}
			ports = append(ports, int(p))
		}
	}
	if len(ports) != 1 {
		return 0, fmt.Errorf("process %d holds %d UDP sockets (ports %v), want one", pid, len(ports), ports)
	}
	return ports[0], nil
}

// The upstream sendfile serves `udt get`: plain requests and extended
// ones alike (it never sees the extension), whole files only.
func TestGetFromUpstreamSendfile(t *testing.T) {
	pp, err := udt4.SharedPeers()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	sum := writeRandom(t, filepath.Join(root, "f.bin"), 20<<20+5, 10)
	tiny := writeRandom(t, filepath.Join(root, "tiny"), 3, 11)
	addr := startSendfile(t, root, pp.SendFile)
	dl := t.TempDir()
	r := udtRun(t, dl, nil, "get", "--sha256", hex.EncodeToString(sum), addr, "f.bin")
	if r.code != 0 {
		t.Fatalf("get from upstream sendfile: exit %d\n%s", r.code, r.stderr)
	}
	if got := fileSum(t, filepath.Join(dl, "f.bin")); !bytes.Equal(got, sum) {
		t.Fatalf("sha256 %x, want %x", got, sum)
	}
	// A file shorter than our reply's marker.
	r = udtRun(t, dl, nil, "get", "--sha256", hex.EncodeToString(tiny), addr, "tiny")
	if r.code != 0 {
		t.Fatalf("get tiny: exit %d\n%s", r.code, r.stderr)
	}
	// -c: sendfile cannot resume, so the whole file comes again.
	os.Truncate(filepath.Join(dl, "f.bin"), 1000)
	r = udtRun(t, dl, nil, "get", "-c", addr, "f.bin")
	if r.code != 0 || !strings.Contains(r.stderr, "does not resume") {
		t.Fatalf("get -c from upstream sendfile: exit %d\n%s", r.code, r.stderr)
	}
	if got := fileSum(t, filepath.Join(dl, "f.bin")); !bytes.Equal(got, sum) {
		t.Fatalf("after -c: sha256 %x, want %x", got, sum)
	}
	r = udtRun(t, dl, nil, "get", "--verify", addr, "f.bin", "v")
	if r.code != 1 || !strings.Contains(r.stderr, "sends no digest") {
		t.Fatalf("get --verify from upstream sendfile: exit %d\n%s", r.code, r.stderr)
	}
	r = udtRun(t, dl, nil, "get", addr, "missing")
	if r.code != 1 || !strings.Contains(r.stderr, `no file "missing"`) {
		t.Fatalf("get of a missing file from upstream sendfile: exit %d\n%s", r.code, r.stderr)
	}
}

// The upstream recvfile fetches from `udt serve`.
func TestUpstreamRecvfileFromServe(t *testing.T) {
	pp, err := udt4.SharedPeers()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	sum := writeRandom(t, filepath.Join(root, "d", "f.bin"), 20<<20+7, 12)
	addr, _ := serve(t, root)
	host, port, _ := net.SplitHostPort(addr)
	dl := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, pp.RecvFile, host, port, "d/f.bin", filepath.Join(dl, "got")).CombinedOutput()
	if err != nil {
		t.Fatalf("recvfile: %v\n%s", err, out)
	}
	if got := fileSum(t, filepath.Join(dl, "got")); !bytes.Equal(got, sum) {
		t.Fatalf("recvfile got sha256 %x, want %x", got, sum)
	}
	// A refused name is "no such file" to recvfile, which cannot hear more.
	out, _ = exec.CommandContext(ctx, pp.RecvFile, host, port, "../d/f.bin", filepath.Join(dl, "no")).CombinedOutput()
	if !strings.Contains(string(out), "no such file") {
		t.Fatalf("recvfile of ../d/f.bin said:\n%s", out)
	}
}

func TestCat(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rand.NewChaCha8([32]byte{13}).Read(data)
	for _, dir := range []string{"to listener", "from listener"} {
		t.Run(dir, func(t *testing.T) {
			var lout lockedBuffer
			var lin io.Reader
			if dir == "from listener" {
				lin = bytes.NewReader(data)
			}
			p := udtStartIn(t, t.TempDir(), lin, &lout, "cat", "-l", "127.0.0.1:0")
			addr := p.waitLine(t, `listening on (127\.0\.0\.1:\d+)`)[1]
			var in io.Reader
			if dir == "to listener" {
				in = bytes.NewReader(data)
			}
			r := udtRun(t, t.TempDir(), in, "cat", addr)
			if r.code != 0 {
				t.Fatalf("cat %s: exit %d\n%s", addr, r.code, r.stderr)
			}
			if code := p.wait(t); code != 0 {
				t.Fatalf("cat -l: exit %d\n%s", code, p.stderr.String())
			}
			got := []byte(r.stdout)
			if dir == "to listener" {
				got = []byte(lout.String())
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("%d bytes arrived, want %d, or they differ", len(got), len(data))
			}
		})
	}
}

// A peer that accepts and never answers does not hold get for ever.
func TestGetFromSilentPeer(t *testing.T) {
	// udt cat -l with no stdin only listens: a silent "server".
	p := udtStart(t, t.TempDir(), io.Discard, "cat", "-l", "127.0.0.1:0")
	addr := p.waitLine(t, `listening on (127\.0\.0\.1:\d+)`)[1]
	r := udtRun(t, t.TempDir(), nil, "get", "--stall", "1s", addr, "f")
	if r.code != 1 || !strings.Contains(r.stderr, "no reply in 1s") {
		t.Fatalf("get from a silent peer: exit %d\n%s", r.code, r.stderr)
	}
}

// A client that takes nothing is dropped after --stall, and --max-clients
// turns the extra client away with a reason.
func TestServeLimits(t *testing.T) {
	root := t.TempDir()
	writeRandom(t, filepath.Join(root, "f.bin"), 64<<20, 15)
	// 80 Mbit/s: the first client is still downloading when it is stopped.
	addr, srv := serve(t, root, "--stall", "1s", "--max-clients", "1", "--bw", "80M")
	// A client that asks and never reads: udt cat sends the request and
	// stops reading once stdout blocks. A raw one is simpler: a get that
	// is SIGSTOPped.
	stuckDir := t.TempDir()
	stuck := udtStart(t, stuckDir, io.Discard, "get", "-q", addr, "f.bin")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, err := os.Stat(filepath.Join(stuckDir, "f.bin")); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first client got no data in 30 s")
		}
	}
	stuck.cmd.Process.Signal(syscall.SIGSTOP)
	defer stuck.cmd.Process.Signal(syscall.SIGCONT)
	// While it holds the only slot, the next is refused.
	r := udtRun(t, t.TempDir(), nil, "get", addr, "f.bin")
	busy := r.code == 1 && strings.Contains(r.stderr, "busy: 1 clients already")
	srv.waitLine(t, `"f.bin": stopped after .*took nothing for 1s`)
	if !busy {
		t.Fatalf("a second client while the only slot was taken: exit %d\n%s", r.code, r.stderr)
	}
	// The slot is free again.
	r = udtRun(t, t.TempDir(), nil, "get", "-q", addr, "sub/none")
	if r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("get after the stuck client was dropped: exit %d\n%s", r.code, r.stderr)
	}
}

// Both ends send: with -q each keeps receiving after its own EOF, so
// neither loses the other's data.
func TestCatBothWays(t *testing.T) {
	var lout lockedBuffer
	p := udtStartIn(t, t.TempDir(), strings.NewReader("from the listener\n"), &lout, "cat", "-l", "-q", "2", "127.0.0.1:0")
	addr := p.waitLine(t, `listening on (127\.0\.0\.1:\d+)`)[1]
	r := udtRun(t, t.TempDir(), strings.NewReader("from the dialer\n"), "cat", "-q", "2", addr)
	if r.code != 0 || r.stdout != "from the listener\n" {
		t.Fatalf("dialer: exit %d, got %q\n%s", r.code, r.stdout, r.stderr)
	}
	if code := p.wait(t); code != 0 || lout.String() != "from the dialer\n" {
		t.Fatalf("listener: exit %d, got %q\n%s", code, lout.String(), p.stderr.String())
	}
}

// Ctrl-C on a perf server ends the test it is running, not just the
// listening.
func TestPerfServerStopsMidTest(t *testing.T) {
	srv := udtStart(t, t.TempDir(), io.Discard, "perf", "-s", "127.0.0.1:0")
	addr := srv.waitLine(t, `serving on UDT (127\.0\.0\.1:\d+)`)[1]
	var out lockedBuffer
	cli := udtStart(t, t.TempDir(), &out, "perf", "-c", addr, "-R", "-t", "60", "-i", "0.2")
	for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Mbit/s") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no interval lines:\n%s\n%s", out.String(), cli.stderr.String())
		}
	}
	start := time.Now()
	srv.cmd.Process.Signal(os.Interrupt)
	if code := srv.wait(t); code != 0 {
		t.Fatalf("server: exit %d\n%s", code, srv.stderr.String())
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("the server took %v to stop mid-test", el)
	}
	if code := cli.wait(t); code != 1 || !strings.Contains(out.String(), "udt  receiver") ||
		!strings.Contains(cli.stderr.String(), "the server was stopped during the test") {
		t.Fatalf("client of a stopped server: exit %d\n%s\n%s", code, out.String(), cli.stderr.String())
	}
}
