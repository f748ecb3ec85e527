package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/udtgo/udt"
)

// result is what one node of the slice gave back.
type result struct {
	Addr      string
	Output    []byte
	Status    int           // the command's exit status
	Connected time.Duration // from the start of the run
	First     time.Duration // the first output frame read (0: none)
	Last      time.Duration // the last frame read
	Done      time.Duration // output and status gathered
	Err       error
	Stats     *udt.Stats // the UDT connection's, taken after the exit status
}

// dialFunc connects to one agent.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

// run connects to every agent at once, sends each cmd and gathers every
// output with its exit status.
func run(ctx context.Context, dial dialFunc, addrs []string, cmd string) []result {
	start := time.Now()
	res := make([]result, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			r := &res[i]
			r.Addr = addr
			r.Err = gather(ctx, dial, addr, cmd, start, r)
			r.Done = time.Since(start)
		})
	}
	wg.Wait()
	return res
}

func gather(ctx context.Context, dial dialFunc, addr, cmd string, start time.Time, r *result) error {
	c, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r.Connected = time.Since(start)
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := writeFrame(c, frameCommand, []byte(cmd)); err != nil {
		return err
	}
	var buf []byte
	for {
		typ, data, err := readFrame(c, buf)
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		r.Last = time.Since(start)
		if r.First == 0 {
			r.First = r.Last
		}
		buf = data[:0]
		switch typ {
		case frameOutput:
			r.Output = append(r.Output, data...)
		case frameExit:
			if len(data) != 4 {
				return fmt.Errorf("%s: exit frame of %d bytes", addr, len(data))
			}
			r.Status = int(int32(binary.BigEndian.Uint32(data)))
			if uc, ok := c.(*udt.Conn); ok {
				if st, err := uc.Stats(); err == nil {
					r.Stats = &st
				}
			}
			return nil
		default:
			return fmt.Errorf("%s: %w: frame type %q", addr, errBadFrame, typ)
		}
	}
}

var errBadFrame = errors.New("unknown frame")
