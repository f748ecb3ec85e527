package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/udtgo/udt/udt4"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		r := udtRun(t, t.TempDir(), nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("udt %s: exit %d\n%s", args[0], r.code, r.stderr)
		}
		for _, want := range []string{
			"udt: github.com/udtgo/udt ",
			"go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
			"UDT: " + udt4.UpstreamVersion + " (" + udt4.Package + " " + udt4.DebianVersion + ")",
			"linked statically from " + udt4.StaticLib + ": no libudt needed at run time",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("udt %s lacks %q:\n%s", args[0], want, r.stdout)
			}
		}
	}
	r := udtRun(t, t.TempDir(), nil, "version", "extra")
	if r.code != exitUsage || !strings.Contains(r.stderr, "unexpected arguments") {
		t.Errorf("udt version extra: exit %d\n%s", r.code, r.stderr)
	}
}

// What a binary built by `go install` from a tagged commit shows.
func TestVersionFromBuildInfo(t *testing.T) {
	var b strings.Builder
	writeVersion(&b, &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/udtgo/udt", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	want := "udt: github.com/udtgo/udt v1.2.3, commit 0123456789ab of 2025-01-02T03:04:05Z with local changes\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got\n%s\nwant first line\n%s", b.String(), want)
	}
	b.Reset()
	writeVersion(&b, nil)
	if !strings.HasPrefix(b.String(), "udt: github.com/udtgo/udt (unknown)\n") {
		t.Errorf("without build information:\n%s", b.String())
	}
}
