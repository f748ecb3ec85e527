package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/testenv"
	"github.com/udtgo/udt/udt4"
)

// BenchmarkGetVsUpstream times one file's download by every pairing of `udt
// get`/`udt serve` and the upstream recvfile/sendfile, interleaved, and
// prints the medians as ratios of the C++ pair's. One run is the whole
// figure, whatever b.N: run it with -benchtime 1x, as ./build.sh bench
// does; UDT_BENCH_MIB and UDT_BENCH_ROUNDS size it.
func BenchmarkGetVsUpstream(b *testing.B) {
	mib, rounds := 512, 5
	if v, err := strconv.Atoi(os.Getenv("UDT_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	if v, err := strconv.Atoi(os.Getenv("UDT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if testenv.Race {
		b.Log("note: the udt binary is built with -race here; run without -race for figures")
	}
	pp, err := udt4.SharedPeers()
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	sum := writeRandom(b, filepath.Join(root, "f.bin"), int64(mib)<<20, 14)
	dl := b.TempDir()

	cppAddr := startSendfile(b, root, pp.SendFile)
	cppHost, cppPort, _ := net.SplitHostPort(cppAddr)
	goAddr, _ := serve(b, root)
	goHost, goPort, _ := net.SplitHostPort(goAddr)

	get := func(addr string) func() error {
		return func() error {
			r := udtRun(b, dl, nil, "get", "-q", "--timeout", "5s", addr, "f.bin", "out")
			if r.code != 0 {
				return fmt.Errorf("udt get: %s", r.stderr)
			}
			return nil
		}
	}
	recvfile := func(host, port string) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, pp.RecvFile, host, port, "f.bin", filepath.Join(dl, "out")).CombinedOutput()
			if err != nil {
				return fmt.Errorf("recvfile: %v: %s", err, out)
			}
			return nil
		}
	}
	pairs := []struct {
		name string
		run  func() error
	}{
		{"C++ recvfile <- C++ sendfile", recvfile(cppHost, cppPort)},
		{"udt get      <- udt serve", get(goAddr)},
		{"udt get      <- C++ sendfile", get(cppAddr)},
		{"C++ recvfile <- udt serve", recvfile(goHost, goPort)},
	}
	times := make([][]time.Duration, len(pairs))
	for range rounds {
		for i, p := range pairs {
			os.Remove(filepath.Join(dl, "out"))
			start := time.Now()
			if err := p.run(); err != nil {
				b.Fatalf("%s: %v", p.name, err)
			}
			times[i] = append(times[i], time.Since(start))
			if got := fileSum(b, filepath.Join(dl, "out")); !bytes.Equal(got, sum) {
				b.Fatalf("%s: sha256 %x, want %x", p.name, got, sum)
			}
		}
	}
	base := median(times[0])
	b.Logf("%d MiB file, %d rounds interleaved, median wall time of each download (process start to exit)", mib, rounds)
	for i, p := range pairs {
		m := median(times[i])
		b.Logf("%-30s %7.3f s  %8.1f Mbit/s  %5.1f%% of the C++ pair", p.name, m.Seconds(), mbits(int64(mib)<<20, m), 100*base.Seconds()/m.Seconds())
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
