package systest

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

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/internal/testenv"
)

// Figures for the connection edges: dial latency, Close of a large write,
// the idle cost of many connections and the echo latency beside the C++
// library's own. Each benchmark measures a whole distribution in one run,
// whatever b.N: run them with -benchtime 1x (./build.sh bench prints the
// echo latency).

func quantiles(d []time.Duration) string {
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))].Round(time.Microsecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", q(.5), q(.9), q(.99), d[len(d)-1].Round(time.Microsecond))
}

// BenchmarkDialLatency dials a listener on loopback UDT_DIAL_ROUNDS times (500)
// and prints the distribution of Dial's time.
func BenchmarkDialLatency(b *testing.B) {
	rounds := 500
	if v, _ := strconv.Atoi(os.Getenv("UDT_DIAL_ROUNDS")); v > 0 {
		rounds = v
	}
	l := listenT(b, "udt", "127.0.0.1:0", udt.Config{})
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
		c, err := udt.Dial("udt", l.Addr().String())
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		c.Close()
	}
	b.Logf("Dial on loopback, %d dials: %s", rounds, quantiles(lat))
}

// BenchmarkCloseOf64MiB writes 64 MiB and closes: how long the writes took to
// go into UDT's buffer, how long Close then waited, and when the peer had
// the last byte.
func BenchmarkCloseOf64MiB(b *testing.B) {
	const size = 64 << 20
	c, s := connPair(b, udt.Config{})
	got := make(chan time.Time, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s)
		if n != size {
			b.Errorf("peer read %d bytes", n)
		}
		got <- time.Now()
	}()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for range size / len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	written := time.Now()
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	closed := time.Now()
	last := <-got
	b.Logf("64 MiB on loopback: writes returned after %v, Close waited %v more (returned %v after the start); the peer's EOF came %v after the start",
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

// BenchmarkIdleCostVsReference holds UDT_IDLE_CONNS (1,000) connections each
// way idle, each with a goroutine blocked in Read, for 5 s, and prints the
// CPU it costs next to the C++ library's own cost for the same sockets
// waited on by one epoll_wait (idleCPP, compiled here). UDT_CONN_RCVBUF and
// UDT_CONN_FC set RecvBuffer and FlowWindow on both, for counts whose
// default buffers would not fit in memory.
func BenchmarkIdleCostVsReference(b *testing.B) {
	n := 1000
	if v, _ := strconv.Atoi(os.Getenv("UDT_IDLE_CONNS")); v > 0 {
		n = v
	}
	const secs = 5
	dir := b.TempDir()
	src := filepath.Join(dir, "idle.cpp")
	if err := os.WriteFile(src, []byte(idleCPP), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "idle")
	if out, err := exec.Command("g++", "-O2", "-o", bin, src, "/usr/lib/libudt.a", "-lstdc++", "-lpthread", "-lm").CombinedOutput(); err != nil {
		b.Fatalf("g++: %v\n%s", err, out)
	}
	rcvbuf, _ := strconv.Atoi(os.Getenv("UDT_CONN_RCVBUF"))
	fc, _ := strconv.Atoi(os.Getenv("UDT_CONN_FC"))
	cfg := udt.Config{RecvBuffer: rcvbuf, FlowWindow: fc}
	var out bytes.Buffer
	cmd := exec.Command(bin, strconv.Itoa(n), strconv.Itoa(secs), strconv.Itoa(rcvbuf), strconv.Itoa(fc))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", bin, err, out.String())
	}
	var cppCPU float64
	var cppRSS0, cppRSS1 int
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "cpu %f rss0 %d rss1 %d", &cppCPU, &cppRSS0, &cppRSS1); err != nil {
		b.Fatalf("reading %q: %v", out.String(), err)
	}

	l := listenT(b, "udt", "127.0.0.1:0", cfg)
	// Setting up is not what is measured: a loaded machine may need more
	// than the default 3 s for a handshake among thousands of sockets.
	d := udt.Dialer{Config: cfg, Timeout: 30 * time.Second}
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
			b.Fatalf("dial %d: %v", i, err)
		}
		a, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		block(c)
		block(a)
	}
	b.Logf("%d connections each way set up in %v", n, time.Since(setup).Round(time.Millisecond))
	time.Sleep(time.Second)
	st0 := udt.ReadPollerStats()
	c0 := testenv.CPUTime(b)
	time.Sleep(secs * time.Second)
	goCPU := (testenv.CPUTime(b) - c0).Seconds()
	st1 := udt.ReadPollerStats()
	b.Logf("%d idle connections each way for %d s: Go %.3f s of CPU (%.2f%% of a core; poller: %d waits, %d scans, %d of them backstops), C++ reference with one epoll_wait %.3f s (%.2f%%): ratio %.2f",
		n, secs, goCPU, 100*goCPU/secs, st1.Waits-st0.Waits, st1.Scans-st0.Scans, st1.BackstopScans-st0.BackstopScans,
		cppCPU, 100*cppCPU/secs, goCPU/max(cppCPU, 1e-3))
	for _, c := range conns {
		c.(*udt.Conn).SetLinger(0)
		c.Close()
	}
	for range conns {
		<-done
	}
}

