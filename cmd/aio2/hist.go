package main

import (
	"fmt"
	"math"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// fioPercentiles is fio's default --percentile_list (options.c).
var fioPercentiles = []float64{1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99}

// latHist records latencies in nanoseconds. It wraps an HDR histogram
// with 3 significant digits (error below 0.1%, finer than fio's 1/128)
// from 1 ns to an hour; values beyond are clamped to the top rather than
// dropped, so that N always equals the number of IOs recorded.
type latHist struct {
	h *hdr.Histogram
}

const histMaxNs = int64(3600e9)

func newLatHist() *latHist { return &latHist{h: hdr.New(1, histMaxNs, 3)} }

// record adds one value. It does not allocate.
func (l *latHist) record(ns int64) {
	if ns < 1 {
		ns = 1
	}
	if ns > histMaxNs {
		ns = histMaxNs
	}
	_ = l.h.RecordValue(ns)
}

func (l *latHist) merge(o *latHist) { l.h.Merge(o.h) }

func (l *latHist) count() int64 { return l.h.TotalCount() }

// fioLat is the shape of fio's slat_ns, clat_ns and lat_ns objects
// (stat.c: show_lat / add_lat_json): min, max, mean, stddev, N and, for
// clat and lat, "percentile" keyed by the %f of each percentile.
type fioLat struct {
	Min        int64            `json:"min"`
	Max        int64            `json:"max"`
	Mean       float64          `json:"mean"`
	Stddev     float64          `json:"stddev"`
	N          int64            `json:"N"`
	Percentile map[string]int64 `json:"percentile,omitempty"`
}

func (l *latHist) fio(withPercentiles bool) fioLat {
	out := fioLat{N: l.h.TotalCount()}
	if out.N == 0 {
		return out
	}
	out.Min = l.h.Min()
	out.Max = l.h.Max()
	out.Mean = l.h.Mean()
	out.Stddev = l.h.StdDev()
	if math.IsNaN(out.Stddev) {
		out.Stddev = 0
	}
	if withPercentiles {
		out.Percentile = make(map[string]int64, len(fioPercentiles))
		for _, p := range fioPercentiles {
			out.Percentile[pctKey(p)] = l.h.ValueAtQuantile(p)
		}
	}
	return out
}

// pctKey formats a percentile the way fio's JSON does ("%f": 99.000000).
func pctKey(p float64) string { return fmt.Sprintf("%f", p) }

// cdf returns (latency ns, percentile) points for a percentile plot.
func (l *latHist) cdf() (vals []float64, pct []float64) {
	if l.count() == 0 {
		return nil, nil
	}
	var seen int64
	total := float64(l.count())
	for _, b := range l.h.Distribution() {
		if b.Count == 0 {
			continue
		}
		seen += b.Count
		vals = append(vals, float64(b.To))
		pct = append(pct, 100*float64(seen)/total)
	}
	return vals, pct
}
