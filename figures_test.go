package udt

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Figures for the connection edges, printed by ./build.sh bench (they run
// only with UDT_BENCH=1): dial latency, Close of a large write, and the
// idle cost of many connections beside the C++ library's own.

func benchOnly(t *testing.T) {
	if os.Getenv("UDT_BENCH") == "" {
		t.Skip("a figure, not a check: UDT_BENCH=1 (./build.sh bench) runs it")
	}
}

func quantiles(d []time.Duration) string {
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))].Round(time.Microsecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", q(.5), q(.9), q(.99), d[len(d)-1].Round(time.Microsecond))
}

// TestDialLatency dials a listener on loopback UDT_DIAL_ROUNDS times (500)
// and prints the distribution of Dial's time.
func TestDialLatency(t *testing.T) {
	benchOnly(t)
	rounds := 500
	if v, _ := strconv.Atoi(os.Getenv("UDT_DIAL_ROUNDS")); v > 0 {
		rounds = v
	}
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var lat []time.Duration
	for i := range rounds {
		start := time.Now()
		c, err := Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		c.Close()
	}
	t.Logf("Dial on loopback, %d dials: %s", rounds, quantiles(lat))
}

// TestCloseOf64MiB writes 64 MiB and closes: how long the writes took to
// go into UDT's buffer, how long Close then waited, and when the peer had
// the last byte.
func TestCloseOf64MiB(t *testing.T) {
	benchOnly(t)
	const size = 64 << 20
	c, s := connPair(t, Config{})
	got := make(chan time.Time, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s)
		if n != size {
			t.Errorf("peer read %d bytes", n)
		}
		got <- time.Now()
	}()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for range size / len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	written := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	last := <-got
	t.Logf("64 MiB on loopback: writes returned after %v, Close waited %v more (returned %v after the start); the peer's EOF came %v after the start",
		written.Sub(start).Round(time.Millisecond), closed.Sub(written).Round(time.Millisecond),
		closed.Sub(start).Round(time.Millisecond), last.Sub(start).Round(time.Millisecond))
}

// idleCPP is a C++ program on the reference library alone: n connections
// each way on loopback (clients sharing one port, as this package's dialed
// connections do), every socket in one UDT epoll waited on by one thread,
// idle for secs seconds; it prints the CPU and RSS that cost.
const idleCPP = `#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <set>
#include <udt/udt.h>

static double cpu() {
	rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long rss_kib() {
	FILE* f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1) break;
	if (f) fclose(f);
	return v;
}

static void die(const char* what) {
	fprintf(stderr, "%s: %s\n", what, UDT::getlasterror_desc());
	exit(1);
}

int main(int argc, char** argv) {
	int n = atoi(argv[1]), secs = atoi(argv[2]), rcvbuf = atoi(argv[3]), fc = atoi(argv[4]);
	UDT::startup();
	long rss0 = rss_kib();
	sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	UDTSOCKET l = UDT::socket(AF_INET, SOCK_STREAM, 0);
	if (rcvbuf > 0) UDT::setsockopt(l, 0, UDT_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (fc > 0) UDT::setsockopt(l, 0, UDT_FC, &fc, sizeof fc);
	if (UDT::bind(l, (sockaddr*)&a, sizeof a) < 0 || UDT::listen(l, n) < 0) die("listen");
	sockaddr_in la;
	int len = sizeof la;
	UDT::getsockname(l, (sockaddr*)&la, &len);
	int eid = UDT::epoll_create();
	int in = UDT_EPOLL_IN;
	unsigned short port = 0;
	for (int i = 0; i < n; i++) {
		UDTSOCKET c = UDT::socket(AF_INET, SOCK_STREAM, 0);
		if (rcvbuf > 0) UDT::setsockopt(c, 0, UDT_RCVBUF, &rcvbuf, sizeof rcvbuf);
		if (fc > 0) UDT::setsockopt(c, 0, UDT_FC, &fc, sizeof fc);
		sockaddr_in ca = a;
		ca.sin_port = port;
		if (UDT::bind(c, (sockaddr*)&ca, sizeof ca) < 0) die("bind");
		if (port == 0) {
			len = sizeof ca;
			UDT::getsockname(c, (sockaddr*)&ca, &len);
			port = ca.sin_port;
		}
		if (UDT::connect(c, (sockaddr*)&la, sizeof la) < 0) die("connect");
		UDTSOCKET s = UDT::accept(l, NULL, NULL);
		if (s == UDT::INVALID_SOCK) die("accept");
		UDT::epoll_add_usock(eid, c, &in);
		UDT::epoll_add_usock(eid, s, &in);
	}
	long rss1 = rss_kib();
	sleep(1);
	double c0 = cpu();
	std::set<UDTSOCKET> r;
	for (int i = 0; i < secs; i++) UDT::epoll_wait(eid, &r, NULL, 1000);
	printf("cpu %.3f rss0 %ld rss1 %ld\n", cpu() - c0, rss0, rss1);
	return 0;
}
`

