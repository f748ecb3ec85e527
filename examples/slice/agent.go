package main

import (
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"time"
)

// agent serves commands on l until l is closed: each connection carries
// one command, run with /bin/sh -c; its output streams back as it comes,
// then its exit status, and the agent closes the connection.
func agent(l net.Listener, logf func(string, ...any)) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			if err := runOne(c); err != nil && logf != nil {
				logf("agent: %v: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

// commandTimeout bounds a command that never ends, and a controller that
// never sends one.
const commandTimeout = 10 * time.Minute

func runOne(c net.Conn) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(commandTimeout))
	typ, cmdline, err := readFrame(c, nil)
	if err != nil {
		return err
	}
	if typ != frameCommand {
		return errors.New("the first frame is not a command")
	}
	out := &frameWriter{w: c}
	cmd := exec.Command("/bin/sh", "-c", string(cmdline))
	cmd.Stdout, cmd.Stderr = out, out
	status := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		status = exit.ExitCode()
	}
	if out.err != nil {
		return out.err
	}
	return writeFrame(c, frameExit, binary.BigEndian.AppendUint32(nil, uint32(int32(status))))
}