// echoCPP is the C++ library's own echo latency: a server thread echoes
// 64-byte messages on one connection and the main thread times N round
// trips, with UDT's blocking calls (the binding's net layer waits in Go
// instead). It prints the round trips' p50, p90 and p99 in microseconds.
const echoCPP = `#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <vector>
#include <udt/udt.h>

enum { L = 64 };
static UDTSOCKET lsn;

static bool full(UDTSOCKET s, char* b, bool out) {
	for (int got = 0; got < L;) {
		int n = out ? UDT::send(s, b + got, L - got, 0) : UDT::recv(s, b + got, L - got, 0);
		if (n <= 0) return false;
		got += n;
	}
	return true;
}

static void* echo(void*) {
	UDTSOCKET s = UDT::accept(lsn, NULL, NULL);
	char b[L];
	while (full(s, b, false) && full(s, b, true)) {
	}
	UDT::close(s);
	return NULL;
}

static double now_us() {
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char** argv) {
	int n = atoi(argv[1]);
	UDT::startup();
	sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsn = UDT::socket(AF_INET, SOCK_STREAM, 0);
	int len = sizeof a;
	if (UDT::bind(lsn, (sockaddr*)&a, sizeof a) < 0 || UDT::listen(lsn, 1) < 0 ||
	    UDT::getsockname(lsn, (sockaddr*)&a, &len) < 0) {
		fprintf(stderr, "listen: %s\n", UDT::getlasterror_desc());
		return 1;
	}
	pthread_t th;
	pthread_create(&th, NULL, echo, NULL);
	UDTSOCKET c = UDT::socket(AF_INET, SOCK_STREAM, 0);
	if (UDT::connect(c, (sockaddr*)&a, sizeof a) < 0) {
		fprintf(stderr, "connect: %s\n", UDT::getlasterror_desc());
		return 1;
	}
	char b[L];
	memset(b, 7, L);
	std::vector<double> rtt;
	for (int i = 0; i < n + 100; i++) {
		double t0 = now_us();
		if (!full(c, b, true) || !full(c, b, false)) {
			fprintf(stderr, "echo: %s\n", UDT::getlasterror_desc());
			return 1;
		}
		if (i >= 100) rtt.push_back(now_us() - t0);
	}
	std::sort(rtt.begin(), rtt.end());
	printf("%.0f %.0f %.0f\n", rtt[n / 2], rtt[n * 9 / 10], rtt[n * 99 / 100]);
	UDT::close(c);
	pthread_join(th, NULL);
	return 0;
}
`

