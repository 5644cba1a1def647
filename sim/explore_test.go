package sim

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/aio2/aio2/abi"
)

var checkBound = flag.String("sim.bound", "", "run Check at this bound (full or large) and print its report; AIO2_SIM_BOUND does the same")

func v2cfg(ring, k, reapers int, sizes ...int) ModelConfig {
	return ModelConfig{Protocol: V2, RingBytes: ring, CounterBits: k, Reapers: reapers, EventBytes: sizes}
}

func legacyCfg(nr, reapers, events int) ModelConfig {
	sizes := make([]int, events)
	for i := range sizes {
		sizes[i] = abi.IoEventBytes
	}
	return ModelConfig{Protocol: Legacy, LegacySlots: nr, Reapers: reapers, EventBytes: sizes}
}

func explore(t *testing.T, cfg ModelConfig) ExploreResult {
	t.Helper()
	r, err := Explore(cfg, ExploreOptions{})
	if err != nil {
		t.Fatalf("%v: %v", cfg, err)
	}
	return r
}

// The protocol of spec sections 4 and 5 holds in every interleaving within
// the bounds, and the bounds reach the situations the protocol is about:
// lost CAS races, reads of reused bytes, torn headers, PADs, overflow.
func TestExploreV2Holds(t *testing.T) {
	cases := []ModelConfig{
		v2cfg(64, 16, 2, 16, 24, 8, 32, 16),
		v2cfg(32, 16, 3, 16, 8, 16, 8),
		v2cfg(32, 16, 1, 16, 8, 16, 8, 16, 8),
	}
	for _, c := range cases {
		r := explore(t, c)
		if r.Violation != nil {
			t.Fatalf("%v: %s: %s\n%s", c, r.Violation.Kind, r.Violation.Detail, strings.Join(r.Violation.Trace, "\n"))
		}
		if !r.Complete {
			t.Fatalf("%v: search incomplete after %d states", c, r.States)
		}
		cov := r.Coverage
		if cov.Pads == 0 || cov.OverflowAppends == 0 || cov.Flushes == 0 || cov.Deliveries == 0 {
			t.Errorf("%v: bounds too small to matter: %v", c, cov)
		}
		if c.Reapers > 1 && (cov.CASFailures == 0 || cov.TornHeaders == 0) {
			t.Errorf("%v: no CAS race reached: %v", c, cov)
		}
		t.Logf("%v: %d states, depth %d; %v", c, r.States, r.Depth, cov)
	}
	// Torn headers that fail the bound check and are retried happen with
	// varied sizes over a larger ring.
	if r := explore(t, cases[0]); r.Coverage.Retries == 0 {
		t.Errorf("no torn-read retry reached: %v", r.Coverage)
	}
}

// The legacy ring delivers an event twice once head comes back to the value
// a stalled reaper loaded, which takes nr events; with fewer it holds.
func TestLegacyABA(t *testing.T) {
	for _, nr := range []int{3, 4} {
		r := explore(t, legacyCfg(nr, 2, nr))
		v := r.Violation
		if v == nil {
			t.Fatalf("nr=%d: no counterexample", nr)
		}
		if v.Kind != "duplicate" && v.Kind != "lost" {
			t.Fatalf("nr=%d: kind %s: %s", nr, v.Kind, v.Detail)
		}
		if v.Culprit < 0 || v.Window != uint64(nr*abi.IoEventBytes) {
			t.Fatalf("nr=%d: culprit R%d stood still for %d bytes, want %d", nr, v.Culprit+1, v.Window, nr*abi.IoEventBytes)
		}
		last := v.Trace[len(v.Trace)-1]
		if !strings.Contains(last, "CAS head") || !strings.Contains(last, "ok") {
			t.Fatalf("nr=%d: the trace does not end with the stale CAS: %q", nr, last)
		}
		t.Logf("nr=%d: %d steps: %s", nr, len(v.Trace), v.Detail)

		if r := explore(t, legacyCfg(nr, 2, nr-1)); r.Violation != nil || !r.Complete {
			t.Fatalf("nr=%d with nr-1 events: %+v", nr, r.Violation)
		}
	}
}

