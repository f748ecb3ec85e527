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

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// fairMarkdown renders the runs as a table and, per scenario, the
// medians the goals are about.
func fairMarkdown(rep *FairReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bottleneck %.0f Mbit/s each way, RTT %g ms, random loss %g %%, queue %s. "+
		"Each run lasts %.0f s; each flow starts %.0f s after the one before. Shares, Jain's index and the queue "+
		"(the bottleneck's backlog in the emulator's model, median (mean); and the median round trip of probes less the path's, "+
		"which a busy machine inflates) are over each run's last %.0f s.\n\n",
		float64(rep.RateBps)/1e6, rep.RTTms, rep.LossPct, rep.QueueRule, rep.DurationS, rep.StaggerS, lastOf(rep))
	if rep.Plot != "" {
		fmt.Fprintf(&b, "![each flow's goodput over time](%s)\n\n", rep.Plot)
	}
	b.WriteString("| scenario (in start order) | Mbit/s (share) | Jain | link used | converged (within 20 % after 30 s) | queue, ms | probes, ms | load average before → after |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | failed: %s | | | | | | |\n", r.Scenario, r.Err)
			continue
		}
		var flows []string
		for i, f := range r.Flows {
			flows = append(flows, fmt.Sprintf("%s %.1f (%.0f %%)", f, r.MeanMbps[i], r.Share[i]*100))
		}
		conv := "not in the run"
		if r.ConvergeS >= 0 {
			conv = fmt.Sprintf("%.0f s", r.ConvergeS)
		}
		conv += fmt.Sprintf(" (%.0f %%)", r.Within20After30*100)
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.0f %% | %s | %.1f (%.1f) | +%.1f | %s → %s |\n", r.Scenario, strings.Join(flows, ", "),
			r.Jain, r.LinkPct, conv, r.QueueMs, r.QueueMeanMs, r.RTTInflMs, loadOf(r.Host), loadOf(r.HostAfter))
	}
	var names []string
	for _, r := range rep.Runs {
		if !slices.Contains(names, r.Scenario) {
			names = append(names, r.Scenario)
		}
	}
	b.WriteString("\nPer scenario (medians over its runs):\n\n")
	for _, n := range names {
		var j, share, conv []float64
		never, runs := 0, 0
		var first string
		for _, r := range rep.Runs {
			if r.Scenario != n || r.Err != "" {
				continue
			}
			runs++
			first = r.Flows[0]
			j = append(j, r.Jain)
			share = append(share, r.Share[0])
			if r.ConvergeS >= 0 {
				conv = append(conv, r.ConvergeS)
			} else {
				never++
			}
		}
		if runs == 0 {
			fmt.Fprintf(&b, "- %s: no run completed\n", n)
			continue
		}
		c := "no run converged"
		if len(conv) > 0 {
			c = fmt.Sprintf("converged after %.0f s (median of %d)", medianOf(conv), len(conv))
			if never > 0 {
				c += fmt.Sprintf(", %d of %d runs never", never, runs)
			}
		}
		fmt.Fprintf(&b, "- %s (%d runs): Jain %.3f, %s takes %.0f %%, %s\n", n, runs, medianOf(j), first, medianOf(share)*100, c)
	}
	b.WriteString(fairGoals(rep))
	return b.String()
}

// scenarioMedians returns the medians of Jain's index, of the share of
// flow `flow` and of the convergence times over a scenario's runs, and
// how many runs completed and converged.
func scenarioMedians(rep *FairReport, scenario string, flow int) (j, share, conv, within float64, runs, converged int) {
	var js, shares, convs, withins []float64
	for _, r := range rep.Runs {
		if r.Scenario != scenario || r.Err != "" {
			continue
		}
		runs++
		js = append(js, r.Jain)
		shares = append(shares, r.Share[flow])
		withins = append(withins, r.Within20After30)
		if r.ConvergeS >= 0 {
			convs = append(convs, r.ConvergeS)
		}
	}
	return medianOf(js), medianOf(shares), medianOf(convs), medianOf(withins), runs, len(convs)
}

