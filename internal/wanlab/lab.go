// Package wanlab builds an emulated wide-area path between two network
// namespaces: each has a TUN device, and the emulator (package netem), in
// the namespace of the calling process, forwards the IP packets between the
// two TUN devices through one netem.Link each way. TCP, UDP and UDT all
// cross the same path. It needs root, /dev/net/tun and iproute2's ip.
package wanlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/udtgo/udt/internal/netem"
	"golang.org/x/sys/unix"
)

// Side names one end of the path.
type Side int

// A is where the up link starts, B where it ends.
const (
	A Side = 0
	B Side = 1
)

func (s Side) String() string { return string(rune('A' + s)) }

// Options configures a Lab; the zero value is usable.
type Options struct {
	// Prefix starts the namespace names; the process id and a random tag
	// follow, so concurrent labs never collide. Default "udtwan".
	Prefix string
	// Subnet gives the two addresses: its first two hosts go to A and B.
	// Each namespace has its own stack, so the default 10.213.0.0/30 only
	// has to be free inside them.
	Subnet netip.Prefix
	// MTU of the TUN devices; default 1500.
	MTU int
	// Up is the path from A to B, Down from B to A.
	Up, Down netem.Config
	// Sysctls are set in both namespaces, e.g. TCP's buffer limits.
	Sysctls map[string]string
}

// Lab is one running emulated path. Close removes everything it made.
type Lab struct {
	NS   [2]string     // namespace names, for ip netns exec
	Addr [2]netip.Addr // the address of each side
	Dev  [2]string     // the TUN device in each namespace

	tun   [2]int // TUN descriptors, -1 when not open
	stop  atomic.Bool
	links [2]*netem.Link // links[A] carries A→B
	wg    sync.WaitGroup

	tapMu sync.RWMutex
	tap   func(to Side, pkt []byte)

	filterMu sync.RWMutex
	filter   func(to Side, pkt []byte) bool

	closeOnce sync.Once
	closeErr  error
}

// CanRun says why a Lab cannot be built here, or nil when it can.
func CanRun() error {
	if os.Geteuid() != 0 {
		return errors.New("wanlab: needs root (network namespaces and TUN devices); run as root, e.g. with sudo")
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wanlab: needs the TUN device: %w (load the tun module, or give the container /dev/net/tun)", err)
	}
	f.Close()
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("wanlab: needs iproute2's ip command in PATH (apt-get install iproute2)")
	}
	// Root in a container may still lack the capabilities.
	fd, _, err := openTUN()
	if err != nil {
		return fmt.Errorf("%w (needs CAP_NET_ADMIN)", err)
	}
	unix.Close(fd)
	errc := make(chan error)
	go func() {
		// The thread is never unlocked: it leaves with its new namespace.
		runtime.LockOSThread()
		errc <- unix.Unshare(unix.CLONE_NEWNET)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("wanlab: cannot make a network namespace: %w (needs CAP_SYS_ADMIN)", err)
	}
	return nil
}

// stateDir is where iproute2 keeps named namespaces.
const stateDir = "/run/netns"

