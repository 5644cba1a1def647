package main

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// fioPercentiles is fio's default --percentile_list (options.c).
var fioPercentiles = []float64{1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99}

// latHist records latencies in nanoseconds. It wraps an HDR histogram
// from 1 ns to an hour; values beyond are clamped to the top rather than
// dropped, so that N always equals the number of IOs recorded.
//
// It keeps 2 significant digits: no bucket is wider than 1/128 of its
// values, the resolution of fio's own percentiles (stat.h: the error is
// about 1/2^(FIO_IO_U_PLAT_BITS+1), 1/128). Not 3: the counts are then
// about 7 times as many (33,792 against 4,608) and a spread of values
// touches as many more cache lines, which the kernel's work of an IO
// evicts. At QD32 on zram, clat's one record cost 27–41 ns per IO with 3
// digits and 15–19 with 2 (bench/perf-per-io.py; docs/benchmarks.md,
// "Session of 03:24 UTC").
type latHist struct {
	h *hdr.Histogram
}

const (
	histMaxNs  = int64(3600e9)
	histDigits = 2
)

func newLatHist() *latHist { return &latHist{h: hdr.New(1, histMaxNs, histDigits)} }

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
// (slat_ns and lat_ns by default): min, max, mean and standard deviation,
// from exact integer sums (128 bits: a square of a clamped value needs 84),
// so a record costs two additions and a multiplication, with no division
// on the hot path (Welford's update, used before, cost 8.5 ns per record
// against 3 for these sums; two records per IO).
type moments struct {
	n        int64
	min, max int64
	sum      u128 // Σ ns
	sq       u128 // Σ ns²
}

// u128 is an unsigned 128-bit integer, hi:lo.
type u128 struct{ hi, lo uint64 }

func (a *u128) add(hi, lo uint64) {
	var c uint64
	a.lo, c = bits.Add64(a.lo, lo, 0)
	a.hi += hi + c
}

func (a u128) big() *big.Int {
	x := new(big.Int).SetUint64(a.hi)
	return x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(a.lo))
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
	m.sum.add(0, uint64(ns))
	m.sq.add(bits.Mul64(uint64(ns), uint64(ns)))
}

// merge adds o's values.
func (m *moments) merge(o *moments) {
	if o.n == 0 {
		return
	}
	if m.n == 0 {
		*m = *o
		return
	}
	m.n += o.n
	m.min = min(m.min, o.min)
	m.max = max(m.max, o.max)
	m.sum.add(o.sum.hi, o.sum.lo)
	m.sq.add(o.sq.hi, o.sq.lo)
}

// fio returns the values in fio's shape, without percentiles. The
// standard deviation is the sample one (n-1), as fio's is.
func (m *moments) fio() fioLat {
	out := fioLat{N: m.n}
	if m.n == 0 {
		return out
	}
	out.Min, out.Max = m.min, m.max
	n := big.NewInt(m.n)
	sum := m.sum.big()
	out.Mean, _ = new(big.Rat).SetFrac(sum, n).Float64()
	if m.n > 1 {
		// (n Σx² - (Σx)²) / (n (n-1)), exactly, then one rounding.
		num := new(big.Int).Mul(n, m.sq.big())
		num.Sub(num, new(big.Int).Mul(sum, sum))
		den := new(big.Int).Mul(n, big.NewInt(m.n-1))
		v, _ := new(big.Rat).SetFrac(num, den).Float64()
		out.Stddev = math.Sqrt(v)
	}
	return out
}
