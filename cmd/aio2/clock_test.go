package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aio2/aio2/attrs"
)

// tscExpected says whether this machine should use the TSC: amd64, the
// kernel's clocksource tsc, and an invariant TSC. It reads the same files
// as tscUnreliable, but on its own, so that a wrong detection fails.
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

// TestClockTSC: with --clocksource=cpu the command reads the TSC wherever
// it is reliable, and its readings keep the pace of CLOCK_MONOTONIC to
// within 0.1 % over 300 ms (the calibration is 20 ms long), never go
// backwards, and start where CLOCK_MONOTONIC is.
func TestClockTSC(t *testing.T) {
	startClock("cpu").finish()
	if want := tscExpected(t); cmdClock.tsc != want {
		t.Fatalf("TSC used: %v, want %v (why not: %q)", cmdClock.tsc, want, cmdClock.why)
	}
	if !cmdClock.tsc {
		if runtime.GOARCH == "amd64" {
			requirePriv(t, "no reliable TSC here: "+cmdClock.why) // CI's machine has one
		}
		t.Skipf("no reliable TSC here: %s", cmdClock.why)
	}
	if cmdClock.name != "cpu" || cmdClock.why != "" {
		t.Fatalf("name %q, why %q", cmdClock.name, cmdClock.why)
	}
	if d := nowNs() - attrs.Now(); d < -50_000 || d > 50_000 {
		t.Fatalf("the TSC clock is %d ns from CLOCK_MONOTONIC right after calibration", d)
	}
	m0, c0 := attrs.Now(), nowNs()
	prev := c0
	for deadline := m0 + int64(300*time.Millisecond); attrs.Now() < deadline; {
		for range 1000 {
			n := nowNs()
			if n < prev {
				t.Fatalf("clock went back from %d to %d", prev, n)
			}
			prev = n
		}
		time.Sleep(time.Millisecond)
	}
	m1, c1 := attrs.Now(), nowNs()
	if r := float64(c1-c0) / float64(m1-m0); r < 0.999 || r > 1.001 {
		t.Fatalf("over %v the TSC clock advanced %v: rate %.6f", time.Duration(m1-m0), time.Duration(c1-c0), r)
	}
}

// TestClockGettime: --clocksource=clock_gettime is CLOCK_MONOTONIC itself.
func TestClockGettime(t *testing.T) {
	defer startClock("cpu").finish()
	startClock("clock_gettime").finish()
	if cmdClock.tsc || cmdClock.name != "clock_gettime" {
		t.Fatalf("tsc %v name %q", cmdClock.tsc, cmdClock.name)
	}
	a := attrs.Now()
	n := nowNs()
	if b := attrs.Now(); n < a || n > b {
		t.Fatalf("nowNs %d outside [%d, %d]", n, a, b)
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

// BenchmarkClock compares the command's clock with CLOCK_MONOTONIC
// through the vDSO.
func BenchmarkClock(b *testing.B) {
	startClock("cpu").finish()
	var sink int64
	b.Run("vdso", func(b *testing.B) {
		for b.Loop() {
			sink += attrs.Now()
		}
	})
	b.Run(cmdClock.name, func(b *testing.B) {
		for b.Loop() {
			sink += nowNs()
		}
	})
	_ = sink
}
