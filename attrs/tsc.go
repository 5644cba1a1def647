package attrs

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The TSC as a clock for durations. CLOCK_MONOTONIC through the vDSO costs
// 27–33 ns a reading here and an unserialized RDTSC 11 ns (BenchmarkTSC),
// and LATENCY alone needs two readings per IO at queue depth 1, where a
// whole IO on zram takes about 2.6 µs. So LATENCY is taken from the TSC,
// scaled to CLOCK_MONOTONIC's rate, wherever the TSC is reliable (see
// CheckTSC) and the IO asks for nothing that must line up with
// CLOCK_MONOTONIC itself (TIMESTAMPS, which the spec defines on that
// clock; DEVICE and CACHE, whose collectors compare with eBPF's
// bpf_ktime_get_ns). A rate is only as good as its calibration: 20 ms
// against CLOCK_MONOTONIC with both ends paired to within about 30 ns is
// right to a few parts in a million, far inside what LATENCY can mean.

// tscCalibration is how long the TSC is measured against CLOCK_MONOTONIC.
const tscCalibration = 20 * time.Millisecond

// TSCError says why the TSC cannot serve as a clock on this machine. It
// wraps ErrUnavailable.
type TSCError struct {
	// Reason is what is missing, for a report: "the kernel's clocksource
	// is kvm-clock, not tsc".
	Reason string
}

// Error says that the TSC cannot be a clock, and why.
func (e *TSCError) Error() string { return "TSC not usable as a clock: " + e.Reason }

// Unwrap makes errors.Is(err, ErrUnavailable) hold.
func (e *TSCError) Unwrap() error { return ErrUnavailable }

// TSC is the cpu's time-stamp counter scaled to CLOCK_MONOTONIC's rate by
// a calibration against it. Get one from WaitTSC or ReadyTSC; it never
// changes once made, so it is safe for concurrent use.
type TSC struct {
	c0   uint64 // TSC at the anchor
	m0   int64  // CLOCK_MONOTONIC at the anchor
	mult uint64 // ns per tick, 32.32 fixed point
}

// Now returns the time in nanoseconds on CLOCK_MONOTONIC's scale: equal
// to Now() (package function) at the calibration's first anchor, and
// drifting from it by the calibration's error, a few ns per ms, and by
// whatever NTP slews CLOCK_MONOTONIC afterwards. Use it for durations and
// for deadlines, not for stamps other clocks are compared with.
func (t *TSC) Now() int64 { return t.m0 + t.Ns(int64(rdtsc()-t.c0)) }

// Ns converts a difference of two ReadTSC values to nanoseconds.
func (t *TSC) Ns(ticks int64) int64 { return ticksToNs(ticks, t.mult) }

// ReadTSC returns the time-stamp counter, not serialized: the read may
// move a few instructions earlier or later. It returns 0 where there is no
// TSC (not amd64); WaitTSC then reports that.
func ReadTSC() uint64 { return rdtsc() }

// ticksToNs scales a signed tick count by mult (32.32 fixed point)
// without overflow: the product is 128 bits wide.
func ticksToNs(d int64, mult uint64) int64 {
	neg := d < 0
	if neg {
		d = -d
	}
	hi, lo := bits.Mul64(uint64(d), mult)
	v := int64(hi<<32 | lo>>32)
	if neg {
		return -v
	}
	return v
}

// tsc is the process's calibration: one for every context and for the
// command, started by StartTSC.
var tsc struct {
	once  sync.Once
	done  chan struct{} // closed when the calibration ended
	ready atomic.Pointer[TSC]
	err   error // why not, once done is closed
}

