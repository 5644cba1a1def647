package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writePlot draws the latency distribution of every job as percentile
// curves (latency on a log axis, percentile up), and, when DEVICE was
// asked, the device time beside the total so the gap between them (the
// software's share) is visible. The format follows path's extension.
func writePlot(path string, jobs []*jobResult) error {
	p := plot.New()
	p.Title.Text = "aio2 io: latency distribution"
	p.X.Label.Text = "latency (µs, log scale)"
	p.Y.Label.Text = "percentile (nines scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	// A "nines" axis: y = -log10(1 - percentile/100), so 90, 99, 99.9
	// and 99.99 are evenly spaced and the tail is visible.
	p.Y.Min, p.Y.Max = 0, 5
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.301, Label: "50"},
		{Value: 1, Label: "90"}, {Value: 2, Label: "99"}, {Value: 3, Label: "99.9"}, {Value: 4, Label: "99.99"}, {Value: 5, Label: "99.999"}})
	p.Add(plotter.NewGrid())
	palette := []color.RGBA{{0, 90, 180, 255}, {200, 60, 20, 255}, {30, 140, 60, 255}, {140, 60, 170, 255}, {120, 120, 120, 255}}
	n := 0
	add := func(label string, h *latHist, dashed bool) error {
		xs, ps := h.cdf()
		if len(xs) == 0 {
			return nil
		}
		pts := make(plotter.XYs, len(xs))
		top := min(5, math.Log10(float64(h.count())))
		for i := range xs {
			y := top
			if ps[i] < 100 {
				y = min(top, -math.Log10(1-ps[i]/100))
			}
			pts[i].X, pts[i].Y = xs[i]/1e3, y
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = palette[n%len(palette)]
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		n++
		p.Add(l)
		p.Legend.Add(label, l)
		return nil
	}
	for _, j := range jobs {
		for _, d := range []struct {
			name string
			s    *sideStats
		}{{"read", &j.read}, {"write", &j.write}} {
			if d.s.latH == nil {
				continue
			}
			if err := add(fmt.Sprintf("%s %s: submit to reap (lat)", j.name, d.name), d.s.latH, false); err != nil {
				return err
			}
		}
		if j.attrs.device.count() > 0 {
			if j.attrs.latency.count() > 0 {
				if err := add(j.name+": LATENCY attribute (total)", j.attrs.latency, false); err != nil {
					return err
				}
			}
			if err := add(j.name+": DEVICE attribute (in the device)", j.attrs.device, true); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("no latencies were recorded, nothing to plot")
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(10)
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
