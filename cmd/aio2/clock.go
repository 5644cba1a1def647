package main

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/aio2/aio2/attrs"
)

// The command's own clock: slat, clat and lat, the runtime deadline and
// the per-second samples are differences of its readings. It is read up
// to three times per IO at QD1, so its cost shows: through the vDSO
// (attrs.Now, CLOCK_MONOTONIC) a reading costs 28 ns here, of which Go's
// switch to the system stack is part, and nowNs on the TSC 14 ns (`go
// test -run '^$' -bench Clock ./cmd/aio2`). fio reads the TSC for the same
// reason (its clocksource=cpu, the default where the TSC is reliable).
//
// The attributes do not use this clock: the spec defines TIMESTAMPS as
// CLOCK_MONOTONIC, and DEVICE compares its stamps with the eBPF programs'
// bpf_ktime_get_ns, which is that clock too.

// calibrateFor is how long the TSC is measured against CLOCK_MONOTONIC:
// with both ends paired to within about 30 ns, the rate is right to a few
// parts in a million, far below the histograms' 3 significant digits.
const calibrateFor = 20 * time.Millisecond

// cmdClock is set up once, by startClock and finish, before any job runs.
var cmdClock struct {
	tsc  bool
	c0   uint64 // TSC at the anchor
	m0   int64  // CLOCK_MONOTONIC at the anchor
	mult uint64 // ns per tick, 32.32 fixed point
	name string // "cpu" or "clock_gettime", for the report
	why  string // why not the TSC, if it is not used
}

// nowNs is the command's clock in nanoseconds: the TSC scaled to the
// rate of CLOCK_MONOTONIC where the TSC is reliable, attrs.Now otherwise.
func nowNs() int64 {
	if !cmdClock.tsc {
		return attrs.Now()
	}
	return cmdClock.m0 + ticksToNs(int64(rdtsc()-cmdClock.c0), cmdClock.mult)
}

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

// clockCalibration is a calibration startClock began; finish completes it.
type clockCalibration struct {
	c0 uint64
	m0 int64
}

// startClock chooses the command's clock for --clocksource=src ("cpu" or
// "clock_gettime") and, for the TSC, takes the first anchor; finish takes
// the second, at least calibrateFor later (work done in between, such as
// laying out the file, counts toward it).
func startClock(src string) *clockCalibration {
	cmdClock.tsc, cmdClock.name, cmdClock.why = false, "clock_gettime", ""
	if src != "cpu" {
		return nil
	}
	if why := tscUnreliable(); why != "" {
		cmdClock.why = why
		return nil
	}
	c, m := tscPair()
	return &clockCalibration{c, m}
}

func (k *clockCalibration) finish() {
	if k == nil {
		return
	}
	if d := time.Duration(attrs.Now() - k.m0); d < calibrateFor {
		time.Sleep(calibrateFor - d)
	}
	c1, m1 := tscPair()
	if c1 <= k.c0 || m1 <= k.m0 || m1-k.m0 >= 1<<31 {
		// Time went backwards, or the calibration took over 2 s (the
		// 32.32 rate would overflow): not worth the risk.
		cmdClock.why = "the TSC did not advance with CLOCK_MONOTONIC during calibration"
		return
	}
	cmdClock.c0, cmdClock.m0 = k.c0, k.m0
	cmdClock.mult = (uint64(m1-k.m0) << 32) / (c1 - k.c0)
	cmdClock.tsc, cmdClock.name = true, "cpu"
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
		n := attrs.Now()
		b := rdtsc()
		if b >= a && b-a < best {
			best, c, m = b-a, a+(b-a)/2, n
		}
	}
	return c, m
}

// tscUnreliable says why the TSC cannot serve as the command's clock, or
// "" if it can: the cpu must be amd64 with an invariant TSC (constant_tsc
// and nonstop_tsc), and the kernel must use it as its clocksource, which
// it does only after checking that the cpus' TSCs agree (a reaper
// goroutine may read it on another cpu than the submitter).
func tscUnreliable() string {
	if !hasTSC {
		return "no TSC on " + runtime.GOARCH
	}
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		return fmt.Sprintf("the kernel's clocksource is unknown: %v", err)
	}
	if s := strings.TrimSpace(string(cs)); s != "tsc" {
		return fmt.Sprintf("the kernel's clocksource is %s, not tsc", s)
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("cannot read the cpu flags: %v", err)
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
				return "the cpu lacks " + need
			}
		}
		return ""
	}
	return "no cpu flags in /proc/cpuinfo"
}
