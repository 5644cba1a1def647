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

// moments keeps what fio prints of a latency it gives no percentiles for
// (slat_ns by default): min, max, mean and standard deviation, exactly,
// by Welford's method, for a third of the cost of a histogram record (one
// of three per IO, which at QD1 on zram was 1 % of the CPU).
type moments struct {
	n        int64
	min, max int64
	mean, m2 float64
}

// record adds one value, clamped as latHist clamps it.
func (m *moments) record(ns int64) {
	ns = min(max(ns, 1), histMaxNs)
	if m.n == 0 || ns < m.min {
		m.min = ns
	}
	if ns > m.max {
		m.max = ns
	}
	m.n++
	d := float64(ns) - m.mean
	m.mean += d / float64(m.n)
	m.m2 += d * (float64(ns) - m.mean)
}

// merge adds o's values (Chan et al.'s pairwise update).
func (m *moments) merge(o *moments) {
	if o.n == 0 {
		return
	}
	if m.n == 0 {
		*m = *o
		return
	}
	n := m.n + o.n
	d := o.mean - m.mean
	m.mean += d * float64(o.n) / float64(n)
	m.m2 += o.m2 + d*d*float64(m.n)*float64(o.n)/float64(n)
	m.n = n
	m.min = min(m.min, o.min)
	m.max = max(m.max, o.max)
}

// fio returns the values in fio's shape, without percentiles. The
// standard deviation is the sample one (n-1), as fio's is.
func (m *moments) fio() fioLat {
	out := fioLat{N: m.n}
	if m.n == 0 {
		return out
	}
	out.Min, out.Max, out.Mean = m.min, m.max, m.mean
	if m.n > 1 {
		out.Stddev = math.Sqrt(m.m2 / float64(m.n-1))
	}
	return out
}