// With k-bit counters the v2 ring has the same failure, but only after 2^k
// bytes were reaped while one reaper stood still: docs/ring.md's claim,
// scaled from 2^32 to 2^k.
func TestV2ABANeedsTwoToTheK(t *testing.T) {
	cases := []struct {
		cfg  ModelConfig
		want bool
	}{
		{v2cfg(32, 6, 2, 16, 8, 16, 8, 16), true},
		{v2cfg(32, 6, 2, 16, 8, 8, 16, 8), false}, // 56 bytes, no PAD: head moves at most 56 < 64
		{v2cfg(32, 7, 2, 16, 16, 16, 16, 16, 16, 16, 16), true},
		{v2cfg(32, 7, 2, 16, 16, 16, 16, 16, 16, 16, 8), false},
	}
	if raceEnabled {
		cases = cases[:2]
	}
	for _, c := range cases {
		r := explore(t, c.cfg)
		v := r.Violation
		if !c.want {
			if v != nil || !r.Complete {
				t.Fatalf("%v: want no violation, got %+v", c.cfg, v)
			}
			continue
		}
		if v == nil {
			t.Fatalf("%v: no ABA found", c.cfg)
		}
		span := uint64(1) << c.cfg.CounterBits
		if v.Kind != "duplicate" || v.Window == 0 || v.Window%span != 0 {
			t.Fatalf("%v: %s with a window of %d bytes, want a duplicate after a multiple of %d", c.cfg, v.Kind, v.Window, span)
		}
		t.Logf("%v: %d steps, R%d stood still for %d bytes: %s", c.cfg, len(v.Trace), v.Culprit+1, v.Window, v.Detail)
	}
}

// Each deliberately broken variant is caught, with the expected kind.
func TestBrokenVariantsCaught(t *testing.T) {
	cases := []struct {
		cfg  ModelConfig
		want string
	}{
		{with(v2cfg(64, 16, 2, 16, 24, 8, 32, 16), NoLenCheck, false), "out-of-region"},
		{with(v2cfg(64, 16, 2, 16, 24, 8), StoreHead, false), "duplicate"},
		{with(legacyCfg(4, 2, 2), StoreHead, false), "duplicate"},
		{with(v2cfg(64, 16, 2, 16, 24, 8), EarlyPublish, false), "torn"},
		{with(v2cfg(32, 6, 1, 16, 8, 16), TrustHead, true), "bound"},
	}
	for _, c := range cases {
		r := explore(t, c.cfg)
		if r.Violation == nil {
			t.Fatalf("%v: not caught (%d states)", c.cfg, r.States)
		}
		if r.Violation.Kind != c.want {
			t.Fatalf("%v: caught as %s (%s), want %s", c.cfg, r.Violation.Kind, r.Violation.Detail, c.want)
		}
	}
	// Without havoc (a torn header always shows a length past the region)
	// the missing length check is still caught.
	c := with(v2cfg(64, 16, 2, 16, 24, 8, 32, 16), NoLenCheck, false)
	c.NoHavoc = true
	if r := explore(t, c); r.Violation == nil || r.Violation.Kind != "out-of-region" {
		t.Fatalf("no-havoc no-len-check: %+v", r.Violation)
	}
}

func with(c ModelConfig, v Variant, rogue bool) ModelConfig {
	c.Variant, c.Rogue = v, rogue
	return c
}

// A hostile process that writes any value into head cannot make the
// correct producer publish beyond ring_bytes, nor a reaper read outside the
// region.
func TestRogueHead(t *testing.T) {
	cases := []ModelConfig{
		with(v2cfg(32, 6, 1, 16, 8, 16), Correct, true),
		with(v2cfg(32, 6, 2, 16, 8), Correct, true),
	}
	if raceEnabled {
		cases = cases[:1]
	}
	for _, c := range cases {
		r := explore(t, c)
		if r.Violation != nil || !r.Complete {
			t.Fatalf("%v: %+v", c, r.Violation)
		}
	}
}

