package attrs

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
)

// tscExpected says whether this machine's TSC should serve as a clock:
// amd64, the kernel's clocksource tsc, and an invariant TSC. It reads the
// same files as CheckTSC, but on its own, so that a wrong detection fails.
func tscExpected(t *testing.T) bool {
	if runtime.GOARCH != "amd64" {
		return false
	}
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || strings.TrimSpace(string(cs)) != "tsc" {
		return false
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(info), " constant_tsc") && strings.Contains(string(info), " nonstop_tsc")
}

// needTSC returns the calibrated TSC, or skips t where the machine has no
// reliable one, and fails it on amd64 in CI, whose machine has one.
func needTSC(t *testing.T) *TSC {
	t.Helper()
	tc, err := WaitTSC()
	if want := tscExpected(t); (err == nil) != want {
		t.Fatalf("TSC usable: %v (%v), want %v", err == nil, err, want)
	}
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v does not wrap ErrUnavailable", err)
		}
		if runtime.GOARCH == "amd64" {
			requirePriv(t, "no reliable TSC here: %v", err)
		}
		t.Skipf("no reliable TSC here: %v", err)
	}
	return tc
}

// TestTSC: the calibrated TSC is chosen wherever it is reliable, and its
// readings keep the pace of CLOCK_MONOTONIC to within 0.1 % over 300 ms
// (the calibration is 20 ms long), never go backwards, and start where
// CLOCK_MONOTONIC is.
func TestTSC(t *testing.T) {
	tc := needTSC(t)
	if ReadyTSC() != tc {
		t.Fatal("ReadyTSC is not the clock WaitTSC returned")
	}
	if again, _ := WaitTSC(); again != tc {
		t.Fatal("a second WaitTSC calibrated again")
	}
	if d := tc.Now() - Now(); d < -50_000 || d > 50_000 {
		t.Fatalf("the TSC clock is %d ns from CLOCK_MONOTONIC", d)
	}
	m0, c0, r0 := Now(), tc.Now(), ReadTSC()
	prev := c0
	for deadline := m0 + int64(300*time.Millisecond); Now() < deadline; {
		for range 1000 {
			n := tc.Now()
			if n < prev {
				t.Fatalf("clock went back from %d to %d", prev, n)
			}
			prev = n
		}
		time.Sleep(time.Millisecond)
	}
	m1, c1, r1 := Now(), tc.Now(), ReadTSC()
	if r := float64(c1-c0) / float64(m1-m0); r < 0.999 || r > 1.001 {
		t.Fatalf("over %v the TSC clock advanced %v: rate %.6f", time.Duration(m1-m0), time.Duration(c1-c0), r)
	}
	if r := float64(tc.Ns(int64(r1-r0))) / float64(m1-m0); r < 0.999 || r > 1.001 {
		t.Fatalf("Ns of the ticks over %v: rate %.6f", time.Duration(m1-m0), r)
	}
}

// TestTicksToNs: the 128-bit scaling is exact where it can be checked by
// hand, symmetric for negative counts, and does not overflow for counts
// of years.
func TestTicksToNs(t *testing.T) {
	third := uint64(1<<32) / 3 // 1/3 ns per tick, rounded down
	for _, c := range []struct {
		d    int64
		mult uint64
		want int64
	}{
		{0, 1 << 32, 0},
		{12345, 1 << 32, 12345},
		{-12345, 1 << 32, -12345},
		{3e9, 2 << 32, 6e9},
		{3e9, third, 999_999_999},   // 3e9 * floor(2^32/3) / 2^32
		{1 << 62, 1 << 31, 1 << 61}, // 146 years at 1 GHz, halved
		{-(1 << 62), 1 << 31, -(1 << 61)},
	} {
		if got := ticksToNs(c.d, c.mult); got != c.want {
			t.Errorf("ticksToNs(%d, %#x) = %d, want %d", c.d, c.mult, got, c.want)
		}
	}
}

// TestClockLatencyClocks: LATENCY is the difference of whichever pair of
// stamps kioctx took: TSC ticks, converted, or CLOCK_MONOTONIC ns.
func TestClockLatencyClocks(t *testing.T) {
	tc := needTSC(t)
	e := NewEngine(Clock{})
	reqs := reqsFor(abi.AttrLatency)
	tg := Target{Kind: KindDirect, Want: Wanted(reqs)}
	lat := func(s *Stamp) uint64 {
		out, _ := e.Encode(nil, reqs, &tg, s, 64)
		v, ok := attrMap(t, out)[abi.AttrLatency].U64()
		if !ok {
			t.Fatal("no LATENCY value")
		}
		return v
	}
	if v := lat(&Stamp{SubmitNs: 1000, CompleteNs: 4500}); v != 3500 {
		t.Errorf("CLOCK_MONOTONIC stamps: LATENCY %d, want 3500", v)
	}
	// Ticks over a measured 5 ms sleep come back as about 5 ms.
	s := Stamp{SubmitTicks: ReadTSC()}
	m0 := Now()
	time.Sleep(5 * time.Millisecond)
	m1 := Now()
	s.CompleteTicks = ReadTSC()
	m2 := Now()
	if v := int64(lat(&s)); v < (m1-m0)*999/1000 || v > (m2-m0)*1001/1000+1000 {
		t.Errorf("TSC stamps: LATENCY %d, CLOCK_MONOTONIC saw %d to %d", v, m1-m0, m2-m0)
	}
	if got, want := tc.Ns(int64(s.CompleteTicks-s.SubmitTicks)), int64(lat(&s)); got != want {
		t.Errorf("LATENCY %d, Ns of the ticks %d", want, got)
	}
	// A completion stamped before its submission (it cannot happen; the
	// TSCs of the cpus agree) is 0, not 2^64 minus a little.
	if v := lat(&Stamp{SubmitTicks: 2000, CompleteTicks: 1000}); v != 0 {
		t.Errorf("backwards ticks: LATENCY %d", v)
	}
}

// BenchmarkTSC compares the clocks: CLOCK_MONOTONIC through the vDSO,
// the calibrated TSC, and a raw TSC read.
func BenchmarkTSC(b *testing.B) {
	tc, err := WaitTSC()
	if err != nil {
		b.Skip(err)
	}
	var sink int64
	b.Run("vdso", func(b *testing.B) {
		for b.Loop() {
			sink += Now()
		}
	})
	b.Run("tsc-now", func(b *testing.B) {
		for b.Loop() {
			sink += tc.Now()
		}
	})
	b.Run("tsc-raw", func(b *testing.B) {
		for b.Loop() {
			sink += int64(ReadTSC())
		}
	})
	_ = sink
}
