package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/udtgo/udt/udt4"
)

const versionHelp = `
usage: udt version
       udt --version

Prints what this binary is: the module's version (and the commit it was
built from, when known), the Go release and platform, the UDT release it
is built against with the pinned Debian package, and whether the binary
needs a libudt at run time (it should not: libudt is linked statically).
`

func runVersion(_ context.Context, args []string) error {
	fs := newFlags("version", versionHelp)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	bi, _ := debug.ReadBuildInfo()
	writeVersion(os.Stdout, bi)
	return nil
}

// writeVersion writes the version lines from bi (nil: no build
// information in the binary).
func writeVersion(w io.Writer, bi *debug.BuildInfo) {
	mod, rev := "github.com/udtgo/udt", ""
	ver := "(unknown)"
	if bi != nil {
		if bi.Main.Path != "" {
			mod = bi.Main.Path
		}
		ver = bi.Main.Version // "(devel)" when built inside the module
		var commit, when string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if commit != "" {
			rev = ", commit " + commit[:min(12, len(commit))]
			if when != "" {
				rev += " of " + when
			}
			if dirty {
				rev += " with local changes"
			}
		}
	}
	fmt.Fprintf(w, "udt: %s %s%s\n", mod, ver, rev)
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "UDT: %s (%s %s), %s\n", udt4.UpstreamVersion, udt4.Package, udt4.DebianVersion, linkage())
}

// linkage says how libudt got into this binary, from the binary itself.
func linkage() string {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Sprintf("linked from %s (cannot read this binary: %v)", udt4.StaticLib, err)
	}
	dynamic, err := udt4.NeedsLibudt(exe)
	switch {
	case err != nil:
		return fmt.Sprintf("linked from %s (cannot read this binary: %v)", udt4.StaticLib, err)
	case dynamic:
		return "linked dynamically: this binary needs a shared libudt at run time"
	}
	return "linked statically from " + udt4.StaticLib + ": no libudt needed at run time"
}