// BenchmarkEchoLatencyVsReference times 64-byte round trips on one loopback
// connection, through the net layer (both ends in this process, and the
// server in a process of its own, where each process has one reader) and
// through the C++ library's blocking calls (echoCPP, compiled here, both
// ends in one process), in alternating rounds of
// UDT_ECHO_ROUNDS (5) x 2,000 trips, and prints each round's p50/p90/p99
// and the ratio of the medians of p50: what the binding's waiting in Go
// (UDT's event, the poller, the goroutine) adds to UDT's own latency.
func BenchmarkEchoLatencyVsReference(b *testing.B) {
	rounds, trips := 5, 2000
	if v, _ := strconv.Atoi(os.Getenv("UDT_ECHO_ROUNDS")); v > 0 {
		rounds = v
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "echo.cpp")
	if err := os.WriteFile(src, []byte(echoCPP), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "echo")
	if out, err := exec.Command("g++", "-O2", "-o", bin, src, "/usr/lib/libudt.a", "-lstdc++", "-lpthread", "-lm").CombinedOutput(); err != nil {
		b.Fatalf("g++: %v\n%s", err, out)
	}
	cpp := func() [3]time.Duration {
		out, err := exec.Command(bin, strconv.Itoa(trips)).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, out)
		}
		var q [3]float64
		if _, err := fmt.Sscanf(string(out), "%f %f %f", &q[0], &q[1], &q[2]); err != nil {
			b.Fatalf("reading %q: %v", out, err)
		}
		return [3]time.Duration{time.Duration(q[0] * 1e3), time.Duration(q[1] * 1e3), time.Duration(q[2] * 1e3)}
	}
	// The Go client: trips 64-byte round trips on one net.Conn, after
	// 100 to warm up.
	goEcho := func(addr string) [3]time.Duration {
		c, err := udt.Dial("udt", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msg := make([]byte, 64)
		var rtt []time.Duration
		for i := range trips + 100 {
			start := time.Now()
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, msg); err != nil {
				b.Fatal(err)
			}
			if i >= 100 {
				rtt = append(rtt, time.Since(start))
			}
		}
		slices.Sort(rtt)
		return [3]time.Duration{rtt[trips/2], rtt[trips*9/10], rtt[trips*99/100]}
	}
	// Both ends in this process, as the C++ program has both.
	goOne := func() [3]time.Duration {
		l := listenT(b, "udt", "127.0.0.1:0", udt.Config{})
		defer l.Close()
		go func() {
			s, err := l.Accept()
			if err != nil {
				return
			}
			defer s.Close()
			echo64(s)
		}()
		return goEcho(l.Addr().String())
	}
	// The server in a process of its own: each process has one reader.
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	goTwo := func() [3]time.Duration {
		p := startBenchChild(b, self, "connecho", "", false)
		defer p.stop()
		l := p.waitFor(b, func(l string) bool { return strings.HasPrefix(l, "port ") }, testenv.TimeoutUpperBound)
		return goEcho("127.0.0.1:" + strings.TrimPrefix(l, "port "))
	}
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	var oneP50, twoP50, cppP50 []time.Duration
	for r := range rounds {
		g, t, c := goOne(), goTwo(), cpp()
		oneP50, twoP50, cppP50 = append(oneP50, g[0]), append(twoP50, t[0]), append(cppP50, c[0])
		b.Logf("round %d: p50/p90/p99 Go %v/%v/%v, Go in two processes %v/%v/%v, C++ %v/%v/%v", r+1,
			us(g[0]), us(g[1]), us(g[2]), us(t[0]), us(t[1]), us(t[2]), us(c[0]), us(c[1]), us(c[2]))
	}
	slices.Sort(oneP50)
	slices.Sort(twoP50)
	slices.Sort(cppP50)
	gm, tm, cm := oneP50[rounds/2], twoP50[rounds/2], cppP50[rounds/2]
	ps := udt.ReadPollerStats()
	b.Logf("waits in UDT's epoll %d, run by the waiting goroutine itself %d", ps.Waits, ps.Leads)
	b.Logf("64-byte echo on loopback, median of %d rounds' p50: Go %v, C++ %v, Go/C++ %.2f; Go in two processes %v, /C++ %.2f", rounds,
		us(gm), us(cm), float64(gm)/float64(max(cm, 1)), us(tm), float64(tm)/float64(max(cm, 1)))
}

// echo64 sends back every 64-byte message c brings, until an error.
func echo64(c io.ReadWriter) error {
	b := make([]byte, 64)
	for {
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
}
