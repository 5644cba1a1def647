package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/aio2/aio2/abi"
)

// Bounds of the standard suite run by Check.
const (
	// BoundCI is small enough for go test -race on two CPUs.
	BoundCI = "ci"
	// BoundFull is the default of aio2 sim check: under a minute.
	BoundFull = "full"
	// BoundLarge adds the biggest exhaustive runs (minutes, gigabytes).
	BoundLarge = "large"
)

// CheckConfig configures Check.
type CheckConfig struct {
	// Bound is BoundCI, BoundFull (the default when empty) or BoundLarge.
	Bound string
	// Seed seeds the random walks; the same seed gives the same output.
	Seed uint64
	// Walks and Steps size the random walks (defaults 300 and 20000).
	Walks, Steps int
	// Brief leaves the step-by-step traces out of the report.
	Brief bool
}

// CheckItem is one model run of the suite and what was expected of it.
type CheckItem struct {
	// Name says what the item shows.
	Name string
	// WantViolation is the violation kind expected ("" : none, the
	// property holds), and OK says the outcome matched.
	WantViolation string
	OK            bool
	// Why explains a mismatch.
	Why string
	// Explore or Random holds the run.
	Explore *ExploreResult
	Random  *RandomResult
}

// CheckResult is the outcome of Check.
type CheckResult struct {
	Items []CheckItem
	// OK is true when every item met its expectation.
	OK bool
}

type checkSpec struct {
	name    string
	cfg     ModelConfig
	want    string // expected violation kind; "" = holds
	random  bool
	window  uint64 // expected ABA window (bytes reaped while the culprit stood still), 0: not checked
	explain string
}

func suite(bound string) ([]checkSpec, error) {
	v2 := func(ring, k, reapers int, sizes ...int) ModelConfig {
		return ModelConfig{Protocol: V2, RingBytes: ring, CounterBits: k, Reapers: reapers, EventBytes: sizes}
	}
	legacy := func(nr, reapers, events int) ModelConfig {
		sizes := make([]int, events)
		for i := range sizes {
			sizes[i] = abi.IoEventBytes
		}
		return ModelConfig{Protocol: Legacy, LegacySlots: nr, Reapers: reapers, EventBytes: sizes}
	}
	with := func(c ModelConfig, f func(*ModelConfig)) ModelConfig { f(&c); return c }
	var specs []checkSpec
	// The proofs: every interleaving, no violation.
	switch bound {
	case BoundCI:
		specs = append(specs,
			checkSpec{name: "v2 ring, 1 producer + 2 reapers, every interleaving", cfg: v2(64, 16, 2, 16, 24, 8, 32, 16)},
			checkSpec{name: "v2 ring, 1 producer + 3 reapers, every interleaving", cfg: v2(32, 16, 3, 8, 16, 8, 16)},
		)
	case BoundFull, BoundLarge:
		specs = append(specs,
			checkSpec{name: "v2 ring, 1 producer + 2 reapers, every interleaving", cfg: v2(64, 16, 2, 16, 24, 8, 32, 16, 8, 24, 16)},
			checkSpec{name: "v2 ring, 1 producer + 3 reapers, every interleaving", cfg: v2(32, 16, 3, 8, 16, 8, 16, 8, 16)},
			checkSpec{name: "v2 ring, 1 producer + 3 reapers, every interleaving", cfg: v2(64, 16, 3, 16, 24, 8, 32, 16)},
		)
		if bound == BoundLarge {
			specs = append(specs,
				checkSpec{name: "v2 ring, 1 producer + 3 reapers, every interleaving", cfg: v2(64, 16, 3, 16, 24, 8, 32, 16, 8)},
				checkSpec{name: "v2 ring, 1 producer + 2 reapers, every interleaving", cfg: v2(128, 16, 2, 40, 16, 48, 8, 32, 24, 40, 16)},
			)
		}
	default:
		return nil, badConfig("unknown bound %q (want %s, %s or %s)", bound, BoundCI, BoundFull, BoundLarge)
	}
	specs = append(specs,
		checkSpec{name: "legacy ring, nr=4: shortest trace that breaks exactly-once", cfg: legacy(4, 2, 4), want: "duplicate", window: 4 * abi.IoEventBytes,
			explain: "the legacy ring counts events modulo nr, so head comes back to the value a stalled reaper loaded after nr events"},
		checkSpec{name: "legacy ring, nr=4, only nr-1 events: no trace can do it", cfg: legacy(4, 2, 3)},
		checkSpec{name: "v2 ring with 6-bit counters: shortest ABA trace", cfg: v2(32, 6, 2, 16, 8, 16, 8, 16), want: "duplicate", window: 1 << 6,
			explain: "head comes back to the same 6-bit value only after 2^6 bytes are reaped while one reaper stands still"},
		checkSpec{name: "v2 ring with 6-bit counters, 2^6-8 bytes of events: no ABA possible", cfg: v2(32, 6, 2, 16, 8, 8, 16, 8),
			explain: "these sizes never need a PAD, so head can advance at most 56 bytes: short of 2^6"},
		checkSpec{name: "broken v2: a reaper that skips the length check", cfg: with(v2(64, 16, 2, 16, 24, 8, 32, 16), func(c *ModelConfig) { c.Variant = NoLenCheck }), want: "out-of-region"},
		checkSpec{name: "broken v2: reapers that store head instead of CAS", cfg: with(v2(64, 16, 2, 16, 24, 8), func(c *ModelConfig) { c.Variant = StoreHead }), want: "duplicate"},
		checkSpec{name: "broken v2: a producer that stores tail before the record", cfg: with(v2(64, 16, 2, 16, 24, 8), func(c *ModelConfig) { c.Variant = EarlyPublish }), want: "torn"},
		checkSpec{name: "v2 ring with a hostile writer of head: producer and reaper stay in bounds", cfg: with(v2(32, 6, 1, 16, 8, 16), func(c *ModelConfig) { c.Rogue = true })},
		checkSpec{name: "broken v2: a producer that trusts head, with a hostile writer of head", cfg: with(v2(32, 6, 1, 16, 8, 16), func(c *ModelConfig) { c.Rogue = true; c.Variant = TrustHead }), want: "bound"},
	)
	// Random walks over models too big to explore.
	specs = append(specs,
		checkSpec{name: "v2 ring, 1 producer + 3 reapers, seeded random walks", cfg: v2(128, 16, 3, 40, 16, 48, 8, 32, 24, 40, 16, 8, 64, 16, 24, 40, 8, 32, 16), random: true},
		checkSpec{name: "v2 ring, 256 bytes, seeded random walks", cfg: v2(256, 16, 3, 40, 64, 48, 120, 32, 24, 40, 16, 8, 64, 128, 24, 40, 8, 32, 16, 56, 72, 8, 40), random: true},
	)
	return specs, nil
}

