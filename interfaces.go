package udt

import (
	"context"
	"net"
	"time"
)

//go:generate go tool mockgen -write_package_comment=false -destination=udtmock/conn.go -package=udtmock github.com/udtgo/udt Connection,ContextDialer,ContextListener
//go:generate go tool mockgen -write_package_comment=false -destination=udtmock/net.go -package=udtmock net Conn,Listener

// Connection is what a *Conn offers beyond net.Conn. Code that takes a
// Connection (and a ContextDialer or ContextListener to make them) can be
// tested with udtmock.MockConnection, udtmock.MockContextDialer,
// udtmock.MockContextListener and udtmock.MockListener: such code asserts
// the net.Conn it gets to a Connection, which a *Conn and a
// MockConnection both are.
type Connection interface {
	net.Conn
	WriteMsg(b []byte, ttl time.Duration, inOrder bool) (int, error)
	ReadMsg(b []byte) (n int, truncated bool, err error)
	SendFile(path string, offset, size int64) (int64, error)
	RecvFile(path string, offset, size int64) (int64, error)
	Stats() (Stats, error)
	Flush(ctx context.Context) error
}

// ContextDialer dials connections; *Dialer and *Transport are ones.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// ContextListener makes listeners; *ListenConfig is one.
type ContextListener interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
}

var (
	_ Connection      = (*Conn)(nil)
	_ ContextDialer   = (*Dialer)(nil)
	_ ContextDialer   = (*Transport)(nil)
	_ ContextListener = (*ListenConfig)(nil)
)
