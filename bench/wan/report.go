package main

import (
	"fmt"
	"image/color"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func cellResult(c *Cell, name string) (float64, bool) {
	r, ok := c.Results[name]
	if !ok || r.Err != "" {
		return 0, false
	}
	return r.Mbps, true
}

// markdownTable renders the report: Mbit/s and % of the link for each
// contender, then the ratios the issue asks for.
func markdownTable(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Link %.0f Mbit/s each way; goodput in Mbit/s (%% of the link).\n\n", float64(rep.RateBps)/1e6)
	b.WriteString("| RTT | loss |")
	for _, n := range rep.Contenders {
		fmt.Fprintf(&b, " %s |", contenderNames[n])
	}
	has := func(n string) bool { return slices.Contains(rep.Contenders, n) }
	var ratios [][2]string
	for _, tcp := range []string{"tcp", "tcp-cubic"} {
		if has("udt") && has(tcp) {
			ratios = append(ratios, [2]string{"udt", tcp})
		}
	}
	if has("udt") && has("udt-cpp") {
		ratios = append(ratios, [2]string{"udt", "udt-cpp"})
	}
	short := map[string]string{"udt": "UDT", "tcp": "TCP", "tcp-cubic": "CUBIC", "udt-cpp": "C++ UDT", "quic": "QUIC"}
	for _, r := range ratios {
		if r[1] == "udt-cpp" {
			b.WriteString(" Go UDT / C++ UDT |")
		} else {
			fmt.Fprintf(&b, " UDT / %s |", short[r[1]])
		}
	}
	b.WriteString("\n|---|---|")
	for range len(rep.Contenders) + len(ratios) {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, c := range rep.Cells {
		fmt.Fprintf(&b, "| %g ms | %g%% |", c.RTTms, c.LossPct)
		for _, n := range rep.Contenders {
			r := c.Results[n]
			if r == nil || r.Err != "" {
				b.WriteString(" failed |")
				continue
			}
			fmt.Fprintf(&b, " %.1f (%.0f%%) |", r.Mbps, r.LinkPct)
		}
		for _, r := range ratios {
			x, ok1 := cellResult(c, r[0])
			y, ok2 := cellResult(c, r[1])
			switch {
			case !ok1 || !ok2:
				b.WriteString(" – |")
			case r[1] == "udt-cpp":
				fmt.Fprintf(&b, " %.0f%% |", x/y*100)
			case y == 0:
				b.WriteString(" ∞ |")
			default:
				fmt.Fprintf(&b, " %.1f× |", x/y)
			}
		}
		b.WriteString("\n")
	}
	// The queue each contender built (probe RTT during its run less the
	// path's), where measured.
	measured := false
	for _, c := range rep.Cells {
		for _, r := range c.Results {
			measured = measured || r.RTTInflMs != 0
		}
	}
	if measured {
		contenderTable(&b, rep, "RTT inflation: the median round trip of probes through the path during the run, less the path's own (ms).",
			func(r *Result) string { return fmt.Sprintf("%.1f", r.RTTInflMs) })
		contenderTable(&b, rep, "Queue at the bottleneck: the emulator's backlog on the A→B link, sampled every 5 ms during the run, median (mean), ms. It comes from the emulator's model, so a busy machine does not add to it.",
			func(r *Result) string { return fmt.Sprintf("%.1f (%.1f)", r.QueueMs, r.QueueMeanMs) })
	}
	return b.String()
}

// contenderTable writes a table of one figure per cell and contender,
// headed by title; a contender without a result gets a dash.
func contenderTable(b *strings.Builder, rep *Report, title string, cell func(*Result) string) {
	fmt.Fprintf(b, "\n%s\n\n| RTT | loss |", title)
	for _, n := range rep.Contenders {
		fmt.Fprintf(b, " %s |", n)
	}
	b.WriteString("\n|---|---|")
	for range rep.Contenders {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, c := range rep.Cells {
		fmt.Fprintf(b, "| %g ms | %g%% |", c.RTTms, c.LossPct)
		for _, n := range rep.Contenders {
			if r := c.Results[n]; r != nil && r.Err == "" {
				fmt.Fprintf(b, " %s |", cell(r))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
}

var palette = map[string]color.Color{
	"udt":        color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	"udt-cpp":    color.RGBA{0x9e, 0xc9, 0xe9, 0xff},
	"tcp":        color.RGBA{0xd6, 0x27, 0x28, 0xff},
	"tcp-cubic":  color.RGBA{0xff, 0x98, 0x96, 0xff},
	"quic":       color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	"udt-bbr":    color.RGBA{0x94, 0x67, 0xbd, 0xff},
	"udt-native": color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	"udt-fixed":  color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}

// plotReport draws one panel per loss rate: goodput against RTT, one bar
// per contender, the link rate as a line.
func plotReport(rep *Report, path string) error {
	var losses, rtts []float64
	for _, c := range rep.Cells {
		if !slices.Contains(losses, c.LossPct) {
			losses = append(losses, c.LossPct)
		}
		if !slices.Contains(rtts, c.RTTms) {
			rtts = append(rtts, c.RTTms)
		}
	}
	link := float64(rep.RateBps) / 1e6
	plots := make([][]*plot.Plot, 1)
	for _, loss := range losses {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("random loss %g%% each way", loss)
		p.Y.Label.Text = "goodput, Mbit/s"
		p.X.Label.Text = "round-trip time"
		p.Y.Min, p.Y.Max = 0, link*1.5 // room above the link for the legend
		names := make([]string, len(rtts))
		for i, r := range rtts {
			names[i] = fmt.Sprintf("%g ms", r)
		}
		p.NominalX(names...)
		w := vg.Points(9)
		n := len(rep.Contenders)
		for k, name := range rep.Contenders {
			vals := make(plotter.Values, len(rtts))
			for i, rtt := range rtts {
				for _, c := range rep.Cells {
					if c.RTTms == rtt && c.LossPct == loss {
						vals[i], _ = cellResult(c, name)
					}
				}
			}
			bars, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = palette[name]
			bars.Offset = w * vg.Length(float64(k)-float64(n-1)/2)
			p.Add(bars)
			if loss == losses[0] {
				p.Legend.Add(contenderNames[name], bars)
			}
		}
		line, err := linkLine(-0.5, float64(len(rtts))-0.5, link)
		if err != nil {
			return err
		}
		p.Add(line)
		if loss == losses[0] {
			p.Legend.Add(fmt.Sprintf("link %.0f Mbit/s", link), line)
			p.Legend.Top = true
			p.Legend.Left = true
			p.Legend.TextStyle.Font.Size = vg.Points(8)
		}
		plots[0] = append(plots[0], p)
	}
	return savePanels(path, plots, 4.2*vg.Inch, 3.6*vg.Inch, 3*vg.Millimeter)
}
