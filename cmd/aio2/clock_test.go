package main

import (
	"runtime"
	"testing"

	"github.com/aio2/aio2/attrs"
)

// TestClockTSC: with --clocksource=cpu the command's clock is the
// process's calibrated TSC wherever attrs.CheckTSC allows it (TestTSC in
// package attrs checks that choice and the clock's pace), and it starts
// where CLOCK_MONOTONIC is.
func TestClockTSC(t *testing.T) {
	startClock("cpu").finish()
	err := attrs.CheckTSC()
	if (cmdClock.tsc != nil) != (err == nil) {
		t.Fatalf("TSC used: %v, attrs.CheckTSC: %v (why not: %q)", cmdClock.tsc != nil, err, cmdClock.why)
	}
	if err != nil {
		if runtime.GOARCH == "amd64" {
			requirePriv(t, "no reliable TSC here: "+cmdClock.why) // CI's machine has one
		}
		t.Skipf("no reliable TSC here: %s", cmdClock.why)
	}
	if cmdClock.tsc != attrs.ReadyTSC() || cmdClock.name != "cpu" || cmdClock.why != "" {
		t.Fatalf("clock %p (attrs: %p), name %q, why %q", cmdClock.tsc, attrs.ReadyTSC(), cmdClock.name, cmdClock.why)
	}
	a := attrs.Now()
	n := nowNs()
	if d := n - a; d < -50_000 || d > 50_000 {
		t.Fatalf("the TSC clock is %d ns from CLOCK_MONOTONIC", d)
	}
}

// TestClockGettime: --clocksource=clock_gettime is CLOCK_MONOTONIC itself.
func TestClockGettime(t *testing.T) {
	defer startClock("cpu").finish()
	startClock("clock_gettime").finish()
	if cmdClock.tsc != nil || cmdClock.name != "clock_gettime" {
		t.Fatalf("tsc %v name %q", cmdClock.tsc, cmdClock.name)
	}
	a := attrs.Now()
	n := nowNs()
	if b := attrs.Now(); n < a || n > b {
		t.Fatalf("nowNs %d outside [%d, %d]", n, a, b)
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
