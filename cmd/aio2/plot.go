package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotSeries is one curve of the plot: latencies in microseconds and their
// percentiles on the "nines" scale (see nines).
type plotSeries struct {
	label  string
	pts    plotter.XYs
	dashed bool
}

// nines maps a percentile to the plot's y axis: -log10(1 - p/100), so that
// 90, 99, 99.9 and 99.99 are evenly spaced and the tail is visible.
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// maxNines is the top of the y axis: 99.999.
const maxNines = 5

// histSeries turns h into a curve: one point per non-empty histogram
// bucket, at the bucket's highest value (as ValueAtQuantile reports a
// percentile, and so the JSON's "percentile" and the printed table) and the
// percentage of IOs at or below it. The last bucket (100 %) is drawn at
// log10(N) nines, the percentile of the largest of N values, capped at the
// axis' top.
func histSeries(label string, h *latHist, dashed bool) (plotSeries, bool) {
	xs, ps := h.cdf()
	if len(xs) == 0 {
		return plotSeries{}, false
	}
	top := min(maxNines, math.Log10(float64(h.count())))
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		y := top
		if ps[i] < 100 {
			y = min(top, nines(ps[i]))
		}
		pts[i].X, pts[i].Y = xs[i]/1e3, y
	}
	return plotSeries{label: label, pts: pts, dashed: dashed}, true
}

// plotData collects the curves of every job: each direction's submit-to-
// reap latency (lat) and, when DEVICE was measured, the DEVICE attribute
// (dashed) beside the LATENCY attribute, when that was asked too: the
// horizontal gap between those two is the time spent outside the device.
func plotData(jobs []*jobResult) []plotSeries {
	var out []plotSeries
	add := func(label string, h *latHist, dashed bool) {
		if h == nil {
			return
		}
		if s, ok := histSeries(label, h, dashed); ok {
			out = append(out, s)
		}
	}
	for _, j := range jobs {
		add(j.name+" read: submit to reap (lat)", j.read.latH, false)
		add(j.name+" write: submit to reap (lat)", j.write.latH, false)
		if j.attrs != nil && j.attrs.device != nil && j.attrs.device.count() > 0 {
			if j.attrs.latency != nil && j.attrs.latency.count() > 0 {
				add(j.name+": LATENCY attribute (total, submit to complete)", j.attrs.latency, false)
			}
			add(j.name+": DEVICE attribute (in the device)", j.attrs.device, true)
		}
	}
	return out
}

// plotPalette holds colours told apart easily (Tableau 10); a plot with
// more curves than this reuses them.
var plotPalette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// logTicks labels a log axis in microseconds: at 1, 2 and 5 times each
// power of ten when the range spans at most three decades, else at the
// powers of ten; with the other multiples as unlabelled minor ticks. A
// range too narrow for two labels gets its ends labelled.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	wide := math.Log10(hi/lo) > 3
	var ticks []plot.Tick
	labels := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || !wide && (m == 2 || m == 5) {
				t.Label = tickLabel(v)
				labels++
			}
			ticks = append(ticks, t)
		}
	}
	if labels < 2 {
		// Label every multiple, or, within one, the ends.
		labels = 0
		for i := range ticks {
			ticks[i].Label = tickLabel(ticks[i].Value)
			labels++
		}
		if labels < 2 {
			ticks = append(ticks, plot.Tick{Value: lo, Label: tickLabel(lo)}, plot.Tick{Value: hi, Label: tickLabel(hi)})
		}
	}
	return ticks
}

// tickLabel prints v with at most three significant digits and no
// exponent: 0.5, 20, 1500, 100000.
func tickLabel(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	s, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return strconv.FormatFloat(s, 'f', -1, 64)
}

// plotFormat is the image format path's extension names, as plot's
// canvases take it; "" if aio2 does not write it.
func plotFormat(path string) string {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg", ".png":
		return ext[1:]
	}
	return ""
}

