package udt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The module's packages sit in layers, and an import may only point down:
// commands and examples use udt, which alone uses cudt, the one package
// that imports "C", over udt4, the description of the pinned library.
// Whoever adds a package gives it a layer in layerOf, or this test fails.

const modulePath = "github.com/udtgo/udt"

// otherModules are the repository's other modules: they build against this
// one through a replace directive, so nothing but this test stops them from
// importing what is not its API. may lists what they may import of it.
var otherModules = []struct {
	dir, path string
	may       []string
}{
	// Users' integrations: the public API only.
	{"integrations", modulePath + "/integrations", []string{modulePath, modulePath + "/udtmock"}},
	// The WAN lab's driver runs the lab (internal/netem, internal/wanlab),
	// races UDT against the C++ reference peers (udt4) and, for
	// UDT_FIREWALL_OFF, turns the firewall off to measure its cost (cudt).
	{"bench/wan", modulePath + "/bench/wan", []string{modulePath, modulePath + "/udtmock",
		modulePath + "/internal/netem", modulePath + "/internal/wanlab", modulePath + "/udt4", modulePath + "/cudt"}},
}

// layerOf names the layer of a package of this module, "" if it has none.
func layerOf(path string) string {
	rel, ok := strings.CutPrefix(path, modulePath)
	switch {
	case !ok:
		return ""
	case rel == "":
		return "udt"
	case rel == "/cudt":
		return "cudt"
	case rel == "/udt4":
		return "udt4"
	case rel == "/udtmock":
		return "udtmock"
	case rel == "/internal/systest":
		return "systest"
	case strings.HasPrefix(rel, "/internal/"):
		return "internal"
	case strings.HasPrefix(rel, "/cmd/"):
		return "cmd"
	case strings.HasPrefix(rel, "/examples/"):
		return "examples"
	}
	return ""
}

// mayImport lists, for each layer, the layers its code may import.
var mayImport = map[string][]string{
	"udt4": nil,
	"cudt": {"udt4"},
	// Tools for the tests, the lab and the commands (netem, wanlab, xfer):
	// below udt, so that udt's own tests can use them.
	"internal": {"internal"},
	"udt":      {"cudt", "udt4", "internal"},
	"udtmock":  {"udt"},
	"cmd":      {"udt", "udt4", "internal"},
	// What users copy: the public API only.
	"examples": {"udt"},
	// The black-box suites: tests only, above udt.
	"systest": nil,
}

// testsMayImport adds what a layer's tests may import beside mayImport.
var testsMayImport = map[string][]string{
	"internal": {"udt"},     // wanlab's tests carry UDT over the lab
	"udt":      {"udtmock"}, // the external tests of the Library seam
	// udt's exported API, the reference peers (udt4) and, for a
	// benchmark's baseline, the firewall switch (cudt).
	"systest": {"udt", "cudt", "udt4", "internal"},
}

// goPackage is what the test reads of `go list -json`.
type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	CgoFiles     []string
	Error        *struct{ Err string }
}

// TestLayering checks the imports of every package of this module, and of
// the repository's other modules, code and tests, under every build tag.
func TestLayering(t *testing.T) {
	t.Parallel()
	for _, p := range layeringProblems(goList(t, ".")) {
		t.Error(p)
	}
	for _, m := range otherModules {
		if _, err := os.Stat(filepath.Join(m.dir, "go.mod")); err != nil {
			// A copy from the module proxy leaves nested modules out.
			t.Logf("%s: not checked: %v", m.dir, err)
			continue
		}
		for _, p := range otherModuleProblems(goList(t, m.dir), m.path, m.may) {
			t.Error(p)
		}
	}
}

