package udt4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hangAfter is how long a reference peer may take to print what it
// should before a test calls it hung: generous, as the suite runs on a
// loaded 2-core machine. Tests assert behaviour, not speed.
const hangAfter = 20 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	if err := RemoveSharedPeers(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// peers returns the shared reference peers, failing the test if they
// cannot be built: on this project's machines the pinned library is a
// requirement, not an option.
func peers(t *testing.T) *Peers {
	t.Helper()
	p, err := SharedPeers()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	t.Parallel()
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}

func TestInstalledVersion(t *testing.T) {
	t.Parallel()
	v, err := InstalledVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, DebianVersion) {
		t.Fatalf("installed %s version %q does not start with %q", Package, v, DebianVersion)
	}
	t.Logf("%s %s", Package, v)
}

func TestCheckVersion(t *testing.T) {
	t.Parallel()
	for _, found := range []string{"4.11+dfsg1", "4.11+dfsg1-1+b1", "4.11+dfsg1-2"} {
		if err := checkVersion(found); err != nil {
			t.Errorf("checkVersion(%q) = %v, want nil", found, err)
		}
	}
	for _, found := range []string{"4.12-1", "4.11+dfsg-2", "4.11+dfsg10-1", "4.10+dfsg-1"} {
		err := checkVersion(found)
		if err == nil {
			t.Errorf("checkVersion(%q) = nil, want an error", found)
			continue
		}
		for _, want := range []string{found, DebianVersion, Package, "install"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("checkVersion(%q) = %q, does not mention %q", found, err, want)
			}
		}
	}
	err := checkVersion("")
	if !errors.Is(err, errNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y libudt-dev") {
		t.Errorf(`checkVersion("") = %v, want the not-installed error`, err)
	}
}

func TestParseDpkgStatus(t *testing.T) {
	t.Parallel()
	const status = `Package: libudt0
Status: install ok installed
Version: 4.11+dfsg1-1+b1

Package: libudt-dev
Status: deinstall ok config-files
Architecture: i386
Version: 4.10+dfsg-1

Package: libudt-dev
Status: install ok installed
Description: UDP-based Data Transfer Protocol - development files
 Version: 0.0 (a continuation line, not a field)
Version: 4.11+dfsg1-1+b1
Depends: libudt0 (= 4.11+dfsg1-1+b1)
`
	v, err := parseDpkgStatus(strings.NewReader(status), "libudt-dev")
	if err != nil || v != "4.11+dfsg1-1+b1" {
		t.Errorf("parseDpkgStatus = %q, %v; want 4.11+dfsg1-1+b1", v, err)
	}
	_, err = parseDpkgStatus(strings.NewReader(status), "libudt-doc")
	if !errors.Is(err, errNotInstalled) {
		t.Errorf("parseDpkgStatus of a missing package: err = %v, want the not-installed error", err)
	}
	// A removed package whose configuration files remain is not installed.
	const removed = "Package: libudt-dev\nStatus: deinstall ok config-files\nVersion: 4.11+dfsg1-1+b1\n"
	if v, err := parseDpkgStatus(strings.NewReader(removed), "libudt-dev"); !errors.Is(err, errNotInstalled) {
		t.Errorf("parseDpkgStatus of a removed package = %q, %v; want the not-installed error", v, err)
	}
}

func TestParseDpkgStatusMachine(t *testing.T) {
	t.Parallel()
	f, err := os.Open(dpkgStatusFile)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	v, err := parseDpkgStatus(f, Package)
	if err != nil {
		t.Fatal(err)
	}
	want, err := InstalledVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != want {
		t.Errorf("status file says %s %q, dpkg-query says %q", Package, v, want)
	}
}

func TestParseAppClientRates(t *testing.T) {
	t.Parallel()
	// Shaped like real appclient output (tabs as printed).
	out := "SendRate(Mb/s)\tRTT(ms)\tCWnd\tPktSndPeriod(us)\tRecvACK\tRecvNAK\n" +
		"1890.55\t\t0.024\t6508\t2.65512\t\t\t2360\t0\n" +
		"2823.97\t\t0.02\t8062\t2.58776\t\t\t3514\t0\r\n" +
		"send:Connection was broken.\n" +
		"nan\t\t0\t16\t1\t\t\t0\t0\n" +
		"perfmon: Operation not supported: Invalid socket ID.\n" +
		"1e+03\t\t0.1\t16\t1\t\t\t0\t0"
	got := ParseAppClientRates(out)
	want := []float64{1890.55, 2823.97, 1000}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseAppClientRates = %v, want %v", got, want)
	}
	if r := ParseAppClientRates(""); r != nil {
		t.Errorf("ParseAppClientRates(\"\") = %v, want nil", r)
	}
}

