package main

import (
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
// short run. What cannot be prepared (no privilege) comes back UNAVAILABLE, as
// it would have anyway; the report's statuses say so.
func prepareAttrs(ids []uint16) {
	var m attrs.Mask
	for _, id := range ids {
		m = m.With(id)
	}
	_ = attrs.Default().Prepare(m)
}
