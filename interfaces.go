package udt

import (
	"context"
	"net"
	"time"
)

//go:generate go tool mockgen -write_package_comment=false -destination=udtmock/conn.go -package=udtmock github.com/udtgo/udt Connection,ContextDialer
//go:generate go tool mockgen -write_package_comment=false -destination=udtmock/net.go -package=udtmock net Conn,Listener

// Connection is what a *Conn offers beyond net.Conn. Code that takes a
// Connection (and a ContextDialer to make them) can be tested with
// udtmock.MockConnection and udtmock.MockContextDialer.
type Connection interface {
	net.Conn
	WriteMsg(b []byte, ttl time.Duration, inOrder bool) (int, error)
	SendFile(path string, offset, size int64) (int64, error)
	RecvFile(path string, offset, size int64) (int64, error)
	Stats() (Perf, error)
}

// ContextDialer dials connections; *Dialer is one.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

var (
	_ Connection    = (*Conn)(nil)
	_ ContextDialer = (*Dialer)(nil)
)