func TestFreeUDPPort(t *testing.T) {
	t.Parallel()
	port, err := FreeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("FreeUDPPort = %d", port)
	}
}

func TestBuildPeers(t *testing.T) {
	t.Parallel()
	start := time.Now()
	p := peers(t)
	t.Logf("peers in %s (SharedPeers returned after %s)", p.Dir, time.Since(start).Round(time.Millisecond))
	bins := map[string]string{
		"appserver": p.AppServer, "appclient": p.AppClient,
		"sendfile": p.SendFile, "recvfile": p.RecvFile, "test": p.Test,
	}
	for name, path := range bins {
		if !filepath.IsAbs(path) || filepath.Base(path) != name || filepath.Dir(path) != p.Dir {
			t.Errorf("%s: path %q, want %s/%s", name, path, p.Dir, name)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: mode %v, want an executable file", path, fi.Mode())
		}
		dyn, err := NeedsLibudt(path)
		if err != nil {
			t.Error(err)
		} else if dyn {
			t.Errorf("%s needs a shared libudt, want %s linked statically", path, StaticLib)
		}
	}
	// The gzipped sources were decompressed.
	for _, src := range []string{"test.cpp", "appclient.cpp"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("int main(")) {
			t.Errorf("%s does not look like decompressed C++ source", src)
		}
	}
	// Every caller gets the same build, in its own copy.
	q := peers(t)
	if *q != *p || q == p {
		t.Errorf("second SharedPeers = %p %+v, want a copy of %p %+v", q, *q, p, *p)
	}
}

