package main

import (
	"slices"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/kioctx"
)

// contextOptions are the kioctx options of every context aio2 io makes:
// the engine with every collector package attrs has. Its eBPF programs
// load when prepareAttrs asks, or else when an IO first asks for CACHE or
// DEVICE.
func contextOptions() []kioctx.Option {
	return []kioctx.Option{kioctx.WithEngine(attrs.Default())}
}

// prepareAttrs readies the collectors of the attributes asked for before
// the run starts: loading the eBPF programs inside the first IO's submit
// made that IO's slat and lat 70–90 ms here, and took as much from a
// short run. What cannot be prepared (no privilege) comes back
// UNAVAILABLE, as it would have anyway; the report's statuses say so. It
// is a variable so that a test can see that it runs before the first
// submit (TestAttrsPreparedBeforeTheFirstSubmit).
var prepareAttrs = func(ids []uint16) {
	var m attrs.Mask
	for _, id := range ids {
		m = m.With(id)
	}
	_ = attrs.Default().Prepare(m)
}

// runStarts runs when the jobs are made and about to start; a test
// replaces it to wrap the jobs' calls.
var runStarts = func([]*job) {}

// deviceCounters reads the DEVICE programs' counters when DEVICE is asked
// for (nil otherwise, or when they cannot be read: the statuses then say
// UNAVAILABLE). The report gives what they counted during the run, so
// that a user can tell IOs whose records the ring dropped from the rest.
func deviceCounters(ids []uint16) *attrs.DeviceCounters {
	if !slices.Contains(ids, abi.AttrDevice) {
		return nil
	}
	c, err := attrs.NewDevice().Counters()
	if err != nil {
		return nil
	}
	return &c
}

// devDelta is after minus before, nil unless both were read.
func devDelta(before, after *attrs.DeviceCounters) *attrs.DeviceCounters {
	if before == nil || after == nil {
		return nil
	}
	d := after.Sub(*before)
	return &d
}