// fairGoals checks the two fairness goals where the report has
// the scenarios they need: (a) two UDT flows with BBR reach Jain's index
// 0.95 and converge to within 20 % within 30 s; (b) UDT with BBR takes
// no larger share from CUBIC than TCP BBR does, in the same start order.
func fairGoals(rep *FairReport) string {
	var b strings.Builder
	has := func(s string) bool {
		return slices.ContainsFunc(rep.Runs, func(r *FairRun) bool { return r.Scenario == s && r.Err == "" })
	}
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	if has("udt-bbr/udt-bbr") {
		j, _, conv, within, runs, nconv := scenarioMedians(rep, "udt-bbr/udt-bbr", 0)
		ok := j >= 0.95 && nconv == runs && conv <= 30
		fmt.Fprintf(&b, "- Goal (a), two UDT flows with BBR: Jain %.3f (≥ 0.95), %d of %d runs converged (stayed within 20 %% to the end), median after %.0f s (≤ 30 s); within 20 %% %.0f %% of the time from 30 s on: %s\n",
			j, nconv, runs, conv, within*100, yes(ok))
	}
	for _, p := range [][2]string{{"udt-bbr/tcp-cubic", "tcp-bbr/tcp-cubic"}, {"tcp-cubic/udt-bbr", "tcp-cubic/tcp-bbr"}} {
		if !has(p[0]) || !has(p[1]) {
			continue
		}
		flow := 0
		if strings.HasPrefix(p[0], "tcp-cubic/") {
			flow = 1
		}
		_, u, _, _, _, _ := scenarioMedians(rep, p[0], flow)
		_, t, _, _, _, _ := scenarioMedians(rep, p[1], flow)
		fmt.Fprintf(&b, "- Goal (b), %s against %s: UDT with BBR takes %.0f %% beside CUBIC, TCP BBR %.0f %% (no more than BBR): %s\n",
			p[0], p[1], u*100, t*100, yes(u <= t+0.02))
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nAgainst the goals of issue 12 (shares: medians over the runs; within 2 points counts as equal):\n\n" + b.String()
}

func lastOf(rep *FairReport) float64 {
	for _, r := range rep.Runs {
		return r.LastS
	}
	return 0
}

// loadOf picks the 1-minute load average out of hostInfo's text.
func loadOf(host string) string {
	_, rest, ok := strings.Cut(host, "load average ")
	if !ok {
		return "?"
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

var flowColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
}

// plotFair draws one panel per run: each flow's goodput over time, the
// link rate dashed.
func plotFair(rep *FairReport, path string) error {
	var runs []*FairRun
	for _, r := range rep.Runs {
		if r.Err == "" {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("no run to plot")
	}
	cols := min(2, len(runs))
	rows := (len(runs) + cols - 1) / cols
	link := float64(rep.RateBps) / 1e6
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for k, r := range runs {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: Jain %.3f over the last %.0f s", r.Scenario, r.Jain, r.LastS)
		p.X.Label.Text = "time since the first flow started, s"
		p.Y.Label.Text = "goodput, Mbit/s"
		p.X.Min, p.X.Max = 0, float64(len(r.Series[0]))*r.BinS
		p.Y.Min, p.Y.Max = 0, link*1.35
		for i, s := range r.Series {
			xy := make(plotter.XYs, 0, len(s))
			for j, v := range s {
				if float64(j)*r.BinS < r.StartS[i]-r.BinS {
					continue // not started
				}
				xy = append(xy, plotter.XY{X: (float64(j) + 0.5) * r.BinS, Y: v})
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color = flowColors[i%len(flowColors)]
			l.Width = vg.Points(1.3)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%d: %s (from %.0f s)", i+1, fairFlows[r.Flows[i]].desc, r.StartS[i]), l)
		}
		ll, err := linkLine(p.X.Min, p.X.Max, link)
		if err != nil {
			return err
		}
		p.Add(ll)
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		plots[k/cols][k%cols] = p
	}
	for c := len(runs) % cols; c > 0 && c < cols; c++ {
		plots[rows-1][c] = plot.New() // an empty panel
		plots[rows-1][c].HideAxes()
	}
	return savePanels(path, plots, 5*vg.Inch, 3.4*vg.Inch, 4*vg.Millimeter)
}