func TestCompilePeerError(t *testing.T) {
	t.Parallel()
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.cpp"), []byte("int main() { return undeclared_thing; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = compilePeer(gxx, dir, "broken")
	if err == nil {
		t.Fatal("compiling a broken program succeeded")
	}
	for _, want := range []string{"broken", "undeclared_thing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNeedsLibudt(t *testing.T) {
	t.Parallel()
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "dyn.cpp")
	prog := "#include <udt.h>\nint main() { UDT::startup(); UDT::cleanup(); return 0; }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dyn")
	out, err := exec.Command(gxx, "-I"+IncludeDir, "-o", bin, src, "-ludt", "-lstdc++", "-lpthread", "-lm").CombinedOutput()
	if err != nil {
		t.Fatalf("linking with -ludt: %v\n%s", err, out)
	}
	dyn, err := NeedsLibudt(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !dyn {
		t.Errorf("NeedsLibudt(%s) = false for a program linked with -ludt", bin)
	}
	if _, err := NeedsLibudt(src); err == nil {
		t.Errorf("NeedsLibudt of a C++ source file succeeded")
	}
}

// TestUpstreamTest runs UDT's own test program against the pinned library.
// It is not parallel: the program's test 2 can hang on a loaded machine
// (see RunTest), and the appserver/appclient test loads both CPUs. It
// uses the fixed port 9000; RunTest serialises it with any other run.
func TestUpstreamTest(t *testing.T) {
	p := peers(t)
	// A hang detector, which also covers the wait for the machine-wide lock
	// while other runs of the suite hold it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*TestAttemptTimeout)
	defer cancel()
	start := time.Now()
	// The program's own race in test 2 (see RunTest) grows likelier with
	// the load: on a busy machine two attempts in a row can hang, so a
	// hang is retried, up to three runs of RunTest. Any other failure
	// fails the test at once.
	var run *TestRun
	var err error
	hangs := 0
	for i := 0; i < 3; i++ {
		run, err = p.RunTest(ctx)
		if run != nil {
			hangs += run.Hangs
		}
		// Its rendezvous test binds fixed ports from 51000 and 61000,
		// inside Linux's ephemeral range: another run's sockets may hold
		// one. That is the machine, not UDT: run it again.
		if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "\nbind: ") {
			t.Logf("a fixed port of the program was taken: %v", err)
			continue
		}
		if !errors.Is(err, errHung) || ctx.Err() != nil {
			break
		}
		hangs++
		t.Logf("the program hung again (%d hangs so far): %v", hangs, err)
	}
	if err != nil {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	if !strings.Contains(run.Output, "Test # 4 completed.") {
		t.Fatalf("%s did not complete test 4:\n%s", p.Test, run.Output)
	}
	if hangs > 0 {
		t.Logf("%d attempt(s) hung and were retried", hangs)
	}
	if run.TCPSkipped {
		t.Logf("TCP port %d was busy (TIME_WAIT from an earlier run?): the program silently skipped the TCP half of its test 2", TestPort)
	}
	t.Logf("upstream test passed in %s (%s in all)", run.Duration.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// A program that stops at the start of test 2, as the upstream one does
// when it hangs there, is ended once its output has stalled, not at the
// attempt's timeout, and retried once.
func TestRunTestEndsAStalledTest2(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "hangs")
	script := "#!/bin/sh\nprintf 'Start Test # 1\\nTesting simple data transfer.\\nTest # 1 completed.\\nStart Test # 2\\n'\nexec sleep 60\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	old := test2Stall
	test2Stall = time.Second
	defer func() { test2Stall = old }()
	start := time.Now()
	run, err := (&Peers{Dir: dir, Test: prog}).RunTest(t.Context())
	if !errors.Is(err, errHung) {
		t.Fatalf("RunTest of a program stuck in test 2: %v", err)
	}
	if run.Hangs != 1 {
		t.Errorf("%d hangs, want 1 (the first attempt; the second's is the error)", run.Hangs)
	}
	if took := time.Since(start); took >= TestAttemptTimeout {
		t.Errorf("RunTest took %v: the stall went unseen until the attempt's timeout", took)
	}
}

func TestCheckTestOutput(t *testing.T) {
	t.Parallel()
	good := "Start Test # 1\nTesting simple data transfer.\nTest # 1 completed.\n" +
		"Start Test # 2\nTest parallel UDT and TCP connections.\nTest # 2 completed.\n" +
		"Start Test # 3\nTest rendezvous connections.\nTest # 3 completed.\n" +
		"Start Test # 4\nTest UDT in multiple threads.\nTest # 4 completed.\n"
	if err := checkTestOutput(good); err != nil {
		t.Errorf("checkTestOutput(success output) = %v", err)
	}
	// What the program prints, exiting 0, when another copy holds its port.
	bad := strings.Replace(good, "Testing simple data transfer.\n",
		"Testing simple data transfer.\nbind: Connection setup failure: unable to create/configure UDP socket: .\n", 1)
	if err := checkTestOutput(bad); err == nil {
		t.Errorf("checkTestOutput accepted output with a bind error")
	}
	swapped := strings.Replace(good, "Test # 3 completed.", "Test # 4 completed.", 1)
	if err := checkTestOutput(swapped); err == nil {
		t.Errorf("checkTestOutput accepted misnumbered output")
	}
	if err := checkTestOutput(""); err == nil {
		t.Errorf("checkTestOutput accepted empty output")
	}

	// The output of a run that hung in test 2, and others that did not.
	lines := strings.SplitAfter(good, "\n")
	for n, want := range map[int]bool{3: false, 4: true, 5: true, 6: false, 12: false} {
		if got := inTest2(strings.Join(lines[:n], "")); got != want {
			t.Errorf("inTest2(first %d lines) = %v, want %v", n, got, want)
		}
	}
	if inTest2(strings.Join(strings.SplitAfter(bad, "\n")[:5], "")) {
		t.Errorf("inTest2 accepted output with a bind error")
	}
}

func TestLockTestPort(t *testing.T) {
	t.Parallel()
	// Another process may hold the lock for a run of the test program,
	// retries of a hung one included (see TestUpstreamTest).
	ctx, cancel := context.WithTimeout(t.Context(), 10*TestAttemptTimeout)
	defer cancel()
	unlock, err := lockTestPort(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	if unlock2, err := lockTestPort(short); err == nil {
		unlock2()
		t.Errorf("took the lock twice")
	} else if !errors.Is(short.Err(), context.DeadlineExceeded) {
		t.Errorf("second lock failed early: %v", err)
	}
	unlock()
	unlock3, err := lockTestPort(ctx)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock3()
}

func TestTCPPortBindable(t *testing.T) {
	t.Parallel()
	// Once closed, an ephemeral port may be taken by another process
	// before the check: a freed port that stays taken fails only if it
	// happens on every try.
	var freed []int
	for range 5 {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if tcpPortBindable(port) {
			t.Fatalf("tcpPortBindable(%d) = true while a listener holds it", port)
		}
		l.Close()
		if tcpPortBindable(port) {
			return
		}
		freed = append(freed, port)
	}
	t.Errorf("tcpPortBindable = false after the listener closed, for ports %v", freed)
}

// peerProc is a running reference peer whose standard output is collected
// line by line by a goroutine reading a pipe.
type peerProc struct {
	name    string
	cmd     *exec.Cmd
	stderr  bytes.Buffer // read only after the process is waited for
	changed chan struct{}
	eof     chan struct{}

	mu    sync.Mutex
	out   strings.Builder
	stamp []time.Duration // arrival time of each line, from start
}

// startPeer starts a reference peer and registers a cleanup that kills it
// and waits for it, so it never outlives the test.
func startPeer(t *testing.T, ctx context.Context, path string, args ...string) *peerProc {
	t.Helper()
	p := &peerProc{
		name:    filepath.Base(path),
		cmd:     exec.CommandContext(ctx, path, args...),
		changed: make(chan struct{}, 1),
		eof:     make(chan struct{}),
	}
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.stamp = append(p.stamp, time.Since(start))
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		// Killing an exited process fails harmlessly.
		_ = p.cmd.Process.Kill()
		<-p.eof // all reads from the pipe are done before Wait
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, p.output(), p.name, p.stderr.String())
		}
	})
	return p
}

