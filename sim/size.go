package sim

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"time"
)

// SizeConfig configures Size.
type SizeConfig struct {
	// Seed seeds every run; the same configuration gives the same table.
	Seed uint64
	// Rates are the completion rates per second to simulate (default 1M,
	// 2M, 5M and 10M).
	Rates []float64
	// Bursts are the burst sizes (default 1, a Poisson stream, and 64).
	Bursts []int
	// Pauses are the reaper pause scenarios (default gc, preempt, steal).
	Pauses []Pause
	// Base supplies everything else (default DefaultWorkload()); its Rate,
	// Burst, Pause and RingBytes are overridden per run.
	Base *Workload
	// CompareRing is the ring size whose overflow behaviour the table
	// reports (default 64 KiB).
	CompareRing int
	// Duration is the simulated time per run (default 1 s).
	Duration time.Duration
	// MaxInflight is the bound of the second table, where completions stop
	// once that many are unreaped (default 4096; -1 leaves the table out).
	MaxInflight int
}

// SizeRow is one line of the sizing table.
type SizeRow struct {
	Rate  float64
	Burst int
	Pause string
	// Unbounded is the run with an unbounded ring: how many bytes ever
	// waited, the latency, the signals.
	Unbounded Outcome
	// Advice is the smallest power-of-two ring_bytes (at least 4 KiB) that
	// holds the peak of the unbounded run plus one event, and AdviceOK says
	// a run with that ring saw no overflow.
	Advice   int
	AdviceOK bool
	// Compare is the run with CompareRing bytes.
	Compare Outcome
	// Bounded is the unbounded-ring run with MaxInflight set (second
	// table; burst 1 only, zero when left out).
	Bounded Outcome
}

// SizeResult is the outcome of Size.
type SizeResult struct {
	Config SizeConfig
	Base   Workload
	Rows   []SizeRow
}

func (c *SizeConfig) defaults() Workload {
	if len(c.Rates) == 0 {
		c.Rates = []float64{1e6, 2e6, 5e6, 10e6}
	}
	if len(c.Bursts) == 0 {
		c.Bursts = []int{1, 64}
	}
	if len(c.Pauses) == 0 {
		c.Pauses = []Pause{PauseGC, PausePreempt, PauseSteal}
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 4096
	}
	if c.CompareRing == 0 {
		c.CompareRing = 64 << 10
	}
	w := DefaultWorkload()
	if c.Base != nil {
		w = *c.Base
	}
	if c.Duration == 0 {
		c.Duration = time.Second
	}
	w.Duration = c.Duration
	return w
}

func nextPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// Size answers the ring-sizing question by simulation: for each rate, burst
// size and pause scenario it runs the workload with an unbounded ring (to
// see how many bytes ever wait), with the advised ring (to confirm it does
// not overflow) and with CompareRing (to see how often a ring of that size
// overflows), and writes a table to w. The same configuration gives the
// same table.
func Size(cfg SizeConfig, w io.Writer) (SizeResult, error) {
	base := cfg.defaults()
	res := SizeResult{Config: cfg, Base: base}
	pw := &errWriter{w: w}
	pw.printf("aio2 sim size: seed %d, %v simulated per run, %d-byte events, %d reaper(s), batches of up to %d\n",
		cfg.Seed, base.Duration, base.EventBytes, base.Reapers, base.BatchMax)
	pw.printf("costs: %v per record, %v per round, %v per getevents, %v eventfd wake, %v polling before sleep; UF_NO_EVENTFD while awake: %v\n",
		base.PerEvent, base.PerBatch, base.Syscall, base.Wake, base.Spin, !base.SignalAlways)
	pw.printf("pauses: ")
	for i, p := range cfg.Pauses {
		if i > 0 {
			pw.printf("; ")
		}
		pw.printf("%s", p)
	}
	pw.printf("\n\n")
	pw.printf("| rate/s | burst | pauses | peak bytes waiting | advice ring_bytes | overflowed at %s | episodes/s | peak list | longest pause | signals/event (edge only) | reaper busy | latency p50 / p99 / p99.9 / max |\n", human(cfg.CompareRing))
	pw.printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rate := range cfg.Rates {
		for _, burst := range cfg.Bursts {
			for _, p := range cfg.Pauses {
				wl := base
				wl.Rate, wl.Burst, wl.Pause = rate, burst, p
				row := SizeRow{Rate: rate, Burst: burst, Pause: p.Name}
				wl.RingBytes = 0
				u, err := Simulate(wl, cfg.Seed)
				if err != nil {
					return res, err
				}
				row.Unbounded = u
				row.Advice = max(4096, nextPow2(u.PeakBytes+wl.EventBytes))
				wl.RingBytes = row.Advice
				a, err := Simulate(wl, cfg.Seed)
				if err != nil {
					return res, err
				}
				row.AdviceOK = a.Overflowed == 0
				wl.RingBytes = cfg.CompareRing
				c, err := Simulate(wl, cfg.Seed)
				if err != nil {
					return res, err
				}
				row.Compare = c
				res.Rows = append(res.Rows, row)
				ok := ""
				if !row.AdviceOK {
					ok = " (overflowed!)"
				}
				secs := base.Duration.Seconds()
				pw.printf("| %s | %d | %s | %s | %s%s | %.3g%% | %.0f | %d | %v | %.3f (%.3f) | %.0f%% | %v / %v / %v / %v |\n",
					humanRate(rate), burst, p.Name, human(u.PeakBytes), human(row.Advice), ok,
					100*c.OverflowFraction(), float64(c.Episodes)/secs, c.PeakList, round(u.LongestPause),
					u.SignalsPerEvent(), float64(u.EdgeSignals)/float64(max(u.Events, 1)), 100*u.Busy,
					round(u.Latency.Quantile(0.5)), round(u.Latency.Quantile(0.99)), round(u.Latency.Quantile(0.999)), round(u.Latency.Max()))
			}
		}
	}
	if cfg.MaxInflight < 0 {
		return res, pw.err
	}
	pw.printf("\nWith max_inflight = %d (completions stop while that many are unreaped; Poisson arrivals):\n\n", cfg.MaxInflight)
	pw.printf("| rate/s | pauses | peak bytes waiting | advice ring_bytes | completions refused (EAGAIN) | latency p99 / max |\n")
	pw.printf("|---|---|---|---|---|---|\n")
	i := 0
	for _, rate := range cfg.Rates {
		for _, burst := range cfg.Bursts {
			for _, p := range cfg.Pauses {
				row := &res.Rows[i]
				i++
				if burst != 1 {
					continue
				}
				wl := base
				wl.Rate, wl.Burst, wl.Pause, wl.MaxInflight = rate, 1, p, cfg.MaxInflight
				o, err := Simulate(wl, cfg.Seed)
				if err != nil {
					return res, err
				}
				row.Bounded = o
				advice := max(4096, nextPow2(o.PeakBytes+wl.EventBytes))
				pw.printf("| %s | %s | %s | %s | %.3g%% | %v / %v |\n", humanRate(rate), p.Name, human(o.PeakBytes), human(advice),
					100*float64(o.Refused)/float64(max(o.Refused+o.Events, 1)), round(o.Latency.Quantile(0.99)), round(o.Latency.Max()))
			}
		}
	}
	return res, pw.err
}