// New builds the two namespaces, their TUN devices and the emulator.
func New(o Options) (lab *Lab, err error) {
	if err := CanRun(); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = "udtwan"
	}
	if strings.ContainsAny(o.Prefix, "/ \t\n") || strings.Contains(o.Prefix, "..") {
		return nil, fmt.Errorf("wanlab: Options.Prefix %q cannot be part of a namespace name", o.Prefix)
	}
	if !o.Subnet.IsValid() {
		o.Subnet = netip.MustParsePrefix("10.213.0.0/30")
	}
	o.Subnet = o.Subnet.Masked()
	if !o.Subnet.Addr().Is4() || o.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("wanlab: Options.Subnet %v must be IPv4 with room for two hosts (/30 or wider)", o.Subnet)
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if o.MTU < 576 || o.MTU > 65535 {
		return nil, fmt.Errorf("wanlab: Options.MTU must be between 576 and 65535, not %d", o.MTU)
	}
	if err := o.Up.Validate(); err != nil {
		return nil, fmt.Errorf("wanlab: Options.Up: %w", err)
	}
	if err := o.Down.Validate(); err != nil {
		return nil, fmt.Errorf("wanlab: Options.Down: %w", err)
	}
	for k, v := range o.Sysctls {
		if strings.ContainsAny(k+v, "=\n") || strings.Contains(k, "..") {
			return nil, fmt.Errorf("wanlab: Options.Sysctls entry %q=%q is not a sysctl setting", k, v)
		}
	}
	RemoveStale(o.Prefix)

	tag := make([]byte, 4)
	rand.Read(tag)
	base := fmt.Sprintf("%s-%d-%s", o.Prefix, os.Getpid(), hex.EncodeToString(tag))
	l := &Lab{NS: [2]string{base + "-a", base + "-b"}, tun: [2]int{-1, -1}}
	l.Addr[A] = o.Subnet.Addr().Next()
	l.Addr[B] = l.Addr[A].Next()
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, ns := range l.NS {
		if err := ip("netns", "add", ns); err != nil {
			return nil, err
		}
	}
	for s := A; s <= B; s++ {
		fd, name, err := openTUN()
		if err != nil {
			return nil, err
		}
		l.tun[s], l.Dev[s] = fd, name
		ns, peer := l.NS[s], l.Addr[1-s]
		// The device keeps its file descriptor when it moves: the emulator
		// stays in this namespace and reads both.
		for _, args := range [][]string{
			{"link", "set", name, "netns", ns},
			{"-n", ns, "link", "set", "lo", "up"},
			{"-n", ns, "link", "set", name, "mtu", strconv.Itoa(o.MTU), "txqueuelen", "10000", "up"},
			{"-n", ns, "addr", "add", l.Addr[s].String() + "/32", "peer", peer.String() + "/32", "dev", name},
		} {
			if err := ip(args...); err != nil {
				return nil, err
			}
		}
		for k, v := range o.Sysctls {
			if err := l.sysctl(s, k, v); err != nil {
				return nil, err
			}
		}
	}
	for s := A; s <= B; s++ {
		to := 1 - s
		out := l.tun[to]
		cfg := o.Up
		if s == B {
			cfg = o.Down
		}
		l.links[s] = netem.NewLink(cfg, func(p []byte) {
			l.tapMu.RLock()
			tap := l.tap
			l.tapMu.RUnlock()
			if tap != nil {
				tap(to, p)
			}
			l.filterMu.RLock()
			filter := l.filter
			l.filterMu.RUnlock()
			if filter != nil && !filter(to, p) {
				return
			}
			unix.Write(out, p) // a full backlog drops, like a busy NIC
		})
	}
	for s := A; s <= B; s++ {
		l.wg.Add(1)
		go l.pump(s)
	}
	return l, nil
}

// pump feeds the packets that side s's stack sends into its link. It has
// a thread of its own with the links' real-time tuning, and polls with a
// timeout so Close can stop it without racing a read on a closed
// descriptor.
func (l *Lab) pump(s Side) {
	defer l.wg.Done()
	release := netem.LockThread()
	defer release()
	fd := l.tun[s]
	buf := make([]byte, 65536)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for !l.stop.Load() {
		if _, err := unix.Poll(pfd, 100); err != nil && err != unix.EINTR {
			return
		}
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				break // EAGAIN: drained
			}
			l.links[s].Send(buf[:n])
		}
	}
}

func (l *Lab) sysctl(s Side, key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return l.Do(s, func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("wanlab: sysctl %s in %s: %w", key, l.NS[s], err)
		}
		defer f.Close()
		if _, err := f.WriteString(value); err != nil {
			return fmt.Errorf("wanlab: sysctl %s=%s in %s: %w", key, value, l.NS[s], err)
		}
		return nil
	})
}

