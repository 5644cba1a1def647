package sim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

var sizeReport = flag.Bool("sim.size", false, "print the full sizing table (SizeConfig{Seed: 1}) as docs/sim.md shows it")

// TestSizeReport prints the table of docs/sim.md:
// go test ./sim -run SizeReport -v -timeout 30m -args -sim.size
func TestSizeReport(t *testing.T) {
	if !*sizeReport {
		t.Skip("pass -sim.size to print the full sizing table")
	}
	var out bytes.Buffer
	if _, err := Size(SizeConfig{Seed: 1}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}

var svgOut = flag.String("sim.svg", "", "write the sizing plot (PlotConfig{Seed: 1}) to this file, e.g. ../docs/sim-sizing.svg")

func short(w Workload) Workload {
	w.Duration = 50 * time.Millisecond
	return w
}

func simulate(t *testing.T, w Workload) Outcome {
	t.Helper()
	o, err := Simulate(w, 1)
	if err != nil {
		t.Fatal(err)
	}
	if o.Delivered+o.Pending != o.Events {
		t.Fatalf("%d events, %d delivered + %d pending", o.Events, o.Delivered, o.Pending)
	}
	if uint64(o.Delivered) != o.Latency.Count() {
		t.Fatalf("%d delivered, %d latencies", o.Delivered, o.Latency.Count())
	}
	return o
}

func TestSimulateDeterministic(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate, w.Pause, w.RingBytes, w.Burst = 5e6, PauseGC, 64<<10, 16
	a, b := simulate(t, w), simulate(t, w)
	if a != b {
		t.Fatal("same seed, different outcome")
	}
	c, err := Simulate(w, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Fatal("different seeds, same outcome")
	}
}

// With no pauses and a reaper much faster than the completions, nothing
// overflows and latency is a few rounds, or a wake-up.
func TestSimulateQuiet(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate, w.Pause, w.RingBytes = 1e6, PauseNone, 4096
	o := simulate(t, w)
	if o.Overflowed != 0 || o.Pauses != 0 {
		t.Fatalf("overflowed %d, pauses %d", o.Overflowed, o.Pauses)
	}
	if lim := w.Wake + w.PerBatch + 8*w.PerEvent + w.Poll; o.Latency.Max() > lim {
		t.Fatalf("max latency %v > %v", o.Latency.Max(), lim)
	}
	if math.Abs(float64(o.Events)/(w.Rate*w.Duration.Seconds())-1) > 0.05 {
		t.Fatalf("%d events at %g/s for %v", o.Events, w.Rate, w.Duration)
	}
}

// A reaper that stops for a fixed time L leaves about rate*L events
// waiting: the simulated peak must agree with that arithmetic, and a ring
// smaller than that must overflow.
func TestSimulatePausePeak(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate = 2e6
	w.Pause = Pause{Name: "fixed", Every: 10 * time.Millisecond, Dist: "fixed", Length: time.Millisecond}
	o := simulate(t, w)
	want := w.Rate * w.Pause.Length.Seconds() * float64(w.EventBytes)
	if r := float64(o.PeakBytes) / want; r < 0.9 || r > 2.2 {
		t.Fatalf("peak %d bytes, expected about %.0f (ratio %.2f)", o.PeakBytes, want, r)
	}
	if o.LongestPause != w.Pause.Length || o.Pauses == 0 {
		t.Fatalf("pauses %d longest %v", o.Pauses, o.LongestPause)
	}
	w.RingBytes = 32 << 10
	small := simulate(t, w)
	if small.Overflowed == 0 || small.PeakList == 0 || small.Episodes == 0 {
		t.Fatalf("a %d-byte ring did not overflow: %+v", w.RingBytes, small)
	}
	// Nothing is dropped: what overflowed is delivered later.
	if small.Delivered < small.Events-int(w.Rate*w.Pause.Length.Seconds())*2 {
		t.Fatalf("delivered %d of %d", small.Delivered, small.Events)
	}
}

// Every ring publish signals when reapers never set UF_NO_EVENTFD; setting
// it while awake cuts signals, and edge-only signalling cuts them further.
func TestSimulateSignals(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate, w.Pause, w.RingBytes, w.Burst = 1e6, PauseNone, 64<<10, 32
	w.SignalAlways = true
	a := simulate(t, w)
	if a.Signals != a.Events-a.Overflowed {
		t.Fatalf("always: %d signals for %d events, %d overflowed", a.Signals, a.Events, a.Overflowed)
	}
	w.SignalAlways = false
	b := simulate(t, w)
	if !(b.Signals < a.Signals && b.EdgeSignals <= b.Signals && b.EdgeSignals > 0 && b.Wakeups > 0) {
		t.Fatalf("signals %d (always %d), edge %d, wakeups %d", b.Signals, a.Signals, b.EdgeSignals, b.Wakeups)
	}
	if b.EdgeSignals > b.Wakeups*2+1 {
		t.Fatalf("edge signals %d should be about one per sleep (%d wakeups)", b.EdgeSignals, b.Wakeups)
	}
}

// Two reapers cover for each other's pauses, fewer bytes wait, if the
// sleeping one is signalled; with UF_NO_EVENTFD set while any reaper is
// awake, a paused reaper keeps the other asleep and the second reaper
// does not help.
func TestSimulateTwoReapers(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate, w.Pause = 5e6, PausePreempt
	w.Duration = 500 * time.Millisecond
	w.SignalAlways = true
	one := simulate(t, w)
	w.Reapers = 2
	two := simulate(t, w)
	if float64(two.PeakBytes) > 0.8*float64(one.PeakBytes) {
		t.Fatalf("always signal: two reapers peak %d, one reaper %d", two.PeakBytes, one.PeakBytes)
	}
	w.SignalAlways = false
	twoQuiet := simulate(t, w)
	if float64(twoQuiet.PeakBytes) < 0.9*float64(one.PeakBytes) {
		t.Fatalf("UF_NO_EVENTFD while awake: two reapers peak %d, one reaper %d", twoQuiet.PeakBytes, one.PeakBytes)
	}
	t.Logf("peak bytes: one reaper %d, two %d, two with UF_NO_EVENTFD while awake %d", one.PeakBytes, two.PeakBytes, twoQuiet.PeakBytes)
}

func TestSimulateValidate(t *testing.T) {
	base := short(DefaultWorkload())
	for _, f := range []func(*Workload){
		func(w *Workload) { w.Rate = 0 },
		func(w *Workload) { w.EventBytes = 44 },
		func(w *Workload) { w.RingBytes = 5000 },
		func(w *Workload) { w.RingBytes = 64 },
		func(w *Workload) { w.Reapers = 0 },
		func(w *Workload) { w.BatchMax = 0 },
		func(w *Workload) { w.Poll = 0 },
		func(w *Workload) { w.Duration = 0 },
		func(w *Workload) { w.Pause = Pause{Name: "x", Every: time.Millisecond} },
	} {
		w := base
		f(&w)
		if _, err := Simulate(w, 1); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", w, err)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100000; i++ {
		h.Record(float64(i))
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		got := float64(h.Quantile(q))
		if want := q * 100000; math.Abs(got-want)/want > 0.02 {
			t.Errorf("q%g = %v, want about %v", q, got, want)
		}
	}
	if h.Max() != 100000 || h.Count() != 100000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	var e Histogram
	if e.Quantile(0.5) != 0 {
		t.Error("empty histogram")
	}
	e.Record(1e15)
	if q := float64(e.Quantile(1)); math.Abs(q-1e15)/1e15 > 0.02 {
		t.Errorf("1e15: %v", q)
	}
	e.Record(1e18) // beyond the last bucket: clamped, max kept
	if q := e.Quantile(1); q != time.Duration(1e18) {
		t.Errorf("1e18: %v", q)
	}
}

// The advice of Size is checked by Size itself (a run with the advised ring
// must not overflow); the table is the same for the same seed.
func TestSize(t *testing.T) {
	cfg := SizeConfig{Seed: 1, Rates: []float64{1e6, 10e6}, Bursts: []int{1, 64}, Pauses: []Pause{PauseGC, PausePreempt}, Duration: 40 * time.Millisecond}
	if raceEnabled {
		cfg.Duration = 10 * time.Millisecond
	}
	var a, b bytes.Buffer
	r, err := Size(cfg, &a)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 8 {
		t.Fatalf("%d rows", len(r.Rows))
	}
	for _, row := range r.Rows {
		if !row.AdviceOK || row.Advice < row.Unbounded.PeakBytes || row.Advice&(row.Advice-1) != 0 {
			t.Errorf("row %+v: advice %d for peak %d", row.Rate, row.Advice, row.Unbounded.PeakBytes)
		}
	}
	if _, err := Size(cfg, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different table")
	}
	if !strings.Contains(a.String(), "| 10M | 64 | preempt |") {
		t.Fatalf("table:\n%s", a.String())
	}
	t.Log("\n" + a.String())
}

// TestSizingSVG checks the plot is well-formed XML; with -sim.svg=FILE it
// writes the full plot used in docs/sim.md (regenerate with
// go test ./sim -run SizingSVG -sim.svg=$PWD/docs/sim-sizing.svg).
func TestSizingSVG(t *testing.T) {
	cfg := PlotConfig{Seed: 1, Rates: []float64{1e6, 5e6}, Rings: []int{16 << 10, 256 << 10, 4 << 20}}
	base := short(DefaultWorkload())
	cfg.Base = &base
	if *svgOut != "" {
		cfg = PlotConfig{Seed: 1}
	}
	var buf bytes.Buffer
	if err := SizingSVG(cfg, &buf); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bad SVG: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			n++
		}
	}
	if n != len(cfg.Rates) && !(len(cfg.Rates) == 0 && n == 4) {
		t.Fatalf("%d lines", n)
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// With max_inflight bounding unreaped completions, the bytes waiting never
// exceed max_inflight events, whatever the pauses.
func TestSimulateMaxInflight(t *testing.T) {
	w := short(DefaultWorkload())
	w.Rate, w.Pause, w.MaxInflight = 10e6, PausePreempt, 1000
	w.Duration = 200 * time.Millisecond
	o := simulate(t, w)
	if o.Refused == 0 || o.PeakBytes > w.MaxInflight*w.EventBytes {
		t.Fatalf("refused %d, peak %d bytes > %d", o.Refused, o.PeakBytes, w.MaxInflight*w.EventBytes)
	}
	w.RingBytes = nextPow2(w.MaxInflight * w.EventBytes)
	if r := simulate(t, w); r.Overflowed != 0 {
		t.Fatalf("a ring of max_inflight events overflowed %d times", r.Overflowed)
	}
}