// StartTSC begins the process's calibration of the TSC in the background,
// the first time it is called; it never blocks. kioctx calls it when a
// context with an attribute engine is set up, so that LATENCY moves to
// the TSC about 20 ms later; IO submitted before then is timed with
// CLOCK_MONOTONIC, wholly (a duration never mixes the two clocks).
func StartTSC() {
	tsc.once.Do(func() {
		tsc.done = make(chan struct{})
		go func() {
			defer close(tsc.done)
			t, err := calibrateTSC()
			if err != nil {
				tsc.err = err
				return
			}
			tsc.ready.Store(t)
		}()
	})
}

// WaitTSC starts the calibration if need be and waits for it to end. The
// calibration, once per process, sleeps tscCalibration (20 ms) from the
// first StartTSC, so the wait ends about then: later if the sleep
// overruns on a loaded machine (nothing bounds it), at once if the
// calibration ended already or CheckTSC refused the TSC before sleeping.
// It returns the TSC clock, or a *TSCError saying why the TSC cannot be
// one here.
func WaitTSC() (*TSC, error) {
	StartTSC()
	<-tsc.done
	if t := tsc.ready.Load(); t != nil {
		return t, nil
	}
	return nil, tsc.err
}

// ReadyTSC returns the TSC clock if its calibration is done and it
// succeeded, nil otherwise. It never blocks: it is the hot path's test.
func ReadyTSC() *TSC { return tsc.ready.Load() }

func calibrateTSC() (*TSC, error) {
	if err := CheckTSC(); err != nil {
		return nil, err
	}
	c0, m0 := tscPair()
	time.Sleep(tscCalibration)
	c1, m1 := tscPair()
	if c1 <= c0 || m1 <= m0 {
		return nil, &TSCError{"the TSC did not advance with CLOCK_MONOTONIC during calibration"}
	}
	// (m1-m0) << 32 / (c1-c0) in 128 bits, so that a calibration
	// delayed for seconds (a loaded machine) does not overflow; the
	// quotient fits in 64 bits for any TSC faster than one tick per 4 s.
	dm := uint64(m1 - m0)
	if dm>>32 >= c1-c0 {
		return nil, &TSCError{"the TSC ticks too slowly to be a clock"}
	}
	mult, _ := bits.Div64(dm>>32, dm<<32, c1-c0)
	return &TSC{c0: c0, m0: m0, mult: mult}, nil
}

// tscPair reads the TSC and CLOCK_MONOTONIC as close together as it can:
// of five tries, the one whose two TSC reads around the clock read are
// closest, with the TSC at their midpoint.
func tscPair() (uint64, int64) {
	best := ^uint64(0)
	var c uint64
	var m int64
	for range 5 {
		a := rdtsc()
		n := nanotime()
		b := rdtsc()
		if b >= a && b-a < best {
			best, c, m = b-a, a+(b-a)/2, n
		}
	}
	return c, m
}

// CheckTSC says why the TSC cannot serve as a clock here (a *TSCError),
// or returns nil if it can: the cpu must be amd64 with an invariant TSC
// (constant_tsc and nonstop_tsc), and the kernel must use it as its
// clocksource, which it does only after checking that the cpus' TSCs
// agree (a completion may be stamped on another cpu than its submission).
func CheckTSC() error {
	if !hasTSC {
		return &TSCError{"no TSC on " + runtime.GOARCH}
	}
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		return &TSCError{fmt.Sprintf("the kernel's clocksource is unknown: %v", err)}
	}
	if s := strings.TrimSpace(string(cs)); s != "tsc" {
		return &TSCError{fmt.Sprintf("the kernel's clocksource is %s, not tsc", s)}
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return &TSCError{fmt.Sprintf("cannot read the cpu flags: %v", err)}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		have := map[string]bool{}
		for _, fl := range strings.Fields(line[strings.IndexByte(line, ':')+1:]) {
			have[fl] = true
		}
		for _, need := range []string{"constant_tsc", "nonstop_tsc"} {
			if !have[need] {
				return &TSCError{"the cpu lacks " + need}
			}
		}
		return nil
	}
	return &TSCError{"no cpu flags in /proc/cpuinfo"}
}
