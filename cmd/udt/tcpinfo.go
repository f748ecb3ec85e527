package main

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// tcpSample reads the kernel's TCP_INFO, TCP's counterpart of UDT's
// statistics: RTT, congestion window and retransmissions.
func tcpSample(c net.Conn) (sample, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return sample{}, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return sample{}, false
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || ierr != nil {
		return sample{}, false
	}
	return sample{
		RTT:     time.Duration(info.Rtt) * time.Microsecond,
		Cwnd:    int(info.Snd_cwnd),
		Retrans: int64(info.Total_retrans),
		SndLoss: int64(info.Lost),
	}, true
}
