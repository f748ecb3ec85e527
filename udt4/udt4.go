// Package udt4 describes the reference UDT library this module is built
// against, and nothing else.
//
// The reference is the UDT4 C++ library as packaged by Debian in
// libudt-dev 4.11+dfsg1: upstream UDT 4.11, unpatched (the "+dfsg1" repack
// only drops non-free documentation from the source tarball). It is linked
// statically from /usr/lib/libudt.a, so programs built with this module do
// not need libudt at run time; see LICENSE-UDT.txt in this directory for the
// notice that the static link obliges us to reproduce.
//
// This package contains no cgo. The #cgo directive that actually links the
// library has to live in package cudt, the only package of the module that
// imports "C"; cudt's tests check that its directive equals [LDFlags].
//
// [Check] verifies that the machine has the pinned library installed.
// [BuildPeers] and [SharedPeers] compile the upstream example programs
// (appserver, appclient, sendfile, recvfile, test) against it, for use as
// reference peers in interoperability tests.
package udt4

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The pinned reference library.
const (
	// UpstreamVersion is the UDT release the module is built against.
	UpstreamVersion = "4.11"

	// DebianVersion is the pinned Debian upstream version of [Package].
	// The installed package version must be this, optionally followed by a
	// Debian revision: "4.11+dfsg1-1+b1" and "4.11+dfsg1-2" match the pin.
	DebianVersion = "4.11+dfsg1"

	// Package is the Debian package that provides the headers, the static
	// library and the example programs.
	Package = "libudt-dev"

	// StaticLib is the static library linked into every program built with
	// this module.
	StaticLib = "/usr/lib/libudt.a"

	// IncludeDir holds udt.h and the headers it includes.
	IncludeDir = "/usr/include/udt"

	// ExamplesDir holds the upstream example programs (some gzipped).
	ExamplesDir = "/usr/share/doc/libudt-dev/examples"

	// LDFlags are the linker flags that link [StaticLib] statically,
	// together with the C++ runtime and the system libraries it needs.
	// Package cudt's #cgo LDFLAGS directive must be exactly this.
	LDFlags = StaticLib + " -lstdc++ -lpthread -lm"
)

// installHint says how to get the pinned library installed.
const installHint = "run ./build.sh deps (apt-get install -y " + Package + ")"

// dpkgStatusFile is read when dpkg-query is not available.
const dpkgStatusFile = "/var/lib/dpkg/status"

// errNotInstalled is returned (wrapped) when the package is not installed.
var errNotInstalled = errors.New(Package + " is not installed: " + installHint)

// InstalledVersion returns the version of [Package] installed on this
// machine, as recorded by dpkg, for example "4.11+dfsg1-1+b1". It asks
// dpkg-query and, when that command is not available, reads dpkg's status
// file directly.
func InstalledVersion() (string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		f, err := os.Open(dpkgStatusFile)
		if err != nil {
			return "", fmt.Errorf("udt4: cannot tell whether %s is installed: no dpkg-query in PATH and %v", Package, err)
		}
		defer f.Close()
		return parseDpkgStatus(f, Package)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("dpkg-query", "-W", "-f=${Status}\t${Version}\n", Package)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			// dpkg-query exits 1 when it knows nothing about the package.
			return "", fmt.Errorf("udt4: %w (dpkg-query: %s)", errNotInstalled, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("udt4: running dpkg-query: %v", err)
	}
	// One line per architecture the package is known for.
	for line := range strings.Lines(stdout.String()) {
		status, version, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if installed(status) && version != "" {
			return version, nil
		}
	}
	return "", fmt.Errorf("udt4: %w (dpkg-query: %q)", errNotInstalled, strings.TrimSpace(stdout.String()))
}

// installed reports whether a dpkg Status value ("install ok installed")
// says the package is installed (and not, say, removed with only its
// configuration files left).
func installed(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && f[2] == "installed"
}

// parseDpkgStatus returns the version of the installed package pkg from a
// dpkg status file.
func parseDpkgStatus(r io.Reader, pkg string) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var name, status, version string
	// check is called at the end of each stanza.
	check := func() (string, bool) {
		ok := name == pkg && installed(status) && version != ""
		v := version
		name, status, version = "", "", ""
		return v, ok
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if v, ok := check(); ok {
				return v, nil
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a multi-line field
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Package":
			name = value
		case "Status":
			status = value
		case "Version":
			version = value
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("udt4: reading %s: %v", dpkgStatusFile, err)
	}
	if v, ok := check(); ok {
		return v, nil
	}
	return "", fmt.Errorf("udt4: %w (not found in %s)", errNotInstalled, dpkgStatusFile)
}

// checkVersion reports whether an installed version of [Package] matches
// the pin: it must be [DebianVersion] itself or [DebianVersion] followed by a
// Debian revision ("-1", "-1+b1", ...).
func checkVersion(found string) error {
	if found == "" {
		return fmt.Errorf("udt4: %w", errNotInstalled)
	}
	if found == DebianVersion || strings.HasPrefix(found, DebianVersion+"-") {
		return nil
	}
	return fmt.Errorf("udt4: %s %s is installed, but this module is pinned to %s %s (upstream UDT %s): "+
		"install the pinned version (apt-get install -y %s=%s-<revision>), "+
		"or move the pin in package udt4 after checking the new version against the tests",
		Package, found, Package, DebianVersion, UpstreamVersion, Package, DebianVersion)
}

// Check verifies that this machine has the pinned reference library: that
// the installed [Package] matches [DebianVersion] and that [StaticLib] and
// udt.h in [IncludeDir] exist. All problems found are reported together.
func Check() error {
	var errs []error
	if v, err := InstalledVersion(); err != nil {
		errs = append(errs, err)
	} else if err := checkVersion(v); err != nil {
		errs = append(errs, err)
	}
	for _, path := range []string{StaticLib, filepath.Join(IncludeDir, "udt.h")} {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("udt4: %v: %s", err, installHint))
		case !fi.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("udt4: %s is not a regular file: %s", path, installHint))
		}
	}
	return errors.Join(errs...)
}