// TestIdleCostVsReference holds UDT_IDLE_CONNS (1,000) connections each
// way idle, each with a goroutine blocked in Read, for 5 s, and prints the
// CPU it costs next to the C++ library's own cost for the same sockets
// waited on by one epoll_wait (idleCPP, compiled here). UDT_CONN_RCVBUF and
// UDT_CONN_FC set RecvBuffer and FlowWindow on both, for counts whose
// default buffers would not fit in memory.
func TestIdleCostVsReference(t *testing.T) {
	benchOnly(t)
	n := 1000
	if v, _ := strconv.Atoi(os.Getenv("UDT_IDLE_CONNS")); v > 0 {
		n = v
	}
	const secs = 5
	dir := t.TempDir()
	src := filepath.Join(dir, "idle.cpp")
	if err := os.WriteFile(src, []byte(idleCPP), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "idle")
	if out, err := exec.Command("g++", "-O2", "-o", bin, src, "/usr/lib/libudt.a", "-lstdc++", "-lpthread", "-lm").CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
	rcvbuf, _ := strconv.Atoi(os.Getenv("UDT_CONN_RCVBUF"))
	fc, _ := strconv.Atoi(os.Getenv("UDT_CONN_FC"))
	cfg := Config{RecvBuffer: rcvbuf, FlowWindow: fc}
	var out bytes.Buffer
	cmd := exec.Command(bin, strconv.Itoa(n), strconv.Itoa(secs), strconv.Itoa(rcvbuf), strconv.Itoa(fc))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out.String())
	}
	var cppCPU float64
	var cppRSS0, cppRSS1 int
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "cpu %f rss0 %d rss1 %d", &cppCPU, &cppRSS0, &cppRSS1); err != nil {
		t.Fatalf("reading %q: %v", out.String(), err)
	}

	l := listenT(t, "udt", "127.0.0.1:0", cfg)
	// Setting up is not what is measured: a loaded machine may need more
	// than the default 3 s for a handshake among thousands of sockets.
	d := Dialer{Config: cfg, Timeout: 30 * time.Second}
	setup := time.Now()
	var conns []net.Conn
	done := make(chan struct{}, 2*n)
	block := func(c net.Conn) {
		conns = append(conns, c)
		go func() { c.Read(make([]byte, 1)); done <- struct{}{} }()
	}
	for i := range n {
		c, err := d.Dial("udt", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		a, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		block(c)
		block(a)
	}
	t.Logf("%d connections each way set up in %v", n, time.Since(setup).Round(time.Millisecond))
	time.Sleep(time.Second)
	st0 := ReadPollerStats()
	c0 := cpuTime(t)
	time.Sleep(secs * time.Second)
	goCPU := (cpuTime(t) - c0).Seconds()
	st1 := ReadPollerStats()
	t.Logf("%d idle connections each way for %d s: Go %.3f s of CPU (%.2f%% of a core; poller: %d waits, %d scans, %d of them backstops), C++ reference with one epoll_wait %.3f s (%.2f%%): ratio %.2f",
		n, secs, goCPU, 100*goCPU/secs, st1.Waits-st0.Waits, st1.Scans-st0.Scans, st1.BackstopScans-st0.BackstopScans,
		cppCPU, 100*cppCPU/secs, goCPU/max(cppCPU, 1e-3))
	for _, c := range conns {
		c.(*Conn).SetLinger(0)
		c.Close()
	}
	for range conns {
		<-done
	}
}
