// Command udt runs UDT from the shell: a throughput test (perf), file
// transfer that interoperates with UDT's upstream sendfile/recvfile
// (serve, get), and netcat over UDT (cat). `udt help` lists them; every
// subcommand takes --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/udtgo/udt"
)

// Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted (Ctrl-C), as
// shells report a process ended by SIGINT.
const (
	exitFail        = 1
	exitUsage       = 2
	exitInterrupted = 130
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = []command{
	{"perf", "measure throughput (iperf-like), optionally against TCP", runPerf},
	{"serve", "serve a directory's files (upstream sendfile's protocol)", runServe},
	{"get", "download a file from `udt serve` or upstream sendfile", runGet},
	{"cat", "netcat over UDT: stdin to the peer, the peer to stdout", runCat},
	{"version", "print the versions of udt, Go and the UDT library", runVersion},
}

func usage(w io.Writer) {
	fmt.Fprint(w, `udt — UDT (UDP-based Data Transfer, reference library 4.11) from the shell

usage: udt <command> [flags] [args]

commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'udt <command> --help' for a command's flags and examples.

examples:
  udt perf --loopback --vs tcp      # both ends in this process, UDT then TCP
  udt serve ./files :9000           # serve ./files on UDP port 9000
  udt get 10.0.0.2:9000 big.iso     # download big.iso into the current directory
  udt cat -l :7000 > out            # receive one stream into a file
`)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main without the exit, so that its defers (the signal handler's
// stop) run before the process ends.
func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(os.Stdout)
		return 0
	case "-version", "--version":
		name, args = "version", args[:1]
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "udt: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}

	// The first Ctrl-C cancels the context and the command winds down (a
	// perf prints its summary so far, a get leaves a partial file to
	// resume); a second one is the default action, for a command stuck in
	// a call that does not watch the context.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	err := cmd.run(ctx, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "udt %s: %v\nRun 'udt %s --help' for usage.\n", name, ue.err, name)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "udt %s: interrupted\n", name)
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "udt %s: %v\n", name, err)
		return exitFail
	}
}

// noServer explains a dial nobody answered: UDT's handshake only times
// out (there is no "connection refused" over UDP), so the error says what
// to check. server is the command that would answer.
func noServer(err error, addr, server string) error {
	if !errors.Is(err, udt.ErrNoServer) {
		return err
	}
	port := addr
	if _, p, serr := net.SplitHostPort(addr); serr == nil {
		port = p
	}
	return &noServerError{err: err, addr: addr, hint: fmt.Sprintf("is '%s' running there? Does UDP get through to port %s, or does a firewall drop it? --timeout waits longer", server, port)}
}

type noServerError struct {
	err        error
	addr, hint string
}

func (e *noServerError) Error() string {
	return fmt.Sprintf("no UDT server answered at %s (%v)\nhint: %s", e.addr, e.err, e.hint)
}

func (e *noServerError) Unwrap() error { return e.err }

// dialTimeout is how long the commands wait for an answer by default:
// UDT's own connect gives up after as long.
const dialTimeout = udt.DefaultDialTimeout

// usageError is a mistake in the command line, as opposed to a failure
// while running.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// newFlags makes a flag set whose errors are usageErrors. The flag
// package calls Usage on every parse error, so it does nothing there;
// parseFlags prints the help for --help alone, to stdout.
func newFlags(name, text string) *flag.FlagSet {
	fs := flag.NewFlagSet("udt "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	helpText[fs] = text
	return fs
}

var helpText = map[*flag.FlagSet]string{}

// printHelp prints a subcommand's synopsis and examples, then its flags.
func printHelp(fs *flag.FlagSet) {
	w := os.Stdout
	fmt.Fprintln(w, strings.TrimSpace(helpText[fs]))
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseFlags parses args, allowing flags after positional arguments too
// ("udt get host:port file -c"), which Go's flag package alone stops at.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(fs)
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if m := wantingMore(fs); m != nil {
			if len(args) == 0 || args[0] == "--" {
				return nil, usagef("-%s wants %s", m.name, m.usage)
			}
			if err := m.v.more(args[0]); err != nil {
				return nil, usagef("-%s: %v", m.name, err)
			}
			args = args[1:]
			continue
		}
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// multiArg is a flag that takes more arguments than the one the flag
// package gives it, as "--tls CERT KEY" does: parseFlags hands it the
// arguments that follow.
type multiArg interface {
	flag.Value
	wantsMore() bool
	more(arg string) error
}

type pendingFlag struct {
	name, usage string
	v           multiArg
}

// wantingMore finds a flag set in the last parse that still wants
// arguments.
func wantingMore(fs *flag.FlagSet) *pendingFlag {
	var p *pendingFlag
	fs.Visit(func(f *flag.Flag) {
		if m, ok := f.Value.(multiArg); ok && m.wantsMore() {
			name, _ := flag.UnquoteUsage(f)
			p = &pendingFlag{f.Name, name, m}
		}
	})
	return p
}

// filePair is a flag of two file names, as "--tls CERT KEY".
type filePair struct {
	first, second string
	set           int // names given so far
}

func (p *filePair) String() string {
	if p == nil || p.set == 0 {
		return ""
	}
	return p.first + " " + p.second
}

func (p *filePair) Set(s string) error {
	p.first, p.second, p.set = s, "", 1
	return nil
}

func (p *filePair) wantsMore() bool { return p.set == 1 }

func (p *filePair) more(s string) error {
	p.second, p.set = s, 2
	return nil
}
