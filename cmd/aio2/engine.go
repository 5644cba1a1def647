package main

import (
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/kioctx"
)

// contextOptions are the kioctx options of every context aio2 io makes:
// the engine with every collector package attrs has. Its eBPF programs
// load only when an IO first asks for CACHE or DEVICE.
func contextOptions() []kioctx.Option {
	return []kioctx.Option{kioctx.WithEngine(attrs.Default())}
}
