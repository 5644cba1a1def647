//go:build race

package ring

// raceEnabled makes the producer write, and reapers copy, the data area
// with atomic stores and loads, so that the race detector does not report
// the speculative copies the CAS on head arbitrates, and reports only real
// races (docs/ring.md, "Memory ordering").
const raceEnabled = true