// Symmetry reduction merges states but must not change the verdict or the
// length of the shortest counterexample.
func TestSymmetryReduction(t *testing.T) {
	c := v2cfg(32, 16, 2, 16, 8, 16)
	a := explore(t, c)
	b, err := Explore(c, ExploreOptions{NoSymmetry: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Violation != nil || b.Violation != nil || !a.Complete || !b.Complete {
		t.Fatalf("violations: %+v %+v", a.Violation, b.Violation)
	}
	if a.States >= b.States {
		t.Fatalf("symmetry did not reduce: %d vs %d states", a.States, b.States)
	}
	l := legacyCfg(3, 2, 3)
	x := explore(t, l)
	y, err := Explore(l, ExploreOptions{NoSymmetry: true})
	if err != nil {
		t.Fatal(err)
	}
	if x.Violation == nil || y.Violation == nil || len(x.Violation.Trace) != len(y.Violation.Trace) {
		t.Fatalf("shortest traces differ: %+v %+v", x.Violation, y.Violation)
	}
}

func TestMaxStates(t *testing.T) {
	r, err := Explore(v2cfg(64, 16, 2, 16, 24, 8, 32, 16), ExploreOptions{MaxStates: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || r.States != 1000 {
		t.Fatalf("complete=%v states=%d", r.Complete, r.States)
	}
}

func TestRandomWalks(t *testing.T) {
	big := v2cfg(128, 16, 3, 40, 16, 48, 8, 32, 24, 40, 16, 8, 64, 16, 24)
	a, err := RandomWalks(big, 7, 50, 20000)
	if err != nil {
		t.Fatal(err)
	}
	if a.Violation != nil {
		t.Fatalf("%s: %s", a.Violation.Kind, a.Violation.Detail)
	}
	if a.Finished != a.Walks || a.Coverage.CASFailures == 0 || a.Coverage.TornHeaders == 0 {
		t.Fatalf("walks too short or no races: %d of %d finished, %v", a.Finished, a.Walks, a.Coverage)
	}
	b, _ := RandomWalks(big, 7, 50, 20000)
	if a.Steps != b.Steps || a.Finished != b.Finished || a.Coverage != b.Coverage {
		t.Fatalf("same seed, different walks: %+v vs %+v", a, b)
	}
	bad, err := RandomWalks(with(big, StoreHead, false), 7, 200, 20000)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Violation == nil {
		t.Fatalf("random walks missed the store-head bug")
	}
}

func TestValidate(t *testing.T) {
	bad := []ModelConfig{
		{},
		v2cfg(48, 16, 2, 16),                // not a power of two
		v2cfg(512, 16, 2, 16),               // too big
		v2cfg(64, 6, 2, 16),                 // 2^k < 2*ring
		v2cfg(64, 16, 4, 16),                // too many reapers
		v2cfg(64, 16, 2, 12),                // not a multiple of 8
		v2cfg(64, 16, 2, 40),                // > max_event (ring/2)
		v2cfg(64, 16, 2, make([]int, 0)...), // no events
		legacyCfg(9, 2, 3),
		with(legacyCfg(4, 2, 3), NoLenCheck, false),
		with(legacyCfg(4, 2, 3), Correct, true),
		{Protocol: 7, Reapers: 1, EventBytes: []int{8}},
	}
	for _, c := range bad {
		if _, err := Explore(c, ExploreOptions{}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: err %v", c, err)
		}
		if _, err := RandomWalks(c, 1, 1, 1); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: err %v", c, err)
		}
	}
	if _, err := Check(CheckConfig{Bound: "huge"}, &bytes.Buffer{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("bad bound: %v", err)
	}
	for _, v := range []Variant{Correct, NoLenCheck, StoreHead, EarlyPublish, TrustHead} {
		if got, ok := ParseVariant(v.String()); !ok || got != v {
			t.Errorf("ParseVariant(%q) = %v, %v", v, got, ok)
		}
	}
}

// The CI suite meets every expectation and prints the same report for the
// same seed.
func TestCheckCI(t *testing.T) {
	var a, b bytes.Buffer
	r, err := Check(CheckConfig{Bound: BoundCI, Seed: 3, Walks: 40}, &a)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("suite failed:\n%s", a.String())
	}
	if !raceEnabled {
		if _, err := Check(CheckConfig{Bound: BoundCI, Seed: 3, Walks: 40}, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("same seed, different report")
		}
	}
	for _, want := range []string{"HOLDS", "VIOLATION (duplicate)", "caught, as expected", "stood still while 128 bytes", "stood still while 64 bytes"} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestCheckBound runs the bigger suites: go test ./sim -run CheckBound
// -sim.bound=full (or AIO2_SIM_BOUND=large), with -timeout to match.
func TestCheckBound(t *testing.T) {
	bound := *checkBound
	if bound == "" {
		bound = os.Getenv("AIO2_SIM_BOUND")
	}
	if bound == "" {
		t.Skip("set -sim.bound or AIO2_SIM_BOUND to run the full or large suite")
	}
	var out bytes.Buffer
	r, err := Check(CheckConfig{Bound: bound, Seed: 1}, &out)
	t.Log("\n" + out.String())
	if err != nil || !r.OK {
		t.Fatalf("err %v ok %v", err, r.OK)
	}
}
