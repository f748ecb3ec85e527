package udt

import (
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/udtgo/udt/cudt"
	"github.com/udtgo/udt/internal/syssock"
)

// UDT's epoll, mirrored one to one as wrapper.go mirrors the socket calls.

// Events is a set of epoll events (EPOLLOpt).
type Events int

// The epoll events of UDT (UDT_EPOLL_IN, UDT_EPOLL_OUT, UDT_EPOLL_ERR).
const (
	EventIn  Events = 0x1 // readable, or a connection to accept
	EventOut Events = 0x4 // writable, or a connect completed
	// EventErr is accepted by UDT but never reported for a UDT socket.
	EventErr Events = 0x8
)

// String is the events' names joined by "|", e.g. "IN|OUT".
func (e Events) String() string {
	s := ""
	for _, f := range []struct {
		ev   Events
		name string
	}{{EventIn, "IN"}, {EventOut, "OUT"}, {EventErr, "ERR"}} {
		if e&f.ev != 0 {
			if s != "" {
				s += "|"
			}
			s += f.name
		}
	}
	if rest := e &^ (EventIn | EventOut | EventErr); rest != 0 || s == "" {
		if s != "" {
			s += "|"
		}
		s += "0x" + strconv.FormatInt(int64(rest), 16)
	}
	return s
}

// Epoll is a UDT epoll (the eid of UDT::epoll_create).
type Epoll int32

// NewEpoll creates an epoll (UDT::epoll_create).
func NewEpoll() (Epoll, error) {
	eid, err := cudt.EpollCreate()
	if err != nil {
		return -1, wrap("epoll_create", err)
	}
	return Epoll(eid), nil
}

func checkEvents(op string, ev Events) error {
	if ev&^(EventIn|EventOut|EventErr) != 0 || ev == 0 {
		return invalid(op, "events must be a non-empty set of EventIn, EventOut and EventErr, not "+ev.String())
	}
	return nil
}

// AddUsock watches UDT socket id for ev (UDT::epoll_add_usock). Watch a
// listener for EventIn only: with EventOut UDT reports it writable forever.
func (e Epoll) AddUsock(id SocketID, ev Events) error {
	if err := checkEvents("epoll_add_usock", ev); err != nil {
		return err
	}
	return wrap("epoll_add_usock", cudt.EpollAddUsock(int(e), int(id), int(ev)))
}

// AddSsock watches system socket fd for ev (UDT::epoll_add_ssock).
func (e Epoll) AddSsock(fd int, ev Events) error {
	if err := checkEvents("epoll_add_ssock", ev); err != nil {
		return err
	}
	if err := checkOpenFD("epoll_add_ssock", fd); err != nil {
		return err
	}
	return wrap("epoll_add_ssock", cudt.EpollAddSsock(int(e), fd, int(ev)))
}

// checkOpenFD refuses a descriptor that is not open: UDT's epoll_ctl fails
// on it with an exception that carries no error code.
func checkOpenFD(op string, fd int) error {
	if !syssock.IsOpen(fd) {
		return &Error{Op: op, Code: ErrInvParam, Msg: "descriptor " + strconv.Itoa(fd) + " is not open", err: syscall.EBADF}
	}
	return nil
}

// RemoveUsock stops watching UDT socket id (UDT::epoll_remove_usock).
func (e Epoll) RemoveUsock(id SocketID) error {
	return wrap("epoll_remove_usock", cudt.EpollRemoveUsock(int(e), int(id)))
}

// RemoveSsock stops watching system socket fd (UDT::epoll_remove_ssock).
func (e Epoll) RemoveSsock(fd int) error {
	if err := checkOpenFD("epoll_remove_ssock", fd); err != nil {
		return err
	}
	return wrap("epoll_remove_ssock", cudt.EpollRemoveSsock(int(e), fd))
}

// EpollEvents receives what Wait finds. Wait fills each slice up to its
// capacity and sets its length to what it filled; a slice of capacity 0
// asks for nothing of that kind, unless all four have capacity 0: the zero
// EpollEvents asks for everything, and Wait gives each slice a capacity of
// DefaultEpollEvents the first time. Reuse one value to wait without
// allocating.
type EpollEvents struct {
	Read, Write       []SocketID // UDT sockets ready to read (or accept) and to write
	SysRead, SysWrite []int32    // system sockets ready to read and to write
}

// DefaultEpollEvents is how many sockets of each kind a zero EpollEvents
// takes from one Wait; the rest stay ready for the next.
const DefaultEpollEvents = 64

// Wait waits up to timeout (negative: forever) for watched sockets to be
// ready (UDT::epoll_wait2) and returns how many entries it filled in ev,
// which may be fewer than UDT had ready when a slice is short. The wait has
// UDT's 10 ms granularity. A timeout is an *Error with code ErrTimeout, so
// errors.Is(err, os.ErrDeadlineExceeded) holds.
func (e Epoll) Wait(ev *EpollEvents, timeout time.Duration) (int, error) {
	if ev == nil {
		return 0, invalid("epoll_wait", "events must not be nil")
	}
	if cap(ev.Read) == 0 && cap(ev.Write) == 0 && cap(ev.SysRead) == 0 && cap(ev.SysWrite) == 0 {
		// A wait for nothing would only sleep (or never return): the zero
		// value means every kind.
		ev.Read, ev.Write = make([]SocketID, 0, DefaultEpollEvents), make([]SocketID, 0, DefaultEpollEvents)
		ev.SysRead, ev.SysWrite = make([]int32, 0, DefaultEpollEvents), make([]int32, 0, DefaultEpollEvents)
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = int64(timeout / time.Millisecond)
		if timeout%time.Millisecond != 0 {
			ms++
		}
	}
	rd := ids32(ev.Read[:cap(ev.Read)])
	wr := ids32(ev.Write[:cap(ev.Write)])
	nr, nw, nlr, nlw, err := cudt.EpollWait(int(e), rd, wr, ev.SysRead[:cap(ev.SysRead)], ev.SysWrite[:cap(ev.SysWrite)], ms)
	ev.Read, ev.Write = ev.Read[:nr], ev.Write[:nw]
	ev.SysRead, ev.SysWrite = ev.SysRead[:nlr], ev.SysWrite[:nlw]
	if err != nil {
		return 0, wrap("epoll_wait", err)
	}
	return nr + nw + nlr + nlw, nil
}

// ids32 views a []SocketID as the []int32 it is, for C to fill in place.
func ids32(s []SocketID) []int32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Release destroys the epoll (UDT::epoll_release).
func (e Epoll) Release() error { return wrap("epoll_release", cudt.EpollRelease(int(e))) }
