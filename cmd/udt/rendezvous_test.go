package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freshNetns makes a network namespace of the test's own, with only
// loopback: its ports are all free, so the two ends of a rendezvous can
// name theirs before either starts (outside one, a test could only guess
// free ports). It skips without root or iproute2's ip.
func freshNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip for a network namespace")
	}
	ns := "udtcli-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()&0xffffff, 16)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s is still there", ns)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", ns, err, out)
	}
	return ns
}

// inNetns starts the binary in ns; wait returns its exit code and stderr.
func inNetns(t *testing.T, ns string, stdin []byte, stdout *bytes.Buffer, args ...string) (wait func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if stdout != nil { // not a typed nil in the interface
		cmd.Stdout = stdout
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() (int, string) {
		defer cancel()
		err := cmd.Wait()
		checkNoPanic(t, stderr.String())
		if ctx.Err() != nil {
			t.Fatalf("udt %s did not finish in a minute:\n%s", strings.Join(args, " "), stderr.String())
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stderr.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
}

func TestCatRendezvous(t *testing.T) {
	ns := freshNetns(t)
	data := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{21}).Read(data)
	var got bytes.Buffer
	recv := inNetns(t, ns, nil, &got, "cat", "-d", "--rendezvous", "127.0.0.1:7001", "127.0.0.1:7000")
	time.Sleep(200 * time.Millisecond) // one end starts first, as by hand
	send := inNetns(t, ns, data, nil, "cat", "--rendezvous", ":7000", "127.0.0.1:7001")
	if code, stderr := send(); code != 0 {
		t.Fatalf("sending cat --rendezvous: exit %d\n%s", code, stderr)
	}
	if code, stderr := recv(); code != 0 {
		t.Fatalf("receiving cat --rendezvous: exit %d\n%s", code, stderr)
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("%d bytes arrived, want %d, or they differ", got.Len(), len(data))
	}
}

func TestPerfRendezvous(t *testing.T) {
	ns := freshNetns(t)
	var srvOut, cliOut bytes.Buffer
	srv := inNetns(t, ns, nil, &srvOut, "perf", "-s", "--rendezvous", "127.0.0.1:7100", "127.0.0.1:7200")
	cli := inNetns(t, ns, nil, &cliOut, "perf", "--rendezvous", "127.0.0.1:7200", "127.0.0.1:7100", "-t", "1", "-P", "2", "--json")
	if code, stderr := cli(); code != 0 {
		t.Fatalf("perf --rendezvous: exit %d\n%s", code, stderr)
	}
	if code, stderr := srv(); code != 0 {
		t.Fatalf("perf -s --rendezvous (one test): exit %d\n%s", code, stderr)
	}
	var doc struct{ Runs []perfResult }
	if err := json.Unmarshal(cliOut.Bytes(), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("client output: %v\n%s", err, cliOut.String())
	}
	run := doc.Runs[0]
	if run.Protocol != "udt" || run.Streams != 2 || run.Sender.Bytes == 0 || run.Receiver.Bytes != run.Sender.Bytes {
		t.Fatalf("perf run by rendezvous: %+v", run)
	}
}

func TestRendezvousUsage(t *testing.T) {
	for _, args := range [][]string{
		{"cat", "--rendezvous", "127.0.0.1:7000"},
		{"cat", "--rendezvous", "127.0.0.1:0", "127.0.0.1:7000"},
		{"cat", "--rendezvous", "127.0.0.1:7000", "somehost"},
		{"perf", "--rendezvous", "127.0.0.1:7000"},
		{"perf", "--rendezvous", "-c", "127.0.0.1:1", "127.0.0.1:7000", "127.0.0.1:7001"},
	} {
		r := udtRun(t, t.TempDir(), nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "rendezvous") {
			t.Errorf("udt %s: exit %d, want 2 and a word on --rendezvous\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
