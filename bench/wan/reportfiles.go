package main

// The files every scenario (run, services, fair, check) writes its report
// to, and the parts its plots share, kept in one place so that the reports
// in docs/ keep one shape whichever scenario wrote them.

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// reportFiles are the paths of a scenario's -md, -json and -png flags; an
// empty one is not written.
type reportFiles struct{ md, json, png string }

// reportFlags defines -json, -png and -md on fs; plot says what the PNG
// shows, for -h.
func reportFlags(fs *flag.FlagSet, plot string) *reportFiles {
	o := new(reportFiles)
	fs.StringVar(&o.json, "json", "", "write the results here")
	fs.StringVar(&o.png, "png", "", "write "+plot+" here")
	fs.StringVar(&o.md, "md", "", "write the table (Markdown) here")
	return o
}

// write prints the Markdown table after a blank line and writes the files
// asked for: the table, rep as JSON, and the plot that plotTo draws.
func (o *reportFiles) write(table string, rep any, plotTo func(path string) error) error {
	fmt.Println()
	fmt.Print(table)
	if o.md != "" {
		if err := os.WriteFile(o.md, []byte(table), 0o644); err != nil {
			return err
		}
	}
	if o.json != "" {
		if err := writeJSON(o.json, rep); err != nil {
			return err
		}
	}
	if o.png != "" {
		return plotTo(o.png)
	}
	return nil
}

// writeJSON writes v indented by two spaces and ending in a newline, the
// form of docs/*.json, so that a rerun diffs line by line.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// readJSON reads a report an earlier run wrote, for the scenarios that
// redraw one without the lab.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// linkLine is the link's rate, mbps, as a dashed grey line from x0 to x1:
// the ceiling every panel of goodput is read against.
func linkLine(x0, x1, mbps float64) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: mbps}, {X: x1, Y: mbps}})
	if err != nil {
		return nil, err
	}
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	l.Color = color.Gray{0x60}
	return l, nil
}

// savePanels lays plots out as a grid (plots[row][column]) of panels w by
// h, gap apart, and writes it to path as a PNG.
func savePanels(path string, plots [][]*plot.Plot, w, h, gap vg.Length) error {
	rows, cols := len(plots), len(plots[0])
	img := vgimg.New(w*vg.Length(cols), h*vg.Length(rows))
	margin := vg.Millimeter * 2
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: gap, PadY: gap,
		PadTop: margin, PadBottom: margin, PadLeft: margin, PadRight: margin}
	canvases := plot.Align(plots, t, draw.New(img))
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replotFrom is a scenario's -replot: it reads the JSON report at path,
// prints its table and, with -png, draws its plot again.
func replotFrom[R any](path string, files *reportFiles, table func(*R) string, plotTo func(*R, string) error) error {
	var rep R
	if err := readJSON(path, &rep); err != nil {
		return err
	}
	fmt.Print(table(&rep))
	if files.png != "" {
		return plotTo(&rep, files.png)
	}
	return nil
}

// pickContenders returns the contenders a -contenders list names, in its
// order, or an error naming the unknown one and the choices.
func pickContenders[C any](all []C, name func(C) string, list string) ([]C, error) {
	var names []string
	for _, c := range all {
		names = append(names, name(c))
	}
	var run []C
	for _, n := range strings.Split(list, ",") {
		i := slices.Index(names, n)
		if i < 0 {
			return nil, fmt.Errorf("-contenders: unknown %q (%s)", n, strings.Join(names, ", "))
		}
		run = append(run, all[i])
	}
	return run, nil
}
