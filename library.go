package udt

import (
	"net/netip"
	"time"
)

//go:generate go tool mockgen -write_package_comment=false -source=library.go -destination=udtmock/library.go -package=udtmock

// Library is the seam between this module's higher layers and the reference
// library: every call of namespace UDT, on plain handles. Native is the real
// one; udtmock.MockLibrary stands in for it in tests.
type Library interface {
	Startup() error
	Cleanup() error
	Socket(f Family, t SocketType) (Socket, error)
	Bind(s Socket, addr netip.AddrPort) error
	Bind2(s Socket, fd int) error
	Listen(s Socket, backlog int) error
	Accept(s Socket) (Socket, netip.AddrPort, error)
	Connect(s Socket, addr netip.AddrPort) error
	Close(s Socket) error
	PeerName(s Socket) (netip.AddrPort, error)
	SockName(s Socket) (netip.AddrPort, error)
	GetSockOpt(s Socket, o Option) (any, error)
	SetSockOpt(s Socket, o Option, v any) error
	Send(s Socket, b []byte) (int, error)
	Recv(s Socket, b []byte) (int, error)
	SendMsg(s Socket, b []byte, ttl time.Duration, inOrder bool) (int, error)
	RecvMsg(s Socket, b []byte) (int, error)
	SendFile(s Socket, path string, offset, size int64, block int) (int64, error)
	RecvFile(s Socket, path string, offset, size int64, block int) (int64, error)
	Perfmon(s Socket, clear bool) (Perf, error)
	SockState(s Socket) Status
	EpollCreate() (Epoll, error)
	EpollAddUsock(e Epoll, id SocketID, ev Events) error
	EpollAddSsock(e Epoll, fd int, ev Events) error
	EpollRemoveUsock(e Epoll, id SocketID) error
	EpollRemoveSsock(e Epoll, fd int) error
	EpollWait(e Epoll, ev *EpollEvents, timeout time.Duration) (int, error)
	EpollRelease(e Epoll) error
}

// Native is the Library backed by the linked UDT4 reference library.
var Native Library = native{}

// SocketFromID names the socket with handle id and family f: for handles
// that epoll reports, and for tests that drive a mock Library.
func SocketFromID(id SocketID, f Family) Socket { return Socket{id: id, family: f} }

type native struct{}

func (native) Startup() error                                  { return Startup() }
func (native) Cleanup() error                                  { return Cleanup() }
func (native) Socket(f Family, t SocketType) (Socket, error)   { return NewSocket(f, t) }
func (native) Bind(s Socket, addr netip.AddrPort) error        { return s.Bind(addr) }
func (native) Bind2(s Socket, fd int) error                    { return s.Bind2(fd) }
func (native) Listen(s Socket, backlog int) error              { return s.Listen(backlog) }
func (native) Accept(s Socket) (Socket, netip.AddrPort, error) { return s.Accept() }
func (native) Connect(s Socket, addr netip.AddrPort) error     { return s.Connect(addr) }
func (native) Close(s Socket) error                            { return s.Close() }
func (native) PeerName(s Socket) (netip.AddrPort, error)       { return s.PeerName() }
func (native) SockName(s Socket) (netip.AddrPort, error)       { return s.SockName() }
func (native) GetSockOpt(s Socket, o Option) (any, error)      { return s.GetSockOpt(o) }
func (native) SetSockOpt(s Socket, o Option, v any) error      { return s.SetSockOpt(o, v) }
func (native) Send(s Socket, b []byte) (int, error)            { return s.Send(b) }
func (native) Recv(s Socket, b []byte) (int, error)            { return s.Recv(b) }
func (native) SendMsg(s Socket, b []byte, ttl time.Duration, inOrder bool) (int, error) {
	return s.SendMsg(b, ttl, inOrder)
}
func (native) RecvMsg(s Socket, b []byte) (int, error) { return s.RecvMsg(b) }
func (native) SendFile(s Socket, path string, offset, size int64, block int) (int64, error) {
	return s.SendFile(path, offset, size, block)
}
func (native) RecvFile(s Socket, path string, offset, size int64, block int) (int64, error) {
	return s.RecvFile(path, offset, size, block)
}
func (native) Perfmon(s Socket, clear bool) (Perf, error)          { return s.Perfmon(clear) }
func (native) SockState(s Socket) Status                           { return s.SockState() }
func (native) EpollCreate() (Epoll, error)                         { return NewEpoll() }
func (native) EpollAddUsock(e Epoll, id SocketID, ev Events) error { return e.AddUsock(id, ev) }
func (native) EpollAddSsock(e Epoll, fd int, ev Events) error      { return e.AddSsock(fd, ev) }
func (native) EpollRemoveUsock(e Epoll, id SocketID) error         { return e.RemoveUsock(id) }
func (native) EpollRemoveSsock(e Epoll, fd int) error              { return e.RemoveSsock(fd) }
func (native) EpollRelease(e Epoll) error                          { return e.Release() }
func (native) EpollWait(e Epoll, ev *EpollEvents, t time.Duration) (int, error) {
	return e.Wait(ev, t)
}
