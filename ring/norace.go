//go:build !race

package ring

// raceEnabled is false: the producer writes, and reapers copy, the data
// area with copy, which the Go memory model allows to race (a racing read
// may see a torn record, which the CAS on head then discards). See
// docs/ring.md, "Memory ordering".
const raceEnabled = false
