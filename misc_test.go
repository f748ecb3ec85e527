package udt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every exported method of a nil *Conn, a nil *Listener, a zero Conn and
// Listener, and the zero Socket returns (an error where it has one)
// instead of panicking, and a *Conn's and *Listener's error is EINVAL. The
// methods are found by reflection, so a method added later is covered.
func TestNilAndZeroValuesDoNotPanic(t *testing.T) {
	t.Parallel()
	for _, v := range []any{(*Conn)(nil), &Conn{}, (*Listener)(nil), &Listener{}, Socket{}} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumMethod() {
			m := rv.Type().Method(i)
			name := fmt.Sprintf("%T.%s", v, m.Name)
			if v, ok := v.(*Listener); ok && v == nil && m.Name == "String" {
				continue // checked below
			}
			args := zeroArgs(rv.Method(i).Type())
			var out []reflect.Value
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panicked: %v", name, r)
					}
				}()
				done := make(chan struct{})
				timer := time.AfterFunc(timeoutUpperBound, func() {
					select {
					case <-done:
					default:
						t.Errorf("%s has not returned after %v", name, timeoutUpperBound)
					}
				})
				defer timer.Stop()
				out = rv.Method(i).Call(args)
				close(done)
			}()
			if len(out) == 0 {
				continue
			}
			last := out[len(out)-1]
			if last.Type() != reflect.TypeFor[error]() {
				continue
			}
			if _, isSocket := v.(Socket); isSocket {
				continue // UDT answers for a socket it does not know; not panicking is the point
			}
			if err, _ := last.Interface().(error); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("%s = %v, want EINVAL", name, err)
			}
		}
	}
	if s := fmt.Sprint((*Listener)(nil)); s != "udt listener <nil>" {
		t.Errorf("fmt.Sprint(nil *Listener) = %q", s)
	}
}

// zeroArgs makes zero arguments for a method of type ft, with a live
// context where one is wanted (none for a variadic tail).
func zeroArgs(ft reflect.Type) []reflect.Value {
	n := ft.NumIn()
	if ft.IsVariadic() {
		n--
	}
	args := make([]reflect.Value, n)
	for j := range args {
		if in := ft.In(j); in == reflect.TypeFor[context.Context]() {
			args[j] = reflect.ValueOf(context.Background())
		} else {
			args[j] = reflect.Zero(in)
		}
	}
	return args
}

// fmt shows a Listener and a Conn by their addresses, not their insides.
func TestListenerAndConnString(t *testing.T) {
	t.Parallel()
	l := listenT(t, "udt", "127.0.0.1:0", Config{})
	if got, want := fmt.Sprint(l), "udt listener on "+l.Addr().String(); got != want {
		t.Fatalf("fmt.Sprint(listener) = %q, want %q", got, want)
	}
	c, _ := connPair(t, Config{})
	if got, want := fmt.Sprint(c), "udt "+c.LocalAddr().String()+"->"+c.RemoteAddr().String(); got != want {
		t.Fatalf("fmt.Sprint(conn) = %q, want %q", got, want)
	}
	l.Close()
	c.SetLinger(0)
	c.Close()
	if !strings.HasSuffix(fmt.Sprint(l), "(closed)") || !strings.HasSuffix(fmt.Sprint(c), "(closed)") {
		t.Fatalf("closed: %v, %v", l, c)
	}
}

// The zero EpollEvents waits for every kind of event instead of nothing.
func TestZeroEpollEventsWaitsForAll(t *testing.T) {
	t.Parallel()
	c, _ := pair(t, Stream, loop4)
	ep, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Release()
	if err := ep.AddUsock(c.ID(), EventOut); err != nil {
		t.Fatal(err)
	}
	defer ep.RemoveUsock(c.ID())
	var ev EpollEvents
	n, err := ep.Wait(&ev, timeoutUpperBound)
	if err != nil || n != 1 || len(ev.Write) != 1 || ev.Write[0] != c.ID() {
		t.Fatalf("Wait(zero EpollEvents) = %d, %v, %+v; want the writable socket", n, err, ev)
	}
	if cap(ev.Read) != DefaultEpollEvents || cap(ev.SysWrite) != DefaultEpollEvents {
		t.Fatalf("capacities %d, %d; want DefaultEpollEvents", cap(ev.Read), cap(ev.SysWrite))
	}
}

// A program's Startup and Cleanup leave the net layer's connections open,
// even when its Startup came first: the net layer holds its own. A
// Cleanup beyond the program's Startups is refused. Not parallel: it
// takes back TestMain's Startup for a moment.
func TestCleanupLeavesNetLayerConnections(t *testing.T) {
	c, s := connPair(t, Config{})
	if err := Startup(); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	// TestMain's Startup, matched now: without the net layer's own
	// Startup, UDT's count would reach zero here.
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
	err := Cleanup()
	if startErr := Startup(); startErr != nil { // TestMain's, back
		t.Fatal(startErr)
	}
	if CodeOf(err) != ErrInvOp || !strings.Contains(err.Error(), "matching Startup") {
		t.Fatalf("Cleanup beyond the program's Startups = %v, want ErrInvOp", err)
	}
	if _, err := c.Write([]byte("still open")); err != nil {
		t.Fatalf("Write after Startup and Cleanup: %v", err)
	}
	s.SetReadDeadline(time.Now().Add(timeoutUpperBound))
	b := make([]byte, 10)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "still open" {
		t.Fatalf("Read after Startup and Cleanup = %q, %v", b, err)
	}
}