func (p *peerProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *peerProc) stamps() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.stamp...)
}

// waitFor waits until cond holds for the output so far, the process closes
// its output, or timeout passes; it reports whether cond held.
func (p *peerProc) waitFor(timeout time.Duration, cond func(out string) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if cond(p.output()) {
			return true
		}
		select {
		case <-p.changed:
		case <-p.eof:
			return cond(p.output())
		case <-timer.C:
			return cond(p.output())
		}
	}
}

// TestAppServerClient runs the upstream appserver and appclient against
// each other over loopback for a few seconds.
//
// Output buffering: C++ iostreams writing to a pipe are block-buffered, but
// appserver and appclient end every line with std::endl, which flushes.
// Their lines therefore arrive through the pipe as they are printed (one
// rate line per second from appclient), without stdbuf -oL and without
// having to stop the process first; the test checks this by requiring the
// rate lines while appclient is still running, and logs their arrival
// times.
func TestAppServerClient(t *testing.T) {
	t.Parallel()
	p := peers(t)
	ctx, cancel := context.WithTimeout(t.Context(), 6*hangAfter)
	defer cancel()

	// appserver takes its port on the command line: one found free a
	// moment before, which another program may take first. appserver then
	// prints "bind: ..." and exits, and gets another port.
	var srv *peerProc
	var port int
	for attempt := 1; srv == nil; attempt++ {
		var err error
		if port, err = FreeUDPPort(); err != nil {
			t.Fatal(err)
		}
		proc := startPeer(t, ctx, p.AppServer, strconv.Itoa(port))
		ready := "server is ready at port: " + strconv.Itoa(port)
		switch {
		case proc.waitFor(hangAfter, func(out string) bool { return strings.Contains(out, ready) }):
			srv = proc
		case attempt < 10 && strings.HasPrefix(proc.output(), "bind:"):
			t.Logf("appserver could not bind port %d, taken meanwhile: %s", port, proc.output())
		default:
			t.Fatalf("appserver did not print %q", ready)
		}
	}

	const samples = 3
	cli := startPeer(t, ctx, p.AppClient, "127.0.0.1", strconv.Itoa(port))
	header := "SendRate(Mb/s)\tRTT(ms)\tCWnd\tPktSndPeriod(us)\tRecvACK\tRecvNAK"
	if !cli.waitFor(hangAfter, func(out string) bool { return strings.Contains(out, header) }) {
		t.Fatalf("appclient did not print its header %q", header)
	}
	cli.waitFor(samples*time.Second+hangAfter, func(out string) bool {
		return len(ParseAppClientRates(out)) >= samples
	})
	if !srv.waitFor(hangAfter, func(out string) bool { return strings.Contains(out, "new connection: 127.0.0.1:") }) {
		t.Errorf("appserver did not print %q", "new connection: 127.0.0.1:")
	}
	select {
	case <-cli.eof:
		t.Errorf("appclient exited early")
	default:
	}
	cancel() // kill both: output so far has been read

	rates := ParseAppClientRates(cli.output())
	t.Logf("appclient send rates (Mbit/s): %v", rates)
	t.Logf("appclient line arrival times: %v", cli.stamps())
	if len(rates) < 2 {
		t.Fatalf("appclient printed %d rate lines while running, want at least 2:\n%s", len(rates), cli.output())
	}
	for i, r := range rates {
		if r <= 0 {
			t.Errorf("rate sample %d is %v Mbit/s, want > 0", i, r)
		}
	}
}
