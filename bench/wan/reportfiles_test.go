package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReportFilesWrite writes a small run report through the same path as
// wanbench run: the Markdown file is the printed table, the JSON reads
// back, the PNG is one, and no -png draws no plot.
func TestReportFilesWrite(t *testing.T) {
	rep := &Report{RateBps: 100e6, Contenders: []string{"udt", "tcp"}, Cells: []*Cell{{
		RTTms: 100, LossPct: 0.1, Results: map[string]*Result{
			"udt": {Mbps: 90, LinkPct: 90}, "tcp": {Mbps: 9, LinkPct: 9},
		},
	}}}
	dir := t.TempDir()
	files := &reportFiles{md: filepath.Join(dir, "r.md"), json: filepath.Join(dir, "r.json"), png: filepath.Join(dir, "r.png")}
	if err := files.write(markdownTable(rep), rep, func(path string) error { return plotReport(rep, path) }); err != nil {
		t.Fatal(err)
	}
	if md, err := os.ReadFile(files.md); err != nil || string(md) != markdownTable(rep) {
		t.Errorf("r.md: %v, %q; want the table", err, md)
	}
	var back Report
	if err := readJSON(files.json, &back); err != nil {
		t.Fatal(err)
	}
	if r := back.Cells[0].Results["udt"]; r == nil || r.Mbps != 90 {
		t.Errorf("r.json read back udt as %+v, want 90 Mbit/s", r)
	}
	if b, err := os.ReadFile(files.json); err != nil || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("r.json does not end in a newline (%v)", err)
	}
	if b, err := os.ReadFile(files.png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("r.png is not a PNG (%v)", err)
	}

	if err := (&reportFiles{}).write("table\n", rep, func(string) error { t.Error("drew a plot no -png asked for"); return nil }); err != nil {
		t.Fatal(err)
	}
}
