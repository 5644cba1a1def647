package main

import (
	"errors"

	"github.com/aio2/aio2/attrs"
)

// The command's own clock: slat, clat and lat, the runtime deadline and
// the 500 ms samples are differences of its readings. It is read up
// to three times per IO at QD1, so its cost shows: through the vDSO
// (attrs.Now, CLOCK_MONOTONIC) a reading costs 26–33 ns here, of which Go's
// switch to the system stack is part, and on the TSC (attrs.TSC.Now) 14
// ns (`go test -run '^$' -bench Clock ./cmd/aio2`). fio reads the TSC for
// the same reason (its clocksource=cpu, the default where the TSC is
// reliable).
//
// The calibration is the process's one (attrs.StartTSC), which the
// contexts' LATENCY uses too: startClock begins it before the file is laid
// out, so that the layout counts toward its 20 ms, and finish waits for
// it.

// cmdClock is set up once, by startClock and finish, before any job runs.
var cmdClock struct {
	tsc  *attrs.TSC // nil: CLOCK_MONOTONIC through attrs.Now
	name string     // "cpu" or "clock_gettime", for the report
	why  string     // why not the TSC, if it is not used
}

// nowNs is the command's clock in nanoseconds: the TSC scaled to the
// rate of CLOCK_MONOTONIC where the TSC is reliable, attrs.Now otherwise.
func nowNs() int64 {
	if t := cmdClock.tsc; t != nil {
		return t.Now()
	}
	return attrs.Now()
}

// clockCalibration is a calibration startClock began; finish completes it.
type clockCalibration struct{ tsc bool }

// startClock chooses the command's clock for --clocksource=src ("cpu" or
// "clock_gettime") and, for the TSC, starts the process's calibration.
func startClock(src string) clockCalibration {
	cmdClock.tsc, cmdClock.name, cmdClock.why = nil, "clock_gettime", ""
	if src != "cpu" {
		return clockCalibration{}
	}
	attrs.StartTSC()
	return clockCalibration{tsc: true}
}

// finish waits for the calibration, if the TSC was asked for, and makes
// it the command's clock if it succeeded.
func (k clockCalibration) finish() {
	if !k.tsc {
		return
	}
	t, err := attrs.WaitTSC()
	if err != nil {
		cmdClock.why = tscWhy(err)
		return
	}
	cmdClock.tsc, cmdClock.name = t, "cpu"
}

// tscWhy is the reason in err, for a report line.
func tscWhy(err error) string {
	if te := (*attrs.TSCError)(nil); errors.As(err, &te) {
		return te.Reason
	}
	return err.Error()
}