// writePlot draws the latency distribution of every job as percentile
// curves (latency on a log axis in microseconds, percentile up on a nines
// axis), and, when DEVICE was asked, the device time beside the total so
// the gap between them (the software's share) is visible. The format
// follows path's extension (.svg or .png). The legend is drawn under the
// axes, never over a curve. The image is made in memory first, so that a
// failure leaves no file behind.
func writePlot(path string, jobs []*jobResult) error {
	format := plotFormat(path)
	if format == "" {
		return fmt.Errorf("the name must end in .svg or .png")
	}
	series := plotData(jobs)
	if len(series) == 0 {
		return fmt.Errorf("no latencies were recorded, nothing to plot")
	}
	p := plot.New()
	p.Title.Text = "aio2 io: latency distribution"
	p.X.Label.Text = "latency (µs, log scale)"
	p.Y.Label.Text = "percentile (nines scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	p.Y.Min, p.Y.Max = 0, maxNines
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: nines(50), Label: "50"},
		{Value: 1, Label: "90"}, {Value: 2, Label: "99"}, {Value: 3, Label: "99.9"}, {Value: 4, Label: "99.99"}, {Value: 5, Label: "99.999"}})
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	thumbs := make([][]plot.Thumbnailer, len(series))
	for i, s := range series {
		for _, pt := range s.pts {
			lo, hi = min(lo, pt.X), max(hi, pt.X)
		}
		l, err := plotter.NewLine(s.pts)
		if err != nil {
			return err
		}
		l.Color = plotPalette[i%len(plotPalette)]
		l.Width = vg.Points(1.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		thumbs[i] = []plot.Thumbnailer{l}
		if len(s.pts) <= 2 {
			// Too few points for a line to show: mark them.
			sc, err := plotter.NewScatter(s.pts)
			if err != nil {
				return err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: l.Color, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
			p.Add(sc)
			thumbs[i] = append(thumbs[i], sc)
		}
	}
	// A little room either side, and some range when every latency fell
	// in one bucket.
	if hi/lo < 1.5 {
		mid := math.Sqrt(lo * hi)
		lo, hi = min(lo, mid/1.5), max(hi, mid*1.5)
	}
	p.X.Min, p.X.Max = lo/1.05, hi*1.05

	// The legend goes below the axes, in two columns when it is long.
	cols := 1
	if len(series) > 6 {
		cols = 2
	}
	perCol := (len(series) + cols - 1) / cols
	legends := make([]plot.Legend, cols)
	var legH vg.Length
	for c := range legends {
		legends[c] = plot.NewLegend()
		legends[c].Left, legends[c].Top = true, true
		for i := c * perCol; i < min(len(series), (c+1)*perCol); i++ {
			legends[c].Add(series[i].label, thumbs[i]...)
		}
		r := legends[c].Rectangle(draw.Canvas{})
		legH = max(legH, r.Max.Y-r.Min.Y)
	}
	const w, h = 8 * vg.Inch, 5 * vg.Inch
	pad := vg.Points(10)
	cv, err := draw.NewFormattedCanvas(w, h+legH+2*pad, format)
	if err != nil {
		return err
	}
	dc := draw.New(cv)
	p.Draw(draw.Crop(dc, 0, 0, legH+2*pad, 0))
	total := h + legH + 2*pad
	colW := (w - 2*pad) / vg.Length(cols)
	for c := range legends {
		// Crop adds to the canvas' edges: this is the c-th column of
		// the strip below the axes.
		area := draw.Crop(dc, pad+vg.Length(c)*colW, -(w - pad - vg.Length(c+1)*colW), pad, -(total - pad - legH))
		legends[c].Draw(area)
	}
	var buf bytes.Buffer
	if _, err := cv.WriteTo(&buf); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A partial image is no image (a full disk, a quota).
		os.Remove(path)
	}
	return err
}
