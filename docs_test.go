package udt

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// maxREADME is the README's budget: a guide that points into docs/, not the
// whole manual.
const maxREADME = 20 << 10

// TestDocs checks README.md and docs/*.md: every relative link and image
// points at a file of the repository (and a heading there, for a #fragment),
// no link leaves the repository, the README fits its budget, and its first
// lines still give the two commands CI and the project's guide rely on.
func TestDocs(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md"}, files...)
	for _, p := range checkDocLinks(".", files) {
		t.Error(p)
	}

	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxREADME {
		t.Errorf("README.md is %d bytes, over its budget of %d: move detail into docs/", len(b), maxREADME)
	}
	head := strings.Join(strings.SplitN(string(b), "\n", 11)[:10], "\n")
	for _, cmd := range []string{"./build.sh demo", "./build.sh test"} {
		if !strings.Contains(head, cmd) {
			t.Errorf("README.md's first 10 lines do not give %q", cmd)
		}
	}
}

// TestDocLinkCheckerFindsBrokenLinks runs the checker on a fixture with one
// link of each kind, good and bad, so that TestDocs cannot pass by finding
// nothing.
func TestDocLinkCheckerFindsBrokenLinks(t *testing.T) {
	root := filepath.Join("testdata", "doclinks")
	got := checkDocLinks(root, []string{"README.md", "docs/guide.md"})
	want := []string{
		`README.md:9: link "docs/missing.md": no such file`,
		`README.md:10: link "docs/guide.md#no-such-heading": no heading "no-such-heading" in docs/guide.md`,
		`README.md:11: link "#nowhere": no heading "nowhere" in README.md`,
		`README.md:12: link "../outside.md": leaves the repository`,
		`README.md:13: link "/etc/passwd": an absolute path leaves the repository`,
		`README.md:14: link "file:///etc/passwd": leaves the repository`,
		`README.md:15: image "img/missing.png": no such file`,
		`docs/guide.md:5: link "../../shared/FACTS.md": leaves the repository`,
		`docs/guide.md:6: link "guide.md#the-guide-2": no heading "the-guide-2" in docs/guide.md`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("checker found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

var (
	// An inline link or image: [text](target) or ![alt](target), with an
	// optional title after the target.
	inlineLink = regexp.MustCompile(`(!?)\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	// A reference definition: [label]: target
	refLink  = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	codeSpan = regexp.MustCompile("`[^`]*`")
	scheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// checkDocLinks checks the links of the Markdown files (paths relative to
// root, slash-separated) and returns one line per problem, in file order.
func checkDocLinks(root string, files []string) []string {
	var problems []string
	anchors := map[string]map[string]bool{} // file -> heading anchors, read once
	anchorsOf := func(rel string) map[string]bool {
		if a, ok := anchors[rel]; ok {
			return a
		}
		a := headingAnchors(filepath.Join(root, filepath.FromSlash(rel)))
		anchors[rel] = a
		return a
	}
	for _, file := range files {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		inCode := false
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if isFence(line) {
				inCode = !inCode
			}
			if inCode || isFence(line) {
				continue
			}
			line = codeSpan.ReplaceAllString(line, "")
			type link struct{ kind, target string }
			var links []link
			for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
				kind := "link"
				if m[1] == "!" {
					kind = "image"
				}
				links = append(links, link{kind, m[2]})
			}
			if m := refLink.FindStringSubmatch(line); m != nil {
				links = append(links, link{"link", m[1]})
			}
			for _, l := range links {
				if why := checkTarget(file, l.target, anchorsOf, root); why != "" {
					problems = append(problems, fmt.Sprintf("%s:%d: %s %q: %s", file, n, l.kind, l.target, why))
				}
			}
		}
		if err := sc.Err(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
		}
		f.Close()
	}
	return problems
}

// checkTarget says what is wrong with one link target of file, or "".
func checkTarget(file, target string, anchorsOf func(string) map[string]bool, root string) string {
	switch {
	case target == "":
		return "empty target"
	case strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "https://"), strings.HasPrefix(target, "mailto:"):
		return "" // a web page, not a path: nothing here to break
	case scheme.MatchString(target):
		return "leaves the repository"
	case strings.HasPrefix(target, "/"):
		return "an absolute path leaves the repository"
	}
	path, frag, _ := strings.Cut(target, "#")
	rel := file
	if path != "" {
		rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return "leaves the repository"
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			return "no such file"
		}
	}
	if frag != "" && strings.HasSuffix(rel, ".md") && !anchorsOf(rel)[frag] {
		return fmt.Sprintf("no heading %q in %s", frag, rel)
	}
	return ""
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, punctuation dropped, spaces to hyphens, and
// -1, -2, ... on repeats.
func headingAnchors(path string) map[string]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	seen := map[string]int{}
	out := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if isFence(line) {
			inCode = !inCode
		}
		if inCode || isFence(line) {
			continue
		}
		trimmed := strings.TrimLeft(line, "#")
		if len(trimmed) == len(line) || len(line)-len(trimmed) > 6 || !strings.HasPrefix(trimmed, " ") {
			continue
		}
		slug := slugify(strings.TrimSpace(trimmed))
		if k := seen[slug]; k > 0 {
			out[fmt.Sprintf("%s-%d", slug, k)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func slugify(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isFence reports whether line opens or closes a fenced code block, whose
// text is not Markdown.
func isFence(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")
}

// TestExportedIdentifiersHaveDocs checks that every exported identifier of
// the packages users import has a doc comment: top-level declarations (a
// grouped const or var may share its group's comment, or carry one at the
// end of its line) and the exported methods of exported types.
func TestExportedIdentifiersHaveDocs(t *testing.T) {
	for _, dir := range []string{".", "cudt", "udt4", "udtmock"} {
		for _, p := range undocumented(t, dir) {
			t.Errorf("%s: no doc comment", p)
		}
	}
}

// undocumented lists the exported identifiers of the package in dir (test
// files aside) that have no doc comment, as file:line: name.
func undocumented(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	miss := func(pos token.Pos, name string) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(pos), name))
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Doc != nil {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := receiverType(d.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
					name = recv + "." + name
				}
				miss(d.Pos(), name)
			case *ast.GenDecl:
				grouped := d.Lparen.IsValid() && d.Doc != nil
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && s.Doc == nil && d.Doc == nil {
							miss(s.Pos(), s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Doc == nil && s.Comment == nil && !grouped && d.Doc == nil {
								miss(n.Pos(), n.Name)
							}
						}
					}
				}
			}
		}
	}
	return out
}

// receiverType is the name of a method's receiver type: T for T, *T, T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
