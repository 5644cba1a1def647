package sim_test

import (
	"fmt"

	"github.com/aio2/aio2/sim"
)

// The legacy ring counts events modulo nr: with nr = 3 slots, a reaper that
// stands still while 3 events are reaped succeeds with a stale CAS.
func ExampleExplore_legacy() {
	cfg := sim.ModelConfig{Protocol: sim.Legacy, LegacySlots: 3, Reapers: 2, EventBytes: []int{32, 32, 32}}
	r, err := sim.Explore(cfg, sim.ExploreOptions{})
	if err != nil {
		panic(err)
	}
	v := r.Violation
	fmt.Printf("%s after %d steps; R%d stood still for %d bytes\n", v.Kind, len(v.Trace), v.Culprit+1, v.Window)
	// Output:
	// duplicate after 49 steps; R2 stood still for 96 bytes
}

// The v2 ring with 16-bit counters holds in every interleaving of a
// producer and two reapers over five events.
func ExampleExplore_v2() {
	cfg := sim.ModelConfig{Protocol: sim.V2, RingBytes: 64, CounterBits: 16, Reapers: 2, EventBytes: []int{16, 24, 8, 32, 16}}
	r, err := sim.Explore(cfg, sim.ExploreOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Complete, r.Violation == nil, r.States)
	// Output:
	// true true 72443
}
