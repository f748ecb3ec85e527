package udt

import (
	"net/netip"
	"sync"

	"github.com/udtgo/udt/internal/syssock"
)

// UDT 4.11 gives a bind the multiplexer of any reusable port it already
// runs with the same port number, IP version and MSS, whatever the address
// or network namespace that port is bound in. A kernel-chosen port can be
// such a number: free on the address asked for, while this process's UDT
// runs the same number on another address or in another namespace. So
// every UDP socket handed to UDT is remembered here, by port number, until
// UDT closes it, and Bind consults this before handing over another.
var udtPorts struct {
	bind   sync.Mutex // serializes Bind's look here and its bind2
	mu     sync.Mutex
	byPort map[udtPortKey][]udtPortFD
	pruned int // len(byPort) after the last full prune
}

type udtPortKey struct {
	family Family
	port   uint16
}

// udtPortFD is a descriptor UDT owns. UDT closes it when its multiplexer
// goes, and the number may then be reused: the socket's inode tells the
// two apart.
type udtPortFD struct {
	fd       int
	ino      uint64
	addr     netip.AddrPort
	mss      int
	reusable bool // UDT_REUSEADDR of the socket that made the multiplexer
}

func (u udtPortFD) alive() bool {
	ino, err := syssock.Inode(u.fd)
	return err == nil && ino == u.ino
}

// rememberUDTPort records fd, bound to addr and just handed to UDT by s.
func rememberUDTPort(s Socket, fd int, addr netip.AddrPort) {
	ino, err := syssock.Inode(fd)
	if err != nil {
		return
	}
	mss, _ := s.MSS()
	reuse, _ := s.ReuseAddr()
	f := s.family
	udtPorts.mu.Lock()
	defer udtPorts.mu.Unlock()
	if udtPorts.byPort == nil {
		udtPorts.byPort = map[udtPortKey][]udtPortFD{}
	}
	k := udtPortKey{f, addr.Port()}
	udtPorts.byPort[k] = append(live(udtPorts.byPort[k]), udtPortFD{fd, ino, addr, mss, reuse})
	// Ports whose multiplexers closed are forgotten when the map has
	// doubled since the last look, so it stays the size of what is open.
	if n := len(udtPorts.byPort); n > 2*udtPorts.pruned && n > 64 {
		for k, fds := range udtPorts.byPort {
			if fds = live(fds); len(fds) == 0 {
				delete(udtPorts.byPort, k)
			} else {
				udtPorts.byPort[k] = fds
			}
		}
		udtPorts.pruned = len(udtPorts.byPort)
	}
}

func live(fds []udtPortFD) []udtPortFD {
	out := fds[:0]
	for _, u := range fds {
		if u.alive() {
			out = append(out, u)
		}
	}
	return out
}

// udtRunsPort reports where this process's UDT already runs a UDP port of
// family f numbered port, if it does. With joiner, only a multiplexer that a
// UDT bind by joiner would join counts.
func udtRunsPort(f Family, port uint16, joiner *Socket) (netip.AddrPort, bool) {
	var mss int
	if joiner != nil {
		if reuse, _ := joiner.ReuseAddr(); !reuse {
			return netip.AddrPort{}, false
		}
		mss, _ = joiner.MSS()
	}
	udtPorts.mu.Lock()
	defer udtPorts.mu.Unlock()
	k := udtPortKey{f, port}
	fds := live(udtPorts.byPort[k])
	if len(fds) == 0 {
		delete(udtPorts.byPort, k)
		return netip.AddrPort{}, false
	}
	udtPorts.byPort[k] = fds
	for _, u := range fds {
		if joiner == nil || u.reusable && u.mss == mss {
			return u.addr, true
		}
	}
	return netip.AddrPort{}, false
}