// String describes the scenario in one line.
func (p Pause) String() string {
	if p.Every == 0 {
		return p.Name + " (no pauses)"
	}
	switch p.Dist {
	case "lognormal":
		return fmt.Sprintf("%s (every %v on average, lognormal median %v sigma %g)", p.Name, p.Every, p.Length, p.Sigma)
	case "pareto":
		return fmt.Sprintf("%s (every %v on average, Pareto min %v index %g, cap 100ms)", p.Name, p.Every, p.Length, p.Sigma)
	case "exp":
		return fmt.Sprintf("%s (every %v on average, exponential mean %v)", p.Name, p.Every, p.Length)
	}
	return fmt.Sprintf("%s (every %v on average, %v each)", p.Name, p.Every, p.Length)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

func human(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func humanRate(r float64) string {
	if r >= 1e6 {
		return fmt.Sprintf("%gM", r/1e6)
	}
	if r >= 1e3 {
		return fmt.Sprintf("%gk", r/1e3)
	}
	return fmt.Sprintf("%g", r)
}

// PlotConfig configures SizingSVG.
type PlotConfig struct {
	Seed  uint64
	Rates []float64 // default 1M, 2M, 5M, 10M
	Pause Pause     // default PausePreempt
	// Rings are the ring sizes on the x axis (default 4 KiB to 8 MiB).
	Rings []int
	Base  *Workload
}

// SizingSVG simulates each rate at each ring size and draws the fraction of
// completions that went to the overflow list against ring_bytes, as a
// self-contained SVG image.
func SizingSVG(cfg PlotConfig, w io.Writer) error {
	base := DefaultWorkload()
	if cfg.Base != nil {
		base = *cfg.Base
	}
	if len(cfg.Rates) == 0 {
		cfg.Rates = []float64{1e6, 2e6, 5e6, 10e6}
	}
	if cfg.Pause.Name == "" {
		cfg.Pause = PausePreempt
	}
	if len(cfg.Rings) == 0 {
		for r := 4 << 10; r <= 8<<20; r *= 2 {
			cfg.Rings = append(cfg.Rings, r)
		}
	}
	type series struct {
		label string
		y     []float64
	}
	var all []series
	for _, rate := range cfg.Rates {
		s := series{label: humanRate(rate) + "/s"}
		for _, ring := range cfg.Rings {
			wl := base
			wl.Rate, wl.Pause, wl.RingBytes = rate, cfg.Pause, ring
			o, err := Simulate(wl, cfg.Seed)
			if err != nil {
				return err
			}
			s.y = append(s.y, 100*o.OverflowFraction())
		}
		all = append(all, s)
	}
	ymax := 1.0
	for _, s := range all {
		for _, v := range s.y {
			ymax = math.Max(ymax, v)
		}
	}
	ymax = math.Ceil(ymax/10) * 10
	const (
		W, H                   = 720, 450
		left, right, top, bott = 70, 130, 40, 90
	)
	pw, ph := float64(W-left-right), float64(H-top-bott)
	lx0, lx1 := math.Log2(float64(cfg.Rings[0])), math.Log2(float64(cfg.Rings[len(cfg.Rings)-1]))
	x := func(ring int) float64 { return left + pw*(math.Log2(float64(ring))-lx0)/math.Max(lx1-lx0, 1) }
	y := func(v float64) float64 { return top + ph*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">Completions sent to the overflow list vs ring size (pauses: %s, %d-byte events, seed %d)</text>`+"\n", left-40, cfg.Pause.Name, base.EventBytes, cfg.Seed)
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g%%</text>`+"\n", left, left+pw, y(v), y(v), left-6, y(v)+4, v)
	}
	for _, ring := range cfg.Rings {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-40 %.1f %.1f)">%s</text>`+"\n",
			x(ring), x(ring), top, top+ph, x(ring), top+ph+14, x(ring), top+ph+14, human(ring))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="black"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">ring_bytes</text>`+"\n", left+pw/2, H-8)
	fmt.Fprintf(&b, `<text x="16" y="%.0f" text-anchor="middle" transform="rotate(-90 16 %.0f)">events overflowed (%%)</text>`+"\n", top+ph/2, top+ph/2)
	colors := []string{"#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#333"}
	for i, s := range all {
		c := colors[i%len(colors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, c)
		for j, v := range s.y {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(cfg.Rings[j]), y(v))
		}
		b.WriteString(`"/>` + "\n")
		for j, v := range s.y {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(cfg.Rings[j]), y(v), c)
		}
		fmt.Fprintf(&b, "\n"+`<line x1="%.0f" x2="%.0f" y1="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%.0f" y="%d">%s</text>`+"\n",
			left+pw+15, left+pw+35, top+20+i*20, top+20+i*20, c, left+pw+40, top+24+i*20, s.label)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
