// Package sim models the aio2 ring protocols to check them and to size
// rings: an exhaustive explorer of every interleaving of a producer and
// several reapers over a small ring, and a queueing simulator for the
// completion rates this project's two-core machine cannot reach.
//
// The model is written from spec sections 4 (reaping), 5 (producing) and 6
// (the legacy ring), not from package ring: it checks the protocol, and the
// real code is tested against the same spec elsewhere. Each atomic load,
// store or CAS of head or tail, and each 8-byte word written or copied, is
// one step; steps are sequentially consistent. Head and tail wrap at 2^k for
// a chosen k, so that the ABA bound (2^32 bytes in the real ring) is
// reachable. A torn header read (a reaper reading where the bytes now belong
// to the middle of another record) shows every possible length and type.
//
// What belongs here: the model (Protocol, Variant, ModelConfig), the
// explorers (Explore, RandomWalks), the standard suite with its report
// (Check), the queueing simulator (Workload, Simulate, Size, SizingSVG), and
// an independent Promela model in promela/ring.pml checked by spin in the
// tests. What does not: anything that touches a real ring, memory mapping or
// syscall (package ring, package kioctx), and command-line parsing (cmd).
//
// Entry points for the command line (aio2 sim check, aio2 sim size):
//
//	func Check(cfg CheckConfig, w io.Writer) (CheckResult, error)
//	func Size(cfg SizeConfig, w io.Writer) (SizeResult, error)
//	func SizingSVG(cfg PlotConfig, w io.Writer) error
//
// Each writes a human-readable report to w and returns the structured
// result; the same configuration, seed included, gives the same output byte
// for byte. Check's result has OK false when any expectation failed (a
// proof that found a violation, or a broken variant that was not caught); a
// command should exit non-zero then. Configuration errors wrap ErrBadConfig.
//
// Heavier runs are behind flags of the tests: go test ./sim -run CheckBound
// -sim.bound=full (or large), and go test ./sim -run SizingSVG
// -sim.svg=FILE to redraw the plot in docs/sim.md.
package sim
