package systest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udtgo/udt"
)

// fuzzTally counts what FuzzPacketSequence sent in this process.
var fuzzTally struct{ packets, execs atomic.Int64 }

// fuzzVictim starts the listeners FuzzPacketSequence attacks, in the
// fuzzing process itself, so that a crash UDT suffers is the fuzzer's
// finding, and a frozen port shows as the next input's handshake going
// unanswered. Their application greets and echoes every connection; all of
// it is closed when f ends.
func fuzzVictim(f *testing.F) (stream, msg netip.AddrPort) {
	var (
		mu    sync.Mutex
		conns = map[*udt.Conn]bool{}
		wg    sync.WaitGroup
	)
	serve := func(cfg udt.Config) netip.AddrPort {
		cfg.Linger = -1
		lc := udt.ListenConfig{Config: cfg}
		ln, err := lc.ListenUDT(context.Background(), "udt4", "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { ln.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.AcceptUDT()
				if err != nil {
					return
				}
				mu.Lock()
				conns[c] = true
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						mu.Lock()
						delete(conns, c)
						mu.Unlock()
						c.Close()
					}()
					if _, err := c.Write(make([]byte, 16<<10)); err != nil {
						return
					}
					echoEach(c)
				}()
			}
		}()
		return ln.Addr().(*udt.Addr).AddrPort
	}
	f.Cleanup(func() {
		// After the listeners' Close (cleanups run last first).
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return serve(udt.Config{}), serve(udt.Config{Message: true})
}

// fuzzOps are the packets FuzzPacketSequence crafts, each from a kind byte
// and three 16-bit arguments; sequence numbers are offsets from what the
// connection really sent or expects, so that inputs reach UDT's checks
// rather than its range tests.
const (
	opACK = iota
	opLightACK
	opNAK
	opNAKRange
	opNAKWords
	opDrop
	opData
	opACK2
	opControl
	opHandshake
	opRaw
	opWait
	fuzzOpKinds
)

// fuzzSeq encodes a sequence of ops as FuzzPacketSequence reads them.
func fuzzSeq(flags byte, ops ...[4]int16) []byte {
	b := []byte{flags}
	for _, op := range ops {
		for _, v := range op {
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		}
	}
	return b
}

// FuzzPacketSequence completes a real handshake with a live listener (whose
// application writes and echoes) and then sends the sequence of crafted
// control and data packets the input encodes: the first byte picks the
// stream or message listener and the handshake's flow window; then each
// 8 bytes are one op (kind, a, b, c). No input may crash the process or
// freeze the listener's port.
func FuzzPacketSequence(f *testing.F) {
	f.Add(fuzzSeq(0, [4]int16{opACK, 0, 0, 25600}, [4]int16{opNAK, 0, 0, 0}, [4]int16{opNAKRange, 0, 20, 0}))
	f.Add(fuzzSeq(0, [4]int16{opDrop, 0, 100, 1}, [4]int16{opData, 101, 1, 1}))
	f.Add(fuzzSeq(2, [4]int16{opWait, 1, 0, 0}, [4]int16{opACK, 1, 0, 30000}, [4]int16{opNAKRange, 1, 40, 0}, [4]int16{opNAKRange, 2, 60, 0}))
	f.Add(fuzzSeq(1, [4]int16{opDrop, -1000, 32000, 5}, [4]int16{opData, 5, 0, 100}, [4]int16{opData, 3, 2, 1}))
	f.Add(fuzzSeq(1, [4]int16{opNAKWords, 3, -1, 7}, [4]int16{opControl, 4, 0, 0}, [4]int16{opControl, 0x7fff, 1, 2}))
	f.Add(fuzzSeq(0, [4]int16{opLightACK, 5000, 0, 0}, [4]int16{opACK, 0, -1, -1}, [4]int16{opACK2, 1, 0, 0}, [4]int16{opHandshake, 0, 0, 0}))
	f.Add(fuzzSeq(0, [4]int16{opRaw, 2, 6, 0}, [4]int16{opRaw, 3, 1, 0}, [4]int16{opRaw, 7, 2, 0}, [4]int16{opData, 0, 0, 0}))
	stream, msg := fuzzVictim(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		to, sockType := stream, int32(1)
		if in[0]&1 != 0 {
			to, sockType = msg, 2
		}
		hs := defaultHandshake(sockType)
		hs.fc = []int32{25600, 1, 2, 64}[in[0]>>1&3]
		p, err := rawDial(t, netip.MustParseAddr("127.0.0.1"), to, hs)
		if err != nil {
			t.Fatalf("the listener stopped answering handshakes (after an earlier input?): %v", err)
		}
		defer p.ctrl(ctrlShutdown, 0) // the connection ends with the input
		sent := int64(0)
		arg := func(b []byte, i int) int32 { return int32(int16(binary.BigEndian.Uint16(b[2*i:]))) }
		for ops := in[1:]; len(ops) >= 8 && sent < 1024; ops = ops[8:] {
			// The kind's high byte repeats the op (more packets an input).
			kind := int(uint16(arg(ops, 0))&0xff) % fuzzOpKinds
			repeat := 1 + int(uint16(arg(ops, 0))>>8)%16
			if kind == opWait {
				repeat = 1 // a wait is for the connection's answer, once
			}
			a, b, c := arg(ops, 1), arg(ops, 2), arg(ops, 3)
			for range repeat {
				high, _ := p.received()
				next := high + 1 // what an honest receiver acknowledges
				switch kind {
				case opACK:
					p.ctrl(ctrlAck, uint32(b), next+a, c*16, c, c*4, c*100, c*100)
				case opLightACK:
					p.ctrl(ctrlAck, 0, next+a)
				case opNAK:
					p.ctrl(ctrlNAK, 0, high+a)
				case opNAKRange:
					p.ctrl(ctrlNAK, 0, (p.isn+a)|-1<<31, high+b)
				case opNAKWords:
					w := []int32{(high + a) | -1<<31, high + b, c}
					p.ctrl(ctrlNAK, 0, w[:1+int(uint16(c))%3]...)
				case opDrop:
					p.ctrl(ctrlDropRequest, uint32(c), p.isn+a, p.isn+b)
				case opData:
					// b's low bits: the message boundary and order flags.
					p.data(p.isn+a, uint32(b)<<29|1, make([]byte, int(uint16(c))%1500))
				case opACK2:
					p.ctrl(ctrlACK2, uint32(a))
				case opControl:
					p.ctrl(int(uint16(a))&0x7fff, uint32(b), c, c)
				case opHandshake:
					h := defaultHandshake(sockType)
					h.reqType, h.id = int32(a), p.id
					pk := h.packet(p.remote)
					p.raw(pk[:len(pk)-int(uint16(b))%len(pk)])
				case opRaw:
					// A control header with a body cut to a few words.
					w := make([]int32, int(uint16(b))%8)
					for i := range w {
						w[i] = next + c + int32(i)
					}
					p.ctrl(int(uint16(a))%9, uint32(c), w...)
				case opWait:
					p.waitDataFor(1+int(uint16(a))%8, 100*time.Millisecond)
				}
				sent++
			}
		}
		fuzzTally.packets.Add(sent)
		if n := fuzzTally.execs.Add(1); n%100 == 0 {
			tallyFuzz()
		}
	})
}

// tallyFuzz writes this process's packet and input counts to a file of its
// own in $UDT_FUZZ_TALLY, which build.sh adds up: go test -fuzz reports
// inputs run, not packets sent, and runs its workers in other processes.
func tallyFuzz() {
	dir := os.Getenv("UDT_FUZZ_TALLY")
	if dir == "" {
		return
	}
	name := filepath.Join(dir, fmt.Sprint(os.Getpid()))
	if f, err := os.Create(name); err == nil {
		fmt.Fprintf(f, "%d %d\n", fuzzTally.packets.Load(), fuzzTally.execs.Load())
		f.Close()
	}
}