// SetConfig changes the two directions for packets sent from now on.
func (l *Lab) SetConfig(up, down netem.Config) error {
	if err := up.Validate(); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if err := down.Validate(); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	l.links[A].SetConfig(up)
	l.links[B].SetConfig(down)
	return nil
}

// Stats returns the counters of the A→B and B→A links.
func (l *Lab) Stats() (up, down netem.LinkStats) {
	return l.links[A].Stats(), l.links[B].Stats()
}

// Backlog is the queue at the bottleneck of the link that starts at
// side s, in time (netem.Link.Backlog).
func (l *Lab) Backlog(s Side) time.Duration { return l.links[s].Backlog() }

// Tap calls fn with every packet the emulator delivers, and the side it
// goes to, before the packet enters that side's stack. fn runs on the
// link's goroutine and must be quick and not keep pkt. nil removes it.
func (l *Lab) Tap(fn func(to Side, pkt []byte)) {
	l.tapMu.Lock()
	l.tap = fn
	l.tapMu.Unlock()
}

// Filter calls fn with every packet the emulator is about to deliver, and
// the side it goes to; the packet is dropped when fn returns false. fn runs
// on the link's goroutine and must be quick and not keep pkt. nil removes
// it. StatefulFilter makes one.
func (l *Lab) Filter(fn func(to Side, pkt []byte) bool) {
	l.filterMu.Lock()
	l.filter = fn
	l.filterMu.Unlock()
}

// Command runs name inside side s's namespace (ip netns exec).
func (l *Lab) Command(s Side, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS[s], name}, args...)...)
}

// Do runs fn on an OS thread inside side s's namespace. Sockets that fn
// opens live there for good, so a test can build both ends in one
// process; goroutines that fn starts do not run in the namespace.
func (l *Lab) Do(s Side, fn func() error) error {
	target, err := os.Open(stateDir + "/" + l.NS[s])
	if err != nil {
		return fmt.Errorf("wanlab: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine, so the thread it may leave behind in the namespace
	// is never one the caller had locked.
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("wanlab: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("wanlab: setns %s: %w", l.NS[s], err)
			return
		}
		err = fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and exits with the goroutine
		errc <- err
	}()
	return <-errc
}

// Close stops the emulator and deletes the namespaces and devices. It may
// be called more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		l.stop.Store(true)
		l.wg.Wait()
		for s := A; s <= B; s++ {
			if l.links[s] != nil {
				l.links[s].Close()
			}
		}
		for s := A; s <= B; s++ {
			if l.tun[s] >= 0 {
				unix.Close(l.tun[s])
			}
		}
		// Closing a TUN descriptor removes its device; deleting the
		// namespace kills nothing, so commands must have ended by now.
		for _, ns := range l.NS {
			if ns == "" {
				continue
			}
			if _, err := os.Stat(stateDir + "/" + ns); err == nil {
				if err := ip("netns", "del", ns); err != nil {
					errs = append(errs, err)
				}
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// RemoveStale deletes the namespaces of labs with this prefix whose
// process has died (killed before it could clean up).
func RemoveStale(prefix string) {
	entries, _ := os.ReadDir(stateDir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			ip("netns", "del", e.Name())
		}
	}
}

func ip(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("wanlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// openTUN makes a TUN device (IP packets, no extra header) named by the
// kernel, and returns its non-blocking descriptor.
func openTUN() (int, string, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, "", fmt.Errorf("wanlab: open /dev/net/tun: %w", err)
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq
	}
	copy(req.name[:], "udtwan%d")
	req.flags = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); e != 0 {
		unix.Close(fd)
		return -1, "", fmt.Errorf("wanlab: TUNSETIFF: %w", e)
	}
	return fd, string(bytes.TrimRight(req.name[:], "\x00")), nil
}