// Check runs the standard suite of model checks and writes a report to w:
// exhaustive explorations of the v2 protocol (which must hold), the legacy
// ring's and the k-bit v2 ring's shortest counterexamples, deliberately
// broken variants (which must be caught), and seeded random walks over
// larger models. The same configuration gives the same report.
func Check(cfg CheckConfig, w io.Writer) (CheckResult, error) {
	bound := cfg.Bound
	if bound == "" {
		bound = BoundFull
	}
	walks, steps := cfg.Walks, cfg.Steps
	if walks == 0 {
		walks = 300
	}
	if steps == 0 {
		steps = 20000
	}
	specs, err := suite(bound)
	if err != nil {
		return CheckResult{}, err
	}
	pw := &errWriter{w: w}
	pw.printf("aio2 sim check: bound %s, seed %d, %d walks of up to %d steps\n", bound, cfg.Seed, walks, steps)
	pw.printf("Model: sequentially consistent steps; one step = one atomic load, store or CAS, or one 8-byte word copied.\n")
	res := CheckResult{OK: true}
	for i, sp := range specs {
		it := CheckItem{Name: sp.name, WantViolation: sp.want}
		var v *Violation
		pw.printf("\n[%d] %s\n    model: %s\n", i+1, sp.name, sp.cfg)
		if sp.random {
			rr, err := RandomWalks(sp.cfg, cfg.Seed+uint64(i), walks, steps)
			if err != nil {
				return res, err
			}
			it.Random = &rr
			v = rr.Violation
			pw.printf("    random: %d walks, %d steps, %d walks delivered every event\n", rr.Walks, rr.Steps, rr.Finished)
			pw.printf("    coverage: %s\n", rr.Coverage)
		} else {
			er, err := Explore(sp.cfg, ExploreOptions{})
			if err != nil {
				return res, err
			}
			it.Explore = &er
			v = er.Violation
			status := "complete"
			if !er.Complete {
				status = "stopped"
			}
			pw.printf("    explored: %d states, %d transitions, depth %d (%s)\n", er.States, er.Transitions, er.Depth, status)
			if v == nil {
				pw.printf("    coverage: %s\n", er.Coverage)
			}
			if v == nil && !er.Complete {
				it.Why = "the search stopped before visiting every state"
			}
		}
		switch {
		case v == nil && sp.want == "":
			pw.printf("    result: HOLDS: no violation within these bounds\n")
			if sp.explain != "" {
				pw.printf("    why: %s\n", sp.explain)
			}
		case v == nil:
			it.Why = fmt.Sprintf("expected a %s violation, found none", sp.want)
		default:
			pw.printf("    result: VIOLATION (%s) after %d steps: %s\n", v.Kind, len(v.Trace), v.Detail)
			if sp.window != 0 && v.Culprit >= 0 && v.LoadStep > 0 {
				pw.printf("    R%d loaded head at step %d and stood still while %d bytes were reaped before its step %d\n", v.Culprit+1, v.LoadStep, v.Window, len(v.Trace))
			}
			if sp.explain != "" {
				pw.printf("    why: %s\n", sp.explain)
			}
			switch {
			case v.Kind != sp.want:
				it.Why = fmt.Sprintf("expected %q, found %q", sp.want, v.Kind)
			case sp.window != 0 && (v.Window == 0 || v.Window%sp.window != 0):
				it.Why = fmt.Sprintf("the culprit's window is %d bytes, not a multiple of %d", v.Window, sp.window)
			}
			if !cfg.Brief {
				pw.printf("    trace:\n")
				for _, l := range v.Trace {
					pw.printf("      %s\n", l)
				}
			}
		}
		if sp.want != "" && v != nil && it.Why == "" {
			pw.printf("    result: caught, as expected\n")
		}
		it.OK = it.Why == ""
		if !it.OK {
			res.OK = false
			pw.printf("    UNEXPECTED: %s\n", it.Why)
		}
		res.Items = append(res.Items, it)
	}
	n := 0
	for _, it := range res.Items {
		if it.OK {
			n++
		}
	}
	pw.printf("\n%d of %d checks as expected\n", n, len(res.Items))
	return res, pw.err
}

// String summarises the coverage in one line.
func (c Coverage) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d deliveries, %d failed CAS, %d stale header reads, %d torn-read retries, %d PADs, %d overflow appends (list up to %d), %d flushes",
		c.Deliveries, c.CASFailures, c.TornHeaders, c.Retries, c.Pads, c.OverflowAppends, c.MaxOverflow, c.Flushes)
	return b.String()
}

// errWriter remembers the first write error, so the report code stays
// linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, a...)
}
