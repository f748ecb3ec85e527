package integrations

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// servicesDoc is the page whose Go programs a user copies to start.
const servicesDoc = "../docs/services.md"

// TestServicesDocBuilds vets and builds every ```go block of
// docs/services.md as a program of this module, so that the page cannot
// drift from the packages it shows. Each block must be a whole, gofmt'd
// file: a fragment cannot be built, and a user copies it as it is.
func TestServicesDocBuilds(t *testing.T) {
	blocks, err := goBlocks(servicesDoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) == 0 {
		t.Fatalf("%s has no ```go block", servicesDoc)
	}
	doc, err := filepath.Abs(servicesDoc)
	if err != nil {
		t.Fatal(err)
	}
	// Inside the module, so the programs resolve its packages and its
	// go.sum; "_" keeps the directory out of ./... patterns, such as a
	// go vet ./... running beside this test.
	dir, err := os.MkdirTemp(".", "_docprograms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var pkgs []string
	for i, b := range blocks {
		fset := token.NewFileSet()
		if _, err := parser.ParseFile(fset, "", b.src, parser.PackageClauseOnly); err != nil {
			t.Errorf("%s:%d: the ```go block is not a whole Go file (%v): write it as a program", servicesDoc, b.line, err)
			continue
		}
		if f, err := format.Source([]byte(b.src)); err == nil && !bytes.Equal(f, []byte(b.src)) {
			t.Errorf("%s:%d: the ```go block is not gofmt'd", servicesDoc, b.line)
		}
		pkg := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		// The line directive makes the compiler's and vet's messages
		// point into the page rather than at the copy.
		src := fmt.Sprintf("//line %s:%d\n%s", doc, b.line, b.src)
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(pkg))
	}
	if t.Failed() {
		return
	}
	for _, args := range [][]string{{"vet"}, {"build"}} {
		cmd := exec.Command("go", append(args, pkgs...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s of the programs in %s: %v\n%s", args[0], servicesDoc, err, out)
		}
	}
}

// A block is the text of a ```go fence and the line of the page its code
// starts on.
type block struct {
	src  string
	line int
}

// goBlocks returns the ```go fenced blocks of a Markdown file.
func goBlocks(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out []block
		cur *strings.Builder
		at  int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		lang, fence := strings.CutPrefix(strings.TrimSpace(line), "```")
		switch {
		case cur == nil && fence && strings.TrimSpace(lang) == "go":
			cur, at = new(strings.Builder), n+1
		case cur == nil:
		case fence:
			out = append(out, block{cur.String(), at})
			cur = nil
		default:
			cur.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the ```go block is not closed", path, at-1)
	}
	return out, nil
}