// TestLayeringCheckFindsViolations runs the checks on made-up packages with
// one violation of each kind, so that TestLayering cannot pass by finding
// nothing.
func TestLayeringCheckFindsViolations(t *testing.T) {
	m := modulePath
	got := layeringProblems([]goPackage{
		{ImportPath: m, Imports: []string{"fmt", m + "/cudt", m + "/internal/netem"}, XTestImports: []string{m, m + "/udtmock"}},
		{ImportPath: m + "/cudt", Imports: []string{"C", m}, CgoFiles: []string{"cudt.go"}},
		{ImportPath: m + "/udt4", Imports: []string{m + "/cudt"}},
		{ImportPath: m + "/internal/wanlab", Imports: []string{m}, TestImports: []string{m}},
		{ImportPath: m + "/cmd/udt", Imports: []string{m, m + "/cudt"}, CgoFiles: []string{"tcpinfo.go"}},
		{ImportPath: m + "/examples/loopback", Imports: []string{m, m + "/internal/xfer"}},
		{ImportPath: m + "/udtmock", TestImports: []string{"C"}},
		{ImportPath: m + "/internal/systest", Imports: []string{m}, TestImports: []string{m, m + "/cudt"}},
		{ImportPath: m + "/newpkg"},
		{ImportPath: m + "/broken", Error: &struct{ Err string }{"no Go files"}},
	})
	want := []string{
		m + "/cudt imports " + m + ": the cudt layer may import only udt4",
		m + "/udt4 imports " + m + "/cudt: the udt4 layer may import only nothing of this module",
		m + "/internal/wanlab imports " + m + ": the internal layer may import only internal",
		m + "/cmd/udt imports \"C\": only cudt may",
		m + "/cmd/udt imports " + m + "/cudt: the cmd layer may import only udt, udt4, internal",
		m + "/examples/loopback imports " + m + "/internal/xfer: the examples layer may import only udt",
		m + "/udtmock's tests import \"C\": only cudt may",
		m + "/internal/systest imports " + m + ": the systest layer may import only nothing of this module",
		m + "/newpkg: no layer: give it one in layerOf",
		m + "/broken: no Go files",
	}
	if !slices.Equal(got, want) {
		t.Errorf("layeringProblems found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}

	got = otherModuleProblems([]goPackage{
		{ImportPath: m + "/integrations/udtgrpc", Imports: []string{m, m + "/integrations/internal/testutil", "google.golang.org/grpc"}},
		{ImportPath: m + "/integrations/udthttp", Imports: []string{m + "/cudt"}, TestImports: []string{m + "/internal/netem"}},
	}, m+"/integrations", []string{m})
	want = []string{
		m + "/integrations/udthttp imports " + m + "/cudt: that module may import only " + m,
		m + "/integrations/udthttp's tests import " + m + "/internal/netem: that module may import only " + m,
	}
	if !slices.Equal(got, want) {
		t.Errorf("otherModuleProblems found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// layeringProblems checks the packages of this module against the layers.
func layeringProblems(pkgs []goPackage) []string {
	var out []string
	for _, p := range pkgs {
		if p.Error != nil {
			out = append(out, fmt.Sprintf("%s: %s", p.ImportPath, p.Error.Err))
			continue
		}
		out = append(out, cgoProblems(p)...)
		from := layerOf(p.ImportPath)
		if from == "" {
			out = append(out, p.ImportPath+": no layer: give it one in layerOf")
			continue
		}
		may := mayImport[from]
		check := func(imports []string, who string, may []string) {
			for _, imp := range imports {
				if imp == p.ImportPath || !inModule(imp) {
					continue
				}
				if !slices.Contains(may, layerOf(imp)) {
					list := strings.Join(may, ", ")
					if list == "" {
						list = "nothing of this module"
					}
					out = append(out, fmt.Sprintf("%s%s %s: the %s layer may import only %s", p.ImportPath, who, imp, from, list))
				}
			}
		}
		check(p.Imports, " imports", may)
		may = append(slices.Clip(may), testsMayImport[from]...)
		check(p.TestImports, "'s tests import", may)
		check(p.XTestImports, "'s tests import", may)
	}
	return out
}

// otherModuleProblems checks the packages of the module at path, another
// module of the repository, which may import of this one only may.
func otherModuleProblems(pkgs []goPackage, path string, may []string) []string {
	var out []string
	for _, p := range pkgs {
		if p.Error != nil {
			out = append(out, fmt.Sprintf("%s: %s", p.ImportPath, p.Error.Err))
			continue
		}
		out = append(out, cgoProblems(p)...)
		check := func(imports []string, who string) {
			for _, imp := range imports {
				if inModule(imp) && !slices.Contains(may, imp) {
					out = append(out, fmt.Sprintf("%s%s %s: that module may import only %s", p.ImportPath, who, imp, strings.Join(may, ", ")))
				}
			}
		}
		check(p.Imports, " imports")
		check(p.TestImports, "'s tests import")
		check(p.XTestImports, "'s tests import")
	}
	return out
}

// cgoProblems reports p's use of cgo unless p is cudt.
func cgoProblems(p goPackage) []string {
	if p.ImportPath == modulePath+"/cudt" {
		return nil
	}
	var out []string
	if slices.Contains(p.Imports, "C") || len(p.CgoFiles) > 0 {
		out = append(out, p.ImportPath+` imports "C": only cudt may`)
	}
	if slices.Contains(p.TestImports, "C") || slices.Contains(p.XTestImports, "C") {
		out = append(out, p.ImportPath+`'s tests import "C": only cudt may`)
	}
	return out
}

// inModule reports whether path is a package of this module, not of the
// repository's other modules.
func inModule(path string) bool {
	if path != modulePath && !strings.HasPrefix(path, modulePath+"/") {
		return false
	}
	for _, m := range otherModules {
		if path == m.path || strings.HasPrefix(path, m.path+"/") {
			return false
		}
	}
	return true
}

// goList lists the packages of the module in dir with their imports, under
// each set of build tags the repository's files use (and without cgo, for
// nocgo.go), merged: a file left out of one build is in another.
func goList(t *testing.T, dir string) []goPackage {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	byPath := map[string]*goPackage{}
	var order []string
	for _, build := range []struct{ tags, cgo string }{{"", "1"}, {"asan,race,udt_leakcheck", "1"}, {"", "0"}} {
		cmd := exec.Command(gobin, "list", "-e", "-tags="+build.tags,
			"-json=ImportPath,Imports,TestImports,XTestImports,CgoFiles,Error", "./...")
		cmd.Dir = dir
		// Imports come from the files themselves: nothing to download.
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+build.cgo, "GOPROXY=off", "GOWORK=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list in %s (tags %q, CGO_ENABLED=%s): %v\n%s", dir, build.tags, build.cgo, err, stderr.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p goPackage
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("go list in %s: %v", dir, err)
			}
			q, ok := byPath[p.ImportPath]
			if !ok {
				q = &goPackage{ImportPath: p.ImportPath}
				byPath[p.ImportPath] = q
				order = append(order, p.ImportPath)
			}
			if p.Error != nil && q.Error == nil {
				q.Error = p.Error
			}
			q.Imports = union(q.Imports, p.Imports)
			q.TestImports = union(q.TestImports, p.TestImports)
			q.XTestImports = union(q.XTestImports, p.XTestImports)
			q.CgoFiles = union(q.CgoFiles, p.CgoFiles)
		}
	}
	pkgs := make([]goPackage, len(order))
	for i, path := range order {
		pkgs[i] = *byPath[path]
	}
	return pkgs
}

func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
